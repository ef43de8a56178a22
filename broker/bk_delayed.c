/*
 * bk_delayed.c: the x-delayed-message exchange (the interface of
 * RabbitMQ's delayed message plugin): a message with an x-delay header
 * (ms, 1 .. 2^32-1) is held and routed through the exchange, by its
 * x-delayed-type, once the delay has passed; other messages route at once.
 *
 * Two levels of binary min-heaps and one libevent timer: each exchange
 * keeps its held messages in a heap of 32-octet entries (due time,
 * sequence, message, exchange state), and the broker keeps the exchanges
 * that hold any in a heap ordered by their earliest entry, the timer
 * armed at the very earliest. Holding a message costs its entry plus the
 * message itself; a timer callback pops only what is due (at most
 * FIRE_BATCH per run, then it yields to the loop), so the CPU spent
 * follows what falls due, not how much is held. Equal due times fire in
 * publish order (the sequence breaks ties, across exchanges too).
 * Deleting an exchange drops its held messages at once, in time
 * proportional to them alone (not to what other exchanges hold).
 *
 * Durability: a persistent message held by a durable exchange is one
 * journal MSG record for the exchange's pseudo-queue (journal id of
 * "\1delayed\1<name>"), written and confirmed like any publish. Its due
 * time is published_ms + x-delay, both in the record, so after a restart
 * (bk_recover.c hands such records to bk_delayed_recover) it fires at its
 * original time, or at once if that passed while the broker was down.
 * When it fires, a copy (a new message id) is routed first and the held
 * record settled after: a crash in between duplicates, never loses.
 */
#include "bk_persist.h"
#include "bk_xext.h"
#include "storage.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define FIRE_BATCH 10000
#define MAX_DELAY  4294967295LL
#define NOT_QUEUED UINT32_MAX

struct bk_dentry {
	int64_t due;
	uint64_t seq;
	struct bk_msg *msg;             /* ref */
	struct bk_delayq *dq;           /* borrowed: the exchange state holding it */
};

struct bk_delayq {
	struct bk_exchange *x;          /* borrowed; NULL once the exchange is gone */
	uint64_t jid;                   /* journal pseudo-queue; 0 = not durable */
	uint32_t refs;                  /* 1 for the exchange + 1 per entry being fired */
	struct bk_dentry *heap;         /* owned: the held messages, a min-heap */
	uint32_t n, cap;
	uint32_t at;                    /* place in the broker's heap; NOT_QUEUED when empty */
	struct bk_delayq *next;         /* in the broker's list (recovery lookup) */
};

struct bk_delayed {
	struct bk_delayq **qheap;       /* owned array: exchanges holding messages,
					   earliest first entry first */
	uint32_t qn, qcap;
	struct event *ev;               /* owned */
	int64_t armed_at;               /* 0 = not armed */
	uint64_t seq;
	struct bk_delayq *queues;       /* every live exchange's state */
	struct bk_broker *b;            /* borrowed */
};

_Static_assert(sizeof(struct bk_dentry) == 32, "heap entries stay small");

static bool
before(const struct bk_dentry *a, const struct bk_dentry *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
sift_up(struct bk_dentry *h, uint32_t i)
{
	struct bk_dentry e = h[i];

	while (i > 0 && before(&e, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = e;
}

static void
sift_down(struct bk_dentry *h, uint32_t n, uint32_t i)
{
	struct bk_dentry e = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && before(&h[c + 1], &h[c]))
			c++;
		if (!before(&h[c], &e))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

/* ---- the heap of exchanges, by their earliest entry ---- */

static bool
q_before(const struct bk_delayq *a, const struct bk_delayq *b)
{
	return before(&a->heap[0], &b->heap[0]);
}

static void
q_set(struct bk_delayed *d, uint32_t i, struct bk_delayq *q)
{
	d->qheap[i] = q;
	q->at = i;
}

static void
q_sift_up(struct bk_delayed *d, uint32_t i)
{
	struct bk_delayq *q = d->qheap[i];

	while (i > 0 && q_before(q, d->qheap[(i - 1) / 2])) {
		q_set(d, i, d->qheap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	q_set(d, i, q);
}

static void
q_sift_down(struct bk_delayed *d, uint32_t i)
{
	struct bk_delayq *q = d->qheap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= d->qn)
			break;
		if (c + 1 < d->qn && q_before(d->qheap[c + 1], d->qheap[c]))
			c++;
		if (!q_before(d->qheap[c], q))
			break;
		q_set(d, i, d->qheap[c]);
		i = c;
	}
	q_set(d, i, q);
}

/* q's earliest entry changed, or it has none left: put q in, move it or
 * take it out of the broker's heap. */
static void
q_update(struct bk_delayed *d, struct bk_delayq *q)
{
	uint32_t i = q->at;
	struct bk_delayq *last;

	if (i == NOT_QUEUED) {
		if (q->n == 0)
			return;
		if (d->qn == d->qcap) {
			d->qcap = d->qcap ? d->qcap * 2 : 16;
			d->qheap = bk_realloc(d->qheap, d->qcap * sizeof(*d->qheap));
		}
		q_set(d, d->qn++, q);
		q_sift_up(d, q->at);
		return;
	}
	if (q->n > 0) {
		q_sift_up(d, i);
		q_sift_down(d, q->at);
		return;
	}
	q->at = NOT_QUEUED;
	last = d->qheap[--d->qn];
	if (last == q)
		return;
	q_set(d, i, last);
	q_sift_up(d, i);
	q_sift_down(d, last->at);
}

static void
dq_unref(struct bk_delayed *d, struct bk_delayq *q)
{
	struct bk_delayq **pp;

	if (--q->refs > 0)
		return;
	BK_ASSERT(q->n == 0 && q->at == NOT_QUEUED);
	for (pp = &d->queues; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	bk_free(q->heap);
	bk_free(q);
}

static void fire_cb(evutil_socket_t fd, short what, void *arg);

static struct bk_delayed *
state(struct bk_broker *b)
{
	if (b->delayed == NULL) {
		b->delayed = bk_calloc(1, sizeof(*b->delayed));
		b->delayed->b = b;
		b->delayed->ev = evtimer_new(b->base, fire_cb, b->delayed);
	}
	return b->delayed;
}

static void
arm(struct bk_delayed *d)
{
	int64_t now = (int64_t)bk_clock_ms(), wait;
	struct timeval tv;

	int64_t first;

	if (d->qn == 0) {
		if (d->armed_at)
			evtimer_del(d->ev);
		d->armed_at = 0;
		return;
	}
	first = d->qheap[0]->heap[0].due;
	if (d->armed_at != 0 && d->armed_at <= first)
		return;
	wait = first > now ? first - now : 0;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(d->ev, &tv);
	d->armed_at = first;
}

static void
push(struct bk_delayed *d, struct bk_delayq *q, struct bk_msg *m, int64_t due)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->heap = bk_realloc(q->heap, q->cap * sizeof(*q->heap));
	}
	q->heap[q->n] = (struct bk_dentry){ due, ++d->seq, bk_msg_ref(m), q };
	sift_up(q->heap, q->n++);
	q_update(d, q);
	arm(d);
}

/* A copy with a new id, to be routed (the held one keeps its record). */
static struct bk_msg *
copy(const struct bk_msg *m)
{
	struct bk_msg *c = bk_msg_new_x(bk_msg_exchange(m), bk_msg_rk(m), bk_msg_props(m),
					m->body_len, bk_msg_origin(m) ? BK_ML_ORIGIN : 0);

	if (m->body_len)
		memcpy(bk_msg_body(c), bk_msg_body(m), m->body_len);
	bk_msg_set_origin(c, bk_msg_origin(m));
	c->origin_flags = m->origin_flags;
	return c;
}

static void
fire_one(struct bk_delayed *d, struct bk_dentry *e)
{
	struct bk_delayq *q = e->dq;
	struct bk_msg *m = e->msg;

	if (q->x != NULL) {
		struct bk_msg *full = m;

		if (m->flags & BK_MSG_PAGED)
			full = bk_persist_page_in(d->b, m);
		if (full != NULL) {
			struct bk_msg *c = copy(full);

			bk_route_after_delay(q->x, c);
			bk_msg_unref(c);
			if (full != m)
				bk_msg_unref(full);
		}
		if (q->jid != 0)
			bk_persist_release(d->b, q->jid, m);
	}
	bk_msg_unref(m);
	dq_unref(d, q);
}

static void
fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bk_delayed *d = arg;
	/*
	 * The clock the dues were stamped with (bk_delayed_hold), not the
	 * loop's cached time: libevent derives that from the monotonic clock
	 * plus an offset to the wall clock it measures every few seconds with
	 * two clock reads, and a thread preempted between them (a loaded
	 * machine) leaves the cached time ahead by the preemption for those
	 * seconds: a message would come due early by that much.
	 */
	int64_t now = (int64_t)bk_clock_ms();
	int fired = 0;

	d->armed_at = 0;
	while (d->qn > 0 && d->qheap[0]->heap[0].due <= now && fired++ < FIRE_BATCH) {
		struct bk_delayq *q = d->qheap[0];
		struct bk_dentry e = q->heap[0];

		q->heap[0] = q->heap[--q->n];
		if (q->n > 0)
			sift_down(q->heap, q->n, 0);
		q_update(d, q);
		q->refs++;              /* routing may delete the exchange */
		fire_one(d, &e);
	}
	arm(d);
}

/* The x-delay header: the delay in ms, or 0 for "route now". */
static int64_t
delay_of(const struct bk_msg *m)
{
	struct bk_value v;
	int64_t ms;

	if (!(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, "x-delay", &v) ||
	    v.type == BK_V_TIMESTAMP || !bk_value_int(&v, &ms))
		return 0;
	return ms > 0 && ms <= MAX_DELAY ? ms : 0;
}

void
bk_delayed_init(struct bk_exchange *x)
{
	struct bk_delayed *d = state(x->vhost->broker);
	struct bk_delayq *q = bk_calloc(1, sizeof(*q));
	char name[300];

	q->x = x;
	q->refs = 1;
	q->at = NOT_QUEUED;
	if (x->durable) {
		snprintf(name, sizeof(name), "\001delayed\001%s", x->name);
		q->jid = bk_persist_queue_id(x->vhost->name, name);
	}
	q->next = d->queues;
	d->queues = q;
	x->ext->delayq = q;
}

void
bk_delayed_exchange_gone(struct bk_exchange *x)
{
	struct bk_delayq *q = x->ext ? x->ext->delayq : NULL;
	struct bk_broker *b = x->vhost->broker;

	if (q == NULL)
		return;
	/* Its held messages go now, records and memory, rather than as they
	 * would have come due (up to 49 days later, listed nowhere). */
	if (q->jid != 0 && q->n > 0)
		bk_persist_release_all(b, q->jid);
	for (uint32_t i = 0; i < q->n; i++)
		bk_msg_unref(q->heap[i].msg);
	q->n = 0;
	q_update(b->delayed, q);
	arm(b->delayed);
	q->x = NULL;
	x->ext->delayq = NULL;
	dq_unref(b->delayed, q);
}

bool
bk_delayed_hold(struct bk_exchange *x, struct bk_msg *m, struct bk_confirm *c,
		uint64_t token, struct bk_route_result *res)
{
	struct bk_delayq *q = x->ext ? x->ext->delayq : NULL;
	int64_t delay = delay_of(m);

	if (q == NULL || delay == 0)
		return false;
	/*
	 * The delay counts from now, not from the start of this loop
	 * iteration: with I/O threads a publish handed over late in an
	 * iteration would otherwise come due early by the iteration's
	 * length. Rounded up to the next millisecond for the same reason;
	 * the record keeps this time, so a restart computes the same due.
	 */
	m->published_ms = bk_clock_ms() + 1;
	if (q->jid != 0 && (m->flags & BK_MSG_PERSISTENT) &&
	    bk_persist_hold(x->vhost->broker, m, q->jid, c, token, res) < 0) {
		res->refused++;             /* not on disk: nack, and nothing held */
		return true;
	}
	push(state(x->vhost->broker), q, m, (int64_t)m->published_ms + delay);
	res->queues++;                      /* accepted: not unroutable */
	return true;
}

bool
bk_delayed_recover(struct bk_broker *b, uint64_t jid, struct bk_msg *m)
{
	struct bk_delayq *q;

	if (b->delayed == NULL)
		return false;
	for (q = b->delayed->queues; q != NULL; q = q->next)
		if (q->jid == jid && q->x != NULL) {
			push(b->delayed, q, m, (int64_t)m->published_ms + delay_of(m));
			return true;
		}
	return false;
}

uint64_t
bk_delayed_count(const struct bk_exchange *x)
{
	return x->ext && x->ext->delayq ? x->ext->delayq->n : 0;
}

void
bk_delayed_fini(struct bk_broker *b)
{
	struct bk_delayed *d = b->delayed;

	if (d == NULL)
		return;
	while (d->queues != NULL) {
		struct bk_delayq *q = d->queues;

		d->queues = q->next;
		for (uint32_t i = 0; i < q->n; i++)
			bk_msg_unref(q->heap[i].msg);
		bk_free(q->heap);
		bk_free(q);
	}
	if (d->ev)
		event_free(d->ev);
	bk_free(d->qheap);
	bk_free(d);
	b->delayed = NULL;
}
