/*
 * mqttc_v5: MQTT 5 with libmosquitto: the CONNACK properties, and a
 * PUBLISH whose properties (user property, content type, correlation
 * data, response topic, message expiry) come back intact together with
 * the subscription identifier of the matching subscription.
 */
#include "mqttc_util.h"

struct state {
	volatile int connected;
	volatile int subacked;
	volatile int published;
	volatile int received;
	volatile int unsubacked;
};

static void
on_connect(struct mosquitto *m, void *obj, int rc, int flags,
    const mosquitto_property *props)
{
	struct state *s = obj;
	uint16_t recv_max = 65535, alias_max = 0;
	uint8_t retain = 1, wildcard = 1, subid = 1, shared = 1;

	(void)m;
	CHECK(rc == 0, "CONNACK reason %d", rc);
	CHECK((flags & 1) == 0, "session present on a clean start");
	mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &recv_max, false);
	mosquitto_property_read_int16(props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, &alias_max, false);
	mosquitto_property_read_byte(props, MQTT_PROP_RETAIN_AVAILABLE, &retain, false);
	mosquitto_property_read_byte(props, MQTT_PROP_WILDCARD_SUB_AVAILABLE, &wildcard, false);
	mosquitto_property_read_byte(props, MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE, &subid, false);
	mosquitto_property_read_byte(props, MQTT_PROP_SHARED_SUB_AVAILABLE, &shared, false);
	printf("connack receive-maximum=%u topic-alias-maximum=%u retain=%u wildcard=%u "
	    "sub-id=%u shared=%u\n", recv_max, alias_max, retain, wildcard, subid, shared);
	s->connected = 1;
}

static void
on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
    const mosquitto_property *props)
{
	struct state *s = obj;

	(void)m;
	(void)mid;
	(void)props;
	CHECK(n == 1 && granted[0] == 1, "granted %d", n ? granted[0] : -1);
	s->subacked++;
}

static void
on_publish(struct mosquitto *m, void *obj, int mid, int reason,
    const mosquitto_property *props)
{
	struct state *s = obj;

	(void)m;
	(void)mid;
	(void)props;
	CHECK(reason == 0 || reason == 0x10, "PUBACK reason %d", reason);
	s->published++;
}

static void
on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
    const mosquitto_property *props)
{
	struct state *s = obj;
	char *k = NULL, *v = NULL, *ct = NULL, *rt = NULL;
	void *corr = NULL;
	uint16_t corr_len = 0;
	uint32_t sub_id = 0, expiry = 0;

	(void)m;
	mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &k, &v, false);
	mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &ct, false);
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rt, false);
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len,
	    false);
	mosquitto_property_read_varint(props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &sub_id,
	    false);
	mosquitto_property_read_int32(props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &expiry,
	    false);
	printf("message payload=%.*s qos=%d sub-id=%u user=%s:%s content-type=%s "
	    "correlation=%.*s response-topic-ok=%d expiry-ok=%d\n",
	    msg->payloadlen, (const char *)msg->payload, msg->qos, sub_id,
	    k ? k : "-", v ? v : "-", ct ? ct : "-", (int)corr_len,
	    corr ? (const char *)corr : "", rt && strstr(rt, "/reply") != NULL,
	    expiry >= 25 && expiry <= 30);
	free(k);
	free(v);
	free(ct);
	free(rt);
	free(corr);
	s->received++;
}

static void
on_unsubscribe(struct mosquitto *m, void *obj, int mid, const mosquitto_property *p)
{
	struct state *s = obj;

	(void)m;
	(void)mid;
	(void)p;
	s->unsubacked++;
}

int
main(int argc, char **argv)
{
	struct mqttc_args a = mqttc_parse(argc, argv);
	struct state s = {0};
	mosquitto_property *cp = NULL, *sp = NULL, *pp = NULL;
	char filter[160], topic[160], reply[160], id[64];

	mosquitto_lib_init();
	snprintf(id, sizeof(id), "mqttc-v5-%d", (int)getpid());
	struct mosquitto *m = mosquitto_new(id, true, &s);
	CHECK(m != NULL, "mosquitto_new");
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	if (a.user)
		mosquitto_username_pw_set(m, a.user, a.pass);
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_subscribe_v5_callback_set(m, on_subscribe);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_message_v5_callback_set(m, on_message);
	mosquitto_unsubscribe_v5_callback_set(m, on_unsubscribe);

	mosquitto_property_add_int16(&cp, MQTT_PROP_RECEIVE_MAXIMUM, 10);
	CHECK(mosquitto_connect_bind_v5(m, a.host, a.port, 10, NULL, cp) == 0, "connect");
	CHECK(mqttc_pump(m, &s.connected, 1, 5), "no CONNACK");

	snprintf(filter, sizeof(filter), "%s/v5/#", a.prefix);
	mosquitto_property_add_varint(&sp, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 17);
	CHECK(mosquitto_subscribe_v5(m, NULL, filter, 1, 0, sp) == 0, "subscribe");
	CHECK(mqttc_pump(m, &s.subacked, 1, 5), "no SUBACK");

	snprintf(topic, sizeof(topic), "%s/v5/x", a.prefix);
	snprintf(reply, sizeof(reply), "%s/reply", a.prefix);
	mosquitto_property_add_string_pair(&pp, MQTT_PROP_USER_PROPERTY, "k", "v");
	mosquitto_property_add_string(&pp, MQTT_PROP_CONTENT_TYPE, "text/plain");
	mosquitto_property_add_binary(&pp, MQTT_PROP_CORRELATION_DATA, "c-1", 3);
	mosquitto_property_add_string(&pp, MQTT_PROP_RESPONSE_TOPIC, reply);
	mosquitto_property_add_int32(&pp, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 30);
	CHECK(mosquitto_publish_v5(m, NULL, topic, 5, "hello", 1, false, pp) == 0, "publish");
	CHECK(mqttc_pump(m, &s.published, 1, 5), "no PUBACK");
	CHECK(mqttc_pump(m, &s.received, 1, 5), "no message");

	CHECK(mosquitto_unsubscribe_v5(m, NULL, filter, NULL) == 0, "unsubscribe");
	CHECK(mqttc_pump(m, &s.unsubacked, 1, 5), "no UNSUBACK");
	CHECK(mosquitto_publish_v5(m, NULL, topic, 5, "after", 1, false, NULL) == 0, "pub");
	CHECK(mqttc_pump(m, &s.published, 2, 5), "no PUBACK");
	volatile int never = 0;
	mqttc_pump(m, &never, 1, 0.3);
	CHECK(s.received == 1, "delivered after UNSUBSCRIBE");

	mosquitto_disconnect_v5(m, 0, NULL);
	mosquitto_loop(m, 50, 1);
	mosquitto_property_free_all(&cp);
	mosquitto_property_free_all(&sp);
	mosquitto_property_free_all(&pp);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	printf("OK v5\n");
	return 0;
}
