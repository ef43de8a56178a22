/*
 * http_metrics.c: GET /metrics in the Prometheus text format 0.0.4.
 *
 * Names follow RabbitMQ's prometheus plugin where it has the metric
 * (rabbitmq_queue_messages_ready{vhost,queue}, rabbitmq_connections,
 * rabbitmq_global_messages_*_total, ...); what only Sluice has is
 * sluice_*. Label values are escaped as the format requires (\\, \",
 * \n), since queue and vhost names are client-chosen.
 */
#include "http_int.h"
#include "bk_proc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

static void
esc(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
head(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metric(struct evbuffer *out, const char *name, double v)
{
	evbuffer_add_printf(out, "%s %.17g\n", name, v);
}

struct qwalk {
	struct evbuffer *out;
	int which;
};

enum { Q_READY, Q_UNACKED, Q_MESSAGES, Q_CONSUMERS, Q_BYTES, Q_PUBLISHED,
       Q_DELIVERED, Q_ACKED, Q__COUNT };

static const struct {
	const char *name, *type, *help;
} qmetrics[Q__COUNT] = {
	[Q_READY] = { "rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers" },
	[Q_UNACKED] = { "rabbitmq_queue_messages_unacked", "gauge", "Messages delivered to consumers but not yet acknowledged" },
	[Q_MESSAGES] = { "rabbitmq_queue_messages", "gauge", "Sum of ready and unacknowledged messages" },
	[Q_CONSUMERS] = { "rabbitmq_queue_consumers", "gauge", "Consumers on a queue" },
	[Q_BYTES] = { "rabbitmq_queue_messages_ready_bytes", "gauge", "Size in bytes of ready messages" },
	[Q_PUBLISHED] = { "sluice_queue_messages_published_total", "counter", "Messages enqueued" },
	[Q_DELIVERED] = { "sluice_queue_messages_delivered_total", "counter", "Messages delivered or fetched" },
	[Q_ACKED] = { "sluice_queue_messages_acked_total", "counter", "Messages acknowledged" },
};

static int
each_queue(void *arg, const struct bk_queue_view *v)
{
	struct qwalk *w = arg;
	double x = 0;

	switch (w->which) {
	case Q_READY: x = (double)v->messages_ready; break;
	case Q_UNACKED: x = (double)v->messages_unacknowledged; break;
	case Q_MESSAGES: x = (double)v->messages; break;
	case Q_CONSUMERS: x = v->consumers; break;
	case Q_BYTES: x = (double)v->message_bytes_ready; break;
	case Q_PUBLISHED: x = (double)v->ms.n[BK_MS_PUBLISH]; break;
	case Q_DELIVERED: x = (double)bk_msg_stats_deliver_get(&v->ms); break;
	case Q_ACKED: x = (double)v->ms.n[BK_MS_ACK]; break;
	}
	evbuffer_add_printf(w->out, "%s{vhost=\"", qmetrics[w->which].name);
	esc(w->out, v->vhost);
	evbuffer_add(w->out, "\",queue=\"", 9);
	esc(w->out, v->name);
	evbuffer_add_printf(w->out, "\"} %.17g\n", x);
	return 0;
}

static void
global_counters(struct evbuffer *out, const struct bk_overview *ov)
{
	static const struct { const char *name; int stat; const char *help; } g[] = {
		{ "rabbitmq_global_messages_received_total", BK_MS_PUBLISH_IN, "Messages received from publishers" },
		{ "rabbitmq_global_messages_routed_total", BK_MS_PUBLISH, "Messages routed to queues" },
		{ "rabbitmq_global_messages_unroutable_dropped_total", BK_MS_DROP_UNROUTABLE, "Unroutable messages dropped" },
		{ "rabbitmq_global_messages_unroutable_returned_total", BK_MS_RETURN_UNROUTABLE, "Unroutable messages returned to publishers" },
		{ "rabbitmq_global_messages_confirmed_total", BK_MS_CONFIRM, "Messages confirmed to publishers" },
		{ "rabbitmq_global_messages_delivered_consume_manual_ack_total", BK_MS_DELIVER, "Messages delivered to consumers with manual ack" },
		{ "rabbitmq_global_messages_delivered_consume_auto_ack_total", BK_MS_DELIVER_NO_ACK, "Messages delivered to consumers with automatic ack" },
		{ "rabbitmq_global_messages_delivered_get_manual_ack_total", BK_MS_GET, "Messages fetched with basic.get, manual ack" },
		{ "rabbitmq_global_messages_delivered_get_auto_ack_total", BK_MS_GET_NO_ACK, "Messages fetched with basic.get, automatic ack" },
		{ "rabbitmq_global_messages_acknowledged_total", BK_MS_ACK, "Messages acknowledged by consumers" },
		{ "rabbitmq_global_messages_redelivered_total", BK_MS_REDELIVER, "Messages redelivered" },
	};

	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		head(out, g[i].name, "counter", g[i].help);
		metric(out, g[i].name, (double)ov->ms.n[g[i].stat]);
	}
	head(out, "rabbitmq_global_messages_delivered_total", "counter",
	     "Messages delivered to consumers or fetched");
	metric(out, "rabbitmq_global_messages_delivered_total",
	       (double)bk_msg_stats_deliver_get(&ov->ms));
}

/* The fdatasync latency histogram: _bucket{le} (cumulative), _sum, _count. */
static void
fsync_histogram(struct evbuffer *out, const struct bk_journal_stats *js)
{
	static const char name[] = "sluice_journal_fsync_seconds";

	head(out, name, "histogram", "Time the journal's fdatasync calls took");
	for (int i = 0; i < BK_FSYNC_BUCKETS; i++)
		evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, js->fsync_le[i],
				    (unsigned long long)js->fsync_bucket[i]);
	evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
			    (unsigned long long)js->fsync_count);
	evbuffer_add_printf(out, "%s_sum %.9g\n", name, js->fsync_sum);
	evbuffer_add_printf(out, "%s_count %llu\n", name, (unsigned long long)js->fsync_count);
}

static void
journal(struct evbuffer *out, struct bk_broker *b)
{
	struct bk_journal_stats js;

	if (!bk_journal_stats_get(b, &js))
		return;
	head(out, "sluice_journal_segments", "gauge", "Segment files in the journal");
	metric(out, "sluice_journal_segments", (double)js.segments);
	head(out, "sluice_journal_disk_bytes", "gauge", "Bytes of all journal segments");
	metric(out, "sluice_journal_disk_bytes", (double)js.disk_bytes);
	head(out, "sluice_journal_live_bytes", "gauge", "Bytes of journal records still needed");
	metric(out, "sluice_journal_live_bytes", (double)js.live_bytes);
	head(out, "sluice_journal_live_messages", "gauge", "Messages the journal holds");
	metric(out, "sluice_journal_live_messages", (double)js.live_msgs);
	head(out, "sluice_journal_records_total", "counter", "Records appended");
	metric(out, "sluice_journal_records_total", (double)js.records);
	head(out, "sluice_journal_batches_total", "counter", "Batches written (group commits)");
	metric(out, "sluice_journal_batches_total", (double)js.batches);
	head(out, "sluice_journal_fsyncs_total", "counter", "fdatasync calls");
	metric(out, "sluice_journal_fsyncs_total", (double)js.syncs);
	head(out, "sluice_journal_compacted_records_total", "counter", "Records copied by compaction");
	metric(out, "sluice_journal_compacted_records_total", (double)js.compacted_records);
	head(out, "sluice_journal_deleted_segments_total", "counter", "Segments deleted");
	metric(out, "sluice_journal_deleted_segments_total", (double)js.deleted_segments);
	head(out, "sluice_journal_failed", "gauge", "1 while the journal is in the failed state");
	metric(out, "sluice_journal_failed", js.failed != 0);
	fsync_histogram(out, &js);
}

void
http_metrics(struct http_req *r)
{
	struct evbuffer *out = evbuffer_new();
	struct bk_broker *b = r->l->broker;
	struct bk_overview ov;
	struct qwalk w = { out, 0 };
	size_t len;

	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
		evbuffer_free(out);
		http_reply_method_not_allowed(r);
		return;
	}
	bk_overview_get(b, &ov);
	for (w.which = 0; w.which < Q__COUNT; w.which++) {
		head(out, qmetrics[w.which].name, qmetrics[w.which].type, qmetrics[w.which].help);
		bk_queues_each(b, NULL, each_queue, &w);
	}
	global_counters(out, &ov);
	head(out, "rabbitmq_connections", "gauge", "Connections currently open");
	metric(out, "rabbitmq_connections", ov.object_totals.connections);
	head(out, "rabbitmq_channels", "gauge", "Channels currently open");
	metric(out, "rabbitmq_channels", ov.object_totals.channels);
	head(out, "rabbitmq_queues", "gauge", "Queues available");
	metric(out, "rabbitmq_queues", ov.object_totals.queues);
	head(out, "rabbitmq_consumers", "gauge", "Consumers currently connected");
	metric(out, "rabbitmq_consumers", ov.object_totals.consumers);
	head(out, "sluice_connections", "gauge", "Connections open, per protocol");
	for (uint32_t i = 0; i < ov.nproto; i++) {
		evbuffer_add(out, "sluice_connections{protocol=\"", 29);
		esc(out, ov.proto[i].protocol);
		evbuffer_add_printf(out, "\"} %u\n", ov.proto[i].connections);
	}
	head(out, "sluice_channels", "gauge", "Channels open, per protocol");
	for (uint32_t i = 0; i < ov.nproto; i++) {
		evbuffer_add(out, "sluice_channels{protocol=\"", 26);
		esc(out, ov.proto[i].protocol);
		evbuffer_add_printf(out, "\"} %u\n", ov.proto[i].channels);
	}
	head(out, "rabbitmq_process_resident_memory_bytes", "gauge", "Resident memory of the broker process");
	{
		struct bk_proc_stats ps;

		bk_proc_stats_get(&ps);
		metric(out, "rabbitmq_process_resident_memory_bytes", (double)ps.rss);
	}
	head(out, "rabbitmq_resident_memory_limit_bytes", "gauge", "Memory high watermark (0 = none)");
	metric(out, "rabbitmq_resident_memory_limit_bytes", (double)ov.mem_high_watermark);
	head(out, "sluice_memory_allocated_bytes", "gauge", "Bytes allocated by the broker (the memory alarm's measure)");
	metric(out, "sluice_memory_allocated_bytes", (double)ov.mem_used);
	head(out, "rabbitmq_alarms_memory_used_watermark", "gauge", "1 while the memory alarm is raised");
	metric(out, "rabbitmq_alarms_memory_used_watermark", (ov.alarms & BK_ALARM_MEMORY) != 0);
	head(out, "rabbitmq_alarms_free_disk_space_watermark", "gauge", "1 while the disk alarm is raised");
	metric(out, "rabbitmq_alarms_free_disk_space_watermark", (ov.alarms & BK_ALARM_DISK) != 0);
	head(out, "sluice_uptime_seconds", "gauge", "Seconds since the broker started");
	metric(out, "sluice_uptime_seconds", (double)ov.uptime_ms / 1000.0);
	journal(out, b);
	len = evbuffer_get_length(out);
	http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
			(const char *)evbuffer_pullup(out, -1), len);
	evbuffer_free(out);
}
