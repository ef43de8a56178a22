/*
 * bk_defs_table.c: field tables (x-arguments, binding arguments, message
 * headers) to JSON and back: the one place that maps the core's table
 * encoding onto JSON, for the definitions file, the definitions import
 * and export, and every JSON body and answer of the management API.
 *
 *   bool            <-> true/false
 *   any integer,    ->  number (integral)
 *   timestamp
 *   float, double,  ->  number
 *   decimal
 *   longstr, bytes  <-> string
 *   table           <-> object
 *   array           <-> array
 *   void            <-> null
 *
 * Reading back, an integral number becomes a signed 32-bit integer ('I')
 * when it fits and a signed 64-bit one ('l') otherwise, the types client
 * libraries (pika, the Java client, rabbitmq-c) send for integers; so an
 * argument stays an integer, and a binding redeclared by the same client
 * after a restart has the same encoded arguments, i.e. the same identity.
 * Other numbers become doubles. The core compares x-arguments by value,
 * so the exact integer width does not matter for queue equivalence.
 *
 * Pure: no broker state; linked by the daemon's config tests too.
 */
#include "broker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Levels of tables and arrays below the top, as bk_table_validate. */
#define MAX_DEPTH 16

static cJSON *table_json(struct bk_table t, int depth);
static int put_json(struct bk_table_builder *b, const char *name, const cJSON *j,
		    int depth, char *path, size_t plen, char *why, size_t whylen);

static cJSON *
str_json(struct bk_str s)
{
	char *c = bk_strndup(s.len ? s.p : "", s.len);
	cJSON *j = cJSON_CreateString(c);

	bk_free(c);
	return j;
}

static cJSON *
value_json(const struct bk_value *v, int depth)
{
	struct bk_value e;
	uint32_t pos = 0;
	cJSON *arr;
	int64_t i;

	if (depth > MAX_DEPTH)
		return cJSON_CreateNull();
	if (bk_value_int(v, &i))
		return cJSON_CreateNumber((double)i);
	switch (v->type) {
	case BK_V_BOOL:
		return cJSON_CreateBool(v->u.b);
	case BK_V_FLOAT:
		return cJSON_CreateNumber((double)v->u.f);
	case BK_V_DOUBLE:
		return cJSON_CreateNumber(v->u.d);
	case BK_V_DECIMAL:
		return cJSON_CreateNumber((double)v->u.dec.value /
					  pow(10.0, (double)v->u.dec.scale));
	case BK_V_LSTR:
	case BK_V_BYTES:
		return str_json(v->u.s);
	case BK_V_TIMESTAMP:
		return cJSON_CreateNumber((double)v->u.ts);
	case BK_V_TABLE:
		return table_json(v->u.t, depth + 1);
	case BK_V_ARRAY:
		arr = cJSON_CreateArray();
		while (bk_array_next(v->u.a, &pos, &e) == 1)
			cJSON_AddItemToArray(arr, value_json(&e, depth + 1));
		return arr;
	default:
		return cJSON_CreateNull();
	}
}

static cJSON *
table_json(struct bk_table t, int depth)
{
	cJSON *obj = cJSON_CreateObject();
	struct bk_str name;
	struct bk_value v;
	uint32_t pos = 0;

	while (bk_table_next(t, &pos, &name, &v) == 1) {
		char *key = bk_strndup(name.len ? name.p : "", name.len);

		cJSON_AddItemToObject(obj, key, value_json(&v, depth));
		bk_free(key);
	}
	return obj;
}

cJSON *
bk_table_to_json(struct bk_table t)
{
	return table_json(t, 0);
}

/* ---- JSON -> table ------------------------------------------------------- */

static int
fail(char *path, char *why, size_t whylen, const char *reason)
{
	snprintf(why, whylen, "%s: %s", path, reason);
	return -EINVAL;
}

/* The members of an object or elements of an array into sub. */
static int
put_children(struct bk_table_builder *sub, const cJSON *j, int depth,
	     char *path, size_t plen, char *why, size_t whylen)
{
	size_t at = strlen(path);
	const cJSON *it;
	int i = 0, rc;

	cJSON_ArrayForEach(it, j) {
		if (cJSON_IsObject(j))
			snprintf(path + at, plen - at, ".%s", it->string);
		else
			snprintf(path + at, plen - at, "[%d]", i++);
		rc = put_json(sub, cJSON_IsObject(j) ? it->string : NULL, it, depth,
			      path, plen, why, whylen);
		if (rc < 0)
			return rc;
		path[at] = '\0';
	}
	return 0;
}

/* One JSON value into b, as entry name (or array element if name NULL). */
static int
put_json(struct bk_table_builder *b, const char *name, const cJSON *j, int depth,
	 char *path, size_t plen, char *why, size_t whylen)
{
	struct bk_value v = { .type = BK_V_VOID };
	struct bk_table_builder sub;
	double d;
	int rc = 0;

	if (name != NULL && strlen(name) > 255)
		return fail(path, why, whylen, "argument name longer than 255 bytes");
	bk_tb_init(&sub);
	if (cJSON_IsBool(j)) {
		v.type = BK_V_BOOL;
		v.u.b = cJSON_IsTrue(j);
	} else if (cJSON_IsNumber(j)) {
		d = j->valuedouble;
		if (d == floor(d) && fabs(d) < 9.2e18) {
			v.u.i = (int64_t)d;
			v.type = v.u.i >= INT32_MIN && v.u.i <= INT32_MAX ? BK_V_I32 : BK_V_I64;
		} else {
			v.type = BK_V_DOUBLE;
			v.u.d = d;
		}
	} else if (cJSON_IsString(j)) {
		v.type = BK_V_LSTR;
		v.u.s = (struct bk_str){ j->valuestring, (uint32_t)strlen(j->valuestring) };
	} else if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
		if (depth >= MAX_DEPTH)
			rc = fail(path, why, whylen, "nested too deeply");
		else
			rc = put_children(&sub, j, depth + 1, path, plen, why, whylen);
		v.type = cJSON_IsObject(j) ? BK_V_TABLE : BK_V_ARRAY;
		v.u.t = bk_tb_view(&sub);       /* u.t and u.a: one layout */
		if (v.type == BK_V_ARRAY)
			v.u.a = bk_tb_view(&sub);
	} else if (!cJSON_IsNull(j)) {
		rc = fail(path, why, whylen, "unsupported JSON value");
	}
	if (rc == 0 && name != NULL)
		bk_tb_put(b, name, (uint32_t)strlen(name), &v);
	else if (rc == 0)
		bk_tb_put_value(b, &v);
	bk_tb_fini(&sub);
	return rc;
}

int
bk_table_from_json(const cJSON *obj, struct bk_table_builder *b, char *why,
		   size_t whylen)
{
	char path[512] = "";
	int rc;

	if (obj == NULL || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj))
		return fail(path, why, whylen, "expected an object");
	if ((rc = put_children(b, obj, 0, path, sizeof(path), why, whylen)) < 0)
		return rc;
	if (bk_table_validate(bk_tb_view(b)) < 0)
		return fail(path, why, whylen, "too large or nested too deeply");
	return 0;
}
