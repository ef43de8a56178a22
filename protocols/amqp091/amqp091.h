/*
 * amqp091.h: what the daemon sees of the AMQP 0-9-1 adapter.
 */
#ifndef SLUICE_AMQP091_H
#define SLUICE_AMQP091_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bk_broker;
struct amqp_listener;
struct net_proto_ops;

struct amqp_config {
	/* where it listens (the daemon makes the transport's listeners) */
	char bind[256];                 /* "127.0.0.1, ::1"; "0.0.0.0, ::" for all */
	int port;                       /* 5672; 0 = any free port */
	char tls_bind[256];             /* as bind, for the TLS listener */
	int tls_port;                   /* 5671 in RabbitMQ; 0 (default) = none */
	uint32_t max_connections;       /* per listener; 0 = broker-wide limit only */
	/* the protocol */
	uint32_t frame_max;             /* 131072 */
	uint16_t channel_max;           /* 2047 */
	uint16_t heartbeat;             /* seconds, 60; 0 disables */
	uint64_t max_message_size;      /* 16 MiB */
	size_t output_high_watermark;   /* bytes buffered per connection before consumers park
					   and reading stops */
	uint32_t handshake_timeout_ms;  /* 10000: accept to connection.open-ok */
	bool cert_login_dn;             /* SASL EXTERNAL user is the certificate's full DN
					   (ssl_cert_login_from = distinguished_name), not its CN */
	/* body bytes a connection may hold for publishes not yet complete
	 * (every channel together); more closes it with 506 RESOURCE_ERROR */
	uint64_t max_inflight_content;  /* 32 MiB */
	/* an incomplete publish whose next body frame does not arrive within
	 * this long closes the connection (0 = never) */
	uint32_t content_timeout_ms;    /* 60000 */
	/* consumers one channel may hold; one more closes the connection
	 * with 530 NOT_ALLOWED (RabbitMQ's consumer_max_per_channel) */
	uint32_t consumer_max_per_channel;  /* 1000; 0 = no limit */
};

void amqp_config_defaults(struct amqp_config *c);

/*
 * The adapter's broker-wide state (server properties, the list of
 * connections, the alarm watch). Listening is the transport's: the
 * daemon makes net listeners with amqp_net_ops and this as their arg.
 */
struct amqp_listener *amqp_listener_new(struct event_base *base, struct bk_broker *b,
					const struct amqp_config *cfg);
/* After the transport freed every connection (net_free). Accepts NULL. */
void amqp_listener_free(struct amqp_listener *l);

/* The transport's ops for AMQP 0-9-1 connections. Shutdown sends
 * connection.close 320 CONNECTION_FORCED "broker forced connection
 * closure with reason 'shutdown'" and waits up to 2 s for close-ok. */
extern const struct net_proto_ops amqp_net_ops;

#endif
