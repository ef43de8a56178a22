/*
 * http_api_limits.c: RabbitMQ's user and vhost limits.
 *
 *   GET    /api/user-limits[/USER]           [{"user": u, "value": {...}}]
 *   PUT    /api/user-limits/USER/NAME        {"value": 10}
 *   DELETE /api/user-limits/USER/NAME
 *   GET    /api/vhost-limits[/VHOST]         [{"vhost": v, "value": {...}}]
 *   PUT    /api/vhost-limits/VHOST/NAME      {"value": 10}
 *   DELETE /api/vhost-limits/VHOST/NAME
 *
 * NAME is max-connections or max-channels (users), max-connections or
 * max-queues (vhosts); a negative value means no limit. Lists hold only
 * users and vhosts that have a limit set. Who may call them is
 * http_authz.c's business.
 */
#include "http_int.h"

#include <math.h>
#include <string.h>

static void
add_row(cJSON *arr, const char *key, const char *name, const struct bk_limit_values *l)
{
	cJSON *o;

	if (l->set == 0)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, key, name);
	cJSON_AddItemToObject(o, "value", bk_defs_limits_json(l));
	cJSON_AddItemToArray(arr, o);
}

struct walk {
	cJSON *arr;
	const char *only;               /* one user / vhost, or NULL */
};

static int
each_user(void *arg, const struct bk_user_view *v)
{
	struct walk *w = arg;

	if (w->only == NULL || strcmp(w->only, v->name) == 0)
		add_row(w->arr, "user", v->name, &v->limits);
	return 0;
}

static int
each_vhost(void *arg, const struct bk_vhost_view *v)
{
	struct walk *w = arg;

	if (w->only == NULL || strcmp(w->only, v->name) == 0)
		add_row(w->arr, "vhost", v->name, &v->limits);
	return 0;
}

/* {"value": integer} of a PUT. false after a 400. */
static bool
value_arg(struct http_req *r, int64_t *out)
{
	cJSON *body = http_body_json(r);
	const cJSON *v;
	bool ok;

	if (body == NULL)
		return false;
	v = cJSON_GetObjectItemCaseSensitive(body, "value");
	ok = cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
	     fabs(v->valuedouble) < 9007199254740992.0;
	if (ok)
		*out = (int64_t)v->valuedouble;
	else
		http_reply_bad_request(r, "'value' must be an integer");
	cJSON_Delete(body);
	return ok;
}

/* PUT or DELETE of seg[2] on the user or vhost seg[1]. */
static void
change(struct http_req *r, bool user)
{
	struct bk_broker *b = r->l->broker;
	enum bk_limit l;
	struct bk_err err;
	enum bk_status st;
	int64_t v;

	if (!bk_limit_parse(r->seg[2], &l)) {
		http_reply_bad_request(r, "Unrecognised terms [{<<\"%s\">>}] in %s-limits",
				       r->seg[2], user ? "user" : "vhost");
		return;
	}
	if (r->method == EVHTTP_REQ_PUT) {
		if (!value_arg(r, &v))
			return;
		st = user ? bk_user_limit_set(b, r->seg[1], l, v, &err)
			  : bk_vhost_limit_set(b, r->seg[1], l, v, &err);
	} else {
		st = user ? bk_user_limit_clear(b, r->seg[1], (int)l, &err)
			  : bk_vhost_limit_clear(b, r->seg[1], (int)l, &err);
	}
	if (st != BK_OK)
		http_reply_status(r, &err);
	else
		http_reply_empty(r, 204);
}

static void
limits(struct http_req *r, bool user)
{
	struct walk w = { NULL, r->nseg > 1 ? r->seg[1] : NULL };
	struct bk_limit_values tmp;

	if (r->nseg == 3 && (r->method == EVHTTP_REQ_PUT || r->method == EVHTTP_REQ_DELETE)) {
		change(r, user);
		return;
	}
	if (r->nseg > 2 || (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD)) {
		http_reply_method_not_allowed(r);
		return;
	}
	if (w.only != NULL && (user ? !bk_user_limits_get(r->l->broker, bk_str_c(w.only), &tmp)
				    : bk_vhost_get(r->l->broker, w.only) == NULL)) {
		http_reply_not_found(r);
		return;
	}
	w.arr = cJSON_CreateArray();
	if (user)
		bk_users_each(r->l->broker, each_user, &w);
	else
		bk_vhosts_each(r->l->broker, each_vhost, &w);
	http_reply_list(r, w.arr, user ? "user" : "vhost", NULL);
}

void
http_api_user_limits(struct http_req *r)
{
	limits(r, true);
}

void
http_api_vhost_limits(struct http_req *r)
{
	limits(r, false);
}
