/*
 * fuzz_mqtt.c: libFuzzer target for the MQTT codec.
 *
 * The first input octet picks the protocol level (3 + octet % 3: 3.1,
 * 3.1.1, 5.0); the rest is read as a stream of packets, the way the reader
 * will: mqtt_fixed_parse() on what is left, then mqtt_packet_decode() on
 * an exact-size heap copy of the packet (a short last packet takes what
 * is left; a bad fixed header skips one octet). A decoded CONNECT switches
 * the level to its own, as a session would. Every decoded packet (all
 * types have encoders) must:
 *   - have an encodable size no larger than the input (the encoder's forms
 *     are canonical: shortest lengths, v5 short acks);
 *   - encode to exactly that size, and refuse a buffer one octet short;
 *   - decode again, and re-encode to the same bytes (a fixed point);
 *   - for PUBLISH, give the same bytes through the head-only encoder.
 * Property and subscription iterators are walked to their ends, and the
 * UTF-8 and topic checks run on the raw input. Any mismatch aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_codec.h"

#define REQUIRE(x) do { \
	if (!(x)) { \
		fprintf(stderr, "fuzz_mqtt: %s:%d: %s\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

static const struct mqtt_props *
props_of(const struct mqtt_packet *p, const struct mqtt_props **will)
{
	*will = NULL;
	switch (p->type) {
	case MQTT_CONNECT:
		*will = &p->u.connect.will_props;
		return &p->u.connect.props;
	case MQTT_CONNACK: return &p->u.connack.props;
	case MQTT_PUBLISH: return &p->u.publish.props;
	case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
		return &p->u.ack.props;
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE: return &p->u.subscribe.props;
	case MQTT_SUBACK: case MQTT_UNSUBACK: return &p->u.suback.props;
	case MQTT_DISCONNECT: case MQTT_AUTH: return &p->u.reason.props;
	}
	return NULL;
}

static void
walk_props(const struct mqtt_props *pr)
{
	struct bk_str k, v;
	uint32_t pos = 0, n = 0, id;

	if (pr == NULL)
		return;
	while (mqtt_props_user_next(pr, &pos, &k, &v) == 1)
		n++;
	REQUIRE(n == pr->n_users);
	pos = n = 0;
	while (mqtt_props_sub_id_next(pr, &pos, &id) == 1) {
		REQUIRE(id >= 1 && id <= MQTT_MAX_SUB_ID);
		n++;
	}
	REQUIRE(n == pr->n_sub_ids);
}

static void
walk(const struct mqtt_packet *p, uint8_t level)
{
	const struct mqtt_props *will;

	walk_props(props_of(p, &will));
	walk_props(will);
	if (p->type == MQTT_SUBSCRIBE || p->type == MQTT_UNSUBSCRIBE) {
		struct mqtt_sub_entry e;
		struct bk_str g, f;
		uint32_t pos = 0, n = 0;

		while (mqtt_sub_next(&p->u.subscribe, p->type, level, &pos, &e) == 1) {
			(void)mqtt_share_parse(e.filter, &g, &f);
			n++;
		}
		REQUIRE(n == p->u.subscribe.count && pos == p->u.subscribe.list_len);
	}
	if (p->type == MQTT_PUBLISH && p->u.publish.topic.len)
		REQUIRE(mqtt_topic_name_check(p->u.publish.topic) == 0);
}

static void
check_packet(const uint8_t *in, size_t len, uint8_t level)
{
	struct mqtt_packet p, q;
	size_t size;
	uint8_t *a, *b;
	int n;

	if (mqtt_packet_decode(in, len, level, &p) != 1)
		return;
	if (p.type == MQTT_CONNECT)
		level = p.u.connect.level;
	walk(&p, level);
	size = mqtt_packet_size(level, &p);
	REQUIRE(size != SIZE_MAX && size <= len);
	a = malloc(size);
	b = malloc(size);
	REQUIRE(mqtt_packet_encode(a, size - 1, level, &p) == -ENOSPC);
	n = mqtt_packet_encode(a, size, level, &p);
	REQUIRE(n == (int)size);
	REQUIRE(mqtt_packet_decode(a, size, level, &q) == 1);
	REQUIRE(q.type == p.type);
	REQUIRE(mqtt_packet_encode(b, size, level, &q) == n);
	REQUIRE(memcmp(a, b, size) == 0);
	if (p.type == MQTT_PUBLISH) {
		size_t h = mqtt_publish_head_size(level, &p.u.publish);

		REQUIRE(h + p.u.publish.payload_len == size);
		REQUIRE(mqtt_publish_encode_head(b, h, level, &p.u.publish) == (int)h);
		REQUIRE(memcmp(a, b, h) == 0);
	}
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_str all = { (const char *)data, (uint32_t)(size < 65535 ? size : 65535) };
	struct bk_str g, f;
	uint8_t level;

	if (size < 1)
		return 0;
	(void)mqtt_utf8_check(data, size);
	(void)mqtt_topic_filter_check(all);
	(void)mqtt_share_parse(all, &g, &f);
	level = (uint8_t)(MQTT_V31 + data[0] % 3);
	data++;
	size--;
	while (size > 0) {
		struct mqtt_fixed h;
		struct mqtt_packet p;
		size_t len;
		uint8_t *copy;
		int r = mqtt_fixed_parse(data, size, level, 0, &h);

		if (r < 0) {
			data++;
			size--;
			continue;
		}
		len = r == 1 && h.total <= size ? h.total : size;
		/* an exact-size heap copy, so ASan sees reads past the packet */
		copy = malloc(len);
		memcpy(copy, data, len);
		check_packet(copy, len, level);
		if (mqtt_packet_decode(copy, len, level, &p) == 1 && p.type == MQTT_CONNECT)
			level = p.u.connect.level;
		free(copy);
		data += len;
		size -= len;
	}
	return 0;
}
