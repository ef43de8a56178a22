/*
 * http_reply.c: answering a request, and RabbitMQ's error bodies.
 *
 * Lists go through the query options RabbitMQ's management API reads
 * (name= with use_regex=, columns=, sort=, sort_reverse=, page= and
 * page_size=); a paged answer is RabbitMQ's {"items": [...], "page": ...,
 * "filtered_count": ..., "total_count": ...} envelope.
 * Lists are narrowed to what the caller may see (http_authz_keep) before
 * any of it. Every reply forbids framing (X-Frame-Options, CSP
 * frame-ancestors).
 */
#include "http_int.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

void
http_reply_write(struct http_req *r, int code, const char *ctype, const char *body,
		 size_t len)
{
	if (ctype != NULL)
		http_reply_header(r, "Content-Type", ctype);
	http_reply_header(r, "Cache-Control", "no-cache");
	/* no page of another site may frame ours (clickjacking); a handler
	 * with a fuller policy of its own (the UI's) keeps it */
	if (evhttp_find_header(&r->out_headers, "X-Frame-Options") == NULL)
		http_reply_header(r, "X-Frame-Options", "DENY");
	if (evhttp_find_header(&r->out_headers, "Content-Security-Policy") == NULL)
		http_reply_header(r, "Content-Security-Policy", "frame-ancestors 'none'");
	if (evhttp_find_header(&r->out_headers, "X-Content-Type-Options") == NULL)
		http_reply_header(r, "X-Content-Type-Options", "nosniff");
	http_conn_respond(r->conn, code, &r->out_headers, body, len,
			  r->method == EVHTTP_REQ_HEAD);
}

static void
reply_send(struct http_req *r, int code, const char *ctype, const char *body, size_t len)
{
	int rc;

	if (r->answered)
		return;
	r->answered = true;
	/* A 2xx to a change means the change is on disk, as RabbitMQ's does:
	 * the answer waits for the journal thread's write of the definitions
	 * file (http_commit.c), with nothing waiting on the event loop. */
	if (code >= 200 && code < 300 && r->method != EVHTTP_REQ_GET &&
	    r->method != EVHTTP_REQ_HEAD) {
		if ((rc = http_commit_defer(r, code, ctype, body, len)) > 0)
			return;
		if (rc < 0) {
			code = 500;
			ctype = "application/json";
			body = HTTP_DEFS_FAILED;
			len = strlen(HTTP_DEFS_FAILED);
		}
	}
	http_reply_write(r, code, ctype, body, len);
}

void
http_reply_text(struct http_req *r, int code, const char *content_type,
		const char *body, size_t len)
{
	reply_send(r, code, content_type, body, len);
}

void
http_reply_json(struct http_req *r, int code, cJSON *doc)
{
	char *s = cJSON_PrintUnformatted(doc);

	cJSON_Delete(doc);
	if (s == NULL) {
		reply_send(r, 500, "application/json",
		     "{\"error\":\"internal_error\",\"reason\":\"out of memory\"}", 52);
		return;
	}
	reply_send(r, code, "application/json", s, strlen(s));
	cJSON_free(s);
}

void
http_reply_empty(struct http_req *r, int code)
{
	reply_send(r, code, NULL, NULL, 0);
}

void
http_reply_error(struct http_req *r, int code, const char *error, const char *reason)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", error);
	cJSON_AddStringToObject(o, "reason", reason);
	/* A script (the dashboard's fetch) marks itself so: a challenge would
	 * make the browser pop up its own login dialog over the page's form. */
	if (code == 401 && http_req_header(r, "X-Requested-With") == NULL)
		http_reply_header(r, "WWW-Authenticate", "Basic realm=\"RabbitMQ Management\"");
	http_reply_json(r, code, o);
}

void
http_reply_bad_request(struct http_req *r, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	http_reply_error(r, 400, "bad_request", reason);
}

void
http_reply_not_found(struct http_req *r)
{
	http_reply_error(r, 404, "Object Not Found", "Not Found");
}

void
http_reply_method_not_allowed(struct http_req *r)
{
	http_reply_error(r, 405, "method_not_allowed", "Method Not Allowed");
}

void
http_reply_status(struct http_req *r, const struct bk_err *err)
{
	switch (err->status) {
	case BK_OK:
		http_reply_empty(r, 204);
		break;
	case BK_NOT_FOUND:
		http_reply_not_found(r);
		break;
	case BK_ACCESS_REFUSED:
		/* RabbitMQ: declaring "amq.*" over HTTP */
		http_reply_error(r, 401, "not_authorised", "Access refused.");
		break;
	case BK_INTERNAL_ERROR:
		http_reply_error(r, 500, "internal_error", err->text);
		break;
	default:
		http_reply_error(r, 400, "bad_request", err->text);
		break;
	}
}

/* ---------------------------------------------------------------- */
/* columns, sort, pagination                                         */
/* ---------------------------------------------------------------- */

/* obj reduced to the comma-separated columns ("a,b.c"). */
static cJSON *
project(cJSON *obj, const char *columns)
{
	cJSON *out = cJSON_CreateObject();
	char *cols = bk_strdup(columns), *save = NULL, *c;

	for (c = strtok_r(cols, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		char *dot = strchr(c, '.');
		cJSON *v;

		if (dot == NULL) {
			if ((v = cJSON_GetObjectItemCaseSensitive(obj, c)) != NULL &&
			    !cJSON_HasObjectItem(out, c))
				cJSON_AddItemToObject(out, c, cJSON_Duplicate(v, true));
			continue;
		}
		*dot = '\0';
		cJSON *parent = cJSON_GetObjectItemCaseSensitive(obj, c);

		if (!cJSON_IsObject(parent) ||
		    (v = cJSON_GetObjectItemCaseSensitive(parent, dot + 1)) == NULL)
			continue;
		cJSON *dst = cJSON_GetObjectItemCaseSensitive(out, c);

		if (dst == NULL)
			dst = cJSON_AddObjectToObject(out, c);
		if (cJSON_IsObject(dst) && !cJSON_HasObjectItem(dst, dot + 1))
			cJSON_AddItemToObject(dst, dot + 1, cJSON_Duplicate(v, true));
	}
	bk_free(cols);
	cJSON_Delete(obj);
	return out;
}

static const char *sort_k1, *sort_k2;
static bool sort_rev;

/* o's field at the dotted path k ("message_stats.publish_details.rate"). */
static const cJSON *
sort_field(const cJSON *o, const char *k)
{
	char head[128];
	const char *dot;
	size_t n;

	if (k == NULL)
		return NULL;
	while ((dot = strchr(k, '.')) != NULL && o != NULL) {
		n = (size_t)(dot - k);
		if (n >= sizeof(head))
			return NULL;
		memcpy(head, k, n);
		head[n] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, head);
		k = dot + 1;
	}
	return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static int
cmp_field(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
		return a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
	if (cJSON_IsString(a) && cJSON_IsString(b))
		return strcmp(a->valuestring, b->valuestring);
	return (a != NULL) - (b != NULL);
}

static int
cmp_items(const void *pa, const void *pb)
{
	const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
	int c = cmp_field(sort_field(a, sort_k1), sort_field(b, sort_k1));

	if (c == 0)
		c = cmp_field(sort_field(a, sort_k2), sort_field(b, sort_k2));
	return sort_rev ? -c : c;
}

#define NAME_FILTER_MAX 256

struct name_filter {
	const char *text;               /* NULL: no filter */
	bool use_regex;
	regex_t re;
};

/* name= and use_regex=: a case-insensitive substring, or a POSIX
 * extended regex (no match anchors implied), of each item's "name".
 * false after a 400 for a filter too long or a regex that does not
 * compile. */
static bool
name_filter_init(struct http_req *r, struct name_filter *f)
{
	f->text = http_query(r, "name");
	f->use_regex = http_query_true(r, "use_regex");
	if (f->text != NULL && *f->text == '\0')
		f->text = NULL;
	if (f->text == NULL)
		return true;
	if (strlen(f->text) > NAME_FILTER_MAX) {
		http_reply_bad_request(r, "name filter longer than %d bytes", NAME_FILTER_MAX);
		return false;
	}
	/* Back-references make glibc's matcher exponential: an
	 * authenticated reader could stall the loop with one request. */
	for (const char *c = f->text; f->use_regex && *c != '\0'; c++) {
		if (c[0] == '\\' && c[1] >= '1' && c[1] <= '9') {
			http_reply_bad_request(r, "back-references are not allowed "
					       "in the name filter");
			f->text = NULL;
			return false;
		}
		if (c[0] == '\\' && c[1] != '\0')
			c++;
	}
	if (f->use_regex &&
	    regcomp(&f->re, f->text, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
		http_reply_bad_request(r, "invalid regular expression in name filter");
		f->text = NULL;
		return false;
	}
	return true;
}

static void
name_filter_fini(struct name_filter *f)
{
	if (f->text != NULL && f->use_regex)
		regfree(&f->re);
}

static bool
name_filter_match(const struct name_filter *f, const cJSON *item)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "name");

	if (f->text == NULL)
		return true;
	if (!cJSON_IsString(n))
		return false;
	if (f->use_regex)
		return regexec(&f->re, n->valuestring, 0, NULL, 0) == 0;
	return strcasestr(n->valuestring, f->text) != NULL;
}

/* page= and page_size=: false after a 400. *paged false without page=. */
static bool
page_args(struct http_req *r, bool *paged, long *page, long *page_size)
{
	const char *page_s = http_query(r, "page"), *ps = http_query(r, "page_size");

	*paged = page_s != NULL;
	*page = 1;
	*page_size = 100;
	if (!*paged)
		return true;
	*page = strtol(page_s, NULL, 10);
	if (ps != NULL)
		*page_size = strtol(ps, NULL, 10);
	if (*page < 1 || *page_size < 1 || *page_size > 500) {
		http_reply_bad_request(r, "page and page_size must be positive "
				       "(page_size at most 500)");
		return false;
	}
	return true;
}

static cJSON *
page_envelope(cJSON *arr, long page, long page_size, int filtered, int total)
{
	cJSON *out = cJSON_CreateObject();

	cJSON_AddNumberToObject(out, "filtered_count", filtered);
	cJSON_AddNumberToObject(out, "item_count", cJSON_GetArraySize(arr));
	cJSON_AddItemToObject(out, "items", arr);
	cJSON_AddNumberToObject(out, "page", (double)page);
	cJSON_AddNumberToObject(out, "page_count", (double)(filtered == 0 ? 1 :
				(filtered + page_size - 1) / page_size));
	cJSON_AddNumberToObject(out, "page_size", (double)page_size);
	cJSON_AddNumberToObject(out, "total_count", total);
	return out;
}

void
http_reply_list(struct http_req *r, cJSON *arr, const char *key1, const char *key2)
{
	const char *columns = http_query(r, "columns");
	const char *sort = http_query(r, "sort");
	int total = cJSON_GetArraySize(arr), n = 0, i;
	struct name_filter nf;
	cJSON **items, *it;
	long page, page_size;
	bool paged;

	if (!page_args(r, &paged, &page, &page_size) || !name_filter_init(r, &nf)) {
		cJSON_Delete(arr);
		return;
	}
	items = bk_calloc((size_t)total + 1, sizeof(*items));
	total = 0;                      /* what the caller may see at all */
	while ((it = cJSON_DetachItemFromArray(arr, 0)) != NULL) {
		bool visible = http_authz_keep(r, it);

		total += visible;
		if (visible && name_filter_match(&nf, it))
			items[n++] = it;
		else
			cJSON_Delete(it);
	}
	name_filter_fini(&nf);
	sort_k1 = key1;
	sort_k2 = key2;
	sort_rev = http_query_true(r, "sort_reverse");
	if (sort != NULL && *sort != '\0') {
		sort_k1 = sort;
		sort_k2 = NULL;
	}
	if (sort_k1 != NULL)
		qsort(items, (size_t)n, sizeof(*items), cmp_items);
	for (i = 0; i < n; i++) {
		if (paged && (i < (page - 1) * page_size || i >= page * page_size)) {
			cJSON_Delete(items[i]);
			continue;
		}
		it = columns ? project(items[i], columns) : items[i];
		cJSON_AddItemToArray(arr, it);
	}
	bk_free(items);
	if (paged)
		arr = page_envelope(arr, page, page_size, n, total);
	http_reply_json(r, 200, arr);
}

void
http_reply_object(struct http_req *r, cJSON *obj)
{
	const char *columns = http_query(r, "columns");

	http_reply_json(r, 200, columns ? project(obj, columns) : obj);
}

void
http_reply_first(struct http_req *r, cJSON *arr)
{
	cJSON *one = cJSON_DetachItemFromArray(arr, 0);

	cJSON_Delete(arr);
	if (one == NULL)
		http_reply_not_found(r);
	else
		http_reply_object(r, one);
}
