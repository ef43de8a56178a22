/*
 * amqp_int.h: shared between the adapter's files (amqp_listener.c,
 * amqp_conn.c, amqp_channel*.c, amqp_status.c). Layers:
 *   codec   amqp_codec.c amqp_methods.c(generated) amqp_props.c: bytes only
 *   conn    amqp_listener.c amqp_conn.c amqp_reader.c amqp_handshake.c
 *           amqp_output.c: framing, handshake, heartbeats, channel table,
 *           output, connection errors, on the transport's net_conn
 *   channel amqp_channel.c amqp_channel_*.c: channel state, publishing,
 *           consuming, confirms, tx; calls broker.h
 */
#ifndef SLUICE_AMQP_INT_H
#define SLUICE_AMQP_INT_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "broker.h"
#include "net.h"
#include "amqp091.h"
#include "amqp_codec.h"

struct amqp_channel;

enum amqp_conn_state {
	AMQP_CONN_HEADER,               /* waiting for "AMQP\0\0\x09\x01" */
	AMQP_CONN_START_OK,             /* sent connection.start */
	AMQP_CONN_SECURE_OK,
	AMQP_CONN_TUNE_OK,
	AMQP_CONN_OPEN,                 /* waiting for connection.open */
	AMQP_CONN_RUNNING,
	AMQP_CONN_CLOSING,              /* sent connection.close, waiting close-ok */
	AMQP_CONN_CLOSED,               /* flushing, then freed */
};

struct amqp_conn {
	uint64_t id;
	struct amqp_listener *listener;     /* borrowed */
	struct bk_broker *broker;           /* borrowed */
	struct bk_vhost *vhost;             /* borrowed, set by connection.open */
	struct net_conn *nc;                /* borrowed: the transport owns us */
	struct event_base *base;            /* borrowed */
	const char *peer;                   /* borrowed from nc: "127.0.0.1:5555" */
	bool peer_is_loopback;
	bool tuned;                         /* connection.tune-ok accepted */
	/* a channel waits for a durable change before its -ok: no frame is
	 * handled until then (amqp_conn_hold_input) */
	bool input_held;
	enum amqp_conn_state state;
	uint32_t frame_max;                 /* negotiated */
	uint16_t channel_max;               /* negotiated */
	uint16_t heartbeat;                 /* negotiated, seconds */
	/* owned: open channels by id, chan_cap slots (ids 0 .. chan_cap - 1),
	 * grown on channel.open: an idle connection with channel 1 holds a
	 * few slots, not one per channel_max */
	struct amqp_channel **channels;
	uint32_t chan_cap;
	/* client capabilities from connection.start-ok client-properties */
	bool cap_consumer_cancel_notify;
	bool cap_connection_blocked;
	bool cap_auth_failure_close;
	bool cap_basic_nack;
	char *user;                         /* owned */
	/* largest publish body accepted (amqp_config.max_message_size); the
	 * channel applies the smaller of this and bk_limits'; 0 = unset */
	uint64_t max_message_size;
	/* the connection sits in its listener's list */
	struct amqp_conn *next, *prev;
	/* body bytes held by publishes still being received on all channels
	 * (amqp_channel_publish.c), capped by amqp_config.max_inflight_content */
	uint64_t inflight_content;
	/* management registry (amqp_mgmt.c); NULL when not registered */
	struct bk_conn *mgmt;
	struct bk_conn_counters *ctr;       /* in mgmt; plain adds */
	/* bk_now_ms() when the current batch of input began (0 = none yet):
	 * what frames handled in that batch count as their arrival time */
	uint64_t now_ms;
};

/* Open channel id of c, or NULL. */
static inline struct amqp_channel *
amqp_conn_channel(const struct amqp_conn *c, uint32_t id)
{
	return id < c->chan_cap ? c->channels[id] : NULL;
}

/* ---- conn -> used by channel ---------------------------------------- */

/* Append one method frame to the output (no syscall: libevent writes it
 * out once per loop iteration). */
void amqp_conn_send_method(struct amqp_conn *c, uint16_t channel,
			   const struct amqp_method *m);

/*
 * Append method + content header + body frames (split at frame_max) for
 * basic.deliver / basic.get-ok / basic.return: msg's body with the
 * properties props (msg's own, or a copy the channel adjusted for the
 * wire). Small bodies are copied; large ones are added by reference with
 * one message ref per chunk.
 */
void amqp_conn_send_content(struct amqp_conn *c, uint16_t channel,
			    const struct amqp_method *m, struct bk_msg *msg,
			    const struct bk_props *props);

/* The listener's configuration: the limits the channel layer applies
 * (amqp_conn_query.c). */
const struct amqp_config *amqp_conn_config(const struct amqp_conn *c);
/* Reading is paused (a resource alarm, input held, output over its
 * watermark): the peer's frames wait unread, so time spent now is not
 * the peer's delay. */
bool amqp_conn_reading_paused(const struct amqp_conn *c);
/*
 * Hold (true) or release the connection's input: while held no frame is
 * handled, so a channel can keep its -ok until a durable change is on
 * disk without any later reply of the same channel overtaking it.
 * Releasing handles the frames already buffered from a deferred callback,
 * never inside the caller.
 */
void amqp_conn_hold_input(struct amqp_conn *c, bool hold);

/* Output above the high watermark: consumers should return -EAGAIN. */
bool amqp_conn_output_full(const struct amqp_conn *c);

/*
 * Connection error [§1.5.2.1 hard errors]: send connection.close with
 * code, "NAME - text" and the failing method id, ignore everything but
 * close/close-ok afterwards, and free the connection later from a
 * deferred event.
 */
void amqp_conn_close_or(struct amqp_conn *c, uint16_t code, uint32_t method_id,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The channel has finished closing (close-ok sent or received); free it
 * and clear the slot. Safe to call from inside channel code. */
void amqp_conn_channel_closed(struct amqp_conn *c, uint16_t channel);

/* Log with the conn=<id> peer=<addr> proto=amqp prefix. */
void amqp_conn_log(const struct amqp_conn *c, enum bk_log_level lvl,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- channel -> used by conn ---------------------------------------- */

struct amqp_channel *amqp_channel_new(struct amqp_conn *c, uint16_t id);
/* Requeue unacked deliveries in order, cancel consumers, free. Accepts NULL. */
void amqp_channel_free(struct amqp_channel *ch);

/* Every method for an open channel except channel.open. Errors are sent
 * by the channel itself (channel.close or amqp_conn_close_or). */
void amqp_channel_on_method(struct amqp_channel *ch, const struct amqp_method *m);
/* A content header frame payload. */
void amqp_channel_on_header(struct amqp_channel *ch, const uint8_t *p, size_t n);
/* A body frame: consume exactly n bytes from in. */
void amqp_channel_on_body(struct amqp_channel *ch, struct evbuffer *in, size_t n);
/* A body frame whose n payload octets lie at p (the caller drains them). */
void amqp_channel_on_body_mem(struct amqp_channel *ch, const uint8_t *p, size_t n);
/* Output drained below the low watermark: wake parked consumers. */
void amqp_channel_wake(struct amqp_channel *ch);
/* The channel is waiting for a channel.close-ok (ignore other frames). */
bool amqp_channel_is_closing(const struct amqp_channel *ch);

/* ---- status mapping (amqp_status.c) -------------------------------- */

uint16_t amqp_status_code(enum bk_status st);
/* "NOT_FOUND" for 404 etc. */
const char *amqp_code_name(uint16_t code);
/* 5xx codes and 320 are connection errors; 3xx/4xx channel errors. */
bool amqp_code_is_hard(uint16_t code);

#endif
