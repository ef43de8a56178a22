/*
 * amqp_conn_query.c: what the channel layer may ask of its connection
 * beyond struct amqp_conn: the listener's limits and whether reading is
 * paused. Read-only; kept apart so channel code never sees the
 * connection's private state.
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
	return conn_priv(c)->flow_blocked;
}
