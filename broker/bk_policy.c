/*
 * bk_policy.c: policies and operator policies: the per-vhost store, the
 * checks RabbitMQ makes when one is set, matching queues and exchanges,
 * and applying a change at once to every object of the vhost.
 *
 * As RabbitMQ: a policy has a pattern (a regular expression searched in
 * object names, not anchored: POSIX extended syntax here where RabbitMQ
 * uses PCRE), an apply-to (all, queues, classic_queues, quorum_queues,
 * streams, exchanges), a priority and a definition. At most one policy
 * and one operator policy apply to an object: the matching one with the
 * highest priority; among equal priorities the first by name (RabbitMQ
 * leaves that order unspecified). A policy whose definition has a key
 * quorum queues do not support never applies to a quorum queue, as
 * RabbitMQ's quorum queues refuse such policies.
 *
 * A set or clear re-matches every exchange and queue of the vhost before
 * the replaced policy is freed (objects hold borrowed pointers) and marks
 * the definitions file for rewriting: policies are durable.
 */
#include "bk_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *const apply_names[] = {
	[BK_AT_ALL] = "all", [BK_AT_QUEUES] = "queues",
	[BK_AT_CLASSIC] = "classic_queues", [BK_AT_QUORUM] = "quorum_queues",
	[BK_AT_STREAMS] = "streams", [BK_AT_EXCHANGES] = "exchanges",
};

#define NAPPLY (sizeof(apply_names) / sizeof(apply_names[0]))

/* ---------------------------------------------------------------- */
/* Matching                                                          */
/* ---------------------------------------------------------------- */

/* a beats b: higher priority, then the lower name. */
static bool
better(const struct bk_policy *a, const struct bk_policy *b)
{
	if (b == NULL)
		return true;
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return strcmp(a->name, b->name) < 0;
}

static bool
queue_applies(const struct bk_policy *p, enum bk_qtype t)
{
	switch (p->apply_to) {
	case BK_AT_ALL:
	case BK_AT_QUEUES:
		break;
	case BK_AT_CLASSIC:
	case BK_AT_QUORUM:
	case BK_AT_STREAMS:
		if (t != (p->apply_to == BK_AT_CLASSIC ? BK_QTYPE_CLASSIC :
			  p->apply_to == BK_AT_QUORUM ? BK_QTYPE_QUORUM : BK_QTYPE_STREAM))
			return false;
		break;
	default:
		return false;
	}
	if (t == BK_QTYPE_QUORUM)
		return p->def.quorum_ok;
	return t != BK_QTYPE_STREAM || p->def.stream_ok;
}

static const struct bk_policy *
match(struct bk_vhost *vh, enum bk_policy_kind k, const char *name, int queue,
      enum bk_qtype t)
{
	const struct bk_policy *best = NULL;
	struct bk_policy *p, *tmp;

	HASH_ITER(hh, vh->policies[k], p, tmp) {
		bool kind_ok = queue ? queue_applies(p, t)
				     : (p->apply_to == BK_AT_ALL || p->apply_to == BK_AT_EXCHANGES);

		if (kind_ok && better(p, best) && regexec(&p->re, name, 0, NULL, 0) == 0)
			best = p;
	}
	return best;
}

const struct bk_policy *
bk_policy_match_queue(struct bk_vhost *vh, enum bk_policy_kind k, const char *name,
		      enum bk_qtype t)
{
	return match(vh, k, name, 1, t);
}

const struct bk_policy *
bk_policy_match_exchange(struct bk_vhost *vh, enum bk_policy_kind k, const char *name)
{
	return match(vh, k, name, 0, BK_QTYPE_CLASSIC);
}

/* ---------------------------------------------------------------- */
/* Store                                                             */
/* ---------------------------------------------------------------- */

static void
policy_free(struct bk_policy *p)
{
	if (p == NULL)
		return;
	if (p->pattern != NULL)
		regfree(&p->re);
	bk_pdef_fini(&p->def);
	cJSON_Delete(p->definition);
	bk_free(p->pattern);
	bk_free(p->name);
	bk_free(p->vhost);
	bk_free(p);
}

void
bk_policies_free_vhost(struct bk_vhost *vh)
{
	struct bk_policy *p, *tmp;

	for (int k = 0; k < BK_POLICY__COUNT; k++) {
		HASH_ITER(hh, vh->policies[k], p, tmp) {
			HASH_DEL(vh->policies[k], p);
			policy_free(p);
		}
	}
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* A copy of obj with its members sorted by key (RabbitMQ keeps a
 * definition as a map: sorted keys, the last of duplicates). */
static cJSON *
sorted_copy(const cJSON *obj)
{
	int n = cJSON_GetArraySize(obj), m = 0;
	const cJSON **v = bk_calloc((size_t)n + 1, sizeof(*v));
	const cJSON *it;
	cJSON *out = cJSON_CreateObject();

	cJSON_ArrayForEach(it, obj)
		v[m++] = it;
	qsort(v, (size_t)m, sizeof(*v), cmp_key);
	for (int i = 0; i < m; i++) {
		if (i + 1 < m && strcmp(v[i]->string, v[i + 1]->string) == 0)
			continue;
		cJSON_AddItemToObject(out, v[i]->string, cJSON_Duplicate(v[i], true));
	}
	bk_free(v);
	return out;
}

/* ---- checks: each appends "<reason>\n" to why on failure ---- */

static void
append(char *why, size_t whylen, const char *reason)
{
	size_t n = strlen(why), r = strlen(reason);

	if (n + 1 >= whylen)
		return;
	if (r > whylen - n - 2)                 /* truncated, still "\n"-ended */
		r = whylen - n - 2;
	memcpy(why + n, reason, r);
	why[n + r] = '\n';
	why[n + r + 1] = '\0';
}

static bool
check_apply_to(const cJSON *v, enum bk_apply_to *out, char *why, size_t whylen)
{
	char msg[400], t[160] = "";

	*out = BK_AT_ALL;
	if (v == NULL || cJSON_IsNull(v))
		return true;
	for (size_t i = 0; cJSON_IsString(v) && i < NAPPLY; i++)
		if (strcmp(v->valuestring, apply_names[i]) == 0) {
			*out = (enum bk_apply_to)i;
			return true;
		}
	if (cJSON_IsString(v))
		snprintf(t, sizeof(t), "%.150s", v->valuestring);
	else
		bk_pdef_term(v, t, sizeof(t));
	snprintf(msg, sizeof(msg), "apply-to '%s' unrecognised; should be one of: "
		 "'queues', 'classic_queues',  'quorum_queues', 'streams', 'exchanges', "
		 "or 'all'", t);
	append(why, whylen, msg);
	return false;
}

static bool
check_pattern(const cJSON *v, regex_t *re, char *why, size_t whylen)
{
	char msg[300] = "", err[120];
	int rc;

	if (v == NULL || cJSON_IsNull(v)) {
		append(why, whylen, "Key \"pattern\" not found in policy");
		return false;
	}
	if (!cJSON_IsString(v)) {
		snprintf(msg, sizeof(msg), "pattern should be a binary but was ");
		bk_pdef_term(v, msg, sizeof(msg));
		append(why, whylen, msg);
		return false;
	}
	if ((rc = bk_regcomp(re, v->valuestring, REG_EXTENDED | REG_NOSUB)) == 0)
		return true;
	regerror(rc, re, err, sizeof(err));
	snprintf(msg, sizeof(msg), "pattern should be regular expression but is "
		 "invalid: {\"%s\",0}", err);
	append(why, whylen, msg);
	return false;
}

static bool
check_priority(const cJSON *v, double *out, char *why, size_t whylen)
{
	char msg[300] = "priority should be a number, actually was ";

	*out = 0;
	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble;
		return true;
	}
	bk_pdef_term(v, msg, sizeof(msg));
	append(why, whylen, msg);
	return false;
}

/* Build a checked policy, or NULL with RabbitMQ's "Validation failed"
 * text in err. Errors come in RabbitMQ's order: definition, apply-to,
 * pattern, priority. */
static struct bk_policy *
policy_build(enum bk_policy_kind k, const char *vhost, const char *name,
	     const struct bk_policy_args *a, char *why, size_t whylen)
{
	struct bk_policy *p = bk_calloc(1, sizeof(*p));
	char d[1024];
	bool ok = true;

	snprintf(why, whylen, "Validation failed\n\n");
	p->kind = k;
	if (cJSON_IsObject(a->definition))
		p->definition = sorted_copy(a->definition);
	if (bk_pdef_parse(p->definition ? p->definition : a->definition,
			  k == BK_POLICY_OPERATOR, &p->def, d, sizeof(d)) < 0) {
		append(why, whylen, d);
		ok = false;
	}
	ok &= check_apply_to(a->apply_to, &p->apply_to, why, whylen);
	if (check_pattern(a->pattern, &p->re, why, whylen))
		p->pattern = bk_strdup(a->pattern->valuestring);
	else
		ok = false;
	ok &= check_priority(a->priority, &p->priority, why, whylen);
	if (!ok) {
		policy_free(p);
		return NULL;
	}
	p->name = bk_strdup(name);
	p->vhost = bk_strdup(vhost);
	return p;
}

/* Re-match every object of vh: exchanges first, then queues (whose
 * refresh may dead-letter through those exchanges). */
static void
refresh(struct bk_vhost *vh)
{
	bk_exchanges_policy_refresh(vh);
	bk_queues_policy_refresh(vh);
	bk_defs_changed(vh->broker);
}

enum bk_status
bk_policy_set(struct bk_broker *b, enum bk_policy_kind k, const char *vhost,
	      const char *name, const struct bk_policy_args *a, char *why, size_t whylen)
{
	struct bk_vhost *vh = bk_vhost_get(b, vhost);
	struct bk_policy *p, *old = NULL;

	if (vh == NULL) {
		snprintf(why, whylen, "no vhost '%s'", vhost);
		return BK_NOT_FOUND;
	}
	if ((p = policy_build(k, vhost, name, a, why, whylen)) == NULL)
		return BK_PRECONDITION_FAILED;
	HASH_FIND_STR(vh->policies[k], name, old);
	if (old != NULL)
		HASH_DEL(vh->policies[k], old);
	HASH_ADD_KEYPTR(hh, vh->policies[k], p->name, strlen(p->name), p);
	refresh(vh);
	policy_free(old);
	bk_info("Successfully set %s '%s' matching %s names in virtual host '%s' "
		"using pattern '%s'", k == BK_POLICY_OPERATOR ? "operator policy" : "policy",
		name, apply_names[p->apply_to], vhost, p->pattern);
	return BK_OK;
}

enum bk_status
bk_policy_clear(struct bk_broker *b, enum bk_policy_kind k, const char *vhost,
		const char *name, struct bk_err *err)
{
	struct bk_vhost *vh = bk_vhost_get(b, vhost);
	struct bk_policy *p = NULL;

	if (vh == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	HASH_FIND_STR(vh->policies[k], name, p);
	if (p == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "Parameter does not exist");
	HASH_DEL(vh->policies[k], p);
	refresh(vh);
	policy_free(p);
	return BK_OK;
}

/* ---------------------------------------------------------------- */
/* Views                                                             */
/* ---------------------------------------------------------------- */

static int
cmp_policy(const void *a, const void *b)
{
	return strcmp((*(struct bk_policy *const *)a)->name,
		      (*(struct bk_policy *const *)b)->name);
}

static void
view_of(const struct bk_policy *p, struct bk_policy_view *v)
{
	v->vhost = p->vhost;
	v->name = p->name;
	v->pattern = p->pattern;
	v->apply_to = apply_names[p->apply_to];
	v->priority = p->priority;
	v->definition = p->definition;
}

/* The policies of one vhost, sorted by name. */
static int
each_in(struct bk_vhost *vh, enum bk_policy_kind k, const char *name,
	bk_policy_each_fn fn, void *arg)
{
	unsigned n = HASH_COUNT(vh->policies[k]), i = 0;
	struct bk_policy **v, *p, *tmp;
	struct bk_policy_view view;
	int rc = 0;

	if (n == 0)
		return 0;
	v = bk_calloc(n, sizeof(*v));
	HASH_ITER(hh, vh->policies[k], p, tmp)
		v[i++] = p;
	qsort(v, n, sizeof(*v), cmp_policy);
	for (i = 0; i < n && rc == 0; i++) {
		if (name != NULL && strcmp(v[i]->name, name) != 0)
			continue;
		view_of(v[i], &view);
		rc = fn(arg, &view);
	}
	bk_free(v);
	return rc;
}

struct each_vh {
	struct bk_broker *b;
	enum bk_policy_kind k;
	bk_policy_each_fn fn;
	void *arg;
};

static int
each_vhost(void *arg, const struct bk_vhost_view *v)
{
	struct each_vh *e = arg;
	struct bk_vhost *vh = bk_vhost_get(e->b, v->name);

	return vh != NULL ? each_in(vh, e->k, NULL, e->fn, e->arg) : 0;
}

int
bk_policies_each(struct bk_broker *b, enum bk_policy_kind k, const char *vhost,
		 bk_policy_each_fn fn, void *arg)
{
	struct each_vh e = { b, k, fn, arg };
	struct bk_vhost *vh;

	if (vhost == NULL)
		return bk_vhosts_each(b, each_vhost, &e);
	vh = bk_vhost_get(b, vhost);
	return vh != NULL ? each_in(vh, k, NULL, fn, arg) : 0;
}

enum bk_status
bk_policy_inspect(struct bk_broker *b, enum bk_policy_kind k, const char *vhost,
		  const char *name, bk_policy_each_fn fn, void *arg, struct bk_err *err)
{
	struct bk_vhost *vh = bk_vhost_get(b, vhost);
	struct bk_policy *p = NULL;
	struct bk_policy_view v;

	if (vh == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	HASH_FIND_STR(vh->policies[k], name, p);
	if (p == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no policy '%s' in vhost '%s'",
				  name, vhost);
	view_of(p, &v);
	fn(arg, &v);
	return BK_OK;
}

/*
 * RabbitMQ's merge_operator_definitions: the union of both definitions'
 * keys, sorted; where both set a key the lower value wins (the operator
 * policy caps the policy; every key an operator policy may carry is such
 * a cap).
 */
cJSON *
bk_policy_effective_json(const cJSON *def, const cJSON *op_def)
{
	cJSON *out, *all = cJSON_CreateObject();
	const cJSON *it, *o;

	cJSON_ArrayForEach(it, def)
		cJSON_AddItemToObject(all, it->string, cJSON_Duplicate(it, true));
	cJSON_ArrayForEach(o, op_def) {
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(all, o->string);

		if (cur == NULL)
			cJSON_AddItemToObject(all, o->string, cJSON_Duplicate(o, true));
		else if (cJSON_IsNumber(cur) && cJSON_IsNumber(o) &&
			 o->valuedouble < cur->valuedouble)
			cJSON_ReplaceItemInObjectCaseSensitive(all, o->string,
							       cJSON_Duplicate(o, true));
		else if (cJSON_IsBool(cur) && cJSON_IsBool(o))
			cJSON_ReplaceItemInObjectCaseSensitive(all, o->string,
							       cJSON_Duplicate(o, true));
	}
	out = sorted_copy(all);
	cJSON_Delete(all);
	return out;
}

const char *
bk_policy_name(const struct bk_policy *p)
{
	return p != NULL ? p->name : NULL;
}

const struct cJSON *
bk_policy_definition(const struct bk_policy *p)
{
	return p != NULL ? p->definition : NULL;
}
