/*
 * bk_introspect.c: read-only views of vhosts, exchanges, queues, bindings
 * and consumers for management.
 *
 * Each walk fills a view on the stack from the live objects and hands it
 * to the caller's callback; nothing is copied to the heap except the
 * sorted vhost list. Callbacks must not change the broker (see broker.h),
 * so hash iteration here never meets a deletion.
 */
#include "bk_mgmt.h"
#include "bk_policy.h"
#include "bk_queueing.h"
#include "bk_routing.h"
#include "bk_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_vhost(const void *a, const void *b)
{
	return strcmp((*(struct bk_vhost *const *)a)->name,
		      (*(struct bk_vhost *const *)b)->name);
}

/* The vhosts to walk: just vh, or all sorted by name. Caller frees. */
static struct bk_vhost **
vhost_list(struct bk_broker *b, struct bk_vhost *vh, uint32_t *n)
{
	struct bk_vhost **v, *it, *tmp;
	uint32_t k = 0;

	if (vh != NULL) {
		v = bk_malloc(sizeof(*v));
		v[0] = vh;
		*n = 1;
		return v;
	}
	v = bk_calloc(HASH_COUNT(b->vhosts) + 1, sizeof(*v));
	HASH_ITER(hh, b->vhosts, it, tmp)
		v[k++] = it;
	qsort(v, k, sizeof(*v), cmp_vhost);
	*n = k;
	return v;
}

int
bk_vhosts_each(struct bk_broker *b, bk_vhost_each_fn fn, void *arg)
{
	uint32_t n, i;
	struct bk_vhost **v = vhost_list(b, NULL, &n);
	struct bk_vhost_view view;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		memset(&view, 0, sizeof(view));
		view.name = v[i]->name;
		view.ms = v[i]->ms;
		view.rates = v[i]->rates;
		view.limits = v[i]->limits;
		bk_stats_queue_totals(v[i], &view.queue_totals, &view.queues, NULL);
		view.exchanges = HASH_COUNT(v[i]->exchanges);
		view.connections = bk_registry_count(b, v[i]->name);
		view.hist = v[i]->hist;
		rc = fn(arg, &view);
	}
	bk_free(v);
	return rc;
}

/* ---- exchanges ---- */

static void
exchange_view(struct bk_exchange *x, struct bk_exchange_view *v)
{
	memset(v, 0, sizeof(*v));
	v->vhost = x->vhost->name;
	v->name = x->name;
	v->type = bk_xtype_name(x->type);
	v->durable = x->durable;
	v->auto_delete = x->auto_delete;
	v->internal = x->internal;
	v->arguments = (struct bk_table){ x->args, x->args_len };
	v->policy = bk_policy_name(x->policy);
	v->operator_policy = bk_policy_name(x->op_policy);
	v->publish_in = x->publish_in;
	v->publish_out = x->publish_out;
	v->publish_in_rate = x->rate_in;
	v->publish_out_rate = x->rate_out;
	v->hist = x->hist;
}

int
bk_exchanges_each(struct bk_broker *b, struct bk_vhost *vh,
		  bk_exchange_each_fn fn, void *arg)
{
	uint32_t n, i;
	struct bk_vhost **v = vhost_list(b, vh, &n);
	struct bk_exchange *x, *tmp;
	struct bk_exchange_view view;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		HASH_ITER(hh, v[i]->exchanges, x, tmp) {
			exchange_view(x, &view);
			if ((rc = fn(arg, &view)) != 0)
				break;
		}
	}
	bk_free(v);
	return rc;
}

enum bk_status
bk_exchange_inspect(struct bk_vhost *vh, struct bk_str name,
		    bk_exchange_each_fn fn, void *arg, struct bk_err *err)
{
	struct bk_exchange *x = bk_exchange_get(vh, name);
	struct bk_exchange_view view;

	if (x == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
				  (int)name.len, name.p, vh->name);
	exchange_view(x, &view);
	fn(arg, &view);
	return BK_OK;
}

/* ---- queues ---- */

static uint64_t
queue_memory(const struct bk_queue *q)
{
	uint64_t m = sizeof(*q) + strlen(q->name) + q->args_len + q->ready_bytes;

	for (uint32_t i = 0; i < q->nlevels; i++)
		m += (uint64_t)(q->levels[i].e ? q->levels[i].mask + 1 : 0) *
		     sizeof(struct bk_entry);
	m += (uint64_t)q->heap.cap * sizeof(*q->heap.v);
	m += (uint64_t)q->ncons * sizeof(struct bk_consumer);
	return m;
}

static void
queue_view(struct bk_queue *q, struct bk_queue_view *v)
{
	memset(v, 0, sizeof(*v));
	v->vhost = q->vhost->name;
	v->name = q->name;
	v->durable = q->durable;
	v->exclusive = q->exclusive;
	v->auto_delete = q->auto_delete;
	v->arguments = (struct bk_table){ q->args_blob, q->args_len };
	if (q->exclusive)
		v->owner_conn_id = bk_registry_owner_id(q->broker, q->owner);
	v->state = "running";
	v->type = q->args.type == BK_QTYPE_QUORUM ? "quorum" :
		  q->args.type == BK_QTYPE_STREAM ? "stream" : "classic";
	v->policy = bk_policy_name(q->policy);
	v->operator_policy = bk_policy_name(q->op_policy);
	v->policy_definition = bk_policy_definition(q->policy);
	v->operator_definition = bk_policy_definition(q->op_policy);
	v->messages_ready = q->ready;
	v->messages_unacknowledged = q->unacked;
	v->messages = (uint64_t)q->ready + q->unacked;
	v->message_bytes = q->ready_bytes;
	v->message_bytes_ready = q->ready_bytes;
	v->consumers = q->ncons;
	v->memory = queue_memory(q);
	v->ms = q->ms;
	bk_hist_rates(q->broker, q->hist, &v->rates);
	v->hist = q->hist;
	bk_stream_queue_view(q, v);
}

int
bk_queues_each(struct bk_broker *b, struct bk_vhost *vh, bk_queue_each_fn fn,
	       void *arg)
{
	uint32_t n, i;
	struct bk_vhost **v = vhost_list(b, vh, &n);
	struct bk_queue *q, *tmp;
	struct bk_queue_view view;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		HASH_ITER(hh, v[i]->queues, q, tmp) {
			queue_view(q, &view);
			if ((rc = fn(arg, &view)) != 0)
				break;
		}
	}
	bk_free(v);
	return rc;
}

enum bk_status
bk_queue_inspect(struct bk_vhost *vh, struct bk_str name, bk_queue_each_fn fn,
		 void *arg, struct bk_err *err)
{
	struct bk_queue *q = bk_queue_get(vh, name);
	struct bk_queue_view view;

	if (q == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no queue '%.*s' in vhost '%s'",
				  (int)name.len, name.p, vh->name);
	queue_view(q, &view);
	fn(arg, &view);
	return BK_OK;
}

/* ---- bindings ---- */

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
bk_binding_props_key(struct bk_str key, struct bk_table args, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return out;
#define PUT(ch) do { if (o + 1 < cap) out[o++] = (char)(ch); } while (0)
	if (key.len == 0 && args.len == 0) {
		PUT('~');
	} else {
		for (uint32_t i = 0; i < key.len; i++) {
			unsigned char c = (unsigned char)key.p[i];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_') {
				PUT(c);
			} else if (c == ' ') {
				PUT('+');
			} else {
				PUT('%');
				PUT("0123456789ABCDEF"[c >> 4]);
				PUT("0123456789ABCDEF"[c & 15]);
			}
		}
	}
	if (args.len > 0) {
		/* FNV-1a over the encoded arguments, 32 bits as 6 base64url chars. */
		uint32_t h = 2166136261u;

		for (uint32_t i = 0; i < args.len; i++)
			h = (h ^ args.p[i]) * 16777619u;
		PUT('~');
		PUT(b64url[h >> 26]);
		PUT(b64url[(h >> 20) & 63]);
		PUT(b64url[(h >> 14) & 63]);
		PUT(b64url[(h >> 8) & 63]);
		PUT(b64url[(h >> 2) & 63]);
		PUT(b64url[(h & 3) << 4]);
	}
#undef PUT
	out[o] = '\0';
	return out;
}

static int
emit_binding(struct bk_binding_view *view, bk_binding_each_fn fn, void *arg)
{
	char pk[1024];

	view->properties_key = bk_binding_props_key(view->routing_key, view->arguments,
						    pk, sizeof(pk));
	return fn(arg, view);
}

static int
vhost_bindings(struct bk_vhost *vh, bk_binding_each_fn fn, void *arg)
{
	struct bk_queue *q, *qt;
	struct bk_binding *bd, *bt;
	struct bk_binding_view view;
	int rc;

	/* The default exchange's implicit bindings come first, as RabbitMQ
	 * lists them. */
	HASH_ITER(hh, vh->queues, q, qt) {
		memset(&view, 0, sizeof(view));
		view.vhost = vh->name;
		view.source = "";
		view.destination = bk_str_c(q->name);
		view.destination_type = "queue";
		view.routing_key = view.destination;
		if ((rc = emit_binding(&view, fn, arg)) != 0)
			return rc;
	}
	HASH_ITER(hh, vh->routing->ids, bd, bt) {
		memset(&view, 0, sizeof(view));
		view.vhost = vh->name;
		view.source = bd->source->name;
		if (bd->dest_is_queue) {
			view.destination = bk_str_c(bk_queue_name(bd->dest.q));
			view.destination_type = "queue";
		} else {
			view.destination = (struct bk_str){ bd->dest.x->name,
							    bd->dest.x->name_len };
			view.destination_type = "exchange";
		}
		view.routing_key = bd->key;
		view.arguments = bd->args;
		if ((rc = emit_binding(&view, fn, arg)) != 0)
			return rc;
	}
	return 0;
}

int
bk_bindings_each(struct bk_broker *b, struct bk_vhost *vh, bk_binding_each_fn fn,
		 void *arg)
{
	uint32_t n, i;
	struct bk_vhost **v = vhost_list(b, vh, &n);
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = vhost_bindings(v[i], fn, arg);
	bk_free(v);
	return rc;
}

/* ---- consumers ---- */

int
bk_consumers_each(struct bk_broker *b, struct bk_vhost *vh, bk_consumer_each_fn fn,
		  void *arg)
{
	uint32_t n, i;
	struct bk_vhost **v = vhost_list(b, vh, &n);
	struct bk_queue *q, *tmp;
	struct bk_consumer *c;
	struct bk_consumer_view view;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		HASH_ITER(hh, v[i]->queues, q, tmp) {
			for (c = q->cons_head; c != NULL && rc == 0; c = c->next) {
				memset(&view, 0, sizeof(view));
				view.vhost = v[i]->name;
				view.queue = q->name;
				view.consumer_tag = c->tag ? c->tag : "";
				view.channel_id = c->channel_id;
				view.ack_required = !c->no_ack;
				view.exclusive = c->exclusive;
				view.active = !c->parked;
				view.prefetch_count = c->prefetch;
				view.priority = c->priority;
				view.unacked = c->unacked;
				rc = fn(arg, &view);
			}
			if (rc != 0)
				break;
		}
	}
	bk_free(v);
	return rc;
}
