/*
 * test_props.c: content header frames: all 14 basic properties and none,
 * exact flag bits, over-long short strings left out on encode, and
 * malformed headers (truncation, weight, extra flag words, bad headers
 * table, trailing octets).
 */
#include <errno.h>
#include <stdlib.h>

#include "testlib.h"
#include "amqp_codec.h"

static const uint8_t hdr_table[] = { 1, 'h', 't', 1 };

static bool
str_is(struct bk_str s, const char *c)
{
	return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

static void
fill_all(struct bk_props *p)
{
	memset(p, 0, sizeof(*p));
	p->present = (1u << 14) - 1;
	p->content_type = BK_STR_LIT("text/plain");
	p->content_encoding = BK_STR_LIT("gzip");
	p->headers = (struct bk_table){ hdr_table, sizeof(hdr_table) };
	p->delivery_mode = 2;
	p->priority = 9;
	p->correlation_id = BK_STR_LIT("corr");
	p->reply_to = BK_STR_LIT("amq.rabbitmq.reply-to");
	p->expiration = BK_STR_LIT("60000");
	p->message_id = BK_STR_LIT("m-1");
	p->timestamp = 1700000000;
	p->type = BK_STR_LIT("t");
	p->user_id = BK_STR_LIT("guest");
	p->app_id = BK_STR_LIT("app");
	p->cluster_id = BK_STR_LIT("c");
}

static void
test_all_props(void)
{
	struct bk_props in, out;
	uint8_t buf[256], *payload;
	uint16_t class_id;
	uint64_t body;
	int n;

	fill_all(&in);
	n = amqp_content_header_frame_encode(buf, sizeof(buf), 7, 0, &in);
	CHECK(n > 0);
	CHECK_EQ_INT(n, amqp_content_header_frame_size(&in));
	CHECK_EQ_INT(buf[0], AMQP_FRAME_HEADER);
	CHECK(buf[1] == 0 && buf[2] == 7);
	CHECK_EQ_INT(buf[n - 1], AMQP_FRAME_END);
	CHECK(buf[7 + 12] == 0xff && buf[7 + 13] == 0xfc);     /* flags */
	CHECK_EQ_INT(amqp_content_header_frame_encode(buf, (size_t)n - 1, 7, 0, &in), -ENOSPC);

	payload = buf + 7;
	CHECK_EQ_INT(amqp_content_header_decode(payload, (size_t)n - 8, &class_id,
						&body, &out), 1);
	CHECK_EQ_INT(class_id, 60);
	CHECK_EQ_INT(body, 0);
	CHECK_EQ_INT(out.present, in.present);
	CHECK(str_is(out.content_type, "text/plain"));
	CHECK(str_is(out.content_encoding, "gzip"));
	CHECK(out.headers.len == sizeof(hdr_table) &&
	      memcmp(out.headers.p, hdr_table, sizeof(hdr_table)) == 0);
	CHECK_EQ_INT(out.delivery_mode, 2);
	CHECK_EQ_INT(out.priority, 9);
	CHECK(str_is(out.correlation_id, "corr"));
	CHECK(str_is(out.reply_to, "amq.rabbitmq.reply-to"));
	CHECK(str_is(out.expiration, "60000"));
	CHECK(str_is(out.message_id, "m-1"));
	CHECK_EQ_INT(out.timestamp, 1700000000);
	CHECK(str_is(out.type, "t"));
	CHECK(str_is(out.user_id, "guest"));
	CHECK(str_is(out.app_id, "app"));
	CHECK(str_is(out.cluster_id, "c"));

	/* every prefix fails, and so does one octet more */
	for (size_t len = 0; len < (size_t)n - 8; len++) {
		uint8_t *c = malloc(len ? len : 1);

		memcpy(c, payload, len);
		CHECK_EQ_INT(amqp_content_header_decode(c, len, &class_id, &body, &out),
			     -EPROTO);
		free(c);
	}
	CHECK_EQ_INT(amqp_content_header_decode(payload, (size_t)n - 7, &class_id,
						&body, &out), -EPROTO);
}

static void
test_no_props(void)
{
	struct bk_props in = { 0 }, out;
	uint8_t buf[64];
	uint16_t class_id;
	uint64_t body;
	static const uint8_t want[] = {
		2, 0, 1, 0, 0, 0, 14,
		0, 60, 0, 0,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0, 0,
		0xce,
	};

	CHECK_EQ_INT(amqp_content_header_frame_encode(buf, sizeof(buf), 1,
						      0x0102030405060708ull, &in),
		     sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);
	CHECK_EQ_INT(amqp_content_header_frame_size(&in), sizeof(want));
	CHECK_EQ_INT(amqp_content_header_decode(want + 7, 14, &class_id, &body, &out), 1);
	CHECK_EQ_INT(body, 0x0102030405060708ull);
	CHECK_EQ_INT(out.present, 0);
}

static void
test_some_props(void)
{
	/* delivery-mode and headers only: flags 0x3000 */
	struct bk_props in = { 0 }, out;
	uint8_t buf[64];
	uint16_t class_id;
	uint64_t body;
	int n;

	in.present = BK_P_HEADERS | BK_P_DELIVERY_MODE;
	in.headers = (struct bk_table){ hdr_table, sizeof(hdr_table) };
	in.delivery_mode = 1;
	in.content_type = BK_STR_LIT("ignored: not present");
	n = amqp_content_header_frame_encode(buf, sizeof(buf), 1, 5, &in);
	CHECK_EQ_INT(n, 8 + 14 + 4 + 4 + 1);
	CHECK(buf[19] == 0x30 && buf[20] == 0x00);
	CHECK_EQ_INT(amqp_content_header_decode(buf + 7, (size_t)n - 8, &class_id,
						&body, &out), 1);
	CHECK_EQ_INT(out.present, in.present);
	CHECK_EQ_INT(out.content_type.len, 0);
	CHECK_EQ_INT(body, 5);
}

static void
test_long_shortstr_left_out(void)
{
	char big[300];
	struct bk_props in = { 0 }, out;
	uint8_t buf[512];
	uint16_t class_id;
	uint64_t body;
	int n;

	memset(big, 'c', sizeof(big));
	in.present = BK_P_CORRELATION_ID | BK_P_PRIORITY;
	in.correlation_id = (struct bk_str){ big, sizeof(big) };
	in.priority = 3;
	n = amqp_content_header_frame_encode(buf, sizeof(buf), 1, 0, &in);
	CHECK_EQ_INT(n, amqp_content_header_frame_size(&in));
	CHECK_EQ_INT(amqp_content_header_decode(buf + 7, (size_t)n - 8, &class_id,
						&body, &out), 1);
	CHECK_EQ_INT(out.present, BK_P_PRIORITY);
	CHECK_EQ_INT(out.priority, 3);
}

static void
test_malformed(void)
{
	struct bk_props out;
	uint16_t class_id;
	uint64_t body;
	static const uint8_t weight[] = { 0, 60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t more[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 };
	static const uint8_t bit1[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
	static const uint8_t sstr_past[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					     0x80, 0, 5, 'a' };
	static const uint8_t bad_table[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					     0x20, 0, 0, 0, 0, 3, 1, 'k', '?' };
	static const uint8_t table_past[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					      0x20, 0, 0xff, 0xff, 0xff, 0xff };

	CHECK_EQ_INT(amqp_content_header_decode(weight, sizeof(weight), &class_id,
						&body, &out), -EPROTO);
	CHECK_EQ_INT(amqp_content_header_decode(more, sizeof(more), &class_id,
						&body, &out), -EPROTO);
	CHECK_EQ_INT(amqp_content_header_decode(bit1, sizeof(bit1), &class_id,
						&body, &out), -EPROTO);
	CHECK_EQ_INT(amqp_content_header_decode(sstr_past, sizeof(sstr_past), &class_id,
						&body, &out), -EPROTO);
	CHECK_EQ_INT(amqp_content_header_decode(bad_table, sizeof(bad_table), &class_id,
						&body, &out), -EPROTO);
	CHECK_EQ_INT(amqp_content_header_decode(table_past, sizeof(table_past), &class_id,
						&body, &out), -EPROTO);
}

int
main(void)
{
	RUN(test_all_props);
	RUN(test_no_props);
	RUN(test_some_props);
	RUN(test_long_shortstr_left_out);
	RUN(test_malformed);
	TEST_DONE();
}
