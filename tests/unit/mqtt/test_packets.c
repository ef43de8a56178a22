/*
 * test_packets.c: every packet type through encode -> decode -> encode at
 * levels 3 (3.1), 4 (3.1.1) and 5, with field checks, plus exact bytes for
 * a few packets written by hand from the specifications' layouts.
 */
#include "mqtt_test.h"

static const uint8_t levels[] = { MQTT_V31, MQTT_V311, MQTT_V5 };

static void
test_connect(void)
{
	for (size_t i = 0; i < sizeof(levels); i++) {
		uint8_t lv = levels[i], buf[512];
		struct mqtt_packet p = { .type = MQTT_CONNECT }, d;
		struct mqtt_connect *c = &p.u.connect;
		struct mqtt_user_prop up[] = { { S("k"), S("v") } };

		c->clean = true;
		c->will = true;
		c->will_qos = 1;
		c->will_retain = true;
		c->has_username = c->has_password = true;
		c->keepalive = 60;
		c->client_id = S("client-1");
		c->will_topic = S("last/will");
		c->will_payload = S("gone");
		c->username = S("guest");
		c->password = S("pass\0word");
		if (lv == MQTT_V5) {
			c->props.present = MQTT_PBIT(MQTT_PROP_SESSION_EXPIRY) |
				MQTT_PBIT(MQTT_PROP_RECEIVE_MAX);
			c->props.session_expiry = 3600;
			c->props.receive_max = 10;
			c->props.users = up;
			c->props.n_users = 1;
			c->will_props.present = MQTT_PBIT(MQTT_PROP_WILL_DELAY);
			c->will_props.will_delay = 5;
		}
		if (!round_trip(lv, &p, buf, sizeof(buf), &d))
			continue;
		CHECK_EQ_INT(d.u.connect.level, lv);
		CHECK(str_eq(d.u.connect.protocol_name, lv == MQTT_V31 ? S("MQIsdp") : S("MQTT")));
		CHECK(d.u.connect.clean && d.u.connect.will && d.u.connect.will_retain);
		CHECK_EQ_INT(d.u.connect.will_qos, 1);
		CHECK_EQ_INT(d.u.connect.keepalive, 60);
		CHECK(str_eq(d.u.connect.client_id, S("client-1")));
		CHECK(str_eq(d.u.connect.will_topic, S("last/will")));
		CHECK(str_eq(d.u.connect.will_payload, S("gone")));
		CHECK(str_eq(d.u.connect.username, S("guest")));
		CHECK(str_eq(d.u.connect.password, S("pass\0word")));
		if (lv == MQTT_V5) {
			CHECK_EQ_INT(d.u.connect.props.session_expiry, 3600);
			CHECK_EQ_INT(d.u.connect.props.receive_max, 10);
			CHECK_EQ_INT(d.u.connect.props.n_users, 1);
			CHECK_EQ_INT(d.u.connect.will_props.will_delay, 5);
		}
	}
}

static void
test_connect_minimal(void)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT }, d;
	uint8_t buf[64];

	/* v5: empty client id, password without user name is allowed */
	p.u.connect.has_password = true;
	p.u.connect.password = S("x");
	CHECK(round_trip(MQTT_V5, &p, buf, sizeof(buf), &d) > 0);
	CHECK_EQ_INT(d.u.connect.client_id.len, 0);
	CHECK(!d.u.connect.has_username && d.u.connect.has_password);
	/* ...but not in 3.1.1 [MQTT-3.1.2-22] */
	CHECK_EQ_INT(mqtt_packet_encode(buf, sizeof(buf), MQTT_V311, &p), 17);
	CHECK_EQ_INT(dec_rc(MQTT_V311, buf, 17), -EPROTO);
}

static void
test_connack(void)
{
	for (size_t i = 0; i < sizeof(levels); i++) {
		uint8_t lv = levels[i], buf[256];
		struct mqtt_packet p = { .type = MQTT_CONNACK }, d;

		p.u.connack.session_present = lv != MQTT_V31;
		p.u.connack.code = lv == MQTT_V5 ? MQTT_RC_SUCCESS : MQTT_V3_ACCEPTED;
		if (lv == MQTT_V5) {
			struct mqtt_props *pr = &p.u.connack.props;

			pr->present = MQTT_PBIT(MQTT_PROP_ASSIGNED_CLIENT_ID) |
				MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS_MAX) | MQTT_PBIT(MQTT_PROP_MAX_QOS) |
				MQTT_PBIT(MQTT_PROP_RETAIN_AVAILABLE) |
				MQTT_PBIT(MQTT_PROP_MAX_PACKET_SIZE) |
				MQTT_PBIT(MQTT_PROP_SHARED_SUB_AVAILABLE) |
				MQTT_PBIT(MQTT_PROP_SERVER_KEEP_ALIVE);
			pr->assigned_client_id = S("auto-1");
			pr->topic_alias_max = 16;
			pr->max_qos = 1;
			pr->retain_available = 1;
			pr->max_packet_size = 1 << 20;
			pr->shared_sub_available = 1;
			pr->server_keep_alive = 30;
		}
		if (!round_trip(lv, &p, buf, sizeof(buf), &d))
			continue;
		CHECK_EQ_INT(d.u.connack.session_present, lv != MQTT_V31);
		if (lv == MQTT_V5) {
			CHECK(str_eq(d.u.connack.props.assigned_client_id, S("auto-1")));
			CHECK_EQ_INT(d.u.connack.props.max_packet_size, 1 << 20);
			CHECK_EQ_INT(d.u.connack.props.server_keep_alive, 30);
		}
	}
}

static void
test_publish(void)
{
	for (size_t i = 0; i < sizeof(levels); i++) {
		for (uint8_t qos = 0; qos < 3; qos++) {
			uint8_t lv = levels[i], buf[256], head[64];
			struct mqtt_packet p = { .type = MQTT_PUBLISH }, d;
			struct mqtt_publish *pub = &p.u.publish;
			uint32_t ids[] = { 1, 300 };
			size_t n;
			int h;

			pub->qos = qos;
			pub->dup = qos > 0;
			pub->retain = true;
			pub->topic = S("sensors/temp");
			pub->packet_id = qos ? 0x1234 : 0;
			pub->payload = (const uint8_t *)"21.5";
			pub->payload_len = 4;
			if (lv == MQTT_V5) {
				pub->props.present = MQTT_PBIT(MQTT_PROP_PAYLOAD_FORMAT) |
					MQTT_PBIT(MQTT_PROP_MESSAGE_EXPIRY) |
					MQTT_PBIT(MQTT_PROP_CONTENT_TYPE) |
					MQTT_PBIT(MQTT_PROP_RESPONSE_TOPIC) |
					MQTT_PBIT(MQTT_PROP_CORRELATION_DATA);
				pub->props.payload_format = 1;
				pub->props.message_expiry = 100;
				pub->props.content_type = S("text/plain");
				pub->props.response_topic = S("reply/here");
				pub->props.correlation_data = S("\x01\x02");
				pub->props.sub_ids = ids;
				pub->props.n_sub_ids = 2;
			}
			if (!(n = round_trip(lv, &p, buf, sizeof(buf), &d)))
				continue;
			CHECK_EQ_INT(d.u.publish.qos, qos);
			CHECK_EQ_INT(d.u.publish.dup, qos > 0);
			CHECK(d.u.publish.retain);
			CHECK_EQ_INT(d.u.publish.packet_id, qos ? 0x1234 : 0);
			CHECK(str_eq(d.u.publish.topic, S("sensors/temp")));
			CHECK_EQ_INT(d.u.publish.payload_len, 4);
			CHECK(memcmp(d.u.publish.payload, "21.5", 4) == 0);
			if (lv == MQTT_V5) {
				uint32_t pos = 0, id;

				CHECK_EQ_INT(d.u.publish.props.n_sub_ids, 2);
				CHECK_EQ_INT(d.u.publish.props.sub_id, 1);
				CHECK(mqtt_props_sub_id_next(&d.u.publish.props, &pos, &id) == 1 && id == 1);
				CHECK(mqtt_props_sub_id_next(&d.u.publish.props, &pos, &id) == 1 && id == 300);
				CHECK_EQ_INT(mqtt_props_sub_id_next(&d.u.publish.props, &pos, &id), 0);
				CHECK(str_eq(d.u.publish.props.correlation_data, S("\x01\x02")));
			}
			/* head + payload by reference == whole packet */
			h = mqtt_publish_encode_head(head, sizeof(head), lv, pub);
			CHECK_EQ_INT(h, mqtt_publish_head_size(lv, pub));
			CHECK_EQ_INT(h + 4, n);
			CHECK(h > 0 && memcmp(head, buf, (size_t)h) == 0);
			CHECK_EQ_INT(mqtt_publish_encode_head(head, (size_t)h - 1, lv, pub), -ENOSPC);
		}
	}
}

static void
test_acks(void)
{
	static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };

	for (size_t i = 0; i < sizeof(levels); i++) {
		for (size_t t = 0; t < sizeof(types); t++) {
			uint8_t lv = levels[i], buf[128];
			struct mqtt_packet p = { .type = types[t] }, d;
			size_t n;

			p.u.ack.packet_id = 7;
			CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 4);
			CHECK_EQ_INT(d.u.ack.packet_id, 7);
			if (lv != MQTT_V5)
				continue;
			/* reason code only */
			p.u.ack.code = types[t] <= MQTT_PUBREC ? MQTT_RC_NO_MATCHING_SUBSCRIBERS
							       : MQTT_RC_PACKET_ID_NOT_FOUND;
			CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 5);
			CHECK_EQ_INT(d.u.ack.code, p.u.ack.code);
			/* code and reason string */
			p.u.ack.props.present = MQTT_PBIT(MQTT_PROP_REASON_STRING);
			p.u.ack.props.reason_string = S("why");
			n = round_trip(lv, &p, buf, sizeof(buf), &d);
			CHECK_EQ_INT(n, 4 + 1 + 1 + 6);
			CHECK(str_eq(d.u.ack.props.reason_string, S("why")));
		}
	}
}

static void
test_subscribe_unsubscribe(void)
{
	for (size_t i = 0; i < sizeof(levels); i++) {
		for (uint8_t type = MQTT_SUBSCRIBE; type <= MQTT_UNSUBSCRIBE; type += 2) {
			uint8_t lv = levels[i], buf[256];
			struct mqtt_packet p = { .type = type }, d;
			struct mqtt_sub_entry e[3] = {
				{ .filter = S("a/+/c"), .qos = 1 },
				{ .filter = S("$share/g/x/#"), .qos = 2 },
				{ .filter = S("bad#"), .qos = 0 },
			}, got;
			uint32_t pos = 0, k = 0;

			if (lv == MQTT_V5) {
				e[0].no_local = e[0].retain_as_published = true;
				e[0].retain_handling = 2;
				p.u.subscribe.props.present = type == MQTT_SUBSCRIBE ?
					MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID) : 0;
				p.u.subscribe.props.sub_id = 200000;
			}
			p.u.subscribe.packet_id = 99;
			p.u.subscribe.entries = e;
			p.u.subscribe.count = 3;
			if (!round_trip(lv, &p, buf, sizeof(buf), &d))
				continue;
			CHECK_EQ_INT(d.u.subscribe.count, 3);
			CHECK_EQ_INT(d.u.subscribe.packet_id, 99);
			while (mqtt_sub_next(&d.u.subscribe, type, lv, &pos, &got) == 1) {
				CHECK(str_eq(got.filter, e[k].filter));
				CHECK_EQ_INT(got.filter_ok, k < 2);
				if (type == MQTT_SUBSCRIBE) {
					CHECK_EQ_INT(got.qos, e[k].qos);
					CHECK_EQ_INT(got.no_local, e[k].no_local);
					CHECK_EQ_INT(got.retain_as_published, e[k].retain_as_published);
					CHECK_EQ_INT(got.retain_handling, e[k].retain_handling);
				}
				k++;
			}
			CHECK_EQ_INT(k, 3);
			if (lv == MQTT_V5 && type == MQTT_SUBSCRIBE)
				CHECK_EQ_INT(d.u.subscribe.props.sub_id, 200000);
		}
	}
}

static void
test_suback_unsuback(void)
{
	static const uint8_t v3codes[] = { 0, 1, 2, 0x80 };
	static const uint8_t v5sub[] = { 0, 2, 0x8F, 0xA2 };
	static const uint8_t v5unsub[] = { 0, 0x11 };

	for (size_t i = 0; i < sizeof(levels); i++) {
		uint8_t lv = levels[i], buf[128];
		struct mqtt_packet p = { .type = MQTT_SUBACK }, d;

		p.u.suback.packet_id = 99;
		p.u.suback.codes = lv == MQTT_V5 ? v5sub : v3codes;
		p.u.suback.count = 4;
		CHECK(round_trip(lv, &p, buf, sizeof(buf), &d) == 8 + (lv == MQTT_V5));
		CHECK_EQ_INT(d.u.suback.count, 4);
		CHECK(memcmp(d.u.suback.codes, p.u.suback.codes, 4) == 0);

		p.type = MQTT_UNSUBACK;
		p.u.suback.codes = v5unsub;
		p.u.suback.count = lv == MQTT_V5 ? 2 : 0;
		CHECK(round_trip(lv, &p, buf, sizeof(buf), &d) == (lv == MQTT_V5 ? 7 : 4));
		CHECK_EQ_INT(d.u.suback.count, p.u.suback.count);
	}
}

static void
test_ping_disconnect_auth(void)
{
	for (size_t i = 0; i < sizeof(levels); i++) {
		uint8_t lv = levels[i], buf[64];
		struct mqtt_packet p = { .type = MQTT_PINGREQ }, d;

		CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 2);
		p.type = MQTT_PINGRESP;
		CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 2);
		p.type = MQTT_DISCONNECT;
		CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 2);
		p.type = MQTT_AUTH;
		if (lv != MQTT_V5) {
			CHECK_EQ_INT(mqtt_packet_size(lv, &p), SIZE_MAX);
			CHECK_EQ_INT(mqtt_packet_encode(buf, sizeof(buf), lv, &p), -EINVAL);
			continue;
		}
		CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 2);
		p.u.reason.code = MQTT_RC_CONTINUE_AUTH;
		p.u.reason.props.present = MQTT_PBIT(MQTT_PROP_AUTH_METHOD) |
			MQTT_PBIT(MQTT_PROP_AUTH_DATA);
		p.u.reason.props.auth_method = S("SCRAM-SHA-1");
		p.u.reason.props.auth_data = S("\x00\x01");
		CHECK(round_trip(lv, &p, buf, sizeof(buf), &d) > 0);
		CHECK(str_eq(d.u.reason.props.auth_method, S("SCRAM-SHA-1")));
		p.type = MQTT_DISCONNECT;
		p.u.reason.code = MQTT_RC_SESSION_TAKEN_OVER;
		p.u.reason.props.present = MQTT_PBIT(MQTT_PROP_REASON_STRING) |
			MQTT_PBIT(MQTT_PROP_SERVER_REFERENCE);
		p.u.reason.props.reason_string = S("taken over");
		p.u.reason.props.server_reference = S("other:1883");
		CHECK(round_trip(lv, &p, buf, sizeof(buf), &d) > 0);
		CHECK_EQ_INT(d.u.reason.code, MQTT_RC_SESSION_TAKEN_OVER);
		p.u.reason.props.present = 0;
		CHECK_EQ_INT(round_trip(lv, &p, buf, sizeof(buf), &d), 3);
	}
}

/* Exact bytes, written from the spec's field layouts. */
static void
check_bytes(uint8_t lv, const struct mqtt_packet *p, const uint8_t *want, size_t n)
{
	uint8_t buf[256];
	int got = mqtt_packet_encode(buf, sizeof(buf), lv, p);

	CHECK(got > 0 && same_bytes(buf, (size_t)got, want, n));
	CHECK_EQ_INT(dec_rc(lv, want, n), 1);
}

static void
test_exact_bytes(void)
{
	struct mqtt_packet p;
	struct mqtt_sub_entry e[2] = { { .filter = S("a/b"), .qos = 1 },
				       { .filter = S("c/d"), .qos = 2 } };
	static const uint8_t codes[] = { 1, 2 };

	/* 3.1.1 CONNECT, clean session, keepalive 60, client id "abc" */
	p = (struct mqtt_packet){ .type = MQTT_CONNECT };
	p.u.connect.clean = true;
	p.u.connect.keepalive = 60;
	p.u.connect.client_id = S("abc");
	check_bytes(MQTT_V311, &p, BYTES(0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
					 0x02, 0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c'));
	/* the same at 3.1: "MQIsdp", level 3 */
	check_bytes(MQTT_V31, &p, BYTES(0x10, 0x11, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',
					0x03, 0x02, 0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c'));
	/* v5: property length 0 after keepalive */
	check_bytes(MQTT_V5, &p, BYTES(0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
				       0x02, 0x00, 0x3C, 0x00, 0x00, 0x03, 'a', 'b', 'c'));

	p = (struct mqtt_packet){ .type = MQTT_CONNACK };
	check_bytes(MQTT_V311, &p, BYTES(0x20, 0x02, 0x00, 0x00));
	check_bytes(MQTT_V5, &p, BYTES(0x20, 0x03, 0x00, 0x00, 0x00));
	p.u.connack.code = MQTT_V3_BAD_PROTOCOL;
	check_bytes(MQTT_V311, &p, BYTES(0x20, 0x02, 0x00, 0x01));
	/* properties in the order asked for, the rest in id order: the
	 * CONNACK Mosquitto writes, Topic Alias Maximum first */
	{
		static const uint8_t order[] = { MQTT_PROP_TOPIC_ALIAS_MAX, 0 };

		p = (struct mqtt_packet){ .type = MQTT_CONNACK };
		p.u.connack.props.present = MQTT_PBIT(MQTT_PROP_RECEIVE_MAX) |
					    MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS_MAX);
		p.u.connack.props.receive_max = 20;
		p.u.connack.props.topic_alias_max = 10;
		check_bytes(MQTT_V5, &p, BYTES(0x20, 0x09, 0x00, 0x00, 0x06, 0x21, 0x00, 0x14,
					       0x22, 0x00, 0x0A));
		p.u.connack.props.order = order;
		check_bytes(MQTT_V5, &p, BYTES(0x20, 0x09, 0x00, 0x00, 0x06, 0x22, 0x00, 0x0A,
					       0x21, 0x00, 0x14));
	}

	/* PUBLISH QoS 1 "a/b" id 10 "hi" */
	p = (struct mqtt_packet){ .type = MQTT_PUBLISH };
	p.u.publish = (struct mqtt_publish){ .qos = 1, .topic = S("a/b"), .packet_id = 10,
					     .payload = (const uint8_t *)"hi", .payload_len = 2 };
	check_bytes(MQTT_V311, &p, BYTES(0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A,
					 'h', 'i'));
	/* v5 with topic alias 1 */
	p.u.publish.props.present = MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.props.topic_alias = 1;
	check_bytes(MQTT_V5, &p, BYTES(0x32, 0x0D, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A,
				       0x03, 0x23, 0x00, 0x01, 'h', 'i'));

	/* 3.1.1 SUBSCRIBE example: id 10, "a/b" QoS 1, "c/d" QoS 2 */
	p = (struct mqtt_packet){ .type = MQTT_SUBSCRIBE };
	p.u.subscribe.packet_id = 10;
	p.u.subscribe.entries = e;
	p.u.subscribe.count = 2;
	check_bytes(MQTT_V311, &p, BYTES(0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b',
					 0x01, 0x00, 0x03, 'c', '/', 'd', 0x02));
	p = (struct mqtt_packet){ .type = MQTT_SUBACK };
	p.u.suback.packet_id = 10;
	p.u.suback.codes = codes;
	p.u.suback.count = 2;
	check_bytes(MQTT_V311, &p, BYTES(0x90, 0x04, 0x00, 0x0A, 0x01, 0x02));
	check_bytes(MQTT_V5, &p, BYTES(0x90, 0x05, 0x00, 0x0A, 0x00, 0x01, 0x02));

	p = (struct mqtt_packet){ .type = MQTT_PUBACK };
	p.u.ack.packet_id = 10;
	check_bytes(MQTT_V5, &p, BYTES(0x40, 0x02, 0x00, 0x0A));
	p.type = MQTT_PUBREL;
	check_bytes(MQTT_V311, &p, BYTES(0x62, 0x02, 0x00, 0x0A));
	p.u.ack.code = MQTT_RC_PACKET_ID_NOT_FOUND;
	check_bytes(MQTT_V5, &p, BYTES(0x62, 0x03, 0x00, 0x0A, 0x92));
	p = (struct mqtt_packet){ .type = MQTT_UNSUBACK };
	p.u.suback.packet_id = 10;
	check_bytes(MQTT_V311, &p, BYTES(0xB0, 0x02, 0x00, 0x0A));
	p = (struct mqtt_packet){ .type = MQTT_PINGRESP };
	check_bytes(MQTT_V311, &p, BYTES(0xD0, 0x00));
	p = (struct mqtt_packet){ .type = MQTT_DISCONNECT };
	p.u.reason.code = MQTT_RC_DISCONNECT_WITH_WILL;
	check_bytes(MQTT_V5, &p, BYTES(0xE0, 0x01, 0x04));
}

int
main(void)
{
	RUN(test_connect);
	RUN(test_connect_minimal);
	RUN(test_connack);
	RUN(test_publish);
	RUN(test_acks);
	RUN(test_subscribe_unsubscribe);
	RUN(test_suback_unsuback);
	RUN(test_ping_disconnect_auth);
	RUN(test_exact_bytes);
	TEST_DONE();
}
