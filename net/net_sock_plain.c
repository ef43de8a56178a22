/*
 * net_sock_plain.c: the socket half of a plain TCP connection without a
 * bufferevent (net_sock.c keeps bufferevents for TLS and WebSockets,
 * whose layers need them), and the poll set its sockets wait in.
 *
 * A bufferevent costs about a kilobyte per socket whether or not anything
 * moves, and even a libevent event costs 128 bytes and an fd map entry.
 * A plain socket holds neither: each loop (the core's at io_threads 0,
 * each I/O thread's) has one private epoll set, struct net_poll, which
 * libevent watches as a single read event on its descriptor. Sockets sit
 * in it level-triggered with data.ptr pointing at them:
 *
 *   libevent loop --EV_READ--> poll_cb: epoll_wait(set, 0), at most
 *                              NET_POLL_BATCH sockets a pass (the set stays
 *                              readable while more wait: the next pass)
 *                                 |-- EPOLLIN  -> plain_read_cb(s)
 *                                 '-- EPOLLOUT -> write callback(s)
 *
 *   s->ev    what the set waits for: NET_POLL_IN while reading is not
 *            paused, NET_POLL_OUT while output waits for the socket; none: not in
 *            the set (EPOLLHUP and EPOLLERR cannot be masked, so a paused
 *            socket must leave it). Changed with epoll_ctl.
 *   s->in    made by a read, freed once the owner has taken every byte
 *   s->out   made when output is appended (net_sock_output), freed once
 *            written. Appending asks for no writability: the owner writes
 *            at the end of the iteration (net_sock_write_now, from the
 *            dirty list or net_sock_send), and only what the socket did
 *            not take sets NET_POLL_OUT (one epoll_ctl, as a bufferevent's
 *            write event would cost), cleared once it is written.
 *
 * The callbacks behave as net_sock.c's bufferevent callbacks: input goes
 * up through net_sock_deliver(), a write that leaves at most half of
 * output_high calls net_sock_drained(), end of file or an error ends the
 * socket. Of the upcalls only up->writable can come from inside a call
 * the owner made (net_sock_write_now, net_sock_send: the write drained
 * the output, as the loop's write would have said); nothing else does. A
 * kick queues the socket on its poll and makes the poll's event active,
 * so the read runs from the loop, and a socket that cannot go on inside
 * such a call (a write error, an epoll_ctl that failed, a flush it
 * completed) is queued the same way with end_due and ends from there
 * (plain_end). Sockets are freed outside poll_cb only (the owners defer),
 * so a batch never holds a freed pointer.
 */
#include "net_int.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

/* A read takes what the kernel holds, up to this much, in one call. */
#define PLAIN_MAX_READ  (256 * 1024)
#define PLAIN_MAX_WRITE (1024 * 1024)
/* Room for a read when the kernel does not say how much waits. */
#define PLAIN_MIN_READ  1024

struct net_poll {
	struct event_base *base;        /* borrowed: the loop */
	int epfd;
	struct event *ev;               /* owned: EV_READ on epfd, on base */
	struct net_sock **kick;         /* owned: sockets to read from the loop */
	uint32_t nkick, kickcap;
};

static void poll_cb(evutil_socket_t fd, short what, void *arg);

static bool
real_error(int e)
{
	return e != EAGAIN && e != EWOULDBLOCK && e != EINTR;
}

/* Read what waits into s->in: > 0 octets, 0 end of file, -1 nothing
 * (would block), -2 an error (*err). */
static ssize_t
plain_read(struct net_sock *s, int *err)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int avail = 0, n;
	size_t want, left;
	ssize_t got;

	if (ioctl(s->fd, FIONREAD, &avail) < 0 || avail < PLAIN_MIN_READ)
		avail = PLAIN_MIN_READ;
	want = (size_t)avail < PLAIN_MAX_READ ? (size_t)avail : PLAIN_MAX_READ;
	if (s->in == NULL)
		s->in = evbuffer_new();
	if ((n = evbuffer_reserve_space(s->in, (ev_ssize_t)want, v, 2)) <= 0)
		return -1;
	left = want;
	for (int i = 0; i < n; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	got = readv(s->fd, iov, n);
	*err = got < 0 && real_error(errno) ? errno : 0;
	left = got > 0 ? (size_t)got : 0;
	for (int i = 0; i < n; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(s->in, v, n);
	if (got < 0)
		return *err ? -2 : -1;
	return got;
}

static void
drop_empty_input(struct net_sock *s)
{
	if (s->in && evbuffer_get_length(s->in) == 0) {
		evbuffer_free(s->in);
		s->in = NULL;
	}
}

static void
plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_sock *s = arg;
	ssize_t got = -1;
	int err = 0;

	if (s->ended || s->end_due)
		return;
	if (!s->paused && !s->flushing)
		got = plain_read(s, &err);
	if (s->in && evbuffer_get_length(s->in) > 0)
		net_sock_deliver(s, s->in);
	drop_empty_input(s);
	if (s->ended)
		return;
	if (got == 0)
		net_sock_end(s, s->flushing ? NET_END_LOCAL : NET_END_PEER);
	else if (got == -2) {
		net_sock_log(s, BK_LOG_INFO, "socket error: %s", strerror(err));
		net_sock_end(s, s->flushing ? NET_END_LOCAL : NET_END_ERROR);
	}
}

/* Make the set wait for want (NET_POLL_* bits) on s: 0 or -errno. */
static int
set_events(struct net_sock *s, unsigned want)
{
	struct epoll_event e = { .data.ptr = s };
	int op = s->ev == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

	if (want == s->ev)
		return 0;
	e.events = (want & NET_POLL_IN ? EPOLLIN : 0) | (want & NET_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(s->poll->epfd, op, s->fd, &e) < 0)
		return -errno;
	s->ev = (uint8_t)want;
	return 0;
}

/*
 * The socket cannot go on (a write error, an epoll_ctl that failed) or
 * its flush is complete: up->end, NET_END_LOCAL when flushing (the close
 * the owner asked for), NET_END_ERROR otherwise. From the loop's own
 * callbacks it ends now; inside a call of the owner's (owner_call) it is
 * queued on the kick list and ends from the loop's next pass, so no owner
 * sees its socket end under it.
 */
static void
plain_end(struct net_sock *s, bool owner_call)
{
	if (!owner_call) {
		net_sock_end(s, s->flushing ? NET_END_LOCAL : NET_END_ERROR);
		return;
	}
	s->end_due = true;
	net_sock_plain_kick(s);
}

static void
want_write(struct net_sock *s, bool owner_call)
{
	int rc;

	if ((s->ev & NET_POLL_OUT) || (rc = set_events(s, s->ev | NET_POLL_OUT)) == 0)
		return;
	/* Not even a write to wait for: the socket cannot go on. */
	net_sock_log(s, BK_LOG_WARNING, "cannot wait for the socket: %s", strerror(-rc));
	plain_end(s, owner_call);
}

/*
 * Nothing left to write: stop waiting for writability. If the set refuses
 * (epoll_ctl: ENOMEM), EPOLLOUT stays armed on a socket that is writable
 * and, level-triggered, is reported at every pass with nothing to write:
 * trying again from there would spin the loop for as long as the kernel
 * is short of memory, starving every other socket of the loop. The
 * socket ends instead, logged, as on a socket error: what it had to
 * write is written, the peer sees the connection drop (no protocol state
 * is lost or corrupted), and the loop stays quiet.
 */
static bool
stop_writing(struct net_sock *s, bool owner_call)
{
	int rc = set_events(s, s->ev & ~NET_POLL_OUT);      /* no call if not set */

	if (rc == 0)
		return true;
	net_sock_log(s, BK_LOG_WARNING, "cannot stop waiting for the socket: %s",
		     strerror(-rc));
	plain_end(s, owner_call);
	return false;
}

/* After a write: wait for the socket while output remains, give the
 * buffer back once it is empty, and tell the owner when the output is at
 * or below the low watermark (half of output_high); a flush ends once
 * the output is empty. */
static void
plain_wrote(struct net_sock *s, bool owner_call)
{
	size_t left = s->out ? evbuffer_get_length(s->out) : 0;

	if (left > 0)
		want_write(s, owner_call);
	else {
		if (s->out) {
			evbuffer_free(s->out);
			s->out = NULL;
		}
		if (!stop_writing(s, owner_call))
			return;
	}
	if (s->ended || s->end_due)
		return;
	if (s->flushing) {
		if (left == 0)
			plain_end(s, owner_call);
	} else if (left <= s->l->cfg.output_high / 2)
		net_sock_drained(s);
}

/* Write what waits in s->out (from the loop, or inside owner_call). */
static void
plain_write(struct net_sock *s, bool owner_call)
{
	int n = 0;

	if (s->ended || s->end_due)
		return;
	if (s->out && evbuffer_get_length(s->out) > 0)
		n = evbuffer_write_atmost(s->out, s->fd, PLAIN_MAX_WRITE);
	if (n < 0 && real_error(errno) && owner_call) {
		/* The loop meets the error again (with what the peer sent
		 * before it, and its end of file first if it came) and ends
		 * the socket from there. */
		want_write(s, owner_call);
		return;
	}
	if (n < 0 && real_error(errno)) {
		if (!s->flushing)
			net_sock_log(s, BK_LOG_INFO, "socket error: %s", strerror(errno));
		plain_end(s, owner_call);
		return;
	}
	plain_wrote(s, owner_call);
}

int
net_sock_plain_new(struct net_sock *s)
{
	return set_events(s, NET_POLL_IN);
}

void
net_sock_plain_free(struct net_sock *s)
{
	if (s->kicked) {
		struct net_poll *p = s->poll;

		for (uint32_t i = 0; i < p->nkick; i++)
			if (p->kick[i] == s)
				p->kick[i] = NULL;
	}
	set_events(s, 0);       /* before the close: the fd may be reused */
	if (s->in)
		evbuffer_free(s->in);
	if (s->out)
		evbuffer_free(s->out);
	evutil_closesocket(s->fd);
}

void
net_sock_plain_events(struct net_sock *s, bool reading, bool writing)
{
	unsigned want = reading ? NET_POLL_IN : 0;

	if (writing && s->out && evbuffer_get_length(s->out) > 0)
		want |= NET_POLL_OUT;
	/* Called by the owner (a pause, a flush starting): an end waits for
	 * the loop. Taking the socket out (want 0) is an end's own step. */
	if (set_events(s, want) < 0 && want != 0) {
		net_sock_log(s, BK_LOG_WARNING, "cannot change what the socket waits for");
		plain_end(s, true);
	}
}

void
net_sock_plain_kick(struct net_sock *s)
{
	struct net_poll *p = s->poll;

	if (s->kicked)
		return;
	if (p->nkick == p->kickcap) {
		p->kickcap = p->kickcap ? p->kickcap * 2 : 16;
		p->kick = bk_realloc(p->kick, p->kickcap * sizeof(*p->kick));
	}
	p->kick[p->nkick++] = s;
	s->kicked = true;
	/* EV_TIMEOUT: the callback tells a kick from the set's readiness. */
	event_active(p->ev, EV_TIMEOUT, 0);
}

void
net_sock_plain_write_now(struct net_sock *s)
{
	if (s->out != NULL && evbuffer_get_length(s->out) > 0)
		plain_write(s, true);
}

/* ---- the poll set ---- */

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_poll *p = arg;
	struct epoll_event e[NET_POLL_BATCH];
	int n;

	/* Kicked sockets first; a read may kick another (the list grows). */
	for (uint32_t i = 0; i < p->nkick; i++) {
		struct net_sock *s = p->kick[i];

		if (s == NULL)
			continue;
		s->kicked = false;
		if (s->end_due && !s->ended)
			plain_end(s, false);
		else
			plain_read_cb(s->fd, EV_READ, s);
	}
	p->nkick = 0;
	if (!(what & EV_READ))
		return;
	n = epoll_wait(p->epfd, e, NET_POLL_BATCH, 0);
	for (int i = 0; i < n; i++) {
		struct net_sock *s = e[i].data.ptr;
		uint32_t got = e[i].events;

		/* An error or a hang-up goes to whichever side waits: its
		 * read or write meets it. */
		if ((s->ev & NET_POLL_IN) && (got & (EPOLLIN | EPOLLERR | EPOLLHUP)))
			plain_read_cb(s->fd, EV_READ, s);
		if ((s->ev & NET_POLL_OUT) && !s->ended && (got & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			plain_write(s, false);
	}
}

struct net_poll *
net_poll_new(struct event_base *base)
{
	struct net_poll *p = bk_calloc(1, sizeof(*p));

	p->base = base;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0 ||
	    (p->ev = event_new(base, p->epfd, EV_READ | EV_PERSIST, poll_cb, p)) == NULL ||
	    event_add(p->ev, NULL) < 0) {
		net_poll_free(p);
		return NULL;
	}
	return p;
}

void
net_poll_free(struct net_poll *p)
{
	if (p == NULL)
		return;
	if (p->ev)
		event_free(p->ev);
	if (p->epfd >= 0)
		close(p->epfd);
	bk_free(p->kick);
	bk_free(p);
}

struct event_base *
net_poll_base(const struct net_poll *p)
{
	return p->base;
}
