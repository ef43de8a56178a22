/*
 * bk_route.c: bk_publish, the routing pass.
 *
 * A publish runs in two phases:
 *  1. collect: starting at the target exchange, each exchange's type
 *     index yields bindings; queue destinations are pushed on the vhost's
 *     destination stack once each (bk_queue_mark with this pass's id),
 *     exchange destinations join a work list once each (exchange->visit).
 *     An exchange whose own bindings matched nothing hands the message to
 *     its alternate exchange, which is visited like any other (so chains
 *     of alternates work and loops end). Nothing calls out of the routing
 *     half in this phase.
 *  2. deliver: bk_queue_enqueue for each collected queue. This may
 *     re-enter bk_publish (dead-lettering on overflow), which pushes its
 *     own destinations above ours and pops them before returning; we read
 *     our part by index since the array may move.
 *
 * Steady state allocates nothing: the stack and work list grow once and
 * are kept in the vhost's routing state. Pass ids come from a process-wide
 * counter, so a queue's mark from an earlier (or nested) pass never
 * equals the current one.
 */
#include "bk_routing.h"
#include "bk_xext.h"

#include <errno.h>
#include <string.h>

#define REPLY_PREFIX "amq.rabbitmq.reply-to."

static uint64_t route_seq;
static uint32_t route_depth;            /* publishes running, nested included */
static uint64_t route_root;             /* the outermost one's pass id */

uint64_t
bk_route_root(void)
{
	return route_depth > 0 ? route_root : 0;
}

static void
route_enter(uint64_t id)
{
	if (route_depth++ == 0)
		route_root = id;
}

struct pass {
	struct bk_routing *r;
	struct bk_msg *msg;
	uint64_t id;
	uint32_t matched;               /* destinations of the current exchange */
	struct bk_confirm *confirm;     /* borrowed; may be NULL */
	uint64_t token;
};

static void
push_queue(struct pass *p, struct bk_queue *q)
{
	struct bk_routing *r = p->r;

	if (!bk_queue_mark(q, p->id))
		return;
	if (r->ndests == r->dcap) {
		r->dcap = r->dcap ? r->dcap * 2 : 16;
		r->dests = bk_realloc(r->dests, r->dcap * sizeof(*r->dests));
	}
	r->dests[r->ndests++] = q;
}

static void
push_exchange(struct pass *p, struct bk_exchange *x)
{
	struct bk_routing *r = p->r;

	if (x->visit == p->id)
		return;
	x->visit = p->id;
	if (r->nwork == r->wcap) {
		r->wcap = r->wcap ? r->wcap * 2 : 8;
		r->work = bk_realloc(r->work, r->wcap * sizeof(*r->work));
	}
	r->work[r->nwork++] = x;
}

static void
take(struct pass *p, struct bk_binding *b)
{
	p->matched++;
	if (b->dest_is_queue)
		push_queue(p, b->dest.q);
	else
		push_exchange(p, b->dest.x);
}

static void
topic_hit(void *val, void *ctx)
{
	take(ctx, val);
}

static struct bk_table
msg_headers(const struct bk_msg *m)
{
	if (bk_msg_props(m)->present & BK_P_HEADERS)
		return bk_msg_props(m)->headers;
	return (struct bk_table){ NULL, 0 };
}

/* Feed every binding of x that matches the message to take(). */
static void
match_exchange(struct pass *p, struct bk_exchange *x)
{
	struct bk_str key = bk_msg_rk(p->msg);
	struct bk_dkey *k = NULL;
	struct bk_binding *b;

	switch (x->route) {
	case BK_X_CHASH:
		if ((b = bk_chash_pick(x, p->msg)) != NULL)
			take(p, b);
		break;
	case BK_X_DIRECT:
		HASH_FIND(hh, x->direct, key.len ? key.p : "", key.len, k);
		for (b = k ? k->head : NULL; b != NULL; b = b->idx_next)
			take(p, b);
		break;
	case BK_X_FANOUT:
		for (b = x->src_head; b != NULL; b = b->src_next)
			take(p, b);
		break;
	case BK_X_TOPIC:
		bk_topic_match(x->topic, key.p, key.len, topic_hit, p);
		break;
	case BK_X_HEADERS: {
		struct bk_table h = msg_headers(p->msg);
		const struct bk_headers_index *ix;

		if (x->src_head == NULL)
			break;
		ix = bk_headers_index_set(&p->r->hidx, h);
		for (b = x->src_head; b != NULL; b = b->src_next) {
			if (bk_headers_match_ix(b->xmatch, b->args, h, ix))
				take(p, b);
		}
		break;
	}
	default:                        /* routes are never the plugin types */
		break;
	}
}

static void
collect(struct pass *p, struct bk_exchange *start)
{
	struct bk_routing *r = p->r;
	struct bk_exchange *x, *ae;

	r->nwork = 0;
	push_exchange(p, start);
	while (r->nwork > 0) {
		x = r->work[--r->nwork];
		p->matched = 0;
		if (!x->is_default)
			match_exchange(p, x);
		if (p->matched == 0 && x->alt != NULL &&
		    (ae = bk_exchange_find(x->vhost, x->alt, x->alt_len)) != NULL)
			push_exchange(p, ae);
	}
}

/*
 * Enqueue and count. A capped queue (an MQTT session's, bk_queue_set_cap)
 * with a consumer that has let it fill to half the cap counts as
 * backlogged: its subscriber is slower than the publishers, and past the
 * cap arriving messages are dropped. Judged before the enqueue, which may
 * end with the queue freed (an auto-delete queue whose consumer left).
 */
static void
enqueue(struct bk_route_result *res, struct bk_queue *q, struct bk_msg *m)
{
	bool behind = bk_queue_behind(q);
	int rc = bk_queue_enqueue(q, m);

	if (rc == 0)
		res->queues++;
	else if (rc == -ENOSPC)
		res->refused++;
	if (behind)
		res->backlogged++;
}

/*
 * The journal's MSG record goes first (bk_persist_publish), naming the
 * durable queues; then the enqueues. If the journal refused (disk full,
 * I/O error), the durable queues do not take the message: they count as
 * refused, so the publisher gets a nack rather than a confirm for
 * something that is not on disk.
 */
static void
deliver(struct pass *p, struct bk_vhost *vh, uint32_t base,
	struct bk_route_result *res)
{
	struct bk_routing *r = p->r;
	bool failed;
	uint32_t i;

	if (r->ndests == base)
		return;
	failed = bk_persist_publish(vh->broker, p->msg, &r->dests[base],
				    r->ndests - base, p->confirm, p->token, res) < 0;
	for (i = base; i < r->ndests; i++) {
		if (failed && bk_queue_journaled(r->dests[i], p->msg)) {
			res->refused++;
			continue;
		}
		enqueue(res, r->dests[i], p->msg);
	}
	r->ndests = base;
}

void
bk_route_memo_fini(struct bk_route_memo *m)
{
	if (m == NULL)
		return;
	bk_queue_memo_drop(&m->q);
	*m = (struct bk_route_memo){ 0 };
}

/* The queue the default exchange's key names, through the memo. */
static struct bk_queue *
default_queue(struct bk_vhost *vh, struct bk_str key, struct bk_route_memo *m)
{
	return m == NULL ? bk_queue_get(vh, key) : bk_queue_get_memo(vh, key, &m->q);
}

/* The exchange named name, through the memo. */
static struct bk_exchange *
exchange_get(struct bk_vhost *vh, struct bk_str name, struct bk_route_memo *m)
{
	struct bk_exchange *x;

	if (m == NULL)
		return bk_exchange_get(vh, name);
	x = m->x;
	if (x != NULL && m->vh == vh && m->xgen == vh->routing->xgen &&
	    x->name_len == name.len && memcmp(x->name, name.p, name.len) == 0)
		return x;
	if ((x = bk_exchange_get(vh, name)) == NULL)
		return NULL;
	m->vh = vh;
	m->x = x;
	m->xgen = vh->routing->xgen;
	return x;
}

/* Default exchange: the routing key names a queue (or a reply-to). */
static void
publish_default(struct pass *p, struct bk_vhost *vh, struct bk_route_memo *memo,
		struct bk_route_result *res)
{
	struct bk_msg *msg = p->msg;
	struct bk_str key = bk_msg_rk(msg);
	struct bk_queue *q;

	if (key.len > sizeof(REPLY_PREFIX) - 1 &&
	    memcmp(key.p, REPLY_PREFIX, sizeof(REPLY_PREFIX) - 1) == 0) {
		res->direct_reply = bk_direct_reply_route(vh, key, msg);
		return;
	}
	if ((q = default_queue(vh, key, memo)) == NULL)
		return;
	if (bk_persist_publish(vh->broker, msg, &q, 1, p->confirm, p->token, res) < 0 &&
	    bk_queue_journaled(q, msg)) {
		res->refused++;
		return;
	}
	enqueue(res, q, msg);
}

/* message_stats: plain adds, nothing else on the hot path. The default
 * exchange (x NULL) is not counted per exchange: finding it would cost a
 * hash lookup per publish. */
static inline void
count_publish(struct bk_vhost *vh, struct bk_exchange *x,
	      const struct bk_route_result *res)
{
	bool routed = res->queues > 0 || res->direct_reply || res->refused > 0;

	vh->ms.n[BK_MS_PUBLISH]++;
	vh->ms.n[BK_MS_PUBLISH_IN]++;
	if (routed)
		vh->ms.n[BK_MS_PUBLISH_OUT]++;
	else
		vh->ms.n[BK_MS_DROP_UNROUTABLE]++;
	if (x != NULL) {
		x->publish_in++;
		x->publish_out += routed;
	}
}

enum bk_status
bk_publish(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
	   struct bk_route_result *res, struct bk_err *err)
{
	return bk_publish_confirm(vh, exchange, msg, NULL, 0, res, err);
}

enum bk_status
bk_publish_confirm(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
		   struct bk_confirm *c, uint64_t token, struct bk_route_result *res,
		   struct bk_err *err)
{
	return bk_publish_memo(vh, exchange, msg, c, token, NULL, res, err);
}

static enum bk_status
publish_pass(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
	     struct bk_confirm *c, uint64_t token, struct bk_route_memo *memo,
	     struct bk_route_result *res, struct bk_err *err, uint64_t id)
{
	struct pass p = { vh->routing, msg, id, 0, c, token };
	struct bk_exchange *x;
	uint32_t base = p.r->ndests;

	memset(res, 0, sizeof(*res));
	if (exchange.len == 0) {
		publish_default(&p, vh, memo, res);
		count_publish(vh, NULL, res);
		return BK_OK;
	}
	if ((x = exchange_get(vh, exchange, memo)) == NULL)
		return bk_err_set(err, BK_NOT_FOUND,
				  "no exchange '%.*s' in vhost '%s'",
				  (int)exchange.len, exchange.p, vh->name);
	if (x->internal)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "cannot publish to internal exchange '%s' in "
				  "vhost '%s'", x->name, vh->name);
	/* the plugin types act before routing: a duplicate is confirmed
	 * and dropped, a delayed message held (bk_xext.h) */
	if ((x->type == BK_X_DEDUP && bk_dedup_exchange_seen(x, msg)) ||
	    (x->type == BK_X_DELAYED && bk_delayed_hold(x, msg, c, token, res))) {
		count_publish(vh, x, res);
		return BK_OK;
	}
	collect(&p, x);
	deliver(&p, vh, base, res);
	count_publish(vh, x, res);
	return BK_OK;
}

enum bk_status
bk_publish_memo(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
		struct bk_confirm *c, uint64_t token, struct bk_route_memo *memo,
		struct bk_route_result *res, struct bk_err *err)
{
	uint64_t id = ++route_seq;
	enum bk_status st;

	route_enter(id);
	st = publish_pass(vh, exchange, msg, c, token, memo, res, err, id);
	route_depth--;
	return st;
}

void
bk_route_after_delay(struct bk_exchange *x, struct bk_msg *m)
{
	struct pass p = { x->vhost->routing, m, ++route_seq, 0, NULL, 0 };
	struct bk_route_result res;
	uint32_t base = p.r->ndests;

	memset(&res, 0, sizeof(res));
	route_enter(p.id);
	collect(&p, x);
	deliver(&p, x->vhost, base, &res);
	route_depth--;
}
