/*
 * mqtt_retain_log.c: retained messages across restarts.
 *
 * The retained store (mqtt_retain.c) lives in memory; this file keeps a
 * log of it in a durable queue "mqtt-retained" per vhost, so the core's
 * journal persists it like any other persistent message. Every change
 * (set, replace, clear with an empty payload) appends one persistent
 * copy, published through the default exchange:
 *
 *   routing key  "mqtt-retained"
 *   headers      the message's own, plus
 *                "x-mqtt-retained-topic" (S) the routing key it was published with
 *                "x-mqtt-publish-qos"    (B) its QoS
 *   body, other properties as published (an expiration keeps counting)
 *
 * At start the log is read in order (the last entry of a topic wins, an
 * empty one clears it) into the store, and written back compacted. While
 * running, the log is compacted the same way when it holds more than
 * twice the vhost's retained topics (plus some slack), so appends stay
 * O(1) amortised.
 */
#include "mqtt_int.h"
#include "bk_admin.h"

#include <string.h>

#define LOG_QUEUE  "mqtt-retained"
#define TOPIC_HDR  "x-mqtt-retained-topic"
#define QOS_HDR    "x-mqtt-publish-qos"
#define SLACK      256

static struct bk_queue *
log_queue(struct bk_vhost *vh, bool create)
{
	struct bk_queue *q = bk_queue_get(vh, BK_STR_LIT(LOG_QUEUE));
	struct bk_queue_decl d;
	struct bk_err err;

	if (q || !create)
		return q;
	memset(&d, 0, sizeof(d));
	d.name = BK_STR_LIT(LOG_QUEUE);
	d.durable = true;
	if (bk_queue_declare(vh, &d, NULL, NULL, NULL, &err) != BK_OK)
		return NULL;
	return bk_queue_get(vh, BK_STR_LIT(LOG_QUEUE));
}

/* The headers of t without our two entries, into hb. */
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

static void
append(struct bk_vhost *vh, const struct bk_msg *msg, uint8_t qos)
{
	struct bk_table_builder hb;
	struct bk_route_result res;
	struct bk_props props = msg->props;
	struct bk_value v;
	struct bk_msg *m;
	struct bk_err err;

	bk_tb_init(&hb);
	if ((props.present & BK_P_HEADERS) && props.headers.len)
		strip_ours(props.headers, &hb);
	v = (struct bk_value){ .type = BK_V_LSTR, .u.s = msg->routing_key };
	bk_tb_put(&hb, TOPIC_HDR, sizeof(TOPIC_HDR) - 1, &v);
	v = (struct bk_value){ .type = BK_V_U8, .u.i = qos };
	bk_tb_put(&hb, QOS_HDR, sizeof(QOS_HDR) - 1, &v);
	props.present |= BK_P_HEADERS | BK_P_DELIVERY_MODE;
	props.headers = bk_tb_view(&hb);
	props.delivery_mode = 2;
	m = bk_msg_new(BK_STR_LIT(""), BK_STR_LIT(LOG_QUEUE), &props, msg->body_len);
	bk_tb_fini(&hb);
	if (msg->body_len)
		memcpy(m->body, msg->body, msg->body_len);
	bk_publish(vh, BK_STR_LIT(""), m, &res, &err);
	bk_msg_unref(m);
}

static uint8_t
qos_of(const struct bk_msg *m)
{
	return (uint8_t)(m->origin_flags & MQTT_OF_QOS_MASK);
}

static void
append_one(void *arg, struct bk_msg *msg)
{
	append(arg, msg, qos_of(msg));
}

/* Purge the log and write the vhost's store back. */
static void
rewrite(struct mqtt_listener *l, struct bk_vhost *vh)
{
	struct bk_err err;
	uint32_t count;

	bk_queue_purge(vh, BK_STR_LIT(LOG_QUEUE), NULL, &count, &err);
	mqtt_retain_each(l, vh, append_one, vh);
}

void
mqtt_retain_log_append(struct mqtt_listener *l, struct bk_vhost *vh, const struct bk_msg *msg)
{
	struct bk_queue *q = log_queue(vh, true);

	if (!q)
		return;
	append(vh, msg, qos_of(msg));
	if (bk_queue_message_count(q) > 2 * (uint64_t)mqtt_retain_count(l, vh) + SLACK)
		rewrite(l, vh);
}

/* One log entry back into the store. */
static void
replay(struct mqtt_listener *l, struct bk_vhost *vh, const struct bk_msg *m)
{
	struct bk_table_builder hb;
	struct bk_props props = m->props;
	struct bk_value v;
	struct bk_str key;
	struct bk_msg *nm;
	int64_t qos = 0;

	if (!(props.present & BK_P_HEADERS) ||
	    !bk_table_get(props.headers, TOPIC_HDR, &v) || v.type != BK_V_LSTR)
		return;
	key = v.u.s;
	if (bk_table_get(props.headers, QOS_HDR, &v))
		bk_value_int(&v, &qos);
	bk_tb_init(&hb);
	strip_ours(props.headers, &hb);
	props.headers = bk_tb_view(&hb);
	if (!hb.len)
		props.present &= ~(uint32_t)BK_P_HEADERS;
	nm = bk_msg_new(bk_str_c(l->cfg.exchange), key, &props, m->body_len);
	bk_tb_fini(&hb);
	if (m->body_len)
		memcpy(nm->body, m->body, m->body_len);
	nm->expires_ms = m->expires_ms;
	nm->origin_flags = MQTT_OF_MQTT | MQTT_OF_RETAIN | ((uint32_t)qos & MQTT_OF_QOS_MASK);
	mqtt_retain_put(l, vh, nm);
	bk_msg_unref(nm);
}

struct recover_ctx {
	struct mqtt_listener *l;
};

static int
recover_vhost(void *arg, const struct bk_vhost_view *view)
{
	struct recover_ctx *rc = arg;
	struct bk_vhost *vh = bk_vhost_get(rc->l->broker, view->name);
	struct bk_queue *q = vh ? log_queue(vh, false) : NULL;
	struct bk_delivery *d;
	uint32_t left;

	if (!q)
		return 0;
	while (bk_queue_get_one(q, true, &d, &left) == BK_OK && d) {
		replay(rc->l, vh, d->msg);
		bk_delivery_settle(d, BK_SETTLE_ACK);
	}
	rewrite(rc->l, vh);
	return 0;
}

void
mqtt_retain_log_recover(struct mqtt_listener *l)
{
	struct recover_ctx rc = { l };

	bk_vhosts_each(l->broker, recover_vhost, &rc);
}
