/* Health checks with rabbitmq-diagnostics' names, banners and answers, over
 * the API's /api/health/checks/... (which answer 200, or 503 when the check
 * fails):
 *
 *   check_running                      /api/health/checks/is-in-service
 *   check_alarms, check_local_alarms   .../alarms, .../local-alarms
 *   check_port_listener <port>         .../port-listener/<port>
 *   check_protocol_listener <proto>    .../protocol-listener/<proto>
 *   check_virtual_hosts                .../virtual-hosts
 *   check_certificate_expiration       .../certificate-expiration/<n>/<unit>
 *   check_if_node_is_quorum_critical   .../node-is-quorum-critical
 *   check_if_metadata_store_is_initialized[_with_data]
 *                                      .../metadata-store/initialized[/with-data]
 *   check_if_node_is_below_connection_limit
 *                                      .../below-node-connection-limit
 *   check_if_node_is_ready_to_serve_clients
 *                                      .../ready-to-serve-clients
 *   ping                               /api/overview answers
 *
 * A passed check prints its sentence (nothing with --silent; {"result":"ok"}
 * with --formatter json) and exits 0. A failed one prints "Error:" and the
 * reasons on stderr (a JSON object on stdout with --formatter json) and exits
 * 69, as rabbitmq-diagnostics does. Banners name the node: --node, or the
 * node the API reports. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_LEN 512

/* The node name for banners: --node, else /api/overview's "node" (written to
 * <buf>). 0 or an exit code. */
static int
node_name(struct ctl_opts *o, char *buf, size_t cap)
{
	cJSON *ov = NULL;
	const cJSON *n;
	int code;

	if (o->node) {
		snprintf(buf, cap, "%s", o->node);
		return 0;
	}
	if ((code = ctl_api(o, "GET", "/api/overview", NULL, &ov, NULL, 0)) != 0)
		return code;
	n = cJSON_GetObjectItemCaseSensitive(ov, "node");
	snprintf(buf, cap, "%s", cJSON_IsString(n) ? n->valuestring : "unknown");
	cJSON_Delete(ov);
	return 0;
}

static void
print_json(cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);

	puts(s ? s : "{}");
	free(s);
	cJSON_Delete(obj);
}

/* A passed check: <msg> (printf-style), or {"result":"ok"}. */
static int
passed(const struct ctl_opts *o, const char *msg)
{
	if (o->format == CTL_FMT_JSON) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "result", "ok");
		print_json(j);
	} else if (!o->silent) {
		puts(msg);
	}
	return 0;
}

/* A failed check: <json> (taken; "result":"error" is added) on stdout for
 * the JSON formatter, else "Error:\n<msg>" on stderr. Exit 69. */
static int
failed(const struct ctl_opts *o, cJSON *json, const char *msg)
{
	if (o->format == CTL_FMT_JSON) {
		cJSON_AddItemToObject(json, "result", cJSON_CreateString("error"));
		print_json(json);
		return CTL_EX_UNAVAILABLE;
	}
	cJSON_Delete(json);
	if (o->silent)
		return CTL_EX_UNAVAILABLE;
	return ctl_fail(CTL_EX_UNAVAILABLE, "%s", msg);
}

static const cJSON *
get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int
by_text(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t dx, dy;

	x = x ? x : "";
	y = y ? y : "";
	dx = strspn(x, "0123456789");
	dy = strspn(y, "0123456789");
	if (dx && dy && !x[dx] && !y[dy] && dx != dy)
		return dx < dy ? -1 : 1;    /* ports: 5672 before 15672 */
	return strcmp(x, y);
}

/* ", "-joined values of array <a> (numbers or strings), sorted. */
static void
join_sorted(const cJSON *a, char *buf, size_t cap)
{
	int n = cJSON_GetArraySize(a), k = 0;
	char **items = calloc((size_t)n + 1, sizeof(*items));
	const cJSON *it;
	size_t len = 0;

	buf[0] = '\0';
	if (!items)
		return;
	cJSON_ArrayForEach(it, a)
		items[k++] = cJSON_IsString(it) ? strdup(it->valuestring)
		                                : cJSON_PrintUnformatted(it);
	qsort(items, (size_t)k, sizeof(*items), by_text);
	for (int i = 0; i < k; i++) {
		if (items[i] && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s",
			                        i ? ", " : "", items[i]);
		free(items[i]);
	}
	free(items);
}

/* Runs check <path> after <banner>; on success prints <ok>, on failure calls
 * <fail> with the 503 body. */
static int
run_check(struct ctl_opts *o, const char *path,
          int (*fail)(struct ctl_opts *, const char *, cJSON *),
          const char *node, const char *ok)
{
	cJSON *body = NULL;
	bool good = false;
	int code = ctl_api_check(o, path, &body, &good);

	if (code != 0)
		return code;
	if (good) {
		cJSON_Delete(body);
		return passed(o, ok);
	}
	return fail(o, node, body);
}

/* The alarm lines of a failed alarms check, as rabbitmq-diagnostics words
 * them: "Memory alarm on node N", "Free disk space alarm on node N". */
static int
fail_alarms(struct ctl_opts *o, const char *node, cJSON *body, bool local)
{
	cJSON *json = cJSON_CreateObject(), *lines = cJSON_CreateArray();
	char msg[2048] = "", line[512];
	size_t len = 0;
	const cJSON *a;

	cJSON_ArrayForEach(a, get(body, "alarms")) {
		const cJSON *res = get(a, "resource"), *n = get(a, "node");

		snprintf(line, sizeof(line), "%s alarm on node %s",
		         cJSON_IsString(res) && !strcmp(res->valuestring, "memory")
		         ? "Memory" : "Free disk space",
		         cJSON_IsString(n) ? n->valuestring : node);
		cJSON_AddItemToArray(lines, cJSON_CreateString(line));
		if (len < sizeof(msg))
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s",
			                        len ? "\n" : "", line);
	}
	cJSON_Delete(body);
	cJSON_AddItemToObject(json, "local", lines);
	if (!local)              /* one node: every alarm is local */
		cJSON_AddItemToObject(json, "global", cJSON_CreateArray());
	snprintf(line, sizeof(line), "Node %s reported %salarms", node,
	         local ? "local " : "");
	cJSON_AddStringToObject(json, "message", line);
	return failed(o, json, msg);
}

static int
fail_local_alarms(struct ctl_opts *o, const char *node, cJSON *body)
{
	return fail_alarms(o, node, body, true);
}

static int
fail_all_alarms(struct ctl_opts *o, const char *node, cJSON *body)
{
	return fail_alarms(o, node, body, false);
}

/* Port and protocol listener checks share their failure: what is missing
 * and what listens instead ("ports" or "protocols" in the 503 body). */
static int
fail_listener(struct ctl_opts *o, const char *node, cJSON *body, bool port)
{
	const char *key = port ? "ports" : "protocols";
	cJSON *json = cJSON_CreateObject(), *have = cJSON_DetachItemFromObject(body, key);
	cJSON *missing = cJSON_DetachItemFromObject(body, "missing");
	char list[1024], msg[1500], *want = NULL;

	if (!have)
		have = cJSON_CreateArray();
	want = missing && cJSON_IsString(missing) ? strdup(missing->valuestring)
	       : cJSON_PrintUnformatted(missing);
	join_sorted(have, list, sizeof(list));
	snprintf(msg, sizeof(msg), "No listener for %s %s is active on node %s. "
	         "Found listeners %s: %s", port ? "port" : "protocol",
	         want ? want : "", node, port ? "that use the following ports"
	         : "for the following protocols", list);
	free(want);
	cJSON_AddItemToObject(json, "missing", missing ? missing : cJSON_CreateNull());
	cJSON_AddItemToObject(json, key, have);
	cJSON_Delete(body);
	return failed(o, json, msg);
}

static int
fail_port(struct ctl_opts *o, const char *node, cJSON *body)
{
	return fail_listener(o, node, body, true);
}

static int
fail_protocol(struct ctl_opts *o, const char *node, cJSON *body)
{
	return fail_listener(o, node, body, false);
}

static int
cmd_check_port_listener(struct ctl_opts *o)
{
	char node[256], ok[512], path[PATH_LEN], *end;
	long port = strtol(o->args[0], &end, 10);
	int code;

	if (!*o->args[0] || *end || port < 1 || port > 65535)
		return ctl_usage_error("'%s' is not a valid port number", o->args[0]);
	if ((code = node_name(o, node, sizeof(node))) != 0)
		return code;
	ctl_info(o, "Asking node %s if there's an active listener on port %ld ...",
	         node, port);
	snprintf(ok, sizeof(ok), "A listener for port %ld is running on node %s.",
	         port, node);
	snprintf(path, sizeof(path), "/api/health/checks/port-listener/%ld", port);
	return run_check(o, path, fail_port, node, ok);
}

static int
cmd_check_protocol_listener(struct ctl_opts *o)
{
	char node[256], ok[512], path[PATH_LEN];
	const char *proto = o->args[0];
	int code;

	if ((code = node_name(o, node, sizeof(node))) != 0)
		return code;
	ctl_info(o, "Asking node %s if there's an active listener for protocol %s ...",
	         node, proto);
	snprintf(ok, sizeof(ok), "A listener for protocol %s is running on node %s.",
	         proto, node);
	snprintf(path, sizeof(path), "/api/health/checks/protocol-listener/%s",
	         ctl_url_seg(proto));
	return run_check(o, path, fail_protocol, node, ok);
}

/* Checks whose failure is just the API's "reason". */
static int
fail_reason(struct ctl_opts *o, const char *node, cJSON *body)
{
	const cJSON *r = get(body, "reason");
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s (node %s)",
	         cJSON_IsString(r) ? r->valuestring : "check failed", node);
	return failed(o, body, msg);
}

/* The checks that take no argument: banner and sentence name the node. */
struct fixed_check {
	const char *path;
	const char *banner;          /* printf format, one %s: the node */
	const char *ok;              /* the same */
	int (*fail)(struct ctl_opts *, const char *, cJSON *);
};

static const struct fixed_check fixed[] = {
#define CHECK_RUNNING 0
	{ "/api/health/checks/is-in-service",
	  "Checking if RabbitMQ is running on node %s ...",
	  "RabbitMQ on node %s is fully booted and running", fail_reason },
#define CHECK_ALARMS 1
	{ "/api/health/checks/alarms",
	  "Asking node %s to report any local resource alarms ...",
	  "Node %s reported no alarms, local or clusterwide", fail_all_alarms },
#define CHECK_LOCAL_ALARMS 2
	{ "/api/health/checks/local-alarms",
	  "Asking node %s to report any local resource alarms ...",
	  "Node %s reported no local alarms", fail_local_alarms },
#define CHECK_VHOSTS 3
	{ "/api/health/checks/virtual-hosts",
	  "Checking if all vhosts are running on node %s ...",
	  "Node %s reported all vhosts as running", fail_reason },
#define CHECK_QUORUM 4
	{ "/api/health/checks/node-is-quorum-critical",
	  "Checking if node %s is critical for quorum of any quorum queues ...",
	  "Node %s reported no quorum queues with minimum quorum", fail_reason },
#define CHECK_MDS 5
	{ "/api/health/checks/metadata-store/initialized",
	  "Checking if the metadata store on node %s is initialized ...",
	  "Metadata store on node %s is initialized", fail_reason },
#define CHECK_MDS_DATA 6
	{ "/api/health/checks/metadata-store/initialized/with-data",
	  "Checking if the metadata store on node %s is initialized with data ...",
	  "Metadata store on node %s is initialized and has data", fail_reason },
#define CHECK_CONN_LIMIT 7
	{ "/api/health/checks/below-node-connection-limit",
	  "Checking if node %s is below its connection limit ...",
	  "Node %s is below its connection limit", fail_reason },
#define CHECK_READY 8
	{ "/api/health/checks/ready-to-serve-clients",
	  "Checking if node %s is ready to serve clients ...",
	  "Node %s is ready to serve clients", fail_reason },
};

static int
fixed_check(struct ctl_opts *o, int k)
{
	const struct fixed_check *c = &fixed[k];
	char node[256], ok[512];
	int code;

	if ((code = node_name(o, node, sizeof(node))) != 0)
		return code;
	ctl_info(o, c->banner, node);
	snprintf(ok, sizeof(ok), c->ok, node);
	return run_check(o, c->path, c->fail, node, ok);
}

static int cmd_check_running(struct ctl_opts *o) { return fixed_check(o, CHECK_RUNNING); }
static int cmd_check_alarms(struct ctl_opts *o) { return fixed_check(o, CHECK_ALARMS); }
static int cmd_check_local_alarms(struct ctl_opts *o) { return fixed_check(o, CHECK_LOCAL_ALARMS); }
static int cmd_check_virtual_hosts(struct ctl_opts *o) { return fixed_check(o, CHECK_VHOSTS); }
static int cmd_check_quorum_critical(struct ctl_opts *o) { return fixed_check(o, CHECK_QUORUM); }
static int cmd_check_mds(struct ctl_opts *o) { return fixed_check(o, CHECK_MDS); }
static int cmd_check_mds_data(struct ctl_opts *o) { return fixed_check(o, CHECK_MDS_DATA); }
static int cmd_check_conn_limit(struct ctl_opts *o) { return fixed_check(o, CHECK_CONN_LIMIT); }
static int cmd_check_ready(struct ctl_opts *o) { return fixed_check(o, CHECK_READY); }

static const char *
text_of(const cJSON *v)
{
	return cJSON_IsString(v) ? v->valuestring : "?";
}

/* ", "-joined dates (or reasons) of one file's list, or its "error". */
static void
expiry_text(const cJSON *v, char *buf, size_t cap)
{
	const cJSON *it, *err = get(v, "error");
	size_t len = 0;

	buf[0] = '\0';
	if (cJSON_IsString(err)) {
		snprintf(buf, cap, "%s", err->valuestring);
		return;
	}
	cJSON_ArrayForEach(it, v)
		if (cJSON_IsString(it) && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
			                        it->valuestring);
}

/* One line per file with something expiring: "<protocol> listener on
 * <interface> port <port>: <file>: <dates>". */
static int
fail_certs(struct ctl_opts *o, const char *node, cJSON *body)
{
	static const char *const files[][2] = {
		{ "certfile", "certfile_expires_on" }, { "cacertfile", "cacertfile_expires_on" },
	};
	cJSON *expired = cJSON_DetachItemFromObject(body, "expired"), *json;
	char msg[4096] = "", dates[1024];
	size_t len = 0;
	const cJSON *l;

	cJSON_ArrayForEach(l, expired)
		for (int f = 0; f < 2; f++) {
			const cJSON *file = get(l, files[f][0]);

			expiry_text(get(l, files[f][1]), dates, sizeof(dates));
			if (!dates[0] || len >= sizeof(msg))
				continue;
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
			                        "%s%s listener on %s port %d: %s: %s",
			                        len ? "\n" : "", text_of(get(l, "protocol")),
			                        text_of(get(l, "interface")),
			                        (int)cJSON_GetNumberValue(get(l, "port")),
			                        text_of(file), dates);
		}
	cJSON_Delete(body);
	json = cJSON_CreateObject();
	cJSON_AddItemToObject(json, "expired", expired ? expired : cJSON_CreateArray());
	(void)node;
	return failed(o, json, msg);
}

static int
cmd_check_certificate_expiration(struct ctl_opts *o)
{
	static const char *const units[] = { "days", "weeks", "months", "years", NULL };
	const char *unit = o->unit ? o->unit : "weeks";
	long within = o->within ? strtol(o->within, NULL, 10) : 4;
	char node[256], ok[512], path[PATH_LEN];
	int code, k;

	for (k = 0; units[k] && strcmp(units[k], unit) != 0; k++)
		;
	if (!units[k])
		return ctl_usage_error("unit '%s' is not supported. Please use one of: "
		                       "days, weeks, months, years", unit);
	if ((code = node_name(o, node, sizeof(node))) != 0)
		return code;
	ctl_info(o, "Checking certificate expiration on node %s ...", node);
	/* "1 week", "4 weeks" */
	snprintf(ok, sizeof(ok), "No certificates are expiring within %ld %.*s.",
	         within, (int)strlen(unit) - (within == 1), unit);
	snprintf(path, sizeof(path), "/api/health/checks/certificate-expiration/%ld/%s",
	         within, unit);
	return run_check(o, path, fail_certs, node, ok);
}

/* Reachability only: is-in-service needs no credentials. */
static int
cmd_ping(struct ctl_opts *o)
{
	char where[300];
	cJSON *body = NULL;
	bool good = false;
	int code;

	if (o->node)
		snprintf(where, sizeof(where), "%s", o->node);
	else
		snprintf(where, sizeof(where), "%s:%d", o->host, o->port);
	ctl_info(o, "Will ping %s. This only checks if the management API answers. "
	         "Timeout: %d ms.", where, o->timeout_ms);
	code = ctl_api_check(o, "/api/health/checks/is-in-service", &body, &good);
	cJSON_Delete(body);
	if (code != 0)
		return code;
	if (!good)
		return ctl_fail(CTL_EX_UNAVAILABLE, "%s is not in service", where);
	if (!o->silent && o->format != CTL_FMT_JSON)
		puts("Ping succeeded");
	return 0;
}

const struct ctl_cmd ctl_cmds_health[] = {
	{ "check_running", cmd_check_running, 0, 0, "" },
	{ "check_alarms", cmd_check_alarms, 0, 0, "" },
	{ "check_local_alarms", cmd_check_local_alarms, 0, 0, "" },
	{ "check_port_listener", cmd_check_port_listener, 1, 1, "<port>" },
	{ "check_protocol_listener", cmd_check_protocol_listener, 1, 1, "<protocol>" },
	{ "check_virtual_hosts", cmd_check_virtual_hosts, 0, 0, "" },
	{ "check_certificate_expiration", cmd_check_certificate_expiration, 0, 0,
	  "[--within <period>] [--unit <unit>]" },
	{ "check_if_node_is_quorum_critical", cmd_check_quorum_critical, 0, 0, "" },
	{ "check_if_metadata_store_is_initialized", cmd_check_mds, 0, 0, "" },
	{ "check_if_metadata_store_is_initialized_with_data", cmd_check_mds_data, 0, 0, "" },
	{ "check_if_node_is_below_connection_limit", cmd_check_conn_limit, 0, 0, "" },
	{ "check_if_node_is_ready_to_serve_clients", cmd_check_ready, 0, 0, "" },
	{ "ping", cmd_ping, 0, 0, "" },
	{ NULL, NULL, 0, 0, NULL }
};
