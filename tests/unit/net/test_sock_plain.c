/*
 * test_sock_plain.c: plain TCP sockets in a loop's poll set
 * (net/net_sock_plain.c), on socket pairs and a real libevent loop: input
 * reaches the owner; a paused socket leaves the set and reads nothing
 * until resumed; output the socket cannot take at once waits for
 * writability (NET_POLL_OUT) and the owner hears when it drained; end of
 * file ends the socket and takes it out of the set; more ready sockets
 * than NET_POLL_BATCH are served over several passes, none lost; a socket
 * kicked and then freed before the loop runs is not touched; a socket
 * that cannot go on inside the owner's net_sock_write_now (epoll_ctl
 * failing as the write leaves output or empties it, a flush completed)
 * ends from the loop, never inside that call, and never stays waiting
 * for writability with nothing to write.
 */
#include "net_int.h"
#include "testlib.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define NSOCK (NET_POLL_BATCH + 36)

static struct {
	size_t input;                   /* octets delivered, every socket */
	unsigned reads;                 /* input upcalls */
	unsigned writable, ends;
	enum net_end why;
} seen;

static void
t_open(struct net_sock *s)
{
}

static void
t_input(struct net_sock *s, struct evbuffer *in)
{
	seen.input += evbuffer_get_length(in);
	seen.reads++;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
t_writable(struct net_sock *s)
{
	seen.writable++;
}

static void
t_end(struct net_sock *s, enum net_end why)
{
	seen.ends++;
	seen.why = why;
}

static const struct net_sock_up up = {
	.open = t_open, .input = t_input, .writable = t_writable, .end = t_end,
};

static struct net_listener listener = {
	.name = "test",
	.cfg = { .transport = NET_TCP, .output_high = 64 * 1024 },
};

struct pair {
	struct net_conn *nc;            /* the block; its sock_half is tested */
	int peer;                       /* the other end */
};

static struct net_sock *
pair_new(struct pair *p, struct net_poll *poll)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	p->nc = calloc(1, sizeof(*p->nc) + sizeof("peer:1"));
	memcpy(p->nc->peer, "peer:1", sizeof("peer:1"));
	p->peer = sv[1];
	evutil_make_socket_nonblocking(p->peer);
	p->nc->sock_half.fd = sv[0];
	CHECK(net_sock_init(&p->nc->sock_half, &listener, poll, &up) == 0);
	net_sock_start(&p->nc->sock_half);
	return &p->nc->sock_half;
}

static void
pair_free(struct pair *p)
{
	net_sock_fini(&p->nc->sock_half);
	free(p->nc);
	close(p->peer);
}

/* Run the loop's ready events, n passes, without blocking. */
static void
spin(struct event_base *base, int n)
{
	while (n-- > 0)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void
test_read_pause_end(void)
{
	struct event_base *base = event_base_new();
	struct net_poll *poll = net_poll_new(base);
	struct pair p;
	struct net_sock *s = pair_new(&p, poll);
	char buf[100] = { 0 };

	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_INT(s->ev, NET_POLL_IN);
	CHECK_EQ_INT(write(p.peer, buf, 100), 100);
	spin(base, 3);
	CHECK_EQ_INT(seen.input, 100);
	CHECK(s->in == NULL);           /* read to the end: no buffer kept */

	net_sock_pause(s, NET_PAUSE_FLOW, true);
	CHECK_EQ_INT(s->ev, 0);         /* out of the set */
	CHECK_EQ_INT(write(p.peer, buf, 50), 50);
	spin(base, 3);
	CHECK_EQ_INT(seen.input, 100);
	net_sock_pause(s, NET_PAUSE_FLOW, false);
	CHECK_EQ_INT(s->ev, NET_POLL_IN);
	spin(base, 3);
	CHECK_EQ_INT(seen.input, 150);

	/* End of file while paused is seen once reading resumes. */
	net_sock_pause(s, NET_PAUSE_FLOW, true);
	close(p.peer);
	p.peer = dup(0);                /* pair_free closes something */
	spin(base, 3);
	CHECK_EQ_INT(seen.ends, 0);
	net_sock_pause(s, NET_PAUSE_FLOW, false);
	spin(base, 3);
	CHECK_EQ_INT(seen.ends, 1);
	CHECK_EQ_INT(seen.why, NET_END_PEER);
	CHECK_EQ_INT(s->ev, 0);
	pair_free(&p);
	net_poll_free(poll);
	event_base_free(base);
}

static void
test_write_waits(void)
{
	struct event_base *base = event_base_new();
	struct net_poll *poll = net_poll_new(base);
	struct pair p;
	struct net_sock *s = pair_new(&p, poll);
	size_t total = 4 * 1024 * 1024, got = 0;
	char *big = calloc(1, total), buf[65536];
	ssize_t n;

	memset(&seen, 0, sizeof(seen));
	/* Appending asks for nothing: the owner writes at the iteration's end. */
	evbuffer_add(net_sock_output(s), big, total);
	CHECK_EQ_INT(s->ev, NET_POLL_IN);
	net_sock_write_now(s);
	CHECK(net_sock_output_len(s) > 0);      /* more than the socket holds */
	CHECK_EQ_INT(s->ev, NET_POLL_IN | NET_POLL_OUT);
	for (int i = 0; i < 100000 && got < total; i++) {
		while ((n = read(p.peer, buf, sizeof(buf))) > 0)
			got += (size_t)n;
		spin(base, 1);
	}
	CHECK_EQ_INT(got, total);
	CHECK(seen.writable > 0);
	CHECK(s->out == NULL);                  /* written: no buffer kept */
	CHECK_EQ_INT(s->ev, NET_POLL_IN);
	free(big);
	pair_free(&p);
	net_poll_free(poll);
	event_base_free(base);
}

static void
test_batches_and_kicks(void)
{
	struct event_base *base = event_base_new();
	struct net_poll *poll = net_poll_new(base);
	struct pair *p = calloc(NSOCK, sizeof(*p));
	struct net_sock *s0;

	memset(&seen, 0, sizeof(seen));
	for (int i = 0; i < NSOCK; i++) {
		pair_new(&p[i], poll);
		CHECK_EQ_INT(write(p[i].peer, "x", 1), 1);
	}
	spin(base, 1);
	CHECK_EQ_INT(seen.reads, NET_POLL_BATCH);       /* one batch a pass */
	spin(base, 1);
	CHECK_EQ_INT(seen.reads, NSOCK);                 /* the rest next pass */

	/* A kicked socket freed before the loop runs is not read. */
	s0 = &p[0].nc->sock_half;
	s0->in = evbuffer_new();
	evbuffer_add(s0->in, "y", 1);
	net_sock_kick(s0);
	CHECK(s0->kicked);
	pair_free(&p[0]);
	spin(base, 2);
	CHECK_EQ_INT(seen.reads, NSOCK);

	/* A kick delivers input already read, without the socket being ready. */
	s0 = &p[1].nc->sock_half;
	s0->in = evbuffer_new();
	evbuffer_add(s0->in, "zz", 2);
	net_sock_kick(s0);
	spin(base, 1);
	CHECK_EQ_INT(seen.reads, NSOCK + 1);
	CHECK_EQ_INT(seen.input, NSOCK + 2);
	for (int i = 1; i < NSOCK; i++)
		pair_free(&p[i]);
	free(p);
	net_poll_free(poll);
	event_base_free(base);
}

/* Make the poll set lose s behind its back: s->fd becomes a fresh
 * socket (the old one, closed, leaves the epoll set), so the next
 * epoll_ctl on it fails (ENOENT here; ENOMEM in the field, handled the
 * same way). Returns the new socket's other end. */
static int
lose_from_set(struct net_sock *s)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(dup2(sv[0], s->fd) == s->fd);
	close(sv[0]);
	evutil_make_socket_nonblocking(s->fd);
	evutil_make_socket_nonblocking(sv[1]);
	return sv[1];
}

static void
drain_peer(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Inside write_now the socket only gets end_due; the loop ends it. */
static void
check_ends_from_loop(struct event_base *base, struct net_sock *s, enum net_end why)
{
	CHECK_EQ_INT(seen.ends, 0);
	CHECK(s->end_due);
	CHECK(!s->ended);
	spin(base, 2);
	CHECK_EQ_INT(seen.ends, 1);
	CHECK_EQ_INT(seen.why, why);
	CHECK(s->ended);
}

static void
test_ends_outside_write_now(void)
{
	struct event_base *base = event_base_new();
	struct net_poll *poll = net_poll_new(base);
	size_t total = 4 * 1024 * 1024;
	char *big = calloc(1, total);
	struct net_sock *s;
	struct pair p;
	int other;

	/* Output written to the last byte, and EPOLLOUT cannot be cleared:
	 * the socket ends (from the loop) rather than staying armed for
	 * writability with nothing to write. */
	memset(&seen, 0, sizeof(seen));
	s = pair_new(&p, poll);
	evbuffer_add(net_sock_output(s), big, total);
	net_sock_write_now(s);
	CHECK_EQ_INT(s->ev, NET_POLL_IN | NET_POLL_OUT);
	other = lose_from_set(s);
	evbuffer_drain(s->out, evbuffer_get_length(s->out) - 10);
	net_sock_write_now(s);
	CHECK(s->out == NULL);                  /* the 10 octets went */
	check_ends_from_loop(base, s, NET_END_ERROR);
	pair_free(&p);
	close(other);

	/* Output left over and writability cannot be asked for. */
	memset(&seen, 0, sizeof(seen));
	s = pair_new(&p, poll);
	other = lose_from_set(s);
	evbuffer_add(net_sock_output(s), big, total);
	net_sock_write_now(s);
	CHECK(net_sock_output_len(s) > 0);
	check_ends_from_loop(base, s, NET_END_ERROR);
	pair_free(&p);
	close(other);

	/* A flush the write completes: the close the owner asked for. */
	memset(&seen, 0, sizeof(seen));
	s = pair_new(&p, poll);
	evbuffer_add(net_sock_output(s), big, total);
	net_sock_write_now(s);
	net_sock_close_after_flush(s, 60000);
	CHECK(s->flushing);
	drain_peer(p.peer);
	evbuffer_drain(s->out, evbuffer_get_length(s->out) - 10);
	net_sock_write_now(s);
	check_ends_from_loop(base, s, NET_END_LOCAL);
	pair_free(&p);

	free(big);
	net_poll_free(poll);
	event_base_free(base);
}

int
main(void)
{
	RUN(test_read_pause_end);
	RUN(test_write_waits);
	RUN(test_batches_and_kicks);
	RUN(test_ends_outside_write_now);
	TEST_DONE();
}
