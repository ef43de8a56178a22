/*
 * mqtt_deliver.c: messages from the core to MQTT subscribers: the
 * consumer ops, outbound QoS 0/1/2, the in-flight window and re-sends.
 *
 * In-flight slots: a session has out_cap slots (made as deliveries need
 * them, up to the window); slot i is packet id
 * i + 1, so an acknowledgement finds its message in O(1) and ids are
 * reused only once free [MQTT-2.2.1-3]. At most out_limit slots are used:
 * the client's Receive Maximum (v5) or [mqtt] max_inflight (v3). The
 * core's consumer prefetch is set to the same number, and deliver()
 * also parks the consumer (-EAGAIN) when retained messages hold slots.
 *
 * Which QoS: a delivery is matched again against the session's own
 * filters (the core only knows bindings): the highest granted QoS among
 * matching subscriptions, capped by the message's QoS (its MQTT publish
 * QoS, or for other protocols 1 if persistent else 0, as RabbitMQ does).
 * The same walk applies [MQTT-4.7.2-1] ('$' topics and leading
 * wildcards), no-local, retain-as-published and collects subscription
 * identifiers. A delivery no filter wants any more is acknowledged and
 * dropped.
 *
 * QoS 0 deliveries are settled as soon as they are written. QoS 1 waits
 * for PUBACK; QoS 2 for PUBREC (the core delivery is settled then), then
 * PUBREL/PUBCOMP on the slot alone.
 *
 * deliver() runs inside core calls, possibly for a publish of this very
 * connection: it only appends to the output and updates slots.
 */
#include "mqtt_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- slots ------------------------------------------------------------ */

/* Make the slots at least n (<= 65535); new ids go on the free list,
 * lowest first. Called only with the free list empty. */
static void
slots_grow(struct mqtt_session *s, uint32_t n)
{
	uint32_t old = s->rx->out_cap;

	if (n <= old)
		return;
	mqtt_session_rx(s);
	s->rx->out = bk_realloc(s->rx->out, n * sizeof(*s->rx->out));
	memset(s->rx->out + old, 0, (n - old) * sizeof(*s->rx->out));
	for (uint32_t i = n; i > old; i--) {
		s->rx->out[i - 1].next_free = s->rx->out_free;
		s->rx->out_free = (uint16_t)i;
	}
	s->rx->out_cap = (uint16_t)n;
}

/* The window only: slots are made as deliveries need them (4, then
 * doubling up to the window), so an idle session holds none. */
void
mqtt_out_window(struct mqtt_session *s, uint16_t limit)
{
	if (limit == 0)
		limit = 1;
	s->out_limit = limit;
	if (s->rx->consumer)
		bk_consumer_set_prefetch(s->rx->consumer, limit);
}

static struct mqtt_out *
slot_take(struct mqtt_session *s)
{
	struct mqtt_out *o;

	if (s->rx->out_used >= s->out_limit)
		return NULL;
	if (s->rx->out_free == 0 && s->rx->out_cap < s->out_limit)
		slots_grow(s, s->rx->out_cap * 2 > s->out_limit ? s->out_limit :
			   s->rx->out_cap < 4 ? (s->out_limit < 4 ? s->out_limit : 4) : s->rx->out_cap * 2);
	if (s->rx->out_free == 0)
		return NULL;
	o = &s->rx->out[s->rx->out_free - 1];
	s->rx->out_free = o->next_free;
	s->rx->out_used++;
	o->next_free = 0;
	o->seq = ++s->rx->out_seq;
	return o;
}

static uint16_t
slot_pid(const struct mqtt_session *s, const struct mqtt_out *o)
{
	return (uint16_t)(o - s->rx->out + 1);
}

/* Drop what the slot holds (settling with how) and free it. */
static void
slot_release(struct mqtt_session *s, struct mqtt_out *o, enum bk_settle how)
{
	struct bk_delivery *d = o->d;
	struct bk_msg *msg = o->msg;

	o->d = NULL;
	o->msg = NULL;
	o->state = MQTT_OUT_FREE;
	o->next_free = s->rx->out_free;
	s->rx->out_free = slot_pid(s, o);
	s->rx->out_used--;
	bk_msg_unref(msg);
	if (d)
		bk_delivery_settle(d, how);     /* may deliver again, synchronously */
}

/*
 * Match the delivery's topic against the session's filters. Returns the
 * granted QoS (capped by the message's), or -1 when nothing matches.
 */
static int
match_subs(struct mqtt_session *s, struct mqtt_sub *only, const struct bk_msg *msg,
	   struct bk_str topic, struct mqtt_out_pub *op)
{
	struct mqtt_sub *sub, *tmp;
	bool own = bk_msg_origin(msg) == (const void *)(uintptr_t)s->id &&
		   (msg->origin_flags & MQTT_OF_MQTT);
	bool retained = (msg->origin_flags & MQTT_OF_RETAIN) != 0;
	int best = -1;

	op->n_sub_ids = 0;
	op->retain = false;
	HASH_ITER(hh, s->rx->subs, sub, tmp) {
		if (only ? sub != only : sub->shared != NULL)
			continue;
		if ((sub->no_local && own) || !mqtt_topic_match(sub->match, topic))
			continue;
		if (sub->qos > best)
			best = sub->qos;
		if (sub->rap && retained)
			op->retain = true;
		if (sub->sub_id && op->n_sub_ids < MQTT_MAX_SUB_IDS)
			op->sub_ids[op->n_sub_ids++] = sub->sub_id;
	}
	if (best < 0)
		return -1;
	return best < mqtt_msg_qos(msg) ? best : mqtt_msg_qos(msg);
}

static bool
expired(const struct bk_msg *m)
{
	return bk_msg_expires(m) > 0 && (uint64_t)bk_msg_expires(m) <= bk_now_ms();
}

static int
deliver(struct mqtt_session *s, struct mqtt_sub *only, struct bk_delivery *d)
{
	struct mqtt_conn *c = s->conn;
	struct mqtt_out *o = NULL;
	struct bk_str topic;
	struct mqtt_out_pub op;
	int qos;

	if (!c || c->state != MQTT_CONN_RUNNING || mqtt_output_full(c))
		return -EAGAIN;
	if (!mqtt_topic_of(c, d->msg, &topic) ||
	    (qos = match_subs(s, only, d->msg, topic, &op)) < 0 || expired(d->msg)) {
		bk_delivery_settle(d, BK_SETTLE_ACK);
		return 0;
	}
	if (qos > 0 && !(o = slot_take(s))) {
		mqtt_session_rx(s)->parked = true;
		return -EAGAIN;
	}
	op.qos = (uint8_t)qos;
	op.dup = false;
	op.alias_ok = true;
	op.pid = o ? slot_pid(s, o) : 0;
	if (!mqtt_write_publish(c, d->msg, topic, &op) || !o) {
		if (o)
			slot_release(s, o, BK_SETTLE_ACK);
		bk_delivery_settle(d, BK_SETTLE_ACK);
		return 0;
	}
	o->d = d;
	o->msg = bk_msg_ref(d->msg);
	o->state = MQTT_OUT_SENT;
	o->qos = op.qos;
	o->retain = op.retain;
	o->shared = only != NULL;
	o->sub_id = op.n_sub_ids ? op.sub_ids[0] : 0;
	return 0;
}

static int
session_deliver(void *ctx, struct bk_delivery *d)
{
	return deliver(ctx, NULL, d);
}

static void
session_cancelled(void *ctx, enum bk_cancel_reason why)
{
	struct mqtt_session *s = ctx;

	/* the queue was deleted under us (by an AMQP client, say) */
	s->rx->consumer = NULL;
	BK_FREE(s->rx->queue);
}

static int
shared_deliver(void *ctx, struct bk_delivery *d)
{
	struct mqtt_sub *sub = ctx;

	return deliver(sub->s, sub, d);
}

static void
shared_cancelled(void *ctx, enum bk_cancel_reason why)
{
	struct mqtt_sub *sub = ctx;

	sub->consumer = NULL;
}

const struct bk_consumer_ops mqtt_session_consumer_ops = {
	.version = BK_CONSUMER_OPS_V1,
	.deliver = session_deliver,
	.cancelled = session_cancelled,
};

const struct bk_consumer_ops mqtt_shared_consumer_ops = {
	.version = BK_CONSUMER_OPS_V1,
	.deliver = shared_deliver,
	.cancelled = shared_cancelled,
};

void
mqtt_deliver_direct(struct mqtt_session *s, struct bk_msg *msg)
{
	struct mqtt_conn *c = s->conn;
	struct bk_str topic;
	struct mqtt_out_pub op;

	/* no subscription: not even the topic (its scratch buffer) */
	if (!c || !s->rx->subs || c->state != MQTT_CONN_RUNNING || mqtt_output_full(c) ||
	    !mqtt_topic_of(c, msg, &topic) || match_subs(s, NULL, msg, topic, &op) < 0)
		return;
	op.qos = 0;
	op.dup = false;
	op.alias_ok = true;
	op.pid = 0;
	mqtt_write_publish(c, msg, topic, &op);
}

/* ---- retained messages, on subscribe ----------------------------------- */

bool
mqtt_deliver_retained(struct mqtt_session *s, struct bk_msg *msg, uint8_t qos,
		      uint32_t sub_id)
{
	struct mqtt_out *o = NULL;
	struct bk_str topic;
	struct mqtt_out_pub op;

	if (expired(msg) || !mqtt_topic_of(s->conn, msg, &topic))
		return true;
	if (qos > 0 && !(o = slot_take(s)))
		return false;
	memset(&op, 0, sizeof(op));
	op.qos = qos;
	op.retain = true;       /* retained on subscribe [MQTT-3.3.1-8] */
	op.alias_ok = true;
	op.pid = o ? slot_pid(s, o) : 0;
	if (sub_id)
		op.sub_ids[op.n_sub_ids++] = sub_id;
	if (!mqtt_write_publish(s->conn, msg, topic, &op)) {
		if (o)
			slot_release(s, o, BK_SETTLE_ACK);
		return true;
	}
	if (o) {
		o->msg = bk_msg_ref(msg);
		o->state = MQTT_OUT_SENT;
		o->qos = qos;
		o->retain = true;
		o->sub_id = sub_id;
	}
	return true;
}

void
mqtt_deliver_wake(struct mqtt_session *s)
{
	struct mqtt_sub *sub, *tmp;

	if (!s->conn)
		return;
	/* owed retained messages first: they were due at the SUBACK */
	mqtt_retain_send(s);
	if (!s->conn)
		return;
	if (s->rx->parked)
		s->rx->parked = false;
	if (s->rx->consumer)
		bk_consumer_wake(s->rx->consumer);
	HASH_ITER(hh, s->rx->subs, sub, tmp)
		if (sub->consumer)
			bk_consumer_wake(sub->consumer);
}

/* ---- acknowledgements -------------------------------------------------- */

static struct mqtt_out *
slot_get(struct mqtt_session *s, uint16_t pid)
{
	if (pid == 0 || pid > s->rx->out_cap || s->rx->out[pid - 1].state == MQTT_OUT_FREE)
		return NULL;
	return &s->rx->out[pid - 1];
}

/*
 * An acknowledgement of the wrong kind for a message in flight (PUBREC
 * or PUBCOMP for QoS 1, PUBACK for QoS 2, PUBCOMP before PUBREC) is a
 * protocol error. One for a packet id with nothing in flight is let go
 * (it may answer a message settled before a reconnect), and an
 * unsolicited PUBREC is released anyway so the client can finish:
 * Mosquitto answers both so.
 */
static bool
ack_fits(const struct mqtt_out *o, uint8_t type)
{
	switch (type) {
	case MQTT_PUBACK:  return o->state == MQTT_OUT_SENT && o->qos == 1;
	case MQTT_PUBREC:  return o->qos == 2;  /* again after PUBREL: re-release */
	default:           return o->state == MQTT_OUT_RELEASED;
	}
}

void
mqtt_on_puback(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	struct mqtt_session *s = c->session;
	const struct mqtt_ack *a = &pkt->u.ack;
	struct mqtt_out *o = s ? slot_get(s, a->packet_id) : NULL;

	if (o && !ack_fits(o, pkt->type)) {
		mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR, "%s for packet %u sent at QoS %u",
				   mqtt_type_name(pkt->type), a->packet_id, o->qos);
		return;
	}
	switch (pkt->type) {
	case MQTT_PUBACK:
		if (o)
			slot_release(s, o, BK_SETTLE_ACK);
		break;
	case MQTT_PUBREC:
		if (a->code >= 0x80) {  /* the client refused it: done */
			if (o)
				slot_release(s, o, BK_SETTLE_ACK);
			break;
		}
		mqtt_send_ack(c, MQTT_PUBREL, a->packet_id, 0);
		if (!o || o->state == MQTT_OUT_RELEASED)
			return;
		o->state = MQTT_OUT_RELEASED;
		/* received by the client: the core is done with it */
		if (o->d) {
			struct bk_delivery *d = o->d;

			o->d = NULL;
			bk_msg_unref(o->msg);
			o->msg = NULL;
			bk_delivery_settle(d, BK_SETTLE_ACK);
		}
		return;
	case MQTT_PUBCOMP:
		if (o)
			slot_release(s, o, BK_SETTLE_ACK);
		break;
	}
	if (s && s->conn && (s->rx->parked || s->rx->rw_head))
		mqtt_deliver_wake(s);
}

/* ---- reconnect, end ---------------------------------------------------- */

static int
by_seq(const void *a, const void *b)
{
	const struct mqtt_out *x = *(struct mqtt_out *const *)a;
	const struct mqtt_out *y = *(struct mqtt_out *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
mqtt_deliver_resend(struct mqtt_session *s)
{
	struct mqtt_out **v;
	uint32_t n = 0;
	struct bk_str topic;
	struct mqtt_out_pub op;

	if (s->rx->out_used == 0 || !s->conn)
		return;
	v = bk_malloc(s->rx->out_used * sizeof(*v));
	for (uint32_t i = 0; i < s->rx->out_cap && n < s->rx->out_used; i++)
		if (s->rx->out[i].state != MQTT_OUT_FREE)
			v[n++] = &s->rx->out[i];
	qsort(v, n, sizeof(*v), by_seq);
	for (uint32_t i = 0; i < n; i++) {
		struct mqtt_out *o = v[i];

		if (o->state == MQTT_OUT_RELEASED) {
			mqtt_send_ack(s->conn, MQTT_PUBREL, slot_pid(s, o), 0);
			continue;
		}
		memset(&op, 0, sizeof(op));
		op.qos = o->qos;
		op.retain = o->retain;
		op.dup = true;          /* [MQTT-3.3.1-1] */
		op.pid = slot_pid(s, o);
		if (o->sub_id)
			op.sub_ids[op.n_sub_ids++] = o->sub_id;
		if (!mqtt_topic_of(s->conn, o->msg, &topic) ||
		    !mqtt_write_publish(s->conn, o->msg, topic, &op))
			slot_release(s, o, BK_SETTLE_ACK);
	}
	bk_free(v);
}

void
mqtt_out_release_shared(struct mqtt_session *s)
{
	for (uint32_t i = 0; i < s->rx->out_cap; i++)
		if (s->rx->out[i].state == MQTT_OUT_SENT && s->rx->out[i].shared && s->rx->out[i].d)
			slot_release(s, &s->rx->out[i], BK_SETTLE_REQUEUE);
}

void
mqtt_out_clear(struct mqtt_session *s, enum bk_settle how)
{
	for (uint32_t i = 0; i < s->rx->out_cap; i++)
		if (s->rx->out[i].state != MQTT_OUT_FREE)
			slot_release(s, &s->rx->out[i], how);
}
