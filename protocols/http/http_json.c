/*
 * http_json.c: JSON <-> the core's values, for bodies and answers.
 *
 * AMQP tables become JSON objects as RabbitMQ's management plugin shows
 * them: integers and floats as numbers, strings as strings, arrays and
 * nested tables recursively, void as null, timestamps as numbers. The
 * other way, a JSON number with no fraction becomes a signed 64-bit
 * integer ('l', as RabbitMQ stores JSON integers), other numbers doubles,
 * strings long strings, true/false booleans. Nesting is bounded by
 * HTTP_JSON_DEPTH, which is below the table validator's own limit.
 */
#include "http_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static cJSON *value_json(const struct bk_value *v, int depth);

static cJSON *
array_json(struct bk_table a, int depth)
{
	cJSON *arr = cJSON_CreateArray();
	struct bk_value v;
	uint32_t pos = 0;

	while (bk_array_next(a, &pos, &v) == 1)
		cJSON_AddItemToArray(arr, value_json(&v, depth + 1));
	return arr;
}

static cJSON *
table_json(struct bk_table t, int depth)
{
	cJSON *o = cJSON_CreateObject();
	struct bk_value v;
	struct bk_str name;
	uint32_t pos = 0;
	char key[256];

	while (bk_table_next(t, &pos, &name, &v) == 1) {
		size_t n = name.len < sizeof(key) - 1 ? name.len : sizeof(key) - 1;

		memcpy(key, name.p, n);
		key[n] = '\0';
		cJSON_AddItemToObject(o, key, value_json(&v, depth + 1));
	}
	return o;
}

static cJSON *
str_json(struct bk_str s)
{
	char *c = bk_malloc((size_t)s.len + 1);
	cJSON *j;

	memcpy(c, s.p, s.len);
	c[s.len] = '\0';
	j = cJSON_CreateString(c);
	bk_free(c);
	return j;
}

static cJSON *
value_json(const struct bk_value *v, int depth)
{
	int64_t i;

	if (depth > 32)
		return cJSON_CreateNull();
	if (bk_value_int(v, &i))
		return cJSON_CreateNumber((double)i);
	switch (v->type) {
	case BK_V_BOOL:
		return cJSON_CreateBool(v->u.b);
	case BK_V_FLOAT:
		return cJSON_CreateNumber(v->u.f);
	case BK_V_DOUBLE:
		return cJSON_CreateNumber(v->u.d);
	case BK_V_DECIMAL:
		return cJSON_CreateNumber(v->u.dec.value / pow(10, v->u.dec.scale));
	case BK_V_LSTR:
	case BK_V_BYTES:
		return str_json(v->u.s);
	case BK_V_TIMESTAMP:
		return cJSON_CreateNumber((double)v->u.ts);
	case BK_V_ARRAY:
		return array_json(v->u.a, depth);
	case BK_V_TABLE:
		return table_json(v->u.t, depth);
	default:
		return cJSON_CreateNull();
	}
}

cJSON *
http_json_table(struct bk_table t)
{
	return table_json(t, 0);
}

static int json_value(const cJSON *j, struct bk_value *v, struct bk_table_builder *tmp,
		      int depth, char *why, size_t whylen);

/* Encode one JSON value into b (as array element when name is NULL). */
static int
put_json(struct bk_table_builder *b, const char *name, const cJSON *j, int depth,
	 char *why, size_t whylen)
{
	struct bk_table_builder tmp;
	struct bk_value v;
	int res;

	bk_tb_init(&tmp);
	if ((res = json_value(j, &v, &tmp, depth, why, whylen)) == 0) {
		if (name != NULL)
			bk_tb_put(b, name, (uint32_t)strlen(name), &v);
		else
			bk_tb_put_value(b, &v);
	}
	bk_tb_fini(&tmp);
	return res;
}

static int
json_value(const cJSON *j, struct bk_value *v, struct bk_table_builder *tmp,
	   int depth, char *why, size_t whylen)
{
	const cJSON *e;
	int res;

	if (depth > HTTP_JSON_DEPTH) {
		snprintf(why, whylen, "arguments nested too deeply");
		return -EINVAL;
	}
	memset(v, 0, sizeof(*v));
	if (cJSON_IsBool(j)) {
		v->type = BK_V_BOOL;
		v->u.b = cJSON_IsTrue(j);
	} else if (cJSON_IsNull(j)) {
		v->type = BK_V_VOID;
	} else if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;

		if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
			v->type = BK_V_I64;
			v->u.i = (int64_t)d;
		} else {
			v->type = BK_V_DOUBLE;
			v->u.d = d;
		}
	} else if (cJSON_IsString(j)) {
		v->type = BK_V_LSTR;
		v->u.s = bk_str_c(j->valuestring);
	} else if (cJSON_IsArray(j)) {
		cJSON_ArrayForEach(e, j)
			if ((res = put_json(tmp, NULL, e, depth + 1, why, whylen)) < 0)
				return res;
		v->type = BK_V_ARRAY;
		v->u.a = bk_tb_view(tmp);
	} else if (cJSON_IsObject(j)) {
		cJSON_ArrayForEach(e, j) {
			if (strlen(e->string) > 255) {
				snprintf(why, whylen, "argument name longer than 255 bytes");
				return -EINVAL;
			}
			if ((res = put_json(tmp, e->string, e, depth + 1, why, whylen)) < 0)
				return res;
		}
		v->type = BK_V_TABLE;
		v->u.t = bk_tb_view(tmp);
	} else {
		snprintf(why, whylen, "unsupported JSON value");
		return -EINVAL;
	}
	return 0;
}

int
http_json_to_table(const cJSON *obj, struct bk_table_builder *b, char *why, size_t whylen)
{
	const cJSON *e;
	int res;

	if (obj == NULL || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj)) {
		snprintf(why, whylen, "arguments must be an object");
		return -EINVAL;
	}
	cJSON_ArrayForEach(e, obj) {
		if (strlen(e->string) > 255) {
			snprintf(why, whylen, "argument name longer than 255 bytes");
			return -EINVAL;
		}
		if ((res = put_json(b, e->string, e, 1, why, whylen)) < 0)
			return res;
	}
	if (bk_table_validate(bk_tb_view(b)) < 0) {
		snprintf(why, whylen, "arguments too large or nested too deeply");
		return -EINVAL;
	}
	return 0;
}

void
http_json_count(cJSON *obj, const char *name, double n, double rate)
{
	char details[96];

	cJSON_AddNumberToObject(obj, name, n);
	snprintf(details, sizeof(details), "%s_details", name);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(obj, details), "rate", rate);
}

cJSON *
http_json_msg_stats(const struct bk_msg_stats *ms, const struct bk_msg_rates *r,
		    uint32_t mask, bool with_deliver_get)
{
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; i < BK_MS__COUNT; i++) {
		if (!(mask & (1u << i)))
			continue;
		http_json_count(o, bk_mstat_name((enum bk_mstat)i), (double)ms->n[i],
				r ? r->r[i] : 0.0);
	}
	if (with_deliver_get)
		http_json_count(o, "deliver_get", (double)bk_msg_stats_deliver_get(ms),
				r ? bk_msg_rates_deliver_get(r) : 0.0);
	return o;
}

cJSON *
http_json_tags(const char *tags)
{
	cJSON *arr = cJSON_CreateArray();
	const char *p = tags ? tags : "";

	while (*p != '\0') {
		size_t n = strcspn(p, ", ");

		if (n > 0) {
			char *t = bk_malloc(n + 1);

			memcpy(t, p, n);
			t[n] = '\0';
			cJSON_AddItemToArray(arr, cJSON_CreateString(t));
			bk_free(t);
		}
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return arr;
}

bool
http_json_bool(struct http_req *r, const cJSON *o, const char *k, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return true;
	}
	/* RabbitMQ's UI sends "true"/"false" strings from forms */
	if (cJSON_IsString(v) && (strcmp(v->valuestring, "true") == 0 ||
				  strcmp(v->valuestring, "false") == 0)) {
		*out = strcmp(v->valuestring, "true") == 0;
		return true;
	}
	http_reply_bad_request(r, "'%s' must be a boolean", k);
	return false;
}

bool
http_json_string(struct http_req *r, const cJSON *o, const char *k, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (cJSON_IsString(v)) {
		*out = v->valuestring;
		return true;
	}
	http_reply_bad_request(r, "'%s' must be a string", k);
	return false;
}

bool
http_json_object(struct http_req *r, const cJSON *o, const char *k, const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (cJSON_IsObject(v)) {
		*out = v;
		return true;
	}
	/* rabbitmqadmin sends "arguments": [] when none were given... no:
	 * it sends {}; an empty array is accepted as "none" too */
	if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)
		return true;
	http_reply_bad_request(r, "'%s' must be an object", k);
	return false;
}

void
http_url_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}
