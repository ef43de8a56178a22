/*
 * http_api_access.c: /api/users, /api/vhosts, /api/permissions (and
 * /api/users/NAME/permissions, /api/vhosts/NAME/permissions,
 * /api/vhosts/NAME/connections; the topic-permissions lists of a user or
 * vhost are http_api_tperms.c's).
 *
 * PUT creates (201) or updates (204), DELETE answers 204, as RabbitMQ.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#define VHOST_STATS ((1u << BK_MS_PUBLISH) | (1u << BK_MS_CONFIRM) | \
	(1u << BK_MS_DELIVER) | (1u << BK_MS_DELIVER_NO_ACK) | (1u << BK_MS_GET) | \
	(1u << BK_MS_GET_NO_ACK) | (1u << BK_MS_ACK) | (1u << BK_MS_REDELIVER) | \
	(1u << BK_MS_RETURN_UNROUTABLE) | (1u << BK_MS_DROP_UNROUTABLE) | \
	(1u << BK_MS_GET_EMPTY))

struct walk {
	struct http_req *r;
	cJSON *arr;
	const char *name;
};

static int
noop_user(void *arg, const struct bk_user_view *v)
{
	return 0;
}

/* ---------------------------------------------------------------- */
/* users                                                             */
/* ---------------------------------------------------------------- */

static int
each_user(void *arg, const struct bk_user_view *v)
{
	struct walk *w = arg;

	cJSON_AddItemToArray(w->arr, bk_defs_user_json(v));
	return 0;
}

/* "tags": "a,b" or ["a","b"] -> "a,b" in buf. false after a 400. */
static bool
tags_arg(struct http_req *r, const cJSON *body, char *buf, size_t cap, bool *given)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "tags"), *e;
	size_t o = 0;

	buf[0] = '\0';
	*given = t != NULL && !cJSON_IsNull(t);
	if (!*given)
		return true;
	if (cJSON_IsString(t)) {
		snprintf(buf, cap, "%s", t->valuestring);
		return true;
	}
	if (!cJSON_IsArray(t)) {
		http_reply_bad_request(r, "'tags' must be a string or a list");
		return false;
	}
	cJSON_ArrayForEach(e, t) {
		if (!cJSON_IsString(e) || o + strlen(e->valuestring) + 2 >= cap) {
			http_reply_bad_request(r, "'tags' must be a list of strings");
			return false;
		}
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? "," : "", e->valuestring);
	}
	return true;
}

static void
user_put(struct http_req *r, const char *name)
{
	const char *pw = NULL, *hash = NULL, *algo_s = NULL;
	enum bk_hash_algo algo = BK_HASH_SHA256;
	struct bk_broker *b = r->l->broker;
	struct bk_err err = { 0 };
	enum bk_status st;
	char tags[1024];
	bool existed, tags_given;
	cJSON *body;

	if ((body = http_body_json(r)) == NULL)
		return;
	if (!http_json_string(r, body, "password", &pw) ||
	    !http_json_string(r, body, "password_hash", &hash) ||
	    !http_json_string(r, body, "hashing_algorithm", &algo_s) ||
	    !tags_arg(r, body, tags, sizeof(tags), &tags_given))
		goto out;
	if (algo_s != NULL && !bk_hash_algo_parse(algo_s, &algo)) {
		http_reply_bad_request(r, "unknown hashing algorithm '%s'", algo_s);
		goto out;
	}
	existed = bk_user_inspect(b, name, noop_user, NULL, &err) == BK_OK;
	if (pw != NULL)
		st = bk_user_add(b, name, pw, tags, &err);
	else if (hash != NULL)
		st = bk_user_add_hash(b, name, hash, algo, tags, &err);
	else if (existed)
		st = bk_user_set_tags(b, name, tags, &err);
	else {
		http_reply_bad_request(r, "Must provide password or password_hash");
		goto out;
	}
	if (st != BK_OK)
		http_reply_status(r, &err);
	else
		http_reply_empty(r, existed ? 204 : 201);
out:
	cJSON_Delete(body);
}

void
http_api_users(struct http_req *r)
{
	struct walk w = { r, cJSON_CreateArray(), NULL };
	struct bk_err err;
	cJSON *one;

	if (r->nseg == 1 && (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)) {
		bk_users_each(r->l->broker, each_user, &w);
		http_reply_list(r, w.arr, "name", NULL);
		return;
	}
	if (r->nseg == 2 && (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)) {
		if (bk_user_inspect(r->l->broker, r->seg[1], each_user, &w, &err) != BK_OK) {
			http_reply_not_found(r);
		} else {
			one = cJSON_DetachItemFromArray(w.arr, 0);
			http_reply_object(r, one);
		}
	} else if (r->nseg == 2 && r->method == EVHTTP_REQ_PUT) {
		user_put(r, r->seg[1]);
	} else if (r->nseg == 2 && r->method == EVHTTP_REQ_DELETE) {
		if (bk_user_delete(r->l->broker, r->seg[1], &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, 204);
	} else if (r->nseg == 3 && (strcmp(r->seg[2], "permissions") == 0 ||
				    strcmp(r->seg[2], "topic-permissions") == 0)) {
		cJSON_Delete(w.arr);
		w.arr = NULL;
		if (bk_user_inspect(r->l->broker, r->seg[1], noop_user, NULL, &err) != BK_OK) {
			http_reply_not_found(r);
			return;
		}
		if (r->seg[2][0] == 'p')
			http_permissions_list(r, r->seg[1], NULL);
		else
			http_topic_permissions_list(r, r->seg[1], NULL);
		return;
	} else {
		http_reply_not_found(r);
	}
	cJSON_Delete(w.arr);
}

/* ---------------------------------------------------------------- */
/* permissions                                                       */
/* ---------------------------------------------------------------- */

static int
each_perm(void *arg, const struct bk_permission_view *v)
{
	struct walk *w = arg;

	cJSON_AddItemToArray(w->arr, bk_defs_permission_json(v));
	return 0;
}

void
http_permissions_list(struct http_req *r, const char *user, const char *vhost)
{
	struct walk w = { r, cJSON_CreateArray(), NULL };

	bk_permissions_each(r->l->broker, user, vhost, each_perm, &w);
	http_reply_list(r, w.arr, NULL, NULL);
}

static void
permission_put(struct http_req *r, const char *vhost, const char *user)
{
	const char *c = NULL, *wr = NULL, *rd = NULL;
	struct bk_err err;
	struct walk w = { r, cJSON_CreateArray(), NULL };
	cJSON *body;
	bool existed;

	if ((body = http_body_json(r)) == NULL)
		goto out;
	if (!http_json_string(r, body, "configure", &c) ||
	    !http_json_string(r, body, "write", &wr) ||
	    !http_json_string(r, body, "read", &rd))
		goto out;
	if (c == NULL || wr == NULL || rd == NULL) {
		http_reply_bad_request(r, "configure, write and read are required");
		goto out;
	}
	bk_permissions_each(r->l->broker, user, vhost, each_perm, &w);
	existed = cJSON_GetArraySize(w.arr) > 0;
	if (bk_permission_set(r->l->broker, user, vhost, c, wr, rd, &err) != BK_OK)
		http_reply_status(r, &err);
	else
		http_reply_empty(r, existed ? 204 : 201);
out:
	cJSON_Delete(w.arr);
	cJSON_Delete(body);
}

void
http_api_permissions(struct http_req *r)
{
	struct walk w = { r, NULL, NULL };
	struct bk_err err;

	if (r->nseg == 1 && (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)) {
		http_permissions_list(r, NULL, NULL);
		return;
	}
	if (r->nseg != 3) {
		http_reply_not_found(r);
		return;
	}
	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		w.arr = cJSON_CreateArray();
		bk_permissions_each(r->l->broker, r->seg[2], r->seg[1], each_perm, &w);
		http_reply_first(r, w.arr);
		return;
	case EVHTTP_REQ_PUT:
		permission_put(r, r->seg[1], r->seg[2]);
		return;
	case EVHTTP_REQ_DELETE:
		if (bk_permission_clear(r->l->broker, r->seg[2], r->seg[1], &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, 204);
		return;
	default:
		http_reply_method_not_allowed(r);
	}
}

/* ---------------------------------------------------------------- */
/* vhosts                                                            */
/* ---------------------------------------------------------------- */

static int
each_vhost(void *arg, const struct bk_vhost_view *v)
{
	struct walk *w = arg;
	cJSON *o = cJSON_CreateObject(), *x;
	const char *desc = strcmp(v->name, "/") == 0 ? "Default virtual host" : "";

	if (w->name != NULL && strcmp(w->name, v->name) != 0) {
		cJSON_Delete(o);
		return 0;
	}
	x = cJSON_AddObjectToObject(o, "cluster_state");
	cJSON_AddStringToObject(x, w->r->l->node, "running");
	cJSON_AddStringToObject(o, "default_queue_type", "classic");
	cJSON_AddStringToObject(o, "description", desc);
	cJSON_AddItemToObject(o, "message_stats",
			      http_json_msg_stats(w->r, &v->ms, v->hist, VHOST_STATS, true));
	http_json_lengths(w->r, o, v->queue_totals.messages_ready,
			  v->queue_totals.messages_unacknowledged, v->hist);
	x = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(x, "description", desc);
	cJSON_AddItemToObject(x, "tags", cJSON_CreateArray());
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddItemToObject(o, "tags", cJSON_CreateArray());
	cJSON_AddBoolToObject(o, "tracing", false);
	cJSON_AddItemToArray(w->arr, o);
	return 0;
}

void
http_api_vhosts(struct http_req *r)
{
	struct walk w = { r, NULL, NULL };
	struct bk_err err;
	bool existed;

	if (r->nseg == 1) {
		w.arr = cJSON_CreateArray();
		bk_vhosts_each(r->l->broker, each_vhost, &w);
		http_reply_list(r, w.arr, "name", NULL);
		return;
	}
	if (r->nseg == 3 && strcmp(r->seg[2], "permissions") == 0) {
		if (http_vhost_arg(r, 1) != NULL)
			http_permissions_list(r, NULL, r->seg[1]);
		return;
	}
	if (r->nseg == 3 && strcmp(r->seg[2], "topic-permissions") == 0) {
		if (http_vhost_arg(r, 1) != NULL)
			http_topic_permissions_list(r, NULL, r->seg[1]);
		return;
	}
	if (r->nseg == 3 && strcmp(r->seg[2], "connections") == 0) {
		if (http_vhost_arg(r, 1) == NULL)
			return;
		http_connections_of_vhost(r, r->seg[1]);
		return;
	}
	if (r->nseg != 2) {
		http_reply_not_found(r);
		return;
	}
	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		w.arr = cJSON_CreateArray();
		w.name = r->seg[1];
		bk_vhosts_each(r->l->broker, each_vhost, &w);
		http_reply_first(r, w.arr);
		return;
	case EVHTTP_REQ_PUT:
		if (strlen(r->seg[1]) == 0 || strlen(r->seg[1]) > 255) {
			http_reply_bad_request(r, "invalid vhost name");
			return;
		}
		existed = bk_vhost_get(r->l->broker, r->seg[1]) != NULL;
		if (bk_vhost_add(r->l->broker, r->seg[1], &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, existed ? 204 : 201);
		return;
	case EVHTTP_REQ_DELETE:
		if (bk_vhost_delete(r->l->broker, r->seg[1], &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, 204);
		return;
	default:
		http_reply_method_not_allowed(r);
	}
}
