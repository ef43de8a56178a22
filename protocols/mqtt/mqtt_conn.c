/*
 * mqtt_conn.c: one MQTT connection's lifetime on the transport (net/):
 * the ops the transport calls (open, read, writable, shutdown, free), the
 * keepalive, connection errors and resource-alarm flow.
 *
 * Invariants:
 *  - Nothing frees a connection inline from a core callback or from
 *    packet handling: every path ends in mqtt_conn_free_later() or
 *    mqtt_conn_flush_then_free(), and the transport's reaper then calls
 *    conn_free().
 *  - Once state is CLOSING, input is ignored and drained; only what is
 *    already in the output (e.g. a DISCONNECT) still leaves.
 *  - The will is handled once, in conn_free(): published (or handed to
 *    the session for its delay) unless the client ended with a normal
 *    DISCONNECT or the broker is stopping.
 *  - The CONNECT deadline is the transport's handshake deadline
 *    (connect_timeout); a valid CONNECT ends it (net_conn_ready).
 *
 * Keepalive [MQTT-3.1.2-24]: the connection is dropped when nothing
 * arrived for 1.5 times the keepalive, as the transport's tick (every
 * NET_TICK_MS, for all connections at once) finds it, so at most one tick
 * later: a connection holds no timer for it. The only timer of its own is
 * the end of a slow-down (mqtt_conn_pace), made at the first. The tick
 * also hands back the connection's scratch buffers (256 B or more each
 * once used), so a client that published or received once and then went
 * quiet costs what an idle one does.
 */
#include "mqtt_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How long a publisher is not read when a subscriber is behind (µs):
 * first about what a subscriber needs to take a window of 20 deliveries,
 * doubling while the subscriber stays behind. */
#define MQTT_SLOW_US 200
#define MQTT_SLOW_MAX_US 3200

/* Output left unsent this long after a close: give up on the peer. */
#ifndef MQTT_FLUSH_WAIT_MS
#define MQTT_FLUSH_WAIT_MS 5000
#endif

void
mqtt_conn_log(const struct mqtt_conn *c, enum bk_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_conn_logv(c->nc, lvl, fmt, ap);
	va_end(ap);
}

bool
mqtt_conn_gone(const struct mqtt_conn *c)
{
	return net_conn_closing(c->nc);
}

bool
mqtt_conn_reason_ok(const struct mqtt_conn *c)
{
	return c->l->cfg.reason_strings && !(c->x && c->x->no_problem_info);
}

/* The end of a slow-down: read what waited. */
static void
pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_conn *c = arg;

	if (!c->slowed || mqtt_conn_gone(c))
		return;
	c->slowed = false;
	/* the transport reads what waited, through its own input path */
	net_conn_pause(c->nc, NET_PAUSE_PROTO, false);
}

/* net ops: the transport's tick. */
static void
conn_tick(void *ctx)
{
	struct mqtt_conn *c = ctx;
	uint32_t now, limit, idle;

	/* nothing borrows the scratch buffers between callbacks: a client
	 * that went quiet does not keep them */
	mqtt_buf_fini(&c->tbuf);
	mqtt_buf_fini(&c->pbuf);
	if (c->keepalive == 0 || mqtt_conn_gone(c) || c->state != MQTT_CONN_RUNNING)
		return;
	now = (uint32_t)bk_now_ms();
	if (c->blocked || c->slowed)
		c->last_rx_ms = now;    /* we are the ones not reading */
	limit = (uint32_t)c->keepalive * 1500;
	/* modulo 2^32: right for any idle time under 49 days, and the
	 * longest keepalive is 65535 * 1.5 s */
	idle = now - c->last_rx_ms;
	if (idle > UINT32_MAX / 2 || idle < limit)
		return;                 /* (over half: a read stamped after now) */
	mqtt_conn_close_or(c, MQTT_RC_KEEPALIVE_TIMEOUT,
			   "keepalive timeout: nothing received for %u.%03u s",
			   (unsigned)(idle / 1000), (unsigned)(idle % 1000));
}

void
mqtt_conn_free_later(struct mqtt_conn *c)
{
	net_conn_close(c->nc);
}

void
mqtt_conn_flush_then_free(struct mqtt_conn *c)
{
	if (mqtt_conn_gone(c))
		return;
	c->state = MQTT_CONN_CLOSING;
	if (c->x && c->x->pace_ev)
		event_del(c->x->pace_ev);
	net_conn_close_after_flush(c->nc, MQTT_FLUSH_WAIT_MS);
}

void
mqtt_conn_close_or(struct mqtt_conn *c, uint8_t rc, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	if (mqtt_conn_gone(c) || c->state == MQTT_CONN_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mqtt_conn_log(c, BK_LOG_INFO, "closing: %s", text);
	if (rc != 0 && c->level == MQTT_V5 && c->state == MQTT_CONN_RUNNING)
		mqtt_send_disconnect(c, rc, text);
	mqtt_conn_flush_then_free(c);
}

void
mqtt_conn_flow(struct mqtt_conn *c)
{
	bool block = c->l->alarms != 0 && c->published && c->state == MQTT_CONN_RUNNING;

	if (mqtt_conn_gone(c) || block == c->blocked)
		return;
	c->blocked = block;
	net_conn_pause(c->nc, NET_PAUSE_FLOW, block);
	if (block) {
		mqtt_conn_log(c, BK_LOG_DEBUG, "blocked: resource alarm");
	} else {
		c->last_rx_ms = (uint32_t)bk_now_ms();
	}
}

void
mqtt_conn_pace(struct mqtt_conn *c, const struct bk_route_result *res)
{
	struct timeval tv = { 0, 0 };
	struct mqtt_conn_x *x;

	if (res->backlogged == 0) {
		if (c->x)
			c->x->slow_us = 0;
		return;
	}
	if (c->slowed || mqtt_conn_gone(c) || c->state != MQTT_CONN_RUNNING)
		return;
	x = mqtt_conn_x(c);
	x->slow_us = x->slow_us == 0 ? MQTT_SLOW_US :
		     x->slow_us >= MQTT_SLOW_MAX_US / 2 ? MQTT_SLOW_MAX_US : x->slow_us * 2;
	tv.tv_usec = x->slow_us;
	c->slowed = true;
	net_conn_pause(c->nc, NET_PAUSE_PROTO, true);
	if (x->pace_ev == NULL)
		x->pace_ev = event_new(c->l->base, -1, 0, pace_cb, c);
	event_add(x->pace_ev, &tv);
}

struct mqtt_conn_x *
mqtt_conn_x(struct mqtt_conn *c)
{
	if (c->x == NULL)
		c->x = bk_calloc(1, sizeof(*c->x));
	return c->x;
}

struct mqtt_will *
mqtt_conn_take_will(struct mqtt_conn *c)
{
	struct mqtt_will *w = mqtt_conn_will(c);

	if (w)
		c->x->will = NULL;
	if (w && c->will_suppressed) {
		mqtt_will_free(w);
		w = NULL;
	}
	return w;
}

/* net ops: the transport is up (TLS handshake, WebSocket upgrade done). */
static void *
conn_open(void *arg, struct net_conn *nc)
{
	struct mqtt_listener *l = arg;
	struct mqtt_conn *c = bk_calloc(1, sizeof(*c));

	c->l = l;
	c->nc = nc;
	c->state = MQTT_CONN_NEW;
	c->last_rx_ms = (uint32_t)bk_now_ms();
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	l->ctr.conns_total++;
	if (l->nconns > l->ctr.conns_max)
		l->ctr.conns_max = l->nconns;
	mqtt_conn_log(c, BK_LOG_DEBUG, "accepted connection");
	return c;
}

/* net ops: the broker is stopping. */
static void
conn_shutdown(void *ctx)
{
	struct mqtt_conn *c = ctx;

	c->l->shutting_down = true;
	if (mqtt_conn_gone(c) || c->state == MQTT_CONN_CLOSING)
		return;
	c->will_suppressed = true;
	if (c->state == MQTT_CONN_RUNNING && c->level == MQTT_V5)
		mqtt_send_disconnect(c, MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down");
	mqtt_conn_log(c, BK_LOG_INFO, "closing: broker shutdown");
	mqtt_conn_flush_then_free(c);
}

static void
log_end(struct mqtt_conn *c, enum net_end why)
{
	if (why == NET_END_PEER)
		mqtt_conn_log(c, c->state == MQTT_CONN_CLOSING ? BK_LOG_DEBUG : BK_LOG_INFO,
			      "connection closed by peer%s",
			      c->state == MQTT_CONN_RUNNING && !c->will_suppressed ?
			      " without DISCONNECT" : "");
	else if (why == NET_END_DEADLINE && c->state == MQTT_CONN_NEW)
		mqtt_conn_log(c, BK_LOG_INFO, "no CONNECT within %u ms",
			      c->l->cfg.connect_timeout_ms);
}

static void
unlink_conn(struct mqtt_conn *c)
{
	struct mqtt_listener *l = c->l;

	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	l->nconns--;
}

/* net ops: last call. */
static void
conn_free(void *ctx, enum net_end why)
{
	struct mqtt_conn *c = ctx;
	struct mqtt_alias *a, *tmp;
	struct mqtt_will *will;

	log_end(c, why);
	if (why == NET_END_SHUTDOWN)
		c->will_suppressed = true;
	will = mqtt_conn_take_will(c);
	if (c->session) {
		struct mqtt_session *s = c->session;

		c->session = NULL;
		mqtt_session_detach(s, will);
	} else {
		mqtt_will_publish(c->l, will);
	}
	mqtt_publish_fini(c);
	mqtt_mgmt_unregister(c);
	unlink_conn(c);
	if (c->x && c->x->pace_ev)
		event_free(c->x->pace_ev);
	if (c->x && c->x->in_alias) {
		for (uint32_t i = 0; i <= c->l->cfg.topic_alias_maximum; i++)
			bk_free(c->x->in_alias[i]);
		bk_free(c->x->in_alias);
	}
	if (c->x) {
		HASH_ITER(hh, c->x->out_alias, a, tmp) {
			HASH_DEL(c->x->out_alias, a);
			bk_free(a->topic);
			bk_free(a);
		}
		BK_FREE(c->x);
	}
	mqtt_buf_fini(&c->tbuf);
	mqtt_buf_fini(&c->pbuf);
	if (c->own_session) {
		struct mqtt_session *s = (struct mqtt_session *)(void *)
			(c->names - offsetof(struct mqtt_session, key));

		BK_ASSERT(s->in_conn && s->ended);
		bk_free(s);
	} else {
		bk_free(c->names);
	}
	bk_free(c);
}

const struct net_proto_ops mqtt_net_ops = {
	.version = NET_PROTO_OPS_V1,
	.name = "mqtt",
	.open = conn_open,
	.read = mqtt_conn_read,
	.writable = mqtt_conn_writable,
	.shutdown = conn_shutdown,
	.free = conn_free,
	.tick = conn_tick,
};
