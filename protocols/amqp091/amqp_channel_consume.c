/*
 * amqp_channel_consume.c: basic.qos, basic.consume, basic.cancel, and the
 * consumer ops through which the core hands us deliveries.
 *
 * Each basic.consume is one struct amqp_consumer in the channel's hash by
 * consumer tag, wrapping one core consumer. Prefetch follows RabbitMQ:
 * basic.qos global=false sets the limit for consumers created afterwards
 * and lifts the channel-wide limit; global=true sets the channel-wide
 * limit (ch->credit, shared by all of the channel's consumers, made at
 * the first consume or global qos, so that consumers made before the qos
 * obey it too).
 *
 * deliver() runs inside core calls (publish, settle, wake), possibly for a
 * publish on this very connection: it only writes to the output and
 * updates the unacked bookkeeping. While the connection's output is over
 * its watermark it returns -EAGAIN and the core parks the consumer until
 * amqp_channel_wake(). consume-ok must reach the client before the first
 * basic.deliver, so a consumer parks itself (ok_pending) until consume-ok
 * is written and then wakes itself.
 *
 * Direct reply-to: basic.consume on the pseudo queue amq.rabbitmq.reply-to
 * registers the core's reply pseudo consumer; publishes on this channel
 * with reply_to "amq.rabbitmq.reply-to" get its routable address
 * (amqp_channel_publish.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "amqp_channel_int.h"

#define REPLY_TO_QUEUE "amq.rabbitmq.reply-to"

/* ---- delivery to the client ------------------------------------------ */

/* Write d out (false: dropped, see amqp_ch_wire_init); settles no-ack
 * deliveries, so d may be gone on return. */
static bool
write_delivery(struct amqp_channel *ch, struct bk_str ctag, struct bk_delivery *d)
{
	struct amqp_method m;
	struct amqp_wire w;

	if (!amqp_ch_wire_init(ch, d->msg, &w)) {
		bk_delivery_settle(d, BK_SETTLE_ACK);
		return false;
	}
	memset(&m, 0, sizeof(m));
	m.id = AMQP_BASIC_DELIVER;
	m.u.basic_deliver.consumer_tag = ctag;
	m.u.basic_deliver.delivery_tag = amqp_ch_unacked_add(ch, d);
	m.u.basic_deliver.redelivered = d->redelivered;
	m.u.basic_deliver.exchange = bk_msg_exchange(d->msg);
	m.u.basic_deliver.routing_key = w.rk;
	amqp_conn_send_content(ch->conn, ch->id, &m, d->msg, w.props);
	amqp_ch_wire_fini(&w);
	/* the output holds its own references to the body by now */
	if (d->no_ack)
		bk_delivery_settle(d, BK_SETTLE_ACK);
	else
		bk_delivery_sent(d);
	return true;
}

static int
consumer_deliver(void *ctx, struct bk_delivery *d)
{
	struct amqp_consumer *c = ctx;
	struct amqp_channel *ch = c->ch;
	bool redelivered = d->redelivered, no_ack;

	if (c->ok_pending || ch->closing || amqp_conn_output_full(ch->conn))
		return -EAGAIN;
	no_ack = d->no_ack = d->no_ack || c->no_ack;
	/* d may be settled and gone once written */
	if (write_delivery(ch, amqp_sstr_get(&c->tag), d) && ch->ctr) {
		ch->ctr->ms.n[no_ack ? BK_MS_DELIVER_NO_ACK : BK_MS_DELIVER]++;
		ch->ctr->ms.n[BK_MS_REDELIVER] += redelivered;
	}
	return 0;
}

/* The core ended the consumer (its queue was deleted). */
static void
consumer_cancelled(void *ctx, enum bk_cancel_reason why)
{
	struct amqp_consumer *c = ctx;
	struct amqp_channel *ch = c->ch;
	struct amqp_method m;

	HASH_DEL(ch->consumers, c);
	if (why == BK_CANCEL_QUEUE_DELETED && !ch->closing &&
	    ch->conn->cap_consumer_cancel_notify) {
		memset(&m, 0, sizeof(m));
		m.id = AMQP_BASIC_CANCEL;
		m.u.basic_cancel.consumer_tag = amqp_sstr_get(&c->tag);
		m.u.basic_cancel.nowait = true;
		amqp_conn_send_method(ch->conn, ch->id, &m);
	}
	bk_free(c);
}

static const struct bk_consumer_ops consumer_ops = {
	.version = BK_CONSUMER_OPS_V1,
	.deliver = consumer_deliver,
	.cancelled = consumer_cancelled,
};

static int
reply_deliver(void *ctx, struct bk_delivery *d)
{
	struct amqp_channel *ch = ctx;

	if (ch->closing || amqp_conn_output_full(ch->conn))
		return -EAGAIN;
	d->no_ack = true;
	write_delivery(ch, amqp_cstr_get(&ch->reply->tag), d);
	return 0;
}

static void
reply_cancelled(void *ctx, enum bk_cancel_reason why)
{
	struct amqp_channel *ch = ctx;

	ch->reply->bc = NULL;
	ch->reply->name = NULL;
}

static const struct bk_consumer_ops reply_ops = {
	.version = BK_CONSUMER_OPS_V1,
	.deliver = reply_deliver,
	.cancelled = reply_cancelled,
};

/* ---- basic.qos ------------------------------------------------------ */

/* The shared credit, made at the first consume or global qos. */
static struct bk_credit *
channel_credit(struct amqp_channel *ch)
{
	if (ch->credit == NULL)
		ch->credit = bk_credit_new(0);
	return ch->credit;
}

void
amqp_ch_basic_qos(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_qos *a = &m->u.basic_qos;

	if (a->prefetch_size != 0) {
		amqp_channel_fail(ch, AMQP_NOT_IMPLEMENTED, m->id,
				  "prefetch_size!=0 (%u)", (unsigned)a->prefetch_size);
		return;
	}
	if (a->global) {
		bk_credit_set_limit(channel_credit(ch), a->prefetch_count);
	} else {
		ch->prefetch = a->prefetch_count;
		if (ch->credit)
			bk_credit_set_limit(ch->credit, 0);
	}
	amqp_channel_send_simple(ch, AMQP_BASIC_QOS_OK);
}

/* ---- basic.consume -------------------------------------------------- */

/* "amq.ctag-" and 22 URL-safe base64 characters, like rabbit_guid. */
static void
generate_tag(struct amqp_sstr *tag)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static uint64_t state, counter;
	uint64_t x = 0;
	int n;

	if (!state && getrandom(&state, sizeof(state), 0) != sizeof(state))
		state = (uint64_t)bk_now_ms() * 0x9E3779B97F4A7C15ull;
	n = snprintf(tag->p, sizeof(tag->p), "amq.ctag-");
	for (int i = 0; i < 22; i++) {
		if (i % 10 == 0) {      /* splitmix64 */
			x = (state += 0x9E3779B97F4A7C15ull) ^ ++counter;
			x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
			x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
			x ^= x >> 31;
		}
		tag->p[n++] = b64[x & 63];
		x >>= 6;
	}
	tag->p[n] = '\0';
	tag->len = (uint8_t)n;
}

static struct amqp_consumer *
consumer_find(struct amqp_channel *ch, struct bk_str tag)
{
	struct amqp_consumer *c = NULL;

	HASH_FIND(hh, ch->consumers, tag.p, tag.len, c);
	return c;
}

static bool
tag_in_use(struct amqp_channel *ch, struct bk_str tag)
{
	return consumer_find(ch, tag) ||
	       (amqp_ch_reply_bc(ch) && bk_str_eq(tag, amqp_cstr_get(&ch->reply->tag)));
}

static void
send_consume_ok(struct amqp_channel *ch, struct bk_str tag)
{
	struct amqp_method ok;

	memset(&ok, 0, sizeof(ok));
	ok.id = AMQP_BASIC_CONSUME_OK;
	ok.u.basic_consume_ok.consumer_tag = tag;
	amqp_conn_send_method(ch->conn, ch->id, &ok);
}

static void
consume_reply_to(struct amqp_channel *ch, const struct amqp_method *m,
		 struct amqp_sstr *tag)
{
	const struct amqp_basic_consume *a = &m->u.basic_consume;

	if (!a->no_ack) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id,
				  "reply consumer cannot acknowledge");
		return;
	}
	if (amqp_ch_reply_bc(ch)) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id,
				  "reply consumer already set");
		return;
	}
	if (ch->reply == NULL)
		ch->reply = bk_calloc(1, sizeof(*ch->reply));
	amqp_cstr_set(&ch->reply->tag, amqp_sstr_get(tag));
	ch->reply->bc = bk_direct_reply_consumer_new(ch->conn->vhost, &reply_ops,
						     ch, &ch->reply->name);
	if (!a->nowait)
		send_consume_ok(ch, amqp_cstr_get(&ch->reply->tag));
}

static int32_t
consumer_priority(struct bk_table args)
{
	struct bk_value v;
	int64_t prio;

	if (!args.len || !bk_table_get(args, "x-priority", &v) ||
	    !bk_value_int(&v, &prio))
		return 0;
	if (prio > INT32_MAX)
		return INT32_MAX;
	return prio < INT32_MIN ? INT32_MIN : (int32_t)prio;
}

static void
consume_queue(struct amqp_channel *ch, const struct amqp_method *m,
	      struct amqp_sstr *tag, struct bk_queue *q)
{
	const struct amqp_basic_consume *a = &m->u.basic_consume;
	struct amqp_consumer *c;
	struct bk_consume_decl d;
	struct bk_consume_stream so;
	struct bk_str filters[64];
	const char *bad;
	struct bk_err err;

	if (!amqp_ch_allowed(ch, m->id, BK_PERM_READ, "queue", bk_str_c(bk_queue_name(q))))
		return;
	if ((bad = amqp_stream_args_parse(a->arguments, &so, filters, 64)) != NULL) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id,
				  "invalid arg '%s' for queue '%s' in vhost '%s'", bad,
				  bk_queue_name(q), bk_vhost_name(ch->conn->vhost));
		return;
	}
	c = bk_calloc(1, sizeof(*c));
	c->ch = ch;
	c->no_ack = a->no_ack;
	c->ok_pending = true;
	c->tag = *tag;
	memset(&d, 0, sizeof(d));
	d.queue = q;
	d.no_ack = a->no_ack;
	d.exclusive = a->exclusive;
	d.priority = consumer_priority(a->arguments);
	d.prefetch = ch->prefetch;
	d.credit = channel_credit(ch);
	d.ops = &consumer_ops;
	d.ctx = c;
	d.tag = c->tag.p;
	d.channel_id = bk_chan_id(ch->mgmt);
	d.stream = &so;
	if (bk_consume(&d, &c->bc, &err) != BK_OK) {
		bk_free(c);
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	HASH_ADD(hh, ch->consumers, tag.p, c->tag.len, c);
	if (!a->nowait)
		send_consume_ok(ch, amqp_sstr_get(&c->tag));
	c->ok_pending = false;
	bk_consumer_wake(c->bc);
}

/*
 * Each consumer costs memory and a place in its queue's consumer list,
 * which delivery walks; without a bound one channel could hold millions.
 * RabbitMQ's consumer_max_per_channel, with its connection error.
 */
static bool
consumer_allowed(struct amqp_channel *ch)
{
	uint32_t max = amqp_conn_config(ch->conn)->consumer_max_per_channel;

	if (max == 0 || HASH_COUNT(ch->consumers) < max)
		return true;
	amqp_conn_close_or(ch->conn, AMQP_NOT_ALLOWED, AMQP_BASIC_CONSUME,
			   "reached maximum (%u) of consumers per channel", max);
	return false;
}

void
amqp_ch_basic_consume(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_consume *a = &m->u.basic_consume;
	struct bk_str qname = a->queue;
	struct amqp_sstr tag;
	struct bk_queue *q;
	struct bk_err err;

	if (!consumer_allowed(ch))
		return;
	if (a->consumer_tag.len)
		amqp_sstr_set(&tag, a->consumer_tag);
	else
		generate_tag(&tag);
	if (tag_in_use(ch, amqp_sstr_get(&tag))) {
		amqp_channel_fail(ch, AMQP_NOT_ALLOWED, m->id,
				  "attempt to reuse consumer tag '%s'", tag.p);
		return;
	}
	if (bk_str_eq_c(qname, REPLY_TO_QUEUE)) {
		consume_reply_to(ch, m, &tag);
		return;
	}
	if (!amqp_ch_queue_name(ch, m->id, &qname))
		return;
	if (bk_queue_lookup(ch->conn->vhost, qname, ch->conn, &q, &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	consume_queue(ch, m, &tag, q);
}

/* ---- basic.cancel --------------------------------------------------- */

/* Unknown tags still get cancel-ok: the spec asks servers to ignore them. */
void
amqp_ch_basic_cancel(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_cancel *a = &m->u.basic_cancel;
	struct amqp_consumer *c = consumer_find(ch, a->consumer_tag);
	struct amqp_method ok;

	if (c) {
		HASH_DEL(ch->consumers, c);
		bk_consumer_cancel(c->bc);
		bk_free(c);
	} else if (amqp_ch_reply_bc(ch) &&
		   bk_str_eq(a->consumer_tag, amqp_cstr_get(&ch->reply->tag))) {
		bk_consumer_cancel(ch->reply->bc);
		ch->reply->bc = NULL;
		ch->reply->name = NULL;
	}
	if (a->nowait)
		return;
	memset(&ok, 0, sizeof(ok));
	ok.id = AMQP_BASIC_CANCEL_OK;
	ok.u.basic_cancel_ok.consumer_tag = a->consumer_tag;
	amqp_conn_send_method(ch->conn, ch->id, &ok);
}

void
amqp_ch_consumers_cancel_all(struct amqp_channel *ch)
{
	struct amqp_consumer *c;

	/* restart from the head each time: a cancel may delete an auto-delete
	 * queue, which may end other consumers of ours through cancelled() */
	while ((c = ch->consumers) != NULL) {
		HASH_DEL(ch->consumers, c);
		bk_consumer_cancel(c->bc);
		bk_free(c);
	}
	if (amqp_ch_reply_bc(ch)) {
		bk_consumer_cancel(ch->reply->bc);
		ch->reply->bc = NULL;
		ch->reply->name = NULL;
	}
}
