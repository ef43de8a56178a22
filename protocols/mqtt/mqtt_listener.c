/*
 * mqtt_listener.c: the MQTT listening socket, its connections, and the
 * broker-wide MQTT state that outlives connections: sessions and
 * shared-subscription queues (retained messages are the core's).
 *
 * Resource alarms (memory, disk): like RabbitMQ's MQTT plugin, the broker
 * stops reading from connections that have published, which throttles
 * them through TCP; subscribers keep reading so queues drain.
 *
 * Shutdown stops accepting, tells v5 clients DISCONNECT 0x8B, closes
 * every connection and calls the daemon's done() from a deferred event
 * once the list is empty. Sessions stay until mqtt_listener_free(), which
 * settles their deliveries before the daemon frees the core and leaves
 * persistent sessions' durable queues to it (and to the journal).
 */
#include "mqtt_int.h"
#include "net_sock.h"

#include <stdio.h>
#include <string.h>

void
mqtt_config_defaults(struct mqtt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1");
	c->port = 1883;
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
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	struct mqtt_listener *l = arg;
	struct mqtt_conn *c;

	if (l->shutting_down) {
		evutil_closesocket(fd);
		return;
	}
	c = mqtt_conn_new(l, fd, sa);
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	l->ctr.conns_total++;
	if (l->nconns > l->ctr.conns_max)
		l->ctr.conns_max = l->nconns;
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_listener *l = arg;
	void (*done)(void *) = l->done;

	l->done = NULL;
	if (done)
		done(l->done_arg);
}

void
mqtt_listener_conn_gone(struct mqtt_listener *l, struct mqtt_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	l->nconns--;
	if (l->shutting_down && l->nconns == 0 && l->done)
		event_active(l->done_ev, 0, 0);
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
mqtt_listener_new(struct event_base *base, struct bk_broker *b,
		  const struct mqtt_config *cfg, char *err, size_t errlen)
{
	struct mqtt_listener *l = bk_calloc(1, sizeof(*l));

	l->base = base;
	l->broker = b;
	l->cfg = *cfg;
	l->cfg.bind[sizeof(l->cfg.bind) - 1] = '\0';
	if (l->cfg.max_inflight == 0)
		l->cfg.max_inflight = 20;
	if (l->cfg.receive_maximum == 0)
		l->cfg.receive_maximum = 20;
	l->next_id = 1;
	l->next_session_id = 1;
	l->done_ev = event_new(base, -1, 0, done_cb, l);
	mqtt_retain_upgrade(l);
	l->lev = bk_net_listen(base, "mqtt", l->cfg.bind, l->cfg.port, accept_cb, l,
			       &l->port, err, errlen);
	if (!l->lev) {
		mqtt_listener_free(l);
		return NULL;
	}
	l->alarms = bk_alarms(b);
	bk_alarm_watch(b, alarm_cb, l);
	bk_vhost_watch(b, mqtt_mgmt_vhost_gone, l);
	l->alarm_watched = true;
	mqtt_sys_start(l);
	return l;
}

int
mqtt_listener_port(const struct mqtt_listener *l)
{
	return l->port;
}

void
mqtt_listener_shutdown(struct mqtt_listener *l, void (*done)(void *arg), void *arg)
{
	struct mqtt_conn *c, *next;

	l->shutting_down = true;
	l->done = done;
	l->done_arg = arg;
	if (l->lev)
		evconnlistener_disable(l->lev);
	for (c = l->conns; c; c = next) {
		next = c->next;
		mqtt_conn_shutdown(c);
	}
	if (l->nconns == 0 && l->done)
		event_active(l->done_ev, 0, 0);
}

static void
free_sessions(struct mqtt_listener *l)
{
	struct mqtt_session *s, *tmp;

	HASH_ITER(hh, l->sessions, s, tmp)
		mqtt_session_free(s);
}

void
mqtt_listener_free(struct mqtt_listener *l)
{
	if (!l)
		return;
	l->done = NULL;
	l->shutting_down = true;
	mqtt_sys_stop(l);
	if (l->alarm_watched) {
		bk_alarm_unwatch(l->broker, alarm_cb, l);
		bk_vhost_unwatch(l->broker, mqtt_mgmt_vhost_gone, l);
	}
	while (l->conns) {
		l->conns->will_suppressed = true;
		mqtt_conn_free(l->conns);
	}
	free_sessions(l);
	BK_ASSERT(l->shared == NULL);
	if (l->lev)
		evconnlistener_free(l->lev);
	if (l->done_ev)
		event_free(l->done_ev);
	bk_free(l);
}
