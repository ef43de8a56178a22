/*
 * amqp_channel_topology.c: exchange.* and queue.* methods.
 *
 * Each handler turns the method into the core's declaration struct, calls
 * the core with the connection as owner (exclusive queues belong to the
 * connection, not the channel), and answers with the -ok method unless
 * nowait is set. The core writes RabbitMQ's error texts; we only add the
 * code name in front (amqp_channel_fail_err).
 *
 * A -ok for a durable change (declare, bind, unbind, delete) promises the
 * change survives a crash: it leaves once the definitions file holding it
 * is on disk (bk_defs_commit_track). The file is written by the journal
 * thread with the loop iteration's batch, so the event loop never waits
 * on a disk; this connection's input is held meanwhile, so no later reply
 * on the channel can overtake the -ok (amqp_conn_hold_input). A nowait
 * method has no -ok and holds nothing; its change is on disk with the
 * same batch. A method that changed nothing durable (passive, a
 * redeclare, a transient object) answers at once: it waits for nobody's
 * write.
 *
 * The channel remembers the queue it declared last: RabbitMQ lets an empty
 * queue name in queue.bind/unbind/purge/delete and basic.consume/get stand
 * for it, and an empty routing key in queue.bind/unbind with an empty queue
 * name stand for that queue's name too.
 */
#include <string.h>

#include "amqp_channel_int.h"

static bk_owner
owner_of(const struct amqp_channel *ch)
{
	return ch->conn;
}

/* The definitions file is on disk (or could not be written). */
static void
on_defs_durable(void *ctx, uint64_t token, int status)
{
	struct amqp_channel *ch = ctx;
	struct amqp_method ok = ch->defs_wait->ok;

	ch->defs_wait->waiting = false;
	amqp_conn_hold_input(ch->conn, false);
	if (status < 0) {
		amqp_conn_close_or(ch->conn, AMQP_INTERNAL_ERROR, 0,
				   "cannot write the definitions file: %s", strerror(-status));
		return;
	}
	if (ok.id == AMQP_QUEUE_DECLARE_OK)
		ok.u.queue_declare_ok.queue = amqp_cstr_get(&ch->defs_wait->name);
	if (!ch->closing)
		amqp_conn_send_method(ch->conn, ch->id, &ok);
}

/*
 * Send ok once every durable change so far is on disk: now, or from
 * on_defs_durable with the input held until then. nowait: nothing to send.
 */
static void
send_ok(struct amqp_channel *ch, const struct amqp_method *ok, bool nowait)
{
	int rc;

	if (nowait)
		return;
	if (bk_defs_generation(ch->conn->broker) == ch->defs_gen0) {
		amqp_conn_send_method(ch->conn, ch->id, ok);    /* nothing durable changed */
		return;
	}
	if (ch->defs_wait == NULL) {
		ch->defs_wait = bk_calloc(1, sizeof(*ch->defs_wait));
		ch->defs_wait->c = bk_confirm_new(ch->conn->broker, on_defs_durable, ch);
	}
	rc = bk_defs_commit_track(ch->conn->broker, ch->defs_wait->c, ok->id);
	if (rc == 0) {
		amqp_conn_send_method(ch->conn, ch->id, ok);
		return;
	}
	if (rc < 0) {
		amqp_conn_close_or(ch->conn, AMQP_INTERNAL_ERROR, 0,
				   "cannot write the definitions file: %s", strerror(-rc));
		return;
	}
	ch->defs_wait->ok = *ok;
	if (ok->id == AMQP_QUEUE_DECLARE_OK)
		amqp_cstr_set(&ch->defs_wait->name, ok->u.queue_declare_ok.queue);
	ch->defs_wait->waiting = true;
	amqp_conn_hold_input(ch->conn, true);
}

static void
reply_ok(struct amqp_channel *ch, uint32_t id, bool nowait)
{
	struct amqp_method ok;

	memset(&ok, 0, sizeof(ok));
	ok.id = id;
	send_ok(ch, &ok, nowait);
}

void
amqp_ch_topology_fini(struct amqp_channel *ch)
{
	struct amqp_defs_wait *w = ch->defs_wait;

	if (w == NULL)
		return;
	if (w->waiting)
		amqp_conn_hold_input(ch->conn, false);
	bk_confirm_free(w->c);
	amqp_cstr_fini(&w->name);
	bk_free(w);
	ch->defs_wait = NULL;
}

/* RabbitMQ's order for bindings is in bk_access_bind. */
static bool
bind_allowed(struct amqp_channel *ch, uint32_t method_id,
	     const struct bk_binding_decl *d)
{
	struct bk_who who = amqp_ch_who(ch);
	struct bk_err err = { 0 };

	if (bk_access_bind(ch->conn->vhost, &who, d, &err) == BK_OK)
		return true;
	amqp_channel_fail_err(ch, method_id, &err);
	return false;
}

bool
amqp_ch_queue_name(struct amqp_channel *ch, uint32_t method_id, struct bk_str *name)
{
	if (name->len)
		return true;
	if (ch->last_queue.p == NULL) {
		amqp_channel_fail(ch, AMQP_NOT_FOUND, method_id,
				  "no previously declared queue");
		return false;
	}
	*name = amqp_cstr_get(&ch->last_queue);
	return true;
}

void
amqp_ch_exchange_declare(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_exchange_declare *a = &m->u.exchange_declare;
	struct bk_who who = amqp_ch_who(ch);
	struct bk_exchange_decl d;
	struct bk_err err;

	memset(&d, 0, sizeof(d));
	d.name = a->exchange;
	d.type = a->type;
	d.passive = a->passive;
	d.durable = a->durable;
	d.auto_delete = a->auto_delete;
	d.internal = a->internal;
	d.arguments = a->arguments;
	d.who = &who;
	if (bk_exchange_declare(ch->conn->vhost, &d, &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	reply_ok(ch, AMQP_EXCHANGE_DECLARE_OK, a->nowait);
}

void
amqp_ch_exchange_delete(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_exchange_delete *a = &m->u.exchange_delete;
	struct bk_err err;

	/* the core refuses the default and amq.* exchanges before this */
	if (a->exchange.len > 0 &&
	    !(a->exchange.len >= 4 && memcmp(a->exchange.p, "amq.", 4) == 0) &&
	    !amqp_ch_allowed(ch, m->id, BK_PERM_CONFIGURE, "exchange", a->exchange))
		return;
	if (bk_exchange_delete(ch->conn->vhost, a->exchange, a->if_unused,
			       &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	reply_ok(ch, AMQP_EXCHANGE_DELETE_OK, a->nowait);
}

/* exchange.bind and exchange.unbind share their arguments. */
void
amqp_ch_exchange_bind(struct amqp_channel *ch, const struct amqp_method *m)
{
	bool bind = m->id == AMQP_EXCHANGE_BIND;
	const struct amqp_exchange_bind *a = &m->u.exchange_bind;
	const struct amqp_exchange_unbind *u = &m->u.exchange_unbind;
	struct bk_binding_decl d;
	struct bk_err err;
	enum bk_status st;
	bool nowait;

	memset(&d, 0, sizeof(d));
	d.dest_is_queue = false;
	if (bind) {
		d.source = a->source;
		d.dest = a->destination;
		d.routing_key = a->routing_key;
		d.arguments = a->arguments;
		nowait = a->nowait;
		if (!bind_allowed(ch, m->id, &d))
			return;
		st = bk_bind(ch->conn->vhost, &d, owner_of(ch), &err);
	} else {
		d.source = u->source;
		d.dest = u->destination;
		d.routing_key = u->routing_key;
		d.arguments = u->arguments;
		nowait = u->nowait;
		if (!bind_allowed(ch, m->id, &d))
			return;
		st = bk_unbind(ch->conn->vhost, &d, owner_of(ch), &err);
	}
	if (st != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	reply_ok(ch, bind ? AMQP_EXCHANGE_BIND_OK : AMQP_EXCHANGE_UNBIND_OK, nowait);
}

void
amqp_ch_queue_declare(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_queue_declare *a = &m->u.queue_declare;
	struct bk_who who = amqp_ch_who(ch);
	struct bk_queue_decl d;
	struct amqp_method ok;
	struct bk_err err;
	const char *name = NULL;
	uint32_t msgs = 0, consumers = 0;

	/* RabbitMQ: the direct reply-to pseudo queue passively "exists" */
	if (a->passive && bk_str_eq_c(a->queue, "amq.rabbitmq.reply-to")) {
		name = "amq.rabbitmq.reply-to";
		consumers = 1;
		goto reply;
	}
	memset(&d, 0, sizeof(d));
	d.name = a->queue;
	d.passive = a->passive;
	d.durable = a->durable;
	d.exclusive = a->exclusive;
	d.auto_delete = a->auto_delete;
	d.owner = owner_of(ch);
	d.arguments = a->arguments;
	d.who = &who;
	if (bk_queue_declare(ch->conn->vhost, &d, &name, &msgs, &consumers,
			     &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
reply:
	amqp_cstr_set(&ch->last_queue, bk_str_c(name));
	memset(&ok, 0, sizeof(ok));
	ok.id = AMQP_QUEUE_DECLARE_OK;
	ok.u.queue_declare_ok.queue = amqp_cstr_get(&ch->last_queue);
	ok.u.queue_declare_ok.message_count = msgs;
	ok.u.queue_declare_ok.consumer_count = consumers;
	send_ok(ch, &ok, a->nowait);
}

/* queue.bind and queue.unbind (which has no nowait). */
void
amqp_ch_queue_bind(struct amqp_channel *ch, const struct amqp_method *m)
{
	bool bind = m->id == AMQP_QUEUE_BIND;
	struct bk_binding_decl d;
	struct bk_err err;
	enum bk_status st;
	bool nowait = false;

	memset(&d, 0, sizeof(d));
	d.dest_is_queue = true;
	if (bind) {
		d.source = m->u.queue_bind.exchange;
		d.dest = m->u.queue_bind.queue;
		d.routing_key = m->u.queue_bind.routing_key;
		d.arguments = m->u.queue_bind.arguments;
		nowait = m->u.queue_bind.nowait;
	} else {
		d.source = m->u.queue_unbind.exchange;
		d.dest = m->u.queue_unbind.queue;
		d.routing_key = m->u.queue_unbind.routing_key;
		d.arguments = m->u.queue_unbind.arguments;
	}
	if (d.dest.len == 0 && d.routing_key.len == 0 && ch->last_queue.p != NULL)
		d.routing_key = amqp_cstr_get(&ch->last_queue);
	if (!amqp_ch_queue_name(ch, m->id, &d.dest) || !bind_allowed(ch, m->id, &d))
		return;
	if (bind)
		st = bk_bind(ch->conn->vhost, &d, owner_of(ch), &err);
	else
		st = bk_unbind(ch->conn->vhost, &d, owner_of(ch), &err);
	if (st != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	reply_ok(ch, bind ? AMQP_QUEUE_BIND_OK : AMQP_QUEUE_UNBIND_OK, nowait);
}

static void
reply_count(struct amqp_channel *ch, uint32_t id, uint32_t count, bool nowait)
{
	struct amqp_method ok;

	memset(&ok, 0, sizeof(ok));
	ok.id = id;
	if (id == AMQP_QUEUE_PURGE_OK)
		ok.u.queue_purge_ok.message_count = count;
	else
		ok.u.queue_delete_ok.message_count = count;
	send_ok(ch, &ok, nowait);
}

void
amqp_ch_queue_purge(struct amqp_channel *ch, const struct amqp_method *m)
{
	struct bk_str name = m->u.queue_purge.queue;
	struct bk_err err;
	uint32_t count = 0;

	if (!amqp_ch_queue_name(ch, m->id, &name) ||
	    !amqp_ch_allowed(ch, m->id, BK_PERM_READ, "queue", name))
		return;
	if (bk_queue_purge(ch->conn->vhost, name, owner_of(ch), &count,
			   &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	reply_count(ch, AMQP_QUEUE_PURGE_OK, count, m->u.queue_purge.nowait);
}

void
amqp_ch_queue_delete(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_queue_delete *a = &m->u.queue_delete;
	struct bk_str name = a->queue;
	struct bk_err err;
	uint32_t count = 0;

	if (!amqp_ch_queue_name(ch, m->id, &name) ||
	    !amqp_ch_allowed(ch, m->id, BK_PERM_CONFIGURE, "queue", name))
		return;
	if (bk_queue_delete(ch->conn->vhost, name, owner_of(ch), a->if_unused,
			    a->if_empty, &count, &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	reply_count(ch, AMQP_QUEUE_DELETE_OK, count, a->nowait);
}
