/*
 * http_api_overview.c: /api/overview, /api/nodes, /api/whoami,
 * /api/health/checks/alarms and /api/aliveness-test/VHOST.
 *
 * Field names are RabbitMQ's (management 3.10+); values Sluice has no
 * counterpart for (Erlang process counts, GC) are left out rather than
 * invented, except where rabbitmqadmin reads them.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

/* What RabbitMQ 3.13 announces; clients compare against it. */
#define HTTP_RABBITMQ_VERSION "3.13.0"

/* Counters the broker-wide and vhost message_stats carry. */
#define OVERVIEW_STATS ((1u << BK_MS_PUBLISH) | (1u << BK_MS_CONFIRM) | \
	(1u << BK_MS_DELIVER) | (1u << BK_MS_DELIVER_NO_ACK) | (1u << BK_MS_GET) | \
	(1u << BK_MS_GET_NO_ACK) | (1u << BK_MS_ACK) | (1u << BK_MS_REDELIVER) | \
	(1u << BK_MS_RETURN_UNROUTABLE) | (1u << BK_MS_DROP_UNROUTABLE))

static cJSON *
exchange_types(void)
{
	static const char *const t[] = { "direct", "fanout", "headers", "topic" };
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < 4; i++) {
		cJSON *o = cJSON_CreateObject();
		char d[96];

		snprintf(d, sizeof(d), "AMQP %s exchange, as per the AMQP specification", t[i]);
		cJSON_AddStringToObject(o, "name", t[i]);
		cJSON_AddStringToObject(o, "description", d);
		cJSON_AddBoolToObject(o, "enabled", true);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *
listeners(struct http_listener *l)
{
	cJSON *arr = cJSON_CreateArray(), *o;

	for (int i = 0; i < l->nann; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "node", l->node);
		cJSON_AddStringToObject(o, "protocol", l->ann[i].protocol);
		cJSON_AddStringToObject(o, "ip_address", l->ann[i].ip);
		cJSON_AddNumberToObject(o, "port", l->ann[i].port);
		cJSON_AddItemToObject(o, "socket_opts", cJSON_CreateObject());
		cJSON_AddItemToArray(arr, o);
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "node", l->node);
	cJSON_AddStringToObject(o, "protocol", "http");
	cJSON_AddStringToObject(o, "ip_address", l->cfg.bind);
	cJSON_AddNumberToObject(o, "port", l->port);
	cJSON_AddItemToObject(o, "socket_opts", cJSON_CreateObject());
	cJSON_AddItemToArray(arr, o);
	return arr;
}

static cJSON *
contexts(struct http_listener *l)
{
	cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
	char port[16];

	snprintf(port, sizeof(port), "%d", l->port);
	cJSON_AddItemToObject(o, "ssl_opts", cJSON_CreateArray());
	cJSON_AddStringToObject(o, "node", l->node);
	cJSON_AddStringToObject(o, "description", "Sluice Management");
	cJSON_AddStringToObject(o, "path", "/");
	cJSON_AddStringToObject(o, "ip", l->cfg.bind);
	cJSON_AddStringToObject(o, "port", port);
	cJSON_AddItemToArray(arr, o);
	return arr;
}

static void
add_queue_totals(cJSON *o, const struct bk_queue_totals *t)
{
	http_json_count(o, "messages", (double)t->messages, 0);
	http_json_count(o, "messages_ready", (double)t->messages_ready, 0);
	http_json_count(o, "messages_unacknowledged", (double)t->messages_unacknowledged, 0);
}

void
http_api_overview(struct http_req *r)
{
	struct bk_overview ov;
	cJSON *o, *t;

	if (r->nseg != 1) {
		http_reply_not_found(r);
		return;
	}
	bk_overview_get(r->l->broker, &ov);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "management_version", HTTP_RABBITMQ_VERSION);
	cJSON_AddStringToObject(o, "rates_mode", "basic");
	cJSON_AddItemToObject(o, "exchange_types", exchange_types());
	cJSON_AddStringToObject(o, "product_version", SLUICE_VERSION);
	cJSON_AddStringToObject(o, "product_name", "Sluice");
	cJSON_AddStringToObject(o, "rabbitmq_version", HTTP_RABBITMQ_VERSION);
	cJSON_AddStringToObject(o, "cluster_name", r->l->node);
	cJSON_AddStringToObject(o, "erlang_version", "none");
	cJSON_AddBoolToObject(o, "disable_stats", false);
	cJSON_AddBoolToObject(o, "enable_queue_totals", true);
	cJSON_AddItemToObject(o, "message_stats",
			      http_json_msg_stats(&ov.ms, &ov.rates, OVERVIEW_STATS, true));
	t = cJSON_AddObjectToObject(o, "queue_totals");
	add_queue_totals(t, &ov.queue_totals);
	t = cJSON_AddObjectToObject(o, "object_totals");
	cJSON_AddNumberToObject(t, "channels", ov.object_totals.channels);
	cJSON_AddNumberToObject(t, "connections", ov.object_totals.connections);
	cJSON_AddNumberToObject(t, "consumers", ov.object_totals.consumers);
	cJSON_AddNumberToObject(t, "exchanges", ov.object_totals.exchanges);
	cJSON_AddNumberToObject(t, "queues", ov.object_totals.queues);
	cJSON_AddNumberToObject(t, "vhosts", ov.object_totals.vhosts);
	cJSON_AddNumberToObject(o, "statistics_db_event_queue", 0);
	cJSON_AddStringToObject(o, "node", r->l->node);
	cJSON_AddItemToObject(o, "listeners", listeners(r->l));
	cJSON_AddItemToObject(o, "contexts", contexts(r->l));
	/* Sluice's own: what the dashboard draws */
	cJSON_AddNumberToObject(o, "uptime", (double)ov.uptime_ms);
	cJSON_AddNumberToObject(o, "mem_used", (double)ov.mem_used);
	cJSON_AddNumberToObject(o, "sample_interval", ov.sample_interval_ms);
	http_reply_object(r, o);
}

static cJSON *
node_json(struct http_req *r)
{
	struct bk_overview ov;
	cJSON *o = cJSON_CreateObject();
	char pid[24];
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);

	bk_overview_get(r->l->broker, &ov);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	cJSON_AddStringToObject(o, "name", r->l->node);
	cJSON_AddStringToObject(o, "type", "disc");
	cJSON_AddBoolToObject(o, "running", true);
	cJSON_AddBoolToObject(o, "being_drained", false);
	cJSON_AddStringToObject(o, "os_pid", pid);
	cJSON_AddItemToObject(o, "partitions", cJSON_CreateArray());
	cJSON_AddNumberToObject(o, "mem_used", (double)ov.mem_used);
	cJSON_AddNumberToObject(o, "mem_limit", (double)ov.mem_high_watermark);
	cJSON_AddBoolToObject(o, "mem_alarm", (ov.alarms & BK_ALARM_MEMORY) != 0);
	cJSON_AddBoolToObject(o, "disk_free_alarm", (ov.alarms & BK_ALARM_DISK) != 0);
	cJSON_AddNumberToObject(o, "uptime", (double)ov.uptime_ms);
	cJSON_AddNumberToObject(o, "processors", nproc > 0 ? (double)nproc : 1);
	cJSON_AddStringToObject(o, "rates_mode", "basic");
	cJSON_AddNumberToObject(o, "run_queue", 0);
	cJSON_AddItemToObject(o, "exchange_types", exchange_types());
	cJSON_AddItemToObject(o, "listeners", listeners(r->l));
	cJSON_AddItemToObject(o, "contexts", contexts(r->l));
	cJSON_AddItemToObject(o, "applications", cJSON_CreateArray());
	return o;
}

void
http_api_nodes(struct http_req *r)
{
	cJSON *arr;

	if (r->nseg == 1) {
		arr = cJSON_CreateArray();
		cJSON_AddItemToArray(arr, node_json(r));
		http_reply_list(r, arr, "name", NULL);
	} else if (r->nseg == 2 && strcmp(r->seg[1], r->l->node) == 0) {
		http_reply_object(r, node_json(r));
	} else {
		http_reply_not_found(r);
	}
}

static int
whoami_user(void *arg, const struct bk_user_view *v)
{
	cJSON *o = arg;

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddItemToObject(o, "tags", http_json_tags(v->tags));
	return 0;
}

void
http_api_whoami(struct http_req *r)
{
	struct bk_err err;
	cJSON *o = cJSON_CreateObject();

	if (bk_user_inspect(r->l->broker, r->user, whoami_user, o, &err) != BK_OK) {
		cJSON_AddStringToObject(o, "name", r->user);
		cJSON_AddItemToObject(o, "tags", cJSON_CreateArray());
	}
	http_reply_json(r, 200, o);
}

/* /api/health/checks/alarms: 503 while a resource alarm is raised. */
void
http_api_health(struct http_req *r)
{
	unsigned alarms;
	cJSON *o, *arr;

	if (r->nseg != 3 || strcmp(r->seg[1], "checks") != 0 ||
	    (strcmp(r->seg[2], "alarms") != 0 && strcmp(r->seg[2], "local-alarms") != 0)) {
		http_reply_not_found(r);
		return;
	}
	alarms = bk_alarms(r->l->broker);
	o = cJSON_CreateObject();
	if (alarms == 0) {
		cJSON_AddStringToObject(o, "status", "ok");
		http_reply_json(r, 200, o);
		return;
	}
	cJSON_AddStringToObject(o, "status", "failed");
	cJSON_AddStringToObject(o, "reason", "resource alarm(s) in effect in the cluster");
	arr = cJSON_AddArrayToObject(o, "alarms");
	if (alarms & BK_ALARM_MEMORY) {
		cJSON *a = cJSON_CreateObject();

		cJSON_AddStringToObject(a, "node", r->l->node);
		cJSON_AddStringToObject(a, "resource", "memory");
		cJSON_AddItemToArray(arr, a);
	}
	if (alarms & BK_ALARM_DISK) {
		cJSON *a = cJSON_CreateObject();

		cJSON_AddStringToObject(a, "node", r->l->node);
		cJSON_AddStringToObject(a, "resource", "disk");
		cJSON_AddItemToArray(arr, a);
	}
	http_reply_json(r, 503, o);
}

/*
 * /api/aliveness-test/VHOST: declare "aliveness-test", publish one
 * message to it and get it back, as RabbitMQ does.
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
	if (bk_queue_declare(vh, &qd, &name, &n, &c, &err) != BK_OK) {
		http_reply_status(r, &err);
		return;
	}
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
