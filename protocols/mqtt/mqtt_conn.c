/*
 * mqtt_conn.c: one MQTT connection's lifetime: accept, the connect
 * timeout and keepalive timer, connection errors, and the deferred free.
 *
 * Invariants:
 *  - Nothing frees a connection inline from a core callback or from
 *    packet handling: every path ends in mqtt_conn_free_later() (the
 *    reaper event) or a timer, or mqtt_listener_free().
 *  - Once state is CLOSING, input is ignored and drained; only what is
 *    already in the output (e.g. a DISCONNECT) still leaves.
 *  - The will is handled once, in mqtt_conn_free(): published (or handed
 *    to the session for its delay) unless the client ended with a normal
 *    DISCONNECT or the broker is stopping.
 *
 * Keepalive [MQTT-3.1.2-24]: the connection is dropped when nothing
 * arrived for 1.5 times the keepalive; the timer is re-armed for the
 * time left instead of on every packet.
 */
#include "mqtt_int.h"
#include "net_sock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void reaper_cb(evutil_socket_t fd, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);


static void
timer_set(struct mqtt_conn *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	event_add(c->timer, &tv);
}

struct mqtt_conn *
mqtt_conn_new(struct mqtt_listener *l, evutil_socket_t fd, const struct sockaddr *sa)
{
	struct mqtt_conn *c = bk_calloc(1, sizeof(*c));

	c->id = l->next_id++;
	c->l = l;
	c->state = MQTT_CONN_NEW;
	c->request_problem_info = true;
	bk_net_peer_format(sa, c->peer, sizeof(c->peer), &c->peer_is_loopback);
	bk_net_accepted(fd);
	c->bev = bk_net_bev_new(l->base, fd, mqtt_conn_read_cb, mqtt_conn_write_cb, event_cb,
				c, l->cfg.output_high_watermark);
	c->timer = event_new(l->base, -1, 0, timer_cb, c);
	c->reaper = event_new(l->base, -1, 0, reaper_cb, c);
	timer_set(c, l->cfg.connect_timeout_ms);
	c->last_rx_ms = bk_now_ms();
	mqtt_conn_log(c, BK_LOG_DEBUG, "accepted connection");
	return c;
}

void
mqtt_conn_log(const struct mqtt_conn *c, enum bk_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!bk_log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bk_log(lvl, "conn=%llu peer=%s proto=mqtt: %s",
	       (unsigned long long)c->id, c->peer, msg);
}

bool
mqtt_conn_reason_ok(const struct mqtt_conn *c)
{
	return c->l->cfg.reason_strings && c->request_problem_info;
}

void
mqtt_conn_keepalive_start(struct mqtt_conn *c)
{
	event_del(c->timer);
	if (c->keepalive)
		timer_set(c, (uint64_t)c->keepalive * 1500);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_conn *c = arg;
	uint64_t now = bk_now_ms(), limit, idle;

	if (c->free_pending)
		return;
	if (c->state == MQTT_CONN_NEW) {
		mqtt_conn_log(c, BK_LOG_INFO, "no CONNECT within %u ms",
			      c->l->cfg.connect_timeout_ms);
		mqtt_conn_free_later(c);
		return;
	}
	if (c->flush_then_free || c->state == MQTT_CONN_CLOSING) {
		mqtt_conn_free_later(c);
		return;
	}
	limit = (uint64_t)c->keepalive * 1500;
	if (c->blocked)
		c->last_rx_ms = now;    /* we are the ones not reading */
	idle = now > c->last_rx_ms ? now - c->last_rx_ms : 0;
	if (idle + 20 < limit) {
		timer_set(c, limit - idle);
		return;
	}
	mqtt_conn_close_or(c, MQTT_RC_KEEPALIVE_TIMEOUT,
			   "keepalive timeout: nothing received for %u.%03u s",
			   (unsigned)(idle / 1000), (unsigned)(idle % 1000));
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mqtt_conn *c = arg;

	if (c->free_pending)
		return;
	if (what & BEV_EVENT_EOF)
		mqtt_conn_log(c, c->state == MQTT_CONN_CLOSING ? BK_LOG_DEBUG : BK_LOG_INFO,
			      "connection closed by peer%s",
			      c->state == MQTT_CONN_RUNNING && !c->will_suppressed ?
			      " without DISCONNECT" : "");
	else
		mqtt_conn_log(c, BK_LOG_INFO, "socket error: %s",
			      evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	mqtt_conn_free_later(c);
}

void
mqtt_conn_free_later(struct mqtt_conn *c)
{
	if (c->free_pending)
		return;
	c->free_pending = true;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(c->reaper, 0, 0);
}

static void
reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_conn *c = arg;

	if (c->free_pending)
		mqtt_conn_free(c);
}

void
mqtt_conn_flush_then_free(struct mqtt_conn *c)
{
	if (c->free_pending)
		return;
	c->state = MQTT_CONN_CLOSING;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		mqtt_conn_free_later(c);
		return;
	}
	c->flush_then_free = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	event_del(c->timer);
	timer_set(c, MQTT_FLUSH_WAIT_MS);
}

void
mqtt_conn_close_or(struct mqtt_conn *c, uint8_t rc, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	if (c->free_pending || c->state == MQTT_CONN_CLOSING)
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

	if (c->free_pending || c->flush_then_free || block == c->blocked)
		return;
	c->blocked = block;
	if (block) {
		bufferevent_disable(c->bev, EV_READ);
		mqtt_conn_log(c, BK_LOG_DEBUG, "blocked: resource alarm");
	} else {
		bufferevent_enable(c->bev, EV_READ);
		c->last_rx_ms = bk_now_ms();
	}
}

void
mqtt_conn_shutdown(struct mqtt_conn *c)
{
	if (c->free_pending || c->state == MQTT_CONN_CLOSING)
		return;
	c->will_suppressed = true;
	if (c->state == MQTT_CONN_RUNNING && c->level == MQTT_V5)
		mqtt_send_disconnect(c, MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down");
	mqtt_conn_log(c, BK_LOG_INFO, "closing: broker shutdown");
	mqtt_conn_flush_then_free(c);
}

void
mqtt_conn_free(struct mqtt_conn *c)
{
	struct mqtt_alias *a, *tmp;
	struct mqtt_will *will;

	if (!c)
		return;
	c->free_pending = true;
	will = c->will;
	c->will = NULL;
	if (c->will_suppressed) {
		mqtt_will_free(will);
		will = NULL;
	}
	if (c->session) {
		struct mqtt_session *s = c->session;

		c->session = NULL;
		mqtt_session_detach(s, will);
	} else {
		mqtt_will_publish(c->l, will);
	}
	mqtt_publish_fini(c);
	mqtt_mgmt_unregister(c);
	mqtt_listener_conn_gone(c->l, c);
	if (c->timer)
		event_free(c->timer);
	if (c->reaper)
		event_free(c->reaper);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->in_alias) {
		for (uint32_t i = 0; i <= c->l->cfg.topic_alias_maximum; i++)
			bk_free(c->in_alias[i]);
		bk_free(c->in_alias);
	}
	HASH_ITER(hh, c->out_alias, a, tmp) {
		HASH_DEL(c->out_alias, a);
		bk_free(a->topic);
		bk_free(a);
	}
	mqtt_buf_fini(&c->tbuf);
	mqtt_buf_fini(&c->pbuf);
	bk_free(c->user);
	bk_free(c);
}
