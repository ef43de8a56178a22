/*
 * mqttc_qos: MQTT 3.1.1 with libmosquitto: QoS 0, 1 and 2 publishes to a
 * QoS 2 subscription arrive once each at their own QoS, in order; a
 * retained message reaches a later subscription with the retain flag.
 */
#include "mqttc_util.h"

struct state {
	volatile int connected;
	volatile int subacked;
	volatile int published;
	volatile int received;
	int qos[8];
	int retain[8];
	char topic[8][128];
	char payload[8][64];
};

static void
on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct state *s = obj;

	(void)m;
	CHECK(rc == 0, "CONNACK %d", rc);
	s->connected = 1;
}

static void
on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	struct state *s = obj;

	(void)m;
	(void)mid;
	CHECK(n == 1 && granted[0] == 2, "granted %d", n ? granted[0] : -1);
	s->subacked++;
}

static void
on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct state *s = obj;

	(void)m;
	(void)mid;
	s->published++;
}

static void
on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct state *s = obj;
	int i = s->received;

	(void)m;
	CHECK(i < 8, "too many messages");
	s->qos[i] = msg->qos;
	s->retain[i] = msg->retain;
	snprintf(s->topic[i], sizeof(s->topic[i]), "%s", msg->topic);
	snprintf(s->payload[i], sizeof(s->payload[i]), "%.*s", msg->payloadlen,
	    (const char *)msg->payload);
	s->received++;
}

static struct mosquitto *
client(struct mqttc_args *a, const char *id, struct state *s)
{
	struct mosquitto *m = mosquitto_new(id, true, s);

	CHECK(m != NULL, "mosquitto_new");
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	if (a->user)
		mosquitto_username_pw_set(m, a->user, a->pass);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_publish_callback_set(m, on_publish);
	mosquitto_message_callback_set(m, on_message);
	CHECK(mosquitto_connect(m, a->host, a->port, 10) == MOSQ_ERR_SUCCESS, "connect");
	CHECK(mqttc_pump(m, &s->connected, 1, 5), "no CONNACK");
	return m;
}

int
main(int argc, char **argv)
{
	struct mqttc_args a = mqttc_parse(argc, argv);
	struct state ss = {0}, ps = {0};
	char filter[160], topic[160], id[64];

	mosquitto_lib_init();
	snprintf(id, sizeof(id), "mqttc-qos-sub-%d", (int)getpid());
	struct mosquitto *sub = client(&a, id, &ss);
	snprintf(id, sizeof(id), "mqttc-qos-pub-%d", (int)getpid());
	struct mosquitto *pub = client(&a, id, &ps);

	snprintf(filter, sizeof(filter), "%s/q/+", a.prefix);
	CHECK(mosquitto_subscribe(sub, NULL, filter, 2) == 0, "subscribe");
	CHECK(mqttc_pump(sub, &ss.subacked, 1, 5), "no SUBACK");

	for (int q = 0; q <= 2; q++) {
		char body[16];

		snprintf(topic, sizeof(topic), "%s/q/%d", a.prefix, q);
		snprintf(body, sizeof(body), "qos%d", q);
		CHECK(mosquitto_publish(pub, NULL, topic, (int)strlen(body), body, q,
		    false) == 0, "publish");
		CHECK(mqttc_pump2(pub, sub, &ps.published, q + 1, 5),
		    "publish %d not completed", q);
	}
	CHECK(mqttc_pump2(sub, pub, &ss.received, 3, 5), "got %d of 3", ss.received);
	for (int q = 0; q <= 2; q++) {
		char body[16];

		snprintf(body, sizeof(body), "qos%d", q);
		snprintf(topic, sizeof(topic), "%s/q/%d", a.prefix, q);
		CHECK(strcmp(ss.payload[q], body) == 0, "payload %s", ss.payload[q]);
		CHECK(strcmp(ss.topic[q], topic) == 0, "topic %s", ss.topic[q]);
		CHECK(ss.qos[q] == q, "qos %d for %d", ss.qos[q], q);
		CHECK(ss.retain[q] == 0, "retain flag on live delivery");
	}
	/* nothing more (no duplicate QoS 2 delivery) */
	volatile int never = 0;
	mqttc_pump2(sub, pub, &never, 1, 0.3);
	CHECK(ss.received == 3, "%d messages", ss.received);
	printf("qos ok\n");

	snprintf(topic, sizeof(topic), "%s/r", a.prefix);
	CHECK(mosquitto_publish(pub, NULL, topic, 4, "kept", 1, true) == 0, "publish");
	CHECK(mqttc_pump2(pub, sub, &ps.published, 4, 5), "retained publish");
	CHECK(mosquitto_subscribe(sub, NULL, topic, 2) == 0, "subscribe");
	CHECK(mqttc_pump2(sub, pub, &ss.received, 4, 5), "no retained message");
	CHECK(strcmp(ss.payload[3], "kept") == 0 && ss.retain[3] == 1 && ss.qos[3] == 1,
	    "retained %s retain=%d qos=%d", ss.payload[3], ss.retain[3], ss.qos[3]);
	CHECK(mosquitto_publish(pub, NULL, topic, 0, NULL, 1, true) == 0, "clear");
	CHECK(mqttc_pump2(pub, sub, &ps.published, 5, 5), "clear retained");
	printf("retain ok\n");

	mosquitto_disconnect(sub);
	mosquitto_disconnect(pub);
	mosquitto_loop(sub, 50, 1);
	mosquitto_loop(pub, 50, 1);
	mosquitto_destroy(sub);
	mosquitto_destroy(pub);
	mosquitto_lib_cleanup();
	printf("OK qos\n");
	return 0;
}
