/*
 * test_io_stop.c: how an I/O thread (net/net_io.c) lets go. Output that
 * reaches a connection the thread has already closed (it crossed CLOSED)
 * is dropped: its chains freed, the connection's queued count left at 0.
 * Stopping the I/O threads frees what their rings and the spill lists
 * behind them still carry. A broker that
 * stops while a ring is full leaves messages on both sides: the core's
 * spill list (core -> I/O) and the thread's (I/O -> core). Each OUTPUT's
 * chains and each INPUT's are freed (their references let go), an
 * ATTACH's descriptor is closed, a FREE finishes its socket and frees
 * the block. The messages are put in after the thread stopped, so none
 * is handled by it; under ASan/LSan a leak also fails the run.
 */
#include <pthread.h>

#include "net_io_int.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXTRA 100                       /* messages beyond a full ring */

static unsigned freed_out, freed_in;
static _Atomic unsigned freed_late;     /* freed on the I/O thread */
static const char payload[] = "body";

static void
count_out(const void *data, size_t len, void *arg)
{
	freed_out++;
}

static void
count_in(const void *data, size_t len, void *arg)
{
	freed_in++;
}

static void
count_late(const void *data, size_t len, void *arg)
{
	atomic_fetch_add(&freed_late, 1);
}

static struct evbuffer *
buf_new(evbuffer_ref_cleanup_cb cb)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_reference(b, payload, sizeof(payload), cb, NULL);
	return b;
}

static void t_open(struct net_sock *s) {}
static void t_input(struct net_sock *s, struct evbuffer *in) {}
static void t_writable(struct net_sock *s) {}
static void t_end(struct net_sock *s, enum net_end why) {}

static const struct net_sock_up up = {
	.open = t_open, .input = t_input, .writable = t_writable, .end = t_end,
};

static struct net_listener listener = {
	.name = "test",
	.cfg = { .transport = NET_TCP, .output_high = 64 * 1024 },
};

static bool
fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static void
test_spills_freed_at_stop(void)
{
	struct net n = { 0 };
	struct net_io_thread *t;
	struct net_msg m = { 0 };
	struct net_conn *nc;
	int attach_sv[2], free_sv[2];
	unsigned total = RING_SLOTS + EXTRA;

	n.base = event_base_new();
	CHECK(net_io_start(&n, 1) == 0);
	net_io_stop(&n);
	t = &n.io->t[0];

	/* Core -> I/O: a full ring of OUTPUT, more spilled behind it, then
	 * an ATTACH and a FREE that only the spill list holds. */
	m.kind = NET_M_OUTPUT;
	for (unsigned i = 0; i < total; i++) {
		m.ptr = buf_new(count_out);
		net_io_push(&t->to_io, &t->core_spill, &m);
	}
	CHECK_EQ_INT(t->core_spill.n, EXTRA);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, attach_sv) == 0);
	m = (struct net_msg){ .kind = NET_M_ATTACH, .u64 = (uint64_t)attach_sv[0] };
	net_io_push(&t->to_io, &t->core_spill, &m);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, free_sv) == 0);
	nc = bk_calloc(1, sizeof(*nc) + sizeof("peer:1"));
	memcpy(nc->peer, "peer:1", sizeof("peer:1"));
	nc->sock_half.fd = free_sv[0];
	CHECK(net_sock_init(&nc->sock_half, &listener, t->poll, &up) == 0);
	m = (struct net_msg){ .kind = NET_M_FREE, .conn = &nc->io_half };
	net_io_push(&t->to_io, &t->core_spill, &m);
	CHECK_EQ_INT(t->core_spill.n, EXTRA + 2);

	/* I/O -> core: a full ring of INPUT and more behind it. */
	m = (struct net_msg){ .kind = NET_M_INPUT };
	for (unsigned i = 0; i < total; i++) {
		m.ptr = buf_new(count_in);
		net_io_push(&t->to_core, &t->io_spill, &m);
	}
	CHECK_EQ_INT(t->io_spill.n, EXTRA);

	net_io_free(&n);
	CHECK(n.io == NULL);
	CHECK_EQ_INT(freed_out, total);
	CHECK_EQ_INT(freed_in, total);
	CHECK(fd_closed(attach_sv[0]));
	CHECK(fd_closed(free_sv[0]));
	close(attach_sv[1]);
	close(free_sv[1]);
	event_base_free(n.base);
}

/* A CLOSE without flush makes the connection dead on its thread; OUTPUT
 * the core shipped after it is dropped there, and nothing is counted as
 * queued for a socket that is gone. */
static void
test_late_output_dropped(void)
{
	struct net n = { 0 };
	struct net_listener l = listener;
	struct net_conn *nc;
	struct net_io_thread *t;
	struct net_msg m = { .kind = NET_M_OUTPUT };
	struct timespec ms = { 0, 1000000 };
	char buf[16];
	int sv[2];

	n.base = event_base_new();
	l.net = &n;
	CHECK(net_io_start(&n, 1) == 0);
	t = &n.io->t[0];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	evutil_make_socket_nonblocking(sv[1]);
	nc = bk_calloc(1, sizeof(*nc) + sizeof("peer:1"));
	memcpy(nc->peer, "peer:1", sizeof("peer:1"));
	nc->l = &l;
	nc->sock_half.fd = sv[0];
	net_io_attach(nc, sv[0]);
	net_io_close(nc, false, 0);

	/* What ship() does for output produced before the core saw CLOSED. */
	m.conn = &nc->io_half;
	m.ptr = buf_new(count_late);
	atomic_fetch_add(&nc->io_half.transit, evbuffer_get_length(m.ptr));
	net_io_push(&t->to_io, &t->core_spill, &m);
	t->io_wake_due = true;
	net_flush(&n);
	for (int i = 0; i < 20000 && atomic_load(&freed_late) == 0; i++)
		nanosleep(&ms, NULL);           /* the thread's turn */
	CHECK_EQ_INT(atomic_load(&freed_late), 1);
	CHECK_EQ_INT(atomic_load(&nc->io_half.queued), 0);
	CHECK_EQ_INT(atomic_load(&nc->io_half.transit), 0);
	CHECK(read(sv[1], buf, sizeof(buf)) < 0 && errno == EAGAIN);   /* nothing written */

	net_io_release(nc);
	net_flush(&n);
	net_io_stop(&n);
	net_io_free(&n);
	close(sv[1]);
	event_base_free(n.base);
}

int
main(void)
{
	RUN(test_late_output_dropped);
	RUN(test_spills_freed_at_stop);
	TEST_DONE();
}
