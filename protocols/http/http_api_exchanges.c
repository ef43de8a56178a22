/*
 * http_api_exchanges.c: /api/exchanges[/VHOST[/NAME[/publish|/bindings/...]]].
 *
 * The default exchange is listed with name "" and addressed as
 * "amq.default" in URLs, as RabbitMQ does.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

struct walk {
	struct http_req *r;
	cJSON *arr;
};

static cJSON *
exchange_json(struct http_req *r, const struct bk_exchange_view *v)
{
	cJSON *o = cJSON_CreateObject(), *ms;

	cJSON_AddItemToObject(o, "arguments", http_json_table(v->arguments));
	cJSON_AddBoolToObject(o, "auto_delete", v->auto_delete);
	cJSON_AddBoolToObject(o, "durable", v->durable);
	cJSON_AddBoolToObject(o, "internal", v->internal);
	ms = cJSON_AddObjectToObject(o, "message_stats");
	http_json_stat1(r, ms, "publish_in", (double)v->publish_in, v->hist,
			BK_HF_MS + BK_MS_PUBLISH_IN, HTTP_WIN_MSG_RATES);
	http_json_stat1(r, ms, "publish_out", (double)v->publish_out, v->hist,
			BK_HF_MS + BK_MS_PUBLISH_OUT, HTTP_WIN_MSG_RATES);
	cJSON_AddStringToObject(o, "name", v->name);
	if (v->policy != NULL)          /* RabbitMQ leaves it out when none */
		cJSON_AddStringToObject(o, "policy", v->policy);
	cJSON_AddStringToObject(o, "type", v->type);
	cJSON_AddStringToObject(o, "user_who_performed_action", "rmq-internal");
	cJSON_AddStringToObject(o, "vhost", v->vhost);
	return o;
}

static int
each_exchange(void *arg, const struct bk_exchange_view *v)
{
	struct walk *w = arg;

	cJSON_AddItemToArray(w->arr, exchange_json(w->r, v));
	return 0;
}

static int
one_exchange(void *arg, const struct bk_exchange_view *v)
{
	struct walk *w = arg;

	w->arr = exchange_json(w->r, v);
	return 0;
}

/* ---- the list: rows first, objects for the page only (http_list.c) ---- */

static void
exchange_sort_value(struct http_req *r, const struct bk_exchange_view *v, const char *k,
		    struct http_sortval *sv)
{
	cJSON *o;

	if (k == NULL)
		return;
	if (strcmp(k, "name") == 0 || strcmp(k, "vhost") == 0 || strcmp(k, "type") == 0) {
		http_sortval_str(sv, k[0] == 'n' ? v->name : k[0] == 'v' ? v->vhost : v->type);
		return;
	}
	o = exchange_json(r, v);                /* any other path: the object's */
	http_sortval_set(sv, http_json_path(o, k));
	cJSON_Delete(o);
}

static int
each_exchange_row(void *arg, const struct bk_exchange_view *v)
{
	struct http_listing *ls = arg;
	struct http_row *row = http_listing_admit_named(ls, v->vhost, v->name);

	for (int k = 0; row != NULL && k < 2; k++)
		exchange_sort_value(ls->r, v, ls->key[k], &row->key[k]);
	return 0;
}

/* The row's exchange, unless it or its vhost went since the rows were taken. */
static void
page_exchange(struct http_req *r, const struct http_row *row, cJSON *arr)
{
	struct bk_vhost *vh = bk_vhost_get(r->l->broker, row->vhost);
	struct walk w = { r, arr };
	struct bk_err err;

	if (vh != NULL)
		bk_exchange_inspect(vh, bk_str_c(row->name), each_exchange, &w, &err);
}

/* GET /api/exchanges[/VHOST]: only the page's exchanges become JSON;
 * without page=, a slice at a time (http_slices.c). */
static void
exchange_list(struct http_req *r, struct bk_vhost *vh)
{
	struct http_listing ls;

	if (http_listing_init(&ls, r, "vhost", "name")) {
		bk_exchanges_each(r->l->broker, vh, each_exchange_row, &ls);
		http_listing_send_page(&ls, page_exchange);
	}
	http_listing_fini(&ls);
}

static void
exchange_put(struct http_req *r, struct bk_vhost *vh)
{
	struct bk_exchange_decl d = { .name = http_exchange_arg(r->seg[2]) };
	struct bk_table_builder tb;
	const cJSON *args = NULL;
	const char *type = NULL;
	struct bk_err err;
	char why[256];
	cJSON *body;
	bool existed;

	if ((body = http_body_json(r)) == NULL)
		return;
	bk_tb_init(&tb);
	d.durable = true;               /* RabbitMQ's API default */
	if (!http_json_string(r, body, "type", &type) ||
	    !http_json_bool(r, body, "durable", &d.durable) ||
	    !http_json_bool(r, body, "auto_delete", &d.auto_delete) ||
	    !http_json_bool(r, body, "internal", &d.internal) ||
	    !http_json_object(r, body, "arguments", &args))
		goto out;
	if (type == NULL) {
		http_reply_bad_request(r, "[{key_missing,type}]");
		goto out;
	}
	if (d.name.len == 0) {
		http_reply_error(r, 401, "not_authorised", "Access refused.");
		goto out;
	}
	if (http_json_to_table(args, &tb, why, sizeof(why)) < 0) {
		http_reply_bad_request(r, "%s", why);
		goto out;
	}
	d.type = bk_str_c(type);
	d.arguments = bk_tb_view(&tb);
	d.who = r->who;
	existed = bk_exchange_get(vh, d.name) != NULL;
	if (http_permitted(r, bk_exchange_declare(vh, &d, &err), &err))
		http_reply_empty(r, existed ? 204 : 201);
out:
	bk_tb_fini(&tb);
	cJSON_Delete(body);
}

static void
exchange_one(struct http_req *r, struct bk_vhost *vh)
{
	struct bk_str name = http_exchange_arg(r->seg[2]);
	struct walk w = { r, NULL };
	struct bk_err err;

	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		if (bk_exchange_inspect(vh, name, one_exchange, &w, &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_object(r, w.arr);
		return;
	case EVHTTP_REQ_PUT:
		exchange_put(r, vh);
		return;
	case EVHTTP_REQ_DELETE:
		if (name.len == 0 || strncmp(r->seg[2], "amq.", 4) == 0) {
			http_reply_error(r, 401, "not_authorised", "Access refused.");
			return;
		}
		if (bk_exchange_get(vh, name) == NULL) {
			http_reply_not_found(r);
			return;
		}
		if (!http_may(r, vh, BK_PERM_CONFIGURE, "exchange", name))
			return;
		if (bk_exchange_delete(vh, name, http_query_true(r, "if-unused"), &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, 204);
		return;
	default:
		http_reply_method_not_allowed(r);
	}
}

void
http_api_exchanges(struct http_req *r)
{
	struct bk_vhost *vh = NULL;

	if (r->nseg >= 2 && (vh = http_vhost_arg(r, 1)) == NULL)
		return;
	if (r->nseg <= 2) {
		if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
			http_reply_method_not_allowed(r);
			return;
		}
		exchange_list(r, vh);
		return;
	}
	if (r->nseg == 3) {
		exchange_one(r, vh);
		return;
	}
	if (r->nseg == 4 && strcmp(r->seg[3], "publish") == 0 &&
	    r->method == EVHTTP_REQ_POST) {
		http_api_exchange_publish(r, vh);
		return;
	}
	if (r->nseg == 5 && strcmp(r->seg[3], "bindings") == 0 &&
	    (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)) {
		const char *x = http_exchange_arg(r->seg[2]).p;

		if (bk_exchange_get(vh, http_exchange_arg(r->seg[2])) == NULL) {
			http_reply_not_found(r);
		} else if (strcmp(r->seg[4], "source") == 0) {
			http_bindings_reply(r, vh, x, NULL, NULL);
		} else if (strcmp(r->seg[4], "destination") == 0) {
			http_bindings_reply(r, vh, NULL, x, "exchange");
		} else {
			http_reply_not_found(r);
		}
		return;
	}
	http_reply_not_found(r);
}
