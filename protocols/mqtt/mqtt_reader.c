/*
 * mqtt_reader.c: bytes in, packets out. The bufferevent read callback
 * cuts the input into control packets and hands each to its handler.
 *
 * Rules (STYLE.md §5): the fixed header (at most 5 octets) is copied out,
 * never drained first; a packet over [mqtt] max_packet_size is refused
 * from its fixed header alone, before its body is buffered; only whole
 * packets are decoded (pulled up in place, bounded by max_packet_size)
 * and consumed. Every whole packet already buffered is handled in one
 * callback, so a burst of publishes costs one read and one write.
 *
 * Bad input closes the connection [MQTT-4.8.0-1]: v5 clients get a
 * DISCONNECT with the reason code of the codec's error table first
 * (0x81 malformed, 0x82 protocol error, 0x94 topic alias invalid, 0x95
 * packet too large), in the 2-octet form (no Reason String unless [mqtt]
 * reason_strings is on); one info line is logged. Which code, and the
 * few cases closed without a DISCONNECT, follow Mosquitto 2.0 so that
 * byte-exact conversations recorded against it replay unchanged.
 */
#include "mqtt_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What a PUBLISH holds besides its payload and properties: the fixed
 * header, the topic (length and at most 65535 octets), a packet id and
 * the property length. */
#define PUBLISH_OVERHEAD (5 + 2 + 65535 + 2 + 4)

static uint8_t
error_rc(int err)
{
	switch (err) {
	case -EBADMSG:  return MQTT_RC_PROTOCOL_ERROR;
	case -EMSGSIZE: return MQTT_RC_PACKET_TOO_LARGE;
	case -ERANGE:   return MQTT_RC_TOPIC_ALIAS_INVALID;
	default:        return MQTT_RC_MALFORMED;
	}
}

static const char *
error_text(int err)
{
	switch (err) {
	case -EBADMSG:  return "protocol error";
	case -EMSGSIZE: return "packet too large";
	case -ERANGE:   return "topic alias 0";
	case -EILSEQ:   return "malformed UTF-8 string";
	default:        return "malformed packet";
	}
}

static void
dispatch(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	if (c->state == MQTT_CONN_NEW) {
		if (pkt->type == MQTT_CONNECT)
			mqtt_on_connect(c, pkt);
		else
			mqtt_conn_close_or(c, 0, "first packet is %s, not CONNECT",
					   mqtt_type_name(pkt->type));
		return;
	}
	switch (pkt->type) {
	case MQTT_PUBLISH:
		mqtt_on_publish(c, pkt);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		mqtt_on_puback(c, pkt);
		break;
	case MQTT_PUBREL:
		mqtt_on_pubrel(c, pkt);
		break;
	case MQTT_SUBSCRIBE:
		mqtt_on_subscribe(c, pkt);
		break;
	case MQTT_UNSUBSCRIBE:
		mqtt_on_unsubscribe(c, pkt);
		break;
	case MQTT_PINGREQ: {
		struct mqtt_packet resp = { .type = MQTT_PINGRESP };

		mqtt_send(c, &resp);
		break;
	}
	case MQTT_DISCONNECT:
		mqtt_on_disconnect(c, pkt);
		break;
	case MQTT_CONNECT:
		/* [MQTT-3.1.0-2] */
		mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR, "second CONNECT");
		break;
	case MQTT_AUTH:
		mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR,
				   "AUTH without an authentication method");
		break;
	default:
		mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR, "%s from a client",
				   mqtt_type_name(pkt->type));
		break;
	}
}

/*
 * A CONNECT that names a level we do not speak [MQTT-3.1.2-2]: the 3.1.1
 * CONNACK "unacceptable protocol version" (20 02 00 01), whatever the
 * level, as Mosquitto answers. A client of a newer protocol cannot be
 * assumed to read v5 reason codes, while every client can read this.
 */
static void
refuse_level(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	struct mqtt_packet ack;
	uint8_t level = pkt->u.connect.level;

	memset(&ack, 0, sizeof(ack));
	ack.type = MQTT_CONNACK;
	c->level = MQTT_V311;
	ack.u.connack.code = MQTT_V3_BAD_PROTOCOL;
	mqtt_send(c, &ack);
	mqtt_conn_close_or(c, 0, "unsupported protocol level %u", level);
}

/*
 * Packet types a client never sends once connected: the reserved type 0,
 * the server's CONNACK, SUBACK, UNSUBACK and PINGRESP, and AUTH (no
 * enhanced authentication method is ever agreed). Decided from the
 * first octets, whatever follows, with Mosquitto's answers: a protocol
 * error, except SUBACK and UNSUBACK with reserved flags set (malformed)
 * and a PINGRESP with a body (closed without a DISCONNECT). Returns the
 * reason code, 0 for a plain close, or -1 when the type is a client's.
 */
static int
never_from_client(const uint8_t *hdr, size_t n)
{
	uint8_t type = hdr[0] >> 4, flags = hdr[0] & 15u;

	switch (type) {
	case MQTT_SUBACK: case MQTT_UNSUBACK:
		return flags ? MQTT_RC_MALFORMED : MQTT_RC_PROTOCOL_ERROR;
	case MQTT_PINGRESP:
		return n > 1 && hdr[1] != 0 ? 0 : MQTT_RC_PROTOCOL_ERROR;
	case 0: case MQTT_CONNACK: case MQTT_AUTH:
		return MQTT_RC_PROTOCOL_ERROR;
	default:
		return -1;
	}
}

/* A whole packet that did not decode (err): refuse and close. */
static void
decode_failed(struct mqtt_conn *c, const struct mqtt_packet *pkt, uint8_t type, int err)
{
	if (err == -ENOTSUP && type == MQTT_CONNECT && c->state == MQTT_CONN_NEW)
		refuse_level(c, pkt);
	else if (c->state == MQTT_CONN_NEW && type != MQTT_CONNECT)
		mqtt_conn_close_or(c, 0, "first packet is %s, not CONNECT", mqtt_type_name(type));
	else if (type == MQTT_PINGREQ)
		/* dropped without a DISCONNECT, as Mosquitto does */
		mqtt_conn_close_or(c, 0, "PINGREQ with a body");
	else
		mqtt_conn_close_or(c, error_rc(err), "%s in %s", error_text(err),
				   mqtt_type_name(type));
}

/* 1 = one packet handled, 0 = need more bytes, -1 = stop. */
static int
read_packet(struct mqtt_conn *c, struct evbuffer *in)
{
	uint8_t hdr[MQTT_MAX_FIXED];
	struct mqtt_fixed fh;
	struct mqtt_packet pkt;
	const struct bk_limits *lim;
	const uint8_t *p;
	uint32_t limit;
	ev_ssize_t n;
	int rc;

	n = evbuffer_copyout(in, hdr, sizeof(hdr));
	if (n <= 0)
		return 0;
	if (c->state == MQTT_CONN_RUNNING && (rc = never_from_client(hdr, (size_t)n)) >= 0) {
		mqtt_conn_close_or(c, (uint8_t)rc, "%s from a client", mqtt_type_name(hdr[0] >> 4));
		return -1;
	}
	/* Before login a client may not make us buffer more than a CONNECT
	 * needs (mqtt.max_connect_size), whatever the packet size limit. */
	limit = c->l->cfg.max_packet_size;
	if (c->state == MQTT_CONN_NEW && c->l->cfg.max_connect_size &&
	    c->l->cfg.max_connect_size < limit)
		limit = c->l->cfg.max_connect_size;
	/* Nor more than the largest PUBLISH that can pass the message size
	 * check (mqtt_publish.c: payload and properties within
	 * broker.max_message_size, plus the longest topic, a packet id and
	 * a property length): one past it would only be refused once
	 * buffered (and pulled up: twice its size) whole. */
	if ((hdr[0] >> 4) == MQTT_PUBLISH && (lim = bk_broker_limits(c->l->broker)) != NULL &&
	    lim->max_message_size && lim->max_message_size + PUBLISH_OVERHEAD < limit)
		limit = (uint32_t)(lim->max_message_size + PUBLISH_OVERHEAD);
	rc = mqtt_fixed_parse(hdr, (size_t)n, c->level, limit, &fh);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		uint8_t t = hdr[0] >> 4;

		mqtt_conn_close_or(c, error_rc(rc), "%s: %s (type %u, flags 0x%x)",
				   error_text(rc), mqtt_type_name(t), t, hdr[0] & 15u);
		return -1;
	}
	if (evbuffer_get_length(in) < fh.total)
		return 0;
	p = evbuffer_pullup(in, (ev_ssize_t)fh.total);
	memset(&pkt, 0, sizeof(pkt));
	if ((rc = mqtt_packet_decode(p, fh.total, c->level, &pkt)) < 0) {
		decode_failed(c, &pkt, fh.type, rc);
		return -1;
	}
	if (c->ctr) {
		c->ctr->recv_oct += fh.total;
		c->ctr->recv_cnt++;
	}
	c->l->ctr.bytes_in += fh.total;
	c->l->ctr.pkts_in++;
	if (pkt.type == MQTT_PUBLISH)
		c->l->ctr.pub_in++;
	dispatch(c, &pkt);
	evbuffer_drain(in, fh.total);
	return 1;
}

void
mqtt_conn_read(void *ctx)
{
	struct mqtt_conn *c = ctx;
	struct evbuffer *in = net_conn_input(c->nc);

	c->last_rx_ms = (uint32_t)bk_now_ms();
	while (!mqtt_conn_gone(c) && c->state != MQTT_CONN_CLOSING && !c->slowed &&
	       read_packet(c, in) > 0)
		;
	/* Drained only here: a decoded packet may still point into it above. */
	if (mqtt_conn_gone(c) || c->state == MQTT_CONN_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));
}
