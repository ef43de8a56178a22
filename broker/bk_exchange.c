/*
 * bk_exchange.c: exchange declare, delete, lookup and auto-delete.
 *
 * Exchanges live in vhost->exchanges (uthash by name), owned by the vhost.
 * The default exchange "" is a real entry (so bk_exchange_get finds it)
 * flagged is_default; bk_publish routes it by queue name instead of by
 * bindings, and nothing may bind to or from it.
 *
 * Client-visible rules follow RabbitMQ 3.13/4.x, texts included:
 *  - declare checks the type first (PRECONDITION_FAILED "unknown exchange
 *    type 'foo'", a channel error since RabbitMQ 3.13), then refuses the
 *    default exchange, then checks equivalence against an existing
 *    exchange (type, durable, auto_delete, internal, alternate-exchange;
 *    other arguments are not compared), and only then refuses "amq." names
 *    for new exchanges, so redeclaring amq.direct as it is succeeds; with
 *    a who, configure permission comes after the default-exchange refusal
 *    and the alternate exchange's permissions (bk_authz.c) last;
 *  - delete of an absent exchange succeeds; the default and amq.*
 *    exchanges cannot be deleted; if_unused looks at bindings from it.
 *
 * An auto-delete exchange is deleted when its last binding as a source
 * goes, which may in turn remove e2e bindings into it and cascade. The
 * "deleting" flag keeps an exchange being torn down from re-entering.
 */
#include "bk_policy.h"
#include "bk_routing.h"
#include "bk_xext.h"

#include <stdio.h>
#include <string.h>

#define AE_KEY "alternate-exchange"

static const char *const type_names[] = {
	[BK_X_DIRECT] = "direct", [BK_X_FANOUT] = "fanout",
	[BK_X_TOPIC] = "topic", [BK_X_HEADERS] = "headers",
	[BK_X_CHASH] = "x-consistent-hash", [BK_X_DEDUP] = "x-message-deduplication",
	[BK_X_DELAYED] = "x-delayed-message",
};

const char *
bk_xtype_name(enum bk_xtype t)
{
	return (unsigned)t < BK__X_COUNT ? type_names[t] : "direct";
}

static int
type_parse(struct bk_str s)
{
	int i;

	for (i = 0; i < (int)(sizeof(type_names) / sizeof(type_names[0])); i++) {
		if (bk_str_eq_c(s, type_names[i]))
			return i;
	}
	return -1;
}

static const char *
tf(bool b)
{
	return b ? "true" : "false";
}

struct bk_exchange *
bk_exchange_find(struct bk_vhost *vh, const char *name, uint32_t len)
{
	struct bk_exchange *x = NULL;

	HASH_FIND(hh, vh->exchanges, len ? name : "", len, x);
	return x;
}

struct bk_exchange *
bk_exchange_get(struct bk_vhost *vh, struct bk_str name)
{
	return bk_exchange_find(vh, name.p, name.len);
}

static struct bk_exchange *
exchange_new(struct bk_vhost *vh, struct bk_str name, enum bk_xtype type,
	     const struct bk_exchange_decl *d)
{
	struct bk_exchange *x = bk_calloc(1, sizeof(*x));

	x->name = bk_strndup(name.len ? name.p : "", name.len);
	x->name_len = name.len;
	x->vhost = vh;
	x->type = x->route = type;
	x->is_default = name.len == 0;
	if (d != NULL) {
		x->durable = d->durable;
		x->auto_delete = d->auto_delete;
		x->internal = d->internal;
		if (d->arguments.len > 0) {
			x->args = bk_memdup(d->arguments.p, d->arguments.len);
			x->args_len = d->arguments.len;
		}
	}
	bk_xext_init(x);                /* sets route for the plugin types */
	if (x->route == BK_X_TOPIC)
		x->topic = bk_topic_new();
	HASH_ADD_KEYPTR(hh, vh->exchanges, x->name, x->name_len, x);
	bk_exchange_policy_refresh(x);
	return x;
}

/*
 * The alternate exchange: the argument's when declared with one, else the
 * policy's (rabbit_policy:get_arg: the argument wins). Nothing else of a
 * policy acts on exchanges.
 */
void
bk_exchange_policy_refresh(struct bk_exchange *x)
{
	struct bk_vhost *vh = x->vhost;
	struct bk_value ae;
	const char *alt = NULL;
	uint32_t len = 0;

	x->policy = bk_policy_match_exchange(vh, BK_POLICY_USER, x->name);
	x->op_policy = bk_policy_match_exchange(vh, BK_POLICY_OPERATOR, x->name);
	if (bk_table_get((struct bk_table){ x->args, x->args_len }, AE_KEY, &ae) &&
	    ae.type == BK_V_LSTR) {
		alt = ae.u.s.len ? ae.u.s.p : "";
		len = ae.u.s.len;
	} else if (x->policy != NULL && (x->policy->def.has & BK_PD_AE)) {
		alt = x->policy->def.ae;
		len = (uint32_t)strlen(alt);
	}
	BK_FREE(x->alt);
	x->alt_len = len;
	if (alt != NULL)
		x->alt = bk_strndup(alt, len);
}

void
bk_exchanges_policy_refresh(struct bk_vhost *vh)
{
	struct bk_exchange *x, *tmp;

	HASH_ITER(hh, vh->exchanges, x, tmp)
		bk_exchange_policy_refresh(x);
}

static void
exchange_free(struct bk_exchange *x)
{
	struct bk_dkey *k, *tmp;

	x->vhost->routing->xgen++;      /* route memos let go of it */
	HASH_ITER(hh, x->direct, k, tmp) {
		HASH_DEL(x->direct, k);
		bk_free(k);
	}
	bk_xext_free(x);
	bk_topic_free(x->topic);
	bk_free(x->name);
	bk_free(x->args);
	bk_free(x->alt);
	bk_hist_free(x->hist);
	bk_free(x);
}

void
bk_exchanges_create_defaults(struct bk_vhost *vh)
{
	static const struct { const char *name; enum bk_xtype type; } defs[] = {
		{ "", BK_X_DIRECT }, { "amq.direct", BK_X_DIRECT },
		{ "amq.fanout", BK_X_FANOUT }, { "amq.topic", BK_X_TOPIC },
		{ "amq.headers", BK_X_HEADERS }, { "amq.match", BK_X_HEADERS },
	};
	struct bk_exchange_decl d = { .durable = true };
	size_t i;

	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		exchange_new(vh, bk_str_c(defs[i].name), defs[i].type, &d);
}

/* "the value 'x' of type 'longstr'" or "none", as RabbitMQ prints args. */
static void
arg_text(char *buf, size_t n, bool found, const struct bk_value *v)
{
	const char *tn;

	if (!found) {
		snprintf(buf, n, "none");
		return;
	}
	tn = bk_vtype_name(v->type);
	if (v->type == BK_V_LSTR || v->type == BK_V_BYTES)
		snprintf(buf, n, "the value '%.*s' of type '%s'", (int)v->u.s.len,
			 v->u.s.p, tn);
	else if (v->type == BK_V_BOOL)
		snprintf(buf, n, "the value '%s' of type '%s'", tf(v->u.b), tn);
	else if (bk_value_int(v, &(int64_t){ 0 }))
		snprintf(buf, n, "the value '%lld' of type '%s'",
			 (long long)v->u.i, tn);
	else
		snprintf(buf, n, "a value of type '%s'", tn);
}

static enum bk_status
check_ae_equivalent(struct bk_exchange *x, struct bk_table req,
		    struct bk_err *err)
{
	struct bk_value cur, got;
	bool has_cur, has_got;
	char a[128], b[128];

	has_cur = bk_table_get((struct bk_table){ x->args, x->args_len }, AE_KEY,
			       &cur);
	has_got = bk_table_get(req, AE_KEY, &got);
	if (has_cur == has_got && (!has_cur || bk_value_equal(&cur, &got)))
		return BK_OK;
	arg_text(a, sizeof(a), has_got, &got);
	arg_text(b, sizeof(b), has_cur, &cur);
	return bk_err_set(err, BK_PRECONDITION_FAILED,
			  "inequivalent arg '" AE_KEY "' for exchange '%s' in "
			  "vhost '%s': received %s but current is %s",
			  x->name, x->vhost->name, a, b);
}

static enum bk_status
check_equivalent(struct bk_exchange *x, enum bk_xtype type,
		 const struct bk_exchange_decl *d, struct bk_err *err)
{
	const char *field = NULL, *got = NULL, *cur = NULL;

	if (x->type != type) {
		field = "type", got = type_names[type], cur = type_names[x->type];
	} else if (x->durable != d->durable) {
		field = "durable", got = tf(d->durable), cur = tf(x->durable);
	} else if (x->auto_delete != d->auto_delete) {
		field = "auto_delete", got = tf(d->auto_delete);
		cur = tf(x->auto_delete);
	} else if (x->internal != d->internal) {
		field = "internal", got = tf(d->internal), cur = tf(x->internal);
	}
	if (field != NULL)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "inequivalent arg '%s' for exchange '%s' in vhost "
				  "'%s': received '%s' but current is '%s'",
				  field, x->name, x->vhost->name, got, cur);
	return check_ae_equivalent(x, d->arguments, err);
}

static enum bk_status
refuse_default(struct bk_err *err)
{
	return bk_err_set(err, BK_ACCESS_REFUSED,
			  "operation not permitted on the default exchange");
}

static enum bk_status
check_new(struct bk_vhost *vh, const struct bk_exchange_decl *d,
	  struct bk_err *err)
{
	struct bk_value ae;

	if (d->name.len >= 4 && memcmp(d->name.p, "amq.", 4) == 0)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "exchange name '%.*s' contains reserved prefix "
				  "'amq.*'", (int)d->name.len, d->name.p);
	if (bk_name_check("exchange", d->name, vh->name, err) != BK_OK)
		return BK_PRECONDITION_FAILED;
	if (bk_xext_validate(d, err) != BK_OK)
		return err->status;
	if (!bk_table_get(d->arguments, AE_KEY, &ae))
		return BK_OK;
	if (ae.type != BK_V_LSTR)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "invalid type '%s' for arg '" AE_KEY "' in "
				  "exchange '%.*s' in vhost '%s'",
				  bk_vtype_name(ae.type), (int)d->name.len,
				  d->name.p, vh->name);
	if (!bk_str_is_short(ae.u.s))
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "invalid arg '" AE_KEY "' for exchange '%.*s' in "
				  "vhost '%s': {value_too_long,%u}", (int)d->name.len,
				  d->name.p, vh->name, ae.u.s.len);
	return bk_authz_exchange_new(vh, d->who, d->name, d->arguments, err);
}

enum bk_status
bk_exchange_declare(struct bk_vhost *vh, const struct bk_exchange_decl *d,
		    struct bk_err *err)
{
	struct bk_exchange *x;
	enum bk_status st;
	int type;

	if (d->passive) {
		if (d->name.len == 0)
			return refuse_default(err);
		if (bk_exchange_get(vh, d->name) == NULL)
			return bk_err_set(err, BK_NOT_FOUND,
					  "no exchange '%.*s' in vhost '%s'",
					  (int)d->name.len, d->name.p, vh->name);
		return BK_OK;
	}
	if ((type = type_parse(d->type)) < 0)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "unknown exchange type '%.*s'",
				  (int)d->type.len, d->type.p);
	if (d->name.len == 0)
		return refuse_default(err);
	if (d->who != NULL && (st = bk_access_check(vh, d->who->user, BK_PERM_CONFIGURE,
						    "exchange", d->name, err)) != BK_OK)
		return st;
	if ((x = bk_exchange_get(vh, d->name)) != NULL)
		return check_equivalent(x, (enum bk_xtype)type, d, err);
	if ((st = check_new(vh, d, err)) != BK_OK)
		return st;
	exchange_new(vh, d->name, (enum bk_xtype)type, d);
	if (d->durable)
		bk_defs_changed(vh->broker);
	return BK_OK;
}

void
bk_exchange_destroy(struct bk_exchange *x)
{
	if (x->deleting)
		return;
	x->deleting = true;
	while (x->src_head != NULL)
		bk_binding_remove(x->src_head, false);
	/* Sources that lose their last binding to x may auto-delete. */
	while (x->dst_head != NULL)
		bk_binding_remove(x->dst_head, true);
	HASH_DEL(x->vhost->exchanges, x);
	if (x->durable)
		bk_defs_changed(x->vhost->broker);
	exchange_free(x);
}

void
bk_exchange_maybe_autodelete(struct bk_exchange *x)
{
	if (x->auto_delete && !x->deleting && x->nsrc == 0)
		bk_exchange_destroy(x);
}

enum bk_status
bk_exchange_delete(struct bk_vhost *vh, struct bk_str name, bool if_unused,
		   struct bk_err *err)
{
	struct bk_exchange *x;

	if (name.len == 0)
		return refuse_default(err);
	if (name.len >= 4 && memcmp(name.p, "amq.", 4) == 0)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "deletion of system exchange '%.*s' in vhost "
				  "'%s' not allowed", (int)name.len, name.p,
				  vh->name);
	if ((x = bk_exchange_get(vh, name)) == NULL)
		return BK_OK;
	if (if_unused && x->nsrc > 0)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "exchange '%s' in vhost '%s' in use", x->name,
				  vh->name);
	bk_exchange_destroy(x);
	return BK_OK;
}

void
bk_exchanges_free_all(struct bk_vhost *vh)
{
	struct bk_exchange *x, *tmp;

	HASH_ITER(hh, vh->exchanges, x, tmp) {
		x->deleting = true;
	}
	HASH_ITER(hh, vh->exchanges, x, tmp) {
		while (x->src_head != NULL)
			bk_binding_remove(x->src_head, false);
	}
	HASH_ITER(hh, vh->exchanges, x, tmp) {
		HASH_DEL(vh->exchanges, x);
		exchange_free(x);
	}
}
