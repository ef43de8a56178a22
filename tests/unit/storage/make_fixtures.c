/*
 * Writes the journal recovery fixtures into <dir> (committed under
 * tests/fixtures/journal/; rerun after a format change):
 *   good.seg           segment 1: MSG 1..3 (queue 1), ACK(1, 2), KV 1:"k"="v"
 *   truncated.seg      good.seg plus half of another MSG record (torn tail)
 *   bad-crc.seg        MSG 1..3 with one payload byte of MSG 2 flipped
 *   wrong-version.seg  good.seg with format version 2 in its header
 * Expected recovery of each: see test_recover_fixtures.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jnl_int.h"

static size_t
msg(uint8_t *out, uint64_t id)
{
	struct st_msg_queue q = { 1, 0 };
	struct st_msg m = {
		.id = id, .published_ms = 1700000000000ull + id,
		.exchange = "amq.direct", .exchange_len = 10,
		.routing_key = "fixture", .routing_key_len = 7,
		.body = "fixture body", .body_len = 12, .queues = &q, .nqueues = 1,
	};

	jnl_encode_msg(out, &m);
	return jnl_msg_size(&m);
}

static size_t
good(uint8_t *buf, bool with_ack_kv)
{
	struct jnl_ref ack = { 1, 2, 0 };
	size_t n = JNL_SEG_HDR;

	jnl_seg_header_encode(buf, 1);
	for (uint64_t id = 1; id <= 3; id++)
		n += msg(buf + n, id);
	if (with_ack_kv) {
		n += jnl_encode_ref(buf + n, JNL_T_ACK, &ack);
		jnl_encode_kv(buf + n, 1, "k", 1, "v", 1, false);
		n += jnl_kv_size(1, 1);
	}
	return n;
}

static int
put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n) {
		perror(path);
		return 1;
	}
	return fclose(f) != 0;
}

int
main(int argc, char **argv)
{
	static uint8_t buf[4096];
	size_t n, m1;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s <dir>\n", argv[0]);
		return 2;
	}
	n = good(buf, true);
	bad |= put(argv[1], "good.seg", buf, n);
	n += msg(buf + n, 4) / 2;
	bad |= put(argv[1], "truncated.seg", buf, n);

	n = good(buf, false);
	m1 = JNL_SEG_HDR + msg(buf + 2048, 1);
	buf[m1 + JNL_REC_HDR + 20] ^= 0x40;      /* inside MSG 2's payload */
	bad |= put(argv[1], "bad-crc.seg", buf, n);

	n = good(buf, true);
	st32(buf + 8, 2);
	st32(buf + 24, st_crc32c(0, buf, 24));
	bad |= put(argv[1], "wrong-version.seg", buf, n);
	return bad;
}
