/*
 * cl_etcd.c: the few etcd v3 calls a cluster needs, through etcd's JSON
 * gateway (POST /v3/..., keys and values base64, 64-bit numbers as
 * strings), with libcurl's easy interface: blocking, one call at a time,
 * on the etcd thread only. Memory is malloc'd (cJSON's and libcurl's
 * defaults), never bk_malloc: this is not the main thread.
 *
 * Keys under the prefix P:
 *   P/leader         "NAME HOST PORT" of the leader, on its lease
 *   P/cluster        the cluster's identity, written by its founder
 *   P/insync/NAME    present while NAME holds every completed batch
 *
 * Endpoints are tried in turn: a call that cannot reach one moves on to
 * the next, and the one that answered is used first next time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "bk_log.h"
#include "cl_int.h"

#define MAX_ENDPOINTS 8
#define REPLY_MAX (1u << 20)

struct cl_etcd {
	CURL *curl;
	char *ep[MAX_ENDPOINTS];
	int nep, cur;
	char prefix[128];
	uint32_t timeout_ms;
};

struct reply {
	char *buf;
	size_t len;
};

uint64_t
cl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct cl_etcd *
cl_etcd_new(const char *endpoints, const char *prefix, uint32_t timeout_ms)
{
	struct cl_etcd *e = calloc(1, sizeof(*e));
	char *list = strdup(endpoints), *save = NULL;

	if (e == NULL || list == NULL)
		goto fail;
	for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		if (e->nep == MAX_ENDPOINTS || (strncmp(t, "http://", 7) != 0 &&
						strncmp(t, "https://", 8) != 0))
			goto fail;
		e->ep[e->nep++] = strdup(t);
	}
	if (e->nep == 0 || (e->curl = curl_easy_init()) == NULL)
		goto fail;
	snprintf(e->prefix, sizeof(e->prefix), "%s", prefix);
	e->timeout_ms = timeout_ms;
	free(list);
	return e;
fail:
	free(list);
	cl_etcd_free(e);
	return NULL;
}

void
cl_etcd_free(struct cl_etcd *e)
{
	if (e == NULL)
		return;
	for (int i = 0; i < e->nep; i++)
		free(e->ep[i]);
	if (e->curl)
		curl_easy_cleanup(e->curl);
	free(e);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;
	char *nb;

	if (r->len + len > REPLY_MAX || (nb = realloc(r->buf, r->len + len + 1)) == NULL)
		return 0;
	memcpy(nb + r->len, p, len);
	r->buf = nb;
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

/* POST body (consumed) to path; the parsed reply, or NULL. */
static cJSON *
call(struct cl_etcd *e, const char *path, cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body), url[512];
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	cJSON *out = NULL;

	cJSON_Delete(body);
	for (int tries = 0; text && tries < e->nep && out == NULL; tries++) {
		struct reply r = { NULL, 0 };
		long status = 0;
		CURLcode rc;

		snprintf(url, sizeof(url), "%s%s", e->ep[e->cur], path);
		curl_easy_reset(e->curl);
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &r);
		rc = curl_easy_perform(e->curl);
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && r.buf)
			out = cJSON_Parse(r.buf);
		if (rc != CURLE_OK || status >= 500 || (status != 200 && out == NULL)) {
			bk_debug("etcd %s%s: %s (HTTP %ld)", e->ep[e->cur], path,
				 curl_easy_strerror(rc), status);
			cJSON_Delete(out);
			out = NULL;
			e->cur = (e->cur + 1) % e->nep;
		}
		free(r.buf);
	}
	curl_slist_free_all(hdr);
	free(text);
	return out;
}

/* base64 of a followed by b (malloc'd), NULL when out of memory. */
char *
cl_etcd_b64(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b);
	unsigned char *in = malloc(n + 1), *out = malloc(4 * (n / 3 + 1) + 1);

	if (in && out) {
		memcpy(in, a, strlen(a));
		memcpy(in + strlen(a), b, strlen(b));
		EVP_EncodeBlock(out, in, (int)n);
	}
	free(in);
	return (char *)out;
}

static void
add_b64(cJSON *o, const char *field, const char *a, const char *b)
{
	char *s = cl_etcd_b64(a, b);

	cJSON_AddStringToObject(o, field, s ? s : "");
	free(s);
}

static void
add_i64(cJSON *o, const char *field, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, v);
	cJSON_AddStringToObject(o, field, s);
}

/* A 64-bit number of the reply ("123" or 123); def when absent. */
static int64_t
get_i64(const cJSON *o, const char *field, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);

	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	if (cJSON_IsNumber(v))          /* saturated: a cast out of range is UB */
		return v->valuedouble >= 9.2e18 ? INT64_MAX :
		       !(v->valuedouble > -9.2e18) ? INT64_MIN : (int64_t)v->valuedouble;
	return def;
}

const char *
cl_etcd_endpoint(const struct cl_etcd *e, bool next)
{
	struct cl_etcd *m = (struct cl_etcd *)e;

	if (next)
		m->cur = (m->cur + 1) % m->nep;
	return e->ep[e->cur];
}

const char *
cl_etcd_prefix(const struct cl_etcd *e)
{
	return e->prefix;
}

int
cl_etcd_grant(struct cl_etcd *e, uint32_t ttl, int64_t *id)
{
	cJSON *rq = cJSON_CreateObject(), *r;

	add_i64(rq, "TTL", ttl);
	if ((r = call(e, "/v3/lease/grant", rq)) == NULL)
		return -EIO;
	*id = get_i64(r, "ID", 0);
	cJSON_Delete(r);
	return *id ? 0 : -EIO;
}

int
cl_etcd_keepalive(struct cl_etcd *e, int64_t id)
{
	cJSON *rq = cJSON_CreateObject(), *r, *res;
	int rc;

	add_i64(rq, "ID", id);
	if ((r = call(e, "/v3/lease/keepalive", rq)) == NULL)
		return -EIO;
	res = cJSON_GetObjectItemCaseSensitive(r, "result");
	/* A lease etcd no longer has comes back with no TTL (or 0). */
	if (res == NULL)
		rc = -EIO;
	else
		rc = get_i64(res, "TTL", 0) > 0 ? 0 : -ENOENT;
	cJSON_Delete(r);
	return rc;
}

int
cl_etcd_revoke(struct cl_etcd *e, int64_t id)
{
	cJSON *rq = cJSON_CreateObject(), *r;

	add_i64(rq, "ID", id);
	if ((r = call(e, "/v3/lease/revoke", rq)) == NULL)
		return -EIO;
	cJSON_Delete(r);
	return 0;
}

int
cl_etcd_leader(struct cl_etcd *e, char *val, size_t vlen, int64_t *lease)
{
	return cl_etcd_get(e, "/leader", val, vlen, lease);
}

int
cl_etcd_get(struct cl_etcd *e, const char *key, char *val, size_t vlen, int64_t *lease)
{
	cJSON *rq = cJSON_CreateObject(), *r, *kvs, *kv, *v;
	unsigned char buf[CL_VALUE_MAX * 2];
	int n, rc = 0;

	add_b64(rq, "key", e->prefix, key);
	if ((r = call(e, "/v3/kv/range", rq)) == NULL)
		return -EIO;
	kvs = cJSON_GetObjectItemCaseSensitive(r, "kvs");
	kv = cJSON_IsArray(kvs) ? cJSON_GetArrayItem(kvs, 0) : NULL;
	v = kv ? cJSON_GetObjectItemCaseSensitive(kv, "value") : NULL;
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(buf) * 3 / 4) {
		size_t l = strlen(v->valuestring);

		n = EVP_DecodeBlock(buf, (unsigned char *)v->valuestring, (int)l);
		if (n >= 0) {
			n -= (l >= 1 && v->valuestring[l - 1] == '=') +
			     (l >= 2 && v->valuestring[l - 2] == '=');
			snprintf(val, vlen, "%.*s", n, (char *)buf);
			*lease = get_i64(kv, "lease", 0);
			rc = 1;
		}
	}
	cJSON_Delete(r);
	return rc;
}

static cJSON *
compare(cJSON *arr, const char *a, const char *b, const char *target, const char *result)
{
	cJSON *c = cJSON_CreateObject();

	add_b64(c, "key", a, b);
	cJSON_AddStringToObject(c, "target", target);
	cJSON_AddStringToObject(c, "result", result);
	cJSON_AddItemToArray(arr, c);
	return c;
}

static cJSON *
request(cJSON *arr, const char *kind)
{
	cJSON *o = cJSON_CreateObject(), *r = cJSON_CreateObject();

	cJSON_AddItemToObject(o, kind, r);
	cJSON_AddItemToArray(arr, o);
	return r;
}

static void
put(cJSON *ops, const char *a, const char *b, const char *val, int64_t lease)
{
	cJSON *p = request(ops, "request_put");
	char *v = cl_etcd_b64(val, "");

	add_b64(p, "key", a, b);
	cJSON_AddStringToObject(p, "value", v ? v : "");
	if (lease)
		add_i64(p, "lease", lease);
	free(v);
}

/* Run a transaction: 1 succeeded, 0 failed, -EIO. */
static int
txn(struct cl_etcd *e, cJSON *rq)
{
	cJSON *r = call(e, "/v3/kv/txn", rq);
	int rc;

	if (r == NULL)
		return -EIO;
	if (cJSON_GetObjectItemCaseSensitive(r, "header") == NULL) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "error");

		bk_warn("cluster: etcd refused a transaction: %s",
			cJSON_IsString(m) ? m->valuestring : "no reason given");
		rc = -EIO;
	}
	else
		rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "succeeded"));
	cJSON_Delete(r);
	return rc;
}

int
cl_etcd_campaign(struct cl_etcd *e, const char *name, const char *val, int64_t lease,
		 const char *id)
{
	cJSON *rq = cJSON_CreateObject(), *cmp = cJSON_AddArrayToObject(rq, "compare");
	cJSON *ok = cJSON_AddArrayToObject(rq, "success"), *del;
	char key[CL_NAME_MAX + 16];
	bool bootstrap = id != NULL;

	snprintf(key, sizeof(key), "/insync/%s", name);
	add_i64(compare(cmp, e->prefix, "/leader", "CREATE", "EQUAL"), "create_revision", 0);
	if (bootstrap) {
		add_i64(compare(cmp, e->prefix, "/cluster", "CREATE", "EQUAL"),
			"create_revision", 0);
		put(ok, e->prefix, "/cluster", id, 0);
	} else {
		add_i64(compare(cmp, e->prefix, key, "CREATE", "GREATER"), "create_revision", 0);
	}
	if (!bootstrap) {
		/* every other in-sync entry goes: the keys around ours (names
		 * are printable, so none sorts between KEY and KEY "\x01") */
		char after[CL_NAME_MAX + 20];

		snprintf(after, sizeof(after), "%s\x01", key);
		del = request(ok, "request_delete_range");
		add_b64(del, "key", e->prefix, "/insync/");
		add_b64(del, "range_end", e->prefix, key);
		del = request(ok, "request_delete_range");
		add_b64(del, "key", e->prefix, after);
		add_b64(del, "range_end", e->prefix, "/insync0");   /* '0' follows '/' */
	} else {
		put(ok, e->prefix, key, "1", 0);
	}
	put(ok, e->prefix, "/leader", val, lease);
	return txn(e, rq);
}

int
cl_etcd_put(struct cl_etcd *e, const char *key, const char *val, int64_t lease)
{
	cJSON *rq = cJSON_CreateObject(), *r;
	char *v = cl_etcd_b64(val, "");

	add_b64(rq, "key", e->prefix, key);
	cJSON_AddStringToObject(rq, "value", v ? v : "");
	free(v);
	if (lease)
		add_i64(rq, "lease", lease);
	if ((r = call(e, "/v3/kv/put", rq)) == NULL)
		return -EIO;
	cJSON_Delete(r);
	return 0;
}

int
cl_etcd_list(struct cl_etcd *e, const char *dir, void (*fn)(void *arg, const char *name),
	     void *arg)
{
	cJSON *rq = cJSON_CreateObject(), *r, *kv;
	size_t skip = strlen(e->prefix) + strlen(dir);
	char end[64];
	int n = 0;

	/* every key that starts with prefix dir: up to dir with its last
	 * byte ('/') made the next one ('0') */
	snprintf(end, sizeof(end), "%.*s0", (int)strlen(dir) - 1, dir);
	add_b64(rq, "key", e->prefix, dir);
	add_b64(rq, "range_end", e->prefix, end);
	cJSON_AddBoolToObject(rq, "keys_only", true);
	if ((r = call(e, "/v3/kv/range", rq)) == NULL)
		return -EIO;
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(r, "kvs")) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
		unsigned char buf[512];
		size_t l;
		int d;

		if (!cJSON_IsString(k) || (l = strlen(k->valuestring)) >= sizeof(buf) * 3 / 4)
			continue;
		d = EVP_DecodeBlock(buf, (unsigned char *)k->valuestring, (int)l);
		d -= d < 0 ? 0 : (l >= 1 && k->valuestring[l - 1] == '=') +
				 (l >= 2 && k->valuestring[l - 2] == '=');
		if (d <= (int)skip || d - (int)skip >= CL_NAME_MAX ||
		    memchr(buf + skip, '\0', (size_t)d - skip) != NULL)
			continue;
		buf[d] = '\0';
		fn(arg, (const char *)buf + skip);
		n++;
	}
	cJSON_Delete(r);
	return n;
}

int
cl_etcd_insync(struct cl_etcd *e, const char *name, bool on, const char *leader_val)
{
	cJSON *rq = cJSON_CreateObject(), *cmp = cJSON_AddArrayToObject(rq, "compare");
	cJSON *ok = cJSON_AddArrayToObject(rq, "success"), *c;
	char key[CL_NAME_MAX + 16], *v = cl_etcd_b64(leader_val, "");

	snprintf(key, sizeof(key), "/insync/%s", name);
	c = compare(cmp, e->prefix, "/leader", "VALUE", "EQUAL");
	cJSON_AddStringToObject(c, "value", v ? v : "");
	free(v);
	if (on) {
		put(ok, e->prefix, key, "1", 0);
	} else {
		cJSON *d = request(ok, "request_delete_range");

		add_b64(d, "key", e->prefix, key);
	}
	return txn(e, rq);
}
