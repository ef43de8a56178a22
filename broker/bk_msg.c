/*
 * bk_msg.c: message records (layout drawn in bk_types.h), allocation and
 * refcounting.
 *
 * A record is one allocation holding the fixed part, the optional parts
 * the message has, its own properties (only when it has more than a
 * delivery mode), exchange name, routing key and body, so fan-out shares
 * one copy and the last unref is one free. The body comes last so an
 * adapter can read the wire payload straight into it. Nothing in the
 * record points at another part of it except own properties' strings
 * (relocated by bk_msg_body_resize): the accessors derive every offset
 * from the fixed part's lengths and layout bits.
 *
 * Ids come from a process-wide counter: bk_msg_new has no broker argument
 * and ids only need to increase.
 */
#include "bk_int.h"
#include "bk_slab.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct bk_msg) == 28, "the fixed part is 28 bytes");

static uint64_t next_msg_id = 1;
uint64_t bk_persist_resident;

/*
 * Records of up to BK_SLAB_MAX bytes (a small message's) come from size
 * classes (bk_slab.c): no allocator header, 8-byte rounding. Under
 * AddressSanitizer every record is a malloc block of its own, so the
 * sanitizer sees each one's bounds and lifetime.
 */
#if defined(__SANITIZE_ADDRESS__)
#define USE_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USE_SLAB 0
#endif
#endif
#ifndef USE_SLAB
#define USE_SLAB 1
#endif

static struct bk_msg *
rec_alloc(size_t n)
{
	if (USE_SLAB && n <= BK_SLAB_MAX)
		return bk_slab_alloc(n);
	return bk_malloc(n);
}

static void
rec_free(struct bk_msg *m, size_t n)
{
	if (USE_SLAB && n <= BK_SLAB_MAX)
		bk_slab_free(m, n);
	else
		bk_free(m);
}

/* m's record, old bytes, moved to one of n bytes (first min(old, n) kept). */
static struct bk_msg *
rec_realloc(struct bk_msg *m, size_t old, size_t n)
{
	struct bk_msg *r;

	if (!USE_SLAB || (old > BK_SLAB_MAX && n > BK_SLAB_MAX))
		return bk_realloc(m, n);
	if (old <= BK_SLAB_MAX && n <= BK_SLAB_MAX && bk_slab_round(old) == bk_slab_round(n))
		return m;
	r = rec_alloc(n);
	memcpy(r, m, old < n ? old : n);
	rec_free(m, old);
	return r;
}

/* The string properties in one table so copy and sizing share a loop. */
static const struct {
	uint32_t flag;
	uint16_t offset;                /* of its struct bk_str in struct bk_props */
} str_props[] = {
	{ BK_P_CONTENT_TYPE, offsetof(struct bk_props, content_type) },
	{ BK_P_CONTENT_ENCODING, offsetof(struct bk_props, content_encoding) },
	{ BK_P_CORRELATION_ID, offsetof(struct bk_props, correlation_id) },
	{ BK_P_REPLY_TO, offsetof(struct bk_props, reply_to) },
	{ BK_P_EXPIRATION, offsetof(struct bk_props, expiration) },
	{ BK_P_MESSAGE_ID, offsetof(struct bk_props, message_id) },
	{ BK_P_TYPE, offsetof(struct bk_props, type) },
	{ BK_P_USER_ID, offsetof(struct bk_props, user_id) },
	{ BK_P_APP_ID, offsetof(struct bk_props, app_id) },
	{ BK_P_CLUSTER_ID, offsetof(struct bk_props, cluster_id) },
};

static struct bk_str *
str_prop(struct bk_props *p, unsigned i, uint32_t *flag)
{
	if (i >= sizeof(str_props) / sizeof(str_props[0]))
		return NULL;
	*flag = str_props[i].flag;
	return (struct bk_str *)(void *)((uint8_t *)p + str_props[i].offset);
}

static uint8_t *
copy_str(uint8_t *dst, struct bk_str *s)
{
	if (s->len > 0)
		memcpy(dst, s->p, s->len);
	s->p = (const char *)dst;
	return dst + s->len;
}

/* Bytes the present properties need once copied. */
static size_t
props_size(const struct bk_props *in)
{
	size_t n = 0;

	if (in->present == 0)
		return 0;
	for (unsigned i = 0; i < sizeof(str_props) / sizeof(str_props[0]); i++)
		if (in->present & str_props[i].flag)
			n += ((const struct bk_str *)(const void *)
			      ((const uint8_t *)in + str_props[i].offset))->len;
	if (in->present & BK_P_HEADERS)
		n += in->headers.len;
	return n;
}

/* Copy present properties to dst; absent ones are cleared. */
static uint8_t *
props_copy(struct bk_props *p, uint8_t *dst)
{
	struct bk_str *s;
	uint32_t flag;
	unsigned i;

	if (p->present == 0) {
		memset(p, 0, sizeof(*p));
		return dst;
	}
	for (i = 0; (s = str_prop(p, i, &flag)) != NULL; i++) {
		if (p->present & flag)
			dst = copy_str(dst, s);
		else
			*s = (struct bk_str){ NULL, 0 };
	}
	if (p->present & BK_P_HEADERS) {
		if (p->headers.len > 0)
			memcpy(dst, p->headers.p, p->headers.len);
		p->headers.p = dst;
		dst += p->headers.len;
	} else {
		p->headers = (struct bk_table){ NULL, 0 };
	}
	return dst;
}

/* Index = layout >> BK_ML_SHARED_SHIFT. */
const struct bk_props bk_msg_shared_props[3] = {
	{ .present = 0 },
	{ .present = BK_P_DELIVERY_MODE, .delivery_mode = 1 },
	{ .present = BK_P_DELIVERY_MODE, .delivery_mode = 2 },
};

const struct bk_props *const bk_msg_shared[4] = {
	&bk_msg_shared_props[0], &bk_msg_shared_props[1], &bk_msg_shared_props[2],
	&bk_msg_shared_props[0],
};

/* The shared constant's index for *p, or -1 when p needs its own copy. */
static int
shared_kind(const struct bk_props *p)
{
	if (p->present == 0)
		return 0;
	if (p->present != BK_P_DELIVERY_MODE)
		return -1;
	if (p->delivery_mode == 1 || p->delivery_mode == 2)
		return p->delivery_mode;
	return -1;
}

size_t
bk_msg_record_size(const struct bk_msg *m)
{
	size_t n = bk_msg__rk_off(m) + bk_msg_rk_len(m);

	return (m->flags & BK_MSG_PAGED) ? n : n + m->body_len;
}

static void
put(struct bk_msg *m, size_t off, const void *p, size_t n)
{
	if (n > 0)
		memcpy((uint8_t *)m + off, p, n);
}

/* Where the parts of a new record go (offsets from its start). */
struct plan {
	unsigned layout;                /* BK_ML_* */
	size_t u32;                     /* the u32 parts */
	size_t props;                   /* own properties */
	size_t rk;                      /* routing key (the exchange name and its
					   length octet just before it) */
};

static void
plan_record(struct plan *pl, const struct bk_props *in, uint32_t exchange_len,
	    uint32_t rk_len)
{
	int kind = shared_kind(in);
	size_t end;

	if (exchange_len > 0)
		pl->layout |= BK_ML_EXCHANGE;
	if (kind < 0)
		pl->layout |= BK_ML_PROPS_OWN;
	else
		pl->layout |= (unsigned)kind << BK_ML_SHARED_SHIFT;
	pl->u32 = sizeof(struct bk_msg) + ((pl->layout & BK_ML_EXPIRES) ? 8u : 0u) +
		  ((pl->layout & BK_ML_ORIGIN) ? 8u : 0u);
	end = pl->u32 + (rk_len >= 255 ? 4u : 0u);
	/* a key at 0xffff or beyond (own properties of 64 KiB) keeps its
	 * offset in a u32 part, which moves what follows by 4 */
	for (int big = 0; big < 2; big++) {
		size_t o = end + (big ? 4u : 0u);

		if (kind < 0) {
			pl->props = (o + 7u) & ~(size_t)7u;
			o = pl->props + sizeof(struct bk_props) + props_size(in);
		}
		pl->rk = o + (exchange_len > 0 ? exchange_len + 1u : 0u);
		if (pl->rk < 0xffff)
			break;
	}
}

/* The own properties of new message m, copied from in (strings after). */
static void
put_props(struct bk_msg *m, const struct bk_props *in)
{
	struct bk_props *own = (struct bk_props *)(void *)
			       ((uint8_t *)m + bk_msg__props_off(m));

	*own = *in;
	props_copy(own, (uint8_t *)(own + 1));
}

/*
 * Most messages: properties that are a shared constant, no expiry, a
 * short key, perhaps an origin (MQTT's). Kept small so publishing them
 * stays cheap.
 */
static struct bk_msg *
new_plain(struct bk_str exchange, struct bk_str routing_key, unsigned kind,
	  size_t body_len, unsigned origin)
{
	size_t fixed = sizeof(struct bk_msg) + (origin ? 8u : 0u);
	size_t rk = fixed + (exchange.len > 0 ? exchange.len + 1u : 0u);
	struct bk_msg *m = rec_alloc(rk + routing_key.len + body_len);
	const void *none = NULL;

	*m = (struct bk_msg){
		.id = next_msg_id++, .published_ms = bk_now_ms(), .rk_off = rk,
		.refs = 1, .body_len = (uint32_t)body_len,
		.flags = kind == 2 ? BK_MSG_PERSISTENT : 0,
		.rk_len8 = (uint8_t)routing_key.len,
		.layout = (exchange.len > 0 ? BK_ML_EXCHANGE : 0u) | origin |
			  kind << BK_ML_SHARED_SHIFT,
	};
	if (origin)
		put(m, sizeof(*m), &none, sizeof(none));
	if (exchange.len > 0) {
		memcpy((uint8_t *)m + fixed, exchange.p, exchange.len);
		((uint8_t *)m)[rk - 1u] = (uint8_t)exchange.len;
	}
	put(m, rk, routing_key.p, routing_key.len);
	return m;
}

struct bk_msg *
bk_msg_new_x(struct bk_str exchange, struct bk_str routing_key,
	     const struct bk_props *props, size_t body_len, unsigned want)
{
	const struct bk_props *in = props != NULL ? props : &bk_msg_shared_props[0];
	struct plan pl = { .layout = want & (BK_ML_EXPIRES | BK_ML_ORIGIN) };
	struct bk_msg *m;
	uint64_t ttl = 0;
	bool has_ttl;
	uint32_t u;

	BK_ASSERT(body_len <= UINT32_MAX);
	if (exchange.len > BK_SHORTSTR_MAX)     /* never from a real exchange */
		exchange.len = BK_SHORTSTR_MAX;
	if ((want & ~(unsigned)BK_ML_ORIGIN) == 0 && routing_key.len < 255 &&
	    shared_kind(in) >= 0)
		return new_plain(exchange, routing_key, (unsigned)shared_kind(in), body_len,
				 want & BK_ML_ORIGIN);
	has_ttl = (in->present & BK_P_EXPIRATION) &&
		  bk_expiration_parse(in->expiration, &ttl) == 0;
	if (has_ttl)
		pl.layout |= BK_ML_EXPIRES;
	plan_record(&pl, in, exchange.len, routing_key.len);
	m = rec_alloc(pl.rk + routing_key.len + body_len);
	*m = (struct bk_msg){
		.id = next_msg_id++, .published_ms = bk_now_ms(),
		.rk_off = pl.rk < 0xffff ? pl.rk : 0xffff, .refs = 1,
		.body_len = (uint32_t)body_len,
		.rk_len8 = (uint8_t)(routing_key.len >= 255 ? 255 : routing_key.len),
		.layout = pl.layout & 63u,
	};
	if (pl.u32 > sizeof(*m))                /* expiry, origin: none yet */
		memset((uint8_t *)m + sizeof(*m), 0, pl.u32 - sizeof(*m));
	u = (uint32_t)pl.rk;
	if (routing_key.len >= 255)
		put(m, pl.u32, &routing_key.len, sizeof(routing_key.len));
	if (pl.rk >= 0xffff)
		put(m, pl.u32 + (routing_key.len >= 255 ? 4u : 0u), &u, sizeof(u));
	if (pl.layout & BK_ML_PROPS_OWN)
		put_props(m, in);
	if (exchange.len > 0) {
		put(m, pl.rk - 1u - exchange.len, exchange.p, exchange.len);
		((uint8_t *)m)[pl.rk - 1u] = (uint8_t)exchange.len;
	}
	put(m, pl.rk, routing_key.p, routing_key.len);
	if ((in->present & BK_P_DELIVERY_MODE) && in->delivery_mode == 2)
		m->flags |= BK_MSG_PERSISTENT;
	if (has_ttl)
		bk_msg_set_expires(m, (int64_t)(m->published_ms + ttl));
	return m;
}

struct bk_msg *
bk_msg_new(struct bk_str exchange, struct bk_str routing_key,
	   const struct bk_props *props, size_t body_len)
{
	return bk_msg_new_x(exchange, routing_key, props, body_len, 0);
}

struct bk_msg *
bk_msg_dup(const struct bk_msg *m, size_t body_len)
{
	struct bk_msg *c = bk_msg_new_x(bk_msg_exchange(m), bk_msg_rk(m), bk_msg_props(m),
					body_len, m->layout & (BK_ML_EXPIRES | BK_ML_ORIGIN));

	c->id = m->id;
	c->published_ms = m->published_ms;
	c->flags = m->flags & (uint8_t)~BK_MSG_PAGED;   /* c has its body */
	c->origin_flags = m->origin_flags;
	bk_msg_set_expires(c, bk_msg_expires(m));
	bk_msg_set_origin(c, bk_msg_origin(m));
	return c;
}

void
bk_msg_set_expires(struct bk_msg *m, int64_t expires_ms)
{
	if (!(m->layout & BK_ML_EXPIRES)) {
		BK_ASSERT(expires_ms == 0);
		return;
	}
	put(m, sizeof(*m), &expires_ms, sizeof(expires_ms));
}

void
bk_msg_set_origin(struct bk_msg *m, const void *origin)
{
	if (!(m->layout & BK_ML_ORIGIN)) {
		BK_ASSERT(origin == NULL);
		return;
	}
	put(m, sizeof(*m) + ((m->layout & BK_ML_EXPIRES) ? 8u : 0u), &origin, sizeof(origin));
}

/* The string pointers of own properties, which point into the record. */
static size_t
inner_ptrs(struct bk_msg *m, const char ***out)
{
	struct bk_props *own;
	struct bk_str *str;
	uint32_t flag;
	size_t k = 0;

	if (!(m->layout & BK_ML_PROPS_OWN))
		return 0;
	own = (struct bk_props *)(void *)((uint8_t *)m + bk_msg__props_off(m));
	for (unsigned i = 0; (str = str_prop(own, i, &flag)) != NULL; i++)
		if (own->present & flag)
			out[k++] = &str->p;
	if (own->present & BK_P_HEADERS)
		out[k++] = (const char **)(void *)&own->headers.p;
	return k;
}

struct bk_msg *
bk_msg_body_resize(struct bk_msg *m, size_t body_len)
{
	const char **ptrs[16];
	uintptr_t offs[16];
	size_t head, n, i;
	struct bk_msg *r;

	BK_ASSERT(m->refs == 1 && m->flags == (m->flags & BK_MSG_PERSISTENT));
	BK_ASSERT(body_len <= UINT32_MAX);
	head = bk_msg__rk_off(m) + bk_msg_rk_len(m);
	/* offsets now, while the old block is valid: a pointer into a block
	 * that was freed may not even be compared */
	n = inner_ptrs(m, ptrs);
	for (i = 0; i < n; i++)
		offs[i] = (uintptr_t)*ptrs[i] - (uintptr_t)m;
	r = rec_realloc(m, head + m->body_len, head + body_len);
	n = inner_ptrs(r, ptrs);
	for (i = 0; i < n; i++)
		*ptrs[i] = (const char *)((uint8_t *)r + offs[i]);
	r->body_len = (uint32_t)body_len;
	return r;
}

void
bk_msg_id_floor(uint64_t id)
{
	if (next_msg_id <= id)
		next_msg_id = id + 1;
}

struct bk_msg *
bk_msg_ref(struct bk_msg *m)
{
	m->refs++;
	return m;
}

void
bk_msg_unref(struct bk_msg *m)
{
	if (m == NULL)
		return;
	BK_ASSERT(m->refs > 0);
	if (--m->refs > 0)
		return;
	if ((m->flags & (BK_MSG_JOURNALED | BK_MSG_PAGED)) == BK_MSG_JOURNALED)
		bk_persist_resident -= m->body_len;
	if (!(m->flags & BK_MSG_PAGED) && m->body_len > BK_SLAB_MAX)
		bk_free(m);                     /* a malloc block: no need to size it */
	else
		rec_free(m, bk_msg_record_size(m));
}

/*
 * RabbitMQ accepts only a non-negative decimal integer (no sign, no
 * spaces). The bound keeps published_ms + ttl far from overflow.
 */
int
bk_expiration_parse(struct bk_str s, uint64_t *ms)
{
	uint64_t v = 0;
	uint32_t i;

	if (s.len == 0 || s.len > 19)
		return -EINVAL;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > ((uint64_t)1 << 62))
		return -EINVAL;
	*ms = v;
	return 0;
}
