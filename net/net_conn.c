/*
 * net_conn.c: the core's half of a connection (see net_int.h), what
 * protocols call: input and output buffers, pauses, deadlines, closing,
 * deferred work, and what management shows.
 *
 * Without I/O threads the socket half is on the same loop and reports
 * straight into the net_conn_on_*() functions below; the protocol reads
 * and writes the socket's own buffers. With I/O threads net_io.c delivers
 * the same news as messages, and the protocol reads and writes nc->in and
 * nc->out, which net_io.c fills and empties a batch at a time.
 *
 * Invariants:
 *  - Nothing is freed inline. net_conn_close() marks the connection and
 *    queues it for the reaper (one event of struct net runs every queued
 *    connection's reaper); the reaper calls ops->free() after every
 *    callback of this iteration has returned (Redis freeClientAsync).
 *    The struct itself goes once the socket half has ended too (with I/O
 *    threads that is a message later).
 *  - At most one timer per connection, made when armed and freed when
 *    turned off: the handshake (or request) deadline, which traffic does
 *    not extend, or the linger before a forced close.
 *  - What an idle connection holds is what it must: with I/O threads its
 *    input and output buffers exist only while they hold bytes (made by
 *    net_conn_input/net_conn_output, freed once read / shipped).
 */
#include "net_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/tcp.h>

static void timer_cb(evutil_socket_t fd, short what, void *arg);

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

/* The timer's mode, with net's count of connections in their handshake. */
static void
mode_set(struct net_conn *nc, enum net_timer_mode mode)
{
	struct net *n = nc->l->net;

	if (nc->timer_mode == NET_TIMER_HANDSHAKE && mode != NET_TIMER_HANDSHAKE) {
		n->nhandshakes--;
		if (nc->pprev) {                /* from hs to conns */
			net_conn_unlink(nc);
			net_conn_link(nc, false);
		}
	} else if (nc->timer_mode != NET_TIMER_HANDSHAKE && mode == NET_TIMER_HANDSHAKE) {
		n->nhandshakes++;               /* at accept, on hs already */
	}
	nc->timer_mode = mode;
}

static void
timer_arm(struct net_conn *nc, enum net_timer_mode mode, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	mode_set(nc, mode);
	if (mode == NET_TIMER_OFF) {
		if (nc->timer)
			event_free(nc->timer);
		nc->timer = NULL;
		return;
	}
	if (nc->timer == NULL)
		nc->timer = event_new(nc->l->net->base, -1, 0, timer_cb, nc);
	else
		event_del(nc->timer);
	event_add(nc->timer, &tv);
}

/* ---- the socket half's news (direct upcalls without I/O threads) ---- */

static void
up_open(struct net_sock *s)
{
	net_conn_on_open(net_sock_conn(s));
}

static void
up_input(struct net_sock *s, struct evbuffer *in)
{
	net_conn_on_input(net_sock_conn(s));
}

static void
up_writable(struct net_sock *s)
{
	net_conn_on_writable(net_sock_conn(s));
}

static void
up_end(struct net_sock *s, enum net_end why)
{
	net_conn_on_end(net_sock_conn(s), why);
}

static const struct net_sock_up direct_up = {
	.open = up_open, .input = up_input, .writable = up_writable, .end = up_end,
};

/* The connection's block, its peer's and local addresses at the end. */
static struct net_conn *
conn_new(const struct sockaddr *sa, evutil_socket_t fd)
{
	char peer[64], host[48], local[48];
	struct net_conn zero = { 0 }, *nc;
	size_t a, b, c;

	net_addr_peer_format(sa, peer, sizeof(peer), &zero.peer_loopback);
	zero.peer_port = net_addr_host(sa, host, sizeof(host));
	zero.local_port = net_addr_local(fd, local, sizeof(local));
	a = strlen(peer) + 1;
	b = strlen(host) + 1;
	c = strlen(local) + 1;
	nc = bk_malloc(sizeof(*nc) + a + b + c);
	*nc = zero;
	memcpy(nc->peer, peer, a);
	memcpy(nc->peer + a, host, b);
	memcpy(nc->peer + a + b, local, c);
	return nc;
}

void
net_conn_accept(struct net_listener *l, evutil_socket_t fd, const struct sockaddr *sa,
		int salen)
{
	struct net *n = l->net;
	struct net_conn *nc = conn_new(sa, fd);

	nc->l = l;
	nc->id = n->next_id++;
	nc->sock_half.fd = fd;          /* read by both threads, written only here */
	net_conn_link(nc, l->cfg.handshake_ms != 0);
	n->nconns++;
	l->nconns++;
	net_conn_tick_start(n);
	if (l->cfg.handshake_ms)
		timer_arm(nc, NET_TIMER_HANDSHAKE, l->cfg.handshake_ms);
	net_conn_log(nc, BK_LOG_DEBUG, "accepted connection");
	if (n->io) {
		net_io_attach(nc, fd);
		return;
	}
	if (n->poll == NULL)
		n->poll = net_poll_new(n->base);
	if (n->poll == NULL || net_sock_init(&nc->sock_half, l, n->poll, &direct_up) < 0) {
		if (n->poll == NULL)
			evutil_closesocket(fd);
		nc->sock_gone = true;
		net_conn_close(nc);
		return;
	}
	nc->direct = true;
	net_sock_start(net_conn_sock(nc));
}

void
net_conn_on_open(struct net_conn *nc)
{
	if (nc->opened || nc->free_pending)
		return;
	if (net_conn_sock(nc))
		nc->tls = net_conn_sock(nc)->tls;
	nc->ctx = nc->l->cfg.ops->open(nc->l->cfg.arg, nc);
	if (nc->ctx == NULL) {
		net_conn_close(nc);
		return;
	}
	nc->opened = true;
}

void
net_conn_on_input(struct net_conn *nc)
{
	size_t before;

	if (!nc->opened || nc->free_pending || nc->flush_then_free || nc->paused)
		return;
	if (net_conn_io(nc) == NULL) {
		nc->l->cfg.ops->read(nc->ctx);
		return;
	}
	before = nc->in ? evbuffer_get_length(nc->in) : 0;
	nc->l->cfg.ops->read(nc->ctx);
	net_io_consumed(nc, before);
	/* Read to the end: an idle connection keeps no input buffer. */
	if (nc->in && evbuffer_get_length(nc->in) == 0) {
		evbuffer_free(nc->in);
		nc->in = NULL;
	}
}

void
net_conn_on_writable(struct net_conn *nc)
{
	if (nc->opened && !nc->free_pending && nc->l->cfg.ops->writable)
		nc->l->cfg.ops->writable(nc->ctx);
}

void
net_conn_on_end(struct net_conn *nc, enum net_end why)
{
	nc->sock_gone = true;
	if (!nc->free_pending) {
		nc->end = why;
		nc->free_pending = true;
	}
	net_conn_reap_soon(nc);
}

void
net_conn_pause(struct net_conn *nc, unsigned why, bool on)
{
	unsigned before = nc->paused;

	if (on)
		nc->paused |= why;
	else
		nc->paused &= ~why;
	if ((before == 0) == (nc->paused == 0) || nc->free_pending)
		return;
	if (net_conn_sock(nc)) {
		net_sock_pause(net_conn_sock(nc), why, on);
		return;
	}
	net_io_pause(nc, why, on);
	/* Input that waited in nc->in is read from the reaper, never inside
	 * the caller (the core). */
	if (nc->paused == 0 && nc->in && evbuffer_get_length(nc->in) > 0)
		net_conn_reap_soon(nc);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *nc = arg;
	enum net_timer_mode mode = nc->timer_mode;

	mode_set(nc, NET_TIMER_OFF);
	if (nc->free_pending)
		return;
	if (mode == NET_TIMER_HANDSHAKE || mode == NET_TIMER_DEADLINE) {
		net_conn_log(nc, BK_LOG_INFO, "%s deadline passed: closing",
			     nc->opened ? "handshake" : "transport handshake");
		nc->end = NET_END_DEADLINE;
	}
	net_conn_close(nc);
}

void
net_conn_reap(struct net_conn *nc)
{
	if (nc->deferred_wanted && !nc->free_pending) {
		nc->deferred_wanted = false;
		if (nc->opened && nc->l->cfg.ops->deferred)
			nc->l->cfg.ops->deferred(nc->ctx);
	}
	if (nc->free_pending) {
		net_conn_free(nc, nc->end);
		return;
	}
	/* With I/O threads: input that waited while reading was paused. */
	if (nc->in && evbuffer_get_length(nc->in) > 0)
		net_conn_on_input(nc);
}

/* The protocol's last call. */
void
net_conn_drop_protocol(struct net_conn *nc, enum net_end why)
{
	void *ctx = nc->ctx;

	if (!nc->opened)
		return;
	nc->opened = false;
	nc->ctx = NULL;
	if (nc->deferred_wanted && nc->l->cfg.ops->deferred)
		nc->l->cfg.ops->deferred(ctx);
	nc->l->cfg.ops->free(ctx, why);
}

void
net_conn_free(struct net_conn *nc, enum net_end why)
{
	nc->free_pending = true;
	if (nc->timer_mode == NET_TIMER_HANDSHAKE)
		mode_set(nc, NET_TIMER_OFF);            /* no longer counted; the
							   timer_cb ignores a free */
	net_conn_drop_protocol(nc, why);
	/* With I/O threads the socket half still holds this struct until it
	 * says it ended (CLOSED); net_free may free it regardless (the
	 * threads have stopped by then). */
	if (net_conn_io(nc) && !nc->sock_gone && !nc->l->net->io_stopped)
		return;
	net_conn_gone(nc);
	net_conn_dirty_unlink(nc);
	net_conn_reap_unlink(nc);
	if (nc->timer)
		event_free(nc->timer);
	if (nc->in)
		evbuffer_free(nc->in);
	if (nc->out)
		evbuffer_free(nc->out);
	if (net_conn_io(nc)) {
		net_io_release(nc);             /* the I/O half frees the block */
		return;
	}
	net_sock_fini(net_conn_sock(nc));
	bk_free(nc);
}

void
net_conn_close(struct net_conn *nc)
{
	if (nc->free_pending)
		return;
	nc->free_pending = true;
	if (net_conn_sock(nc))
		net_sock_shut(net_conn_sock(nc));
	else if (net_conn_io(nc) && !nc->sock_gone)
		net_io_close(nc, false, 0);
	net_conn_reap_soon(nc);
}

void
net_conn_close_after_flush(struct net_conn *nc, uint32_t ms)
{
	if (nc->free_pending || nc->flush_then_free)
		return;
	nc->flush_then_free = true;
	if (net_conn_sock(nc))
		net_sock_close_after_flush(net_conn_sock(nc), ms);
	else if (net_conn_io(nc) && !nc->sock_gone)
		net_io_close(nc, true, ms);
	else
		net_conn_close(nc);
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
	net_conn_reap_soon(nc);
}

void
net_conn_deadline_stop(struct net_conn *nc)
{
	timer_arm(nc, NET_TIMER_OFF, 0);
}

void
net_conn_ready(struct net_conn *nc)
{
	if (nc->timer_mode == NET_TIMER_HANDSHAKE || nc->timer_mode == NET_TIMER_DEADLINE)
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
	if (net_conn_sock(nc))
		return net_sock_input(net_conn_sock(nc));
	if (nc->in == NULL)
		nc->in = evbuffer_new();
	return nc->in;
}

struct evbuffer *
net_conn_output(struct net_conn *nc)
{
	/* Whoever asks is about to append: the connection is due for a
	 * write (or, with I/O threads, a shipment) at the end of the
	 * iteration. Either buffer is made on demand and let go once empty. */
	net_conn_mark_dirty(nc);
	if (net_conn_sock(nc))
		return net_sock_output(net_conn_sock(nc));
	if (nc->out == NULL)
		nc->out = evbuffer_new();
	return nc->out;
}

size_t
net_conn_output_len(struct net_conn *nc)
{
	if (net_conn_sock(nc))
		return net_sock_output_len(net_conn_sock(nc));
	return net_conn_io(nc) ? net_io_output_len(nc) : 0;
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
	return nc->l->net->base;
}

bool
net_conn_is_tls(const struct net_conn *nc)
{
	return nc->l->cfg.transport == NET_TLS || nc->l->cfg.transport == NET_WSS;
}

void
net_conn_fill_info(struct net_conn *nc, struct bk_conn_info *info)
{
	const char *peer_host = nc->peer + strlen(nc->peer) + 1;

	info->peer_host = peer_host;
	info->peer_port = nc->peer_port;
	info->host = peer_host + strlen(peer_host) + 1;
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
	if (!nc->sock_gone &&
	    getsockopt(nc->sock_half.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
		st->recv_oct = ti.tcpi_bytes_received;
		st->send_oct = ti.tcpi_bytes_acked;
	}
	if (!net_conn_is_tls(nc) || nc->tls == NULL || nc->tls->protocol[0] == '\0')
		return;
	st->ssl_protocol = nc->tls->protocol;
	st->ssl_cipher = nc->tls->cipher;
	st->peer_cert_subject = nc->tls->subject;
	st->peer_cert_issuer = nc->tls->issuer;
	st->peer_cert_validity = nc->tls->validity;
}

int
net_conn_peer_identity(struct net_conn *nc, bool want_dn, char *buf, size_t cap)
{
	const char *id;

	if (!net_conn_is_tls(nc) || nc->tls == NULL)
		return -ENOENT;
	if ((id = want_dn ? nc->tls->dn : nc->tls->cn) == NULL)
		return -ENOENT;
	if (strlen(id) >= cap)
		return -ENAMETOOLONG;
	snprintf(buf, cap, "%s", id);
	return 0;
}
