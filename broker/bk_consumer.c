/*
 * bk_consumer.c: consumer registration, cancellation, shared credit and
 * the delivery free list.
 *
 * A queue's consumers form one list ordered by priority (highest first);
 * within one priority they are in round-robin order: the dispatcher moves
 * the consumer it just served behind its equals (bk_dispatch.c). For a
 * single-active-consumer queue the list is in registration order instead
 * and only its head is served; when the head cancels, the next one takes
 * over.
 *
 * Shared credit (basic.qos global) links its consumers so that freeing one
 * unit can wake every queue they consume from.
 *
 * Cancelling unlinks the consumer from its queue and credit at once; the
 * struct stays until its unsettled deliveries are settled (refcount), so
 * their d->consumer stays readable. May delete an auto-delete queue.
 */
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
 * Dispatch every queue a consumer of cr reads from. A deliver() may cancel
 * consumers of cr (unlinking them); the walk holds a ref on the current
 * one and starts over from the head when it was unlinked, which ends
 * because each start-over follows an unlink.
 */
void
bk_credit_wake(struct bk_credit *cr)
{
	struct bk_consumer *c = cr->cons, *next;

	while (c != NULL) {
		c->refs++;
		if (c->queue != NULL)
			bk_queue_dispatch(c->queue);    /* room for all of cr's at once */
		next = c->credit == cr ? c->cnext : cr->cons;
		bk_consumer_unref(c);
		c = next;
	}
}

void
bk_credit_set_limit(struct bk_credit *c, uint32_t limit)
{
	bool more = limit == 0 || (c->limit != 0 && limit > c->limit);

	c->limit = limit;
	if (more)
		bk_credit_wake(c);
}

static void
credit_unlink(struct bk_consumer *c)
{
	struct bk_credit *cr = c->credit;

	if (cr == NULL)
		return;
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		cr->cons = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	c->cprev = c->cnext = NULL;
	if (!c->no_ack && c->unacked > 0 && cr->used > 0) {
		cr->used -= c->unacked < cr->used ? c->unacked : cr->used;
		/* Room for the credit's other consumers, given without a
		 * callback: their queues walk again at the next message or
		 * settle, as a full walk would find them (none_can_take). */
		for (struct bk_consumer *o = cr->cons; o != NULL; o = o->cnext)
			if (o->queue != NULL)
				o->queue->none_can_take = false;
	}
	c->credit = NULL;
}

void
bk_credit_free(struct bk_credit *c)
{
	if (c == NULL)
		return;
	while (c->cons != NULL)
		credit_unlink(c->cons);
	bk_free(c);
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
	struct bk_consumer *at = NULL;     /* insert before this one */

	/* Most consumers share one priority: then the new one goes last
	 * without a walk over every consumer of the queue. */
	if (!q->args.single_active &&
	    (q->cons_tail == NULL || q->cons_tail->priority < c->priority)) {
		at = q->cons_head;
		while (at != NULL && at->priority >= c->priority)
			at = at->next;
	}
	c->next = at;
	c->prev = at ? at->prev : q->cons_tail;
	if (c->prev)
		c->prev->next = c;
	else
		q->cons_head = c;
	if (at)
		at->prev = c;
	else
		q->cons_tail = c;
	q->ncons++;
	q->acked_ms = bk_now_ms();      /* a new consumer counts as keeping up */
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
	if (d->credit != NULL) {
		c->credit = d->credit;
		c->cnext = d->credit->cons;
		if (c->cnext)
			c->cnext->cprev = c;
		d->credit->cons = c;
	}
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
		bk_queue_dispatch_for(c->queue, c);
}

void
bk_consumer_set_prefetch(struct bk_consumer *c, uint32_t prefetch)
{
	bool more = prefetch == 0 || (c->prefetch != 0 && prefetch > c->prefetch);

	c->prefetch = prefetch;
	if (more && c->queue != NULL)
		bk_queue_dispatch_for(c->queue, c);
}
