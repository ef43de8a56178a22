/*
 * amqp_channel_tx.c: tx.select/commit/rollback and confirm.select.
 *
 * A transactional channel holds back two things until tx.commit:
 *   publishes -> cx->tx_pubs[] (one message reference each, in arrival order)
 *   settlements (ack/reject/nack) -> the tx list: the deliveries leave the
 *     unacked list (so a second ack of the same tag fails as in RabbitMQ)
 *     and wait here with the settle kind in d->adapter_data.
 * tx.commit routes the publishes in order (returns go out as usual), then
 * settles the deliveries in the order the client settled them (the core
 * restores queue order for requeues), then replies commit-ok, once every
 * persistent publish of the commit that went to the journal is on disk
 * (amqp_ch_commit_ok). tx.rollback
 * drops the publishes and puts the deliveries back among the unacked ones,
 * in tag order, as RabbitMQ does. A channel is never both transactional
 * and in confirm mode (406 either way).
 */
#include <stdint.h>
#include <string.h>

#include "amqp_channel_int.h"

void
amqp_ch_confirm_select(struct amqp_channel *ch, const struct amqp_method *m)
{
	if (ch->tx) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id,
				  "cannot switch from tx to confirm mode");
		return;
	}
	amqp_ch_cx(ch);
	ch->confirm = true;
	if (!m->u.confirm_select.nowait)
		amqp_channel_send_simple(ch, AMQP_CONFIRM_SELECT_OK);
}

void
amqp_ch_tx_select(struct amqp_channel *ch)
{
	if (ch->confirm) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_TX_SELECT,
				  "cannot switch from confirm to tx mode");
		return;
	}
	amqp_ch_cx(ch);
	ch->tx = true;
	amqp_channel_send_simple(ch, AMQP_TX_SELECT_OK);
}

void
amqp_ch_tx_add_publish(struct amqp_channel *ch, struct bk_msg *msg, bool mandatory)
{
	struct amqp_ch_cx *x = ch->cx;

	if (x->tx_npubs == x->tx_cap) {
		x->tx_cap = x->tx_cap ? x->tx_cap * 2 : 16;
		x->tx_pubs = bk_realloc(x->tx_pubs, x->tx_cap * sizeof(*x->tx_pubs));
	}
	x->tx_pubs[x->tx_npubs].msg = msg;
	x->tx_pubs[x->tx_npubs].mandatory = mandatory;
	x->tx_npubs++;
}

static void
drop_pubs(struct amqp_channel *ch, uint32_t from)
{
	struct amqp_ch_cx *x = ch->cx;

	if (x == NULL)
		return;
	for (uint32_t i = from; i < x->tx_npubs; i++)
		bk_msg_unref(x->tx_pubs[i].msg);
	x->tx_npubs = 0;
}

/* Detach the tx-held deliveries (linked by link_next, in tag order). */
static struct bk_delivery *
take_held(struct amqp_channel *ch)
{
	struct bk_delivery *head;

	if (ch->cx == NULL)
		return NULL;
	head = ch->cx->tx_head;
	ch->cx->tx_head = ch->cx->tx_tail = NULL;
	return head;
}

void
amqp_ch_tx_commit(struct amqp_channel *ch)
{
	struct bk_delivery *d, *next;
	uint32_t i;

	if (!ch->tx) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_TX_COMMIT,
				  "channel is not transactional");
		return;
	}
	for (i = 0; i < ch->cx->tx_npubs; i++) {
		struct amqp_tx_pub p = ch->cx->tx_pubs[i];

		ch->cx->tx_pubs[i].msg = NULL;
		if (!amqp_ch_route(ch, p.msg, p.mandatory)) {
			drop_pubs(ch, i + 1);
			return;                 /* the channel failed */
		}
	}
	ch->cx->tx_npubs = 0;
	bk_settle_batch_begin(ch->conn->broker);
	for (d = take_held(ch); d; d = next) {
		next = d->link_next;
		d->link_next = d->link_prev = NULL;
		bk_delivery_settle(d, (enum bk_settle)(uintptr_t)d->adapter_data);
	}
	bk_settle_batch_end(ch->conn->broker);
	amqp_ch_commit_ok(ch);
}

void
amqp_ch_tx_rollback(struct amqp_channel *ch)
{
	if (!ch->tx) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_TX_ROLLBACK,
				  "channel is not transactional");
		return;
	}
	drop_pubs(ch, 0);
	amqp_ch_unacked_restore_list(ch, take_held(ch));
	amqp_channel_send_simple(ch, AMQP_TX_ROLLBACK_OK);
}

void
amqp_ch_tx_discard(struct amqp_channel *ch)
{
	drop_pubs(ch, 0);
	amqp_ch_settle_list(ch, take_held(ch), BK_SETTLE_REQUEUE);
}
