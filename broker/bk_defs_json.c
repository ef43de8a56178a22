/*
 * bk_defs_json.c: the broker as a RabbitMQ definitions document
 * (bk_defs_export, broker.h), for the durable definitions file
 * (BK_DEFS_DURABLE) and GET /api/definitions (everything RabbitMQ's
 * export lists: transient objects too, exclusive queues never).
 *
 *   { "rabbit_version", "rabbitmq_version", "product_name",
 *     "users": [{name, password_hash, hashing_algorithm, tags[], limits}],
 *     "vhosts": [{name}], "permissions": [{user, vhost, configure, write, read}],
 *     "topic_permissions": [{user, vhost, exchange, write, read}],
 *     "parameters": [{value: {max-connections, max-queues}, vhost,
 *                     component: "vhost-limits", name: "limits"}],
 *     "global_parameters": [],
 *     "policies": [{vhost, name, pattern, apply-to, definition, priority}],
 *     "operator_policies": [...]   (the durable file only),
 *     "queues": [{name, vhost, durable, auto_delete, arguments}],
 *     "exchanges": [{name, vhost, type, durable, auto_delete, internal, arguments}],
 *     "bindings": [{source, vhost, destination, destination_type,
 *                   routing_key, arguments}] }
 *
 * Vhosts, users and permissions come sorted by name; objects within a
 * vhost in the core's order. This file sees both halves of the core
 * (bk_routing.h and bk_queueing.h): it reads the object graph directly.
 */
#include "bk_routing.h"
#include "bk_persist.h"

#include <string.h>

#include <cjson/cJSON.h>

#define DEFS_RABBIT_VERSION "3.13.7"

struct ex {
	struct bk_broker *b;
	unsigned flags;
	bool with_vhost;                /* "vhost" members (whole-broker export) */
	cJSON *users, *vhosts, *perms, *tperms, *params, *queues, *exchanges, *bindings;
};

static bool
queue_listed(const struct ex *e, const struct bk_queue *q)
{
	return !q->exclusive && !q->deleted &&
	       (q->durable || !(e->flags & BK_DEFS_DURABLE));
}

static bool
exchange_listed(const struct ex *e, const struct bk_exchange *x)
{
	return !x->is_default && strncmp(x->name, "amq.", 4) != 0 &&
	       (x->durable || !(e->flags & BK_DEFS_DURABLE));
}

/* Bindings from x: every one, or (durable) those a restart keeps. */
static bool
binding_listed(const struct ex *e, const struct bk_binding *bd)
{
	if (!(e->flags & BK_DEFS_DURABLE))
		return true;
	if (!bd->source->durable)
		return false;
	return bd->dest_is_queue ? bd->dest.q->durable && !bd->dest.q->exclusive &&
				   !bd->dest.q->deleted
				 : bd->dest.x->durable;
}

static cJSON *
entry(const struct ex *e, cJSON *arr, const char *name_key, const char *name,
      struct bk_vhost *vh)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, name_key, name);
	if (e->with_vhost)
		cJSON_AddStringToObject(o, "vhost", vh->name);
	cJSON_AddItemToArray(arr, o);
	return o;
}

static void
add_queue(struct ex *e, struct bk_vhost *vh, struct bk_queue *q)
{
	cJSON *o = entry(e, e->queues, "name", q->name, vh);

	cJSON_AddBoolToObject(o, "durable", q->durable);
	cJSON_AddBoolToObject(o, "auto_delete", q->auto_delete);
	cJSON_AddItemToObject(o, "arguments",
			      bk_table_to_json((struct bk_table){ q->args_blob, q->args_len }));
}

static void
add_exchange(struct ex *e, struct bk_vhost *vh, struct bk_exchange *x)
{
	cJSON *o = entry(e, e->exchanges, "name", x->name, vh);

	cJSON_AddStringToObject(o, "type", bk_xtype_name(x->type));
	cJSON_AddBoolToObject(o, "durable", x->durable);
	cJSON_AddBoolToObject(o, "auto_delete", x->auto_delete);
	cJSON_AddBoolToObject(o, "internal", x->internal);
	cJSON_AddItemToObject(o, "arguments",
			      bk_table_to_json((struct bk_table){ x->args, x->args_len }));
}

static void
add_binding(struct ex *e, struct bk_vhost *vh, struct bk_binding *bd)
{
	cJSON *o = entry(e, e->bindings, "source", bd->source->name, vh);
	char *key = bk_strndup(bd->key.len ? bd->key.p : "", bd->key.len);

	cJSON_AddStringToObject(o, "destination",
				bd->dest_is_queue ? bd->dest.q->name : bd->dest.x->name);
	cJSON_AddStringToObject(o, "destination_type",
				bd->dest_is_queue ? "queue" : "exchange");
	cJSON_AddStringToObject(o, "routing_key", key);
	cJSON_AddItemToObject(o, "arguments", bk_table_to_json(bd->args));
	bk_free(key);
}

static void
add_objects(struct ex *e, struct bk_vhost *vh)
{
	struct bk_exchange *x, *xtmp;
	struct bk_queue *q, *qtmp;
	struct bk_binding *bd;

	HASH_ITER(hh, vh->queues, q, qtmp)
		if (queue_listed(e, q))
			add_queue(e, vh, q);
	HASH_ITER(hh, vh->exchanges, x, xtmp)
		if (exchange_listed(e, x))
			add_exchange(e, vh, x);
	HASH_ITER(hh, vh->exchanges, x, xtmp) {
		if (x->is_default)
			continue;
		for (bd = x->src_head; bd != NULL; bd = bd->src_next)
			if (binding_listed(e, bd))
				add_binding(e, vh, bd);
	}
}

static int
ex_vhost(void *arg, const struct bk_vhost_view *v)
{
	struct ex *e = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddItemToArray(e->vhosts, o);
	if (v->limits.set != 0) {       /* RabbitMQ keeps them as a parameter */
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "value", bk_defs_limits_json(&v->limits));
		cJSON_AddStringToObject(o, "vhost", v->name);
		cJSON_AddStringToObject(o, "component", "vhost-limits");
		cJSON_AddStringToObject(o, "name", "limits");
		cJSON_AddItemToArray(e->params, o);
	}
	add_objects(e, bk_vhost_get(e->b, v->name));
	return 0;
}

/* RabbitMQ 3.13+ writes tags as a list. */
cJSON *
bk_defs_tags_json(const char *tags)
{
	cJSON *arr = cJSON_CreateArray();
	const char *p = tags ? tags : "";

	while (*p != '\0') {
		size_t n = strcspn(p, ", ");

		if (n > 0) {
			char *t = bk_strndup(p, n);

			cJSON_AddItemToArray(arr, cJSON_CreateString(t));
			bk_free(t);
		}
		p += n;
		p += strspn(p, ", ");
	}
	return arr;
}

cJSON *
bk_defs_user_json(const struct bk_user_view *v)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "password_hash", v->password_hash ? v->password_hash : "");
	cJSON_AddStringToObject(o, "hashing_algorithm", v->hashing_algorithm);
	cJSON_AddItemToObject(o, "tags", bk_defs_tags_json(v->tags));
	cJSON_AddItemToObject(o, "limits", bk_defs_limits_json(&v->limits));
	return o;
}

cJSON *
bk_defs_limits_json(const struct bk_limit_values *l)
{
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; i < BK_LIMIT__COUNT; i++)
		if (l->set & (1u << i))
			cJSON_AddNumberToObject(o, bk_limit_name((enum bk_limit)i),
						(double)l->v[i]);
	return o;
}

static int
ex_user(void *arg, const struct bk_user_view *v)
{
	struct ex *e = arg;

	cJSON_AddItemToArray(e->users, bk_defs_user_json(v));
	return 0;
}

cJSON *
bk_defs_permission_json(const struct bk_permission_view *v)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "user", v->user);
	cJSON_AddStringToObject(o, "vhost", v->vhost);
	cJSON_AddStringToObject(o, "configure", v->configure);
	cJSON_AddStringToObject(o, "write", v->write);
	cJSON_AddStringToObject(o, "read", v->read);
	return o;
}

static int
ex_perm(void *arg, const struct bk_permission_view *v)
{
	struct ex *e = arg;

	cJSON_AddItemToArray(e->perms, bk_defs_permission_json(v));
	return 0;
}

cJSON *
bk_defs_policy_json(const struct bk_policy_view *v, bool with_vhost)
{
	cJSON *o = cJSON_CreateObject();

	if (with_vhost)
		cJSON_AddStringToObject(o, "vhost", v->vhost);
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "pattern", v->pattern);
	cJSON_AddStringToObject(o, "apply-to", v->apply_to);
	cJSON_AddItemToObject(o, "definition", cJSON_Duplicate(v->definition, true));
	cJSON_AddNumberToObject(o, "priority", v->priority);
	return o;
}

struct ex_pol {
	cJSON *arr;
	bool with_vhost;
};

static int
ex_policy(void *arg, const struct bk_policy_view *v)
{
	struct ex_pol *p = arg;

	cJSON_AddItemToArray(p->arr, bk_defs_policy_json(v, p->with_vhost));
	return 0;
}

static void
add_policies(cJSON *doc, struct bk_broker *b, struct bk_vhost *vh, unsigned flags)
{
	struct ex_pol p = { cJSON_AddArrayToObject(doc, "policies"), vh == NULL };

	bk_policies_each(b, BK_POLICY_USER, vh ? vh->name : NULL, ex_policy, &p);
	if (!(flags & BK_DEFS_DURABLE))
		return;
	p.arr = cJSON_AddArrayToObject(doc, "operator_policies");
	bk_policies_each(b, BK_POLICY_OPERATOR, vh ? vh->name : NULL, ex_policy, &p);
}

cJSON *
bk_defs_topic_permission_json(const struct bk_topic_permission_view *v)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "user", v->user);
	cJSON_AddStringToObject(o, "vhost", v->vhost);
	cJSON_AddStringToObject(o, "exchange", v->exchange);
	cJSON_AddStringToObject(o, "write", v->write);
	cJSON_AddStringToObject(o, "read", v->read);
	return o;
}

static int
ex_tperm(void *arg, const struct bk_topic_permission_view *v)
{
	struct ex *e = arg;

	cJSON_AddItemToArray(e->tperms, bk_defs_topic_permission_json(v));
	return 0;
}

cJSON *
bk_defs_queue_doc(struct bk_queue *q)
{
	cJSON *doc = cJSON_CreateObject();
	struct ex e = { .b = q->broker, .flags = BK_DEFS_DURABLE, .with_vhost = true };

	e.queues = cJSON_AddArrayToObject(doc, "queues");
	add_queue(&e, q->vhost, q);
	return doc;
}

cJSON *
bk_defs_binding_doc(struct bk_binding *bd)
{
	cJSON *doc = cJSON_CreateObject();
	struct ex e = { .b = bd->source->vhost->broker, .flags = BK_DEFS_DURABLE,
			.with_vhost = true };

	e.bindings = cJSON_AddArrayToObject(doc, "bindings");
	add_binding(&e, bd->source->vhost, bd);
	return doc;
}

cJSON *
bk_defs_export(struct bk_broker *b, struct bk_vhost *vh, unsigned flags)
{
	cJSON *doc = cJSON_CreateObject();
	struct ex e = { .b = b, .flags = flags, .with_vhost = vh == NULL };

	cJSON_AddStringToObject(doc, "rabbit_version", DEFS_RABBIT_VERSION);
	cJSON_AddStringToObject(doc, "rabbitmq_version", DEFS_RABBIT_VERSION);
	cJSON_AddStringToObject(doc, "product_name", "Sluice");
	if (vh == NULL) {
		e.users = cJSON_AddArrayToObject(doc, "users");
		e.vhosts = cJSON_AddArrayToObject(doc, "vhosts");
		e.perms = cJSON_AddArrayToObject(doc, "permissions");
		e.tperms = cJSON_AddArrayToObject(doc, "topic_permissions");
		e.params = cJSON_AddArrayToObject(doc, "parameters");
		cJSON_AddArrayToObject(doc, "global_parameters");
	}
	add_policies(doc, b, vh, flags);
	e.queues = cJSON_AddArrayToObject(doc, "queues");
	e.exchanges = cJSON_AddArrayToObject(doc, "exchanges");
	e.bindings = cJSON_AddArrayToObject(doc, "bindings");
	if (vh != NULL) {
		add_objects(&e, vh);
		return doc;
	}
	bk_users_each(b, ex_user, &e);
	bk_vhosts_each(b, ex_vhost, &e);
	bk_permissions_each(b, NULL, NULL, ex_perm, &e);
	bk_topic_permissions_each(b, NULL, NULL, ex_tperm, &e);
	return doc;
}
