/*
 * amqp_conn_query.c: what the channel layer may ask of its connection
 * beyond struct amqp_conn: the listener's limits, whether reading is
 * paused, and holding the input while a durable change goes to disk.
 * Kept apart so channel code never sees the connection's private state.
 */
#include "amqp_conn_int.h"

const struct amqp_config *
amqp_conn_config(const struct amqp_conn *c)
{
	return conn_priv(c)->cfg;
}

bool
amqp_conn_reading_paused(const struct amqp_conn *c)
{
	/* a resource alarm, a held input, or our own output over its
	 * watermark (the transport stops reading then) */
	return conn_priv(c)->flow_blocked || c->input_held ||
	       (c->nc != NULL && net_conn_output_full(c->nc));
}

void
amqp_conn_hold_input(struct amqp_conn *c, bool hold)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (c->input_held == hold)
		return;
	c->input_held = hold;
	if (amqp_conn_gone(c) || p->reading_stopped)
		return;
	/* Released: what waits in the input is read from a deferred
	 * callback, never inside the caller (the journal's completion). */
	net_conn_pause(c->nc, NET_PAUSE_PROTO, hold);
}
