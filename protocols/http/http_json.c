/*
 * http_json.c: JSON <-> the core's values, for bodies and answers.
 *
 * AMQP tables to JSON and back go through the core's codec
 * (bk_table_to_json, bk_table_from_json: the same mapping as the
 * definitions file); this file adds the API's error wording.
 */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

cJSON *
http_json_table(struct bk_table t)
{
	return bk_table_to_json(t);
}

int
http_json_to_table(const cJSON *obj, struct bk_table_builder *b, char *why, size_t whylen)
{
	char sub[400];

	if (bk_table_from_json(obj, b, sub, sizeof(sub)) == 0)
		return 0;
	snprintf(why, whylen, "arguments%s", sub);
	return -EINVAL;
}

cJSON *
http_json_tags(const char *tags)
{
	return bk_defs_tags_json(tags);
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
