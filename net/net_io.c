/*
 * net_io.c: I/O threads (broker.io_threads). Each thread owns a share of
 * the connections' sockets (reading, writing, TLS, WebSocket framing) on
 * its own libevent loop; the core (routing, queues, protocol state) stays
 * on the one core thread, without locks. They trade messages through two
 * bounded single-producer single-consumer rings per thread (net_ring.h),
 * a batch at a time. Each loop polls its rings once per iteration; a
 * producer writes the consumer's eventfd only when the consumer announced
 * it is going to sleep (struct net_waker), so a busy pair of threads
 * trades batches without a system call, and a sleeping one costs one
 * wake-up per batch, never one per message:
 *
 *      core thread                                  I/O thread k
 *   accept --ATTACH(fd)------------------------->  socket, TLS, WS upgrade
 *          <---------------------------OPENED---   handshake done
 *          <--------------------INPUT(chains)---   bytes read
 *   protocol reads nc->in, writes nc->out
 *   net_flush --OUTPUT(chains)------------------>  appended, written
 *            --CONSUMED(total, held)------------>  read credit
 *          <---------------------------DRAINED---  output at low watermark
 *          <------------------RELEASE(bk_msg *)---  written body references
 *   close --CLOSE(flush?)----------------------->  flush, shut
 *          <----------------------CLOSED(why)---   socket done
 *   core half freed --FREE---------------------->  I/O half freed
 *
 * Who owns what: a connection's core half (struct net_conn) is touched by
 * the core only; its I/O half (struct net_io_conn) and socket by its I/O
 * thread only, except the three atomics the core reads to know how much
 * output waits and the core-only fields marked so. The halves share one
 * block (net_int.h); the I/O thread reads of the core half only what is
 * fixed before ATTACH (listener, id, peer string) and frees the block on
 * FREE, the core's last word about the connection.
 * Chains move between threads inside evbuffers handed over through a ring:
 * the release store of the ring's tail publishes them. A message body an
 * evbuffer references is released on the I/O thread when written; the
 * reference goes back to the core in a RELEASE batch, so bk_msg reference
 * counts are only ever changed by the core (net_body_unref). A thread
 * that woke for a few requests and handed them to the core waits awake
 * for the answer for up to broker.io_spin_us (io_spin) instead of
 * sleeping, so a round trip through the core costs one wake-up, not two.
 * The read credit bounds what a connection can have in flight towards
 * the core: the I/O thread stops reading when more than NET_IO_CREDIT
 * bytes beyond what the core last held are on their way.
 */
#include "net_io_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The I/O thread the calling thread is, or NULL on the core. */
static _Thread_local struct net_io_thread *self;

/* ------------------------------------------------------------------ */
/* The I/O thread                                                      */
/* ------------------------------------------------------------------ */

static void
to_core(struct net_io_conn *c, uint32_t kind, uint32_t u32, void *ptr)
{
	struct net_io_thread *t = c->t;
	struct net_msg m = { .kind = kind, .u32 = u32, .conn = net_io_conn_nc(c), .ptr = ptr };

	net_io_push(&t->to_core, &t->io_spill, &m);
	t->core_wake_due = true;
}

/* The I/O half of the block s is in. */
static struct net_io_conn *
sock_io(struct net_sock *s)
{
	return &net_sock_conn(s)->io_half;
}

static struct net_sock *
io_sock(struct net_io_conn *c)
{
	return &net_io_conn_nc(c)->sock_half;
}

static void
sock_open(struct net_sock *s)
{
	struct net_io_conn *c = sock_io(s);

	to_core(c, NET_M_OPENED, 0, NULL);
}

static void
credit_check(struct net_io_conn *c)
{
	bool over = c->shipped - c->consumed > c->held + NET_IO_CREDIT;

	if (!c->dead)
		net_sock_pause(io_sock(c), SOCK_PAUSE_CREDIT, over);
}

static void
sock_input(struct net_sock *s, struct evbuffer *in)
{
	struct net_io_conn *c = sock_io(s);
	size_t n = evbuffer_get_length(in);
	struct evbuffer *buf = net_sock_take_input(s, in);

	c->shipped += n;
	c->t->input_bytes += n;
	to_core(c, NET_M_INPUT, 0, buf);
	credit_check(c);
}

static void
sock_writable(struct net_sock *s)
{
	struct net_io_conn *c = sock_io(s);

	atomic_store_explicit(&c->queued, net_sock_output_len(s), memory_order_relaxed);
	if (atomic_exchange_explicit(&c->wake_wanted, false, memory_order_acq_rel))
		to_core(c, NET_M_DRAINED, 0, NULL);
}

static void
io_end(struct net_io_conn *c, enum net_end why)
{
	if (c->dead)
		return;
	c->dead = true;
	c->peer_eof = why == NET_END_PEER;
	atomic_store_explicit(&c->queued, 0, memory_order_relaxed);
	to_core(c, NET_M_CLOSED, (uint32_t)why, NULL);
}

static void
sock_end(struct net_sock *s, enum net_end why)
{
	io_end(sock_io(s), why);
}

static const struct net_sock_up io_up = {
	.open = sock_open, .input = sock_input, .writable = sock_writable, .end = sock_end,
};

void
net_io_conn_free(struct net_io_conn *c)
{
	struct net_conn *nc = net_io_conn_nc(c);

	net_sock_fini(&nc->sock_half);
	bk_free(nc);
}

/*
 * Output the core produced for requests that came before the peer's end
 * of file (a client that half-closes after its last request, as RabbitMQ
 * and Mosquitto answer it). The socket has ended and is no longer
 * polled; the descriptor stays open until FREE, so what the kernel takes
 * at once is written and the rest is dropped. Plain sockets only: a TLS
 * or WebSocket layer has stopped with its bufferevent.
 */
static void
write_after_eof(struct net_sock *s, struct evbuffer *buf)
{
	struct evbuffer *b = buf;

	if (s->bev != NULL)
		return;
	if (s->out != NULL) {                   /* what was waiting goes first */
		evbuffer_add_buffer(s->out, buf);
		b = s->out;
	}
	while (evbuffer_get_length(b) > 0)
		if (evbuffer_write(b, s->fd) <= 0)
			break;
}

/* One message from the core. */
static void
io_handle(struct net_io_thread *t, const struct net_msg *m)
{
	struct net_io_conn *c = m->conn;
	struct net_sock *s = io_sock(c);
	struct evbuffer *buf = m->ptr;

	switch (m->kind) {
	case NET_M_ATTACH:
		/* l and s->fd are written before ATTACH and never after: the
		 * ring hands them over. */
		if (net_sock_init(s, net_io_conn_nc(c)->l, t->poll, &io_up) < 0)
			io_end(c, NET_END_ERROR);
		else
			net_sock_start(s);
		break;
	case NET_M_OUTPUT:
		atomic_fetch_sub_explicit(&c->transit, evbuffer_get_length(buf),
					  memory_order_relaxed);
		if (c->dead) {
			/* Late output (it crossed CLOSED): queued stays 0, as
			 * io_end left it; the chains are written after a peer's
			 * end of file, dropped otherwise, and their bodies go
			 * back to the core. */
			if (c->peer_eof)
				write_after_eof(s, buf);
			evbuffer_free(buf);
			break;
		}
		/* The send never ends the socket (net_sock_write_now), so c
		 * is still alive and queued is its socket's. */
		net_sock_send(s, buf);
		atomic_store_explicit(&c->queued, net_sock_output_len(s), memory_order_relaxed);
		break;
	case NET_M_PAUSE:
		if (!c->dead)
			net_sock_pause(s, m->u32 & ~(1u << 31), (m->u32 >> 31) != 0);
		break;
	case NET_M_CLOSE:
		if (c->dead)
			break;
		if (m->u64)
			net_sock_close_after_flush(s, m->u32);
		else {
			net_sock_shut(s);
			io_end(c, NET_END_LOCAL);
		}
		break;
	case NET_M_CONSUMED:
		c->consumed = m->u64;
		c->held = m->u32;
		credit_check(c);
		break;
	case NET_M_FREE:
		net_io_conn_free(c);
		break;
	}
}

/* Stopping: a message the I/O thread will never handle (in its ring, or
 * in the core's spill list behind a full ring) lets go of what it
 * carries: an OUTPUT's chains (their bodies released), an ATTACH's
 * descriptor (its core half never had the socket), a FREE's block. */
static void
io_discard(const struct net_msg *m)
{
	if (m->kind == NET_M_OUTPUT)
		evbuffer_free(m->ptr);
	else if (m->kind == NET_M_ATTACH)
		evutil_closesocket((evutil_socket_t)m->u64);
	else if (m->kind == NET_M_FREE)
		net_io_conn_free(m->conn);
}

/* Hand what this iteration produced to the core: written bodies to
 * release, spilled messages, and one wake-up. */
static void
io_flush(struct net_io_thread *t)
{
	if (t->nrel > 0) {
		struct net_msg m = { .kind = NET_M_RELEASE, .u32 = t->nrel, .ptr = t->rel };

		net_io_push(&t->to_core, &t->io_spill, &m);
		t->rel = NULL;
		t->nrel = t->relcap = 0;
		t->core_wake_due = true;
	}
	if (t->io_spill.n > 0)
		net_io_unspill(&t->to_core, &t->io_spill);
	if (t->core_wake_due) {
		t->core_wake_due = false;
		net_waker_wake(&t->io->core_waker);
	}
}

static bool
to_io_empty(void *arg)
{
	struct net_io_thread *t = arg;

	return net_ring_empty(&t->to_io);
}

/*
 * After a pass that woke from sleep and handed the core a small input
 * (a few requests, not a stream), the answer usually follows within
 * microseconds: watch the ring for it up to spin_ns rather than sleep,
 * so the core's answer costs no wake-up of this thread. A thread that
 * is busy (no sleep before the pass) or moves a stream (a large input)
 * never waits, so throughput runs keep their CPU; a wait that sees no
 * answer doubles a back-off of passes that do not wait (at most 64).
 * True when the answer came (it waits in the ring).
 */
static bool
io_spin(struct net_io_thread *t, bool slept)
{
	if (!slept || t->input_bytes == 0 || t->input_bytes > 4096 || t->io->spin_ns == 0)
		return false;
	if (t->spin_skip > 0) {
		t->spin_skip--;
		return false;
	}
	if (net_ring_watch(&t->to_io, t->io->spin_ns)) {
		t->spin_backoff = 0;
		return true;
	}
	t->spin_backoff = t->spin_backoff ? t->spin_backoff * 2 : 1;
	if (t->spin_backoff > 64)
		t->spin_backoff = 64;
	t->spin_skip = t->spin_backoff;
	return false;
}

/* Everything the core sent, then what it produced back to the core. */
static void
io_drain(struct net_io_thread *t)
{
	struct net_msg m;

	while (net_ring_pop(&t->to_io, &m))
		io_handle(t, &m);
	io_flush(t);
}

static void *
io_main(void *arg)
{
	struct net_io_thread *t = arg;
	struct net_msg m;

	self = t;
	bk_time_attach(t->base);
	while (!atomic_load_explicit(&t->stop, memory_order_acquire)) {
		int flags = net_io_loop_flags(&t->io_waker, to_io_empty, t);

		t->input_bytes = 0;
		event_base_loop(t->base, flags);
		net_waker_awake(&t->io_waker);
		io_drain(t);
		if (io_spin(t, (flags & EVLOOP_NONBLOCK) == 0))
			io_drain(t);
	}
	/* Stopping: every connection of this thread goes, without messages
	 * but the bodies to release. */
	while (net_ring_pop(&t->to_io, &m))
		io_discard(&m);
	bk_time_attach(NULL);
	self = NULL;
	return NULL;
}

void
net_body_unref(const void *data, size_t len, void *msg)
{
	struct net_io_thread *t = self;

	if (t == NULL) {
		bk_msg_unref(msg);
		return;
	}
	if (t->nrel == t->relcap) {
		t->relcap = t->relcap ? t->relcap * 2 : 256;
		t->rel = bk_realloc(t->rel, t->relcap * sizeof(*t->rel));
	}
	t->rel[t->nrel++] = msg;
}

static void
thread_fini(struct net_io_thread *t)
{
	struct net_msg m;

	/* What the core sent last, behind a full ring (the thread emptied
	 * the ring itself when it stopped; a thread that never ran did not):
	 * before the loop and the poll set go, as a FREE finishes a socket
	 * in them. */
	while (net_ring_pop(&t->to_io, &m))
		io_discard(&m);
	for (uint32_t i = 0; i < t->core_spill.n; i++)
		io_discard(&t->core_spill.m[i]);
	/* What the thread sent last, in the ring and behind it: bodies to
	 * release, buffers to free. */
	while (net_ring_pop(&t->to_core, &m))
		net_io_core_discard(&m);
	for (uint32_t i = 0; i < t->io_spill.n; i++)
		net_io_core_discard(&t->io_spill.m[i]);
	for (uint32_t i = 0; i < t->nrel; i++)
		bk_msg_unref(t->rel[i]);
	bk_free(t->rel);
	bk_free(t->core_spill.m);
	bk_free(t->io_spill.m);
	if (t->io_ev)
		event_free(t->io_ev);
	net_poll_free(t->poll);
	if (t->base)
		event_base_free(t->base);
	if (t->io_waker.efd >= 0)
		close(t->io_waker.efd);
	net_ring_fini(&t->to_io);
	net_ring_fini(&t->to_core);
}

int
net_io_start(struct net *n, unsigned count)
{
	struct net_io *io = bk_calloc(1, sizeof(*io));
	int res = 0;

	io->net = n;
	io->t = bk_calloc(count, sizeof(*io->t));
	n->io = io;
	atomic_init(&io->core_waker.asleep, false);
	io->spin_ns = (uint64_t)n->cfg.io_spin_us * 1000;
	io->core_waker.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->core_waker.efd < 0) {
		res = -errno;
		goto fail;
	}
	io->core_ev = event_new(n->base, io->core_waker.efd, EV_READ | EV_PERSIST, net_io_wake_cb,
				&io->core_waker);
	event_add(io->core_ev, NULL);
	for (unsigned i = 0; i < count; i++) {
		struct net_io_thread *t = &io->t[i];

		t->io = io;
		t->index = i;
		net_ring_init(&t->to_io, RING_SLOTS);
		net_ring_init(&t->to_core, RING_SLOTS);
		atomic_init(&t->stop, false);
		atomic_init(&t->io_waker.asleep, false);
		t->io_waker.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		t->base = event_base_new();
		if (t->base)
			t->poll = net_poll_new(t->base);
		if (t->io_waker.efd < 0 || t->base == NULL || t->poll == NULL) {
			res = -errno;
			thread_fini(t);         /* not counted in io->n */
			break;
		}
		t->io_ev = event_new(t->base, t->io_waker.efd, EV_READ | EV_PERSIST, net_io_wake_cb,
				     &t->io_waker);
		event_add(t->io_ev, NULL);
		io->n = i + 1;
		if ((res = -pthread_create(&t->tid, NULL, io_main, t)) < 0) {
			io->n = i;
			thread_fini(t);
			break;
		}
		char name[16];

		snprintf(name, sizeof(name), "sluiced-io%u", i % 1000);
		pthread_setname_np(t->tid, name);        /* for top -H and profiles */
	}
fail:
	if (res < 0) {
		net_io_stop(n);
		net_io_free(n);
		n->io_stopped = false;
	}
	return res;
}

void
net_io_stop(struct net *n)
{
	struct net_io *io = n->io;

	if (io == NULL || n->io_stopped)
		return;
	for (unsigned i = 0; i < io->n; i++) {
		atomic_store_explicit(&io->t[i].stop, true, memory_order_release);
		net_waker_force(&io->t[i].io_waker);
	}
	for (unsigned i = 0; i < io->n; i++)
		pthread_join(io->t[i].tid, NULL);
	n->io_stopped = true;
}

void
net_io_free(struct net *n)
{
	struct net_io *io = n->io;

	if (io == NULL)
		return;
	/* Connections still attached were freed by net_free (through
	 * net_io_release) before this: their sockets used the threads' loops. */
	for (unsigned i = 0; i < io->n; i++)
		thread_fini(&io->t[i]);
	if (io->core_ev)
		event_free(io->core_ev);
	if (io->core_waker.efd >= 0)
		close(io->core_waker.efd);
	bk_free(io->t);
	bk_free(io);
	n->io = NULL;
}
