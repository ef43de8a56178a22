/*
 * amqp_mgmt.c: the connection's side of management. Registers each
 * accepted connection with the broker's registry (what /api/connections
 * lists and what sluicectl close_connection and vhost deletion close),
 * and implements the registry's describe and close callbacks.
 *
 * close() comes from outside our callbacks (an HTTP handler, vhost or
 * user deletion): it sends connection.close 320 CONNECTION_FORCED and
 * gives back every core object at once, channels (consumers, unacked
 * deliveries) and exclusive queues, because the caller may free the
 * vhost right after. The connection itself goes later, as always.
 */
#include "amqp_conn_int.h"

#include <string.h>

static const char *
rabbit_state(const struct amqp_conn *c)
{
	const struct amqp_conn_priv *p = conn_priv(c);

	switch (c->state) {
	case AMQP_CONN_HEADER:
	case AMQP_CONN_START_OK:
	case AMQP_CONN_SECURE_OK: return "starting";
	case AMQP_CONN_TUNE_OK:   return "tuning";
	case AMQP_CONN_OPEN:      return "opening";
	case AMQP_CONN_RUNNING:
		if (p->flow_blocked)
			return "blocked";
		return "running";
	case AMQP_CONN_CLOSING:   return "closing";
	default:                  return "closed";
	}
}

static void
describe(void *ctx, struct bk_conn_state *st)
{
	const struct amqp_conn *c = ctx;

	st->state = rabbit_state(c);
	st->channels = conn_priv(c)->nchannels;
	st->channel_max = c->tuned ? c->channel_max : 0;
	st->frame_max = c->frame_max;
	st->timeout = c->heartbeat;
	net_conn_describe(c->nc, st);
}

static void
mgmt_close(void *ctx, const char *reason)
{
	struct amqp_conn *c = ctx;

	amqp_conn_close_or(c, AMQP_CONNECTION_FORCED, 0, "%s", reason);
	amqp_conn_free_channels(c);
	amqp_conn_release_owner(c);
}

static const struct bk_conn_ops conn_ops = {
	.version = BK_CONN_OPS_V1,
	.describe = describe,
	.close = mgmt_close,
};

void
amqp_conn_mgmt_register(struct amqp_conn *c)
{
	struct bk_conn_info info = {
		.protocol = "AMQP 0-9-1", .ops = &conn_ops, .ctx = c,
	};

	net_conn_fill_info(c->nc, &info);
	c->mgmt = bk_conn_register(c->broker, &info);
	c->ctr = bk_conn_counters(c->mgmt);
	bk_conn_set_owner(c->mgmt, (bk_owner)c);
}

void
amqp_conn_mgmt_unregister(struct amqp_conn *c)
{
	bk_conn_unregister(c->mgmt);
	c->mgmt = NULL;
	c->ctr = NULL;
}
