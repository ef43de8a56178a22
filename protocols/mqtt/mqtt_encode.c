/*
 * mqtt_encode.c: encoders for every control packet, server-sent (CONNACK,
 * PUBLISH, acks, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH) and
 * client-sent (CONNECT, SUBSCRIBE, ...; for tests, the fuzzer and
 * sluice-bench).
 *
 * Two passes over the same struct: body_size() computes the remaining
 * length exactly (or SIZE_MAX when the packet cannot be encoded), then
 * write_body() fills a buffer the caller has checked. Writers never read
 * the buffer back, so a short buffer is refused before anything is
 * written. Canonical forms: shortest varints, properties in id order,
 * v5 short forms of acks/DISCONNECT/AUTH when code 0 and no properties.
 */
#include "mqtt_codec_int.h"

static bool
props_empty(const struct mqtt_props *props)
{
	return mqtt_props_size(props) == 0;
}

/* Add n to *acc; SIZE_MAX is sticky. */
static void
add(size_t *acc, size_t n)
{
	*acc = (*acc == SIZE_MAX || n == SIZE_MAX) ? SIZE_MAX : *acc + n;
}

static size_t
str_size(struct bk_str s)
{
	return s.len > 0xFFFF ? SIZE_MAX : 2 + (size_t)s.len;
}

static size_t
connect_size(uint8_t level, const struct mqtt_connect *c)
{
	size_t n = level == MQTT_V31 ? 8 + 4 : 6 + 4;   /* name, level, flags, keepalive */

	if (level == MQTT_V5)
		add(&n, props_total(&c->props));
	add(&n, str_size(c->client_id));
	if (c->will) {
		if (level == MQTT_V5)
			add(&n, props_total(&c->will_props));
		add(&n, str_size(c->will_topic));
		add(&n, str_size(c->will_payload));
	}
	if (c->has_username)
		add(&n, str_size(c->username));
	if (c->has_password)
		add(&n, str_size(c->password));
	return c->will_qos > 2 ? SIZE_MAX : n;
}

static size_t
publish_body_size(uint8_t level, const struct mqtt_publish *pub, bool with_payload)
{
	size_t n = str_size(pub->topic);

	if (pub->qos > 2)
		return SIZE_MAX;
	if (pub->qos > 0)
		add(&n, 2);
	if (level == MQTT_V5)
		add(&n, props_total(&pub->props));
	if (with_payload)
		add(&n, pub->payload_len);
	return n;
}

static size_t
sub_list_size(uint8_t type, const struct mqtt_subscribe *s)
{
	size_t n = 0;

	if (s->entries == NULL)
		return s->list_len;
	for (uint32_t i = 0; i < s->count; i++)
		add(&n, str_size(s->entries[i].filter) + (type == MQTT_SUBSCRIBE));
	return n;
}

/* v5 "code, then properties, each optional" bodies (acks after the id). */
static size_t
reason_tail_size(uint8_t level, uint8_t code, const struct mqtt_props *props)
{
	if (level < MQTT_V5)
		return 0;
	if (props_empty(props))
		return code == 0 ? 0 : 1;
	return 1 + props_total(props);
}

static size_t
body_size(uint8_t level, const struct mqtt_packet *pkt)
{
	const struct mqtt_props *pr = NULL;
	size_t n = 0;

	switch (pkt->type) {
	case MQTT_CONNECT:
		return connect_size(level, &pkt->u.connect);
	case MQTT_CONNACK:
		pr = &pkt->u.connack.props;
		return level == MQTT_V5 ? 2 + props_total(pr) : 2;
	case MQTT_PUBLISH:
		return publish_body_size(level, &pkt->u.publish, true);
	case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
		n = reason_tail_size(level, pkt->u.ack.code, &pkt->u.ack.props);
		return n == SIZE_MAX ? SIZE_MAX : 2 + n;
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		n = 2;
		if (level == MQTT_V5)
			add(&n, props_total(&pkt->u.subscribe.props));
		add(&n, sub_list_size(pkt->type, &pkt->u.subscribe));
		return n;
	case MQTT_SUBACK: case MQTT_UNSUBACK:
		n = 2;
		if (level == MQTT_V5)
			add(&n, props_total(&pkt->u.suback.props));
		if (pkt->type == MQTT_SUBACK || level == MQTT_V5)
			add(&n, pkt->u.suback.count);
		return n;
	case MQTT_PINGREQ: case MQTT_PINGRESP:
		return 0;
	case MQTT_AUTH:
		if (level < MQTT_V5)
			return SIZE_MAX;
		/* fall through */
	case MQTT_DISCONNECT:
		return reason_tail_size(level, pkt->u.reason.code, &pkt->u.reason.props);
	}
	return SIZE_MAX;
}

static uint8_t
first_octet(const struct mqtt_packet *pkt)
{
	const struct mqtt_publish *pub = &pkt->u.publish;

	switch (pkt->type) {
	case MQTT_PUBLISH:
		return (uint8_t)(MQTT_PUBLISH << 4 | pub->dup << 3 | pub->qos << 1 | pub->retain);
	case MQTT_PUBREL: case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		return (uint8_t)(pkt->type << 4 | 0x2);
	default:
		return (uint8_t)(pkt->type << 4);
	}
}

size_t
mqtt_packet_size(uint8_t level, const struct mqtt_packet *pkt)
{
	size_t n = body_size(level, pkt);

	if (n == SIZE_MAX || n > MQTT_MAX_REMAINING)
		return SIZE_MAX;
	return 1 + varint_size((uint32_t)n) + n;
}

static uint8_t *
write_props(uint8_t *p, const struct mqtt_props *props)
{
	return mqtt_props_write(p, props, mqtt_props_size(props));
}

static uint8_t *
write_connect(uint8_t *p, uint8_t level, const struct mqtt_connect *c)
{
	uint8_t flags = (uint8_t)(c->clean << 1 | c->will << 2 | c->will_qos << 3 |
				  c->will_retain << 5 | c->has_password << 6 |
				  c->has_username << 7);

	p = wr_bin(p, level == MQTT_V31 ? BK_STR_LIT("MQIsdp") : BK_STR_LIT("MQTT"));
	*p++ = level;
	*p++ = flags;
	p = bk_st16(p, c->keepalive);
	if (level == MQTT_V5)
		p = write_props(p, &c->props);
	p = wr_bin(p, c->client_id);
	if (c->will) {
		if (level == MQTT_V5)
			p = write_props(p, &c->will_props);
		p = wr_bin(p, c->will_topic);
		p = wr_bin(p, c->will_payload);
	}
	if (c->has_username)
		p = wr_bin(p, c->username);
	if (c->has_password)
		p = wr_bin(p, c->password);
	return p;
}

static uint8_t *
write_publish_head(uint8_t *p, uint8_t level, const struct mqtt_publish *pub)
{
	p = wr_bin(p, pub->topic);
	if (pub->qos > 0)
		p = bk_st16(p, pub->packet_id);
	if (level == MQTT_V5)
		p = write_props(p, &pub->props);
	return p;
}

static uint8_t *
write_subscribe(uint8_t *p, uint8_t type, uint8_t level, const struct mqtt_subscribe *s)
{
	p = bk_st16(p, s->packet_id);
	if (level == MQTT_V5)
		p = write_props(p, &s->props);
	if (s->entries == NULL) {
		if (s->list_len)
			memcpy(p, s->list, s->list_len);
		return p + s->list_len;
	}
	for (uint32_t i = 0; i < s->count; i++) {
		const struct mqtt_sub_entry *e = &s->entries[i];

		p = wr_bin(p, e->filter);
		if (type != MQTT_SUBSCRIBE)
			continue;
		*p = e->qos & 0x3;
		if (level == MQTT_V5)
			*p |= (uint8_t)(e->no_local << 2 | e->retain_as_published << 3 |
					(e->retain_handling & 0x3) << 4);
		p++;
	}
	return p;
}

static uint8_t *
write_reason_tail(uint8_t *p, uint8_t level, uint8_t code, const struct mqtt_props *props)
{
	size_t ps;

	if (level < MQTT_V5)
		return p;
	ps = mqtt_props_size(props);
	if (ps == 0 && code == 0)
		return p;
	*p++ = code;
	return ps ? mqtt_props_write(p, props, ps) : p;
}

static uint8_t *
write_body(uint8_t *p, uint8_t level, const struct mqtt_packet *pkt)
{
	const struct mqtt_publish *pub = &pkt->u.publish;

	switch (pkt->type) {
	case MQTT_CONNECT:
		return write_connect(p, level, &pkt->u.connect);
	case MQTT_CONNACK:
		*p++ = level == MQTT_V31 ? 0 : pkt->u.connack.session_present;
		*p++ = pkt->u.connack.code;
		return level == MQTT_V5 ? write_props(p, &pkt->u.connack.props) : p;
	case MQTT_PUBLISH:
		p = write_publish_head(p, level, pub);
		if (pub->payload_len)
			memcpy(p, pub->payload, pub->payload_len);
		return p + pub->payload_len;
	case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
		p = bk_st16(p, pkt->u.ack.packet_id);
		return write_reason_tail(p, level, pkt->u.ack.code, &pkt->u.ack.props);
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		return write_subscribe(p, pkt->type, level, &pkt->u.subscribe);
	case MQTT_SUBACK: case MQTT_UNSUBACK:
		p = bk_st16(p, pkt->u.suback.packet_id);
		if (level == MQTT_V5)
			p = write_props(p, &pkt->u.suback.props);
		if (pkt->type == MQTT_UNSUBACK && level < MQTT_V5)
			return p;
		if (pkt->u.suback.count)
			memcpy(p, pkt->u.suback.codes, pkt->u.suback.count);
		return p + pkt->u.suback.count;
	case MQTT_DISCONNECT: case MQTT_AUTH:
		return write_reason_tail(p, level, pkt->u.reason.code, &pkt->u.reason.props);
	default:
		return p;
	}
}

int
mqtt_packet_encode(uint8_t *buf, size_t cap, uint8_t level, const struct mqtt_packet *pkt)
{
	size_t body = body_size(level, pkt), total;
	uint8_t *p;

	if (body == SIZE_MAX || body > MQTT_MAX_REMAINING)
		return -EINVAL;
	total = 1 + varint_size((uint32_t)body) + body;
	if (total > cap)
		return -ENOSPC;
	buf[0] = first_octet(pkt);
	p = wr_varint(buf + 1, (uint32_t)body);
	p = write_body(p, level, pkt);
	BK_ASSERT((size_t)(p - buf) == total);
	return (int)total;
}

size_t
mqtt_publish_head_size(uint8_t level, const struct mqtt_publish *pub)
{
	size_t head = publish_body_size(level, pub, false), rem;

	if (head == SIZE_MAX)
		return SIZE_MAX;
	rem = head + pub->payload_len;
	if (rem > MQTT_MAX_REMAINING)
		return SIZE_MAX;
	return 1 + varint_size((uint32_t)rem) + head;
}

int
mqtt_publish_encode_head(uint8_t *buf, size_t cap, uint8_t level,
			 const struct mqtt_publish *pub)
{
	struct mqtt_packet pkt = { .type = MQTT_PUBLISH };
	size_t size = mqtt_publish_head_size(level, pub), head;
	uint8_t *p;

	if (size == SIZE_MAX)
		return -EINVAL;
	if (size > cap)
		return -ENOSPC;
	pkt.u.publish = *pub;
	head = publish_body_size(level, pub, false);
	buf[0] = first_octet(&pkt);
	p = wr_varint(buf + 1, (uint32_t)(head + pub->payload_len));
	p = write_publish_head(p, level, pub);
	BK_ASSERT((size_t)(p - buf) == size);
	return (int)size;
}
