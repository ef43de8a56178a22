/*
 * test_malformed.c: what decode refuses, and with which code: every valid
 * packet truncated at every length (the fixed header rewritten to match,
 * so the body really is short), CONNECT flag rules, PUBLISH topic and
 * packet id rules, SUBSCRIBE option bits, reason codes, trailing bytes.
 */
#include "mqtt_test.h"

/*
 * Cut the body of a valid packet (2-byte fixed header) to every shorter
 * length and fix the remaining length: each must fail, never crash. A
 * few bodies are valid when cut (optional v5 tails): allowed lists them.
 */
static void
truncate_all(uint8_t lv, const uint8_t *p, size_t n, uint32_t allowed_mask)
{
	CHECK_EQ_INT(dec_rc(lv, p, n), 1);
	for (size_t body = 0; body + 2 < n; body++) {
		uint8_t buf[256];
		int r;

		buf[0] = p[0];
		buf[1] = (uint8_t)body;
		memcpy(buf + 2, p + 2, body);
		r = dec_rc(lv, buf, body + 2);
		if (body < 32 && (allowed_mask & (1u << body)))
			continue;
		CHECK(r < 0);
		if (r >= 0)
			fprintf(stderr, "  accepted a body cut to %zu\n", body);
	}
}

static void
test_truncation(void)
{
	struct mqtt_packet p;
	uint8_t buf[256];
	int n;

	/* v5 CONNECT with will and properties */
	p = (struct mqtt_packet){ .type = MQTT_CONNECT };
	p.u.connect.will = true;
	p.u.connect.will_topic = S("w");
	p.u.connect.will_payload = S("x");
	p.u.connect.has_username = p.u.connect.has_password = true;
	p.u.connect.username = S("u");
	p.u.connect.password = S("p");
	p.u.connect.client_id = S("c");
	p.u.connect.props.present = MQTT_PBIT(MQTT_PROP_RECEIVE_MAX);
	p.u.connect.props.receive_max = 5;
	p.u.connect.will_props.present = MQTT_PBIT(MQTT_PROP_CONTENT_TYPE);
	p.u.connect.will_props.content_type = S("t");
	n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V5, &p);
	truncate_all(MQTT_V5, buf, (size_t)n, 0);
	n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V311, &p);
	truncate_all(MQTT_V311, buf, (size_t)n, 0);

	/* v5 PUBLISH QoS 1 with properties: body = topic(3) id(2) props(5), no payload */
	p = (struct mqtt_packet){ .type = MQTT_PUBLISH };
	p.u.publish.qos = 1;
	p.u.publish.packet_id = 3;
	p.u.publish.topic = S("a");
	p.u.publish.props.present = MQTT_PBIT(MQTT_PROP_MESSAGE_EXPIRY);
	p.u.publish.props.message_expiry = 9;
	n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V5, &p);
	truncate_all(MQTT_V5, buf, (size_t)n, 0);
	/* 3.1.1 PUBLISH: any cut after the packet id is a shorter payload */
	p.u.publish.payload = (const uint8_t *)"xyz";
	p.u.publish.payload_len = 3;
	n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V311, &p);
	truncate_all(MQTT_V311, buf, (size_t)n, 1u << 5 | 1u << 6 | 1u << 7);

	/* v5 PUBACK with code and reason string: cut to id, or id + code, is valid */
	p = (struct mqtt_packet){ .type = MQTT_PUBACK };
	p.u.ack.packet_id = 4;
	p.u.ack.code = MQTT_RC_QUOTA_EXCEEDED;
	p.u.ack.props.present = MQTT_PBIT(MQTT_PROP_REASON_STRING);
	p.u.ack.props.reason_string = S("q");
	n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V5, &p);
	truncate_all(MQTT_V5, buf, (size_t)n, 1u << 2 | 1u << 3);

	/* v5 DISCONNECT with code + props: empty and code-only bodies are valid */
	p = (struct mqtt_packet){ .type = MQTT_DISCONNECT };
	p.u.reason.code = MQTT_RC_SERVER_MOVED;
	p.u.reason.props.present = MQTT_PBIT(MQTT_PROP_SERVER_REFERENCE);
	p.u.reason.props.server_reference = S("h");
	n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V5, &p);
	truncate_all(MQTT_V5, buf, (size_t)n, 1u << 0 | 1u << 1);

	/* SUBSCRIBE two entries (a body cut after the first entry is valid) */
	{
		struct mqtt_sub_entry e[2] = { { .filter = S("a"), .qos = 1 },
					       { .filter = S("b/#"), .qos = 2 } };

		p = (struct mqtt_packet){ .type = MQTT_SUBSCRIBE };
		p.u.subscribe.packet_id = 1;
		p.u.subscribe.entries = e;
		p.u.subscribe.count = 2;
		n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V311, &p);
		truncate_all(MQTT_V311, buf, (size_t)n, 1u << 6);
		n = mqtt_packet_encode(buf, sizeof(buf), MQTT_V5, &p);
		truncate_all(MQTT_V5, buf, (size_t)n, 1u << 7);
	}
}

#define CONNECT311(flags, ...) \
	BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 10, 0, 1, 'c', __VA_ARGS__)

/* Fix the remaining length of a hand-built packet and decode it. */
static int
fixed_rc(uint8_t lv, const uint8_t *p, size_t n)
{
	uint8_t buf[256];

	memcpy(buf, p, n);
	buf[1] = (uint8_t)(n - 2);
	return dec_rc(lv, buf, n);
}

static void
test_connect(void)
{
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 1, 'c')), 1);
	/* reserved flag [MQTT-3.1.2-3] */
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x03, 0, 10, 0, 1, 'c')),
		     -EPROTO);
	/* will QoS without will flag, will retain without will, will QoS 3 */
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x08, 0, 10, 0, 1, 'c')),
		     -EPROTO);
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x20, 0, 10, 0, 1, 'c')),
		     -EPROTO);
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0x1C, 0, 1, 't', 0, 0)), -EPROTO);
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0x14, 0, 1, 't', 0, 0)), 1);
	/* will flag set but no will fields */
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x04, 0, 10, 0, 1, 'c')),
		     -EPROTO);
	/* password flag without user name [MQTT-3.1.2-22] */
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0x40, 0, 1, 'p')), -EPROTO);
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0xC0, 0, 1, 'u', 0, 1, 'p')), 1);
	/* trailing bytes after the password */
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0xC0, 0, 1, 'u', 0, 1, 'p', 0)), -EPROTO);
	/* user name with bad UTF-8, or a control character */
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0x80, 0, 1, 0xFE)), -EILSEQ);
	CHECK_EQ_INT(fixed_rc(4, CONNECT311(0x80, 0, 1, 0x01)), -EILSEQ);
	/* fixed-header flags and the reserved flag: refused from 3.1.1 on,
	 * let through for 3.1, which did not reserve them */
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x14, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 1, 'c')),
		     -EPROTO);
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x14, 0, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x03, 0, 10,
				       0, 1, 'c')), 1);
	/* client id with NUL */
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 10, 0, 1, 0)),
		     -EILSEQ);
	/* protocol names and levels */
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 10, 0, 1, 'c')),
		     -ENOTSUP);
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 3, 2, 0, 10, 0, 1, 'c')),
		     -ENOTSUP);
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 4, 2, 0, 10,
				       0, 1, 'c')), -ENOTSUP);
	CHECK_EQ_INT(fixed_rc(4, BYTES(0x10, 0, 0, 4, 'M', 'Q', 'T', 't', 4, 2, 0, 10, 0, 1, 'c')),
		     -EPROTO);
	{
		static const uint8_t p[] = { 0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 7, 2, 0, 10, 0, 1, 'c' };
		struct mqtt_packet pkt;

		CHECK_EQ_INT(mqtt_packet_decode(p, sizeof(p), 0, &pkt), -ENOTSUP);
		CHECK_EQ_INT(pkt.type, MQTT_CONNECT);
		CHECK_EQ_INT(pkt.u.connect.level, 7);
	}
}

static void
test_publish(void)
{
	/* QoS 3 [MQTT-3.3.1-4] */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x36, 0x05, 0, 1, 't', 0, 1)), -EPROTO);
	/* QoS 1 without room for a packet id; packet id 0 */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x32, 0x04, 0, 1, 't', 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x32, 0x05, 0, 1, 't', 0, 0)), -EBADMSG);
	/* QoS 0 has no packet id: those two octets are payload */
	{
		static const uint8_t p[] = { 0x30, 0x05, 0, 1, 't', 0, 0 };
		struct mqtt_packet pkt;

		CHECK_EQ_INT(mqtt_packet_decode(p, sizeof(p), 4, &pkt), 1);
		CHECK_EQ_INT(pkt.u.publish.payload_len, 2);
	}
	/* wildcards in the topic name [MQTT-3.3.2-2]: malformed */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', '/', '+')), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x30, 0x04, 0, 1, '#', 0)), -EPROTO);
	/* control characters and non-characters in the topic [MQTT-1.5.4] */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0x01, 'b')), -EILSEQ);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0x1F, 'b')), -EILSEQ);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0x7F, 'b')), -EILSEQ);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0xC2, 0x9F)), -EILSEQ);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 0xEF, 0xBF, 0xBE)), -EILSEQ);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0xC2, 0xA0)), 1);
	/* DUP on QoS 0 [MQTT-3.3.1-2] */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x38, 0x03, 0, 1, 'a')), -EPROTO);
	/* NUL and bad UTF-8 in the topic */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0, 'b')), -EILSEQ);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x05, 0, 3, 'a', 0xED, 0xA0)), -EILSEQ);
	/* empty topic: malformed unless a v5 topic alias is set */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x02, 0, 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x30, 0x03, 0, 0, 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x30, 0x06, 0, 0, 3, 0x23, 0, 7)), 1);
	/* topic length past the end */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x30, 0x03, 0, 5, 'a')), -EPROTO);
	/* v5 property not allowed in PUBLISH */
	CHECK_EQ_INT(dec_rc(5, BYTES(0x30, 0x06, 0, 1, 't', 2, 0x24, 1)), -EBADMSG);
}

static void
test_subscribe(void)
{
	/* no entry [MQTT-3.8.3-3 (3.1.1)], [MQTT-3.10.3-2] */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x02, 0, 1)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x03, 0, 1, 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(4, BYTES(0xA2, 0x02, 0, 1)), -EPROTO);
	/* packet id 0 */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x06, 0, 0, 0, 1, 'a', 0)), -EBADMSG);
	/* missing options byte; QoS 3; 3.1.1 reserved bits; v5 reserved bits */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x05, 0, 1, 0, 1, 'a')), -EPROTO);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x06, 0, 1, 0, 1, 'a', 3)), -EPROTO);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x06, 0, 1, 0, 1, 'a', 4)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x07, 0, 1, 0, 0, 1, 'a', 4)), 1);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x40)), -EPROTO);
	/* retain handling 3: malformed; no-local on a shared subscription
	 * [MQTT-3.8.3-4] and a share without a filter: protocol errors */
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x30)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x0E, 0, 1, 0, 0, 8, '$', 's', 'h', 'a', 'r', 'e',
				     '/', 'g', 0)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x0F, 0, 1, 0, 0, 9, '$', 's', 'h', 'a', 'r', 'e',
				     '/', 'g', '/', 0)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x10, 0, 1, 0, 0, 10, '$', 's', 'h', 'a', 'r', 'e',
				     '/', 'g', '/', 'a', 0)), 1);
	/* an empty filter is malformed, in SUBSCRIBE and UNSUBSCRIBE */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x05, 0, 1, 0, 0, 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(4, BYTES(0xA2, 0x07, 0, 1, 0, 0, 0, 1, 'a')), -EPROTO);
	/* a property other than identifier and user property: malformed */
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x09, 0, 1, 2, 0x01, 0, 0, 1, 'a', 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0xA2, 0x08, 0, 1, 2, 0x01, 0, 0, 1, 'a')), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x82, 0x0E, 0, 1, 0, 0, 8, '$', 's', 'h', 'a', 'r', 'e',
				     '/', 'g', 4)), -EBADMSG);
	/* filter UTF-8 refused, filter syntax only reported */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x82, 0x06, 0, 1, 0, 1, 0xFF, 0)), -EILSEQ);
	{
		static const uint8_t p[] = { 0x82, 0x07, 0, 1, 0, 2, 'a', '#', 1 };
		struct mqtt_packet pkt;
		struct mqtt_sub_entry e;
		uint32_t pos = 0;

		CHECK_EQ_INT(mqtt_packet_decode(p, sizeof(p), 4, &pkt), 1);
		CHECK_EQ_INT(mqtt_sub_next(&pkt.u.subscribe, MQTT_SUBSCRIBE, 4, &pos, &e), 1);
		CHECK(!e.filter_ok);
		CHECK_EQ_INT(e.qos, 1);
		CHECK_EQ_INT(mqtt_sub_next(&pkt.u.subscribe, MQTT_SUBSCRIBE, 4, &pos, &e), 0);
	}
}

static void
test_reason_codes(void)
{
	/* PUBACK 0x92 is a PUBREL/PUBCOMP code; PUBREL 0x10 is a PUBACK code */
	CHECK_EQ_INT(dec_rc(5, BYTES(0x40, 0x03, 0, 1, 0x92)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x62, 0x03, 0, 1, 0x10)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x62, 0x03, 0, 1, 0x92)), 1);
	/* packet id 0 in an ack */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x40, 0x02, 0, 0)), -EBADMSG);
	/* 3.1.1 acks are exactly two octets */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x40, 0x03, 0, 1, 0)), -EPROTO);
	/* DISCONNECT / AUTH: an unknown DISCONNECT code reads as a plain one */
	CHECK_EQ_INT(dec_rc(5, BYTES(0xE0, 0x01, 0x01)), 1);
	CHECK_EQ_INT(dec_rc(5, BYTES(0xE0, 0x01, 0x8E)), 1);
	CHECK_EQ_INT(dec_rc(4, BYTES(0xE0, 0x01, 0x00)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0xF0, 0x01, 0x05)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0xF0, 0x00)), 1);
	CHECK_EQ_INT(dec_rc(4, BYTES(0xF0, 0x00)), -EPROTO);
	/* DISCONNECT session expiry allowed, topic alias not */
	CHECK_EQ_INT(dec_rc(5, BYTES(0xE0, 0x07, 0, 5, 0x11, 0, 0, 0, 1)), 1);
	CHECK_EQ_INT(dec_rc(5, BYTES(0xE0, 0x05, 0, 3, 0x23, 0, 1)), -EBADMSG);
	/* CONNACK: reserved ack flags, bad codes */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x20, 0x02, 0x02, 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(4, BYTES(0x20, 0x02, 0, 6)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x20, 0x03, 0, 0x10, 0)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(3, BYTES(0x20, 0x02, 0x7F, 0)), 1);     /* 3.1: unused octet */
	/* SUBACK codes */
	CHECK_EQ_INT(dec_rc(4, BYTES(0x90, 0x03, 0, 1, 0x8F)), -EBADMSG);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x90, 0x04, 0, 1, 0, 0x8F)), 1);
	CHECK_EQ_INT(dec_rc(5, BYTES(0x90, 0x03, 0, 1, 0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(5, BYTES(0xB0, 0x04, 0, 1, 0, 0x11)), 1);
	CHECK_EQ_INT(dec_rc(4, BYTES(0xB0, 0x03, 0, 1, 0)), -EPROTO);
}

int
main(void)
{
	RUN(test_truncation);
	RUN(test_connect);
	RUN(test_publish);
	RUN(test_subscribe);
	RUN(test_reason_codes);
	TEST_DONE();
}
