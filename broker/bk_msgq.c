/*
 * bk_msgq.c: the ready messages of a queue.
 *
 * Each priority level is a ring of 24-byte entries held by value, so a
 * steady-state enqueue/dequeue allocates nothing (the ring only grows, by
 * doubling). Every ring stays sorted by seq: new messages go to the tail
 * with a fresh seq, and a requeued message goes back to the slot its seq
 * calls for, which restores the original order whatever order the client
 * settles in. Requeues land near the front, so the insert shifts the short
 * front part of the ring, not the whole queue.
 *
 * A message that expires in the middle of a ring (per-message TTL) leaves a
 * tombstone (msg NULL) that keeps its seq for the binary search; tombstones
 * are dropped when they reach the head or the tail. ready/ready_bytes count
 * live entries only.
 *
 * Never calls out of the queueing half, except bk_dlx_dead_letter from the
 * drop-head trim.
 */
#include "bk_persist.h"

#include <string.h>

struct bk_entry *
bk_ring_at(struct bk_ring *r, uint32_t i)
{
	return &r->e[(r->head + i) & r->mask];
}

static void
ring_grow(struct bk_ring *r)
{
	uint32_t cap = r->e ? (r->mask + 1) * 2 : 16;
	struct bk_entry *e = bk_malloc(sizeof(*e) * cap);
	uint32_t i;

	for (i = 0; i < r->count; i++)
		e[i] = *bk_ring_at(r, i);
	bk_free(r->e);
	r->e = e;
	r->head = 0;
	r->mask = cap - 1;
}

void
bk_ring_fini(struct bk_ring *r)
{
	BK_FREE(r->e);
	r->head = r->count = r->mask = 0;
}

void
bk_ring_push_tail(struct bk_ring *r, const struct bk_entry *e)
{
	if (r->e == NULL || r->count == r->mask + 1)
		ring_grow(r);
	*bk_ring_at(r, r->count) = *e;
	r->count++;
}

/* Index of the first entry whose seq is >= seq. */
static uint32_t
ring_lower_bound(struct bk_ring *r, uint64_t seq)
{
	uint32_t lo = 0, hi = r->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (bk_ring_at(r, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
bk_ring_insert(struct bk_ring *r, const struct bk_entry *e)
{
	uint32_t pos, i;

	if (r->count == 0 || bk_ring_at(r, r->count - 1)->seq < e->seq) {
		bk_ring_push_tail(r, e);
		return;
	}
	if (r->count == r->mask + 1)
		ring_grow(r);
	pos = ring_lower_bound(r, e->seq);
	if (pos < r->count / 2) {
		/* shift the front part one slot towards the head */
		r->head = (r->head - 1) & r->mask;
		r->count++;
		for (i = 0; i < pos; i++)
			*bk_ring_at(r, i) = *bk_ring_at(r, i + 1);
	} else {
		for (i = r->count; i > pos; i--)
			*bk_ring_at(r, i) = *bk_ring_at(r, i - 1);
		r->count++;
	}
	*bk_ring_at(r, pos) = *e;
}

/*
 * Merge n entries sorted by seq, from the side that moves fewer of the
 * ring's entries: O(n + the shorter side) for the whole run, where n
 * single inserts would shift up to that side each.
 */
void
bk_ring_merge(struct bk_ring *r, const struct bk_entry *e, uint32_t n)
{
	uint32_t lo, hi, i, j, w;

	if (n == 0)
		return;
	while (r->e == NULL || r->count + n > r->mask + 1)
		ring_grow(r);
	lo = ring_lower_bound(r, e[0].seq);
	hi = ring_lower_bound(r, e[n - 1].seq);
	if (hi < r->count - lo) {
		/* open n slots before the head, then fill front to back */
		r->head = (r->head - n) & r->mask;
		r->count += n;
		for (i = n, j = 0, w = 0; j < n; w++)
			if (i < r->count && bk_ring_at(r, i)->seq < e[j].seq)
				*bk_ring_at(r, w) = *bk_ring_at(r, i++);
			else
				*bk_ring_at(r, w) = e[j++];
	} else {
		/* fill back to front from the new tail */
		i = r->count;
		j = n;
		w = r->count + n;
		r->count += n;
		while (j > 0) {
			if (i > lo && bk_ring_at(r, i - 1)->seq > e[j - 1].seq)
				*bk_ring_at(r, --w) = *bk_ring_at(r, --i);
			else
				*bk_ring_at(r, --w) = e[--j];
		}
	}
}

struct bk_entry *
bk_ring_first(struct bk_ring *r)
{
	while (r->count > 0) {
		struct bk_entry *e = bk_ring_at(r, 0);

		if (e->msg != NULL)
			return e;
		r->head = (r->head + 1) & r->mask;
		r->count--;
	}
	return NULL;
}

bool
bk_ring_pop(struct bk_ring *r, struct bk_entry *out)
{
	struct bk_entry *e = bk_ring_first(r);

	if (e == NULL)
		return false;
	*out = *e;
	r->head = (r->head + 1) & r->mask;
	r->count--;
	while (r->count > 0 && bk_ring_at(r, r->count - 1)->msg == NULL)
		r->count--;                     /* trailing tombstones */
	return true;
}

struct bk_entry *
bk_ring_find(struct bk_ring *r, uint64_t seq)
{
	uint32_t pos = ring_lower_bound(r, seq);

	if (pos < r->count && bk_ring_at(r, pos)->seq == seq)
		return bk_ring_at(r, pos);
	return NULL;
}

/* ---- expiry heap ---- */

static void
heap_swap(struct bk_ttl_item *a, struct bk_ttl_item *b)
{
	struct bk_ttl_item t = *a;

	*a = *b;
	*b = t;
}

void
bk_heap_push(struct bk_ttl_heap *h, struct bk_ttl_item it)
{
	uint32_t i;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = bk_realloc(h->v, sizeof(*h->v) * h->cap);
	}
	i = h->n++;
	h->v[i] = it;
	while (i > 0 && h->v[(i - 1) / 2].at > h->v[i].at) {
		heap_swap(&h->v[(i - 1) / 2], &h->v[i]);
		i = (i - 1) / 2;
	}
}

void
bk_heap_pop(struct bk_ttl_heap *h)
{
	uint32_t i = 0;

	if (h->n == 0)
		return;
	h->v[0] = h->v[--h->n];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->v[l].at < h->v[m].at)
			m = l;
		if (r < h->n && h->v[r].at < h->v[m].at)
			m = r;
		if (m == i)
			break;
		heap_swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

void
bk_heap_fini(struct bk_ttl_heap *h)
{
	BK_FREE(h->v);
	h->n = h->cap = 0;
}

/* ---- queue-level operations ---- */

uint32_t
bk_msgq_level(const struct bk_queue *q, const struct bk_msg *m)
{
	uint32_t p;

	if (q->nlevels <= 1 || !(bk_msg_props(m)->present & BK_P_PRIORITY))
		return 0;
	p = bk_msg_props(m)->priority;
	return p < q->nlevels ? p : q->nlevels - 1;
}

/* The lower of the queue's x-message-ttl and the message's expiration. */
int64_t
bk_msgq_expiry(const struct bk_queue *q, const struct bk_msg *m)
{
	int64_t at = bk_msg_expires(m);

	if (q->args.message_ttl >= 0) {
		int64_t qat = (int64_t)m->published_ms + q->args.message_ttl;

		if (at == 0 || qat < at)
			at = qat;
	}
	return at;
}

void
bk_msgq_add(struct bk_queue *q, const struct bk_entry *e, enum bk_msgq_add how)
{
	uint32_t level = bk_msgq_level(q, e->msg);
	struct bk_ring *r = &q->levels[level];

	if (how == BK_MSGQ_REQUEUE && bk_requeue_collect(q, e))
		return;                         /* merged at bk_settle_batch_end */
	if (how == BK_MSGQ_TAIL)
		bk_ring_push_tail(r, e);
	else
		bk_ring_insert(r, e);
	q->ready++;
	q->ready_bytes += e->msg->body_len;
	q->gen++;
	if (bk_entry_expires(e) != 0)
		bk_expiry_track(q, bk_ring_find(r, e->seq), level);
}

bool
bk_msgq_take(struct bk_queue *q, struct bk_entry *out)
{
	uint32_t l;

	if (q->ready == 0)
		return false;
	for (l = q->nlevels; l-- > 0;) {
		if (bk_ring_pop(&q->levels[l], out)) {
			q->ready--;
			q->ready_bytes -= out->msg->body_len;
			return true;
		}
	}
	BK_ASSERT(!"ready count out of sync");
	return false;
}

uint32_t
bk_msgq_clear(struct bk_queue *q)
{
	struct bk_entry e;
	uint32_t n = 0, l;

	while (bk_msgq_take(q, &e)) {
		bk_msg_unref(e.msg);
		n++;
	}
	for (l = 0; l < q->nlevels; l++)
		q->levels[l].count = 0;         /* only tombstones remain */
	q->heap.n = 0;
	return n;
}

static bool
over_limit(const struct bk_queue *q)
{
	return (q->args.max_length >= 0 && q->ready > (uint64_t)q->args.max_length) ||
	       (q->args.max_length_bytes >= 0 &&
		q->ready_bytes > (uint64_t)q->args.max_length_bytes);
}

bool
bk_msgq_would_overflow(const struct bk_queue *q, const struct bk_msg *m)
{
	return (q->args.max_length >= 0 &&
		q->ready + 1 > (uint64_t)q->args.max_length) ||
	       (q->args.max_length_bytes >= 0 &&
		q->ready_bytes + m->body_len > (uint64_t)q->args.max_length_bytes);
}

/*
 * drop-head: the oldest ready messages leave (dead-lettered "maxlen")
 * until the queue is within its limits. Dead-lettering may enqueue on this
 * very queue again; each step leaves the queue consistent, and the cycle
 * rule in bk_dlx.c ends such loops.
 */
void
bk_msgq_trim(struct bk_queue *q)
{
	struct bk_entry e;

	while (!q->deleted && over_limit(q) && bk_msgq_take(q, &e)) {
		bk_dlx_dead_letter(q, e.msg, "maxlen");
		bk_persist_ack(q, e.msg);
		bk_msg_unref(e.msg);
	}
}
