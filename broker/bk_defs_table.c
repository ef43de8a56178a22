/*
 * bk_defs_table.c: field tables (x-arguments, binding arguments) to JSON
 * and back, for the definitions file.
 *
 * RabbitMQ writes arguments as plain JSON values; we do the same:
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
 */
#include "bk_persist.h"

#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#define MAX_DEPTH 16

static cJSON *value_to_json(const struct bk_value *v, int depth);

cJSON *bk_defs_table_to_json(struct bk_table t, int depth);
int bk_defs_table_from_json(const cJSON *obj, struct bk_table_builder *b, int depth);

static cJSON *
str_json(struct bk_str s)
{
	char *c = bk_strndup(s.len ? s.p : "", s.len);
	cJSON *j = cJSON_CreateString(c);

	bk_free(c);
	return j;
}

static cJSON *
array_to_json(struct bk_table a, int depth)
{
	cJSON *arr = cJSON_CreateArray();
	struct bk_value v;
	uint32_t pos = 0;

	while (bk_array_next(a, &pos, &v))
		cJSON_AddItemToArray(arr, value_to_json(&v, depth + 1));
	return arr;
}

static cJSON *
value_to_json(const struct bk_value *v, int depth)
{
	int64_t i;

	if (depth > MAX_DEPTH)
		return cJSON_CreateNull();
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
		return bk_defs_table_to_json(v->u.t, depth + 1);
	case BK_V_ARRAY:
		return array_to_json(v->u.a, depth);
	case BK_V_VOID:
		return cJSON_CreateNull();
	default:
		if (bk_value_int(v, &i))
			return cJSON_CreateNumber((double)i);
		return cJSON_CreateNull();
	}
}

cJSON *
bk_defs_table_to_json(struct bk_table t, int depth)
{
	cJSON *obj = cJSON_CreateObject();
	struct bk_str name;
	struct bk_value v;
	uint32_t pos = 0;

	while (bk_table_next(t, &pos, &name, &v)) {
		char *key = bk_strndup(name.len ? name.p : "", name.len);

		cJSON_AddItemToObject(obj, key, value_to_json(&v, depth));
		bk_free(key);
	}
	return obj;
}

/* One JSON value as a bk_value; nested ones are built in *tmp (owned by
 * the caller, freed after the value was put). 0 or -1. */
static int
json_to_value(const cJSON *j, struct bk_value *v, struct bk_table_builder *tmp,
	      int depth)
{
	const cJSON *it;
	double d;

	memset(v, 0, sizeof(*v));
	if (depth > MAX_DEPTH)
		return -1;
	if (cJSON_IsBool(j)) {
		v->type = BK_V_BOOL;
		v->u.b = cJSON_IsTrue(j);
	} else if (cJSON_IsNumber(j)) {
		d = j->valuedouble;
		if (d == floor(d) && fabs(d) < 9.2e18) {
			v->u.i = (int64_t)d;
			v->type = v->u.i >= INT32_MIN && v->u.i <= INT32_MAX ?
				  BK_V_I32 : BK_V_I64;
		} else {
			v->type = BK_V_DOUBLE;
			v->u.d = d;
		}
	} else if (cJSON_IsString(j)) {
		v->type = BK_V_LSTR;
		v->u.s = bk_str_c(j->valuestring);
	} else if (cJSON_IsNull(j)) {
		v->type = BK_V_VOID;
	} else if (cJSON_IsObject(j)) {
		if (bk_defs_table_from_json(j, tmp, depth + 1) < 0)
			return -1;
		v->type = BK_V_TABLE;
		v->u.t = bk_tb_view(tmp);
	} else if (cJSON_IsArray(j)) {
		cJSON_ArrayForEach(it, j) {
			struct bk_table_builder sub;
			struct bk_value ev;
			int rc;

			bk_tb_init(&sub);
			rc = json_to_value(it, &ev, &sub, depth + 1);
			if (rc == 0)
				bk_tb_put_value(tmp, &ev);
			bk_tb_fini(&sub);
			if (rc < 0)
				return -1;
		}
		v->type = BK_V_ARRAY;
		v->u.a = bk_tb_view(tmp);
	} else {
		return -1;
	}
	return 0;
}

int
bk_defs_table_from_json(const cJSON *obj, struct bk_table_builder *b, int depth)
{
	const cJSON *it;

	if (obj == NULL || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj) || depth > MAX_DEPTH)
		return -1;
	cJSON_ArrayForEach(it, obj) {
		struct bk_table_builder sub;
		struct bk_value v;
		int rc;

		bk_tb_init(&sub);
		rc = json_to_value(it, &v, &sub, depth);
		if (rc == 0)
			bk_tb_put(b, it->string, (uint32_t)strlen(it->string), &v);
		bk_tb_fini(&sub);
		if (rc < 0)
			return -1;
	}
	return 0;
}
