/*
 * Record codec: CRC-32C, encode/decode of every record type, the parser's
 * outcomes, and the scanner's rules: torn tail, a damaged payload skipped
 * by its length, resync over a damaged header, a record planted in a
 * message body never accepted, and many good records after damage all
 * found (the scan has no budget to run out); zeros (the unwritten rest
 * of a preallocated segment) as a clean end, a torn tail or a gap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../testlib.h"
#include "jnl_int.h"

#define KEY 0x5EC2E7u

uint32_t st_crc32c_sw(uint32_t crc, const void *buf, size_t n);

static void
test_crc(void)
{
	uint8_t buf[1000];

	CHECK_EQ_INT(st_crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(st_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(st_crc32c(st_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n < sizeof(buf); n += 37)
		CHECK_EQ_INT(st_crc32c(0, buf + 3, n - (n ? 3 : 0)), st_crc32c_sw(0, buf + 3, n - (n ? 3 : 0)));
}

static size_t
make_msg_key(uint8_t *out, uint64_t id, uint32_t key)
{
	struct st_msg_queue q[2] = { { 7, 0 }, { 9, 3 } };
	struct st_msg m = {
		.id = id, .published_ms = 1700000000000ull, .expires_ms = -5, .flags = 1,
		.exchange = "amq.topic", .exchange_len = 9,
		.routing_key = "a.b.c", .routing_key_len = 5,
		.props = "\x01\x02", .props_len = 2,
		.body = "hello body", .body_len = 10,
		.queues = q, .nqueues = 2,
	};
	size_t n = jnl_msg_size(&m);

	jnl_encode_msg(out, &m, key);
	return n;
}

static size_t
make_msg(uint8_t *out, uint64_t id)
{
	return make_msg_key(out, id, KEY);
}

static void
test_msg_roundtrip(void)
{
	uint8_t buf[256];
	size_t n = make_msg(buf, 42);
	struct jnl_msg_view v;
	struct st_msg_queue q;
	struct jnl_rec r;

	CHECK_EQ_INT(n, JNL_REC_HDR + JNL_MSG_FIXED + 2 * JNL_MSG_QSIZE + 9 + 5 + 2 + 10);
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), 1);
	CHECK_EQ_INT(r.type, JNL_T_MSG);
	CHECK_EQ_INT(jnl_decode_msg(&r, &v), 0);
	CHECK_EQ_INT(v.m.id, 42);
	CHECK_EQ_INT(v.m.expires_ms, -5);
	CHECK_EQ_INT(v.m.nqueues, 2);
	jnl_msg_queue_at(&v, 1, &q);
	CHECK_EQ_INT(q.queue_id, 9);
	CHECK_EQ_INT(q.delivery_count, 3);
	CHECK(memcmp(v.m.routing_key, "a.b.c", 5) == 0);
	CHECK(memcmp(v.m.body, "hello body", 10) == 0);
	/* body is the record's last bytes */
	CHECK((const uint8_t *)v.m.body + 10 == buf + n);
	/* parse outcomes */
	CHECK_EQ_INT(jnl_rec_parse(buf, n - 1, KEY, &r), 0);
	CHECK_EQ_INT(jnl_rec_parse(buf, 5, KEY, &r), 0);
	buf[n - 1] ^= 1;
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), -EBADMSG);
	buf[n - 1] ^= 1;
	buf[8] = 99;
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), -EPROTO);
	buf[8] = JNL_T_MSG;
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), 1);
	/* another segment's key: no header here at all */
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY + 1, &r), -EPROTO);
	CHECK_EQ_INT(jnl_rec_parse(buf, n, 0, &r), -EPROTO);
}

static void
test_refs_kv(void)
{
	uint8_t buf[128];
	struct jnl_ref in = { 5, 6, 7 }, out;
	struct jnl_kv_view kv;
	struct jnl_rec r;
	size_t n;

	n = jnl_encode_ref(buf, JNL_T_COUNT, &in, KEY);
	CHECK_EQ_INT(n, JNL_REC_HDR + 20);
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), 1);
	CHECK_EQ_INT(jnl_decode_ref(&r, &out), 0);
	CHECK(out.queue_id == 5 && out.msg_id == 6 && out.count == 7);
	n = jnl_encode_ref(buf, JNL_T_QDROP, &in, KEY);
	CHECK_EQ_INT(n, JNL_REC_HDR + 8);
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), 1);
	CHECK_EQ_INT(jnl_decode_ref(&r, &out), 0);
	CHECK(out.queue_id == 5 && out.msg_id == 0);

	jnl_encode_kv(buf, 3, "key", 3, "value", 5, false, KEY);
	n = jnl_kv_size(3, 5);
	CHECK_EQ_INT(jnl_rec_parse(buf, n, KEY, &r), 1);
	CHECK_EQ_INT(jnl_decode_kv(&r, &kv), 0);
	CHECK(kv.ns == 3 && kv.key_len == 3 && kv.val_len == 5 && memcmp(kv.val, "value", 5) == 0);
	jnl_encode_kv(buf, 3, "key", 3, NULL, 0, true, KEY);
	CHECK_EQ_INT(jnl_rec_parse(buf, jnl_kv_size(3, 0), KEY, &r), 1);
	CHECK_EQ_INT(r.type, JNL_T_KVDEL);
	CHECK_EQ_INT(jnl_kv_size(70000, 0), 0);
}

static void
test_header(void)
{
	uint8_t h[JNL_SEG_HDR];
	uint64_t no = 0;
	uint32_t key = 0;

	jnl_seg_header_encode(h, 17, KEY);
	CHECK_EQ_INT(jnl_seg_header_check(h, sizeof(h), &no, &key), 0);
	CHECK_EQ_INT(no, 17);
	CHECK_EQ_INT(key, KEY);
	CHECK_EQ_INT(jnl_seg_header_check(h, 31, &no, &key), -EPROTO);
	h[24] ^= 1;                     /* the key is covered by the header CRC */
	CHECK_EQ_INT(jnl_seg_header_check(h, sizeof(h), &no, &key), -EPROTO);
	h[24] ^= 1;
	h[8] = 1;                       /* format 1: 9-octet records, no key */
	CHECK_EQ_INT(jnl_seg_header_check(h, sizeof(h), &no, &key), -EPROTONOSUPPORT);
	h[8] = 2;
	h[0] = 'X';
	CHECK_EQ_INT(jnl_seg_header_check(h, sizeof(h), &no, &key), -EPROTO);
	CHECK(jnl_seg_key_new() != 0);
	CHECK(jnl_seg_key_new() != jnl_seg_key_new() || jnl_seg_key_new() != jnl_seg_key_new());
}

struct seen {
	size_t off[16];
	int n;
};

static int
collect(void *arg, size_t off, const struct jnl_rec *r)
{
	struct seen *s = arg;

	if (s->n < 16)
		s->off[s->n] = off;
	s->n++;
	return 0;
}

static void
test_scan(void)
{
	uint8_t buf[1024];
	size_t a, b, c;
	struct jnl_scan_res res;
	struct seen s = { 0 };

	a = make_msg(buf, 1);
	b = make_msg(buf + a, 2);
	c = make_msg(buf + a + b, 3);

	CHECK_EQ_INT(jnl_scan(buf, a + b + c, KEY, collect, &s, &res), 0);
	CHECK_EQ_INT(s.n, 3);
	CHECK(!res.torn && res.bad_regions == 0 && res.valid_end == a + b + c);

	/* torn tail: the third record cut short */
	memset(&s, 0, sizeof(s));
	jnl_scan(buf, a + b + c - 4, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK(res.torn);
	CHECK_EQ_INT(res.valid_end, a + b);

	/* damaged payload of the middle record, header intact: that record
	 * is skipped by its length, the third found right after it */
	memset(&s, 0, sizeof(s));
	buf[a + 20] ^= 0xff;
	jnl_scan(buf, a + b + c, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_INT(s.off[1], a + b);
	CHECK_EQ_INT(res.bad_records, 1);
	CHECK_EQ_INT(res.bad_regions, 0);
	CHECK_EQ_INT(res.first_bad, a);
	CHECK_EQ_INT(res.skipped, b);
	CHECK(!res.torn);
	buf[a + 20] ^= 0xff;

	/* damaged header of the middle record: resync finds the third */
	memset(&s, 0, sizeof(s));
	buf[a + 1] ^= 0x10;
	jnl_scan(buf, a + b + c, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_INT(s.off[1], a + b);
	CHECK_EQ_INT(res.bad_regions, 1);
	CHECK_EQ_INT(res.first_bad, a);
	CHECK(!res.torn);

	/* the last record's payload damaged: a torn tail, nothing follows */
	buf[a + 1] ^= 0x10;
	memset(&s, 0, sizeof(s));
	buf[a + b + c - 1] ^= 1;
	jnl_scan(buf, a + b + c, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK(res.torn && res.valid_end == a + b);
	CHECK_EQ_INT(res.bad_records, 0);

	/* garbage only */
	memset(&s, 0, sizeof(s));
	memset(buf, 0xab, sizeof(buf));
	jnl_scan(buf, sizeof(buf), KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 0);
	CHECK(res.torn);
	/* zeros (a preallocated segment never written): a clean end, no
	 * damage and nothing torn */
	memset(buf, 0, sizeof(buf));
	jnl_scan(buf, sizeof(buf), KEY, collect, &s, &res);
	CHECK(res.zero_tail && !res.torn && res.valid_end == 0);
	CHECK_EQ_INT(res.bad_records + res.bad_regions, 0);
}

/*
 * The unwritten rest of a preallocated segment reads as zeros: records
 * then zeros end cleanly (zero_tail, no damage, nothing torn); a record
 * whose payload does not check and after which only zeros follow was cut
 * short (torn at its start, not counted as damage); zeros that stop at
 * garbage with no record after them are a torn tail; and a damaged
 * header followed by a long run of zeros and then records is one bad
 * region with every record after it found, the first of them one whose
 * leading octets are zero.
 */
static void
test_scan_zeros(void)
{
	const size_t zrun = (8u << 20) + 3;     /* 8 MiB, not a multiple of 8 */
	size_t cap = zrun + (1u << 18), a, b, c, n, kv_off, last_off;
	uint8_t *buf = calloc(1, cap), *val;
	struct jnl_scan_res res;
	struct seen s = { 0 };
	struct jnl_rec r;

	/* records then a zero tail */
	a = make_msg(buf, 1);
	b = make_msg(buf + a, 2);
	c = make_msg(buf + a + b, 3);
	jnl_scan(buf, a + b + c + 4096, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 3);
	CHECK(res.zero_tail);
	CHECK(!res.torn);
	CHECK_EQ_INT(res.valid_end, a + b + c);
	CHECK_EQ_INT(res.records, 3);
	CHECK_EQ_INT(res.bad_records, 0);
	CHECK_EQ_INT(res.bad_regions, 0);
	CHECK_EQ_INT(res.skipped, 0);
	/* a single zero octet after the records is a zero tail too */
	memset(&s, 0, sizeof(s));
	jnl_scan(buf, a + b + c + 1, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 3);
	CHECK(res.zero_tail && !res.torn && res.valid_end == a + b + c);

	/* the third record's payload damaged, only zeros after it: torn at
	 * its start, no damage counted, no zero tail */
	memset(&s, 0, sizeof(s));
	buf[a + b + c - 1] ^= 0x40;
	jnl_scan(buf, a + b + c + 4096, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK(res.torn);
	CHECK(!res.zero_tail);
	CHECK_EQ_INT(res.valid_end, a + b);
	CHECK_EQ_INT(res.bad_records, 0);
	CHECK_EQ_INT(res.bad_regions, 0);
	buf[a + b + c - 1] ^= 0x40;
	/* as a crash leaves it: the header written, the payload's second half
	 * still zeros, then the unwritten rest */
	memset(&s, 0, sizeof(s));
	memset(buf + a + b + JNL_REC_HDR + (c - JNL_REC_HDR) / 2, 0, (c - JNL_REC_HDR) / 2 + 1);
	CHECK_EQ_INT(jnl_rec_parse(buf + a + b, c, KEY, &r), -EBADMSG);
	jnl_scan(buf, a + b + c + 4096, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK(res.torn && !res.zero_tail);
	CHECK_EQ_INT(res.valid_end, a + b);
	CHECK_EQ_INT(res.bad_records + res.bad_regions, 0);
	/* ...but with a good record after the zeros, it is a damaged record */
	memset(&s, 0, sizeof(s));
	make_msg(buf + a + b + c + 4096, 4);
	jnl_scan(buf, a + b + c + 4096 + c, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 3);
	CHECK_EQ_INT(s.off[2], a + b + c + 4096);
	CHECK(!res.torn && !res.zero_tail);
	CHECK_EQ_INT(res.bad_records, 1);
	CHECK_EQ_INT(res.first_bad, a + b);
	CHECK_EQ_INT(res.valid_end, a + b + c + 4096 + c);

	/* zeros, then garbage with no record after it: torn */
	memset(buf, 0, cap);
	a = make_msg(buf, 1);
	memset(buf + a + 4096, 0xab, 100);
	memset(&s, 0, sizeof(s));
	jnl_scan(buf, a + 4096 + 100, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 1);
	CHECK(res.torn);
	CHECK(!res.zero_tail);
	CHECK_EQ_INT(res.valid_end, a);
	CHECK_EQ_INT(res.bad_regions, 0);
	/* garbage then zeros to the end: torn as well, not a zero tail */
	memset(buf + a + 4096, 0, 100);
	memset(buf + a, 0xab, 100);
	memset(&s, 0, sizeof(s));
	jnl_scan(buf, a + 4096 + 100, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 1);
	CHECK(res.torn && !res.zero_tail);
	CHECK_EQ_INT(res.valid_end, a);

	/* a damaged header, 8 MiB of zeros, then records: one bad region,
	 * every record after it found. The first one after the zeros is a
	 * key/value whose payload is 65536 octets long, so its header starts
	 * with two zero octets. */
	memset(buf, 0, cap);
	a = make_msg(buf, 1);
	b = make_msg(buf + a, 2);
	buf[a + 2] ^= 0x21;                     /* b's length: no header */
	kv_off = a + b + zrun;
	val = malloc(65536);
	memset(val, 0x5a, 65536);
	n = jnl_kv_size(1, 65536 - 4 - 1);
	CHECK_EQ_INT(n, JNL_REC_HDR + 65536);
	jnl_encode_kv(buf + kv_off, 1, "k", 1, val, 65536 - 4 - 1, false, KEY);
	CHECK(buf[kv_off] == 0 && buf[kv_off + 1] == 0);
	last_off = kv_off + n;
	n = last_off + make_msg(buf + last_off, 3);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(jnl_scan(buf, n, KEY, collect, &s, &res), 0);
	CHECK_EQ_INT(s.n, 3);
	CHECK_EQ_INT(s.off[0], 0);
	CHECK_EQ_INT(s.off[1], kv_off);
	CHECK_EQ_INT(s.off[2], last_off);
	CHECK_EQ_INT(res.bad_regions, 1);
	CHECK_EQ_INT(res.bad_records, 0);
	CHECK_EQ_INT(res.first_bad, a);
	CHECK_EQ_INT(res.skipped, kv_off - a);
	CHECK(!res.torn && !res.zero_tail);
	CHECK_EQ_INT(res.valid_end, n);
	/* the same with a zero tail after the last record */
	memset(&s, 0, sizeof(s));
	jnl_scan(buf, n + 1000, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 3);
	CHECK_EQ_INT(res.bad_regions, 1);
	CHECK(res.zero_tail && !res.torn);
	CHECK_EQ_INT(res.valid_end, n);
	/* zeros straight after a good record, then records: a gap no record
	 * covers is damage (one region), the records after it are found */
	buf[a + 2] ^= 0x21;
	memset(buf + a, 0, b);
	memset(&s, 0, sizeof(s));
	jnl_scan(buf, n, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 3);
	CHECK_EQ_INT(s.off[1], kv_off);
	CHECK_EQ_INT(res.bad_regions, 1);
	CHECK_EQ_INT(res.first_bad, a);
	CHECK(!res.torn && !res.zero_tail);
	free(val);
	free(buf);
}

/*
 * A client chooses message bodies: one may hold bytes laid out as a
 * record. Planted records made without the segment's key (the client
 * cannot know it: plain CRCs, key 0, a guess) are never read as records,
 * even when the scan resynchronises through that body after damage
 * before it.
 */
static void
test_planted_record_in_body(void)
{
	static uint8_t buf[8192], body[2048];
	struct st_msg_queue q = { 7, 0 };
	struct st_msg m = { .id = 2, .exchange = "", .routing_key = "q", .routing_key_len = 1,
			    .queues = &q, .nqueues = 1 };
	struct jnl_ref ack = { 7, 1, 0 };
	struct jnl_scan_res res;
	struct seen s = { 0 };
	size_t a, b, c, bl = 0;
	uint32_t guesses[] = { 0, 1, KEY ^ 1, 0xffffffffu };

	/* the body: planted MSG, ACK and KV records under several wrong keys */
	for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
		bl += make_msg_key(body + bl, 99, guesses[i]);
		bl += jnl_encode_ref(body + bl, JNL_T_ACK, &ack, guesses[i]);
		jnl_encode_kv(body + bl, 1, "user", 4, "admin", 5, false, guesses[i]);
		bl += jnl_kv_size(4, 5);
	}
	m.body = body;
	m.body_len = (uint32_t)bl;
	a = make_msg(buf, 1);
	jnl_encode_msg(buf + a, &m, KEY);
	b = jnl_msg_size(&m);
	c = make_msg(buf + a + b, 3);
	/* damage the carrier's header: the scan must walk through its body */
	buf[a] ^= 0x01;
	jnl_scan(buf, a + b + c, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_INT(s.off[0], 0);
	CHECK_EQ_INT(s.off[1], a + b);
	CHECK_EQ_INT(res.bad_regions, 1);
	CHECK_EQ_INT(res.skipped, b);
}

/* Damage followed by many good records: every one of them is found, and
 * nothing is called torn. */
static void
test_many_records_after_damage(void)
{
	size_t cap = (1u << 20) + 20000 * 200, n = 0, first, i;
	uint8_t *buf = malloc(cap);
	struct jnl_scan_res res;
	struct seen s = { 0 };

	/* a long run of bytes that looks like headers of big records */
	for (i = 0; i < 1u << 20; i += 16, n += 16) {
		st32(buf + n, 1u << 20);
		st32(buf + n + 4, 0);
		buf[n + 8] = JNL_T_KV;
		st32(buf + n + 9, 0);
		memset(buf + n + 13, 0, 3);
	}
	first = n;
	for (i = 0; i < 20000 && n + 200 < cap; i++)
		n += make_msg(buf + n, 100 + i);
	jnl_scan(buf, n, KEY, collect, &s, &res);
	CHECK_EQ_INT(s.n, 20000);
	CHECK_EQ_INT(s.off[0], first);
	CHECK(!res.torn);
	CHECK_EQ_INT(res.valid_end, n);
	CHECK_EQ_INT(res.bad_regions, 1);
	free(buf);
}

int
main(void)
{
	RUN(test_crc);
	RUN(test_msg_roundtrip);
	RUN(test_refs_kv);
	RUN(test_header);
	RUN(test_scan);
	RUN(test_scan_zeros);
	RUN(test_planted_record_in_body);
	RUN(test_many_records_after_damage);
	TEST_DONE();
}
