/*
 * amqp_channel_ack.c: the channel's unacked deliveries; basic.ack, nack,
 * reject, recover and get.
 *
 * Delivery tags are per channel, 1, 2, 3, ... in the order deliveries are
 * written (no-ack ones take a tag too). The unacked deliveries are kept
 * twice, with no allocation per message:
 *
 *   list   ua_head <-> ... <-> ua_tail   (d->link_prev/link_next, tag order)
 *   ring   ring[tag & ring_mask] = d     (O(1) lookup by tag)
 *
 * Invariant: every unacked delivery's tag lies in [ring_base, next_tag] and
 * its slot holds it; every other slot is NULL. ring_base is the oldest
 * unacked tag (or next_tag + 1 when none), so the ring spans only the
 * window between the oldest unacked delivery and the newest tag; it doubles
 * when that window outgrows it. Acks mostly arrive in order, so the common
 * case touches the list head only.
 *
 * Settling may call deliver() on this channel synchronously (credit freed),
 * which appends to the list: deliveries are always unlinked before
 * bk_delivery_settle() is called, and loops re-read the list head.
 */
#include <stdio.h>
#include <string.h>

#include "amqp_channel_int.h"

static void
ring_grow(struct amqp_channel *ch, uint64_t lo, uint64_t hi)
{
	uint64_t cap = ch->ring_mask + 1;
	struct bk_delivery **ring;

	while (hi - lo + 1 > cap)
		cap *= 2;
	if (cap == ch->ring_mask + 1)
		return;
	ring = bk_calloc(cap, sizeof(*ring));
	for (struct bk_delivery *d = ch->ua_head; d; d = d->link_next)
		ring[d->tag & (cap - 1)] = d;
	bk_free(ch->ring);
	ch->ring = ring;
	ch->ring_mask = cap - 1;
}

static struct bk_delivery *
ring_get(const struct amqp_channel *ch, uint64_t tag)
{
	struct bk_delivery *d;

	if (tag < ch->ring_base || tag > ch->next_tag)
		return NULL;
	/* a no-ack tag's slot may hold an older delivery's that wrapped */
	d = ch->ring[tag & ch->ring_mask];
	return d && d->tag == tag ? d : NULL;
}

/* Unlink d from the list and the ring. */
static void
unacked_remove(struct amqp_channel *ch, struct bk_delivery *d)
{
	if (d->link_prev)
		d->link_prev->link_next = d->link_next;
	else
		ch->ua_head = d->link_next;
	if (d->link_next)
		d->link_next->link_prev = d->link_prev;
	else
		ch->ua_tail = d->link_prev;
	d->link_prev = d->link_next = NULL;
	ch->ring[d->tag & ch->ring_mask] = NULL;
	ch->ua_count--;
	ch->ring_base = ch->ua_head ? ch->ua_head->tag : ch->next_tag + 1;
}

uint64_t
amqp_ch_unacked_add(struct amqp_channel *ch, struct bk_delivery *d)
{
	uint64_t tag = ++ch->next_tag;

	d->tag = tag;
	if (d->no_ack) {
		if (!ch->ua_head)
			ch->ring_base = tag + 1;
		return tag;
	}
	if (!ch->ua_head)
		ch->ring_base = tag;
	ring_grow(ch, ch->ring_base, tag);
	ch->ring[tag & ch->ring_mask] = d;
	d->link_next = NULL;
	d->link_prev = ch->ua_tail;
	if (ch->ua_tail)
		ch->ua_tail->link_next = d;
	else
		ch->ua_head = d;
	ch->ua_tail = d;
	ch->ua_count++;
	return tag;
}

void
amqp_ch_unacked_restore(struct amqp_channel *ch, struct bk_delivery *d)
{
	struct bk_delivery *at = ch->ua_tail;

	while (at && at->tag > d->tag)
		at = at->link_prev;
	d->link_prev = at;
	d->link_next = at ? at->link_next : ch->ua_head;
	if (d->link_next)
		d->link_next->link_prev = d;
	else
		ch->ua_tail = d;
	if (at)
		at->link_next = d;
	else
		ch->ua_head = d;
	ch->ua_count++;
	ch->ring_base = ch->ua_head->tag;
	ring_grow(ch, ch->ring_base, ch->next_tag);
	ch->ring[d->tag & ch->ring_mask] = d;
}

void
amqp_ch_settle_list(struct bk_delivery *head, enum bk_settle how)
{
	struct bk_delivery *d, *next;

	for (d = head; d; d = next) {
		next = d->link_next;
		d->link_next = d->link_prev = NULL;
		d->adapter_data = NULL;
		bk_delivery_settle(d, how);
	}
}

void
amqp_ch_unacked_requeue_all(struct amqp_channel *ch)
{
	struct bk_delivery *head = ch->ua_head, *d;

	for (d = head; d; d = d->link_next)
		ch->ring[d->tag & ch->ring_mask] = NULL;
	ch->ua_head = ch->ua_tail = NULL;
	ch->ua_count = 0;
	ch->ring_base = ch->next_tag + 1;
	amqp_ch_settle_list(head, BK_SETTLE_REQUEUE);
}

void
amqp_ch_unacked_fini(struct amqp_channel *ch)
{
	BK_ASSERT(ch->ua_head == NULL);
	BK_FREE(ch->ring);
}

/*
 * Settle one delivery now, or hold it for tx.commit. The tx list keeps the
 * order the client settled in; rollback re-sorts by tag.
 */
static void
settle_one(struct amqp_channel *ch, struct bk_delivery *d, enum bk_settle how)
{
	if (!ch->tx) {
		bk_delivery_settle(d, how);
		return;
	}
	d->adapter_data = (void *)(uintptr_t)how;
	d->link_next = NULL;
	d->link_prev = ch->tx_tail;
	if (ch->tx_tail)
		ch->tx_tail->link_next = d;
	else
		ch->tx_head = d;
	ch->tx_tail = d;
}

/*
 * Settle tag (multiple: every tag up to it; multiple with tag 0: all).
 * An unknown tag is 406 "unknown delivery tag N" [RabbitMQ].
 */
static void
settle(struct amqp_channel *ch, uint32_t method_id, uint64_t tag,
       bool multiple, enum bk_settle how)
{
	struct bk_delivery *d = NULL;
	uint64_t upto;

	if (!(multiple && tag == 0) && !(d = ring_get(ch, tag))) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, method_id,
				  "unknown delivery tag %llu", (unsigned long long)tag);
		return;
	}
	if (!multiple) {
		unacked_remove(ch, d);
		settle_one(ch, d, how);
		return;
	}
	/* deliveries made while settling get bigger tags than upto */
	upto = tag ? tag : ch->next_tag;
	while ((d = ch->ua_head) && d->tag <= upto) {
		unacked_remove(ch, d);
		settle_one(ch, d, how);
	}
}

void
amqp_ch_basic_ack(struct amqp_channel *ch, const struct amqp_method *m)
{
	settle(ch, m->id, m->u.basic_ack.delivery_tag, m->u.basic_ack.multiple,
	       BK_SETTLE_ACK);
}

void
amqp_ch_basic_reject(struct amqp_channel *ch, const struct amqp_method *m)
{
	settle(ch, m->id, m->u.basic_reject.delivery_tag, false,
	       m->u.basic_reject.requeue ? BK_SETTLE_REQUEUE : BK_SETTLE_REJECT);
}

void
amqp_ch_basic_nack(struct amqp_channel *ch, const struct amqp_method *m)
{
	settle(ch, m->id, m->u.basic_nack.delivery_tag, m->u.basic_nack.multiple,
	       m->u.basic_nack.requeue ? BK_SETTLE_REQUEUE : BK_SETTLE_REJECT);
}

/*
 * basic.recover and the deprecated recover-async: requeue=true requeues
 * every unacked delivery (they come back redelivered, possibly to another
 * consumer); requeue=false is 540 "requeue=false" in RabbitMQ.
 * recover-async has no reply.
 */
void
amqp_ch_basic_recover(struct amqp_channel *ch, const struct amqp_method *m)
{
	bool requeue = m->id == AMQP_BASIC_RECOVER ? m->u.basic_recover.requeue
						   : m->u.basic_recover_async.requeue;

	if (!requeue) {
		amqp_channel_fail(ch, AMQP_NOT_IMPLEMENTED, m->id, "requeue=false");
		return;
	}
	amqp_ch_unacked_requeue_all(ch);
	if (m->id == AMQP_BASIC_RECOVER)
		amqp_channel_send_simple(ch, AMQP_BASIC_RECOVER_OK);
}

/*
 * Messages basic.get drops in one call because this client cannot receive
 * them (amqp_ch_content_fits) before it answers get-empty: the answer
 * always leaves, and one basic.get does bounded work.
 */
#define GET_SKIP_MAX 1000

void
amqp_ch_basic_get(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_get *a = &m->u.basic_get;
	struct bk_str name = a->queue;
	struct bk_delivery *d = NULL;
	struct bk_queue *q;
	struct bk_err err;
	struct amqp_method ok;
	uint32_t count = 0;
	enum bk_status st;

	if (!amqp_ch_queue_name(ch, m->id, &name) ||
	    !amqp_ch_allowed(ch, m->id, BK_PERM_READ, "queue", name))
		return;
	if (bk_queue_lookup(ch->conn->vhost, name, ch->conn, &q, &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	for (int skips = 0; ; skips++) {
		st = bk_queue_get_one(q, a->no_ack, &d, &count);
		if (st != BK_OK || d == NULL || amqp_ch_content_fits(ch, d->msg))
			break;
		bk_delivery_settle(d, BK_SETTLE_ACK);
		d = NULL;
		if (skips == GET_SKIP_MAX)
			break;
	}
	if (st != BK_OK) {
		err.status = st;
		snprintf(err.text, sizeof(err.text), "basic.get failed on queue '%.*s'",
			 (int)name.len, name.p);
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	memset(&ok, 0, sizeof(ok));
	if (!d) {
		ok.id = AMQP_BASIC_GET_EMPTY;
		amqp_conn_send_method(ch->conn, ch->id, &ok);
		return;
	}
	d->no_ack = d->no_ack || a->no_ack;
	ok.id = AMQP_BASIC_GET_OK;
	ok.u.basic_get_ok.delivery_tag = amqp_ch_unacked_add(ch, d);
	ok.u.basic_get_ok.redelivered = d->redelivered;
	ok.u.basic_get_ok.exchange = d->msg->exchange;
	ok.u.basic_get_ok.routing_key = d->msg->routing_key;
	ok.u.basic_get_ok.message_count = count;
	amqp_conn_send_content(ch->conn, ch->id, &ok, d->msg);
	if (d->no_ack)
		bk_delivery_settle(d, BK_SETTLE_ACK);
}
