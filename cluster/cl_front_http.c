/*
 * cl_front_http.c: what a follower's plain HTTP listener does beyond
 * proxying (cl_front.c). It reads the head of a connection's first
 * request before choosing:
 *
 *   no leader known       --> 503 with a JSON body, here, at once (as
 *                             for a client refused a proxy, cl_front.c);
 *                             also when the leader cannot be reached
 *   GET /api/overview     --> to the leader (which authenticates it); the
 *                             answer's "cluster" object is replaced with
 *                             this node's view, then the connection ends
 *   anything else         --> proxied unchanged, as every later request
 *
 * The "cluster" object: {"node": this node's cluster.node_name, "role":
 * "follower", "leader": the leader's node name, "leader_host": where it
 * is reached}. RabbitMQ has no such field, so its tools ignore it.
 * HTTPS passes through unread: nothing of it is rewritten.
 *
 * Only these heads are read: request line, headers, up to FRONT_HEAD_MAX
 * bytes; a longer head goes to the leader unread, which refuses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "bk_alloc.h"
#include "cl_int.h"

#define FRONT_HEAD_MAX 16384
#define FRONT_BODY_MAX (4u << 20)       /* an overview bigger is passed as is */

int
cl_front_http_head(struct evbuffer *in, bool *overview)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t len = evbuffer_get_length(in);
	char line[64];
	size_t n;

	*overview = false;
	if (end.pos < 0)
		return len > FRONT_HEAD_MAX ? 1 : 0;
	n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	evbuffer_copyout(in, line, n);
	line[n] = '\0';
	*overview = strncmp(line, "GET /api/overview ", 18) == 0 ||
		    strncmp(line, "GET /api/overview?", 18) == 0;
	return 1;
}

void
cl_front_http_unavailable(struct evbuffer *out, const char *node, const char *why)
{
	cJSON *o = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(o, "cluster");
	char *body;

	cJSON_AddStringToObject(o, "error", "service_unavailable");
	cJSON_AddStringToObject(o, "reason", why);
	cJSON_AddStringToObject(c, "node", node);
	cJSON_AddStringToObject(c, "role", "follower");
	cJSON_AddNullToObject(c, "leader");
	body = cJSON_PrintUnformatted(o);
	evbuffer_add_printf(out, "HTTP/1.1 503 Service Unavailable\r\n"
			    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			    "Retry-After: 1\r\nConnection: close\r\n\r\n%s",
			    strlen(body), body);
	cJSON_free(body);
	cJSON_Delete(o);
}

/* Content-Length of the head h (NUL-terminated), or -1. */
static long
content_length(const char *h)
{
	for (const char *p = strstr(h, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		char *end;
		long v;

		if (strncasecmp(p + 2, "Content-Length:", 15) != 0)
			continue;
		v = strtol(p + 17, &end, 10);
		return v >= 0 && end != p + 17 ? v : -1;
	}
	return -1;
}

/* The head h without Content-Length and Connection, then ours. */
static void
put_head(struct evbuffer *out, const char *h, size_t blen)
{
	const char *p = h, *eol;

	while ((eol = strstr(p, "\r\n")) != NULL && eol != p) {
		size_t n = (size_t)(eol - p);

		if (strncasecmp(p, "Content-Length:", 15) != 0 &&
		    strncasecmp(p, "Connection:", 11) != 0)
			evbuffer_add(out, p, n + 2);
		p = eol + 2;
	}
	evbuffer_add_printf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
}

int
cl_front_http_rewrite(struct evbuffer *in, struct evbuffer *out, const char *node,
		      const char *leader_host)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *head, *body, *text;
	cJSON *o = NULL, *c, *lead;
	size_t hlen;
	long blen;
	int rc = -1;

	if (end.pos < 0)
		return evbuffer_get_length(in) > FRONT_HEAD_MAX ? -1 : 0;
	hlen = (size_t)end.pos + 4;
	head = bk_malloc(hlen + 1);
	evbuffer_copyout(in, head, hlen);
	head[hlen] = '\0';
	blen = content_length(head);
	if (strncmp(head, "HTTP/1.1 200 ", 13) != 0 || blen < 0 || blen > FRONT_BODY_MAX)
		goto out;
	if (evbuffer_get_length(in) < hlen + (size_t)blen) {
		rc = 0;
		goto out;
	}
	body = (char *)evbuffer_pullup(in, (ssize_t)(hlen + (size_t)blen)) + hlen;
	if ((o = cJSON_ParseWithLength(body, (size_t)blen)) == NULL || !cJSON_IsObject(o))
		goto out;
	lead = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "cluster"),
						"leader");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "node", node);
	cJSON_AddStringToObject(c, "role", "follower");
	if (cJSON_IsString(lead))
		cJSON_AddStringToObject(c, "leader", lead->valuestring);
	else
		cJSON_AddNullToObject(c, "leader");
	cJSON_AddStringToObject(c, "leader_host", leader_host);
	cJSON_DeleteItemFromObjectCaseSensitive(o, "cluster");
	cJSON_AddItemToObject(o, "cluster", c);
	text = cJSON_PrintUnformatted(o);
	put_head(out, head, strlen(text));
	evbuffer_add(out, text, strlen(text));
	cJSON_free(text);
	evbuffer_drain(in, hlen + (size_t)blen);
	rc = 1;
out:
	cJSON_Delete(o);
	bk_free(head);
	return rc;
}
