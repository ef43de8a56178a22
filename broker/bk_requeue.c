/*
 * bk_requeue.c: putting many deliveries back at once.
 *
 * A requeued message returns to the slot its seq calls for (bk_msgq.c),
 * and one insert shifts the shorter side of its ring. Settling a channel's
 * unacked deliveries back one by one therefore costs the distance to the
 * nearer end per message: a channel closing with 65,535 unacked messages
 * whose slots lie 65,535 deep in a queue of 300,000 took 6 s of the core
 * thread, with every client waiting.
 *
 * Between bk_settle_batch_begin() and _end() requeues are collected
 * instead (each with a reference on its queue), and _end() sorts them and
 * merges each queue level's share in one pass, then dispatches those
 * queues. A queue with requeues still collected does not dispatch (its
 * newer messages would overtake them); its ready count and bytes grow at
 * _end(). Batches nest; the outermost _end() merges.
 */
#include "bk_persist.h"

#include <stdlib.h>

struct bk_requeued {
	struct bk_queue *q;             /* ref */
	uint32_t level;
	struct bk_entry e;              /* holds the message's ref */
};

struct bk_requeue_batch {
	uint32_t depth;
	struct bk_requeued *v;          /* owned */
	size_t n, cap;
};

static struct bk_requeue_batch *
batch(struct bk_broker *b)
{
	struct bk_qstate *qs = bk_qs(b);

	if (qs->requeue == NULL)
		qs->requeue = bk_calloc(1, sizeof(*qs->requeue));
	return qs->requeue;
}

void
bk_settle_batch_begin(struct bk_broker *b)
{
	batch(b)->depth++;
}

bool
bk_requeue_collect(struct bk_queue *q, const struct bk_entry *e)
{
	struct bk_requeue_batch *rb = bk_qs(q->broker)->requeue;

	if (rb == NULL || rb->depth == 0)
		return false;
	if (rb->n == rb->cap) {
		rb->cap = rb->cap ? rb->cap * 2 : 64;
		rb->v = bk_realloc(rb->v, rb->cap * sizeof(*rb->v));
	}
	bk_queue_ref(q);
	q->requeue_pending++;
	rb->v[rb->n++] = (struct bk_requeued){ q, bk_msgq_level(q, e->msg), *e };
	return true;
}

static int
cmp_requeued(const void *pa, const void *pb)
{
	const struct bk_requeued *a = pa, *b = pb;

	if (a->q != b->q)
		return (uintptr_t)a->q < (uintptr_t)b->q ? -1 : 1;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	return a->e.seq < b->e.seq ? -1 : a->e.seq > b->e.seq;
}

/* Merge one queue level's run (sorted by seq) and account for it. */
static void
merge_run(struct bk_requeued *run, size_t n, struct bk_entry *tmp)
{
	struct bk_queue *q = run->q;
	struct bk_ring *r = &q->levels[run->level];
	size_t i;

	for (i = 0; i < n; i++)
		tmp[i] = run[i].e;
	bk_ring_merge(r, tmp, n);
	for (i = 0; i < n; i++) {
		q->ready++;
		q->ready_bytes += tmp[i].msg->body_len;
		q->gen++;
		if (bk_entry_expires(&tmp[i]) != 0)
			bk_expiry_track(q, bk_ring_find(r, tmp[i].seq), run->level);
	}
}

void
bk_settle_batch_end(struct bk_broker *b)
{
	struct bk_requeue_batch *rb = bk_qs(b)->requeue;
	struct bk_requeued *v;
	struct bk_entry *tmp;
	size_t n, i, j;

	BK_ASSERT(rb != NULL && rb->depth > 0);
	if (--rb->depth > 0 || rb->n == 0)
		return;
	/* take the batch: dispatching below may settle and collect again */
	v = rb->v;
	n = rb->n;
	rb->v = NULL;
	rb->n = rb->cap = 0;
	qsort(v, n, sizeof(*v), cmp_requeued);
	tmp = bk_malloc(n * sizeof(*tmp));
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j].q == v[i].q && v[j].level == v[i].level; j++)
			;
		if (v[i].q->deleted) {
			for (size_t k = i; k < j; k++)
				bk_msg_unref(v[k].e.msg);
		} else {
			merge_run(v + i, j - i, tmp);
		}
	}
	bk_free(tmp);
	for (i = 0; i < n; i++) {
		struct bk_queue *q = v[i].q;

		if (--q->requeue_pending == 0 && !q->deleted)
			bk_queue_dispatch(q);
		bk_queue_unref(q);
	}
	bk_free(v);
}

void
bk_requeue_fini(struct bk_broker *b)
{
	struct bk_qstate *qs = bk_qs(b);

	if (qs->requeue != NULL)
		BK_FREE(qs->requeue->v);
	BK_FREE(qs->requeue);
}
