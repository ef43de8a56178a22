/*
 * mqtt_publish.c: PUBLISH from clients (and wills) into the core: topic
 * aliases, QoS 0/1/2 acknowledgements, exactly-once inbound QoS 2 and
 * the retained store.
 *
 * A publish becomes one bk_msg: the routing key is the mapped topic
 * (mqtt_topic.c), the body is copied once from the input buffer, the
 * properties are mapped by mqtt_msgprops.c, and origin / origin_flags
 * carry the publishing session, the QoS and the retain flag (for
 * no-local, the delivered QoS and retain-as-published). Routing is
 * synchronous, so the PUBACK / PUBREC follows at once; v5 acks say
 * 0x10 when no queue took the message and 0x97 when a queue refused it.
 *
 * Durability: a QoS 1/2 publish goes through bk_publish_confirm(). When
 * the journal holds it (persistent message, durable queue), its PUBACK /
 * PUBREC waits for the fsync; acks are sent in the order the PUBLISHes
 * arrived [MQTT-4.6.0-2], so later ones decided at once queue behind a
 * pending one (ackq, a ring). A failed write answers 0x80 (v5); MQTT 3
 * has no negative PUBACK, so there the connection is closed instead and
 * nothing that is not on disk is ever acknowledged.
 *
 * Exactly once [MQTT-4.3.3]: the packet id of a QoS 2 publish is kept in
 * the session from PUBREC until PUBREL. A PUBLISH arriving again with
 * that id (DUP, after a lost PUBREC) is answered but not routed again.
 * At most [mqtt] receive_maximum such ids are open at once (v5: more is
 * a 0x93 disconnect [MQTT-3.3.4-9]).
 */
#include "mqtt_int.h"

#include <string.h>

static bool
qos2_has(const struct mqtt_session *s, uint16_t pid)
{
	const struct mqtt_qos2_ids *q = s->x ? s->x->qos2_in : NULL;

	return q && (q->bits[pid >> 3] & (1u << (pid & 7)));
}

static void
qos2_set(struct mqtt_session *s, uint16_t pid, bool on)
{
	struct mqtt_qos2_ids *q = s->x ? s->x->qos2_in : NULL;

	if (!q) {
		if (!on)
			return;
		q = mqtt_session_x(s)->qos2_in = bk_calloc(1, sizeof(*q));
	}
	if (on && !qos2_has(s, pid)) {
		q->bits[pid >> 3] |= (uint8_t)(1u << (pid & 7));
		q->count++;
	} else if (!on && qos2_has(s, pid)) {
		q->bits[pid >> 3] &= (uint8_t)~(1u << (pid & 7));
		q->count--;
	}
}

/* ---- acknowledgements in order ------------------------------------------ */

static void
ackq_drain(struct mqtt_conn *c)
{
	struct mqtt_acks *k = c->acks;

	while (k->len > 0) {
		struct mqtt_ackq *a = &k->q[k->head];

		if (!a->done)
			return;
		if (a->write_failed && c->level != MQTT_V5) {
			k->len = 0;
			mqtt_conn_close_or(c, 0, "journal write failed: message %u not acknowledged",
					   a->pid);
			return;
		}
		mqtt_send_ack(c, a->type, a->pid, c->level == MQTT_V5 ? a->rc : 0);
		k->head = (k->head + 1) % k->cap;
		k->len--;
	}
}

/* An acknowledgement of a PUBLISH (token: its pending durability, 0 =
 * none), sent now unless an earlier one still waits. Only with c->acks
 * when token is not 0. */
static void
ackq_push(struct mqtt_conn *c, uint8_t type, uint16_t pid, uint8_t rc, uint64_t token)
{
	struct mqtt_acks *k = c->acks;
	struct mqtt_ackq *a;

	if (token == 0 && (k == NULL || k->len == 0)) {
		mqtt_send_ack(c, type, pid, rc);        /* the common case */
		return;
	}
	if (k->len == k->cap) {
		uint32_t cap = k->cap ? k->cap * 2 : 64;
		struct mqtt_ackq *n = bk_malloc(cap * sizeof(*n));

		for (uint32_t i = 0; i < k->len; i++)
			n[i] = k->q[(k->head + i) % k->cap];
		bk_free(k->q);
		k->q = n;
		k->cap = cap;
		k->head = 0;
	}
	a = &k->q[(k->head + k->len++) % k->cap];
	*a = (struct mqtt_ackq){ .token = token, .pid = pid, .type = type, .rc = rc,
				 .done = token == 0 };
}

/* The journal's verdict on a pending publish (from the event loop). */
static void
confirm_cb(void *ctx, uint64_t token, int status)
{
	struct mqtt_conn *c = ctx;
	struct mqtt_acks *k = c->acks;

	for (uint32_t i = 0; i < k->len; i++) {
		struct mqtt_ackq *a = &k->q[(k->head + i) % k->cap];

		if (a->token != token)
			continue;
		a->done = true;
		if (status < 0) {
			a->rc = MQTT_RC_UNSPECIFIED;
			a->write_failed = true;
		}
		break;
	}
	ackq_drain(c);
}

void
mqtt_publish_fini(struct mqtt_conn *c)
{
	struct mqtt_acks *k = c->acks;

	if (k == NULL)
		return;
	c->acks = NULL;
	bk_confirm_free(k->confirm);
	bk_free(k->q);
	bk_free(k);
}

enum bk_status
mqtt_route(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_msg *msg,
	   bool retain, struct bk_route_result *res, struct bk_err *err)
{
	enum bk_status st;

	memset(res, 0, sizeof(*res));
	if (retain && (st = mqtt_retain_store(l, vh, msg, NULL, err)) != BK_OK)
		return st;
	return bk_publish(vh, bk_str_c(l->cfg.exchange), msg, res, err);
}

/* A refused PUBLISH: v5 QoS 1/2 get the reason code; MQTT 3 has no
 * negative acknowledgement, so its connection is closed instead. */
static void
refused(struct mqtt_conn *c, const struct mqtt_publish *pub, enum bk_status st,
	const char *why)
{
	if (c->level != MQTT_V5)
		mqtt_conn_close_or(c, 0, "publish refused: %s", why);
	else if (pub->qos > 0)
		ackq_push(c, pub->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, pub->packet_id,
			  mqtt_status_rc(st), 0);
}

/* The topic, after topic aliases [MQTT-3.3.2-7..12]; false = closed. */
static bool
resolve_topic(struct mqtt_conn *c, const struct mqtt_publish *pub, struct bk_str *topic)
{
	uint16_t max = c->l->cfg.topic_alias_maximum, a;
	struct mqtt_conn_x *x;

	*topic = pub->topic;
	if (c->level != MQTT_V5 || !MQTT_HAS(&pub->props, MQTT_PROP_TOPIC_ALIAS)) {
		if (topic->len == 0) {
			mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR, "empty topic name");
			return false;
		}
		return true;
	}
	a = pub->props.topic_alias;
	if (a == 0 || a > max) {
		mqtt_conn_close_or(c, MQTT_RC_TOPIC_ALIAS_INVALID,
				   "topic alias %u outside 1..%u", a, max);
		return false;
	}
	x = mqtt_conn_x(c);
	if (!x->in_alias)
		x->in_alias = bk_calloc((size_t)max + 1, sizeof(*x->in_alias));
	if (topic->len > 0) {
		bk_free(x->in_alias[a]);
		x->in_alias[a] = bk_malloc(topic->len + 1);
		memcpy(x->in_alias[a], topic->p, topic->len);
		x->in_alias[a][topic->len] = '\0';
		return true;
	}
	if (!x->in_alias[a]) {
		mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR, "unknown topic alias %u", a);
		return false;
	}
	*topic = bk_str_c(x->in_alias[a]);
	return true;
}

/* mqtt_publish_allowed for this connection; a grant that does not depend
 * on the topic is remembered until users or permissions change
 * (bk_access_generation). */
static bool
may_publish(struct mqtt_conn *c, struct bk_str key, bool retain, struct bk_err *err)
{
	uint64_t gen = bk_access_generation(c->l->broker);
	struct bk_who who;
	bool keyed;

	if (c->pub_gen == gen)
		return true;
	who = mqtt_conn_who(c);
	if (mqtt_publish_allowed(c->l, c->vhost, &who, key, retain, &keyed, err) != BK_OK)
		return false;
	/* generations start at 1: a topic permission leaves 0, checked again */
	c->pub_gen = keyed ? 0 : gen;
	return true;
}

static uint8_t
ack_code(const struct mqtt_conn *c, enum bk_status st, const struct bk_route_result *res)
{
	if (c->level != MQTT_V5)
		return 0;
	if (st != BK_OK)
		return mqtt_status_rc(st);
	if (res->refused)
		return MQTT_RC_QUOTA_EXCEEDED;
	return res->queues == 0 && !res->direct_reply ? MQTT_RC_NO_MATCHING_SUBSCRIBERS : 0;
}

/*
 * Everything that can refuse a PUBLISH before it becomes a message:
 * false = answered or closing already. *key is the routing key of the
 * topic after aliases (in c->tbuf).
 */
static bool
admit(struct mqtt_conn *c, const struct mqtt_publish *pub, struct bk_str *key)
{
	const struct bk_limits *lim = bk_broker_limits(c->l->broker);
	struct mqtt_session *s = c->session;
	struct bk_str topic;
	struct bk_err err;

	if (c->level == MQTT_V5 && pub->props.n_sub_ids > 1) {
		mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR,
				   "PUBLISH with more than one subscription identifier");
		return false;
	}
	if (!resolve_topic(c, pub, &topic))
		return false;
	if (pub->retain && !c->l->cfg.retain_available) {
		mqtt_conn_close_or(c, MQTT_RC_RETAIN_NOT_SUPPORTED, "retain is not available");
		return false;
	}
	if (!c->published) {
		c->published = true;
		if (c->l->alarms)
			mqtt_conn_flow(c);      /* takes effect after this read batch */
	}
	if (pub->qos == 2 && qos2_has(s, pub->packet_id)) {
		/* a re-sent PUBLISH whose PUBREC got lost: not routed again */
		ackq_push(c, MQTT_PUBREC, pub->packet_id, 0, 0);
		return false;
	}
	if (pub->qos == 2 && s->x && s->x->qos2_in &&
	    s->x->qos2_in->count >= c->l->cfg.receive_maximum &&
	    c->level == MQTT_V5) {
		mqtt_conn_close_or(c, MQTT_RC_RECEIVE_MAX_EXCEEDED,
				   "more than %u QoS 2 publishes unacknowledged",
				   c->l->cfg.receive_maximum);
		return false;
	}
	/* A v5 message's properties (user properties above all) are held
	 * with it, some of them twice (see mqtt_msgprops.c): they count. */
	if (lim && lim->max_message_size &&
	    (uint64_t)pub->payload_len + pub->props.raw_len > lim->max_message_size) {
		mqtt_conn_close_or(c, MQTT_RC_PACKET_TOO_LARGE,
				   "message size %llu is larger than max size %llu%s",
				   (unsigned long long)pub->payload_len + pub->props.raw_len,
				   (unsigned long long)lim->max_message_size,
				   pub->props.raw_len ? " (properties counted)" : "");
		return false;
	}
	*key = mqtt_topic_to_key(topic, &c->tbuf);
	if (!may_publish(c, *key, pub->retain, &err)) {
		/* behind any ack still waiting for the journal [MQTT-4.6.0-2] */
		refused(c, pub, BK_ACCESS_REFUSED, err.text);
		return false;
	}
	return true;
}

/* The message of pub with routing key key (borrowed from c->tbuf), with
 * its origin (owned by the caller). */
static struct bk_msg *
make_msg(struct mqtt_conn *c, const struct mqtt_publish *pub, struct bk_str key)
{
	struct bk_table_builder hb;
	struct bk_props props;
	struct bk_msg *msg;

	bk_tb_init(&hb);
	mqtt_props_to_bk(c->level == MQTT_V5 ? &pub->props : NULL, pub->qos, &hb,
			 &c->pbuf, &props);
	msg = bk_msg_new_x(bk_str_c(c->l->cfg.exchange), key, &props, pub->payload_len,
			   BK_ML_ORIGIN);
	bk_tb_fini(&hb);
	if (pub->payload_len)
		memcpy(bk_msg_body(msg), pub->payload, pub->payload_len);
	bk_msg_set_origin(msg, (const void *)(uintptr_t)c->session->id);
	msg->origin_flags = MQTT_OF_MQTT | pub->qos | (pub->retain ? MQTT_OF_RETAIN : 0);
	return msg;
}

/*
 * QoS 1/2: route with the durability tracker. A retained message's
 * journal record is written before the message's own, so the PUBACK /
 * PUBREC waits for whichever was written last; when only the retained
 * record was, the tracker follows it alone (bk_confirm_track).
 */
static void
publish_acked(struct mqtt_conn *c, const struct mqtt_publish *pub, struct bk_msg *msg)
{
	struct bk_route_result res;
	struct mqtt_acks *k;
	struct bk_err err;
	enum bk_status st = BK_OK;
	bool journaled = false, pending;
	uint8_t rc;

	if (pub->retain &&
	    (st = mqtt_retain_store(c->l, c->vhost, msg, &journaled, &err)) != BK_OK) {
		refused(c, pub, st, err.text);
		return;
	}
	if (!(k = c->acks)) {
		k = c->acks = bk_calloc(1, sizeof(*k));
		k->confirm = bk_confirm_new(c->l->broker, confirm_cb, c);
	}
	memset(&res, 0, sizeof(res));
	st = bk_publish_confirm(c->vhost, bk_str_c(c->l->cfg.exchange), msg, k->confirm,
				++k->token, &res, &err);
	if (st != BK_OK && c->level != MQTT_V5) {
		mqtt_conn_close_or(c, 0, "publish refused: %s", err.text);
		return;
	}
	pending = st == BK_OK && res.pending;
	if (st == BK_OK && !pending && journaled && bk_confirm_track(k->confirm, k->token))
		pending = true;
	mqtt_conn_pace(c, &res);
	rc = ack_code(c, st, &res);
	/* PUBREC does not report "no matching subscribers": the message
	 * counts as received once PUBREC leaves, routed or not (Mosquitto
	 * routes QoS 2 at PUBREL and cannot know it then). */
	if (pub->qos == 2 && rc == MQTT_RC_NO_MATCHING_SUBSCRIBERS)
		rc = 0;
	if (pub->qos == 2 && rc < 0x80)
		qos2_set(c->session, pub->packet_id, true);
	ackq_push(c, pub->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, pub->packet_id, rc,
		  pending ? k->token : 0);
}

void
mqtt_on_publish(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_publish *pub = &pkt->u.publish;
	struct bk_route_result res;
	struct bk_str key;
	struct bk_msg *msg;
	struct bk_err err;

	if (!admit(c, pub, &key))
		return;
	msg = make_msg(c, pub, key);
	if (pub->qos == 0) {
		/* nothing to tell the client if it is refused */
		mqtt_route(c->l, c->vhost, msg, pub->retain, &res, &err);
		mqtt_conn_pace(c, &res);
	} else
		publish_acked(c, pub, msg);
	bk_msg_unref(msg);
}

void
mqtt_on_pubrel(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	struct mqtt_session *s = c->session;
	uint16_t pid = pkt->u.ack.packet_id;

	/* An unknown id is completed too, without 0x92: a client that
	 * resends PUBREL after a reconnect gets its PUBCOMP (Mosquitto). */
	qos2_set(s, pid, false);
	mqtt_send_ack(c, MQTT_PUBCOMP, pid, 0);
}
