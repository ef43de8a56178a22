/*
 * mqtt.h: what the daemon sees of the MQTT 3.1 / 3.1.1 / 5.0 adapter.
 */
#ifndef SLUICE_MQTT_H
#define SLUICE_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bk_broker;
struct mqtt_listener;
struct net_proto_ops;

struct mqtt_config {
	bool enabled;                   /* yes: listen like Mosquitto on 1883 */
	/* where it listens (the daemon makes the transport's listeners) */
	char bind[256];                 /* "127.0.0.1, ::1"; "0.0.0.0, ::" for all */
	int port;                       /* 1883; 0 = any free port */
	char tls_bind[256];             /* MQTT over TLS */
	int tls_port;                   /* 8883 by convention; 0 (default) = none */
	char ws_bind[256];              /* MQTT over WebSockets */
	int ws_port;                    /* 15675 in RabbitMQ's Web MQTT; 0 (default) = none */
	char wss_bind[256];             /* MQTT over WebSockets over TLS */
	int wss_port;                   /* 0 (default) = none */
	char ws_path[128];              /* "/ws" */
	uint32_t max_connections;       /* per listener; 0 = broker-wide limit only */
	uint32_t max_connect_size;      /* largest CONNECT from an unauthenticated client: 64 KiB */
	uint32_t max_client_id_length;  /* longest client identifier, octets: 65535 (MQTT's own);
					   a longer one gets CONNACK 0x85 / 2 */
	bool use_identity_as_username;  /* TLS: a client without a user name logs in as its
					   certificate's CN (Mosquitto's option) */
	uint32_t max_packet_size;       /* largest packet accepted, 268435460 (the protocol's) */
	char exchange[256];             /* topic exchange MQTT maps onto: "amq.topic" */
	char vhost[256];                /* vhost when the user name does not name one: "/" */
	bool allow_anonymous;           /* no: a CONNECT without user name is refused */
	char anonymous_user[256];       /* anonymous clients log in as this user: "guest" */
	char anonymous_password[256];   /* ... with this password: "guest" */
	uint16_t max_inflight;          /* outbound QoS 1/2 window for v3 clients: 20 */
	uint16_t receive_maximum;       /* inbound QoS 2 window announced to v5 clients: 20 */
	uint16_t topic_alias_maximum;   /* inbound aliases announced to v5 clients: 10 */
	uint16_t max_keepalive;         /* seconds; a larger client keepalive is lowered (v5), 0 = none */
	uint32_t connect_timeout_ms;    /* CONNECT must arrive within: 10000 */
	size_t output_high_watermark;   /* bytes buffered per connection before deliveries park */
	uint32_t sys_interval;          /* seconds between $SYS updates: 10; 0 = none */
	bool reason_strings;            /* v5 Reason String on refusals: no, as Mosquitto */
	bool retain_available;          /* yes; no: retained publishes and wills refused */
	uint64_t max_retained_messages; /* in the store, every vhost: 1000000; 0 = no limit */
	uint64_t max_retained_bytes;    /* of their bodies: 256 MiB; 0 = no limit */
	uint32_t max_queued_messages;   /* per session queue, beyond in flight: 1000; 0 = none */
	uint64_t max_queued_bytes;      /* the same in bytes: 0 = no limit */
	uint32_t persistent_client_expiration;  /* seconds; 0 = never (Mosquitto's default) */
};

void mqtt_config_defaults(struct mqtt_config *c);

/*
 * Bind and listen. On success logs "listening mqtt HOST:PORT" (the real
 * port when cfg->port is 0; tests read that line) and returns the
 * listener; on failure returns NULL and writes the reason to err.
 */
struct mqtt_listener *mqtt_listener_new(struct event_base *base, struct bk_broker *b,
					const struct mqtt_config *cfg);

/*
 * The transport's ops for MQTT connections. Shutdown sends v5 clients
 * DISCONNECT 0x8B (server shutting down) and closes every connection
 * (v3 clients just see the close; wills of connections still open are not
 * published, as at a clean stop).
 */
extern const struct net_proto_ops mqtt_net_ops;

/* After the transport freed every connection (net_free): free sessions
 * and the retained store. Persistent
 * sessions' queues and the retained log stay in the core (and its
 * journal), which the daemon frees after. Accepts NULL. */
void mqtt_listener_free(struct mqtt_listener *l);

#endif
