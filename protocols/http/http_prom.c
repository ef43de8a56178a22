/*
 * http_prom.c: Prometheus metrics the way RabbitMQ's rabbitmq_prometheus
 * plugin serves them, on their own listener ([prometheus], port 15692,
 * no credentials by default) and, with credentials, on the management
 * port:
 *
 *   /metrics               aggregated: one series per metric, summed over
 *                          queues, channels and connections (per object
 *                          with prometheus.return_per_object_metrics)
 *   /metrics/per-object    a series per queue {vhost,queue}, channel
 *                          {channel} and connection
 *   /metrics/detailed?family=queue_coarse_metrics&vhost=/
 *                          only the families asked for, per object, named
 *                          rabbitmq_detailed_*, queue families limited to
 *                          the vhosts asked for (all when none)
 *
 * Text format 0.0.4. Every family of /metrics is present in every scrape
 * (a sum is 0 when nothing is counted), so dashboards and alerts always
 * find their series. Each scrape is O(queues + channels + connections).
 */
#include "http_prom.h"
#include "bk_utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

static const char *const family_names[PF__COUNT] = {
	[PF_CONNECTION_CHURN] = "connection_churn_metrics",
	[PF_NODE_COARSE] = "node_coarse_metrics",
	[PF_NODE] = "node_metrics",
	[PF_NODE_PERSISTER] = "node_persister_metrics",
	[PF_AUTH_ATTEMPT] = "auth_attempt_metrics",
	[PF_QUEUE_COARSE] = "queue_coarse_metrics",
	[PF_QUEUE_CONSUMER_COUNT] = "queue_consumer_count",
	[PF_QUEUE] = "queue_metrics",
	[PF_CHANNEL] = "channel_metrics",
	[PF_CHANNEL_EXCHANGE] = "channel_exchange_metrics",
	[PF_CHANNEL_QUEUE] = "channel_queue_metrics",
	[PF_CONNECTION_COARSE] = "connection_coarse_metrics",
	[PF_CONNECTION] = "connection_metrics",
	[PF_CHANNEL_QUEUE_EXCHANGE] = "channel_queue_exchange_metrics",
};

/* ---------------------------------------------------------------- */
/* The text format                                                   */
/* ---------------------------------------------------------------- */

void
prom_head(struct prom *p, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(p->out, "# HELP %s%s %s\n# TYPE %s%s %s\n", p->prefix, name,
			    help, p->prefix, name, type);
}

/* Integers as integers, other values in their shortest exact form. */
static void
number(struct evbuffer *out, double v)
{
	char tmp[40];
	int prec = 1;

	if (v == (double)(int64_t)v && v > -9e15 && v < 9e15) {
		evbuffer_add_printf(out, " %lld\n", (long long)v);
		return;
	}
	do
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
	while (strtod(tmp, NULL) != v && ++prec <= 17);
	evbuffer_add_printf(out, " %s\n", tmp);
}

void
prom_value(struct prom *p, const char *name, double v)
{
	evbuffer_add_printf(p->out, "%s%s", p->prefix, name);
	number(p->out, v);
}

/*
 * A label value as the text format takes it: \\, \" and \n escaped, and
 * UTF-8 only (Prometheus refuses the whole scrape over one value that is
 * not: a queue named "q\xFF" would hide every metric). Other bytes go out
 * as U+FFFD.
 */
static void
escaped(struct evbuffer *out, const char *s)
{
	size_t n = strlen(s), k;

	for (size_t i = 0; i < n; i += k ? k : 1) {
		k = bk_utf8_len((const unsigned char *)s + i, n - i);
		if (k == 0)
			evbuffer_add(out, "\xEF\xBF\xBD", 3);
		else if (s[i] == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (s[i] == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (s[i] == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s + i, k);
	}
}

void
prom_labelled(struct prom *p, const char *name, double v, int nlabels, ...)
{
	va_list ap;

	evbuffer_add_printf(p->out, "%s%s{", p->prefix, name);
	va_start(ap, nlabels);
	for (int i = 0; i < nlabels; i++) {
		const char *k = va_arg(ap, const char *), *val = va_arg(ap, const char *);

		evbuffer_add_printf(p->out, "%s%s=\"", i ? "," : "", k);
		escaped(p->out, val ? val : "");
		evbuffer_add(p->out, "\"", 1);
	}
	va_end(ap);
	evbuffer_add(p->out, "}", 1);
	number(p->out, v);
}

bool
prom_vhost_wanted(const struct prom *p, const char *vhost)
{
	if (p->nvhosts == 0)
		return true;
	for (int i = 0; i < p->nvhosts; i++)
		if (strcmp(p->vhosts[i], vhost) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- */
/* Requests                                                          */
/* ---------------------------------------------------------------- */

/* The family= and vhost= values of a detailed scrape (repeatable). */
static void
detailed_params(struct prom *p, struct http_req *r)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, &r->query, next) {
		if (strcmp(kv->key, "vhost") == 0 && p->nvhosts < PROM_MAX_VHOSTS) {
			p->vhosts[p->nvhosts++] = kv->value;
			continue;
		}
		if (strcmp(kv->key, "family") != 0)
			continue;
		for (int f = 0; f < PF__COUNT; f++)
			if (strcmp(kv->value, family_names[f]) == 0)
				p->families |= 1u << f;
	}
}

void
http_prometheus(struct http_req *r)
{
	struct evbuffer *out = evbuffer_new();
	struct prom p = { .r = r, .out = out, .prefix = "rabbitmq_" };
	const char *kind = r->nseg >= 2 ? r->seg[1] : "";

	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
		evbuffer_free(out);
		http_reply_method_not_allowed(r);
		return;
	}
	if (r->nseg > 2 || (r->nseg == 2 && strcmp(kind, "per-object") != 0 &&
			    strcmp(kind, "detailed") != 0)) {
		evbuffer_free(out);
		http_reply_not_found(r);
		return;
	}
	bk_overview_get(r->l->broker, &p.ov);
	if (strcmp(kind, "detailed") == 0) {
		p.prefix = "rabbitmq_detailed_";
		p.per_object = true;
		detailed_params(&p, r);
		prom_rabbit_families(&p);
	} else {
		p.per_object = r->nseg == 2 || r->l->prom_per_object;
		p.families = ((1u << PF__COUNT) - 1) & ~(1u << PF_QUEUE_CONSUMER_COUNT);
		prom_rabbit_families(&p);
		prom_rabbit_totals(&p);
		prom_rabbit_alarms_global(&p);
		prom_sluice_families(&p);
	}
	http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
			(const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
	evbuffer_free(out);
}
