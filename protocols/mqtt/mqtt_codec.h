/*
 * mqtt_codec.h: pure functions over bytes for MQTT 3.1 (MQIsdp, level 3),
 * 3.1.1 (level 4) and 5.0 (level 5) control packets. No libevent, no
 * state, no allocation: unit tests and the fuzzer call them directly; only
 * mqtt_reader.c touches evbuffers.
 *
 * Control packet layout [MQTT-2.1 (3.1.1 §2.2)]:
 *
 *   +-----------+-------+------------------+-----------------+---------+
 *   | type << 4 | flags | remaining length | variable header | payload |
 *   |   4 bits  | 4 bit | varint, 1..4 B   |   remaining length octets |
 *   +-----------+-------+------------------+-----------------+---------+
 *
 * Reading: mqtt_fixed_parse() looks at a buffered prefix and says how long
 * the whole packet is (and refuses it from the header alone if it is too
 * big); once that many bytes are contiguous, mqtt_packet_decode() fills a
 * struct mqtt_packet whose strings and spans point into the input, which
 * must outlive the struct. Every UTF-8 string is checked on decode
 * ([MQTT-1.5.4-1], [MQTT-1.5.4-2]; 3.1.1 [MQTT-1.5.3-1], [MQTT-1.5.3-2]).
 *
 * Writing: mqtt_packet_encode() writes any packet from the same struct;
 * mqtt_packet_size() gives the exact size first. For PUBLISH the payload
 * need not be copied: mqtt_publish_encode_head() writes everything up to
 * the payload and the caller appends the body by reference.
 *
 * Errors (decode, fixed header, property decode), and what a server
 * answers (v5 reason code in CONNACK before the session is up, DISCONNECT
 * after; v3 just closes the connection). The split between malformed and
 * protocol error is the one Mosquitto 2.0 makes, so that conversations
 * recorded against it replay byte for byte:
 *
 *   -EPROTO    malformed packet: truncated or        0x81 Malformed Packet
 *              trailing bytes, reserved flags, an
 *              unknown property, a wildcard in or an
 *              empty topic name, an empty filter,
 *              QoS or retain handling 3, DUP on QoS 0,
 *              misplaced properties in (UN)SUBSCRIBE,
 *              subscription identifier 0
 *   -EILSEQ    a UTF-8 string is ill formed or       0x81 Malformed Packet
 *              holds U+0000, a control character
 *              or a non-character [MQTT-1.5.4]
 *   -EBADMSG   protocol error: well formed, but      0x82 Protocol Error
 *              data not allowed (duplicate or misplaced property, property
 *              value out of range, packet id 0, no-local on a shared
 *              subscription, a share without a filter, unknown reason code)
 *   -ERANGE    PUBLISH with Topic Alias 0            0x94 Topic Alias invalid
 *              [MQTT-3.3.2-8]
 *   -EMSGSIZE  the packet exceeds the maximum        0x95 Packet too large
 *              packet size (fixed header alone)
 *   -ENOTSUP   CONNECT with a protocol name we know  CONNACK return code 1
 *              but a level we do not (p->u.connect    in the 3.1.1 form
 *              .level and .protocol_name are set)     [MQTT-3.1.2-2]
 *
 * Decoding is version aware: pass the level from the connection's CONNECT
 * (MQTT_V31, MQTT_V311, MQTT_V5); CONNECT itself carries its level. Before
 * CONNECT, pass 0 to mqtt_fixed_parse().
 *
 * Example:
 *
 *   struct mqtt_fixed fh;
 *   struct mqtt_packet pkt;
 *   int r = mqtt_fixed_parse(buf, buffered, level, max_packet, &fh);
 *   if (r == 1 && buffered >= fh.total &&
 *       (r = mqtt_packet_decode(buf, fh.total, level, &pkt)) == 1 &&
 *       pkt.type == MQTT_PUBLISH)
 *           route(pkt.u.publish.topic, pkt.u.publish.payload, ...);
 *
 *   struct mqtt_packet ack = { .type = MQTT_PUBACK };
 *   ack.u.ack.packet_id = id;
 *   int n = mqtt_packet_encode(out, sizeof(out), MQTT_V5, &ack);
 */
#ifndef SLUICE_MQTT_CODEC_H
#define SLUICE_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_types.h"       /* struct bk_str only; the codec calls no core function */

/* Protocol levels (CONNECT "protocol level" octet). */
enum {
	MQTT_V31  = 3,          /* "MQIsdp" */
	MQTT_V311 = 4,          /* "MQTT" */
	MQTT_V5   = 5,          /* "MQTT" */
};

enum mqtt_type {
	MQTT_CONNECT     = 1,
	MQTT_CONNACK     = 2,
	MQTT_PUBLISH     = 3,
	MQTT_PUBACK      = 4,
	MQTT_PUBREC      = 5,
	MQTT_PUBREL      = 6,
	MQTT_PUBCOMP     = 7,
	MQTT_SUBSCRIBE   = 8,
	MQTT_SUBACK      = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK    = 11,
	MQTT_PINGREQ     = 12,
	MQTT_PINGRESP    = 13,
	MQTT_DISCONNECT  = 14,
	MQTT_AUTH        = 15,  /* v5 only */
};

enum {
	MQTT_MAX_REMAINING = 268435455,         /* 4 varint bytes */
	MQTT_MAX_FIXED     = 5,                 /* type octet + 4 length octets */
	MQTT_MAX_SUB_ID    = 268435455,
};

/* v3.1 / v3.1.1 CONNACK return codes [3.1.1 §3.2.2.3]. */
enum mqtt_v3_connack {
	MQTT_V3_ACCEPTED            = 0,
	MQTT_V3_BAD_PROTOCOL        = 1,
	MQTT_V3_ID_REJECTED         = 2,
	MQTT_V3_SERVER_UNAVAILABLE  = 3,
	MQTT_V3_BAD_USER_OR_PASS    = 4,
	MQTT_V3_NOT_AUTHORIZED      = 5,
};

/* v5 reason codes [MQTT 5.0 §2.4]. v3 SUBACK uses 0, 1, 2 and 0x80 too. */
enum mqtt_rc {
	MQTT_RC_SUCCESS                 = 0x00, /* also normal disconnect, granted QoS 0 */
	MQTT_RC_GRANTED_QOS1            = 0x01,
	MQTT_RC_GRANTED_QOS2            = 0x02,
	MQTT_RC_DISCONNECT_WITH_WILL    = 0x04,
	MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	MQTT_RC_CONTINUE_AUTH           = 0x18,
	MQTT_RC_REAUTHENTICATE          = 0x19,
	MQTT_RC_UNSPECIFIED             = 0x80,
	MQTT_RC_MALFORMED               = 0x81,
	MQTT_RC_PROTOCOL_ERROR          = 0x82,
	MQTT_RC_IMPL_SPECIFIC           = 0x83,
	MQTT_RC_UNSUPPORTED_VERSION     = 0x84,
	MQTT_RC_CLIENT_ID_INVALID       = 0x85,
	MQTT_RC_BAD_USER_OR_PASS        = 0x86,
	MQTT_RC_NOT_AUTHORIZED          = 0x87,
	MQTT_RC_SERVER_UNAVAILABLE      = 0x88,
	MQTT_RC_SERVER_BUSY             = 0x89,
	MQTT_RC_BANNED                  = 0x8A,
	MQTT_RC_SERVER_SHUTTING_DOWN    = 0x8B,
	MQTT_RC_BAD_AUTH_METHOD         = 0x8C,
	MQTT_RC_KEEPALIVE_TIMEOUT       = 0x8D,
	MQTT_RC_SESSION_TAKEN_OVER      = 0x8E,
	MQTT_RC_TOPIC_FILTER_INVALID    = 0x8F,
	MQTT_RC_TOPIC_NAME_INVALID      = 0x90,
	MQTT_RC_PACKET_ID_IN_USE        = 0x91,
	MQTT_RC_PACKET_ID_NOT_FOUND     = 0x92,
	MQTT_RC_RECEIVE_MAX_EXCEEDED    = 0x93,
	MQTT_RC_TOPIC_ALIAS_INVALID     = 0x94,
	MQTT_RC_PACKET_TOO_LARGE        = 0x95,
	MQTT_RC_MESSAGE_RATE_TOO_HIGH   = 0x96,
	MQTT_RC_QUOTA_EXCEEDED          = 0x97,
	MQTT_RC_ADMIN_ACTION            = 0x98,
	MQTT_RC_PAYLOAD_FORMAT_INVALID  = 0x99,
	MQTT_RC_RETAIN_NOT_SUPPORTED    = 0x9A,
	MQTT_RC_QOS_NOT_SUPPORTED       = 0x9B,
	MQTT_RC_USE_ANOTHER_SERVER      = 0x9C,
	MQTT_RC_SERVER_MOVED            = 0x9D,
	MQTT_RC_SHARED_SUB_UNSUPPORTED  = 0x9E,
	MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	MQTT_RC_MAX_CONNECT_TIME        = 0xA0,
	MQTT_RC_SUB_IDS_UNSUPPORTED     = 0xA1,
	MQTT_RC_WILDCARD_SUB_UNSUPPORTED = 0xA2,
};

/* ------------------------------------------------------------------ */
/* v5 properties [MQTT 5.0 §2.2.2.2]                                   */
/* ------------------------------------------------------------------ */

/* Property identifiers; the presence bit of property id is 1 << id. */
enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT       = 0x01, /* byte 0/1      PUBLISH, will */
	MQTT_PROP_MESSAGE_EXPIRY       = 0x02, /* u32           PUBLISH, will */
	MQTT_PROP_CONTENT_TYPE         = 0x03, /* UTF-8         PUBLISH, will */
	MQTT_PROP_RESPONSE_TOPIC       = 0x08, /* UTF-8, no wildcards  PUBLISH, will */
	MQTT_PROP_CORRELATION_DATA     = 0x09, /* binary        PUBLISH, will */
	MQTT_PROP_SUBSCRIPTION_ID      = 0x0B, /* varint 1..2^28-1  PUBLISH (repeatable), SUBSCRIBE */
	MQTT_PROP_SESSION_EXPIRY       = 0x11, /* u32           CONNECT, CONNACK, DISCONNECT */
	MQTT_PROP_ASSIGNED_CLIENT_ID   = 0x12, /* UTF-8         CONNACK */
	MQTT_PROP_SERVER_KEEP_ALIVE    = 0x13, /* u16           CONNACK */
	MQTT_PROP_AUTH_METHOD          = 0x15, /* UTF-8         CONNECT, CONNACK, AUTH */
	MQTT_PROP_AUTH_DATA            = 0x16, /* binary        CONNECT, CONNACK, AUTH */
	MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17, /* byte 0/1      CONNECT */
	MQTT_PROP_WILL_DELAY           = 0x18, /* u32           will */
	MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19, /* byte 0/1     CONNECT */
	MQTT_PROP_RESPONSE_INFO        = 0x1A, /* UTF-8         CONNACK */
	MQTT_PROP_SERVER_REFERENCE     = 0x1C, /* UTF-8         CONNACK, DISCONNECT */
	MQTT_PROP_REASON_STRING        = 0x1F, /* UTF-8         acks, DISCONNECT, AUTH */
	MQTT_PROP_RECEIVE_MAX          = 0x21, /* u16, not 0    CONNECT, CONNACK */
	MQTT_PROP_TOPIC_ALIAS_MAX      = 0x22, /* u16           CONNECT, CONNACK */
	MQTT_PROP_TOPIC_ALIAS          = 0x23, /* u16, not 0    PUBLISH */
	MQTT_PROP_MAX_QOS              = 0x24, /* byte 0/1      CONNACK */
	MQTT_PROP_RETAIN_AVAILABLE     = 0x25, /* byte 0/1      CONNACK */
	MQTT_PROP_USER                 = 0x26, /* UTF-8 pair    every packet with properties, repeatable */
	MQTT_PROP_MAX_PACKET_SIZE      = 0x27, /* u32, not 0    CONNECT, CONNACK */
	MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28, /* byte 0/1    CONNACK */
	MQTT_PROP_SUB_ID_AVAILABLE     = 0x29, /* byte 0/1      CONNACK */
	MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A, /* byte 0/1      CONNACK */
};

#define MQTT_PBIT(id) (UINT64_C(1) << (id))
#define MQTT_HAS(props, id) (((props)->present & MQTT_PBIT(id)) != 0)

struct mqtt_user_prop {
	struct bk_str key;
	struct bk_str value;
};

/*
 * The properties of one packet (or of a CONNECT's will). After decode every
 * string points into the packet; `raw` is the whole property block (after
 * its length), which the iterators below walk for the repeatable ones
 * (user properties in wire order, subscription identifiers).
 *
 * For encode, fill the fields and set their presence bits (user
 * properties and subscription identifiers need no bit). User properties
 * come from `users[0..n_users)` if users is set, else from the 0x26
 * entries of raw (so a decoded struct re-encodes its user properties
 * unaltered, [MQTT-3.3.2-17/18]); subscription identifiers likewise from
 * `sub_ids[0..n_sub_ids)` or raw. Single-valued properties are written
 * in the order `order` lists them (a 0-terminated list of ids, to write
 * what a reference implementation writes byte for byte), then the rest
 * in id order; repeatable ones come last.
 */
struct mqtt_props {
	uint64_t present;               /* MQTT_PBIT(id) for each single-valued property */
	uint8_t payload_format;
	uint8_t request_problem_info;
	uint8_t request_response_info;
	uint8_t max_qos;
	uint8_t retain_available;
	uint8_t wildcard_sub_available;
	uint8_t sub_id_available;
	uint8_t shared_sub_available;
	uint16_t server_keep_alive;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t max_packet_size;
	uint32_t sub_id;                /* first subscription identifier, if n_sub_ids */
	struct bk_str content_type;     /* borrowed (all strings and binaries) */
	struct bk_str response_topic;
	struct bk_str correlation_data; /* binary */
	struct bk_str assigned_client_id;
	struct bk_str auth_method;
	struct bk_str auth_data;        /* binary */
	struct bk_str response_info;
	struct bk_str server_reference;
	struct bk_str reason_string;
	uint32_t n_users;               /* user properties (decode: count in raw) */
	uint32_t n_sub_ids;             /* subscription identifiers (decode: count in raw) */
	const struct mqtt_user_prop *users;     /* borrowed; encode only, or NULL */
	const uint32_t *sub_ids;        /* borrowed; encode only, or NULL */
	const uint8_t *raw;             /* borrowed property block, or NULL */
	uint32_t raw_len;
	const uint8_t *order;           /* borrowed; encode only: ids first, 0-terminated, or NULL */
};

/*
 * Walk the user properties in wire order: 1 = key and value set, 0 = no more.
 * Start with *pos = 0. Only on a decoded struct (raw set); the block was
 * validated by decode, so the walk cannot fail.
 */
int mqtt_props_user_next(const struct mqtt_props *props, uint32_t *pos,
			 struct bk_str *key, struct bk_str *value);
/* Same for subscription identifiers: 1 = *id set, 0 = no more. */
int mqtt_props_sub_id_next(const struct mqtt_props *props, uint32_t *pos, uint32_t *id);

/* Encoded size of the property block without its length prefix; SIZE_MAX
 * if a string is longer than 65535 octets or a value is out of range. */
size_t mqtt_props_size(const struct mqtt_props *props);

/* ------------------------------------------------------------------ */
/* Packets                                                             */
/* ------------------------------------------------------------------ */

struct mqtt_connect {
	struct bk_str protocol_name;    /* "MQTT" or "MQIsdp" */
	uint8_t level;                  /* MQTT_V31, MQTT_V311, MQTT_V5 */
	bool clean;                     /* clean session (v3) / clean start (v5) */
	bool will;
	uint8_t will_qos;
	bool will_retain;
	bool has_username;
	bool has_password;
	uint16_t keepalive;             /* seconds, 0 = none */
	struct mqtt_props props;        /* v5 */
	struct bk_str client_id;        /* may be empty */
	struct mqtt_props will_props;   /* v5, if will */
	struct bk_str will_topic;       /* if will; UTF-8 checked, syntax NOT checked */
	struct bk_str will_payload;     /* if will; binary */
	struct bk_str username;         /* if has_username */
	struct bk_str password;         /* if has_password; binary */
};

struct mqtt_connack {
	bool session_present;           /* always false at level 3 */
	uint8_t code;                   /* enum mqtt_v3_connack or v5 enum mqtt_rc */
	struct mqtt_props props;        /* v5 */
};

struct mqtt_publish {
	bool dup;
	uint8_t qos;                    /* 0..2 */
	bool retain;
	struct bk_str topic;            /* v5: empty when a topic alias stands for it */
	uint16_t packet_id;             /* iff qos > 0, never 0 [MQTT-2.2.1-2] */
	struct mqtt_props props;        /* v5 */
	const uint8_t *payload;         /* borrowed: the rest of the packet */
	uint32_t payload_len;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. code and props are v5 (code 0 and no
 * properties when the packet omits them). */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t code;
	struct mqtt_props props;
};

/*
 * SUBSCRIBE and UNSUBSCRIBE: the list of entries is validated on decode
 * (UTF-8, option bits) and walked with mqtt_sub_next(); for encode set
 * either entries[0..count) or list/list_len (raw entries as on the wire).
 * Filter SYNTAX is not a decode error (a v5 server answers 0x8F per
 * entry): mqtt_sub_next() reports it in entry->filter_ok.
 */
struct mqtt_sub_entry {
	struct bk_str filter;           /* whole filter, $share/... included */
	uint8_t qos;                    /* SUBSCRIBE only */
	bool no_local;                  /* v5 */
	bool retain_as_published;       /* v5 */
	uint8_t retain_handling;        /* v5: 0..2 */
	bool filter_ok;                 /* decode: mqtt_topic_filter_check() passed, shared form included */
};

struct mqtt_subscribe {
	uint16_t packet_id;
	struct mqtt_props props;        /* v5 */
	uint32_t count;                 /* entries, >= 1 [MQTT-3.8.3-2 / 3.1.1 MQTT-3.8.3-3] */
	const uint8_t *list;            /* borrowed: the payload */
	uint32_t list_len;
	const struct mqtt_sub_entry *entries;   /* encode only, or NULL */
};

/* SUBACK and UNSUBACK: one reason code per entry (none for v3 UNSUBACK). */
struct mqtt_suback {
	uint16_t packet_id;
	struct mqtt_props props;        /* v5 */
	const uint8_t *codes;           /* borrowed */
	uint32_t count;
};

/* DISCONNECT and AUTH (v5; a v3 DISCONNECT has no body). */
struct mqtt_reason {
	uint8_t code;
	struct mqtt_props props;
};

struct mqtt_packet {
	uint8_t type;                   /* enum mqtt_type */
	uint8_t flags;                  /* low nibble of the first octet, as received */
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;                    /* PUBACK..PUBCOMP */
		struct mqtt_subscribe subscribe;        /* SUBSCRIBE, UNSUBSCRIBE */
		struct mqtt_suback suback;              /* SUBACK, UNSUBACK */
		struct mqtt_reason reason;              /* DISCONNECT, AUTH */
	} u;
};

/* ------------------------------------------------------------------ */
/* Fixed header                                                        */
/* ------------------------------------------------------------------ */

struct mqtt_fixed {
	uint8_t type;
	uint8_t flags;
	uint8_t hdr_len;                /* 2..5 */
	uint32_t rem_len;               /* remaining length */
	uint32_t total;                 /* hdr_len + rem_len: the whole packet */
};

/*
 * Look at the first bytes of the input. 1 = *h filled (the packet is
 * h->total bytes; they may not all be here yet); 0 = need more bytes
 * (at most 5 are ever needed); -EPROTO = reserved type 0, AUTH below v5,
 * flags other than the spec's [MQTT-2.1.3-1 / 3.1.1 MQTT-2.2.2-1],
 * PUBLISH QoS 3 [MQTT-3.3.1-4], a fifth length octet, or (level 5) a
 * length not in its shortest form [MQTT-1.5.5-1]; -EMSGSIZE = h->total
 * exceeds max_packet (0 = no limit beyond the protocol's), decided before
 * the body arrives. level: the connection's, 0 before CONNECT. At level 3
 * the DUP bit of PUBREL/SUBSCRIBE/UNSUBSCRIBE is tolerated as 3.1 sets it.
 */
int mqtt_fixed_parse(const uint8_t *p, size_t len, uint8_t level,
		     uint32_t max_packet, struct mqtt_fixed *h);

/*
 * Decode one whole packet p[0..len) (fixed header included; len must be
 * exactly the packet's total). level as above (ignored for CONNECT, whose
 * own level is used). 1 = decoded; <0 per the table at the top. *pkt
 * borrows from p. Both directions decode (a client's and a server's
 * packets); direction rules (e.g. no subscription identifier from a
 * client [MQTT-3.3.4-6]) are the session's.
 */
int mqtt_packet_decode(const uint8_t *p, size_t len, uint8_t level,
		       struct mqtt_packet *pkt);

/*
 * Exact encoded size of pkt at level, or SIZE_MAX if it cannot be encoded
 * (string over 65535 octets, remaining length over MQTT_MAX_REMAINING,
 * QoS > 2, v5-only packet at v3).
 */
size_t mqtt_packet_size(uint8_t level, const struct mqtt_packet *pkt);

/*
 * Encode pkt into buf. Returns the bytes written, -ENOSPC if cap is short
 * (nothing useful written), -EINVAL when mqtt_packet_size() is SIZE_MAX.
 * The fixed-header flags come from the struct (PUBLISH dup/qos/retain),
 * not from pkt->flags. v5 acks, DISCONNECT and AUTH use the short forms
 * when the reason code is 0 and there are no properties. At levels 3/4
 * the v5 fields (props, reason codes of acks) are ignored.
 */
int mqtt_packet_encode(uint8_t *buf, size_t cap, uint8_t level,
		       const struct mqtt_packet *pkt);

/*
 * PUBLISH without copying the body: writes fixed header (its remaining
 * length counting pub->payload_len), topic, packet id and properties;
 * the caller sends pub->payload_len body bytes after it. Returns the
 * header bytes written, -ENOSPC or -EINVAL. mqtt_publish_head_size()
 * gives the header size (SIZE_MAX when not encodable).
 */
int mqtt_publish_encode_head(uint8_t *buf, size_t cap, uint8_t level,
			     const struct mqtt_publish *pub);
size_t mqtt_publish_head_size(uint8_t level, const struct mqtt_publish *pub);

/*
 * Walk the entries of a decoded SUBSCRIBE (or UNSUBSCRIBE) s, of the given
 * packet type. 1 = *e filled; 0 = no more. Start with *pos = 0.
 */
int mqtt_sub_next(const struct mqtt_subscribe *s, uint8_t type, uint8_t level,
		  uint32_t *pos, struct mqtt_sub_entry *e);

/* "PUBLISH" for logs; "?" if out of range. */
const char *mqtt_type_name(uint8_t type);

/* ------------------------------------------------------------------ */
/* UTF-8 and topics (mqtt_utf8.c)                                      */
/* ------------------------------------------------------------------ */

/*
 * [MQTT-1.5.4]: 0 = well formed and clean; 1 = well formed but holds
 * control characters U+0001..U+001F or U+007F..U+009F, or a Unicode
 * non-character, which the spec allows a receiver to refuse (we note them,
 * decode does not refuse them); -EILSEQ = ill formed, overlong, surrogate
 * (U+D800..U+DFFF), above U+10FFFF, or U+0000.
 */
int mqtt_utf8_check(const uint8_t *p, size_t len);

/*
 * Levels a topic name or filter may have: Mosquitto's limit
 * (TOPIC_HIERARCHY_LIMIT: at most 200 '/'). Matching a topic against the
 * topic trie walks each '#' of the subscriptions once per level of the
 * topic, and recurses once per level: a 64 KiB topic of 32768 levels cost
 * a quarter second of the core thread per publish against 1000 "a/.../#"
 * filters, and 65536 empty levels took 6 MiB of stack.
 */
#define MQTT_TOPIC_LEVELS_MAX 201

/* More than MQTT_TOPIC_LEVELS_MAX levels in s. */
bool mqtt_topic_too_deep(struct bk_str s);

/*
 * Topic name syntax [MQTT-4.7]: 0 = ok; -EINVAL = empty [MQTT-4.7.3-1],
 * over 65535 octets [MQTT-4.7.3-3], holding '+' or '#' [MQTT-4.7.0-1],
 * or too deep (mqtt_topic_too_deep). UTF-8 is not checked here (decode
 * already did).
 */
int mqtt_topic_name_check(struct bk_str t);

/*
 * Topic filter syntax: 0 = ok; -EINVAL = empty, over 65535 octets, '#'
 * not alone in the last level [MQTT-4.7.1-1], '+' not a whole level
 * [MQTT-4.7.1-2], or too deep (mqtt_topic_too_deep). A $share/ filter is
 * checked as a plain filter here; use mqtt_share_parse() to split it
 * first.
 */
int mqtt_topic_filter_check(struct bk_str f);

/*
 * Shared subscription "$share/{ShareName}/{filter}" [MQTT-4.8.2-1/2]:
 * 1 = shared, *group and *filter set (filter syntax checked);
 * 0 = not a shared filter (*group = {NULL, 0}, *filter = f, unchecked);
 * -EINVAL = starts with "$share/" but the group is empty or holds
 * '/', '+' or '#', or no filter follows, or the filter is invalid.
 */
int mqtt_share_parse(struct bk_str f, struct bk_str *group, struct bk_str *filter);

#endif
