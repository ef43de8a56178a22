/*
 * cl_etcd_watch.c: etcd's watch through the JSON gateway: one POST to
 * /v3/watch whose answer never ends, one JSON object a line:
 *
 *   {"result":{"header":{...},"created":true}}
 *   {"result":{"header":{...},"events":[{"kv":{...}}, ...]}}
 *   ...
 *
 * Each line calls fn (created: the watch is in place; else something
 * under the prefix changed). What changed is not decoded: the caller
 * reads what it needs again, so a line lost or merged costs nothing.
 * Blocking, on the thread that owns the cl_etcd (its own libcurl
 * handle); *stop (checked by libcurl's progress callback, about once a
 * second while idle, and by every line) ends it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "bk_log.h"
#include "cl_int.h"

#define LINE_MAX_BYTES (1u << 20)

struct wstate {
	char *buf;
	size_t len;
	int (*fn)(void *arg, bool created);
	void *arg;
	const atomic_bool *stop;
	bool answered;                  /* a valid line came */
};

/* One line: 0, or -1 to end the watch. */
static int
line(struct wstate *w, const char *text)
{
	cJSON *r = cJSON_Parse(text), *res;
	int rc = -1;

	res = cJSON_GetObjectItemCaseSensitive(r, "result");
	if (cJSON_IsObject(res) && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "canceled"))) {
		w->answered = true;
		rc = w->fn(w->arg, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "created")));
	}
	cJSON_Delete(r);
	return rc;
}

static size_t
on_chunk(char *p, size_t size, size_t n, void *arg)
{
	struct wstate *w = arg;
	size_t len = size * n, start = 0;
	char *nb, *nl;

	if (atomic_load(w->stop) || w->len + len > LINE_MAX_BYTES ||
	    (nb = realloc(w->buf, w->len + len + 1)) == NULL)
		return 0;
	memcpy(nb + w->len, p, len);
	w->buf = nb;
	w->len += len;
	w->buf[w->len] = '\0';
	while ((nl = memchr(w->buf + start, '\n', w->len - start)) != NULL) {
		*nl = '\0';
		if (nl > w->buf + start && line(w, w->buf + start) < 0)
			return 0;
		start = (size_t)(nl - w->buf) + 1;
	}
	memmove(w->buf, w->buf + start, w->len - start);
	w->len -= start;
	return len;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct wstate *w = arg;

	return atomic_load(w->stop) ? 1 : 0;
}

int
cl_etcd_watch(struct cl_etcd *e, const atomic_bool *stop, int (*fn)(void *arg, bool created),
	      void *arg)
{
	struct wstate w = { NULL, 0, fn, arg, stop, false };
	char *k = cl_etcd_b64(cl_etcd_prefix(e), "/"), *end = cl_etcd_b64(cl_etcd_prefix(e), "0");
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char body[1024], url[512] = "";
	CURL *h = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;

	if (h && k && end && hdr) {
		/* every key under the prefix: '0' follows '/' */
		snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"%s\","
			 "\"range_end\":\"%s\"}}", k, end);
		snprintf(url, sizeof(url), "%s/v3/watch", cl_etcd_endpoint(e, false));
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_chunk);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
		rc = curl_easy_perform(h);
	}
	if (!w.answered && !atomic_load(stop))
		cl_etcd_endpoint(e, true);      /* another endpoint next time */
	if (!atomic_load(stop))
		bk_debug("etcd watch at %s ended: %s", url, curl_easy_strerror(rc));
	curl_slist_free_all(hdr);
	if (h)
		curl_easy_cleanup(h);
	free(w.buf);
	free(k);
	free(end);
	return -EIO;
}
