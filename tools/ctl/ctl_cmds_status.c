/* status: rabbitmqctl's node report, built from what the management API
 * exposes. /api/overview is required; /api/nodes (uptime, memory, alarms)
 * and /api/vhosts (vhost count) are used when present, so a smaller API
 * still gives a useful report. Section titles are bold on a terminal only. */
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

static void
section(const char *title)
{
	static bool first = true;

	if (!first)
		putchar('\n');
	first = false;
	if (isatty(STDOUT_FILENO))
		printf("\033[1m%s\033[0m\n\n", title);
	else
		printf("%s\n\n", title);
}

static void
field(const char *label, const cJSON *v)
{
	printf("%s: ", label);
	ctl_print_value(v, CTL_COL_PLAIN);
	putchar('\n');
}

/* The first node object, or NULL when /api/nodes is missing or empty. */
static cJSON *
fetch_node(const struct ctl_opts *o)
{
	cJSON *nodes = NULL, *node = NULL;
	int status = 0;

	if (ctl_api_status(o, "GET", "/api/nodes", NULL, NULL, &nodes, &status) != 0)
		return NULL;
	if (cJSON_IsArray(nodes) && cJSON_GetArraySize(nodes) > 0)
		node = cJSON_DetachItemFromArray(nodes, 0);
	cJSON_Delete(nodes);
	return node;
}

static int
count_vhosts(const struct ctl_opts *o)
{
	cJSON *vh = NULL;
	int status = 0, n = -1;

	if (ctl_api_status(o, "GET", "/api/vhosts", NULL, NULL, &vh, &status) == 0 &&
	    cJSON_IsArray(vh))
		n = cJSON_GetArraySize(vh);
	cJSON_Delete(vh);
	return n;
}

static void
add_alarm(cJSON *alarms, const cJSON *node, const char *flag, const char *name)
{
	if (cJSON_IsTrue(get(node, flag)))
		cJSON_AddItemToArray(alarms, cJSON_CreateString(name));
}

static void
print_text(const cJSON *ov, const cJSON *node, const cJSON *alarms, int nvh)
{
	const cJSON *totals = get(ov, "object_totals"), *l, *up;

	section("Runtime");
	if (node && get(node, "os_pid"))
		field("OS PID", get(node, "os_pid"));
	if ((up = get(node, "uptime")) && cJSON_IsNumber(up))
		printf("Uptime (seconds): %.0f\n", up->valuedouble / 1000.0);
	field("Product name", get(ov, "product_name"));
	field("Product version", get(ov, "product_version"));
	field("RabbitMQ version", get(ov, "rabbitmq_version"));
	field("Node name", get(ov, "node"));

	section("Alarms");
	if (cJSON_GetArraySize(alarms) == 0)
		puts("(none)");
	cJSON_ArrayForEach(l, alarms)
		printf("%s\n", l->valuestring);

	if (node && get(node, "mem_used")) {
		const cJSON *used = get(node, "mem_used"), *lim = get(node, "mem_limit");

		section("Memory");
		if (cJSON_IsNumber(used))
			printf("Total memory used: %.4f gb\n", used->valuedouble / 1e9);
		if (cJSON_IsNumber(lim))
			printf("Memory high watermark: %.4f gb\n", lim->valuedouble / 1e9);
	}

	section("Totals");
	field("Connection count", get(totals, "connections"));
	field("Queue count", get(totals, "queues"));
	if (nvh >= 0)
		printf("Virtual host count: %d\n", nvh);

	section("Listeners");
	cJSON_ArrayForEach(l, get(ov, "listeners")) {
		printf("Interface: ");
		ctl_print_value(get(l, "ip_address"), 0);
		printf(", port: ");
		ctl_print_value(get(l, "port"), 0);
		printf(", protocol: ");
		ctl_print_value(get(l, "protocol"), 0);
		putchar('\n');
	}
}

static void
print_json(const cJSON *ov, const cJSON *node, cJSON *alarms, int nvh)
{
	cJSON *out = cJSON_CreateObject(), *ls = cJSON_CreateArray();
	const cJSON *l, *totals = get(ov, "object_totals");
	static const char *copy[] = { "node", "product_name", "product_version",
		"rabbitmq_version", "erlang_version", NULL };
	char *s;

	for (int i = 0; copy[i]; i++)
		if (get(ov, copy[i]))
			cJSON_AddItemToObject(out, copy[i], cJSON_Duplicate(get(ov, copy[i]), 1));
	if (node && cJSON_IsNumber(get(node, "uptime")))
		cJSON_AddNumberToObject(out, "uptime", get(node, "uptime")->valuedouble / 1000.0);
	if (node && get(node, "mem_used")) {
		cJSON *mem = cJSON_AddObjectToObject(out, "memory");

		cJSON_AddItemToObject(mem, "total", cJSON_Duplicate(get(node, "mem_used"), 1));
	}
	cJSON_AddItemReferenceToObject(out, "alarms", alarms);
	cJSON_ArrayForEach(l, get(ov, "listeners")) {
		cJSON *x = cJSON_CreateObject();

		cJSON_AddItemToObject(x, "interface", cJSON_Duplicate(get(l, "ip_address"), 1));
		cJSON_AddItemToObject(x, "port", cJSON_Duplicate(get(l, "port"), 1));
		cJSON_AddItemToObject(x, "protocol", cJSON_Duplicate(get(l, "protocol"), 1));
		cJSON_AddItemToArray(ls, x);
	}
	cJSON_AddItemToObject(out, "listeners", ls);
	if (totals) {
		cJSON *t = cJSON_CreateObject();

		cJSON_AddItemToObject(t, "connection_count",
		                      cJSON_Duplicate(get(totals, "connections"), 1));
		cJSON_AddItemToObject(t, "queue_count",
		                      cJSON_Duplicate(get(totals, "queues"), 1));
		if (nvh >= 0)
			cJSON_AddNumberToObject(t, "virtual_host_count", nvh);
		cJSON_AddItemToObject(out, "totals", t);
	}
	s = cJSON_PrintUnformatted(out);
	puts(s ? s : "{}");
	free(s);
	cJSON_Delete(out);
}

int ctl_cmd_status(struct ctl_opts *o);

int
ctl_cmd_status(struct ctl_opts *o)
{
	cJSON *ov = NULL, *node, *alarms;
	int code, nvh;

	if ((code = ctl_api(o, "GET", "/api/overview", NULL, &ov, NULL, 0)) != 0)
		return code;
	if (!cJSON_IsObject(ov)) {
		cJSON_Delete(ov);
		return ctl_fail(CTL_EX_SOFTWARE, "unexpected answer from /api/overview");
	}
	if (cJSON_IsString(get(ov, "node")))
		ctl_info(o, "Status of node %s ...", get(ov, "node")->valuestring);
	node = fetch_node(o);
	nvh = count_vhosts(o);
	alarms = cJSON_CreateArray();
	add_alarm(alarms, node, "mem_alarm", "memory");
	add_alarm(alarms, node, "disk_free_alarm", "free_disk_space");
	if (o->format == CTL_FMT_JSON)
		print_json(ov, node, alarms, nvh);
	else
		print_text(ov, node, alarms, nvh);
	cJSON_Delete(alarms);
	cJSON_Delete(node);
	cJSON_Delete(ov);
	return 0;
}
