/*
 * mqtt_sys.c: the $SYS topics, with Mosquitto's names, every
 * [mqtt] sys_interval seconds (10, as Mosquitto; 0 = none).
 *
 *   $SYS/broker/version                   "sluice version X.Y.Z"
 *   $SYS/broker/uptime                    "N seconds"
 *   $SYS/broker/clients/connected         MQTT clients connected now
 *   $SYS/broker/clients/disconnected      persistent sessions without a client
 *   $SYS/broker/clients/total             the two together
 *   $SYS/broker/clients/maximum           most MQTT connections open at once
 *   $SYS/broker/clients/expired           sessions ended by their expiry
 *   $SYS/broker/messages/received, /sent  MQTT control packets of any type
 *   $SYS/broker/messages/stored           messages in queues (all protocols)
 *                                         plus retained messages
 *   $SYS/broker/publish/messages/received, /sent   PUBLISH packets
 *   $SYS/broker/publish/messages/dropped  messages published to an exchange
 *                                         that reached no queue (all protocols),
 *                                         and messages a session's queue
 *                                         dropped at max_queued_messages/bytes
 *   $SYS/broker/bytes/received, /sent     MQTT bytes
 *   $SYS/broker/subscriptions/count       MQTT subscriptions
 *   $SYS/broker/retained messages/count
 *   $SYS/broker/heap/current, /maximum    bytes allocated by the broker
 *   $SYS/broker/load/{messages,publish/received,publish/sent,bytes}/
 *       {received,sent}/{1min,5min,15min} and load/connections/{1min,...}:
 *       per-minute rates as exponentially decaying averages (Mosquitto's)
 *
 * Each value is a retained QoS 0 message in the [mqtt] vhost, published
 * only when it changed. It is not routed through the exchange: the
 * topics are MQTT's own, so they go straight to the connected sessions
 * of that vhost whose subscriptions match (a filter starting with a
 * wildcard never matches them [MQTT-4.7.2-1]) and into the core's
 * retained store, in memory only (never journaled), for later
 * subscribers. AMQP clients and
 * persistent sessions that are away do not collect them.
 */
#include "mqtt_int.h"
#include "bk_admin.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

#define NLOADS 7                        /* load series, see load_names */

struct sys_value {
	char *topic;                    /* owned; uthash key */
	char *text;                     /* owned: last value published */
	UT_hash_handle hh;
};

struct mqtt_sys {
	struct event *timer;            /* owned */
	struct sys_value *last;         /* owned uthash by topic */
	uint64_t last_ms;               /* previous tick, monotonic enough (wall) */
	uint64_t prev[NLOADS];          /* counter values at the previous tick */
	double load[NLOADS][3];         /* 1, 5, 15 minutes */
	uint64_t heap_max;
	struct mqtt_buf kbuf;           /* owned: routing keys of the values */
};

static const char *const load_names[NLOADS] = {
	"messages/received", "messages/sent", "publish/received", "publish/sent",
	"bytes/received", "bytes/sent", "connections",
};

/* Publish text on topic if it changed since the last time. */
static void
publish(struct mqtt_listener *l, struct bk_vhost *vh, const char *topic, const char *text)
{
	struct mqtt_sys *sys = l->sys;
	struct sys_value *v = NULL;
	struct mqtt_session *s, *nx;
	uint32_t i;
	struct bk_props props;
	struct bk_msg *msg;
	struct bk_err err;
	size_t n = strlen(text);
	struct bk_str k;

	HASH_FIND_STR(sys->last, topic, v);
	if (v && strcmp(v->text, text) == 0)
		return;
	if (!v) {
		v = bk_calloc(1, sizeof(*v));
		v->topic = bk_strdup(topic);
		HASH_ADD_KEYPTR(hh, sys->last, v->topic, strlen(v->topic), v);
	}
	bk_free(v->text);
	v->text = bk_strdup(text);
	k = mqtt_topic_to_key(bk_str_c(topic), &sys->kbuf);
	memset(&props, 0, sizeof(props));
	msg = bk_msg_new(bk_str_c(l->cfg.exchange), k, &props, n);
	memcpy(bk_msg_body(msg), text, n);
	msg->published_ms = bk_now_ms();
	msg->origin_flags = MQTT_OF_MQTT | MQTT_OF_RETAIN;
	/* retained in memory only: $SYS values are rebuilt after a restart */
	bk_retained_set(vh, msg, BK_RETAINED_TRANSIENT, NULL, &err);
	MQTT_SESSIONS_EACH(l, i, s, nx)
		if (s->vhost == vh && s->conn)
			mqtt_deliver_direct(s, msg);
	bk_msg_unref(msg);
}

static void
publish_u64(struct mqtt_listener *l, struct bk_vhost *vh, const char *topic, uint64_t n)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu", (unsigned long long)n);
	publish(l, vh, topic, text);
}

/* Exponentially decaying per-minute rates over 1, 5 and 15 minutes. */
static void
update_loads(struct mqtt_sys *sys, const uint64_t now_vals[NLOADS], double secs)
{
	static const double minutes[3] = { 1, 5, 15 };

	for (int i = 0; i < NLOADS; i++) {
		uint64_t d = now_vals[i] >= sys->prev[i] ? now_vals[i] - sys->prev[i] : 0;
		double per_min = (double)d * 60.0 / secs;

		for (int j = 0; j < 3; j++) {
			double e = exp(-secs / (60.0 * minutes[j]));

			sys->load[i][j] = sys->load[i][j] * e + per_min * (1.0 - e);
		}
		sys->prev[i] = now_vals[i];
	}
}

static void
publish_loads(struct mqtt_listener *l, struct bk_vhost *vh)
{
	static const char *const span[3] = { "1min", "5min", "15min" };
	char topic[128], text[32];

	for (int i = 0; i < NLOADS; i++) {
		for (int j = 0; j < 3; j++) {
			snprintf(topic, sizeof(topic), "$SYS/broker/load/%s/%s",
				 load_names[i], span[j]);
			snprintf(text, sizeof(text), "%.2f", l->sys->load[i][j]);
			publish(l, vh, topic, text);
		}
	}
}

static void
tick(struct mqtt_listener *l)
{
	struct mqtt_sys *sys = l->sys;
	struct bk_vhost *vh = bk_vhost_get(l->broker, l->cfg.vhost);
	const struct mqtt_counters *ct = &l->ctr;
	struct mqtt_session *s, *nx;
	uint32_t i;
	struct bk_overview ov;
	uint64_t now = bk_now_ms(), subs = 0, online = 0, away = 0;
	uint64_t vals[NLOADS] = { ct->pkts_in, ct->pkts_out, ct->pub_in, ct->pub_out,
				  ct->bytes_in, ct->bytes_out, ct->conns_total };
	char text[64];

	if (!vh)
		return;                 /* the [mqtt] vhost was deleted */
	bk_overview_get(l->broker, &ov);
	MQTT_SESSIONS_EACH(l, i, s, nx) {
		subs += s->rx->nsubs;
		if (s->conn)
			online++;
		else
			away++;
	}
	if (ov.mem_used > sys->heap_max)
		sys->heap_max = ov.mem_used;
	if (sys->last_ms && now > sys->last_ms)
		update_loads(sys, vals, (double)(now - sys->last_ms) / 1000.0);
	else
		memcpy(sys->prev, vals, sizeof(vals));
	sys->last_ms = now;

	publish(l, vh, "$SYS/broker/version", "sluice version " SLUICE_VERSION);
	snprintf(text, sizeof(text), "%llu seconds", (unsigned long long)(ov.uptime_ms / 1000));
	publish(l, vh, "$SYS/broker/uptime", text);
	publish_u64(l, vh, "$SYS/broker/clients/connected", online);
	publish_u64(l, vh, "$SYS/broker/clients/disconnected", away);
	publish_u64(l, vh, "$SYS/broker/clients/total", online + away);
	publish_u64(l, vh, "$SYS/broker/clients/maximum", ct->conns_max);
	publish_u64(l, vh, "$SYS/broker/clients/expired", ct->sessions_expired);
	publish_u64(l, vh, "$SYS/broker/messages/received", ct->pkts_in);
	publish_u64(l, vh, "$SYS/broker/messages/sent", ct->pkts_out);
	publish_u64(l, vh, "$SYS/broker/messages/stored",
		    ov.queue_totals.messages + ov.retained.messages);
	publish_u64(l, vh, "$SYS/broker/publish/messages/received", ct->pub_in);
	publish_u64(l, vh, "$SYS/broker/publish/messages/sent", ct->pub_out);
	publish_u64(l, vh, "$SYS/broker/publish/messages/dropped",
		    ov.ms.n[BK_MS_DROP_UNROUTABLE] + bk_cap_dropped(l->broker));
	publish_u64(l, vh, "$SYS/broker/bytes/received", ct->bytes_in);
	publish_u64(l, vh, "$SYS/broker/bytes/sent", ct->bytes_out);
	publish_u64(l, vh, "$SYS/broker/subscriptions/count", subs);
	publish_u64(l, vh, "$SYS/broker/retained messages/count", ov.retained.messages);
	publish_u64(l, vh, "$SYS/broker/heap/current", ov.mem_used);
	publish_u64(l, vh, "$SYS/broker/heap/maximum", sys->heap_max);
	publish_loads(l, vh);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	tick(arg);
}

void
mqtt_sys_start(struct mqtt_listener *l)
{
	struct timeval tv = { (time_t)l->cfg.sys_interval, 0 };

	if (l->cfg.sys_interval == 0 || l->sys)
		return;
	l->sys = bk_calloc(1, sizeof(*l->sys));
	l->sys->timer = event_new(l->base, -1, EV_PERSIST, timer_cb, l);
	event_add(l->sys->timer, &tv);
	tick(l);                        /* version and zeros at once */
}

static void
forget(struct mqtt_sys *sys)
{
	struct sys_value *v, *tmp;

	HASH_ITER(hh, sys->last, v, tmp) {
		HASH_DEL(sys->last, v);
		bk_free(v->topic);
		bk_free(v->text);
		bk_free(v);
	}
}

void
mqtt_sys_vhost_gone(struct mqtt_listener *l, struct bk_vhost *vh)
{
	if (l->sys && strcmp(bk_vhost_name(vh), l->cfg.vhost) == 0)
		forget(l->sys);
}

void
mqtt_sys_stop(struct mqtt_listener *l)
{
	struct mqtt_sys *sys = l->sys;

	if (!sys)
		return;
	event_free(sys->timer);
	forget(sys);
	mqtt_buf_fini(&sys->kbuf);
	bk_free(sys);
	l->sys = NULL;
}
