/*
 * amqp_props.c: content header frames, i.e. the body size and the 14
 * basic-class properties, to and from struct bk_props.
 *
 * Content header payload [AMQP 0-9-1 §4.2.6.1]:
 *
 *   +----------+--------+-----------+----------------+-----------------+
 *   | class id | weight | body size | property flags | present values  |
 *   |   u16    | u16 =0 |    u64    |      u16       | in flag order   |
 *   +----------+--------+-----------+----------------+-----------------+
 *
 * Flag bit 15 is content-type, bit 14 content-encoding, ... bit 2
 * cluster-id; BK_P_* bit k is wire bit 15 - k. Bit 0 announces another
 * flags word, which the basic class never needs: like RabbitMQ, we refuse
 * it (-EPROTO), and bit 1, which names no property, too.
 *
 * Decoded strings and headers point into the payload. Pure over bytes,
 * no allocation.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "amqp_codec.h"
#include "bk_bytes.h"

enum ptype { P_SSTR, P_TABLE, P_OCTET, P_TIMESTAMP };

static const struct {
	uint8_t type;                   /* enum ptype */
	uint16_t offset;                /* in struct bk_props */
} props_desc[14] = {
	{ P_SSTR,      offsetof(struct bk_props, content_type) },
	{ P_SSTR,      offsetof(struct bk_props, content_encoding) },
	{ P_TABLE,     offsetof(struct bk_props, headers) },
	{ P_OCTET,     offsetof(struct bk_props, delivery_mode) },
	{ P_OCTET,     offsetof(struct bk_props, priority) },
	{ P_SSTR,      offsetof(struct bk_props, correlation_id) },
	{ P_SSTR,      offsetof(struct bk_props, reply_to) },
	{ P_SSTR,      offsetof(struct bk_props, expiration) },
	{ P_SSTR,      offsetof(struct bk_props, message_id) },
	{ P_TIMESTAMP, offsetof(struct bk_props, timestamp) },
	{ P_SSTR,      offsetof(struct bk_props, type) },
	{ P_SSTR,      offsetof(struct bk_props, user_id) },
	{ P_SSTR,      offsetof(struct bk_props, app_id) },
	{ P_SSTR,      offsetof(struct bk_props, cluster_id) },
};

enum { HDR_FIXED = 14 };                /* class, weight, body size, flags */

static uint8_t *
st_be(uint8_t *w, uint64_t v, unsigned octets)
{
	for (unsigned i = 0; i < octets; i++)
		w[i] = (uint8_t)(v >> (8 * (octets - 1 - i)));
	return w + octets;
}

/* One property value at p[*pos]. 0 or -EPROTO. */
static int
decode_prop(uint8_t type, const uint8_t *p, size_t len, size_t *pos, void *dst)
{
	size_t at = *pos, left = len - at;
	struct bk_str *s = dst;
	struct bk_table *t = dst;

	switch (type) {
	case P_SSTR:
		if (left < 1 || left - 1 < p[at])
			return -EPROTO;
		s->len = p[at];
		s->p = (const char *)p + at + 1;
		*pos = at + 1 + s->len;
		return 0;
	case P_TABLE:
		if (left < 4 || left - 4 < bk_ld32(p + at))
			return -EPROTO;
		t->len = bk_ld32(p + at);
		t->p = p + at + 4;
		*pos = at + 4 + t->len;
		return bk_table_validate(*t) < 0 ? -EPROTO : 0;
	case P_OCTET:
		if (left < 1)
			return -EPROTO;
		*(uint8_t *)dst = p[at];
		*pos = at + 1;
		return 0;
	case P_TIMESTAMP:
		if (left < 8)
			return -EPROTO;
		*(uint64_t *)dst = bk_ld64(p + at);
		*pos = at + 8;
		return 0;
	}
	return -EPROTO;
}

int
amqp_content_header_decode(const uint8_t *p, size_t len, uint16_t *class_id,
			   uint64_t *body_size, struct bk_props *props)
{
	size_t pos = HDR_FIXED;
	uint16_t flags;

	memset(props, 0, sizeof(*props));
	if (len < HDR_FIXED)
		return -EPROTO;
	*class_id = bk_ld16(p);
	if (bk_ld16(p + 2) != 0)                   /* weight [§4.2.6.1] */
		return -EPROTO;
	*body_size = bk_ld64(p + 4);
	flags = bk_ld16(p + 12);
	if (flags & 0x3)                        /* continuation, unused bit */
		return -EPROTO;
	/* present properties only, in flag order (wire bit 15 - k) */
	for (unsigned f = flags, k; f != 0; f &= ~(0x8000u >> k)) {
		k = (unsigned)__builtin_clz(f) - (sizeof(unsigned) * 8 - 16);
		if (decode_prop(props_desc[k].type, p, len, &pos,
				(uint8_t *)props + props_desc[k].offset) < 0)
			return -EPROTO;
		props->present |= 1u << k;
	}
	return pos == len ? 1 : -EPROTO;
}

/*
 * Whether property k goes on the wire. A short string over 255 octets
 * cannot be expressed in 0-9-1 (MQTT correlation data can be that long),
 * so it is left out rather than failing the whole delivery.
 */
static bool
prop_encodable(const struct bk_props *props, unsigned k)
{
	const void *src = (const uint8_t *)props + props_desc[k].offset;

	if (!(props->present & (1u << k)))
		return false;
	return props_desc[k].type != P_SSTR || ((const struct bk_str *)src)->len <= 255;
}

/* BK_P_* bits k of the 14 basic properties present, lowest first. */
#define FOR_EACH_PRESENT(props, k) \
	for (uint32_t b_ = (props)->present & 0x3fffu, k; \
	     b_ != 0 && ((k = (uint32_t)__builtin_ctz(b_)), 1); b_ &= b_ - 1)

static size_t
payload_size(const struct bk_props *props)
{
	size_t n = HDR_FIXED;

	FOR_EACH_PRESENT(props, k) {
		const void *src = (const uint8_t *)props + props_desc[k].offset;

		if (!prop_encodable(props, k))
			continue;
		switch (props_desc[k].type) {
		case P_SSTR:      n += 1 + ((const struct bk_str *)src)->len; break;
		case P_TABLE:     n += 4 + (size_t)((const struct bk_table *)src)->len; break;
		case P_OCTET:     n += 1; break;
		case P_TIMESTAMP: n += 8; break;
		}
	}
	return n;
}

size_t
amqp_content_header_frame_size(const struct bk_props *props)
{
	return payload_size(props) + AMQP_FRAME_OVERHEAD;
}

int
amqp_content_header_frame_encode(uint8_t *buf, size_t cap, uint16_t channel,
				 uint64_t body_size, const struct bk_props *props)
{
	size_t n = payload_size(props);
	uint8_t *w, *flags_at;
	uint16_t flags = 0;

	if (n > INT_MAX - AMQP_FRAME_OVERHEAD)
		return -EMSGSIZE;
	if (cap < n + AMQP_FRAME_OVERHEAD)
		return -ENOSPC;
	amqp_frame_hdr_put(buf, AMQP_FRAME_HEADER, channel, (uint32_t)n);
	w = st_be(buf + AMQP_FRAME_HDR_SIZE, AMQP_CLASS_BASIC, 2);
	w = st_be(w, 0, 2);
	w = st_be(w, body_size, 8);
	flags_at = w;
	w += 2;
	FOR_EACH_PRESENT(props, k) {
		const void *src = (const uint8_t *)props + props_desc[k].offset;
		const struct bk_str *s = src;
		const struct bk_table *t = src;

		if (!prop_encodable(props, k))
			continue;
		flags |= (uint16_t)(0x8000u >> k);
		switch (props_desc[k].type) {
		case P_SSTR:
			*w++ = (uint8_t)s->len;
			if (s->len)
				memcpy(w, s->p, s->len);
			w += s->len;
			break;
		case P_TABLE:
			w = st_be(w, t->len, 4);
			if (t->len)
				memcpy(w, t->p, t->len);
			w += t->len;
			break;
		case P_OCTET:
			*w++ = *(const uint8_t *)src;
			break;
		case P_TIMESTAMP:
			w = st_be(w, *(const uint64_t *)src, 8);
			break;
		}
	}
	st_be(flags_at, flags, 2);
	*w++ = AMQP_FRAME_END;
	BK_ASSERT((size_t)(w - buf) == n + AMQP_FRAME_OVERHEAD);
	return (int)(w - buf);
}
