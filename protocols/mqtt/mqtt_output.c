/*
 * mqtt_output.c: packets appended to a connection's output buffer, and
 * the output backpressure that parks and wakes deliveries.
 *
 * Nothing here writes to the socket: libevent writes each connection's
 * output once per loop iteration, so a burst of deliveries leaves in one
 * writev. Packets are encoded straight into reserved output space;
 * PUBLISH bodies above BODY_COPY_MAX are added by reference, holding one
 * bk_msg reference that libevent drops once the bytes are written.
 *
 * The client's Maximum Packet Size (v5) is honoured here for everything
 * but PUBLISH (which mqtt_deliver.c drops before it gets here): a packet
 * that would be too large loses its reason string and user properties
 * first [MQTT-3.1.2-25, MQTT-3.4.2-2].
 */
#include "mqtt_int.h"

#include <string.h>

#define BODY_COPY_MAX 2048

static bool
output_closed(const struct mqtt_conn *c)
{
	return mqtt_conn_gone(c) || c->state == MQTT_CONN_CLOSING;
}

/* One packet of n bytes written: the connection's and the listener's
 * counters (plain adds). */
static void
count_out(struct mqtt_conn *c, size_t n)
{
	if (c->ctr) {
		c->ctr->send_oct += n;
		c->ctr->send_cnt++;
	}
	c->l->ctr.bytes_out += n;
	c->l->ctr.pkts_out++;
}

static bool
encode_into(struct mqtt_conn *c, const struct mqtt_packet *pkt, size_t n)
{
	struct evbuffer *out = net_conn_output(c->nc);
	struct evbuffer_iovec v;
	int rc;

	if (evbuffer_reserve_space(out, n, &v, 1) < 1)
		return false;
	rc = mqtt_packet_encode(v.iov_base, v.iov_len, c->level, pkt);
	BK_ASSERT(rc == (int)n);
	v.iov_len = n;
	evbuffer_commit_space(out, &v, 1);
	count_out(c, n);
	return true;
}

bool
mqtt_send(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	size_t n;

	if (output_closed(c))
		return false;
	n = mqtt_packet_size(c->level, pkt);
	if (n != SIZE_MAX && c->x && c->x->client_max_packet && n > c->x->client_max_packet &&
	    c->level == MQTT_V5) {
		uint32_t max = c->x->client_max_packet;
		struct mqtt_packet p2 = *pkt;
		struct mqtt_props *pp = NULL;

		switch (p2.type) {
		case MQTT_CONNACK: pp = &p2.u.connack.props; break;
		case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
			pp = &p2.u.ack.props; break;
		case MQTT_SUBACK: case MQTT_UNSUBACK: pp = &p2.u.suback.props; break;
		case MQTT_DISCONNECT: case MQTT_AUTH: pp = &p2.u.reason.props; break;
		default: break;
		}
		if (pp) {
			pp->present &= ~MQTT_PBIT(MQTT_PROP_REASON_STRING);
			pp->users = NULL;
			pp->n_users = 0;
			pp->raw = NULL;
			pp->raw_len = 0;
		}
		n = mqtt_packet_size(c->level, &p2);
		if (n == SIZE_MAX || n > max)
			return false;
		return encode_into(c, &p2, n);
	}
	if (n == SIZE_MAX)
		return false;
	return encode_into(c, pkt, n);
}

void
mqtt_send_ack(struct mqtt_conn *c, uint8_t type, uint16_t pid, uint8_t rc)
{
	struct mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.packet_id = pid;
	p.u.ack.code = rc;
	mqtt_send(c, &p);
}

void
mqtt_send_disconnect(struct mqtt_conn *c, uint8_t rc, const char *reason)
{
	struct mqtt_packet p;

	if (c->level != MQTT_V5)
		return;     /* only v5 servers send DISCONNECT */
	memset(&p, 0, sizeof(p));
	p.type = MQTT_DISCONNECT;
	p.u.reason.code = rc;
	if (reason && *reason && mqtt_conn_reason_ok(c)) {
		size_t n = strlen(reason);

		p.u.reason.props.present |= MQTT_PBIT(MQTT_PROP_REASON_STRING);
		p.u.reason.props.reason_string.p = reason;
		p.u.reason.props.reason_string.len = (uint32_t)(n > 1024 ? 1024 : n);
	}
	mqtt_send(c, &p);
}

bool
mqtt_send_publish(struct mqtt_conn *c, const struct mqtt_publish *pub, struct bk_msg *msg)
{
	struct evbuffer *out = net_conn_output(c->nc);
	size_t head = mqtt_publish_head_size(c->level, pub);
	size_t body = msg->body_len;
	struct evbuffer_iovec v;
	int rc;

	if (output_closed(c) || head == SIZE_MAX)
		return false;
	if (body <= BODY_COPY_MAX) {
		if (evbuffer_reserve_space(out, head + body, &v, 1) < 1)
			return false;
		rc = mqtt_publish_encode_head(v.iov_base, v.iov_len, c->level, pub);
		BK_ASSERT(rc == (int)head);
		if (body)
			memcpy((uint8_t *)v.iov_base + head, bk_msg_body(msg), body);
		v.iov_len = head + body;
		evbuffer_commit_space(out, &v, 1);
	} else {
		if (evbuffer_reserve_space(out, head, &v, 1) < 1)
			return false;
		rc = mqtt_publish_encode_head(v.iov_base, v.iov_len, c->level, pub);
		BK_ASSERT(rc == (int)head);
		v.iov_len = head;
		evbuffer_commit_space(out, &v, 1);
		bk_msg_ref(msg);
		if (evbuffer_add_reference(out, bk_msg_body(msg), body, net_body_unref, msg) != 0) {
			/* libevent does not call the cleanup on failure */
			bk_msg_unref(msg);
			evbuffer_add(out, bk_msg_body(msg), body);
		}
	}
	count_out(c, head + body);
	c->l->ctr.pub_out++;
	return true;
}

bool
mqtt_output_full(struct mqtt_conn *c)
{
	if (!net_conn_output_full(c->nc))
		return false;
	c->wake_wanted = true;
	return true;
}

void
mqtt_conn_writable(void *ctx)
{
	struct mqtt_conn *c = ctx;
	if (mqtt_conn_gone(c) || !c->wake_wanted || !c->session)
		return;
	c->wake_wanted = false;
	mqtt_deliver_wake(c->session);
}
