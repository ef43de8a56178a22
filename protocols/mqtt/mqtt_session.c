/*
 * mqtt_session.c: MQTT sessions: the table by vhost + client id, the
 * session's queue, attach / detach around connections, and expiry.
 *
 * A session owns one queue, "mqtt-subscription-<client id>qos1" (the
 * name RabbitMQ's MQTT plugin gives it), declared on its first
 * non-shared subscription and bound to the exchange with every mapped
 * filter. While the client is connected one consumer reads it; while it
 * is away the queue keeps collecting (the durable subscription), and the
 * in-flight slots keep the deliveries the client has not acknowledged so
 * they are re-sent with DUP on reconnect [MQTT-4.4.0-1].
 *
 * Sessions live in memory; what survives a restart is the queue (durable
 * for persistent sessions) with its bindings and persistent messages, and
 * mqtt_session_recover() (mqtt_session_recover.c) rebuilds a session from
 * it. A v5 session ends Session Expiry
 * Interval seconds after its connection ends; one that would never end
 * (MQTT 3 with clean session 0, v5 with 0xFFFFFFFF, or recovered after a
 * restart) ends after [mqtt] persistent_client_expiration if that is set
 * (Mosquitto's option; off by default). At the end the queue is deleted,
 * shared-queue deliveries are requeued for the other members of the
 * group, and a delayed will is published. Connected or not, the queue
 * holds at most [mqtt] max_queued_messages / max_queued_bytes ready
 * messages (mqtt_queue_cap).
 *
 * A session belongs to the user that created it (mqtt_connect.c refuses
 * anyone else). The owner is kept in the queue's arguments,
 * "x-mqtt-owner" (S), so it survives restarts with the queue; a queue
 * without it (made by an older version) is owned by whoever resumes it
 * first, subject to the queue's permissions.
 */
#include "mqtt_int.h"
#include "bk_admin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


/* The octets of "vhost \0 client id \0 owner \0" (owner NULL: no owner
 * part); *key_len: those up to the client id's end. */
static size_t
names_size(const char *vhost, struct bk_str cid, const struct bk_str *owner,
	   uint32_t *key_len)
{
	size_t n = strlen(vhost);

	*key_len = (uint32_t)(n + 1 + cid.len);
	return *key_len + 1 + (owner ? owner->len + 1 : 0);
}

static void
names_write(char *out, const char *vhost, struct bk_str cid, const struct bk_str *owner)
{
	size_t n = strlen(vhost);

	memcpy(out, vhost, n + 1);
	memcpy(out + n + 1, cid.p, cid.len);
	out[n + 1 + cid.len] = '\0';
	if (owner) {
		memcpy(out + n + 2 + cid.len, owner->p, owner->len);
		out[n + 2 + cid.len + owner->len] = '\0';
	}
}

char *
mqtt_names_new(const char *vhost, struct bk_str cid, const struct bk_str *user,
	       uint32_t *key_len)
{
	char *p = bk_malloc(names_size(vhost, cid, user, key_len));

	names_write(p, vhost, cid, user);
	return p;
}

struct mqtt_session *
mqtt_session_find(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_str cid)
{
	struct mqtt_session *s = NULL;
	uint32_t len;
	char *key = mqtt_names_new(bk_vhost_name(vh), cid, NULL, &len);

	s = mqtt_sessions_find(&l->sessions, key, len);
	bk_free(key);
	return s;
}

bool
mqtt_session_exists(struct mqtt_listener *l, const struct mqtt_session *s)
{
	struct mqtt_session *it, *nx;
	uint32_t i;

	MQTT_SESSIONS_EACH(l, i, it, nx)
		if (it == s)
			return true;
	return false;
}

/* A zeroed session with room for a key of n octets. */
static struct mqtt_session *
session_alloc(size_t n)
{
	return bk_calloc(1, offsetof(struct mqtt_session, key) + n);
}

/* Read only: a stray write faults instead of reaching every session. */
const struct mqtt_session_rx mqtt_session_rx_none;

struct mqtt_session_rx *
mqtt_session_rx_make(struct mqtt_session *s)
{
	s->rx = bk_calloc(1, sizeof(*s->rx));
	return s->rx;
}

static void
session_init(struct mqtt_listener *l, struct bk_vhost *vh, struct mqtt_session *s)
{
	s->rx = (struct mqtt_session_rx *)&mqtt_session_rx_none;
	s->id = l->next_session_id++;
	s->l = l;
	s->vhost = vh;
	mqtt_sessions_add(&l->sessions, s);
}

struct mqtt_session *
mqtt_session_new(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_str cid,
		 const char *owner)
{
	const char *vn = bk_vhost_name(vh);
	struct bk_str o = bk_str_c(owner ? owner : "");
	const struct bk_str *op = owner ? &o : NULL;
	uint32_t len;
	struct mqtt_session *s = session_alloc(names_size(vn, cid, op, &len));

	names_write(s->key, vn, cid, op);
	s->key_len = len;
	s->has_owner = owner != NULL;
	session_init(l, vh, s);
	return s;
}

struct mqtt_session *
mqtt_session_new_own(struct mqtt_conn *c)
{
	const char *id = mqtt_conn_client_id(c), *user = mqtt_conn_user(c);
	size_t n = (size_t)(user - c->names) + strlen(user) + 1;
	struct mqtt_session *s = session_alloc(n);

	BK_ASSERT(!c->own_session);
	memcpy(s->key, c->names, n);
	s->key_len = (uint32_t)(id - c->names) + (uint32_t)strlen(id);
	s->has_owner = true;
	s->in_conn = true;
	bk_free(c->names);
	c->names = s->key;
	c->own_session = true;
	session_init(c->l, c->vhost, s);
	return s;
}

struct mqtt_session *
mqtt_session_set_owner(struct mqtt_session *s, const char *owner)
{
	struct mqtt_listener *l = s->l;
	const char *id = mqtt_session_client_id(s);
	struct bk_str cid = { id, s->key_len - (uint32_t)(id - s->key) };
	struct bk_str o = bk_str_c(owner);
	uint32_t len;
	struct mqtt_session *n = session_alloc(names_size(s->key, cid, &o, &len));
	struct mqtt_sub *sub, *tmp;

	/* never attached: nothing but the table, its subscriptions and its
	 * expiry timer point at s, and it has no slots, walks or will */
	BK_ASSERT(!s->conn && !s->rx->consumer && !s->rx->out && !s->rx->rw_head && !mqtt_session_will(s) &&
		  !s->in_conn);
	mqtt_sessions_del(&l->sessions, s);
	memcpy(n, s, offsetof(struct mqtt_session, key));
	names_write(n->key, s->key, cid, &o);
	n->key_len = len;
	n->has_owner = true;
	HASH_ITER(hh, n->rx->subs, sub, tmp)
		sub->s = n;
	if (n->x && n->x->expiry_ev) {
		event_free(n->x->expiry_ev);
		n->x->expiry_ev = NULL;
		mqtt_session_arm_expiry(n);
	}
	mqtt_sessions_add(&l->sessions, n);
	bk_free(s);
	return n;
}

/*
 * [mqtt] max_queued_messages / max_queued_bytes, Mosquitto's limits, for
 * a client that is away and for one that is connected alike: the core
 * caps the session's queue (bk_queue_set_cap) at that many ready
 * messages (bytes), i.e. beyond the deliveries in flight; a message
 * arriving past them is dropped for this session (QoS 0, 1 and 2 alike:
 * a QoS 0 message waits in the queue only while the client's socket is
 * over its output limit), the publisher is not told, and the drop counts
 * in $SYS/broker/publish/messages/dropped. So a client that stops
 * reading cannot make the broker hold an unbounded backlog. The cap
 * lives in memory: it is set when the queue is declared or recovered.
 */
void
mqtt_queue_cap(const struct mqtt_listener *l, struct bk_vhost *vh, const char *queue)
{
	struct bk_queue *q = queue ? bk_queue_get(vh, bk_str_c(queue)) : NULL;
	const struct mqtt_config *cfg = &l->cfg;

	if (q != NULL)
		bk_queue_set_cap(q, cfg->max_queued_messages ? (int64_t)cfg->max_queued_messages : -1,
				 cfg->max_queued_bytes ? (int64_t)cfg->max_queued_bytes : -1);
}

char *
mqtt_session_queue_name(const char *client_id)
{
	size_t n = strlen(client_id) + 32;
	char *name = bk_malloc(n);

	snprintf(name, n, MQTT_SESSION_QPREFIX "%sqos1", client_id);
	return name;
}

const char *
mqtt_session_queue(struct mqtt_session *s, struct bk_err *err)
{
	struct bk_value v = { .type = BK_V_LSTR };
	struct bk_table_builder tb;
	struct bk_queue_decl d;
	enum bk_status st;
	const char *name;
	char *want;

	if (s->rx->queue)
		return s->rx->queue;
	want = mqtt_session_queue_name(mqtt_session_client_id(s));
	memset(&d, 0, sizeof(d));
	d.name = bk_str_c(want);
	d.durable = s->expiry != 0;
	bk_tb_init(&tb);
	if (s->has_owner) {
		v.u.s = bk_str_c(mqtt_session_owner(s));
		bk_tb_put(&tb, MQTT_OWNER_ARG, sizeof(MQTT_OWNER_ARG) - 1, &v);
	}
	d.arguments = bk_tb_view(&tb);
	st = bk_queue_declare(s->vhost, &d, &name, NULL, NULL, err);
	bk_tb_fini(&tb);
	if (st != BK_OK) {
		/* a queue of that name with other flags: use it as it is; if
		 * there is none, the first refusal (a queue limit) is the answer */
		struct bk_err none;

		d.passive = true;
		if (bk_queue_declare(s->vhost, &d, &name, NULL, NULL, &none) != BK_OK) {
			bk_free(want);
			return NULL;
		}
	}
	mqtt_session_rx(s)->queue = want;
	mqtt_queue_cap(s->l, s->vhost, s->rx->queue);
	return s->rx->queue;
}

void
mqtt_session_consume(struct mqtt_session *s)
{
	struct bk_consume_decl d;
	struct bk_queue *q;
	struct bk_err err;

	if (!s->conn || !s->rx->queue || s->rx->consumer)
		return;
	if (bk_queue_lookup(s->vhost, bk_str_c(s->rx->queue), NULL, &q, &err) != BK_OK) {
		mqtt_conn_log(s->conn, BK_LOG_WARNING, "cannot consume '%s': %s",
			      s->rx->queue, err.text);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.queue = q;
	d.prefetch = s->out_limit;
	d.ops = &mqtt_session_consumer_ops;
	d.ctx = s;
	if (bk_consume(&d, &s->rx->consumer, &err) != BK_OK) {
		s->rx->consumer = NULL;
		mqtt_conn_log(s->conn, BK_LOG_WARNING, "cannot consume '%s': %s",
			      s->rx->queue, err.text);
	}
}

void
mqtt_session_attach(struct mqtt_session *s, struct mqtt_conn *c, uint16_t window)
{
	struct mqtt_sub *sub, *tmp;

	s->conn = c;
	c->session = s;
	mqtt_out_window(s, window);
	mqtt_deliver_resend(s);
	mqtt_session_consume(s);
	HASH_ITER(hh, s->rx->subs, sub, tmp)
		if (sub->shared)
			mqtt_sub_consume(sub);
	mqtt_deliver_wake(s);
}

static void
stop_consuming(struct mqtt_session *s)
{
	struct mqtt_sub *sub, *tmp;

	if (s->rx->consumer) {
		struct bk_consumer *bc = s->rx->consumer;

		s->rx->consumer = NULL;
		bk_consumer_cancel(bc);
	}
	HASH_ITER(hh, s->rx->subs, sub, tmp) {
		if (sub->consumer) {
			struct bk_consumer *bc = sub->consumer;

			sub->consumer = NULL;
			bk_consumer_cancel(bc);
		}
	}
}

static void
expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_session *s = arg;

	if (!s->conn) {
		s->l->ctr.sessions_expired++;
		mqtt_session_destroy(s);
	}
}

void
mqtt_session_detach(struct mqtt_session *s, struct mqtt_will *will)
{
	if (s->conn)
		s->conn->session = NULL;
	s->conn = NULL;
	stop_consuming(s);
	/* another member of the group can take these now */
	mqtt_out_release_shared(s);
	if (s->expiry == 0) {
		mqtt_will_publish(s->l, will);
		mqtt_session_destroy(s);
		return;
	}
	if (will && mqtt_will_delay(will) > 0 && !s->l->shutting_down)
		mqtt_will_arm(s, will);
	else
		mqtt_will_publish(s->l, will);
	mqtt_session_arm_expiry(s);
}

void
mqtt_session_arm_expiry(struct mqtt_session *s)
{
	uint32_t secs = s->expiry;
	struct timeval tv;

	/* a session that would never end: [mqtt] persistent_client_expiration */
	if (secs == MQTT_SESSION_NEVER)
		secs = s->l->cfg.persistent_client_expiration;
	if (secs == 0)
		return;
	if (!mqtt_session_x(s)->expiry_ev)
		s->x->expiry_ev = event_new(s->l->base, -1, 0, expiry_cb, s);
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	event_add(s->x->expiry_ev, &tv);
}

static void
session_free(struct mqtt_session *s, bool end)
{
	struct mqtt_listener *l = s->l;
	struct mqtt_sub *sub, *tmp;
	struct mqtt_will *will = mqtt_session_will(s);
	struct bk_err err;
	uint32_t count;

	if (s->conn) {
		s->conn->session = NULL;
		s->conn = NULL;
	}
	mqtt_sessions_del(&l->sessions, s);
	stop_consuming(s);
	mqtt_out_clear(s, BK_SETTLE_REQUEUE);
	HASH_ITER(hh, s->rx->subs, sub, tmp)
		mqtt_sub_free(s, sub, false);
	if (s->rx->queue && end)
		bk_queue_delete(s->vhost, bk_str_c(s->rx->queue), NULL, false, false,
				&count, &err);
	if (will)
		s->x->will = NULL;
	/* the session ended before the will delay did [MQTT-3.1.3-9] */
	if (end)
		mqtt_will_publish(l, will);
	else
		mqtt_will_free(will);
	if (s->x) {
		if (s->x->expiry_ev)
			event_free(s->x->expiry_ev);
		bk_free(s->x->qos2_in);
		BK_FREE(s->x);
	}
	if (s->rx != &mqtt_session_rx_none) {
		bk_free(s->rx->queue);
		bk_free(s->rx->out);
		bk_free(s->rx);
		s->rx = (struct mqtt_session_rx *)&mqtt_session_rx_none;
	}
	if (s->in_conn) {
		/* the key is the connection's login: freed with it */
		s->ended = true;
		return;
	}
	bk_free(s);
}

void
mqtt_session_destroy(struct mqtt_session *s)
{
	session_free(s, true);
}

void
mqtt_session_free(struct mqtt_session *s)
{
	/* a session that would end with its connection ends now; the
	 * others keep their durable queue for mqtt_session_recover() */
	session_free(s, s->expiry == 0);
}
