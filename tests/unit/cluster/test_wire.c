/*
 * Unit tests of cl_wire.c: integers, file operations both ways, and what
 * the decoder refuses (a frame from the network is hostile until
 * checked: short input, lengths past the end, paths that leave
 * data_dir, NUL bytes inside a path). Also the handshake's HMAC.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "cl_int.h"
#include "testlib.h"

static size_t
encode(const struct st_repl_op *op, uint8_t *out, size_t cap)
{
	struct evbuffer *b = evbuffer_new();
	size_t n = evbuffer_get_length(b);

	cl_op_put(b, op);
	n = evbuffer_get_length(b);
	CHECK_EQ_INT(n, cl_op_size(op));
	if (n <= cap)
		evbuffer_remove(b, out, n);
	evbuffer_free(b);
	return n;
}

static void
test_integers(void)
{
	uint8_t b[8];

	cl_put_u16(b, 0xBEEF);
	CHECK_EQ_INT(cl_get_u16(b), 0xBEEF);
	CHECK_EQ_INT(b[0], 0xBE);
	cl_put_u32(b, 0xDEADBEEFu);
	CHECK(cl_get_u32(b) == 0xDEADBEEFu);
	cl_put_u64(b, 0x0123456789ABCDEFull);
	CHECK(cl_get_u64(b) == 0x0123456789ABCDEFull);
	CHECK_EQ_INT(b[7], 0xEF);
}

static void
test_round_trip(void)
{
	struct st_repl_op op = { .kind = ST_REPL_WRITE, .trunc = true,
				 .path = "journal/00000000000000000007.seg", .off = 4096,
				 .data = "records", .len = 7 }, got;
	char path[ST_REPL_PATH_MAX + 1];
	uint8_t buf[256];
	size_t n = encode(&op, buf, sizeof(buf));

	CHECK_EQ_INT(cl_op_get(buf, n, &got, path), n);
	CHECK_EQ_INT(got.kind, ST_REPL_WRITE);
	CHECK(got.trunc);
	CHECK_STR(got.path, op.path);
	CHECK(got.off == 4096);
	CHECK_EQ_INT(got.len, 7);
	CHECK(memcmp(got.data, "records", 7) == 0);
	/* every shorter input is refused, never read past */
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, buf, cut);
		CHECK(cl_op_get(copy, cut, &got, path) < 0);
		free(copy);
	}
	/* an op without data (UNLINK) */
	op = (struct st_repl_op){ .kind = ST_REPL_UNLINK, .path = "definitions.json" };
	n = encode(&op, buf, sizeof(buf));
	CHECK_EQ_INT(cl_op_get(buf, n, &got, path), n);
	CHECK_EQ_INT(got.len, 0);
}

static void
test_hostile(void)
{
	const char *bad[] = { "/etc/passwd", "../x", "journal/../../x", "a//b", "a/", "",
			      "a/./b", "x\ny" };
	struct st_repl_op op = { .kind = ST_REPL_WRITE, .data = "z", .len = 1 }, got;
	char path[ST_REPL_PATH_MAX + 1];
	uint8_t buf[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;

		op.path = bad[i];
		n = encode(&op, buf, sizeof(buf));
		CHECK(cl_op_get(buf, n, &got, path) < 0);
	}
	/* a NUL inside the path */
	op.path = "ab";
	size_t n = encode(&op, buf, sizeof(buf));
	buf[16] = 'a';
	buf[17] = '\0';
	CHECK(cl_op_get(buf, n, &got, path) < 0);
	/* a data length past the end */
	op.path = "ok";
	n = encode(&op, buf, sizeof(buf));
	cl_put_u32(buf + 12, 0xFFFFFFFFu);
	CHECK(cl_op_get(buf, n, &got, path) < 0);
	/* a path length past the limit */
	cl_put_u16(buf + 2, ST_REPL_PATH_MAX + 1);
	CHECK(cl_op_get(buf, sizeof(buf), &got, path) < 0);
}

static void
test_mac(void)
{
	uint8_t nonce[CL_NONCE] = { 1, 2, 3 }, m1[CL_MAC], m2[CL_MAC], m3[CL_MAC];

	cl_mac("secret", nonce, "b", m1);
	cl_mac("secret", nonce, "b", m2);
	CHECK(memcmp(m1, m2, CL_MAC) == 0);
	cl_mac("other", nonce, "b", m3);
	CHECK(memcmp(m1, m3, CL_MAC) != 0);
	cl_mac("secret", nonce, "c", m3);
	CHECK(memcmp(m1, m3, CL_MAC) != 0);
	nonce[0] = 9;
	cl_mac("secret", nonce, "b", m3);
	CHECK(memcmp(m1, m3, CL_MAC) != 0);
}

int
main(void)
{
	RUN(test_integers);
	RUN(test_round_trip);
	RUN(test_hostile);
	RUN(test_mac);
	TEST_DONE();
}
