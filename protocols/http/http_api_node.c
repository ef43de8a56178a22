/*
 * http_api_node.c: /api/nodes[/NAME], /api/whoami and /api/extensions.
 *
 * A node object carries RabbitMQ's field names for what Sluice has a
 * meaning for: descriptors and sockets in use and their limits (from
 * /proc and RLIMIT_NOFILE, with RabbitMQ's rule for sockets_total), the
 * memory the alarm counts and its watermark, free disk space on
 * data_dir and the disk alarm's limit, uptime, listeners. Erlang figures
 * (processes, GC, run queue) are left out, run_queue 0 where rabbitmqadmin
 * reads it. The *_details of mem_used, fd_used, sockets_used and
 * disk_free are rates with node_stats_age/_incr windows.
 *
 * In a replicated cluster (cluster/) the leader answers for every node
 * it knows: itself, with cluster_role "leader" and its cluster node
 * name, and each follower as a node of its own (running while it
 * streams from the leader) with cluster_role "follower", in_sync and its
 * replication lag in bytes and records. A follower serves no API.
 */
#include "http_int.h"
#include "bk_proc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static cJSON *
auth_mechanisms(void)
{
	static const struct { const char *name, *desc; } m[] = {
		{ "AMQPLAIN", "QPid AMQPLAIN mechanism" },
		{ "PLAIN", "SASL PLAIN authentication mechanism" },
	};
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", m[i].name);
		cJSON_AddStringToObject(o, "description", m[i].desc);
		cJSON_AddBoolToObject(o, "enabled", true);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* fd, socket, memory and disk figures with their limits and details. */
static void
node_resources(struct http_req *r, cJSON *o, const struct bk_overview *ov)
{
	struct bk_proc_stats ps;
	uint64_t disk_free = 0, disk_limit = 0;

	bk_proc_stats_get(&ps);
	bk_disk_space(r->l->broker, &disk_free, &disk_limit);
	http_json_stat1(r, o, "fd_used", (double)ps.fds_open, ov->hist, BK_HF_FD_USED,
			HTTP_WIN_NODE_STATS);
	cJSON_AddNumberToObject(o, "fd_total", (double)ps.fds_max);
	http_json_stat1(r, o, "sockets_used", (double)ps.sockets_open, ov->hist,
			BK_HF_SOCKETS_USED, HTTP_WIN_NODE_STATS);
	cJSON_AddNumberToObject(o, "sockets_total", (double)ps.sockets_max);
	http_json_stat1(r, o, "mem_used", (double)ov->mem_used, ov->hist, BK_HF_MEM_USED,
			HTTP_WIN_NODE_STATS);
	cJSON_AddNumberToObject(o, "mem_limit", (double)ov->mem_high_watermark);
	cJSON_AddBoolToObject(o, "mem_alarm", (ov->alarms & BK_ALARM_MEMORY) != 0);
	cJSON_AddStringToObject(o, "mem_calculation_strategy", "allocated");
	http_json_stat1(r, o, "disk_free", (double)disk_free, ov->hist, BK_HF_DISK_FREE,
			HTTP_WIN_NODE_STATS);
	cJSON_AddNumberToObject(o, "disk_free_limit", (double)disk_limit);
	cJSON_AddBoolToObject(o, "disk_free_alarm", (ov->alarms & BK_ALARM_DISK) != 0);
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
	node_resources(r, o, &ov);
	cJSON_AddNumberToObject(o, "uptime", (double)ov.uptime_ms);
	cJSON_AddNumberToObject(o, "processors", nproc > 0 ? (double)nproc : 1);
	cJSON_AddStringToObject(o, "rates_mode", "basic");
	cJSON_AddNumberToObject(o, "run_queue", 0);
	cJSON_AddItemToObject(o, "exchange_types", http_exchange_types_json());
	cJSON_AddItemToObject(o, "auth_mechanisms", auth_mechanisms());
	cJSON_AddItemToObject(o, "listeners", http_listeners_json(r->l));
	cJSON_AddItemToObject(o, "contexts", http_contexts_json(r->l));
	cJSON_AddItemToObject(o, "applications", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "enabled_plugins", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "cluster_links", cJSON_CreateArray());
	return o;
}

struct cluster_nodes {
	cJSON *self;                    /* this node's object */
	cJSON *arr;                     /* followers go here */
	const char *only;               /* /api/nodes/NAME: that follower only */
};

static void
cluster_node(void *arg, const struct bk_cluster_node *n)
{
	struct cluster_nodes *cn = arg;
	cJSON *o;

	if (n->leader) {
		cJSON_AddStringToObject(cn->self, "cluster_role", "leader");
		cJSON_AddStringToObject(cn->self, "cluster_node_name", n->name);
		return;
	}
	if (cn->only && strcmp(cn->only, n->name) != 0)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", n->name);
	cJSON_AddStringToObject(o, "type", "disc");
	cJSON_AddBoolToObject(o, "running", n->running);
	cJSON_AddStringToObject(o, "cluster_role", "follower");
	cJSON_AddBoolToObject(o, "in_sync", n->in_sync);
	cJSON_AddNumberToObject(o, "replication_lag_bytes", (double)n->lag_bytes);
	cJSON_AddNumberToObject(o, "replication_lag_records", (double)n->lag_records);
	cJSON_AddItemToArray(cn->arr, o);
}

void
http_api_nodes(struct http_req *r)
{
	struct cluster_nodes cn = { node_json(r), cJSON_CreateArray(), NULL };

	if (r->nseg == 2 && strcmp(r->seg[1], r->l->node) != 0)
		cn.only = r->seg[1];
	bk_cluster_each(r->l->broker, cluster_node, &cn);
	if (r->nseg == 1) {
		cJSON_InsertItemInArray(cn.arr, 0, cn.self);
		http_reply_list(r, cn.arr, "name", NULL);
		return;
	}
	if (r->nseg == 2 && cn.only == NULL) {
		http_reply_object(r, cn.self);
		cn.self = NULL;
	} else if (r->nseg == 2 && cJSON_GetArraySize(cn.arr) == 1) {
		http_reply_object(r, cJSON_DetachItemFromArray(cn.arr, 0));
	} else {
		http_reply_not_found(r);
	}
	cJSON_Delete(cn.self);
	cJSON_Delete(cn.arr);
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

	if (r->nseg != 1) {
		cJSON_Delete(o);
		http_reply_not_found(r);
		return;
	}
	if (bk_user_inspect(r->l->broker, r->user, whoami_user, o, &err) != BK_OK) {
		cJSON_AddStringToObject(o, "name", r->user);
		cJSON_AddItemToObject(o, "tags", cJSON_CreateArray());
	}
	http_reply_json(r, 200, o);
}

/* The management UI's plugin extensions: none (the UI is built in). */
void
http_api_extensions(struct http_req *r)
{
	if (r->nseg != 1)
		http_reply_not_found(r);
	else
		http_reply_json(r, 200, cJSON_CreateArray());
}
