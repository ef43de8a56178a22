/*
 * amqp_flow.c: resource alarms on AMQP connections, as RabbitMQ's reader
 * handles them (its "blocking" and "blocked" connection states).
 *
 * The listener watches the broker's alarm mask once and walks its
 * connections on each change:
 *
 *   alarm raised   a connection that has published gets connection.blocked
 *                  (if it announced the capability). Nothing stops yet.
 *   basic.publish  while any alarm is raised: the method is handled, then
 *                  the connection stops reading (the transport pauses
 *                  it; what is already buffered stays buffered). A connection that
 *                  never published before gets connection.blocked now.
 *   all cleared    connection.unblocked to those that got blocked; reading
 *                  resumes and the buffered input is handled from a
 *                  deferred read callback, not inside the core's call.
 *
 * Connections that only consume are never stopped, so acks keep flowing
 * and queues can drain below the watermark. While reading is stopped the
 * heartbeat check does not count silence against the peer (RabbitMQ
 * pauses its receive monitor), since the silence is ours.
 */
#include "amqp_conn_int.h"

/* RabbitMQ's reasons in connection.blocked. */
static struct bk_str
block_reason(unsigned alarms)
{
	if (alarms & BK_ALARM_MEMORY)
		return BK_STR_LIT("low on memory");
	if (alarms & BK_ALARM_DISK)
		return BK_STR_LIT("low on disk space");
	return BK_STR_LIT("low on resources");
}

/* connection.blocked once per alarm episode, to capable running peers. */
static void
send_blocked(struct amqp_conn *c, unsigned alarms)
{
	struct amqp_conn_priv *p = conn_priv(c);
	struct amqp_method m = { .id = AMQP_CONNECTION_BLOCKED };

	if (p->blocked_sent || !c->cap_connection_blocked ||
	    c->state != AMQP_CONN_RUNNING)
		return;
	m.u.connection_blocked.reason = block_reason(alarms);
	amqp_conn_send_method(c, 0, &m);
	p->blocked_sent = true;
}

void
amqp_conn_flow_resume_reading(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (!p->flow_blocked)
		return;
	p->flow_blocked = false;
	/* Frames left in the input when reading stopped are handled from a
	 * deferred read callback, never inside the caller (the core). */
	net_conn_pause(c->nc, NET_PAUSE_FLOW, false);
}

void
amqp_conn_flow_on_publish(struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);
	unsigned alarms = bk_alarms(c->broker);

	p->published = true;
	if (alarms == 0 || p->flow_blocked || amqp_conn_gone(c) ||
	    c->state != AMQP_CONN_RUNNING)
		return;
	send_blocked(c, alarms);
	p->flow_blocked = true;
	net_conn_pause(c->nc, NET_PAUSE_FLOW, true);
	amqp_conn_log(c, BK_LOG_INFO, "blocked: publishing while a resource alarm is raised");
}

/* One connection, after the mask changed to alarms. */
static void
conn_on_alarm(struct amqp_conn *c, unsigned alarms)
{
	struct amqp_conn_priv *p = conn_priv(c);
	struct amqp_method m = { .id = AMQP_CONNECTION_UNBLOCKED };

	if (amqp_conn_gone(c))
		return;
	if (alarms != 0) {
		if (p->published)
			send_blocked(c, alarms);
		return;
	}
	if (p->blocked_sent && c->state == AMQP_CONN_RUNNING)
		amqp_conn_send_method(c, 0, &m);
	p->blocked_sent = false;
	if (p->flow_blocked)
		amqp_conn_log(c, BK_LOG_INFO, "unblocked: resource alarms cleared");
	amqp_conn_flow_resume_reading(c);
}

void
amqp_listener_on_alarm(void *arg, unsigned alarms)
{
	struct amqp_listener *l = arg;

	/* Sending only appends to output and resuming only schedules a
	 * read, so no connection leaves the list during the walk. */
	for (struct amqp_conn *c = l->conns; c; c = c->next)
		conn_on_alarm(c, alarms);
}
