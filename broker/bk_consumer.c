/*
 * bk_consumer.c: consumer registration, cancellation, shared credit and
 * the delivery free list.
 *
 * A queue's consumers form one list in the order they came; the
 * dispatcher sees them by priority, each priority in round-robin turn
 * (bk_cgroup.c). A single-active-consumer queue serves only the list's
 * head; when the head cancels, the next one takes over.
 *
 * Shared credit (basic.qos global) links its consumers so that freeing one
 * unit can wake every queue they consume from.
 *
 * Cancelling unlinks the consumer from its queue and credit at once; the
 * struct stays until its unsettled deliveries are settled (refcount), so
 * their d->consumer stays readable. May delete an auto-delete queue.
 */
#include "bk_cgroup.h"
#include "bk_stream.h"

#include <string.h>

#define DELIVERY_CACHE_MAX 4096

/* Main thread only, like everything in the core. */
static struct bk_delivery *free_deliveries;
static uint32_t free_count;
/* Unsettled deliveries, so that tearing the broker down releases what an
 * adapter still held (their messages, queues and consumers). */
static struct bk_delivery *live_deliveries;

static void
live_link(struct bk_delivery *d)
{
	d->live_prev = NULL;
	d->live_next = live_deliveries;
	if (live_deliveries != NULL)
		live_deliveries->live_prev = d;
	live_deliveries = d;
}

static void
live_unlink(struct bk_delivery *d)
{
	if (d->live_prev != NULL)
		d->live_prev->live_next = d->live_next;
	else
		live_deliveries = d->live_next;
	if (d->live_next != NULL)
		d->live_next->live_prev = d->live_prev;
}

struct bk_delivery *
bk_delivery_alloc(void)
{
	struct bk_delivery *d = free_deliveries;

	if (d != NULL) {
		free_deliveries = d->free_next;
		free_count--;
		memset(d, 0, sizeof(*d));
	} else {
		d = bk_calloc(1, sizeof(*d));
	}
	live_link(d);
	return d;
}

void
bk_delivery_release(struct bk_delivery *d)
{
	live_unlink(d);
	if (free_count >= DELIVERY_CACHE_MAX) {
		bk_free(d);
		return;
	}
	d->free_next = free_deliveries;
	free_deliveries = d;
	free_count++;
}

void
bk_deliveries_fini(void)
{
	/* Every queue is deleted by now, so settling dispatches nothing. */
	while (live_deliveries != NULL)
		bk_delivery_settle(live_deliveries, BK_SETTLE_ACK);
	while (free_deliveries != NULL) {
		struct bk_delivery *d = free_deliveries;

		free_deliveries = d->free_next;
		bk_free(d);
	}
	free_count = 0;
}

/* ---- credit ---- */

struct bk_credit *
bk_credit_new(uint32_t limit)
{
	struct bk_credit *c = bk_calloc(1, sizeof(*c));

	c->limit = limit;
	return c;
}

/*
 * Room on cr is every one of its consumers' at once: all go back in turn
 * first, in the order they were last served (bk_credit_served), so that
 * each queue serves its highest priority first and keeps its turns; then
 * each of their queues is served. The queues are collected before any is
 * served: serving moves consumers within cr's list (to its tail) and a
 * deliver() may cancel some, so a walk of the list while serving would
 * miss those behind a moved one.
 */
void
bk_credit_wake(struct bk_credit *cr)
{
	struct bk_queue *small[16], **qs = small;
	size_t n = 0, cap = 16;

	for (struct bk_consumer *c = cr->cons; c != NULL; c = c->cnext) {
		bk_cgroup_room(c);
		if (c->queue == NULL)
			continue;
		if (n == cap) {
			cap *= 2;
			if (qs == small)
				qs = memcpy(bk_malloc(cap * sizeof(*qs)), small, sizeof(small));
			else
				qs = bk_realloc(qs, cap * sizeof(*qs));
		}
		bk_queue_ref(c->queue);
		qs[n++] = c->queue;
	}
	for (size_t i = 0; i < n; i++) {
		bk_queue_dispatch(qs[i]);       /* none if deleted meanwhile */
		bk_queue_unref(qs[i]);
	}
	if (qs != small)
		bk_free(qs);
}

void
bk_credit_set_limit(struct bk_credit *c, uint32_t limit)
{
	bool more = limit == 0 || (c->limit != 0 && limit > c->limit);

	c->limit = limit;
	if (more)
		bk_credit_wake(c);
}

/* c out of cr's list, and back in at its tail (bk_credit_link). */
static void
credit_list_del(struct bk_credit *cr, struct bk_consumer *c)
{
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		cr->cons = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	else
		cr->cons_tail = c->cprev;
	c->cprev = c->cnext = NULL;
}

void
bk_credit_link(struct bk_credit *cr, struct bk_consumer *c)
{
	c->credit = cr;
	c->cnext = NULL;
	c->cprev = cr->cons_tail;
	if (cr->cons_tail)
		cr->cons_tail->cnext = c;
	else
		cr->cons = c;
	cr->cons_tail = c;
}

void
bk_credit_to_tail(struct bk_consumer *c)
{
	credit_list_del(c->credit, c);
	bk_credit_link(c->credit, c);
}

/*
 * c leaves cr's consumers. Deliveries it still has out keep counting
 * against cr until settled, as on RabbitMQ, where a channel's global
 * prefetch counts the channel's unacknowledged messages whoever consumed
 * them: c stays on cr's orphans until its last one settles
 * (bk_credit_settled).
 */
static void
credit_unlink(struct bk_consumer *c)
{
	struct bk_credit *cr = c->credit;

	if (cr == NULL)
		return;
	credit_list_del(cr, c);
	if (!c->no_ack && c->unacked > 0) {
		c->cnext = cr->orphans;
		if (c->cnext)
			c->cnext->cprev = c;
		cr->orphans = c;
		return;
	}
	c->credit = NULL;
}

void
bk_credit_orphan_done(struct bk_consumer *c)
{
	struct bk_credit *cr = c->credit;

	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		cr->orphans = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	c->cprev = c->cnext = NULL;
	c->credit = NULL;
}

void
bk_credit_free(struct bk_credit *cr)
{
	if (cr == NULL)
		return;
	while (cr->cons != NULL) {
		struct bk_consumer *c = cr->cons;

		credit_list_del(cr, c);
		c->credit = NULL;
	}
	while (cr->orphans != NULL) {
		struct bk_consumer *c = cr->orphans;

		cr->orphans = c->cnext;
		c->cprev = c->cnext = NULL;
		c->credit = NULL;
	}
	bk_free(cr);
}

/* ---- consumers ---- */

void
bk_consumer_unref(struct bk_consumer *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	bk_free(c->reply_name);
	bk_free(c->tag);
	bk_free(c);
}

static void
list_insert(struct bk_queue *q, struct bk_consumer *c)
{
	c->next = NULL;
	c->prev = q->cons_tail;
	if (c->prev)
		c->prev->next = c;
	else
		q->cons_head = c;
	q->cons_tail = c;
	q->ncons++;
	q->acked_ms = bk_now_ms();      /* a new consumer counts as keeping up */
	if (!q->args.single_active)
		bk_cgroup_add(q, c);
}

void
bk_consumer_detach(struct bk_consumer *c)
{
	struct bk_queue *q = c->queue;

	credit_unlink(c);
	c->cancelled = true;
	bk_sconsumer_free(c);
	if (q == NULL)
		return;
	bk_cgroup_remove(q, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		q->cons_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		q->cons_tail = c->prev;
	c->prev = c->next = NULL;
	q->ncons--;
	if (c->exclusive)
		q->exclusive_consumer = false;
	c->queue = NULL;
}

enum bk_status
bk_consume(const struct bk_consume_decl *d, struct bk_consumer **out,
	   struct bk_err *err)
{
	struct bk_queue *q = d->queue;
	struct bk_consumer *c;

	*out = NULL;
	if (q == NULL || q->deleted)
		return bk_err_set(err, BK_NOT_FOUND, "no queue '%s' in vhost '%s'",
				  q ? q->name : "", q && q->vhost ? q->vhost->name : "/");
	if (q->exclusive_consumer || (d->exclusive && q->ncons > 0))
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "queue '%s' in vhost '%s' in exclusive use",
				  q->name, q->vhost->name);
	if (q->stream != NULL)
		return bk_stream_consume(d, out, err);
	c = bk_calloc(1, sizeof(*c));
	c->queue = q;
	c->ops = d->ops;
	c->ctx = d->ctx;
	c->refs = 1;
	c->prefetch = d->prefetch;
	c->priority = d->priority;
	c->no_ack = d->no_ack;
	c->exclusive = d->exclusive;
	c->tag = d->tag ? bk_strdup(d->tag) : NULL;
	c->channel_id = d->channel_id;
	list_insert(q, c);
	if (d->credit != NULL)
		bk_credit_link(d->credit, c);
	q->exclusive_consumer = d->exclusive;
	q->had_consumer = true;
	bk_expiry_idle_stop(q);
	*out = c;
	bk_queue_dispatch(q);
	return BK_OK;
}

void
bk_consumer_cancel(struct bk_consumer *c)
{
	struct bk_queue *q = c->queue;

	if (c->cancelled)
		return;
	if (c->reply_name != NULL && c->vhost != NULL) {
		struct bk_consumer *reg = c->vhost->replies;

		HASH_DEL(reg, c);
		c->vhost->replies = reg;
	}
	bk_consumer_detach(c);
	bk_consumer_unref(c);
	if (q == NULL || q->deleted)
		return;
	if (q->ncons == 0 && q->auto_delete && q->had_consumer)
		bk_queue_destroy(q, true);
	else if (q->ncons == 0)
		bk_expiry_idle_arm(q);
	else if (q->args.single_active || q->stream != NULL)
		bk_queue_dispatch(q);           /* the next one takes over */
}

void
bk_consumer_wake(struct bk_consumer *c)
{
	if (!c->parked)
		return;
	c->parked = false;
	if (c->queue != NULL)
		bk_cgroup_dispatch_for(c->queue, c);
}

void
bk_consumer_set_prefetch(struct bk_consumer *c, uint32_t prefetch)
{
	bool more = prefetch == 0 || (c->prefetch != 0 && prefetch > c->prefetch);

	c->prefetch = prefetch;
	if (more && c->queue != NULL)
		bk_cgroup_dispatch_for(c->queue, c);
}
