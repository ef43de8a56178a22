/* cluster_status: rabbitmqctl's report of the cluster's nodes, from
 * /api/overview (cluster name, product) and /api/nodes (each node's type,
 * state, cores, alarms, partitions and listeners). A single broker is a
 * cluster of one node, as RabbitMQ reports a node that never joined one.
 *
 *   Cluster status of node sluice@host ...
 *   Basics
 *
 *   Cluster name: sluice@host
 *   Total CPU cores available cluster-wide: 2
 *
 *   Disk Nodes          Running Nodes          Versions
 *   CPU Cores           Maintenance status     Alarms
 *   Network Partitions  Listeners              Feature flags
 *
 * Versions name the product ("sluice@host: Sluice 0.1.0"), without
 * RabbitMQ's " on Erlang X". --formatter json prints RabbitMQ's JSON
 * object (cluster_name, disk_nodes, ram_nodes, running_nodes, versions,
 * cpu_cores, maintenance_status, alarms, partitions, listeners,
 * feature_flags). */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cJSON *
get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *
str(const cJSON *o, const char *k, const char *dflt)
{
	const cJSON *v = get(o, k);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* RabbitMQ's listener purposes (its CLI's protocol labels). */
static const char *
purpose(const char *proto)
{
	static const struct { const char *proto, *label; } p[] = {
		{ "amqp", "AMQP 0-9-1 and AMQP 1.0" },
		{ "amqp/ssl", "AMQP 0-9-1 and AMQP 1.0 over TLS" },
		{ "mqtt", "MQTT" }, { "mqtt/ssl", "MQTT over TLS" },
		{ "http", "HTTP API" }, { "https", "HTTP API over TLS (HTTPS)" },
		{ "http/web-mqtt", "MQTT over WebSockets" },
		{ "https/web-mqtt", "MQTT over WebSockets and TLS (HTTPS)" },
		{ "http/prometheus", "Prometheus exporter API over HTTP" },
		{ "https/prometheus", "Prometheus exporter API over TLS (HTTPS)" },
	};

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (strcmp(proto, p[i].proto) == 0)
			return p[i].label;
	return proto;
}

static void
section(const char *title, bool first)
{
	if (!first)
		putchar('\n');
	if (isatty(STDOUT_FILENO))
		printf("\033[1m%s\033[0m\n\n", title);
	else
		printf("%s\n\n", title);
}

static cJSON *
member(cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Node n's alarms and listeners into the report. */
static void
add_node_lists(cJSON *out, const cJSON *n, const char *name)
{
	cJSON *ls = cJSON_AddArrayToObject(member(out, "listeners"), name);
	const cJSON *l;

	for (int a = 0; a < 2; a++) {
		cJSON *x;

		if (!cJSON_IsTrue(get(n, a == 0 ? "mem_alarm" : "disk_free_alarm")))
			continue;
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "node", name);
		cJSON_AddStringToObject(x, "resource", a == 0 ? "memory" : "disk");
		cJSON_AddStringToObject(x, "type", "resource_limit");
		cJSON_AddItemToArray(member(out, "alarms"), x);
	}
	cJSON_ArrayForEach(l, get(n, "listeners")) {
		cJSON *x = cJSON_CreateObject();
		const cJSON *port = get(l, "port");

		cJSON_AddStringToObject(x, "node", name);
		cJSON_AddStringToObject(x, "interface", str(l, "ip_address", "?"));
		cJSON_AddNumberToObject(x, "port", cJSON_IsNumber(port) ? port->valuedouble : 0);
		cJSON_AddStringToObject(x, "protocol", str(l, "protocol", "?"));
		cJSON_AddStringToObject(x, "purpose", purpose(str(l, "protocol", "?")));
		cJSON_AddItemToArray(ls, x);
	}
}

static void
add_node(cJSON *out, const cJSON *ov, const cJSON *n)
{
	const char *name = str(n, "name", "?");
	cJSON *v = cJSON_AddObjectToObject(member(out, "versions"), name);
	const cJSON *pc = get(n, "processors");

	cJSON_AddItemToArray(member(out, "disk_nodes"), cJSON_CreateString(name));
	if (!cJSON_IsFalse(get(n, "running")))
		cJSON_AddItemToArray(member(out, "running_nodes"), cJSON_CreateString(name));
	cJSON_AddStringToObject(v, "rabbitmq_name", str(ov, "product_name", "RabbitMQ"));
	cJSON_AddStringToObject(v, "rabbitmq_version",
				str(ov, "product_version", str(ov, "rabbitmq_version", "")));
	cJSON_AddStringToObject(v, "erlang_version", "");
	cJSON_AddNumberToObject(member(out, "cpu_cores"), name,
				cJSON_IsNumber(pc) ? pc->valuedouble : 0);
	cJSON_AddStringToObject(member(out, "maintenance_status"), name,
				cJSON_IsTrue(get(n, "being_drained"))
				? "marked for maintenance" : "not under maintenance");
	if (cJSON_GetArraySize(get(n, "partitions")) > 0)
		cJSON_AddItemToObject(member(out, "partitions"), name,
				      cJSON_Duplicate(get(n, "partitions"), 1));
	add_node_lists(out, n, name);
}

/* RabbitMQ's JSON report from the overview and the nodes. */
static cJSON *
report(const cJSON *ov, const cJSON *nodes)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *n;

	cJSON_AddStringToObject(out, "cluster_name", str(ov, "cluster_name", str(ov, "node", "")));
	cJSON_AddArrayToObject(out, "disk_nodes");
	cJSON_AddArrayToObject(out, "ram_nodes");
	cJSON_AddArrayToObject(out, "running_nodes");
	cJSON_AddObjectToObject(out, "versions");
	cJSON_AddObjectToObject(out, "cpu_cores");
	cJSON_AddObjectToObject(out, "maintenance_status");
	cJSON_AddArrayToObject(out, "alarms");
	cJSON_AddObjectToObject(out, "partitions");
	cJSON_AddObjectToObject(out, "listeners");
	cJSON_AddArrayToObject(out, "feature_flags");
	cJSON_ArrayForEach(n, nodes)
		add_node(out, ov, n);
	return out;
}

/* Each member of object o as "fmt" with its name and value. */
static void
lines_of(const cJSON *o, const char *fmt, bool number)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, o) {
		if (number)
			printf(fmt, it->string, it->valuedouble);
		else
			printf(fmt, it->string, cJSON_IsString(it) ? it->valuestring : "");
	}
}

static void
print_text(const cJSON *rep)
{
	const cJSON *it, *l;
	double total = 0;

	cJSON_ArrayForEach(it, get(rep, "cpu_cores"))
		total += it->valuedouble;
	section("Basics", true);
	printf("Cluster name: %s\n", str(rep, "cluster_name", ""));
	printf("Total CPU cores available cluster-wide: %.0f\n", total);
	section("Disk Nodes", false);
	cJSON_ArrayForEach(it, get(rep, "disk_nodes"))
		puts(it->valuestring);
	section("Running Nodes", false);
	cJSON_ArrayForEach(it, get(rep, "running_nodes"))
		puts(it->valuestring);
	section("Versions", false);
	cJSON_ArrayForEach(it, get(rep, "versions"))
		printf("%s: %s %s\n", it->string, str(it, "rabbitmq_name", ""),
		       str(it, "rabbitmq_version", ""));
	section("CPU Cores", false);
	lines_of(get(rep, "cpu_cores"), "Node: %s, available CPU cores: %.0f\n", true);
	section("Maintenance status", false);
	lines_of(get(rep, "maintenance_status"), "Node: %s, status: %s\n", false);
	section("Alarms", false);
	if (cJSON_GetArraySize(get(rep, "alarms")) == 0)
		puts("(none)");
	cJSON_ArrayForEach(it, get(rep, "alarms"))
		printf("%s alarm on node %s\n", strcmp(str(it, "resource", ""), "memory") == 0
		       ? "Memory" : "Free disk space", str(it, "node", ""));
	section("Network Partitions", false);
	if (cJSON_GetArraySize(get(rep, "partitions")) == 0)
		puts("(none)");
	cJSON_ArrayForEach(it, get(rep, "partitions")) {
		char *peers = cJSON_PrintUnformatted(it);

		printf("Node %s cannot communicate with %s\n", it->string, peers ? peers : "");
		free(peers);
	}
	section("Listeners", false);
	cJSON_ArrayForEach(it, get(rep, "listeners"))
		cJSON_ArrayForEach(l, it) {
			const char *ip = str(l, "interface", "");
			bool v6 = strchr(ip, ':') != NULL;   /* "[::1]", as RabbitMQ */

			printf("Node: %s, interface: %s%s%s, port: %.0f, protocol: %s, "
			       "purpose: %s\n", it->string, v6 ? "[" : "", ip, v6 ? "]" : "",
			       get(l, "port")->valuedouble, str(l, "protocol", ""),
			       str(l, "purpose", ""));
		}
	section("Feature flags", false);
	puts("(none)");
}

static int
cmd_cluster_status(struct ctl_opts *o)
{
	cJSON *ov = NULL, *nodes = NULL, *rep;
	int code;

	if ((code = ctl_api(o, "GET", "/api/overview", NULL, &ov, NULL, 0)) != 0)
		return code;
	if ((code = ctl_api(o, "GET", "/api/nodes", NULL, &nodes, NULL, 0)) != 0) {
		cJSON_Delete(ov);
		return code;
	}
	ctl_info(o, "Cluster status of node %s ...", o->node ? o->node : str(ov, "node", "?"));
	rep = report(ov, nodes);
	if (o->format == CTL_FMT_JSON) {
		char *s = cJSON_PrintUnformatted(rep);

		puts(s ? s : "{}");
		free(s);
	} else if (!o->silent) {
		print_text(rep);
	}
	cJSON_Delete(rep);
	cJSON_Delete(nodes);
	cJSON_Delete(ov);
	return 0;
}

const struct ctl_cmd ctl_cmds_cluster[] = {
	{ "cluster_status", cmd_cluster_status, 0, 0, "" },
	{ NULL, NULL, 0, 0, NULL }
};
