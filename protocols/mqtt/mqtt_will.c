/*
 * mqtt_will.c: will messages [MQTT-3.1.2-8..15, MQTT 5 §3.1.3.2].
 *
 * The will is built into a bk_msg at CONNECT time (topic mapped, body
 * copied, properties mapped like a PUBLISH's), so publishing it later
 * cannot fail for want of memory or a bad topic. It is published when
 * the connection ends without a normal DISCONNECT (socket closed,
 * keepalive timeout, protocol error, session taken over) or with a v5
 * DISCONNECT 0x04. A v5 Will Delay Interval holds it in the session: a
 * reconnect within the delay drops it; the session ending first
 * publishes it at once.
 *
 * A message expiry interval counts from the publication, not from the
 * CONNECT, so the expiry is set again when the will goes out.
 *
 * A will is published with its user's rights at the time it goes out
 * (mqtt_publish_allowed: write on the exchange, topic write on the will
 * topic), as a PUBLISH with the same topic and retain flag would be; a
 * refused will is dropped with an info line.
 */
#include "mqtt_int.h"

#include <string.h>

struct mqtt_will {
	struct bk_msg *msg;             /* ref, not routed yet */
	struct mqtt_listener *l;        /* borrowed */
	struct bk_vhost *vhost;         /* borrowed */
	char *user;                     /* owned: whose rights it is published with */
	char *client_id;                /* owned: for {client_id} */
	bool retain;
	uint32_t delay;                 /* seconds */
	uint64_t expiry_ms;             /* 0 = none */
	struct mqtt_session *s;         /* borrowed while armed */
	struct event *ev;               /* owned while armed */
};

struct mqtt_will *
mqtt_will_new(struct mqtt_conn *c, const struct mqtt_connect *cn, struct bk_str cid,
	      uint8_t *rc)
{
	const struct mqtt_props *mp = c->level == MQTT_V5 ? &cn->will_props : NULL;
	struct bk_table_builder hb;
	struct bk_props props;
	struct mqtt_will *w;
	struct bk_str k;

	if (mqtt_topic_name_check(cn->will_topic) < 0) {
		*rc = MQTT_RC_TOPIC_NAME_INVALID;
		return NULL;
	}
	k = mqtt_topic_to_key(cn->will_topic, &c->tbuf);
	bk_tb_init(&hb);
	mqtt_props_to_bk(mp, cn->will_qos, &hb, &c->pbuf, &props);
	w = bk_calloc(1, sizeof(*w));
	w->msg = bk_msg_new_x(bk_str_c(c->l->cfg.exchange), k, &props, cn->will_payload.len,
			      mp && MQTT_HAS(mp, MQTT_PROP_MESSAGE_EXPIRY) ? BK_ML_EXPIRES : 0);
	bk_tb_fini(&hb);
	if (cn->will_payload.len)
		memcpy(bk_msg_body(w->msg), cn->will_payload.p, cn->will_payload.len);
	w->msg->origin_flags = MQTT_OF_MQTT | (cn->will_qos & MQTT_OF_QOS_MASK) |
			       (cn->will_retain ? MQTT_OF_RETAIN : 0);
	w->l = c->l;
	w->vhost = c->vhost;
	w->user = bk_strdup(mqtt_conn_user(c));
	w->client_id = bk_strndup(cid.p, cid.len);
	w->retain = cn->will_retain;
	if (mp && MQTT_HAS(mp, MQTT_PROP_WILL_DELAY))
		w->delay = mp->will_delay;
	if (mp && MQTT_HAS(mp, MQTT_PROP_MESSAGE_EXPIRY))
		w->expiry_ms = (uint64_t)mp->message_expiry * 1000;
	return w;
}

uint32_t
mqtt_will_delay(const struct mqtt_will *w)
{
	return w ? w->delay : 0;
}

void
mqtt_will_free(struct mqtt_will *w)
{
	if (!w)
		return;
	if (w->ev)
		event_free(w->ev);
	if (w->s && mqtt_session_will(w->s) == w)
		w->s->x->will = NULL;
	bk_msg_unref(w->msg);
	bk_free(w->user);
	bk_free(w->client_id);
	bk_free(w);
}

void
mqtt_will_publish(struct mqtt_listener *l, struct mqtt_will *w)
{
	struct bk_route_result res;
	struct bk_who who;
	struct bk_err err;

	if (!w)
		return;
	/* rights as they are now: the will may go out long after CONNECT */
	who = (struct bk_who){ bk_str_c(w->user), bk_str_c(w->client_id) };
	if (mqtt_publish_allowed(l, w->vhost, &who, bk_msg_rk(w->msg), w->retain, NULL,
				 &err) != BK_OK) {
		bk_info("mqtt will of client '%s' not published: %s", w->client_id, err.text);
		mqtt_will_free(w);
		return;
	}
	w->msg->published_ms = bk_now_ms();
	if (w->expiry_ms)
		bk_msg_set_expires(w->msg, (int64_t)(w->msg->published_ms + w->expiry_ms));
	if (mqtt_route(l, w->vhost, w->msg, w->retain, &res, &err) != BK_OK)
		bk_info("mqtt will not published: %s", err.text);
	mqtt_will_free(w);
}

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_will *w = arg;

	mqtt_will_publish(w->l, w);
}

void
mqtt_will_arm(struct mqtt_session *s, struct mqtt_will *w)
{
	struct timeval tv = { (time_t)w->delay, 0 };

	mqtt_will_free(mqtt_session_will(s));
	w->s = s;
	mqtt_session_x(s)->will = w;
	w->ev = event_new(s->l->base, -1, 0, delay_cb, w);
	event_add(w->ev, &tv);
}
