/*
 * http_api_policies.c: /api/policies[/VHOST[/NAME]] and
 * /api/operator-policies[/VHOST[/NAME]], as RabbitMQ's management API.
 *
 *   GET     a list of {vhost, name, pattern, apply-to, definition, priority}
 *           sorted by vhost and name, or one object (404 if absent)
 *   PUT     {"pattern", "definition", "priority"?, "apply-to"?}: 201 when
 *           created, 204 when replaced; 400 [{key_missing,pattern}] when a
 *           required key is absent, 400 with the core's "Validation
 *           failed" text (HTML-escaped, as RabbitMQ escapes it) when a
 *           value is refused; 404 vhost_not_found
 *   DELETE  204, or 404 when absent
 *
 * Who may: policies need the policymaker or administrator tag, operator
 * policies the administrator tag (checked by the dispatcher's route
 * table).
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

struct walk {
	cJSON *arr;
};

static int
no_policy(void *arg, const struct bk_policy_view *v)
{
	return 0;
}

static int
each_policy(void *arg, const struct bk_policy_view *v)
{
	struct walk *w = arg;

	cJSON_AddItemToArray(w->arr, bk_defs_policy_json(v, true));
	return 0;
}

/* RabbitMQ escapes the reason of a refused policy for HTML. */
static void
escape_html(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in != '\0' && o + 6 < cap; in++) {
		const char *rep = *in == '<' ? "&lt;" : *in == '>' ? "&gt;" :
				  *in == '&' ? "&amp;" : NULL;

		if (rep == NULL) {
			out[o++] = *in;
			continue;
		}
		memcpy(out + o, rep, strlen(rep));
		o += strlen(rep);
	}
	out[o] = '\0';
}

static void
policy_put(struct http_req *r, enum bk_policy_kind k)
{
	const cJSON *pattern, *def;
	struct bk_policy_args pa;
	struct bk_err err = { 0 };
	char why[1024], reason[2048];
	enum bk_status st;
	bool existed;
	cJSON *body;

	if (bk_vhost_get(r->l->broker, r->seg[1]) == NULL) {
		http_reply_error(r, 404, "not_found", "vhost_not_found");
		return;
	}
	if ((body = http_body_json(r)) == NULL)
		return;
	pattern = cJSON_GetObjectItemCaseSensitive(body, "pattern");
	def = cJSON_GetObjectItemCaseSensitive(body, "definition");
	if (pattern == NULL || def == NULL) {
		http_reply_bad_request(r, "[%s%s%s]", pattern ? "" : "{key_missing,pattern}",
				       !pattern && !def ? "," : "",
				       def ? "" : "{key_missing,definition}");
		goto out;
	}
	existed = bk_policy_inspect(r->l->broker, k, r->seg[1], r->seg[2], no_policy,
				    NULL, &err) == BK_OK;
	pa = (struct bk_policy_args){ pattern, def,
				      cJSON_GetObjectItemCaseSensitive(body, "priority"),
				      cJSON_GetObjectItemCaseSensitive(body, "apply-to") };
	st = bk_policy_set(r->l->broker, k, r->seg[1], r->seg[2], &pa, why, sizeof(why));
	if (st == BK_OK) {
		http_reply_empty(r, existed ? 204 : 201);
	} else if (st == BK_NOT_FOUND) {
		http_reply_error(r, 404, "not_found", "vhost_not_found");
	} else {
		escape_html(why, reason, sizeof(reason));
		http_reply_error(r, 400, "bad_request", reason);
	}
out:
	cJSON_Delete(body);
}

static void
policy_one(struct http_req *r, enum bk_policy_kind k)
{
	struct walk w = { cJSON_CreateArray() };
	struct bk_err err;

	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		bk_policy_inspect(r->l->broker, k, r->seg[1], r->seg[2], each_policy, &w, &err);
		http_reply_first(r, w.arr);
		return;
	case EVHTTP_REQ_PUT:
		policy_put(r, k);
		break;
	case EVHTTP_REQ_DELETE:
		if (bk_policy_clear(r->l->broker, k, r->seg[1], r->seg[2], &err) != BK_OK)
			http_reply_not_found(r);
		else
			http_reply_empty(r, 204);
		break;
	default:
		http_reply_method_not_allowed(r);
		break;
	}
	cJSON_Delete(w.arr);
}

static void
policies(struct http_req *r, enum bk_policy_kind k)
{
	struct walk w = { NULL };

	if (r->nseg == 3) {
		policy_one(r, k);
		return;
	}
	if (r->nseg > 3) {
		http_reply_not_found(r);
		return;
	}
	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
		http_reply_method_not_allowed(r);
		return;
	}
	if (r->nseg == 2 && http_vhost_arg(r, 1) == NULL)
		return;
	w.arr = cJSON_CreateArray();
	bk_policies_each(r->l->broker, k, r->nseg == 2 ? r->seg[1] : NULL, each_policy, &w);
	http_reply_list(r, w.arr, "vhost", "name");
}

void
http_api_policies(struct http_req *r)
{
	policies(r, BK_POLICY_USER);
}

void
http_api_operator_policies(struct http_req *r)
{
	policies(r, BK_POLICY_OPERATOR);
}
