/*
 * mqtt_codec_int.h: byte readers and writers shared by the codec's files
 * (mqtt_codec.c, mqtt_encode.c, mqtt_props.c). Not for the session layer.
 *
 * A reader is a cursor over one packet body; every read checks what is
 * left and fails with -EPROTO (malformed) rather than reading past the end.
 * Writers assume the caller sized the buffer with the *_size functions.
 */
#ifndef SLUICE_MQTT_CODEC_INT_H
#define SLUICE_MQTT_CODEC_INT_H

#include <errno.h>
#include <string.h>

#include "mqtt_codec.h"
#include "bk_bytes.h"

struct mqtt_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static inline size_t
rd_left(const struct mqtt_rd *r)
{
	return r->len - r->pos;
}

static inline int
rd_u8(struct mqtt_rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return -EPROTO;
	*v = r->p[r->pos++];
	return 0;
}

static inline int
rd_u16(struct mqtt_rd *r, uint16_t *v)
{
	if (rd_left(r) < 2)
		return -EPROTO;
	*v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return 0;
}

static inline int
rd_u32(struct mqtt_rd *r, uint32_t *v)
{
	const uint8_t *q = r->p + r->pos;

	if (rd_left(r) < 4)
		return -EPROTO;
	*v = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
	r->pos += 4;
	return 0;
}

/*
 * Variable byte integer [MQTT-1.5.5]: at most 4 octets; with strict (v5),
 * the shortest form only [MQTT-1.5.5-1]. 0 or -EPROTO.
 */
static inline int
rd_varint(struct mqtt_rd *r, uint32_t *v, bool strict)
{
	uint32_t val = 0;

	for (unsigned i = 0; i < 4; i++) {
		uint8_t b;

		if (rd_u8(r, &b) < 0)
			return -EPROTO;
		val |= (uint32_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80)) {
			if (strict && i > 0 && b == 0)
				return -EPROTO;         /* trailing zero group: not minimal */
			*v = val;
			return 0;
		}
	}
	return -EPROTO;
}

/* Two-octet length + bytes [MQTT-1.5.6], borrowed. */
static inline int
rd_bin(struct mqtt_rd *r, struct bk_str *s)
{
	uint16_t n;

	if (rd_u16(r, &n) < 0 || rd_left(r) < n)
		return -EPROTO;
	s->p = (const char *)r->p + r->pos;
	s->len = n;
	r->pos += n;
	return 0;
}

/*
 * A UTF-8 string: as rd_bin, then -EILSEQ if it is not well formed or
 * holds a code point the specification lets a receiver refuse: control
 * characters U+0001..U+001F, U+007F..U+009F and non-characters
 * [MQTT-1.5.4]. Mosquitto refuses them in every string it reads (client
 * ids, user names, topics, filters, properties), and so do we: the
 * connection closes as for a malformed packet.
 */
static inline int
rd_str(struct mqtt_rd *r, struct bk_str *s)
{
	if (rd_bin(r, s) < 0)
		return -EPROTO;
	return mqtt_utf8_check((const uint8_t *)s->p, s->len) != 0 ? -EILSEQ : 0;
}

static inline size_t
varint_size(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/* Shortest form; v <= MQTT_MAX_REMAINING (checked by the size functions). */
static inline uint8_t *
wr_varint(uint8_t *p, uint32_t v)
{
	do {
		uint8_t b = v & 0x7F;

		v >>= 7;
		*p++ = v ? (uint8_t)(b | 0x80) : b;
	} while (v);
	return p;
}

static inline uint8_t *
wr_bin(uint8_t *p, struct bk_str s)
{
	p = bk_st16(p, (uint16_t)s.len);
	if (s.len)
		memcpy(p, s.p, s.len);
	return p + s.len;
}

/* Property contexts: which packet (or the will) a property block is in. */
enum mqtt_pctx {
	MQTT_PCTX_CONNECT,
	MQTT_PCTX_CONNACK,
	MQTT_PCTX_PUBLISH,
	MQTT_PCTX_WILL,
	MQTT_PCTX_PUBACK,               /* PUBACK, PUBREC, PUBREL, PUBCOMP */
	MQTT_PCTX_SUBSCRIBE,
	MQTT_PCTX_SUBACK,
	MQTT_PCTX_UNSUBSCRIBE,
	MQTT_PCTX_UNSUBACK,
	MQTT_PCTX_DISCONNECT,
	MQTT_PCTX_AUTH,
};

/*
 * Read a property length and block at r into *out (zeroed first). 0, or
 * -EPROTO (truncated, unknown id, bad varint), -EILSEQ (bad UTF-8),
 * -EBADMSG (duplicate, not allowed in ctx, value out of range).
 */
int mqtt_props_decode(struct mqtt_rd *r, enum mqtt_pctx ctx, struct mqtt_props *out);

/* Write length + block of props (size from mqtt_props_size, not SIZE_MAX). */
uint8_t *mqtt_props_write(uint8_t *p, const struct mqtt_props *props, size_t size);

/* Length prefix + block; SIZE_MAX if props cannot be encoded. */
static inline size_t
props_total(const struct mqtt_props *props)
{
	size_t n = mqtt_props_size(props);

	return n == SIZE_MAX || n > MQTT_MAX_REMAINING ? SIZE_MAX : varint_size((uint32_t)n) + n;
}

#endif
