/*
 * test_fixed.c: the fixed header: remaining-length encodings from the
 * spec's table [MQTT-1.5.5 / 3.1.1 §2.2.3], the fifth length octet,
 * "need more" at every prefix, reserved flag bits per type, PUBLISH QoS 3,
 * and the maximum packet size refused before the body arrives.
 */
#include "mqtt_test.h"

static void
test_remaining_length_table(void)
{
	static const struct { uint32_t v; uint8_t b[4]; uint8_t n; } t[] = {
		{ 0, { 0x00 }, 1 },
		{ 127, { 0x7F }, 1 },
		{ 128, { 0x80, 0x01 }, 2 },
		{ 16383, { 0xFF, 0x7F }, 2 },
		{ 16384, { 0x80, 0x80, 0x01 }, 3 },
		{ 2097151, { 0xFF, 0xFF, 0x7F }, 3 },
		{ 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
		{ 268435455, { 0xFF, 0xFF, 0xFF, 0x7F }, 4 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t p[6] = { 0x30 };
		struct mqtt_fixed h;

		memcpy(p + 1, t[i].b, t[i].n);
		CHECK_EQ_INT(mqtt_fixed_parse(p, 1u + t[i].n, MQTT_V5, 0, &h), 1);
		CHECK_EQ_INT(h.rem_len, t[i].v);
		CHECK_EQ_INT(h.hdr_len, 1 + t[i].n);
		CHECK_EQ_INT(h.total, 1 + t[i].n + t[i].v);
		CHECK_EQ_INT(h.type, MQTT_PUBLISH);
		/* every shorter prefix: need more */
		for (size_t k = 0; k < 1u + t[i].n; k++)
			CHECK_EQ_INT(mqtt_fixed_parse(p, k, MQTT_V5, 0, &h), 0);
	}
}

static void
test_fifth_length_octet(void)
{
	static const uint8_t p[] = { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
	struct mqtt_fixed h;

	CHECK_EQ_INT(mqtt_fixed_parse(p, sizeof(p), MQTT_V311, 0, &h), -EPROTO);
	CHECK_EQ_INT(mqtt_fixed_parse(p, 5, MQTT_V311, 0, &h), -EPROTO);
	CHECK_EQ_INT(mqtt_fixed_parse(p, 4, MQTT_V311, 0, &h), 0);
}

static void
test_non_minimal_length(void)
{
	/* 0 written in two octets: malformed in v5 [MQTT-1.5.5-1], tolerated before */
	static const uint8_t p[] = { 0xC0, 0x80, 0x00 };
	struct mqtt_fixed h;

	CHECK_EQ_INT(mqtt_fixed_parse(p, sizeof(p), MQTT_V5, 0, &h), -EPROTO);
	CHECK_EQ_INT(mqtt_fixed_parse(p, sizeof(p), MQTT_V311, 0, &h), 1);
	CHECK_EQ_INT(h.total, 3);
	CHECK_EQ_INT(dec_rc(MQTT_V311, p, sizeof(p)), 1);
	CHECK_EQ_INT(dec_rc(MQTT_V5, p, sizeof(p)), -EPROTO);
}

static void
test_flags(void)
{
	struct mqtt_fixed h;

	for (unsigned type = 0; type < 16; type++) {
		for (unsigned flags = 0; flags < 16; flags++) {
			uint8_t p[2] = { (uint8_t)(type << 4 | flags), 0 };
			int want;

			if (type == 0)
				want = -EPROTO;
			else if (type == MQTT_PUBLISH)
				/* QoS 3 [MQTT-3.3.1-4]; DUP on QoS 0 [MQTT-3.3.1-2] */
				want = (flags & 6) == 6 || (flags & 0xE) == 8 ? -EPROTO : 1;
			else if (type == MQTT_CONNECT)
				want = 1;       /* checked with the level, in the body */
			else if (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE ||
				 type == MQTT_UNSUBSCRIBE)
				want = flags == 2 ? 1 : -EPROTO;                /* [MQTT-3.6.1-1] ... */
			else
				want = flags == 0 ? 1 : -EPROTO;                /* [MQTT-2.1.3-1] */
			CHECK_EQ_INT(mqtt_fixed_parse(p, 2, MQTT_V5, 0, &h), want);
			if (type == MQTT_AUTH)
				CHECK_EQ_INT(mqtt_fixed_parse(p, 2, MQTT_V311, 0, &h), -EPROTO);
		}
	}
	/* 3.1 retries SUBSCRIBE with DUP set */
	CHECK_EQ_INT(mqtt_fixed_parse(BYTES(0x8A, 0x00), MQTT_V31, 0, &h), 1);
	CHECK_EQ_INT(mqtt_fixed_parse(BYTES(0x8A, 0x00), MQTT_V311, 0, &h), -EPROTO);
	CHECK_EQ_INT(mqtt_fixed_parse(BYTES(0x8B, 0x00), MQTT_V31, 0, &h), -EPROTO);
}

static void
test_max_packet(void)
{
	/* PUBLISH announcing 1000 body bytes: refused from 3 header bytes */
	static const uint8_t p[] = { 0x30, 0xE8, 0x07 };
	struct mqtt_fixed h;

	CHECK_EQ_INT(mqtt_fixed_parse(p, sizeof(p), MQTT_V5, 1002, &h), -EMSGSIZE);
	CHECK_EQ_INT(mqtt_fixed_parse(p, sizeof(p), MQTT_V5, 1003, &h), 1);
	CHECK_EQ_INT(h.total, 1003);
	CHECK_EQ_INT(mqtt_fixed_parse(p, sizeof(p), MQTT_V5, 0, &h), 1);
}

static void
test_decode_length_mismatch(void)
{
	/* decode needs exactly the packet */
	CHECK_EQ_INT(dec_rc(MQTT_V311, BYTES(0xC0, 0x00, 0x00)), -EPROTO);
	CHECK_EQ_INT(dec_rc(MQTT_V311, BYTES(0xC0, 0x01)), -EPROTO);
	CHECK_EQ_INT(dec_rc(MQTT_V311, BYTES(0xC0)), -EPROTO);
	CHECK_EQ_INT(dec_rc(MQTT_V311, BYTES(0xC0, 0x01, 0x00)), -EPROTO); /* PINGREQ with a body */
	CHECK_STR(mqtt_type_name(MQTT_SUBACK), "SUBACK");
}

int
main(void)
{
	RUN(test_remaining_length_table);
	RUN(test_fifth_length_octet);
	RUN(test_non_minimal_length);
	RUN(test_flags);
	RUN(test_max_packet);
	RUN(test_decode_length_mismatch);
	TEST_DONE();
}
