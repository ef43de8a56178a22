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
	return conn_priv(c)->flow_blocked || c->input_held;
}

void
amqp_conn_hold_input(struct amqp_conn *c, bool hold)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (c->input_held == hold)
		return;
	c->input_held = hold;
	if (p->free_pending || p->reading_stopped)
		return;
	if (hold) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	if (!p->flow_blocked)
		bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}
