/*
 * mqtt_listener.c: the MQTT adapter's broker-wide state: its
 * configuration, the list of live connections, and what outlives
 * connections: sessions and shared-subscription queues (retained messages
 * are the core's). Sockets, accepting and the connections' lives are the
 * transport's (net/): every MQTT listener (plain, TLS, WebSocket) hands
 * its connections to mqtt_net_ops with this as arg.
 *
 * Resource alarms (memory, disk): like RabbitMQ's MQTT plugin, the broker
 * stops reading from connections that have published, which throttles
 * them through TCP; subscribers keep reading so queues drain.
 *
 * At shutdown the transport tells v5 clients DISCONNECT 0x8B and closes
 * every connection (mqtt_conn.c). Sessions stay until
 * mqtt_listener_free(), which settles their deliveries before the daemon
 * frees the core and leaves persistent sessions' durable queues to it
 * (and to the journal).
 */
#include "mqtt_int.h"

#include <stdio.h>
#include <string.h>

void
mqtt_config_defaults(struct mqtt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1, ::1");
	snprintf(c->tls_bind, sizeof(c->tls_bind), "%s", "127.0.0.1, ::1");
	snprintf(c->ws_bind, sizeof(c->ws_bind), "%s", "127.0.0.1, ::1");
	snprintf(c->wss_bind, sizeof(c->wss_bind), "%s", "127.0.0.1, ::1");
	snprintf(c->ws_path, sizeof(c->ws_path), "%s", "/ws");
	c->port = 1883;
	c->max_connect_size = 64 * 1024;
	c->max_client_id_length = 65535;        /* HiveMQ's and EMQX's default */
	c->max_packet_size = MQTT_MAX_REMAINING + MQTT_MAX_FIXED;
	snprintf(c->exchange, sizeof(c->exchange), "%s", "amq.topic");
	snprintf(c->vhost, sizeof(c->vhost), "%s", "/");
	c->allow_anonymous = false;
	snprintf(c->anonymous_user, sizeof(c->anonymous_user), "%s", "guest");
	snprintf(c->anonymous_password, sizeof(c->anonymous_password), "%s", "guest");
	c->max_inflight = 20;           /* Mosquitto's max_inflight_messages */
	c->receive_maximum = 20;
	c->topic_alias_maximum = 10;    /* Mosquitto's max_topic_alias */
	c->max_keepalive = 0;
	c->connect_timeout_ms = 10000;
	c->output_high_watermark = 1u << 20;
	c->sys_interval = 10;           /* Mosquitto's sys_interval */
	c->retain_available = true;
	c->max_retained_messages = 1000000;
	c->max_retained_bytes = 256u << 20;
	c->max_queued_messages = 1000;  /* Mosquitto's max_queued_messages */
}

static void
alarm_cb(void *arg, unsigned alarms)
{
	struct mqtt_listener *l = arg;

	l->alarms = alarms;
	for (struct mqtt_conn *c = l->conns; c; c = c->next)
		mqtt_conn_flow(c);
}

struct mqtt_listener *
mqtt_listener_new(struct event_base *base, struct bk_broker *b, const struct mqtt_config *cfg)
{
	struct mqtt_listener *l = bk_calloc(1, sizeof(*l));

	l->base = base;
	l->broker = b;
	l->cfg = *cfg;
	if (l->cfg.max_inflight == 0)
		l->cfg.max_inflight = 20;
	if (l->cfg.receive_maximum == 0)
		l->cfg.receive_maximum = 20;
	l->next_session_id = 1;
	bk_queue_prefix_reserve(b, MQTT_SESSION_QPREFIX, "MQTT sessions");
	bk_queue_prefix_reserve(b, MQTT_SHARED_QPREFIX, "MQTT shared subscriptions");
	mqtt_retain_upgrade(l);
	mqtt_session_recover_all(l);
	l->alarms = bk_alarms(b);
	bk_alarm_watch(b, alarm_cb, l);
	bk_vhost_watch(b, mqtt_mgmt_vhost_gone, l);
	l->alarm_watched = true;
	mqtt_sys_start(l);
	return l;
}

static void
free_sessions(struct mqtt_listener *l)
{
	struct mqtt_session *s, *nx;
	uint32_t i;

	MQTT_SESSIONS_EACH(l, i, s, nx)
		mqtt_session_free(s);
	mqtt_sessions_fini(&l->sessions);
}

void
mqtt_listener_free(struct mqtt_listener *l)
{
	if (!l)
		return;
	l->shutting_down = true;
	mqtt_sys_stop(l);
	if (l->alarm_watched) {
		bk_alarm_unwatch(l->broker, alarm_cb, l);
		bk_vhost_unwatch(l->broker, mqtt_mgmt_vhost_gone, l);
	}
	BK_ASSERT(l->conns == NULL);   /* the transport freed them (net_free) */
	free_sessions(l);
	BK_ASSERT(l->shared == NULL);
	mqtt_buf_fini(&l->kbuf);
	mqtt_buf_fini(&l->nbuf);
	bk_free(l);
}
