/*
 * mqtt_retain.c: MQTT's retained messages, kept by the core
 * (broker.h bk_retained_*: one message per vhost and routing key,
 * durable as journal records, invisible to AMQP).
 *
 * Setting: a retained PUBLISH (or will) stores the routed message itself
 * (one body, shared with the queues that took it); an empty payload
 * clears the topic [MQTT-3.3.1-6/7]. [mqtt] retain_available = no refuses
 * retained publishes (v5: DISCONNECT 0x9A, mqtt_publish.c), and
 * max_retained_messages / max_retained_bytes bound what the store may
 * hold: a publish that would pass them is refused (v5 0x97 Quota
 * exceeded), as one that cannot be kept.
 *
 * Sending on SUBSCRIBE [MQTT-3.3.1-9..11]: each new subscription that
 * wants them gets a core walk over the messages its filter matches, as
 * they were at the SUBACK. The session works through its walks when the
 * subscriber has room, the way queued deliveries wait: a message goes
 * only while the connection's output is under its high watermark and,
 * at QoS 1/2, only into a free in-flight slot (the client's Receive
 * Maximum); otherwise the walk holds that one message and waits for the
 * output to drain or an acknowledgement. A subscriber that never reads
 * therefore costs one paused walk per subscription, however many
 * messages match and however often it subscribes again (a new SUBSCRIBE
 * to the same filter replaces its walk). Walks survive a reconnect of a
 * persistent session and end with their subscription.
 */
#include "mqtt_int.h"

#include <string.h>

enum bk_status
mqtt_retain_store(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_msg *msg,
		  bool *journaled, struct bk_err *err)
{
	const struct mqtt_config *cfg = &l->cfg;
	struct bk_retained_stats st;
	struct bk_msg *old;
	uint64_t msgs, bytes;

	if (journaled)
		*journaled = false;
	if (msg->body_len > 0 && (cfg->max_retained_messages || cfg->max_retained_bytes)) {
		/* $SYS values (transient) do not count against the limits */
		bk_retained_stats(l->broker, NULL, &st);
		old = bk_retained_get(vh, bk_msg_rk(msg));
		msgs = st.messages - st.transient + (old ? 0 : 1);
		bytes = st.bytes - st.transient_bytes - (old ? old->body_len : 0) + msg->body_len;
		if (cfg->max_retained_messages && msgs > cfg->max_retained_messages)
			return bk_err_set(err, BK_RESOURCE_ERROR,
					  "retained message limit (%llu) reached",
					  (unsigned long long)cfg->max_retained_messages);
		if (cfg->max_retained_bytes && bytes > cfg->max_retained_bytes)
			return bk_err_set(err, BK_RESOURCE_ERROR,
					  "retained message bytes limit (%llu) reached",
					  (unsigned long long)cfg->max_retained_bytes);
	}
	return bk_retained_set(vh, msg, 0, journaled, err);
}

/* ---- walks ------------------------------------------------------------- */

/*
 * Doubly linked with a tail: one SUBSCRIBE may start tens of thousands of
 * walks, and a walk over the list per entry made such a packet quadratic
 * (40,000 filters: 3.7 s of the core thread).
 */
static void
unlist(struct mqtt_session *s, struct mqtt_sub *sub)
{
	struct mqtt_session_rx *rx = s->rx;

	if (sub->rw_prev)
		sub->rw_prev->rw_next = sub->rw_next;
	else
		rx->rw_head = sub->rw_next;
	if (sub->rw_next)
		sub->rw_next->rw_prev = sub->rw_prev;
	else
		rx->rw_tail = sub->rw_prev;
	sub->rw_prev = sub->rw_next = NULL;
}

void
mqtt_retain_stop(struct mqtt_session *s, struct mqtt_sub *sub)
{
	if (!sub->rwalk)
		return;
	unlist(s, sub);
	bk_retained_walk_free(sub->rwalk);
	sub->rwalk = NULL;
	bk_msg_unref(sub->rheld);
	sub->rheld = NULL;
}

void
mqtt_retain_start(struct mqtt_session *s, struct mqtt_sub *sub)
{
	struct mqtt_session_rx *rx;
	struct bk_str pattern;

	mqtt_retain_stop(s, sub);
	pattern = mqtt_filter_to_key(sub->match, &s->l->kbuf);
	sub->rwalk = bk_retained_walk_new(s->vhost, pattern, BK_RETAINED_NO_DOLLAR);
	sub->rqos = sub->qos;
	sub->rsub_id = sub->sub_id;
	rx = mqtt_session_rx(s);
	sub->rw_prev = rx->rw_tail;
	sub->rw_next = NULL;
	if (rx->rw_tail)
		rx->rw_tail->rw_next = sub;
	else
		rx->rw_head = sub;
	rx->rw_tail = sub;
}

/*
 * One walk as far as the subscriber has room: true when it is over,
 * false when it waits (the message it stopped at is held).
 */
static bool
walk(struct mqtt_session *s, struct mqtt_sub *sub)
{
	for (;;) {
		struct bk_msg *m = sub->rheld;
		uint8_t qos;

		if (!m) {
			m = bk_retained_walk_next(sub->rwalk);
			if (!m)
				return true;
			bk_msg_ref(m);
		}
		sub->rheld = NULL;
		qos = mqtt_msg_qos(m);
		if (sub->rqos < qos)
			qos = sub->rqos;
		if (mqtt_output_full(s->conn) || !mqtt_deliver_retained(s, m, qos, sub->rsub_id)) {
			sub->rheld = m;         /* no room: resume here */
			return false;
		}
		bk_msg_unref(m);
	}
}

bool
mqtt_retain_send(struct mqtt_session *s)
{
	struct mqtt_sub *sub;

	while (s->conn && s->conn->state == MQTT_CONN_RUNNING && (sub = s->rx->rw_head)) {
		if (!walk(s, sub))
			return false;
		mqtt_retain_stop(s, sub);
	}
	return s->rx->rw_head == NULL;
}
