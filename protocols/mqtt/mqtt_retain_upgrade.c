/*
 * mqtt_retain_upgrade.c: the one-time move of retained messages from
 * the format of earlier versions into the core's store.
 *
 * Earlier versions kept a log of retained messages in a durable queue
 * "mqtt-retained" per vhost, published through the default exchange:
 *
 *   routing key  "mqtt-retained"
 *   headers      the message's own, plus
 *                "x-mqtt-retained-topic" (S) the routing key it was published with
 *                "x-mqtt-publish-qos"    (B) its QoS
 *   body         the payload; an empty one cleared the topic
 *
 * That queue was an ordinary one, which any user could declare and
 * publish into, so its content is hostile input here: an entry whose
 * topic header is missing, not a string, empty, longer than a topic, not
 * clean UTF-8 or holding a wildcard, or whose QoS is not 0..2, is
 * skipped and counted, never trusted. The entries are read in order
 * (the last one of a topic wins), each valid one is set in the core's
 * store, and the queue is deleted. The core then records that the
 * upgrade ran (bk_retained_upgrade_done), so a queue of that name
 * declared later is an ordinary queue again and is never read here.
 */
#include "mqtt_int.h"
#include "bk_admin.h"

#include <string.h>

#define OLD_QUEUE  "mqtt-retained"
#define TOPIC_HDR  "x-mqtt-retained-topic"
#define QOS_HDR    "x-mqtt-publish-qos"

struct upgrade {
	struct mqtt_listener *l;
	struct mqtt_buf buf;            /* owned: topic checks */
	uint64_t read, moved, cleared, skipped;
};

/* The headers of t without the log's two entries, into hb. */
static void
strip_ours(struct bk_table t, struct bk_table_builder *hb)
{
	struct bk_str name;
	struct bk_value v;
	uint32_t pos = 0;

	while (bk_table_next(t, &pos, &name, &v) == 1)
		if (!bk_str_eq_c(name, TOPIC_HDR) && !bk_str_eq_c(name, QOS_HDR))
			bk_tb_put(hb, name.p, name.len, &v);
}

/* The entry's topic key and QoS, if they are what the log wrote. */
static bool
entry_valid(struct upgrade *u, const struct bk_msg *m, struct bk_str *key, uint8_t *qos)
{
	struct bk_value v;
	struct bk_str topic;
	int64_t q = 0;

	if (!(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, TOPIC_HDR, &v) || v.type != BK_V_LSTR)
		return false;
	*key = v.u.s;
	if (mqtt_key_to_topic(*key, &u->buf, &topic) < 0 || mqtt_topic_name_check(topic) < 0 ||
	    mqtt_utf8_check((const uint8_t *)topic.p, topic.len) != 0)
		return false;
	if (bk_table_get(bk_msg_props(m)->headers, QOS_HDR, &v) &&
	    (!bk_value_int(&v, &q) || q < 0 || q > 2))
		return false;
	*qos = (uint8_t)q;
	return true;
}

/* One log entry into the core's store (or clearing its topic). */
static void
move_entry(struct upgrade *u, struct bk_vhost *vh, const struct bk_msg *m)
{
	struct bk_table_builder hb;
	struct bk_props props = *bk_msg_props(m);
	struct bk_msg *nm;
	struct bk_str key;
	struct bk_err err;
	uint8_t qos;

	if (!entry_valid(u, m, &key, &qos)) {
		u->skipped++;
		return;
	}
	bk_tb_init(&hb);
	strip_ours(props.headers, &hb);
	props.headers = bk_tb_view(&hb);
	if (!hb.len)
		props.present &= ~(uint32_t)BK_P_HEADERS;
	nm = bk_msg_new_x(bk_str_c(u->l->cfg.exchange), key, &props, m->body_len,
			  bk_msg_expires(m) != 0 ? BK_ML_EXPIRES : 0);
	bk_tb_fini(&hb);
	if (m->body_len)
		memcpy(bk_msg_body(nm), bk_msg_body(m), m->body_len);
	nm->flags |= m->flags & BK_MSG_PERSISTENT;
	nm->published_ms = m->published_ms;
	bk_msg_set_expires(nm, bk_msg_expires(m));
	nm->origin_flags = MQTT_OF_MQTT | MQTT_OF_RETAIN | qos;
	if (bk_retained_set(vh, nm, 0, NULL, &err) != BK_OK)
		u->skipped++;
	else if (m->body_len)
		u->moved++;
	else
		u->cleared++;
	bk_msg_unref(nm);
}

static int
upgrade_vhost(void *arg, const struct bk_vhost_view *view)
{
	struct upgrade *u = arg;
	struct bk_vhost *vh = bk_vhost_get(u->l->broker, view->name);
	struct bk_queue *q = vh ? bk_queue_get(vh, BK_STR_LIT(OLD_QUEUE)) : NULL;
	struct bk_delivery *d;
	struct bk_err err;
	uint32_t left, count;

	if (!q)
		return 0;
	u->read = u->moved = u->cleared = u->skipped = 0;
	while (bk_queue_get_one(q, true, &d, &left) == BK_OK && d) {
		u->read++;
		move_entry(u, vh, d->msg);
		bk_delivery_settle(d, BK_SETTLE_ACK);
	}
	bk_queue_delete(vh, BK_STR_LIT(OLD_QUEUE), NULL, false, false, &count, &err);
	bk_info("mqtt: vhost '%s': %llu entries of the queue '%s' read: %llu retained "
		"messages set, %llu cleared, %llu invalid entries skipped; they are in the "
		"retained store now and the queue is deleted", view->name,
		(unsigned long long)u->read, OLD_QUEUE, (unsigned long long)u->moved,
		(unsigned long long)u->cleared, (unsigned long long)u->skipped);
	return 0;
}

void
mqtt_retain_upgrade(struct mqtt_listener *l)
{
	struct upgrade u;

	if (!bk_retained_upgrade_pending(l->broker))
		return;
	memset(&u, 0, sizeof(u));
	u.l = l;
	bk_vhosts_each(l->broker, upgrade_vhost, &u);
	mqtt_buf_fini(&u.buf);
	bk_retained_upgrade_done(l->broker);
}
