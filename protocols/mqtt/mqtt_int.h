/*
 * mqtt_int.h: shared between the MQTT adapter's files. Layers, as in the
 * AMQP adapter:
 *   codec    mqtt_codec.c mqtt_encode.c mqtt_props.c mqtt_utf8.c: bytes only
 *   reader   mqtt_reader.c: the transport's input, framing, packet dispatch
 *   conn     mqtt_listener.c mqtt_conn.c mqtt_output.c: the transport's
 *            ops, keepalive, output, errors (sockets, TLS, WebSockets and
 *            deferred frees are net/'s)
 *   session  mqtt_connect.c mqtt_session.c mqtt_subscribe.c mqtt_deliver.c
 *            mqtt_publish.c mqtt_will.c mqtt_retain.c: the protocol state
 *            machine and the glue to broker.h
 *   mapping  mqtt_topic.c (topics <-> routing keys), mqtt_msgprops.c
 *            (MQTT 5 properties <-> bk_props), mqtt_status.c (bk_status ->
 *            reason codes)
 *
 * Object graph (all on the main thread):
 *
 *   net_conn --owns--> mqtt_conn (freed by mqtt_net_ops.free)
 *   mqtt_listener --lists-> mqtt_conn list, mqtt_session table (by vhost +
 *                           client id), shared-group hash
 *   mqtt_conn  <--conn/session--> mqtt_session   (while connected)
 *   mqtt_conn  --owns--> the block of its session when that session ends
 *                        with it (own_session: the login strings are the
 *                        session's key), else a block of its login strings
 *   mqtt_session --owns--> rx (from the first subscription): mqtt_sub hash
 *                          (each with the walk over the retained messages
 *                          it is still owed), queue, outbound slots
 *                          (in-flight deliveries); x: expiry timer, a
 *                          delayed will, inbound QoS 2 ids
 */
#ifndef SLUICE_MQTT_INT_H
#define SLUICE_MQTT_INT_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <string.h>
#include <uthash.h>

#include "broker.h"
#include "net.h"
#include "mqtt.h"
#include "mqtt_codec.h"

#define MQTT_SESSION_NEVER      UINT32_MAX   /* v3 persistent sessions */
#define MQTT_FLUSH_WAIT_MS      2000         /* closing: output left after this is dropped */
#define MQTT_TOPIC_MAX          65535        /* an MQTT string's longest [MQTT-1.5.4] */
/* The queues of sessions ("mqtt-subscription-<client id>qos1") and of
 * shared groups ("mqtt-shared-<group>-<filter>", "mqtt-shared-/<group>/<filter>"
 * when the group has a '-'): names reserved for
 * MQTT in the core (bk_queue_prefix_reserve). */
#define MQTT_SESSION_QPREFIX    "mqtt-subscription-"
#define MQTT_SHARED_QPREFIX     "mqtt-shared-"

/*
 * bk_msg.origin_flags of messages published over MQTT. A message without
 * MQTT_OF_MQTT came from another protocol: its QoS is 1 if persistent,
 * else 0, and it is never retained.
 */
enum {
	MQTT_OF_QOS_MASK = 3u,
	MQTT_OF_RETAIN   = 1u << 2,
	MQTT_OF_MQTT     = 1u << 8,
};

/*
 * A growable scratch buffer for topic, key and property conversions. It
 * belongs to the object whose work it serves (a connection, the $SYS
 * publisher), never to the process: I/O threads may run connections in
 * parallel. What it holds is valid until its owner's next conversion.
 */
struct mqtt_buf {
	char *p;                        /* owned; its capacity is kept in the
					   size_t just before p */
};

enum mqtt_conn_state {
	MQTT_CONN_NEW,                  /* waiting for CONNECT */
	MQTT_CONN_RUNNING,              /* CONNACK 0 sent */
	MQTT_CONN_CLOSING,              /* output flushing, input ignored */
};

struct mqtt_session;
struct mqtt_will;

/* Adapter-wide counters since start, for the $SYS topics (plain adds). */
struct mqtt_counters {
	uint64_t pkts_in, pkts_out;     /* control packets */
	uint64_t bytes_in, bytes_out;
	uint64_t pub_in, pub_out;       /* PUBLISH packets */
	uint64_t sessions_expired;
	uint64_t conns_total;           /* connections accepted */
	uint32_t conns_max;             /* most connections open at once */
};

struct mqtt_sys;

/* Sessions by vhost + client id (mqtt_session_table.c). */
struct mqtt_session_table {
	struct mqtt_session **slots;    /* owned [cap] chains, via hnext */
	uint32_t cap;                   /* a power of two; 0 before the first */
	uint32_t n;
	uint64_t k[2];                  /* the hash key, drawn at the first use */
	bool keyed;
};

/* Every session s of l (i: a uint32_t, nx: a session pointer, both
 * scratch); the body may end s, and no other session. */
#define MQTT_SESSIONS_EACH(l, i, s, nx) \
	for ((i) = 0; (i) < (l)->sessions.cap; (i)++) \
		for ((s) = (l)->sessions.slots[i]; (s) && ((nx) = (s)->hnext, true); (s) = (nx))

struct mqtt_listener {
	struct event_base *base;        /* borrowed */
	struct bk_broker *broker;       /* borrowed */
	struct mqtt_config cfg;         /* copy */
	uint64_t next_session_id;       /* no-local origin tokens, never reused */
	struct mqtt_conn *conns;        /* owned list (next/prev) */
	uint32_t nconns;
	struct mqtt_session_table sessions;     /* owned sessions */
	struct mqtt_shared *shared;     /* owned uthash by vhost + queue name */
	struct mqtt_counters ctr;
	struct mqtt_sys *sys;           /* owned: $SYS publisher, NULL when off */
	/* owned: scratch of session work (always on the loop's thread, never
	 * nested): binding keys of (un)subscribes and permission checks, and
	 * a session queue's name before the queue exists */
	struct mqtt_buf kbuf, nbuf;
	unsigned alarms;                /* bk_alarms() as last reported */
	bool alarm_watched;
	bool shutting_down;             /* the broker is stopping: no wills */
};

/* What a connection's outbound topic aliases may hold, entries and
 * topics together: a client asking for 65535 aliases would otherwise
 * make the broker keep every distinct topic it was sent, up to 64 KB
 * each, for as long as it stays connected. Topics past it go by name. */
#define MQTT_OUT_ALIAS_BYTES (64u * 1024)

struct mqtt_alias {                     /* one outbound topic alias */
	char *topic;                    /* owned; uthash key */
	uint16_t alias;
	UT_hash_handle hh;              /* in conn->x->out_alias */
};

/*
 * A connection's state, in the order of its lifetime: what every
 * connection needs, then what only some use (a QoS 1/2 publisher's
 * acknowledgements, v5 limits and topic aliases, a will, a slow-down),
 * which costs a pointer until it is used. Fields are grouped by size so
 * an idle connection holds no padding: 120 bytes on 64-bit, so with the
 * allocator's 8-byte header one 128-byte chunk.
 */
struct mqtt_conn {
	struct mqtt_listener *l;        /* borrowed */
	struct net_conn *nc;            /* borrowed: the transport owns us (its
					   id, peer and loopback flag are asked
					   of it, not copied) */
	struct bk_vhost *vhost;         /* borrowed, set by CONNECT */
	char *names;                    /* "vhost \0 client id \0 user \0" of the
					   login, NULL before: owned, or when
					   own_session the key of that session,
					   whose block is ours; stable until the
					   connection is freed (mqtt_conn_user) */
	struct mqtt_session *session;   /* borrowed; session->conn == this */
	uint64_t pub_gen;               /* access generation when publishing was
					   allowed whatever the topic; 0 = check
					   each PUBLISH */
	struct bk_conn *mgmt;           /* registration, NULL before CONNECT */
	struct bk_conn_counters *ctr;   /* into mgmt, or NULL */
	struct mqtt_acks *acks;         /* owned, from the first QoS 1/2 PUBLISH */
	struct mqtt_conn_x *x;          /* owned, from a will, v5 limits or topic
					   aliases, or the first slow-down */
	struct mqtt_buf tbuf;           /* owned: topic <-> key of one packet; */
	struct mqtt_buf pbuf;           /* owned: property conversions of one packet;
					   both freed on each tick (conn_tick) */
	struct mqtt_conn *next, *prev;  /* in l->conns */
	uint32_t last_rx_ms;            /* bk_now_ms() of the last input, mod 2^32
					   (keepalives are far shorter) */
	uint16_t keepalive;             /* seconds in effect, 0 = none */
	uint8_t level;                  /* from CONNECT; 0 before */
	unsigned state : 2;             /* enum mqtt_conn_state */
	/* flags, one bit each */
	bool will_suppressed : 1;       /* DISCONNECT 0x00 or shutdown */
	bool published : 1;             /* has sent a PUBLISH: blocked by alarms */
	bool blocked : 1;               /* not reading: a resource alarm is up */
	bool slowed : 1;                /* not reading for a moment: a subscriber
					   it publishes to is behind (mqtt_conn_pace) */
	bool wake_wanted : 1;           /* a delivery saw a full output */
	bool own_session : 1;           /* names is the key of the session made
					   for this connection alone (clean, no
					   expiry), in one block we free */
};

/* What a connection has only with a will, v5 limits of the client, topic
 * aliases, a slow-down or an undeliverable message (mqtt_conn_x() makes
 * it). */
struct mqtt_conn_x {
	struct mqtt_will *will;         /* owned until the connection ends */
	char **in_alias;                /* owned [topic_alias_maximum + 1] topics */
	struct mqtt_alias *out_alias;   /* owned uthash by topic */
	struct event *pace_ev;          /* owned: ends a slow-down (mqtt_conn_pace) */
	uint32_t client_max_packet;     /* v5 Maximum Packet Size; 0 = none */
	uint32_t skipped;               /* deliveries that could not be encoded, unlogged */
	uint32_t skip_logged_s;         /* second (bk_now_ms() / 1000) of the last log line about them */
	uint32_t out_alias_bytes;       /* held by out_alias (MQTT_OUT_ALIAS_BYTES) */
	uint16_t client_alias_max;      /* v5 Topic Alias Maximum of the client */
	uint16_t out_alias_used;
	uint16_t slow_us;               /* the last slow-down pause; 0 = none lately */
	bool no_problem_info;           /* v5 Request Problem Information 0 */
};

/* The login of c, copies that stay until c is freed (the registry
 * borrows them): its vhost's name, client id and user; NULL before. */
static inline const char *
mqtt_conn_vhost_name(const struct mqtt_conn *c)
{
	return c->names;
}

static inline const char *
mqtt_conn_client_id(const struct mqtt_conn *c)
{
	return c->names ? c->names + strlen(c->names) + 1 : NULL;
}

static inline const char *
mqtt_conn_user(const struct mqtt_conn *c)
{
	const char *id = mqtt_conn_client_id(c);

	return id ? id + strlen(id) + 1 : NULL;
}

/* The client's v5 Maximum Packet Size; 0 = none. */
static inline uint32_t
mqtt_conn_max_packet(const struct mqtt_conn *c)
{
	return c->x ? c->x->client_max_packet : 0;
}

/* The will of c, or NULL. */
static inline struct mqtt_will *
mqtt_conn_will(const struct mqtt_conn *c)
{
	return c->x ? c->x->will : NULL;
}

/*
 * A QoS 1/2 publisher's acknowledgements (mqtt_publish.c), made at its
 * first such PUBLISH: the durability tracker and the acks held for order.
 */
struct mqtt_acks {
	struct bk_confirm *confirm;     /* owned: durability of QoS 1/2 publishes */
	uint64_t token;                 /* last token given */
	struct mqtt_ackq *q;            /* owned ring of acks held for order */
	uint32_t head, len, cap;
};

/* An inbound acknowledgement waiting for its turn [MQTT-4.6.0-2]. */
struct mqtt_ackq {
	uint64_t token;                 /* 0: decided when queued */
	uint16_t pid;
	uint8_t type;                   /* MQTT_PUBACK or MQTT_PUBREC */
	uint8_t rc;
	bool done;
	bool write_failed;              /* the journal could not make it durable */
};

/* One subscription of a session. */
struct mqtt_sub {
	char *filter;                   /* owned, as subscribed ($share/... too); uthash key */
	struct bk_str match;            /* the topic filter part, into filter */
	uint8_t qos;                    /* granted */
	bool no_local, rap;             /* v5 options */
	uint8_t rh;                     /* v5 retain handling, as subscribed */
	uint32_t sub_id;                /* v5 subscription identifier, 0 = none */
	uint8_t *bargs;                 /* owned: the binding's arguments (own queue only) */
	uint32_t bargs_len;
	struct mqtt_shared *shared;     /* ref; NULL: bound to the session's queue */
	struct bk_consumer *consumer;   /* shared only, while connected */
	struct mqtt_session *s;         /* borrowed back pointer */
	/* retained messages owed since the SUBACK (mqtt_retain.c) */
	struct bk_retained_walk *rwalk; /* owned, or NULL */
	struct bk_msg *rheld;           /* ref: the match that waits for room */
	uint8_t rqos;                   /* granted QoS at that SUBSCRIBE */
	uint32_t rsub_id;               /* and subscription identifier */
	struct mqtt_sub *rw_prev, *rw_next; /* in s->rw_head while rwalk */
	UT_hash_handle hh;              /* in s->subs */
};

/* A shared subscription's queue: one per vhost + group + filter. */
struct mqtt_shared {
	char *key;                      /* owned: vhost \0 queue; uthash key */
	uint32_t key_len;
	const char *queue;              /* into key */
	struct bk_vhost *vhost;         /* borrowed */
	uint32_t refs;                  /* subscriptions using it */
	UT_hash_handle hh;              /* in l->shared */
};

enum mqtt_out_state { MQTT_OUT_FREE, MQTT_OUT_SENT, MQTT_OUT_RELEASED };

/* One outbound QoS 1/2 message in flight. Its packet id is index + 1. */
struct mqtt_out {
	struct bk_delivery *d;          /* owned until settled; NULL for local messages */
	struct bk_msg *msg;             /* ref (also when d is set) */
	uint8_t state;                  /* enum mqtt_out_state */
	uint8_t qos;
	bool retain;
	bool shared;                    /* d came from a shared-subscription queue */
	uint32_t sub_id;
	uint64_t seq;                   /* send order, for resends */
	uint16_t next_free;             /* free list: index + 1, 0 = end */
};

/* The packet ids of inbound QoS 2 publishes between PUBREC and PUBREL
 * (mqtt_publish.c), made at a session's first. */
struct mqtt_qos2_ids {
	uint32_t count;
	uint8_t bits[65536 / 8];
};

/*
 * A session, connected or not. What only some sessions use (their queue,
 * in-flight slots, inbound QoS 2 ids, an expiry timer, a delayed will,
 * retained walks) costs a pointer until used; the scratch buffers of
 * (un)subscribes are the listener's. The key ends the block. A session
 * that ends with its connection (expiry 0 from the start) is made for it
 * alone (mqtt_session_new_own): the connection's login strings are its
 * key, and the connection frees the block (in_conn).
 */
struct mqtt_session {
	uint64_t id;                    /* origin token for no-local */
	struct mqtt_listener *l;        /* borrowed */
	struct bk_vhost *vhost;         /* borrowed */
	struct mqtt_conn *conn;         /* borrowed, NULL while offline */
	struct mqtt_session_rx *rx;     /* owned from the first subscription or
					   queue; until then the shared empty
					   mqtt_session_rx_none (read only) */
	struct mqtt_session_x *x;       /* owned, from the first expiry timer,
					   delayed will or inbound QoS 2 */
	struct mqtt_session *hnext;     /* in l->sessions' chain */
	uint32_t key_len;
	uint32_t expiry;                /* seconds after disconnect; 0 = ends with it */
	uint32_t hash;                  /* of the key, in l->sessions */
	uint16_t out_limit;             /* window in effect */
	bool has_owner : 1;             /* key holds the owner */
	bool in_conn : 1;               /* the block is conn's (conn->own_session) */
	bool ended : 1;                 /* in_conn: out of the table, settled */
	char key[];                     /* vhost \0 client id \0 owner \0
					   (mqtt_session_client_id, _owner); the
					   first key_len octets are the table's key */
};

/*
 * What a session receives with: its subscriptions, its queue and the
 * consumer on it, and the in-flight slots. A session that never
 * subscribed (or was recovered with a queue) points at the shared
 * mqtt_session_rx_none, all empty: read it freely, but write only
 * through mqtt_session_rx(), which makes the session its own.
 */
struct mqtt_session_rx {
	struct mqtt_sub *subs;          /* owned uthash by filter */
	struct mqtt_sub *rw_head, *rw_tail; /* borrowed: subs with retained walks, FIFO */
	char *queue;                    /* owned; own queue name, NULL until needed */
	struct bk_consumer *consumer;   /* on own queue while connected */
	struct mqtt_out *out;           /* owned [out_cap] */
	uint64_t out_seq;
	uint32_t nsubs, nlocal;         /* all / bound to the own queue */
	uint16_t out_cap;
	uint16_t out_used;
	uint16_t out_free;              /* free list head: index + 1 */
	bool parked;                    /* a consumer got -EAGAIN for want of a slot */
};

extern const struct mqtt_session_rx mqtt_session_rx_none;

struct mqtt_session_rx *mqtt_session_rx_make(struct mqtt_session *s);

/* s->rx, made s's own if it was the shared empty one. */
static inline struct mqtt_session_rx *
mqtt_session_rx(struct mqtt_session *s)
{
	return s->rx != &mqtt_session_rx_none ? s->rx : mqtt_session_rx_make(s);
}

/* What a session has only once it waits offline or takes QoS 2
 * publishes (mqtt_session_x() makes it). */
struct mqtt_session_x {
	struct event *expiry_ev;        /* owned */
	struct mqtt_will *will;         /* owned: delayed will waiting */
	struct mqtt_qos2_ids *qos2_in;  /* owned, or NULL */
};

/* s->x, made if it was not there. */
static inline struct mqtt_session_x *
mqtt_session_x(struct mqtt_session *s)
{
	if (s->x == NULL)
		s->x = bk_calloc(1, sizeof(*s->x));
	return s->x;
}

/* The delayed will waiting in s, or NULL. */
static inline struct mqtt_will *
mqtt_session_will(const struct mqtt_session *s)
{
	return s->x ? s->x->will : NULL;
}

static inline const char *
mqtt_session_client_id(const struct mqtt_session *s)
{
	return s->key + strlen(s->key) + 1;     /* after the vhost's name */
}

/* The user s belongs to; NULL: not known (recovered from a queue without
 * x-mqtt-owner): the next user to resume it. */
static inline const char *
mqtt_session_owner(const struct mqtt_session *s)
{
	return s->has_owner ? s->key + s->key_len + 1 : NULL;
}

/* ---- mqtt_mgmt.c ---- */
/* Register c, logged in: its user, vhost name and client id are
 * mqtt_conn_user(), _vhost_name() and _client_id(), stable until c is
 * freed. */
void mqtt_mgmt_register(struct mqtt_conn *c);
void mqtt_mgmt_unregister(struct mqtt_conn *c);
/* bk_vhost_watch watcher (arg: the listener): drop all state of vh. */
void mqtt_mgmt_vhost_gone(void *arg, struct bk_vhost *vh);

/* ---- mqtt_conn.c: the transport's ops (mqtt_net_ops) and the lifetime ---- */
/* Free soon, from the transport's reaper (session detached, will
 * handled then). */
void mqtt_conn_free_later(struct mqtt_conn *c);
/* Freeing, or flushing before the free: nothing more is read. */
bool mqtt_conn_gone(const struct mqtt_conn *c);
/* Stop reading; free once the output has gone (or after a short wait). */
void mqtt_conn_flush_then_free(struct mqtt_conn *c);
/*
 * Protocol error or refusal: log one info line, v5 (running, or CONNECT
 * seen) gets DISCONNECT rc with the text as reason string, then close.
 * The will is published (abnormal end). rc 0 = no DISCONNECT.
 */
void mqtt_conn_close_or(struct mqtt_conn *c, uint8_t rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void mqtt_conn_log(const struct mqtt_conn *c, enum bk_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* May a v5 packet to c carry a Reason String? Only with [mqtt]
 * reason_strings on and the client's Request Problem Information not 0
 * [MQTT-3.1.2-29]. */
bool mqtt_conn_reason_ok(const struct mqtt_conn *c);
/* c->x, made if it was not there. */
struct mqtt_conn_x *mqtt_conn_x(struct mqtt_conn *c);
/* Take the will out of c to publish as c ends: NULL if none, or if a
 * DISCONNECT or the shutdown discarded it (will_suppressed; it is freed),
 * also while c still flushes its output [MQTT-3.1.2-10]. */
struct mqtt_will *mqtt_conn_take_will(struct mqtt_conn *c);
/* Stop or resume reading for the broker's resource alarms. */
void mqtt_conn_flow(struct mqtt_conn *c);
/*
 * After each publish of c: when it reached a connected subscriber's
 * session queue that is half full while the subscriber keeps
 * acknowledging (bk_route_result.backlogged), c's input is not read for
 * a moment (200 µs, doubling while it stays so, up to 3.2 ms), so the
 * subscriber catches up before its queue reaches max_queued_messages,
 * where arriving messages are dropped. A subscriber that stops
 * acknowledging is not waited for: its queue drops at the cap, as
 * Mosquitto's does, and publishers keep their pace.
 */
void mqtt_conn_pace(struct mqtt_conn *c, const struct bk_route_result *res);

/* ---- mqtt_output.c ---- */
/* Encode pkt into the output; false if it could not be (too big). */
bool mqtt_send(struct mqtt_conn *c, const struct mqtt_packet *pkt);
void mqtt_send_ack(struct mqtt_conn *c, uint8_t type, uint16_t pid, uint8_t rc);
void mqtt_send_disconnect(struct mqtt_conn *c, uint8_t rc, const char *reason);
/* Output over the high watermark: deliveries should park. */
bool mqtt_output_full(struct mqtt_conn *c);
/* The transport's output drained to the low watermark: wake deliveries. */
void mqtt_conn_writable(void *ctx);
/* PUBLISH head + body (copied when small, by reference otherwise);
 * false when it cannot be encoded or the connection is closing. */
bool mqtt_send_publish(struct mqtt_conn *c, const struct mqtt_publish *pub,
		       struct bk_msg *msg);

/* ---- mqtt_reader.c ---- */
/* Bytes wait in the transport's input. */
void mqtt_conn_read(void *ctx);

/* ---- mqtt_connect.c ---- */
void mqtt_on_connect(struct mqtt_conn *c, const struct mqtt_packet *pkt);

void mqtt_on_disconnect(struct mqtt_conn *c, const struct mqtt_packet *pkt);

/* ---- mqtt_session_table.c ---- */
struct mqtt_session *mqtt_sessions_find(struct mqtt_session_table *t, const char *key,
					uint32_t len);
/* s->key and s->key_len set; not in the table. */
void mqtt_sessions_add(struct mqtt_session_table *t, struct mqtt_session *s);
void mqtt_sessions_del(struct mqtt_session_table *t, struct mqtt_session *s);
/* Empty: free the slots. */
void mqtt_sessions_fini(struct mqtt_session_table *t);

/* ---- mqtt_session.c ---- */
/* The session queue's argument naming the user the session belongs to. */
#define MQTT_OWNER_ARG "x-mqtt-owner"
/* "mqtt-subscription-<client id>qos1", in a new block. */
char *mqtt_session_queue_name(const char *client_id);
struct mqtt_session *mqtt_session_find(struct mqtt_listener *l, struct bk_vhost *vh,
				       struct bk_str client_id);
/* owner: the user creating it (copied; NULL: not known). */
struct mqtt_session *mqtt_session_new(struct mqtt_listener *l, struct bk_vhost *vh,
				      struct bk_str client_id, const char *owner);
/* A session that ends with c (expiry 0), in one block with c's login
 * strings as its key (c->names moves there, c->own_session). */
struct mqtt_session *mqtt_session_new_own(struct mqtt_conn *c);
/* "vhost \0 client id \0 user \0" in a new block; *key_len: the length
 * of the first two with the NUL between them. */
char *mqtt_names_new(const char *vhost, struct bk_str client_id, const struct bk_str *user,
		     uint32_t *key_len);
/*
 * mqtt_session_recover.c: no session in memory, but the core holds its
 * queue (recovered from the journal after a restart): rebuild the session from the queue's
 * bindings, each with the options its arguments keep. NULL when there is
 * no such queue.
 */
struct mqtt_session *mqtt_session_recover(struct mqtt_listener *l, struct bk_vhost *vh,
					  struct bk_str client_id);
/* Give s (recovered without one, never attached) its owner (copied): s
 * is replaced by a new block, which is returned. */
struct mqtt_session *mqtt_session_set_owner(struct mqtt_session *s, const char *owner);
/* Attach to c: resend in-flight messages, start consuming. */
void mqtt_session_attach(struct mqtt_session *s, struct mqtt_conn *c, uint16_t window);
/* The connection is gone: stop consuming; end the session now (expiry
 * 0) or arm its expiry timer. will (taken) is published now or when the
 * will delay or the session ends. */
void mqtt_session_detach(struct mqtt_session *s, struct mqtt_will *will);
/* A session without a connection: end it after its expiry (or [mqtt]
 * persistent_client_expiration for one that would never expire). */
void mqtt_session_arm_expiry(struct mqtt_session *s);
/* At start: cap every session queue left from before the restart
 * (max_queued_*) and, with persistent_client_expiration, give it its
 * session back, offline, so the expiry applies. */
void mqtt_session_recover_all(struct mqtt_listener *l);
/* Cap queue (a session's, or a shared group's) at [mqtt]
 * max_queued_messages / max_queued_bytes ready messages: arriving ones
 * past that are dropped, as in Mosquitto (bk_queue_set_cap). */
void mqtt_queue_cap(const struct mqtt_listener *l, struct bk_vhost *vh, const char *queue);
/* Is s still in the table (not freed by a detach)? */
bool mqtt_session_exists(struct mqtt_listener *l, const struct mqtt_session *s);
/* End: delete the queue, settle, publish a delayed will, free. */
void mqtt_session_destroy(struct mqtt_session *s);
/* Broker stopping: settle and free; the queue stays in the core (and in
 * the journal when durable) unless the session had no expiry. */
void mqtt_session_free(struct mqtt_session *s);
/* The queue of s, declared on first use; NULL on failure (err set). */
const char *mqtt_session_queue(struct mqtt_session *s, struct bk_err *err);
/* Start (or restart) consuming the own queue. */
void mqtt_session_consume(struct mqtt_session *s);

/* ---- mqtt_subscribe.c ---- */
void mqtt_on_subscribe(struct mqtt_conn *c, const struct mqtt_packet *pkt);

void mqtt_on_unsubscribe(struct mqtt_conn *c, const struct mqtt_packet *pkt);
void mqtt_sub_free(struct mqtt_session *s, struct mqtt_sub *sub, bool unbind);

/* Options back from a binding's arguments (a recovered subscription);
 * keeps a copy of args, the binding's identity. Without our entry
 * (bound by an older version) the subscription is QoS 1. */
void mqtt_sub_opts_from_args(struct mqtt_sub *sub, struct bk_table args);
void mqtt_sub_consume(struct mqtt_sub *sub);
void mqtt_shared_unref(struct mqtt_listener *l, struct mqtt_shared *sh);

/* ---- mqtt_deliver.c ---- */
extern const struct bk_consumer_ops mqtt_session_consumer_ops;   /* ctx: session */
extern const struct bk_consumer_ops mqtt_shared_consumer_ops;    /* ctx: mqtt_sub */
/* Send a retained message (retain flag set) at qos to the connected s:
 * true when done (written, or dropped as unsendable or expired), false
 * when no in-flight slot is free (nothing written). */
bool mqtt_deliver_retained(struct mqtt_session *s, struct bk_msg *msg, uint8_t qos,
			   uint32_t sub_id);
/* A QoS 0 message the broker makes itself ($SYS) to a connected session,
 * matched against its plain subscriptions like a routed one; dropped when
 * nothing matches or the output is full. */
void mqtt_deliver_direct(struct mqtt_session *s, struct bk_msg *msg);
void mqtt_on_puback(struct mqtt_conn *c, const struct mqtt_packet *pkt);
/* Resend in-flight messages with DUP after a reconnect. */
void mqtt_deliver_resend(struct mqtt_session *s);
/* Set the window; grows the slot array. */
void mqtt_out_window(struct mqtt_session *s, uint16_t limit);
/* Settle every in-flight delivery (how) and drop local ones. */
void mqtt_out_clear(struct mqtt_session *s, enum bk_settle how);
/* Requeue in-flight deliveries that came from shared queues. */
void mqtt_out_release_shared(struct mqtt_session *s);
/* Output drained or slots freed: deliver more. */
void mqtt_deliver_wake(struct mqtt_session *s);

/* ---- mqtt_pubout.c ---- */
#define MQTT_MAX_SUB_IDS 16
/* How one PUBLISH of a message goes to one subscriber. */
struct mqtt_out_pub {
	uint8_t qos;
	bool retain;
	bool dup;
	bool alias_ok;                  /* a topic alias may stand for the topic */
	uint16_t pid;
	uint32_t sub_ids[MQTT_MAX_SUB_IDS];
	uint32_t n_sub_ids;
};
/* The QoS a message was published with: its MQTT QoS, or for other
 * protocols 1 if persistent, else 0 (RabbitMQ's rule). */
uint8_t mqtt_msg_qos(const struct bk_msg *m);
/* The MQTT topic of msg's routing key for c (in c->tbuf); false when it
 * has none (longer than an MQTT string: skipped and logged). */
bool mqtt_topic_of(struct mqtt_conn *c, const struct bk_msg *msg, struct bk_str *topic);
/* Append one PUBLISH of msg on topic as op says; false when it cannot be
 * encoded for c (a property or the payload does not fit, or the packet
 * passes the client's Maximum Packet Size [MQTT-3.1.2-25]): nothing was
 * written, the message is logged as skipped and the caller releases
 * whatever it reserved (its in-flight slot). */
bool mqtt_write_publish(struct mqtt_conn *c, struct bk_msg *msg, struct bk_str topic,
			const struct mqtt_out_pub *op);

/* ---- mqtt_publish.c ---- */
void mqtt_on_publish(struct mqtt_conn *c, const struct mqtt_packet *pkt);

void mqtt_on_pubrel(struct mqtt_conn *c, const struct mqtt_packet *pkt);
/* Drop the durability tracker and held acks (connection ending). */
void mqtt_publish_fini(struct mqtt_conn *c);
/* Route msg (retain store first when retain). BK_OK or the failure. */
enum bk_status mqtt_route(struct mqtt_listener *l, struct bk_vhost *vh,
			  struct bk_msg *msg, bool retain, struct bk_route_result *res,
			  struct bk_err *err);

/* ---- mqtt_msgprops.c ---- */
/*
 * A PUBLISH's QoS and MQTT 5 properties -> bk_props. Strings borrow from
 * mp, from hb (headers: user properties, payload format indicator, long
 * correlation data) and from b (expiration text, mapped response topic);
 * all must live until bk_msg_new().
 */
void mqtt_props_to_bk(const struct mqtt_props *mp, uint8_t qos,
		      struct bk_table_builder *hb, struct mqtt_buf *b,
		      struct bk_props *out);
/* A message's bk_props -> MQTT 5 PUBLISH properties (strings borrowed
 * from msg and from b); users[] gets up to cap (<= 64) entries. */
void mqtt_props_from_bk(const struct bk_msg *msg, struct mqtt_props *mp,
			struct mqtt_user_prop *users, uint32_t cap, struct mqtt_buf *b);

/* ---- mqtt_retain.c ---- */
/* Keep msg (routed, with a body) or clear its topic (empty body) in the
 * core's store, within [mqtt] max_retained_*: RESOURCE_ERROR past them.
 * *journaled as bk_retained_set. */
enum bk_status mqtt_retain_store(struct mqtt_listener *l, struct bk_vhost *vh,
				 struct bk_msg *msg, bool *journaled, struct bk_err *err);
/* Owe sub the retained messages its filter matches now (after its
 * SUBACK); replaces a walk sub already had. mqtt_retain_send() sends. */
void mqtt_retain_start(struct mqtt_session *s, struct mqtt_sub *sub);
/* sub ends or resubscribes: drop what it was still owed. */
void mqtt_retain_stop(struct mqtt_session *s, struct mqtt_sub *sub);
/* Send owed retained messages while there is room: true when none is
 * left, false when waiting for the output or a slot. */
bool mqtt_retain_send(struct mqtt_session *s);

/* ---- mqtt_retain_upgrade.c ---- */
/* At start, once per data directory: move the retained messages of the
 * old per-vhost queue "mqtt-retained" into the core's store, then
 * delete the queue. */
void mqtt_retain_upgrade(struct mqtt_listener *l);

/* ---- mqtt_sys.c ---- */
/* Start publishing $SYS every cfg.sys_interval seconds (0: never). */
void mqtt_sys_start(struct mqtt_listener *l);
void mqtt_sys_stop(struct mqtt_listener *l);
/* vh is being deleted: if it is the [mqtt] vhost, publish everything
 * afresh should it come back. */
void mqtt_sys_vhost_gone(struct mqtt_listener *l, struct bk_vhost *vh);

/* ---- mqtt_will.c ---- */
/* From a decoded CONNECT (will flag set) of c (logged in) with client
 * id cid; NULL with *rc on refusal. */
struct mqtt_will *mqtt_will_new(struct mqtt_conn *c, const struct mqtt_connect *cn,
				struct bk_str cid, uint8_t *rc);
uint32_t mqtt_will_delay(const struct mqtt_will *w);
/* Publish and free. Accepts NULL. */
void mqtt_will_publish(struct mqtt_listener *l, struct mqtt_will *w);
void mqtt_will_free(struct mqtt_will *w);
/* Publish after its delay unless freed first. */
void mqtt_will_arm(struct mqtt_session *s, struct mqtt_will *w);

/* ---- mqtt_authz.c ---- */
/* Who c acts for: its user and its session's client id. */
struct bk_who mqtt_conn_who(const struct mqtt_conn *c);
/*
 * May who publish key (mapped topic) through the MQTT exchange of vh:
 * write on the exchange and topic write on the key, the checks a PUBLISH
 * and a will share. *keyed (may be NULL): a topic permission applies, so
 * another key needs another check. BK_OK or ACCESS_REFUSED with err.
 */
enum bk_status mqtt_publish_allowed(struct mqtt_listener *l, struct bk_vhost *vh,
				    const struct bk_who *who, struct bk_str key,
				    bool retain, bool *keyed, struct bk_err *err);
/*
 * The permissions of a subscription, as RabbitMQ's MQTT plugin asks them:
 * on_queue's rights (1u << BK_PERM_*) on queue (NULL: none), read on the
 * exchange and topic read on the filter (mapped to a binding key). A new
 * subscription declares, binds and consumes; a resumed one binds and
 * consumes; an unsubscribe unbinds. BK_OK or ACCESS_REFUSED with err.
 */
#define MQTT_SUB_DECLARE ((1u << BK_PERM_CONFIGURE) | (1u << BK_PERM_WRITE) | \
			  (1u << BK_PERM_READ))
#define MQTT_SUB_RESUME  ((1u << BK_PERM_WRITE) | (1u << BK_PERM_READ))
#define MQTT_SUB_UNBIND  (1u << BK_PERM_WRITE)
enum bk_status mqtt_sub_check(struct mqtt_session *s, const struct bk_who *who,
			      const char *queue, unsigned on_queue, struct bk_str filter,
			      struct bk_err *err);
/* Every subscription of s (and its queue) re-checked for who resuming it:
 * BK_OK, or the first refusal. */
enum bk_status mqtt_subs_recheck(struct mqtt_session *s, const struct bk_who *who,
				 struct bk_err *err);
/* mqtt_sub_check for a SUBSCRIBE (MQTT_SUB_DECLARE) or an UNSUBSCRIBE
 * (MQTT_SUB_UNBIND, logged when refused) by s's connection. */
bool mqtt_may_subscribe(struct mqtt_session *s, const char *queue, struct bk_str filter,
			struct bk_err *err);
bool mqtt_may_unsubscribe(struct mqtt_session *s, struct mqtt_sub *sub, struct bk_err *err);

/* ---- mqtt_topic.c ---- */
/* The capacity of b (0: nothing allocated). */
static inline size_t
mqtt_buf_cap(const struct mqtt_buf *b)
{
	return b->p ? ((const size_t *)(const void *)b->p)[-1] : 0;
}
/* A block of at least n bytes for b (what was there is lost). */
char *mqtt_buf_grow(struct mqtt_buf *b, size_t n);

/* At least n bytes at b->p (grown as needed; what was there is lost). */
static inline char *
mqtt_buf_get(struct mqtt_buf *b, size_t n)
{
	return mqtt_buf_cap(b) >= n && b->p ? b->p : mqtt_buf_grow(b, n);
}
void mqtt_buf_fini(struct mqtt_buf *b);
/* The '/' <-> '.' swap of s into out (s.len bytes, no NUL). */
void mqtt_topic_swap_into(char *out, struct bk_str s);
/* MQTT topic / filter -> routing key / binding key, into b (the result
 * borrows b until its next use). */
struct bk_str mqtt_topic_to_key(struct bk_str topic, struct mqtt_buf *b);
struct bk_str mqtt_filter_to_key(struct bk_str filter, struct mqtt_buf *b);
/* Routing / binding key -> MQTT topic / filter, into b; -EMSGSIZE (and
 * nothing written) when the key is longer than an MQTT topic can be. */
int mqtt_key_to_topic(struct bk_str key, struct mqtt_buf *b, struct bk_str *topic);
int mqtt_key_to_filter(struct bk_str key, struct mqtt_buf *b, struct bk_str *filter);
/* Does MQTT filter match MQTT topic ([MQTT-4.7.2-1]: leading wildcards
 * skip "$" topics)? */
bool mqtt_topic_match(struct bk_str filter, struct bk_str topic);

/* ---- mqtt_status.c ---- */
uint8_t mqtt_status_rc(enum bk_status st);
/* v5 CONNACK reason -> v3 return code. */
uint8_t mqtt_connack_v3(uint8_t rc5);

#endif
