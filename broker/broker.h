/*
 * broker.h: the core's whole interface, and the only core header that
 * protocols/ may include.
 *
 * The core is protocol-neutral. It knows vhosts, exchanges, bindings,
 * queues, messages and consumers; adapters (AMQP 0-9-1, MQTT, HTTP) turn
 * their wire methods into these calls and the returned bk_status into their
 * own error codes (amqp_status.c, mqtt_status.c).
 *
 * Threading: everything here runs on the main thread's event_base. No locks.
 *
 * Re-entrancy: bk_publish() and bk_delivery_settle() may call consumer
 * ops->deliver() synchronously (for any consumer, including one on the
 * calling connection). An adapter's deliver() must therefore only append to
 * its output and update its own bookkeeping; it must never free a
 * connection or channel inline (close from a deferred event instead).
 *
 * Tables. Header tables and x-argument tables are held as an encoded blob
 * (struct bk_table) in the AMQP 0-9-1 field-table wire format, which is the
 * core's table serialisation: an AMQP adapter passes headers through with
 * no decode and no re-encode, and the core reads them with the iterator
 * below only where it needs to (headers exchange, x-arguments, x-death).
 * MQTT builds such a table from user properties with bk_table_builder.
 */
#ifndef SLUICE_BROKER_H
#define SLUICE_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bk_alloc.h"
#include "base/bk_assert.h"
#include "base/bk_log.h"

struct event_base;

struct bk_broker;
struct bk_vhost;
struct bk_exchange;
struct bk_queue;
struct bk_msg;
struct bk_consumer;
struct bk_credit;

/* ------------------------------------------------------------------ */
/* Outcomes a peer can see                                             */
/* ------------------------------------------------------------------ */

/* Not C errors: what the client did wrong, mapped by each adapter. */
enum bk_status {
	BK_OK = 0,
	BK_NOT_FOUND,             /* AMQP 404 */
	BK_ACCESS_REFUSED,        /* AMQP 403 */
	BK_RESOURCE_LOCKED,       /* AMQP 405: exclusive queue of another connection */
	BK_PRECONDITION_FAILED,   /* AMQP 406: inequivalent args, if-unused, bad x-arg */
	BK_NOT_ALLOWED,           /* AMQP 530 (connection level) */
	BK_COMMAND_INVALID,       /* AMQP 503 (connection level), e.g. unknown exchange type on old brokers */
	BK_NOT_IMPLEMENTED,       /* AMQP 540 */
	BK_RESOURCE_ERROR,        /* AMQP 506 */
	BK_INTERNAL_ERROR,        /* AMQP 541 */
};

/*
 * Filled by every core call that can fail. text is RabbitMQ's wording after
 * the code name, e.g. "no queue 'q1' in vhost '/'"; the adapter adds
 * "NOT_FOUND - " in front.
 */
struct bk_err {
	enum bk_status status;
	char text[256];
};

/* Printf into err->text and return status (for one-line error exits). */
enum bk_status bk_err_set(struct bk_err *err, enum bk_status status,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* Byte strings                                                        */
/* ------------------------------------------------------------------ */

/* A borrowed, length-counted string; p need not be NUL-terminated. */
struct bk_str {
	const char *p;
	uint32_t len;
};

#define BK_STR_LIT(s) ((struct bk_str){ (s), (uint32_t)(sizeof(s) - 1) })
struct bk_str bk_str_c(const char *s);   /* from a C string; NULL gives {NULL,0} */
bool bk_str_eq(struct bk_str a, struct bk_str b);
bool bk_str_eq_c(struct bk_str a, const char *c);

/* ------------------------------------------------------------------ */
/* Tables: AMQP field-table encoding, owned by the core (bk_table.c)   */
/* ------------------------------------------------------------------ */

/*
 * An encoded table: the bytes AFTER the 4-byte length prefix of an AMQP
 * field table, i.e. a sequence of  name(shortstr) type(octet) value.
 * Borrowed unless a function says otherwise.
 */
struct bk_table {
	const uint8_t *p;
	uint32_t len;
};

enum bk_vtype {
	BK_V_VOID      = 'V',
	BK_V_BOOL      = 't',
	BK_V_I8        = 'b',
	BK_V_U8        = 'B',
	BK_V_I16       = 's',   /* RabbitMQ's letter; the 0-9-1 spec's 'U' is accepted on input */
	BK_V_U16       = 'u',
	BK_V_I32       = 'I',
	BK_V_U32       = 'i',
	BK_V_I64       = 'l',   /* 'L' accepted on input */
	BK_V_FLOAT     = 'f',
	BK_V_DOUBLE    = 'd',
	BK_V_DECIMAL   = 'D',
	BK_V_LSTR      = 'S',
	BK_V_BYTES     = 'x',
	BK_V_ARRAY     = 'A',
	BK_V_TIMESTAMP = 'T',
	BK_V_TABLE     = 'F',
};

struct bk_value {
	enum bk_vtype type;
	union {
		bool b;
		int64_t i;          /* every integer type, sign-extended or zero-extended */
		float f;
		double d;
		struct { uint8_t scale; int32_t value; } dec;
		struct bk_str s;    /* LSTR, BYTES (borrowed from the blob) */
		uint64_t ts;        /* TIMESTAMP, seconds */
		struct bk_table t;  /* TABLE */
		struct bk_table a;  /* ARRAY: encoded values without names, after the length */
	} u;
};

/*
 * Validate a whole encoded table (recursively: at most 16 levels of tables
 * and arrays nested below the top). 0 if well formed, -EPROTO otherwise.
 * Every reader below assumes a validated table, so adapters validate at
 * the wire boundary.
 *
 * Value types follow RabbitMQ's dialect, not the 0-9-1 grammar: 's' is a
 * signed 16-bit integer (so tables hold no short strings), 'l' a signed
 * 64-bit integer; the grammar's 'U' and 'L' are read as BK_V_I16 and
 * BK_V_I64. Decimals are scale (u8) + value (32 bits). Writers emit
 * RabbitMQ's letters.
 */
int bk_table_validate(struct bk_table t);
int bk_array_validate(struct bk_table a);

/* Iterate: pos starts at 0. 1 = one entry returned, 0 = end. */
int bk_table_next(struct bk_table t, uint32_t *pos, struct bk_str *name,
		  struct bk_value *v);
int bk_array_next(struct bk_table a, uint32_t *pos, struct bk_value *v);

/* Find a key (first match). true if found. */
bool bk_table_get(struct bk_table t, const char *name, struct bk_value *v);

/* RabbitMQ's name of a value type ("longstr", "signedint", ...) for error texts. */
const char *bk_vtype_name(enum bk_vtype t);

/* Integer value of any integer type; false for other types. */
bool bk_value_int(const struct bk_value *v, int64_t *out);

/*
 * Builder for new tables (x-death, MQTT user properties, tests).
 * Owns a growing buffer. bk_table_builder_take() hands the buffer to the
 * caller (free with bk_free) and resets the builder.
 */
struct bk_table_builder {
	uint8_t *buf;    /* owned */
	uint32_t len, cap;
};
void bk_tb_init(struct bk_table_builder *b);
void bk_tb_fini(struct bk_table_builder *b);
/* A name longer than 255 octets (a shortstr's limit) is cut to 255. */
void bk_tb_put(struct bk_table_builder *b, const char *name, uint32_t name_len,
	       const struct bk_value *v);          /* one table entry */
void bk_tb_put_value(struct bk_table_builder *b, const struct bk_value *v); /* one array element */
void bk_tb_put_raw(struct bk_table_builder *b, const void *p, uint32_t n);
struct bk_table bk_tb_view(const struct bk_table_builder *b);
uint8_t *bk_tb_take(struct bk_table_builder *b, uint32_t *len);

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* Which properties are present: AMQP basic property flag order. */
enum {
	BK_P_CONTENT_TYPE     = 1u << 0,
	BK_P_CONTENT_ENCODING = 1u << 1,
	BK_P_HEADERS          = 1u << 2,
	BK_P_DELIVERY_MODE    = 1u << 3,
	BK_P_PRIORITY         = 1u << 4,
	BK_P_CORRELATION_ID   = 1u << 5,
	BK_P_REPLY_TO         = 1u << 6,
	BK_P_EXPIRATION       = 1u << 7,
	BK_P_MESSAGE_ID       = 1u << 8,
	BK_P_TIMESTAMP        = 1u << 9,
	BK_P_TYPE             = 1u << 10,
	BK_P_USER_ID          = 1u << 11,
	BK_P_APP_ID           = 1u << 12,
	BK_P_CLUSTER_ID       = 1u << 13,
};

/*
 * Neutral properties. In a routed message every pointer points into the
 * message's own allocation; in a bk_props handed to bk_msg_new() they are
 * borrowed and copied.
 */
struct bk_props {
	uint32_t present;               /* BK_P_* */
	struct bk_str content_type;
	struct bk_str content_encoding;
	struct bk_table headers;
	uint8_t delivery_mode;          /* 1 transient, 2 persistent */
	uint8_t priority;
	struct bk_str correlation_id;   /* may be binary (MQTT correlation data) */
	struct bk_str reply_to;
	struct bk_str expiration;       /* AMQP: decimal milliseconds as text */
	struct bk_str message_id;
	uint64_t timestamp;             /* seconds */
	struct bk_str type;
	struct bk_str user_id;
	struct bk_str app_id;
	struct bk_str cluster_id;
};

/*
 * A message: refcounted, immutable once routed. One allocation holds the
 * struct, the copied property strings, exchange, routing key and the body.
 * Each holder keeps one reference: a queue entry, an unacked delivery, an
 * evbuffer reference to the body, a pending journal write.
 */
struct bk_msg {
	uint32_t refs;
	uint32_t flags;                 /* BK_MSG_* */
	uint64_t id;                    /* broker-wide, increasing */
	uint64_t published_ms;          /* wall clock ms at publish */
	int64_t  expires_ms;            /* absolute ms from the expiration property; 0 = none */
	struct bk_str exchange;         /* exchange it was published to */
	struct bk_str routing_key;
	struct bk_props props;
	uint8_t *body;                  /* points into this allocation */
	size_t body_len;
	size_t size;                    /* bytes accounted for this message */
	/*
	 * Set by the publishing adapter after bk_msg_new() and before
	 * routing; zero otherwise. The core only carries them (a
	 * dead-lettered copy starts with zeroes). MQTT uses origin for
	 * no-local and origin_flags for the publish QoS and retain flag.
	 */
	const void *origin;             /* adapter-defined publisher identity, may be NULL */
	uint32_t origin_flags;          /* adapter-defined bits */
};

enum {
	BK_MSG_PERSISTENT = 1u << 0,    /* delivery_mode 2 */
};

/*
 * Allocate a message with room for body_len bytes, copying exchange,
 * routing key and every present property. The body is uninitialised and
 * writable through msg->body until the message is routed. Refcount 1,
 * owned by the caller. An expiration that is not a non-negative decimal
 * integer is the caller's to refuse first (bk_expiration_parse).
 */
struct bk_msg *bk_msg_new(struct bk_str exchange, struct bk_str routing_key,
			  const struct bk_props *props, size_t body_len);
struct bk_msg *bk_msg_ref(struct bk_msg *m);
void bk_msg_unref(struct bk_msg *m);     /* accepts NULL */

/* Parse an AMQP expiration string: 0 ok (*ms set), -EINVAL otherwise. */
int bk_expiration_parse(struct bk_str s, uint64_t *ms);

/* Wall-clock milliseconds (cached per loop iteration by the core). */
uint64_t bk_now_ms(void);

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

/* Borrowed vhost by name; NULL if absent. */
struct bk_vhost *bk_vhost_get(struct bk_broker *b, const char *name);
const char *bk_vhost_name(const struct bk_vhost *vh);

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

enum bk_xtype { BK_X_DIRECT, BK_X_FANOUT, BK_X_TOPIC, BK_X_HEADERS };

struct bk_exchange_decl {
	struct bk_str name;
	struct bk_str type;             /* "direct", "fanout", "topic", "headers" */
	bool passive, durable, auto_delete, internal;
	struct bk_table arguments;      /* alternate-exchange, ... */
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
};
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
};

/*
 * Declare (or check) a queue. Validates x-arguments as RabbitMQ does
 * (PRECONDITION_FAILED "invalid arg 'x-max-length' for queue 'q' in vhost
 * '/': ..."), checks equivalence on redeclare, RESOURCE_LOCKED for another
 * owner's exclusive queue, ACCESS_REFUSED for "amq."-prefixed names.
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
/* NOT_FOUND or RESOURCE_LOCKED as a consume/get/bind would see them. */
enum bk_status bk_queue_lookup(struct bk_vhost *vh, struct bk_str name,
			       bk_owner owner, struct bk_queue **out,
			       struct bk_err *err);
const char *bk_queue_name(const struct bk_queue *q);
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
	struct bk_delivery *free_next;
	struct bk_delivery *live_prev, *live_next; /* every unsettled delivery */
};

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

struct bk_consume_decl {
	struct bk_queue *queue;         /* from bk_queue_lookup */
	bool no_ack;
	bool exclusive;                 /* no other consumer may use the queue */
	int32_t priority;               /* x-priority, default 0 */
	uint32_t prefetch;              /* per-consumer limit, 0 = unlimited */
	struct bk_credit *credit;       /* shared limit or NULL */
	const struct bk_consumer_ops *ops;
	void *ctx;
};

/*
 * Register a consumer. ACCESS_REFUSED "queue 'q' in vhost '/' in exclusive
 * use" if the queue has an exclusive consumer (or this one asks for
 * exclusivity and others exist). Delivery of ready messages may start
 * synchronously, but only after *out is set.
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

#endif
