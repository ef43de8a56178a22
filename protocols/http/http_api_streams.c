/*
 * http_api_streams.c: stream consumers and their lag.
 *
 *   GET /api/stream/consumers[/VHOST]   every stream consumer, in the shape
 *       of RabbitMQ's stream management plugin (queue, connection_details,
 *       subscription_id, offset, offset_lag, credits) plus Sluice's named
 *       consumers: consumer_name, committed_offset, last_offset,
 *       lag_seconds; a named consumer with no registered consumer is
 *       listed too (active false), so an idle group's lag shows
 *   /api/queues/VHOST/NAME of a stream: "stream" (first_offset,
 *       last_offset, segments, bytes, consumers: the same objects)
 *   /metrics: sluice_stream_consumer_lag{vhost,queue,consumer} (named
 *       consumers; messages) and sluice_stream_consumer_lag_seconds
 */
#include "http_int.h"
#include "http_prom.h"

#include <string.h>

struct swalk {
	struct http_req *r;
	cJSON *arr;
	cJSON *cur;
	struct prom *p;
	bool seconds;
};

static int
conn_details(void *arg, const struct bk_chan_view *v)
{
	struct swalk *w = arg;
	cJSON *cd = cJSON_AddObjectToObject(w->cur, "connection_details");

	cJSON_AddStringToObject(cd, "name", v->conn_name);
	cJSON_AddStringToObject(cd, "user", v->user ? v->user : "");
	cJSON_AddStringToObject(cd, "node", w->r->l->node);
	return 0;
}

static void
num_or_null(cJSON *o, const char *k, int64_t v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, (double)v);
}

static int
each_sc(void *arg, const struct bk_stream_consumer_view *v)
{
	struct swalk *w = arg;
	cJSON *o = cJSON_CreateObject(), *q;

	w->cur = o;
	q = cJSON_AddObjectToObject(o, "queue");
	cJSON_AddStringToObject(q, "name", v->queue);
	cJSON_AddStringToObject(q, "vhost", v->vhost);
	if (v->consumer_tag != NULL)
		cJSON_AddStringToObject(o, "subscription_id", v->consumer_tag);
	else
		cJSON_AddNullToObject(o, "subscription_id");
	if (v->name != NULL)
		cJSON_AddStringToObject(o, "consumer_name", v->name);
	else
		cJSON_AddNullToObject(o, "consumer_name");
	cJSON_AddBoolToObject(o, "active", v->active);
	num_or_null(o, "offset", v->offset);
	num_or_null(o, "committed_offset", v->committed_offset);
	num_or_null(o, "last_offset", v->last_offset);
	cJSON_AddNumberToObject(o, "offset_lag", (double)v->lag);
	cJSON_AddNumberToObject(o, "lag_seconds", v->lag_seconds);
	cJSON_AddNumberToObject(o, "credits", v->credits);
	if (v->channel_id == 0 ||
	    bk_chan_inspect(w->r->l->broker, v->channel_id, conn_details, w) != BK_OK)
		cJSON_AddNullToObject(o, "connection_details");
	cJSON_AddItemToArray(w->arr, o);
	return 0;
}

void
http_api_stream(struct http_req *r)
{
	struct swalk w = { r, NULL, NULL, NULL, false };
	struct bk_vhost *vh = NULL;

	if (r->nseg < 2 || r->nseg > 3 || strcmp(r->seg[1], "consumers") != 0) {
		http_reply_not_found(r);
		return;
	}
	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
		http_reply_method_not_allowed(r);
		return;
	}
	if (r->nseg == 3 && (vh = http_vhost_arg(r, 2)) == NULL)
		return;
	w.arr = cJSON_CreateArray();
	bk_stream_consumers_each(r->l->broker, vh, NULL, each_sc, &w);
	http_reply_list(r, w.arr, NULL, NULL);
}

void
http_stream_queue_json(struct http_req *r, cJSON *o, const struct bk_queue_view *v)
{
	struct swalk w = { r, NULL, NULL, NULL, false };
	struct bk_vhost *vh;
	cJSON *s;

	if (!v->is_stream)
		return;
	s = cJSON_AddObjectToObject(o, "stream");
	cJSON_AddNumberToObject(s, "first_offset", (double)v->stream_first);
	num_or_null(s, "last_offset", v->stream_next > v->stream_first ?
		    (int64_t)v->stream_next - 1 : -1);
	cJSON_AddNumberToObject(s, "segments", (double)v->stream_segments);
	cJSON_AddNumberToObject(s, "bytes", (double)v->stream_bytes);
	w.arr = cJSON_AddArrayToObject(s, "consumers");
	if ((vh = bk_vhost_get(r->l->broker, v->vhost)) != NULL)
		bk_stream_consumers_each(r->l->broker, vh, v->name, each_sc, &w);
}

static int
each_lag(void *arg, const struct bk_stream_consumer_view *v)
{
	struct swalk *w = arg;

	if (v->name == NULL || !prom_vhost_wanted(w->p, v->vhost))
		return 0;
	if (w->seconds)
		prom_labelled(w->p, "stream_consumer_lag_seconds", v->lag_seconds, 3,
			      "vhost", v->vhost, "queue", v->queue, "consumer", v->name);
	else
		prom_labelled(w->p, "stream_consumer_lag", (double)v->lag, 3,
			      "vhost", v->vhost, "queue", v->queue, "consumer", v->name);
	return 0;
}

void
prom_stream_lag(struct prom *p)
{
	struct swalk w = { p->r, NULL, NULL, p, false };

	prom_head(p, "stream_consumer_lag", "gauge",
		  "Messages a named stream consumer has not acked yet");
	bk_stream_consumers_each(p->r->l->broker, NULL, NULL, each_lag, &w);
	w.seconds = true;
	prom_head(p, "stream_consumer_lag_seconds", "gauge",
		  "Age of the oldest message a named stream consumer has not acked");
	bk_stream_consumers_each(p->r->l->broker, NULL, NULL, each_lag, &w);
}
