/*
 * net_sock.c: the socket's half of a connection (see net_int.h): the
 * bufferevent stack (TLS through bufferevent_openssl, or the WebSocket
 * filter of net_ws.c over a socket or TLS; a plain TCP socket is
 * net_sock_plain.c's, with events of its own), the transport handshakes,
 * reading and its pauses, and flushing before a close. It runs on the
 * thread whose loop owns the socket and reports upward through struct
 * net_sock_up; it knows nothing of protocols.
 *
 * Invariants:
 *  - Reading is on exactly when no pause reason is set. The socket's own
 *    reason is the output watermark: output over output_high stops
 *    reading until it drains to half of it, so a client that sends
 *    requests but never reads their answers cannot grow the broker's
 *    memory.
 *  - up->end is called at most once; after it nothing more is reported
 *    and the owner frees the sock when it is ready to (never inside a
 *    bufferevent callback: the owner defers).
 */
#include "net_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

/* libevent's 16 KiB per read / write would cost a syscall per few
 * messages; larger slices keep it near one per loop iteration (plain
 * TCP: net_sock_plain.c's own). */
#define MAX_SINGLE_READ  (256 * 1024)
#define MAX_SINGLE_WRITE (1024 * 1024)

static void read_cb(struct bufferevent *bev, void *arg);
static void read_input(struct net_sock *s, struct evbuffer *in);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void raw_drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
			 void *arg);

void
net_sock_log(const struct net_sock *s, enum bk_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!bk_log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bk_log(lvl, "conn=%llu peer=%s proto=%s: %s",
	       (unsigned long long)net_sock_conn_const(s)->id, net_sock_conn_const(s)->peer,
	       s->l->name, msg);
}

static bool
is_tls(const struct net_sock *s)
{
	return s->l->cfg.transport == NET_TLS || s->l->cfg.transport == NET_WSS;
}

static bool
plain(const struct net_sock *s)
{
	return s->bev == NULL;
}

static void
stop_events(struct net_sock *s)
{
	if (plain(s))
		net_sock_plain_events(s, false, false);
	else
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
}

static void
end(struct net_sock *s, enum net_end why)
{
	if (s->ended)
		return;
	s->ended = true;
	stop_events(s);
	s->up->end(s, why);
}

void
net_sock_end(struct net_sock *s, enum net_end why)
{
	end(s, why);
}

void
net_sock_deliver(struct net_sock *s, struct evbuffer *in)
{
	read_input(s, in);
}

void
net_sock_drained(struct net_sock *s)
{
	write_cb(NULL, s);
}

/* Set up bev's callbacks, slices and watermark. */
static void
bev_setup(struct net_sock *s, struct bufferevent *bev)
{
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, s);
	bufferevent_set_max_single_read(bev, MAX_SINGLE_READ);
	bufferevent_set_max_single_write(bev, MAX_SINGLE_WRITE);
	bufferevent_setwatermark(bev, EV_WRITE, s->l->cfg.output_high / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static struct bufferevent *
bev_new(struct net_sock *s, evutil_socket_t fd)
{
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev;
	SSL *ssl;

	if (!is_tls(s))
		return bufferevent_socket_new(net_poll_base(s->poll), fd, opts);
	if ((ssl = net_tls_ssl_new(s->l->cfg.tls)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(net_poll_base(s->poll), fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
	if (bev)
		/* A peer that drops TCP without close_notify is EOF, not an error. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_sock *s = arg;

	end(s, NET_END_LOCAL);
}

/* The transport is up: fill the TLS state, tell the owner, then hand over
 * what came with the handshake (a WebSocket upgrade followed at once by
 * the first packet is not announced again). */
static void
open_up(struct net_sock *s)
{
	if (s->open || s->ended)
		return;
	s->open = true;
	if (is_tls(s)) {
		s->tls = bk_calloc(1, sizeof(*s->tls));
		net_tls_info_fill(s->raw, s->tls);
	}
	s->up->open(s);
	net_sock_kick(s);
}

int
net_sock_init(struct net_sock *s, struct net_listener *l, struct net_poll *poll,
	      const struct net_sock_up *up)
{
	evutil_socket_t fd = s->fd;

	s->l = l;
	s->poll = poll;
	net_addr_accepted(fd);
	if (l->cfg.transport == NET_TCP) {
		if (net_sock_plain_new(s) < 0) {
			net_sock_log(s, BK_LOG_WARNING, "cannot set up the connection");
			net_sock_plain_free(s);
			return -1;
		}
	} else if ((s->bev = s->raw = bev_new(s, fd)) == NULL) {
		net_sock_log(s, BK_LOG_WARNING, "cannot set up the connection");
		evutil_closesocket(fd);
		return -1;
	} else
		bev_setup(s, s->bev);
	s->up = up;
	return 0;
}

void
net_sock_start(struct net_sock *s)
{
	if (s->l->cfg.transport == NET_TCP)
		open_up(s);
}

void
net_sock_fini(struct net_sock *s)
{
	if (!s || !s->up)
		return;
	s->up = NULL;
	if (s->linger)
		event_free(s->linger);
	if (plain(s))
		net_sock_plain_free(s);
	else {
		if (s->raw != s->bev)
			evbuffer_remove_cb(bufferevent_get_output(s->raw), raw_drain_cb, s);
		bufferevent_free(s->bev);
	}
	if (s->tls) {
		net_tls_info_fini(s->tls);
		bk_free(s->tls);
	}
}

void
net_sock_shut(struct net_sock *s)
{
	if (s->ended)
		return;
	s->ended = true;
	stop_events(s);
}

/*
 * The raw output under a WebSocket filter drained. The filter's write
 * callback runs only when the filter itself moved output, so a socket
 * paused (or a protocol waiting) on output that sat in the raw buffer,
 * pongs alone for one, would wait forever: once the whole output falls
 * to the low watermark, run the write callback (deferred) as a plain
 * socket's would.
 */
static void
raw_drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct net_sock *s = arg;
	size_t low = s->l->cfg.output_high / 2, now, before;

	if (info->n_deleted == 0 || s->ended || s->flushing || s->up == NULL)
		return;
	now = net_sock_output_len(s);
	before = now - info->n_added + info->n_deleted;
	if (now <= low && (before > low || (s->paused & SOCK_PAUSE_OUTPUT)))
		bufferevent_trigger(s->bev, EV_WRITE,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
net_sock_ws_ready(struct net_sock *s)
{
	evbuffer_add_cb(bufferevent_get_output(s->raw), raw_drain_cb, s);
	bev_setup(s, s->bev);
	open_up(s);
	if (!s->ended)
		bufferevent_trigger(s->raw, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void
apply_pause(struct net_sock *s)
{
	if (s->ended || s->flushing)
		return;
	if (plain(s))
		net_sock_plain_events(s, s->paused == 0, true);
	else if (s->paused)
		bufferevent_disable(s->bev, EV_READ);
	else
		bufferevent_enable(s->bev, EV_READ);
}

void
net_sock_kick(struct net_sock *s)
{
	if (!s->open || s->ended || s->flushing || s->paused != 0)
		return;
	if (plain(s)) {
		if (s->in && evbuffer_get_length(s->in) > 0)
			net_sock_plain_kick(s);
	} else if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		bufferevent_trigger(s->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

void
net_sock_pause(struct net_sock *s, unsigned why, bool on)
{
	unsigned before = s->paused;

	if (on)
		s->paused |= why;
	else
		s->paused &= ~why;
	if ((before == 0) == (s->paused == 0))
		return;
	apply_pause(s);
	/* What waited in the input while paused is not announced again. */
	if (s->paused == 0)
		net_sock_kick(s);
}

/* Bytes not yet written: the output and, under a WebSocket filter, what
 * the filter already framed into the raw output (data frames, and the
 * pongs and close frames libwslay writes there itself). */
size_t
net_sock_output_len(struct net_sock *s)
{
	size_t n;

	if (plain(s))
		return s->out ? evbuffer_get_length(s->out) : 0;
	n = evbuffer_get_length(bufferevent_get_output(s->bev));
	if (s->raw != s->bev)
		n += evbuffer_get_length(bufferevent_get_output(s->raw));
	return n;
}

struct evbuffer *
net_sock_output(struct net_sock *s)
{
	if (!plain(s))
		return bufferevent_get_output(s->bev);
	/* The owner writes at the end of the iteration (net_sock_write_now);
	 * only what the socket does not take then waits for writability. */
	if (s->out == NULL)
		s->out = evbuffer_new();
	return s->out;
}

struct evbuffer *
net_sock_take_input(struct net_sock *s, struct evbuffer *in)
{
	struct evbuffer *buf;

	if (plain(s) && in == s->in) {
		s->in = NULL;
		return in;
	}
	buf = evbuffer_new();
	evbuffer_add_buffer(buf, in);
	return buf;
}

void
net_sock_send(struct net_sock *s, struct evbuffer *buf)
{
	if (plain(s) && s->out == NULL && !s->ended) {
		s->out = buf;           /* what the write leaves asks for the socket */
	} else {
		evbuffer_add_buffer(net_sock_output(s), buf);
		evbuffer_free(buf);
	}
	net_sock_write_now(s);
}

struct evbuffer *
net_sock_input(struct net_sock *s)
{
	if (!plain(s))
		return bufferevent_get_input(s->bev);
	if (s->in == NULL)
		s->in = evbuffer_new();
	return s->in;
}

static bool
output_full(struct net_sock *s)
{
	return net_sock_output_len(s) > s->l->cfg.output_high;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	read_input(arg, bufferevent_get_input(bev));
}

static void
read_input(struct net_sock *s, struct evbuffer *in)
{
	if (s->ended || s->flushing) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (!s->open) {
		if (s->l->cfg.transport == NET_WS || s->l->cfg.transport == NET_WSS)
			net_ws_handshake(s);
		else
			open_up(s);             /* TLS data before the CONNECTED event */
		return;
	}
	if (s->paused || output_full(s)) {
		if (!s->paused)
			net_sock_pause(s, SOCK_PAUSE_OUTPUT, true);
		/* A WebSocket the peer closed has nothing more coming. */
		if (net_ws_close_pending(s))
			net_sock_close_after_flush(s, 1000);
		return;
	}
	s->up->input(s, in);
	if (net_ws_close_pending(s) && !s->ended)
		net_sock_close_after_flush(s, 1000);
	else if (!s->ended && !s->flushing && output_full(s))
		net_sock_pause(s, SOCK_PAUSE_OUTPUT, true);
}

/*
 * Write the output at the end of the iteration that produced it rather
 * than an epoll round later (plain TCP: net_sock_plain.c). TLS and
 * WebSocket sockets leave it to their bufferevent.
 */
void
net_sock_write_now(struct net_sock *s)
{
	if (s && plain(s))
		net_sock_plain_write_now(s);
}

static size_t
unwritten(struct net_sock *s)
{
	return net_sock_output_len(s);
}

/* Output drained to the low watermark (or to empty while flushing). */
static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct net_sock *s = arg;

	if (s->ended)
		return;
	if (s->flushing) {
		if (unwritten(s) == 0)
			end(s, NET_END_LOCAL);
		return;
	}
	if (s->paused & SOCK_PAUSE_OUTPUT)
		net_sock_pause(s, SOCK_PAUSE_OUTPUT, false);
	if (s->open)
		s->up->writable(s);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_sock *s = arg;
	char why[256];

	if (s->ended)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done; a WebSocket still waits for its upgrade. */
		s->tls_up = true;
		if (s->l->cfg.transport == NET_TLS)
			open_up(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (!s->open)
			net_sock_log(s, BK_LOG_INFO, "connection closed by peer during the %s",
				     is_tls(s) && !s->tls_up ? "TLS handshake" :
				     "WebSocket upgrade");
		end(s, s->flushing ? NET_END_LOCAL : NET_END_PEER);
		return;
	}
	if (is_tls(s) && !s->tls_up)
		net_sock_log(s, BK_LOG_INFO, "TLS handshake failed: %s",
			     net_tls_error(s->raw, why, sizeof(why)));
	else if (!s->flushing)
		net_sock_log(s, BK_LOG_INFO, "socket error: %s",
			     is_tls(s) ? net_tls_error(s->raw, why, sizeof(why)) :
			     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	end(s, s->flushing ? NET_END_LOCAL : NET_END_ERROR);
}

/* The raw output under a filter changed while flushing before a close. */
static void
raw_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct net_sock *s = arg;

	if (s->flushing && !s->ended && info->n_deleted && unwritten(s) == 0)
		end(s, NET_END_LOCAL);
}

void
net_sock_close_after_flush(struct net_sock *s, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (s->ended || s->flushing)
		return;
	s->flushing = true;
	if (unwritten(s) == 0) {
		end(s, NET_END_LOCAL);
		return;
	}
	s->linger = event_new(net_poll_base(s->poll), -1, 0, linger_cb, s);
	event_add(s->linger, &tv);
	if (plain(s)) {
		net_sock_plain_events(s, false, true);
		return;
	}
	bufferevent_disable(s->bev, EV_READ);
	/* The write callback fires once the output is empty; under a filter
	 * the raw output tells when the framed bytes have left too. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_enable(s->bev, EV_WRITE);
	if (s->raw != s->bev)
		evbuffer_add_cb(bufferevent_get_output(s->raw), raw_out_cb, s);
}
