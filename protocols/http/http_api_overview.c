/*
 * http_api_overview.c: /api/overview, and the listener, context and
 * exchange-type lists /api/nodes shares.
 *
 * Field names are RabbitMQ's (management 3.10+); values Sluice has no
 * counterpart for (Erlang process counts, GC) are left out rather than
 * invented, except where rabbitmqadmin reads them.
 *
 * As RabbitMQ's, the overview of a user without the monitoring (or
 * administrator) tag counts only what it may see: message stats, queue
 * totals, queues and exchanges of the vhosts it has permissions on, its
 * own connections and channels, and no listeners or contexts. Rates and
 * samples come from the vhost's history when it sees one vhost; over
 * several, the rates are the sum of theirs, without samples.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif


/* Counters the broker-wide and vhost message_stats carry. */
#define OVERVIEW_STATS ((1u << BK_MS_PUBLISH) | (1u << BK_MS_CONFIRM) | \
	(1u << BK_MS_DELIVER) | (1u << BK_MS_DELIVER_NO_ACK) | (1u << BK_MS_GET) | \
	(1u << BK_MS_GET_NO_ACK) | (1u << BK_MS_ACK) | (1u << BK_MS_REDELIVER) | \
	(1u << BK_MS_RETURN_UNROUTABLE) | (1u << BK_MS_DROP_UNROUTABLE) | \
	(1u << BK_MS_GET_EMPTY))

cJSON *
http_exchange_types_json(void)
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

struct listeners_walk {
	struct http_listener *l;
	cJSON *arr;
	bool contexts;                  /* the HTTP listeners as "contexts" */
};

/* One entry per bound address, as RabbitMQ lists "::" and "0.0.0.0". */
static int
add_listener(void *arg, const struct net_listener_view *v)
{
	struct listeners_walk *w = arg;
	char buf[256], *tok, *save = NULL, port[16];
	bool http = strncmp(v->protocol, "http", 4) == 0 && strstr(v->protocol, "mqtt") == NULL;

	if (w->contexts && !http)
		return 0;
	snprintf(buf, sizeof(buf), "%s", v->bind);
	snprintf(port, sizeof(port), "%d", v->port);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "node", w->l->node);
		if (w->contexts) {
			cJSON_AddItemToObject(o, "ssl_opts", cJSON_CreateArray());
			cJSON_AddStringToObject(o, "description", "Sluice Management");
			cJSON_AddStringToObject(o, "path", "/");
			cJSON_AddStringToObject(o, "ip", tok);
			cJSON_AddStringToObject(o, "port", port);
			cJSON_AddBoolToObject(o, "ssl", v->tls);
		} else {
			cJSON_AddStringToObject(o, "protocol", v->protocol);
			cJSON_AddStringToObject(o, "ip_address", tok);
			cJSON_AddNumberToObject(o, "port", v->port);
			cJSON_AddItemToObject(o, "socket_opts", cJSON_CreateObject());
		}
		cJSON_AddItemToArray(w->arr, o);
	}
	return 0;
}

cJSON *
http_listeners_json(struct http_listener *l)
{
	struct listeners_walk w = { l, cJSON_CreateArray(), false };

	if (l->net)
		net_listeners_each(l->net, add_listener, &w);
	return w.arr;
}

cJSON *
http_contexts_json(struct http_listener *l)
{
	struct listeners_walk w = { l, cJSON_CreateArray(), true };

	if (l->net)
		net_listeners_each(l->net, add_listener, &w);
	return w.arr;
}

/* RabbitMQ 3.13's churn_rates: connections, channels and queues. */
static cJSON *
churn_rates(struct http_req *r, const struct bk_overview *ov)
{
	static const struct { const char *name; enum bk_hfield f; } k[] = {
		{ "channel_closed", BK_HF_CHAN_CLOSED },
		{ "channel_created", BK_HF_CHAN_CREATED },
		{ "connection_closed", BK_HF_CONN_CLOSED },
		{ "connection_created", BK_HF_CONN_CREATED },
		{ "queue_created", BK_HF_QUEUE_CREATED },
		{ "queue_declared", BK_HF_QUEUE_DECLARED },
		{ "queue_deleted", BK_HF_QUEUE_DELETED },
	};
	const uint64_t v[] = {
		ov->churn.chan_closed, ov->churn.chan_created, ov->churn.conn_closed,
		ov->churn.conn_created, ov->churn.queue_created, ov->churn.queue_declared,
		ov->churn.queue_deleted,
	};
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		http_json_stat1(r, o, k[i].name, (double)v[i], ov->hist, k[i].f,
				HTTP_WIN_MSG_RATES);
	return o;
}

struct user_walk {
	struct http_req *r;
	struct bk_overview *ov;
	uint32_t nvhosts;
};

static int
user_chan(void *arg, const struct bk_chan_view *v)
{
	struct user_walk *w = arg;

	w->ov->object_totals.channels += v->user != NULL && strcmp(v->user, w->r->user) == 0;
	return 0;
}

static int
user_conn(void *arg, const struct bk_conn_view *v)
{
	struct user_walk *w = arg;

	w->ov->object_totals.connections += v->user != NULL && strcmp(v->user, w->r->user) == 0;
	return 0;
}

static int
user_consumer(void *arg, const struct bk_consumer_view *v)
{
	(void)v;
	((struct user_walk *)arg)->ov->object_totals.consumers++;
	return 0;
}

static int
user_vhost(void *arg, const struct bk_vhost_view *v)
{
	struct user_walk *w = arg;
	struct bk_overview *ov = w->ov;
	struct bk_vhost *vh = bk_vhost_get(w->r->l->broker, v->name);

	if (vh == NULL ||
	    bk_vhost_access(w->r->l->broker, bk_str_c(w->r->user), v->name, NULL) != BK_OK)
		return 0;
	for (int i = 0; i < BK_MS__COUNT; i++) {
		ov->ms.n[i] += v->ms.n[i];
		ov->rates.r[i] += v->rates.r[i];
	}
	ov->queue_totals.messages += v->queue_totals.messages;
	ov->queue_totals.messages_ready += v->queue_totals.messages_ready;
	ov->queue_totals.messages_unacknowledged += v->queue_totals.messages_unacknowledged;
	ov->queue_totals.message_bytes += v->queue_totals.message_bytes;
	ov->object_totals.queues += v->queues;
	ov->object_totals.exchanges += v->exchanges;
	ov->object_totals.vhosts++;
	bk_consumers_each(w->r->l->broker, vh, user_consumer, w);
	ov->hist = w->nvhosts++ == 0 ? v->hist : NULL;
	return 0;
}

/*
 * The broker-wide figures narrowed to what a non-monitoring user sees;
 * returns how many vhosts that is.
 */
static uint32_t
user_overview(struct http_req *r, struct bk_overview *ov)
{
	struct user_walk w = { r, ov, 0 };

	memset(&ov->ms, 0, sizeof(ov->ms));
	memset(&ov->rates, 0, sizeof(ov->rates));
	memset(&ov->queue_totals, 0, sizeof(ov->queue_totals));
	memset(&ov->object_totals, 0, sizeof(ov->object_totals));
	memset(&ov->churn, 0, sizeof(ov->churn));
	ov->hist = NULL;
	bk_vhosts_each(r->l->broker, user_vhost, &w);
	bk_conns_each(r->l->broker, NULL, user_conn, &w);
	bk_chans_each(r->l->broker, NULL, 0, user_chan, &w);
	return w.nvhosts;
}

/*
 * Over several vhosts there is no one history to take rates from: the
 * current rates are the sum of the vhosts' (samples stay out).
 */
static void
summed_rates(cJSON *ms, const struct bk_msg_rates *rates)
{
	char key[96];
	cJSON *d;

	for (int i = 0; i < BK_MS__COUNT; i++) {
		snprintf(key, sizeof(key), "%s_details", bk_mstat_name((enum bk_mstat)i));
		if ((d = cJSON_GetObjectItemCaseSensitive(ms, key)) != NULL)
			cJSON_ReplaceItemInObjectCaseSensitive(d, "rate",
							       cJSON_CreateNumber(rates->r[i]));
	}
	if ((d = cJSON_GetObjectItemCaseSensitive(ms, "deliver_get_details")) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(d, "rate", cJSON_CreateNumber(
			bk_msg_rates_deliver_get(rates)));
}

/* In a replicated cluster: {"node": this node's cluster name, "role":
 * "leader", "leader": the same, "followers": N}; a follower rewrites it
 * with its own view as it passes (cluster/cl_front_http.c). */
static void
cluster_node(void *arg, const struct bk_cluster_node *n)
{
	cJSON *c = arg;

	if (n->leader) {
		cJSON_AddStringToObject(c, "node", n->name);
		cJSON_AddStringToObject(c, "role", "leader");
		cJSON_AddStringToObject(c, "leader", n->name);
		return;
	}
	cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "followers");
	cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "in_sync_followers");

	cJSON_SetNumberValue(f, f->valuedouble + 1);
	if (n->in_sync)
		cJSON_SetNumberValue(s, s->valuedouble + 1);
}

static void
add_cluster(struct http_req *r, cJSON *o)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddNumberToObject(c, "followers", 0);
	cJSON_AddNumberToObject(c, "in_sync_followers", 0);
	if (bk_cluster_each(r->l->broker, cluster_node, c))
		cJSON_AddItemToObject(o, "cluster", c);
	else
		cJSON_Delete(c);
}

void
http_api_overview(struct http_req *r)
{
	struct bk_overview ov;
	uint32_t nvhosts = 0;
	cJSON *o, *t, *ms;

	if (r->nseg != 1) {
		http_reply_not_found(r);
		return;
	}
	bk_overview_get(r->l->broker, &ov);
	if (!r->monitor)
		nvhosts = user_overview(r, &ov);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "management_version", HTTP_RABBITMQ_VERSION);
	cJSON_AddStringToObject(o, "rates_mode", "basic");
	cJSON_AddItemToObject(o, "exchange_types", http_exchange_types_json());
	cJSON_AddStringToObject(o, "product_version", SLUICE_VERSION);
	cJSON_AddStringToObject(o, "product_name", "Sluice");
	cJSON_AddStringToObject(o, "rabbitmq_version", HTTP_RABBITMQ_VERSION);
	cJSON_AddStringToObject(o, "cluster_name", r->l->node);
	cJSON_AddStringToObject(o, "erlang_version", "none");
	cJSON_AddBoolToObject(o, "disable_stats", false);
	cJSON_AddBoolToObject(o, "enable_queue_totals", true);
	cJSON_AddItemToObject(o, "message_stats",
			      ms = http_json_msg_stats(r, &ov.ms, ov.hist, OVERVIEW_STATS, true));
	if (nvhosts > 1)
		summed_rates(ms, &ov.rates);
	cJSON_AddItemToObject(o, "churn_rates", churn_rates(r, &ov));
	t = cJSON_AddObjectToObject(o, "queue_totals");
	http_json_lengths(r, t, ov.queue_totals.messages_ready,
			  ov.queue_totals.messages_unacknowledged, ov.hist);
	t = cJSON_AddObjectToObject(o, "object_totals");
	cJSON_AddNumberToObject(t, "channels", ov.object_totals.channels);
	cJSON_AddNumberToObject(t, "connections", ov.object_totals.connections);
	cJSON_AddNumberToObject(t, "consumers", ov.object_totals.consumers);
	cJSON_AddNumberToObject(t, "exchanges", ov.object_totals.exchanges);
	cJSON_AddNumberToObject(t, "queues", ov.object_totals.queues);
	cJSON_AddNumberToObject(t, "vhosts", ov.object_totals.vhosts);
	cJSON_AddNumberToObject(o, "statistics_db_event_queue", 0);
	cJSON_AddStringToObject(o, "node", r->l->node);
	if (r->monitor) {
		cJSON_AddItemToObject(o, "listeners", http_listeners_json(r->l));
		cJSON_AddItemToObject(o, "contexts", http_contexts_json(r->l));
	}
	/* Sluice's own: what the dashboard draws */
	cJSON_AddNumberToObject(o, "uptime", (double)ov.uptime_ms);
	cJSON_AddNumberToObject(o, "mem_used", (double)ov.mem_used);
	cJSON_AddNumberToObject(o, "sample_interval", ov.sample_interval_ms);
	/* retained messages (MQTT's), kept by the core outside any queue */
	cJSON_AddNumberToObject(o, "retained_messages", (double)ov.retained.messages);
	cJSON_AddNumberToObject(o, "retained_message_bytes", (double)ov.retained.bytes);
	add_cluster(r, o);
	http_reply_object(r, o);
}
