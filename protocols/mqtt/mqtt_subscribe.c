/*
 * mqtt_subscribe.c: SUBSCRIBE and UNSUBSCRIBE: subscriptions as bindings
 * of the session's queue, shared subscriptions, per-filter SUBACK codes
 * and retained messages on subscribe.
 *
 * A plain filter is bound to the session's queue with the mapped key
 * (mqtt_topic.c). A shared filter "$share/group/f" [MQTT-4.8.2] uses one
 * queue per vhost + group + filter, "mqtt-shared-<group>-<f>" (with a '-'
 * in the group: "mqtt-shared-/<group>/<f>"), bound once
 * and consumed by every member session: the core serves its consumers
 * round-robin, which is the load balancing MQTT asks for. The queue goes
 * when its last subscription does.
 *
 * The options of a plain subscription live in its binding's arguments,
 * as RabbitMQ's MQTT plugin keeps them, so a persistent session gets
 * them back after a restart (mqtt_session_recover):
 *
 *   "x-mqtt-subscription-opts" (F) {
 *       "id" (i)                    subscription identifier, when set
 *       "no-local" (t), "qos" (B), "retain-as-published" (t),
 *       "retain-handling" (B) }
 *
 * Subscribing again to the same filter replaces the options
 * [MQTT-3.8.4-3]: when they change, the binding with the new arguments
 * is added before the old one goes, so no message falls between them
 * (a message reaching the queue through both is enqueued once). The
 * arguments a subscription is bound with are kept byte for byte
 * (recovered ones may be encoded differently from ours), so the unbind
 * always names the binding that exists. Retained messages are sent again only
 * under retain handling 0 [MQTT-3.3.1-9..11], never for shared filters
 * (MQTT 5 §4.8.2), and only after the SUBACK.
 */
#include "mqtt_int.h"

#include <stdio.h>
#include <string.h>

#define OPTS_ARG "x-mqtt-subscription-opts"

static enum bk_status
bind_key(struct mqtt_session *s, const char *queue, struct bk_str filter,
	 struct bk_table args, bool bind, struct bk_err *err)
{
	struct bk_binding_decl d;

	memset(&d, 0, sizeof(d));
	d.source = bk_str_c(s->l->cfg.exchange);
	d.dest = bk_str_c(queue);
	d.dest_is_queue = true;
	d.routing_key = mqtt_filter_to_key(filter, &s->l->kbuf);
	d.arguments = args;
	return bind ? bk_bind(s->vhost, &d, NULL, err) : bk_unbind(s->vhost, &d, NULL, err);
}

static struct bk_table
sub_args(const struct mqtt_sub *sub)
{
	return (struct bk_table){ sub->bargs, sub->bargs_len };
}

static void
put(struct bk_table_builder *b, const char *name, enum bk_vtype type, int64_t i)
{
	struct bk_value v = { .type = type };

	if (type == BK_V_BOOL)
		v.u.b = i != 0;
	else
		v.u.i = i;
	bk_tb_put(b, name, (uint32_t)strlen(name), &v);
}

/* The arguments for sub's options (owned by the caller), keys sorted. */
static uint8_t *
opts_args(const struct mqtt_sub *sub, uint32_t *len)
{
	struct bk_table_builder t, b;
	struct bk_value v;
	uint8_t *out;

	bk_tb_init(&t);
	if (sub->sub_id)
		put(&t, "id", BK_V_U32, sub->sub_id);
	put(&t, "no-local", BK_V_BOOL, sub->no_local);
	put(&t, "qos", BK_V_U8, sub->qos);
	put(&t, "retain-as-published", BK_V_BOOL, sub->rap);
	put(&t, "retain-handling", BK_V_U8, sub->rh);
	bk_tb_init(&b);
	v = (struct bk_value){ .type = BK_V_TABLE, .u.t = bk_tb_view(&t) };
	bk_tb_put(&b, OPTS_ARG, sizeof(OPTS_ARG) - 1, &v);
	out = bk_tb_take(&b, len);
	bk_tb_fini(&b);
	bk_tb_fini(&t);
	return out;
}

static int64_t
opt_int(struct bk_table t, const char *name, int64_t dflt)
{
	struct bk_value v;
	int64_t i;

	if (!bk_table_get(t, name, &v))
		return dflt;
	if (v.type == BK_V_BOOL)
		return v.u.b;
	return bk_value_int(&v, &i) ? i : dflt;
}

void
mqtt_sub_opts_from_args(struct mqtt_sub *sub, struct bk_table args)
{
	struct bk_value v;
	int64_t qos, id;

	sub->qos = 1;
	if (args.len) {
		sub->bargs = bk_malloc(args.len);
		memcpy(sub->bargs, args.p, args.len);
		sub->bargs_len = args.len;
	}
	if (!bk_table_get(args, OPTS_ARG, &v) || v.type != BK_V_TABLE)
		return;
	qos = opt_int(v.u.t, "qos", 1);
	id = opt_int(v.u.t, "id", 0);
	sub->qos = qos >= 0 && qos <= 2 ? (uint8_t)qos : 1;
	sub->no_local = opt_int(v.u.t, "no-local", 0) != 0;
	sub->rap = opt_int(v.u.t, "retain-as-published", 0) != 0;
	sub->rh = (uint8_t)(opt_int(v.u.t, "retain-handling", 0) & 3);
	sub->sub_id = id > 0 && id <= MQTT_MAX_SUB_ID ? (uint32_t)id : 0;
}

/* Bind sub (own queue) with arguments for its current options, then,
 * when it was bound already, drop the binding with the old ones. */
static enum bk_status
rebind(struct mqtt_session *s, struct mqtt_sub *sub, bool bound, struct bk_err *err)
{
	uint32_t len;
	uint8_t *args = opts_args(sub, &len);
	struct bk_table nt = { args, len };

	if (bound && len == sub->bargs_len && memcmp(args, sub->bargs, len) == 0) {
		bk_free(args);
		return BK_OK;
	}
	if (bind_key(s, s->rx->queue, sub->match, nt, true, err) != BK_OK) {
		bk_free(args);
		return err->status;
	}
	if (bound)
		bind_key(s, s->rx->queue, sub->match, sub_args(sub), false, err);
	bk_free(sub->bargs);
	sub->bargs = args;
	sub->bargs_len = len;
	return BK_OK;
}

/* The own queue's name (for the permission check before it exists). */
static const char *
own_queue_name(struct mqtt_session *s)
{
	const char *cid = mqtt_session_client_id(s);
	size_t n = strlen(cid) + 32;
	char *buf;

	if (s->rx->queue)
		return s->rx->queue;
	buf = mqtt_buf_get(&s->l->nbuf, n);
	snprintf(buf, n, MQTT_SESSION_QPREFIX "%sqos1", cid);
	return buf;
}

static struct mqtt_shared *
shared_get(struct mqtt_session *s, struct bk_str group, struct bk_str filter,
	   struct bk_err *err)
{
	struct mqtt_listener *l = s->l;
	struct mqtt_shared *sh = NULL;
	struct bk_queue_decl d;
	const char *vn = bk_vhost_name(s->vhost);
	size_t vlen = strlen(vn), n = vlen + 1 + 13 + group.len + 1 + filter.len + 1;
	char *key = bk_malloc(n);
	int qn;

	memcpy(key, vn, vlen + 1);
	/* One name per (group, filter): "<group>-<filter>" is read back at the
	 * first '-', so a group containing '-' is written "/<group>/<filter>"
	 * (a group has no '/'); otherwise "$share/g-x/f" would join the
	 * queue of "$share/g/x-f", bound to a filter it was never checked
	 * for. */
	qn = snprintf(key + vlen + 1, n - vlen - 1,
		      memchr(group.p, '-', group.len) ? MQTT_SHARED_QPREFIX "/%.*s/%.*s" :
		      MQTT_SHARED_QPREFIX "%.*s-%.*s",
		      (int)group.len, group.p, (int)filter.len, filter.p);
	/* joining an existing group asks the same as starting one */
	if (!mqtt_may_subscribe(s, key + vlen + 1, filter, err)) {
		bk_free(key);
		return NULL;
	}
	HASH_FIND(hh, l->shared, key, vlen + 1 + (size_t)qn, sh);
	if (sh) {
		bk_free(key);
		sh->refs++;
		return sh;
	}
	memset(&d, 0, sizeof(d));
	d.name = bk_str_c(key + vlen + 1);
	if (bk_queue_declare(s->vhost, &d, NULL, NULL, NULL, err) != BK_OK ||
	    bind_key(s, key + vlen + 1, filter, (struct bk_table){ NULL, 0 }, true,
		     err) != BK_OK) {
		bk_free(key);
		return NULL;
	}
	/* a group whose members stop reading holds no more than a session */
	mqtt_queue_cap(l, s->vhost, key + vlen + 1);
	sh = bk_calloc(1, sizeof(*sh));
	sh->key = key;
	sh->key_len = (uint32_t)(vlen + 1 + (size_t)qn);
	sh->queue = key + vlen + 1;
	sh->vhost = s->vhost;
	sh->refs = 1;
	HASH_ADD_KEYPTR(hh, l->shared, sh->key, sh->key_len, sh);
	return sh;
}

void
mqtt_shared_unref(struct mqtt_listener *l, struct mqtt_shared *sh)
{
	struct bk_err err;
	uint32_t count;

	if (!sh || --sh->refs > 0)
		return;
	HASH_DEL(l->shared, sh);
	bk_queue_delete(sh->vhost, bk_str_c(sh->queue), NULL, false, false, &count, &err);
	bk_free(sh->key);
	bk_free(sh);
}

void
mqtt_sub_consume(struct mqtt_sub *sub)
{
	struct mqtt_session *s = sub->s;
	struct bk_consume_decl d;
	struct bk_queue *q;
	struct bk_err err;

	if (!s->conn || !sub->shared || sub->consumer)
		return;
	if (bk_queue_lookup(s->vhost, bk_str_c(sub->shared->queue), NULL, &q, &err) != BK_OK)
		return;
	memset(&d, 0, sizeof(d));
	d.queue = q;
	d.prefetch = s->out_limit;
	d.ops = &mqtt_shared_consumer_ops;
	d.ctx = sub;
	if (bk_consume(&d, &sub->consumer, &err) != BK_OK)
		sub->consumer = NULL;
}

void
mqtt_sub_free(struct mqtt_session *s, struct mqtt_sub *sub, bool unbind)
{
	struct bk_err err;

	mqtt_retain_stop(s, sub);
	HASH_DEL(s->rx->subs, sub);
	s->rx->nsubs--;
	if (sub->consumer) {
		struct bk_consumer *bc = sub->consumer;

		sub->consumer = NULL;
		bk_consumer_cancel(bc);
	}
	if (sub->shared) {
		mqtt_shared_unref(s->l, sub->shared);
	} else {
		s->rx->nlocal--;
		if (unbind && s->rx->queue)
			bind_key(s, s->rx->queue, sub->match, sub_args(sub), false, &err);
	}
	bk_free(sub->bargs);
	bk_free(sub->filter);
	bk_free(sub);
}

/* A subscription refused: logged, and the SUBACK code for it. */
static uint8_t
refused(struct mqtt_session *s, const char *filter, const struct bk_err *err)
{
	if (s->conn)
		mqtt_conn_log(s->conn, err->status == BK_ACCESS_REFUSED ? BK_LOG_INFO :
			      BK_LOG_WARNING, "subscribe '%s' failed: %s", filter, err->text);
	if (!s->conn || s->conn->level != MQTT_V5)
		return MQTT_RC_UNSPECIFIED;
	/* a vhost's max-queues limit, as RabbitMQ's MQTT plugin says it */
	return err->quota ? MQTT_RC_QUOTA_EXCEEDED : mqtt_status_rc(err->status);
}

static void
set_options(struct mqtt_sub *sub, const struct mqtt_sub_entry *e, uint32_t sub_id)
{
	sub->qos = e->qos > 2 ? 2 : e->qos;
	sub->no_local = e->no_local;
	sub->rap = e->retain_as_published;
	sub->rh = e->retain_handling;
	sub->sub_id = sub_id;
}

/* SUBSCRIBE again to a filter sub has: the same read check as the first
 * time, new options, bindings again; refused, sub stays as it was.
 * Returns the SUBACK code. */
static uint8_t
resubscribe(struct mqtt_session *s, struct mqtt_sub *sub, const struct mqtt_sub_entry *e,
	    uint32_t sub_id, struct bk_str filter)
{
	struct mqtt_sub old = *sub;
	struct bk_err err;

	if (!mqtt_may_subscribe(s, sub->shared ? sub->shared->queue : own_queue_name(s),
				filter, &err))
		return refused(s, sub->filter, &err);
	set_options(sub, e, sub_id);
	if (!sub->shared && s->rx->queue && rebind(s, sub, true, &err) != BK_OK) {
		sub->qos = old.qos;
		sub->no_local = old.no_local;
		sub->rap = old.rap;
		sub->rh = old.rh;
		sub->sub_id = old.sub_id;
		return refused(s, sub->filter, &err);
	}
	return sub->qos;
}

/* A new subscription (shared when group is set): checked, bound and
 * consuming in *out; the SUBACK code. */
static uint8_t
subscribe_new(struct mqtt_session *s, const struct mqtt_sub_entry *e, uint32_t sub_id,
	      bool shared, struct bk_str group, struct bk_str filter, struct mqtt_sub **out)
{
	struct mqtt_sub *sub = bk_calloc(1, sizeof(*sub));
	struct bk_err err;
	uint8_t rc;

	sub->filter = bk_malloc(e->filter.len + 1);
	memcpy(sub->filter, e->filter.p, e->filter.len);
	sub->filter[e->filter.len] = '\0';
	sub->match.p = sub->filter + (filter.p - e->filter.p);
	sub->match.len = filter.len;
	sub->s = s;
	set_options(sub, e, sub_id);
	if (shared) {
		sub->shared = shared_get(s, group, filter, &err);
		if (!sub->shared)
			goto fail;
	} else if (!mqtt_may_subscribe(s, own_queue_name(s), filter, &err) ||
		   !mqtt_session_queue(s, &err) || rebind(s, sub, false, &err) != BK_OK) {
		goto fail;
	}
	HASH_ADD_KEYPTR(hh, mqtt_session_rx(s)->subs, sub->filter, e->filter.len, sub);
	s->rx->nsubs++;
	if (shared) {
		mqtt_sub_consume(sub);
	} else {
		s->rx->nlocal++;
		mqtt_session_consume(s);
	}
	*out = sub;
	return sub->qos;
fail:
	rc = refused(s, sub->filter, &err);
	bk_free(sub->filter);
	bk_free(sub);
	return rc;
}

/* Add or replace one subscription: the SUBACK code. *retained: send
 * retained messages for it after the SUBACK (never for a shared one). */
static uint8_t
add_sub(struct mqtt_session *s, const struct mqtt_sub_entry *e, uint32_t sub_id,
	struct mqtt_sub **retained)
{
	struct mqtt_sub *sub = NULL;
	struct bk_str group, filter;
	bool is_new;
	uint8_t rc;
	int shared = mqtt_share_parse(e->filter, &group, &filter);

	*retained = NULL;
	if (shared < 0)
		return MQTT_RC_TOPIC_FILTER_INVALID;
	HASH_FIND(hh, s->rx->subs, e->filter.p, e->filter.len, sub);
	is_new = sub == NULL;
	if (is_new)
		rc = subscribe_new(s, e, sub_id, shared, group, filter, &sub);
	else
		rc = resubscribe(s, sub, e, sub_id, filter);
	if (rc >= 0x80)
		return rc;
	if (!shared && (e->retain_handling == 0 || (e->retain_handling == 1 && is_new)))
		*retained = sub;
	return rc;
}

void
mqtt_on_subscribe(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_subscribe *sp = &pkt->u.subscribe;
	struct mqtt_session *s = c->session;
	struct mqtt_sub_entry e;
	struct mqtt_sub **todo;
	struct mqtt_packet ack;
	uint8_t *codes;
	uint32_t pos = 0, n = 0, sub_id = 0;

	if (c->level == MQTT_V5 && sp->props.n_sub_ids)
		sub_id = sp->props.sub_id;
	codes = bk_malloc(sp->count ? sp->count : 1);
	todo = bk_calloc(sp->count ? sp->count : 1, sizeof(*todo));
	while (n < sp->count && mqtt_sub_next(sp, MQTT_SUBSCRIBE, c->level, &pos, &e) == 1) {
		if (!e.filter_ok)
			codes[n] = c->level == MQTT_V5 ? MQTT_RC_TOPIC_FILTER_INVALID
						       : MQTT_RC_UNSPECIFIED;
		else
			codes[n] = add_sub(s, &e, sub_id, &todo[n]);
		if (c->level != MQTT_V5 && codes[n] >= 0x80)
			codes[n] = MQTT_RC_UNSPECIFIED;
		n++;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = MQTT_SUBACK;
	ack.u.suback.packet_id = sp->packet_id;
	ack.u.suback.codes = codes;
	ack.u.suback.count = n;
	mqtt_send(c, &ack);
	for (uint32_t i = 0; i < n; i++)
		if (todo[i])
			mqtt_retain_start(s, todo[i]);
	bk_free(todo);
	mqtt_retain_send(s);
	bk_free(codes);
}

void
mqtt_on_unsubscribe(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_subscribe *sp = &pkt->u.subscribe;
	struct mqtt_session *s = c->session;
	struct mqtt_sub_entry e;
	struct mqtt_sub *sub;
	struct mqtt_packet ack;
	struct bk_err err;
	uint8_t *codes;
	uint32_t pos = 0, n = 0;

	codes = bk_malloc(sp->count ? sp->count : 1);
	while (n < sp->count && mqtt_sub_next(sp, MQTT_UNSUBSCRIBE, c->level, &pos, &e) == 1) {
		sub = NULL;
		HASH_FIND(hh, s->rx->subs, e.filter.p, e.filter.len, sub);
		if (sub && !mqtt_may_unsubscribe(s, sub, &err)) {
			codes[n] = MQTT_RC_NOT_AUTHORIZED;
		} else if (sub) {
			mqtt_sub_free(s, sub, true);
			codes[n] = MQTT_RC_SUCCESS;
		} else {
			codes[n] = MQTT_RC_NO_SUBSCRIPTION_EXISTED;
		}
		n++;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = MQTT_UNSUBACK;
	ack.u.suback.packet_id = sp->packet_id;
	ack.u.suback.codes = codes;
	ack.u.suback.count = c->level == MQTT_V5 ? n : 0;
	mqtt_send(c, &ack);
	bk_free(codes);
}
