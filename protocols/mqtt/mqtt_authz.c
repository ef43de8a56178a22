/*
 * mqtt_authz.c: what MQTT packets need, as RabbitMQ's MQTT plugin asks
 * it, in one place:
 *
 *   PUBLISH, will     write on the exchange; topic write on the topic
 *                     (mapped to a routing key: "a/b" -> "a.b")
 *   SUBSCRIBE         configure, write, read on the session's queue (or
 *                     the shared group's queue, also when joining an
 *                     existing group); read on the exchange; topic read on
 *                     the filter ("a/+" -> "a.*")
 *   UNSUBSCRIBE       write on the queue, read on the exchange, topic read
 *   resumed session   write and read on its queues, read on the exchange,
 *                     topic read on every filter it holds
 *
 * The session and group queues' names are reserved for MQTT
 * (mqtt_listener_new: bk_queue_prefix_reserve), so no AMQP or HTTP user
 * but an administrator reaches them; MQTT checks its own users on them
 * with bk_perm_check, RabbitMQ's permissions without the reservation.
 *
 * Topic permissions are checked on the MQTT exchange whatever its type,
 * with {client_id} the session's client identifier. Session ownership
 * (a session belongs to its user) is decided in mqtt_connect.c.
 */
#include "mqtt_int.h"

#include <string.h>

struct bk_who
mqtt_conn_who(const struct mqtt_conn *c)
{
	struct bk_who who = { bk_str_c(""), { NULL, 0 } };

	if (c->names != NULL) {
		who.user = bk_str_c(mqtt_conn_user(c));
		who.client_id = bk_str_c(mqtt_conn_client_id(c));
	}
	return who;
}

enum bk_status
mqtt_publish_allowed(struct mqtt_listener *l, struct bk_vhost *vh, const struct bk_who *who,
		     struct bk_str key, bool retain, bool *keyed, struct bk_err *err)
{
	struct bk_str x = bk_str_c(l->cfg.exchange);
	enum bk_status st;

	/* a retained message needs no right of its own: what may be
	 * published may be retained, as in RabbitMQ and Mosquitto */
	(void)retain;
	st = bk_access_check(vh, who->user, BK_PERM_WRITE, "exchange", x, err);
	if (st != BK_OK)
		return st;
	/* RabbitMQ's MQTT plugin checks topic permissions on its exchange
	 * whatever the exchange's type */
	if (keyed != NULL)
		*keyed = bk_topic_perms_apply(vh, who, x);
	return bk_topic_access_check(vh, who, BK_PERM_WRITE, x, key, err);
}

enum bk_status
mqtt_sub_check(struct mqtt_session *s, const struct bk_who *who, const char *queue,
	       unsigned on_queue, struct bk_str filter, struct bk_err *err)
{
	struct bk_str q = bk_str_c(queue), x = bk_str_c(s->l->cfg.exchange);
	enum bk_status st = BK_OK;

	for (int p = BK_PERM_CONFIGURE; p <= BK_PERM_READ && st == BK_OK; p++)
		if (queue != NULL && (on_queue & (1u << p)))
			st = bk_perm_check(s->vhost, who->user, (enum bk_perm)p, "queue", q, err);
	if (st == BK_OK)
		st = bk_access_check(s->vhost, who->user, BK_PERM_READ, "exchange", x, err);
	if (st == BK_OK)
		st = bk_topic_access_check(s->vhost, who, BK_PERM_READ, x,
					   mqtt_filter_to_key(filter, &s->l->kbuf), err);
	return st;
}

enum bk_status
mqtt_subs_recheck(struct mqtt_session *s, const struct bk_who *who, struct bk_err *err)
{
	struct mqtt_sub *sub, *tmp;
	enum bk_status st = BK_OK;

	HASH_ITER(hh, s->rx->subs, sub, tmp) {
		st = mqtt_sub_check(s, who, sub->shared ? sub->shared->queue : s->rx->queue,
				    MQTT_SUB_RESUME, sub->match, err);
		if (st != BK_OK)
			return st;
	}
	/* a queue without subscriptions is still consumed */
	if (s->rx->queue != NULL && s->rx->nlocal == 0)
		st = bk_perm_check(s->vhost, who->user, BK_PERM_READ, "queue",
				   bk_str_c(s->rx->queue), err);
	return st;
}

/* For a SUBSCRIBE of this session's connection. */
bool
mqtt_may_subscribe(struct mqtt_session *s, const char *queue, struct bk_str filter,
	      struct bk_err *err)
{
	struct bk_who who;

	if (!s->conn)
		return true;
	who = mqtt_conn_who(s->conn);
	return mqtt_sub_check(s, &who, queue, MQTT_SUB_DECLARE, filter, err) == BK_OK;
}

/*
 * RabbitMQ asks the same of an unbind as of a bind: write on the queue,
 * read on the exchange and topic read on the filter. A refused filter
 * stays subscribed (v5: UNSUBACK 0x87; v3 UNSUBACK carries no codes).
 */
bool
mqtt_may_unsubscribe(struct mqtt_session *s, struct mqtt_sub *sub, struct bk_err *err)
{
	struct bk_who who = mqtt_conn_who(s->conn);

	if (mqtt_sub_check(s, &who, sub->shared ? sub->shared->queue : s->rx->queue,
			   MQTT_SUB_UNBIND, sub->match, err) == BK_OK)
		return true;
	mqtt_conn_log(s->conn, BK_LOG_INFO, "unsubscribe '%s' refused: %s", sub->filter,
		      err->text);
	return false;
}

