/*
 * test_table.c: the field-table codec in bk_table.c: every value type
 * through the builder and back, nested tables and arrays, the input-only
 * letters 'U' and 'L', lookups, and malformed tables (lengths past the
 * end, unknown types, nesting too deep).
 */
#include <errno.h>
#include <stdlib.h>

#include "testlib.h"
#include "broker.h"

static struct bk_value
vint(enum bk_vtype t, int64_t i)
{
	struct bk_value v = { .type = t };

	v.u.i = i;
	return v;
}

static void
test_every_type(void)
{
	struct bk_table_builder inner, arr, b;
	struct bk_value v, got;
	struct bk_str name;
	uint32_t pos = 0, len;
	uint8_t *blob;
	int64_t i;

	bk_tb_init(&inner);
	bk_tb_init(&arr);
	bk_tb_init(&b);

	v = (struct bk_value){ .type = BK_V_LSTR, .u.s = BK_STR_LIT("deep") };
	bk_tb_put(&inner, "s", 1, &v);

	bk_tb_put_value(&arr, &(struct bk_value){ .type = BK_V_VOID });
	bk_tb_put_value(&arr, &(struct bk_value){ .type = BK_V_BOOL, .u.b = true });
	v = vint(BK_V_I32, -5);
	bk_tb_put_value(&arr, &v);
	v = (struct bk_value){ .type = BK_V_TABLE, .u.t = bk_tb_view(&inner) };
	bk_tb_put_value(&arr, &v);

	bk_tb_put(&b, "void", 4, &(struct bk_value){ .type = BK_V_VOID });
	bk_tb_put(&b, "bool", 4, &(struct bk_value){ .type = BK_V_BOOL, .u.b = true });
	v = vint(BK_V_I8, -128);   bk_tb_put(&b, "i8", 2, &v);
	v = vint(BK_V_U8, 255);    bk_tb_put(&b, "u8", 2, &v);
	v = vint(BK_V_I16, -300);  bk_tb_put(&b, "i16", 3, &v);
	v = vint(BK_V_U16, 65535); bk_tb_put(&b, "u16", 3, &v);
	v = vint(BK_V_I32, INT32_MIN); bk_tb_put(&b, "i32", 3, &v);
	v = vint(BK_V_U32, UINT32_MAX); bk_tb_put(&b, "u32", 3, &v);
	v = vint(BK_V_I64, INT64_MIN); bk_tb_put(&b, "i64", 3, &v);
	v = (struct bk_value){ .type = BK_V_FLOAT, .u.f = 1.5f };
	bk_tb_put(&b, "f", 1, &v);
	v = (struct bk_value){ .type = BK_V_DOUBLE, .u.d = -2.25 };
	bk_tb_put(&b, "d", 1, &v);
	v = (struct bk_value){ .type = BK_V_DECIMAL, .u.dec = { 2, -12345 } };
	bk_tb_put(&b, "dec", 3, &v);
	v = (struct bk_value){ .type = BK_V_LSTR, .u.s = BK_STR_LIT("hello") };
	bk_tb_put(&b, "str", 3, &v);
	v = (struct bk_value){ .type = BK_V_BYTES, .u.s = { "\0\1\2", 3 } };
	bk_tb_put(&b, "bytes", 5, &v);
	v = (struct bk_value){ .type = BK_V_TIMESTAMP, .u.ts = 1700000000 };
	bk_tb_put(&b, "ts", 2, &v);
	v = (struct bk_value){ .type = BK_V_ARRAY, .u.a = bk_tb_view(&arr) };
	bk_tb_put(&b, "arr", 3, &v);
	v = (struct bk_value){ .type = BK_V_TABLE, .u.t = bk_tb_view(&inner) };
	bk_tb_put(&b, "tab", 3, &v);

	struct bk_table t = bk_tb_view(&b);
	CHECK_EQ_INT(bk_table_validate(t), 0);

	static const struct { const char *name; enum bk_vtype type; } order[] = {
		{ "void", BK_V_VOID }, { "bool", BK_V_BOOL }, { "i8", BK_V_I8 },
		{ "u8", BK_V_U8 }, { "i16", BK_V_I16 }, { "u16", BK_V_U16 },
		{ "i32", BK_V_I32 }, { "u32", BK_V_U32 }, { "i64", BK_V_I64 },
		{ "f", BK_V_FLOAT }, { "d", BK_V_DOUBLE }, { "dec", BK_V_DECIMAL },
		{ "str", BK_V_LSTR }, { "bytes", BK_V_BYTES }, { "ts", BK_V_TIMESTAMP },
		{ "arr", BK_V_ARRAY }, { "tab", BK_V_TABLE },
	};
	for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		CHECK_EQ_INT(bk_table_next(t, &pos, &name, &got), 1);
		CHECK(name.len == strlen(order[k].name) &&
		      memcmp(name.p, order[k].name, name.len) == 0);
		CHECK_EQ_INT(got.type, order[k].type);
	}
	CHECK_EQ_INT(bk_table_next(t, &pos, &name, &got), 0);

	CHECK(bk_table_get(t, "bool", &got) && got.u.b);
	CHECK(bk_table_get(t, "i8", &got) && bk_value_int(&got, &i) && i == -128);
	CHECK(bk_table_get(t, "u8", &got) && bk_value_int(&got, &i) && i == 255);
	CHECK(bk_table_get(t, "i16", &got) && bk_value_int(&got, &i) && i == -300);
	CHECK(bk_table_get(t, "u16", &got) && bk_value_int(&got, &i) && i == 65535);
	CHECK(bk_table_get(t, "i32", &got) && bk_value_int(&got, &i) && i == INT32_MIN);
	CHECK(bk_table_get(t, "u32", &got) && bk_value_int(&got, &i) && i == UINT32_MAX);
	CHECK(bk_table_get(t, "i64", &got) && bk_value_int(&got, &i) && i == INT64_MIN);
	CHECK(bk_table_get(t, "f", &got) && got.u.f == 1.5f && !bk_value_int(&got, &i));
	CHECK(bk_table_get(t, "d", &got) && got.u.d == -2.25);
	CHECK(bk_table_get(t, "dec", &got) && got.u.dec.scale == 2 &&
	      got.u.dec.value == -12345);
	CHECK(bk_table_get(t, "str", &got) && got.u.s.len == 5 &&
	      memcmp(got.u.s.p, "hello", 5) == 0);
	CHECK(bk_table_get(t, "bytes", &got) && got.u.s.len == 3 && got.u.s.p[2] == 2);
	CHECK(bk_table_get(t, "ts", &got) && got.u.ts == 1700000000);
	CHECK(!bk_table_get(t, "missing", &got));
	CHECK(!bk_table_get(t, "boo", &got));

	/* the array and the table inside it */
	CHECK(bk_table_get(t, "arr", &got));
	struct bk_table a = got.u.a;
	CHECK_EQ_INT(bk_array_validate(a), 0);
	pos = 0;
	CHECK(bk_array_next(a, &pos, &got) == 1 && got.type == BK_V_VOID);
	CHECK(bk_array_next(a, &pos, &got) == 1 && got.type == BK_V_BOOL && got.u.b);
	CHECK(bk_array_next(a, &pos, &got) == 1 && got.type == BK_V_I32 && got.u.i == -5);
	CHECK(bk_array_next(a, &pos, &got) == 1 && got.type == BK_V_TABLE);
	CHECK(bk_table_get(got.u.t, "s", &got) && got.u.s.len == 4);
	CHECK_EQ_INT(bk_array_next(a, &pos, &got), 0);

	/* take hands the buffer over and resets the builder */
	blob = bk_tb_take(&b, &len);
	CHECK_EQ_INT(len, t.len);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(bk_table_validate((struct bk_table){ blob, len }), 0);
	bk_free(blob);
	bk_tb_fini(&b);
	bk_tb_fini(&arr);
	bk_tb_fini(&inner);
}

static void
test_wire_letters(void)
{
	/* RabbitMQ's encoding: 's' is a signed 16-bit int, 'l' signed 64;
	 * 'U' and 'L' from the 0-9-1 grammar are read as the same. */
	static const uint8_t t[] = {
		1, 'a', 's', 0xff, 0xfe,
		1, 'b', 'U', 0xff, 0xfd,
		1, 'c', 'L', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc,
		1, 'd', 'l', 0, 0, 0, 0, 0, 0, 0, 9,
		1, 'e', 'D', 3, 0, 0, 0x30, 0x39,
		1, 'f', 'F', 0, 0, 0, 0,
		1, 'g', 'A', 0, 0, 0, 0,
		0, 't', 0,          /* empty name is legal */
	};
	struct bk_table tb = { t, sizeof(t) };
	struct bk_table_builder b;
	struct bk_value v;
	int64_t i;

	CHECK_EQ_INT(bk_table_validate(tb), 0);
	CHECK(bk_table_get(tb, "a", &v) && v.type == BK_V_I16 && v.u.i == -2);
	CHECK(bk_table_get(tb, "b", &v) && v.type == BK_V_I16 && v.u.i == -3);
	CHECK(bk_table_get(tb, "c", &v) && v.type == BK_V_I64 && v.u.i == -4);
	CHECK(bk_table_get(tb, "d", &v) && bk_value_int(&v, &i) && i == 9);
	CHECK(bk_table_get(tb, "e", &v) && v.u.dec.scale == 3 && v.u.dec.value == 12345);
	CHECK(bk_table_get(tb, "f", &v) && v.type == BK_V_TABLE && v.u.t.len == 0);
	CHECK(bk_table_get(tb, "g", &v) && v.type == BK_V_ARRAY && v.u.a.len == 0);
	CHECK(bk_table_get(tb, "", &v) && v.type == BK_V_BOOL && !v.u.b);

	/* written back with RabbitMQ's letters */
	bk_tb_init(&b);
	CHECK(bk_table_get(tb, "b", &v));
	bk_tb_put(&b, "b", 1, &v);
	CHECK(bk_table_get(tb, "c", &v));
	bk_tb_put(&b, "c", 1, &v);
	CHECK_EQ_INT(b.len, 5 + 11);
	CHECK_EQ_INT(b.buf[2], 's');
	CHECK_EQ_INT(b.buf[7], 'l');
	CHECK(memcmp(b.buf + 3, t + 8, 2) == 0);
	CHECK(memcmp(b.buf + 8, t + 13, 8) == 0);
	bk_tb_fini(&b);
}

/* validate on a heap copy, so ASan catches any read past the end */
static int
validate_copy(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	int res;

	memcpy(c, p, len);
	res = bk_table_validate((struct bk_table){ c, (uint32_t)len });
	free(c);
	return res;
}

static void
test_malformed(void)
{
	static const uint8_t good[] = {
		3, 'k', 'e', 'y', 'S', 0, 0, 0, 2, 'h', 'i',
		1, 'n', 'F', 0, 0, 0, 13,
		  1, 'a', 'A', 0, 0, 0, 6, 'I', 0, 0, 0, 1, 'V',
		1, 'x', 'D', 1, 0, 0, 0, 5,
	};
	static const uint8_t bad_type[] = { 1, 'k', 'Q', 0 };
	static const uint8_t sstr_type[] = { 1, 'k', 's', 1 };  /* int16 cut short */
	static const uint8_t name_past[] = { 5, 'k', 'S' };
	static const uint8_t lstr_past[] = { 1, 'k', 'S', 0, 0, 0, 9, 'a' };
	static const uint8_t lstr_huge[] = { 1, 'k', 'S', 0xff, 0xff, 0xff, 0xff };
	static const uint8_t bad_nested[] = { 1, 'k', 'F', 0, 0, 0, 3, 1, 'z', '?' };
	static const uint8_t bad_in_array[] = { 1, 'k', 'A', 0, 0, 0, 2, 'I', 0 };

	CHECK_EQ_INT(validate_copy(good, sizeof(good)), 0);
	/* every prefix of good either ends on an entry boundary or fails */
	for (size_t n = 0; n < sizeof(good); n++) {
		int res = validate_copy(good, n);

		CHECK(res == -EPROTO || n == 0 || n == 11 || n == 31);
	}
	CHECK_EQ_INT(validate_copy(bad_type, sizeof(bad_type)), -EPROTO);
	CHECK_EQ_INT(validate_copy(sstr_type, sizeof(sstr_type)), -EPROTO);
	CHECK_EQ_INT(validate_copy(name_past, sizeof(name_past)), -EPROTO);
	CHECK_EQ_INT(validate_copy(lstr_past, sizeof(lstr_past)), -EPROTO);
	CHECK_EQ_INT(validate_copy(lstr_huge, sizeof(lstr_huge)), -EPROTO);
	CHECK_EQ_INT(validate_copy(bad_nested, sizeof(bad_nested)), -EPROTO);
	CHECK_EQ_INT(validate_copy(bad_in_array, sizeof(bad_in_array)), -EPROTO);
	CHECK_EQ_INT(bk_array_validate((struct bk_table){ (const uint8_t *)"I\0\0", 3 }),
		     -EPROTO);
}

/* depth levels of arrays nested in tables: {"k": [ {"k": [ ... ]} ]} */
static int
nested(int depth)
{
	struct bk_table_builder b, next;
	struct bk_value v;
	int res;

	bk_tb_init(&b);
	for (int d = 0; d < depth; d++) {
		bk_tb_init(&next);
		if (d % 2 == 0) {
			v = (struct bk_value){ .type = BK_V_TABLE, .u.t = bk_tb_view(&b) };
			bk_tb_put_value(&next, &v);             /* array of one */
		} else {
			v = (struct bk_value){ .type = BK_V_ARRAY, .u.a = bk_tb_view(&b) };
			bk_tb_put(&next, "k", 1, &v);
		}
		bk_tb_fini(&b);
		b = next;
	}
	/* b is an array when depth is odd; wrap to make a table */
	if (depth % 2) {
		bk_tb_init(&next);
		v = (struct bk_value){ .type = BK_V_ARRAY, .u.a = bk_tb_view(&b) };
		bk_tb_put(&next, "k", 1, &v);
		bk_tb_fini(&b);
		b = next;
	}
	res = bk_table_validate(bk_tb_view(&b));
	bk_tb_fini(&b);
	return res;
}

/* n tables nested below the top: {"k": {"k": ... {}}} */
static int
nested_tables(int n)
{
	struct bk_table_builder b, next;
	struct bk_value v;
	int res;

	bk_tb_init(&b);
	for (int d = 0; d < n; d++) {
		bk_tb_init(&next);
		v = (struct bk_value){ .type = BK_V_TABLE, .u.t = bk_tb_view(&b) };
		bk_tb_put(&next, "k", 1, &v);
		bk_tb_fini(&b);
		b = next;
	}
	res = bk_table_validate(bk_tb_view(&b));
	bk_tb_fini(&b);
	return res;
}

static void
test_depth(void)
{
	/* a table holding n nested tables has n levels below the top */
	CHECK_EQ_INT(nested_tables(0), 0);
	CHECK_EQ_INT(nested_tables(16), 0);
	CHECK_EQ_INT(nested_tables(17), -EPROTO);

	/* nested(d) has d or d + 1 containers below the top table */
	CHECK_EQ_INT(nested(15), 0);
	CHECK_EQ_INT(nested(16), 0);
	CHECK_EQ_INT(nested(17), -EPROTO);
	CHECK_EQ_INT(nested(40), -EPROTO);
}

/* A field name is a short string: one over 255 octets is refused, never
 * cut (a cut name would be another header); 255 still fits. */
static void
test_long_name(void)
{
	char name[300];
	struct bk_table_builder b;
	struct bk_value v = { .type = BK_V_VOID }, got;
	struct bk_str n;
	uint32_t pos = 0;

	memset(name, 'n', sizeof(name));
	bk_tb_init(&b);
	CHECK(!bk_tb_put(&b, name, 256, &v));
	CHECK(!bk_tb_put(&b, name, sizeof(name), &v));
	CHECK_EQ_INT(b.len, 0);
	CHECK(bk_tb_put(&b, name, 255, &v));
	CHECK_EQ_INT(b.len, 1 + 255 + 1);
	CHECK_EQ_INT(bk_table_validate(bk_tb_view(&b)), 0);
	CHECK_EQ_INT(bk_table_next(bk_tb_view(&b), &pos, &n, &got), 1);
	CHECK_EQ_INT(n.len, 255);
	CHECK_EQ_INT(bk_table_next(bk_tb_view(&b), &pos, &n, &got), 0);
	bk_tb_fini(&b);
}

int
main(void)
{
	RUN(test_every_type);
	RUN(test_wire_letters);
	RUN(test_malformed);
	RUN(test_depth);
	RUN(test_long_name);
	TEST_DONE();
}
