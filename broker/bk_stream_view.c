/*
 * bk_stream_view.c: what operators see of streams: a stream queue's log
 * in its queue view, and every stream consumer with its position and lag
 * (bk_admin.h), for the management API, /metrics and sluicectl.
 *
 * Lag is counted in messages (offsets) from the consumer's position to
 * the newest readable offset, and in seconds as the age of the oldest
 * message not yet consumed (the timestamp of its chunk, one index
 * lookup). A named consumer's position is its stored offset, so a group
 * whose members are all gone still shows how far behind it is.
 */
#include "bk_stream.h"
#include "storage.h"

#include <string.h>

void
bk_stream_queue_view(struct bk_queue *q, struct bk_queue_view *v)
{
	struct st_stream_info i;

	if (q->stream == NULL)
		return;
	st_stream_info_get(q->stream->log, &i);
	v->is_stream = true;
	v->stream_first = i.first;
	v->stream_next = i.committed;
	v->stream_bytes = i.bytes;
	v->stream_segments = i.segments;
	/* what the log holds; deliveries are not taken out of it */
	v->messages = v->messages_ready = i.committed - i.first;
	v->messages_unacknowledged = 0;
	v->message_bytes = v->message_bytes_ready = i.bytes;
}

/* Lag from position pos (the next offset to consume) to the end. */
static void
lag(struct bk_queue *q, const struct st_stream_info *i, uint64_t pos,
    struct bk_stream_consumer_view *v)
{
	uint64_t ts;

	if (pos < i->first)
		pos = i->first;
	v->lag = i->committed > pos ? i->committed - pos : 0;
	v->lag_seconds = 0;
	if (v->lag > 0 && (ts = st_stream_offset_ts(q->stream->log, pos)) != 0) {
		uint64_t now = bk_now_ms();

		v->lag_seconds = now > ts ? (double)(now - ts) / 1000.0 : 0;
	}
}

static void
fill(struct bk_queue *q, const struct st_stream_info *i, struct bk_stream_consumer_view *v)
{
	memset(v, 0, sizeof(*v));
	v->vhost = q->vhost->name;
	v->queue = q->name;
	v->offset = v->committed_offset = -1;
	v->last_offset = i->committed > i->first ? (int64_t)i->committed - 1 : -1;
}

static int
each_live(struct bk_queue *q, const struct st_stream_info *i,
	  bk_stream_consumer_each_fn fn, void *arg)
{
	struct bk_stream_consumer_view v;
	struct bk_soffset *o;
	int rc = 0;

	for (struct bk_consumer *c = q->cons_head; c != NULL && rc == 0; c = c->next) {
		struct bk_sconsumer *sc = c->sc;
		uint64_t pos;

		if (sc == NULL)
			continue;
		fill(q, i, &v);
		v.name = sc->name;
		v.consumer_tag = c->tag ? c->tag : "";
		v.channel_id = c->channel_id;
		v.active = sc->r != NULL && !c->parked;
		v.offset = sc->delivered;
		v.credits = c->prefetch > c->unacked ? c->prefetch - c->unacked : 0;
		o = sc->name ? bk_soffset_get(q->broker, q->jid, sc->name, false) : NULL;
		if (o != NULL && o->stored)
			v.committed_offset = (int64_t)o->next - 1;
		pos = v.committed_offset >= 0 ? (uint64_t)v.committed_offset + 1 :
		      sc->delivered >= 0 ? (uint64_t)sc->delivered + 1 :
		      sc->r != NULL ? st_sreader_offset(sc->r) : i->committed;
		lag(q, i, pos, &v);
		rc = fn(arg, &v);
	}
	return rc;
}

static bool
has_live(struct bk_queue *q, const char *name)
{
	for (struct bk_consumer *c = q->cons_head; c != NULL; c = c->next)
		if (c->sc != NULL && c->sc->name != NULL && strcmp(c->sc->name, name) == 0)
			return true;
	return false;
}

/* Stored offsets of names with no registered consumer. */
static int
each_idle(struct bk_queue *q, const struct st_stream_info *i,
	  bk_stream_consumer_each_fn fn, void *arg)
{
	struct bk_soffsets *t = bk_qs(q->broker)->soffsets;
	struct bk_stream_consumer_view v;
	struct bk_soffset *o, *tmp;
	int rc = 0;

	if (t == NULL)
		return 0;
	HASH_ITER(hh, bk_soffsets_table(t), o, tmp) {
		if (o->jid != q->jid || !o->stored || has_live(q, o->name))
			continue;
		fill(q, i, &v);
		v.name = o->name;
		v.committed_offset = (int64_t)o->next - 1;
		lag(q, i, o->next, &v);
		if ((rc = fn(arg, &v)) != 0)
			break;
	}
	return rc;
}

static int
each_in(struct bk_vhost *vh, const char *queue, bk_stream_consumer_each_fn fn, void *arg)
{
	struct bk_queue *q, *tmp;
	struct st_stream_info i;
	int rc = 0;

	HASH_ITER(hh, vh->queues, q, tmp) {
		if (q->stream == NULL || (queue != NULL && strcmp(q->name, queue) != 0))
			continue;
		st_stream_info_get(q->stream->log, &i);
		if ((rc = each_live(q, &i, fn, arg)) != 0 ||
		    (rc = each_idle(q, &i, fn, arg)) != 0)
			break;
	}
	return rc;
}

int
bk_stream_consumers_each(struct bk_broker *b, struct bk_vhost *vh, const char *queue,
			 bk_stream_consumer_each_fn fn, void *arg)
{
	struct bk_vhost *v, *tmp;
	int rc = 0;

	if (vh != NULL)
		return each_in(vh, queue, fn, arg);
	HASH_ITER(hh, b->vhosts, v, tmp)
		if ((rc = each_in(v, queue, fn, arg)) != 0)
			break;
	return rc;
}
