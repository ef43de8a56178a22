/*
 * http_authz.c: who may do what on the management API, decided once per
 * request before any handler runs, as RabbitMQ's management plugin scopes
 * it by user tag and vhost.
 *
 *   tag            sees                            changes
 *   administrator  everything                      everything
 *   monitoring     every vhost, every connection   nothing (read-only here;
 *                                                  RabbitMQ also lets it act
 *                                                  as management)
 *   management,    the vhosts it has permissions   objects in those vhosts,
 *   policymaker    on, its own connections and     with its AMQP permissions
 *                  channels                        (policies and parameters:
 *                                                  policymaker, to read too)
 *
 * Users, permissions, topic permissions, user limits, definitions and
 * every resource this file does not know are administrators' only.
 * Refusals of an authenticated user are 403 with RabbitMQ's body
 * ({"error": "not_authorised", "reason": "Not administrator user"}; RabbitMQ
 * answers 401 there); 401 stays for failed logins (http_auth.c).
 *
 * Lists are narrowed here too: http_reply_list asks http_authz_keep for
 * each item, so a handler cannot forget the filter.
 *
 * State-changing requests are guarded against cross-site requests: a
 * body must be declared application/json (POST always: it is the one
 * method a page of another origin can send without a preflight), and an
 * Origin header, when present, must name this server.
 */
#include "http_int.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum scope {
	S_ADMIN,                        /* administrators only */
	S_ANY,                          /* any management user; GET only for writes: admin */
	S_MONITOR,                      /* administrators and monitoring */
	S_VHOST,                        /* objects of the vhost in seg[vseg] */
	S_POLICY,                       /* like S_VHOST; writes need policymaker */
	S_VHOSTS,                       /* /api/vhosts... */
	S_CONNS,                        /* /api/connections... */
	S_CHANS,                        /* /api/channels... */
};

static const struct {
	const char *name;
	enum scope scope;
	int vseg;                       /* vhost segment for S_VHOST / S_POLICY */
	bool admin_writes;              /* changes are administrators' even so */
} routes[] = {
	{ "overview", S_ANY, 0, false }, { "whoami", S_ANY, 0, false },
	{ "health", S_ANY, 0, false }, { "healthchecks", S_ANY, 0, false },
	{ "extensions", S_ANY, 0, false }, { "cluster-name", S_ANY, 0, true },
	{ "nodes", S_MONITOR, 0, false },
	{ "queues", S_VHOST, 1, false }, { "exchanges", S_VHOST, 1, false },
	{ "bindings", S_VHOST, 1, false }, { "consumers", S_VHOST, 1, false },
	{ "aliveness-test", S_VHOST, 1, false }, { "stream", S_VHOST, 2, false },
	{ "vhost-limits", S_VHOST, 1, true },
	{ "policies", S_POLICY, 1, false }, { "parameters", S_POLICY, 2, false },
	{ "vhosts", S_VHOSTS, 1, true },
	{ "connections", S_CONNS, 0, false }, { "channels", S_CHANS, 0, false },
};

static bool
deny(struct http_req *r, const char *reason)
{
	http_reply_error(r, 403, "not_authorised", reason);
	return false;
}

static bool
is_read(const struct http_req *r)
{
	return r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD;
}

/* The user has permissions on vhost (RabbitMQ's "login vhosts"). */
static bool
login_vhost(struct http_req *r, const char *vhost)
{
	return bk_vhost_access(r->l->broker, bk_str_c(r->user), vhost, NULL) == BK_OK;
}

/* An absent vhost is left to the handler's 404, as RabbitMQ does. */
static bool
vhost_visible(struct http_req *r, const char *vhost)
{
	return r->monitor || bk_vhost_get(r->l->broker, vhost) == NULL ||
	       login_vhost(r, vhost);
}

/* ---- cross-site requests ----------------------------------------------- */

static bool
json_type(const char *ct)
{
	size_t n = strlen("application/json");

	return ct != NULL && strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* "http://HOST[:PORT]" naming this server (the request's Host). */
static bool
same_origin(struct http_req *r, const char *origin)
{
	const char *host = http_req_header(r, "Host");
	size_t n;

	if (strncasecmp(origin, "http://", 7) == 0)
		origin += 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		origin += 8;
	else
		return false;
	if (host == NULL)
		return false;
	n = strlen(host);
	return strncasecmp(origin, host, n) == 0 && (origin[n] == '\0' || origin[n] == '/');
}

static bool
csrf_ok(struct http_req *r)
{
	const char *ct = http_req_header(r, "Content-Type");
	const char *origin = http_req_header(r, "Origin");

	if (is_read(r))
		return true;
	if (origin != NULL && !same_origin(r, origin))
		return deny(r, "Origin does not match this server");
	if (json_type(ct))
		return true;
	/* PUT/DELETE with nothing in them, whatever type they name (a page
	 * cannot send those to another site without a CORS preflight;
	 * libcurl labels an empty body as a form) */
	if (r->method != EVHTTP_REQ_POST && evbuffer_get_length(http_req_body(r)) == 0)
		return true;
	http_reply_error(r, 415, "unsupported_media_type",
			 "state-changing requests take Content-Type: application/json");
	return false;
}

/* ---- per resource ------------------------------------------------------ */

static bool
vhost_scoped(struct http_req *r, int vseg, bool admin_writes, bool policy)
{
	const char *vh = r->nseg > vseg ? r->seg[vseg] : NULL;

	if (policy && !r->policymaker)          /* reading policies too */
		return deny(r, "User not authorised to access object");
	if (is_read(r)) {
		if (vh != NULL && !(policy && !r->admin ? login_vhost(r, vh)
							: vhost_visible(r, vh)))
			return deny(r, "User not authorised to access virtual host");
		if (vh == NULL && !r->admin && (policy || !r->monitor))
			r->filter = HTTP_FILTER_VHOST;
		return true;
	}
	if (r->admin)
		return true;
	if (admin_writes)
		return deny(r, "Not administrator user");
	if (policy ? !r->policymaker : !r->writer)
		return deny(r, "User not authorised to access object");
	if (vh != NULL && bk_vhost_get(r->l->broker, vh) != NULL && !login_vhost(r, vh))
		return deny(r, "User not authorised to access virtual host");
	return true;
}

static int
conn_user(void *arg, const struct bk_conn_view *v)
{
	snprintf(arg, 256, "%s", v->user ? v->user : "");
	return 0;
}

static int
chan_user(void *arg, const struct bk_chan_view *v)
{
	char **want = arg;

	if (strcmp(v->name, want[0]) != 0)
		return 0;
	snprintf(want[1], 256, "%s", v->user ? v->user : "");
	return 1;
}

/*
 * A connection or channel: its user may read it (and close a connection),
 * monitoring users read them all, administrators do everything. An
 * unknown name is left to the handler's 404.
 */
static bool
own_object(struct http_req *r, bool chan)
{
	char owner[256] = "";
	char *want[2] = { r->seg[1], owner };
	bool found;

	if (r->nseg == 1) {
		if (!is_read(r))
			return r->admin || deny(r, "Not administrator user");
		if (!r->monitor)
			r->filter = HTTP_FILTER_USER;
		return true;
	}
	found = chan ? bk_chans_each(r->l->broker, NULL, 0, chan_user, want) != 0
		     : bk_conn_inspect(r->l->broker, r->seg[1], conn_user, owner) == BK_OK;
	if (!found || strcmp(owner, r->user) == 0 || r->admin)
		return true;
	if (is_read(r) && r->monitor)
		return true;
	return deny(r, "User not authorised to access object");
}

static bool
vhosts(struct http_req *r)
{
	const char *sub = r->nseg > 2 ? r->seg[2] : NULL;

	if (r->nseg == 1) {
		if (!is_read(r))
			return r->admin || deny(r, "Not administrator user");
		if (!r->monitor)
			r->filter = HTTP_FILTER_VHOST_NAME;
		return true;
	}
	if (sub != NULL && (strcmp(sub, "permissions") == 0 ||
			    strcmp(sub, "topic-permissions") == 0))
		return r->admin || deny(r, "Not administrator user");
	if (sub != NULL && strcmp(sub, "connections") == 0 && is_read(r) && !r->monitor)
		r->filter = HTTP_FILTER_USER;
	return vhost_scoped(r, 1, true, false);
}

bool
http_authz_request(struct http_req *r)
{
	const char *res = r->seg[0];

	r->who_buf = (struct bk_who){ bk_str_c(r->user), { NULL, 0 } };
	r->who = r->admin ? NULL : &r->who_buf;
	if (!csrf_ok(r))
		return false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(res, routes[i].name) != 0)
			continue;
		switch (routes[i].scope) {
		case S_ANY:
			return is_read(r) || !routes[i].admin_writes || r->admin ||
			       deny(r, "Not administrator user");
		case S_MONITOR:
			return r->monitor || deny(r, "Not monitor user");
		case S_VHOST:
		case S_POLICY:
			return vhost_scoped(r, routes[i].vseg, routes[i].admin_writes,
					    routes[i].scope == S_POLICY);
		case S_VHOSTS:
			return vhosts(r);
		case S_CONNS:
		case S_CHANS:
			return own_object(r, routes[i].scope == S_CHANS);
		case S_ADMIN:
			break;
		}
	}
	return r->admin || deny(r, "Not administrator user");
}

bool
http_authz_metrics(struct http_req *r)
{
	return r->monitor || deny(r, "Not monitor user");
}

/* ---- lists ---------------------------------------------------------------- */

static const char *
str_at(const cJSON *o, const char *k1, const char *k2)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k1);

	if (k2 != NULL && cJSON_IsObject(v))
		v = cJSON_GetObjectItemCaseSensitive(v, k2);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool
http_authz_keep(struct http_req *r, const cJSON *item)
{
	const char *v;

	switch (r->filter) {
	case HTTP_FILTER_VHOST:
		/* consumers name their vhost under "queue" */
		v = str_at(item, "vhost", NULL);
		if (v == NULL)
			v = str_at(item, "queue", "vhost");
		return v != NULL && login_vhost(r, v);
	case HTTP_FILTER_VHOST_NAME:
		v = str_at(item, "name", NULL);
		return v != NULL && login_vhost(r, v);
	case HTTP_FILTER_USER:
		v = str_at(item, "user", NULL);
		return v != NULL && strcmp(v, r->user) == 0;
	default:
		return true;
	}
}

bool
http_authz_keep_vhost(struct http_req *r, const char *vhost)
{
	switch (r->filter) {
	case HTTP_FILTER_NONE:
		return true;
	case HTTP_FILTER_VHOST:
		return login_vhost(r, vhost);
	default:
		return false;           /* what http_authz_keep finds without the key */
	}
}

bool
http_permitted(struct http_req *r, enum bk_status st, const struct bk_err *err)
{
	if (st == BK_OK)
		return true;
	if (st == BK_ACCESS_REFUSED && err->permission)
		deny(r, err->text);
	else
		http_reply_status(r, err);
	return false;
}

bool
http_may(struct http_req *r, struct bk_vhost *vh, enum bk_perm what, const char *kind,
	 struct bk_str name)
{
	struct bk_err err;

	if (r->who == NULL)
		return true;
	return http_permitted(r, bk_access_check(vh, r->who->user, what, kind, name, &err),
			      &err);
}
