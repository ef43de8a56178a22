/*
 * strm_format.c: the stream log's on-disk codecs (segment header, chunk
 * header, index entry, record) and the per-chunk Bloom filter. The
 * formats are drawn in strm_int.h. Pure functions over bytes: no I/O, no
 * allocation, so the unit tests and a fuzzer can drive them directly.
 */
#include <errno.h>
#include <string.h>

#include "jnl_int.h"
#include "strm_int.h"

void
strm_seg_header_encode(uint8_t out[STRM_SEG_HDR], uint64_t first, uint32_t key)
{
	memcpy(out, STRM_MAGIC, 8);
	st32(out + 8, STRM_VERSION);
	st32(out + 12, STRM_SEG_HDR);
	st64(out + 16, first);
	st32(out + 24, key);
	st32(out + 28, st_crc32c(0, out, 28));
}

int
strm_seg_header_check(const uint8_t *p, size_t len, uint64_t *first, uint32_t *key)
{
	if (len < STRM_SEG_HDR || memcmp(p, STRM_MAGIC, 8) != 0)
		return -EPROTO;
	if (ld32(p + 8) != STRM_VERSION)
		return -EPROTONOSUPPORT;
	if (ld32(p + 12) != STRM_SEG_HDR || ld32(p + 28) != st_crc32c(0, p, 28))
		return -EPROTO;
	*first = ld64(p + 16);
	*key = ld32(p + 24);
	return 0;
}

void
strm_chunk_hdr_encode(uint8_t out[STRM_CHUNK_HDR], const struct strm_chunk_hdr *h,
		      uint32_t key)
{
	st32(out, STRM_CHUNK_MAGIC);
	st64(out + 4, h->first);
	st32(out + 12, h->span);
	st32(out + 16, h->nrec);
	st64(out + 20, h->ts);
	st32(out + 28, h->data_len);
	st16(out + 32, h->filter_len);
	st16(out + 34, h->flags);
	st32(out + 36, h->dcrc);
	st32(out + 40, st_crc32c(key, out, 40));
}

int
strm_chunk_hdr_parse(const uint8_t *p, uint32_t key, struct strm_chunk_hdr *h)
{
	if (ld32(p) != STRM_CHUNK_MAGIC || ld32(p + 40) != st_crc32c(key, p, 40))
		return -EPROTO;
	h->first = ld64(p + 4);
	h->span = ld32(p + 12);
	h->nrec = ld32(p + 16);
	h->ts = ld64(p + 20);
	h->data_len = ld32(p + 28);
	h->filter_len = ld16(p + 32);
	h->flags = ld16(p + 34);
	h->dcrc = ld32(p + 36);
	/* first + span must not wrap: readers move to first + span and hand
	 * out first + delta (delta < span) as offsets */
	if (h->span == 0 || h->nrec > h->span || h->span > UINT64_MAX - h->first ||
	    h->data_len > ST_RECORD_MAX + STRM_CHUNK_DATA_MAX)
		return -EPROTO;
	return 0;
}

uint32_t
strm_chunk_dcrc(const uint8_t *body, size_t len, uint32_t key)
{
	return st_crc32c(key, body, len);
}

void
strm_idx_encode(uint8_t out[STRM_IDX_ENTRY], const struct strm_idx *e)
{
	st64(out, e->first);
	st64(out + 8, e->ts);
	st64(out + 16, e->pos);
	st32(out + 24, e->span);
	st32(out + 28, st_crc32c(0, out, 28));
}

int
strm_idx_parse(const uint8_t *p, struct strm_idx *e)
{
	if (ld32(p + 28) != st_crc32c(0, p, 28))
		return -EPROTO;
	e->first = ld64(p);
	e->ts = ld64(p + 8);
	e->pos = ld64(p + 16);
	e->span = ld32(p + 24);
	return e->span ? 0 : -EPROTO;
}

size_t
strm_rec_size(uint16_t klen, uint32_t len)
{
	return STRM_REC_HDR + (size_t)klen + len;
}

void
strm_rec_encode(uint8_t *out, uint32_t delta, uint8_t flags, const void *key,
		uint16_t klen, const void *payload, uint32_t len)
{
	st32(out, delta);
	st32(out + 4, len);
	st16(out + 8, klen);
	out[10] = flags;
	out[11] = 0;
	if (klen)
		memcpy(out + STRM_REC_HDR, key, klen);
	if (len && payload != NULL)
		memcpy(out + STRM_REC_HDR + klen, payload, len);
}

int
strm_rec_next(const uint8_t *data, size_t len, size_t *pos, struct strm_rec_view *rv)
{
	const uint8_t *p;
	size_t left;
	uint64_t need;

	if (*pos >= len)
		return 0;               /* data may be NULL when len is 0 */
	p = data + *pos;
	left = len - *pos;
	if (left < STRM_REC_HDR)
		return -EPROTO;
	rv->delta = ld32(p);
	rv->len = ld32(p + 4);
	rv->klen = ld16(p + 8);
	rv->flags = p[10];
	need = (uint64_t)STRM_REC_HDR + rv->klen + rv->len;
	if (need > left)
		return -EPROTO;
	rv->key = p + STRM_REC_HDR;
	rv->payload = p + STRM_REC_HDR + rv->klen;
	*pos += (size_t)need;
	return 1;
}

/* ---- Bloom filter ---------------------------------------------------- */

uint64_t
strm_filter_hash(const void *v, size_t n)
{
	const uint8_t *p = v;
	uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a, then a finaliser */

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static void
bit_positions(uint16_t len, uint64_t h, uint32_t out[2])
{
	uint32_t m = (uint32_t)len * 8u;
	uint32_t a = (uint32_t)h, b = (uint32_t)(h >> 32) | 1u;

	out[0] = a % m;
	out[1] = (a + b) % m;
}

void
strm_filter_add(uint8_t *bits, uint16_t len, uint64_t h)
{
	uint32_t k[2];

	if (len == 0)
		return;
	bit_positions(len, h, k);
	bits[k[0] / 8] |= (uint8_t)(1u << (k[0] % 8));
	bits[k[1] / 8] |= (uint8_t)(1u << (k[1] % 8));
}

bool
strm_filter_may_contain(const uint8_t *bits, uint16_t len, uint64_t h)
{
	uint32_t k[2];

	if (len == 0)
		return true;
	bit_positions(len, h, k);
	return (bits[k[0] / 8] & (1u << (k[0] % 8))) &&
	       (bits[k[1] / 8] & (1u << (k[1] % 8)));
}
