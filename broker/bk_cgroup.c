/*
 * bk_cgroup.c: a queue's consumers by priority, for the dispatcher.
 *
 * Each priority among a queue's consumers is a group with two lists: the
 * consumers that may take a message, in turn (round-robin), and those a
 * walk found unable to (full: prefetch or shared credit spent, or parked
 * on output). A full consumer goes back to its group's turn only when
 * something gives it room (bk_cgroup_room): a settle, a wake, a larger
 * prefetch or credit. The groups that may have a taker are in a max-heap
 * by priority, so the dispatcher finds the highest one in O(1) and never
 * looks at a full consumer twice without a change in between (the list
 * moves are inline in bk_cgroup.h, with the invariants):
 *
 *   heap (by priority)     group 10: may [c4 c7]   full [c1 c2 c3 ... c50000]
 *     [10, 0]              group 0:  may [c9]      full []
 *
 * Before, the consumers were one list in priority order: a consumer of a
 * priority above the lowest walked the list to find its place, and each
 * message walked past every full consumer of a higher priority (50,000
 * prefetch-1 consumers above one with room: 9 s to consume, minutes to
 * fill). Single-active-consumer queues and streams have no groups: they
 * serve the queue's list head, or every cursor.
 *
 * The queue's own list (q->cons_head) keeps every consumer in the order
 * they came, for listing and for single active consumer.
 */
#include "bk_cgroup.h"

static bool
higher(const struct bk_cgroup *a, const struct bk_cgroup *b)
{
	return a->priority > b->priority;
}

static void
heap_set(struct bk_queue *q, uint32_t i, struct bk_cgroup *g)
{
	q->gheap[i] = g;
	g->heap_at = i + 1;
}

static void
heap_up(struct bk_queue *q, uint32_t i)
{
	struct bk_cgroup *g = q->gheap[i];

	while (i > 0 && higher(g, q->gheap[(i - 1) / 2])) {
		heap_set(q, i, q->gheap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(q, i, g);
}

static void
heap_down(struct bk_queue *q, uint32_t i)
{
	struct bk_cgroup *g = q->gheap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, best = i;
		struct bk_cgroup *top = g;

		if (l < q->gheap_n && higher(q->gheap[l], top))
			top = q->gheap[best = l];
		if (l + 1 < q->gheap_n && higher(q->gheap[l + 1], top))
			top = q->gheap[best = l + 1];
		if (best == i)
			break;
		heap_set(q, i, top);
		i = best;
	}
	heap_set(q, i, g);
}

void
bk_cgroup_push(struct bk_queue *q, struct bk_cgroup *g)
{
	if (q->gheap_n == q->gheap_cap) {
		q->gheap_cap = q->gheap_cap ? q->gheap_cap * 2 : 4;
		q->gheap = bk_realloc(q->gheap, q->gheap_cap * sizeof(*q->gheap));
	}
	q->gheap[q->gheap_n++] = g;
	heap_up(q, q->gheap_n - 1);
}

static void
heap_remove(struct bk_queue *q, struct bk_cgroup *g)
{
	uint32_t i = g->heap_at - 1;
	struct bk_cgroup *last;

	if (g->heap_at == 0)
		return;
	g->heap_at = 0;
	last = q->gheap[--q->gheap_n];
	if (last == g)
		return;
	heap_set(q, i, last);
	heap_up(q, i);
	heap_down(q, last->heap_at - 1);
}

/* ---- what the queue and the dispatcher call ---- */

void
bk_cgroup_add(struct bk_queue *q, struct bk_consumer *c)
{
	struct bk_cgroup *g;

	HASH_FIND(hh, q->groups, &c->priority, sizeof(c->priority), g);
	if (g == NULL) {
		g = bk_calloc(1, sizeof(*g));
		g->priority = c->priority;
		HASH_ADD(hh, q->groups, priority, sizeof(g->priority), g);
	}
	g->n++;
	c->group = g;
	bk_cgroup_link(g, c, false);
	if (g->heap_at == 0)
		bk_cgroup_push(q, g);
}

void
bk_cgroup_remove(struct bk_queue *q, struct bk_consumer *c)
{
	struct bk_cgroup *g = c->group;

	if (g == NULL)
		return;
	bk_cgroup_unlink(g, c);
	c->group = NULL;
	c->full = false;
	if (--g->n > 0)
		return;                 /* an empty turn leaves the heap at a pick */
	heap_remove(q, g);
	HASH_DEL(q->groups, g);
	bk_free(g);
	if (q->groups == NULL) {
		bk_free(q->gheap);
		q->gheap = NULL;
		q->gheap_n = q->gheap_cap = 0;
	}
}

void
bk_cgroup_pop(struct bk_queue *q)
{
	heap_remove(q, q->gheap[0]);
}
