/*
 * http_api_tperms.c: topic permissions, RabbitMQ's URLs and JSON:
 *
 *   GET    /api/topic-permissions                    every entry
 *   GET    /api/topic-permissions/VHOST/USER          the user's entries on
 *                                                    VHOST (a list; 404 if none)
 *   PUT    /api/topic-permissions/VHOST/USER          {"exchange", "write", "read"}
 *   DELETE /api/topic-permissions/VHOST/USER[/EXCHANGE]
 *   GET    /api/users/USER/topic-permissions, /api/vhosts/VHOST/topic-permissions
 *
 * An entry is {"user", "vhost", "exchange", "write", "read"}. PUT answers
 * 201 when the user had no entry on the vhost yet, else 204 (400
 * "vhost_or_user_not_found" for an unknown one, as RabbitMQ); DELETE 204,
 * or 404 when there was nothing to delete.
 */
#include "http_int.h"

#include <string.h>

static int
each_tperm(void *arg, const struct bk_topic_permission_view *v)
{
	cJSON *arr = arg;

	cJSON_AddItemToArray(arr, bk_defs_topic_permission_json(v));
	return 0;
}

static cJSON *
tperms(struct http_req *r, const char *user, const char *vhost)
{
	cJSON *arr = cJSON_CreateArray();

	bk_topic_permissions_each(r->l->broker, user, vhost, each_tperm, arr);
	return arr;
}

void
http_topic_permissions_list(struct http_req *r, const char *user, const char *vhost)
{
	http_reply_list(r, tperms(r, user, vhost), "user", "vhost");
}

static void
tperm_put(struct http_req *r, const char *vhost, const char *user)
{
	const char *x = NULL, *wr = NULL, *rd = NULL;
	cJSON *body, *had = NULL;
	struct bk_err err;
	enum bk_status st;

	if ((body = http_body_json(r)) == NULL)
		return;
	if (!http_json_string(r, body, "exchange", &x) ||
	    !http_json_string(r, body, "write", &wr) ||
	    !http_json_string(r, body, "read", &rd))
		goto out;
	if (x == NULL || wr == NULL || rd == NULL) {
		http_reply_bad_request(r, "exchange, write and read are required");
		goto out;
	}
	had = tperms(r, user, vhost);
	st = bk_topic_permission_set(r->l->broker, user, vhost, x, wr, rd, &err);
	if (st == BK_NOT_FOUND)
		http_reply_bad_request(r, "vhost_or_user_not_found");
	else if (st != BK_OK)
		http_reply_status(r, &err);
	else
		http_reply_empty(r, cJSON_GetArraySize(had) > 0 ? 204 : 201);
out:
	cJSON_Delete(had);
	cJSON_Delete(body);
}

static void
tperm_delete(struct http_req *r, const char *vhost, const char *user, const char *x)
{
	cJSON *had = tperms(r, user, vhost), *it;
	bool found = false;
	struct bk_err err;

	cJSON_ArrayForEach(it, had) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "exchange");

		found |= x == NULL || (cJSON_IsString(e) && strcmp(e->valuestring, x) == 0);
	}
	cJSON_Delete(had);
	if (!found)
		http_reply_not_found(r);
	else if (bk_topic_permission_clear(r->l->broker, user, vhost, x, &err) != BK_OK)
		http_reply_status(r, &err);
	else
		http_reply_empty(r, 204);
}

void
http_api_topic_permissions(struct http_req *r)
{
	bool get = r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD;

	if (r->nseg == 1 && get) {
		http_topic_permissions_list(r, NULL, NULL);
		return;
	}
	if (r->nseg < 3 || r->nseg > 4 || (r->nseg == 4 && r->method != EVHTTP_REQ_DELETE)) {
		http_reply_not_found(r);
		return;
	}
	if (r->method != EVHTTP_REQ_PUT && bk_vhost_get(r->l->broker, r->seg[1]) == NULL) {
		http_reply_not_found(r);
		return;
	}
	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD: {
		cJSON *arr = tperms(r, r->seg[2], r->seg[1]);

		if (cJSON_GetArraySize(arr) == 0) {
			cJSON_Delete(arr);
			http_reply_not_found(r);
		} else {
			http_reply_json(r, 200, arr);
		}
		return;
	}
	case EVHTTP_REQ_PUT:
		tperm_put(r, r->seg[1], r->seg[2]);
		return;
	case EVHTTP_REQ_DELETE:
		tperm_delete(r, r->seg[1], r->seg[2], r->nseg == 4 ? r->seg[3] : NULL);
		return;
	default:
		http_reply_method_not_allowed(r);
	}
}
