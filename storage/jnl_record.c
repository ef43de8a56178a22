/*
 * Record codec: the segment header and the five record payloads, pure
 * functions over bytes (no I/O, no allocation), so the unit tests and the
 * fuzzer drive them directly. The format is drawn in jnl_int.h.
 *
 * Every length comes from the buffer and is checked against what is there
 * before it is used; a record is only trusted after its CRC matched AND its
 * payload decoded consistently.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "jnl_int.h"

_Static_assert(JNL_SEG_HDR == 32, "segment header is 32 bytes");
_Static_assert(JNL_REC_HDR == 4 + 4 + 1 + 4, "record header is len, crc, type, hcrc");
_Static_assert(JNL_MSG_FIXED == 8 + 8 + 8 + 4 + 2 + 2 + 2 + 2 + 4 + 4, "MSG fixed part");

void
jnl_seg_header_encode(uint8_t out[JNL_SEG_HDR], uint64_t segno, uint32_t key)
{
	memcpy(out, JNL_MAGIC, 8);
	st32(out + 8, JNL_VERSION);
	st32(out + 12, JNL_SEG_HDR);
	st64(out + 16, segno);
	st32(out + 24, key);
	st32(out + 28, st_crc32c(0, out, 28));
}

int
jnl_seg_header_check(const uint8_t *p, size_t len, uint64_t *segno, uint32_t *key)
{
	if (len < JNL_SEG_HDR || memcmp(p, JNL_MAGIC, 8) != 0)
		return -EPROTO;
	if (ld32(p + 8) != JNL_VERSION)
		return -EPROTONOSUPPORT;
	if (ld32(p + 12) != JNL_SEG_HDR || ld32(p + 28) != st_crc32c(0, p, 28))
		return -EPROTO;
	*segno = ld64(p + 16);
	*key = ld32(p + 24);
	return 0;
}

uint32_t
jnl_seg_key_new(void)
{
	uint32_t key = 0;

	/* getrandom() on a few bytes does not block once the pool is up,
	 * which it is long before a broker runs */
	while (key == 0)
		if (getrandom(&key, sizeof(key), 0) != (ssize_t)sizeof(key))
			key = 0;
	return key;
}

size_t
jnl_msg_size(const struct st_msg *m)
{
	uint64_t n = (uint64_t)JNL_REC_HDR + JNL_MSG_FIXED + (uint64_t)m->nqueues * JNL_MSG_QSIZE +
		     m->exchange_len + m->routing_key_len + (uint64_t)m->props_len + m->body_len;

	return n > ST_RECORD_MAX ? 0 : (size_t)n;
}

size_t
jnl_kv_size(uint32_t key_len, uint32_t val_len)
{
	uint64_t n = (uint64_t)JNL_REC_HDR + 4 + key_len + (uint64_t)val_len;

	return key_len > 0xffff || n > ST_RECORD_MAX ? 0 : (size_t)n;
}

/* The header check: the 9 octets of length, crc32c and type. */
static uint32_t
hcrc(const uint8_t *rec, uint32_t key)
{
	return st_crc32c(key, rec, 9);
}

/* Fill in length, type and both CRCs once the payload is in place. The
 * payload CRC covers type + payload, which are not contiguous on disk
 * (hcrc sits between them): two calls, the second continuing the first. */
static void
seal(uint8_t *out, uint8_t type, uint32_t len, uint32_t key)
{
	st32(out, len);
	out[8] = type;
	st32(out + 4, st_crc32c(st_crc32c(key, out + 8, 1), out + JNL_REC_HDR, len));
	st32(out + 9, hcrc(out, key));
}

static uint8_t *
put(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

void
jnl_encode_msg(uint8_t *out, const struct st_msg *m, uint32_t key)
{
	uint8_t *p = out + JNL_REC_HDR;

	st64(p, m->id);
	st64(p + 8, m->published_ms);
	st64(p + 16, (uint64_t)m->expires_ms);
	st32(p + 24, m->flags);
	st16(p + 28, m->nqueues);
	st16(p + 30, m->exchange_len);
	st16(p + 32, m->routing_key_len);
	st16(p + 34, 0);
	st32(p + 36, m->props_len);
	st32(p + 40, m->body_len);
	p += JNL_MSG_FIXED;
	for (uint16_t i = 0; i < m->nqueues; i++, p += JNL_MSG_QSIZE) {
		st64(p, m->queues[i].queue_id);
		st32(p + 8, m->queues[i].delivery_count);
	}
	p = put(p, m->exchange, m->exchange_len);
	p = put(p, m->routing_key, m->routing_key_len);
	p = put(p, m->props, m->props_len);
	p = put(p, m->body, m->body_len);
	seal(out, JNL_T_MSG, (uint32_t)(p - out - JNL_REC_HDR), key);
}

size_t
jnl_encode_ref(uint8_t *out, enum jnl_type t, const struct jnl_ref *r, uint32_t key)
{
	uint8_t *p = out + JNL_REC_HDR;
	uint32_t len = 8;

	st64(p, r->queue_id);
	if (t != JNL_T_QDROP) {
		st64(p + 8, r->msg_id);
		len = 16;
	}
	if (t == JNL_T_COUNT) {
		st32(p + 16, r->count);
		len = 20;
	}
	seal(out, (uint8_t)t, len, key);
	return JNL_REC_HDR + len;
}

void
jnl_encode_kv(uint8_t *out, uint16_t ns, const void *k, uint16_t k_len,
	      const void *val, uint32_t val_len, bool del, uint32_t key)
{
	uint8_t *p = out + JNL_REC_HDR;

	st16(p, ns);
	st16(p + 2, k_len);
	p = put(p + 4, k, k_len);
	if (!del)
		p = put(p, val, val_len);
	seal(out, del ? JNL_T_KVDEL : JNL_T_KV, (uint32_t)(p - out - JNL_REC_HDR), key);
}

/* Smallest payload each type can have; fixed-size types must match it. */
static int
len_ok(uint8_t type, uint32_t len)
{
	switch (type) {
	case JNL_T_MSG:   return len >= JNL_MSG_FIXED + JNL_MSG_QSIZE;
	case JNL_T_ACK:   return len == 16;
	case JNL_T_COUNT: return len == 20;
	case JNL_T_QDROP: return len == 8;
	case JNL_T_KV:
	case JNL_T_KVDEL: return len >= 4;
	default:          return 0;
	}
}

int
jnl_rec_parse(const uint8_t *p, size_t avail, uint32_t key, struct jnl_rec *r)
{
	uint32_t len;

	if (avail < JNL_REC_HDR)
		return 0;
	if (ld32(p + 9) != hcrc(p, key))
		return -EPROTO;
	len = ld32(p);
	if (len > ST_RECORD_MAX - JNL_REC_HDR || !len_ok(p[8], len))
		return -EPROTO;
	r->type = p[8];
	r->len = len;
	r->payload = p + JNL_REC_HDR;
	if (avail - JNL_REC_HDR < len)
		return 0;
	if (st_crc32c(st_crc32c(key, p + 8, 1), p + JNL_REC_HDR, len) != ld32(p + 4))
		return -EBADMSG;
	return 1;
}

int
jnl_decode_msg(const struct jnl_rec *r, struct jnl_msg_view *v)
{
	const uint8_t *p = r->payload;
	uint64_t need;

	if (r->type != JNL_T_MSG || r->len < JNL_MSG_FIXED)
		return -EPROTO;
	memset(v, 0, sizeof(*v));
	v->m.id = ld64(p);
	v->m.published_ms = ld64(p + 8);
	v->m.expires_ms = (int64_t)ld64(p + 16);
	v->m.flags = ld32(p + 24);
	v->m.nqueues = ld16(p + 28);
	v->m.exchange_len = ld16(p + 30);
	v->m.routing_key_len = ld16(p + 32);
	v->m.props_len = ld32(p + 36);
	v->m.body_len = ld32(p + 40);
	need = (uint64_t)JNL_MSG_FIXED + (uint64_t)v->m.nqueues * JNL_MSG_QSIZE +
	       v->m.exchange_len + v->m.routing_key_len + (uint64_t)v->m.props_len +
	       v->m.body_len;
	if (v->m.nqueues == 0 || need != r->len)
		return -EPROTO;
	p += JNL_MSG_FIXED;
	v->qraw = p;
	p += (size_t)v->m.nqueues * JNL_MSG_QSIZE;
	v->m.exchange = p;
	p += v->m.exchange_len;
	v->m.routing_key = p;
	p += v->m.routing_key_len;
	v->m.props = p;
	p += v->m.props_len;
	v->m.body = p;
	return 0;
}

void
jnl_msg_queue_at(const struct jnl_msg_view *v, uint16_t i, struct st_msg_queue *q)
{
	const uint8_t *p = v->qraw + (size_t)i * JNL_MSG_QSIZE;

	q->queue_id = ld64(p);
	q->delivery_count = ld32(p + 8);
}

int
jnl_decode_ref(const struct jnl_rec *r, struct jnl_ref *out)
{
	if (!len_ok(r->type, r->len) ||
	    (r->type != JNL_T_ACK && r->type != JNL_T_COUNT && r->type != JNL_T_QDROP))
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->queue_id = ld64(r->payload);
	if (r->len >= 16)
		out->msg_id = ld64(r->payload + 8);
	if (r->len >= 20)
		out->count = ld32(r->payload + 16);
	return 0;
}

int
jnl_decode_kv(const struct jnl_rec *r, struct jnl_kv_view *v)
{
	if ((r->type != JNL_T_KV && r->type != JNL_T_KVDEL) || r->len < 4)
		return -EPROTO;
	v->ns = ld16(r->payload);
	v->key_len = ld16(r->payload + 2);
	if ((uint64_t)v->key_len + 4 > r->len)
		return -EPROTO;
	if (r->type == JNL_T_KVDEL && (uint64_t)v->key_len + 4 != r->len)
		return -EPROTO;
	v->key = r->payload + 4;
	v->val = v->key + v->key_len;
	v->val_len = r->len - 4 - v->key_len;
	return 0;
}

/* The first byte at or after from that is not zero, or len. */
static size_t
nonzero_from(const uint8_t *p, size_t from, size_t len)
{
	size_t o = from;

	while (o < len && ((uintptr_t)(p + o) & 7))
		if (p[o++])
			return o - 1;
	for (; o + 8 <= len; o += 8) {
		uint64_t v;

		memcpy(&v, p + o, 8);
		if (v)
			break;
	}
	while (o < len && p[o] == 0)
		o++;
	return o;
}

/*
 * The next offset at or after from where a whole record checks, or len.
 * Each offset costs one CRC over 9 octets (the header check), and only a
 * header that passes it (by chance: 2^-32 per offset) costs a payload
 * CRC, so the scan is linear and needs no budget. A run of zeros (the
 * unwritten rest of a preallocated segment) is stepped over in one go: a
 * header of 13 zero octets never checks (type 0 is no record), so the
 * next candidate is the first one whose header reaches a non-zero octet.
 */
static size_t
resync(const uint8_t *p, size_t len, size_t from, uint32_t key)
{
	struct jnl_rec r;

	for (size_t o = from; o + JNL_REC_HDR <= len; o++) {
		size_t nz = nonzero_from(p, o, o + JNL_REC_HDR);

		if (nz == o + JNL_REC_HDR) {
			nz = nonzero_from(p, nz, len);
			if (nz >= len)
				return len;
			o = nz - JNL_REC_HDR;   /* the loop steps to nz - 12 */
			continue;
		}
		if (ld32(p + o + 9) == hcrc(p + o, key) &&
		    jnl_rec_parse(p + o, len - o, key, &r) == 1)
			return o;
	}
	return len;
}

static void
note_damage(struct jnl_scan_res *res, size_t off, size_t n)
{
	if (res->bad_records + res->bad_regions == 0)
		res->first_bad = off;
	res->skipped += n;
}

int
jnl_scan(const uint8_t *p, size_t len, uint32_t key, jnl_scan_fn fn, void *arg,
	 struct jnl_scan_res *res)
{
	size_t off = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	while (off < len) {
		struct jnl_rec r;
		size_t next;

		rc = jnl_rec_parse(p + off, len - off, key, &r);
		if (rc == 1) {
			if ((rc = fn(arg, off, &r)) < 0)
				return rc;
			res->records++;
			off += JNL_REC_HDR + r.len;
			res->valid_end = off;
			continue;
		}
		if (rc == -EBADMSG &&
		    nonzero_from(p, off + JNL_REC_HDR + r.len, len) >= len) {
			res->torn = true;   /* the last record, cut short on disk */
			break;
		}
		if (rc == -EBADMSG) {
			/* genuine header, damaged payload: skip just this record */
			note_damage(res, off, JNL_REC_HDR + (size_t)r.len);
			res->bad_records++;
			off += JNL_REC_HDR + r.len;
			continue;
		}
		if (nonzero_from(p, off, len) >= len) {
			res->zero_tail = true;   /* never written: preallocated */
			break;
		}
		next = resync(p, len, off + 1, key);
		if (next >= len) {
			res->torn = true;   /* nothing valid follows: a torn tail */
			break;
		}
		note_damage(res, off, next - off);
		res->bad_regions++;
		off = next;
	}
	return 0;
}
