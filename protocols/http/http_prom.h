/*
 * http_prom.h: the Prometheus endpoints' shared pieces (http_prom.c the
 * requests and the text format, http_prom_rabbit.c RabbitMQ's families,
 * http_prom_sluice.c Sluice's own).
 *
 * A scrape builds one struct prom: what to write (families, aggregated or
 * per object, the metric name prefix, the vhosts of a detailed scrape)
 * and where (an evbuffer). Families are RabbitMQ's metric groups, named as
 * its ETS tables because /metrics/detailed?family= takes those names.
 */
#ifndef SLUICE_HTTP_PROM_H
#define SLUICE_HTTP_PROM_H

#include "http_int.h"

struct evbuffer;

enum prom_family {
	PF_CONNECTION_CHURN, PF_NODE_COARSE, PF_NODE, PF_NODE_PERSISTER,
	PF_AUTH_ATTEMPT, PF_QUEUE_COARSE, PF_QUEUE_CONSUMER_COUNT, PF_QUEUE,
	PF_CHANNEL, PF_CHANNEL_EXCHANGE, PF_CHANNEL_QUEUE, PF_CONNECTION_COARSE,
	PF_CONNECTION, PF_CHANNEL_QUEUE_EXCHANGE,
	PF__COUNT
};

#define PROM_MAX_VHOSTS 16

struct prom {
	struct http_req *r;             /* borrowed */
	struct evbuffer *out;           /* borrowed */
	const char *prefix;             /* "rabbitmq_" or "rabbitmq_detailed_" */
	bool per_object;                /* labels per queue, channel, connection */
	unsigned families;              /* 1u << PF_* */
	const char *vhosts[PROM_MAX_VHOSTS];  /* detailed: queue families of these */
	int nvhosts;                    /* 0 = every vhost */
	struct bk_overview ov;          /* taken once per scrape */
};

/* ---- http_prom.c: the text format ---- */
/* "# HELP prefix+name help\n# TYPE prefix+name type\n" */
void prom_head(struct prom *p, const char *name, const char *type, const char *help);
/* One sample without labels: prefix+name value */
void prom_value(struct prom *p, const char *name, double v);
/*
 * One sample with labels: prefix+name{k1="v1",...} value; labels come as
 * nlabels pairs (key, value) and values are escaped as the format wants
 * (\\ \" \n), so client-chosen names cannot break the exposition.
 */
void prom_labelled(struct prom *p, const char *name, double v, int nlabels, ...);
/* A detailed scrape limited to some vhosts: is vhost one of them? */
bool prom_vhost_wanted(const struct prom *p, const char *vhost);

/* ---- http_api_streams.c: sluice_stream_consumer_lag{,_seconds} ---- */
void prom_stream_lag(struct prom *p);

/* ---- http_prom_rabbit.c ---- */
/* The families in p->families, RabbitMQ's names, types, help and labels. */
void prom_rabbit_families(struct prom *p);
/* rabbitmq_connections, _channels, _consumers, _queues, build and
 * identity info (not in a detailed scrape). */
void prom_rabbit_totals(struct prom *p);
/* rabbitmq_alarms_* and rabbitmq_global_* (aggregated /metrics too). */
void prom_rabbit_alarms_global(struct prom *p);

/* ---- http_prom_sluice.c ---- */
/* sluice_*: protocols, memory, the journal and its fsync histogram. */
void prom_sluice_families(struct prom *p);

#endif
