/*
 * http_reply.c: answering a request, and RabbitMQ's error bodies.
 * Lists and their query options are http_list.c's. Every reply forbids
 * framing (X-Frame-Options, CSP frame-ancestors).
 */
#include "http_int.h"
#include "bk_utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

static void
reply_headers(struct http_req *r, const char *ctype)
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
}

void
http_reply_write(struct http_req *r, int code, const char *ctype, const char *body,
		 size_t len)
{
	reply_headers(r, ctype);
	http_conn_respond(r->conn, code, &r->out_headers, body, len,
			  r->method == EVHTTP_REQ_HEAD);
}

void
http_reply_write_buffer(struct http_req *r, int code, const char *ctype,
			struct evbuffer *body)
{
	reply_headers(r, ctype);
	http_conn_respond_buffer(r->conn, code, &r->out_headers, body,
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

/*
 * cJSON copies a string's bytes as they are, and names, client properties
 * and header values from AMQP are bytes: one queue named "q\xFF" would
 * make every listing of queues invalid JSON (rabbitmqadmin, any client
 * that decodes UTF-8, fails on it). Bytes outside UTF-8 go out as U+FFFD,
 * as a browser shows them; JSON's own syntax is ASCII, so the repair
 * never touches it.
 */
void
http_reply_json(struct http_req *r, int code, cJSON *doc)
{
	char *s = cJSON_PrintUnformatted(doc), *fixed;
	size_t len;

	cJSON_Delete(doc);
	if (s == NULL) {
		reply_send(r, 500, "application/json",
		     "{\"error\":\"internal_error\",\"reason\":\"out of memory\"}", 52);
		return;
	}
	len = strlen(s);
	fixed = bk_utf8_repair(s, len, &len);
	reply_send(r, code, "application/json", fixed ? fixed : s, len);
	bk_free(fixed);
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
/* columns                                                           */
/* ---------------------------------------------------------------- */

/* obj reduced to the comma-separated columns ("a,b.c"). */
cJSON *
http_json_project(cJSON *obj, const char *columns)
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

void
http_reply_object(struct http_req *r, cJSON *obj)
{
	const char *columns = http_query(r, "columns");

	http_reply_json(r, 200, columns ? http_json_project(obj, columns) : obj);
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
