/*
 * bk_types.h: the core's value types: outcomes a peer can see, strings,
 * field tables, message properties and messages. This is all a codec
 * needs (the AMQP and MQTT codecs include this header and nothing else of
 * the core), and what every other core header builds on.
 *
 * Tables. Header tables and x-argument tables are held as an encoded blob
 * (struct bk_table) in the AMQP 0-9-1 field-table wire format, which is the
 * core's table serialisation: an AMQP adapter passes headers through with
 * no decode and no re-encode, and the core reads them with the iterator
 * below only where it needs to (headers exchange, x-arguments, x-death).
 * MQTT builds such a table from user properties with bk_table_builder.
 */
#ifndef SLUICE_BK_TYPES_H
#define SLUICE_BK_TYPES_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "bk_log.h"
#include "bk_time.h"

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
	bool permission;          /* ACCESS_REFUSED by a permission (bk_access_check and
				     kin), not by a rule such as reserved names */
	bool quota;               /* refused by a limit (MQTT says 0x97) */
	char text[256];
};

/* Printf into err->text and return status (for one-line error exits);
 * clears err->permission and err->quota. */
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

/*
 * Names and keys AMQP 0-9-1 carries as short strings (exchange names and
 * routing keys in every delivery) are at most this many octets. Every
 * exchange the core creates is checked against it (bk_name_check), so its
 * name can be written in a basic.deliver; routing keys are checked where
 * they enter from AMQP, HTTP, definitions, policies and the configuration
 * (MQTT topics may be longer: those messages are skipped for AMQP
 * consumers). Queue names are not sent in deliveries and may be longer
 * (an MQTT session's queue carries its client id); AMQP clients only ever
 * name queues of at most 255 octets.
 */
#define BK_SHORTSTR_MAX 255
/*
 * Regular expressions from outside (permissions, topic permissions, policy
 * patterns, API filters) go through bk_regcomp: regcomp(), unless the
 * pattern would make it build a huge tree (nested or large repetitions:
 * "a++++...", "((a{99}){99}){99}") or regexec run exponentially (a
 * back-reference); then REG_ESPACE, as if regcomp had run out of memory.
 * bk_regex_tame is the check alone. (bk_regex.c)
 */
int bk_regcomp(regex_t *re, const char *src, int cflags);
bool bk_regex_tame(const char *src);
/* The nodes glibc's tree of a tame pattern has (at least 1; 0 if not
 * tame): a match of n octets costs regexec up to about nodes * n steps
 * (every node can be live at every octet), so a caller matching one
 * pattern against many names can bound the sum before it runs. */
uint64_t bk_regex_nodes(const char *src);

/* Whether s fits a short string: at most BK_SHORTSTR_MAX octets. */
static inline bool
bk_str_is_short(struct bk_str s)
{
	return s.len <= BK_SHORTSTR_MAX;
}
/*
 * An exchange or queue name the core may create: no NUL octet (names are
 * C strings inside the core, so "a\0b" would silently become "a"), and
 * for an exchange at most BK_SHORTSTR_MAX octets. PRECONDITION_FAILED with
 * the reason otherwise; kind is "exchange" or "queue".
 */
enum bk_status bk_name_check(const char *kind, struct bk_str name,
			     const char *vhost, struct bk_err *err);

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
/* One table entry. A name longer than BK_SHORTSTR_MAX octets (a field
 * name is a short string) is refused: false, and nothing is written. */
bool bk_tb_put(struct bk_table_builder *b, const char *name, uint32_t name_len,
	       const struct bk_value *v);
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
 * A message: refcounted, immutable once routed. One variable-length
 * record holds this fixed part, the optional parts the message has, its
 * exchange name, routing key and body; parts it does not have cost
 * nothing (most messages have no expiry, no origin, no property beyond
 * a delivery mode, and are published to the default exchange):
 *
 *   0        28                                  (each part only if:)
 *   +--------+------------+--------+--------+--------+
 *   | fixed  | expires_ms | origin | rk len | rk off |
 *   | part   | i64        | ptr    | u32    | u32    |
 *   +--------+------------+--------+--------+--------+
 *              EXPIRES      ORIGIN   rk_len8  rk_off
 *                                    == 255   == 0xffff
 *   ...+-----+---------------+----------+--------+-------------+------+
 *      | pad | own props     | exchange | ex len | routing key | body |
 *      |     | (8-aligned)   |          | u8     |             |      |
 *      +-----+---------------+----------+--------+-------------+------+
 *        PROPS_OWN             EXCHANGE (name not "")   ^ rk_off
 *
 * layout (BK_ML_*) says which parts are there. The fixed part keeps the
 * routing key's offset, so the key, the body and the exchange (its
 * length octet just before the key) are found with a load or two;
 * optional 8-byte parts may be misaligned and are read with memcpy. Own
 * properties are a struct bk_props whose pointers point into the record,
 * followed by the property strings; a message with no property or only
 * a delivery mode of 1 or 2 points at a shared constant instead. Read
 * the parts with the accessors below only; bk_msg.c builds the record.
 * Each holder keeps one reference: a queue entry, an unacked delivery,
 * an evbuffer reference to the body, a pending journal write.
 */
struct bk_msg {
	uint64_t id;                    /* broker-wide, increasing */
	uint64_t published_ms : 48;     /* wall clock ms at publish (until year 10889) */
	uint64_t rk_off : 16;           /* routing key's offset; 0xffff: in a u32 part */
	uint32_t refs;
	uint32_t body_len;              /* < 4 GiB: max_message_size is at most 512 MiB;
					   kept on a paged-out stub (bk_int.h) */
	uint8_t flags;                  /* BK_MSG_* (bk_int.h has the core's own) */
	uint8_t rk_len8;                /* routing key length; 255: in a u32 part */
	/*
	 * Set by the publishing adapter after bk_msg_new() and before
	 * routing; zero otherwise. The core only carries them (a
	 * dead-lettered copy starts with zeroes). MQTT uses the origin
	 * (bk_msg_origin) for no-local and origin_flags for the publish QoS
	 * and retain flag. At most 10 bits.
	 */
	uint16_t origin_flags : 10;     /* adapter-defined bits */
	uint16_t layout : 6;            /* BK_ML_*: private to bk_msg.c and the accessors */
} __attribute__((packed, aligned(4)));

enum {
	BK_MSG_PERSISTENT = 1u << 0,    /* delivery_mode 2 */
};

/* layout bits (private) */
enum {
	BK_ML_EXPIRES   = 1u << 0,
	BK_ML_ORIGIN    = 1u << 1,
	BK_ML_EXCHANGE  = 1u << 2,
	BK_ML_PROPS_OWN = 1u << 3,
	BK_ML_SHARED_SHIFT = 4,         /* 2 bits: 0 none, 1 transient, 2 persistent */
};

extern const struct bk_props bk_msg_shared_props[3];
extern const struct bk_props *const bk_msg_shared[4];   /* by the layout's 2 bits */

static inline uint32_t
bk_msg__ld32(const struct bk_msg *m, size_t off)
{
	uint32_t v;

	__builtin_memcpy(&v, (const uint8_t *)m + off, sizeof(v));
	return v;
}

/* Offset of the u32 parts (long key length, then large key offset). */
static inline size_t
bk_msg__u32_off(const struct bk_msg *m)
{
	return sizeof(struct bk_msg) + ((m->layout & BK_ML_EXPIRES) ? 8u : 0u) +
	       ((m->layout & BK_ML_ORIGIN) ? 8u : 0u);
}

static inline uint32_t
bk_msg_rk_len(const struct bk_msg *m)
{
	if (__builtin_expect(m->rk_len8 != 255, 1))
		return m->rk_len8;
	return bk_msg__ld32(m, bk_msg__u32_off(m));
}

/* Offset of the routing key. */
static inline size_t
bk_msg__rk_off(const struct bk_msg *m)
{
	if (__builtin_expect(m->rk_off != 0xffff, 1))
		return m->rk_off;
	return bk_msg__ld32(m, bk_msg__u32_off(m) + (m->rk_len8 == 255 ? 4u : 0u));
}

/* The exchange it was published to ("" = the default exchange). */
static inline struct bk_str
bk_msg_exchange(const struct bk_msg *m)
{
	size_t o;
	uint8_t n;

	if (!(m->layout & BK_ML_EXCHANGE))
		return (struct bk_str){ "", 0 };
	o = bk_msg__rk_off(m) - 1u;
	n = ((const uint8_t *)m)[o];
	return (struct bk_str){ (const char *)m + o - n, n };
}

static inline struct bk_str
bk_msg_rk(const struct bk_msg *m)
{
	return (struct bk_str){ (const char *)m + bk_msg__rk_off(m), bk_msg_rk_len(m) };
}

/*
 * The body: body_len bytes, writable until the message is routed. A
 * paged-out stub (BK_MSG_PAGED, bk_int.h) has none: the pointer is then
 * not to be read.
 */
static inline uint8_t *
bk_msg_body(const struct bk_msg *m)
{
	return (uint8_t *)(uintptr_t)m + bk_msg__rk_off(m) + bk_msg_rk_len(m);
}

/* Offset of the own properties (when PROPS_OWN). */
static inline size_t
bk_msg__props_off(const struct bk_msg *m)
{
	size_t o = bk_msg__u32_off(m) + (m->rk_len8 == 255 ? 4u : 0u) +
		   (m->rk_off == 0xffff ? 4u : 0u);

	return (o + 7u) & ~(size_t)7u;
}

/* Never NULL: the message's own properties or a shared constant. */
static inline const struct bk_props *
bk_msg_props(const struct bk_msg *m)
{
	if (__builtin_expect(m->layout & BK_ML_PROPS_OWN, 0))
		return (const struct bk_props *)(const void *)
		       ((const uint8_t *)m + bk_msg__props_off(m));
	return bk_msg_shared[m->layout >> BK_ML_SHARED_SHIFT];
}

/* Absolute expiry in wall-clock ms (from the expiration property, or set
 * by its creator); 0 = none. */
static inline int64_t
bk_msg_expires(const struct bk_msg *m)
{
	int64_t v;

	if (!(m->layout & BK_ML_EXPIRES))
		return 0;
	__builtin_memcpy(&v, (const uint8_t *)m + sizeof(*m), sizeof(v));
	return v;
}

/* The adapter-defined publisher identity, or NULL. */
static inline const void *
bk_msg_origin(const struct bk_msg *m)
{
	const void *v;

	if (!(m->layout & BK_ML_ORIGIN))
		return NULL;
	__builtin_memcpy(&v, (const uint8_t *)m + sizeof(*m) +
			 ((m->layout & BK_ML_EXPIRES) ? 8u : 0u), sizeof(v));
	return v;
}

/*
 * Allocate a message with room for body_len bytes, copying exchange,
 * routing key and every present property. The body is uninitialised and
 * writable through bk_msg_body() until the message is routed. Refcount 1,
 * owned by the caller. An expiration that is not a non-negative decimal
 * integer is the caller's to refuse first (bk_expiration_parse).
 */
struct bk_msg *bk_msg_new(struct bk_str exchange, struct bk_str routing_key,
			  const struct bk_props *props, size_t body_len);
/*
 * The same with room for the optional parts in want (BK_ML_EXPIRES,
 * BK_ML_ORIGIN, zero until set), for a creator that sets them later with
 * the setters below.
 */
struct bk_msg *bk_msg_new_x(struct bk_str exchange, struct bk_str routing_key,
			    const struct bk_props *props, size_t body_len,
			    unsigned want);
/*
 * A new message (refcount 1) with m's exchange, routing key, properties,
 * id, publish time, expiry, origin, origin_flags and flags, and room for
 * body_len uninitialised body bytes.
 */
struct bk_msg *bk_msg_dup(const struct bk_msg *m, size_t body_len);
/*
 * Set the expiry or origin of a message being built (refcount 1, not
 * routed). The message must have room for it (bk_msg_new_x, or an
 * expiration property), unless the value is 0 / NULL.
 */
void bk_msg_set_expires(struct bk_msg *m, int64_t expires_ms);
void bk_msg_set_origin(struct bk_msg *m, const void *origin);
/*
 * Give a message that is being filled (refcount 1, not yet routed) room
 * for exactly body_len body bytes, keeping the first min(old, new) bytes
 * of the body. The message may move: the old pointer is invalid and the
 * returned one replaces it. Used by adapters that receive a body in
 * pieces, so memory follows the bytes that arrived, not the size a peer
 * announced.
 */
struct bk_msg *bk_msg_body_resize(struct bk_msg *m, size_t body_len);
struct bk_msg *bk_msg_ref(struct bk_msg *m);
void bk_msg_unref(struct bk_msg *m);     /* accepts NULL */

/* Parse an AMQP expiration string: 0 ok (*ms set), -EINVAL otherwise. */
int bk_expiration_parse(struct bk_str s, uint64_t *ms);

/* bk_now_ms(): bk_time.h */


#endif
