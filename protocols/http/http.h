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

struct http_config {
	bool enabled;                   /* yes */
	char bind[256];                 /* "127.0.0.1"; "::" or "0.0.0.0" for all */
	int port;                       /* 15672 (RabbitMQ's management port); 0 = any */
	uint32_t max_body_size;         /* largest request body: 16 MiB */
};

/* Inline so the daemon's config code (and its unit test) need not link
 * the HTTP library. */
static inline void
http_config_defaults(struct http_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1");
	c->port = 15672;
	c->max_body_size = 16u << 20;
}

/* [prometheus]: RabbitMQ's rabbitmq_prometheus listener. */
struct prometheus_config {
	bool enabled;                   /* yes */
	char bind[256];                 /* "127.0.0.1, ::1": addresses, one port */
	int port;                       /* 15692, RabbitMQ's; 0 = any */
	bool authentication;            /* no: scrapes need no credentials */
	bool per_object;                /* return_per_object_metrics: no */
};

static inline void
prometheus_config_defaults(struct prometheus_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "%s", "127.0.0.1, ::1");
	c->port = 15692;
}

/*
 * Bind and listen on base. On success logs "listening http HOST:PORT"
 * (the real port when cfg->port is 0; tests read that line) and returns
 * the listener; on failure returns NULL with the reason in err.
 */
struct http_listener *http_listener_new(struct event_base *base, struct bk_broker *b,
					const struct http_config *cfg,
					char *err, size_t errlen);
/* The port actually bound. */
int http_listener_port(const struct http_listener *l);

/*
 * The Prometheus listener: /metrics, /metrics/per-object and
 * /metrics/detailed on every address of cfg->bind, one port; logs
 * "listening prometheus ADDR:PORT" for each. NULL with the reason in err.
 * Free with http_listener_free.
 */
struct http_listener *http_prometheus_new(struct event_base *base, struct bk_broker *b,
					  const struct prometheus_config *cfg,
					  char *err, size_t errlen);

/*
 * Tell the API about another listener of the daemon, for the
 * "listeners" list of /api/overview and /api/nodes (protocol "amqp",
 * "mqtt"; strings copied). At most 8 are kept.
 */
void http_listener_announce(struct http_listener *l, const char *protocol,
			    const char *ip, int port);

/* Close the socket and every open request. Accepts NULL. */
void http_listener_free(struct http_listener *l);

#endif
