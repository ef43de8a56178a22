/*
 * bk_binding.c: bind, unbind, and binding removal on queue deletion.
 *
 * A binding's identity is (source, destination, routing key, arguments),
 * serialised into idkey[] at the end of its own allocation:
 *
 *   +-----------+-----------+------+---------+-----+------+
 *   | source *  | dest *    | kind | key len | key | args |
 *   +-----------+-----------+------+---------+-----+------+
 *      8 bytes     8 bytes    1       4
 *
 * idkey is the uthash key in routing->ids, so a duplicate bind is one hash
 * lookup, and key/args of the binding point into it (one allocation).
 * Arguments compare as encoded bytes: the same table sent twice is the
 * same binding.
 *
 * Every binding is linked in four places (see bk_routing.h); binding_link() and
 * bk_binding_remove() are the only code that touches those links, so they
 * stay consistent. Removal may cascade into auto-delete exchanges.
 */
#include "bk_routing.h"
#include "bk_xext.h"

#include <string.h>

#define IDKEY_FIXED (2 * sizeof(void *) + 1 + 4)

static struct bk_binding *
binding_alloc(struct bk_exchange *src, void *dest, bool is_queue,
	      const struct bk_binding_decl *d)
{
	uint32_t n = IDKEY_FIXED + d->routing_key.len + d->arguments.len;
	struct bk_binding *b = bk_calloc(1, sizeof(*b) + n);
	uint8_t *p = b->idkey;

	b->source = src;
	b->dest_is_queue = is_queue;
	if (is_queue)
		b->dest.q = dest;
	else
		b->dest.x = dest;
	memcpy(p, &src, sizeof(src));
	p += sizeof(src);
	memcpy(p, &dest, sizeof(dest));
	p += sizeof(dest);
	*p++ = is_queue;
	memcpy(p, &d->routing_key.len, 4);
	p += 4;
	if (d->routing_key.len)
		memcpy(p, d->routing_key.p, d->routing_key.len);
	b->key = (struct bk_str){ (const char *)p, d->routing_key.len };
	p += d->routing_key.len;
	if (d->arguments.len)
		memcpy(p, d->arguments.p, d->arguments.len);
	b->args = (struct bk_table){ p, d->arguments.len };
	b->idkey_len = n;
	return b;
}

/* Both ends survive a restart: the binding is in the definitions file. */
static bool
binding_persists(const struct bk_binding *b)
{
	if (!b->source->durable || b->source->is_default)
		return false;
	return b->dest_is_queue ? bk_queue_persists(b->dest.q) : b->dest.x->durable;
}

static void
direct_link(struct bk_exchange *x, struct bk_binding *b)
{
	struct bk_dkey *k = NULL;

	HASH_FIND(hh, x->direct, b->key.p, b->key.len, k);
	if (k == NULL) {
		k = bk_calloc(1, sizeof(*k) + b->key.len + 1);
		k->len = b->key.len;
		memcpy(k->key, b->key.p, b->key.len);
		HASH_ADD_KEYPTR(hh, x->direct, k->key, k->len, k);
	}
	b->dkey = k;
	b->idx_next = k->head;
	if (k->head != NULL)
		k->head->idx_prev = b;
	k->head = b;
}

static void
direct_unlink(struct bk_exchange *x, struct bk_binding *b)
{
	struct bk_dkey *k = b->dkey;

	if (b->idx_prev != NULL)
		b->idx_prev->idx_next = b->idx_next;
	else
		k->head = b->idx_next;
	if (b->idx_next != NULL)
		b->idx_next->idx_prev = b->idx_prev;
	if (k->head == NULL) {
		HASH_DEL(x->direct, k);
		bk_free(k);
	}
}

/* Head of the destination list b belongs in; creates a queue's entry. */
static struct bk_binding **
dest_head(struct bk_routing *r, struct bk_binding *b, bool create)
{
	struct bk_qbinds *qb = NULL;

	if (!b->dest_is_queue)
		return &b->dest.x->dst_head;
	HASH_FIND_PTR(r->queues, &b->dest.q, qb);
	if (qb == NULL && create) {
		qb = bk_calloc(1, sizeof(*qb));
		qb->q = b->dest.q;
		HASH_ADD_PTR(r->queues, q, qb);
	}
	return &qb->head;
}

static void
binding_link(struct bk_routing *r, struct bk_binding *b)
{
	struct bk_exchange *x = b->source;
	struct bk_binding **dh = dest_head(r, b, true);

	HASH_ADD_KEYPTR(hh, r->ids, b->idkey, b->idkey_len, b);
	b->src_prev = x->src_tail;
	if (x->src_tail != NULL)
		x->src_tail->src_next = b;
	else
		x->src_head = b;
	x->src_tail = b;
	x->nsrc++;
	b->dst_next = *dh;
	if (*dh != NULL)
		(*dh)->dst_prev = b;
	*dh = b;
	if (x->route == BK_X_DIRECT)
		direct_link(x, b);
	else if (x->route == BK_X_TOPIC)
		bk_topic_add(x->topic, b->key.p, b->key.len, b);
	bk_xext_bindings_changed(x, b, true);
}

static void
dest_unlink(struct bk_routing *r, struct bk_binding *b)
{
	struct bk_qbinds *qb = NULL;

	if (b->dst_next != NULL)
		b->dst_next->dst_prev = b->dst_prev;
	if (b->dst_prev != NULL) {
		b->dst_prev->dst_next = b->dst_next;
		return;
	}
	if (!b->dest_is_queue) {
		b->dest.x->dst_head = b->dst_next;
		return;
	}
	HASH_FIND_PTR(r->queues, &b->dest.q, qb);
	BK_ASSERT(qb != NULL);
	qb->head = b->dst_next;
	if (qb->head == NULL) {
		HASH_DEL(r->queues, qb);
		bk_free(qb);
	}
}

void
bk_binding_remove(struct bk_binding *b, bool cascade)
{
	struct bk_exchange *x = b->source;
	struct bk_routing *r = x->vhost->routing;

	HASH_DEL(r->ids, b);
	if (b->src_prev != NULL)
		b->src_prev->src_next = b->src_next;
	else
		x->src_head = b->src_next;
	if (b->src_next != NULL)
		b->src_next->src_prev = b->src_prev;
	else
		x->src_tail = b->src_prev;
	x->nsrc--;
	if (binding_persists(b))
		bk_defs_changed(x->vhost->broker);
	dest_unlink(r, b);
	if (x->route == BK_X_DIRECT)
		direct_unlink(x, b);
	else if (x->route == BK_X_TOPIC)
		bk_topic_remove(x->topic, b->key.p, b->key.len, b);
	bk_xext_bindings_changed(x, b, false);
	bk_free(b);
	if (cascade)
		bk_exchange_maybe_autodelete(x);
}

/*
 * Find source and destination. For unbind (!bind) a missing source or
 * destination is not an error (RabbitMQ 3.2+): *absent is set instead.
 */
static enum bk_status
resolve(struct bk_vhost *vh, const struct bk_binding_decl *d, bk_owner owner,
	bool bind, struct bk_exchange **src, void **dest, bool *absent,
	struct bk_err *err)
{
	struct bk_queue *q = NULL;
	enum bk_status st;

	*absent = false;
	if (d->source.len == 0 || (!d->dest_is_queue && d->dest.len == 0))
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "operation not permitted on the default exchange");
	if ((*src = bk_exchange_get(vh, d->source)) == NULL) {
		*absent = true;
		return bind ? bk_err_set(err, BK_NOT_FOUND,
					 "no exchange '%.*s' in vhost '%s'",
					 (int)d->source.len, d->source.p,
					 vh->name) : BK_OK;
	}
	if (!d->dest_is_queue) {
		*dest = bk_exchange_get(vh, d->dest);
		*absent = *dest == NULL;
		if (*absent && bind)
			return bk_err_set(err, BK_NOT_FOUND,
					  "no exchange '%.*s' in vhost '%s'",
					  (int)d->dest.len, d->dest.p, vh->name);
		return BK_OK;
	}
	st = bk_queue_lookup(vh, d->dest, owner, &q, err);
	*dest = q;
	*absent = st == BK_NOT_FOUND;
	if (*absent && !bind)
		return BK_OK;
	return st;
}

/* Count the key's '#' words: at most BK_TOPIC_MAX_HASHES. */
static enum bk_status
topic_key_check(const struct bk_exchange *x, struct bk_str key, struct bk_err *err)
{
	unsigned hashes = 0;
	size_t start = 0;

	for (size_t i = 0; i <= key.len; i++) {
		if (i < key.len && key.p[i] != '.')
			continue;
		if (i - start == 1 && key.p[start] == '#')
			hashes++;
		start = i + 1;
	}
	if (hashes <= BK_TOPIC_MAX_HASHES)
		return BK_OK;
	return bk_err_set(err, BK_PRECONDITION_FAILED,
			  "binding key '%.*s' for topic exchange '%s' in vhost '%s' has "
			  "%u '#' wildcards; at most %d are allowed",
			  (int)key.len, key.p, x->name, x->vhost->name, hashes,
			  BK_TOPIC_MAX_HASHES);
}

enum bk_status
bk_bind(struct bk_vhost *vh, const struct bk_binding_decl *d, bk_owner owner,
	struct bk_err *err)
{
	struct bk_binding *b, *old = NULL;
	struct bk_exchange *src;
	enum bk_status st;
	uint8_t xmatch = BK_XM_ALL;
	void *dest = NULL;
	bool absent;

	st = resolve(vh, d, owner, true, &src, &dest, &absent, err);
	if (st != BK_OK)
		return st;
	if (src->route == BK_X_HEADERS &&
	    (st = bk_headers_parse_xmatch(d->arguments, &xmatch, err)) != BK_OK)
		return st;
	if (src->type == BK_X_CHASH && (st = bk_chash_check_key(d->routing_key, err)) != BK_OK)
		return st;
	if (src->route == BK_X_TOPIC && !d->stored &&
	    (st = topic_key_check(src, d->routing_key, err)) != BK_OK)
		return st;
	b = binding_alloc(src, dest, d->dest_is_queue, d);
	HASH_FIND(hh, vh->routing->ids, b->idkey, b->idkey_len, old);
	if (old != NULL) {
		bk_free(b);
		return BK_OK;
	}
	if (src->type == BK_X_CHASH &&
	    (st = bk_chash_check_room(src, d->routing_key, err)) != BK_OK) {
		bk_free(b);
		return st;
	}
	b->xmatch = xmatch;
	binding_link(vh->routing, b);
	if (binding_persists(b))
		bk_defs_binding_added(b);
	return BK_OK;
}

enum bk_status
bk_unbind(struct bk_vhost *vh, const struct bk_binding_decl *d,
	  bk_owner owner, struct bk_err *err)
{
	struct bk_binding *b, *old = NULL;
	struct bk_exchange *src;
	enum bk_status st;
	void *dest = NULL;
	bool absent;

	st = resolve(vh, d, owner, false, &src, &dest, &absent, err);
	if (st != BK_OK || absent)
		return st;
	b = binding_alloc(src, dest, d->dest_is_queue, d);
	HASH_FIND(hh, vh->routing->ids, b->idkey, b->idkey_len, old);
	bk_free(b);
	if (old != NULL)
		bk_binding_remove(old, true);
	return BK_OK;
}

void
bk_bindings_remove_queue(struct bk_vhost *vh, struct bk_queue *q)
{
	struct bk_qbinds *qb;

	/* Re-find each time: removing the last binding frees the entry. */
	for (;;) {
		qb = NULL;
		HASH_FIND_PTR(vh->routing->queues, &q, qb);
		if (qb == NULL)
			break;
		bk_binding_remove(qb->head, true);
	}
}

void
bk_routing_free(struct bk_routing *r)
{
	struct bk_qbinds *qb, *qtmp;

	if (r == NULL)
		return;
	/* bk_exchanges_free_all removed every binding (they need their
	 * source exchange to unlink). */
	BK_ASSERT(r->ids == NULL);
	HASH_ITER(hh, r->queues, qb, qtmp) {
		HASH_DEL(r->queues, qb);
		bk_free(qb);
	}
	bk_headers_index_free(r->hidx);
	bk_free(r->dests);
	bk_free(r->work);
	bk_free(r);
}
