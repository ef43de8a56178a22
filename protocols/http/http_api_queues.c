/*
 * http_api_queues.c: /api/queues[/VHOST[/NAME[/contents|/get|/bindings|/move]]].
 *
 * Listing walks the core's snapshot views into RabbitMQ's queue objects;
 * writes go through the same core calls an AMQP channel uses (so
 * equivalence checks and x-argument validation are the core's), with
 * the API's own owner token and, for a non-administrator, the caller's
 * AMQP permissions (r->who), as RabbitMQ's API acts through a channel of
 * the caller's. The /get endpoint (http_api_get.c) fetches
 * messages for inspection.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#define QUEUE_STATS ((1u << BK_MS_PUBLISH) | (1u << BK_MS_DELIVER) | \
	(1u << BK_MS_DELIVER_NO_ACK) | (1u << BK_MS_GET) | (1u << BK_MS_GET_NO_ACK) | \
	(1u << BK_MS_ACK) | (1u << BK_MS_REDELIVER) | (1u << BK_MS_GET_EMPTY))

cJSON *
http_queue_json(struct http_req *r, const struct bk_queue_view *v)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "arguments", http_json_table(v->arguments));
	cJSON_AddBoolToObject(o, "auto_delete", v->auto_delete);
	cJSON_AddNumberToObject(o, "consumers", v->consumers);
	cJSON_AddBoolToObject(o, "durable", v->durable);
	cJSON_AddBoolToObject(o, "exclusive", v->exclusive);
	cJSON_AddNullToObject(o, "exclusive_consumer_tag");
	cJSON_AddNumberToObject(o, "memory", (double)v->memory);
	cJSON_AddNumberToObject(o, "message_bytes", (double)v->message_bytes);
	cJSON_AddNumberToObject(o, "message_bytes_ready", (double)v->message_bytes_ready);
	cJSON_AddNumberToObject(o, "message_bytes_unacknowledged",
				(double)(v->message_bytes > v->message_bytes_ready ?
					 v->message_bytes - v->message_bytes_ready : 0));
	cJSON_AddItemToObject(o, "message_stats",
			      http_json_msg_stats(r, &v->ms, v->hist, QUEUE_STATS, true));
	http_json_lengths(r, o, v->messages_ready, v->messages_unacknowledged, v->hist);
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "node", r->l->node);
	if (v->operator_policy != NULL)
		cJSON_AddStringToObject(o, "operator_policy", v->operator_policy);
	else
		cJSON_AddNullToObject(o, "operator_policy");
	if (v->policy != NULL)
		cJSON_AddStringToObject(o, "policy", v->policy);
	else
		cJSON_AddNullToObject(o, "policy");
	cJSON_AddItemToObject(o, "effective_policy_definition",
			      bk_policy_effective_json(v->policy_definition,
						       v->operator_definition));
	cJSON_AddStringToObject(o, "state", v->state ? v->state : "running");
	cJSON_AddStringToObject(o, "type", v->type ? v->type : "classic");
	cJSON_AddStringToObject(o, "vhost", v->vhost);
	return o;
}

struct walk {
	struct http_req *r;
	cJSON *arr;
};

static int
each_queue(void *arg, const struct bk_queue_view *v)
{
	struct walk *w = arg;

	cJSON_AddItemToArray(w->arr, http_queue_json(w->r, v));
	return 0;
}

static int
one_queue(void *arg, const struct bk_queue_view *v)
{
	struct walk *w = arg;

	w->arr = http_queue_json(w->r, v);
	return 0;
}

static void
queue_put(struct http_req *r, struct bk_vhost *vh)
{
	struct bk_queue_decl d = { .name = bk_str_c(r->seg[2]), .owner = http_owner };
	struct bk_table_builder tb;
	const cJSON *args = NULL;
	const char *name, *type = NULL;
	uint32_t n, c;
	struct bk_err err;
	char why[256];
	cJSON *body;
	bool existed;

	if ((body = http_body_json(r)) == NULL)
		return;
	bk_tb_init(&tb);
	if (!http_json_bool(r, body, "durable", &d.durable) ||
	    !http_json_bool(r, body, "auto_delete", &d.auto_delete) ||
	    !http_json_bool(r, body, "exclusive", &d.exclusive) ||
	    !http_json_object(r, body, "arguments", &args) ||
	    !http_json_string(r, body, "type", &type))
		goto out;
	if (d.exclusive) {
		/* no connection can own it: RabbitMQ's API refuses too */
		http_reply_bad_request(r, "exclusive queues cannot be declared "
				       "over the HTTP API");
		goto out;
	}
	if (http_json_to_table(args, &tb, why, sizeof(why)) < 0) {
		http_reply_bad_request(r, "%s", why);
		goto out;
	}
	if (type != NULL && strcmp(type, "classic") != 0 && args != NULL &&
	    !cJSON_HasObjectItem(args, "x-queue-type")) {
		struct bk_value tv = { .type = BK_V_LSTR, .u.s = bk_str_c(type) };

		bk_tb_put(&tb, "x-queue-type", 12, &tv);
	}
	d.arguments = bk_tb_view(&tb);
	d.who = r->who;
	existed = bk_queue_get(vh, d.name) != NULL;
	if (http_permitted(r, bk_queue_declare(vh, &d, &name, &n, &c, &err), &err))
		http_reply_empty(r, existed ? 204 : 201);
out:
	bk_tb_fini(&tb);
	cJSON_Delete(body);
}

static void
queue_delete(struct http_req *r, struct bk_vhost *vh)
{
	struct bk_err err;
	uint32_t n;

	/* AMQP's queue.delete of an absent queue succeeds; the API's is 404 */
	if (bk_queue_get(vh, bk_str_c(r->seg[2])) == NULL) {
		http_reply_not_found(r);
		return;
	}
	if (!http_may(r, vh, BK_PERM_CONFIGURE, "queue", bk_str_c(r->seg[2])))
		return;
	if (bk_queue_delete(vh, bk_str_c(r->seg[2]), http_owner,
			    http_query_true(r, "if-unused"), http_query_true(r, "if-empty"),
			    &n, &err) != BK_OK)
		http_reply_status(r, &err);
	else
		http_reply_empty(r, 204);
}

static void
queue_one(struct http_req *r, struct bk_vhost *vh)
{
	struct walk w = { r, NULL };
	struct bk_err err;

	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		if (bk_queue_inspect(vh, bk_str_c(r->seg[2]), one_queue, &w, &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_object(r, w.arr);
		return;
	case EVHTTP_REQ_PUT:
		queue_put(r, vh);
		return;
	case EVHTTP_REQ_DELETE:
		queue_delete(r, vh);
		return;
	default:
		http_reply_method_not_allowed(r);
	}
}

void
http_api_queues(struct http_req *r)
{
	struct walk w = { r, NULL };
	struct bk_vhost *vh = NULL;
	struct bk_err err;
	uint32_t n;

	if (r->nseg >= 2 && (vh = http_vhost_arg(r, 1)) == NULL)
		return;
	if (r->nseg <= 2) {
		if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
			http_reply_method_not_allowed(r);
			return;
		}
		w.arr = cJSON_CreateArray();
		bk_queues_each(r->l->broker, vh, each_queue, &w);
		http_reply_list(r, w.arr, "vhost", "name");
		return;
	}
	if (r->nseg == 3) {
		queue_one(r, vh);
		return;
	}
	if (r->nseg == 4 && strcmp(r->seg[3], "contents") == 0 &&
	    r->method == EVHTTP_REQ_DELETE) {
		if (!http_may(r, vh, BK_PERM_READ, "queue", bk_str_c(r->seg[2])))
			return;
		if (bk_queue_purge(vh, bk_str_c(r->seg[2]), http_owner, &n, &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, 204);
		return;
	}
	if (r->nseg == 4 && strcmp(r->seg[3], "get") == 0 && r->method == EVHTTP_REQ_POST) {
		if (http_may(r, vh, BK_PERM_READ, "queue", bk_str_c(r->seg[2])))
			http_api_queue_get(r, vh);
		return;
	}
	if (r->nseg == 4 && strcmp(r->seg[3], "move") == 0 && r->method == EVHTTP_REQ_POST) {
		http_api_queue_move(r, vh);
		return;
	}
	if (r->nseg == 4 && strcmp(r->seg[3], "bindings") == 0) {
		if (bk_queue_get(vh, bk_str_c(r->seg[2])) == NULL) {
			http_reply_not_found(r);
			return;
		}
		http_reply_list(r, http_bindings_list(r, vh, NULL, r->seg[2], "queue"),
				NULL, NULL);
		return;
	}
	http_reply_not_found(r);
}
