/*
 * amqp_listener.c: the AMQP 0-9-1 listening socket and the set of its
 * connections.
 *
 * Owns the evconnlistener, the list of live connections and the
 * server-properties table sent in every connection.start (encoded once
 * here, borrowed by each connection). Shutdown stops accepting, asks
 * every connection to close (320 CONNECTION_FORCED) and calls the
 * daemon's done() from a deferred event once the list is empty.
 */
#include "amqp_conn_int.h"
#include "net_sock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

void
amqp_config_defaults(struct amqp_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1");
	c->port = 5672;
	c->frame_max = 131072;
	c->channel_max = 2047;
	c->heartbeat = 60;
	c->max_message_size = 16u << 20;
	c->output_high_watermark = 1u << 20;
	c->handshake_timeout_ms = 10000;
	c->max_inflight_content = 32u << 20;
	c->content_timeout_ms = 60000;
}

static void
put_str(struct bk_table_builder *b, const char *name, const char *s)
{
	struct bk_value v = { .type = BK_V_LSTR, .u.s = bk_str_c(s) };

	bk_tb_put(b, name, (uint32_t)strlen(name), &v);
}

/* connection.start server-properties, as RabbitMQ announces them; the
 * capabilities tell clients which extensions they may use. */
static void
build_server_props(struct amqp_listener *l)
{
	static const char *const caps[] = {
		"publisher_confirms", "exchange_exchange_bindings", "basic.nack",
		"consumer_cancel_notify", "connection.blocked",
		"consumer_priorities", "authentication_failure_close",
		"per_consumer_qos", "direct_reply_to",
	};
	struct bk_table_builder cb, b;
	struct bk_value v = { .type = BK_V_BOOL, .u.b = true };
	char host[128], cluster[160], platform[64];
	uint32_t len;

	bk_tb_init(&cb);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		bk_tb_put(&cb, caps[i], (uint32_t)strlen(caps[i]), &v);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(cluster, sizeof(cluster), "sluice@%s", host);
	snprintf(platform, sizeof(platform), "C/libevent %s", event_get_version());

	bk_tb_init(&b);
	v = (struct bk_value){ .type = BK_V_TABLE, .u.t = bk_tb_view(&cb) };
	bk_tb_put(&b, "capabilities", 12, &v);
	put_str(&b, "cluster_name", cluster);
	put_str(&b, "copyright", "Copyright (c) the Sluice authors");
	put_str(&b, "information", "Licensed under the Apache License 2.0");
	put_str(&b, "platform", platform);
	put_str(&b, "product", "Sluice");
	put_str(&b, "version", SLUICE_VERSION);
	l->server_props.p = bk_tb_take(&b, &len);
	l->server_props.len = len;
	bk_tb_fini(&b);
	bk_tb_fini(&cb);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	struct amqp_listener *l = arg;
	struct amqp_conn *c;

	if (l->shutting_down) {
		evutil_closesocket(fd);
		return;
	}
	c = amqp_conn_new(l, fd, sa, salen);
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct amqp_listener *l = arg;
	void (*done)(void *) = l->done;

	l->done = NULL;
	if (done)
		done(l->done_arg);
}

void
amqp_listener_conn_gone(struct amqp_listener *l, struct amqp_conn *c)
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

struct amqp_listener *
amqp_listener_new(struct event_base *base, struct bk_broker *b,
		  const struct amqp_config *cfg, char *err, size_t errlen)
{
	struct amqp_listener *l = bk_calloc(1, sizeof(*l));

	l->base = base;
	l->broker = b;
	l->cfg = *cfg;
	l->cfg.bind[sizeof(l->cfg.bind) - 1] = '\0';
	l->next_id = 1;
	l->done_ev = event_new(base, -1, 0, done_cb, l);
	build_server_props(l);
	l->lev = bk_net_listen(base, "amqp", l->cfg.bind, l->cfg.port, accept_cb, l,
			       &l->port, err, errlen);
	if (!l->lev) {
		amqp_listener_free(l);
		return NULL;
	}
	bk_alarm_watch(b, amqp_listener_on_alarm, l);
	l->watching = true;
	return l;
}

int
amqp_listener_port(const struct amqp_listener *l)
{
	return l->port;
}

void
amqp_listener_shutdown(struct amqp_listener *l, void (*done)(void *arg), void *arg)
{
	struct amqp_conn *c, *next;

	l->shutting_down = true;
	l->done = done;
	l->done_arg = arg;
	if (l->lev)
		evconnlistener_disable(l->lev);
	for (c = l->conns; c; c = next) {
		next = c->next;
		amqp_conn_shutdown(c);
	}
	if (l->nconns == 0 && l->done)
		event_active(l->done_ev, 0, 0);
}

void
amqp_listener_free(struct amqp_listener *l)
{
	if (!l)
		return;
	l->done = NULL;
	if (l->watching)
		bk_alarm_unwatch(l->broker, amqp_listener_on_alarm, l);
	while (l->conns)
		amqp_conn_free(l->conns);
	if (l->lev)
		evconnlistener_free(l->lev);
	if (l->done_ev)
		event_free(l->done_ev);
	bk_free((void *)l->server_props.p);
	bk_free(l);
}
