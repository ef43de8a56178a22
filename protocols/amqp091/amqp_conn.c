/*
 * amqp_conn.c: one AMQP 0-9-1 connection's lifetime on the transport
 * (net/): the ops the transport calls (open, read, writable, shutdown,
 * deferred work, free), heartbeats, connection errors and the channel
 * table.
 *
 * Invariants:
 *  - Nothing here frees inline from a callback that came from the core or
 *    from channel code. Closed channels go to the dead list and the
 *    transport's reaper runs conn_deferred() to free them later in the
 *    same loop iteration; the connection itself is freed only by the
 *    transport (conn_free) after net_conn_close*().
 *  - The handshake deadline and the waits before a forced free (close-ok,
 *    silent close) are the transport's one timer; heartbeats count the
 *    transport's shared tick (conn_tick).
 *  - Once state >= CLOSING the channel slots are empty: consumers are gone
 *    and only connection.close / close-ok are read.
 *
 * Connection errors follow RabbitMQ's rabbit_reader: before the client is
 * authenticated a failure closes the socket silently after a delay, except
 * an access refusal to a client announcing authentication_failure_close
 * and a NOT_ALLOWED while tuning, which get a connection.close.
 */
#include "amqp_conn_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {
	[AMQP_CONN_HEADER] = "pre_init", [AMQP_CONN_START_OK] = "starting",
	[AMQP_CONN_SECURE_OK] = "securing", [AMQP_CONN_TUNE_OK] = "tuning",
	[AMQP_CONN_OPEN] = "opening", [AMQP_CONN_RUNNING] = "running",
	[AMQP_CONN_CLOSING] = "closing", [AMQP_CONN_CLOSED] = "closed",
};

const char *
amqp_conn_state_name(enum amqp_conn_state st)
{
	return st <= AMQP_CONN_CLOSED ? state_names[st] : "unknown";
}

void
amqp_conn_log(const struct amqp_conn *c, enum bk_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_conn_logv(c->nc, lvl, fmt, ap);
	va_end(ap);
}

bool
amqp_conn_gone(const struct amqp_conn *c)
{
	return net_conn_closing(c->nc);
}

/* Heartbeat tick, every heartbeat/2 seconds as RabbitMQ's heartbeater:
 * send one if nothing went out since the last tick; drop the peer after
 * two whole heartbeat intervals of silence. The transport's shared tick
 * (every NET_TICK_MS = 0.5 s) counts the half seconds: no timer per
 * connection. */
static void
conn_tick(void *ctx)
{
	struct amqp_conn *c = ctx;
	struct amqp_conn_priv *p = conn_priv(c);

	if (!p->hb_on || ++p->hb_halves < c->heartbeat)
		return;
	p->hb_halves = 0;
	if (amqp_conn_gone(c) || c->state != AMQP_CONN_RUNNING)
		return;
	if (!p->tx_seen)
		amqp_conn_send_heartbeat(c);
	p->tx_seen = false;
	/* Silence while we do not read is ours, not the peer's. */
	if (p->rx_seen || p->flow_blocked) {
		p->rx_seen = false;
		p->rx_idle_ticks = 0;
		return;
	}
	if (++p->rx_idle_ticks >= 4) {
		amqp_conn_log(c, BK_LOG_INFO, "missed heartbeats from client, timeout: %us",
			      c->heartbeat);
		amqp_conn_free_later(c);
	}
}

void
amqp_conn_heartbeat_start(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (c->heartbeat == 0 || p->hb_on)
		return;
	p->hb_on = true;
	p->hb_halves = 0;
}

void
amqp_conn_free_later(struct amqp_conn *c)
{
	net_conn_close(c->nc);
}

void
amqp_conn_stop_reading(struct amqp_conn *c)
{
	/* The read callback drains the input once it is done with it. */
	conn_priv(c)->reading_stopped = true;
}

void
amqp_conn_flush_then_free(struct amqp_conn *c)
{
	c->state = AMQP_CONN_CLOSED;
	amqp_conn_stop_reading(c);
	net_conn_close_after_flush(c->nc, AMQP_FLUSH_WAIT_MS);
}

/* Move every open channel to the dead list; the reaper frees them. Safe
 * from inside channel code (the caller's channel stays valid until then). */
static void
drop_channels(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	for (uint32_t i = 1; i < c->chan_cap && p->nchannels > 0; i++)
		if (c->channels[i])
			amqp_conn_channel_closed(c, (uint16_t)i);
	net_conn_defer(c->nc);
}

void
amqp_conn_channel_closed(struct amqp_conn *c, uint16_t channel)
{
	struct amqp_conn_priv *p = conn_priv(c);
	struct amqp_channel *ch;

	if (channel == 0 || !(ch = amqp_conn_channel(c, channel)))
		return;
	c->channels[channel] = NULL;
	p->nchannels--;
	if (p->ndead == p->dead_cap) {
		p->dead_cap = p->dead_cap ? p->dead_cap * 2 : 8;
		p->dead = bk_realloc(p->dead, p->dead_cap * sizeof(*p->dead));
	}
	p->dead[p->ndead++] = ch;
	net_conn_defer(c->nc);
}

static void
free_dead_channels(struct amqp_conn_priv *p)
{
	/* amqp_channel_free() may requeue and so deliver to other channels
	 * of this connection, which may close more: loop until empty. */
	while (p->ndead > 0)
		amqp_channel_free(p->dead[--p->ndead]);
}

void
amqp_conn_free_channels(struct amqp_conn *c)
{
	drop_channels(c);
	free_dead_channels(conn_priv(c));
}

void
amqp_conn_release_owner(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (p->owner_released || !c->vhost)
		return;
	p->owner_released = true;
	bk_owner_gone(c->broker, (bk_owner)c);
}

/* net ops: the reaper runs what was deferred. */
static void
conn_deferred(void *ctx)
{
	struct amqp_conn *c = ctx;

	free_dead_channels(conn_priv(c));
	/* A server-side close drops exclusive queues now, as RabbitMQ does,
	 * not when close-ok arrives. */
	if (c->state >= AMQP_CONN_CLOSING)
		amqp_conn_release_owner(c);
}

/* net ops: the transport accepted a connection (TLS is up). */
static void *
conn_open(void *arg, struct net_conn *nc)
{
	struct amqp_listener *l = arg;
	struct amqp_conn_priv *p = bk_calloc(1, sizeof(*p));
	struct amqp_conn *c = &p->c;

	c->id = net_conn_id(nc);
	c->listener = l;
	c->broker = l->broker;
	c->nc = nc;
	c->base = l->base;
	c->peer = net_conn_peer(nc);
	c->peer_is_loopback = net_conn_peer_is_loopback(nc);
	c->state = AMQP_CONN_HEADER;
	c->frame_max = AMQP_INITIAL_FRAME_MAX;
	p->cfg = &l->cfg;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	amqp_conn_mgmt_register(c);
	amqp_conn_log(c, BK_LOG_INFO, "accepted connection");
	return c;
}

/* net ops: last call. */
static void
conn_free(void *ctx, enum net_end why)
{
	struct amqp_conn *c = ctx;
	struct amqp_conn_priv *p = conn_priv(c);
	struct amqp_listener *l = c->listener;

	if (why == NET_END_PEER)
		/* Expected while closing: many clients skip close-ok. */
		amqp_conn_log(c, c->state >= AMQP_CONN_CLOSING ? BK_LOG_DEBUG : BK_LOG_INFO,
			      "connection closed by peer in state %s",
			      amqp_conn_state_name(c->state));
	else if (why == NET_END_DEADLINE)
		amqp_conn_log(c, BK_LOG_INFO, "handshake timeout in state %s",
			      amqp_conn_state_name(c->state));
	amqp_conn_free_channels(c);
	amqp_conn_release_owner(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	amqp_conn_mgmt_unregister(c);
	bk_free(c->channels);
	bk_free(c->user);
	bk_free(p->dead);
	bk_free(p);
}

/* Send connection.close and wait wait_ms for close-ok. */
static void
send_close(struct amqp_conn *c, uint16_t code, uint32_t method_id,
	   const char *text, uint32_t wait_ms)
{
	struct amqp_method m = { .id = AMQP_CONNECTION_CLOSE };
	size_t len = strlen(text);

	m.u.connection_close.reply_code = code;
	m.u.connection_close.reply_text.p = text;
	m.u.connection_close.reply_text.len = (uint32_t)(len > 255 ? 255 : len);
	m.u.connection_close.class_id = AMQP_ID_CLASS(method_id);
	m.u.connection_close.method_id = AMQP_ID_METHOD(method_id);
	amqp_conn_send_method(c, 0, &m);
	c->state = AMQP_CONN_CLOSING;
	/* Read the close-ok even when a resource alarm stopped reading. */
	amqp_conn_flow_resume_reading(c);
	drop_channels(c);
	net_conn_close_in(c->nc, wait_ms);
}

/* Before running, RabbitMQ tells only some failures to the client. */
static bool
handshake_error_is_sent(const struct amqp_conn *c, uint16_t code)
{
	switch (c->state) {
	case AMQP_CONN_START_OK:
	case AMQP_CONN_SECURE_OK:
		return code == AMQP_ACCESS_REFUSED && c->cap_auth_failure_close;
	case AMQP_CONN_TUNE_OK:
		return code == AMQP_NOT_ALLOWED;
	case AMQP_CONN_OPEN:
	case AMQP_CONN_RUNNING:
		return true;
	default:
		return false;
	}
}

void
amqp_conn_close_or(struct amqp_conn *c, uint16_t code, uint32_t method_id,
		   const char *fmt, ...)
{
	char text[512], detail[400];
	va_list ap;

	if (amqp_conn_gone(c) || c->state >= AMQP_CONN_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), "%s - %s", amqp_code_name(code), detail);
	amqp_conn_log(c, BK_LOG_INFO, "connection error in state %s%s%s: %s",
		      amqp_conn_state_name(c->state), method_id ? ", method " : "",
		      method_id ? amqp_method_name(method_id) : "", text);
	if (handshake_error_is_sent(c, code)) {
		send_close(c, code, method_id, text, AMQP_CLOSE_WAIT_MS);
		return;
	}
	/* Silent close: ignore the peer for a while, then drop it. */
	c->state = AMQP_CONN_CLOSED;
	amqp_conn_stop_reading(c);
	drop_channels(c);
	net_conn_close_in(c->nc, AMQP_SILENT_CLOSE_MS);
}

/* net ops: the broker is stopping. */
static void
conn_shutdown(void *ctx)
{
	struct amqp_conn *c = ctx;

	if (amqp_conn_gone(c))
		return;
	if (c->state == AMQP_CONN_RUNNING) {
		amqp_conn_log(c, BK_LOG_INFO, "closing: broker shutdown");
		send_close(c, AMQP_CONNECTION_FORCED, 0,
			   "CONNECTION_FORCED - broker forced connection closure "
			   "with reason 'shutdown'", AMQP_SHUTDOWN_WAIT_MS);
		return;
	}
	if (c->state >= AMQP_CONN_CLOSING)
		return;     /* already finishing within its own short wait */
	amqp_conn_free_later(c);
}

const struct net_proto_ops amqp_net_ops = {
	.version = NET_PROTO_OPS_V1,
	.name = "amqp",
	.open = conn_open,
	.read = amqp_conn_read,
	.writable = amqp_conn_writable,
	.shutdown = conn_shutdown,
	.deferred = conn_deferred,
	.free = conn_free,
	.tick = conn_tick,
};
