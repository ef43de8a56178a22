/*
 * amqp_channel_ack.c: the channel's unacked deliveries; basic.ack, nack,
 * reject, recover and get.
 *
 * Delivery tags are per channel, 1, 2, 3, ... in the order deliveries are
 * written (no-ack ones take a tag too). The unacked deliveries are kept
 * twice, with no allocation per message:
 *
 *   list   ua_head <-> ... <-> ua_tail   (d->link_prev/link_next, tag order)
 *   map    tags[slot] = d                (open addressing by tag)
 *
 * The map is sized by the number of unacked deliveries (at most half
 * full; it halves when an eighth full), never by the distance between the
 * oldest unacked tag and the newest: one delivery left unacked while
 * millions of no-ack deliveries go by costs one slot, not a window of
 * millions. Slots are found by a multiplicative hash of the tag with
 * linear probing, and a removal shifts the probe run back (no tombstones),
 * so lookups stay O(1) whatever tags a client leaves unacked. Acks mostly
 * arrive in order, so the common case touches the list head only.
 *
 * Settling may call deliver() on this channel synchronously (credit freed),
 * which appends to the list: deliveries are always unlinked before
 * bk_delivery_settle() is called, and loops re-read the list head.
 */
#include <stdio.h>
#include <string.h>

#include "amqp_channel_int.h"

#define TAGS_MIN 16u

static uint32_t
slot_of(const struct amqp_channel *ch, uint64_t tag)
{
	return (uint32_t)((tag * 0x9E3779B97F4A7C15ull) >> 32) & ch->tags_mask;
}

static void
tags_put(struct amqp_channel *ch, struct bk_delivery *d)
{
	uint32_t i = slot_of(ch, d->tag);

	while (ch->tags[i] != NULL)
		i = (i + 1) & ch->tags_mask;
	ch->tags[i] = d;
}

/* Rebuild the map with cap slots (a power of two above ua_count). */
static void
tags_resize(struct amqp_channel *ch, uint32_t cap)
{
	struct bk_delivery **old = ch->tags;
	uint32_t n = old ? ch->tags_mask + 1 : 0;

	ch->tags = bk_calloc(cap, sizeof(*ch->tags));
	ch->tags_mask = cap - 1;
	for (uint32_t i = 0; i < n; i++)
		if (old[i] != NULL)
			tags_put(ch, old[i]);
	bk_free(old);
}

/* Room for one more entry, keeping the map at most half full. */
static void
tags_reserve(struct amqp_channel *ch)
{
	uint32_t cap = ch->tags ? ch->tags_mask + 1 : 0;

	if (cap == 0)
		tags_resize(ch, TAGS_MIN);
	else if ((ch->ua_count + 1) * 2 > cap)
		tags_resize(ch, cap * 2);
}

static struct bk_delivery *
tags_get(const struct amqp_channel *ch, uint64_t tag)
{
	uint32_t i;

	if (ch->tags == NULL || tag == 0 || tag > ch->next_tag)
		return NULL;
	for (i = slot_of(ch, tag); ch->tags[i] != NULL; i = (i + 1) & ch->tags_mask)
		if (ch->tags[i]->tag == tag)
			return ch->tags[i];
	return NULL;
}

/* Remove d (present) and shift the rest of its probe run back. */
static void
tags_del(struct amqp_channel *ch, struct bk_delivery *d)
{
	uint32_t i = slot_of(ch, d->tag), j, home;

	while (ch->tags[i] != d)
		i = (i + 1) & ch->tags_mask;
	ch->tags[i] = NULL;
	for (j = (i + 1) & ch->tags_mask; ch->tags[j] != NULL; j = (j + 1) & ch->tags_mask) {
		home = slot_of(ch, ch->tags[j]->tag);
		/* move j's entry into the hole unless its home lies in (i, j] */
		if (((j - home) & ch->tags_mask) >= ((j - i) & ch->tags_mask)) {
			ch->tags[i] = ch->tags[j];
			ch->tags[j] = NULL;
			i = j;
		}
	}
}

/* After removals: give memory back once the map is an eighth full. */
static void
tags_shrink(struct amqp_channel *ch)
{
	uint32_t cap = ch->tags_mask + 1, want = cap;

	if (ch->tags == NULL)
		return;
	if (ch->ua_count == 0) {
		BK_FREE(ch->tags);
		ch->tags_mask = 0;
		return;
	}
	while (want > TAGS_MIN && ch->ua_count * 8 < want)
		want /= 2;
	if (want < cap)
		tags_resize(ch, want);
}

/* Unlink d from the list and the map. */
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
	tags_del(ch, d);
	ch->ua_count--;
}

uint64_t
amqp_ch_unacked_add(struct amqp_channel *ch, struct bk_delivery *d)
{
	uint64_t tag = ++ch->next_tag;

	d->tag = tag;
	if (d->no_ack)
		return tag;
	tags_reserve(ch);
	tags_put(ch, d);
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

/* Sort a list linked by link_next by tag (merge sort, O(n log n)). */
static struct bk_delivery *
sort_by_tag(struct bk_delivery *head)
{
	struct bk_delivery *a, *b, *slow, *fast, *out = NULL, **tail = &out;

	if (head == NULL || head->link_next == NULL)
		return head;
	slow = head;
	for (fast = head->link_next; fast && fast->link_next;
	     fast = fast->link_next->link_next)
		slow = slow->link_next;
	b = slow->link_next;
	slow->link_next = NULL;
	a = sort_by_tag(head);
	b = sort_by_tag(b);
	while (a && b) {
		struct bk_delivery **pick = a->tag < b->tag ? &a : &b;

		*tail = *pick;
		tail = &(*pick)->link_next;
		*pick = (*pick)->link_next;
	}
	*tail = a ? a : b;
	return out;
}

/*
 * Put the deliveries of a list linked by link_next (any order: the order
 * the client settled in) back among the unacked ones, in tag order. One
 * sort and one merge: a client that settled in reverse tag order must not
 * make the rollback walk the list once per delivery.
 */
void
amqp_ch_unacked_restore_list(struct amqp_channel *ch, struct bk_delivery *head)
{
	struct bk_delivery *at = ch->ua_head, *prev = NULL, *d, *next;

	for (d = sort_by_tag(head); d; d = next) {
		next = d->link_next;
		while (at && at->tag < d->tag) {
			prev = at;
			at = at->link_next;
		}
		d->adapter_data = NULL;
		d->link_prev = prev;
		d->link_next = at;
		if (at)
			at->link_prev = d;
		else
			ch->ua_tail = d;
		if (prev)
			prev->link_next = d;
		else
			ch->ua_head = d;
		prev = d;
		tags_reserve(ch);
		tags_put(ch, d);
		ch->ua_count++;
	}
}

void
amqp_ch_settle_list(struct amqp_channel *ch, struct bk_delivery *head, enum bk_settle how)
{
	struct bk_delivery *d, *next;

	bk_settle_batch_begin(ch->conn->broker);
	for (d = head; d; d = next) {
		next = d->link_next;
		d->link_next = d->link_prev = NULL;
		d->adapter_data = NULL;
		bk_delivery_settle(d, how);
	}
	bk_settle_batch_end(ch->conn->broker);
}

void
amqp_ch_unacked_requeue_all(struct amqp_channel *ch)
{
	struct bk_delivery *head = ch->ua_head;

	ch->ua_head = ch->ua_tail = NULL;
	ch->ua_count = 0;
	BK_FREE(ch->tags);
	ch->tags_mask = 0;
	amqp_ch_settle_list(ch, head, BK_SETTLE_REQUEUE);
}

void
amqp_ch_unacked_fini(struct amqp_channel *ch)
{
	BK_ASSERT(ch->ua_head == NULL);
	BK_FREE(ch->tags);
}

/*
 * Settle one delivery now, or hold it for tx.commit. The tx list keeps the
 * order the client settled in; rollback re-sorts by tag.
 */
static void
settle_one(struct amqp_channel *ch, struct bk_delivery *d, enum bk_settle how)
{
	if (how == BK_SETTLE_ACK && ch->ctr)
		ch->ctr->ms.n[BK_MS_ACK]++;
	if (!ch->tx) {
		bk_delivery_settle(d, how);
		return;
	}
	d->adapter_data = (void *)(uintptr_t)how;
	d->link_next = NULL;
	d->link_prev = ch->cx->tx_tail;
	if (ch->cx->tx_tail)
		ch->cx->tx_tail->link_next = d;
	else
		ch->cx->tx_head = d;
	ch->cx->tx_tail = d;
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

	if (!(multiple && tag == 0) && !(d = tags_get(ch, tag))) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, method_id,
				  "unknown delivery tag %llu", (unsigned long long)tag);
		return;
	}
	if (!multiple) {
		unacked_remove(ch, d);
		tags_shrink(ch);
		settle_one(ch, d, how);
		return;
	}
	/* deliveries made while settling get bigger tags than upto */
	upto = tag ? tag : ch->next_tag;
	bk_settle_batch_begin(ch->conn->broker);
	while ((d = ch->ua_head) && d->tag <= upto) {
		unacked_remove(ch, d);
		settle_one(ch, d, how);
	}
	bk_settle_batch_end(ch->conn->broker);
	tags_shrink(ch);
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
 * them (amqp_ch_wire_init) before it answers get-empty: the answer
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
	struct amqp_wire w;
	uint32_t count = 0;
	enum bk_status st;

	if (!amqp_ch_queue_name(ch, m->id, &name) ||
	    !amqp_ch_allowed(ch, m->id, BK_PERM_READ, "queue", name))
		return;
	if (bk_queue_lookup(ch->conn->vhost, name, ch->conn, &q, &err) != BK_OK ||
	    bk_queue_get_check(q, &err) != BK_OK) {
		amqp_channel_fail_err(ch, m->id, &err);
		return;
	}
	for (int skips = 0; ; skips++) {
		st = bk_queue_get_one(q, a->no_ack, &d, &count);
		if (st != BK_OK || d == NULL || amqp_ch_wire_init(ch, d->msg, &w))
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
	if (ch->ctr) {
		ch->ctr->ms.n[!d ? BK_MS_GET_EMPTY : a->no_ack || d->no_ack ?
			      BK_MS_GET_NO_ACK : BK_MS_GET]++;
		ch->ctr->ms.n[BK_MS_REDELIVER] += d && d->redelivered;
	}
	if (!d) {
		ok.id = AMQP_BASIC_GET_EMPTY;
		amqp_conn_send_method(ch->conn, ch->id, &ok);
		return;
	}
	d->no_ack = d->no_ack || a->no_ack;
	ok.id = AMQP_BASIC_GET_OK;
	ok.u.basic_get_ok.delivery_tag = amqp_ch_unacked_add(ch, d);
	ok.u.basic_get_ok.redelivered = d->redelivered;
	ok.u.basic_get_ok.exchange = bk_msg_exchange(d->msg);
	ok.u.basic_get_ok.routing_key = w.rk;
	ok.u.basic_get_ok.message_count = count;
	amqp_conn_send_content(ch->conn, ch->id, &ok, d->msg, w.props);
	amqp_ch_wire_fini(&w);
	if (d->no_ack)
		bk_delivery_settle(d, BK_SETTLE_ACK);
}
