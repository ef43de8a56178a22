/*
 * bk_xchash.c: the x-consistent-hash exchange: partitioning by key.
 *
 * Each binding's key is its weight w: the destination gets w points on a
 * 32-bit ring, at hash(destination name, i) for i < w. A message goes to
 * the destination of the first point at or after the hash of its routing
 * key (or of the header named by hash-header, or the property named by
 * hash-property), wrapping round. So the same key always reaches the same
 * queue while the bindings stay, and adding a queue with weight w moves
 * only the keys that fall on its new points: about w / (total weight) of
 * them. Points depend only on names and weights, so the mapping is the
 * same after a restart.
 *
 * The ring is rebuilt on the first publish after the bindings changed:
 * O(P log P) for P points, then O(log P) per message. P is the sum of
 * the weights, which MAX_TOTAL bounds per exchange: a ring of 16 MB and
 * a rebuild of a fraction of a second at most, whatever a user allowed
 * to bind to its own exchange asks for.
 */
#include "bk_xext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WEIGHT 100000u
#define MAX_TOTAL  1000000u

static uint32_t
hash32(const void *p, size_t n, uint32_t seed)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static bool
weight_of(struct bk_str key, uint32_t *w)
{
	uint64_t v = 0;

	if (key.len == 0 || key.len > 9)
		return false;
	for (uint32_t i = 0; i < key.len; i++) {
		if (key.p[i] < '0' || key.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(key.p[i] - '0');
	}
	*w = (uint32_t)v;
	return true;
}

enum bk_status
bk_chash_check_key(struct bk_str key, struct bk_err *err)
{
	uint32_t w;

	if (!weight_of(key, &w))
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "The binding key must be an integer: <<\"%.*s\">>",
				  (int)(key.len > 64 ? 64 : key.len), key.p ? key.p : "");
	if (w < 1 || w > MAX_WEIGHT)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "The binding key must be greater than 0 and at most %u",
				  MAX_WEIGHT);
	return BK_OK;
}

enum bk_status
bk_chash_check_room(const struct bk_exchange *x, struct bk_str key, struct bk_err *err)
{
	uint32_t w;

	if (x->ext == NULL || !weight_of(key, &w) || x->ext->weight + w <= MAX_TOTAL)
		return BK_OK;
	return bk_err_set(err, BK_PRECONDITION_FAILED,
			  "The weights of the bindings of exchange '%s' in vhost '%s' would "
			  "add up to %llu, over %u", x->name, x->vhost->name,
			  (unsigned long long)(x->ext->weight + w), MAX_TOTAL);
}

void
bk_chash_bindings_changed(struct bk_exchange *x, const struct bk_binding *b, bool added)
{
	uint32_t w;

	x->ext->ring_dirty = true;
	if (!weight_of(b->key, &w))
		return;
	if (added)
		x->ext->weight += w;
	else
		x->ext->weight -= w;
}

void
bk_chash_init(struct bk_exchange *x, struct bk_table args)
{
	struct bk_value v;

	x->ext->ring_dirty = true;
	if (bk_table_get(args, "hash-header", &v) &&
	    (v.type == BK_V_LSTR || v.type == BK_V_BYTES))
		x->ext->hash_header = bk_strndup(v.u.s.p, v.u.s.len);
	if (bk_table_get(args, "hash-property", &v) &&
	    (v.type == BK_V_LSTR || v.type == BK_V_BYTES)) {
		if (bk_str_eq_c(v.u.s, "message_id"))
			x->ext->hash_property = BK_P_MESSAGE_ID;
		else if (bk_str_eq_c(v.u.s, "correlation_id"))
			x->ext->hash_property = BK_P_CORRELATION_ID;
		else if (bk_str_eq_c(v.u.s, "timestamp"))
			x->ext->hash_property = BK_P_TIMESTAMP;
	}
}

void
bk_chash_fini(struct bk_xext *e)
{
	BK_FREE(e->ring);
	BK_FREE(e->hash_header);
	e->npoints = 0;
}

static int
cmp_point(const void *a, const void *b)
{
	const struct bk_chash_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return 0;
}

static const char *
dest_name(const struct bk_binding *b)
{
	return b->dest_is_queue ? bk_queue_name(b->dest.q) : b->dest.x->name;
}

static void
rebuild(struct bk_exchange *x)
{
	struct bk_xext *e = x->ext;
	uint64_t total = 0;
	uint32_t w, n = 0;
	struct bk_binding *b;

	for (b = x->src_head; b != NULL; b = b->src_next)
		if (weight_of(b->key, &w))
			total += w;
	BK_FREE(e->ring);
	e->ring = total ? bk_malloc(total * sizeof(*e->ring)) : NULL;
	for (b = x->src_head; b != NULL; b = b->src_next) {
		const char *name = dest_name(b);
		size_t len = strlen(name);

		if (!weight_of(b->key, &w))
			continue;
		for (uint32_t i = 0; i < w; i++)
			e->ring[n++] = (struct bk_chash_point){ hash32(name, len, i), b };
	}
	e->npoints = n;
	qsort(e->ring, n, sizeof(*e->ring), cmp_point);
	e->ring_dirty = false;
}

/* What to hash: false when the message has nothing to hash on. */
static bool
hash_input(const struct bk_xext *e, const struct bk_msg *m, char *buf, size_t cap,
	   struct bk_str *out)
{
	const struct bk_props *p = bk_msg_props(m);
	struct bk_value v;
	int64_t i;

	if (e->hash_header != NULL) {
		if (!(p->present & BK_P_HEADERS) || !bk_table_get(p->headers, e->hash_header, &v))
			return false;
		if (v.type == BK_V_LSTR || v.type == BK_V_BYTES) {
			*out = v.u.s;
			return true;
		}
		if (v.type == BK_V_TIMESTAMP)
			i = (int64_t)v.u.ts;
		else if (!bk_value_int(&v, &i))
			return false;
		out->len = (uint32_t)snprintf(buf, cap, "%lld", (long long)i);
		out->p = buf;
		return true;
	}
	if (e->hash_property == 0) {
		*out = bk_msg_rk(m);
		return true;
	}
	if (!(p->present & (uint32_t)e->hash_property))
		return false;
	if (e->hash_property == BK_P_MESSAGE_ID)
		*out = p->message_id;
	else if (e->hash_property == BK_P_CORRELATION_ID)
		*out = p->correlation_id;
	else {
		out->len = (uint32_t)snprintf(buf, cap, "%llu", (unsigned long long)p->timestamp);
		out->p = buf;
	}
	return true;
}

struct bk_binding *
bk_chash_pick(struct bk_exchange *x, const struct bk_msg *m)
{
	struct bk_xext *e = x->ext;
	struct bk_str in;
	char buf[32];
	uint32_t h, lo = 0, hi;

	if (e == NULL)
		return NULL;
	if (e->ring_dirty)
		rebuild(x);
	if (e->npoints == 0 || !hash_input(e, m, buf, sizeof(buf), &in))
		return NULL;
	h = hash32(in.p ? in.p : "", in.len, 0x5ee1);
	hi = e->npoints;
	while (lo < hi) {                       /* first point with hash >= h */
		uint32_t mid = (lo + hi) / 2;

		if (e->ring[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return e->ring[lo == e->npoints ? 0 : lo].b;
}
