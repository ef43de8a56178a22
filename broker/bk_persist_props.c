/*
 * bk_persist_props.c: how a message's properties are kept in its MSG
 * record (the journal treats them as opaque bytes). Little-endian:
 *
 *   +-------------+--------------+-----------+----------------+
 *   | present u32 | delivery u8  | prio u8   | timestamp u64  |
 *   +-------------+--------------+-----------+----------------+
 *   | for each present string property, in BK_P_* order, and    |
 *   | the headers table: len u32, bytes                         |
 *   +-----------------------------------------------------------+
 *
 * Headers are kept in their encoded form (the core's table format), so
 * x-death and every other header come back byte for byte. Decoding checks
 * every length: the record's CRC protects against bit rot, not against a
 * format bug.
 */
#include "bk_persist.h"

#include <errno.h>
#include <string.h>

#define FIXED 14u

/* The present-bit order of the variable parts. */
static const uint32_t order[] = {
	BK_P_CONTENT_TYPE, BK_P_CONTENT_ENCODING, BK_P_HEADERS,
	BK_P_CORRELATION_ID, BK_P_REPLY_TO, BK_P_EXPIRATION, BK_P_MESSAGE_ID,
	BK_P_TYPE, BK_P_USER_ID, BK_P_APP_ID, BK_P_CLUSTER_ID,
};
#define NORDER (sizeof(order) / sizeof(order[0]))

/* The bytes of variable part i, as (pointer, length) slots of p. */
static void
slot(struct bk_props *p, unsigned i, const void ***ptr, uint32_t **len)
{
	switch (order[i]) {
	case BK_P_CONTENT_TYPE:     *ptr = (const void **)&p->content_type.p;     *len = &p->content_type.len; break;
	case BK_P_CONTENT_ENCODING: *ptr = (const void **)&p->content_encoding.p; *len = &p->content_encoding.len; break;
	case BK_P_HEADERS:          *ptr = (const void **)&p->headers.p;          *len = &p->headers.len; break;
	case BK_P_CORRELATION_ID:   *ptr = (const void **)&p->correlation_id.p;   *len = &p->correlation_id.len; break;
	case BK_P_REPLY_TO:         *ptr = (const void **)&p->reply_to.p;         *len = &p->reply_to.len; break;
	case BK_P_EXPIRATION:       *ptr = (const void **)&p->expiration.p;       *len = &p->expiration.len; break;
	case BK_P_MESSAGE_ID:       *ptr = (const void **)&p->message_id.p;       *len = &p->message_id.len; break;
	case BK_P_TYPE:             *ptr = (const void **)&p->type.p;             *len = &p->type.len; break;
	case BK_P_USER_ID:          *ptr = (const void **)&p->user_id.p;          *len = &p->user_id.len; break;
	case BK_P_APP_ID:           *ptr = (const void **)&p->app_id.p;           *len = &p->app_id.len; break;
	default:                    *ptr = (const void **)&p->cluster_id.p;       *len = &p->cluster_id.len; break;
	}
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

size_t
bk_props_encoded_size(const struct bk_props *in)
{
	struct bk_props p = *in;
	const void **ptr;
	uint32_t *len;
	size_t n = FIXED;
	unsigned i;

	for (i = 0; i < NORDER; i++) {
		if (!(p.present & order[i]))
			continue;
		slot(&p, i, &ptr, &len);
		n += 4 + *len;
	}
	return n;
}

void
bk_props_encode(const struct bk_props *in, uint8_t *out)
{
	struct bk_props p = *in;
	const void **ptr;
	uint32_t *len;
	unsigned i;

	put32(out, p.present);
	out[4] = p.delivery_mode;
	out[5] = p.priority;
	put32(out + 6, (uint32_t)p.timestamp);
	put32(out + 10, (uint32_t)(p.timestamp >> 32));
	out += FIXED;
	for (i = 0; i < NORDER; i++) {
		if (!(p.present & order[i]))
			continue;
		slot(&p, i, &ptr, &len);
		put32(out, *len);
		if (*len > 0)
			memcpy(out + 4, *ptr, *len);
		out += 4 + *len;
	}
}

int
bk_props_decode(const uint8_t *buf, size_t n, struct bk_props *p)
{
	const void **ptr;
	uint32_t *len, l;
	size_t off = FIXED;
	unsigned i;

	memset(p, 0, sizeof(*p));
	if (n < FIXED)
		return -EPROTO;
	p->present = get32(buf);
	p->delivery_mode = buf[4];
	p->priority = buf[5];
	p->timestamp = (uint64_t)get32(buf + 6) | (uint64_t)get32(buf + 10) << 32;
	for (i = 0; i < NORDER; i++) {
		if (!(p->present & order[i]))
			continue;
		if (n - off < 4)
			return -EPROTO;
		l = get32(buf + off);
		off += 4;
		if (n - off < l)
			return -EPROTO;
		slot(p, i, &ptr, &len);
		*ptr = buf + off;
		*len = l;
		off += l;
	}
	if (off != n)
		return -EPROTO;
	if ((p->present & BK_P_HEADERS) &&
	    bk_table_validate(p->headers) < 0)
		return -EPROTO;
	return 0;
}
