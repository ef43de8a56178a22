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
	/* For management listings only (may be NULL / 0): the adapter's
	 * consumer tag (copied) and the bk_chan_id() of its channel. */
	const char *tag;
	uint64_t channel_id;
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

/* ================================================================== */
/* Management (bk_stats.c, bk_registry.c, bk_introspect.c,            */
/* bk_access.c, bk_mgmt.c)                                            */
/* ================================================================== */

/*
 * Everything the HTTP management API, Prometheus /metrics, sluicectl and
 * MQTT $SYS topics read and change. Same thread rules as the rest of
 * broker.h: main thread only, no locks.
 *
 * Reading is by snapshot or by iteration with a callback. Views are
 * filled by the core; every pointer in a view is borrowed and valid only
 * until the callback returns (copy what you keep). A callback returns 0
 * to go on or non-zero to stop the walk (the walk then returns that
 * value). Callbacks must not change the broker (no declare, delete,
 * publish, settle, close) while a walk runs: collect names, walk, then
 * act.
 */

/* ------------------------------------------------------------------ */
/* Message counters and rates                                          */
/* ------------------------------------------------------------------ */

/*
 * RabbitMQ's message_stats keys. Counters only grow (since start); the
 * core counts them on the hot path as plain adds. Which object counts
 * which:
 *   broker/vhost: all of them
 *   queue:        PUBLISH (messages enqueued), DELIVER, DELIVER_NO_ACK,
 *                 GET, GET_NO_ACK, ACK, REDELIVER
 *   exchange:     PUBLISH_IN (messages published to it), PUBLISH_OUT
 *                 (of those, routed to at least one queue)
 *   channel:      what the adapter counts in its bk_chan_counters
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
/* Overview and samples                                                */
/* ------------------------------------------------------------------ */

/*
 * The sampler: a timer on the broker's event_base (started by
 * bk_broker_new when it has a base; default every 5000 ms) that computes
 * rates for the broker, each vhost, queue and exchange, and appends one
 * bk_sample to a ring of the last BK_SAMPLES_MAX. Rates are 0 until two
 * samples exist.
 */
#define BK_SAMPLES_MAX 60
#define BK_PROTO_MAX 8                  /* protocols counted separately */

struct bk_sample {
	uint64_t at_ms;                 /* wall clock */
	struct bk_msg_stats ms;         /* broker-wide counters at at_ms */
	uint64_t messages, messages_ready, messages_unacknowledged;
	uint64_t message_bytes;
	uint32_t connections, channels, queues, consumers;
	uint64_t mem_used;              /* bk_alloc_used() */
};

struct bk_object_totals {
	uint32_t connections, channels, exchanges, queues, consumers, vhosts;
};

struct bk_queue_totals {
	uint64_t messages;              /* ready + unacknowledged */
	uint64_t messages_ready;
	uint64_t messages_unacknowledged;
	uint64_t message_bytes;         /* bytes of ready messages */
};

struct bk_overview {
	struct bk_msg_stats ms;         /* broker-wide, since start */
	struct bk_msg_rates rates;
	struct bk_object_totals object_totals;
	struct bk_queue_totals queue_totals;
	/* connections and channels per protocol, as registered */
	struct {
		const char *protocol;       /* "AMQP 0-9-1", "MQTT 3.1.1", ... */
		uint32_t connections, channels;
	} proto[BK_PROTO_MAX];
	uint32_t nproto;
	uint64_t started_ms;            /* wall clock of bk_broker_new */
	uint64_t uptime_ms;
	uint64_t mem_used;              /* bk_alloc_used() */
	uint64_t mem_high_watermark;    /* bytes; 0 = none */
	unsigned alarms;                /* bk_alarms() */
	uint32_t sample_interval_ms;
};

/* Fill out (O(queues): queue totals are summed now). Never fails. */
void bk_overview_get(struct bk_broker *b, struct bk_overview *out);

/*
 * Copy up to max of the most recent samples into out, oldest first;
 * returns how many were copied (0 before the first tick).
 */
uint32_t bk_stats_samples(struct bk_broker *b, struct bk_sample *out, uint32_t max);

/* Change the interval (ms >= 100; tests use short ones) and restart the
 * timer. Take a sample now, outside the timer (tests, or a dashboard that
 * wants fresh rates). */
void bk_stats_set_interval(struct bk_broker *b, uint32_t ms);
void bk_stats_sample_now(struct bk_broker *b);

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
 * are read through ops->describe when a snapshot is taken instead.
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
	uint64_t send_pend;             /* bytes waiting in the output */
};

#define BK_CONN_OPS_V1 1

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
	 * the vhost right after). The connection itself is freed later from
	 * a deferred event; it stays registered until then. May be called
	 * more than once.
	 */
	void (*close)(void *ctx, const char *reason);
};

/* Static facts of a connection, copied at registration. */
struct bk_conn_info {
	const char *protocol;           /* "AMQP 0-9-1", "MQTT 3.1.1", "MQTT 5.0" */
	const char *peer_host;          /* numeric: "127.0.0.1", "::1" */
	uint16_t peer_port;
	const char *host;               /* local address, numeric */
	uint16_t port;                  /* local (listener) port */
	bool ssl;
	const struct bk_conn_ops *ops;  /* borrowed; outlives the registration */
	void *ctx;
};

/* Register; never fails. connected_at is now. */
struct bk_conn *bk_conn_register(struct bk_broker *b, const struct bk_conn_info *info);
/* Accepts NULL. Unregisters its remaining channels too. */
void bk_conn_unregister(struct bk_conn *rc);
uint64_t bk_conn_id(const struct bk_conn *rc);
const char *bk_conn_name(const struct bk_conn *rc);   /* borrowed */
/* Stable until bk_conn_unregister(); the adapter adds to it. */
struct bk_conn_counters *bk_conn_counters(struct bk_conn *rc);

/*
 * After login: user name and vhost (copied; vhost NULL before
 * connection.open / for a protocol without vhosts). Sets which
 * connections bk_vhost_delete and bk_user_delete close.
 */
void bk_conn_set_user(struct bk_conn *rc, struct bk_str user);
void bk_conn_set_vhost(struct bk_conn *rc, const char *vhost);
/* AMQP client-properties (validated table, copied) or, for MQTT, the
 * client id (client_id non-NULL, copied). Either may be set. */
void bk_conn_set_client_properties(struct bk_conn *rc, struct bk_table props);
void bk_conn_set_client_id(struct bk_conn *rc, struct bk_str client_id);
/* The bk_owner token the adapter uses for exclusive queues, so queue
 * views can name the owning connection (owner_conn_id). */
void bk_conn_set_owner(struct bk_conn *rc, bk_owner owner);

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

/* Register channel number on rc. ops borrowed; never fails. */
struct bk_chan *bk_chan_register(struct bk_conn *rc, uint32_t number,
				 const struct bk_chan_ops *ops, void *ctx);
void bk_chan_unregister(struct bk_chan *ch);        /* accepts NULL */
/* Broker-wide id (for bk_consume_decl.channel_id); 0 for NULL. */
uint64_t bk_chan_id(const struct bk_chan *ch);
struct bk_chan_counters *bk_chan_counters(struct bk_chan *ch);

/* Snapshot views. */
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
};

struct bk_chan_view {
	uint64_t id;
	uint32_t number;
	const char *name;               /* "<conn name> (<number>)" */
	uint64_t conn_id;
	const char *conn_name;
	const char *user, *vhost;       /* the connection's */
	struct bk_msg_stats ms;         /* from bk_chan_counters */
	struct bk_msg_rates rates;      /* sampler */
	struct bk_chan_state st;        /* from describe() */
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
/* Introspection of topology (bk_introspect.c)                         */
/* ------------------------------------------------------------------ */

struct bk_vhost_view {
	const char *name;
	struct bk_msg_stats ms;
	struct bk_msg_rates rates;
	struct bk_queue_totals queue_totals;
	uint32_t queues, exchanges, connections;
};

struct bk_exchange_view {
	const char *vhost;
	const char *name;               /* "" for the default exchange */
	const char *type;               /* "direct", "fanout", "topic", "headers" */
	bool durable, auto_delete, internal;
	struct bk_table arguments;      /* as declared */
	uint64_t publish_in, publish_out;
	double publish_in_rate, publish_out_rate;
};

struct bk_queue_view {
	const char *vhost;
	const char *name;
	bool durable, exclusive, auto_delete;
	struct bk_table arguments;      /* as declared */
	uint64_t owner_conn_id;         /* exclusive: bk_conn_id of the owner
					   connection if registered, else 0 */
	const char *state;              /* "running" */
	const char *type;               /* "classic", "quorum" (as declared) */
	uint64_t messages_ready, messages_unacknowledged, messages;
	uint64_t message_bytes, message_bytes_ready;
	uint32_t consumers;
	uint64_t memory;                /* approximate bytes held by the queue */
	struct bk_msg_stats ms;
	struct bk_msg_rates rates;
};

/*
 * A binding. The default exchange's implicit bindings (source "", every
 * queue, routing key = queue name) are listed first for each vhost, as
 * RabbitMQ lists them.
 */
struct bk_binding_view {
	const char *vhost;
	const char *source;
	struct bk_str destination;
	const char *destination_type;   /* "queue" or "exchange" */
	struct bk_str routing_key;
	struct bk_table arguments;
	const char *properties_key;     /* RabbitMQ's: bk_binding_props_key() */
};

struct bk_consumer_view {
	const char *vhost;
	const char *queue;
	const char *consumer_tag;       /* "" if the adapter gave none */
	uint64_t channel_id;            /* from bk_consume_decl; 0 if none */
	bool ack_required;              /* !no_ack */
	bool exclusive;
	bool active;                    /* false while parked (output full) */
	uint32_t prefetch_count;        /* per consumer; 0 = unlimited */
	int32_t priority;               /* x-priority */
	uint32_t unacked;
};

typedef int (*bk_vhost_each_fn)(void *arg, const struct bk_vhost_view *v);
typedef int (*bk_exchange_each_fn)(void *arg, const struct bk_exchange_view *v);
typedef int (*bk_queue_each_fn)(void *arg, const struct bk_queue_view *v);
typedef int (*bk_binding_each_fn)(void *arg, const struct bk_binding_view *v);
typedef int (*bk_consumer_each_fn)(void *arg, const struct bk_consumer_view *v);

/* All walks: vh NULL = every vhost (sorted by name), else that vhost.
 * Objects within a vhost come in no particular order (sort in the
 * caller if the API promises an order). */
int bk_vhosts_each(struct bk_broker *b, bk_vhost_each_fn fn, void *arg);
int bk_exchanges_each(struct bk_broker *b, struct bk_vhost *vh,
		      bk_exchange_each_fn fn, void *arg);
int bk_queues_each(struct bk_broker *b, struct bk_vhost *vh,
		   bk_queue_each_fn fn, void *arg);
int bk_bindings_each(struct bk_broker *b, struct bk_vhost *vh,
		     bk_binding_each_fn fn, void *arg);
int bk_consumers_each(struct bk_broker *b, struct bk_vhost *vh,
		      bk_consumer_each_fn fn, void *arg);

/* One object by name: BK_OK with fn called once, or NOT_FOUND with
 * RabbitMQ's text ("no queue 'q' in vhost '/'"). */
enum bk_status bk_exchange_inspect(struct bk_vhost *vh, struct bk_str name,
				   bk_exchange_each_fn fn, void *arg, struct bk_err *err);
enum bk_status bk_queue_inspect(struct bk_vhost *vh, struct bk_str name,
				bk_queue_each_fn fn, void *arg, struct bk_err *err);

/*
 * RabbitMQ's binding "properties_key" (the last segment of
 * /api/bindings/.../props/KEY): "~" for an empty routing key without
 * arguments; else the routing key form-escaped (bytes other than
 * A-Z a-z 0-9 - . _ as %XX, space as "+": "a b/c" -> "a+b%2Fc"); with
 * arguments, "~" and 6 base64url characters hashing the arguments follow
 * ("kk~ZMA7qQ"). The hash is stable for equal arguments but not
 * RabbitMQ's own (Erlang phash2), so clients must take keys from
 * listings, as rabbitmqadmin does. Writes a NUL-terminated string
 * (truncated to cap); returns out.
 */
char *bk_binding_props_key(struct bk_str routing_key, struct bk_table args,
			   char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* Management writes (bk_mgmt.c, bk_access.c)                          */
/* ------------------------------------------------------------------ */

/*
 * Vhosts. bk_vhost_add creates name with its default exchanges (BK_OK
 * also if it exists: PUT semantics). bk_vhost_delete closes every
 * registered connection on it (ops->close, "vhost 'x' is deleted"),
 * tells the vhost watchers (bk_vhost_watch below), deletes its queues (dropping their messages), exchanges, bindings and
 * permissions, then the vhost; NOT_FOUND "no vhost 'x'" if absent. The
 * vhost pointer is invalid afterwards. Both update the definitions file
 * when persistence is on.
 */
enum bk_status bk_vhost_add(struct bk_broker *b, const char *name, struct bk_err *err);
enum bk_status bk_vhost_delete(struct bk_broker *b, const char *name, struct bk_err *err);

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
 * Users. Passwords are stored only as a RabbitMQ password hash:
 * base64(salt(4 bytes) ++ H(salt ++ utf8 password)) with H = SHA-256
 * (rabbit_password_hashing_sha256, the default) or SHA-512
 * (rabbit_password_hashing_sha512). tags: space- or comma-separated
 * ("administrator management"); kept as given, normalised to commas in
 * views. An empty password (NULL or "") means the user cannot log in
 * with a password (RabbitMQ's passwordless user).
 *
 * bk_user_add adds or replaces (PUT semantics; a replaced user keeps its
 * permissions). bk_user_add_hash takes an existing hash (definitions
 * import): PRECONDITION_FAILED if it does not decode to more than 4
 * bytes or the algorithm is unknown. bk_user_delete removes the user,
 * its permissions, and closes its registered connections; NOT_FOUND
 * "no user 'u'" if absent.
 *
 * bk_user_set (above, the configuration file's path) is bk_user_add plus
 * full permissions (".*" ".*" ".*") on vhost "/" unless the user already
 * has permissions there; the default guest user gets the same.
 */
enum bk_hash_algo { BK_HASH_SHA256, BK_HASH_SHA512 };
const char *bk_hash_algo_name(enum bk_hash_algo a);  /* "rabbit_password_hashing_sha256" */
/* Parse RabbitMQ's name (also "sha256"/"sha512"); false if unknown. */
bool bk_hash_algo_parse(const char *name, enum bk_hash_algo *out);

enum bk_status bk_user_add(struct bk_broker *b, const char *name,
			   const char *password, const char *tags,
			   struct bk_err *err);
enum bk_status bk_user_add_hash(struct bk_broker *b, const char *name,
				const char *password_hash, enum bk_hash_algo algo,
				const char *tags, struct bk_err *err);
enum bk_status bk_user_set_password(struct bk_broker *b, const char *name,
				    const char *password, struct bk_err *err);
enum bk_status bk_user_set_tags(struct bk_broker *b, const char *name,
				const char *tags, struct bk_err *err);
enum bk_status bk_user_delete(struct bk_broker *b, const char *name,
			      struct bk_err *err);
/* Has the user tag (e.g. "administrator") — for the HTTP API's basic
 * auth; false if no such user. */
bool bk_user_has_tag(struct bk_broker *b, const char *name, const char *tag);

/*
 * Compute a RabbitMQ password hash of password with a random 4-byte salt
 * (or the given salt when salt is non-NULL, for tests) into out as
 * base64, NUL-terminated. 0, or -ENOSPC if cap is too small (>= 93 is
 * always enough). Check a password against a stored hash: true on match
 * (constant time in the password's content).
 */
int bk_password_hash(enum bk_hash_algo algo, const char *password,
		     const uint8_t *salt4, char *out, size_t cap);
bool bk_password_verify(enum bk_hash_algo algo, const char *password_hash,
			struct bk_str password);

struct bk_user_view {
	const char *name;
	const char *password_hash;      /* base64; "" for a passwordless user */
	const char *hashing_algorithm;  /* "rabbit_password_hashing_sha256" */
	const char *tags;               /* comma-separated: "administrator,management" */
	bool loopback_only;
};
typedef int (*bk_user_each_fn)(void *arg, const struct bk_user_view *v);
/* Sorted by name. */
int bk_users_each(struct bk_broker *b, bk_user_each_fn fn, void *arg);
enum bk_status bk_user_inspect(struct bk_broker *b, const char *name,
			       bk_user_each_fn fn, void *arg, struct bk_err *err);

/*
 * Permissions per user and vhost: three regular expressions (POSIX
 * extended). As RabbitMQ's, a regex is searched, not anchored: ".*"
 * grants everything, "^amq\\.gen" a prefix, "" nothing. NOT_FOUND
 * "no user 'u'" / "no vhost 'v'"; PRECONDITION_FAILED for a regex that
 * does not compile. Setting replaces the user's entry on that vhost.
 */
enum bk_status bk_permission_set(struct bk_broker *b, const char *user,
				 const char *vhost, const char *configure,
				 const char *write, const char *read,
				 struct bk_err *err);
enum bk_status bk_permission_clear(struct bk_broker *b, const char *user,
				   const char *vhost, struct bk_err *err);

struct bk_permission_view {
	const char *user, *vhost;
	const char *configure, *write, *read;
};
typedef int (*bk_permission_each_fn)(void *arg, const struct bk_permission_view *v);
/* user and/or vhost NULL: any. Sorted by user, then vhost. */
int bk_permissions_each(struct bk_broker *b, const char *user, const char *vhost,
			bk_permission_each_fn fn, void *arg);

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
 * "access to queue 'q' in vhost '/' refused for user 'u'" (kind
 * "queue" or "exchange"; the default exchange is named "amq.default").
 * O(1) lookup plus one regexec; results for the last name checked are
 * not cached.
 */
enum bk_perm { BK_PERM_CONFIGURE, BK_PERM_WRITE, BK_PERM_READ };
enum bk_status bk_vhost_access(struct bk_broker *b, struct bk_str user,
			       const char *vhost, struct bk_err *err);
enum bk_status bk_access_check(struct bk_vhost *vh, struct bk_str user,
			       enum bk_perm what, const char *kind,
			       struct bk_str name, struct bk_err *err);
/*
 * Changes whenever a user, permission or vhost changes. An adapter may
 * cache a granted check (e.g. write access to the exchange it published
 * to last) while this value stays the same, so the publish path does not
 * pay for a lookup and a regexec per message.
 */
uint64_t bk_access_generation(struct bk_broker *b);

/* ------------------------------------------------------------------ */
/* Definitions documents: RabbitMQ's definitions JSON (bk_defs_*.c)     */
/* ------------------------------------------------------------------ */

/*
 * One codec for the format `rabbitmqctl export_definitions` writes, used
 * by the durable definitions file, GET/POST /api/definitions and the
 * daemon's load_definitions. Documents are cJSON trees (<cjson/cJSON.h>).
 */
struct cJSON;

/*
 * Tables as JSON values, as RabbitMQ writes arguments: integers and
 * floats as numbers, strings as strings, tables as objects, arrays as
 * arrays, void as null, timestamps as numbers. bk_table_to_json returns
 * a new object (the caller's).
 *
 * bk_table_from_json appends obj's members to b: an integral number
 * becomes a signed 32-bit integer when it fits and a signed 64-bit one
 * otherwise (the types client libraries send), other numbers doubles,
 * strings long strings. NULL or null adds nothing. 0, or -EINVAL with
 * why = "SUFFIX: reason" where SUFFIX is the path below obj (".a.b[2]",
 * "" for obj itself): ": expected an object", ".k: nested too deeply".
 */
struct cJSON *bk_table_to_json(struct bk_table t);
int bk_table_from_json(const struct cJSON *obj, struct bk_table_builder *b,
		       char *why, size_t whylen);

/*
 * The JSON type RabbitMQ expects for a well-known x-argument: 'i' integer
 * (x-message-ttl, x-expires, x-max-length, x-max-length-bytes,
 * x-max-priority, x-delivery-limit), 'b' boolean
 * (x-single-active-consumer), 's' string (x-dead-letter-*, x-overflow,
 * x-queue-type, x-queue-mode, x-match, alternate-exchange), 0 for any
 * other key.
 */
char bk_defs_arg_type(const char *key);

/* The kinds of a document, in the order an import applies them. */
enum bk_defs_kind {
	BK_DEFS_VHOSTS, BK_DEFS_USERS, BK_DEFS_PERMISSIONS, BK_DEFS_EXCHANGES,
	BK_DEFS_QUEUES, BK_DEFS_BINDINGS, BK_DEFS__COUNT
};
#define BK_DEFS_ALL ((1u << BK_DEFS__COUNT) - 1)

/*
 * Export (bk_defs_json.c): a new document (the caller's). vh NULL: the
 * whole broker (vhosts, users with password_hash, hashing_algorithm and
 * tags, permissions, then the objects of every vhost); vh set: that
 * vhost's exchanges, queues and bindings only, without "vhost" members
 * (RabbitMQ's per-vhost export).
 *
 * Objects: as RabbitMQ's export, every queue but exclusive ones, every
 * exchange but the built-in ones ("" and amq.*), every binding whose
 * source is not the default exchange; durable or not. With
 * BK_DEFS_DURABLE only what a restart keeps: durable exchanges, durable
 * non-exclusive queues, bindings from a durable exchange to a durable
 * destination.
 */
#define BK_DEFS_DURABLE 1u
struct cJSON *bk_defs_export(struct bk_broker *b, struct bk_vhost *vh,
			     unsigned flags);
/* One user as the document (and GET /api/users) writes it: name,
 * password_hash, hashing_algorithm, tags as a list, limits. New object. */
struct cJSON *bk_defs_user_json(const struct bk_user_view *v);
/* One permission entry: user, vhost, configure, write, read. New object. */
struct cJSON *bk_defs_permission_json(const struct bk_permission_view *v);
/* Tags "a,b" (or "a b") as a JSON list ["a","b"]. New array. */
struct cJSON *bk_defs_tags_json(const char *tags);

/*
 * Import in two steps. bk_defs_parse checks a whole document before
 * anything is applied and keeps it as a plan (the caller's; free with
 * bk_defs_free): NULL with err naming the JSON path,
 * "queues[3].arguments.x-max-length: expected an integer". With
 * one_vhost only exchanges, queues and bindings are read and their
 * "vhost" members are ignored (POST /api/definitions/VHOST). Built-in
 * exchanges and bindings from the default exchange are left out.
 *
 * bk_defs_apply applies the kinds in the mask (1u << BK_DEFS_*) in
 * dependency order: vhosts, users, permissions, exchanges, queues,
 * bindings. vhost non-NULL replaces every entry's vhost. Each entry goes
 * through the ordinary core call (declare, bind, bk_user_add...), so
 * applying what exists and is equivalent changes nothing. A refusal
 * stops the apply with -EINVAL and err = "queues[3]: <the core's text>"
 * (what was applied before stays), unless BK_DEFS_KEEP_GOING: then it is
 * logged and skipped. A user named guest is loopback-only, as RabbitMQ's
 * default loopback_users.
 *
 * bk_defs_import: parse, then apply everything.
 */
struct bk_defs;
#define BK_DEFS_KEEP_GOING 2u
struct bk_defs *bk_defs_parse(const struct cJSON *doc, bool one_vhost,
			      char *err, size_t errlen);
int bk_defs_apply(struct bk_broker *b, const struct bk_defs *d, const char *vhost,
		  unsigned kinds, unsigned flags, char *err, size_t errlen);
void bk_defs_free(struct bk_defs *d);         /* accepts NULL */
int bk_defs_import(struct bk_broker *b, const struct cJSON *doc, const char *vhost,
		   unsigned flags, char *err, size_t errlen);
/* Entries of kind k in a plan, and the name of entry i (the user of a
 * permission, the destination of a binding). */
size_t bk_defs_count(const struct bk_defs *d, enum bk_defs_kind k);
const char *bk_defs_name(const struct bk_defs *d, enum bk_defs_kind k, size_t i);
/* "3 policies ignored (not supported)" when the document held lists the
 * broker does not apply; NULL otherwise. Borrowed from d. */
const char *bk_defs_note(const struct bk_defs *d);

/*
 * Commit: write the durable definitions file now if anything durable
 * changed since it was last written (otherwise it is written once at the
 * end of the loop iteration). The management API calls it before a 2xx
 * so that the answer means the change is on disk. 0, or a negative errno
 * (the file could not be written); 0 without persistence.
 */
int bk_defs_commit(struct bk_broker *b);

/* ------------------------------------------------------------------ */
/* Journal figures for /metrics (bk_mgmt_extra.c)                      */
/* ------------------------------------------------------------------ */

/* A copy of the journal's counters (storage.h's st_journal_stats). */
struct bk_journal_stats {
	uint64_t segments, disk_bytes, live_bytes, live_msgs;
	uint64_t records, batches, syncs;   /* since open */
	uint64_t compacted_records, deleted_segments;
	int failed;                         /* 0, or the failed state's -errno */
	/* fdatasync latency histogram (journal thread), since open */
#define BK_FSYNC_BUCKETS 14
	double fsync_le[BK_FSYNC_BUCKETS];  /* bucket upper bounds, seconds */
	uint64_t fsync_bucket[BK_FSYNC_BUCKETS];  /* cumulative: took <= fsync_le[i] */
	uint64_t fsync_count;               /* every measured fdatasync (le="+Inf") */
	double fsync_sum;                   /* seconds */
};
/* false (out zeroed) when the broker has no journal. */
bool bk_journal_stats_get(struct bk_broker *b, struct bk_journal_stats *out);

#endif
