/*
 * test_props.c: MQTT 5 properties: every property id round trips in a
 * packet that allows it; user properties keep their order; duplicates,
 * misplaced properties and out-of-range values are protocol errors;
 * unknown ids and truncated values are malformed.
 */
#include "mqtt_test.h"

/* A v5 PUBACK (id 1, code 0x10) carrying the property bytes pr[0..n). */
static size_t
puback_with(uint8_t *buf, const uint8_t *pr, size_t n)
{
	buf[0] = 0x40;
	buf[1] = (uint8_t)(4 + n);
	buf[2] = 0;
	buf[3] = 1;
	buf[4] = 0x10;
	buf[5] = (uint8_t)n;
	memcpy(buf + 6, pr, n);
	return 6 + n;
}

static int
puback_rc(const uint8_t *pr, size_t n)
{
	uint8_t buf[128];

	return dec_rc(MQTT_V5, buf, puback_with(buf, pr, n));
}

/* A v5 CONNECT with the property bytes pr[0..n) and client id "c". */
static int
connect_rc(const uint8_t *pr, size_t n)
{
	uint8_t buf[128] = { 0x10, (uint8_t)(10 + 1 + n + 3), 0, 4, 'M', 'Q', 'T', 'T', 5, 2,
			     0, 10, (uint8_t)n };

	memcpy(buf + 13, pr, n);
	memcpy(buf + 13 + n, "\x00\x01" "c", 3);
	return dec_rc(MQTT_V5, buf, 16 + n);
}

static void
test_user_properties_order(void)
{
	struct mqtt_user_prop up[] = { { S("b"), S("2") }, { S("a"), S("1") },
				       { S("b"), S("3") } };
	struct mqtt_packet p = { .type = MQTT_PUBLISH }, d;
	struct bk_str k, v;
	uint8_t buf[256];
	uint32_t pos = 0, i = 0;

	p.u.publish.topic = S("t");
	p.u.publish.props.users = up;
	p.u.publish.props.n_users = 3;
	CHECK(round_trip(MQTT_V5, &p, buf, sizeof(buf), &d) > 0);
	CHECK_EQ_INT(d.u.publish.props.n_users, 3);
	while (mqtt_props_user_next(&d.u.publish.props, &pos, &k, &v) == 1) {
		CHECK(i < 3 && str_eq(k, up[i].key) && str_eq(v, up[i].value));
		i++;
	}
	CHECK_EQ_INT(i, 3);
}

static void
test_every_property(void)
{
	struct mqtt_packet p = { .type = MQTT_CONNACK }, d;
	struct mqtt_props *pr = &p.u.connack.props;
	uint8_t buf[512];

	/* CONNACK allows the most */
	pr->present = MQTT_PBIT(0x11) | MQTT_PBIT(0x12) | MQTT_PBIT(0x13) | MQTT_PBIT(0x15) |
		MQTT_PBIT(0x16) | MQTT_PBIT(0x1A) | MQTT_PBIT(0x1C) | MQTT_PBIT(0x1F) |
		MQTT_PBIT(0x21) | MQTT_PBIT(0x22) | MQTT_PBIT(0x24) | MQTT_PBIT(0x25) |
		MQTT_PBIT(0x27) | MQTT_PBIT(0x28) | MQTT_PBIT(0x29) | MQTT_PBIT(0x2A);
	pr->session_expiry = 0xFFFFFFFF;
	pr->assigned_client_id = S("id");
	pr->server_keep_alive = 0xFFFF;
	pr->auth_method = S("m");
	pr->auth_data = S("\xff");
	pr->response_info = S("ri");
	pr->server_reference = S("sr");
	pr->reason_string = S("rs");
	pr->receive_max = 65535;
	pr->topic_alias_max = 0;
	pr->max_qos = 0;
	pr->retain_available = 1;
	pr->max_packet_size = 268435460;
	pr->wildcard_sub_available = 1;
	pr->sub_id_available = 0;
	pr->shared_sub_available = 1;
	CHECK(round_trip(MQTT_V5, &p, buf, sizeof(buf), &d) > 0);
	CHECK(d.u.connack.props.present == pr->present);
	CHECK_EQ_INT(d.u.connack.props.session_expiry, 0xFFFFFFFF);
	CHECK_EQ_INT(d.u.connack.props.receive_max, 65535);
	CHECK_EQ_INT(d.u.connack.props.max_packet_size, 268435460);
	CHECK(str_eq(d.u.connack.props.response_info, S("ri")));

	/* CONNECT's own */
	CHECK_EQ_INT(connect_rc(BYTES(0x17, 1, 0x19, 0, 0x27, 0, 0, 1, 0, 0x22, 0, 5)), 1);
}

static void
test_duplicates_and_placement(void)
{
	/* reason string twice: protocol error */
	CHECK_EQ_INT(puback_rc(BYTES(0x1F, 0, 1, 'a', 0x1F, 0, 1, 'b')), -EBADMSG);
	/* user property twice: fine */
	CHECK_EQ_INT(puback_rc(BYTES(0x26, 0, 1, 'k', 0, 0, 0x26, 0, 1, 'k', 0, 0)), 1);
	/* topic alias in PUBACK: not allowed */
	CHECK_EQ_INT(puback_rc(BYTES(0x23, 0, 1)), -EBADMSG);
	/* session expiry in PUBACK: not allowed */
	CHECK_EQ_INT(puback_rc(BYTES(0x11, 0, 0, 0, 1)), -EBADMSG);
	/* will delay in CONNECT's own properties: only in the will */
	CHECK_EQ_INT(connect_rc(BYTES(0x18, 0, 0, 0, 1)), -EBADMSG);
	/* unknown id 0x04, 0x7F, and a two-octet id: malformed */
	CHECK_EQ_INT(puback_rc(BYTES(0x04, 0)), -EPROTO);
	CHECK_EQ_INT(puback_rc(BYTES(0x80, 0x01)), -EPROTO);
	/* truncated value, property length past the end */
	CHECK_EQ_INT(puback_rc(BYTES(0x1F, 0, 5, 'a')), -EPROTO);
	{
		uint8_t buf[16] = { 0x40, 4, 0, 1, 0x10, 9 };
		CHECK_EQ_INT(dec_rc(MQTT_V5, buf, 6), -EPROTO);
	}
	/* bad UTF-8 in a string property, and in a user property key */
	CHECK_EQ_INT(puback_rc(BYTES(0x1F, 0, 1, 0xFF)), -EILSEQ);
	CHECK_EQ_INT(puback_rc(BYTES(0x26, 0, 1, 0xC0, 0, 0)), -EILSEQ);
	CHECK_EQ_INT(puback_rc(BYTES(0x1F, 0, 1, 0x00)), -EILSEQ);
}

static void
test_values(void)
{
	/* receive maximum 0, maximum packet size 0, request problem info 2 */
	CHECK_EQ_INT(connect_rc(BYTES(0x21, 0, 0)), -EBADMSG);
	CHECK_EQ_INT(connect_rc(BYTES(0x27, 0, 0, 0, 0)), -EBADMSG);
	CHECK_EQ_INT(connect_rc(BYTES(0x17, 2)), -EBADMSG);
	CHECK_EQ_INT(connect_rc(BYTES(0x21, 0, 1)), 1);
	/* subscription identifier 0, in SUBSCRIBE */
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x82, 0x08, 0, 1, 2, 0x0B, 0x00, 0, 1, 'a', 0)),
		     -EPROTO);   /* remaining length off by one: trailing */
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x82, 0x09, 0, 1, 2, 0x0B, 0x00, 0, 1, 'a', 0)),
		     -EPROTO);
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x82, 0x09, 0, 1, 2, 0x0B, 0x05, 0, 1, 'a', 0)), 1);
	/* two subscription identifiers in SUBSCRIBE: protocol error */
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x82, 0x0B, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0)),
		     -EBADMSG);
	/* non-minimal varint subscription identifier: malformed */
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x82, 0x0A, 0, 1, 3, 0x0B, 0x81, 0x00, 0, 1, 'a', 0)),
		     -EPROTO);
	/* topic alias 0 in PUBLISH (its own code, for 0x94); response topic
	 * with a wildcard; payload format 2 */
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x30, 0x07, 0, 1, 't', 3, 0x23, 0, 0)), -ERANGE);
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x30, 0x08, 0, 1, 't', 4, 0x08, 0, 1, '#')), -EBADMSG);
	CHECK_EQ_INT(dec_rc(MQTT_V5, BYTES(0x30, 0x06, 0, 1, 't', 2, 0x01, 2)), -EBADMSG);
	/* encoder refuses what it cannot write */
	{
		struct mqtt_props pr = { .present = MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID) };
		uint32_t zero = 0;

		CHECK_EQ_INT(mqtt_props_size(&pr), SIZE_MAX);
		pr.sub_id = 5;
		CHECK_EQ_INT(mqtt_props_size(&pr), 2);
		pr.present = 0;
		pr.sub_ids = &zero;
		pr.n_sub_ids = 1;
		CHECK_EQ_INT(mqtt_props_size(&pr), SIZE_MAX);
	}
}

int
main(void)
{
	RUN(test_user_properties_order);
	RUN(test_every_property);
	RUN(test_duplicates_and_placement);
	RUN(test_values);
	TEST_DONE();
}
