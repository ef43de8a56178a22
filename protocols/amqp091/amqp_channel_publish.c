/*
 * amqp_channel_publish.c: what happens to a complete publish: routing,
 * mandatory returns, publisher confirms and direct reply-to addresses
 * (the publish itself is assembled in amqp_channel_content.c).
 *
 * Confirms: routing is synchronous, so each publish is decided (ack, or
 * nack when a queue refused it) before the next one. Acks are coalesced:
 * we keep the highest ackable sequence number and a deferred event writes
 * one basic.ack(multiple) after the current read batch. A nack flushes the
 * pending ack first, so the client sees decisions in order. A mandatory
 * return goes out before the ack of the same message, as RabbitMQ does.
 *
 * Durability: a persistent publish that reached a durable queue is only
 * acked once the journal has fsynced it (the core reports it later through
 * the channel's bk_confirm tracker, in publish order). While such a
 * publish is pending, every later decision (an immediate ack or nack, a
 * tx.commit-ok) waits behind it in the cf ring, so basic.ack(multiple)
 * never covers a publish that is not on disk; the ring drains from its
 * head as the journal reports. A journal failure nacks the publish (in tx
 * mode it fails the commit: 541, nothing half-committed is reported ok).
 */
#include <string.h>

#include "amqp_channel_int.h"
/* ---- confirms ------------------------------------------------------- */

static void
send_confirm(struct amqp_channel *ch, uint32_t id, uint64_t tag, bool multiple)
{
	struct amqp_method m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	if (id == AMQP_BASIC_ACK) {
		m.u.basic_ack.delivery_tag = tag;
		m.u.basic_ack.multiple = multiple;
	} else {
		m.u.basic_nack.delivery_tag = tag;
		m.u.basic_nack.multiple = multiple;
		m.u.basic_nack.requeue = false;
	}
	amqp_conn_send_method(ch->conn, ch->id, &m);
}

void
amqp_ch_confirm_flush(struct amqp_channel *ch)
{
	struct amqp_ch_cx *x = ch->cx;

	if (x == NULL || x->confirm_upto <= x->confirm_sent)
		return;
	send_confirm(ch, AMQP_BASIC_ACK, x->confirm_upto,
		     x->confirm_upto - x->confirm_sent > 1);
	x->confirm_sent = x->confirm_upto;
}

static void
confirm_decided(struct amqp_channel *ch, uint64_t seq, bool ok)
{
	struct amqp_ch_cx *x = ch->cx;

	if (!ok) {
		amqp_ch_confirm_flush(ch);
		send_confirm(ch, AMQP_BASIC_NACK, seq, false);
		x->confirm_sent = x->confirm_upto = seq;
		return;
	}
	bk_stats_count(ch->conn->vhost, BK_MS_CONFIRM, 1);
	if (ch->ctr)
		ch->ctr->ms.n[BK_MS_CONFIRM]++;
	x->confirm_upto = seq;
	amqp_ch_confirm_later(ch);
}

/* ---- durability ----------------------------------------------------- */

static void
cf_push(struct amqp_channel *ch, uint64_t seq, uint8_t kind, uint8_t state)
{
	struct amqp_ch_cx *x = ch->cx;

	if (x->cf == NULL || x->cf_count == x->cf_mask + 1) {
		uint32_t cap = x->cf ? (x->cf_mask + 1) * 2 : 64, i;
		struct amqp_cf *n = bk_malloc(cap * sizeof(*n));

		for (i = 0; i < x->cf_count; i++)
			n[i] = x->cf[(x->cf_head + i) & x->cf_mask];
		bk_free(x->cf);
		x->cf = n;
		x->cf_head = 0;
		x->cf_mask = cap - 1;
	}
	x->cf[(x->cf_head + x->cf_count) & x->cf_mask] = (struct amqp_cf){ seq, kind, state };
	x->cf_count++;
}

/* Pop every decided entry at the head and act on it, in order. */
static void
cf_drain(struct amqp_channel *ch)
{
	struct amqp_ch_cx *x = ch->cx;

	while (x->cf_count > 0) {
		struct amqp_cf e = x->cf[x->cf_head];

		if (e.state == AMQP_CF_PENDING)
			return;
		x->cf_head = (x->cf_head + 1) & x->cf_mask;
		x->cf_count--;
		if (ch->closing)
			continue;
		if (e.kind == AMQP_CF_COMMIT) {
			if (x->tx_failed) {
				x->tx_failed = false;
				amqp_channel_fail(ch, AMQP_INTERNAL_ERROR, AMQP_TX_COMMIT,
						  "a message could not be written to disk");
				return;
			}
			amqp_channel_send_simple(ch, AMQP_TX_COMMIT_OK);
		} else if (ch->confirm) {
			confirm_decided(ch, e.seq, e.state == AMQP_CF_OK);
		} else if (e.state == AMQP_CF_FAIL) {
			x->tx_failed = true;
		}
	}
}

/* The journal's report for publish seq (pending entries complete in order). */
static void
on_durable(void *ctx, uint64_t seq, int status)
{
	struct amqp_channel *ch = ctx;
	struct amqp_ch_cx *x = ch->cx;
	uint32_t i;

	for (i = 0; i < x->cf_count; i++) {
		struct amqp_cf *e = &x->cf[(x->cf_head + i) & x->cf_mask];

		if (e->kind == AMQP_CF_PUB && e->seq == seq && e->state == AMQP_CF_PENDING) {
			e->state = status == 0 ? AMQP_CF_OK : AMQP_CF_FAIL;
			break;
		}
	}
	cf_drain(ch);
}

void
amqp_ch_commit_ok(struct amqp_channel *ch)
{
	if (ch->cx->cf_count == 0)
		amqp_channel_send_simple(ch, AMQP_TX_COMMIT_OK);
	else
		cf_push(ch, 0, AMQP_CF_COMMIT, AMQP_CF_OK);
}

void
amqp_ch_durable_fini(struct amqp_channel *ch)
{
	struct amqp_ch_cx *x = ch->cx;

	if (x == NULL)
		return;
	bk_confirm_free(x->durable);
	x->durable = NULL;
	BK_FREE(x->cf);
	x->cf_count = x->cf_head = x->cf_mask = 0;
}

/* Record one routed publish's outcome. */
static void
publish_decided(struct amqp_channel *ch, uint64_t seq, const struct bk_route_result *res)
{
	if (!ch->confirm) {
		if (res->pending)               /* tx: commit-ok waits for it */
			cf_push(ch, seq, AMQP_CF_PUB, AMQP_CF_PENDING);
		return;
	}
	if (res->pending)
		cf_push(ch, seq, AMQP_CF_PUB, AMQP_CF_PENDING);
	else if (ch->cx->cf_count > 0)
		cf_push(ch, seq, AMQP_CF_PUB, res->refused == 0 ? AMQP_CF_OK : AMQP_CF_FAIL);
	else
		confirm_decided(ch, seq, res->refused == 0);
}

/* ---- routing -------------------------------------------------------- */

/* false: not sent, the client cannot receive it (amqp_ch_wire_init) */
static bool
send_return(struct amqp_channel *ch, struct bk_msg *msg)
{
	struct amqp_method m;
	struct amqp_wire w;

	if (!amqp_ch_wire_init(ch, msg, &w))
		return false;
	memset(&m, 0, sizeof(m));
	m.id = AMQP_BASIC_RETURN;
	m.u.basic_return.reply_code = AMQP_NO_ROUTE;
	m.u.basic_return.reply_text = BK_STR_LIT("NO_ROUTE");
	m.u.basic_return.exchange = bk_msg_exchange(msg);
	m.u.basic_return.routing_key = w.rk;
	amqp_conn_send_content(ch->conn, ch->id, &m, msg, w.props);
	amqp_ch_wire_fini(&w);
	return true;
}

bool
amqp_ch_route(struct amqp_channel *ch, struct bk_msg *msg, bool mandatory)
{
	struct bk_route_result res;
	struct bk_confirm *durable = NULL;
	struct bk_err err;
	uint64_t seq = 0;

	if (ch->confirm || ch->tx) {
		struct amqp_ch_cx *x = ch->cx;

		seq = ++x->pub_seq;
		if (x->durable == NULL)
			x->durable = bk_confirm_new(ch->conn->broker, on_durable, ch);
		durable = x->durable;
	}
	memset(&res, 0, sizeof(res));
	if (bk_publish_memo(ch->conn->vhost, bk_msg_exchange(msg), msg, durable, seq,
			    &ch->route, &res, &err) != BK_OK) {
		bk_msg_unref(msg);
		amqp_channel_fail_err(ch, AMQP_BASIC_PUBLISH, &err);
		return false;
	}
	if (ch->ctr) {
		ch->ctr->ms.n[BK_MS_PUBLISH]++;
		if (res.queues > 0 || res.direct_reply)
			ch->ctr->ms.n[BK_MS_PUBLISH_OUT]++;
		else if (!mandatory)
			ch->ctr->ms.n[BK_MS_DROP_UNROUTABLE]++;
	}
	if (mandatory && res.queues == 0 && !res.direct_reply && send_return(ch, msg)) {
		bk_stats_count(ch->conn->vhost, BK_MS_RETURN_UNROUTABLE, 1);
		if (ch->ctr)
			ch->ctr->ms.n[BK_MS_RETURN_UNROUTABLE]++;
	}
	if (seq)
		publish_decided(ch, seq, &res);
	bk_msg_unref(msg);
	return true;
}
