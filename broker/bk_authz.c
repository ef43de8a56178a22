/*
 * bk_authz.c: which permissions an operation needs, as RabbitMQ's channel
 * asks for them, written once for every adapter (AMQP, MQTT, the HTTP
 * API) and for the core's own declare paths.
 *
 *   operation            checks, in RabbitMQ's order
 *   -------------------  ----------------------------------------------
 *   publish              write exchange; topic write on the key (topic
 *                        exchanges)
 *   bind / unbind        write destination; read source; topic read on
 *                        the binding key (topic source)
 *   exchange.declare     configure exchange; new + alternate-exchange:
 *                        read exchange, write alternate
 *   queue.declare        configure queue (its generated name too); new +
 *                        x-dead-letter-exchange: read queue, write DLX
 *   consume, get, purge  read queue (adapters: bk_access_check)
 *   delete               configure (adapters: bk_access_check)
 *
 * Re-entrancy: none; these only read the permission tables and the
 * exchange table.
 */
#include "bk_mgmt.h"
#include "bk_routing.h"

#include <string.h>

static bool
is_topic(struct bk_vhost *vh, struct bk_str exchange)
{
	struct bk_exchange *x = exchange.len ? bk_exchange_get(vh, exchange) : NULL;

	return x != NULL && x->type == BK_X_TOPIC;
}

enum bk_status
bk_access_publish(struct bk_vhost *vh, const struct bk_who *who, struct bk_str exchange,
		  struct bk_str routing_key, bool *keyed, struct bk_err *err)
{
	enum bk_status st;
	bool k;

	if (keyed != NULL)
		*keyed = false;
	st = bk_access_check(vh, who->user, BK_PERM_WRITE, "exchange", exchange, err);
	if (st != BK_OK)
		return st;
	/* the default exchange routes to the queue its key names */
	if (exchange.len == 0 && bk_queue_reserved(vh->broker, routing_key) &&
	    (st = bk_reserved_check(vh, who->user, routing_key, err)) != BK_OK)
		return st;
	k = is_topic(vh, exchange) && bk_topic_perms_apply(vh, who, exchange);
	if (keyed != NULL)
		*keyed = k;
	return k ? bk_topic_access_check(vh, who, BK_PERM_WRITE, exchange, routing_key, err)
		 : BK_OK;
}

enum bk_status
bk_access_bind(struct bk_vhost *vh, const struct bk_who *who,
	       const struct bk_binding_decl *d, struct bk_err *err)
{
	enum bk_status st;

	st = bk_access_check(vh, who->user, BK_PERM_WRITE,
			     d->dest_is_queue ? "queue" : "exchange", d->dest, err);
	if (st != BK_OK)
		return st;
	/* the bind refuses the default exchange; RabbitMQ says so before
	 * looking at the source's permissions */
	if (d->source.len == 0 || (!d->dest_is_queue && d->dest.len == 0))
		return BK_OK;
	st = bk_access_check(vh, who->user, BK_PERM_READ, "exchange", d->source, err);
	if (st != BK_OK || !is_topic(vh, d->source))
		return st;
	return bk_topic_access_check(vh, who, BK_PERM_READ, d->source, d->routing_key, err);
}

/* A string argument of t, or false. */
static bool
arg_str(struct bk_table t, const char *name, struct bk_str *out)
{
	struct bk_value v;

	if (!bk_table_get(t, name, &v) || v.type != BK_V_LSTR)
		return false;
	*out = v.u.s;
	return true;
}

enum bk_status
bk_authz_queue_new(struct bk_vhost *vh, const struct bk_who *who, const char *name,
		   struct bk_table args, struct bk_err *err)
{
	struct bk_str dlx;
	enum bk_status st;

	if (who == NULL || !arg_str(args, "x-dead-letter-exchange", &dlx))
		return BK_OK;
	st = bk_access_check(vh, who->user, BK_PERM_READ, "queue", bk_str_c(name), err);
	if (st != BK_OK)
		return st;
	return bk_access_check(vh, who->user, BK_PERM_WRITE, "exchange", dlx, err);
}

enum bk_status
bk_authz_exchange_new(struct bk_vhost *vh, const struct bk_who *who, struct bk_str name,
		      struct bk_table args, struct bk_err *err)
{
	struct bk_str ae;
	enum bk_status st;

	if (who == NULL || !arg_str(args, "alternate-exchange", &ae))
		return BK_OK;
	st = bk_access_check(vh, who->user, BK_PERM_READ, "exchange", name, err);
	if (st != BK_OK)
		return st;
	return bk_access_check(vh, who->user, BK_PERM_WRITE, "exchange", ae, err);
}
