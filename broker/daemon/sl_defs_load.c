/*
 * sl_defs_load.c: load_definitions = FILE, a RabbitMQ definitions document
 * (what `rabbitmqctl export_definitions` and GET /api/definitions write),
 * read into the same struct sl_topo as the file's own sections, so one
 * apply step (sl_topology_apply.c) serves both.
 *
 * Read: vhosts, users (password_hash with hashing_algorithm, or a plain
 * password), permissions, exchanges, queues, bindings. Ignored with a
 * warning: parameters, global_parameters, policies, topic_permissions.
 * Unknown members (rabbit_version, limits, metadata, ...) are skipped as
 * RabbitMQ's newer exports carry many. Built-in exchanges ("" and amq.*)
 * and bindings from the default exchange are skipped: every vhost has them.
 *
 * Every refusal names the JSON path of the value:
 *   defs.json: queues[3].arguments.x-max-length: expected an integer
 * and malformed JSON names the line and column where parsing stopped.
 */
#include "sl_topology.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define MAX_FILE (256u << 20)           /* larger than any sane export */
#define MAX_DEPTH 16

struct jl {
	struct sl_topo *t;
	const char *path;
	char *err;
	size_t errlen;
	char at[128];                   /* "queues[3]" */
};

static int
fail(struct jl *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "PATH: AT" + fmt. Always -EINVAL. */
static int
fail(struct jl *j, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(j->err, j->errlen, "%s: %s%s", j->path, j->at, msg);
	return -EINVAL;
}

/* Member k of o as a string: 0 (*out NULL when absent and optional). */
static int
get_str(struct jl *j, const cJSON *o, const char *k, bool required, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	*out = NULL;
	if (cJSON_IsString(v)) {
		*out = v->valuestring;
		return 0;
	}
	if (v == NULL || cJSON_IsNull(v))
		return required ? fail(j, ": missing '%s'", k) : 0;
	return fail(j, ".%s: expected a string", k);
}

static int
get_bool(struct jl *j, const cJSON *o, const char *k, bool dflt, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	*out = dflt;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fail(j, ".%s: expected true or false", k);
	*out = cJSON_IsTrue(v);
	return 0;
}

static bool
json_int(const cJSON *v, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (d != floor(d) || fabs(d) > 9007199254740992.0)   /* 2^53 */
		return false;
	*out = (int64_t)d;
	return true;
}

static int put_json(struct jl *j, struct bk_table_builder *b, const char *key,
		    const cJSON *v, int depth);

/* A nested object or array, built in its own builder then put as one value. */
static int
put_nested(struct jl *j, struct bk_table_builder *b, const char *key,
	   const cJSON *v, int depth)
{
	struct bk_table_builder sub;
	struct bk_value val = { .type = cJSON_IsObject(v) ? BK_V_TABLE : BK_V_ARRAY };
	const cJSON *it;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return fail(j, ".%s: nested too deeply", key);
	bk_tb_init(&sub);
	cJSON_ArrayForEach(it, v) {
		if ((rc = put_json(j, &sub, cJSON_IsObject(v) ? it->string : NULL, it,
				   depth + 1)) < 0)
			break;
	}
	if (rc == 0) {
		if (val.type == BK_V_TABLE)
			val.u.t = bk_tb_view(&sub);
		else
			val.u.a = bk_tb_view(&sub);
		if (key != NULL)
			bk_tb_put(b, key, (uint32_t)strlen(key), &val);
		else
			bk_tb_put_value(b, &val);
	}
	bk_tb_fini(&sub);
	return rc;
}

/* One JSON value into b, as table entry key (or array element if key NULL). */
static int
put_json(struct jl *j, struct bk_table_builder *b, const char *key, const cJSON *v,
	 int depth)
{
	struct bk_value val = { .type = BK_V_VOID };
	int64_t i;

	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		return put_nested(j, b, key, v, depth);
	if (cJSON_IsBool(v)) {
		val.type = BK_V_BOOL;
		val.u.b = cJSON_IsTrue(v);
	} else if (json_int(v, &i)) {
		val.type = i >= INT32_MIN && i <= INT32_MAX ? BK_V_I32 : BK_V_I64;
		val.u.i = i;
	} else if (cJSON_IsNumber(v)) {
		val.type = BK_V_DOUBLE;
		val.u.d = v->valuedouble;
	} else if (cJSON_IsString(v)) {
		val.type = BK_V_LSTR;
		val.u.s = (struct bk_str){ v->valuestring, (uint32_t)strlen(v->valuestring) };
	}
	if (key != NULL)
		bk_tb_put(b, key, (uint32_t)strlen(key), &val);
	else
		bk_tb_put_value(b, &val);
	return 0;
}

/* o.arguments into dst, with RabbitMQ's types for the well-known keys. */
static int
get_args(struct jl *j, const cJSON *o, struct bk_table_builder *dst)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "arguments"), *it;
	int64_t i;

	if (a == NULL || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsObject(a))
		return fail(j, ".arguments: expected an object");
	cJSON_ArrayForEach(it, a) {
		char type = sl_topo_arg_type(it->string);

		if (strlen(it->string) > 255)
			return fail(j, ".arguments: argument name longer than 255 characters");
		if (type == 'i' && !json_int(it, &i))
			return fail(j, ".arguments.%s: expected an integer", it->string);
		if (type == 'b' && !cJSON_IsBool(it))
			return fail(j, ".arguments.%s: expected true or false", it->string);
		if (type == 's' && !cJSON_IsString(it))
			return fail(j, ".arguments.%s: expected a string", it->string);
		if (put_json(j, dst, it->string, it, 0) < 0)
			return -EINVAL;
	}
	return 0;
}

static struct sl_topo_obj *
add(struct jl *j, enum sl_topo_kind kind)
{
	char where[320];
	struct sl_topo_obj *o;

	snprintf(where, sizeof(where), "%s: %s", j->path, j->at);
	o = sl_topo_add(j->t, kind, where);
	o->from_json = true;
	return o;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? bk_strdup(s) : NULL;
}

/* ---------------------------------------------------------------- */
/* Entries                                                           */
/* ---------------------------------------------------------------- */

static int
load_vhost(struct jl *j, const cJSON *e)
{
	const char *name;

	if (get_str(j, e, "name", true, &name) < 0)
		return -EINVAL;
	add(j, SL_T_VHOST)->name = bk_strdup(name);
	return 0;
}

/* RabbitMQ 3.13+ writes tags as a list, older versions as "a,b". */
static int
get_tags(struct jl *j, const cJSON *e, char *buf, size_t cap)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "tags"), *it;
	size_t n = 0;

	buf[0] = '\0';
	if (t == NULL || cJSON_IsNull(t))
		return 0;
	if (cJSON_IsString(t)) {
		snprintf(buf, cap, "%s", t->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(t))
		return fail(j, ".tags: expected a list of strings");
	cJSON_ArrayForEach(it, t) {
		if (!cJSON_IsString(it))
			return fail(j, ".tags: expected a list of strings");
		if (n + strlen(it->valuestring) + 2 > cap)
			return fail(j, ".tags: too long");
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "", it->valuestring);
	}
	return 0;
}

static int
load_user(struct jl *j, const cJSON *e)
{
	const char *name, *hash, *algo, *pw;
	struct sl_topo_obj *o;
	char tags[1024];

	if (get_str(j, e, "name", true, &name) < 0 ||
	    get_str(j, e, "password_hash", false, &hash) < 0 ||
	    get_str(j, e, "hashing_algorithm", false, &algo) < 0 ||
	    get_str(j, e, "password", false, &pw) < 0 ||
	    get_tags(j, e, tags, sizeof(tags)) < 0)
		return -EINVAL;
	o = add(j, SL_T_USER);
	o->name = bk_strdup(name);
	o->password_hash = dup_or_null(hash);
	o->hashing_algorithm = dup_or_null(algo);
	o->password = dup_or_null(pw);
	o->tags = bk_strdup(tags);
	return 0;
}

static int
load_permission(struct jl *j, const cJSON *e)
{
	const char *user, *vhost, *c, *w, *r;
	struct sl_topo_obj *o;

	if (get_str(j, e, "user", true, &user) < 0 ||
	    get_str(j, e, "vhost", true, &vhost) < 0 ||
	    get_str(j, e, "configure", true, &c) < 0 ||
	    get_str(j, e, "write", true, &w) < 0 ||
	    get_str(j, e, "read", true, &r) < 0)
		return -EINVAL;
	o = add(j, SL_T_PERMISSION);
	o->name = bk_strdup(user);
	o->vhost = bk_strdup(vhost);
	o->configure = bk_strdup(c);
	o->write = bk_strdup(w);
	o->read = bk_strdup(r);
	return 0;
}

static int
load_exchange(struct jl *j, const cJSON *e)
{
	static const char *const xtypes[] = { "direct", "fanout", "topic", "headers" };
	const char *name, *vhost, *type;
	struct sl_topo_obj *o;
	bool durable, ad, internal;
	size_t i;

	if (get_str(j, e, "name", true, &name) < 0 ||
	    get_str(j, e, "vhost", false, &vhost) < 0 ||
	    get_str(j, e, "type", true, &type) < 0 ||
	    get_bool(j, e, "durable", true, &durable) < 0 ||
	    get_bool(j, e, "auto_delete", false, &ad) < 0 ||
	    get_bool(j, e, "internal", false, &internal) < 0)
		return -EINVAL;
	for (i = 0; i < 4 && strcmp(type, xtypes[i]) != 0; i++)
		;
	if (i == 4)
		return fail(j, ".type: unknown exchange type '%s' (expected direct, "
			    "fanout, topic or headers)", type);
	if (name[0] == '\0' || strncmp(name, "amq.", 4) == 0)
		return 0;               /* built in */
	o = add(j, SL_T_EXCHANGE);
	o->name = bk_strdup(name);
	o->vhost = dup_or_null(vhost);
	o->type = bk_strdup(type);
	o->durable = durable;
	o->auto_delete = ad;
	o->internal = internal;
	return get_args(j, e, &o->args);
}

static int
load_queue(struct jl *j, const cJSON *e)
{
	const char *name, *vhost;
	struct sl_topo_obj *o;
	bool durable, ad;

	if (get_str(j, e, "name", true, &name) < 0 ||
	    get_str(j, e, "vhost", false, &vhost) < 0 ||
	    get_bool(j, e, "durable", true, &durable) < 0 ||
	    get_bool(j, e, "auto_delete", false, &ad) < 0)
		return -EINVAL;
	if (name[0] == '\0')
		return fail(j, ".name: a queue needs a name");
	o = add(j, SL_T_QUEUE);
	o->name = bk_strdup(name);
	o->vhost = dup_or_null(vhost);
	o->durable = durable;
	o->auto_delete = ad;
	return get_args(j, e, &o->args);
}

static int
load_binding(struct jl *j, const cJSON *e)
{
	const char *src, *vhost, *dst, *dtype, *rk;
	struct sl_topo_obj *o;

	if (get_str(j, e, "source", true, &src) < 0 ||
	    get_str(j, e, "vhost", false, &vhost) < 0 ||
	    get_str(j, e, "destination", true, &dst) < 0 ||
	    get_str(j, e, "destination_type", true, &dtype) < 0 ||
	    get_str(j, e, "routing_key", false, &rk) < 0)
		return -EINVAL;
	if (strcmp(dtype, "queue") != 0 && strcmp(dtype, "exchange") != 0)
		return fail(j, ".destination_type: expected \"queue\" or \"exchange\"");
	if (src[0] == '\0')
		return 0;               /* the default exchange's implicit bindings */
	o = add(j, SL_T_BINDING);
	o->name = bk_strdup(j->at);
	o->vhost = dup_or_null(vhost);
	o->source = bk_strdup(src);
	o->destination = bk_strdup(dst);
	o->dest_is_exchange = strcmp(dtype, "exchange") == 0;
	o->routing_key = bk_strdup(rk != NULL ? rk : "");
	return get_args(j, e, &o->args);
}

static const struct {
	const char *key;
	int (*fn)(struct jl *j, const cJSON *e);
} lists[] = {
	{ "vhosts", load_vhost }, { "users", load_user },
	{ "permissions", load_permission }, { "exchanges", load_exchange },
	{ "queues", load_queue }, { "bindings", load_binding },
};

static const char *const ignored[] = {
	"parameters", "global_parameters", "policies", "topic_permissions",
};

static int
load_doc(struct jl *j, const cJSON *doc)
{
	const cJSON *arr, *e;
	int idx;

	if (!cJSON_IsObject(doc))
		return fail(j, "expected a JSON object at the top");
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		arr = cJSON_GetObjectItemCaseSensitive(doc, lists[i].key);
		snprintf(j->at, sizeof(j->at), "%s", lists[i].key);
		if (arr == NULL || cJSON_IsNull(arr))
			continue;
		if (!cJSON_IsArray(arr))
			return fail(j, ": expected a list");
		idx = 0;
		cJSON_ArrayForEach(e, arr) {
			snprintf(j->at, sizeof(j->at), "%s[%d]", lists[i].key, idx++);
			if (!cJSON_IsObject(e))
				return fail(j, ": expected an object");
			if (lists[i].fn(j, e) < 0)
				return -EINVAL;
		}
	}
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		arr = cJSON_GetObjectItemCaseSensitive(doc, ignored[i]);
		if (cJSON_GetArraySize(arr) > 0)
			sl_topo_note(j->t, "%s: %d %s ignored (not supported)", j->path,
				     cJSON_GetArraySize(arr), ignored[i]);
	}
	return 0;
}

/* The whole file into a NUL-terminated buffer (owned). 0 or -errno. */
static int
read_all(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	if (f == NULL)
		return -errno;
	rc = 0;
	if (fstat(fileno(f), &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if ((uint64_t)st.st_size > MAX_FILE)
		rc = -EFBIG;
	if (rc < 0) {
		fclose(f);
		return rc;
	}
	buf = bk_malloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc < 0) {
		bk_free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int
sl_defs_load(struct sl_topo *t, const char *path, char *err, size_t errlen)
{
	struct jl j = { t, path, err, errlen, "" };
	const char *end = NULL;
	cJSON *doc;
	char *buf = NULL;
	size_t len = 0;
	int rc, line = 1, col = 1;

	if ((rc = read_all(path, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: cannot read definitions: %s", path,
			 strerror(-rc));
		return rc;
	}
	/* len + 1: cJSON wants to see the NUL to accept the end */
	doc = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (doc == NULL) {
		if (end == NULL || end < buf || end > buf + len)
			end = buf + len;
		for (const char *p = buf; p < end; p++, col++)
			if (*p == '\n') {
				line++;
				col = 0;
			}
		snprintf(err, errlen, "%s:%d:%d: malformed JSON (byte %zu)", path, line,
			 col, (size_t)(end - buf));
		bk_free(buf);
		return -EINVAL;
	}
	rc = load_doc(&j, doc);
	cJSON_Delete(doc);
	bk_free(buf);
	return rc;
}
