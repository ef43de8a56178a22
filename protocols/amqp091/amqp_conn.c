/*
 * amqp_conn.c: one AMQP 0-9-1 connection's lifetime: accept, timers
 * (handshake timeout, heartbeats, close waits), connection errors, the
 * channel table, and the deferred free.
 *
 * Invariants:
 *  - Nothing here frees inline from a callback that came from the core or
 *    from channel code. Closed channels go to the dead list and the
 *    connection to free_pending; the reaper event frees both later in the
 *    same loop iteration (Redis freeClientAsync).
 *  - One timer per connection; timer_mode says what it is for.
 *  - Once state >= CLOSING the channel slots are empty: consumers are gone
 *    and only connection.close / close-ok are read.
 *
 * Connection errors follow RabbitMQ's rabbit_reader: before the client is
 * authenticated a failure closes the socket silently after a delay, except
 * an access refusal to a client announcing authentication_failure_close
 * and a NOT_ALLOWED while tuning, which get a connection.close.
 */
#include "amqp_conn_int.h"
#include "net_sock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void reaper_cb(evutil_socket_t fd, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

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


struct amqp_conn *
amqp_conn_new(struct amqp_listener *l, evutil_socket_t fd,
	      const struct sockaddr *sa, int salen)
{
	struct amqp_conn_priv *p = bk_calloc(1, sizeof(*p));
	struct amqp_conn *c = &p->c;

	c->id = l->next_id++;
	c->listener = l;
	c->broker = l->broker;
	c->state = AMQP_CONN_HEADER;
	c->frame_max = AMQP_INITIAL_FRAME_MAX;
	p->cfg = &l->cfg;
	bk_net_peer_format(sa, c->peer, sizeof(c->peer), &c->peer_is_loopback);
	amqp_conn_mgmt_register(c, fd, sa);
	bk_net_accepted(fd);
	c->bev = bk_net_bev_new(l->base, fd, amqp_conn_read_cb, amqp_conn_write_cb, event_cb,
				c, p->cfg->output_high_watermark);
	p->timer = event_new(l->base, -1, 0, timer_cb, c);
	p->reaper = event_new(l->base, -1, 0, reaper_cb, c);
	amqp_conn_timer_set(c, AMQP_TIMER_HANDSHAKE, p->cfg->handshake_timeout_ms);
	amqp_conn_log(c, BK_LOG_INFO, "accepted connection");
	return c;
}

void
amqp_conn_log(const struct amqp_conn *c, enum bk_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!bk_log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bk_log(lvl, "conn=%llu peer=%s proto=amqp: %s",
	       (unsigned long long)c->id, c->peer, msg);
}

void
amqp_conn_timer_set(struct amqp_conn *c, enum amqp_timer_mode mode, uint32_t ms)
{
	struct amqp_conn_priv *p = conn_priv(c);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_del(p->timer);
	p->timer_mode = mode;
	if (mode != AMQP_TIMER_OFF)
		event_add(p->timer, &tv);
}

/* Heartbeat tick, every heartbeat/2 seconds as RabbitMQ's heartbeater:
 * send one if nothing went out since the last tick; drop the peer after
 * two whole heartbeat intervals of silence. */
static void
heartbeat_tick(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	amqp_conn_timer_set(c, AMQP_TIMER_HEARTBEAT, c->heartbeat * 500u);
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

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct amqp_conn *c = arg;
	struct amqp_conn_priv *p = conn_priv(c);

	switch (p->timer_mode) {
	case AMQP_TIMER_HANDSHAKE:
		amqp_conn_log(c, BK_LOG_INFO, "handshake timeout in state %s",
			      amqp_conn_state_name(c->state));
		amqp_conn_free(c);
		break;
	case AMQP_TIMER_HEARTBEAT:
		heartbeat_tick(c);
		break;
	case AMQP_TIMER_FREE:
		amqp_conn_free(c);
		break;
	case AMQP_TIMER_OFF:
		break;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct amqp_conn *c = arg;

	if (conn_priv(c)->free_pending)
		return;
	if (what & BEV_EVENT_EOF)
		/* Expected while closing: many clients skip close-ok. */
		amqp_conn_log(c, c->state >= AMQP_CONN_CLOSING ? BK_LOG_DEBUG : BK_LOG_INFO,
			      "connection closed by peer in state %s",
			      amqp_conn_state_name(c->state));
	else
		amqp_conn_log(c, BK_LOG_INFO, "socket error in state %s: %s",
			      amqp_conn_state_name(c->state),
			      evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	amqp_conn_free_later(c);
}

void
amqp_conn_free_later(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (p->free_pending)
		return;
	p->free_pending = true;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(p->reaper, 0, 0);
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
	struct amqp_conn_priv *p = conn_priv(c);

	c->state = AMQP_CONN_CLOSED;
	amqp_conn_stop_reading(c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		amqp_conn_free_later(c);
		return;
	}
	p->flush_then_free = true;
	/* The write callback fires once the output is empty. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	amqp_conn_timer_set(c, AMQP_TIMER_FREE, AMQP_FLUSH_WAIT_MS);
}

/* Move every open channel to the dead list; the reaper frees them. Safe
 * from inside channel code (the caller's channel stays valid until then). */
static void
drop_channels(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (!c->channels)
		return;
	for (uint32_t i = 1; i <= c->channel_max && p->nchannels > 0; i++)
		if (c->channels[i])
			amqp_conn_channel_closed(c, (uint16_t)i);
	event_active(p->reaper, 0, 0);
}

void
amqp_conn_channel_closed(struct amqp_conn *c, uint16_t channel)
{
	struct amqp_conn_priv *p = conn_priv(c);
	struct amqp_channel *ch;

	if (!c->channels || channel == 0 || channel > c->channel_max ||
	    !(ch = c->channels[channel]))
		return;
	c->channels[channel] = NULL;
	p->nchannels--;
	if (p->ndead == p->dead_cap) {
		p->dead_cap = p->dead_cap ? p->dead_cap * 2 : 8;
		p->dead = bk_realloc(p->dead, p->dead_cap * sizeof(*p->dead));
	}
	p->dead[p->ndead++] = ch;
	event_active(p->reaper, 0, 0);
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

static void
reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct amqp_conn *c = arg;
	struct amqp_conn_priv *p = conn_priv(c);

	free_dead_channels(p);
	if (p->free_pending) {
		amqp_conn_free(c);
		return;
	}
	/* A server-side close drops exclusive queues now, as RabbitMQ does,
	 * not when close-ok arrives. */
	if (c->state >= AMQP_CONN_CLOSING)
		amqp_conn_release_owner(c);
}

void
amqp_conn_free(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (!c)
		return;
	p->free_pending = true;
	amqp_conn_free_channels(c);
	amqp_conn_release_owner(c);
	amqp_listener_conn_gone(c->listener, c);
	amqp_conn_mgmt_unregister(c);
	if (p->timer)
		event_free(p->timer);
	if (p->reaper)
		event_free(p->reaper);
	if (c->bev)
		bufferevent_free(c->bev);
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
	amqp_conn_timer_set(c, AMQP_TIMER_FREE, wait_ms);
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
	struct amqp_conn_priv *p = conn_priv(c);
	char text[512], detail[400];
	va_list ap;

	if (p->free_pending || c->state >= AMQP_CONN_CLOSING)
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
	amqp_conn_timer_set(c, AMQP_TIMER_FREE, AMQP_SILENT_CLOSE_MS);
}

void
amqp_conn_shutdown(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (p->free_pending)
		return;
	if (c->state == AMQP_CONN_RUNNING) {
		amqp_conn_log(c, BK_LOG_INFO, "closing: broker shutdown");
		send_close(c, AMQP_CONNECTION_FORCED, 0,
			   "CONNECTION_FORCED - broker forced connection closure "
			   "with reason 'shutdown'", AMQP_SHUTDOWN_WAIT_MS);
		return;
	}
	if (c->state == AMQP_CONN_CLOSING || p->flush_then_free)
		return;     /* already finishing within its own short timer */
	amqp_conn_free_later(c);
}
