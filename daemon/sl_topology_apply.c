/*
 * sl_topology_apply.c: the collected topology (sl_topology.h) into the
 * broker, at every start, after the durable definitions are loaded and
 * before the listeners open.
 *
 * Order: vhosts, users, permissions, topic permissions, exchanges,
 * policies, operator policies, queues, bindings, so a section may name
 * what a later section declares. Within one kind, the
 * definitions document comes first and the file's sections after it, so
 * the file has the last word on a user's password.
 *
 * Idempotence: every object goes through the core's ordinary declare, which
 * accepts an equivalent existing object and refuses an inequivalent one
 * (PRECONDITION_FAILED "inequivalent arg 'durable' for queue 'q' ..."). We
 * stop at that refusal rather than skip it as RabbitMQ's definitions import
 * does for existing queues: the file says one thing and the broker holds
 * another, and the operator should decide which is right (delete the
 * object, or change the file). Bindings are set-like: binding twice is a
 * no-op, and a binding the file no longer lists is left alone.
 *
 * Users. A [user] section keeps its long-standing meaning (bk_user_set: full
 * permissions on "/" unless the user has some there already), except that
 * a user named in any [permission] section (or the document's permissions)
 * gets exactly the permissions listed. Users from the document are not
 * loopback-only, except guest, as RabbitMQ's default loopback_users
 * (bk_defs_apply).
 */
#include "sl_topology.h"
#include "sl_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

struct apply {
	const struct sl_topo *t;
	struct bk_broker *b;
	char *err;
	size_t errlen;
	unsigned counts[SL_T__COUNT];
};

static int
refuse(struct apply *a, const char *where, const char *header, const char *why)
{
	snprintf(a->err, a->errlen, "%s: %s%s%s", where, header ? header : "",
		 header ? ": " : "", why);
	return -EINVAL;
}

static int
refuse_obj(struct apply *a, const struct sl_topo_obj *o, const struct bk_err *e)
{
	return refuse(a, o->where, o->header, e->text);
}

static const char *
vhost_name(const struct sl_topo_obj *o)
{
	return o->vhost != NULL ? o->vhost : "/";
}

static int
count_one(void *arg, const struct bk_permission_view *v)
{
	(void)v;
	return 1;
}

static bool
has_root_permission(struct bk_broker *b, const char *user)
{
	return bk_permissions_each(b, user, "/", count_one, NULL) != 0;
}

/*
 * bk_user_set with its loopback flag, then take back the permissions on
 * "/" it grants by default when keep_default is false and the user had
 * none there before.
 */
static void
user_base(struct bk_broker *b, const char *name, const char *password,
	  const char *tags, bool loopback, bool keep_default)
{
	bool had_root = has_root_permission(b, name);

	bk_user_set(b, name, password, tags, loopback);
	if (!keep_default && !had_root)
		bk_permission_clear(b, name, "/", NULL);
}

/* Replace the user's password by a RabbitMQ hash. */
static int
user_hash(struct apply *a, const char *where, const char *header, const char *name,
	  const char *hash, const char *algo_name, const char *tags)
{
	enum bk_hash_algo algo = BK_HASH_SHA256;
	struct bk_err e = { 0 };
	char why[400];

	if (algo_name != NULL && !bk_hash_algo_parse(algo_name, &algo)) {
		snprintf(why, sizeof(why), "unknown hashing_algorithm '%s': expected "
			 "rabbit_password_hashing_sha256 or rabbit_password_hashing_sha512",
			 algo_name);
		return refuse(a, where, header, why);
	}
	if (bk_user_add_hash(a->b, name, hash, algo, tags, &e) != BK_OK) {
		snprintf(why, sizeof(why), "%s (expected base64 of a 4-byte salt and "
			 "the %s digest)", e.text, bk_hash_algo_name(algo));
		return refuse(a, where, header, why);
	}
	return 0;
}

static int
conf_user(struct apply *a, const struct sl_user *u)
{
	char header[300];

	snprintf(header, sizeof(header), "[user %s]", u->name);
	user_base(a->b, u->name, u->password, u->tags, u->loopback_only > 0,
		  !sl_topo_has_permissions(a->t, u->name));
	a->counts[SL_T_USER]++;
	if (u->password_hash == NULL)
		return 0;
	return user_hash(a, u->where, header, u->name, u->password_hash,
			 u->hashing_algorithm, u->tags);
}

static struct bk_vhost *
vhost_or_refuse(struct apply *a, const struct sl_topo_obj *o)
{
	struct bk_vhost *vh = bk_vhost_get(a->b, vhost_name(o));
	char why[320];

	if (vh == NULL) {
		snprintf(why, sizeof(why), "no vhost '%s'", vhost_name(o));
		refuse(a, o->where, o->header, why);
	}
	return vh;
}

int
sl_topo_policy_apply(const struct sl_topo_obj *o, struct bk_broker *b,
		     char *err, size_t errlen)
{
	cJSON *pattern = cJSON_CreateString(o->pattern);
	cJSON *prio = cJSON_CreateNumber((double)o->priority);
	cJSON *at = o->apply_to ? cJSON_CreateString(o->apply_to) : NULL;
	struct bk_policy_args pa = { pattern, o->definition, prio, at };
	enum bk_status st;
	char why[1024], *nl;

	st = bk_policy_set(b, o->kind == SL_T_OPERATOR_POLICY ? BK_POLICY_OPERATOR
							      : BK_POLICY_USER,
			   o->vhost ? o->vhost : "/", o->name, &pa, why, sizeof(why));
	cJSON_Delete(pattern);
	cJSON_Delete(prio);
	cJSON_Delete(at);
	if (st == BK_OK)
		return 0;
	/* "Validation failed\n\nreason\n" as "Validation failed: reason" */
	if ((nl = strstr(why, "\n\n")) != NULL) {
		nl[0] = ':';
		nl[1] = ' ';
	}
	while ((nl = strchr(why, '\n')) != NULL) {
		if (nl[1] == '\0')
			*nl = '\0';
		else
			*nl = ';';
	}
	snprintf(err, errlen, "%s: %s: %s", o->where, o->header, why);
	return -EINVAL;
}

static int
apply_one(struct apply *a, const struct sl_topo_obj *o)
{
	struct bk_err e = { 0 };
	struct bk_vhost *vh;
	enum bk_status st;

	if (o->kind == SL_T_POLICY || o->kind == SL_T_OPERATOR_POLICY) {
		if (sl_topo_policy_apply(o, a->b, a->err, a->errlen) < 0)
			return -EINVAL;
		st = BK_OK;
	} else if (o->kind == SL_T_VHOST) {
		st = bk_vhost_add(a->b, o->name, &e);
	} else if (o->kind == SL_T_PERMISSION) {
		st = bk_permission_set(a->b, o->name, vhost_name(o), o->configure,
				       o->write, o->read, &e);
	} else if (o->kind == SL_T_TOPIC_PERMISSION) {
		st = bk_topic_permission_set(a->b, o->name, vhost_name(o), o->exchange,
					     o->write, o->read, &e);
	} else if ((vh = vhost_or_refuse(a, o)) == NULL) {
		return -EINVAL;
	} else if (o->kind == SL_T_EXCHANGE) {
		struct bk_exchange_decl d = {
			.name = bk_str_c(o->name),
			.type = bk_str_c(o->type != NULL ? o->type : "direct"),
			.durable = o->durable, .auto_delete = o->auto_delete,
			.internal = o->internal, .arguments = bk_tb_view(&o->args),
		};

		st = bk_exchange_declare(vh, &d, &e);
	} else if (o->kind == SL_T_QUEUE) {
		struct bk_queue_decl d = {
			.name = bk_str_c(o->name), .durable = o->durable,
			.auto_delete = o->auto_delete, .arguments = bk_tb_view(&o->args),
		};
		const char *qn;
		uint32_t n, c;

		st = bk_queue_declare(vh, &d, &qn, &n, &c, &e);
	} else {
		struct bk_binding_decl d = {
			.source = bk_str_c(o->source), .dest = bk_str_c(o->destination),
			.dest_is_queue = !o->dest_is_exchange,
			.routing_key = bk_str_c(o->routing_key != NULL ? o->routing_key : ""),
			.arguments = bk_tb_view(&o->args),
		};

		st = bk_bind(vh, &d, NULL, &e);
	}
	if (st != BK_OK)
		return refuse_obj(a, o, &e);
	a->counts[o->kind]++;
	return 0;
}

/* The document's entries of one kind (the core's importer). */
static int
apply_defs(struct apply *a, enum sl_topo_kind kind, enum bk_defs_kind dk)
{
	char why[600];

	if (a->t->defs == NULL)
		return 0;
	if (bk_defs_apply(a->b, a->t->defs, NULL, 1u << dk, 0, why, sizeof(why)) < 0)
		return refuse(a, a->t->defs_path, NULL, why);
	a->counts[kind] += (unsigned)bk_defs_count(a->t->defs, dk);
	return 0;
}

int
sl_topo_apply(const struct sl_topo *t, struct bk_broker *b,
	      const struct sl_user *users, size_t n_users, char *err, size_t errlen)
{
	static const struct {
		enum sl_topo_kind kind;
		enum bk_defs_kind dk;
	} order[] = {
		{ SL_T_VHOST, BK_DEFS_VHOSTS }, { SL_T_USER, BK_DEFS_USERS },
		{ SL_T_PERMISSION, BK_DEFS_PERMISSIONS },
		{ SL_T_TOPIC_PERMISSION, BK_DEFS_TOPIC_PERMISSIONS },
		{ SL_T_EXCHANGE, BK_DEFS_EXCHANGES }, { SL_T_POLICY, BK_DEFS_POLICIES },
		{ SL_T_OPERATOR_POLICY, BK_DEFS_OPERATOR_POLICIES },
		{ SL_T_QUEUE, BK_DEFS_QUEUES },
		{ SL_T_BINDING, BK_DEFS_BINDINGS },
		{ SL_T_NONE, BK_DEFS_VHOST_LIMITS },    /* the document's only */
	};
	struct apply a = { .t = t, .b = b, .err = err, .errlen = errlen };

	for (size_t i = 0; i < t->n_notes; i++)
		bk_warn("%s", t->notes[i]);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		/* the document first, then the file's sections: the file wins */
		if (apply_defs(&a, order[k].kind, order[k].dk) < 0)
			return -EINVAL;
		for (size_t i = 0; i < t->n; i++)
			if (t->objs[i]->kind == order[k].kind && apply_one(&a, t->objs[i]) < 0)
				return -EINVAL;
		if (order[k].kind != SL_T_USER)
			continue;
		for (size_t i = 0; i < n_users; i++)
			if (conf_user(&a, &users[i]) < 0)
				return -EINVAL;
	}
	if (t->n > 0 || t->defs != NULL)
		bk_info("topology applied: %u vhosts, %u users, %u permissions, "
			"%u topic permissions, %u exchanges, %u policies, "
			"%u operator policies, %u queues, %u bindings",
			a.counts[SL_T_VHOST], a.counts[SL_T_USER],
			a.counts[SL_T_PERMISSION], a.counts[SL_T_TOPIC_PERMISSION],
			a.counts[SL_T_EXCHANGE],
			a.counts[SL_T_POLICY], a.counts[SL_T_OPERATOR_POLICY],
			a.counts[SL_T_QUEUE], a.counts[SL_T_BINDING]);
	return 0;
}
