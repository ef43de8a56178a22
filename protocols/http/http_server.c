/*
 * http_server.c: the HTTP listener (libevent's evhttp on the broker's
 * event_base) and the request dispatcher.
 *
 * Every request goes through one generic callback: the path is split at
 * '/' BEFORE percent-decoding (so "/api/queues/%2F/q" names vhost "/"),
 * each segment is decoded on its own and refused if it decodes to a NUL,
 * the query is parsed, basic auth is checked (everything but the
 * management UI's own files), and the first segment after "/api/" picks the
 * resource handler. Limits: evhttp refuses bodies over max_body_size
 * (413) and header blocks over 64 KiB before any handler runs.
 *
 * Handlers run on the main thread between other events, so they may call
 * the core directly; none of them blocks.
 */
#include "http_int.h"
#include "net_sock.h"

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
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

void
http_reply_header(struct http_req *r, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

struct evbuffer *
http_req_body(struct http_req *r)
{
	return evhttp_request_get_input_buffer(r->req);
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

bool
http_require_admin(struct http_req *r)
{
	if (r->admin)
		return true;
	http_reply_error(r, 401, "not_authorized", "Not administrator user");
	return false;
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
	/* bounded by evhttp_set_max_body_size */
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

/* Split the raw path into decoded segments. false on a bad path. */
static bool
split_path(struct http_req *r, const char *path)
{
	const char *p = path, *slash;
	size_t n, dlen;

	while (*p == '/')
		p++;
	while (*p != '\0') {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (r->nseg == HTTP_MAX_SEGS)
			return false;
		char *raw = bk_malloc(n + 1);

		memcpy(raw, p, n);
		raw[n] = '\0';
		char *dec = evhttp_uridecode(raw, 0, &dlen);

		bk_free(raw);
		if (dec == NULL)
			return false;
		if (strlen(dec) != dlen) {          /* %00 */
			free(dec);
			return false;
		}
		r->seg[r->nseg] = bk_strdup(dec);
		free(dec);
		r->nseg++;
		if (slash == NULL)
			break;
		p = slash + 1;
		/* a trailing '/' ends the path */
	}
	return true;
}

/* Who may use a resource beyond reading it (RabbitMQ's is_authorized_*). */
enum need {
	NEED_ADMIN_WRITES,              /* read: any management user; write: admin */
	NEED_POLICYMAKER,               /* read and write: policymaker or admin */
	NEED_ADMIN,                     /* read and write: admin */
};

static const struct {
	const char *name;
	void (*fn)(struct http_req *r);
	enum need need;
} routes[] = {
	{ "overview",    http_api_overview, NEED_ADMIN_WRITES },
	{ "nodes",       http_api_nodes, NEED_ADMIN_WRITES },
	{ "whoami",      http_api_whoami, NEED_ADMIN_WRITES },
	{ "health",      http_api_health, NEED_ADMIN_WRITES },
	{ "aliveness-test", http_api_aliveness, NEED_ADMIN_WRITES },
	{ "queues",      http_api_queues, NEED_ADMIN_WRITES },
	{ "exchanges",   http_api_exchanges, NEED_ADMIN_WRITES },
	{ "bindings",    http_api_bindings, NEED_ADMIN_WRITES },
	{ "connections", http_api_connections, NEED_ADMIN_WRITES },
	{ "channels",    http_api_channels, NEED_ADMIN_WRITES },
	{ "consumers",   http_api_consumers, NEED_ADMIN_WRITES },
	{ "users",       http_api_users, NEED_ADMIN_WRITES },
	{ "vhosts",      http_api_vhosts, NEED_ADMIN_WRITES },
	{ "permissions", http_api_permissions, NEED_ADMIN_WRITES },
	{ "topic-permissions", http_api_topic_permissions, NEED_ADMIN },
	{ "definitions", http_api_definitions, NEED_ADMIN_WRITES },
	{ "extensions",  http_api_extensions, NEED_ADMIN_WRITES },
	{ "policies",    http_api_policies, NEED_POLICYMAKER },
	{ "operator-policies", http_api_operator_policies, NEED_ADMIN },
};

/* false after a 401 when r's user may not use a resource needing need. */
static bool
allowed(struct http_req *r, enum need need)
{
	bool read = r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD;

	if (need == NEED_POLICYMAKER && !r->admin && !r->policymaker) {
		http_reply_error(r, 401, "not_authorized",
				 "User not authorised to access object");
		return false;
	}
	if (need == NEED_ADMIN || (need == NEED_ADMIN_WRITES && !read))
		return http_require_admin(r);
	return true;
}

/* Everything but RabbitMQ's is-in-service probe (for load balancers)
 * needs credentials. */
static bool
needs_auth(const struct http_req *r)
{
	return !(r->nseg == 4 && strcmp(r->seg[0], "api") == 0 &&
		 strcmp(r->seg[1], "health") == 0 && strcmp(r->seg[2], "checks") == 0 &&
		 strcmp(r->seg[3], "is-in-service") == 0);
}

/* The Prometheus listener serves /metrics[/per-object|/detailed] only,
 * with credentials only when prometheus.authentication says so. */
static void
dispatch_prometheus(struct http_req *r)
{
	if (r->nseg == 0 || strcmp(r->seg[0], "metrics") != 0) {
		http_reply_not_found(r);
		return;
	}
	if (r->l->prom_auth && !http_auth_check(r))
		return;
	http_prometheus(r);
}

static void
dispatch(struct http_req *r)
{
	if (http_ui_serve(r))                   /* the UI logs in by itself */
		return;
	if ((needs_auth(r) && !http_auth_check(r)) || !http_ranges_parse(r))
		return;
	if (strcmp(r->seg[0], "metrics") == 0 && r->nseg <= 2) {
		http_prometheus(r);
		return;
	}
	if (strcmp(r->seg[0], "api") != 0 || r->nseg < 2) {
		http_reply_not_found(r);
		return;
	}
	/* handlers see seg[0] as the resource */
	bk_free(r->seg[0]);
	memmove(r->seg, r->seg + 1, (size_t)(r->nseg - 1) * sizeof(r->seg[0]));
	r->nseg--;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].name, r->seg[0]) != 0)
			continue;
		if (allowed(r, routes[i].need))
			routes[i].fn(r);
		return;
	}
	http_reply_not_found(r);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http_listener *l = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct http_req r;

	memset(&r, 0, sizeof(r));
	r.l = l;
	r.req = req;
	r.method = evhttp_request_get_command(req);
	TAILQ_INIT(&r.query);
	if (path == NULL || !split_path(&r, path) ||
	    (query != NULL && evhttp_parse_query_str(query, &r.query) < 0)) {
		http_reply_bad_request(&r, "bad request path");
		goto out;
	}
	if (l->prometheus)
		dispatch_prometheus(&r);
	else
		dispatch(&r);
	if (!r.answered) {                      /* a handler forgot: our bug */
		bk_error("http: no reply for %s", path);
		http_reply_error(&r, 500, "internal_error", "no reply");
	}
out:
	for (int i = 0; i < r.nseg; i++)
		bk_free(r.seg[i]);
	evhttp_clear_headers(&r.query);
}

/* A listener with its evhttp, not yet bound. */
static struct http_listener *
listener_new(struct event_base *base, struct bk_broker *b, uint32_t max_body,
	     char *err, size_t errlen)
{
	struct http_listener *l = bk_calloc(1, sizeof(*l));
	char host[64] = "localhost";

	l->base = base;
	l->broker = b;
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(l->node, sizeof(l->node), "sluice@%s", host);
	if ((l->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "cannot create the HTTP server");
		http_listener_free(l);
		return NULL;
	}
	evhttp_set_max_body_size(l->http, max_body);
	evhttp_set_max_headers_size(l->http, 64 * 1024);
	evhttp_set_timeout(l->http, 60);
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
				   EVHTTP_REQ_DELETE);
	evhttp_set_gencb(l->http, on_request, l);
	return l;
}

/*
 * Listen on every address of list (separated by commas or blanks), all
 * on one port: port, or the one the first bind picked when port is 0.
 * Logs "listening NAME ADDR:PORT" for each. 0, or -1 with err.
 */
static int
bind_all(struct http_listener *l, const char *list, int port, const char *name,
	 char *err, size_t errlen)
{
	const char *p = list;
	char addr[64];
	size_t n;

	l->port = port;
	while (*(p += strspn(p, ", \t")) != '\0') {
		struct evhttp_bound_socket *sock;

		n = strcspn(p, ", \t");
		snprintf(addr, sizeof(addr), "%.*s", (int)(n < sizeof(addr) ? n : 0), p);
		p += n;
		sock = evhttp_bind_socket_with_handle(l->http, addr, (uint16_t)l->port);
		if (sock == NULL) {
			snprintf(err, errlen, "cannot listen on %s:%d: %s", addr, l->port,
				 strerror(errno));
			return -1;
		}
		l->port = bk_net_local_port(evhttp_bound_socket_get_fd(sock), l->port);
		bk_info("listening %s %s:%d", name, addr, l->port);
	}
	return 0;
}

struct http_listener *
http_listener_new(struct event_base *base, struct bk_broker *b,
		  const struct http_config *cfg, char *err, size_t errlen)
{
	struct http_listener *l = listener_new(base, b, cfg->max_body_size, err, errlen);

	if (l == NULL)
		return NULL;
	l->cfg = *cfg;
	if (bind_all(l, cfg->bind, cfg->port, "http", err, errlen) < 0) {
		http_listener_free(l);
		return NULL;
	}
	return l;
}

struct http_listener *
http_prometheus_new(struct event_base *base, struct bk_broker *b,
		    const struct prometheus_config *cfg, char *err, size_t errlen)
{
	/* scrapes send no body */
	struct http_listener *l = listener_new(base, b, 4096, err, errlen);

	if (l == NULL)
		return NULL;
	l->prometheus = true;
	l->prom_auth = cfg->authentication;
	l->prom_per_object = cfg->per_object;
	snprintf(l->cfg.bind, sizeof(l->cfg.bind), "%s", cfg->bind);
	if (bind_all(l, cfg->bind, cfg->port, "prometheus", err, errlen) < 0) {
		http_listener_free(l);
		return NULL;
	}
	return l;
}

int
http_listener_port(const struct http_listener *l)
{
	return l->port;
}

void
http_listener_announce(struct http_listener *l, const char *protocol,
		       const char *ip, int port)
{
	struct http_announced *a;

	if (l == NULL || l->nann == HTTP_MAX_ANNOUNCED)
		return;
	a = &l->ann[l->nann++];
	snprintf(a->protocol, sizeof(a->protocol), "%s", protocol);
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	a->port = port;
}

void
http_listener_free(struct http_listener *l)
{
	if (l == NULL)
		return;
	http_commit_cancel_all(l);
	if (l->http != NULL)
		evhttp_free(l->http);
	http_moves_free(l);
	bk_free(l);
}
