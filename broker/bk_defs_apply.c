/*
 * bk_defs_apply.c: a checked definitions document (bk_defs_parse.c) into
 * the broker.
 *
 * Order: vhosts, users, permissions, topic permissions, exchanges,
 * policies, operator policies, queues, bindings, vhost limits (last, so
 * that a restart brings back every queue even above a max-queues set
 * later), whatever the order in the document, so an entry may name what a
 * later list declares. Each entry goes through the same core call as a
 * client or the management API (bk_vhost_add, bk_user_add,
 * bk_permission_set, bk_topic_permission_set,
 * bk_exchange_declare, bk_queue_declare, bk_bind), so the checks are the
 * same and applying an equivalent existing object is a no-op.
 *
 * Users: a password is hashed as bk_user_add does; a password_hash is
 * taken as is (with its hashing_algorithm, SHA-256 when absent); neither,
 * or an empty hash, is a passwordless user. guest is loopback-only, as
 * RabbitMQ's default loopback_users.
 */
#include "bk_defs.h"
#include "bk_mgmt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

struct ap {
	struct bk_broker *b;
	const char *vhost;              /* replaces every entry's, or NULL */
	unsigned flags;
	char *err;
	size_t errlen;
};

static const char *
vhost_of(const struct ap *a, const struct bk_defs_entry *e)
{
	return a->vhost != NULL ? a->vhost : e->vhost != NULL ? e->vhost : "/";
}

/* The entry's limits onto its user or vhost (replacing what was set). */
static enum bk_status
limits_apply(struct ap *a, const struct bk_defs_entry *e, bool user, struct bk_err *err)
{
	const char *name = user ? e->name : vhost_of(a, e);
	enum bk_status st;

	if (!e->limits_given)
		return BK_OK;
	st = user ? bk_user_limit_clear(a->b, name, -1, err)
		  : bk_vhost_limit_clear(a->b, name, -1, err);
	for (int l = 0; l < BK_LIMIT__COUNT && st == BK_OK; l++) {
		if (!(e->limits.set & (1u << l)))
			continue;
		st = user ? bk_user_limit_set(a->b, name, (enum bk_limit)l, e->limits.v[l], err)
			  : bk_vhost_limit_set(a->b, name, (enum bk_limit)l, e->limits.v[l], err);
	}
	return st;
}

static enum bk_status
user_apply(struct ap *a, const struct bk_defs_entry *e, struct bk_err *err)
{
	enum bk_hash_algo algo = BK_HASH_SHA256;
	enum bk_status st;

	if (e->algo != NULL && !bk_hash_algo_parse(e->algo, &algo))
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "unknown hashing_algorithm '%s': expected "
				  "rabbit_password_hashing_sha256 or "
				  "rabbit_password_hashing_sha512", e->algo);
	if (e->password == NULL && e->password_hash != NULL && e->password_hash[0]) {
		st = bk_user_add_hash(a->b, e->name, e->password_hash, algo, e->tags, err);
		if (st != BK_OK && e->name[0] != '\0')
			return bk_err_set(err, st, "invalid password_hash for user '%s' "
					  "(expected base64 of a 4-byte salt and the %s "
					  "digest)", e->name, bk_hash_algo_name(algo));
		if (st != BK_OK)
			return st;
	} else if ((st = bk_user_add(a->b, e->name, e->password, e->tags, err)) != BK_OK) {
		return st;
	}
	if (strcmp(e->name, "guest") == 0)
		bk_user_loopback_set(a->b, e->name, true);
	return limits_apply(a, e, true, err);
}

static enum bk_status
object_apply(struct ap *a, enum bk_defs_kind k, const struct bk_defs_entry *e,
	     struct bk_err *err)
{
	struct bk_vhost *vh = bk_vhost_get(a->b, vhost_of(a, e));
	const char *qn;
	uint32_t n, c;

	if (vh == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost_of(a, e));
	if (k == BK_DEFS_EXCHANGES) {
		struct bk_exchange_decl d = {
			.name = bk_str_c(e->name), .type = bk_str_c(e->type),
			.durable = e->durable, .auto_delete = e->auto_delete,
			.internal = e->internal, .arguments = bk_tb_view(&e->args),
		};

		return bk_exchange_declare(vh, &d, err);
	}
	if (k == BK_DEFS_QUEUES) {
		struct bk_queue_decl d = {
			.name = bk_str_c(e->name), .durable = e->durable,
			.auto_delete = e->auto_delete, .arguments = bk_tb_view(&e->args),
		};

		return bk_queue_declare(vh, &d, &qn, &n, &c, err);
	}
	struct bk_binding_decl d = {
		.source = bk_str_c(e->source), .dest = bk_str_c(e->name),
		.dest_is_queue = e->dest_is_queue,
		.routing_key = bk_str_c(e->routing_key != NULL ? e->routing_key : ""),
		.arguments = bk_tb_view(&e->args),
		.stored = (a->flags & BK_DEFS_STORED) != 0,
	};

	return bk_bind(vh, &d, NULL, err);
}

static enum bk_status
policy_apply(struct ap *a, enum bk_defs_kind k, const struct bk_defs_entry *e,
	     struct bk_err *err)
{
	const cJSON *p = e->policy;
	struct bk_policy_args pa = {
		cJSON_GetObjectItemCaseSensitive(p, "pattern"),
		cJSON_GetObjectItemCaseSensitive(p, "definition"),
		cJSON_GetObjectItemCaseSensitive(p, "priority"),
		cJSON_GetObjectItemCaseSensitive(p, "apply-to"),
	};
	char why[sizeof(err->text)];
	enum bk_status st;

	st = bk_policy_set(a->b, k == BK_DEFS_OPERATOR_POLICIES ? BK_POLICY_OPERATOR
								: BK_POLICY_USER,
			   vhost_of(a, e), e->name, &pa, why, sizeof(why));
	return st == BK_OK ? BK_OK : bk_err_set(err, st, "%s", why);
}

static enum bk_status
entry_apply(struct ap *a, enum bk_defs_kind k, const struct bk_defs_entry *e,
	    struct bk_err *err)
{
	switch (k) {
	case BK_DEFS_VHOSTS:
		return bk_vhost_add(a->b, e->name, err);
	case BK_DEFS_USERS:
		return user_apply(a, e, err);
	case BK_DEFS_PERMISSIONS:
		return bk_permission_set(a->b, e->name, e->vhost, e->configure, e->write,
					 e->read, err);
	case BK_DEFS_POLICIES:
	case BK_DEFS_OPERATOR_POLICIES:
		return policy_apply(a, k, e, err);
	case BK_DEFS_TOPIC_PERMISSIONS:
		return bk_topic_permission_set(a->b, e->name, e->vhost, e->exchange,
					       e->write, e->read, err);
	case BK_DEFS_VHOST_LIMITS:
		return limits_apply(a, e, false, err);
	default:
		return object_apply(a, k, e, err);
	}
}

int
bk_defs_apply(struct bk_broker *b, const struct bk_defs *d, const char *vhost,
	      unsigned kinds, unsigned flags, char *err, size_t errlen)
{
	struct ap a = { b, vhost, flags, err, errlen };
	struct bk_err e;

	for (int k = 0; k < BK_DEFS__COUNT; k++) {
		if (!(kinds & (1u << k)))
			continue;
		for (size_t i = 0; i < d->n[k]; i++) {
			const struct bk_defs_entry *en = &d->e[k][i];

			memset(&e, 0, sizeof(e));
			if (entry_apply(&a, (enum bk_defs_kind)k, en, &e) == BK_OK)
				continue;
			if (!(flags & BK_DEFS_KEEP_GOING)) {
				snprintf(err, errlen, "%s: %s", en->at, e.text);
				return -EINVAL;
			}
			bk_warn("definitions: %s ('%s') skipped: %s", en->at, en->name,
				e.text);
		}
	}
	return 0;
}

int
bk_defs_import(struct bk_broker *b, const cJSON *doc, const char *vhost,
	       unsigned flags, char *err, size_t errlen)
{
	struct bk_defs *d = bk_defs_parse(doc, vhost != NULL, err, errlen);
	int rc;

	if (d == NULL)
		return -EINVAL;
	if (bk_defs_note(d) != NULL)
		bk_warn("definitions: %s", bk_defs_note(d));
	rc = bk_defs_apply(b, d, vhost, BK_DEFS_ALL, flags, err, errlen);
	bk_defs_free(d);
	return rc;
}
