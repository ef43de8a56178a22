/*
 * mqtt_test.h: helpers shared by the MQTT codec tests: round trips
 * through encode/decode and byte-array comparisons.
 */
#ifndef SLUICE_MQTT_TEST_H
#define SLUICE_MQTT_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"
#include "mqtt_codec.h"

#define S(lit) BK_STR_LIT(lit)
#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static inline bool
str_eq(struct bk_str a, struct bk_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline void
dump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "%s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", p[i]);
	fprintf(stderr, "\n");
}

/* Bytes p[0..n) decode at level (1) and re-encode to exactly themselves. */
static inline bool
same_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	if (na == nb && memcmp(a, b, na) == 0)
		return true;
	dump("got ", a, na);
	dump("want", b, nb);
	return false;
}

/*
 * Encode pkt at level into buf (checking size and -ENOSPC one byte
 * short), decode it into *out, re-encode *out and check the bytes are
 * the same. Returns the encoded length (0 on failure).
 */
static inline size_t
round_trip(uint8_t level, const struct mqtt_packet *pkt, uint8_t *buf, size_t cap,
	   struct mqtt_packet *out)
{
	uint8_t again[4096];
	size_t size = mqtt_packet_size(level, pkt);
	int n, m, d;

	CHECK(size != SIZE_MAX && size <= cap);
	if (size == SIZE_MAX || size > cap)
		return 0;
	CHECK_EQ_INT(mqtt_packet_encode(buf, size - 1, level, pkt), -ENOSPC);
	n = mqtt_packet_encode(buf, cap, level, pkt);
	CHECK_EQ_INT(n, size);
	d = mqtt_packet_decode(buf, (size_t)n, level, out);
	CHECK_EQ_INT(d, 1);
	if (d != 1) {
		dump("undecodable", buf, (size_t)n);
		return 0;
	}
	CHECK_EQ_INT(out->type, pkt->type);
	m = mqtt_packet_encode(again, sizeof(again), level, out);
	CHECK(m == n && same_bytes(again, (size_t)m, buf, (size_t)n));
	return (size_t)n;
}

/*
 * Decode an exact-size heap copy of p[0..n) (so ASan catches reads past
 * the end) and return only the result: the packet would borrow freed bytes.
 */
static inline int
dec_rc(uint8_t level, const uint8_t *p, size_t n)
{
	struct mqtt_packet out;
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, p, n);
	r = mqtt_packet_decode(copy, n, level, &out);
	free(copy);
	return r;
}

#endif
