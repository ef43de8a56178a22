/*
 * net_sock_plain.c: the socket half of a plain TCP connection without a
 * bufferevent (net_sock.c keeps bufferevents for TLS and WebSockets,
 * whose layers need them). A bufferevent costs about a kilobyte per
 * socket whether or not anything moves (its two evbuffers, two events,
 * deferred callbacks); here an idle socket holds one read event and
 * nothing else:
 *
 *   s->rev   EV_READ | EV_PERSIST, added while reading is not paused
 *   s->in    made by a read, freed once the owner has taken every byte
 *   s->out   made when output is appended (net_sock_output), freed once
 *            written
 *   s->wev   EV_WRITE, made and added when output is appended, as a
 *            bufferevent asks for writability; net_sock_write_now()
 *            writes at the end of the iteration and, when everything
 *            went, deletes and frees it before the change reaches epoll
 *            (libevent's changelist: no system call); it stays only while
 *            output waits for the socket
 *
 * The callbacks behave as net_sock.c's bufferevent callbacks: input goes
 * up through net_sock_deliver(), a write that leaves at most half of
 * output_high calls net_sock_drained(), end of file or an error ends the
 * socket. Nothing reaches the owner from inside a call it made: a kick
 * makes the read event active rather than reading inline.
 */
#include "net_int.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

/* A read takes what the kernel holds, up to this much, in one call. */
#define PLAIN_MAX_READ  (256 * 1024)
#define PLAIN_MAX_WRITE (1024 * 1024)
/* Room for a read when the kernel does not say how much waits. */
#define PLAIN_MIN_READ  1024

static void want_write(struct net_sock *s);
static void stop_write(struct net_sock *s, bool release);

static bool
real_error(int e)
{
	return e != EAGAIN && e != EWOULDBLOCK && e != EINTR;
}

/* Read what waits into s->in: > 0 octets, 0 end of file, -1 nothing
 * (would block), -2 an error (s->read_errno). */
static ssize_t
plain_read(struct net_sock *s)
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
	if (got < 0 && real_error(errno))
		s->read_errno = errno;
	left = got > 0 ? (size_t)got : 0;
	for (int i = 0; i < n; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(s->in, v, n);
	if (got < 0)
		return s->read_errno ? -2 : -1;
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

	if (s->ended)
		return;
	if (!s->paused && !s->flushing)
		got = plain_read(s);
	if (s->in && evbuffer_get_length(s->in) > 0)
		net_sock_deliver(s, s->in);
	drop_empty_input(s);
	if (s->ended)
		return;
	if (got == 0)
		net_sock_end(s, s->flushing ? NET_END_LOCAL : NET_END_PEER);
	else if (got == -2) {
		net_sock_log(s, BK_LOG_INFO, "socket error: %s", strerror(s->read_errno));
		net_sock_end(s, s->flushing ? NET_END_LOCAL : NET_END_ERROR);
	}
}

/* After a write: wait for the socket while output remains, give the
 * buffer back once it is empty (and the write event unless inside its
 * callback), and tell the owner when the output is at or below the low
 * watermark (half of output_high). */
static void
plain_wrote(struct net_sock *s, bool in_wev)
{
	size_t left = s->out ? evbuffer_get_length(s->out) : 0;

	if (left > 0)
		want_write(s);
	else {
		stop_write(s, !in_wev);
		if (s->out) {
			evbuffer_free(s->out);
			s->out = NULL;
		}
	}
	if (left <= s->l->cfg.output_high / 2)
		net_sock_drained(s);
}

void
net_sock_plain_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_sock *s = arg;
	int n = 0;

	if (s->ended)
		return;
	if (s->out && evbuffer_get_length(s->out) > 0)
		n = evbuffer_write_atmost(s->out, s->fd, PLAIN_MAX_WRITE);
	if (n < 0 && real_error(errno)) {
		if (!s->flushing)
			net_sock_log(s, BK_LOG_INFO, "socket error: %s", strerror(errno));
		net_sock_end(s, s->flushing ? NET_END_LOCAL : NET_END_ERROR);
		return;
	}
	plain_wrote(s, true);
}

int
net_sock_plain_new(struct net_sock *s)
{
	s->rev = event_new(s->base, s->fd, EV_READ | EV_PERSIST, plain_read_cb, s);
	if (s->rev == NULL)
		return -ENOMEM;
	event_add(s->rev, NULL);
	return 0;
}

void
net_sock_plain_free(struct net_sock *s)
{
	if (s->rev)
		event_free(s->rev);
	if (s->wev)
		event_free(s->wev);
	if (s->in)
		evbuffer_free(s->in);
	if (s->out)
		evbuffer_free(s->out);
	evutil_closesocket(s->fd);
}

void
net_sock_plain_want_write(struct net_sock *s)
{
	want_write(s);
}

/* Ask for writability (once: this is on the path of every append). */
static void
want_write(struct net_sock *s)
{
	if (s->wev_on)
		return;
	if (s->wev == NULL)
		s->wev = event_new(s->base, s->fd, EV_WRITE | EV_PERSIST,
				   net_sock_plain_write_cb, s);
	event_add(s->wev, NULL);
	s->wev_on = true;
}

/* Stop asking; free the event too when not inside its callback. */
static void
stop_write(struct net_sock *s, bool release)
{
	if (s->wev == NULL)
		return;
	if (release) {
		event_free(s->wev);
		s->wev = NULL;
	} else if (s->wev_on)
		event_del(s->wev);
	s->wev_on = false;
}

void
net_sock_plain_events(struct net_sock *s, bool reading, bool writing)
{
	if (!reading)
		event_del(s->rev);
	else if (!event_pending(s->rev, EV_READ, NULL))
		event_add(s->rev, NULL);
	if (writing && s->out && evbuffer_get_length(s->out) > 0)
		want_write(s);
	else
		stop_write(s, false);
}

void
net_sock_plain_kick(struct net_sock *s)
{
	event_active(s->rev, EV_READ, 0);
}

void
net_sock_plain_write_now(struct net_sock *s)
{
	int n;

	if (s->ended || s->out == NULL || evbuffer_get_length(s->out) == 0)
		return;
	n = evbuffer_write_atmost(s->out, s->fd, PLAIN_MAX_WRITE);
	if (n < 0 && real_error(errno)) {
		/* The write event meets the error again and ends the socket
		 * from the loop, not from inside the owner's call. */
		want_write(s);
		return;
	}
	plain_wrote(s, false);
}
