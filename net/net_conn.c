/*
 * net_conn.c: one connection's life in the transport layer, the same for
 * every protocol and transport.
 *
 * The bufferevent the protocol reads and writes is the socket's, the TLS
 * one (bufferevent_openssl over the socket), or the WebSocket filter over
 * either; nothing above this file can tell them apart.
 *
 * Invariants:
 *  - Nothing is freed inline. net_conn_close() marks the connection and
 *    makes its reaper event active; the reaper calls ops->free() and
 *    frees the rest after every callback of this iteration has returned
 *    (Redis freeClientAsync). net_free() is the only other path.
 *  - Reading is on exactly when no pause reason is set. The transport's
 *    own reason is the output watermark: a connection whose output is
 *    over output_high is not read from until it drains to half of it,
 *    so a client that sends requests but never reads their answers
 *    cannot grow the broker's memory.
 *  - One timer per connection: the handshake (or request) deadline,
 *    which traffic does not extend, or the linger before a forced free.
 */
#include "net_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/tcp.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

/* libevent's 16 KiB per read / write would cost a syscall per few
 * messages; larger slices keep it near one per loop iteration. */
#define MAX_SINGLE_READ  (256 * 1024)
#define MAX_SINGLE_WRITE (1024 * 1024)

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void reaper_cb(evutil_socket_t fd, short what, void *arg);
static size_t unwritten(struct net_conn *nc);

void
net_conn_logv(const struct net_conn *nc, enum bk_log_level lvl, const char *fmt, va_list ap)
{
	char msg[1024];

	if (!bk_log_enabled(lvl))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	bk_log(lvl, "conn=%llu peer=%s proto=%s: %s", (unsigned long long)nc->id, nc->peer,
	       nc->l->name, msg);
}

void
net_conn_log(const struct net_conn *nc, enum bk_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_conn_logv(nc, lvl, fmt, ap);
	va_end(ap);
}

static void
timer_arm(struct net_conn *nc, enum net_timer_mode mode, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_del(nc->timer);
	nc->timer_mode = mode;
	if (mode != NET_TIMER_OFF)
		event_add(nc->timer, &tv);
}

/* Set up bev's callbacks, slices and watermark. */
static void
bev_setup(struct net_conn *nc, struct bufferevent *bev)
{
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, nc);
	bufferevent_set_max_single_read(bev, MAX_SINGLE_READ);
	bufferevent_set_max_single_write(bev, MAX_SINGLE_WRITE);
	bufferevent_setwatermark(bev, EV_WRITE, nc->l->cfg.output_high / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static struct bufferevent *
bev_new(struct net_conn *nc, evutil_socket_t fd)
{
	struct event_base *base = nc->net->base;
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev;
	SSL *ssl;

	if (nc->l->cfg.transport == NET_TCP || nc->l->cfg.transport == NET_WS)
		return bufferevent_socket_new(base, fd, opts);
	if ((ssl = net_tls_ssl_new(nc->l->cfg.tls)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
	if (bev)
		/* A peer that drops TCP without close_notify is EOF, not an error. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void
net_conn_accept(struct net_listener *l, evutil_socket_t fd, const struct sockaddr *sa,
		int salen)
{
	struct net *n = l->net;
	struct net_conn *nc = bk_calloc(1, sizeof(*nc));

	nc->net = n;
	nc->l = l;
	nc->id = n->next_id++;
	nc->fd = fd;
	net_sock_peer_format(sa, nc->peer, sizeof(nc->peer), &nc->peer_loopback);
	nc->peer_port = net_sock_host(sa, nc->peer_host, sizeof(nc->peer_host));
	nc->local_port = net_sock_local(fd, nc->local_host, sizeof(nc->local_host));
	net_sock_accepted(fd);
	nc->timer = event_new(n->base, -1, 0, timer_cb, nc);
	nc->reaper = event_new(n->base, -1, 0, reaper_cb, nc);
	nc->next = n->conns;
	if (n->conns)
		n->conns->prev = nc;
	n->conns = nc;
	n->nconns++;
	l->nconns++;
	if ((nc->bev = nc->raw = bev_new(nc, fd)) == NULL) {
		net_conn_log(nc, BK_LOG_WARNING, "cannot set up the connection");
		evutil_closesocket(fd);
		net_conn_close(nc);
		return;
	}
	bev_setup(nc, nc->bev);
	if (l->cfg.handshake_ms)
		timer_arm(nc, NET_TIMER_DEADLINE, l->cfg.handshake_ms);
	net_conn_log(nc, BK_LOG_DEBUG, "accepted connection");
	if (l->cfg.transport == NET_TCP)
		net_conn_open(nc);
}

void
net_conn_open(struct net_conn *nc)
{
	if (nc->opened || nc->free_pending)
		return;
	nc->ctx = nc->l->cfg.ops->open(nc->l->cfg.arg, nc);
	if (nc->ctx == NULL) {
		net_conn_close(nc);
		return;
	}
	nc->opened = true;
	/* Bytes that came with the handshake (a WebSocket upgrade followed
	 * at once by the first packet) are not announced again. */
	if (evbuffer_get_length(bufferevent_get_input(nc->bev)) > 0)
		read_cb(nc->bev, nc);
}

void
net_conn_ws_ready(struct net_conn *nc)
{
	bev_setup(nc, nc->bev);
	net_conn_open(nc);
	if (!nc->free_pending)
		bufferevent_trigger(nc->raw, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* Reading on exactly while no pause reason is set. */
static void
apply_pause(struct net_conn *nc)
{
	if (nc->free_pending || nc->flush_then_free)
		return;
	if (nc->paused)
		bufferevent_disable(nc->bev, EV_READ);
	else
		bufferevent_enable(nc->bev, EV_READ);
}

void
net_conn_pause(struct net_conn *nc, unsigned why, bool on)
{
	unsigned before = nc->paused;

	if (on)
		nc->paused |= why;
	else
		nc->paused &= ~why;
	if ((before == 0) == (nc->paused == 0))
		return;
	apply_pause(nc);
	/* What waited in the input while paused is not announced again. */
	if (nc->paused == 0 && nc->opened &&
	    evbuffer_get_length(bufferevent_get_input(nc->bev)) > 0)
		bufferevent_trigger(nc->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *nc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (nc->free_pending || nc->flush_then_free) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (!nc->opened) {
		if (nc->l->cfg.transport == NET_WS || nc->l->cfg.transport == NET_WSS)
			net_ws_handshake(nc);
		else
			net_conn_open(nc);      /* TLS data before the CONNECTED event */
		return;
	}
	if (nc->paused)
		return;
	if (net_conn_output_full(nc)) {
		net_conn_pause(nc, NET_PAUSE_OUTPUT, true);
		return;
	}
	nc->l->cfg.ops->read(nc->ctx);
	if (!nc->free_pending && net_conn_output_full(nc))
		net_conn_pause(nc, NET_PAUSE_OUTPUT, true);
}

/* Output drained to the low watermark (or to empty while flushing). */
static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *nc = arg;

	if (nc->free_pending)
		return;
	if (nc->flush_then_free) {
		if (unwritten(nc) == 0)
			net_conn_close(nc);
		return;
	}
	if (nc->paused & NET_PAUSE_OUTPUT)
		net_conn_pause(nc, NET_PAUSE_OUTPUT, false);
	if (nc->opened && nc->l->cfg.ops->writable)
		nc->l->cfg.ops->writable(nc->ctx);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_conn *nc = arg;
	char why[256];

	if (nc->free_pending)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done; a WebSocket still waits for its upgrade. */
		nc->tls_up = true;
		if (nc->l->cfg.transport == NET_TLS)
			net_conn_open(nc);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (!nc->opened)
			net_conn_log(nc, BK_LOG_INFO, "connection closed by peer during the %s",
				     net_conn_is_tls(nc) && !nc->tls_up ? "TLS handshake" :
				     "WebSocket upgrade");
		nc->end = NET_END_PEER;
	} else if (net_conn_is_tls(nc) && !nc->tls_up) {
		net_conn_log(nc, BK_LOG_INFO, "TLS handshake failed: %s",
			     net_tls_error(nc->raw, why, sizeof(why)));
		nc->end = NET_END_ERROR;
	} else {
		net_conn_log(nc, BK_LOG_INFO, "socket error: %s",
			     net_conn_is_tls(nc) ? net_tls_error(nc->raw, why, sizeof(why)) :
			     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		nc->end = NET_END_ERROR;
	}
	net_conn_close(nc);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *nc = arg;
	enum net_timer_mode mode = nc->timer_mode;

	nc->timer_mode = NET_TIMER_OFF;
	if (nc->free_pending)
		return;
	if (mode == NET_TIMER_DEADLINE)
		net_conn_log(nc, BK_LOG_INFO, "%s deadline passed: closing",
			     nc->opened ? "handshake" : "transport handshake");
	if (mode == NET_TIMER_DEADLINE)
		nc->end = NET_END_DEADLINE;
	net_conn_close(nc);
}

static void
reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *nc = arg;

	if (nc->deferred_wanted && !nc->free_pending) {
		nc->deferred_wanted = false;
		if (nc->opened && nc->l->cfg.ops->deferred)
			nc->l->cfg.ops->deferred(nc->ctx);
	}
	if (nc->free_pending)
		net_conn_free(nc, nc->end);
}

void
net_conn_free(struct net_conn *nc, enum net_end why)
{
	void *ctx = nc->ctx;

	nc->free_pending = true;
	nc->ctx = NULL;
	if (nc->opened) {
		nc->opened = false;
		if (nc->deferred_wanted && nc->l->cfg.ops->deferred)
			nc->l->cfg.ops->deferred(ctx);
		nc->l->cfg.ops->free(ctx, why);
	}
	net_conn_gone(nc);
	event_free(nc->timer);
	event_free(nc->reaper);
	if (nc->bev)
		bufferevent_free(nc->bev);
	net_tls_info_free(nc->tls);
	bk_free(nc);
}

void
net_conn_close(struct net_conn *nc)
{
	if (nc->free_pending)
		return;
	nc->free_pending = true;
	if (nc->bev)
		bufferevent_disable(nc->bev, EV_READ | EV_WRITE);
	event_active(nc->reaper, 0, 0);
}

/* Bytes not yet written: the protocol's output and, under a WebSocket
 * filter, what the filter already framed into the raw output. */
static size_t
unwritten(struct net_conn *nc)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(nc->bev));

	if (nc->raw != nc->bev)
		n += evbuffer_get_length(bufferevent_get_output(nc->raw));
	return n;
}

/* The raw output under a filter changed while flushing before a close. */
static void
raw_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct net_conn *nc = arg;

	if (nc->flush_then_free && !nc->free_pending && info->n_deleted && unwritten(nc) == 0)
		net_conn_close(nc);
}

void
net_conn_close_after_flush(struct net_conn *nc, uint32_t ms)
{
	if (nc->free_pending || nc->flush_then_free)
		return;
	if (unwritten(nc) == 0) {
		net_conn_close(nc);
		return;
	}
	nc->flush_then_free = true;
	bufferevent_disable(nc->bev, EV_READ);
	/* The write callback fires once the output is empty; under a filter
	 * the raw output tells when the framed bytes have left too. */
	bufferevent_setwatermark(nc->bev, EV_WRITE, 0, 0);
	bufferevent_enable(nc->bev, EV_WRITE);
	if (nc->raw != nc->bev)
		evbuffer_add_cb(bufferevent_get_output(nc->raw), raw_out_cb, nc);
	timer_arm(nc, NET_TIMER_LINGER, ms);
}

void
net_conn_close_in(struct net_conn *nc, uint32_t ms)
{
	if (!nc->free_pending)
		timer_arm(nc, NET_TIMER_LINGER, ms);
}

bool
net_conn_closing(const struct net_conn *nc)
{
	return nc->free_pending || nc->flush_then_free;
}

void
net_conn_defer(struct net_conn *nc)
{
	nc->deferred_wanted = true;
	event_active(nc->reaper, 0, 0);
}

void
net_conn_ready(struct net_conn *nc)
{
	if (nc->timer_mode == NET_TIMER_DEADLINE)
		timer_arm(nc, NET_TIMER_OFF, 0);
}

void
net_conn_deadline(struct net_conn *nc, uint32_t ms)
{
	if (!nc->free_pending && nc->timer_mode != NET_TIMER_LINGER)
		timer_arm(nc, ms ? NET_TIMER_DEADLINE : NET_TIMER_OFF, ms);
}

struct evbuffer *
net_conn_input(struct net_conn *nc)
{
	return bufferevent_get_input(nc->bev);
}

struct evbuffer *
net_conn_output(struct net_conn *nc)
{
	return bufferevent_get_output(nc->bev);
}

size_t
net_conn_output_len(struct net_conn *nc)
{
	return evbuffer_get_length(bufferevent_get_output(nc->bev));
}

bool
net_conn_output_full(struct net_conn *nc)
{
	return net_conn_output_len(nc) > nc->l->cfg.output_high;
}

const char *
net_conn_peer(const struct net_conn *nc)
{
	return nc->peer;
}

bool
net_conn_peer_is_loopback(const struct net_conn *nc)
{
	return nc->peer_loopback;
}

uint64_t
net_conn_id(const struct net_conn *nc)
{
	return nc->id;
}

struct event_base *
net_conn_base(const struct net_conn *nc)
{
	return nc->net->base;
}

bool
net_conn_is_tls(const struct net_conn *nc)
{
	return nc->l->cfg.transport == NET_TLS || nc->l->cfg.transport == NET_WSS;
}

void
net_conn_fill_info(struct net_conn *nc, struct bk_conn_info *info)
{
	info->peer_host = nc->peer_host;
	info->peer_port = nc->peer_port;
	info->host = nc->local_host;
	info->port = nc->local_port;
	info->ssl = net_conn_is_tls(nc);
}

void
net_conn_describe(struct net_conn *nc, struct bk_conn_state *st)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	st->send_pend = net_conn_output_len(nc);
	memset(&ti, 0, sizeof(ti));
	/* The kernel counts what crossed the socket; nothing on the hot path. */
	if (getsockopt(nc->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
		st->recv_oct = ti.tcpi_bytes_received;
		st->send_oct = ti.tcpi_bytes_acked;
	}
	if (!net_conn_is_tls(nc) || !nc->opened)
		return;
	if (nc->tls == NULL) {
		nc->tls = bk_calloc(1, sizeof(*nc->tls));
		net_tls_info_fill(nc->raw, nc->tls);
	}
	st->ssl_protocol = nc->tls->protocol;
	st->ssl_cipher = nc->tls->cipher;
	st->peer_cert_subject = nc->tls->subject;
	st->peer_cert_issuer = nc->tls->issuer;
	st->peer_cert_validity = nc->tls->validity;
}

int
net_conn_peer_identity(struct net_conn *nc, bool want_dn, char *buf, size_t cap)
{
	if (!net_conn_is_tls(nc))
		return -ENOENT;
	return net_tls_peer_identity(nc->raw, want_dn, buf, cap);
}
