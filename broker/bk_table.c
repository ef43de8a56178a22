/*
 * bk_table.c: the AMQP field-table encoding, which is the core's table
 * serialisation (message headers, x-arguments, x-death).
 *
 * A table is a sequence of entries; an array a sequence of values:
 *
 *   entry:  +----------+------------------+------+-------+
 *           | name len |   name octets    | type | value |
 *           |    u8    |                  |  u8  |       |
 *           +----------+------------------+------+-------+
 *   value by type (RabbitMQ's dialect [AMQP 0-9-1 errata, rabbit_binary]):
 *     t bool u8      b i8    B u8     s i16 (also 'U' on input)  u u16
 *     I i32   i u32  l i64 (also 'L' on input)   f float   d double
 *     D scale u8 + value u32   T timestamp u64   V nothing
 *     S longstr, x bytes, F table, A array: u32 length + that many octets
 *
 * Readers (bk_table_next and friends) trust a table that bk_table_validate
 * accepted; nothing here allocates except the builder.
 */
#include <errno.h>
#include <string.h>

#include "broker.h"
#include "bk_bytes.h"

enum { MAX_DEPTH = 16 };

/* One of the 8-octet types l, L, d, T from q (8 readable octets). */
static void
load_wide(const uint8_t *q, uint8_t type, struct bk_value *v)
{
	uint64_t u64 = bk_ld64(q);

	if (type == 'd') {
		v->type = BK_V_DOUBLE;
		memcpy(&v->u.d, &u64, sizeof(u64));
	} else if (type == 'T') {
		v->type = BK_V_TIMESTAMP;
		v->u.ts = u64;
	} else {
		v->type = BK_V_I64;
		v->u.i = (int64_t)u64;
	}
}

/*
 * One of the counted types S, x, F, A (u32 length + octets) at p[*pos]:
 * 0 and *pos past it, or -EPROTO if it runs past len. The value points
 * into p.
 */
static int
read_counted(const uint8_t *p, uint32_t len, uint32_t *pos, uint8_t type,
	     struct bk_value *v)
{
	uint32_t at = *pos, left = len - at, n;

	if (left < 4)
		return -EPROTO;
	n = bk_ld32(p + at);
	if (left - 4 < n)
		return -EPROTO;
	v->type = (enum bk_vtype)type;
	if (type == 'S' || type == 'x') {
		v->u.s.p = (const char *)p + at + 4;
		v->u.s.len = n;
	} else {
		/* t and a share their layout in the union */
		v->u.t.p = p + at + 4;
		v->u.t.len = n;
	}
	*pos = at + 4 + n;
	return 0;
}

/*
 * Read one value of wire type `type` at p[*pos]. 0 and *pos past it, or
 * -EPROTO if it runs past len or the type is unknown. Containers are not
 * looked into.
 */
static int
read_value(const uint8_t *p, uint32_t len, uint32_t *pos, uint8_t type,
	   struct bk_value *v)
{
	uint32_t at = *pos, left = len - at, u32;

	switch (type) {
	case 'V':
		v->type = BK_V_VOID;
		return 0;
	case 't': case 'b': case 'B':
		if (left < 1)
			return -EPROTO;
		v->type = (enum bk_vtype)type;
		if (type == 't')
			v->u.b = p[at] != 0;
		else
			v->u.i = type == 'b' ? (int8_t)p[at] : p[at];
		*pos = at + 1;
		return 0;
	case 's': case 'U': case 'u':
		if (left < 2)
			return -EPROTO;
		v->type = type == 'u' ? BK_V_U16 : BK_V_I16;
		v->u.i = type == 'u' ? bk_ld16(p + at) : (int16_t)bk_ld16(p + at);
		*pos = at + 2;
		return 0;
	case 'I': case 'i': case 'f':
		if (left < 4)
			return -EPROTO;
		u32 = bk_ld32(p + at);
		v->type = (enum bk_vtype)type;
		if (type == 'f')
			memcpy(&v->u.f, &u32, sizeof(u32));
		else if (type == 'I')
			v->u.i = (int32_t)u32;
		else
			v->u.i = u32;
		*pos = at + 4;
		return 0;
	case 'l': case 'L': case 'd': case 'T':
		if (left < 8)
			return -EPROTO;
		load_wide(p + at, type, v);
		*pos = at + 8;
		return 0;
	case 'D':
		if (left < 5)
			return -EPROTO;
		v->type = BK_V_DECIMAL;
		v->u.dec.scale = p[at];
		v->u.dec.value = (int32_t)bk_ld32(p + at + 1);
		*pos = at + 5;
		return 0;
	case 'S': case 'x': case 'F': case 'A':
		return read_counted(p, len, pos, type, v);
	}
	return -EPROTO;
}

/* Read a table entry's name and type octet. 0 or -EPROTO. */
static int
read_name(const uint8_t *p, uint32_t len, uint32_t *pos, struct bk_str *name,
	  uint8_t *type)
{
	uint32_t at = *pos, left = len - at;

	if (left < 1 || left - 1 < (uint32_t)p[at] + 1)
		return -EPROTO;
	name->len = p[at];
	name->p = (const char *)p + at + 1;
	*type = p[at + 1 + name->len];
	*pos = at + 2 + name->len;
	return 0;
}

static int validate(struct bk_table t, bool is_array, int depth);

static int
validate_nested(const struct bk_value *v, int depth)
{
	if (v->type == BK_V_TABLE)
		return validate(v->u.t, false, depth + 1);
	if (v->type == BK_V_ARRAY)
		return validate(v->u.a, true, depth + 1);
	return 0;
}

static int
validate(struct bk_table t, bool is_array, int depth)
{
	struct bk_value v;
	struct bk_str name;
	uint32_t pos = 0;
	uint8_t type;

	if (depth > MAX_DEPTH)
		return -EPROTO;
	while (pos < t.len) {
		if (is_array) {
			type = t.p[pos++];
		} else if (read_name(t.p, t.len, &pos, &name, &type) < 0) {
			return -EPROTO;
		}
		if (read_value(t.p, t.len, &pos, type, &v) < 0)
			return -EPROTO;
		if (validate_nested(&v, depth) < 0)
			return -EPROTO;
	}
	return 0;
}

int
bk_table_validate(struct bk_table t)
{
	return validate(t, false, 0);
}

int
bk_array_validate(struct bk_table a)
{
	return validate(a, true, 0);
}

int
bk_table_next(struct bk_table t, uint32_t *pos, struct bk_str *name,
	      struct bk_value *v)
{
	uint8_t type;
	int res;

	if (*pos >= t.len)
		return 0;
	res = read_name(t.p, t.len, pos, name, &type);
	if (res == 0)
		res = read_value(t.p, t.len, pos, type, v);
	BK_ASSERT(res == 0);        /* the table was validated */
	return 1;
}

int
bk_array_next(struct bk_table a, uint32_t *pos, struct bk_value *v)
{
	uint8_t type;
	int res;

	if (*pos >= a.len)
		return 0;
	type = a.p[(*pos)++];
	res = read_value(a.p, a.len, pos, type, v);
	BK_ASSERT(res == 0);        /* the array was validated */
	return 1;
}

bool
bk_table_get(struct bk_table t, const char *name, struct bk_value *v)
{
	size_t want = strlen(name);
	struct bk_str n;
	uint32_t pos = 0;

	while (bk_table_next(t, &pos, &n, v))
		if (n.len == want && memcmp(n.p, name, want) == 0)
			return true;
	return false;
}

bool
bk_value_int(const struct bk_value *v, int64_t *out)
{
	switch (v->type) {
	case BK_V_I8: case BK_V_U8: case BK_V_I16: case BK_V_U16:
	case BK_V_I32: case BK_V_U32: case BK_V_I64:
		*out = v->u.i;
		return true;
	default:
		return false;
	}
}

/* ---- builder --------------------------------------------------------- */

void
bk_tb_init(struct bk_table_builder *b)
{
	b->buf = NULL;
	b->len = b->cap = 0;
}

void
bk_tb_fini(struct bk_table_builder *b)
{
	BK_FREE(b->buf);
	b->len = b->cap = 0;
}

/* Room for n more octets; returns where they go. */
static uint8_t *
grow(struct bk_table_builder *b, uint32_t n)
{
	uint8_t *w;

	BK_ASSERT(n <= UINT32_MAX - b->len);
	if (b->len + n > b->cap) {
		uint64_t cap = b->cap ? (uint64_t)b->cap * 2 : 64;

		while (cap < (uint64_t)b->len + n)
			cap *= 2;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		b->buf = bk_realloc(b->buf, (size_t)cap);
		b->cap = (uint32_t)cap;
	}
	w = b->buf + b->len;
	b->len += n;
	return w;
}

static void
put_be(struct bk_table_builder *b, uint64_t v, unsigned octets)
{
	uint8_t *w = grow(b, octets);

	for (unsigned i = 0; i < octets; i++)
		w[i] = (uint8_t)(v >> (8 * (octets - 1 - i)));
}

static void
put_u8(struct bk_table_builder *b, uint8_t v)
{
	*grow(b, 1) = v;
}

static void
put_blob(struct bk_table_builder *b, const void *p, uint32_t n)
{
	put_be(b, n, 4);
	bk_tb_put_raw(b, p, n);
}

void
bk_tb_put_value(struct bk_table_builder *b, const struct bk_value *v)
{
	uint32_t u32;
	uint64_t u64;

	put_u8(b, (uint8_t)v->type);
	switch (v->type) {
	case BK_V_VOID:
		break;
	case BK_V_BOOL:
		put_u8(b, v->u.b ? 1 : 0);
		break;
	case BK_V_I8: case BK_V_U8:
		put_u8(b, (uint8_t)v->u.i);
		break;
	case BK_V_I16: case BK_V_U16:
		put_be(b, (uint64_t)v->u.i, 2);
		break;
	case BK_V_I32: case BK_V_U32:
		put_be(b, (uint64_t)v->u.i, 4);
		break;
	case BK_V_I64:
		put_be(b, (uint64_t)v->u.i, 8);
		break;
	case BK_V_FLOAT:
		memcpy(&u32, &v->u.f, sizeof(u32));
		put_be(b, u32, 4);
		break;
	case BK_V_DOUBLE:
		memcpy(&u64, &v->u.d, sizeof(u64));
		put_be(b, u64, 8);
		break;
	case BK_V_DECIMAL:
		put_u8(b, v->u.dec.scale);
		put_be(b, (uint32_t)v->u.dec.value, 4);
		break;
	case BK_V_TIMESTAMP:
		put_be(b, v->u.ts, 8);
		break;
	case BK_V_LSTR: case BK_V_BYTES:
		put_blob(b, v->u.s.p, v->u.s.len);
		break;
	case BK_V_TABLE: case BK_V_ARRAY:
		put_blob(b, v->u.t.p, v->u.t.len);
		break;
	default:
		BK_ASSERT(!"unknown bk_vtype");
	}
}

bool
bk_tb_put(struct bk_table_builder *b, const char *name, uint32_t name_len,
	  const struct bk_value *v)
{
	/* A field name is a short string: cutting it would hand the reader
	 * another name, so it is refused and the table left as it was. */
	if (name_len > BK_SHORTSTR_MAX)
		return false;
	put_u8(b, (uint8_t)name_len);
	bk_tb_put_raw(b, name, name_len);
	bk_tb_put_value(b, v);
	return true;
}

void
bk_tb_put_raw(struct bk_table_builder *b, const void *p, uint32_t n)
{
	if (n)
		memcpy(grow(b, n), p, n);
}

struct bk_table
bk_tb_view(const struct bk_table_builder *b)
{
	return (struct bk_table){ b->buf, b->len };
}

uint8_t *
bk_tb_take(struct bk_table_builder *b, uint32_t *len)
{
	uint8_t *buf = b->buf;

	*len = b->len;
	bk_tb_init(b);
	return buf;
}

/* RabbitMQ's (Erlang) name of a table value type, used in error texts. */
const char *
bk_vtype_name(enum bk_vtype t)
{
	switch (t) {
	case BK_V_VOID: return "void";
	case BK_V_BOOL: return "bool";
	case BK_V_I8: return "byte";
	case BK_V_U8: return "unsignedbyte";
	case BK_V_I16: return "short";
	case BK_V_U16: return "unsignedshort";
	case BK_V_I32: return "signedint";
	case BK_V_U32: return "unsignedint";
	case BK_V_I64: return "long";
	case BK_V_FLOAT: return "float";
	case BK_V_DOUBLE: return "double";
	case BK_V_DECIMAL: return "decimal";
	case BK_V_LSTR: return "longstr";
	case BK_V_BYTES: return "binary";
	case BK_V_ARRAY: return "array";
	case BK_V_TIMESTAMP: return "timestamp";
	case BK_V_TABLE: return "table";
	}
	return "unknown";
}
