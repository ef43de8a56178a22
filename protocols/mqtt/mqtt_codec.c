/*
 * mqtt_codec.c: fixed header and the decoder of every control packet.
 *
 * Pure over bytes: no allocation, no libevent, no global state. A decoded
 * packet borrows every string and span from the input. Each packet type
 * has a small decode function; the shared rules are:
 *   - the body must be consumed exactly: a short field or trailing bytes
 *     are malformed (-EPROTO);
 *   - UTF-8 strings are checked as they are read (-EILSEQ);
 *   - v5 property blocks go through mqtt_props_decode() with the packet's
 *     context, so a misplaced property is a protocol error (-EBADMSG);
 *   - reason codes received are checked against the packet's list
 *     [MQTT-3.4.2-1 ... MQTT-3.15.2-1] (-EBADMSG), except DISCONNECT's,
 *     where an unknown code reads as a plain disconnection.
 * See mqtt_codec.h for the error-to-reason-code table.
 */
#include "mqtt_codec_int.h"

/* Required fixed-header flags per type [MQTT-2.1.3-1; 3.1.1 MQTT-2.2.2-1]. */
static const uint8_t fixed_flags[16] = {
	[MQTT_PUBREL] = 0x2, [MQTT_SUBSCRIBE] = 0x2, [MQTT_UNSUBSCRIBE] = 0x2,
};

static const char *const type_names[16] = {
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH",
};

const char *
mqtt_type_name(uint8_t type)
{
	return type < 16 ? type_names[type] : "?";
}

static int
flags_ok(uint8_t type, uint8_t flags, uint8_t level)
{
	if (type == MQTT_PUBLISH)
		/* QoS 3 [MQTT-3.3.1-4]; DUP on QoS 0 [MQTT-3.3.1-2] */
		return (flags & 0x6) != 0x6 && (flags & 0xE) != 0x8;
	/* CONNECT: its level is in its body, and 3.1 did not reserve the
	 * flags (decode_connect checks them for 3.1.1 and 5.0) */
	if (type == MQTT_CONNECT)
		return true;
	/* 3.1 sets DUP (and QoS 1) on retried PUBREL, SUBSCRIBE, UNSUBSCRIBE. */
	if (level == MQTT_V31 && fixed_flags[type] == 0x2)
		return (flags & 0x7) == 0x2;
	return flags == fixed_flags[type];
}

int
mqtt_fixed_parse(const uint8_t *p, size_t len, uint8_t level, uint32_t max_packet,
		 struct mqtt_fixed *h)
{
	struct mqtt_rd r = { p, len < MQTT_MAX_FIXED ? len : MQTT_MAX_FIXED, 1 };
	uint32_t rem;
	int res;

	if (len < 2)
		return 0;
	h->type = p[0] >> 4;
	h->flags = p[0] & 0x0F;
	if (h->type == 0 || (h->type == MQTT_AUTH && level != 0 && level < MQTT_V5))
		return -EPROTO;
	if (!flags_ok(h->type, h->flags, level))
		return -EPROTO;
	res = rd_varint(&r, &rem, level == MQTT_V5);
	if (res < 0) {
		/* Short because the bytes are not here yet, or a 5th octet. */
		if (len < MQTT_MAX_FIXED && r.pos == len && (p[len - 1] & 0x80))
			return 0;
		return -EPROTO;
	}
	h->hdr_len = (uint8_t)r.pos;
	h->rem_len = rem;
	h->total = (uint32_t)r.pos + rem;
	if (max_packet && h->total > max_packet)
		return -EMSGSIZE;
	return 1;
}

/* ---- reason codes ---------------------------------------------------- */

static bool
rc_in(const uint8_t *codes, size_t n, uint8_t rc)
{
	return memchr(codes, rc, n) != NULL;
}

static const uint8_t rc_connack[] = { 0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
	0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F };
static const uint8_t rc_puback[] = { 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99 };
static const uint8_t rc_pubrel[] = { 0x00, 0x92 };
static const uint8_t rc_suback[] = { 0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91,
	0x97, 0x9E, 0xA1, 0xA2 };
static const uint8_t rc_unsuback[] = { 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91 };
static const uint8_t rc_auth[] = { 0x00, 0x18, 0x19 };
static const uint8_t rc_v3_suback[] = { 0x00, 0x01, 0x02, 0x80 };

#define RC_OK(set, rc) rc_in(set, sizeof(set), rc)

/* ---- per packet ------------------------------------------------------ */

static bool
str_is(struct bk_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static int
decode_connect(struct mqtt_rd *r, uint8_t fixed_flags, struct mqtt_connect *c)
{
	uint8_t flags;
	bool v5;
	int res;

	memset(c, 0, sizeof(*c));
	if ((res = rd_str(r, &c->protocol_name)) < 0 || (res = rd_u8(r, &c->level)) < 0)
		return res;
	if (str_is(c->protocol_name, "MQTT")) {
		if (c->level != MQTT_V311 && c->level != MQTT_V5)
			return -ENOTSUP;                /* [MQTT-3.1.2-2] */
	} else if (str_is(c->protocol_name, "MQIsdp")) {
		if (c->level != MQTT_V31)
			return -ENOTSUP;
	} else {
		return -EPROTO;                         /* [MQTT-3.1.2-1] */
	}
	v5 = c->level == MQTT_V5;
	if (rd_u8(r, &flags) < 0 || rd_u16(r, &c->keepalive) < 0)
		return -EPROTO;
	/* Reserved bits [MQTT-2.1.3-1], [MQTT-3.1.2-3]; MQTT 3.1 reserved
	 * neither, and its clients are let set them. */
	if (c->level != MQTT_V31 && (fixed_flags || (flags & 0x01)))
		return -EPROTO;
	c->clean = flags & 0x02;
	c->will = flags & 0x04;
	c->will_qos = (flags >> 3) & 0x3;
	c->will_retain = flags & 0x20;
	c->has_password = flags & 0x40;
	c->has_username = flags & 0x80;
	if (c->will_qos == 3)
		return -EPROTO;                         /* [MQTT-3.1.2-14] */
	if (!c->will && (c->will_qos || c->will_retain))
		return -EPROTO;                         /* [MQTT-3.1.2-11/13/15] */
	/* 3.1.1 [MQTT-3.1.2-22]; 5.0 allows a password alone (§3.1.2.9). */
	if (!v5 && c->has_password && !c->has_username)
		return -EPROTO;
	if (v5 && (res = mqtt_props_decode(r, MQTT_PCTX_CONNECT, &c->props)) < 0)
		return res;
	/* Payload order [MQTT-3.1.3-1]: client id, will, user name, password. */
	if ((res = rd_str(r, &c->client_id)) < 0)
		return res;
	if (c->will) {
		if (v5 && (res = mqtt_props_decode(r, MQTT_PCTX_WILL, &c->will_props)) < 0)
			return res;
		if ((res = rd_str(r, &c->will_topic)) < 0)
			return res;
		if (rd_bin(r, &c->will_payload) < 0)
			return -EPROTO;
	}
	if (c->has_username && (res = rd_str(r, &c->username)) < 0)
		return res;
	if (c->has_password && rd_bin(r, &c->password) < 0)
		return -EPROTO;
	return 0;
}

static int
decode_connack(struct mqtt_rd *r, uint8_t level, struct mqtt_connack *c)
{
	uint8_t ack;

	memset(c, 0, sizeof(*c));
	if (rd_u8(r, &ack) < 0 || rd_u8(r, &c->code) < 0)
		return -EPROTO;
	if (level == MQTT_V31)
		ack = 0;                                /* 3.1: an unused octet */
	if (ack & 0xFE)
		return -EPROTO;                         /* [MQTT-3.2.2-1] */
	c->session_present = ack & 1;
	if (level < MQTT_V5)
		return c->code <= MQTT_V3_NOT_AUTHORIZED ? 0 : -EBADMSG;
	if (!RC_OK(rc_connack, c->code))
		return -EBADMSG;                        /* [MQTT-3.2.2-8] */
	return mqtt_props_decode(r, MQTT_PCTX_CONNACK, &c->props);
}

static int
decode_publish(struct mqtt_rd *r, uint8_t flags, uint8_t level, struct mqtt_publish *pub)
{
	int res;

	memset(pub, 0, sizeof(*pub));
	pub->dup = flags & 0x8;
	pub->qos = (flags >> 1) & 0x3;
	pub->retain = flags & 0x1;
	if ((res = rd_str(r, &pub->topic)) < 0)
		return res;                             /* [MQTT-3.3.2-1] */
	if (pub->qos > 0) {
		if (rd_u16(r, &pub->packet_id) < 0)
			return -EPROTO;
		if (pub->packet_id == 0)
			return -EBADMSG;                /* [MQTT-2.2.1-3] */
	}
	if (level == MQTT_V5 && (res = mqtt_props_decode(r, MQTT_PCTX_PUBLISH, &pub->props)) < 0)
		return res;
	/* A wildcard in a topic name [MQTT-3.3.2-2], more levels than
	 * MQTT_TOPIC_LEVELS_MAX, or an empty one without a topic alias (v5
	 * §3.3.2.3.4) [MQTT-4.7.3-1]: the packet is malformed, as Mosquitto
	 * judges it. */
	if (memchr(pub->topic.p, '+', pub->topic.len) || memchr(pub->topic.p, '#', pub->topic.len) ||
	    mqtt_topic_too_deep(pub->topic))
		return -EPROTO;
	if (pub->topic.len == 0 && !MQTT_HAS(&pub->props, MQTT_PROP_TOPIC_ALIAS))
		return -EPROTO;
	pub->payload = r->p + r->pos;
	pub->payload_len = (uint32_t)rd_left(r);
	r->pos = r->len;
	return 0;
}

static int
decode_ack(struct mqtt_rd *r, uint8_t type, uint8_t level, struct mqtt_ack *a)
{
	bool ok;

	memset(a, 0, sizeof(*a));
	if (rd_u16(r, &a->packet_id) < 0)
		return -EPROTO;
	if (a->packet_id == 0)
		return -EBADMSG;
	if (level < MQTT_V5 || rd_left(r) == 0)
		return 0;                               /* code 0, no properties */
	(void)rd_u8(r, &a->code);
	ok = type == MQTT_PUBACK || type == MQTT_PUBREC ? RC_OK(rc_puback, a->code)
						      : RC_OK(rc_pubrel, a->code);
	if (!ok)
		return -EBADMSG;                        /* [MQTT-3.4.2-1 ... 3.7.2-1] */
	if (rd_left(r) == 0)
		return 0;                               /* "less than 4": no properties */
	return mqtt_props_decode(r, MQTT_PCTX_PUBACK, &a->props);
}

static bool share_has_filter(struct bk_str f);

static int
decode_subscribe(struct mqtt_rd *r, uint8_t type, uint8_t level, struct mqtt_subscribe *s)
{
	uint32_t pos = 0;
	int res;

	memset(s, 0, sizeof(*s));
	if (rd_u16(r, &s->packet_id) < 0)
		return -EPROTO;
	if (s->packet_id == 0)
		return -EBADMSG;                        /* [MQTT-2.2.1-3] */
	if (level == MQTT_V5 && (res = mqtt_props_decode(r,
			type == MQTT_SUBSCRIBE ? MQTT_PCTX_SUBSCRIBE : MQTT_PCTX_UNSUBSCRIBE,
			&s->props)) < 0)
		return res;
	s->list = r->p + r->pos;
	s->list_len = (uint32_t)rd_left(r);
	r->pos = r->len;
	/* Validate every entry now so that mqtt_sub_next() cannot fail later. */
	while (pos < s->list_len) {
		struct mqtt_rd lr = { s->list, s->list_len, pos };
		struct bk_str f;
		uint8_t o = 0;
		bool shared;

		if ((res = rd_str(&lr, &f)) < 0)
			return res;                     /* [MQTT-3.8.3-1], [MQTT-3.10.3-1] */
		if (f.len == 0)
			return -EPROTO;                 /* [MQTT-4.7.3-1] */
		shared = f.len >= 7 && memcmp(f.p, "$share/", 7) == 0;
		if (type == MQTT_SUBSCRIBE) {
			if (rd_u8(&lr, &o) < 0)
				return -EPROTO;
			if (level < MQTT_V5 && (o & 0xFC))
				return -EPROTO;         /* 3.1.1 [MQTT-3.8.3-4] */
			if (o & 0xC0)
				return -EPROTO;         /* [MQTT-3.8.3-5] */
			if ((o & 0x3) == 3)
				return -EPROTO;
			if (((o >> 4) & 0x3) == 3)
				return -EPROTO;         /* retain handling 3 (§3.8.3.1) */
			if (level == MQTT_V5 && shared && (o & 0x4))
				return -EBADMSG;        /* [MQTT-3.8.3-4] */
		}
		/* "$share/group/" with no filter after the group [MQTT-4.8.2-2] */
		if (level == MQTT_V5 && shared && !share_has_filter(f))
			return -EBADMSG;
		pos = (uint32_t)lr.pos;
		s->count++;
	}
	/* At least one entry [MQTT-3.8.3-2 / 3.1.1 MQTT-3.8.3-3], [MQTT-3.10.3-2]. */
	return s->count ? 0 : -EPROTO;
}

/* "$share/{group}/{filter}" names a filter: a '/' after a non-empty
 * group, and something after it. */
static bool
share_has_filter(struct bk_str f)
{
	const char *g = f.p + 7, *slash = memchr(g, '/', f.len - 7);

	return slash && slash > g && slash + 1 < f.p + f.len;
}

int
mqtt_sub_next(const struct mqtt_subscribe *s, uint8_t type, uint8_t level,
	      uint32_t *pos, struct mqtt_sub_entry *e)
{
	struct mqtt_rd r = { s->list, s->list_len, *pos };
	struct bk_str group, filter;
	uint8_t o = 0;

	memset(e, 0, sizeof(*e));
	if (rd_bin(&r, &e->filter) < 0)
		return 0;
	if (type == MQTT_SUBSCRIBE && rd_u8(&r, &o) < 0)
		return 0;
	e->qos = o & 0x3;
	if (level == MQTT_V5) {
		e->no_local = o & 0x4;
		e->retain_as_published = o & 0x8;
		e->retain_handling = (o >> 4) & 0x3;
	}
	switch (mqtt_share_parse(e->filter, &group, &filter)) {
	case 1: e->filter_ok = true; break;
	case 0: e->filter_ok = mqtt_topic_filter_check(e->filter) == 0; break;
	default: e->filter_ok = false; break;
	}
	*pos = (uint32_t)r.pos;
	return 1;
}

static int
decode_suback(struct mqtt_rd *r, uint8_t type, uint8_t level, struct mqtt_suback *s)
{
	int res;

	memset(s, 0, sizeof(*s));
	if (rd_u16(r, &s->packet_id) < 0)
		return -EPROTO;
	if (level == MQTT_V5 && (res = mqtt_props_decode(r,
			type == MQTT_SUBACK ? MQTT_PCTX_SUBACK : MQTT_PCTX_UNSUBACK,
			&s->props)) < 0)
		return res;
	s->codes = r->p + r->pos;
	s->count = (uint32_t)rd_left(r);
	r->pos = r->len;
	if (type == MQTT_UNSUBACK && level < MQTT_V5)
		return s->count == 0 ? 0 : -EPROTO;
	if (s->count == 0)
		return -EPROTO;
	for (uint32_t i = 0; i < s->count; i++) {
		uint8_t rc = s->codes[i];
		bool ok = type == MQTT_UNSUBACK ? RC_OK(rc_unsuback, rc)
			: level == MQTT_V5 ? RC_OK(rc_suback, rc) : RC_OK(rc_v3_suback, rc);

		if (!ok)
			return -EBADMSG;                /* [MQTT-3.9.3-2], [MQTT-3.11.3-2] */
	}
	return 0;
}

/* DISCONNECT and AUTH: everything optional by remaining length (v5). */
static int
decode_reason(struct mqtt_rd *r, uint8_t type, uint8_t level, struct mqtt_reason *d)
{
	memset(d, 0, sizeof(*d));
	if (level < MQTT_V5 || rd_left(r) == 0)
		return 0;
	(void)rd_u8(r, &d->code);
	/* A DISCONNECT code we do not know is an ordinary disconnection for
	 * the receiver (Mosquitto reads it so); only 0x04 asks for the will. */
	if (type == MQTT_AUTH && !RC_OK(rc_auth, d->code))
		return -EBADMSG;                        /* [MQTT-3.15.2-1] */
	if (rd_left(r) == 0)
		return 0;
	return mqtt_props_decode(r, type == MQTT_AUTH ? MQTT_PCTX_AUTH : MQTT_PCTX_DISCONNECT,
				 &d->props);
}

int
mqtt_packet_decode(const uint8_t *p, size_t len, uint8_t level, struct mqtt_packet *pkt)
{
	struct mqtt_fixed h;
	struct mqtt_rd r;
	int res;

	if (len > 0 && p[0] >> 4 == MQTT_CONNECT)
		level = 0;                              /* CONNECT brings its own */
	res = mqtt_fixed_parse(p, len, level, 0, &h);
	if (res <= 0 || h.total != len)
		return res < 0 ? res : -EPROTO;
	pkt->type = h.type;
	pkt->flags = h.flags;
	r = (struct mqtt_rd){ p + h.hdr_len, h.rem_len, 0 };
	switch (h.type) {
	case MQTT_CONNECT:
		res = decode_connect(&r, h.flags, &pkt->u.connect);
		break;
	case MQTT_CONNACK:
		res = decode_connack(&r, level, &pkt->u.connack);
		break;
	case MQTT_PUBLISH:
		res = decode_publish(&r, h.flags, level, &pkt->u.publish);
		break;
	case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
		res = decode_ack(&r, h.type, level, &pkt->u.ack);
		break;
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		res = decode_subscribe(&r, h.type, level, &pkt->u.subscribe);
		break;
	case MQTT_SUBACK: case MQTT_UNSUBACK:
		res = decode_suback(&r, h.type, level, &pkt->u.suback);
		break;
	case MQTT_PINGREQ: case MQTT_PINGRESP:
		res = 0;
		break;
	case MQTT_DISCONNECT:
		res = decode_reason(&r, h.type, level, &pkt->u.reason);
		break;
	case MQTT_AUTH:
		if (level != MQTT_V5)
			return -EPROTO;
		res = decode_reason(&r, h.type, level, &pkt->u.reason);
		break;
	default:
		return -EPROTO;
	}
	if (res < 0)
		return res;
	return rd_left(&r) == 0 ? 1 : -EPROTO;          /* trailing bytes */
}
