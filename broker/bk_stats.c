/*
 * bk_stats.c: message counters, the sampler and the overview (and the
 * cluster's view of its nodes, which cluster/ reports through a hook).
 *
 * Counting happens elsewhere, as plain adds into the counted objects
 * (bk_route.c for publishes, bk_queue.c for enqueues, bk_dispatch.c for
 * deliveries, gets and acks; adapters for confirms and returns). This
 * file only reads them: every interval_ms a timer walks vhosts, queues,
 * exchanges and channels, turns counter deltas into per-second rates
 * (RabbitMQ's {"rate": x} over the last interval), records each object's
 * history (bk_hist.c: what the API's sample windows read) and appends
 * one broker-wide bk_sample to a fixed ring for the dashboard.
 *
 * The walk is O(objects) every 5 s by default; nothing here runs per
 * message. It re-enters nothing: it calls no adapter code except the
 * registry's describe callbacks (which must not change anything).
 */
#include "bk_mgmt.h"
#include "bk_queueing.h"
#include "bk_routing.h"
#include "bk_proc.h"

#include <event2/event.h>
#include <string.h>

#define DEFAULT_INTERVAL_MS 5000

static const char *const mstat_names[BK_MS__COUNT] = {
	[BK_MS_PUBLISH] = "publish",
	[BK_MS_PUBLISH_IN] = "publish_in",
	[BK_MS_PUBLISH_OUT] = "publish_out",
	[BK_MS_CONFIRM] = "confirm",
	[BK_MS_DELIVER] = "deliver",
	[BK_MS_DELIVER_NO_ACK] = "deliver_no_ack",
	[BK_MS_GET] = "get",
	[BK_MS_GET_NO_ACK] = "get_no_ack",
	[BK_MS_ACK] = "ack",
	[BK_MS_REDELIVER] = "redeliver",
	[BK_MS_RETURN_UNROUTABLE] = "return_unroutable",
	[BK_MS_DROP_UNROUTABLE] = "drop_unroutable",
	[BK_MS_GET_EMPTY] = "get_empty",
};

const char *
bk_mstat_name(enum bk_mstat s)
{
	return (unsigned)s < BK_MS__COUNT ? mstat_names[s] : "unknown";
}

uint64_t
bk_msg_stats_deliver_get(const struct bk_msg_stats *s)
{
	return s->n[BK_MS_DELIVER] + s->n[BK_MS_DELIVER_NO_ACK] +
	       s->n[BK_MS_GET] + s->n[BK_MS_GET_NO_ACK];
}

double
bk_msg_rates_deliver_get(const struct bk_msg_rates *r)
{
	return r->r[BK_MS_DELIVER] + r->r[BK_MS_DELIVER_NO_ACK] +
	       r->r[BK_MS_GET] + r->r[BK_MS_GET_NO_ACK];
}

void
bk_stats_count(struct bk_vhost *vh, enum bk_mstat which, uint64_t n)
{
	if (vh == NULL)
		return;
	switch (which) {
	case BK_MS_CONFIRM:
		vh->ms.n[BK_MS_CONFIRM] += n;
		break;
	case BK_MS_RETURN_UNROUTABLE:
		vh->ms.n[BK_MS_RETURN_UNROUTABLE] += n;
		vh->ms.n[BK_MS_DROP_UNROUTABLE] -=
			n < vh->ms.n[BK_MS_DROP_UNROUTABLE] ? n : vh->ms.n[BK_MS_DROP_UNROUTABLE];
		break;
	default:
		break;
	}
}

void
bk_stats_rates_step(struct bk_msg_stats *last, const struct bk_msg_stats *cur,
		    struct bk_msg_rates *rates, double secs)
{
	for (int i = 0; i < BK_MS__COUNT; i++) {
		/* A counter that went down (drop moved to return) reads 0. */
		uint64_t d = cur->n[i] >= last->n[i] ? cur->n[i] - last->n[i] : 0;

		rates->r[i] = secs > 0 ? (double)d / secs : 0;
	}
	*last = *cur;
}

void
bk_stats_queue_totals(struct bk_vhost *vh, struct bk_queue_totals *t,
		      uint32_t *nqueues, uint32_t *nconsumers)
{
	struct bk_queue *q, *tmp;

	HASH_ITER(hh, vh->queues, q, tmp) {
		t->messages_ready += q->ready;
		t->messages_unacknowledged += q->unacked;
		t->messages += (uint64_t)q->ready + q->unacked;
		t->message_bytes += q->ready_bytes;
		if (nqueues)
			(*nqueues)++;
		if (nconsumers)
			*nconsumers += q->ncons;
	}
}

/* Broker-wide counters: live vhosts plus those deleted since start. */
static void
sum_counters(struct bk_broker *b, struct bk_msg_stats *out)
{
	struct bk_vhost *vh, *tmp;

	*out = bk_mgmt(b)->ms_gone;
	HASH_ITER(hh, b->vhosts, vh, tmp)
		for (int i = 0; i < BK_MS__COUNT; i++)
			out->n[i] += vh->ms.n[i];
}

/* vals = { ready, unacked, the counters }: the layout of queue and vhost
 * histories (BK_HF_READY .. BK_HF_MS + BK_MS__COUNT). */
static void
lengths_and_counters(uint64_t *vals, uint64_t ready, uint64_t unacked,
		     const struct bk_msg_stats *ms)
{
	vals[BK_HF_READY] = ready;
	vals[BK_HF_UNACKED] = unacked;
	memcpy(vals + BK_HF_MS, ms->n, sizeof(ms->n));
}

static void
sample_exchange(struct bk_broker *b, struct bk_exchange *x, double secs)
{
	uint64_t io[2] = { x->publish_in, x->publish_out };

	x->rate_in = secs > 0 ? (float)((double)(x->publish_in - x->last_in) / secs) : 0;
	x->rate_out = secs > 0 ? (float)((double)(x->publish_out - x->last_out) / secs) : 0;
	x->last_in = x->publish_in;
	x->last_out = x->publish_out;
	bk_hist_record(b, &x->hist, BK_HF_MS + BK_MS_PUBLISH_IN,
		       BK_HF_MS + BK_MS_PUBLISH_OUT + 1, BK_HIST_OBJECT, false, io);
}

static void
sample_vhost(struct bk_vhost *vh, double secs)
{
	struct bk_broker *b = vh->broker;
	uint64_t vals[BK_HF_MS + BK_MS__COUNT];
	struct bk_queue_totals t = { 0 };
	struct bk_queue *q, *qt;
	struct bk_exchange *x, *xt;

	bk_stats_rates_step(&vh->ms_last, &vh->ms, &vh->rates, secs);
	HASH_ITER(hh, vh->queues, q, qt) {
		lengths_and_counters(vals, q->ready, q->unacked, &q->ms);
		bk_hist_record(b, &q->hist, BK_HF_READY, BK_HF_MS + BK_MS__COUNT,
			       BK_HIST_OBJECT, false, vals);
		t.messages_ready += q->ready;
		t.messages_unacknowledged += q->unacked;
	}
	HASH_ITER(hh, vh->exchanges, x, xt)
		sample_exchange(b, x, secs);
	lengths_and_counters(vals, t.messages_ready, t.messages_unacknowledged, &vh->ms);
	bk_hist_record(b, &vh->hist, BK_HF_READY, BK_HF_MS + BK_MS__COUNT,
		       BK_HIST_VHOST, false, vals);
}

/* The broker's own history: overview, node and churn figures. */
static void
sample_broker(struct bk_broker *b, const struct bk_msg_stats *ms,
	      const struct bk_queue_totals *qt)
{
	struct bk_mgmt *m = bk_mgmt(b);
	uint64_t vals[BK_HF__COUNT], limit;
	struct bk_proc_stats ps;
	const struct bk_churn *c = &b->churn;

	bk_proc_stats_get(&ps);
	memset(vals, 0, sizeof(vals));
	lengths_and_counters(vals, qt->messages_ready, qt->messages_unacknowledged, ms);
	vals[BK_HF_MEM_USED] = bk_alloc_used();
	vals[BK_HF_FD_USED] = ps.fds_open;
	vals[BK_HF_SOCKETS_USED] = ps.sockets_open;
	bk_disk_space(b, &vals[BK_HF_DISK_FREE], &limit);
	vals[BK_HF_CONN_CREATED] = c->conn_created;
	vals[BK_HF_CONN_CLOSED] = c->conn_closed;
	vals[BK_HF_CHAN_CREATED] = c->chan_created;
	vals[BK_HF_CHAN_CLOSED] = c->chan_closed;
	vals[BK_HF_QUEUE_DECLARED] = c->queue_declared;
	vals[BK_HF_QUEUE_CREATED] = c->queue_created;
	vals[BK_HF_QUEUE_DELETED] = c->queue_deleted;
	bk_hist_record(b, &m->hist, 0, BK_HF__COUNT, BK_HIST_BROKER, true, vals);
}

void
bk_stats_sample_now(struct bk_broker *b)
{
	struct bk_mgmt *m = bk_mgmt(b);
	uint64_t now = bk_now_ms();
	double secs = m->last_sample_ms ? (double)(now - m->last_sample_ms) / 1000.0 : 0;
	struct bk_vhost *vh, *tmp;
	struct bk_sample *s;
	struct bk_msg_stats cur;
	struct bk_queue_totals qt = { 0 };

	if (m->last_sample_ms && now <= m->last_sample_ms)
		secs = m->interval_ms / 1000.0;  /* clock did not move: assume one tick */
	m->tick++;
	m->tick_at[m->tick % BK_TICKS_KEPT] = now;
	HASH_ITER(hh, b->vhosts, vh, tmp)
		sample_vhost(vh, secs);
	bk_registry_sample(b, secs);
	sum_counters(b, &cur);
	bk_stats_rates_step(&m->ms_last, &cur, &m->rates, secs);
	m->last_sample_ms = now;

	s = &m->ring[(m->ring_head + m->ring_count) % BK_SAMPLES_MAX];
	if (m->ring_count == BK_SAMPLES_MAX)
		m->ring_head = (m->ring_head + 1) % BK_SAMPLES_MAX;
	else
		m->ring_count++;
	memset(s, 0, sizeof(*s));
	s->at_ms = now;
	s->ms = cur;
	HASH_ITER(hh, b->vhosts, vh, tmp)
		bk_stats_queue_totals(vh, &qt, &s->queues, &s->consumers);
	s->messages = qt.messages;
	s->messages_ready = qt.messages_ready;
	s->messages_unacknowledged = qt.messages_unacknowledged;
	s->message_bytes = qt.message_bytes;
	s->connections = m->nconns;
	s->channels = m->nchans;
	s->mem_used = bk_alloc_used();
	sample_broker(b, &cur, &qt);
}

uint32_t
bk_stats_samples(struct bk_broker *b, struct bk_sample *out, uint32_t max)
{
	struct bk_mgmt *m = bk_mgmt(b);
	uint32_t n = m->ring_count < max ? m->ring_count : max;
	uint32_t first = m->ring_count - n;   /* skip the oldest ones */

	for (uint32_t i = 0; i < n; i++)
		out[i] = m->ring[(m->ring_head + first + i) % BK_SAMPLES_MAX];
	return n;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bk_stats_sample_now(arg);
}

void
bk_stats_set_interval(struct bk_broker *b, uint32_t ms)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct timeval tv;

	m->interval_ms = ms < 100 ? 100 : ms;
	if (b->base == NULL)
		return;
	if (m->timer == NULL)
		m->timer = event_new(b->base, -1, EV_PERSIST, timer_cb, b);
	tv.tv_sec = m->interval_ms / 1000;
	tv.tv_usec = (m->interval_ms % 1000) * 1000;
	event_add(m->timer, &tv);
}

void
bk_overview_get(struct bk_broker *b, struct bk_overview *out)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_vhost *vh, *tmp;
	struct bk_conn *c;
	uint64_t now = bk_now_ms();

	memset(out, 0, sizeof(*out));
	sum_counters(b, &out->ms);
	out->rates = m->rates;
	HASH_ITER(hh, b->vhosts, vh, tmp) {
		out->object_totals.vhosts++;
		out->object_totals.exchanges += HASH_COUNT(vh->exchanges);
		bk_stats_queue_totals(vh, &out->queue_totals, &out->object_totals.queues,
				      &out->object_totals.consumers);
	}
	out->object_totals.connections = m->nconns;
	out->object_totals.channels = m->nchans;
	for (c = m->conns_head; c != NULL; c = c->next) {
		uint32_t i, nch = 0;
		struct bk_chan *ch;

		for (ch = c->chans; ch != NULL; ch = ch->cnext)
			nch++;
		for (i = 0; i < out->nproto; i++)
			if (strcmp(out->proto[i].protocol, bk_registry_protocol(m, c)) == 0)
				break;
		if (i == out->nproto) {
			if (out->nproto == BK_PROTO_MAX)
				continue;
			out->proto[out->nproto++].protocol = bk_registry_protocol(m, c);
		}
		out->proto[i].connections++;
		out->proto[i].channels += nch;
	}
	out->started_ms = m->started_ms;
	out->uptime_ms = now > m->started_ms ? now - m->started_ms : 0;
	out->mem_used = bk_alloc_used();
	out->mem_high_watermark = bk_memory_watermark(b);
	out->alarms = bk_alarms(b);
	out->sample_interval_ms = m->interval_ms;
	out->churn = b->churn;
	out->auth = b->auth;
	out->queue_ms = b->queues_gone;
	HASH_ITER(hh, b->vhosts, vh, tmp) {
		struct bk_queue *q, *qt;

		HASH_ITER(hh, vh->queues, q, qt)
			for (int i = 0; i < BK_MS__COUNT; i++)
				out->queue_ms.n[i] += q->ms.n[i];
	}
	out->chan_ms = m->chan_gone;
	for (c = m->conns_head; c != NULL; c = c->next)
		for (struct bk_chan *ch = c->chans; ch != NULL; ch = ch->cnext)
			for (int i = 0; i < BK_MS__COUNT; i++)
				out->chan_ms.n[i] += ch->ctr.ms.n[i];
	out->hist = m->hist;
	bk_retained_stats(b, NULL, &out->retained);
}

void
bk_mgmt_init(struct bk_broker *b)
{
	struct bk_mgmt *m = bk_calloc(1, sizeof(*m));

	b->mgmt = m;
	m->started_ms = bk_now_ms();
	m->next_conn_id = 1;
	m->next_chan_id = 1;
	m->access_gen = 1;
	bk_stats_set_interval(b, DEFAULT_INTERVAL_MS);
}

void
bk_mgmt_fini(struct bk_broker *b)
{
	struct bk_mgmt *m = b->mgmt;

	if (m == NULL)
		return;
	if (m->timer)
		event_free(m->timer);
	bk_hist_free(m->hist);
	bk_registry_fini(b);
	bk_perms_fini(b);
	bk_tperms_fini(b);
	bk_vhost_watchers_fini(b);
	BK_FREE(b->mgmt);
}

void
bk_cluster_set(struct bk_broker *b, bk_cluster_each_fn each, void *ctx)
{
	b->cluster_each = each;
	b->cluster_ctx = ctx;
}

bool
bk_cluster_each(struct bk_broker *b, bk_cluster_node_fn fn, void *arg)
{
	if (b->cluster_each == NULL)
		return false;
	b->cluster_each(b->cluster_ctx, fn, arg);
	return true;
}
