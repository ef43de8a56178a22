/*
 * http_api_defs.c: GET and POST /api/definitions[/VHOST] in RabbitMQ's
 * definitions format (what rabbitmqadmin export/import and
 * `rabbitmqctl export_definitions` use).
 *
 * Export walks the core's views: every vhost, user, permission, every
 * queue that is not exclusive, every exchange but the built-in ones
 * ("" and amq.*), every binding whose source is not the default
 * exchange. Import applies, in this order, vhosts, users, permissions,
 * exchanges, queues and bindings through the same core calls as the
 * single-object endpoints, and stops at the first refusal with 400 and
 * the core's reason (what was applied before stays, as in RabbitMQ).
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

struct exp {
	struct http_req *r;
	cJSON *users, *vhosts, *perms, *queues, *exchanges, *bindings;
	const char *only_vhost;         /* NULL: all */
};

static int
exp_user(void *arg, const struct bk_user_view *v)
{
	struct exp *e = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "password_hash", v->password_hash ? v->password_hash : "");
	cJSON_AddStringToObject(o, "hashing_algorithm", v->hashing_algorithm);
	cJSON_AddItemToObject(o, "tags", http_json_tags(v->tags));
	cJSON_AddItemToObject(o, "limits", cJSON_CreateObject());
	cJSON_AddItemToArray(e->users, o);
	return 0;
}

static int
exp_vhost(void *arg, const struct bk_vhost_view *v)
{
	struct exp *e = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddItemToArray(e->vhosts, o);
	return 0;
}

static int
exp_perm(void *arg, const struct bk_permission_view *v)
{
	struct exp *e = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "user", v->user);
	cJSON_AddStringToObject(o, "vhost", v->vhost);
	cJSON_AddStringToObject(o, "configure", v->configure);
	cJSON_AddStringToObject(o, "write", v->write);
	cJSON_AddStringToObject(o, "read", v->read);
	cJSON_AddItemToArray(e->perms, o);
	return 0;
}

static int
exp_queue(void *arg, const struct bk_queue_view *v)
{
	struct exp *e = arg;
	cJSON *o;

	if (v->exclusive)
		return 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", v->name);
	if (e->only_vhost == NULL)
		cJSON_AddStringToObject(o, "vhost", v->vhost);
	cJSON_AddBoolToObject(o, "durable", v->durable);
	cJSON_AddBoolToObject(o, "auto_delete", v->auto_delete);
	cJSON_AddItemToObject(o, "arguments", http_json_table(v->arguments));
	cJSON_AddItemToArray(e->queues, o);
	return 0;
}

static int
exp_exchange(void *arg, const struct bk_exchange_view *v)
{
	struct exp *e = arg;
	cJSON *o;

	if (v->name[0] == '\0' || strncmp(v->name, "amq.", 4) == 0)
		return 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", v->name);
	if (e->only_vhost == NULL)
		cJSON_AddStringToObject(o, "vhost", v->vhost);
	cJSON_AddStringToObject(o, "type", v->type);
	cJSON_AddBoolToObject(o, "durable", v->durable);
	cJSON_AddBoolToObject(o, "auto_delete", v->auto_delete);
	cJSON_AddBoolToObject(o, "internal", v->internal);
	cJSON_AddItemToObject(o, "arguments", http_json_table(v->arguments));
	cJSON_AddItemToArray(e->exchanges, o);
	return 0;
}

static int
exp_binding(void *arg, const struct bk_binding_view *v)
{
	struct exp *e = arg;
	cJSON *o;

	if (v->source[0] == '\0')
		return 0;
	o = http_binding_json(v);
	cJSON_DeleteItemFromObject(o, "properties_key");
	if (e->only_vhost != NULL)
		cJSON_DeleteItemFromObject(o, "vhost");
	cJSON_AddItemToArray(e->bindings, o);
	return 0;
}

static cJSON *
defs_export(struct http_req *r, struct bk_vhost *vh)
{
	struct bk_broker *b = r->l->broker;
	cJSON *doc = cJSON_CreateObject();
	struct exp e = { r, NULL, NULL, NULL, NULL, NULL, NULL,
			 vh ? bk_vhost_name(vh) : NULL };

	cJSON_AddStringToObject(doc, "rabbit_version", "3.13.0");
	cJSON_AddStringToObject(doc, "rabbitmq_version", "3.13.0");
	cJSON_AddStringToObject(doc, "product_name", "Sluice");
	cJSON_AddStringToObject(doc, "product_version", SLUICE_VERSION);
	if (vh == NULL) {
		e.users = cJSON_AddArrayToObject(doc, "users");
		e.vhosts = cJSON_AddArrayToObject(doc, "vhosts");
		e.perms = cJSON_AddArrayToObject(doc, "permissions");
		cJSON_AddArrayToObject(doc, "topic_permissions");
		cJSON_AddArrayToObject(doc, "parameters");
		cJSON_AddArrayToObject(doc, "global_parameters");
	}
	cJSON_AddArrayToObject(doc, "policies");
	e.queues = cJSON_AddArrayToObject(doc, "queues");
	e.exchanges = cJSON_AddArrayToObject(doc, "exchanges");
	e.bindings = cJSON_AddArrayToObject(doc, "bindings");
	if (vh == NULL) {
		bk_users_each(b, exp_user, &e);
		bk_vhosts_each(b, exp_vhost, &e);
		bk_permissions_each(b, NULL, NULL, exp_perm, &e);
	}
	bk_queues_each(b, vh, exp_queue, &e);
	bk_exchanges_each(b, vh, exp_exchange, &e);
	bk_bindings_each(b, vh, exp_binding, &e);
	return doc;
}

cJSON *
http_defs_export(struct http_req *r)
{
	return defs_export(r, NULL);
}

/* ---------------------------------------------------------------- */
/* import                                                            */
/* ---------------------------------------------------------------- */

struct imp {
	struct http_req *r;
	const char *vhost;              /* per-vhost import: entries' own ignored */
	char why[512];
};

/* A required string member; false with why set. */
static bool
str_of(struct imp *im, const cJSON *o, const char *k, const char **out, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (cJSON_IsString(v)) {
		*out = v->valuestring;
		return true;
	}
	if (v == NULL && !required)
		return true;
	snprintf(im->why, sizeof(im->why), "'%s' must be a string", k);
	return false;
}

static bool
bool_of(const cJSON *o, const char *k, bool dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static struct bk_vhost *
vhost_of(struct imp *im, const cJSON *o)
{
	const char *name = im->vhost;
	struct bk_vhost *vh;

	if (name == NULL && !str_of(im, o, "vhost", &name, true))
		return NULL;
	if ((vh = bk_vhost_get(im->r->l->broker, name)) == NULL)
		snprintf(im->why, sizeof(im->why), "no vhost '%s'", name);
	return vh;
}

static bool
status_ok(struct imp *im, enum bk_status st, const struct bk_err *err)
{
	if (st == BK_OK)
		return true;
	snprintf(im->why, sizeof(im->why), "%s", err->text);
	return false;
}

static bool
imp_user(struct imp *im, const cJSON *o)
{
	const char *name = NULL, *hash = NULL, *pw = NULL, *algo_s = NULL;
	enum bk_hash_algo algo = BK_HASH_SHA256;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tags"), *e;
	char tags[1024] = "";
	size_t n = 0;
	struct bk_err err = { 0 };

	if (!str_of(im, o, "name", &name, true) || !str_of(im, o, "password_hash", &hash, false) ||
	    !str_of(im, o, "password", &pw, false) ||
	    !str_of(im, o, "hashing_algorithm", &algo_s, false))
		return false;
	if (cJSON_IsString(t))
		snprintf(tags, sizeof(tags), "%s", t->valuestring);
	else if (cJSON_IsArray(t))
		cJSON_ArrayForEach(e, t)
			if (cJSON_IsString(e) && n + strlen(e->valuestring) + 2 < sizeof(tags))
				n += (size_t)snprintf(tags + n, sizeof(tags) - n, "%s%s",
						      n ? "," : "", e->valuestring);
	if (algo_s != NULL && !bk_hash_algo_parse(algo_s, &algo)) {
		snprintf(im->why, sizeof(im->why), "unknown hashing algorithm '%s'", algo_s);
		return false;
	}
	if (pw != NULL)
		return status_ok(im, bk_user_add(im->r->l->broker, name, pw, tags, &err), &err);
	if (hash == NULL || hash[0] == '\0')
		return status_ok(im, bk_user_add(im->r->l->broker, name, NULL, tags, &err), &err);
	return status_ok(im, bk_user_add_hash(im->r->l->broker, name, hash, algo, tags, &err),
			 &err);
}

static bool
imp_perm(struct imp *im, const cJSON *o)
{
	const char *u = NULL, *v = NULL, *c = NULL, *w = NULL, *rd = NULL;
	struct bk_err err = { 0 };

	if (!str_of(im, o, "user", &u, true) || !str_of(im, o, "vhost", &v, true) ||
	    !str_of(im, o, "configure", &c, true) || !str_of(im, o, "write", &w, true) ||
	    !str_of(im, o, "read", &rd, true))
		return false;
	return status_ok(im, bk_permission_set(im->r->l->broker, u, v, c, w, rd, &err), &err);
}

static bool
args_of(struct imp *im, const cJSON *o, struct bk_table_builder *tb)
{
	return http_json_to_table(cJSON_GetObjectItemCaseSensitive(o, "arguments"), tb,
				  im->why, sizeof(im->why)) == 0;
}

static bool
imp_exchange(struct imp *im, const cJSON *o)
{
	struct bk_exchange_decl d = { 0 };
	const char *name = NULL, *type = NULL;
	struct bk_table_builder tb;
	struct bk_vhost *vh;
	struct bk_err err = { 0 };
	bool ok;

	if (!str_of(im, o, "name", &name, true) || !str_of(im, o, "type", &type, true) ||
	    (vh = vhost_of(im, o)) == NULL)
		return false;
	if (name[0] == '\0' || strncmp(name, "amq.", 4) == 0)
		return true;            /* built in: every vhost has them */
	bk_tb_init(&tb);
	ok = args_of(im, o, &tb);
	if (ok) {
		d.name = bk_str_c(name);
		d.type = bk_str_c(type);
		d.durable = bool_of(o, "durable", true);
		d.auto_delete = bool_of(o, "auto_delete", false);
		d.internal = bool_of(o, "internal", false);
		d.arguments = bk_tb_view(&tb);
		ok = status_ok(im, bk_exchange_declare(vh, &d, &err), &err);
	}
	bk_tb_fini(&tb);
	return ok;
}

static bool
imp_queue(struct imp *im, const cJSON *o)
{
	struct bk_queue_decl d = { .owner = http_owner };
	struct bk_table_builder tb;
	struct bk_vhost *vh;
	struct bk_err err = { 0 };
	const char *name = NULL, *qn;
	uint32_t n, c;
	bool ok;

	if (!str_of(im, o, "name", &name, true) || (vh = vhost_of(im, o)) == NULL)
		return false;
	bk_tb_init(&tb);
	ok = args_of(im, o, &tb);
	if (ok) {
		d.name = bk_str_c(name);
		d.durable = bool_of(o, "durable", true);
		d.auto_delete = bool_of(o, "auto_delete", false);
		d.arguments = bk_tb_view(&tb);
		ok = status_ok(im, bk_queue_declare(vh, &d, &qn, &n, &c, &err), &err);
	}
	bk_tb_fini(&tb);
	return ok;
}

static bool
imp_binding(struct imp *im, const cJSON *o)
{
	const char *src = NULL, *dst = NULL, *dtype = NULL, *rk = "";
	struct bk_binding_decl d = { 0 };
	struct bk_table_builder tb;
	struct bk_vhost *vh;
	struct bk_err err = { 0 };
	bool ok;

	if (!str_of(im, o, "source", &src, true) || !str_of(im, o, "destination", &dst, true) ||
	    !str_of(im, o, "destination_type", &dtype, true) ||
	    !str_of(im, o, "routing_key", &rk, false) || (vh = vhost_of(im, o)) == NULL)
		return false;
	bk_tb_init(&tb);
	ok = args_of(im, o, &tb);
	if (ok) {
		d.source = bk_str_c(src);
		d.dest = bk_str_c(dst);
		d.dest_is_queue = strcmp(dtype, "exchange") != 0;
		d.routing_key = bk_str_c(rk);
		d.arguments = bk_tb_view(&tb);
		ok = status_ok(im, bk_bind(vh, &d, http_owner, &err), &err);
	}
	bk_tb_fini(&tb);
	return ok;
}

/* Apply doc[key] entry by entry with fn. */
static bool
apply_list(struct imp *im, const cJSON *doc, const char *key,
	   bool (*fn)(struct imp *im, const cJSON *o))
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, key), *o;

	if (arr == NULL || cJSON_IsNull(arr))
		return true;
	if (!cJSON_IsArray(arr)) {
		snprintf(im->why, sizeof(im->why), "'%s' must be a list", key);
		return false;
	}
	cJSON_ArrayForEach(o, arr) {
		if (!cJSON_IsObject(o)) {
			snprintf(im->why, sizeof(im->why), "'%s' entries must be objects", key);
			return false;
		}
		if (!fn(im, o))
			return false;
	}
	return true;
}

static bool
imp_vhost(struct imp *im, const cJSON *o)
{
	const char *name = NULL;
	struct bk_err err = { 0 };

	if (!str_of(im, o, "name", &name, true))
		return false;
	return status_ok(im, bk_vhost_add(im->r->l->broker, name, &err), &err);
}

static void
defs_import(struct http_req *r, struct bk_vhost *vh)
{
	struct imp im = { r, vh ? bk_vhost_name(vh) : NULL, "" };
	cJSON *doc;

	if ((doc = http_body_json(r)) == NULL)
		return;
	if ((vh != NULL ||
	     (apply_list(&im, doc, "vhosts", imp_vhost) &&
	      apply_list(&im, doc, "users", imp_user) &&
	      apply_list(&im, doc, "permissions", imp_perm))) &&
	    apply_list(&im, doc, "exchanges", imp_exchange) &&
	    apply_list(&im, doc, "queues", imp_queue) &&
	    apply_list(&im, doc, "bindings", imp_binding))
		http_reply_empty(r, 204);
	else
		http_reply_bad_request(r, "%s", im.why);
	cJSON_Delete(doc);
}

void
http_api_definitions(struct http_req *r)
{
	struct bk_vhost *vh = NULL;

	if (r->nseg > 2) {
		http_reply_not_found(r);
		return;
	}
	if (r->nseg == 2 && (vh = http_vhost_arg(r, 1)) == NULL)
		return;
	if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD) {
		const char *fn = http_query(r, "download");

		if (fn != NULL && strlen(fn) < 200 && strpbrk(fn, "\"\\\r\n") == NULL) {
			char disp[300];

			snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fn);
			evhttp_add_header(evhttp_request_get_output_headers(r->req),
					  "Content-Disposition", disp);
		}
		http_reply_json(r, 200, defs_export(r, vh));
	} else if (r->method == EVHTTP_REQ_POST) {
		defs_import(r, vh);
	} else {
		http_reply_method_not_allowed(r);
	}
}
