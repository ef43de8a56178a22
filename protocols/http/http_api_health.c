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
 *                               503 "missing", "protocols"
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

/* Every listener the node has (the transport's), at most max. */
struct listener_list {
	const char **proto;
	int *port;
	int n, max;
};

static int
add_listener(void *arg, const struct net_listener_view *v)
{
	struct listener_list *ll = arg;

	if (ll->n == ll->max)
		return 1;
	ll->proto[ll->n] = v->protocol;
	ll->port[ll->n++] = v->port;
	return 0;
}

static int
listeners(struct http_req *r, const char **proto, int *port, int max)
{
	struct listener_list ll = { proto, port, 0, max };

	if (r->l->net)
		net_listeners_each(r->l->net, add_listener, &ll);
	return ll.n;
}

static void
check_port(struct http_req *r, const char *arg)
{
	const char *proto[HTTP_MAX_LISTENERS];
	int port[HTTP_MAX_LISTENERS], n, want;
	cJSON *more, *ports;
	char *end;
	long v = strtol(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || v < 0 || v > 65535) {
		http_reply_bad_request(r, "Invalid port");
		return;
	}
	want = (int)v;
	n = listeners(r, proto, port, HTTP_MAX_LISTENERS);
	for (int i = 0; i < n; i++)
		if (port[i] == want) {
			reply_ok(r, "port", cJSON_CreateNumber(want));
			return;
		}
	more = cJSON_CreateObject();
	cJSON_AddNumberToObject(more, "missing", want);
	ports = cJSON_AddArrayToObject(more, "ports");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(ports, cJSON_CreateNumber(port[i]));
	reply_failed(r, "No active listener", more);
}

/* RabbitMQ's protocol aliases (normalize_protocol), lower-cased in buf. */
static const char *
normalize_protocol(const char *in, char *buf, size_t cap)
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
	};
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < cap; i++)
		buf[i] = (char)tolower((unsigned char)in[i]);
	buf[i] = '\0';
	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (strcmp(buf, a[i].alias) == 0)
			return a[i].proto;
	return buf;
}

static void
check_protocol(struct http_req *r, const char *arg)
{
	const char *proto[HTTP_MAX_LISTENERS], *want;
	int port[HTTP_MAX_LISTENERS], n;
	char buf[64];
	cJSON *more, *protos;

	want = normalize_protocol(arg, buf, sizeof(buf));
	n = listeners(r, proto, port, HTTP_MAX_LISTENERS);
	for (int i = 0; i < n; i++)
		if (strcmp(proto[i], want) == 0) {
			reply_ok(r, "protocol", cJSON_CreateString(want));
			return;
		}
	more = cJSON_CreateObject();
	cJSON_AddStringToObject(more, "missing", want);
	protos = cJSON_AddArrayToObject(more, "protocols");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(protos, cJSON_CreateString(proto[i]));
	reply_failed(r, "No active listener", more);
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
	memcpy(m->body, "test_message", 12);
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
