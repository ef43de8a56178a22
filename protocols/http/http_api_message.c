/*
 * http_api_message.c: messages over HTTP, for inspection and tests:
 * POST /api/exchanges/VHOST/NAME/publish and POST /api/queues/VHOST/NAME/get.
 *
 * Both speak RabbitMQ's message JSON: properties by their AMQP names
 * (headers as an object), payload as a string with payload_encoding
 * "string" (UTF-8) or "base64". A get takes up to count messages at once
 * and only then settles them all (requeue keeps their order), so count
 * messages are distinct even with a requeueing ackmode. It takes no
 * further message once the payloads it holds would print as
 * GET_PAYLOAD_MAX octets of JSON: count messages of 16 MB whose every
 * octet JSON escapes as "\u0001" were count * 96 MB of answer (ten
 * such messages: 503 MB, 1 GB of RSS, 7 s of the event loop).
 */
#include "http_int.h"
#include "bk_utf8.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET_COUNT_MAX 10000
#define GET_PAYLOAD_MAX (32u << 20)

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const uint8_t *p, size_t n)
{
	char *out = bk_malloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Decode base64 (whitespace skipped). Length, or -1 if malformed. */
static long
b64_decode(const char *s, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	long n = 0;

	for (; *s != '\0'; s++) {
		const char *c;

		if (*s == '=' || *s == '\n' || *s == '\r' || *s == ' ')
			continue;
		if ((c = strchr(b64, *s)) == NULL)
			return -1;
		acc = (acc << 6) | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

/* A payload goes out as a JSON string only when it is UTF-8 (RFC 3629:
 * the JSON reply would turn any other byte into U+FFFD) without NUL (the
 * JSON writer stops at NUL); base64 otherwise. */
static bool
utf8_valid(const uint8_t *p, size_t n)
{
	size_t k;

	for (size_t i = 0; i < n; i += k)
		if (p[i] == 0 || (k = bk_utf8_len(p + i, n - i)) == 0)
			return false;
	return true;
}

static void
add_str(cJSON *o, const char *k, struct bk_str s)
{
	char *c = bk_malloc((size_t)s.len + 1);

	memcpy(c, s.p, s.len);
	c[s.len] = '\0';
	cJSON_AddStringToObject(o, k, c);
	bk_free(c);
}

static cJSON *
props_json(const struct bk_props *p)
{
	cJSON *o = cJSON_CreateObject();

	if (p->present & BK_P_CONTENT_TYPE)
		add_str(o, "content_type", p->content_type);
	if (p->present & BK_P_CONTENT_ENCODING)
		add_str(o, "content_encoding", p->content_encoding);
	if (p->present & BK_P_HEADERS)
		cJSON_AddItemToObject(o, "headers", http_json_table(p->headers));
	if (p->present & BK_P_DELIVERY_MODE)
		cJSON_AddNumberToObject(o, "delivery_mode", p->delivery_mode);
	if (p->present & BK_P_PRIORITY)
		cJSON_AddNumberToObject(o, "priority", p->priority);
	if (p->present & BK_P_CORRELATION_ID)
		add_str(o, "correlation_id", p->correlation_id);
	if (p->present & BK_P_REPLY_TO)
		add_str(o, "reply_to", p->reply_to);
	if (p->present & BK_P_EXPIRATION)
		add_str(o, "expiration", p->expiration);
	if (p->present & BK_P_MESSAGE_ID)
		add_str(o, "message_id", p->message_id);
	if (p->present & BK_P_TIMESTAMP)
		cJSON_AddNumberToObject(o, "timestamp", (double)p->timestamp);
	if (p->present & BK_P_TYPE)
		add_str(o, "type", p->type);
	if (p->present & BK_P_USER_ID)
		add_str(o, "user_id", p->user_id);
	if (p->present & BK_P_APP_ID)
		add_str(o, "app_id", p->app_id);
	if (p->present & BK_P_CLUSTER_ID)
		add_str(o, "cluster_id", p->cluster_id);
	return o;
}

/* The octets cJSON prints for the string p[0..n): controls it escapes
 * as "\n" or "\u00XX", '"' and '\\' as two. */
static size_t
json_string_len(const uint8_t *p, size_t n)
{
	size_t len = n + 2;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\' || p[i] == '\b' || p[i] == '\f' ||
		    p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
			len += 1;
		else if (p[i] < 0x20)
			len += 5;
	}
	return len;
}

/* One message's JSON; *printed grows by what its payload will print as. */
static cJSON *
message_json(const struct bk_delivery *d, uint32_t left, bool base64, long truncate,
	     size_t *printed)
{
	const struct bk_msg *m = d->msg;
	size_t n = m->body_len;
	cJSON *o = cJSON_CreateObject();

	if (truncate >= 0 && (size_t)truncate < n)
		n = (size_t)truncate;
	cJSON_AddNumberToObject(o, "payload_bytes", (double)m->body_len);
	cJSON_AddBoolToObject(o, "redelivered", d->redelivered);
	add_str(o, "exchange", bk_msg_exchange(m));
	add_str(o, "routing_key", bk_msg_rk(m));
	cJSON_AddNumberToObject(o, "message_count", left);
	cJSON_AddItemToObject(o, "properties", props_json(bk_msg_props(m)));
	if (!base64 && utf8_valid(bk_msg_body(m), n)) {
		add_str(o, "payload", (struct bk_str){ (const char *)bk_msg_body(m), (uint32_t)n });
		cJSON_AddStringToObject(o, "payload_encoding", "string");
		*printed += json_string_len(bk_msg_body(m), n);
	} else {
		char *s = b64_encode(bk_msg_body(m), n);

		cJSON_AddStringToObject(o, "payload", s);
		cJSON_AddStringToObject(o, "payload_encoding", "base64");
		bk_free(s);
		*printed += (n + 2) / 3 * 4 + 2;
	}
	return o;
}

/* A JSON number as a long, saturated: converting a double outside long's
 * range (1e34, say) is undefined behaviour in C. */
static long
json_long(double d)
{
	if (!(d > (double)LONG_MIN))            /* NaN too */
		return LONG_MIN;
	if (d >= (double)LONG_MAX)
		return LONG_MAX;
	return (long)d;
}

/* "count" (1..GET_COUNT_MAX, default 1) and "truncate" (-1 = none) of a
 * /get body. false after a 400. */
static bool
get_limits(struct http_req *r, const cJSON *body, long *count, long *truncate)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "count");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "truncate");

	if (c != NULL && !cJSON_IsNumber(c) && !cJSON_IsString(c)) {
		http_reply_bad_request(r, "'count' must be an integer");
		return false;
	}
	if (c != NULL)
		*count = cJSON_IsNumber(c) ? json_long(c->valuedouble)
					   : strtol(c->valuestring, NULL, 10);
	if (t != NULL && cJSON_IsNumber(t))
		*truncate = json_long(t->valuedouble);
	else if (t != NULL && cJSON_IsString(t) && *t->valuestring != '\0')
		*truncate = strtol(t->valuestring, NULL, 10);
	if (*count < 1 || *count > GET_COUNT_MAX) {
		http_reply_bad_request(r, "'count' must be 1..%d", GET_COUNT_MAX);
		return false;
	}
	return true;
}

/* How a /get settles what it fetched: "ackmode", or the older "requeue"
 * when ackmode is NULL. false after a 400. */
static bool
get_settle(struct http_req *r, const cJSON *body, const char *ackmode, enum bk_settle *how)
{
	if (ackmode == NULL) {
		/* older clients send "requeue": true|false */
		bool requeue = true;

		if (!http_json_bool(r, body, "requeue", &requeue))
			return false;
		*how = requeue ? BK_SETTLE_REQUEUE : BK_SETTLE_ACK;
	} else if (strcmp(ackmode, "ack_requeue_true") == 0 ||
		   strcmp(ackmode, "reject_requeue_true") == 0) {
		*how = BK_SETTLE_REQUEUE;
	} else if (strcmp(ackmode, "ack_requeue_false") == 0) {
		*how = BK_SETTLE_ACK;
	} else if (strcmp(ackmode, "reject_requeue_false") == 0) {
		*how = BK_SETTLE_REJECT;
	} else {
		http_reply_bad_request(r, "invalid ackmode '%s'", ackmode);
		return false;
	}
	return true;
}

void
http_api_queue_get(struct http_req *r, struct bk_vhost *vh)
{
	const char *ackmode = NULL, *encoding = "auto";
	struct bk_delivery **ds = NULL;
	enum bk_settle how;
	struct bk_queue *q;
	struct bk_err err;
	cJSON *body, *arr;
	long count = 1, truncate = -1, got = 0;
	size_t printed = 0;
	uint32_t left = 0;

	if ((body = http_body_json(r)) == NULL)
		return;
	if (!http_json_string(r, body, "ackmode", &ackmode) ||
	    !http_json_string(r, body, "encoding", &encoding) ||
	    !get_limits(r, body, &count, &truncate) ||
	    !get_settle(r, body, ackmode, &how))
		goto out;
	if (strcmp(encoding, "auto") != 0 && strcmp(encoding, "base64") != 0) {
		http_reply_bad_request(r, "invalid encoding '%s'", encoding);
		goto out;
	}
	if (bk_queue_lookup(vh, bk_str_c(r->seg[2]), http_owner, &q, &err) != BK_OK) {
		http_reply_status(r, &err);
		goto out;
	}
	ds = bk_calloc((size_t)count, sizeof(*ds));
	arr = cJSON_CreateArray();
	for (got = 0; got < count && printed < GET_PAYLOAD_MAX; got++) {
		if (bk_queue_get_one(q, false, &ds[got], &left) != BK_OK || ds[got] == NULL)
			break;
		cJSON_AddItemToArray(arr, message_json(ds[got], left,
						       strcmp(encoding, "base64") == 0,
						       truncate, &printed));
	}
	/* settle after the walk: a requeued message must not come back in
	 * this same answer */
	for (long i = 0; i < got; i++)
		bk_delivery_settle(ds[i], how);
	http_reply_json(r, 200, arr);
out:
	bk_free(ds);
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------- */
/* publish                                                           */
/* ---------------------------------------------------------------- */

static bool
prop_str(struct http_req *r, const cJSON *p, const char *k, uint32_t bit,
	 struct bk_str *dst, uint32_t *present)
{
	const char *s = NULL;

	if (!http_json_string(r, p, k, &s))
		return false;
	if (s != NULL) {
		if (strlen(s) > 255) {
			http_reply_bad_request(r, "property '%s' longer than 255 bytes", k);
			return false;
		}
		*dst = bk_str_c(s);
		*present |= bit;
	}
	return true;
}

static bool
prop_int(struct http_req *r, const cJSON *p, const char *k, long lo, long hi, long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	if (v == NULL || cJSON_IsNull(v))
		return false;
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
		http_reply_bad_request(r, "invalid property '%s'", k);
		*out = -1;
		return false;
	}
	*out = (long)v->valuedouble;
	return true;
}

/* Fill props from the JSON properties object. false after a 400. */
static bool
parse_props(struct http_req *r, const cJSON *p, struct bk_props *props,
	    struct bk_table_builder *headers)
{
	const cJSON *h = NULL;
	char why[256];
	uint64_t ms;
	long v = 0;

	if (p == NULL)
		return true;
	if (!prop_str(r, p, "content_type", BK_P_CONTENT_TYPE, &props->content_type, &props->present) ||
	    !prop_str(r, p, "content_encoding", BK_P_CONTENT_ENCODING, &props->content_encoding, &props->present) ||
	    !prop_str(r, p, "correlation_id", BK_P_CORRELATION_ID, &props->correlation_id, &props->present) ||
	    !prop_str(r, p, "reply_to", BK_P_REPLY_TO, &props->reply_to, &props->present) ||
	    !prop_str(r, p, "expiration", BK_P_EXPIRATION, &props->expiration, &props->present) ||
	    !prop_str(r, p, "message_id", BK_P_MESSAGE_ID, &props->message_id, &props->present) ||
	    !prop_str(r, p, "type", BK_P_TYPE, &props->type, &props->present) ||
	    !prop_str(r, p, "user_id", BK_P_USER_ID, &props->user_id, &props->present) ||
	    !prop_str(r, p, "app_id", BK_P_APP_ID, &props->app_id, &props->present) ||
	    !prop_str(r, p, "cluster_id", BK_P_CLUSTER_ID, &props->cluster_id, &props->present))
		return false;
	if ((props->present & BK_P_EXPIRATION) && bk_expiration_parse(props->expiration, &ms) < 0) {
		http_reply_bad_request(r, "invalid expiration '%.*s'",
				       (int)props->expiration.len, props->expiration.p);
		return false;
	}
	if (prop_int(r, p, "delivery_mode", 1, 2, &v)) {
		props->delivery_mode = (uint8_t)v;
		props->present |= BK_P_DELIVERY_MODE;
	} else if (v < 0) {
		return false;
	}
	if (prop_int(r, p, "priority", 0, 255, &v)) {
		props->priority = (uint8_t)v;
		props->present |= BK_P_PRIORITY;
	} else if (v < 0) {
		return false;
	}
	if (prop_int(r, p, "timestamp", 0, 9.2e15, &v)) {
		props->timestamp = (uint64_t)v;
		props->present |= BK_P_TIMESTAMP;
	} else if (v < 0) {
		return false;
	}
	if (!http_json_object(r, p, "headers", &h))
		return false;
	if (h != NULL) {
		if (http_json_to_table(h, headers, why, sizeof(why)) < 0) {
			http_reply_bad_request(r, "%s", why);
			return false;
		}
		props->headers = bk_tb_view(headers);
		props->present |= BK_P_HEADERS;
	}
	return true;
}

/*
 * As a channel of the caller's would: write on the exchange and topic
 * permissions (non-administrators), and for everyone a user_id property
 * that names the caller (RabbitMQ refuses impersonation with 406).
 */
static bool
publish_allowed(struct http_req *r, struct bk_vhost *vh, struct bk_str x,
		const struct bk_props *props, struct bk_str rk)
{
	struct bk_err err;

	if ((props->present & BK_P_USER_ID) && !bk_str_eq_c(props->user_id, r->user)) {
		http_reply_bad_request(r, "user_id property set to '%.*s' but authenticated "
				       "user was '%s'", (int)props->user_id.len,
				       props->user_id.p, r->user);
		return false;
	}
	return r->who == NULL ||
	       http_permitted(r, bk_access_publish(vh, r->who, x, rk, NULL, &err), &err);
}

void
http_api_exchange_publish(struct http_req *r, struct bk_vhost *vh)
{
	const char *rk = NULL, *payload = NULL, *enc = "string";
	struct bk_str xname = http_exchange_arg(r->seg[2]);
	struct bk_table_builder headers;
	struct bk_props props = { 0 };
	struct bk_route_result res;
	const cJSON *p = NULL;
	struct bk_msg *m = NULL;
	struct bk_err err;
	cJSON *body, *o;
	size_t plen;

	if ((body = http_body_json(r)) == NULL)
		return;
	bk_tb_init(&headers);
	if (!http_json_string(r, body, "routing_key", &rk) ||
	    !http_json_string(r, body, "payload", &payload) ||
	    !http_json_string(r, body, "payload_encoding", &enc) ||
	    !http_json_object(r, body, "properties", &p) ||
	    !parse_props(r, p, &props, &headers))
		goto out;
	if (rk == NULL || payload == NULL) {
		http_reply_bad_request(r, "'routing_key' and 'payload' are required");
		goto out;
	}
	if (strlen(rk) > 255) {
		http_reply_bad_request(r, "routing key longer than 255 bytes");
		goto out;
	}
	if (strcmp(enc, "string") != 0 && strcmp(enc, "base64") != 0) {
		http_reply_bad_request(r, "invalid payload_encoding '%s'", enc);
		goto out;
	}
	plen = strlen(payload);
	if (strcmp(enc, "base64") == 0)
		plen = plen / 4 * 3 + 3;
	if (plen > bk_broker_limits(r->l->broker)->max_message_size + 3) {
		http_reply_bad_request(r, "message size exceeds the maximum");
		goto out;
	}
	m = bk_msg_new(xname, bk_str_c(rk), &props, plen);
	if (strcmp(enc, "base64") == 0) {
		long n = b64_decode(payload, bk_msg_body(m));

		if (n < 0) {
			http_reply_bad_request(r, "payload is not valid base64");
			goto out;
		}
		m = bk_msg_body_resize(m, (size_t)n);
	} else {
		memcpy(bk_msg_body(m), payload, plen);
	}
	if (props.delivery_mode == 2)
		m->flags |= BK_MSG_PERSISTENT;
	if (!publish_allowed(r, vh, xname, &props, bk_str_c(rk)))
		goto out;
	if (bk_publish(vh, xname, m, &res, &err) != BK_OK) {
		http_reply_status(r, &err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "routed", res.queues > 0 || res.direct_reply);
	http_reply_json(r, 200, o);
out:
	bk_msg_unref(m);
	bk_tb_fini(&headers);
	cJSON_Delete(body);
}
