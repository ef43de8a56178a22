/*
 * http_api_conns.c: /api/connections[/NAME[/channels]],
 * /api/vhosts/VHOST/connections (via http_api_vhosts), /api/channels
 * [/NAME], /api/consumers[/VHOST].
 *
 * Connections and channels come from the core's registry, where every
 * adapter (AMQP, MQTT) registers them; DELETE /api/connections/NAME
 * closes one through its adapter with the X-Reason header's text.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#define CHAN_STATS ((1u << BK_MS_PUBLISH) | (1u << BK_MS_CONFIRM) | \
	(1u << BK_MS_DELIVER) | (1u << BK_MS_DELIVER_NO_ACK) | (1u << BK_MS_GET) | \
	(1u << BK_MS_GET_NO_ACK) | (1u << BK_MS_ACK) | (1u << BK_MS_REDELIVER) | \
	(1u << BK_MS_RETURN_UNROUTABLE) | (1u << BK_MS_GET_EMPTY))

struct walk {
	struct http_req *r;
	cJSON *arr;
	const char *name;               /* channel lookup by name */
};

static void
add_nullable(cJSON *o, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

/* RabbitMQ's TLS fields: null without TLS, or without a peer certificate. */
static void
add_ssl(cJSON *o, const struct bk_conn_state *st)
{
	add_nullable(o, "ssl_protocol", st->ssl_protocol);
	add_nullable(o, "ssl_cipher", st->ssl_cipher);
	add_nullable(o, "ssl_key_exchange", NULL);
	add_nullable(o, "ssl_hash", NULL);
	add_nullable(o, "peer_cert_subject", st->peer_cert_subject);
	add_nullable(o, "peer_cert_issuer", st->peer_cert_issuer);
	add_nullable(o, "peer_cert_validity", st->peer_cert_validity);
}

static cJSON *
conn_json(struct http_req *r, const struct bk_conn_view *v)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "channel_max", v->st.channel_max);
	cJSON_AddNumberToObject(o, "channels", v->st.channels);
	if (v->client_properties.len > 0)
		cJSON_AddItemToObject(o, "client_properties",
				      http_json_table(v->client_properties));
	else
		cJSON_AddItemToObject(o, "client_properties", cJSON_CreateObject());
	if (v->client_id != NULL)
		cJSON_AddStringToObject(o, "client_id", v->client_id);
	cJSON_AddNumberToObject(o, "connected_at", (double)v->connected_at);
	cJSON_AddNumberToObject(o, "frame_max", v->st.frame_max);
	cJSON_AddStringToObject(o, "host", v->host);
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "node", r->l->node);
	cJSON_AddStringToObject(o, "peer_host", v->peer_host);
	cJSON_AddNumberToObject(o, "peer_port", v->peer_port);
	cJSON_AddNumberToObject(o, "port", v->port);
	cJSON_AddStringToObject(o, "protocol", v->protocol);
	/* Bytes on the wire from the kernel when it tells (TLS included). */
	cJSON_AddNumberToObject(o, "recv_cnt", (double)v->ctr.recv_cnt);
	http_json_stat1(r, o, "recv_oct", (double)(v->st.recv_oct ? v->st.recv_oct :
			v->ctr.recv_oct), v->hist, BK_HF_RECV_OCT, HTTP_WIN_DATA_RATES);
	cJSON_AddNumberToObject(o, "send_cnt", (double)v->ctr.send_cnt);
	http_json_stat1(r, o, "send_oct", (double)(v->st.send_oct ? v->st.send_oct :
			v->ctr.send_oct), v->hist, BK_HF_SEND_OCT, HTTP_WIN_DATA_RATES);
	cJSON_AddNumberToObject(o, "send_pend", (double)v->st.send_pend);
	cJSON_AddBoolToObject(o, "ssl", v->ssl);
	add_ssl(o, &v->st);
	cJSON_AddStringToObject(o, "state", v->st.state ? v->st.state : "running");
	cJSON_AddNumberToObject(o, "timeout", v->st.timeout);
	cJSON_AddStringToObject(o, "type", "network");
	cJSON_AddStringToObject(o, "user", v->user ? v->user : "");
	cJSON_AddStringToObject(o, "user_who_performed_action", v->user ? v->user : "");
	if (v->vhost != NULL)
		cJSON_AddStringToObject(o, "vhost", v->vhost);
	else
		cJSON_AddNullToObject(o, "vhost");
	return o;
}

static int
each_conn(void *arg, const struct bk_conn_view *v)
{
	struct walk *w = arg;

	cJSON_AddItemToArray(w->arr, conn_json(w->r, v));
	return 0;
}

static int
one_conn(void *arg, const struct bk_conn_view *v)
{
	struct walk *w = arg;

	w->arr = conn_json(w->r, v);
	return 0;
}

static cJSON *
chan_json(struct http_req *r, const struct bk_chan_view *v)
{
	cJSON *o = cJSON_CreateObject(), *cd;

	cJSON_AddNumberToObject(o, "acks_uncommitted", v->st.acks_uncommitted);
	cJSON_AddBoolToObject(o, "confirm", v->st.confirm);
	cd = cJSON_AddObjectToObject(o, "connection_details");
	cJSON_AddStringToObject(cd, "name", v->conn_name);
	cJSON_AddNumberToObject(o, "consumer_count", v->st.consumer_count);
	cJSON_AddNumberToObject(o, "global_prefetch_count", v->st.global_prefetch_count);
	cJSON_AddItemToObject(o, "message_stats",
			      http_json_msg_stats(r, &v->ms, v->hist, CHAN_STATS, true));
	cJSON_AddNumberToObject(o, "messages_unacknowledged", v->st.messages_unacknowledged);
	cJSON_AddNumberToObject(o, "messages_uncommitted", v->st.messages_uncommitted);
	cJSON_AddNumberToObject(o, "messages_unconfirmed", v->st.messages_unconfirmed);
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "node", r->l->node);
	cJSON_AddNumberToObject(o, "number", v->number);
	cJSON_AddNumberToObject(o, "prefetch_count", v->st.prefetch_count);
	cJSON_AddStringToObject(o, "state", v->st.state ? v->st.state : "running");
	cJSON_AddBoolToObject(o, "transactional", v->st.transactional);
	cJSON_AddStringToObject(o, "user", v->user ? v->user : "");
	if (v->vhost != NULL)
		cJSON_AddStringToObject(o, "vhost", v->vhost);
	else
		cJSON_AddNullToObject(o, "vhost");
	return o;
}

static int
each_chan(void *arg, const struct bk_chan_view *v)
{
	struct walk *w = arg;

	if (w->name != NULL && strcmp(w->name, v->name) != 0)
		return 0;
	cJSON_AddItemToArray(w->arr, chan_json(w->r, v));
	return 0;
}

void
http_api_connections(struct http_req *r)
{
	struct walk w = { r, NULL, NULL };
	struct bk_err err;
	const char *reason;

	if (r->nseg == 1) {
		w.arr = cJSON_CreateArray();
		bk_conns_each(r->l->broker, NULL, each_conn, &w);
		http_reply_list(r, w.arr, "name", NULL);
		return;
	}
	if (r->nseg == 2 && (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)) {
		if (bk_conn_inspect(r->l->broker, r->seg[1], one_conn, &w) != BK_OK)
			http_reply_not_found(r);
		else
			http_reply_object(r, w.arr);
		return;
	}
	if (r->nseg == 2 && r->method == EVHTTP_REQ_DELETE) {
		reason = http_req_header(r,
					    "X-Reason");
		if (bk_conn_close_by_name(r->l->broker, r->seg[1], reason, &err) != BK_OK)
			http_reply_status(r, &err);
		else
			http_reply_empty(r, 204);
		return;
	}
	if (r->nseg == 3 && strcmp(r->seg[2], "channels") == 0) {
		/* channels are named "<conn name> (<n>)" */
		size_t n = strlen(r->seg[1]);
		cJSON *all = cJSON_CreateArray(), *it, *next;

		w.arr = all;
		bk_chans_each(r->l->broker, NULL, 0, each_chan, &w);
		for (it = all->child; it != NULL; it = next) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");

			next = it->next;
			if (!cJSON_IsString(nm) || strncmp(nm->valuestring, r->seg[1], n) != 0 ||
			    strncmp(nm->valuestring + n, " (", 2) != 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(all, it));
		}
		http_reply_list(r, all, "name", NULL);
		return;
	}
	http_reply_not_found(r);
}

void
http_connections_of_vhost(struct http_req *r, const char *vhost)
{
	struct walk w = { r, cJSON_CreateArray(), NULL };

	bk_conns_each(r->l->broker, vhost, each_conn, &w);
	http_reply_list(r, w.arr, "name", NULL);
}

void
http_api_channels(struct http_req *r)
{
	struct walk w = { r, cJSON_CreateArray(), NULL };

	if (r->nseg > 2) {
		cJSON_Delete(w.arr);
		http_reply_not_found(r);
		return;
	}
	w.name = r->nseg == 2 ? r->seg[1] : NULL;
	bk_chans_each(r->l->broker, NULL, 0, each_chan, &w);
	if (r->nseg == 1) {
		http_reply_list(r, w.arr, "name", NULL);
		return;
	}
	http_reply_first(r, w.arr);
}

/* ---------------------------------------------------------------- */
/* consumers                                                         */
/* ---------------------------------------------------------------- */

struct cwalk {
	struct http_req *r;
	cJSON *arr;
	cJSON *cur;                     /* consumer being filled */
};

static int
chan_details(void *arg, const struct bk_chan_view *v)
{
	struct cwalk *w = arg;
	cJSON *cd = cJSON_AddObjectToObject(w->cur, "channel_details");

	cJSON_AddStringToObject(cd, "connection_name", v->conn_name);
	cJSON_AddStringToObject(cd, "name", v->name);
	cJSON_AddStringToObject(cd, "node", w->r->l->node);
	cJSON_AddNumberToObject(cd, "number", v->number);
	cJSON_AddStringToObject(cd, "user", v->user ? v->user : "");
	return 0;
}

static cJSON *
consumer_json(struct cwalk *w, const struct bk_consumer_view *v)
{
	cJSON *o = cJSON_CreateObject(), *q;

	w->cur = o;
	cJSON_AddBoolToObject(o, "ack_required", v->ack_required);
	cJSON_AddBoolToObject(o, "active", v->active);
	cJSON_AddStringToObject(o, "activity_status", v->active ? "up" : "waiting");
	cJSON_AddItemToObject(o, "arguments", cJSON_CreateObject());
	if (v->priority != 0)
		cJSON_AddNumberToObject(cJSON_GetObjectItem(o, "arguments"),
					"x-priority", v->priority);
	cJSON_AddStringToObject(o, "consumer_tag", v->consumer_tag ? v->consumer_tag : "");
	cJSON_AddBoolToObject(o, "exclusive", v->exclusive);
	cJSON_AddNumberToObject(o, "prefetch_count", v->prefetch_count);
	q = cJSON_AddObjectToObject(o, "queue");
	cJSON_AddStringToObject(q, "name", v->queue);
	cJSON_AddStringToObject(q, "vhost", v->vhost);
	if (v->channel_id == 0 ||
	    bk_chan_inspect(w->r->l->broker, v->channel_id, chan_details, w) != BK_OK)
		cJSON_AddItemToObject(o, "channel_details", cJSON_CreateObject());
	return o;
}

/*
 * The list: each consumer admitted is copied at the request (a consumer
 * has no name to find it by later) and its object is built per page, or
 * per slice of a long unpaged list (http_slices.c); its channel_details
 * are the channel's when the object is built. A million consumers (1,000
 * per channel) were built in one go before.
 */
struct csnap {
	struct bk_consumer_view v;      /* its strings follow in the block */
};

static struct csnap *
csnap_of(const struct bk_consumer_view *v)
{
	const char *tag = v->consumer_tag ? v->consumer_tag : "";
	size_t lv = strlen(v->vhost), lq = strlen(v->queue), lt = strlen(tag);
	struct csnap *s = bk_malloc(sizeof(*s) + lv + lq + lt + 3);
	char *at = (char *)(s + 1);

	s->v = *v;
	s->v.vhost = memcpy(at, v->vhost, lv + 1);
	at += lv + 1;
	s->v.queue = memcpy(at, v->queue, lq + 1);
	at += lq + 1;
	s->v.consumer_tag = memcpy(at, tag, lt + 1);
	return s;
}

struct crows {
	struct http_req *r;
	struct http_listing *ls;
};

/* v's value for the sort key k, as its object would give it: its own
 * strings and numbers straight (true/false and objects sort as absent),
 * channel_details.* from its channel's, nothing built for the rest. */
static void
consumer_sort_value(struct http_req *r, const struct bk_consumer_view *v, const char *k,
		    struct http_sortval *sv)
{
	struct cwalk w = { r, NULL, NULL };

	if (k == NULL)
		return;
	if (strcmp(k, "consumer_tag") == 0)
		http_sortval_str(sv, v->consumer_tag ? v->consumer_tag : "");
	else if (strcmp(k, "queue.name") == 0)
		http_sortval_str(sv, v->queue);
	else if (strcmp(k, "queue.vhost") == 0)
		http_sortval_str(sv, v->vhost);
	else if (strcmp(k, "activity_status") == 0)
		http_sortval_str(sv, v->active ? "up" : "waiting");
	else if (strcmp(k, "prefetch_count") == 0)
		http_sortval_num(sv, v->prefetch_count);
	else if (strcmp(k, "arguments.x-priority") == 0 && v->priority != 0)
		http_sortval_num(sv, v->priority);
	else if (strncmp(k, "channel_details.", 16) == 0 && v->channel_id != 0) {
		w.cur = cJSON_CreateObject();
		if (bk_chan_inspect(r->l->broker, v->channel_id, chan_details, &w) == BK_OK)
			http_sortval_set(sv, http_json_path(w.cur, k));
		cJSON_Delete(w.cur);
	}
}

static int
each_consumer_row(void *arg, const struct bk_consumer_view *v)
{
	struct crows *w = arg;
	struct http_row *row = http_listing_admit_vhost(w->ls, v->vhost);

	if (row == NULL)
		return 0;
	row->snap = csnap_of(v);
	for (int k = 0; k < 2; k++)
		consumer_sort_value(w->r, v, w->ls->key[k], &row->key[k]);
	return 0;
}

static void
page_consumer(struct http_req *r, const struct http_row *row, cJSON *arr)
{
	struct cwalk w = { r, NULL, NULL };

	cJSON_AddItemToArray(arr, consumer_json(&w, &((const struct csnap *)row->snap)->v));
}

void
http_api_consumers(struct http_req *r)
{
	struct http_listing ls;
	struct crows w = { r, &ls };
	struct bk_vhost *vh = NULL;

	if (r->nseg > 2) {
		http_reply_not_found(r);
		return;
	}
	if (r->nseg == 2 && (vh = http_vhost_arg(r, 1)) == NULL)
		return;
	if (http_listing_init(&ls, r, NULL, NULL)) {
		bk_consumers_each(r->l->broker, vh, each_consumer_row, &w);
		http_listing_send_page(&ls, page_consumer);
	}
	http_listing_fini(&ls);
}
