/*
 * amqp_conn_int.h: private to the connection layer (amqp_listener.c,
 * amqp_conn.c, amqp_reader.c, amqp_handshake.c, amqp_output.c). Channel
 * code sees struct amqp_conn only (amqp_int.h).
 *
 * A connection is one allocation: struct amqp_conn_priv, whose first
 * member is the struct amqp_conn the channel layer knows, so a
 * struct amqp_conn * converts back with conn_priv().
 *
 * Lifetime: nothing frees a connection inline. Every path ends in
 * amqp_conn_free_later() (a per-connection event made active), in a
 * timer that does the same, or in amqp_listener_free() for the whole set.
 */
#ifndef SLUICE_AMQP_CONN_INT_H
#define SLUICE_AMQP_CONN_INT_H

#include <event2/listener.h>
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

struct amqp_listener {
	struct event_base *base;            /* borrowed */
	struct bk_broker *broker;           /* borrowed */
	struct amqp_config cfg;             /* copy */
	struct evconnlistener *lev;         /* owned */
	int port;                           /* actually bound */
	uint64_t next_id;
	struct amqp_conn *conns;            /* owned list, linked by next/prev */
	uint32_t nconns;
	struct bk_table server_props;       /* owned blob (bk_tb_take) */
	bool shutting_down;
	bool watching;                      /* registered with bk_alarm_watch */
	void (*done)(void *arg);
	void *done_arg;
	struct event *done_ev;              /* owned; calls done once conns is empty */
};

/* What the one per-connection timer does when it fires. */
enum amqp_timer_mode {
	AMQP_TIMER_OFF,
	AMQP_TIMER_HANDSHAKE,               /* handshake_timeout_ms: drop the peer */
	AMQP_TIMER_HEARTBEAT,               /* every heartbeat/2 s: send / check */
	AMQP_TIMER_FREE,                    /* close wait, silent close, flush: free */
};

struct amqp_conn_priv {
	struct amqp_conn c;                 /* first: what the channel layer sees */
	const struct amqp_config *cfg;      /* borrowed from the listener */
	struct event *timer;                /* owned */
	enum amqp_timer_mode timer_mode;
	struct event *reaper;               /* owned; deferred frees run here */
	struct amqp_channel **dead;         /* owned array: closed channels to free */
	uint32_t ndead, dead_cap;
	uint32_t nchannels;                 /* open channels in c.channels */
	uint8_t rx_idle_ticks;              /* heartbeat ticks without input */
	bool rx_seen, tx_seen;              /* activity since the last tick */
	bool wake_wanted;                   /* a consumer saw output_full() */
	bool reading_stopped;               /* input is drained and ignored */
	bool flush_then_free;               /* CLOSED: free once output is empty */
	bool free_pending;
	bool owner_released;                /* bk_owner_gone() done */
	/* resource alarms (amqp_flow.c) */
	bool published;                     /* has sent basic.publish */
	bool flow_blocked;                  /* EV_READ off until alarms clear */
	bool blocked_sent;                  /* connection.blocked sent, unblocked owed */
};

static inline struct amqp_conn_priv *
conn_priv(const struct amqp_conn *c)
{
	return (struct amqp_conn_priv *)c;
}

/* amqp_conn.c */
struct amqp_conn *amqp_conn_new(struct amqp_listener *l, evutil_socket_t fd,
				const struct sockaddr *sa, int salen);
/* Free now: channels, exclusive queues, socket. Only from the reaper,
 * a timer, or amqp_listener_free(). */
void amqp_conn_free(struct amqp_conn *c);
void amqp_conn_free_later(struct amqp_conn *c);
/* Stop reading, then free once the output has gone (close-ok sent, or
 * the protocol header refused). */
void amqp_conn_flush_then_free(struct amqp_conn *c);
/* Free every open channel now (caller is not inside channel code). */
void amqp_conn_free_channels(struct amqp_conn *c);
/* Drop exclusive queues once (connection.close, close-ok, free). */
void amqp_conn_release_owner(struct amqp_conn *c);
/* connection.close 320 to a running peer, or free a handshaking one. */
void amqp_conn_shutdown(struct amqp_conn *c);
void amqp_conn_timer_set(struct amqp_conn *c, enum amqp_timer_mode mode, uint32_t ms);
/* Input lost its framing: ignore and drain everything that follows. */
void amqp_conn_stop_reading(struct amqp_conn *c);
const char *amqp_conn_state_name(enum amqp_conn_state st);

/* amqp_mgmt.c: the broker's connection registry (c->mgmt). */
void amqp_conn_mgmt_register(struct amqp_conn *c, evutil_socket_t fd,
			     const struct sockaddr *sa);
void amqp_conn_mgmt_unregister(struct amqp_conn *c);

/* amqp_flow.c: resource alarms. The listener's alarm watcher. */
void amqp_listener_on_alarm(void *arg, unsigned alarms);
/* A basic.publish was handled: stop reading if an alarm is raised. */
void amqp_conn_flow_on_publish(struct amqp_conn *c);
/* Read again (no connection.unblocked): alarms cleared, or closing. */
void amqp_conn_flow_resume_reading(struct amqp_conn *c);

/* amqp_reader.c: the bufferevent read callback. */
void amqp_conn_read_cb(struct bufferevent *bev, void *arg);

/* amqp_output.c */
void amqp_conn_write_cb(struct bufferevent *bev, void *arg);
void amqp_conn_send_heartbeat(struct amqp_conn *c);

/* amqp_handshake.c */
void amqp_conn_send_start(struct amqp_conn *c);
/* A decoded method on channel 0. */
void amqp_conn_on_method0(struct amqp_conn *c, const struct amqp_method *m);

/* amqp_listener.c: the connection left the listener's list. */
void amqp_listener_conn_gone(struct amqp_listener *l, struct amqp_conn *c);

#endif
