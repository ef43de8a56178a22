/*
 * fuzz_journal.c: libFuzzer target for the journal recovery reader.
 *
 * The input is a damaged segment file: its header is checked, then the
 * rest is scanned exactly as recovery scans a segment (jnl_scan: CRC
 * check, torn tail, resync over corrupt stretches), and every record the
 * scan accepts is decoded by its type and all its fields are walked.
 * The invariants checked: the scan never reports a record outside the
 * input, records come in increasing non-overlapping order, valid_end
 * never passes the input, and a decoded MSG accounts for every byte of
 * its payload. ASan catches any read out of bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jnl_int.h"

#define REQUIRE(x) do { \
	if (!(x)) { \
		fprintf(stderr, "fuzz_journal: %s:%d: %s\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

struct ctx {
	const uint8_t *base;
	size_t len, last_end;
	volatile uint32_t sink;
};

static void
touch(struct ctx *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		return;
	REQUIRE(b >= c->base && b + n <= c->base + c->len);
	c->sink += b[0] + b[n - 1];
}

static int
each(void *arg, size_t off, const struct jnl_rec *r)
{
	struct ctx *c = arg;
	struct jnl_msg_view v;
	struct jnl_kv_view kv;
	struct jnl_ref ref;

	REQUIRE(off >= c->last_end);
	REQUIRE(off + JNL_REC_HDR + r->len <= c->len);
	c->last_end = off + JNL_REC_HDR + r->len;
	touch(c, r->payload, r->len);
	switch (r->type) {
	case JNL_T_MSG:
		if (jnl_decode_msg(r, &v) == 0) {
			struct st_msg_queue q;

			for (uint16_t i = 0; i < v.m.nqueues; i++) {
				jnl_msg_queue_at(&v, i, &q);
				c->sink += (uint32_t)q.queue_id + q.delivery_count;
			}
			touch(c, v.m.exchange, v.m.exchange_len);
			touch(c, v.m.routing_key, v.m.routing_key_len);
			touch(c, v.m.props, v.m.props_len);
			touch(c, v.m.body, v.m.body_len);
			REQUIRE((const uint8_t *)v.m.body + v.m.body_len == r->payload + r->len);
		}
		break;
	case JNL_T_KV:
	case JNL_T_KVDEL:
		if (jnl_decode_kv(r, &kv) == 0) {
			touch(c, kv.key, kv.key_len);
			touch(c, kv.val, kv.val_len);
		}
		break;
	default:
		if (jnl_decode_ref(r, &ref) == 0)
			c->sink += (uint32_t)(ref.queue_id ^ ref.msg_id) + ref.count;
		break;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jnl_scan_res res;
	struct ctx c;
	uint64_t no;
	size_t skip = 0;

	/* A segment header if there is one, records from there either way:
	 * recovery refuses a bad header, but the scanner must survive any
	 * bytes, so the body is scanned regardless. */
	if (jnl_seg_header_check(data, size, &no) == 0)
		skip = JNL_SEG_HDR;
	memset(&c, 0, sizeof(c));
	c.base = data + skip;
	c.len = size - skip;
	REQUIRE(jnl_scan(c.base, c.len, each, &c, &res) == 0);
	REQUIRE(res.valid_end <= c.len);
	REQUIRE(res.valid_end == c.last_end);
	REQUIRE(res.skipped <= c.len);
	REQUIRE(!res.torn || res.valid_end < c.len);
	return 0;
}
