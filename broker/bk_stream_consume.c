/*
 * bk_stream_consume.c: consumers of a stream queue.
 *
 * Each consumer reads the log through its own cursor, so any number of
 * them read the whole stream independently and nothing is removed. The
 * rules are RabbitMQ's: manual acks and a prefetch are required (acks
 * only give credit back, so the prefetch is what paces a consumer), and
 * a nack or reject, with requeue or not, counts as an ack.
 *
 * Dispatch (from publish completions, settlements, consume and wake)
 * serves each consumer while it has credit: read the next record, build
 * its message (with the x-stream-offset header) and hand it over. A
 * message refused with -EAGAIN is kept (pending) for the next round, so
 * parking never skips an offset.
 *
 * Named consumers (x-stream-consumer-name) store the offset after the
 * last message they acked (bk_stream_offsets.c) and, given no start,
 * resume there (an explicit start wins, to rewind). With single_active,
 * consumers of one name form a group: only the first registered reads;
 * its cursor is created when it becomes active, at the group's stored
 * offset (its own start only if the group stored none yet), so the next
 * one takes over where the previous one's acks ended.
 *
 * Filtering: chunks the Bloom filters rule out are skipped unread
 * (st_sreader_filter); of the chunks read, only messages whose
 * x-stream-filter-value is one of the consumer's values (or that have none,
 * with match_unfiltered) are delivered.
 */
#include "bk_persist.h"
#include "bk_stream.h"
#include "storage.h"

#include <errno.h>
#include <string.h>

static enum bk_status
refuse(const struct bk_consume_decl *d, struct bk_err *err)
{
	struct bk_queue *q = d->queue;

	if (d->no_ack)
		return bk_err_set(err, BK_NOT_IMPLEMENTED,
				  "automatic acknowledgement not supported by stream "
				  "queues queue '%s' in vhost '%s'", q->name, q->vhost->name);
	if (d->prefetch == 0)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "consumer prefetch count is not set for 'queue '%s' in "
				  "vhost '%s''", q->name, q->vhost->name);
	return BK_OK;
}

static void
copy_filters(struct bk_sconsumer *sc, const struct bk_consume_stream *o)
{
	size_t total = 0, at = 0;

	if (o->nfilters == 0)
		return;
	for (uint32_t i = 0; i < o->nfilters; i++)
		total += o->filters[i].len;
	sc->fbuf = bk_malloc(total ? total : 1);
	sc->filters = bk_calloc(o->nfilters, sizeof(*sc->filters));
	sc->hashes = bk_calloc(o->nfilters, sizeof(*sc->hashes));
	for (uint32_t i = 0; i < o->nfilters; i++) {
		if (o->filters[i].len)
			memcpy(sc->fbuf + at, o->filters[i].p, o->filters[i].len);
		sc->filters[i] = (struct bk_str){ sc->fbuf + at, o->filters[i].len };
		sc->hashes[i] = st_stream_filter_hash(sc->fbuf + at, o->filters[i].len);
		at += o->filters[i].len;
	}
	sc->nfilters = o->nfilters;
}

static struct bk_sconsumer *
sconsumer_new(const struct bk_consume_stream *o)
{
	struct bk_sconsumer *sc = bk_calloc(1, sizeof(*sc));

	sc->delivered = -1;
	if (o == NULL)
		return sc;
	sc->opts = *o;
	sc->opts.filters = NULL;
	sc->opts.name = (struct bk_str){ NULL, 0 };
	if (o->name.len)
		sc->name = bk_strndup(o->name.p, o->name.len);
	sc->sac = o->single_active && sc->name != NULL;
	copy_filters(sc, o);
	return sc;
}

/*
 * c leaves its single-active group: the group's next member (the earliest
 * registered, as the list keeps them) reads if c was reading. The group's
 * size lives with its stored offset, so that neither this nor the
 * dispatch's active() walks the consumers per member: thousands of named
 * consumers made every consume and publish quadratic (cubic to set up).
 */
static void
sac_leave(struct bk_consumer *c)
{
	struct bk_sconsumer *sc = c->sc;
	struct bk_queue *q = c->queue;
	struct bk_soffset *o;

	o = q != NULL ? bk_soffset_get(q->broker, q->jid, sc->name, false) : NULL;
	if (o == NULL || o->sac_members == 0)
		return;
	o->sac_members--;
	if (sc->waiting || o->sac_members == 0)
		return;
	for (struct bk_consumer *n = c->next; n != NULL; n = n->next)
		if (n->sc != NULL && n->sc->sac && n->sc->waiting &&
		    strcmp(n->sc->name, sc->name) == 0) {
			n->sc->waiting = false;
			return;
		}
}

void
bk_sconsumer_free(struct bk_consumer *c)
{
	struct bk_sconsumer *sc = c->sc;

	if (sc == NULL)
		return;
	if (sc->sac)
		sac_leave(c);
	st_sreader_free(sc->r);
	bk_msg_unref(sc->pending);
	bk_free(sc->name);
	bk_free(sc->filters);
	bk_free(sc->fbuf);
	bk_free(sc->hashes);
	bk_free(sc);
	c->sc = NULL;
}

/* The cursor, created at the consumer's start when it first reads. */
static struct st_sreader *
reader(struct bk_queue *q, struct bk_consumer *c)
{
	struct bk_sconsumer *sc = c->sc;
	struct st_stream *log = q->stream->log;
	struct bk_soffset *o;
	enum st_seek how = ST_SEEK_NEXT;
	uint64_t v = 0;

	if (sc->r != NULL)
		return sc->r;
	/* a group member taking over continues the group; its own start
	 * applies only to a group that has stored nothing yet */
	o = sc->name ? bk_soffset_get(q->broker, q->jid, sc->name, false) : NULL;
	if (sc->sac && o != NULL && o->stored) {
		sc->r = st_sreader_new(log, ST_SEEK_OFFSET, o->next);
		goto filters;
	}
	switch (sc->opts.from) {
	case BK_SFROM_FIRST:  how = ST_SEEK_FIRST; break;
	case BK_SFROM_LAST:   how = ST_SEEK_LAST; break;
	case BK_SFROM_OFFSET: how = ST_SEEK_OFFSET; v = sc->opts.value; break;
	case BK_SFROM_TIME:   how = ST_SEEK_TIME; v = sc->opts.value; break;
	case BK_SFROM_DEFAULT:
		if (o != NULL && o->stored) {
			how = ST_SEEK_OFFSET;
			v = o->next;
		}
		break;
	default: break;
	}
	sc->r = st_sreader_new(log, how, v);
filters:
	if (sc->nfilters)
		st_sreader_filter(sc->r, sc->hashes, sc->nfilters, sc->opts.match_unfiltered);
	return sc->r;
}

enum bk_status
bk_stream_consume(const struct bk_consume_decl *d, struct bk_consumer **out,
		  struct bk_err *err)
{
	struct bk_queue *q = d->queue;
	struct bk_consumer *c;
	enum bk_status st;

	*out = NULL;
	if ((st = refuse(d, err)) != BK_OK)
		return st;
	c = bk_calloc(1, sizeof(*c));
	c->queue = q;
	c->ops = d->ops;
	c->ctx = d->ctx;
	c->refs = 1;
	c->prefetch = d->prefetch;
	c->priority = d->priority;
	c->tag = d->tag ? bk_strdup(d->tag) : NULL;
	c->channel_id = d->channel_id;
	c->sc = sconsumer_new(d->stream);
	if (c->sc->name != NULL) {
		struct bk_soffset *o = bk_soffset_get(q->broker, q->jid, c->sc->name, true);

		if (c->sc->sac && o != NULL)
			c->sc->waiting = o->sac_members++ > 0;
	}
	/* at the tail: a single-active group's first member stays first */
	c->prev = q->cons_tail;
	if (q->cons_tail)
		q->cons_tail->next = c;
	else
		q->cons_head = c;
	q->cons_tail = c;
	q->ncons++;
	if (d->credit != NULL)
		bk_credit_link(d->credit, c);
	q->had_consumer = true;
	/* the start is fixed now, not when credit first allows a read */
	if (!c->sc->sac)
		reader(q, c);
	*out = c;
	bk_queue_dispatch(q);
	return BK_OK;
}

static bool
can_take(const struct bk_consumer *c)
{
	const struct bk_credit *cr = c->credit;

	if (c->parked || c->cancelled)
		return false;
	if (c->prefetch != 0 && c->unacked >= c->prefetch)
		return false;
	return cr == NULL || cr->limit == 0 || cr->used < cr->limit;
}

/* A group member reads only while no earlier member of its name exists. */
static bool
active(const struct bk_queue *q, const struct bk_consumer *c)
{
	(void)q;
	return !c->sc->sac || !c->sc->waiting;
}

static bool
filter_match(const struct bk_sconsumer *sc, const struct bk_msg *m)
{
	struct bk_value v;

	if (sc->nfilters == 0)
		return true;
	if (!(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, "x-stream-filter-value", &v) ||
	    (v.type != BK_V_LSTR && v.type != BK_V_BYTES))
		return sc->opts.match_unfiltered;
	for (uint32_t i = 0; i < sc->nfilters; i++)
		if (bk_str_eq(sc->filters[i], v.u.s))
			return true;
	return false;
}

/* The next message for c (a ref), or NULL when it has read everything
 * committed so far. */
static struct bk_msg *
next_msg(struct bk_queue *q, struct bk_consumer *c, uint64_t *offset)
{
	struct bk_sconsumer *sc = c->sc;
	struct st_stream_view v;
	struct bk_msg *m;

	if (sc->pending != NULL) {
		m = sc->pending;
		sc->pending = NULL;
		*offset = sc->pending_off;
		return m;
	}
	for (;;) {
		int rc = st_sreader_next(reader(q, c), &v);

		if (rc <= 0) {
			if (rc < 0)
				bk_warn("stream '%s' in vhost '%s': read failed at offset %llu: %s",
					q->name, q->vhost->name,
					(unsigned long long)st_sreader_offset(sc->r), strerror(-rc));
			return NULL;
		}
		m = bk_stream_msg_decode(v.payload, v.len, v.offset);
		st_sreader_done(sc->r);
		if (m == NULL)
			continue;
		if (!filter_match(sc, m)) {
			bk_msg_unref(m);
			continue;
		}
		*offset = v.offset;
		return m;
	}
}

static struct bk_delivery *
delivery_new(struct bk_queue *q, struct bk_consumer *c, struct bk_msg *m, uint64_t off)
{
	struct bk_delivery *d = bk_delivery_alloc();

	d->msg = m;                             /* the ref moves */
	d->ts_ms = m->published_ms;
	d->queue = q;
	bk_queue_ref(q);
	d->consumer = c;
	d->seq = off;
	q->unacked++;
	q->ms.n[BK_MS_DELIVER]++;
	q->vhost->ms.n[BK_MS_DELIVER]++;
	c->refs++;
	c->unacked++;
	if (c->credit)
		c->credit->used++;
	return d;
}

static void
undo(struct bk_queue *q, struct bk_consumer *c, struct bk_delivery *d)
{
	q->unacked--;
	q->ms.n[BK_MS_DELIVER]--;
	q->vhost->ms.n[BK_MS_DELIVER]--;
	c->unacked--;
	if (c->credit && c->credit->used > 0)
		c->credit->used--;
	c->sc->pending = d->msg;
	c->sc->pending_off = d->seq;
	d->msg = NULL;
	bk_delivery_release(d);
	bk_consumer_unref(c);
	bk_queue_unref(q);
}

/* Serve c while it has credit; false if the queue went away meanwhile. */
static bool
serve(struct bk_queue *q, struct bk_consumer *c)
{
	while (!q->deleted && !c->cancelled && can_take(c)) {
		struct bk_delivery *d;
		struct bk_msg *m;
		uint64_t off;
		int rc;

		if ((m = next_msg(q, c, &off)) == NULL)
			break;
		d = delivery_new(q, c, m, off);
		rc = c->ops->deliver(c->ctx, d);
		if (rc == -EAGAIN) {
			undo(q, c, d);
			c->parked = true;
			break;
		}
		if (c->sc != NULL)
			c->sc->delivered = (int64_t)off;
	}
	return !q->deleted;
}

void
bk_stream_dispatch(struct bk_queue *q)
{
	if (q->dispatching) {
		q->dispatch_again = true;
		return;
	}
	bk_queue_ref(q);
	q->dispatching = true;
	do {
		struct bk_consumer *c, *next;

		q->dispatch_again = false;
		for (c = q->cons_head; c != NULL && !q->deleted; c = next) {
			c->refs++;
			if (c->sc != NULL && active(q, c) && !serve(q, c)) {
				bk_consumer_unref(c);
				break;
			}
			next = c->next;
			bk_consumer_unref(c);
		}
	} while (q->dispatch_again && !q->deleted);
	q->dispatching = false;
	bk_queue_unref(q);
}

void
bk_stream_settled(struct bk_queue *q, struct bk_delivery *d)
{
	struct bk_consumer *c = d->consumer;
	struct bk_soffset *o;

	if (q->deleted || c == NULL || c->sc == NULL || c->sc->name == NULL)
		return;
	if ((o = bk_soffset_get(q->broker, q->jid, c->sc->name, true)) != NULL)
		bk_soffset_ack(q->broker, o, d->seq, d->ts_ms);
}
