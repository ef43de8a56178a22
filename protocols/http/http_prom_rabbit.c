/*
 * http_prom_rabbit.c: RabbitMQ 3.13's metric families with its names,
 * types, help texts and labels (rabbitmq_prometheus' core, alarm and
 * global collectors), for what Sluice has a meaning for.
 *
 * Aggregated, a family is one series: queue and channel gauges summed
 * over what exists now; counters over everything since start, closed
 * channels and connections and deleted queues included, so that rate()
 * never sees a counter go down (RabbitMQ's sums drop when a channel
 * closes; its rabbitmq_global_* counters were added for that). Per
 * object, queues carry {vhost, queue}, channels {channel} (the channel's
 * name where RabbitMQ has its Erlang pid) and connections {channel} too,
 * as RabbitMQ labels them. Label differences from RabbitMQ are listed in
 * the README: per-object channel counters are not split by exchange or
 * queue, rabbitmq_queue_messages_published_total carries {queue_vhost,
 * queue} only.
 *
 * Left out (no meaning here): Erlang process, GC, scheduler and Raft
 * figures, Mnesia and message-store I/O, reductions, queue RAM/paged-out
 * and persistent-message figures, the file descriptor alarm.
 */
#include "http_prom.h"
#include "bk_proc.h"

#include <stdlib.h>
#include <string.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

struct fam {
	const char *name, *type, *help;
};

static bool
want(const struct prom *p, enum prom_family f)
{
	return (p->families & (1u << f)) != 0;
}

/* ---------------------------------------------------------------- */
/* Node, churn, logins: one series each                              */
/* ---------------------------------------------------------------- */

static void
singles(struct prom *p, const struct fam *f, const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		prom_head(p, f[i].name, f[i].type, f[i].help);
		prom_value(p, f[i].name, v[i]);
	}
}

static void
churn(struct prom *p)
{
	static const struct fam f[] = {
		{ "connections_opened_total", "counter", "Total number of connections opened" },
		{ "connections_closed_total", "counter", "Total number of connections closed or terminated" },
		{ "channels_opened_total", "counter", "Total number of channels opened" },
		{ "channels_closed_total", "counter", "Total number of channels closed" },
		{ "queues_declared_total", "counter", "Total number of queues declared" },
		{ "queues_created_total", "counter", "Total number of queues created" },
		{ "queues_deleted_total", "counter", "Total number of queues deleted" },
	};
	const struct bk_churn *c = &p->ov.churn;
	double v[] = { (double)c->conn_created, (double)c->conn_closed,
		       (double)c->chan_created, (double)c->chan_closed,
		       (double)c->queue_declared, (double)c->queue_created,
		       (double)c->queue_deleted };

	singles(p, f, v, sizeof(f) / sizeof(f[0]));
}

static void
node(struct prom *p)
{
	static const struct fam coarse[] = {
		{ "process_open_fds", "gauge", "Open file descriptors" },
		{ "process_open_tcp_sockets", "gauge", "Open TCP sockets" },
		{ "process_resident_memory_bytes", "gauge", "Memory used in bytes" },
		{ "disk_space_available_bytes", "gauge", "Disk space available in bytes" },
	};
	static const struct fam limits[] = {
		{ "process_max_fds", "gauge", "Open file descriptors limit" },
		{ "process_max_tcp_sockets", "gauge", "Open TCP sockets limit" },
		{ "resident_memory_limit_bytes", "gauge", "Memory high watermark in bytes" },
		{ "disk_space_available_limit_bytes", "gauge", "Free disk space low watermark in bytes" },
		{ "erlang_uptime_seconds", "gauge", "Node uptime" },
	};
	struct bk_proc_stats ps;
	uint64_t free_b = 0, limit = 0;

	bk_proc_stats_get(&ps);
	bk_disk_space(p->r->l->broker, &free_b, &limit);
	if (want(p, PF_NODE_COARSE)) {
		double v[] = { (double)ps.fds_open, (double)ps.sockets_open, (double)ps.rss,
			       (double)free_b };

		singles(p, coarse, v, 4);
	}
	if (want(p, PF_NODE)) {
		double v[] = { (double)ps.fds_max, (double)ps.sockets_max,
			       (double)p->ov.mem_high_watermark, (double)limit,
			       (double)p->ov.uptime_ms / 1000.0 };

		singles(p, limits, v, 5);
	}
}

/* The journal's writes and syncs are the node's I/O. */
static void
persister(struct prom *p)
{
	static const struct fam f[] = {
		{ "io_write_ops_total", "counter", "Total number of I/O write operations" },
		{ "io_sync_ops_total", "counter", "Total number of I/O sync operations" },
		{ "io_sync_time_seconds_total", "counter", "Total I/O sync time" },
	};
	struct bk_journal_stats js;

	if (!bk_journal_stats_get(p->r->l->broker, &js))
		return;
	double v[] = { (double)js.batches, (double)js.syncs, js.fsync_sum };

	singles(p, f, v, 3);
}

static void
auth_attempts(struct prom *p)
{
	static const struct fam f[] = {
		{ "auth_attempts_total", "counter", "Total number of authorization attempts" },
		{ "auth_attempts_succeeded_total", "counter", "Total number of successful authentication attempts" },
		{ "auth_attempts_failed_total", "counter", "Total number of failed authentication attempts" },
	};
	double v[] = { (double)p->ov.auth.attempts, (double)p->ov.auth.succeeded,
		       (double)p->ov.auth.failed };

	singles(p, f, v, 3);
}

/* ---------------------------------------------------------------- */
/* Queues                                                            */
/* ---------------------------------------------------------------- */

static const struct fam queue_fams[] = {
	/* queue_coarse_metrics */
	{ "queue_messages_ready", "gauge", "Messages ready to be delivered to consumers" },
	{ "queue_messages_unacked", "gauge", "Messages delivered to consumers but not yet acknowledged" },
	{ "queue_messages", "gauge", "Sum of ready and unacknowledged messages - total queue depth" },
	/* queue_metrics (queue_consumer_count: the first alone) */
	{ "queue_consumers", "gauge", "Consumers on a queue" },
	{ "queue_process_memory_bytes", "gauge", "Memory in bytes used by the Erlang queue process" },
	{ "queue_messages_ready_bytes", "gauge", "Size in bytes of ready messages" },
	/* channel_queue_exchange_metrics */
	{ "queue_messages_published_total", "counter", "Total number of messages published to queues" },
};
#define QF 7

struct qrow {
	char *vhost, *name;             /* owned */
	double v[QF];
};

struct qwalk {
	struct prom *p;
	struct qrow *rows;              /* owned */
	size_t n, cap;
	double sum[QF];
};

static int
each_queue(void *arg, const struct bk_queue_view *v)
{
	struct qwalk *w = arg;
	double x[QF] = { (double)v->messages_ready, (double)v->messages_unacknowledged,
			 (double)v->messages, v->consumers, (double)v->memory,
			 (double)v->message_bytes_ready, (double)v->ms.n[BK_MS_PUBLISH] };

	if (!prom_vhost_wanted(w->p, v->vhost))
		return 0;
	for (int i = 0; i < QF; i++)
		w->sum[i] += x[i];
	if (!w->p->per_object)
		return 0;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->rows = bk_realloc(w->rows, w->cap * sizeof(*w->rows));
	}
	w->rows[w->n].vhost = bk_strdup(v->vhost);
	w->rows[w->n].name = bk_strdup(v->name);
	memcpy(w->rows[w->n].v, x, sizeof(x));
	w->n++;
	return 0;
}

static void
queue_family(struct prom *p, struct qwalk *w, int i)
{
	bool published = i == QF - 1;

	prom_head(p, queue_fams[i].name, queue_fams[i].type, queue_fams[i].help);
	if (!p->per_object) {
		/* counters since start, deleted queues too */
		prom_value(p, queue_fams[i].name, published ?
			   (double)p->ov.queue_ms.n[BK_MS_PUBLISH] : w->sum[i]);
		return;
	}
	for (size_t k = 0; k < w->n; k++)
		prom_labelled(p, queue_fams[i].name, w->rows[k].v[i], 2,
			      published ? "queue_vhost" : "vhost", w->rows[k].vhost,
			      "queue", w->rows[k].name);
}

static void
queues(struct prom *p)
{
	struct qwalk w = { .p = p };

	bk_queues_each(p->r->l->broker, NULL, each_queue, &w);
	if (want(p, PF_QUEUE_COARSE))
		for (int i = 0; i < 3; i++)
			queue_family(p, &w, i);
	if (want(p, PF_QUEUE_CONSUMER_COUNT) && !want(p, PF_QUEUE))
		queue_family(p, &w, 3);
	if (want(p, PF_QUEUE))
		for (int i = 3; i < 6; i++)
			queue_family(p, &w, i);
	if (want(p, PF_CHANNEL_QUEUE_EXCHANGE))
		queue_family(p, &w, 6);
	for (size_t k = 0; k < w.n; k++) {
		bk_free(w.rows[k].vhost);
		bk_free(w.rows[k].name);
	}
	bk_free(w.rows);
}

/* ---------------------------------------------------------------- */
/* Channels and connections                                          */
/* ---------------------------------------------------------------- */

static const struct fam chan_gauges[] = {
	{ "channel_consumers", "gauge", "Consumers on a channel" },
	{ "channel_messages_unacked", "gauge", "Delivered but not yet acknowledged messages" },
	{ "channel_messages_unconfirmed", "gauge", "Published but not yet confirmed messages" },
	{ "channel_messages_uncommitted", "gauge", "Messages received in a transaction but not yet committed" },
	{ "channel_acks_uncommitted", "gauge", "Message acknowledgements in a transaction not yet committed" },
	{ "consumer_prefetch", "gauge", "Limit of unacknowledged messages for each consumer" },
	{ "channel_prefetch", "gauge", "Total limit of unacknowledged messages for all consumers on a channel" },
};

/* Channel counters: family, name, help, and the message counter. */
static const struct {
	enum prom_family fam;
	const char *name, *help;
	enum bk_mstat ms;
} chan_counters[] = {
	{ PF_CHANNEL_EXCHANGE, "channel_messages_published_total", "Total number of messages published into an exchange on a channel", BK_MS_PUBLISH },
	{ PF_CHANNEL_EXCHANGE, "channel_messages_confirmed_total", "Total number of messages published into an exchange and confirmed on the channel", BK_MS_CONFIRM },
	{ PF_CHANNEL_EXCHANGE, "channel_messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", BK_MS_RETURN_UNROUTABLE },
	{ PF_CHANNEL_EXCHANGE, "channel_messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", BK_MS_DROP_UNROUTABLE },
	{ PF_CHANNEL_QUEUE, "channel_get_ack_total", "Total number of messages fetched with basic.get in manual acknowledgement mode", BK_MS_GET },
	{ PF_CHANNEL_QUEUE, "channel_get_total", "Total number of messages fetched with basic.get in automatic acknowledgement mode", BK_MS_GET_NO_ACK },
	{ PF_CHANNEL_QUEUE, "channel_messages_delivered_ack_total", "Total number of messages delivered to consumers in manual acknowledgement mode", BK_MS_DELIVER },
	{ PF_CHANNEL_QUEUE, "channel_messages_delivered_total", "Total number of messages delivered to consumers in automatic acknowledgement mode", BK_MS_DELIVER_NO_ACK },
	{ PF_CHANNEL_QUEUE, "channel_messages_redelivered_total", "Total number of messages redelivered to consumers", BK_MS_REDELIVER },
	{ PF_CHANNEL_QUEUE, "channel_messages_acked_total", "Total number of messages acknowledged by consumers", BK_MS_ACK },
	{ PF_CHANNEL_QUEUE, "channel_get_empty_total", "Total number of times basic.get operations fetched no message", BK_MS_GET_EMPTY },
};
#define NCC (sizeof(chan_counters) / sizeof(chan_counters[0]))

struct cwalk {
	struct prom *p;
	int which;                      /* gauge index, or NCC + counter index */
	double sum;
};

static double
chan_gauge(const struct bk_chan_state *st, int i)
{
	const uint32_t v[] = { st->consumer_count, st->messages_unacknowledged,
			       st->messages_unconfirmed, st->messages_uncommitted,
			       st->acks_uncommitted, st->prefetch_count,
			       st->global_prefetch_count };

	return v[i];
}

static int
each_chan(void *arg, const struct bk_chan_view *v)
{
	struct cwalk *w = arg;
	double x = w->which < 7 ? chan_gauge(&v->st, w->which)
				: (double)v->ms.n[chan_counters[w->which - 7].ms];

	w->sum += x;
	if (w->p->per_object)
		prom_labelled(w->p, w->which < 7 ? chan_gauges[w->which].name
						 : chan_counters[w->which - 7].name,
			      x, 1, "channel", v->name);
	return 0;
}

static void
channels(struct prom *p)
{
	struct cwalk w = { .p = p };

	for (w.which = 0; w.which < 7 + (int)NCC; w.which++) {
		bool gauge = w.which < 7;
		int c = w.which - 7;

		if (!want(p, gauge ? PF_CHANNEL : chan_counters[c].fam))
			continue;
		prom_head(p, gauge ? chan_gauges[w.which].name : chan_counters[c].name,
			  gauge ? "gauge" : "counter",
			  gauge ? chan_gauges[w.which].help : chan_counters[c].help);
		w.sum = 0;
		bk_chans_each(p->r->l->broker, NULL, 0, each_chan, &w);
		if (!p->per_object)
			prom_value(p, gauge ? chan_gauges[w.which].name : chan_counters[c].name,
				   gauge ? w.sum : (double)p->ov.chan_ms.n[chan_counters[c].ms]);
	}
}

static const struct fam conn_fams[] = {
	{ "connection_incoming_bytes_total", "counter", "Total number of bytes received on a connection" },
	{ "connection_outgoing_bytes_total", "counter", "Total number of bytes sent on a connection" },
	{ "connection_incoming_packets_total", "counter", "Total number of packets received on a connection" },
	{ "connection_outgoing_packets_total", "counter", "Total number of packets sent on a connection" },
	{ "connection_pending_packets", "gauge", "Number of packets waiting to be sent on a connection" },
	{ "connection_channels", "gauge", "Channels on a connection" },
};

static double
conn_value(const struct bk_conn_view *v, int i)
{
	const double x[] = { (double)v->ctr.recv_oct, (double)v->ctr.send_oct,
			     (double)v->ctr.recv_cnt, (double)v->ctr.send_cnt,
			     (double)v->st.send_pend, v->st.channels };

	return x[i];
}

static int
each_conn(void *arg, const struct bk_conn_view *v)
{
	struct cwalk *w = arg;
	double x = conn_value(v, w->which);

	w->sum += x;
	if (w->p->per_object)
		prom_labelled(w->p, conn_fams[w->which].name, x, 1, "channel", v->name);
	return 0;
}

/* Aggregated byte and packet counters: every connection since start. */
static double
conn_total(struct prom *p, int i)
{
	struct bk_traffic t[BK_PROTO_MAX];
	uint32_t n = bk_traffic_get(p->r->l->broker, t, BK_PROTO_MAX);
	double sum = 0;

	for (uint32_t k = 0; k < n; k++)
		sum += (double)(i == 0 ? t[k].ctr.recv_oct : i == 1 ? t[k].ctr.send_oct :
				i == 2 ? t[k].ctr.recv_cnt : t[k].ctr.send_cnt);
	return sum;
}

static void
connections(struct prom *p)
{
	struct cwalk w = { .p = p };

	for (w.which = 0; w.which < 6; w.which++) {
		if (!want(p, w.which < 2 ? PF_CONNECTION_COARSE : PF_CONNECTION))
			continue;
		prom_head(p, conn_fams[w.which].name, conn_fams[w.which].type,
			  conn_fams[w.which].help);
		w.sum = 0;
		bk_conns_each(p->r->l->broker, NULL, each_conn, &w);
		if (!p->per_object)
			prom_value(p, conn_fams[w.which].name,
				   w.which < 4 ? conn_total(p, w.which) : w.sum);
	}
}

void
prom_rabbit_families(struct prom *p)
{
	if (want(p, PF_CONNECTION_CHURN))
		churn(p);
	node(p);
	if (want(p, PF_NODE_PERSISTER))
		persister(p);
	if (want(p, PF_AUTH_ATTEMPT))
		auth_attempts(p);
	queues(p);
	channels(p);
	connections(p);
}

/* ---------------------------------------------------------------- */
/* Totals, identity, alarms, global counters                         */
/* ---------------------------------------------------------------- */

void
prom_rabbit_totals(struct prom *p)
{
	static const struct fam f[] = {
		{ "connections", "gauge", "Connections currently open" },
		{ "channels", "gauge", "Channels currently open" },
		{ "consumers", "gauge", "Consumers currently connected" },
		{ "queues", "gauge", "Queues available" },
	};
	const struct bk_object_totals *t = &p->ov.object_totals;
	double v[] = { t->connections, t->channels, t->consumers, t->queues };

	singles(p, f, v, 4);
	prom_head(p, "build_info", "untyped", "RabbitMQ & Erlang/OTP version info");
	prom_labelled(p, "build_info", 1, 5, "rabbitmq_version", HTTP_RABBITMQ_VERSION,
		      "prometheus_plugin_version", SLUICE_VERSION, "erlang_version", "none",
		      "product_name", "Sluice", "product_version", SLUICE_VERSION);
	prom_head(p, "identity_info", "untyped", "RabbitMQ node & cluster identity info");
	prom_labelled(p, "identity_info", 1, 2, "rabbitmq_node", p->r->l->node,
		      "rabbitmq_cluster", p->r->l->node);
}

void
prom_rabbit_alarms_global(struct prom *p)
{
	static const struct { const char *name, *help; enum bk_mstat ms[4]; int n; } g[] = {
		{ "messages_received_total", "Total number of messages received from publishers", { BK_MS_PUBLISH }, 1 },
		{ "messages_routed_total", "Total number of messages routed to queues or streams", { BK_MS_PUBLISH_OUT }, 1 },
		{ "messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", { BK_MS_DROP_UNROUTABLE }, 1 },
		{ "messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", { BK_MS_RETURN_UNROUTABLE }, 1 },
		{ "messages_confirmed_total", "Total number of messages confirmed to publishers", { BK_MS_CONFIRM }, 1 },
		{ "messages_delivered_total", "Total number of messages delivered to consumers", { BK_MS_DELIVER, BK_MS_DELIVER_NO_ACK, BK_MS_GET, BK_MS_GET_NO_ACK }, 4 },
		{ "messages_delivered_consume_manual_ack_total", "Total number of messages delivered to consumers using basic.consume with manual acknowledgment", { BK_MS_DELIVER }, 1 },
		{ "messages_delivered_consume_auto_ack_total", "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment", { BK_MS_DELIVER_NO_ACK }, 1 },
		{ "messages_delivered_get_manual_ack_total", "Total number of messages delivered to consumers using basic.get with manual acknowledgment", { BK_MS_GET }, 1 },
		{ "messages_delivered_get_auto_ack_total", "Total number of messages delivered to consumers using basic.get with automatic acknowledgment", { BK_MS_GET_NO_ACK }, 1 },
		{ "messages_get_empty_total", "Total number of times basic.get operations fetched no message", { BK_MS_GET_EMPTY }, 1 },
		{ "messages_redelivered_total", "Total number of messages redelivered to consumers", { BK_MS_REDELIVER }, 1 },
		{ "messages_acknowledged_total", "Total number of messages acknowledged by consumers", { BK_MS_ACK }, 1 },
	};
	const char *saved = p->prefix;

	p->prefix = "rabbitmq_alarms_";
	prom_head(p, "free_disk_space_watermark", "untyped",
		  "is 1 if free disk space watermark alarm is in effect");
	prom_value(p, "free_disk_space_watermark", (p->ov.alarms & BK_ALARM_DISK) != 0);
	prom_head(p, "memory_used_watermark", "untyped",
		  "is 1 if VM memory watermark alarm is in effect");
	prom_value(p, "memory_used_watermark", (p->ov.alarms & BK_ALARM_MEMORY) != 0);
	/* AMQP 0-9-1 as its channels count it (every channel since start) */
	p->prefix = "rabbitmq_global_";
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		double v = 0;

		for (int k = 0; k < g[i].n; k++)
			v += (double)p->ov.chan_ms.n[g[i].ms[k]];
		prom_head(p, g[i].name, "counter", g[i].help);
		if (i < 5)
			prom_labelled(p, g[i].name, v, 1, "protocol", "amqp091");
		else
			prom_labelled(p, g[i].name, v, 2, "protocol", "amqp091",
				      "queue_type", "rabbit_classic_queue");
	}
	p->prefix = saved;
}
