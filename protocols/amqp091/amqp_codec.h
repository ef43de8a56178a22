/*
 * amqp_codec.h: pure functions over bytes for AMQP 0-9-1 frames, methods
 * and content headers. No libevent, no state: unit tests and the fuzzer
 * call them directly. Only amqp_reader.c / amqp_conn.c touch evbuffers.
 *
 * Frame layout [AMQP 0-9-1 §2.3.5]:
 *
 *   +------+---------+---------+-------------+------+
 *   | type | channel |  size   |   payload   | 0xCE |
 *   |  u8  |   u16   |   u32   | size octets |  u8  |
 *   +------+---------+---------+-------------+------+
 *
 * Methods are described once, in amqp_spec.def (our own table of classes,
 * methods and fields written from the 0-9-1 specification); gen_methods.py
 * turns it into amqp_methods.h/.c at build time: one struct per method
 * (struct amqp_<class>_<method>, spec field names with '-' -> '_'), an id
 * constant AMQP_<CLASS>_<METHOD> = class << 16 | method, and descriptor
 * tables that the one generic encoder and decoder below walk.
 *
 * Field types in method structs:
 *   octet u8, short u16, long u32, longlong u64, timestamp u64, bit bool,
 *   shortstr and longstr struct bk_str, table struct bk_table.
 * After decode, bk_str / bk_table fields point into the decoded payload,
 * which must outlive the struct. Tables are validated during decode.
 *
 * Example (names as generated into <builddir>/protocols/amqp091/amqp_methods.h):
 *
 *   struct amqp_method m;
 *   if (amqp_method_decode(payload, size, &m) == 1 && m.id == AMQP_BASIC_PUBLISH)
 *           route(m.u.basic_publish.exchange, m.u.basic_publish.routing_key,
 *                 m.u.basic_publish.mandatory);
 *
 *   struct amqp_method ok = { .id = AMQP_QUEUE_DECLARE_OK };
 *   ok.u.queue_declare_ok.queue = bk_str_c(name);
 *   ok.u.queue_declare_ok.message_count = n;
 *   uint8_t buf[512];
 *   int len = amqp_method_frame_encode(buf, sizeof(buf), channel, &ok);
 *
 * Ids: AMQP_<CLASS>_<METHOD> (AMQP_CONNECTION_START_OK, AMQP_EXCHANGE_UNBIND_OK,
 * AMQP_CONFIRM_SELECT, ...), AMQP_ID(class, method), AMQP_ID_CLASS(id),
 * AMQP_ID_METHOD(id). Union members are <class>_<method> (basic_ack,
 * connection_tune_ok); reserved arguments are reserved_1, reserved_2.
 * Methods without arguments have a single `uint8_t unused_` member.
 */
#ifndef SLUICE_AMQP_CODEC_H
#define SLUICE_AMQP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_types.h"
#include "amqp_methods.h"   /* generated */

enum {
	AMQP_FRAME_METHOD    = 1,
	AMQP_FRAME_HEADER    = 2,
	AMQP_FRAME_BODY      = 3,
	AMQP_FRAME_HEARTBEAT = 8,
	AMQP_FRAME_END       = 0xCE,
	AMQP_FRAME_HDR_SIZE  = 7,       /* type + channel + size */
	AMQP_FRAME_OVERHEAD  = 8,       /* header + end octet */
	AMQP_FRAME_MIN_SIZE  = 4096,    /* frame_max floor [§4.2.1] */
};

/* Reply codes [AMQP 0-9-1 §1.2, constants]. */
enum amqp_reply_code {
	AMQP_REPLY_SUCCESS        = 200,
	AMQP_CONTENT_TOO_LARGE    = 311,
	AMQP_NO_ROUTE             = 312,
	AMQP_NO_CONSUMERS         = 313,
	AMQP_CONNECTION_FORCED    = 320,
	AMQP_INVALID_PATH         = 402,
	AMQP_ACCESS_REFUSED       = 403,
	AMQP_NOT_FOUND            = 404,
	AMQP_RESOURCE_LOCKED      = 405,
	AMQP_PRECONDITION_FAILED  = 406,
	AMQP_FRAME_ERROR          = 501,
	AMQP_SYNTAX_ERROR         = 502,
	AMQP_COMMAND_INVALID      = 503,
	AMQP_CHANNEL_ERROR        = 504,
	AMQP_UNEXPECTED_FRAME     = 505,
	AMQP_RESOURCE_ERROR       = 506,
	AMQP_NOT_ALLOWED          = 530,
	AMQP_NOT_IMPLEMENTED      = 540,
	AMQP_INTERNAL_ERROR       = 541,
};

struct amqp_frame_hdr {
	uint8_t type;
	uint16_t channel;
	uint32_t size;                  /* payload octets */
};

/* Parse the 7-byte frame header. Never fails; the caller checks size. */
void amqp_frame_hdr_parse(const uint8_t p[AMQP_FRAME_HDR_SIZE], struct amqp_frame_hdr *h);
/* Write a 7-byte frame header. */
void amqp_frame_hdr_put(uint8_t p[AMQP_FRAME_HDR_SIZE], uint8_t type,
			uint16_t channel, uint32_t size);

/*
 * Decode a method frame payload (class id, method id, arguments).
 * 1 = decoded; -ENOENT = unknown class or method (reply 540 / 503);
 * -EPROTO = truncated, trailing garbage, or a malformed table (502).
 */
int amqp_method_decode(const uint8_t *p, size_t len, struct amqp_method *m);

/*
 * Encode a whole method frame (header, payload, 0xCE) into buf.
 * Returns the bytes written, or -ENOSPC if cap is too small (use
 * amqp_method_frame_size() for the exact size), or -EINVAL if a shortstr
 * argument is longer than 255 octets (frame_size then returns SIZE_MAX).
 * m->id must be a known method (asserted). Tables are copied as they are.
 */
int amqp_method_frame_encode(uint8_t *buf, size_t cap, uint16_t channel,
			     const struct amqp_method *m);
size_t amqp_method_frame_size(const struct amqp_method *m);

/* "basic.publish" for logs and error texts; "unknown" if not a method. */
const char *amqp_method_name(uint32_t id);
/* true for basic.publish, basic.return, basic.deliver, basic.get-ok. */
bool amqp_method_has_content(uint32_t id);
/* true if the method is sent by a client to a server in 0-9-1 */
bool amqp_method_is_client_to_server(uint32_t id);

/*
 * Decode a content header payload [§4.2.6.1]: class id (u16), weight (u16,
 * must be 0), body size (u64), property flags (u16 words, bit 0 = more),
 * then the present properties in flag order. props point into p. Headers
 * tables are validated. 1 = ok; -EPROTO = malformed.
 * Properties are read in the basic class's layout whatever *class_id says;
 * the caller checks *class_id against its method's class. A second flags
 * word (bit 0) or flag bit 1 is refused: basic has 14 properties.
 */
int amqp_content_header_decode(const uint8_t *p, size_t len, uint16_t *class_id,
			       uint64_t *body_size, struct bk_props *props);

/*
 * Whole content-header frame (header, payload, end) for class basic.
 * encode returns the bytes written or -ENOSPC. A short-string property
 * longer than 255 octets (possible from MQTT) is left out, in size too.
 */
size_t amqp_content_header_frame_size(const struct bk_props *props);
int amqp_content_header_frame_encode(uint8_t *buf, size_t cap, uint16_t channel,
				     uint64_t body_size, const struct bk_props *props);

/*
 * Field tables on the wire are u32 length + entries; struct bk_table holds
 * the entries only. Encoders for building connection.start's
 * server-properties and similar live in broker.h (bk_table_builder).
 */

#endif
