/*
 * bk_persist.c: the core's side of the journal: the MSG record of a
 * publish, settlement records, publisher trackers, startup and shutdown,
 * and the disk alarm.
 *
 * A publish (bk_persist_publish, called by routing before it enqueues)
 * writes one MSG record listing the durable queues that will take the
 * message, BEFORE any enqueue: enqueueing may deliver, expire, trim or
 * dead-letter synchronously, and each of those writes an ACK that must
 * follow the MSG in the log. Settlements come from the queueing files
 * through bk_persist_ack()/bk_persist_count() (bk_persist.h).
 *
 * Trackers (bk_confirm): one completion node per journaled publish with a
 * tracker, registered with st_journal_when_durable right after the MSG
 * append, so the journal's registration order is the publish order. Nodes
 * come from a free list; each holds a reference on its tracker, so a
 * tracker freed by its adapter stays valid (and silent) until its last
 * node completes.
 *
 * Teardown: bk_persist_stop() closes the journal first (outstanding
 * completions run, into silent trackers) and sets `stopping`, so freeing
 * the queues afterwards writes no QUEUE-DROP: shutting down keeps
 * everything.
 */
#include "bk_persist.h"
#include "bk_retained.h"
#include "bk_stream.h"
#include "storage.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

struct bk_confirm {
	struct bk_broker *broker;       /* borrowed */
	bk_confirm_fn fn;
	void *ctx;                      /* borrowed */
	uint32_t refs;                  /* 1 for the adapter + 1 per pending node */
	bool freed;                     /* the adapter let go: stay silent */
};

struct bk_pnode {
	struct bk_persist *p;           /* borrowed */
	struct bk_confirm *c;           /* ref */
	uint64_t token;
	struct bk_pnode *next;          /* free list */
};

/* ---- trackers --------------------------------------------------------- */

struct bk_confirm *
bk_confirm_new(struct bk_broker *b, bk_confirm_fn fn, void *ctx)
{
	struct bk_confirm *c = bk_calloc(1, sizeof(*c));

	c->broker = b;
	c->fn = fn;
	c->ctx = ctx;
	c->refs = 1;
	return c;
}

void
bk_confirm_ref(struct bk_confirm *c)
{
	c->refs++;
}

void
bk_confirm_unref(struct bk_confirm *c)
{
	if (--c->refs == 0)
		bk_free(c);
}

void
bk_confirm_report(struct bk_confirm *c, uint64_t token, int status)
{
	if (!c->freed && c->fn != NULL)
		c->fn(c->ctx, token, status);
}

void
bk_confirm_free(struct bk_confirm *c)
{
	if (c == NULL)
		return;
	c->freed = true;
	c->fn = NULL;
	bk_confirm_unref(c);
}

static void
node_done(void *arg, int status)
{
	struct bk_pnode *n = arg;
	struct bk_confirm *c = n->c;

	if (!c->freed && c->fn != NULL)
		c->fn(c->ctx, n->token, status);
	bk_confirm_unref(c);
	n->c = NULL;
	n->next = n->p->free_nodes;
	n->p->free_nodes = n;
}

int
bk_persist_track(struct bk_persist *p, struct bk_confirm *c, uint64_t token)
{
	struct bk_pnode *n = p->free_nodes;
	int rc;

	if (n != NULL)
		p->free_nodes = n->next;
	else
		n = bk_malloc(sizeof(*n));
	n->p = p;
	n->c = c;
	n->token = token;
	if ((rc = st_journal_when_durable(p->j, node_done, n)) < 0) {
		n->c = NULL;
		n->next = p->free_nodes;
		p->free_nodes = n;
		return rc;
	}
	c->refs++;
	return 0;
}

bool
bk_confirm_track(struct bk_confirm *c, uint64_t token)
{
	struct bk_persist *p = c->broker->persist;

	return p != NULL && p->j != NULL && !p->stopping && !c->freed &&
	       bk_persist_track(p, c, token) == 0;
}

/* ---- records ----------------------------------------------------------- */

uint64_t
bk_persist_queue_id(const char *vhost, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a */
	const unsigned char *s;

	for (s = (const unsigned char *)vhost; *s; s++)
		h = (h ^ *s) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;       /* separator no name byte can fake */
	for (s = (const unsigned char *)name; *s; s++)
		h = (h ^ *s) * 0x100000001b3ULL;
	return h ? h : 1;
}

static bool
writable(const struct bk_persist *p)
{
	return p != NULL && p->j != NULL && !p->stopping;
}

static void
write_failed(struct bk_persist *p, const char *what, int rc)
{
	/* the first and then every 1000th: a failed disk fails every append */
	if (p->write_errors++ % 1000 == 0)
		bk_warn("journal: cannot append %s: %s (%llu refused so far)", what,
			strerror(-rc), (unsigned long long)p->write_errors);
}

bool
bk_queue_journaled(const struct bk_queue *q, const struct bk_msg *m)
{
	if (q->stream != NULL)
		return writable(q->broker->persist);
	return q->jid != 0 && (m->flags & BK_MSG_PERSISTENT) &&
	       writable(q->broker->persist);
}

/* Only streams take the message: its confirm waits for their chunks,
 * which join the batch this completion is registered in. */
static int
track_streams(struct bk_persist *p, struct bk_confirm *c, uint64_t token,
	      struct bk_route_result *res)
{
	if (c != NULL && !c->freed && bk_persist_track(p, c, token) < 0)
		res->refused++;
	else
		res->pending = true;
	return 0;
}

/* One MSG record for m entering the nq queues qv, tracked with c's token. */
static int
append_msg(struct bk_persist *p, struct bk_msg *m, const struct st_msg_queue *qv,
	   uint32_t nq, struct bk_confirm *c, uint64_t token, struct bk_route_result *res)
{
	struct st_msg sm;
	size_t plen;
	int rc;

	if (nq > UINT16_MAX)
		return -E2BIG;
	plen = bk_props_encoded_size(bk_msg_props(m));
	if (plen > p->props_cap) {
		p->props_cap = plen < 256 ? 256 : plen;
		p->props_buf = bk_realloc(p->props_buf, p->props_cap);
	}
	bk_props_encode(bk_msg_props(m), p->props_buf);
	memset(&sm, 0, sizeof(sm));
	sm.id = m->id;
	sm.published_ms = m->published_ms;
	sm.expires_ms = bk_msg_expires(m);
	sm.flags = m->flags & BK_MSG_PERSISTENT;
	sm.exchange = bk_msg_exchange(m).p;
	sm.exchange_len = (uint16_t)(bk_msg_exchange(m).len > UINT16_MAX ? UINT16_MAX : bk_msg_exchange(m).len);
	sm.routing_key = bk_msg_rk(m).p;
	sm.routing_key_len = (uint16_t)(bk_msg_rk(m).len > UINT16_MAX ?
					UINT16_MAX : bk_msg_rk(m).len);
	sm.props = p->props_buf;
	sm.props_len = (uint32_t)plen;
	sm.body = bk_msg_body(m);
	sm.body_len = (uint32_t)m->body_len;
	sm.queues = qv;
	sm.nqueues = (uint16_t)nq;
	if ((rc = st_journal_append_msg(p->j, &sm)) < 0) {
		write_failed(p, "a message", rc);
		return rc;
	}
	m->flags |= BK_MSG_JOURNALED;
	bk_persist_resident += m->body_len;
	/* No completion (the journal failed right after taking the record):
	 * the publisher hears "not durable" now rather than never. */
	if (c != NULL && !c->freed && bk_persist_track(p, c, token) < 0)
		res->refused++;
	else
		res->pending = true;
	return 0;
}

int
bk_persist_publish(struct bk_broker *b, struct bk_msg *m, struct bk_queue *const *qs,
		   uint32_t n, struct bk_confirm *c, uint64_t token,
		   struct bk_route_result *res)
{
	struct bk_persist *p = b->persist;
	struct st_msg_queue *qv;
	uint32_t i, nq = 0, ns = 0;

	if (!writable(p))
		return 0;
	/* every message a stream takes is written: its confirm waits too */
	for (i = 0; i < n; i++)
		ns += qs[i]->stream != NULL && !qs[i]->deleted;
	if (!(m->flags & BK_MSG_PERSISTENT))
		return ns ? track_streams(p, c, token, res) : 0;
	if (p->qcap < n) {
		p->qcap = n < 16 ? 16 : n;
		p->qv = bk_realloc(p->qv, p->qcap * sizeof(struct st_msg_queue));
	}
	qv = p->qv;
	for (i = 0; i < n; i++)
		if (qs[i]->jid != 0 && qs[i]->stream == NULL && bk_queue_would_accept(qs[i], m))
			qv[nq++] = (struct st_msg_queue){ qs[i]->jid, 0 };
	if (nq == 0)
		return ns ? track_streams(p, c, token, res) : 0;
	return append_msg(p, m, qv, nq, c, token, res);
}

int
bk_persist_hold(struct bk_broker *b, struct bk_msg *m, uint64_t jid,
		struct bk_confirm *c, uint64_t token, struct bk_route_result *res)
{
	struct st_msg_queue q = { jid, 0 };

	if (!writable(b->persist))
		return 0;
	return append_msg(b->persist, m, &q, 1, c, token, res);
}

void
bk_persist_release(struct bk_broker *b, uint64_t jid, struct bk_msg *m)
{
	struct bk_persist *p = b->persist;
	int rc;

	if (!(m->flags & BK_MSG_JOURNALED) || !writable(p))
		return;
	rc = st_journal_append_ack(p->j, jid, m->id);
	if (rc < 0 && rc != -ENOENT)
		write_failed(p, "an ack", rc);
}

void
bk_persist_release_all(struct bk_broker *b, uint64_t jid)
{
	struct bk_persist *p = b->persist;
	int rc;

	if (!writable(p))
		return;
	if ((rc = st_journal_append_queue_drop(p->j, jid)) < 0)
		write_failed(p, "a queue drop", rc);
}

void
bk_persist_ack_slow(struct bk_queue *q, struct bk_msg *m)
{
	struct bk_persist *p = q->broker->persist;
	int rc;

	if (!writable(p))
		return;
	rc = st_journal_append_ack(p->j, q->jid, m->id);
	if (rc < 0 && rc != -ENOENT)
		write_failed(p, "an ack", rc);
}

void
bk_persist_count_slow(struct bk_queue *q, struct bk_msg *m, uint32_t count)
{
	struct bk_persist *p = q->broker->persist;
	int rc;

	if (!writable(p))
		return;
	rc = st_journal_append_count(p->j, q->jid, m->id, count);
	if (rc < 0 && rc != -ENOENT)
		write_failed(p, "a delivery count", rc);
}

void
bk_persist_queue_drop(struct bk_queue *q)
{
	struct bk_persist *p = q->broker->persist;
	int rc;

	if (q->jid == 0 || !writable(p))
		return;
	if ((rc = st_journal_append_queue_drop(p->j, q->jid)) < 0)
		write_failed(p, "a queue drop", rc);
}

void
bk_persist_ack_ready(struct bk_queue *q)
{
	uint32_t l, i;

	if (q->jid == 0 || !writable(q->broker->persist))
		return;
	for (l = 0; l < q->nlevels; l++)
		for (i = 0; i < q->levels[l].count; i++) {
			struct bk_entry *e = bk_ring_at(&q->levels[l], i);

			if (e->msg != NULL)
				bk_persist_ack(q, e->msg);
		}
}

/* ---- paging ------------------------------------------------------------- */

struct bk_msg *
bk_persist_stub(const struct bk_msg *m, size_t body_len)
{
	struct bk_msg *s = bk_msg_dup(m, 0);

	s->flags = m->flags | BK_MSG_JOURNALED | BK_MSG_PAGED;
	s->body_len = (uint32_t)body_len;
	return s;
}

/*
 * The newest entry goes out: it is the one consumers reach last, and the
 * choice costs O(1) per publish. Its message is freed once the publisher
 * (and any other queue holding it) lets go.
 */
void
bk_persist_page_out(struct bk_queue *q, uint64_t seq, uint32_t level)
{
	struct bk_persist *p = q->broker->persist;
	struct bk_entry *e;
	struct bk_msg *m;

	if (!writable(p) || level >= q->nlevels ||
	    (e = bk_ring_find(&q->levels[level], seq)) == NULL || (m = e->msg) == NULL ||
	    (m->flags & (BK_MSG_JOURNALED | BK_MSG_PAGED)) != BK_MSG_JOURNALED ||
	    m->body_len == 0)
		return;
	e->msg = bk_persist_stub(m, m->body_len);
	bk_msg_unref(m);
	p->paged_out++;
}

struct bk_msg *
bk_persist_page_in(struct bk_broker *b, struct bk_msg *s)
{
	struct bk_persist *p = b->persist;
	struct bk_msg *m;
	long n;

	if (p == NULL || p->j == NULL)
		return NULL;
	m = bk_msg_dup(s, s->body_len);
	m->flags = 0;           /* until the body is in: unref counts nothing */
	n = st_journal_read_body(p->j, s->id, bk_msg_body(m), s->body_len);
	if (n != (long)s->body_len) {
		if (p->write_errors++ % 1000 == 0)
			bk_warn("journal: cannot read back message %llu: %s",
				(unsigned long long)s->id,
				n < 0 ? strerror((int)-n) : "short body");
		bk_msg_unref(m);
		return NULL;
	}
	m->flags = (uint8_t)(s->flags & ~(uint32_t)BK_MSG_PAGED);
	bk_persist_resident += m->body_len;
	p->paged_in++;
	return m;
}

/* ---- disk alarm --------------------------------------------------------- */

static void
disk_check(evutil_socket_t fd, short what, void *arg)
{
	struct bk_persist *p = arg;
	uint64_t free_b = 0, total = 0;
	bool low;

	if (st_disk_space(p->data_dir, &free_b, &total) < 0)
		return;
	low = free_b < p->disk_free_limit;
	if (low != p->disk_low) {
		p->disk_low = low;
		bk_alarm_set(p->broker, BK_ALARM_DISK, low);
	}
}

static void
disk_start(struct bk_persist *p, uint64_t limit)
{
	struct timeval tv = { 1, 0 };

	p->disk_free_limit = limit;
	if (limit == 0 || p->broker->base == NULL)
		return;
	p->disk_ev = event_new(p->broker->base, -1, EV_PERSIST, disk_check, p);
	if (p->disk_ev == NULL)
		return;
	disk_check(-1, 0, p);           /* before the first publisher connects */
	event_add(p->disk_ev, &tv);
}

/* ---- lifecycle ---------------------------------------------------------- */

void
bk_defs_changed(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;

	if (p == NULL || p->loading || p->stopping)
		return;
	p->defs_gen++;
	if (p->defs_dirty)
		return;
	p->defs_dirty = true;
	if (p->defs_ev != NULL)
		event_active(p->defs_ev, 0, 0);
}

int
bk_broker_persist_start(struct bk_broker *b, struct st_journal *j,
			const struct bk_persist_config *cfg, char *err, size_t errlen)
{
	struct bk_persist *p = bk_calloc(1, sizeof(*p));
	int rc;

	p->j = j;
	p->broker = b;
	p->mem_budget = cfg->mem_budget;
	p->data_dir = bk_strdup(cfg->data_dir);
	b->persist = p;
	if (b->base != NULL)
		p->defs_ev = event_new(b->base, -1, 0, bk_defs_flush_cb, p);
	p->loading = true;
	rc = bk_defs_load(b, err, errlen);
	p->loading = false;
	if (rc < 0)
		return rc;
	if (j != NULL && (rc = bk_recover_messages(b, err, errlen)) < 0)
		return rc;
	disk_start(p, cfg->disk_free_limit);
	return 0;
}

void
bk_persist_stop(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;

	if (p == NULL)
		return;
	bk_defs_waiters_drop(p);
	bk_soffsets_flush(b);           /* stored stream offsets ride the last batch */
	p->stopping = true;
	/* Outstanding completions and queued file writes run now, before
	 * the last definitions are written here, so an older queued copy
	 * cannot land over them. */
	st_journal_close(p->j);
	p->j = NULL;
	if (p->defs_dirty || p->ndkeys > 0) {
		/* the file holds everything after a clean stop; the journal's
		 * declare records are older than it now (bk_defs_delta.c) */
		p->defs_dirty = false;
		bk_defs_save(b);
	}
}

void
bk_persist_free(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;

	if (p == NULL)
		return;
	while (p->free_nodes != NULL) {
		struct bk_pnode *n = p->free_nodes;

		p->free_nodes = n->next;
		bk_free(n);
	}
	if (p->defs_ev != NULL)
		event_free(p->defs_ev);
	if (p->disk_ev != NULL)
		event_free(p->disk_ev);
	bk_retained_persist_fini(b);
	bk_defs_delta_free(p);
	bk_free(p->props_buf);
	bk_free(p->qv);
	bk_free(p->data_dir);
	bk_free(p);
	b->persist = NULL;
}
