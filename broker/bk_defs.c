/*
 * bk_defs.c: the durable topology as a RabbitMQ definitions document, and
 * back.
 *
 * Saved (bk_defs_save, at most once per loop iteration, see
 * bk_defs_changed in bk_persist.c): every vhost; every durable exchange
 * except the built-in ones ("" and amq.*), which every vhost recreates;
 * every durable, non-exclusive queue (RabbitMQ drops exclusive queues on
 * restart); every binding whose source is a durable non-default exchange
 * and whose destination is durable (a queue as above, or an exchange).
 * Users and permissions come from sluice.conf for now and are written as
 * empty lists, which RabbitMQ's import accepts.
 *
 * Loaded (bk_defs_load, before listeners open) through the ordinary
 * declare and bind calls, so the checks are the same as for a client; an
 * entry the core refuses is logged and skipped, a file that is not JSON
 * stops the start (starting empty would rewrite it without its queues).
 * This file sees both halves of the core (bk_routing.h and
 * bk_queueing.h): it is the one reader of the whole object graph.
 */
#include "bk_persist.h"
#include "bk_routing.h"
#include "st_defs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

cJSON *bk_defs_table_to_json(struct bk_table t, int depth);
int bk_defs_table_from_json(const cJSON *obj, struct bk_table_builder *b, int depth);

static const char *const xtype_names[] = {
	[BK_X_DIRECT] = "direct", [BK_X_FANOUT] = "fanout",
	[BK_X_TOPIC] = "topic", [BK_X_HEADERS] = "headers",
};

static bool
queue_is_durable(const struct bk_queue *q)
{
	return q->durable && !q->exclusive && !q->deleted;
}

static bool
exchange_is_saved(const struct bk_exchange *x)
{
	return x->durable && !x->is_default && strncmp(x->name, "amq.", 4) != 0;
}

static cJSON *
args_json(const uint8_t *p, uint32_t len)
{
	return bk_defs_table_to_json((struct bk_table){ p, len }, 0);
}

static void
add_queue(cJSON *arr, struct bk_vhost *vh, struct bk_queue *q)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", q->name);
	cJSON_AddStringToObject(o, "vhost", vh->name);
	cJSON_AddBoolToObject(o, "durable", true);
	cJSON_AddBoolToObject(o, "auto_delete", q->auto_delete);
	cJSON_AddItemToObject(o, "arguments", args_json(q->args_blob, q->args_len));
	cJSON_AddItemToArray(arr, o);
}

static void
add_exchange(cJSON *arr, struct bk_vhost *vh, struct bk_exchange *x)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", x->name);
	cJSON_AddStringToObject(o, "vhost", vh->name);
	cJSON_AddStringToObject(o, "type", xtype_names[x->type]);
	cJSON_AddBoolToObject(o, "durable", true);
	cJSON_AddBoolToObject(o, "auto_delete", x->auto_delete);
	cJSON_AddBoolToObject(o, "internal", x->internal);
	cJSON_AddItemToObject(o, "arguments", args_json(x->args, x->args_len));
	cJSON_AddItemToArray(arr, o);
}

static void
add_binding(cJSON *arr, struct bk_vhost *vh, struct bk_binding *b)
{
	cJSON *o;
	char *key;

	if (b->dest_is_queue ? !queue_is_durable(b->dest.q) : !b->dest.x->durable)
		return;
	o = cJSON_CreateObject();
	key = bk_strndup(b->key.len ? b->key.p : "", b->key.len);
	cJSON_AddStringToObject(o, "source", b->source->name);
	cJSON_AddStringToObject(o, "vhost", vh->name);
	cJSON_AddStringToObject(o, "destination",
				b->dest_is_queue ? b->dest.q->name : b->dest.x->name);
	cJSON_AddStringToObject(o, "destination_type",
				b->dest_is_queue ? "queue" : "exchange");
	cJSON_AddStringToObject(o, "routing_key", key);
	cJSON_AddItemToObject(o, "arguments", args_json(b->args.p, b->args.len));
	cJSON_AddItemToArray(arr, o);
	bk_free(key);
}

static cJSON *
build(struct bk_broker *br)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *vhosts, *queues, *exchanges, *bindings, *o;
	struct bk_vhost *vh, *vtmp;
	struct bk_exchange *x, *xtmp;
	struct bk_queue *q, *qtmp;
	struct bk_binding *b;

	cJSON_AddStringToObject(doc, "rabbit_version", "3.13.7");
	cJSON_AddStringToObject(doc, "rabbitmq_version", "3.13.7");
	cJSON_AddStringToObject(doc, "product_name", "Sluice");
	cJSON_AddArrayToObject(doc, "users");
	vhosts = cJSON_AddArrayToObject(doc, "vhosts");
	cJSON_AddArrayToObject(doc, "permissions");
	cJSON_AddArrayToObject(doc, "topic_permissions");
	cJSON_AddArrayToObject(doc, "parameters");
	cJSON_AddArrayToObject(doc, "global_parameters");
	cJSON_AddArrayToObject(doc, "policies");
	queues = cJSON_AddArrayToObject(doc, "queues");
	exchanges = cJSON_AddArrayToObject(doc, "exchanges");
	bindings = cJSON_AddArrayToObject(doc, "bindings");
	HASH_ITER(hh, br->vhosts, vh, vtmp) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", vh->name);
		cJSON_AddItemToArray(vhosts, o);
		HASH_ITER(hh, vh->queues, q, qtmp)
			if (queue_is_durable(q))
				add_queue(queues, vh, q);
		HASH_ITER(hh, vh->exchanges, x, xtmp) {
			if (exchange_is_saved(x))
				add_exchange(exchanges, vh, x);
			if (!x->durable || x->is_default)
				continue;
			for (b = x->src_head; b != NULL; b = b->src_next)
				add_binding(bindings, vh, b);
		}
	}
	return doc;
}

int
bk_defs_save(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;
	cJSON *doc;
	int rc;

	if (p == NULL)
		return 0;
	doc = build(b);
	rc = st_defs_write(p->data_dir, doc);
	cJSON_Delete(doc);
	if (rc < 0)
		bk_error("cannot write %s/%s: %s", p->data_dir, ST_DEFS_FILE,
			 strerror(-rc));
	return rc;
}

/* ---- loading ------------------------------------------------------------ */

static const char *
jstr(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : dflt;
}

static bool
jbool(const cJSON *o, const char *key, bool dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsBool(it) ? cJSON_IsTrue(it) : dflt;
}

/* The entry's vhost (created if the document names a new one). */
static struct bk_vhost *
entry_vhost(struct bk_broker *b, const cJSON *o)
{
	return bk_vhost_new(b, jstr(o, "vhost", "/"));
}

static bool
entry_args(const cJSON *o, struct bk_table_builder *tb)
{
	return bk_defs_table_from_json(cJSON_GetObjectItemCaseSensitive(o, "arguments"),
				       tb, 0) == 0;
}

static void
skipped(const char *what, const char *name, const char *why)
{
	bk_warn("definitions: %s '%s' skipped: %s", what, name, why);
}

static void
load_exchange(struct bk_broker *b, const cJSON *o)
{
	struct bk_exchange_decl d;
	struct bk_table_builder tb;
	struct bk_err err;
	const char *name = jstr(o, "name", NULL);

	if (name == NULL)
		return;
	bk_tb_init(&tb);
	memset(&d, 0, sizeof(d));
	d.name = bk_str_c(name);
	d.type = bk_str_c(jstr(o, "type", "direct"));
	d.durable = jbool(o, "durable", true);
	d.auto_delete = jbool(o, "auto_delete", false);
	d.internal = jbool(o, "internal", false);
	if (!entry_args(o, &tb))
		skipped("exchange", name, "bad arguments");
	else if (d.arguments = bk_tb_view(&tb),
		 bk_exchange_declare(entry_vhost(b, o), &d, &err) != BK_OK)
		skipped("exchange", name, err.text);
	bk_tb_fini(&tb);
}

static void
load_queue(struct bk_broker *b, const cJSON *o)
{
	struct bk_queue_decl d;
	struct bk_table_builder tb;
	struct bk_err err;
	const char *name = jstr(o, "name", NULL);

	if (name == NULL || !jbool(o, "durable", true))
		return;
	bk_tb_init(&tb);
	memset(&d, 0, sizeof(d));
	d.name = bk_str_c(name);
	d.durable = true;
	d.auto_delete = jbool(o, "auto_delete", false);
	if (!entry_args(o, &tb))
		skipped("queue", name, "bad arguments");
	else if (d.arguments = bk_tb_view(&tb),
		 bk_queue_declare(entry_vhost(b, o), &d, NULL, NULL, NULL, &err) != BK_OK)
		skipped("queue", name, err.text);
	bk_tb_fini(&tb);
}

static void
load_binding(struct bk_broker *b, const cJSON *o)
{
	struct bk_binding_decl d;
	struct bk_table_builder tb;
	struct bk_err err;
	const char *src = jstr(o, "source", NULL), *dst = jstr(o, "destination", NULL);

	if (src == NULL || dst == NULL || *src == '\0')
		return;
	bk_tb_init(&tb);
	memset(&d, 0, sizeof(d));
	d.source = bk_str_c(src);
	d.dest = bk_str_c(dst);
	d.dest_is_queue = strcmp(jstr(o, "destination_type", "queue"), "exchange") != 0;
	d.routing_key = bk_str_c(jstr(o, "routing_key", ""));
	if (!entry_args(o, &tb))
		skipped("binding to", dst, "bad arguments");
	else if (d.arguments = bk_tb_view(&tb),
		 bk_bind(entry_vhost(b, o), &d, NULL, &err) != BK_OK)
		skipped("binding to", dst, err.text);
	bk_tb_fini(&tb);
}

static void
load_list(struct bk_broker *b, const cJSON *doc, const char *key,
	  void (*fn)(struct bk_broker *, const cJSON *))
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, key), *it;

	if (!cJSON_IsArray(arr))
		return;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsObject(it))
			fn(b, it);
}

static void
load_vhost(struct bk_broker *b, const cJSON *o)
{
	const char *name = jstr(o, "name", NULL);

	if (name != NULL)
		bk_vhost_new(b, name);
}

/* RabbitMQ writes tags as a list (3.13+) or a comma-separated string. */
static void
user_tags(const cJSON *o, char *buf, size_t cap)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tags"), *it;
	size_t n = 0;

	buf[0] = '\0';
	if (cJSON_IsString(t)) {
		snprintf(buf, cap, "%s", t->valuestring);
		return;
	}
	if (!cJSON_IsArray(t))
		return;
	cJSON_ArrayForEach(it, t)
		if (cJSON_IsString(it) && n < cap)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "",
					      it->valuestring);
}

static void
load_user(struct bk_broker *b, const cJSON *o)
{
	const char *name = jstr(o, "name", NULL);
	const char *alg = jstr(o, "hashing_algorithm", NULL);
	enum bk_hash_algo algo;
	struct bk_err err;
	char tags[512];

	if (name == NULL)
		return;
	user_tags(o, tags, sizeof(tags));
	if (!bk_hash_algo_parse(alg, &algo) ||
	    bk_user_add_hash(b, name, jstr(o, "password_hash", ""), algo, tags,
			     &err) != BK_OK)
		bk_warn("definitions: user '%s' skipped: bad password hash or algorithm",
			name);
}

static void
load_permission(struct bk_broker *b, const cJSON *o)
{
	const char *user = jstr(o, "user", NULL), *vhost = jstr(o, "vhost", NULL);
	struct bk_err err;

	if (user == NULL || vhost == NULL)
		return;
	if (bk_permission_set(b, user, vhost, jstr(o, "configure", ""),
			      jstr(o, "write", ""), jstr(o, "read", ""), &err) != BK_OK)
		bk_warn("definitions: permissions of '%s' on '%s' skipped: %s",
			user, vhost, err.text);
}

int
bk_defs_load(struct bk_broker *b, char *err, size_t errlen)
{
	struct bk_persist *p = b->persist;
	cJSON *doc = NULL;
	char why[512] = "";
	int rc;

	rc = st_defs_read(p->data_dir, &doc, why, sizeof(why));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		if (why[0])
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "cannot read %s/%s: %s", p->data_dir,
				 ST_DEFS_FILE, strerror(-rc));
		return rc;
	}
	load_list(b, doc, "vhosts", load_vhost);
	load_list(b, doc, "users", load_user);
	load_list(b, doc, "permissions", load_permission);
	load_list(b, doc, "exchanges", load_exchange);
	load_list(b, doc, "queues", load_queue);
	load_list(b, doc, "bindings", load_binding);
	cJSON_Delete(doc);
	return 0;
}
