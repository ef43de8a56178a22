/*
 * amqp_listener.c: the AMQP 0-9-1 adapter's broker-wide state: its
 * configuration, the list of live connections (for resource alarms) and
 * the server-properties table sent in every connection.start (encoded
 * once here, borrowed by each connection). Sockets, accepting and
 * shutdown are the transport's (net/).
 */
#include "amqp_conn_int.h"

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
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1, ::1");
	snprintf(c->tls_bind, sizeof(c->tls_bind), "%s", "127.0.0.1, ::1");
	c->port = 5672;
	c->frame_max = 131072;
	c->channel_max = 2047;
	c->heartbeat = 60;
	c->max_message_size = 16u << 20;
	c->output_high_watermark = 1u << 20;
	c->handshake_timeout_ms = 10000;
	c->max_inflight_content = 32u << 20;
	c->content_timeout_ms = 60000;
	c->consumer_max_per_channel = 1000;
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

struct amqp_listener *
amqp_listener_new(struct event_base *base, struct bk_broker *b,
		  const struct amqp_config *cfg)
{
	struct amqp_listener *l = bk_calloc(1, sizeof(*l));

	l->base = base;
	l->broker = b;
	l->cfg = *cfg;
	build_server_props(l);
	bk_alarm_watch(b, amqp_listener_on_alarm, l);
	l->watching = true;
	return l;
}

void
amqp_listener_free(struct amqp_listener *l)
{
	if (!l)
		return;
	BK_ASSERT(l->conns == NULL);
	if (l->watching)
		bk_alarm_unwatch(l->broker, amqp_listener_on_alarm, l);
	bk_free((void *)l->server_props.p);
	bk_free(l);
}
