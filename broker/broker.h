/*
 * broker.h: the core's data plane, what protocol adapters call: the
 * broker and its vhosts, exchanges and bindings, publish, queues,
 * consumers, resource alarms, the counters and connection registry
 * adapters feed, and the permission checks they make. The value types
 * are in bk_types.h; the admin side (introspection, management writes,
 * definitions documents, journal figures) is in bk_admin.h, which only
 * the HTTP adapter, $SYS and the daemon include.
 *
 * The core is protocol-neutral. It knows vhosts, exchanges, bindings,
 * queues, messages and consumers; adapters (AMQP 0-9-1, MQTT, HTTP) turn
 * their wire methods into these calls and the returned bk_status into their
 * own error codes (amqp_status.c, mqtt_status.c).
 *
 * Threading: everything here runs on the core thread's event_base. No locks.
 *
 * Re-entrancy: bk_publish() and bk_delivery_settle() may call consumer
 * ops->deliver() synchronously (for any consumer, including one on the
 * calling connection). An adapter's deliver() must therefore only append to
 * its output and update its own bookkeeping; it must never free a
 * connection or channel inline (close from a deferred event instead).
 */
#ifndef SLUICE_BROKER_H
#define SLUICE_BROKER_H

#include "bk_types.h"

/* ------------------------------------------------------------------ */
/* Broker and vhosts                                                   */
/* ------------------------------------------------------------------ */

struct bk_limits {
	uint64_t max_message_size;      /* bytes, default 16 MiB */
	uint32_t max_queues;            /* 0 = unlimited */
};

/*
 * Create the broker on base (used for TTL and expiry timers). Creates
 * vhost "/" with its default exchanges ("", amq.direct, amq.fanout,
 * amq.topic, amq.headers, amq.match).
 */
struct bk_broker *bk_broker_new(struct event_base *base, const struct bk_limits *lim);
void bk_broker_free(struct bk_broker *b);

/*
 * Persistence (bk_persist.c). Give the broker its opened journal (storage.h;
 * the broker owns it from here on, even on failure, and closes it in
 * bk_broker_free) and load what survived: the definitions file
 * <data_dir>/definitions.json (durable exchanges, queues, bindings), then
 * every message the journal still holds, back into its durable queues in
 * publish order, marked redelivered, with its delivery count and original
 * publish time; messages whose TTL ran out while the broker was down are
 * dead-lettered or dropped right away. Call once, before listeners open.
 * disk_free_limit: raise BK_ALARM_DISK while the file system of data_dir
 * has fewer free bytes (checked every second); 0 = no check.
 * 0, or a negative errno with the reason in err.
 */
struct st_journal;
struct bk_persist_config {
	const char *data_dir;           /* borrowed */
	uint64_t disk_free_limit;       /* bytes */
	uint64_t mem_budget;            /* bytes of persistent bodies kept in RAM; past
					   it bodies stay only in the journal and are
					   read back on delivery. 0 = no limit */
};
int bk_broker_persist_start(struct bk_broker *b, struct st_journal *j,
			    const struct bk_persist_config *cfg,
			    char *err, size_t errlen);
const struct bk_limits *bk_broker_limits(const struct bk_broker *b);

/*
 * Users (bk_user.c). bk_user_set adds or replaces one. A loopback_only
 * user may log in only from 127.0.0.0/8 or ::1 (RabbitMQ's loopback_users;
 * guest is loopback-only by default). tags: "administrator management".
 */
void bk_user_set(struct bk_broker *b, const char *name, const char *password,
		 const char *tags, bool loopback_only);
/* ACCESS_REFUSED with RabbitMQ's text on a bad name or password, or a
 * loopback-only user from elsewhere. */
enum bk_status bk_user_check(struct bk_broker *b, struct bk_str user,
			     struct bk_str password, bool peer_is_loopback,
			     struct bk_err *err);
/* A login whose identity something else proved (a verified TLS client
 * certificate): the user must exist, and loopback_only applies; no
 * password is checked. ACCESS_REFUSED otherwise. */
enum bk_status bk_user_check_identity(struct bk_broker *b, struct bk_str user,
				      bool peer_is_loopback, struct bk_err *err);

/* Borrowed vhost by name; NULL if absent. */
struct bk_vhost *bk_vhost_get(struct bk_broker *b, const char *name);
const char *bk_vhost_name(const struct bk_vhost *vh);

/*
 * Who an operation acts for: the user whose permissions the core checks
 * when a declaration carries one (bk_queue_decl.who, bk_exchange_decl.who)
 * and in the bk_access_* calls below. A declaration without one comes
 * from a trusted caller (configuration, definitions import, an
 * administrator over HTTP) and is not checked. client_id is the MQTT
 * client identifier, the value of "{client_id}" in topic permissions
 * (p NULL: the connection has none).
 */
struct bk_who {
	struct bk_str user;
	struct bk_str client_id;
};

/*
 * Owners: an opaque, non-NULL token per client connection. Exclusive
 * queues belong to their owner; bk_owner_gone() deletes them (and cancels
 * their consumers) when the connection ends.
 */
typedef const void *bk_owner;
void bk_owner_gone(struct bk_broker *b, bk_owner owner);

/* ------------------------------------------------------------------ */
/* Exchanges                                                           */
/* ------------------------------------------------------------------ */

enum bk_xtype { BK_X_DIRECT, BK_X_FANOUT, BK_X_TOPIC, BK_X_HEADERS,
		BK_X_CHASH,             /* "x-consistent-hash" (bk_xchash.c) */
		BK_X_DEDUP,             /* "x-message-deduplication" (bk_dedup.c) */
		BK_X_DELAYED,           /* "x-delayed-message" (bk_delayed.c) */
		BK__X_COUNT };
/* RabbitMQ's name of an exchange type ("direct", "x-consistent-hash"...). */
const char *bk_xtype_name(enum bk_xtype t);

struct bk_exchange_decl {
	struct bk_str name;
	struct bk_str type;             /* "direct", "fanout", "topic", "headers" */
	bool passive, durable, auto_delete, internal;
	struct bk_table arguments;      /* alternate-exchange, ... */
	const struct bk_who *who;       /* NULL: trusted, no permission checks */
};

/*
 * Declare (or check, when passive) an exchange. Errors as RabbitMQ:
 * passive and absent: NOT_FOUND "no exchange 'x' in vhost '/'";
 * redeclare with other type/flags/args: PRECONDITION_FAILED "inequivalent
 * arg 'type' for exchange 'x' in vhost '/': received 'fanout' but current
 * is 'direct'"; unknown type: PRECONDITION_FAILED (RabbitMQ 4.x: "invalid
 * exchange type 'foo'"... see bk_exchange.c); "amq."-prefixed names:
 * ACCESS_REFUSED.
 */
enum bk_status bk_exchange_declare(struct bk_vhost *vh,
				   const struct bk_exchange_decl *d,
				   struct bk_err *err);
enum bk_status bk_exchange_delete(struct bk_vhost *vh, struct bk_str name,
				  bool if_unused, struct bk_err *err);
/* Borrowed; NULL if absent. The default exchange is name "". */
struct bk_exchange *bk_exchange_get(struct bk_vhost *vh, struct bk_str name);

/*
 * Exchange-to-exchange and exchange-to-queue bindings. dest_is_queue
 * chooses the namespace of dest. Binding twice is a no-op; unbinding
 * what is not bound succeeds (RabbitMQ 3.x+ behaviour). Binding to or from
 * the default exchange: ACCESS_REFUSED.
 */
struct bk_binding_decl {
	struct bk_str source;           /* exchange */
	struct bk_str dest;
	bool dest_is_queue;
	struct bk_str routing_key;
	struct bk_table arguments;      /* headers exchange: x-match and values */
	bool stored;                    /* from the broker's own store: the
					   limits only new bindings meet
					   (BK_TOPIC_MAX_HASHES) do not apply */
};
/* A topic binding key has at most this many '#' words (RabbitMQ's limit
 * since 2026): each one can make a publish walk the rest of its routing
 * key; past it, 406 PRECONDITION_FAILED. */
#define BK_TOPIC_MAX_HASHES 2
enum bk_status bk_bind(struct bk_vhost *vh, const struct bk_binding_decl *d,
		       bk_owner owner, struct bk_err *err);
enum bk_status bk_unbind(struct bk_vhost *vh, const struct bk_binding_decl *d,
			 bk_owner owner, struct bk_err *err);

/* ------------------------------------------------------------------ */
/* Publishing                                                          */
/* ------------------------------------------------------------------ */

struct bk_route_result {
	uint32_t queues;          /* queues the message was enqueued on */
	uint32_t refused;         /* queues that refused it (x-overflow reject-publish*,
				     or the journal could not take it: disk full, I/O error) */
	bool direct_reply;        /* delivered to a direct reply-to consumer */
	bool pending;             /* written to the journal: durable only once the
				     tracker's fn reports it (bk_publish_confirm) */
	uint32_t backlogged;      /* queues with an adapter's cap (bk_queue_set_cap)
				     at least half full whose consumer keeps
				     acknowledging but falls behind: the
				     publisher should slow down before the cap
				     drops messages (bk_queue_behind) */
};

/*
 * Route msg through exchange (by name, "" = default exchange) in vh.
 * Takes no reference from the caller: queues take their own, so the caller
 * still unrefs its reference afterwards. Alternate exchanges, e2e bindings,
 * dedupe (one queue reached by several paths gets one copy) and direct
 * reply-to ("amq.rabbitmq.reply-to.*" keys on the default exchange) are
 * handled here. Consumers may be delivered to synchronously.
 *
 * Returns NOT_FOUND if the exchange is absent, ACCESS_REFUSED if it is
 * internal (publishing to an internal exchange is refused), otherwise BK_OK
 * with res filled: res->queues == 0 && !res->direct_reply means unroutable
 * (mandatory publishes get basic.return 312 NO_ROUTE).
 */
enum bk_status bk_publish(struct bk_vhost *vh, struct bk_str exchange,
			  struct bk_msg *msg, struct bk_route_result *res,
			  struct bk_err *err);

/*
 * Publisher durability (publisher confirms, tx.commit-ok, MQTT PUBACK and
 * PUBREC): "confirmed" must mean "on disk" for a persistent message
 * (delivery mode 2) that reached a durable queue.
 *
 * Each publisher (an AMQP channel, an MQTT session) owns one tracker and
 * gives every publish a token (increasing, e.g. the confirm sequence
 * number or the packet id's own counter). bk_publish_confirm() routes like
 * bk_publish() and, when the message was written to the journal, sets
 * res->pending: the tracker's fn(ctx, token, status) is then called once,
 * later, from the event loop (never from inside a core call), with status
 * 0 when the journal batch holding it is fsynced, or a negative errno
 * (-ENOSPC, -EIO, ...) when it could not be made durable (nack it then:
 * AMQP basic.nack, MQTT 5 reason 0x80). Calls come in token order per
 * tracker. When res->pending is false the outcome is final at return
 * (res->refused > 0 = nack, else ack), so an adapter acks or nacks at once.
 *
 * Ordering is the adapter's job: a later publish that is decided at once
 * must not be acknowledged (AMQP multiple=true) before an earlier pending
 * one; keep the lowest unconfirmed token and hold later decisions behind
 * it (amqp_channel_publish.c shows one way: a FIFO of decisions drained
 * from its head). An MQTT session sends PUBACK/PUBREC for a pending
 * publish from fn, and for the others at once.
 *
 * bk_confirm_free() ends the tracker: fn is never called after it (pending
 * publishes stay journaled; their outcome is just not reported). Accepts
 * NULL. Without persistence configured nothing is ever pending.
 */
struct bk_confirm;
typedef void (*bk_confirm_fn)(void *ctx, uint64_t token, int status);
struct bk_confirm *bk_confirm_new(struct bk_broker *b, bk_confirm_fn fn, void *ctx);
void bk_confirm_free(struct bk_confirm *c);
enum bk_status bk_publish_confirm(struct bk_vhost *vh, struct bk_str exchange,
				  struct bk_msg *msg, struct bk_confirm *c,
				  uint64_t token, struct bk_route_result *res,
				  struct bk_err *err);

/*
 * A publisher's memo of where its last publish went: the exchange its
 * name found, and the queue a default-exchange routing key named. With
 * one, bk_publish_memo() skips those name lookups while the names stay
 * the same. It holds a reference on the queue (a deleted queue is never
 * used: each use checks) and trusts the exchange only while no exchange
 * of the vhost has been deleted since. Zero-initialise; the owner (an
 * AMQP channel, an MQTT connection) calls bk_route_memo_fini() before it
 * goes. One memo serves one vhost.
 */
struct bk_route_memo {
	struct bk_vhost *vh;            /* borrowed: where x was found */
	struct bk_exchange *x;          /* borrowed, valid while xgen holds */
	uint64_t xgen;
	struct bk_queue *q;             /* ref, or NULL */
};
void bk_route_memo_fini(struct bk_route_memo *m);
/* bk_publish_confirm() with a memo (NULL: none). */
enum bk_status bk_publish_memo(struct bk_vhost *vh, struct bk_str exchange,
			       struct bk_msg *msg, struct bk_confirm *c, uint64_t token,
			       struct bk_route_memo *memo, struct bk_route_result *res,
			       struct bk_err *err);

/*
 * Track token like a journaled publish: fn(ctx, token, status) runs once
 * every record appended to the journal so far is durable (status 0) or
 * could not be made so. For an outcome that depends on records written
 * outside bk_publish_confirm (a retained message, bk_retained_set). false
 * when nothing is tracked (no journal, or it failed): decide at once.
 */
bool bk_confirm_track(struct bk_confirm *c, uint64_t token);

/* ------------------------------------------------------------------ */
/* Retained messages (bk_retained.c)                                   */
/* ------------------------------------------------------------------ */

/*
 * At most one message per (vhost, routing key), kept for protocols that
 * hand a new subscriber the last message of a topic (MQTT's retain). The
 * core holds them apart from queues, exchanges and bindings: AMQP cannot
 * see, declare or publish into them. With persistence each is one
 * key/value record of the journal (bk_retained_persist.c), replaced and
 * deleted in place, compacted with the journal and recovered at start.
 * They stay in memory: a retained message goes to every new subscriber.
 */
enum {
	BK_RETAINED_TRANSIENT = 1u << 0,   /* set: memory only (never journaled) */
	BK_RETAINED_NO_DOLLAR = 1u << 1,   /* walk: see bk_retained_walk_new */
};

/*
 * msg (a reference is taken) becomes the retained message of its routing
 * key in vh, replacing any; an empty body deletes it [MQTT-3.3.1-6]. The
 * message's origin_flags are kept (the adapter's QoS and retain bits) and
 * come back after a restart. *journaled (may be NULL) tells whether a
 * journal record (the message's, or its deletion) was written: the
 * caller's acknowledgement then waits for it (bk_confirm_track). RESOURCE_ERROR when vh's name and the key do not
 * fit one record (65535 octets together). Never delivers anything.
 */
enum bk_status bk_retained_set(struct bk_vhost *vh, struct bk_msg *msg, unsigned flags,
			       bool *journaled, struct bk_err *err);
/* The retained message of key in vh (borrowed), or NULL. Expired ones
 * count as absent. */
struct bk_msg *bk_retained_get(struct bk_vhost *vh, struct bk_str key);

struct bk_retained_stats {
	uint64_t messages;
	uint64_t bytes;                 /* of their bodies */
	uint64_t transient;             /* of those, set BK_RETAINED_TRANSIENT */
	uint64_t transient_bytes;
};
/* Totals of vh, or of every vhost when vh is NULL. O(vhosts). */
void bk_retained_stats(struct bk_broker *b, struct bk_vhost *vh,
		       struct bk_retained_stats *out);

/*
 * A walk over the retained messages of vh whose keys match pattern (a
 * topic-exchange binding key: words separated by '.', '*' exactly one
 * word, '#' zero or more), as they were when the walk began: messages set
 * afterwards are left out (subscribers get those by routing). With
 * BK_RETAINED_NO_DOLLAR a pattern starting with a wildcard does not match
 * keys starting with '$' [MQTT-4.7.2-1]. The walk keeps copies of the
 * pattern and of the last key it returned, never a pointer the store can
 * pull away, so the store may change freely between steps and a paused
 * walk costs O(pattern + key) memory. Keys are visited in byte order;
 * expired messages are dropped as they are met.
 *
 * bk_retained_walk_next: the next match (borrowed: take a reference to
 * keep it past the next call into the core), NULL when the walk is over.
 * The walk borrows vh: free it before the vhost goes (bk_vhost_watch).
 */
struct bk_retained_walk;
struct bk_retained_walk *bk_retained_walk_new(struct bk_vhost *vh, struct bk_str pattern,
					      unsigned flags);
struct bk_msg *bk_retained_walk_next(struct bk_retained_walk *w);
void bk_retained_walk_free(struct bk_retained_walk *w);        /* accepts NULL */

/*
 * Retained messages of an older format to import once: true from a start
 * whose journal holds no record that the retained store was set up (a
 * data directory from before it, or a new one) until
 * bk_retained_upgrade_done() writes that record. Without persistence,
 * always false.
 */
bool bk_retained_upgrade_pending(struct bk_broker *b);
void bk_retained_upgrade_done(struct bk_broker *b);

/* ------------------------------------------------------------------ */
/* Queues                                                              */
/* ------------------------------------------------------------------ */

enum bk_overflow { BK_OVERFLOW_DROP_HEAD, BK_OVERFLOW_REJECT_PUBLISH,
		   BK_OVERFLOW_REJECT_PUBLISH_DLX };

struct bk_queue_decl {
	struct bk_str name;             /* empty: server-named "amq.gen-..." */
	bool passive, durable, exclusive, auto_delete;
	bk_owner owner;                 /* the declaring connection */
	struct bk_table arguments;      /* x-message-ttl, x-expires, ... */
	const struct bk_who *who;       /* NULL: trusted, no permission checks */
};

/*
 * Declare (or check) a queue. Validates x-arguments as RabbitMQ does
 * (PRECONDITION_FAILED "invalid arg 'x-max-length' for queue 'q' in vhost
 * '/': ..."), checks equivalence on redeclare, RESOURCE_LOCKED for another
 * owner's exclusive queue, ACCESS_REFUSED for "amq."-prefixed names.
 * With d->who (not passive), RabbitMQ's permissions: configure on the
 * queue's name (the generated "amq.gen-..." one for a server-named
 * queue), and for a new queue with x-dead-letter-exchange read on the
 * queue and write on that exchange (ACCESS_REFUSED).
 * On success *name_out (borrowed, lives as long as the queue) holds the
 * queue name, and the counts are filled.
 */
enum bk_status bk_queue_declare(struct bk_vhost *vh, const struct bk_queue_decl *d,
				const char **name_out, uint32_t *message_count,
				uint32_t *consumer_count, struct bk_err *err);
enum bk_status bk_queue_delete(struct bk_vhost *vh, struct bk_str name,
			       bk_owner owner, bool if_unused, bool if_empty,
			       uint32_t *message_count, struct bk_err *err);
enum bk_status bk_queue_purge(struct bk_vhost *vh, struct bk_str name,
			      bk_owner owner, uint32_t *message_count,
			      struct bk_err *err);
/* Borrowed; NULL if absent. Does not check exclusivity. */
struct bk_queue *bk_queue_get(struct bk_vhost *vh, struct bk_str name);
/* bk_queue_get() through a one-queue memo: *memo (a reference, or NULL)
 * answers while it is not deleted, is in vh and has this name; else the
 * lookup's result replaces it. bk_queue_memo_drop() lets go of it. */
struct bk_queue *bk_queue_get_memo(struct bk_vhost *vh, struct bk_str name,
				   struct bk_queue **memo);
void bk_queue_memo_drop(struct bk_queue **memo);
/* NOT_FOUND or RESOURCE_LOCKED as a consume/get/bind would see them. */
enum bk_status bk_queue_lookup(struct bk_vhost *vh, struct bk_str name,
			       bk_owner owner, struct bk_queue **out,
			       struct bk_err *err);
const char *bk_queue_name(const struct bk_queue *q);
/*
 * A cap the adapter that owns q puts on its length (ready messages, their
 * body bytes; -1 = none), on top of its arguments and policies, with
 * Mosquitto's rule: a message arriving at a full queue is dropped (the
 * oldest stay; nothing is dead-lettered, the publisher is not told) and
 * counted in bk_cap_dropped. Ready messages only: deliveries awaiting an
 * acknowledgement are not counted. A lower cap drops nothing already
 * queued. In memory only: set it again after a restart. MQTT caps every
 * session's queue with max_queued_messages / max_queued_bytes.
 */
void bk_queue_set_cap(struct bk_queue *q, int64_t max_length, int64_t max_length_bytes);
/* Messages every queue's cap dropped since start. */
uint64_t bk_cap_dropped(struct bk_broker *b);
uint32_t bk_queue_message_count(const struct bk_queue *q);   /* ready */
uint32_t bk_queue_consumer_count(const struct bk_queue *q);

/* ------------------------------------------------------------------ */
/* Deliveries and consumers                                            */
/* ------------------------------------------------------------------ */

/*
 * One message handed to an adapter. For ack-mode consumers and basic.get
 * without no_ack, the adapter owns it until bk_delivery_settle(). For
 * no-ack deliveries the adapter must call bk_delivery_settle(d,
 * BK_SETTLE_ACK) once it has written the message (the core cannot know
 * when the adapter is done with msg).
 *
 * The adapter may use tag, link_prev/link_next and adapter_data freely
 * (AMQP keeps its per-channel unacked list with them).
 */
struct bk_delivery {
	struct bk_msg *msg;             /* ref held by the delivery */
	struct bk_queue *queue;         /* ref; NULL for direct reply-to */
	struct bk_consumer *consumer;   /* borrowed; NULL for basic.get */
	uint32_t delivery_count;        /* earlier deliveries of this message */
	bool redelivered;
	bool no_ack;
	/* adapter's fields */
	uint64_t tag;
	struct bk_delivery *link_prev, *link_next;
	void *adapter_data;
	/* core's fields */
	uint64_t seq;                   /* position in the queue, for ordered requeue */
	uint64_t ts_ms;                 /* a stream delivery's published_ms */
	struct bk_delivery *free_next;
	struct bk_delivery *live_prev, *live_next; /* every unsettled delivery */
};

/*
 * The adapter wrote d out and its output holds its own references to the
 * message. A stream delivery lets its message go now: settling one never
 * needs it (no requeue, no dead-lettering), and each stream delivery is a
 * message of its own, decoded from the log, so keeping it until the ack
 * would hold consumers x prefetch copies. d->msg is NULL afterwards.
 */
void bk_delivery_sent(struct bk_delivery *d);

enum bk_settle {
	BK_SETTLE_ACK,                  /* done */
	BK_SETTLE_REQUEUE,              /* back to the queue, redelivered */
	BK_SETTLE_REJECT,               /* dead-letter ("rejected") or drop */
};

/*
 * Settle and free d. May deliver to consumers synchronously (credit freed).
 * Settling REQUEUE for several deliveries of one queue, in any order,
 * restores their original queue order.
 */
void bk_delivery_settle(struct bk_delivery *d, enum bk_settle how);

/*
 * Requeues settled between these two calls go back to their queues at
 * the outermost _end(), one sorted merge per queue and priority level,
 * and those queues dispatch then: putting n deliveries back costs
 * O(n log n + queue length) rather than up to n x queue length. For
 * adapters settling many deliveries in one go (channel close, recover,
 * nack multiple). Nothing but settling may happen in between.
 */
void bk_settle_batch_begin(struct bk_broker *b);
void bk_settle_batch_end(struct bk_broker *b);

enum bk_cancel_reason {
	BK_CANCEL_QUEUE_DELETED,        /* AMQP: basic.cancel to the client */
	BK_CANCEL_BY_CLIENT,            /* the adapter's own bk_consumer_cancel */
	BK_CANCEL_SHUTDOWN,
};

#define BK_CONSUMER_OPS_V1 1

struct bk_consumer_ops {
	uint32_t version;               /* BK_CONSUMER_OPS_V1 */
	/*
	 * Hand one delivery to the adapter. 0 = taken; -EAGAIN = the
	 * connection is over its output limit, nothing was taken, and the
	 * core parks this consumer until bk_consumer_wake().
	 */
	int  (*deliver)(void *ctx, struct bk_delivery *d);
	/* The core ended the consumer (queue deleted); the consumer is freed
	 * right after this returns. Not called for BK_CANCEL_BY_CLIENT. */
	void (*cancelled)(void *ctx, enum bk_cancel_reason why);
};

/*
 * Credit shared by consumers: AMQP basic.qos global=true (per channel).
 * limit 0 = unlimited. Freed by its creator after its consumers.
 */
struct bk_credit *bk_credit_new(uint32_t limit);
void bk_credit_set_limit(struct bk_credit *c, uint32_t limit);  /* may deliver */
void bk_credit_free(struct bk_credit *c);

/*
 * Where a consumer of a stream queue starts and what it reads (AMQP:
 * x-stream-offset, x-stream-filter, x-stream-match-unfiltered,
 * x-stream-consumer-name, x-single-active-consumer). Ignored for other
 * queues. DEFAULT: a named consumer resumes after the last offset it
 * acked (stored durably, in batches), else NEXT.
 */
enum bk_stream_from {
	BK_SFROM_DEFAULT, BK_SFROM_FIRST, BK_SFROM_LAST, BK_SFROM_NEXT,
	BK_SFROM_OFFSET,                /* value: the offset */
	BK_SFROM_TIME,                  /* value: wall clock ms */
};
struct bk_consume_stream {
	enum bk_stream_from from;
	uint64_t value;
	const struct bk_str *filters;   /* borrowed; copied by bk_consume */
	uint32_t nfilters;              /* 0 = no filtering */
	bool match_unfiltered;          /* also messages without a filter value */
	struct bk_str name;             /* len 0 = anonymous */
	bool single_active;             /* with a name: one of the group reads */
};

struct bk_consume_decl {
	struct bk_queue *queue;         /* from bk_queue_lookup */
	bool no_ack;
	bool exclusive;                 /* no other consumer may use the queue */
	int32_t priority;               /* x-priority, default 0 */
	uint32_t prefetch;              /* per-consumer limit, 0 = unlimited */
	struct bk_credit *credit;       /* shared limit or NULL */
	const struct bk_consumer_ops *ops;
	void *ctx;
	/* For management listings only (may be NULL / 0): the adapter's
	 * consumer tag (copied) and the bk_chan_id() of its channel. */
	const char *tag;
	uint64_t channel_id;
	const struct bk_consume_stream *stream;    /* NULL: defaults */
};

/*
 * Register a consumer. ACCESS_REFUSED "queue 'q' in vhost '/' in exclusive
 * use" if the queue has an exclusive consumer (or this one asks for
 * exclusivity and others exist). Delivery of ready messages may start
 * synchronously, but only after *out is set.
 * A stream queue, as RabbitMQ: no_ack NOT_IMPLEMENTED "automatic
 * acknowledgement not supported by stream queues queue 's' in vhost
 * '/'"; prefetch 0 PRECONDITION_FAILED "consumer prefetch count is not
 * set for 'queue 's' in vhost '/''". Each delivery carries its offset in
 * the message's x-stream-offset header; settling it in any way only
 * gives the credit back (and, for a named consumer, stores the offset).
 */
enum bk_status bk_consume(const struct bk_consume_decl *d,
			  struct bk_consumer **out, struct bk_err *err);
/*
 * Remove a consumer. Its unsettled deliveries stay valid (the adapter
 * settles them later). May delete an auto-delete queue.
 */
void bk_consumer_cancel(struct bk_consumer *c);
/* The adapter can take deliveries again after -EAGAIN. */
void bk_consumer_wake(struct bk_consumer *c);
/* Per-consumer prefetch change (basic.qos global=false applies to new consumers only in AMQP; provided for completeness). */
void bk_consumer_set_prefetch(struct bk_consumer *c, uint32_t prefetch);

/*
 * Whether q can serve basic.get / queue.purge: a stream cannot
 * (NOT_IMPLEMENTED "basic.get not supported by stream queues queue 's' in
 * vhost '/'", as RabbitMQ words it).
 */
enum bk_status bk_queue_get_check(struct bk_queue *q, struct bk_err *err);

/*
 * basic.get: take one ready message. NOT_FOUND/RESOURCE_LOCKED as lookup.
 * *out NULL when the queue is empty. message_count is the number left.
 */
enum bk_status bk_queue_get_one(struct bk_queue *q, bool no_ack,
				struct bk_delivery **out, uint32_t *message_count);

/*
 * Direct reply-to (amq.rabbitmq.reply-to). Register a no-ack pseudo
 * consumer; *name_out is set to the routable reply address
 * "amq.rabbitmq.reply-to.<token>" (owned by the consumer). Messages
 * published to the default exchange with that routing key go straight to
 * ops->deliver (queue NULL, no_ack). Cancel with bk_consumer_cancel.
 */
struct bk_consumer *bk_direct_reply_consumer_new(struct bk_vhost *vh,
						 const struct bk_consumer_ops *ops,
						 void *ctx, const char **name_out);

/* ------------------------------------------------------------------ */
/* Flow control: resource alarms (bk_flow.c)                          */
/* ------------------------------------------------------------------ */

/*
 * Broker-wide resource alarms, as RabbitMQ's: while any is raised,
 * adapters stop reading from publishing connections (AMQP also sends
 * connection.blocked), and consumers keep going so queues can drain.
 * Each source is raised and cleared on its own; the mask is their union.
 */
enum bk_alarm {
	BK_ALARM_MEMORY = 1u << 0,      /* bk_alloc_used() above the watermark */
	BK_ALARM_DISK   = 1u << 1,      /* raised by the storage layer */
};

/*
 * Raise (on) or clear one alarm source. Logs a warning when the source
 * changes state and, when the mask changes, calls every watcher with the
 * new mask. Watchers run synchronously: like consumer deliver(), they may
 * only change their own bookkeeping and schedule work, never free a
 * connection inline.
 */
void bk_alarm_set(struct bk_broker *b, unsigned alarm, bool on);
/* The raised alarms (BK_ALARM_* bits); 0 = none. */
unsigned bk_alarms(const struct bk_broker *b);

typedef void (*bk_alarm_fn)(void *arg, unsigned alarms);
/* Call fn(arg, mask) on every change of the mask. A watcher may unwatch
 * itself (or another) from inside the call. */
void bk_alarm_watch(struct bk_broker *b, bk_alarm_fn fn, void *arg);
void bk_alarm_unwatch(struct bk_broker *b, bk_alarm_fn fn, void *arg);

/*
 * Memory watermark in bytes of bk_alloc_used(); 0 turns the check off
 * (and clears the memory alarm). The core checks every 100 ms on the
 * broker's event_base: BK_ALARM_MEMORY is raised above high_bytes and
 * cleared below 90% of it, so usage hovering at the line does not flap.
 */
void bk_memory_watermark_set(struct bk_broker *b, uint64_t high_bytes);
/* The watermark set (bytes); 0 = none. */
uint64_t bk_memory_watermark(struct bk_broker *b);

/* ------------------------------------------------------------------ */
/* Message counters and rates                                          */
/* ------------------------------------------------------------------ */

/*
 * RabbitMQ's message_stats keys. Counters only grow (since start); the
 * core counts them on the hot path as plain adds. Which object counts
 * which:
 *   broker/vhost: all of them
 *   queue:        PUBLISH (messages enqueued), DELIVER, DELIVER_NO_ACK,
 *                 GET, GET_NO_ACK, ACK, REDELIVER, GET_EMPTY
 *   exchange:     PUBLISH_IN (messages published to it), PUBLISH_OUT
 *                 (of those, routed to at least one queue)
 *   channel:      what the adapter counts in its bk_chan_counters (AMQP
 *                 also counts PUBLISH_OUT for routed and DROP_UNROUTABLE
 *                 for dropped publishes)
 * deliver_get (RabbitMQ's sum of deliver, deliver_no_ack, get and
 * get_no_ack) is derived: bk_msg_stats_deliver_get().
 */
enum bk_mstat {
	BK_MS_PUBLISH,
	BK_MS_PUBLISH_IN,
	BK_MS_PUBLISH_OUT,
	BK_MS_CONFIRM,                  /* counted by adapters (bk_stats_count) */
	BK_MS_DELIVER,                  /* to a consumer, ack required */
	BK_MS_DELIVER_NO_ACK,
	BK_MS_GET,                      /* basic.get, ack required */
	BK_MS_GET_NO_ACK,
	BK_MS_ACK,
	BK_MS_REDELIVER,                /* deliveries/gets with redelivered set */
	BK_MS_RETURN_UNROUTABLE,        /* counted by adapters (bk_stats_count) */
	BK_MS_DROP_UNROUTABLE,
	BK_MS_GET_EMPTY,                /* basic.get that found nothing */
	BK_MS__COUNT
};

struct bk_msg_stats {
	uint64_t n[BK_MS__COUNT];
};

/* Per-second rates over the last sample interval (RabbitMQ {"rate": x}). */
struct bk_msg_rates {
	double r[BK_MS__COUNT];
};

/* RabbitMQ's JSON key for a counter: "publish", "deliver_no_ack", ... */
const char *bk_mstat_name(enum bk_mstat s);
uint64_t bk_msg_stats_deliver_get(const struct bk_msg_stats *s);
double bk_msg_rates_deliver_get(const struct bk_msg_rates *r);

/*
 * Adapter-side events the core cannot see: a publisher confirm sent
 * (BK_MS_CONFIRM, n = messages confirmed) and a mandatory message
 * returned (BK_MS_RETURN_UNROUTABLE). The core counts every unroutable
 * message as DROP_UNROUTABLE; counting a RETURN_UNROUTABLE moves n of
 * them from drop to return. Other values are ignored. O(1).
 */
void bk_stats_count(struct bk_vhost *vh, enum bk_mstat which, uint64_t n);


/* ------------------------------------------------------------------ */
/* Connection and channel registry (bk_registry.c)                     */
/* ------------------------------------------------------------------ */

/*
 * Each adapter registers every client connection once the socket is
 * accepted and unregisters it when the connection is freed; channels
 * (AMQP channels; an MQTT adapter may register one per session or none)
 * likewise. The registry gives each a broker-wide id and RabbitMQ's
 * connection name "PEERHOST:PEERPORT -> LOCALHOST:LOCALPORT", e.g.
 * "127.0.0.1:54321 -> 127.0.0.1:5672" (IPv6 hosts unbracketed, as
 * RabbitMQ prints them), and a channel name "<conn name> (<number>)".
 *
 * Counters the adapter updates are in a struct it gets a pointer to
 * (stable until unregister): plain integer adds, no call per frame.
 * Values the adapter already keeps (channel count, unacked, prefetch)
 * are read through ops->describe when a snapshot is taken instead, and
 * what the adapter or the transport already holds (addresses, user,
 * vhost, client id, client properties) through ops->info: the registry
 * copies no string, and builds a connection's name when a view is taken
 * or a name is looked up.
 */
struct bk_conn;
struct bk_chan;

struct bk_conn_counters {
	uint64_t recv_oct, recv_cnt;    /* bytes and frames/packets read */
	uint64_t send_oct, send_cnt;    /* bytes and frames/packets written */
};

/* Filled by describe(): the live part of a connection. */
struct bk_conn_state {
	const char *state;              /* RabbitMQ's: "starting", "tuning",
					   "opening", "running", "blocking",
					   "blocked", "closing", "closed" */
	uint32_t channels;              /* open channels */
	uint32_t channel_max;
	uint32_t frame_max;
	uint32_t timeout;               /* heartbeat / keepalive, seconds */
	/* The transport's half (net_conn_describe): */
	uint64_t send_pend;             /* bytes waiting in the output */
	uint64_t recv_oct, send_oct;    /* bytes on the wire (TLS included); 0 = unknown */
	const char *ssl_protocol;       /* "tlsv1.3"; NULL without TLS */
	const char *ssl_cipher;         /* OpenSSL's name of the cipher suite */
	const char *peer_cert_subject;  /* RFC 4514 DN; NULL without a peer certificate */
	const char *peer_cert_issuer;
	const char *peer_cert_validity; /* "2026-01-01T00:00:00Z - 2027-01-01T00:00:00Z" */
};

#define BK_CONN_OPS_V1 1

struct bk_conn_info;

struct bk_conn_ops {
	uint32_t version;               /* BK_CONN_OPS_V1 */
	/* Fill st (zeroed by the caller). Must not change anything. */
	void (*describe)(void *ctx, struct bk_conn_state *st);
	/*
	 * An operator closes the connection (sluicectl close_connection,
	 * DELETE /api/connections/NAME, vhost deletion, user deletion).
	 * reason is free text, e.g. "Closed via management plugin"; AMQP
	 * sends connection.close 320 "CONNECTION_FORCED - <reason>", MQTT
	 * just closes (v5: DISCONNECT 0x98 administrative action).
	 * Called from outside the adapter's own callbacks (an HTTP handler,
	 * a timer), so the adapter may release inline; before returning it
	 * must give back every core object it holds: cancel its consumers,
	 * settle or requeue its deliveries, bk_owner_gone() its exclusive
	 * queues, and never touch its bk_vhost again (bk_vhost_delete frees
	 * the vhost right after; info() must not name it from then on). The
	 * connection itself is freed later from a deferred event; it stays
	 * registered until then. May be called more than once.
	 */
	void (*close)(void *ctx, const char *reason);
	/*
	 * Who the connection is: fill every field of *out but protocol, ops
	 * and ctx (zeroed by the caller): the addresses (net_conn_fill_info),
	 * user ("" or NULL before login), vhost (NULL before it is opened or
	 * once it is deleted), client id and client properties. Strings are
	 * borrowed: valid until the adapter next runs (the registry copies
	 * none of them). Called whenever a view is taken, a connection is
	 * looked up by name, vhost or user, or limits are counted, from the
	 * registration until bk_conn_unregister(). Must not change anything.
	 */
	void (*info)(void *ctx, struct bk_conn_info *out);
};

/*
 * What a connection is. At registration only protocol, ops and ctx are
 * read (the registry keeps no strings: it asks ops->info for the rest
 * when it needs them); ops->info fills the rest.
 */
struct bk_conn_info {
	const char *protocol;           /* a string constant (borrowed for the
					   registration's life): "AMQP 0-9-1",
					   "MQTT 3.1.1", "MQTT 5.0" */
	const char *peer_host;          /* numeric: "127.0.0.1", "::1" */
	uint16_t peer_port;
	const char *host;               /* local address, numeric */
	uint16_t port;                  /* local (listener) port */
	bool ssl;
	const struct bk_conn_ops *ops;  /* borrowed; outlives the registration */
	void *ctx;
	const char *user;               /* "" or NULL before login */
	const char *vhost;              /* NULL before open / without vhosts */
	const char *client_id;          /* MQTT's; NULL if none */
	struct bk_table client_properties;  /* AMQP's; len 0 if none */
};

/* Register; never fails. connected_at is now. */
struct bk_conn *bk_conn_register(struct bk_broker *b, const struct bk_conn_info *info);
/* Accepts NULL. Unregisters its remaining channels too. b is the broker
 * rc was registered with. */
void bk_conn_unregister(struct bk_broker *b, struct bk_conn *rc);
uint64_t bk_conn_id(const struct bk_conn *rc);
/* Stable until bk_conn_unregister(); the adapter adds to it. */
struct bk_conn_counters *bk_conn_counters(struct bk_conn *rc);

/* The adapter's exclusive queues are owned by the registration's ctx
 * (owner true), so queue views can name the owning connection
 * (owner_conn_id). */
void bk_conn_set_owner(struct bk_conn *rc, bool owner);

/*
 * Close by name (RabbitMQ's connection name) with reason (NULL:
 * "Closed via management plugin"). NOT_FOUND "connection 'NAME' not
 * found" if absent. Calls ops->close synchronously.
 */
enum bk_status bk_conn_close_by_name(struct bk_broker *b, const char *name,
				     const char *reason, struct bk_err *err);

/* Channels. */
struct bk_chan_counters {
	struct bk_msg_stats ms;         /* PUBLISH, CONFIRM, DELIVER, DELIVER_NO_ACK,
					   GET, GET_NO_ACK, ACK, REDELIVER,
					   RETURN_UNROUTABLE as the adapter sees them */
};

struct bk_chan_state {
	const char *state;              /* "running", "flow", "closing" */
	uint32_t prefetch_count;        /* per consumer (basic.qos global=false) */
	uint32_t global_prefetch_count; /* shared (global=true); 0 = none */
	uint32_t consumer_count;
	uint32_t messages_unacknowledged;
	uint32_t messages_unconfirmed;
	uint32_t messages_uncommitted;  /* publishes held by tx */
	uint32_t acks_uncommitted;
	bool confirm;                   /* confirm.select */
	bool transactional;             /* tx.select */
};

#define BK_CHAN_OPS_V1 1
struct bk_chan_ops {
	uint32_t version;               /* BK_CHAN_OPS_V1 */
	void (*describe)(void *ctx, struct bk_chan_state *st);   /* must not change anything */
};

/* Register channel number on rc (registered with b). ops borrowed; never
 * fails. */
struct bk_chan *bk_chan_register(struct bk_broker *b, struct bk_conn *rc, uint32_t number,
				 const struct bk_chan_ops *ops, void *ctx);
void bk_chan_unregister(struct bk_broker *b, struct bk_chan *ch);  /* accepts NULL */
/* Broker-wide id (for bk_consume_decl.channel_id); 0 for NULL. */
uint64_t bk_chan_id(const struct bk_chan *ch);
struct bk_chan_counters *bk_chan_counters(struct bk_chan *ch);

/* Room for a connection's name: two numeric IPv6 addresses and ports. */
#define BK_CONN_NAME_MAX 112
/* Room for a channel's name ("<conn name> (<number>)") and for the flat
 * history of a channel that has not counted anything yet or of a
 * connection whose counters have not moved for a while. */
#define BK_CHAN_NAME_MAX 160
#define BK_HIST_FLAT_WORDS 24

/* Snapshot views: what the pointers in them point at is valid while the
 * view is (during the callback). */
struct bk_conn_view {
	uint64_t id;
	const char *name;               /* "127.0.0.1:54321 -> 127.0.0.1:5672" */
	const char *protocol;
	const char *peer_host, *host;
	uint16_t peer_port, port;
	bool ssl;
	const char *user;               /* "" before login */
	const char *vhost;              /* NULL before open */
	uint64_t connected_at;          /* wall clock ms */
	struct bk_table client_properties;   /* len 0 if none */
	const char *client_id;          /* NULL if none */
	struct bk_conn_counters ctr;
	struct bk_conn_state st;        /* from describe() */
	const struct bk_hist *hist;     /* RECV_OCT, SEND_OCT (bk_admin.h) */
	/* what name and hist may point at */
	char name_buf[BK_CONN_NAME_MAX];
	uint64_t hist_space[BK_HIST_FLAT_WORDS];
};

struct bk_chan_view {
	uint64_t id;
	uint32_t number;
	const char *name;               /* "<conn name> (<number>)", in name_buf */
	uint64_t conn_id;
	const char *conn_name;          /* in conn_name_buf */
	const char *user, *vhost;       /* the connection's */
	struct bk_msg_stats ms;         /* from bk_chan_counters */
	struct bk_msg_rates rates;      /* sampler */
	struct bk_chan_state st;        /* from describe() */
	const struct bk_hist *hist;     /* the counters (bk_admin.h) */
	/* what name, conn_name and hist may point at: valid while the view is */
	char name_buf[BK_CHAN_NAME_MAX];
	char conn_name_buf[BK_CONN_NAME_MAX];
	uint64_t hist_space[BK_HIST_FLAT_WORDS];
};

typedef int (*bk_conn_each_fn)(void *arg, const struct bk_conn_view *v);
typedef int (*bk_chan_each_fn)(void *arg, const struct bk_chan_view *v);
/* vhost NULL: all. In registration order. */
int bk_conns_each(struct bk_broker *b, const char *vhost, bk_conn_each_fn fn, void *arg);
/* conn_id 0: every channel (of vhost unless NULL). */
int bk_chans_each(struct bk_broker *b, const char *vhost, uint64_t conn_id,
		  bk_chan_each_fn fn, void *arg);
/* One object: BK_OK and fn called once, or NOT_FOUND. */
enum bk_status bk_conn_inspect(struct bk_broker *b, const char *name,
			       bk_conn_each_fn fn, void *arg);
enum bk_status bk_chan_inspect(struct bk_broker *b, uint64_t chan_id,
			       bk_chan_each_fn fn, void *arg);


/* ------------------------------------------------------------------ */
/* Vhost watchers and access checks (bk_mgmt.c, bk_access.c)          */
/* ------------------------------------------------------------------ */

/*
 * Vhost deletion watchers, for adapters that keep per-vhost state of
 * their own outside registered connections (MQTT sessions whose client
 * is away, retained messages, wills). bk_vhost_delete calls every
 * watcher with the vhost after closing its registered connections
 * (ops->close) and before deleting its queues, exchanges, bindings and
 * permissions: the vhost and everything in it is still valid during the
 * call, and the watcher may cancel consumers, settle deliveries and
 * delete queues there, but must not delete vhosts or watch / unwatch.
 * Once the call returns the adapter holds no pointer into the vhost.
 * Watchers run in registration order; unwatch removes the first entry
 * with the same fn and arg (nothing if none). Main thread only.
 */
typedef void (*bk_vhost_gone_fn)(void *arg, struct bk_vhost *vh);
void bk_vhost_watch(struct bk_broker *b, bk_vhost_gone_fn fn, void *arg);
void bk_vhost_unwatch(struct bk_broker *b, bk_vhost_gone_fn fn, void *arg);

/*
 * Enforcement, called by adapters.
 *
 * bk_vhost_access at connection.open (after bk_user_check): BK_OK when
 * the user has any permissions entry on vhost, else NOT_ALLOWED "access
 * to vhost 'v' refused for user 'u'" (also when the vhost is absent:
 * NOT_ALLOWED "vhost v not found", RabbitMQ's text).
 *
 * bk_access_check before an operation on a resource: what = CONFIGURE
 * (declare, delete), WRITE (publish to an exchange, bind: write on the
 * destination queue/exchange), READ (consume, get, purge... and bind:
 * read on the source exchange). ACCESS_REFUSED with RabbitMQ's text
 * "configure access to queue 'q' in vhost '/' refused for user 'u'"
 * (kind "queue" or "exchange"; the default exchange is named
 * "amq.default"). O(1) lookup plus one regexec; results for the last
 * name checked are not cached.
 */
enum bk_perm { BK_PERM_CONFIGURE, BK_PERM_WRITE, BK_PERM_READ };
enum bk_status bk_vhost_access(struct bk_broker *b, struct bk_str user,
			       const char *vhost, struct bk_err *err);
enum bk_status bk_access_check(struct bk_vhost *vh, struct bk_str user,
			       enum bk_perm what, const char *kind,
			       struct bk_str name, struct bk_err *err);

/*
 * Queue names an adapter keeps for its own queues, as RabbitMQ keeps
 * "amq." (bk_reserved.c). MQTT reserves "mqtt-subscription-" and
 * "mqtt-shared-" with owner "MQTT sessions". From then on
 * bk_access_check on a queue so named (declare, delete, purge, consume,
 * get, bind to it, move from it) refuses everyone but administrators:
 * ACCESS_REFUSED "queue name 'mqtt-subscription-xqos1' contains reserved
 * prefix 'mqtt-subscription-*' (MQTT sessions)", and bk_access_publish
 * refuses a publish through the default exchange to such a name the
 * same way (bk_queue_reserved tells an adapter whose cached publish
 * check must look again). The adapter checks its own users on its own
 * queues with bk_perm_check: bk_access_check without the reservation.
 * Trusted calls (no bk_who: configuration, definitions import, the
 * adapter's own declares and binds) are not affected. Main thread.
 */
void bk_queue_prefix_reserve(struct bk_broker *b, const char *prefix, const char *owner);
bool bk_queue_reserved(struct bk_broker *b, struct bk_str name);
enum bk_status bk_perm_check(struct bk_vhost *vh, struct bk_str user, enum bk_perm what,
			     const char *kind, struct bk_str name, struct bk_err *err);
/*
 * Topic permissions (bk_topic_perm.c), RabbitMQ's: what = WRITE (publish)
 * or READ (bind, subscribe) on routing_key through exchange. Allowed when
 * the user has no topic permission for the exchange in vh; otherwise the
 * regex must match the key ("" matches only the empty key; {username},
 * {vhost} and {client_id} are replaced by who's values, escaped; a
 * variable without a value matches nothing). ACCESS_REFUSED "write
 * access to topic 'a.b' in exchange topic 'amq.topic' in vhost '/'
 * refused for user 'u'". The exchange's type is not looked at: MQTT
 * checks its exchange whatever it is (bk_access_publish and
 * bk_access_bind below check topic exchanges only, as RabbitMQ's AMQP
 * does). bk_topic_perms_apply: whether who has an entry for exchange in
 * vh at all (when false, every key is allowed: adapters cache that).
 */
enum bk_status bk_topic_access_check(struct bk_vhost *vh, const struct bk_who *who,
				     enum bk_perm what, struct bk_str exchange,
				     struct bk_str routing_key, struct bk_err *err);
bool bk_topic_perms_apply(struct bk_vhost *vh, const struct bk_who *who,
			  struct bk_str exchange);

/*
 * The permissions of whole operations, RabbitMQ's rules in one place
 * (bk_authz.c), for every adapter:
 *
 * bk_access_publish: write on the exchange, then, when it exists, is a
 * topic exchange and who has a topic permission for it, write on the
 * routing key. *keyed (may be NULL) is set when the outcome depended on
 * the key, i.e. a later publish with another key must be checked again.
 *
 * bk_access_bind (queue.bind/unbind, exchange.bind/unbind): write on the
 * destination, then (unless the source or destination is the default
 * exchange, which the bind itself refuses) read on the source and, for a
 * topic source, read on the binding key.
 */
enum bk_status bk_access_publish(struct bk_vhost *vh, const struct bk_who *who,
				 struct bk_str exchange, struct bk_str routing_key,
				 bool *keyed, struct bk_err *err);
enum bk_status bk_access_bind(struct bk_vhost *vh, const struct bk_who *who,
			      const struct bk_binding_decl *d, struct bk_err *err);

/*
 * Limits (bk_limits.c; set through bk_admin.h), RabbitMQ's texts:
 *
 * bk_conn_limits_check when a client connection is accepted for user on
 * vhost (AMQP connection.open, MQTT CONNECT), before bk_vhost_access:
 * the vhost's max-connections, then the user's, counting the registered
 * connections other than self (NULL: none). NOT_ALLOWED "access to vhost
 * 'v' refused for user 'u': connection limit (N) is reached" / "Connection
 * refused for user 'u': user connection limit (N) is reached". An absent
 * vhost is left to bk_vhost_access.
 *
 * bk_chan_limit_check before a channel opens: the user's max-channels
 * over all its registered channels. NOT_ALLOWED "number of channels
 * opened for user 'u' has reached the maximum allowed user limit of (N)".
 *
 * The vhost's max-queues is checked by bk_queue_declare (PRECONDITION_FAILED
 * "cannot declare queue 'q': queue limit in vhost 'v' (N) is reached",
 * with err->quota set).
 */
struct bk_conn;
enum bk_status bk_conn_limits_check(struct bk_broker *b, const struct bk_conn *self,
				    struct bk_str user, const char *vhost,
				    struct bk_err *err);
enum bk_status bk_chan_limit_check(struct bk_broker *b, struct bk_str user,
				   struct bk_err *err);

/*
 * Changes whenever a user, permission or vhost changes. An adapter may
 * cache a granted check (e.g. write access to the exchange it published
 * to last) while this value stays the same, so the publish path does not
 * pay for a lookup and a regexec per message.
 */
uint64_t bk_access_generation(struct bk_broker *b);

/* Durable definitions (bk_defs.c) */
/*
 * Before confirming a change of durable state (AMQP declare-ok, bind-ok,
 * delete-ok of a durable object; an HTTP 2xx), make sure the definitions
 * file holding it is on disk. Returns 0 when every change so far is
 * already durable (answer now); 1 when the file goes to disk with the
 * journal's next batch, off the event loop: the tracker's fn(ctx, token,
 * status) is then called once, later, from the event loop (status 0 = on
 * disk, negative errno = it could not be written), and never after
 * bk_confirm_free(c). A negative errno at once if nothing can be made
 * durable (a failed journal). Many commits in one loop iteration share
 * one write. 0 without persistence.
 */
int bk_defs_commit_track(struct bk_broker *b, struct bk_confirm *c, uint64_t token);
/*
 * Counts changes of durable state (one per change; it never goes back).
 * An adapter that reads it before and after an operation knows whether
 * that operation changed anything durable, and so whether its answer
 * needs bk_defs_commit_track at all (a passive declare, a redeclare or a
 * transient object need not wait for anyone's write).
 */
uint64_t bk_defs_generation(const struct bk_broker *b);
/*
 * The same, synchronously: write the file now if anything changed, on the
 * event loop. Only where waiting is acceptable (tools, tests, no loop).
 * 0, or a negative errno.
 */
int bk_defs_commit(struct bk_broker *b);

#endif
