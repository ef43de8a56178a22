/*
 * http_server.c: the management API's request dispatcher and the request
 * helpers handlers share. Connections and limits are http_conn.c's.
 *
 * Every request goes the same way: the path is split at '/' BEFORE
 * percent-decoding (so "/api/queues/%2F/q" names vhost "/"), each segment
 * is decoded on its own and refused if it decodes to a NUL, the query is
 * parsed, basic auth is checked (everything but the management UI's own
 * files and the is-in-service probe; by http_conn.c, before the body is
 * read), and the first segment after "/api/" picks the resource handler
 * once http_authz.c has allowed the request.
 *
 * Handlers run on the core's thread between other events, so they may
 * call the core directly; none of them blocks.
 */
#include "http_int.h"
#include "http_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

const char http_owner[] = "http";

const char *
http_query(struct http_req *r, const char *key)
{
	return evhttp_find_header(&r->query, key);
}

const char *
http_req_header(struct http_req *r, const char *name)
{
	return evhttp_find_header(r->in_headers, name);
}

void
http_reply_header(struct http_req *r, const char *name, const char *value)
{
	evhttp_add_header(&r->out_headers, name, value);
}

struct evbuffer *
http_req_body(struct http_req *r)
{
	return r->body;
}

bool
http_query_true(struct http_req *r, const char *key)
{
	const char *v = http_query(r, key);

	return v != NULL && strcmp(v, "true") == 0;
}

struct bk_str
http_exchange_arg(const char *s)
{
	if (strcmp(s, "amq.default") == 0)
		return BK_STR_LIT("");
	return bk_str_c(s);
}

struct bk_vhost *
http_vhost_arg(struct http_req *r, int i)
{
	struct bk_vhost *vh = i < r->nseg ? bk_vhost_get(r->l->broker, r->seg[i]) : NULL;

	if (vh == NULL)
		http_reply_not_found(r);
	return vh;
}

cJSON *
http_body_json(struct http_req *r)
{
	struct evbuffer *in = http_req_body(r);
	size_t len = evbuffer_get_length(in);
	const char *p, *end = NULL;
	cJSON *doc;

	if (len == 0)
		return cJSON_CreateObject();
	/* bounded by http.max_body_size (http_conn.c) */
	p = (const char *)evbuffer_pullup(in, -1);
	doc = cJSON_ParseWithLengthOpts(p, len, &end, false);
	if (doc != NULL && end != NULL) {
		while (end < p + len && (*end == ' ' || *end == '\t' ||
					 *end == '\r' || *end == '\n'))
			end++;
		if (end != p + len) {
			cJSON_Delete(doc);
			doc = NULL;
		}
	}
	if (doc == NULL || !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		http_reply_bad_request(r, "not_json");
		return NULL;
	}
	return doc;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode p[0..n) into a new string; NULL if it decodes to a NUL
 * ("%00"). A '%' not followed by two hex digits stays as it is. '+' is
 * not a space in a path. */
static char *
path_decode(const char *p, size_t n)
{
	char *out = bk_malloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 && (lo = hexval(p[i + 2])) >= 0) {
			out[o] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o] = p[i];
		}
		if (out[o++] == '\0') {
			bk_free(out);
			return NULL;
		}
	}
	out[o] = '\0';
	return out;
}

/* Split the raw path into decoded segments. false on a bad path. */
static bool
split_path(struct http_req *r, const char *path)
{
	const char *p = path, *slash;
	size_t n;

	while (*p == '/')
		p++;
	while (*p != '\0') {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (r->nseg == HTTP_MAX_SEGS)
			return false;
		if ((r->seg[r->nseg] = path_decode(p, n)) == NULL)
			return false;
		r->nseg++;
		if (slash == NULL)
			break;
		p = slash + 1;
		/* a trailing '/' ends the path */
	}
	return true;
}

static const struct {
	const char *name;
	void (*fn)(struct http_req *r);
} routes[] = {
	{ "overview",    http_api_overview },
	{ "nodes",       http_api_nodes },
	{ "whoami",      http_api_whoami },
	{ "health",      http_api_health },
	{ "aliveness-test", http_api_aliveness },
	{ "queues",      http_api_queues },
	{ "exchanges",   http_api_exchanges },
	{ "bindings",    http_api_bindings },
	{ "connections", http_api_connections },
	{ "channels",    http_api_channels },
	{ "consumers",   http_api_consumers },
	{ "stream",      http_api_stream },
	{ "users",       http_api_users },
	{ "vhosts",      http_api_vhosts },
	{ "permissions", http_api_permissions },
	{ "topic-permissions", http_api_topic_permissions },
	{ "user-limits", http_api_user_limits },
	{ "vhost-limits", http_api_vhost_limits },
	{ "definitions", http_api_definitions },
	{ "extensions",  http_api_extensions },
	{ "policies",    http_api_policies },
	{ "operator-policies", http_api_operator_policies },
	{ "parameters",  http_api_parameters },
	{ "global-parameters", http_api_global_parameters },
	{ "cluster-name", http_api_cluster_name },
};

/* The management UI's own files, and RabbitMQ's is-in-service probe (for
 * load balancers), need no credentials; everything else does. */
bool
http_req_public(const struct http_req *r)
{
	if (r->l->prometheus)
		return !r->l->prom_auth;
	if (r->nseg == 0 || (r->nseg == 1 && strcmp(r->seg[0], "index.html") == 0) ||
	    (r->nseg >= 1 && strcmp(r->seg[0], "ui") == 0))
		return true;
	return r->nseg == 4 && strcmp(r->seg[0], "api") == 0 &&
	       strcmp(r->seg[1], "health") == 0 && strcmp(r->seg[2], "checks") == 0 &&
	       strcmp(r->seg[3], "is-in-service") == 0;
}

/* The Prometheus listener serves /metrics[/per-object|/detailed] only;
 * credentials, when prometheus.authentication asks for them, were
 * checked with the head (http_req_public), and then the user must be
 * one who may read /metrics on the management port: every vhost's
 * objects are in it. */
static void
dispatch_prometheus(struct http_req *r)
{
	if (r->nseg == 0 || strcmp(r->seg[0], "metrics") != 0)
		http_reply_not_found(r);
	else if (!r->l->prom_auth || http_authz_metrics(r))
		http_prometheus(r);
}

void
http_req_dispatch(struct http_req *r)
{
	if (r->answered)
		return;
	if (http_ui_serve(r))                   /* the UI logs in by itself */
		goto out;
	if (r->l->prometheus) {
		dispatch_prometheus(r);
		goto out;
	}
	if (!http_ranges_parse(r))
		goto out;
	if (strcmp(r->seg[0], "metrics") == 0 && r->nseg <= 2) {
		if (http_authz_metrics(r))
			http_prometheus(r);
		goto out;
	}
	if (strcmp(r->seg[0], "api") != 0 || r->nseg < 2) {
		http_reply_not_found(r);
		goto out;
	}
	/* handlers see seg[0] as the resource */
	bk_free(r->seg[0]);
	memmove(r->seg, r->seg + 1, (size_t)(r->nseg - 1) * sizeof(r->seg[0]));
	r->nseg--;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].name, r->seg[0]) != 0)
			continue;
		if (http_authz_request(r))
			routes[i].fn(r);
		goto out;
	}
	http_reply_not_found(r);
out:
	if (!r->answered) {                     /* a handler forgot: our bug */
		bk_error("http: no reply for /%s", r->nseg > 0 ? r->seg[0] : "");
		http_reply_error(r, 500, "internal_error", "no reply");
	}
}

void
http_req_init(struct http_req *r, struct http_listener *l, struct http_conn *conn,
	      struct http_head *h, bool peer_loopback)
{
	char *q;

	memset(r, 0, sizeof(*r));
	r->l = l;
	r->conn = conn;
	r->method = h->method;
	r->in_headers = &h->headers;
	r->peer_loopback = peer_loopback;
	TAILQ_INIT(&r->query);
	TAILQ_INIT(&r->out_headers);
	q = strchr(h->target, '?');
	if (q)
		*q++ = '\0';
	if (h->target[0] != '/' || !split_path(r, h->target) ||
	    (q != NULL && evhttp_parse_query_str(q, &r->query) < 0))
		http_reply_bad_request(r, "bad request path");
}

void
http_req_fini(struct http_req *r)
{
	for (int i = 0; i < r->nseg; i++)
		bk_free(r->seg[i]);
	r->nseg = 0;
	evhttp_clear_headers(&r->query);
	evhttp_clear_headers(&r->out_headers);
}

/* The listener state both kinds share. */
static struct http_listener *
listener_new(struct event_base *base, struct bk_broker *b, struct net *net,
	     const struct http_config *cfg)
{
	struct http_listener *l = bk_calloc(1, sizeof(*l));
	char host[64] = "localhost";

	l->base = base;
	l->broker = b;
	l->net = net;
	l->cfg = *cfg;
	TAILQ_INIT(&l->conns);
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(l->node, sizeof(l->node), "sluice@%s", host);
	return l;
}

struct http_listener *
http_listener_new(struct event_base *base, struct bk_broker *b, struct net *net,
		  const struct http_config *cfg)
{
	return listener_new(base, b, net, cfg);
}

struct http_listener *
http_prometheus_new(struct event_base *base, struct bk_broker *b, struct net *net,
		    const struct http_config *http, const struct prometheus_config *cfg)
{
	struct http_listener *l = listener_new(base, b, net, http);

	l->prometheus = true;
	l->prom_auth = cfg->authentication;
	l->prom_per_object = cfg->per_object;
	l->cfg.max_body_size = 4096;            /* scrapes send no body */
	return l;
}

void
http_listener_free(struct http_listener *l)
{
	if (l == NULL)
		return;
	http_commit_cancel_all(l);
	http_slices_cancel_all(l);
	http_moves_free(l);
	bk_free(l);
}
