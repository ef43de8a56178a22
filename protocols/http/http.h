/*
 * http.h: what the daemon sees of the HTTP side: the RabbitMQ-compatible
 * management API (/api/...), Prometheus /metrics and the dashboard at /.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct event_base;
struct bk_broker;
struct http_listener;
struct net;
struct net_proto_ops;

struct http_config {
	bool enabled;                   /* yes */
	/* where it listens (the daemon makes the transport's listeners) */
	char bind[256];                 /* "127.0.0.1, ::1"; "0.0.0.0, ::" for all */
	int port;                       /* 15672 (RabbitMQ's management port); 0 = any */
	char tls_bind[256];             /* as bind, for HTTPS */
	int tls_port;                   /* 15671 in RabbitMQ; 0 (default) = none */
	uint32_t max_connections;       /* per listener: 256; 0 = broker-wide limit only */
	/* requests */
	uint32_t max_body_size;         /* largest request body: 16 MiB */
	uint32_t max_header_size;       /* largest request head: 8 KiB */
	uint32_t request_timeout_ms;    /* a request arrives whole within: 10000 */
	/* the limits the below-node-connection-limit check reads (the
	 * daemon's broker.max_connections and amqp.max_connections; 0 =
	 * none): not [http] keys */
	uint32_t node_max_connections, amqp_max_connections;
};

/* Inline so the daemon's config code (and its unit test) need not link
 * the HTTP library. */
static inline void
http_config_defaults(struct http_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1, ::1");
	snprintf(c->tls_bind, sizeof(c->tls_bind), "%s", "127.0.0.1, ::1");
	c->port = 15672;
	c->max_connections = 256;
	c->max_body_size = 16u << 20;
	c->max_header_size = 8192;
	c->request_timeout_ms = 10000;
}

/* [prometheus]: RabbitMQ's rabbitmq_prometheus listener. */
struct prometheus_config {
	bool enabled;                   /* yes */
	char bind[256];                 /* "127.0.0.1, ::1": addresses, one port */
	int port;                       /* 15692, RabbitMQ's; 0 = any */
	char tls_bind[256];             /* the same over TLS ([tls] certificate) */
	int tls_port;                   /* 0 (default) = none */
	bool authentication;            /* no: scrapes need no credentials */
	bool per_object;                /* return_per_object_metrics: no */
};

static inline void
prometheus_config_defaults(struct prometheus_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1, ::1");
	snprintf(c->tls_bind, sizeof(c->tls_bind), "%s", "127.0.0.1, ::1");
	c->port = 15692;
}

/*
 * The management API's state. Listening is the transport's: the daemon
 * makes net listeners with http_net_ops and this as their arg; net is
 * borrowed to list every listener in /api/overview.
 */
struct http_listener *http_listener_new(struct event_base *base, struct bk_broker *b,
					struct net *net, const struct http_config *cfg);

/*
 * The Prometheus side: /metrics, /metrics/per-object and /metrics/detailed
 * only, with credentials only when cfg->authentication says so; request
 * limits from http. The daemon makes its listeners (http_net_ops, this as
 * arg). Free with http_listener_free.
 */
struct http_listener *http_prometheus_new(struct event_base *base, struct bk_broker *b,
					  struct net *net, const struct http_config *http,
					  const struct prometheus_config *cfg);

/* After the transport freed every connection. Accepts NULL. */
void http_listener_free(struct http_listener *l);

/* The transport's ops for HTTP/1.1 connections (http_conn.c). */
extern const struct net_proto_ops http_net_ops;

#endif
