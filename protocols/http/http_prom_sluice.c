/*
 * http_prom_sluice.c: Sluice's own metric families, sluice_*, for what
 * RabbitMQ's families do not say: traffic per protocol (AMQP and each
 * MQTT version: connections, channels, bytes and frames, closed
 * connections' counted in), message counters over every protocol, the
 * allocator's figure the memory alarm watches, retained messages, and
 * the journal: its
 * segments, records, group commits, compaction, failed state and the
 * fdatasync latency histogram; in a replicated cluster, the leader's view
 * of each follower (connected, in sync, lag in bytes and records).
 */
#include "http_prom.h"

#include <string.h>

static void
single(struct prom *p, const char *name, const char *type, const char *help, double v)
{
	prom_head(p, name, type, help);
	prom_value(p, name, v);
}

/* Connections, channels and traffic per protocol. */
static void
protocols(struct prom *p)
{
	static const struct { const char *name, *type, *help; } f[] = {
		{ "connections", "gauge", "Connections open, per protocol" },
		{ "channels", "gauge", "Channels open, per protocol" },
		{ "received_bytes_total", "counter", "Bytes received, per protocol" },
		{ "sent_bytes_total", "counter", "Bytes sent, per protocol" },
		{ "received_frames_total", "counter", "Frames (AMQP) or packets (MQTT) received, per protocol" },
		{ "sent_frames_total", "counter", "Frames (AMQP) or packets (MQTT) sent, per protocol" },
	};
	struct bk_traffic t[BK_PROTO_MAX];
	uint32_t n = bk_traffic_get(p->r->l->broker, t, BK_PROTO_MAX);

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		prom_head(p, f[i].name, f[i].type, f[i].help);
		for (uint32_t k = 0; k < n; k++) {
			double v = 0;

			switch (i) {
			case 0: v = t[k].connections; break;
			case 1:
				for (uint32_t j = 0; j < p->ov.nproto; j++)
					if (strcmp(p->ov.proto[j].protocol, t[k].protocol) == 0)
						v = p->ov.proto[j].channels;
				break;
			case 2: v = (double)t[k].ctr.recv_oct; break;
			case 3: v = (double)t[k].ctr.send_oct; break;
			case 4: v = (double)t[k].ctr.recv_cnt; break;
			default: v = (double)t[k].ctr.send_cnt; break;
			}
			prom_labelled(p, f[i].name, v, 1, "protocol", t[k].protocol);
		}
	}
}

/* Message counters over every protocol and vhost since start. */
static void
messages(struct prom *p)
{
	static const struct { const char *name, *help; enum bk_mstat ms; } f[] = {
		{ "messages_published_total", "Messages published to an exchange, every protocol", BK_MS_PUBLISH_IN },
		{ "messages_routed_total", "Published messages that reached a queue", BK_MS_PUBLISH_OUT },
		{ "messages_unroutable_dropped_total", "Published messages that reached no queue and were dropped", BK_MS_DROP_UNROUTABLE },
		{ "messages_unroutable_returned_total", "Published messages that reached no queue and were returned", BK_MS_RETURN_UNROUTABLE },
		{ "messages_confirmed_total", "Messages confirmed to publishers", BK_MS_CONFIRM },
		{ "messages_acknowledged_total", "Messages acknowledged by consumers", BK_MS_ACK },
		{ "messages_redelivered_total", "Deliveries of messages delivered before", BK_MS_REDELIVER },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		single(p, f[i].name, "counter", f[i].help, (double)p->ov.ms.n[f[i].ms]);
	single(p, "messages_delivered_total", "counter",
	       "Messages delivered to consumers or fetched with basic.get, every protocol",
	       (double)bk_msg_stats_deliver_get(&p->ov.ms));
}

/* The fdatasync latency histogram: _bucket{le} (cumulative), _sum, _count. */
static void
fsync_histogram(struct prom *p, const struct bk_journal_stats *js)
{
	char le[32];

	prom_head(p, "journal_fsync_seconds", "histogram",
		  "Time the journal's fdatasync calls took");
	for (int i = 0; i < BK_FSYNC_BUCKETS; i++) {
		snprintf(le, sizeof(le), "%g", js->fsync_le[i]);
		prom_labelled(p, "journal_fsync_seconds_bucket", (double)js->fsync_bucket[i],
			      1, "le", le);
	}
	prom_labelled(p, "journal_fsync_seconds_bucket", (double)js->fsync_count, 1,
		      "le", "+Inf");
	prom_value(p, "journal_fsync_seconds_sum", js->fsync_sum);
	prom_value(p, "journal_fsync_seconds_count", (double)js->fsync_count);
}

static void
journal(struct prom *p)
{
	struct bk_journal_stats js;

	if (!bk_journal_stats_get(p->r->l->broker, &js))
		return;
	single(p, "journal_segments", "gauge", "Segment files in the journal", (double)js.segments);
	single(p, "journal_disk_bytes", "gauge", "Bytes of the journal's files: segments and the spare", (double)js.disk_bytes);
	single(p, "journal_live_bytes", "gauge", "Bytes of journal records still needed", (double)js.live_bytes);
	single(p, "journal_live_messages", "gauge", "Messages the journal holds", (double)js.live_msgs);
	single(p, "journal_records_total", "counter", "Records appended", (double)js.records);
	single(p, "journal_batches_total", "counter", "Batches written (group commits)", (double)js.batches);
	single(p, "journal_fsyncs_total", "counter", "fdatasync calls", (double)js.syncs);
	single(p, "journal_compacted_records_total", "counter", "Records copied by compaction",
	       (double)js.compacted_records);
	single(p, "journal_deleted_segments_total", "counter", "Segments deleted",
	       (double)js.deleted_segments);
	single(p, "journal_failed", "gauge", "1 while the journal is in the failed state",
	       js.failed != 0);
	fsync_histogram(p, &js);
}

struct followers {
	struct prom *p;
	int field;
};

static void
follower(void *arg, const struct bk_cluster_node *n)
{
	struct followers *f = arg;
	static const char *const names[] = {
		"cluster_follower_connected", "cluster_follower_in_sync",
		"cluster_follower_lag_bytes", "cluster_follower_lag_records",
	};
	double v[] = { n->connected, n->in_sync, (double)n->lag_bytes, (double)n->lag_records };

	if (!n->leader && f->field >= 0)     /* -1: only asks whether there is a cluster */
		prom_labelled(f->p, names[f->field], v[f->field], 1, "follower", n->name);
}

/* Replication, on a cluster's leader: one series per follower. */
static void
cluster(struct prom *p)
{
	static const char *const help[][2] = {
		{ "cluster_follower_connected", "1 while the follower streams from this leader" },
		{ "cluster_follower_in_sync", "1 while the follower is in etcd's in-sync set" },
		{ "cluster_follower_lag_bytes", "Journal bytes sealed but not yet acknowledged by the follower" },
		{ "cluster_follower_lag_records", "Journal records sealed but not yet acknowledged by the follower" },
	};
	struct followers f = { p, 0 };

	if (!bk_cluster_each(p->r->l->broker, follower, &(struct followers){ p, -1 }))
		return;
	single(p, "cluster_leader", "gauge", "1: this node leads its cluster", 1);
	for (f.field = 0; f.field < 4; f.field++) {
		prom_head(p, help[f.field][0], "gauge", help[f.field][1]);
		bk_cluster_each(p->r->l->broker, follower, &f);
	}
}

void
prom_sluice_families(struct prom *p)
{
	const char *saved = p->prefix;

	p->prefix = "sluice_";
	protocols(p);
	messages(p);
	single(p, "memory_allocated_bytes", "gauge",
	       "Bytes allocated by the broker (what the memory alarm measures)",
	       (double)p->ov.mem_used);
	single(p, "retained_messages", "gauge", "Retained messages (MQTT's), every vhost",
	       (double)p->ov.retained.messages);
	single(p, "retained_message_bytes", "gauge", "Bytes of the retained messages' bodies",
	       (double)p->ov.retained.bytes);
	journal(p);
	prom_stream_lag(p);
	cluster(p);
	p->prefix = saved;
}
