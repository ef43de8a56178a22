/*
 * bk_expiry.c: message TTL and queue expiry (x-expires) timers.
 *
 * Message TTL. An entry's expiry is the lower of the queue's x-message-ttl
 * (counted from publish) and the message's own expiration. Expired
 * messages leave promptly, wherever they sit, through one evtimer per queue
 * armed for the queue's earliest expiry:
 *   - entries whose expiry comes from x-message-ttl expire in seq order, so
 *     the earliest is the first such live entry of each ring: no index.
 *   - entries whose expiry comes from their own expiration (BK_E_HEAP) are
 *     also pushed on the queue's min-heap of (expires_at, seq, level). The
 *     heap is validated lazily: an item whose entry was delivered, or
 *     expired already, is skipped when it reaches the top.
 * An expired entry becomes a tombstone in its ring and is dead-lettered
 * ("expired") or dropped.
 *
 * A message with TTL 0 goes to a consumer that can take it at once (the
 * dispatcher exempts the entry being enqueued, q->fresh_seq, from its
 * expiry check) and expires otherwise (bk_queue_enqueue runs
 * bk_expiry_run right after).
 *
 * Re-entrancy: dead-lettering publishes, which may enqueue anywhere and
 * even deliver; every pass holds a queue reference, stops when the queue
 * is deleted, and restarts a ring walk when the ring changed (q->gen).
 */
#include "bk_persist.h"

#include <event2/event.h>

static void ttl_fire(evutil_socket_t fd, short what, void *arg);

static void
arm(struct bk_queue *q, int64_t at)
{
	int64_t now = (int64_t)bk_now_ms(), delay = at > now ? at - now : 0;
	struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };

	if (q->deleted || q->broker->base == NULL)
		return;
	if (q->ttl_at != 0 && q->ttl_at <= at)
		return;
	if (q->ttl_ev == NULL)
		q->ttl_ev = evtimer_new(q->broker->base, ttl_fire, q);
	q->ttl_at = at;
	evtimer_add(q->ttl_ev, &tv);
}

void
bk_expiry_track(struct bk_queue *q, struct bk_entry *e, uint32_t level)
{
	bool from_queue = q->args.message_ttl >= 0 &&
		bk_entry_expires(e) == (int64_t)e->msg->published_ms + q->args.message_ttl;

	if (!from_queue) {
		bk_entry_flag_set(e, BK_E_HEAP);
		bk_heap_push(&q->heap, (struct bk_ttl_item){ bk_entry_expires(e), e->seq, level });
	}
	arm(q, bk_entry_expires(e));
}

static void
expire_entry(struct bk_queue *q, struct bk_entry *e)
{
	struct bk_msg *m = e->msg;

	e->msg = NULL;                          /* tombstone */
	q->ready--;
	q->ready_bytes -= m->body_len;
	bk_dlx_dead_letter(q, m, "expired");
	bk_persist_ack(q, m);
	bk_msg_unref(m);
}

/* A heap item still names a live entry with the same expiry. */
static struct bk_entry *
heap_item_entry(struct bk_queue *q, const struct bk_ttl_item *it)
{
	struct bk_entry *e;

	if (it->level >= q->nlevels)
		return NULL;
	e = bk_ring_find(&q->levels[it->level], it->seq);
	if (e == NULL || e->msg == NULL || !(bk_entry_flags(e) & BK_E_HEAP) ||
	    bk_entry_expires(e) != it->at)
		return NULL;
	return e;
}

static void
expire_heap(struct bk_queue *q, int64_t now)
{
	while (!q->deleted && q->heap.n > 0 && q->heap.v[0].at <= now) {
		struct bk_ttl_item it = q->heap.v[0];
		struct bk_entry *e;

		bk_heap_pop(&q->heap);
		if ((e = heap_item_entry(q, &it)) != NULL)
			expire_entry(q, e);
	}
}

/* Queue-TTL entries of one ring, in order, up to the first not yet due. */
static void
expire_ring(struct bk_queue *q, uint32_t level, int64_t now)
{
	uint32_t i = 0;

	while (!q->deleted && i < q->levels[level].count) {
		struct bk_entry *e = bk_ring_at(&q->levels[level], i);
		uint32_t gen = q->gen;

		if (e->msg == NULL || (bk_entry_flags(e) & BK_E_HEAP) ||
		    bk_entry_expires(e) == 0) {
			i++;
			continue;
		}
		if (bk_entry_expires(e) > now)
			break;
		expire_entry(q, e);
		i = gen == q->gen ? i + 1 : 0;
	}
	if (!q->deleted)
		bk_ring_first(&q->levels[level]);     /* drop leading tombstones */
}

static int64_t
next_expiry(struct bk_queue *q)
{
	int64_t at = 0;
	uint32_t l, i;

	while (q->heap.n > 0 && heap_item_entry(q, &q->heap.v[0]) == NULL)
		bk_heap_pop(&q->heap);
	if (q->heap.n > 0)
		at = q->heap.v[0].at;
	if (q->args.message_ttl < 0)
		return at;
	for (l = 0; l < q->nlevels; l++) {
		struct bk_ring *r = &q->levels[l];

		for (i = 0; i < r->count; i++) {
			struct bk_entry *e = bk_ring_at(r, i);

			if (e->msg == NULL || (bk_entry_flags(e) & BK_E_HEAP) ||
			    bk_entry_expires(e) == 0)
				continue;
			if (at == 0 || bk_entry_expires(e) < at)
				at = bk_entry_expires(e);
			break;
		}
	}
	return at;
}

static void
run(struct bk_queue *q, int64_t now)
{
	uint32_t l;
	int64_t at;

	bk_queue_ref(q);
	expire_heap(q, now);
	for (l = 0; l < q->nlevels && !q->deleted; l++)
		if (q->args.message_ttl >= 0)
			expire_ring(q, l, now);
	if (!q->deleted && (at = next_expiry(q)) != 0)
		arm(q, at);
	bk_queue_unref(q);
}

void
bk_expiry_run(struct bk_queue *q)
{
	if (!q->deleted)
		run(q, (int64_t)bk_now_ms());
}

static void
ttl_fire(evutil_socket_t fd, short what, void *arg)
{
	struct bk_queue *q = arg;
	int64_t now = (int64_t)bk_now_ms();

	/* The loop's cached clock may lag the timer by a tick; the timer
	 * firing proves its deadline has passed. */
	if (now < q->ttl_at)
		now = q->ttl_at;
	q->ttl_at = 0;
	run(q, now);
}

/*
 * The queue's x-message-ttl changed (a policy). Entries it timed keep
 * their expiry (RabbitMQ stamps a message's expiry when it is queued) but
 * would no longer be in expiry order with the entries timed by the new
 * value: move them onto the heap, which needs no order.
 */
void
bk_expiry_ttl_changed(struct bk_queue *q)
{
	for (uint32_t l = 0; l < q->nlevels; l++) {
		struct bk_ring *r = &q->levels[l];

		for (uint32_t i = 0; i < r->count; i++) {
			struct bk_entry *e = bk_ring_at(r, i);

			if (e->msg == NULL || (bk_entry_flags(e) & BK_E_HEAP) ||
			    bk_entry_expires(e) == 0)
				continue;
			bk_entry_flag_set(e, BK_E_HEAP);
			bk_heap_push(&q->heap, (struct bk_ttl_item){ bk_entry_expires(e), e->seq, l });
		}
	}
	bk_expiry_run(q);
}

/* ---- x-expires ---- */

static void
idle_fire(evutil_socket_t fd, short what, void *arg)
{
	struct bk_queue *q = arg;

	if (!q->deleted && q->ncons == 0)
		bk_queue_destroy(q, true);
}

void
bk_expiry_idle_arm(struct bk_queue *q)
{
	struct timeval tv;

	if (q->args.expires <= 0 || q->deleted || q->ncons > 0 ||
	    q->broker->base == NULL)
		return;
	if (q->idle_ev == NULL)
		q->idle_ev = evtimer_new(q->broker->base, idle_fire, q);
	tv.tv_sec = q->args.expires / 1000;
	tv.tv_usec = (q->args.expires % 1000) * 1000;
	evtimer_add(q->idle_ev, &tv);
}

void
bk_expiry_idle_stop(struct bk_queue *q)
{
	if (q->idle_ev != NULL)
		evtimer_del(q->idle_ev);
}

void
bk_expiry_queue_init(struct bk_queue *q)
{
	q->ttl_at = 0;
	bk_expiry_idle_arm(q);
}

void
bk_expiry_queue_fini(struct bk_queue *q)
{
	if (q->ttl_ev != NULL) {
		event_free(q->ttl_ev);
		q->ttl_ev = NULL;
	}
	if (q->idle_ev != NULL) {
		event_free(q->idle_ev);
		q->idle_ev = NULL;
	}
	q->ttl_at = 0;
	bk_heap_fini(&q->heap);
}
