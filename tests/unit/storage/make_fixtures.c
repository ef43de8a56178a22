/*
 * Writes the journal recovery fixtures into <dir> (committed under
 * tests/fixtures/journal/; rerun after a format change). Every segment
 * has the key FIXTURE_KEY, so the files come out the same each time.
 *   good.seg           segment 1: MSG 1..3 (queue 1), ACK(1, 2), KV 1:"k"="v"
 *   truncated.seg      good.seg plus half of another MSG record (torn tail)
 *   bad-crc.seg        MSG 1..3 with one payload byte of MSG 2 flipped
 *   bad-header.seg     MSG 1..3 with MSG 2's length field damaged
 *   planted.seg        MSG 1, MSG 2 whose body holds records made without
 *                      the key (MSG 9, ACK(1, 1), KV 1:"k"="planted"),
 *                      MSG 2's header damaged, MSG 3
 *   wrong-version.seg  good.seg with format version 1 in its header
 * Expected recovery of each: see test_recover_fixtures.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jnl_int.h"

#define FIXTURE_KEY 0x46495854u

static size_t
msg_body(uint8_t *out, uint64_t id, const void *body, uint32_t body_len, uint32_t key)
{
	struct st_msg_queue q = { 1, 0 };
	struct st_msg m = {
		.id = id, .published_ms = 1700000000000ull + id,
		.exchange = "amq.direct", .exchange_len = 10,
		.routing_key = "fixture", .routing_key_len = 7,
		.body = body, .body_len = body_len, .queues = &q, .nqueues = 1,
	};

	jnl_encode_msg(out, &m, key);
	return jnl_msg_size(&m);
}

static size_t
msg(uint8_t *out, uint64_t id)
{
	return msg_body(out, id, "fixture body", 12, FIXTURE_KEY);
}

static size_t
good(uint8_t *buf, bool with_ack_kv)
{
	struct jnl_ref ack = { 1, 2, 0 };
	size_t n = JNL_SEG_HDR;

	jnl_seg_header_encode(buf, 1, FIXTURE_KEY);
	for (uint64_t id = 1; id <= 3; id++)
		n += msg(buf + n, id);
	if (with_ack_kv) {
		n += jnl_encode_ref(buf + n, JNL_T_ACK, &ack, FIXTURE_KEY);
		jnl_encode_kv(buf + n, 1, "k", 1, "v", 1, false, FIXTURE_KEY);
		n += jnl_kv_size(1, 1);
	}
	return n;
}

/* What a client could put in a body: records under keys it can guess. */
static size_t
planted_body(uint8_t *out)
{
	static const uint32_t guesses[] = { 0, 1, 0xffffffffu };
	struct jnl_ref ack = { 1, 1, 0 };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
		n += msg_body(out + n, 9, "planted", 7, guesses[i]);
		n += jnl_encode_ref(out + n, JNL_T_ACK, &ack, guesses[i]);
		jnl_encode_kv(out + n, 1, "k", 1, "planted", 7, false, guesses[i]);
		n += jnl_kv_size(1, 7);
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
	static uint8_t buf[4096], body[1024];
	size_t n, m1, bl;
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
	buf[m1 + JNL_REC_HDR + 20] ^= 0x40;
	buf[m1 + 1] ^= 0x08;                     /* MSG 2's length */
	bad |= put(argv[1], "bad-header.seg", buf, n);

	n = JNL_SEG_HDR;
	jnl_seg_header_encode(buf, 1, FIXTURE_KEY);
	n += msg(buf + n, 1);
	m1 = n;
	bl = planted_body(body);
	n += msg_body(buf + n, 2, body, (uint32_t)bl, FIXTURE_KEY);
	buf[m1] ^= 0x01;                         /* MSG 2's length */
	n += msg(buf + n, 3);
	bad |= put(argv[1], "planted.seg", buf, n);

	n = good(buf, true);
	st32(buf + 8, 1);
	st32(buf + 28, st_crc32c(0, buf, 28));
	bad |= put(argv[1], "wrong-version.seg", buf, n);
	return bad;
}
