/*
 * net_conn_lists.c: the lists of every connection (hs: accepted and not
 * yet logged in, newest first; conns: the others), and the two lists of
 * connections the core's loop works through, each doubly linked so that a
 * free unlinks in O(1):
 *
 *   dirty  output was appended this iteration: written (or shipped to the
 *          I/O thread) at its end, once per connection (net_loop_once,
 *          net_flush)
 *   reap   deferred work, a free or input that waited is due: one event
 *          of struct net runs every queued connection's net_conn_reap()
 *          after the callbacks of this iteration (a connection needs no
 *          event of its own for it)
 *
 * and the tick: one periodic event of struct net calls ops->tick of every
 * open connection (heartbeats), walking the list of all connections.
 */
#include "net_int.h"

void
net_conn_link(struct net_conn *nc, bool handshake)
{
	struct net *n = nc->l->net;
	struct net_conn **head = handshake ? &n->hs : &n->conns;

	if (handshake && n->hs == NULL)
		n->hs_oldest = nc;
	nc->next = *head;
	if (*head)
		(*head)->pprev = &nc->next;
	nc->pprev = head;
	*head = nc;
}

void
net_conn_unlink(struct net_conn *nc)
{
	struct net *n = nc->l->net;

	if (nc->pprev == NULL)
		return;
	if (nc == n->hs_oldest)         /* the one before it on hs, if any */
		n->hs_oldest = nc->pprev == &n->hs ? NULL :
			(struct net_conn *)((char *)nc->pprev - offsetof(struct net_conn, next));
	*nc->pprev = nc->next;
	if (nc->next)
		nc->next->pprev = nc->pprev;
	nc->next = NULL;
	nc->pprev = NULL;
}

void
net_conn_mark_dirty(struct net_conn *nc)
{
	struct net *n = nc->l->net;

	if (nc->dirty)
		return;
	nc->dirty = true;
	nc->dirty_next = n->dirty;
	if (n->dirty)
		n->dirty->dirty_pprev = &nc->dirty_next;
	nc->dirty_pprev = &n->dirty;
	n->dirty = nc;
}

void
net_conn_dirty_unlink(struct net_conn *nc)
{
	if (!nc->dirty)
		return;
	*nc->dirty_pprev = nc->dirty_next;
	if (nc->dirty_next)
		nc->dirty_next->dirty_pprev = nc->dirty_pprev;
	nc->dirty = false;
	nc->dirty_next = NULL;
	nc->dirty_pprev = NULL;
}

struct net_conn *
net_conn_dirty_pop(struct net *n)
{
	struct net_conn *nc = n->dirty;

	if (nc)
		net_conn_dirty_unlink(nc);
	return nc;
}

static void
reap_push(struct net_conn **head, struct net_conn *nc)
{
	nc->reap_next = *head;
	if (*head)
		(*head)->reap_pprev = &nc->reap_next;
	nc->reap_pprev = head;
	*head = nc;
}

void
net_conn_reap_unlink(struct net_conn *nc)
{
	if (nc->reap_pprev == NULL)
		return;
	*nc->reap_pprev = nc->reap_next;
	if (nc->reap_next)
		nc->reap_next->reap_pprev = nc->reap_pprev;
	nc->reap_next = NULL;
	nc->reap_pprev = NULL;
}

void
net_conn_reap_soon(struct net_conn *nc)
{
	if (nc->reap_pprev == NULL)
		reap_push(&nc->l->net->reap, nc);
	event_active(nc->l->net->reap_ev, 0, 0);
}

void
net_conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;
	struct net_conn *nc;

	/* This batch only: a connection queued again while it runs waits for
	 * the event's next run, as an event made active in its own callback
	 * would. A free unlinks from either list. */
	while ((nc = n->reap) != NULL) {
		net_conn_reap_unlink(nc);
		reap_push(&n->reaping, nc);
	}
	while ((nc = n->reaping) != NULL) {
		net_conn_reap_unlink(nc);
		net_conn_reap(nc);
	}
}

void
net_conn_tick_start(struct net *n)
{
	struct timeval tv = { NET_TICK_MS / 1000, (NET_TICK_MS % 1000) * 1000 };

	if (!event_pending(n->tick_ev, EV_TIMEOUT, NULL))
		event_add(n->tick_ev, &tv);
}

void
net_conn_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;
	struct net_conn *nc, *next;

	if (n->conns == NULL && n->hs == NULL) {
		event_del(n->tick_ev);
		return;
	}
	/* A tick frees nothing inline (frees go through the reaper), so
	 * the next connection is still there after the call. Connections
	 * not yet logged in (hs) have nothing to tick: their handshake
	 * deadline bounds them. */
	for (nc = n->conns; nc != NULL; nc = next) {
		next = nc->next;
		if (nc->opened && !nc->free_pending && nc->l->cfg.ops->tick)
			nc->l->cfg.ops->tick(nc->ctx);
	}
}
