/*
 * mqtt_pubout.c: one outbound PUBLISH for a subscriber, built from a core
 * message: the QoS it was published with, the MQTT topic of its routing
 * key, v5 properties from the message, subscription identifiers and the
 * outbound topic alias. A message that cannot be encoded for this
 * subscriber is skipped (logged, counted) and the caller frees whatever
 * it reserved for it (mqtt_deliver.c).
 */
#include "mqtt_int.h"

#include <string.h>

#define MAX_USER_PROPS 64

uint8_t
mqtt_msg_qos(const struct bk_msg *m)
{
	if (m->origin_flags & MQTT_OF_MQTT)
		return m->origin_flags & MQTT_OF_QOS_MASK;
	return (m->flags & BK_MSG_PERSISTENT) ? 1 : 0;
}

/* Outbound topic alias [MQTT-3.3.2-... 4.9]: first topics get one, as
 * many as the client allows and MQTT_OUT_ALIAS_BYTES holds. */
static void
apply_alias(struct mqtt_conn *c, struct mqtt_publish *pub)
{
	struct mqtt_conn_x *x = mqtt_conn_x(c);
	struct mqtt_alias *a = NULL;
	size_t cost = sizeof(*a) + pub->topic.len + 1;

	HASH_FIND(hh, x->out_alias, pub->topic.p, pub->topic.len, a);
	if (a) {
		pub->props.present |= MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS);
		pub->props.topic_alias = a->alias;
		pub->topic.len = 0;
		return;
	}
	if (x->out_alias_used >= x->client_alias_max ||
	    x->out_alias_bytes + cost > MQTT_OUT_ALIAS_BYTES)
		return;
	x->out_alias_bytes += (uint32_t)cost;
	a = bk_calloc(1, sizeof(*a));
	a->topic = bk_malloc(pub->topic.len + 1);
	memcpy(a->topic, pub->topic.p, pub->topic.len);
	a->topic[pub->topic.len] = '\0';
	a->alias = ++x->out_alias_used;
	HASH_ADD_KEYPTR(hh, x->out_alias, a->topic, pub->topic.len, a);
	pub->props.present |= MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS);
	pub->props.topic_alias = a->alias;
}

/*
 * A message this subscriber cannot be sent: a topic longer than an MQTT
 * string, a property that does not fit one (correlation data from an
 * AMQP header, say), or a packet over the client's Maximum Packet Size
 * [MQTT-3.1.2-25]. It is dropped for this subscriber as if sent, so no
 * in-flight slot waits for an acknowledgement that cannot come. Logged
 * once a second at most, with the count.
 */
static void
skipped(struct mqtt_conn *c, const struct bk_msg *msg, const char *why)
{
	uint32_t now_s = (uint32_t)(bk_now_ms() / 1000);
	struct mqtt_conn_x *x = mqtt_conn_x(c);

	x->skipped++;
	if (now_s == x->skip_logged_s)
		return;
	x->skip_logged_s = now_s;
	mqtt_conn_log(c, BK_LOG_INFO, "%u message(s) not sent: %s (routing key of %u bytes)",
		      x->skipped, why, bk_msg_rk_len(msg));
	x->skipped = 0;
}

bool
mqtt_write_publish(struct mqtt_conn *c, struct bk_msg *msg, struct bk_str topic,
	      const struct mqtt_out_pub *op)
{
	struct mqtt_user_prop users[MAX_USER_PROPS];
	struct mqtt_publish pub;
	size_t head;
	uint32_t max;

	memset(&pub, 0, sizeof(pub));
	pub.topic = topic;
	pub.qos = op->qos;
	pub.retain = op->retain;
	pub.dup = op->dup;
	pub.packet_id = op->qos ? op->pid : 0;
	pub.payload_len = (uint32_t)msg->body_len;
	if (c->level == MQTT_V5) {
		mqtt_props_from_bk(msg, &pub.props, users, MAX_USER_PROPS, &c->pbuf);
		if (op->n_sub_ids) {
			pub.props.sub_ids = op->sub_ids;
			pub.props.n_sub_ids = op->n_sub_ids;
		}
	}
	head = mqtt_publish_head_size(c->level, &pub);
	if (head == SIZE_MAX || msg->body_len > MQTT_MAX_REMAINING) {
		skipped(c, msg, "a property or the payload does not fit an MQTT packet");
		return false;
	}
	max = mqtt_conn_max_packet(c);
	if (max && head + msg->body_len > max) {
		skipped(c, msg, "larger than the client's maximum packet size");
		return false;
	}
	if (c->level == MQTT_V5 && c->x && c->x->client_alias_max && op->alias_ok)
		apply_alias(c, &pub);
	return mqtt_send_publish(c, &pub, msg);
}

/*
 * An AMQP routing key is bytes; a topic is UTF-8 without U+0000, and a
 * client closes the connection on one that is not [MQTT-1.5.3-1], so such
 * a message is skipped here: sent, it would disconnect every subscriber
 * it matches, and come again to a QoS 1 session at each reconnect.
 */
bool
mqtt_topic_of(struct mqtt_conn *c, const struct bk_msg *msg, struct bk_str *topic)
{
	if (mqtt_key_to_topic(bk_msg_rk(msg), &c->tbuf, topic) != 0) {
		skipped(c, msg, "routing key longer than an MQTT topic");
		return false;
	}
	if (!(msg->origin_flags & MQTT_OF_MQTT) &&     /* MQTT's were checked at PUBLISH */
	    mqtt_utf8_check((const uint8_t *)topic->p, topic->len) < 0) {
		skipped(c, msg, "routing key not UTF-8 (or holding NUL)");
		return false;
	}
	return true;
}
