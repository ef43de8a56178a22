/*
 * test_frame.c: frame headers and the generic method codec: exact bytes
 * for a few methods (bit packing included), a round trip of every method
 * in amqp_spec.def, truncation and trailing garbage at every length, and
 * unknown ids.
 */
#include <errno.h>
#include <stdlib.h>

#include "testlib.h"
#include "amqp_codec.h"

/* A valid table: {"k": longstr "v", "n": signed 32 7} */
static const uint8_t small_table[] = {
	1, 'k', 'S', 0, 0, 0, 1, 'v',
	1, 'n', 'I', 0, 0, 0, 7,
};

/* Fill every argument of m (id set) with a value derived from seed. */
static void
fill(struct amqp_method *m, unsigned seed)
{
	const struct amqp_method_desc *d = amqp_method_desc_find(m->id);
	uint8_t *base = (uint8_t *)&m->u;
	static const char text[] = "abcdefghijklmnopqrstuvwxyz";

	for (unsigned i = 0; i < d->nfields; i++) {
		void *dst = base + d->fields[i].offset;
		unsigned v = seed + i;

		switch (d->fields[i].type) {
		case AMQP_F_OCTET:     *(uint8_t *)dst = (uint8_t)(0x80 + v); break;
		case AMQP_F_SHORT:     *(uint16_t *)dst = (uint16_t)(0x8100 + v); break;
		case AMQP_F_LONG:      *(uint32_t *)dst = 0x82000000u + v; break;
		case AMQP_F_LONGLONG:
		case AMQP_F_TIMESTAMP: *(uint64_t *)dst = 0x8300000000000000ull + v; break;
		case AMQP_F_BIT:       *(bool *)dst = (v * 7 + seed) % 3 != 0; break;
		case AMQP_F_SHORTSTR:
		case AMQP_F_LONGSTR:
			*(struct bk_str *)dst = (struct bk_str){ text, v % 20 };
			break;
		case AMQP_F_TABLE:
			*(struct bk_table *)dst = (struct bk_table){
				small_table, v % 2 ? sizeof(small_table) : 0 };
			break;
		}
	}
}

static int
encode(const struct amqp_method *m, uint8_t *buf, size_t cap)
{
	int n = amqp_method_frame_encode(buf, cap, 3, m);

	CHECK(n > 0);
	CHECK_EQ_INT(n, amqp_method_frame_size(m));
	return n;
}

static void
test_frame_header(void)
{
	uint8_t p[AMQP_FRAME_HDR_SIZE];
	struct amqp_frame_hdr h;
	static const uint8_t want[] = { 1, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef };

	amqp_frame_hdr_put(p, AMQP_FRAME_METHOD, 0x1234, 0xdeadbeef);
	CHECK(memcmp(p, want, sizeof(want)) == 0);
	amqp_frame_hdr_parse(p, &h);
	CHECK_EQ_INT(h.type, AMQP_FRAME_METHOD);
	CHECK_EQ_INT(h.channel, 0x1234);
	CHECK_EQ_INT(h.size, 0xdeadbeef);
}

static void
test_queue_declare_bytes(void)
{
	struct amqp_method m = { .id = AMQP_QUEUE_DECLARE }, d;
	struct amqp_queue_declare *q = &m.u.queue_declare;
	uint8_t buf[128];
	static const uint8_t want[] = {
		1, 0, 5, 0, 0, 0, 14,           /* method frame, channel 5 */
		0, 50, 0, 10,                   /* queue.declare */
		0, 0,                           /* reserved-1 */
		2, 'q', '1',
		0x1a,                           /* durable, auto-delete, nowait */
		0, 0, 0, 0,                     /* no arguments */
		0xce,
	};

	q->queue = BK_STR_LIT("q1");
	q->durable = q->auto_delete = q->nowait = true;
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(buf), 5, &m), sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(want) - 1, 5, &m), -ENOSPC);

	CHECK_EQ_INT(amqp_method_decode(want + 7, sizeof(want) - 8, &d), 1);
	CHECK_EQ_INT(d.id, AMQP_QUEUE_DECLARE);
	CHECK(d.u.queue_declare.queue.len == 2 && memcmp(d.u.queue_declare.queue.p, "q1", 2) == 0);
	CHECK(!d.u.queue_declare.passive && d.u.queue_declare.durable);
	CHECK(!d.u.queue_declare.exclusive && d.u.queue_declare.auto_delete);
	CHECK(d.u.queue_declare.nowait);
	CHECK_EQ_INT(d.u.queue_declare.arguments.len, 0);
}

/* The per-message methods have their own encoders and decoders: their
 * exact bytes, as the spec lays them out. */
static void
test_hot_method_bytes(void)
{
	static const uint8_t deliver[] = {
		1, 0, 2, 0, 0, 0, 21,           /* method frame, channel 2 */
		0, 60, 0, 60,                   /* basic.deliver */
		2, 'c', 't',                    /* consumer-tag */
		0, 0, 0, 0, 0, 0, 1, 0x2c,      /* delivery-tag 300 */
		1,                              /* redelivered */
		1, 'x',                         /* exchange */
		2, 'r', 'k',                    /* routing-key */
		0xce,
	};
	static const uint8_t ack[] = {
		1, 0, 2, 0, 0, 0, 13, 0, 60, 0, 80,
		0x80, 0, 0, 0, 0, 0, 0, 7,      /* delivery-tag */
		1,                              /* multiple */
		0xce,
	};
	/* reserved-1, exchange "x", routing-key "rk", mandatory */
	static const uint8_t publish[] = {
		0, 60, 0, 40, 0, 0, 1, 'x', 2, 'r', 'k', 0x01,
	};
	struct amqp_method m = { .id = AMQP_BASIC_DELIVER }, d;
	struct amqp_basic_deliver *dv = &m.u.basic_deliver;
	uint8_t buf[64];

	dv->consumer_tag = BK_STR_LIT("ct");
	dv->delivery_tag = 300;
	dv->redelivered = true;
	dv->exchange = BK_STR_LIT("x");
	dv->routing_key = BK_STR_LIT("rk");
	CHECK_EQ_INT(amqp_method_frame_size(&m), sizeof(deliver));
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(buf), 2, &m), sizeof(deliver));
	CHECK(memcmp(buf, deliver, sizeof(deliver)) == 0);
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(deliver) - 1, 2, &m), -ENOSPC);

	m = (struct amqp_method){ .id = AMQP_BASIC_ACK };
	m.u.basic_ack.delivery_tag = 0x8000000000000007ull;
	m.u.basic_ack.multiple = true;
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(buf), 2, &m), sizeof(ack));
	CHECK(memcmp(buf, ack, sizeof(ack)) == 0);
	CHECK_EQ_INT(amqp_method_decode(ack + 7, sizeof(ack) - 8, &d), 1);
	CHECK(d.id == AMQP_BASIC_ACK && d.u.basic_ack.multiple);
	CHECK(d.u.basic_ack.delivery_tag == 0x8000000000000007ull);

	CHECK_EQ_INT(amqp_method_decode(publish, sizeof(publish), &d), 1);
	CHECK_EQ_INT(d.id, AMQP_BASIC_PUBLISH);
	CHECK_EQ_INT(d.u.basic_publish.reserved_1, 0);
	CHECK(d.u.basic_publish.exchange.len == 1 && d.u.basic_publish.exchange.p[0] == 'x');
	CHECK(d.u.basic_publish.routing_key.len == 2 &&
	      memcmp(d.u.basic_publish.routing_key.p, "rk", 2) == 0);
	CHECK(d.u.basic_publish.mandatory && !d.u.basic_publish.immediate);

	/* a routing-key length running past the end */
	uint8_t bad[sizeof(publish)];
	memcpy(bad, publish, sizeof(publish));
	bad[8] = 3;
	CHECK_EQ_INT(amqp_method_decode(bad, sizeof(bad), &d), -EPROTO);
	/* a 256-octet consumer tag is not encodable */
	char big[256];
	memset(big, 'x', sizeof(big));
	m = (struct amqp_method){ .id = AMQP_BASIC_DELIVER };
	m.u.basic_deliver.consumer_tag = (struct bk_str){ big, 256 };
	CHECK(amqp_method_frame_size(&m) == SIZE_MAX);
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(buf), 2, &m), -EINVAL);
}

static void
test_basic_consume_bits(void)
{
	/* basic.consume: queue "q", tag "", no-ack + exclusive, one arg */
	static const uint8_t p[] = {
		0, 60, 0, 20, 0, 0, 1, 'q', 0, 0x06,
		0, 0, 0, 15,
		1, 'k', 'S', 0, 0, 0, 1, 'v', 1, 'n', 'I', 0, 0, 0, 7,
	};
	struct amqp_method m;
	struct amqp_basic_consume *c = &m.u.basic_consume;
	uint8_t buf[64];
	int n;

	CHECK_EQ_INT(amqp_method_decode(p, sizeof(p), &m), 1);
	CHECK_EQ_INT(m.id, AMQP_BASIC_CONSUME);
	CHECK(c->queue.len == 1 && c->queue.p[0] == 'q');
	CHECK_EQ_INT(c->consumer_tag.len, 0);
	CHECK(!c->no_local && c->no_ack && c->exclusive && !c->nowait);
	CHECK_EQ_INT(c->arguments.len, 15);
	n = amqp_method_frame_encode(buf, sizeof(buf), 1, &m);
	CHECK_EQ_INT(n, sizeof(p) + 8);
	CHECK(memcmp(buf + 7, p, sizeof(p)) == 0);

	/* the same with a broken table (a field value running past its end) */
	uint8_t bad[sizeof(p)];
	memcpy(bad, p, sizeof(p));
	bad[sizeof(p) - 5] = 0x7f;              /* 'I' -> unknown type */
	CHECK_EQ_INT(amqp_method_decode(bad, sizeof(bad), &m), -EPROTO);
}

static void
test_many_bits(void)
{
	/* access.request has five bits in one octet; exchange.declare five
	 * followed by a table; basic.nack two after a longlong. */
	struct amqp_method m = { .id = AMQP_BASIC_NACK }, d;
	uint8_t buf[64];
	int n;

	m.u.basic_nack.delivery_tag = 42;
	m.u.basic_nack.requeue = true;
	n = encode(&m, buf, sizeof(buf));
	CHECK_EQ_INT(n, 7 + 4 + 8 + 1 + 1);
	CHECK_EQ_INT(buf[7 + 4 + 8], 0x02);
	CHECK_EQ_INT(amqp_method_decode(buf + 7, (size_t)n - 8, &d), 1);
	CHECK(!d.u.basic_nack.multiple && d.u.basic_nack.requeue);
	CHECK_EQ_INT(d.u.basic_nack.delivery_tag, 42);
}

/* Every method: encode, decode, re-encode; prefixes and extensions fail. */
static void
test_every_method(void)
{
	for (unsigned i = 0; i < AMQP_METHOD_COUNT; i++) {
		const struct amqp_method_desc *desc = &amqp_method_descs[i];

		for (unsigned seed = 0; seed < 3; seed++) {
			struct amqp_method m, d;
			uint8_t a[256], b[256];
			int n, n2;

			memset(&m, 0, sizeof(m));
			m.id = desc->id;
			fill(&m, seed);
			n = encode(&m, a, sizeof(a));
			CHECK_EQ_INT(a[0], AMQP_FRAME_METHOD);
			CHECK_EQ_INT(a[n - 1], AMQP_FRAME_END);
			CHECK_EQ_INT(amqp_method_decode(a + 7, (size_t)n - 8, &d), 1);
			CHECK_EQ_INT(d.id, desc->id);
			n2 = encode(&d, b, sizeof(b));
			CHECK(n == n2 && memcmp(a, b, (size_t)n) == 0);

			for (size_t len = 0; len < (size_t)n - 8; len++) {
				/* a fresh heap copy so ASan sees any overread */
				uint8_t *p = malloc(len ? len : 1);

				memcpy(p, a + 7, len);
				CHECK_EQ_INT(amqp_method_decode(p, len, &d), -EPROTO);
				free(p);
			}
			a[n - 1] = 0;           /* one trailing octet */
			CHECK_EQ_INT(amqp_method_decode(a + 7, (size_t)n - 7, &d), -EPROTO);
		}
		CHECK(strchr(desc->name, '.') != NULL);
		CHECK_STR(amqp_method_name(desc->id), desc->name);
	}
}

static void
test_method_facts(void)
{
	CHECK_STR(amqp_method_name(AMQP_BASIC_PUBLISH), "basic.publish");
	CHECK_STR(amqp_method_name(AMQP_EXCHANGE_UNBIND_OK), "exchange.unbind-ok");
	CHECK_STR(amqp_method_name(AMQP_ID(60, 99)), "unknown");
	CHECK_EQ_INT(AMQP_EXCHANGE_UNBIND_OK, AMQP_ID(40, 51));
	CHECK_EQ_INT(AMQP_CONFIRM_SELECT, AMQP_ID(85, 10));
	CHECK(amqp_method_has_content(AMQP_BASIC_PUBLISH));
	CHECK(amqp_method_has_content(AMQP_BASIC_RETURN));
	CHECK(amqp_method_has_content(AMQP_BASIC_DELIVER));
	CHECK(amqp_method_has_content(AMQP_BASIC_GET_OK));
	CHECK(!amqp_method_has_content(AMQP_BASIC_GET));
	CHECK(!amqp_method_has_content(AMQP_ID(1, 1)));
	CHECK(amqp_method_is_client_to_server(AMQP_CONNECTION_START_OK));
	CHECK(amqp_method_is_client_to_server(AMQP_BASIC_ACK));
	CHECK(amqp_method_is_client_to_server(AMQP_CHANNEL_CLOSE));
	CHECK(!amqp_method_is_client_to_server(AMQP_CONNECTION_START));
	CHECK(!amqp_method_is_client_to_server(AMQP_BASIC_DELIVER));
	CHECK(!amqp_method_is_client_to_server(AMQP_QUEUE_DECLARE_OK));
	CHECK(!amqp_method_is_client_to_server(AMQP_ID(60, 99)));
}

static void
test_unknown_and_invalid(void)
{
	static const uint8_t unknown_class[] = { 0, 99, 0, 10 };
	static const uint8_t unknown_method[] = { 0, 60, 0, 99, 1, 2, 3 };
	static const uint8_t unbind_ok_41[] = { 0, 40, 0, 41 };
	static const uint8_t ack_bad_len[] = { 0, 60, 0, 80, 0, 0 };
	/* shortstr length octet past the end */
	static const uint8_t open_long[] = { 0, 10, 0, 40, 9, '/', 0, 0 };
	struct amqp_method m = { .id = AMQP_BASIC_CONSUME_OK };
	char big[256];
	uint8_t buf[512];

	CHECK_EQ_INT(amqp_method_decode(unknown_class, 4, &m), -ENOENT);
	CHECK_EQ_INT(amqp_method_decode(unknown_method, 7, &m), -ENOENT);
	CHECK_EQ_INT(amqp_method_decode(unbind_ok_41, 4, &m), -ENOENT);
	CHECK_EQ_INT(amqp_method_decode(ack_bad_len, 6, &m), -EPROTO);
	CHECK_EQ_INT(amqp_method_decode(open_long, 8, &m), -EPROTO);
	CHECK_EQ_INT(amqp_method_decode(unknown_class, 3, &m), -EPROTO);

	memset(big, 'x', sizeof(big));
	m.id = AMQP_BASIC_CONSUME_OK;
	m.u.basic_consume_ok.consumer_tag = (struct bk_str){ big, 256 };
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(buf), 1, &m), -EINVAL);
	m.u.basic_consume_ok.consumer_tag.len = 255;
	CHECK_EQ_INT(amqp_method_frame_encode(buf, sizeof(buf), 1, &m), 255 + 1 + 4 + 8);
}

int
main(void)
{
	RUN(test_frame_header);
	RUN(test_queue_declare_bytes);
	RUN(test_hot_method_bytes);
	RUN(test_basic_consume_bits);
	RUN(test_many_bits);
	RUN(test_every_method);
	RUN(test_method_facts);
	RUN(test_unknown_and_invalid);
	TEST_DONE();
}
