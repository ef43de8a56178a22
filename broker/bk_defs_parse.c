/*
 * bk_defs_parse.c: read a RabbitMQ definitions document (cJSON) into a
 * checked plan, struct bk_defs (bk_defs.h), before anything is applied.
 *
 * Read: vhosts, users (password_hash with hashing_algorithm, or a plain
 * password; tags as a list, RabbitMQ 3.13+, or "a,b"), permissions,
 * topic_permissions, exchanges, queues, bindings, policies and
 * operator_policies (the latter only Sluice's durable file writes; a
 * policy's values are checked by the core when it is applied), users'
 * limits and the vhost-limits entries of parameters. Counted in the
 * plan's note and otherwise ignored: other parameters, global_parameters.
 * Unknown members (rabbit_version, limits, metadata, ...) are skipped, as
 * RabbitMQ's newer exports carry many. Built-in exchanges ("" and amq.*)
 * and bindings from the default exchange are left out: every vhost has
 * them.
 *
 * Every refusal names the JSON path of the value:
 *   queues[3].arguments.x-max-length: expected an integer
 * Well-known x-arguments are type-checked here (bk_defs_arg_type) so the
 * message names the path; the core checks their values when applying.
 *
 * Pure: no broker state (bk_table.c, bk_defs_table.c and base/ only).
 */
#include "bk_defs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

struct rd {
	struct bk_defs *d;
	bool one_vhost;
	const char *at;                 /* the current entry's path */
	char *err;
	size_t errlen;
};

static int fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* err = AT + fmt. Always -EINVAL. */
static int
fail(struct rd *r, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "%s%s", r->at, msg);
	return -EINVAL;
}

char
bk_defs_arg_type(const char *key)
{
	static const char *const ints[] = {
		"x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes",
		"x-max-priority", "x-delivery-limit",
	};
	static const char *const strs[] = {
		"x-dead-letter-exchange", "x-dead-letter-routing-key", "x-overflow",
		"x-queue-type", "x-queue-mode", "x-match", "alternate-exchange",
	};

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (strcmp(key, ints[i]) == 0)
			return 'i';
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(key, strs[i]) == 0)
			return 's';
	return strcmp(key, "x-single-active-consumer") == 0 ? 'b' : 0;
}

/* Member k of o as an owned string (NULL when absent and optional). */
static int
get_str(struct rd *r, const cJSON *o, const char *k, bool required, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (cJSON_IsString(v)) {
		*out = bk_strdup(v->valuestring);
		return 0;
	}
	if (v == NULL || cJSON_IsNull(v))
		return required ? fail(r, ": missing '%s'", k) : 0;
	return fail(r, ".%s: expected a string", k);
}

static int
get_bool(struct rd *r, const cJSON *o, const char *k, bool dflt, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	*out = dflt;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fail(r, ".%s: expected true or false", k);
	*out = cJSON_IsTrue(v);
	return 0;
}

static bool
json_int(const cJSON *v)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	return d == floor(d) && fabs(d) <= 9007199254740992.0;      /* 2^53 */
}

/* o.arguments into e->args, with RabbitMQ's types for the well-known keys. */
static int
get_args(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "arguments"), *it;
	char why[400];

	if (a == NULL || cJSON_IsNull(a))
		return 0;
	if (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 0)
		return 0;               /* older exports write [] for none */
	if (!cJSON_IsObject(a))
		return fail(r, ".arguments: expected an object");
	cJSON_ArrayForEach(it, a) {
		char type = bk_defs_arg_type(it->string);

		if (type == 'i' && !json_int(it))
			return fail(r, ".arguments.%s: expected an integer", it->string);
		if (type == 'b' && !cJSON_IsBool(it))
			return fail(r, ".arguments.%s: expected true or false", it->string);
		if (type == 's' && !cJSON_IsString(it))
			return fail(r, ".arguments.%s: expected a string", it->string);
	}
	if (bk_table_from_json(a, &e->args, why, sizeof(why)) < 0)
		return fail(r, ".arguments%s", why);
	return 0;
}

/* RabbitMQ 3.13+ writes tags as a list, older versions as "a,b". */
static int
get_tags(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tags"), *it;
	char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	if (cJSON_IsString(t)) {
		snprintf(buf, sizeof(buf), "%s", t->valuestring);
	} else if (t != NULL && !cJSON_IsNull(t)) {
		if (!cJSON_IsArray(t))
			return fail(r, ".tags: expected a list of strings");
		cJSON_ArrayForEach(it, t) {
			if (!cJSON_IsString(it))
				return fail(r, ".tags: expected a list of strings");
			if (n + strlen(it->valuestring) + 2 > sizeof(buf))
				return fail(r, ".tags: too long");
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "",
					      it->valuestring);
		}
	}
	e->tags = bk_strdup(buf);
	return 0;
}

/* ---- entries: 0 = read, 1 = left out, <0 = refused ---------------------- */

static int
rd_vhost(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	return get_str(r, o, "name", true, &e->name);
}

/* {"max-connections": 10, ...} at o.key into e->limits; kind "user" or
 * "vhost" names the limits that are allowed. */
static int
get_limits(struct rd *r, const cJSON *o, const char *key, const char *kind,
	   struct bk_defs_entry *e)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, key), *it;
	enum bk_limit which;

	if (l == NULL || cJSON_IsNull(l))
		return 0;
	if (cJSON_IsArray(l) && cJSON_GetArraySize(l) == 0) {
		e->limits_given = true;         /* older exports write [] for none */
		return 0;
	}
	if (!cJSON_IsObject(l))
		return fail(r, ".%s: expected an object", key);
	e->limits_given = true;
	cJSON_ArrayForEach(it, l) {
		if (!bk_limit_parse(it->string, &which) ||
		    which == (strcmp(kind, "user") == 0 ? BK_LIMIT_MAX_QUEUES
							 : BK_LIMIT_MAX_CHANNELS))
			return fail(r, ".%s.%s: not a %s limit", key, it->string, kind);
		if (!json_int(it))
			return fail(r, ".%s.%s: expected an integer", key, it->string);
		e->limits.v[which] = (int64_t)it->valuedouble;
		e->limits.set |= 1u << which;
	}
	return 0;
}

static int
rd_user(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	if (get_str(r, o, "name", true, &e->name) < 0 ||
	    get_str(r, o, "password_hash", false, &e->password_hash) < 0 ||
	    get_str(r, o, "hashing_algorithm", false, &e->algo) < 0 ||
	    get_str(r, o, "password", false, &e->password) < 0 ||
	    get_limits(r, o, "limits", "user", e) < 0)
		return -EINVAL;
	return get_tags(r, o, e);
}

/* RabbitMQ's vhost limits: {"component": "vhost-limits", "name":
 * "limits", "vhost": V, "value": {...}}; other parameters are left out. */
static int
rd_vhost_limits(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "component");

	if (!cJSON_IsString(c) || strcmp(c->valuestring, "vhost-limits") != 0)
		return 1;
	if (get_str(r, o, "vhost", true, &e->vhost) < 0 ||
	    get_limits(r, o, "value", "vhost", e) < 0)
		return -EINVAL;
	e->name = bk_strdup(e->vhost);
	return 0;
}

static int
rd_permission(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	if (get_str(r, o, "user", true, &e->name) < 0 ||
	    get_str(r, o, "vhost", true, &e->vhost) < 0 ||
	    get_str(r, o, "configure", true, &e->configure) < 0 ||
	    get_str(r, o, "write", true, &e->write) < 0 ||
	    get_str(r, o, "read", true, &e->read) < 0)
		return -EINVAL;
	return 0;
}

static int
rd_topic_permission(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	if (get_str(r, o, "user", true, &e->name) < 0 ||
	    get_str(r, o, "vhost", true, &e->vhost) < 0 ||
	    get_str(r, o, "exchange", true, &e->exchange) < 0 ||
	    get_str(r, o, "write", true, &e->write) < 0 ||
	    get_str(r, o, "read", true, &e->read) < 0)
		return -EINVAL;
	return 0;
}

/* The entry's vhost, unless the whole import targets one. */
static int
get_vhost(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	return r->one_vhost ? 0 : get_str(r, o, "vhost", false, &e->vhost);
}

static int
rd_exchange(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	static const char *const xtypes[] = { "direct", "fanout", "topic", "headers",
		"x-consistent-hash", "x-message-deduplication", "x-delayed-message" };
	size_t i, n = sizeof(xtypes) / sizeof(xtypes[0]);

	if (get_str(r, o, "name", true, &e->name) < 0 || get_vhost(r, o, e) < 0 ||
	    get_str(r, o, "type", true, &e->type) < 0 ||
	    get_bool(r, o, "durable", true, &e->durable) < 0 ||
	    get_bool(r, o, "auto_delete", false, &e->auto_delete) < 0 ||
	    get_bool(r, o, "internal", false, &e->internal) < 0)
		return -EINVAL;
	for (i = 0; i < n && strcmp(e->type, xtypes[i]) != 0; i++)
		;
	if (i == n)
		return fail(r, ".type: unknown exchange type '%s' (expected direct, "
			    "fanout, topic, headers, x-consistent-hash, "
			    "x-message-deduplication or x-delayed-message)", e->type);
	if (e->name[0] == '\0' || strncmp(e->name, "amq.", 4) == 0)
		return 1;               /* built in */
	return get_args(r, o, e);
}

static int
rd_queue(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	if (get_str(r, o, "name", true, &e->name) < 0 || get_vhost(r, o, e) < 0 ||
	    get_bool(r, o, "durable", true, &e->durable) < 0 ||
	    get_bool(r, o, "auto_delete", false, &e->auto_delete) < 0)
		return -EINVAL;
	if (e->name[0] == '\0')
		return fail(r, ".name: a queue needs a name");
	return get_args(r, o, e);
}

static int
rd_binding(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	char *dtype = NULL;
	int rc = -EINVAL;

	if (get_str(r, o, "source", true, &e->source) < 0 || get_vhost(r, o, e) < 0 ||
	    get_str(r, o, "destination", true, &e->name) < 0 ||
	    get_str(r, o, "destination_type", true, &dtype) < 0 ||
	    get_str(r, o, "routing_key", false, &e->routing_key) < 0)
		goto out;
	if (strcmp(dtype, "queue") != 0 && strcmp(dtype, "exchange") != 0) {
		rc = fail(r, ".destination_type: expected \"queue\" or \"exchange\"");
		goto out;
	}
	e->dest_is_queue = strcmp(dtype, "queue") == 0;
	/* a short string in AMQP 0-9-1: queue.bind could never carry more */
	if (e->routing_key != NULL && strlen(e->routing_key) > BK_SHORTSTR_MAX) {
		rc = fail(r, ".routing_key: longer than %d bytes", BK_SHORTSTR_MAX);
		goto out;
	}
	/* the default exchange's bindings are implicit */
	rc = e->source[0] == '\0' ? 1 : get_args(r, o, e);
out:
	bk_free(dtype);
	return rc;
}

/* A policy: name and the two required members here; the rest is the
 * core's to check when it is set (bk_policy_set). */
static int
rd_policy(struct rd *r, const cJSON *o, struct bk_defs_entry *e)
{
	if (get_str(r, o, "name", true, &e->name) < 0 || get_vhost(r, o, e) < 0)
		return -EINVAL;
	if (!cJSON_HasObjectItem(o, "pattern"))
		return fail(r, ": missing 'pattern'");
	if (!cJSON_HasObjectItem(o, "definition"))
		return fail(r, ": missing 'definition'");
	e->policy = cJSON_Duplicate(o, true);
	return 0;
}

static const struct {
	const char *key;
	int (*fn)(struct rd *r, const cJSON *o, struct bk_defs_entry *e);
	bool per_vhost;                 /* read by a one-vhost import */
} kinds[BK_DEFS__COUNT] = {
	[BK_DEFS_VHOSTS] = { "vhosts", rd_vhost, false },
	[BK_DEFS_USERS] = { "users", rd_user, false },
	[BK_DEFS_PERMISSIONS] = { "permissions", rd_permission, false },
	[BK_DEFS_TOPIC_PERMISSIONS] = { "topic_permissions", rd_topic_permission, false },
	[BK_DEFS_EXCHANGES] = { "exchanges", rd_exchange, true },
	[BK_DEFS_POLICIES] = { "policies", rd_policy, true },
	[BK_DEFS_OPERATOR_POLICIES] = { "operator_policies", rd_policy, true },
	[BK_DEFS_QUEUES] = { "queues", rd_queue, true },
	[BK_DEFS_BINDINGS] = { "bindings", rd_binding, true },
	[BK_DEFS_VHOST_LIMITS] = { "parameters", rd_vhost_limits, false },
};

static const char *const ignored[] = {
	"parameters", "global_parameters",
};

static void
entry_fini(struct bk_defs_entry *e)
{
	char **strs[] = { &e->name, &e->vhost, &e->type, &e->source, &e->routing_key,
			  &e->configure, &e->write, &e->read, &e->password,
			  &e->password_hash, &e->algo, &e->tags, &e->exchange };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		BK_FREE(*strs[i]);
	bk_tb_fini(&e->args);
	cJSON_Delete(e->policy);
	e->policy = NULL;
}

static int
read_list(struct rd *r, const cJSON *doc, enum bk_defs_kind k)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, kinds[k].key), *o;
	struct bk_defs *d = r->d;
	struct bk_defs_entry *e;
	int idx = 0, rc;

	r->at = kinds[k].key;
	if (arr == NULL || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return fail(r, ": expected a list");
	d->e[k] = bk_calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*d->e[k]));
	cJSON_ArrayForEach(o, arr) {
		e = &d->e[k][d->n[k]];
		memset(e, 0, sizeof(*e));
		bk_tb_init(&e->args);
		snprintf(e->at, sizeof(e->at), "%s[%d]", kinds[k].key, idx++);
		r->at = e->at;
		rc = cJSON_IsObject(o) ? kinds[k].fn(r, o, e) : fail(r, ": expected an object");
		if (rc == 0) {
			d->n[k]++;
			continue;
		}
		entry_fini(e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void
make_note(struct bk_defs *d, const cJSON *doc)
{
	char buf[256];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		int c = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, ignored[i]));

		if (strcmp(ignored[i], "parameters") == 0)      /* but vhost limits */
			c -= (int)d->n[BK_DEFS_VHOST_LIMITS];

		if (c > 0 && n < sizeof(buf))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d %s",
					      n ? ", " : "", c, ignored[i]);
	}
	if (n > 0 && n < sizeof(buf)) {
		snprintf(buf + n, sizeof(buf) - n, " ignored (not supported)");
		d->note = bk_strdup(buf);
	}
}

struct bk_defs *
bk_defs_parse(const cJSON *doc, bool one_vhost, char *err, size_t errlen)
{
	struct bk_defs *d = bk_calloc(1, sizeof(*d));
	struct rd r = { d, one_vhost, "", err, errlen };

	if (!cJSON_IsObject(doc)) {
		fail(&r, "expected a JSON object at the top");
		goto err_free;
	}
	for (int k = 0; k < BK_DEFS__COUNT; k++)
		if ((!one_vhost || kinds[k].per_vhost) &&
		    read_list(&r, doc, (enum bk_defs_kind)k) < 0)
			goto err_free;
	make_note(d, doc);
	return d;
err_free:
	bk_defs_free(d);
	return NULL;
}

void
bk_defs_free(struct bk_defs *d)
{
	if (d == NULL)
		return;
	for (int k = 0; k < BK_DEFS__COUNT; k++) {
		for (size_t i = 0; i < d->n[k]; i++)
			entry_fini(&d->e[k][i]);
		bk_free(d->e[k]);
	}
	bk_free(d->note);
	bk_free(d);
}

size_t
bk_defs_count(const struct bk_defs *d, enum bk_defs_kind k)
{
	return d != NULL ? d->n[k] : 0;
}

const char *
bk_defs_name(const struct bk_defs *d, enum bk_defs_kind k, size_t i)
{
	return d != NULL && i < d->n[k] ? d->e[k][i].name : NULL;
}

const char *
bk_defs_note(const struct bk_defs *d)
{
	return d != NULL ? d->note : NULL;
}
