/*
 * bk_cgroup.h: the dispatcher's view of a queue's consumers by priority
 * (bk_cgroup.c has the why). The list moves a delivery, a settle and a
 * full consumer make are here, inline: they run once or twice per message.
 *
 * Invariants: a consumer with a group is in exactly one of its group's
 * lists (c->full says which). A group out of the heap has an empty turn.
 * A group in the heap may have an empty turn for a while: the next pick
 * takes it out, unless it is the only one (nothing below it to reach), so
 * a lone priority whose consumer fills and gets room once per message
 * costs no heap operation.
 */
#ifndef BK_CGROUP_H
#define BK_CGROUP_H

#include "bk_queueing.h"

void bk_cgroup_add(struct bk_queue *q, struct bk_consumer *c);
void bk_cgroup_remove(struct bk_queue *q, struct bk_consumer *c);
void bk_cgroup_push(struct bk_queue *q, struct bk_cgroup *g);
/* The heap's top, whose turn is empty, out of the heap. */
void bk_cgroup_pop(struct bk_queue *q);

static inline void
bk_cgroup_unlink(struct bk_cgroup *g, struct bk_consumer *c)
{
	if (c->gprev)
		c->gprev->gnext = c->gnext;
	else if (c->full)
		g->full_head = c->gnext;
	else
		g->may_head = c->gnext;
	if (c->gnext)
		c->gnext->gprev = c->gprev;
	else if (!c->full)
		g->may_tail = c->gprev;
	c->gprev = c->gnext = NULL;
}

/* To the tail of the turn, or the head of the full list (whose order
 * does not matter). */
static inline void
bk_cgroup_link(struct bk_cgroup *g, struct bk_consumer *c, bool full)
{
	c->full = full;
	if (full) {
		c->gprev = NULL;
		c->gnext = g->full_head;
		if (g->full_head)
			g->full_head->gprev = c;
		g->full_head = c;
		return;
	}
	c->gnext = NULL;
	c->gprev = g->may_tail;
	if (g->may_tail)
		g->may_tail->gnext = c;
	else
		g->may_head = c;
	g->may_tail = c;
}

/* c may have room: back in its group's turn. */
static inline void
bk_cgroup_room(struct bk_consumer *c)
{
	struct bk_cgroup *g = c->group;

	if (g == NULL || c->queue == NULL)
		return;
	if (c->full) {
		bk_cgroup_unlink(g, c);
		bk_cgroup_link(g, c, false);
	}
	if (g->heap_at == 0)
		bk_cgroup_push(c->queue, g);
}

/* c cannot take: out of the turn until bk_cgroup_room. */
static inline void
bk_cgroup_full(struct bk_consumer *c)
{
	struct bk_cgroup *g = c->group;

	if (g == NULL || c->full)
		return;
	bk_cgroup_unlink(g, c);
	bk_cgroup_link(g, c, true);
}

/* c was served: behind its equals. */
static inline void
bk_cgroup_served(struct bk_consumer *c)
{
	struct bk_cgroup *g = c->group;

	if (g == NULL || c->full || g->may_tail == c)
		return;
	bk_cgroup_unlink(g, c);
	bk_cgroup_link(g, c, false);
}

/* c may have room now (settled, woken, prefetch raised): deliver. */
static inline void
bk_cgroup_dispatch_for(struct bk_queue *q, struct bk_consumer *c)
{
	if (c->queue == q)
		bk_cgroup_room(c);
	bk_queue_dispatch(q);
}

#endif
