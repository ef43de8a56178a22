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

struct amqp_config {
	char bind[64];                  /* "127.0.0.1"; "::" or "0.0.0.0" for all */
	int port;                       /* 5672; 0 = any free port */
	uint32_t frame_max;             /* 131072 */
	uint16_t channel_max;           /* 2047 */
	uint16_t heartbeat;             /* seconds, 60; 0 disables */
	uint64_t max_message_size;      /* 16 MiB */
	size_t output_high_watermark;   /* bytes buffered per connection before consumers park */
	uint32_t handshake_timeout_ms;  /* 10000 */
	/* body bytes a connection may hold for publishes not yet complete
	 * (every channel together); more closes it with 506 RESOURCE_ERROR */
	uint64_t max_inflight_content;  /* 32 MiB */
	/* an incomplete publish whose next body frame does not arrive within
	 * this long closes the connection (0 = never) */
	uint32_t content_timeout_ms;    /* 60000 */
};

void amqp_config_defaults(struct amqp_config *c);

/*
 * Bind and listen. On success logs "listening amqp HOST:PORT" (the real
 * port when cfg->port is 0; tests read that line) and returns the
 * listener; on failure returns NULL and writes the reason to err.
 */
struct amqp_listener *amqp_listener_new(struct event_base *base, struct bk_broker *b,
					const struct amqp_config *cfg,
					char *err, size_t errlen);
/* The port actually bound. */
int amqp_listener_port(const struct amqp_listener *l);

/*
 * Stop accepting, send connection.close 320 CONNECTION_FORCED "broker
 * forced connection closure with reason 'shutdown'" to every connection,
 * and call done(arg) once all are gone (close-ok received or 2 s passed).
 */
void amqp_listener_shutdown(struct amqp_listener *l, void (*done)(void *arg), void *arg);
void amqp_listener_free(struct amqp_listener *l);

#endif
