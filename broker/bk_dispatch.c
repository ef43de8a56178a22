/*
 * bk_dispatch.c: moving ready messages to consumers, settling deliveries,
 * and basic.get.
 *
 * Dispatch is synchronous (from enqueue, settle, consume, wake, credit
 * changes) but never nests on one queue: a call that finds the queue
 * already dispatching sets dispatch_again and returns, and the running
 * loop goes round once more. Recursion across queues is bounded by what
 * can re-enter: an adapter's deliver() only appends output (broker.h), and
 * dead-letter publishes are depth-limited (bk_dlx.c).
 *
 * Consumer choice: of the highest priority, the next in turn that can
 * take a message: not parked after -EAGAIN, within its prefetch and its
 * shared credit (no-ack consumers have no credit limit). A served
 * consumer goes behind its equals (round-robin within a priority); one
 * that cannot take leaves the turn until it gets room (bk_cgroup.c), so
 * no consumer is looked at twice without a change in between, whatever
 * the mix of priorities. Single active consumer: only the list head is
 * ever served.
 *
 * Safety during ops->deliver: the loop holds a ref on the queue and on the
 * consumer, and re-checks q->deleted and c->cancelled afterwards.
 */
#include "bk_cgroup.h"
#include "bk_persist.h"
#include "bk_stream.h"

#include <errno.h>

static bool
can_take(const struct bk_consumer *c)
{
	const struct bk_credit *cr = c->credit;

	if (c->parked || c->cancelled)
		return false;
	if (c->no_ack)
		return true;
	if (c->prefetch != 0 && c->unacked >= c->prefetch)
		return false;
	return cr == NULL || cr->limit == 0 || cr->used < cr->limit;
}

/* No consumer in turn, or only one that cannot take: the arrival of a
 * message to a queue whose consumers are all full costs this test, not a
 * walk. */
static inline bool
no_turn(const struct bk_queue *q)
{
	const struct bk_cgroup *g;

	if (q->args.single_active)
		return false;
	if (q->gheap_n != 1)
		return q->gheap_n == 0;
	g = q->gheap[0];
	return g->may_head == NULL || (g->n == 1 && !can_take(g->may_head));
}

/*
 * Single active consumer: only the list head. Otherwise the highest
 * priority's next consumer in turn that can take (bk_cgroup.h): those
 * found unable on the way leave the turn until they get room (a lone
 * consumer of its priority stays: there is nothing to skip), and a
 * priority with none in turn able to take leaves the heap, unless it is
 * the only one there.
 */
static struct bk_consumer *
pick(struct bk_queue *q)
{
	if (q->args.single_active)
		return q->cons_head && can_take(q->cons_head) ? q->cons_head : NULL;
	while (q->gheap_n > 0) {
		struct bk_cgroup *g = q->gheap[0];
		struct bk_consumer *c;

		while ((c = g->may_head) != NULL) {
			if (can_take(c))
				return c;
			if (g->n == 1)
				break;          /* alone: stays in turn, nothing to skip */
			bk_cgroup_full(c);
		}
		if (q->gheap_n == 1)
			return NULL;
		bk_cgroup_pop(q);
	}
	return NULL;
}

/* message_stats of a delivery or get (n = 1, or -1 to undo): plain adds
 * on the queue and its vhost. */
static inline void
count_delivery(struct bk_queue *q, bool get, bool no_ack, bool redelivered,
	       int n)
{
	enum bk_mstat k = get ? (no_ack ? BK_MS_GET_NO_ACK : BK_MS_GET)
			      : (no_ack ? BK_MS_DELIVER_NO_ACK : BK_MS_DELIVER);

	q->ms.n[k] += (uint64_t)(int64_t)n;
	q->vhost->ms.n[k] += (uint64_t)(int64_t)n;
	if (redelivered) {
		q->ms.n[BK_MS_REDELIVER] += (uint64_t)(int64_t)n;
		q->vhost->ms.n[BK_MS_REDELIVER] += (uint64_t)(int64_t)n;
	}
}

static struct bk_delivery *
delivery_new(struct bk_queue *q, struct bk_consumer *c, const struct bk_entry *e,
	     bool no_ack)
{
	struct bk_delivery *d = bk_delivery_alloc();

	d->msg = e->msg;                        /* the entry's ref moves */
	d->queue = q;
	bk_queue_ref(q);
	d->consumer = c;
	d->delivery_count = bk_entry_count(e);
	d->redelivered = (bk_entry_flags(e) & BK_E_REDELIVERED) != 0;
	d->no_ack = no_ack;
	d->seq = e->seq;
	q->unacked++;
	count_delivery(q, c == NULL, no_ack, d->redelivered, 1);
	if (c != NULL) {
		c->refs++;
		if (!no_ack) {
			c->unacked++;
			if (c->credit)
				c->credit->used++;
		}
	}
	return d;
}

static void
requeue_entry(struct bk_queue *q, struct bk_msg *m, uint64_t seq,
	      uint32_t count, bool redelivered, enum bk_msgq_add how)
{
	struct bk_entry e = bk_entry_make(m, bk_msgq_expiry(q, m), seq, count,
					  redelivered ? BK_E_REDELIVERED : 0);

	bk_msgq_add(q, &e, how);
}

/*
 * A stub taken for delivery gets its body back from the journal. A body
 * that cannot be read (failed batch, bad CRC) is dropped: it cannot be
 * delivered, and keeping it would block the queue. false then.
 */
static bool
page_in(struct bk_queue *q, struct bk_entry *e)
{
	struct bk_msg *m = bk_persist_page_in(q->broker, e->msg);

	if (m == NULL) {
		bk_persist_ack(q, e->msg);
		bk_msg_unref(e->msg);
		return false;
	}
	bk_msg_unref(e->msg);
	e->msg = m;
	return true;
}

/* The adapter refused (-EAGAIN): undo as if nothing was taken. */
static void
undo_delivery(struct bk_queue *q, struct bk_consumer *c, struct bk_delivery *d)
{
	q->unacked--;
	count_delivery(q, false, d->no_ack, d->redelivered, -1);
	if (!d->no_ack) {
		c->unacked--;
		if (c->credit && c->credit->used > 0)
			c->credit->used--;
	}
	if (!q->deleted)
		requeue_entry(q, d->msg, d->seq, d->delivery_count, d->redelivered,
			      BK_MSGQ_PUT_BACK);     /* never in a settle batch: the
							loop would pass it by */
	else
		bk_msg_unref(d->msg);
	c->refs--;                      /* the caller still holds one */
	bk_queue_unref(q);
	bk_delivery_release(d);
}

/* One message to one consumer; false when the loop should stop. */
static bool
dispatch_one(struct bk_queue *q, struct bk_consumer *c)
{
	struct bk_entry e;
	struct bk_delivery *d;

	if (!bk_msgq_take(q, &e))
		return false;
	if (bk_entry_expires(&e) != 0 && e.seq != q->fresh_seq &&
	    bk_entry_expires(&e) <= (int64_t)bk_now_ms()) {
		bk_dlx_dead_letter(q, e.msg, "expired");
		bk_persist_ack(q, e.msg);
		bk_msg_unref(e.msg);
		return true;
	}
	if ((e.msg->flags & BK_MSG_PAGED) && !page_in(q, &e))
		return true;
	d = delivery_new(q, c, &e, c->no_ack);
	c->refs++;
	if (c->ops->deliver(c->ctx, d) == -EAGAIN) {
		c->parked = true;
		undo_delivery(q, c, d);
		if (c->queue == q)
			bk_cgroup_full(c);      /* until bk_consumer_wake */
	} else if (c->queue == q) {
		bk_cgroup_served(c);    /* behind its equals */
		bk_credit_served(c);
	}
	bk_consumer_unref(c);
	return true;
}

void
bk_queue_dispatch(struct bk_queue *q)
{
	struct bk_consumer *c;

	if (q->stream != NULL) {
		bk_stream_dispatch(q);
		return;
	}
	if (q->dispatching) {
		q->dispatch_again = true;
		return;
	}
	if (q->deleted || q->ready == 0 || q->cons_head == NULL ||
	    q->requeue_pending > 0 || no_turn(q))
		return;
	q->dispatching = true;
	bk_queue_ref(q);
	do {
		q->dispatch_again = false;
		while (!q->deleted && q->ready > 0 && (c = pick(q)) != NULL)
			if (!dispatch_one(q, c))
				break;
	} while (q->dispatch_again && !q->deleted);
	q->dispatching = false;
	bk_queue_unref(q);
}

/* Requeue, or dead-letter once x-delivery-limit is exceeded. A queue
 * entry counts deliveries up to 65,535 (bk_entry), so a larger limit acts
 * as 65,535 instead of never being reached. */
static void
settle_requeue(struct bk_queue *q, struct bk_delivery *d)
{
	uint32_t count = d->delivery_count + 1;
	int64_t limit = q->args.delivery_limit > 0xffff ? 0xffff : q->args.delivery_limit;

	if (limit >= 0 && count > (uint64_t)limit) {
		bk_dlx_dead_letter(q, d->msg, "delivery_limit");
		bk_persist_ack(q, d->msg);
		bk_msg_unref(d->msg);
		return;
	}
	bk_persist_count(q, d->msg, count);
	requeue_entry(q, d->msg, d->seq, count, true, BK_MSGQ_REQUEUE);
}

static void
settle_message(struct bk_queue *q, struct bk_delivery *d, enum bk_settle how)
{
	if (q != NULL && q->stream != NULL) {
		bk_stream_settled(q, d);        /* every settlement is an ack */
		how = BK_SETTLE_ACK;
	}
	if (q == NULL || q->deleted)
		how = BK_SETTLE_ACK;            /* settles into nothing */
	switch (how) {
	case BK_SETTLE_REQUEUE:
		settle_requeue(q, d);
		break;
	case BK_SETTLE_REJECT:
		bk_dlx_dead_letter(q, d->msg, "rejected");
		bk_persist_ack(q, d->msg);
		bk_msg_unref(d->msg);
		break;
	default:
		if (q != NULL && !q->deleted && d->msg != NULL)
			bk_persist_ack(q, d->msg);
		bk_msg_unref(d->msg);
		break;
	}
	d->msg = NULL;
}

void
bk_delivery_sent(struct bk_delivery *d)
{
	if (d->queue != NULL && d->queue->stream != NULL) {
		bk_msg_unref(d->msg);
		d->msg = NULL;
	}
}

void
bk_delivery_settle(struct bk_delivery *d, enum bk_settle how)
{
	struct bk_queue *q = d->queue;
	struct bk_consumer *c = d->consumer;
	struct bk_credit *cr = c ? c->credit : NULL;
	bool credit_was_full = false, no_ack = d->no_ack;

	if (q != NULL) {
		q->unacked--;
		if (how == BK_SETTLE_ACK && !d->no_ack) {
			q->acked_ms = bk_now_ms();
			q->ms.n[BK_MS_ACK]++;
			if (!q->deleted)
				q->vhost->ms.n[BK_MS_ACK]++;
		}
	}
	if (c != NULL && !d->no_ack) {
		c->unacked--;
		if (cr != NULL) {
			/* room comes back only to a credit exactly full: over
			 * its limit (lowered meanwhile), one settle makes none */
			credit_was_full = cr->limit != 0 && cr->used == cr->limit;
			if (cr->used > 0)
				cr->used--;
			bk_credit_settled(c);
		}
	}
	settle_message(q, d, how);
	bk_delivery_release(d);
	/* cr lives on while c is on it, or c was its orphan until now */
	if (credit_was_full && (c->credit == cr || c->cancelled))
		bk_credit_wake(cr);     /* by priority, c's queue among them
					   while c consumes from it */
	if (q != NULL && !q->deleted) {         /* also what a requeue gave it */
		if (c != NULL && !no_ack)
			bk_cgroup_dispatch_for(q, c);
		else
			bk_queue_dispatch(q);
	}
	bk_consumer_unref(c);
	bk_queue_unref(q);
}

enum bk_status
bk_queue_get_one(struct bk_queue *q, bool no_ack, struct bk_delivery **out,
		 uint32_t *message_count)
{
	struct bk_entry e;

	*out = NULL;
	if (q->deleted) {
		if (message_count)
			*message_count = 0;
		return BK_NOT_FOUND;
	}
	bk_queue_ref(q);
	bk_expiry_idle_arm(q);                  /* basic.get is a use */
	while (*out == NULL && !q->deleted && bk_msgq_take(q, &e)) {
		if (bk_entry_expires(&e) != 0 &&
		    bk_entry_expires(&e) <= (int64_t)bk_now_ms()) {
			bk_dlx_dead_letter(q, e.msg, "expired");
			bk_persist_ack(q, e.msg);
			bk_msg_unref(e.msg);
			continue;
		}
		if ((e.msg->flags & BK_MSG_PAGED) && !page_in(q, &e))
			continue;
		*out = delivery_new(q, NULL, &e, no_ack);
	}
	if (*out == NULL && !q->deleted) {
		q->ms.n[BK_MS_GET_EMPTY]++;
		q->vhost->ms.n[BK_MS_GET_EMPTY]++;
	}
	if (message_count)
		*message_count = q->ready;
	bk_queue_unref(q);
	return BK_OK;
}
