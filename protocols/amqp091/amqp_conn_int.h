/*
 * amqp_conn_int.h: private to the connection layer (amqp_listener.c,
 * amqp_conn.c, amqp_reader.c, amqp_handshake.c, amqp_output.c). Channel
 * code sees struct amqp_conn only (amqp_int.h).
 *
 * A connection is one allocation: struct amqp_conn_priv, whose first
 * member is the struct amqp_conn the channel layer knows, so a
 * struct amqp_conn * converts back with conn_priv().
 *
 * Lifetime: the transport (net/) owns the socket and frees a connection
 * only from its reaper event: every path ends in amqp_conn_free_later(),
 * amqp_conn_flush_then_free() or a net_conn_close_in() linger, and the
 * transport then calls amqp_net_ops.free.
 */
#ifndef SLUICE_AMQP_CONN_INT_H
#define SLUICE_AMQP_CONN_INT_H

#include <event2/util.h>

#include "amqp_int.h"

/* RabbitMQ waits this long before dropping a peer that failed the
 * handshake, to slow down login storms. */
#define AMQP_SILENT_CLOSE_MS    3000
/* How long a server-sent connection.close waits for close-ok. */
#define AMQP_CLOSE_WAIT_MS      1000
#define AMQP_SHUTDOWN_WAIT_MS   2000
/* Output left unsent this long after close-ok: give up on the peer. */
#define AMQP_FLUSH_WAIT_MS      5000
/* Frame size limit until tune-ok [AMQP 0-9-1 §4.2.1, RabbitMQ initial_frame_max]. */
#define AMQP_INITIAL_FRAME_MAX  4096

/*
 * The adapter's broker-wide state: its configuration, the list of its
 * connections, and the server-properties table sent in every
 * connection.start (encoded once, borrowed by each connection). The
 * sockets themselves are the transport's (net/): every AMQP listener,
 * plain or TLS, hands its connections to amqp_net_ops with this as arg.
 */
struct amqp_listener {
	struct event_base *base;            /* borrowed */
	struct bk_broker *broker;           /* borrowed */
	struct amqp_config cfg;             /* copy */
	struct amqp_conn *conns;            /* list of live connections, by next/prev */
	uint32_t nconns;
	struct bk_table server_props;       /* owned blob (bk_tb_take) */
	bool watching;                      /* registered with bk_alarm_watch */
};

struct amqp_conn_priv {
	struct amqp_conn c;                 /* first: what the channel layer sees */
	const struct amqp_config *cfg;      /* borrowed from the listener */
	struct amqp_channel **dead;         /* owned array: closed channels to free */
	uint32_t ndead, dead_cap;
	uint32_t nchannels;                 /* open channels in c.channels */
	uint16_t hb_halves;                 /* transport ticks (0.5 s) since the last
					       heartbeat tick (every heartbeat/2 s) */
	bool hb_on;                         /* heartbeats are running */
	uint8_t rx_idle_ticks;              /* heartbeat ticks without input */
	bool rx_seen, tx_seen;              /* activity since the last tick */
	bool wake_wanted;                   /* a consumer saw output_full() */
	bool reading_stopped;               /* input is drained and ignored */
	bool owner_released;                /* bk_owner_gone() done */
	/* resource alarms (amqp_flow.c) */
	bool published;                     /* has sent basic.publish */
	bool flow_blocked;                  /* reading paused until alarms clear */
	bool blocked_sent;                  /* connection.blocked sent, unblocked owed */
	bool settle_run;                    /* in a run of settle frames (amqp_reader.c) */
};

static inline struct amqp_conn_priv *
conn_priv(const struct amqp_conn *c)
{
	return (struct amqp_conn_priv *)c;
}

/* amqp_conn.c: the transport's ops (amqp_net_ops) and the lifetime. */
/* Free soon, from the transport's reaper. */
void amqp_conn_free_later(struct amqp_conn *c);
/* Stop reading, then free once the output has gone (close-ok sent, or
 * the protocol header refused). */
void amqp_conn_flush_then_free(struct amqp_conn *c);
/* Free every open channel now (caller is not inside channel code). */
void amqp_conn_free_channels(struct amqp_conn *c);
/* Drop exclusive queues once (connection.close, close-ok, free). */
void amqp_conn_release_owner(struct amqp_conn *c);
/* Start the heartbeat ticks (connection.open-ok sent). */
void amqp_conn_heartbeat_start(struct amqp_conn *c);
/* Input lost its framing: ignore and drain everything that follows. */
void amqp_conn_stop_reading(struct amqp_conn *c);
/* Freeing or flushing before the free: nothing more is read or sent. */
bool amqp_conn_gone(const struct amqp_conn *c);
const char *amqp_conn_state_name(enum amqp_conn_state st);

/* amqp_mgmt.c: the broker's connection registry (c->mgmt). */
void amqp_conn_mgmt_register(struct amqp_conn *c);
void amqp_conn_mgmt_unregister(struct amqp_conn *c);
/* After login: c->user becomes user (up to a NUL) with the client
 * properties; after connection.open the vhost's name joins them
 * (amqp_mgmt.c). */
void amqp_conn_mgmt_login(struct amqp_conn *c, struct bk_str user, struct bk_table props);
void amqp_conn_mgmt_open(struct amqp_conn *c, const char *vhost);

/* amqp_flow.c: resource alarms. The listener's alarm watcher. */
void amqp_listener_on_alarm(void *arg, unsigned alarms);
/* A basic.publish was handled: stop reading if an alarm is raised. */
void amqp_conn_flow_on_publish(struct amqp_conn *c);
/* Read again (no connection.unblocked): alarms cleared, or closing. */
void amqp_conn_flow_resume_reading(struct amqp_conn *c);

/* amqp_reader.c: bytes wait in the transport's input. */
void amqp_conn_read(void *ctx);

/* amqp_output.c */
/* The output drained to the low watermark: wake parked consumers. */
void amqp_conn_writable(void *ctx);
void amqp_conn_send_heartbeat(struct amqp_conn *c);

/* amqp_handshake.c */
void amqp_conn_send_start(struct amqp_conn *c);
/* A decoded method on channel 0. */
void amqp_conn_on_method0(struct amqp_conn *c, const struct amqp_method *m);

#endif
