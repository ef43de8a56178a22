/*
 * amqp_codec.c: frame headers and the one generic method codec.
 *
 * Every method is described by a descriptor in amqp_methods.c (generated
 * from amqp_spec.def): a list of (field type, offset in the method struct).
 * The decoder and encoder below walk that list; no method has code of its
 * own. Pure over bytes: no allocation, no libevent, no global state, so the
 * decoder is safe on the publish/ack hot path and under the fuzzer.
 *
 * Method payload [AMQP 0-9-1 §4.2.5]:
 *
 *   +----------+-----------+---------------------------+
 *   | class id | method id | arguments, in spec order  |
 *   |   u16    |    u16    |                           |
 *   +----------+-----------+---------------------------+
 *
 * Bits: consecutive bit arguments share one octet, the first in the least
 * significant bit; any other argument type ends the run [§4.2.5.2].
 * Strings and tables in a decoded method point into the payload.
 *
 * The three methods every message crosses (basic.publish in, basic.ack
 * both ways, basic.deliver out) also have hand-written twins of the walk
 * (the "hot" section below): a third of the broker's instructions per
 * message went into walking descriptors for them. The unit tests check
 * their exact bytes and round-trip them through the generic walk.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "amqp_codec.h"
#include "bk_bytes.h"

void
amqp_frame_hdr_parse(const uint8_t p[AMQP_FRAME_HDR_SIZE], struct amqp_frame_hdr *h)
{
	h->type = p[0];
	h->channel = bk_ld16(p + 1);
	h->size = bk_ld32(p + 3);
}

void
amqp_frame_hdr_put(uint8_t p[AMQP_FRAME_HDR_SIZE], uint8_t type, uint16_t channel,
		   uint32_t size)
{
	p[0] = type;
	bk_st16(p + 1, channel);
	bk_st32(p + 3, size);
}

/* ---- decode ---------------------------------------------------------- */

/* One non-bit field at p[*pos]; advances *pos. 0 or -EPROTO. */
static int
decode_field(uint8_t type, const uint8_t *p, size_t len, size_t *pos, void *dst)
{
	size_t at = *pos, left = len - at;
	struct bk_str *s = dst;
	struct bk_table *t = dst;
	uint32_t n;

	switch (type) {
	case AMQP_F_OCTET:
		if (left < 1)
			return -EPROTO;
		*(uint8_t *)dst = p[at];
		*pos = at + 1;
		return 0;
	case AMQP_F_SHORT:
		if (left < 2)
			return -EPROTO;
		*(uint16_t *)dst = bk_ld16(p + at);
		*pos = at + 2;
		return 0;
	case AMQP_F_LONG:
		if (left < 4)
			return -EPROTO;
		*(uint32_t *)dst = bk_ld32(p + at);
		*pos = at + 4;
		return 0;
	case AMQP_F_LONGLONG:
	case AMQP_F_TIMESTAMP:
		if (left < 8)
			return -EPROTO;
		*(uint64_t *)dst = bk_ld64(p + at);
		*pos = at + 8;
		return 0;
	case AMQP_F_SHORTSTR:
		if (left < 1 || left - 1 < p[at])
			return -EPROTO;
		s->len = p[at];
		s->p = (const char *)p + at + 1;
		*pos = at + 1 + s->len;
		return 0;
	case AMQP_F_LONGSTR:
	case AMQP_F_TABLE:
		if (left < 4)
			return -EPROTO;
		n = bk_ld32(p + at);
		if (left - 4 < n)
			return -EPROTO;
		*pos = at + 4 + n;
		if (type == AMQP_F_LONGSTR) {
			s->len = n;
			s->p = (const char *)p + at + 4;
			return 0;
		}
		t->len = n;
		t->p = p + at + 4;
		return bk_table_validate(*t) < 0 ? -EPROTO : 0;
	}
	return -EPROTO;
}

/* ---- hot methods ----------------------------------------------------- */

/* A shortstr at p[*pos]; false if it runs past len. */
static inline bool
hot_sstr(const uint8_t *p, size_t len, size_t *pos, struct bk_str *s)
{
	size_t at = *pos;

	if (at >= len || len - at - 1 < p[at])
		return false;
	s->len = p[at];
	s->p = (const char *)p + at + 1;
	*pos = at + 1 + s->len;
	return true;
}

/* reserved-1 short, exchange, routing-key, bits mandatory immediate */
static int
decode_publish(const uint8_t *p, size_t len, struct amqp_basic_publish *a)
{
	size_t pos = 6;

	if (len < pos)
		return -EPROTO;
	a->reserved_1 = bk_ld16(p + 4);
	if (!hot_sstr(p, len, &pos, &a->exchange) || !hot_sstr(p, len, &pos, &a->routing_key) ||
	    pos + 1 != len)
		return -EPROTO;
	a->mandatory = p[pos] & 1;
	a->immediate = (p[pos] >> 1) & 1;
	return 1;
}

/* delivery-tag longlong, bit multiple */
static int
decode_ack(const uint8_t *p, size_t len, struct amqp_basic_ack *a)
{
	if (len != 4 + 8 + 1)
		return -EPROTO;
	a->delivery_tag = bk_ld64(p + 4);
	a->multiple = p[12] & 1;
	return 1;
}

static size_t
deliver_payload_size(const struct amqp_basic_deliver *d)
{
	if (d->consumer_tag.len > 255 || d->exchange.len > 255 || d->routing_key.len > 255)
		return SIZE_MAX;
	return 4 + 1 + d->consumer_tag.len + 8 + 1 + 1 + d->exchange.len + 1 +
	       d->routing_key.len;
}

static uint8_t *
put_sstr(uint8_t *w, struct bk_str s)
{
	*w++ = (uint8_t)s.len;
	if (s.len)
		memcpy(w, s.p, s.len);
	return w + s.len;
}

/* The payload after the method id, at w; returns the end. */
static uint8_t *
encode_hot(uint8_t *w, const struct amqp_method *m)
{
	const struct amqp_basic_deliver *d = &m->u.basic_deliver;

	if (m->id == AMQP_BASIC_ACK) {
		w = bk_st64(w, m->u.basic_ack.delivery_tag);
		*w++ = m->u.basic_ack.multiple ? 1 : 0;
		return w;
	}
	w = put_sstr(w, d->consumer_tag);
	w = bk_st64(w, d->delivery_tag);
	*w++ = d->redelivered ? 1 : 0;
	w = put_sstr(w, d->exchange);
	return put_sstr(w, d->routing_key);
}

static inline bool
is_hot_out(uint32_t id)
{
	return id == AMQP_BASIC_DELIVER || id == AMQP_BASIC_ACK;
}

static size_t
hot_payload_size(const struct amqp_method *m)
{
	return m->id == AMQP_BASIC_ACK ? 4 + 8 + 1 : deliver_payload_size(&m->u.basic_deliver);
}

int
amqp_method_decode(const uint8_t *p, size_t len, struct amqp_method *m)
{
	const struct amqp_method_desc *d;
	uint8_t *base = (uint8_t *)&m->u;
	unsigned bit = 8, bits = 0;
	size_t pos = 4;
	uint32_t id;
	int res;

	if (len < 4)
		return -EPROTO;
	id = bk_ld32(p);
	if (id == AMQP_BASIC_PUBLISH || id == AMQP_BASIC_ACK) {
		m->id = id;
		return id == AMQP_BASIC_ACK ? decode_ack(p, len, &m->u.basic_ack) :
		       decode_publish(p, len, &m->u.basic_publish);
	}
	if ((d = amqp_method_desc_find(id)) == NULL)
		return -ENOENT;
	m->id = id;
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct amqp_field_desc *f = &d->fields[i];

		if (f->type == AMQP_F_BIT) {
			if (bit == 8) {
				if (pos >= len)
					return -EPROTO;
				bits = p[pos++];
				bit = 0;
			}
			*(bool *)(base + f->offset) = (bits >> bit++) & 1;
			continue;
		}
		bit = 8;
		if ((res = decode_field(f->type, p, len, &pos, base + f->offset)) < 0)
			return res;
	}
	return pos == len ? 1 : -EPROTO;
}

/* ---- encode ---------------------------------------------------------- */

/* Payload octets of m, or SIZE_MAX if a shortstr is over 255 octets. */
static size_t
payload_size(const struct amqp_method_desc *d, const struct amqp_method *m)
{
	const uint8_t *base = (const uint8_t *)&m->u;
	size_t n = 4;
	unsigned bit = 8;

	for (unsigned i = 0; i < d->nfields; i++) {
		const struct amqp_field_desc *f = &d->fields[i];
		const void *src = base + f->offset;

		if (f->type == AMQP_F_BIT) {
			if (bit == 8) {
				n++;
				bit = 0;
			}
			bit++;
			continue;
		}
		bit = 8;
		switch (f->type) {
		case AMQP_F_OCTET:     n += 1; break;
		case AMQP_F_SHORT:     n += 2; break;
		case AMQP_F_LONG:      n += 4; break;
		case AMQP_F_LONGLONG:
		case AMQP_F_TIMESTAMP: n += 8; break;
		case AMQP_F_SHORTSTR:
			if (((const struct bk_str *)src)->len > 255)
				return SIZE_MAX;
			n += 1 + ((const struct bk_str *)src)->len;
			break;
		case AMQP_F_LONGSTR:
			n += 4 + (size_t)((const struct bk_str *)src)->len;
			break;
		case AMQP_F_TABLE:
			n += 4 + (size_t)((const struct bk_table *)src)->len;
			break;
		}
	}
	return n;
}

size_t
amqp_method_frame_size(const struct amqp_method *m)
{
	const struct amqp_method_desc *d;
	size_t n;

	if (is_hot_out(m->id)) {
		n = hot_payload_size(m);
		return n == SIZE_MAX ? SIZE_MAX : n + AMQP_FRAME_OVERHEAD;
	}
	d = amqp_method_desc_find(m->id);
	BK_ASSERT(d != NULL);
	n = payload_size(d, m);
	return n == SIZE_MAX ? SIZE_MAX : n + AMQP_FRAME_OVERHEAD;
}

static uint8_t *
put_bytes(uint8_t *w, const void *src, size_t n)
{
	if (n)
		memcpy(w, src, n);
	return w + n;
}

int
amqp_method_frame_encode(uint8_t *buf, size_t cap, uint16_t channel,
			 const struct amqp_method *m)
{
	const struct amqp_method_desc *d = NULL;
	const uint8_t *base = (const uint8_t *)&m->u;
	uint8_t *w, *bits_at = NULL;
	unsigned bit = 8;
	size_t n;

	if (is_hot_out(m->id)) {
		n = hot_payload_size(m);
	} else {
		d = amqp_method_desc_find(m->id);
		BK_ASSERT(d != NULL);
		n = payload_size(d, m);
	}
	if (n == SIZE_MAX)
		return -EINVAL;
	if (n > INT_MAX - AMQP_FRAME_OVERHEAD)
		return -EMSGSIZE;
	if (cap < n + AMQP_FRAME_OVERHEAD)
		return -ENOSPC;
	amqp_frame_hdr_put(buf, AMQP_FRAME_METHOD, channel, (uint32_t)n);
	w = bk_st32(buf + AMQP_FRAME_HDR_SIZE, m->id);
	if (d == NULL) {
		w = encode_hot(w, m);
		*w++ = AMQP_FRAME_END;
		return (int)(w - buf);
	}
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct amqp_field_desc *f = &d->fields[i];
		const void *src = base + f->offset;
		const struct bk_str *s = src;
		const struct bk_table *t = src;

		if (f->type == AMQP_F_BIT) {
			if (bit == 8) {
				bits_at = w++;
				*bits_at = 0;
				bit = 0;
			}
			if (*(const bool *)src)
				*bits_at |= (uint8_t)(1u << bit);
			bit++;
			continue;
		}
		bit = 8;
		switch (f->type) {
		case AMQP_F_OCTET:
			*w++ = *(const uint8_t *)src;
			break;
		case AMQP_F_SHORT:
			w = bk_st16(w, *(const uint16_t *)src);
			break;
		case AMQP_F_LONG:
			w = bk_st32(w, *(const uint32_t *)src);
			break;
		case AMQP_F_LONGLONG:
		case AMQP_F_TIMESTAMP:
			w = bk_st64(w, *(const uint64_t *)src);
			break;
		case AMQP_F_SHORTSTR:
			*w++ = (uint8_t)s->len;
			w = put_bytes(w, s->p, s->len);
			break;
		case AMQP_F_LONGSTR:
			w = put_bytes(bk_st32(w, s->len), s->p, s->len);
			break;
		case AMQP_F_TABLE:
			w = put_bytes(bk_st32(w, t->len), t->p, t->len);
			break;
		}
	}
	*w++ = AMQP_FRAME_END;
	BK_ASSERT((size_t)(w - buf) == n + AMQP_FRAME_OVERHEAD);
	return (int)(w - buf);
}

/* ---- method facts ---------------------------------------------------- */

const char *
amqp_method_name(uint32_t id)
{
	const struct amqp_method_desc *d = amqp_method_desc_find(id);

	return d ? d->name : "unknown";
}

bool
amqp_method_has_content(uint32_t id)
{
	const struct amqp_method_desc *d = amqp_method_desc_find(id);

	return d && (d->flags & AMQP_MF_CONTENT);
}

bool
amqp_method_is_client_to_server(uint32_t id)
{
	const struct amqp_method_desc *d = amqp_method_desc_find(id);

	return d && (d->flags & AMQP_MF_C2S);
}
