/*
 * bk_msg.c: message allocation and refcounting.
 *
 * One allocation per message, laid out as:
 *
 *   +---------------+-----------------+-------------+--------+-------+------+
 *   | struct bk_msg | struct bk_props | property    |exchange|routing| body |
 *   |               | (only if owned) | strings,    |        |key    |      |
 *   |               |                 | headers blob|        |       |      |
 *   +---------------+-----------------+-------------+--------+-------+------+
 *
 * so every pointer in a routed message points into the message itself,
 * fan-out shares one copy, and the last unref is one free. The body comes
 * last so an adapter can read the wire payload straight into it. A message
 * whose only property is a delivery mode of 1 or 2, or that has none,
 * points at a shared constant instead of owning a struct bk_props: most
 * messages are like that, and the struct is most of a small message's
 * cost.
 *
 * Ids come from a process-wide counter: bk_msg_new has no broker argument
 * and ids only need to increase.
 */
#include "bk_int.h"

#include <errno.h>
#include <string.h>

static uint64_t next_msg_id = 1;
uint64_t bk_persist_resident;

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

static const struct bk_props props_none;
static const struct bk_props props_transient = {
	.present = BK_P_DELIVERY_MODE, .delivery_mode = 1,
};
static const struct bk_props props_persistent = {
	.present = BK_P_DELIVERY_MODE, .delivery_mode = 2,
};

/* The shared constant equal to *p, or NULL when p needs its own copy. */
static const struct bk_props *
shared_props(const struct bk_props *p)
{
	if (p->present == 0)
		return &props_none;
	if (p->present != BK_P_DELIVERY_MODE)
		return NULL;
	if (p->delivery_mode == 1)
		return &props_transient;
	if (p->delivery_mode == 2)
		return &props_persistent;
	return NULL;
}

static bool
owns_props(const struct bk_msg *m)
{
	return m->props == (const struct bk_props *)(const void *)(m + 1);
}

struct bk_msg *
bk_msg_new(struct bk_str exchange, struct bk_str routing_key,
	   const struct bk_props *props, size_t body_len)
{
	const struct bk_props *shared;
	size_t extra, total;
	struct bk_msg *m;
	uint8_t *dst;
	uint64_t ttl;

	shared = shared_props(props != NULL ? props : &props_none);
	extra = exchange.len + routing_key.len;
	if (shared == NULL)
		extra += sizeof(struct bk_props) + props_size(props);
	BK_ASSERT(body_len <= UINT32_MAX);
	total = sizeof(*m) + extra + body_len;
	m = bk_malloc(total);
	memset(m, 0, sizeof(*m));
	m->refs = 1;
	m->id = next_msg_id++;
	m->published_ms = bk_now_ms();
	dst = (uint8_t *)(m + 1);
	if (shared == NULL) {
		struct bk_props *own = (struct bk_props *)(void *)dst;

		*own = *props;
		dst = props_copy(own, dst + sizeof(*own));
		m->props = own;
	} else {
		m->props = shared;
	}
	m->exchange = exchange;
	dst = copy_str(dst, &m->exchange);
	m->routing_key = routing_key;
	dst = copy_str(dst, &m->routing_key);
	m->body = dst;
	m->body_len = (uint32_t)body_len;
	if ((m->props->present & BK_P_DELIVERY_MODE) && m->props->delivery_mode == 2)
		m->flags |= BK_MSG_PERSISTENT;
	if ((m->props->present & BK_P_EXPIRATION) &&
	    bk_expiration_parse(m->props->expiration, &ttl) == 0)
		m->expires_ms = (int64_t)(m->published_ms + ttl);
	return m;
}

/*
 * The pointers of m that point into its own allocation, for relocation
 * (the props pointer itself is redone by the caller).
 */
static void
inner_ptrs(struct bk_msg *m, const char ***out, size_t *n)
{
	struct bk_props *own;
	struct bk_str *str;
	uint32_t flag;
	size_t k = 0;

	if (owns_props(m)) {
		own = (struct bk_props *)(void *)(m + 1);
		for (unsigned i = 0; (str = str_prop(own, i, &flag)) != NULL; i++)
			if (own->present & flag)
				out[k++] = &str->p;
		if (own->present & BK_P_HEADERS)
			out[k++] = (const char **)(void *)&own->headers.p;
	}
	out[k++] = &m->exchange.p;
	out[k++] = &m->routing_key.p;
	*n = k;
}

struct bk_msg *
bk_msg_body_resize(struct bk_msg *m, size_t body_len)
{
	const char **ptrs[16];
	uintptr_t offs[16];
	size_t head, n, i;
	struct bk_msg *r;
	bool own;

	BK_ASSERT(m->refs == 1 && m->flags == (m->flags & BK_MSG_PERSISTENT));
	BK_ASSERT(body_len <= UINT32_MAX);
	head = (size_t)(m->body - (uint8_t *)m);
	own = owns_props(m);
	/* offsets now, while the old block is valid: a pointer into a block
	 * that realloc freed may not even be compared */
	inner_ptrs(m, ptrs, &n);
	for (i = 0; i < n; i++)
		offs[i] = (uintptr_t)*ptrs[i] - (uintptr_t)m;
	r = bk_realloc(m, head + body_len);
	if (own)
		r->props = (const struct bk_props *)(const void *)(r + 1);
	inner_ptrs(r, ptrs, &n);
	for (i = 0; i < n; i++)
		*ptrs[i] = (const char *)((uint8_t *)r + offs[i]);
	r->body = (uint8_t *)r + head;
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
	bk_free(m);
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
