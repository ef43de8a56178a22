/*
 * http_api_health.c: /api/health/checks/... and /api/aliveness-test/VHOST,
 * the HTTP counterparts of `rabbitmq-diagnostics check_*` that load
 * balancers and Kubernetes probes call, with RabbitMQ's bodies:
 *
 *   alarms, local-alarms        200 {"status":"ok"}, or 503 with "reason"
 *                               and "alarms": [{"node", "resource"}]
 *                               ("memory", "disk space")
 *   port-listener/PORT          {"status":"ok","port":N}; 503 "missing",
 *                               "ports"; 400 "Invalid port"
 *   protocol-listener/PROTO     {"status":"ok","protocol":"amqp"} (RabbitMQ's
 *                               aliases: amqp091, mqtt311, http_api, ...);
 *                               503 "missing", "protocols"; a list
 *                               "amqp,mqtt" as RabbitMQ 4.1: "protocols"
 *                               (active), "missing" a list
 *   below-node-connection-limit an AMQP client could connect now (4.1)
 *   ready-to-serve-clients      that, and an AMQP listener is up (4.1)
 *   metadata-store/initialized[/with-data]
 *                               definitions loaded (and a vhost exists)
 *   virtual-hosts               every vhost is up: {"status":"ok"}
 *   certificate-expiration/N/U  checks N and U (days, weeks, months,
 *                               years) as RabbitMQ; 503 "Certificates
 *                               expiring" with "expired": the TLS
 *                               listeners whose certificate or CA file
 *                               has a certificate that expires within
 *                               the period (http_certs.c)
 *   is-in-service               {"status":"ok"}, without authentication
 *                               (the dispatcher lets it through), as
 *                               RabbitMQ
 *   node-is-quorum-critical     {"status":"ok"}: a single node holds no
 *                               quorum a restart could lose
 */
#include "http_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
reply_ok(struct http_req *r, const char *key, cJSON *val)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ok");
	if (key != NULL)
		cJSON_AddItemToObject(o, key, val);
	http_reply_json(r, 200, o);
}

/* 503 {"status":"failed","reason":reason} plus o's members (taken). */
static void
reply_failed(struct http_req *r, const char *reason, cJSON *more)
{
	cJSON *o = cJSON_CreateObject(), *it;

	cJSON_AddStringToObject(o, "status", "failed");
	cJSON_AddStringToObject(o, "reason", reason);
	while (more != NULL && (it = more->child) != NULL) {
		cJSON_DetachItemViaPointer(more, it);
		cJSON_AddItemToObject(o, it->string, it);
	}
	cJSON_Delete(more);
	http_reply_json(r, 503, o);
}

static void
check_alarms(struct http_req *r, bool local)
{
	unsigned alarms = bk_alarms(r->l->broker);
	cJSON *more, *arr;

	if (alarms == 0) {
		reply_ok(r, NULL, NULL);
		return;
	}
	more = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(more, "alarms");
	for (int i = 0; i < 2; i++) {
		unsigned bit = i == 0 ? BK_ALARM_MEMORY : BK_ALARM_DISK;
		cJSON *a;

		if (!(alarms & bit))
			continue;
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "node", r->l->node);
		cJSON_AddStringToObject(a, "resource", i == 0 ? "memory" : "disk space");
		cJSON_AddItemToArray(arr, a);
	}
	reply_failed(r, local ? "There are alarms in effect on the node"
			      : "There are alarms in effect in the cluster", more);
}

/* Every listener the node has (the transport's), at most
 * HTTP_MAX_LISTENERS. */
struct listeners {
	const char *proto[HTTP_MAX_LISTENERS];
	int port[HTTP_MAX_LISTENERS];
	uint32_t conns[HTTP_MAX_LISTENERS];
	int n;
};

static int
add_listener(void *arg, const struct net_listener_view *v)
{
	struct listeners *ls = arg;

	if (ls->n == HTTP_MAX_LISTENERS)
		return 1;
	ls->proto[ls->n] = v->protocol;
	ls->conns[ls->n] = v->connections;
	ls->port[ls->n++] = v->port;
	return 0;
}

static void
listeners(struct http_req *r, struct listeners *ls)
{
	ls->n = 0;
	if (r->l->net)
		net_listeners_each(r->l->net, add_listener, ls);
}

static void
check_port(struct http_req *r, const char *arg)
{
	struct listeners ls;
	cJSON *more, *ports;
	char *end;
	long v = strtol(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || v < 0 || v > 65535) {
		http_reply_bad_request(r, "Invalid port");
		return;
	}
	listeners(r, &ls);
	for (int i = 0; i < ls.n; i++)
		if (ls.port[i] == (int)v) {
			reply_ok(r, "port", cJSON_CreateNumber((double)v));
			return;
		}
	more = cJSON_CreateObject();
	cJSON_AddNumberToObject(more, "missing", (double)v);
	ports = cJSON_AddArrayToObject(more, "ports");
	for (int i = 0; i < ls.n; i++)
		cJSON_AddItemToArray(ports, cJSON_CreateNumber(ls.port[i]));
	reply_failed(r, "No active listener", more);
}

/* RabbitMQ's protocol aliases (normalize_protocol), lower-cased in buf. */
static const char *
normalize_protocol(const char *in, size_t len, char *buf, size_t cap)
{
	static const struct { const char *alias, *proto; } a[] = {
		{ "amqp091", "amqp" }, { "amqp0.9.1", "amqp" }, { "amqp0-9-1", "amqp" },
		{ "amqp0_9_1", "amqp" }, { "amqp10", "amqp" }, { "amqp1.0", "amqp" },
		{ "amqp1-0", "amqp" }, { "amqp1_0", "amqp" }, { "amqps", "amqp/ssl" },
		{ "mqtt3.1", "mqtt" }, { "mqtt3.1.1", "mqtt" }, { "mqtt31", "mqtt" },
		{ "mqtt311", "mqtt" }, { "mqtt3_1", "mqtt" }, { "mqtt3_1_1", "mqtt" },
		{ "mqtts", "mqtt/ssl" }, { "mqtt+tls", "mqtt/ssl" }, { "mqtt+ssl", "mqtt/ssl" },
		{ "http1", "http" }, { "http1.1", "http" }, { "http_api", "http" },
		{ "management", "http" }, { "management_ui", "http" }, { "ui", "http" },
		{ "prometheus", "http/prometheus" },
		{ "webmqtt", "http/web-mqtt" }, { "web-mqtt", "http/web-mqtt" },
		{ "web_mqtt", "http/web-mqtt" }, { "webmqtt/tls", "https/web-mqtt" },
		{ "web-mqtt/tls", "https/web-mqtt" }, { "webmqtt/ssl", "https/web-mqtt" },
		{ "web-mqtt/ssl", "https/web-mqtt" }, { "webmqtt+tls", "https/web-mqtt" },
		{ "web-mqtt+tls", "https/web-mqtt" }, { "webmqtt+ssl", "https/web-mqtt" },
		{ "web-mqtt+ssl", "https/web-mqtt" },
	};
	size_t i;

	for (i = 0; i < len && i + 1 < cap; i++)
		buf[i] = (char)tolower((unsigned char)in[i]);
	buf[i] = '\0';
	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (strcmp(buf, a[i].alias) == 0)
			return a[i].proto;
	return buf;
}

/* Whether one of the first n listeners speaks proto. */
static bool
has_protocol_n(const struct listeners *ls, int n, const char *proto)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ls->proto[i], proto) == 0)
			return true;
	return false;
}

static bool
has_protocol(const struct listeners *ls, const char *proto)
{
	return has_protocol_n(ls, ls->n, proto);
}

/* protocol-listener/PROTO, or (RabbitMQ 4.1) a comma-separated list,
 * answered as 4.1 does: "protocols" the active ones, "missing" a list. */
static void
check_protocol(struct http_req *r, const char *arg)
{
	bool list = strchr(arg, ',') != NULL;
	cJSON *more = cJSON_CreateObject(), *missing = cJSON_CreateArray(), *protos;
	struct listeners ls;
	const char *want = NULL, *p = arg;
	char buf[64];

	listeners(r, &ls);
	do {
		size_t len = strcspn(p, ",");

		want = normalize_protocol(p, len, buf, sizeof(buf));
		if (!has_protocol(&ls, want))
			cJSON_AddItemToArray(missing, cJSON_CreateString(want));
		p += len + (p[len] == ',');
	} while (list && *p != '\0');
	if (cJSON_GetArraySize(missing) == 0 && !list) {
		cJSON_Delete(more);
		cJSON_Delete(missing);
		reply_ok(r, "protocol", cJSON_CreateString(want));
		return;
	}
	protos = cJSON_CreateArray();
	for (int i = 0; i < ls.n; i++)
		if (!has_protocol_n(&ls, i, ls.proto[i]))    /* each once */
			cJSON_AddItemToArray(protos, cJSON_CreateString(ls.proto[i]));
	if (cJSON_GetArraySize(missing) == 0) {
		cJSON_Delete(more);
		cJSON_Delete(missing);
		reply_ok(r, "protocols", protos);
		return;
	}
	if (list) {
		cJSON_AddItemToObject(more, "missing", missing);
	} else {
		cJSON_AddItemToObject(more, "missing", cJSON_DetachItemFromArray(missing, 0));
		cJSON_Delete(missing);
	}
	cJSON_AddItemToObject(more, "protocols", protos);
	reply_failed(r, "No active listener", more);
}

/* below-node-connection-limit (RabbitMQ 4.1): the AMQP listeners' open
 * connections against the node's limit. Here a connection is refused
 * when all listeners together hold broker.max_connections, or an AMQP
 * listener holds amqp.max_connections: the check fails when an AMQP
 * client could not connect. */
static bool
below_limit(struct http_req *r, const struct listeners *ls, uint32_t *amqp_conns)
{
	uint32_t node_max = r->l->cfg.node_max_connections;
	uint32_t amqp_max = r->l->cfg.amqp_max_connections;
	uint64_t all = 0;
	bool room = false;

	*amqp_conns = 0;
	for (int i = 0; i < ls->n; i++) {
		bool amqp = !strcmp(ls->proto[i], "amqp") || !strcmp(ls->proto[i], "amqp/ssl");

		all += ls->conns[i];
		if (!amqp)
			continue;
		*amqp_conns += ls->conns[i];
		if (amqp_max == 0 || ls->conns[i] < amqp_max)
			room = true;
	}
	return room && (node_max == 0 || all < node_max);
}

/* below-node-connection-limit and ready-to-serve-clients (RabbitMQ
 * 4.1, for probes: the node serves, an AMQP listener is up, and a
 * client may connect), with RabbitMQ's bodies. */
static void
check_clients(struct http_req *r, bool ready)
{
	struct listeners ls;
	uint32_t conns;
	cJSON *more;

	listeners(r, &ls);
	if (ready && !has_protocol(&ls, "amqp") && !has_protocol(&ls, "amqp/ssl")) {
		reply_failed(r, "no active listeners for AMQP/AMQPS", NULL);
		return;
	}
	if (below_limit(r, &ls, &conns)) {
		reply_ok(r, NULL, NULL);
		return;
	}
	more = cJSON_CreateObject();
	if (ready)
		cJSON_AddNumberToObject(more, "connections", conns);
	reply_failed(r, "node connection limit is reached", more);
}

/* metadata-store/initialized[/with-data] (RabbitMQ 4.x): the
 * definitions are loaded before any listener opens, so the store is
 * ready whenever this answers; "with data" asks for a vhost too. */
static int
count_vhost(void *arg, const struct bk_vhost_view *v)
{
	(void)v;
	++*(int *)arg;
	return 0;
}

static void
check_metadata(struct http_req *r, bool with_data)
{
	int n = 0;

	if (with_data)
		bk_vhosts_each(r->l->broker, count_vhost, &n);
	if (with_data && n == 0)
		reply_failed(r, "Metadata store has not yet been initialized: "
			     "it reports to have no virtual hosts", NULL);
	else
		reply_ok(r, NULL, NULL);
}

static void
check_certificates(struct http_req *r, const char *within, const char *unit)
{
	static const char *const units[] = { "days", "weeks", "months", "years" };
	static const double secs[] = { 86400.0, 7 * 86400.0, 86400.0 * 365 / 12,
				       365 * 86400.0 };
	char u[16], *end;
	long long n;
	size_t i;
	cJSON *expiring, *more;

	errno = 0;
	n = strtoll(within, &end, 10);
	if (*within == '\0' || *end != '\0' || errno == ERANGE) {
		http_reply_bad_request(r, "Invalid expiration value.");
		return;
	}
	for (i = 0; unit[i] != '\0' && i + 1 < sizeof(u); i++)
		u[i] = (char)tolower((unsigned char)unit[i]);
	u[i] = '\0';
	for (i = 0; i < 4 && strcmp(u, units[i]) != 0; i++)
		;
	if (i == 4 || strlen(unit) >= sizeof(u)) {
		http_reply_bad_request(r, "Time unit not recognised. Supported units: "
				       "days, weeks, months, years.");
		return;
	}
	expiring = http_certs_expiring(r, (double)n * secs[i]);
	if (cJSON_GetArraySize(expiring) == 0) {
		cJSON_Delete(expiring);
		reply_ok(r, NULL, NULL);
		return;
	}
	more = cJSON_CreateObject();
	cJSON_AddItemToObject(more, "expired", expiring);
	reply_failed(r, "Certificates expiring", more);
}

void
http_api_health(struct http_req *r)
{
	const char *c = r->nseg >= 3 && strcmp(r->seg[1], "checks") == 0 ? r->seg[2] : "";

	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD)
		http_reply_method_not_allowed(r);
	else if (r->nseg == 3 && (!strcmp(c, "alarms") || !strcmp(c, "local-alarms")))
		check_alarms(r, strcmp(c, "local-alarms") == 0);
	else if (r->nseg == 4 && strcmp(c, "port-listener") == 0)
		check_port(r, r->seg[3]);
	else if (r->nseg == 4 && strcmp(c, "protocol-listener") == 0)
		check_protocol(r, r->seg[3]);
	else if (r->nseg == 3 && (!strcmp(c, "below-node-connection-limit") ||
				  !strcmp(c, "ready-to-serve-clients")))
		check_clients(r, strcmp(c, "ready-to-serve-clients") == 0);
	else if (strcmp(c, "metadata-store") == 0 && r->nseg >= 4 &&
		 strcmp(r->seg[3], "initialized") == 0 &&
		 (r->nseg == 4 || (r->nseg == 5 && strcmp(r->seg[4], "with-data") == 0)))
		check_metadata(r, r->nseg == 5);
	else if (r->nseg == 5 && strcmp(c, "certificate-expiration") == 0)
		check_certificates(r, r->seg[3], r->seg[4]);
	else if (r->nseg == 3 && (!strcmp(c, "virtual-hosts") || !strcmp(c, "is-in-service") ||
				  !strcmp(c, "node-is-quorum-critical")))
		reply_ok(r, NULL, NULL);
	else
		http_reply_not_found(r);
}

/*
 * /api/aliveness-test/VHOST: declare "aliveness-test", publish one
 * message to it and get it back, as RabbitMQ does, with the caller's
 * permissions (configure and read on the queue, write on the default
 * exchange) as RabbitMQ's channel for it has.
 */
void
http_api_aliveness(struct http_req *r)
{
	struct bk_queue_decl qd = { .name = BK_STR_LIT("aliveness-test"),
				    .owner = http_owner };
	struct bk_props props = { 0 };
	struct bk_route_result res;
	struct bk_delivery *d = NULL;
	struct bk_queue *q;
	struct bk_vhost *vh;
	struct bk_msg *m;
	struct bk_err err;
	const char *name;
	uint32_t n, c;
	cJSON *o;

	if (r->nseg != 2) {
		http_reply_not_found(r);
		return;
	}
	if ((vh = http_vhost_arg(r, 1)) == NULL)
		return;
	qd.who = r->who;
	if (!http_permitted(r, bk_queue_declare(vh, &qd, &name, &n, &c, &err), &err) ||
	    !http_may(r, vh, BK_PERM_READ, "queue", qd.name) ||
	    (r->who != NULL && !http_permitted(r, bk_access_publish(vh, r->who, BK_STR_LIT(""),
								  qd.name, NULL, &err), &err)))
		return;
	m = bk_msg_new(BK_STR_LIT(""), qd.name, &props, 12);
	memcpy(bk_msg_body(m), "test_message", 12);
	if (bk_publish(vh, BK_STR_LIT(""), m, &res, &err) != BK_OK) {
		bk_msg_unref(m);
		http_reply_status(r, &err);
		return;
	}
	bk_msg_unref(m);
	if ((q = bk_queue_get(vh, qd.name)) != NULL &&
	    bk_queue_get_one(q, true, &d, &n) == BK_OK && d != NULL)
		bk_delivery_settle(d, BK_SETTLE_ACK);
	o = cJSON_CreateObject();
	if (d != NULL) {
		cJSON_AddStringToObject(o, "status", "ok");
		http_reply_json(r, 200, o);
	} else {
		cJSON_AddStringToObject(o, "status", "failed");
		cJSON_AddStringToObject(o, "reason", "aliveness test message not received");
		http_reply_json(r, 503, o);
	}
}
