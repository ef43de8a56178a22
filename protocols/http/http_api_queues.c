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

/* Rates and message_stats are most of a queue object's cost: left out
 * with RabbitMQ's disable_stats=true (its UI's choice for many queues;
 * the counts stay, as with enable_queue_totals=true), and when columns=
 * names none of them (rabbitmqadmin list queues name messages) and
 * the list is not sorted by one. */
static bool
wants_stats(struct http_req *r)
{
	const char *cols = http_query(r, "columns"), *sort = http_query(r, "sort");

	if (http_query_true(r, "disable_stats"))
		return false;
	if (sort != NULL && (strstr(sort, "message_stats") != NULL ||
			     strstr(sort, "_details") != NULL))
		return true;                    /* sorted by one of them */
	return cols == NULL || strstr(cols, "message_stats") != NULL ||
	       strstr(cols, "_details") != NULL;
}

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
	if (wants_stats(r)) {
		cJSON_AddItemToObject(o, "message_stats",
				      http_json_msg_stats(r, &v->ms, v->hist, QUEUE_STATS, true));
		http_json_lengths(r, o, v->messages_ready, v->messages_unacknowledged,
				  v->hist);
	} else {
		cJSON_AddNumberToObject(o, "messages",
					(double)(v->messages_ready + v->messages_unacknowledged));
		cJSON_AddNumberToObject(o, "messages_ready", (double)v->messages_ready);
		cJSON_AddNumberToObject(o, "messages_unacknowledged",
					(double)v->messages_unacknowledged);
	}
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
	http_stream_queue_json(r, o, v);
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

/* ---- the list: rows first, objects for the page only ---- */

/* The one counter of message_stats that the path k ("ack_details.rate")
 * starts with, as a mask for http_json_msg_stats. */
static uint32_t
stat_mask(const char *k)
{
	size_t n = strcspn(k, ".");     /* "get_no_ack_details.rate": get_no_ack */

	if (n > 8 && strncmp(k + n - 8, "_details", 8) == 0)
		n -= 8;
	for (int i = 0; i < BK_MS__COUNT; i++) {
		const char *name = bk_mstat_name((enum bk_mstat)i);

		/* whole names: "get" must not take get_no_ack's place */
		if ((QUEUE_STATS & (1u << i)) && strlen(name) == n &&
		    strncmp(k, name, n) == 0)
			return 1u << i;
	}
	return 0;
}

/* v's value for the sort key k, straight from the view where it is one
 * of its fields; message_stats from just that object; anything else
 * from the whole queue object (correct for every key, and slower). */
static void
queue_sort_value(struct http_req *r, const struct bk_queue_view *v, const char *k,
		 struct http_sortval *sv)
{
	static const char *const strs[] = { "name", "vhost", "type", "state", "policy",
					    "operator_policy" };
	static const char *const nums[] = { "messages", "messages_ready",
					    "messages_unacknowledged", "consumers",
					    "memory", "message_bytes", "message_bytes_ready" };
	const char *sval[] = { v->name, v->vhost, v->type ? v->type : "classic",
			       v->state ? v->state : "running", v->policy,
			       v->operator_policy };
	double nval[] = { (double)(v->messages_ready + v->messages_unacknowledged),
			  (double)v->messages_ready, (double)v->messages_unacknowledged,
			  v->consumers, (double)v->memory, (double)v->message_bytes,
			  (double)v->message_bytes_ready };
	cJSON *o;

	if (k == NULL)
		return;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(k, strs[i]) == 0) {
			http_sortval_str(sv, sval[i]);
			return;
		}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (strcmp(k, nums[i]) == 0) {
			http_sortval_num(sv, nval[i]);
			return;
		}
	if (!wants_stats(r) && (strncmp(k, "message_stats", 13) == 0 ||
				strstr(k, "_details") != NULL))
		return;                 /* disable_stats: objects without them,
					   so all alike, as unsorted */
	if (strncmp(k, "message_stats.", 14) == 0) {
		o = http_json_msg_stats(r, &v->ms, v->hist, stat_mask(k + 14),
					strncmp(k + 14, "deliver_get", 11) == 0);
		http_sortval_set(sv, http_json_path(o, k + 14));
	} else {
		o = http_queue_json(r, v);
		http_sortval_set(sv, http_json_path(o, k));
	}
	cJSON_Delete(o);
}

static int
each_queue_row(void *arg, const struct bk_queue_view *v)
{
	struct http_listing *ls = arg;
	struct http_row *row = http_listing_admit_named(ls, v->vhost, v->name);

	for (int k = 0; row != NULL && k < 2; k++)
		queue_sort_value(ls->r, v, ls->key[k], &row->key[k]);
	return 0;
}

/* The row's queue, unless it or its vhost went since the rows were taken. */
static void
page_queue(struct http_req *r, const struct http_row *row, cJSON *arr)
{
	struct bk_vhost *vh = bk_vhost_get(r->l->broker, row->vhost);
	struct walk w = { r, arr };
	struct bk_err err;

	if (vh != NULL)
		bk_queue_inspect(vh, bk_str_c(row->name), each_queue, &w, &err);
}

/* GET /api/queues[/VHOST]: 10,000 queues cost a walk over their views and
 * a sort of small rows; only the page's queues become JSON, and without
 * page= they do a slice at a time (http_slices.c). */
static void
queue_list(struct http_req *r, struct bk_vhost *vh)
{
	struct http_listing ls;

	if (http_listing_init(&ls, r, "vhost", "name")) {
		bk_queues_each(r->l->broker, vh, each_queue_row, &ls);
		http_listing_send_page(&ls, page_queue);
	}
	http_listing_fini(&ls);
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
		queue_list(r, vh);
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
		http_bindings_reply(r, vh, NULL, r->seg[2], "queue");
		return;
	}
	http_reply_not_found(r);
}
