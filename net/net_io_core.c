/*
 * net_io_core.c: the core's side of the I/O threads (see net_io.c): it
 * hands accepted sockets to the least loaded thread, ships each dirty
 * connection's output once per loop iteration, takes in what the threads
 * sent, and runs the core's loop (net_loop_once) so that it sleeps only
 * when no thread has left it anything. It also holds what both sides
 * use: pushing behind a spill list, and a loop's decision to sleep.
 */
#include "net_io_int.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Both sides                                                          */
/* ------------------------------------------------------------------ */

static void
spill_add(struct spill *s, const struct net_msg *m)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->m = bk_realloc(s->m, s->cap * sizeof(*s->m));
	}
	s->m[s->n++] = *m;
}

/* Push, keeping order behind anything already spilled. */
void
net_io_push(struct net_ring *r, struct spill *s, const struct net_msg *m)
{
	if (s->n > 0 || !net_ring_push(r, m))
		spill_add(s, m);
}

void
net_io_unspill(struct net_ring *r, struct spill *s)
{
	uint32_t i = 0;

	if (s->n == 0)                  /* s->m may be NULL: no memmove then */
		return;
	while (i < s->n && net_ring_push(r, &s->m[i]))
		i++;
	memmove(s->m, s->m + i, (s->n - i) * sizeof(*s->m));
	s->n -= i;
}

/* The eventfd woke the loop; the messages are handled after it. */
void
net_io_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	net_waker_clear(arg);
}

/* The loop flags for the next iteration: block only when ready to sleep
 * (announced) and `empty` says nothing is waiting in the rings after. */
int
net_io_loop_flags(struct net_waker *w, bool (*empty)(void *), void *arg)
{
	if (!empty(arg))
		return EVLOOP_ONCE | EVLOOP_NONBLOCK;
	net_waker_sleep(w);
	if (!empty(arg)) {
		net_waker_awake(w);
		return EVLOOP_ONCE | EVLOOP_NONBLOCK;
	}
	return EVLOOP_ONCE;
}

/* ------------------------------------------------------------------ */
/* The core                                                            */
/* ------------------------------------------------------------------ */

static void
to_io(struct net_io_conn *c, uint32_t kind, uint32_t u32, uint64_t u64, void *ptr)
{
	struct net_io_thread *t = c->t;         /* c may be freed once pushed */
	struct net_msg m = { .kind = kind, .u32 = u32, .u64 = u64, .conn = c, .ptr = ptr };

	net_io_push(&t->to_io, &t->core_spill, &m);
	t->io_wake_due = true;
}

static void ship(struct net_conn *nc, bool whole);

/* One message from an I/O thread. */
void
net_io_core_handle(const struct net_msg *m)
{
	struct net_conn *nc = m->conn;
	struct evbuffer *buf = m->ptr;

	switch (m->kind) {
	case NET_M_OPENED:
		nc->tls = nc->sock_half.tls;    /* written before OPENED was pushed */
		net_conn_on_open(nc);
		break;
	case NET_M_INPUT:
		if (!nc->free_pending && !nc->flush_then_free) {
			if (nc->in == NULL) {
				nc->in = buf;           /* the chains' buffer becomes nc's */
				buf = NULL;
			} else
				evbuffer_add_buffer(nc->in, buf);
			net_conn_on_input(nc);
		}
		if (buf)
			evbuffer_free(buf);
		break;
	case NET_M_DRAINED:
		net_conn_on_writable(nc);
		break;
	case NET_M_CLOSED:
		/* The answers to what came before a peer's end of file still
		 * go out (the I/O thread writes them after it). */
		if ((enum net_end)m->u32 == NET_END_PEER)
			ship(nc, true);
		net_conn_on_end(nc, (enum net_end)m->u32);
		break;
	case NET_M_RELEASE:
		for (uint32_t i = 0; i < m->u32; i++)
			bk_msg_unref(((void **)m->ptr)[i]);
		bk_free(m->ptr);
		break;
	}
}

void
net_io_core_discard(const struct net_msg *m)
{
	if (m->kind == NET_M_RELEASE)
		net_io_core_handle(m);
	else if (m->kind == NET_M_INPUT)
		evbuffer_free(m->ptr);
}

static bool
to_core_empty(void *arg)
{
	struct net_io *io = arg;

	for (unsigned i = 0; i < io->n; i++)
		if (!net_ring_empty(&io->t[i].to_core))
			return false;
	return true;
}

int
net_loop_once(struct net *n, struct event_base *base)
{
	struct net_io *io = n ? n->io : NULL;
	struct net_msg m;
	int res;

	if (io == NULL || n->io_stopped) {
		struct net_conn *nc;

		res = event_base_loop(base, EVLOOP_ONCE);
		while (n && (nc = net_conn_dirty_pop(n)) != NULL)
			net_sock_write_now(net_conn_sock(nc));
		return res < 0 ? -1 : 0;
	}
	res = event_base_loop(base, net_io_loop_flags(&io->core_waker, to_core_empty, io));
	net_waker_awake(&io->core_waker);
	for (unsigned i = 0; i < io->n; i++)
		while (net_ring_pop(&io->t[i].to_core, &m))
			net_io_core_handle(&m);
	net_flush(n);
	return res < 0 ? -1 : 0;
}

void
net_io_attach(struct net_conn *nc, evutil_socket_t fd)
{
	struct net_io *io = nc->l->net->io;
	struct net_io_thread *t = &io->t[0];
	struct net_io_conn *c = &nc->io_half;

	for (unsigned i = 1; i < io->n; i++)            /* the least loaded thread */
		if (io->t[i].nconns < t->nconns)
			t = &io->t[i];
	t->nconns++;
	c->t = t;
	atomic_init(&c->transit, 0);
	atomic_init(&c->queued, 0);
	atomic_init(&c->wake_wanted, false);
	nc->threaded = true;
	to_io(c, NET_M_ATTACH, 0, (uint64_t)fd, NULL);
}

void
net_io_pause(struct net_conn *nc, unsigned why, bool on)
{
	if (!nc->sock_gone)
		to_io(net_conn_io(nc), NET_M_PAUSE, why | (on ? 1u << 31 : 0), 0, NULL);
}

/*
 * Ship nc's output now. At the end of an iteration (whole) nc->out itself
 * goes and the next output makes a new one, so an idle connection holds
 * no buffer; ahead of a close the protocol may still hold nc->out, so
 * its chains move to a new buffer instead.
 */
static void
ship(struct net_conn *nc, bool whole)
{
	struct net_io_conn *c = net_conn_io(nc);
	size_t n = nc->out ? evbuffer_get_length(nc->out) : 0;
	struct evbuffer *buf;

	if (c->report) {
		c->report = false;
		to_io(c, NET_M_CONSUMED, nc->in ? (uint32_t)evbuffer_get_length(nc->in) : 0,
		      c->core_consumed, NULL);
	}
	if (n == 0 || nc->sock_gone) {
		if (whole && n == 0 && nc->out) {
			evbuffer_free(nc->out);
			nc->out = NULL;
		}
		return;
	}
	/* Counted before it leaves: the core must not see less output
	 * pending while it is on its way. */
	atomic_fetch_add_explicit(&c->transit, n, memory_order_relaxed);
	if (whole) {
		buf = nc->out;
		nc->out = NULL;
	} else {
		buf = evbuffer_new();
		evbuffer_add_buffer(buf, nc->out);
	}
	to_io(c, NET_M_OUTPUT, 0, 0, buf);
}

void
net_io_close(struct net_conn *nc, bool flush, uint32_t ms)
{
	if (flush)
		ship(nc, false);
	to_io(net_conn_io(nc), NET_M_CLOSE, ms, flush, NULL);
}


void
net_io_consumed(struct net_conn *nc, size_t before)
{
	size_t after = nc->in ? evbuffer_get_length(nc->in) : 0;

	if (after < before)
		nc->io_half.core_consumed += before - after;
	nc->io_half.report = true;
	net_conn_mark_dirty(nc);
}

size_t
net_io_output_len(struct net_conn *nc)
{
	struct net_io_conn *c = net_conn_io(nc);
	size_t n = (nc->out ? evbuffer_get_length(nc->out) : 0) +
		   atomic_load_explicit(&c->transit, memory_order_relaxed) +
		   atomic_load_explicit(&c->queued, memory_order_relaxed);

	/* Asked because the protocol may hold back output until there is
	 * room (a parked consumer, a file copy): tell it when the socket has
	 * drained to half the high watermark, as the single-threaded
	 * transport's write callback does. */
	if (n > 0)
		atomic_store_explicit(&c->wake_wanted, true, memory_order_release);
	return n;
}

void
net_io_release(struct net_conn *nc)
{
	struct net_io_conn *c = net_conn_io(nc);

	net_conn_dirty_unlink(nc);              /* its output dies with it */
	nc->threaded = false;
	c->t->nconns--;
	if (nc->l->net->io_stopped) {
		/* The threads are gone: free the I/O half here. */
		net_io_conn_free(c);
		return;
	}
	to_io(c, NET_M_FREE, 0, 0, NULL);
}

void
net_flush(struct net *n)
{
	struct net_io *io = n ? n->io : NULL;
	struct net_conn *nc;

	if (io == NULL)
		return;
	while ((nc = net_conn_dirty_pop(n)) != NULL)
		ship(nc, true);
	for (unsigned i = 0; i < io->n; i++) {
		struct net_io_thread *t = &io->t[i];

		if (t->core_spill.n > 0)
			net_io_unspill(&t->to_io, &t->core_spill);
		if (t->io_wake_due) {
			t->io_wake_due = false;
			net_waker_wake(&t->io_waker);
		}
	}
}
