/*
 * amqp_channel_mgmt.c: the channel's side of management: registration in
 * the broker's channel registry (what /api/channels lists) and permission
 * checks before declare, bind, publish and consume.
 *
 * The publish check runs per message, so a granted write to the exchange
 * published to last is remembered until the broker's access generation
 * moves (any user, permission or vhost change): the steady state is one
 * integer compare and one short memcmp. When a topic permission applies
 * to that exchange the grant depends on the routing key, and every
 * publish is checked (bk_access_publish).
 */
#include "amqp_channel_int.h"

#include <string.h>

static void
describe(void *ctx, struct bk_chan_state *st)
{
	const struct amqp_channel *ch = ctx;

	st->state = ch->closing ? "closing" : "running";
	st->prefetch_count = ch->prefetch;
	st->consumer_count = HASH_COUNT(ch->consumers);
	st->messages_unacknowledged = ch->ua_count;
	if (ch->cx) {
		st->messages_unconfirmed = (uint32_t)(ch->cx->pub_seq - ch->cx->confirm_sent);
		st->messages_uncommitted = ch->cx->tx_npubs;
	}
	st->confirm = ch->confirm;
	st->transactional = ch->tx;
}

static const struct bk_chan_ops chan_ops = {
	.version = BK_CHAN_OPS_V1,
	.describe = describe,
};

void
amqp_ch_mgmt_register(struct amqp_channel *ch)
{
	if (ch->conn->mgmt == NULL)
		return;
	ch->mgmt = bk_chan_register(ch->conn->broker, ch->conn->mgmt, ch->id, &chan_ops, ch);
	ch->ctr = bk_chan_counters(ch->mgmt);
}

void
amqp_ch_mgmt_unregister(struct amqp_channel *ch)
{
	bk_chan_unregister(ch->conn->broker, ch->mgmt);
	ch->mgmt = NULL;
	ch->ctr = NULL;
}

struct bk_who
amqp_ch_who(const struct amqp_channel *ch)
{
	/* AMQP 0-9-1 has no client id: {client_id} matches nothing */
	return (struct bk_who){ bk_str_c(ch->conn->user ? ch->conn->user : ""), { NULL, 0 } };
}

bool
amqp_ch_allowed(struct amqp_channel *ch, uint32_t method_id, enum bk_perm what,
		const char *kind, struct bk_str name)
{
	struct bk_err err = { 0 };

	if (bk_access_check(ch->conn->vhost, amqp_ch_who(ch).user, what, kind, name,
			    &err) == BK_OK)
		return true;
	amqp_channel_fail_err(ch, method_id, &err);
	return false;
}

/* The publish permission check itself, cached for the exchange. */
static bool
publish_check(struct amqp_channel *ch, uint32_t method_id, uint64_t gen,
	      struct bk_str exchange, struct bk_str routing_key)
{
	struct bk_who who = amqp_ch_who(ch);
	struct bk_err err = { 0 };
	bool keyed;

	if (bk_access_publish(ch->conn->vhost, &who, exchange, routing_key, &keyed,
			      &err) != BK_OK) {
		amqp_channel_fail_err(ch, method_id, &err);
		return false;
	}
	ch->perm_gen = gen;
	ch->perm_keyed = keyed;
	amqp_cstr_set(&ch->perm_exchange, exchange);
	return true;
}

bool
amqp_ch_publish_allowed(struct amqp_channel *ch, uint32_t method_id,
			struct bk_str exchange, struct bk_str routing_key)
{
	uint64_t gen = bk_access_generation(ch->conn->broker);

	/* through the default exchange, a queue name some adapter reserves
	 * is checked every time (bk_queue_reserved: a prefix compare) */
	if (ch->perm_gen == gen && !ch->perm_keyed &&
	    bk_str_eq(amqp_cstr_get(&ch->perm_exchange), exchange) &&
	    !(exchange.len == 0 && bk_queue_reserved(ch->conn->broker, routing_key)))
		return true;
	return publish_check(ch, method_id, gen, exchange, routing_key);
}
