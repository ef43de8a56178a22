/*
 * Space: deleting dead segments and compacting mostly dead ones.
 *
 * Deletion. A segment is unlinked when it is not the active one, no batch
 * writing to it is in flight, nothing in it is live, and every segment it
 * depends on is gone (jnl_segment.c explains the dependencies). The
 * unlink rides in the next batch, after that batch's fdatasync, and the
 * directory is fsynced; only the completion forgets the segment, which is
 * what lets its dependants go in a later batch.
 *
 * Compaction. The oldest non-active segment whose live bytes are below
 * compact_live_pct of its size (and at least two segments behind the
 * active one) has its live records copied to the head:
 * a MSG is re-encoded with only the queues still holding it and their
 * latest delivery counts (a new record of the same id, which recovery
 * takes as superseding the older one); a KV record is copied as is. The
 * index keeps pointing at the old record until the copy's batch is
 * durable (e->pend), so a failed write loses nothing; then the entry moves
 * and the new segment records a dependency on the old one. Once nothing
 * in the old segment is live, the deletion rule above removes it. At most
 * COMPACT_STEP bytes are copied per batch so a compaction never stalls the
 * loop; the reads are preads on the main thread of an old segment.
 *
 * A steady publish/ack load therefore keeps the journal bounded: acked
 * segments die whole, and stragglers are moved forward.
 */
#include <errno.h>
#include <string.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "jnl_int.h"

#define COMPACT_STEP (4u << 20)

static void
schedule_deletions(struct st_journal *j)
{
	for (size_t i = 0; i < j->nsegs; i++) {
		struct jnl_seg *s = j->segs[i];

		if (s == NULL || s == j->active || s->deleting || s->inflight ||
		    s->head != NULL || !jnl_seg_deps_gone(j, s))
			continue;
		jnl_batch_add_delete(j, s);
	}
}

static struct jnl_seg *
pick(struct st_journal *j)
{
	uint64_t pct = j->cfg.compact_live_pct;

	for (size_t i = 0; i < j->nsegs; i++) {
		struct jnl_seg *s = j->segs[i];

		if (s == NULL || s == j->active || s->failed || s->deleting ||
		    s->inflight || s->head == NULL || s->head->pend)
			continue;
		/* The newest closed segments hold what consumers are still
		 * working on; moving it would mostly copy soon-dead records. */
		if (j->active && s->no + 2 >= j->active->no)
			continue;
		if (s->live_bytes * 100 < pct * s->size)
			return s;
	}
	return NULL;
}

/* Move e to the tail of its segment's list (accounting unchanged). */
static void
to_tail(struct st_journal *j, struct jnl_live *e)
{
	uint64_t seg = e->seg;
	uint32_t off = e->off, len = e->len;

	jnl_live_unlink(j, e);
	jnl_live_link(j, e, seg, off, len);
}

static int
copy_one(struct st_journal *j, struct jnl_live *e)
{
	struct st_msg_queue qs[64], *q = qs;
	struct jnl_msg_view v;
	struct jnl_rec r;
	struct jnl_kv_view kv;
	uint64_t seg;
	uint32_t off, key;
	size_t n;
	uint8_t *p;
	int rc;

	if ((rc = jnl_read_record(j, e->seg, e->off, e->len, &r)) < 0)
		return rc;
	if (e->kind == JNL_LIVE_KV) {
		/* re-encoded, not copied: the new segment has its own key */
		if (jnl_decode_kv(&r, &kv) < 0)
			return -EIO;
		p = jnl_reserve(j, e->len, &seg, &off, &key);
		jnl_encode_kv(p, kv.ns, kv.key, kv.key_len, kv.val, kv.val_len,
			      r.type == JNL_T_KVDEL, key);
		n = e->len;
	} else {
		struct jnl_msg *m = (struct jnl_msg *)e;
		uint16_t k = 0;

		if (jnl_decode_msg(&r, &v) < 0 || v.m.id != e->key)
			return -EIO;
		if (m->nlive > 64)
			q = bk_malloc(m->nlive * sizeof(*q));
		for (uint16_t i = 0; i < m->nq; i++)
			if (m->q[i].live)
				q[k++] = (struct st_msg_queue){ m->q[i].queue_id, m->q[i].count };
		v.m.queues = q;
		v.m.nqueues = k;
		n = jnl_msg_size(&v.m);
		/* The record is in j->scratch, which jnl_reserve leaves alone. */
		p = jnl_reserve(j, n, &seg, &off, &key);
		jnl_encode_msg(p, &v.m, key);
		if (q != qs)
			bk_free(q);
	}
	e->pend = true;
	e->pseg = seg;
	e->poff = off;
	e->plen = (uint32_t)n;
	to_tail(j, e);
	jnl_batch_add_copy(j, e);
	j->st.compacted_records++;
	return (int)(n > COMPACT_STEP ? COMPACT_STEP : n);
}

static void
compact_step(struct st_journal *j)
{
	struct jnl_seg *s = j->compact_seg ? jnl_seg_get(j, j->compact_seg) : NULL;
	int64_t budget = COMPACT_STEP;

	if (s == NULL || s->deleting) {
		if ((s = pick(j)) == NULL) {
			j->compact_seg = 0;
			return;
		}
		j->compact_seg = s->no;
		bk_info("journal: compacting segment %llu (%llu of %llu bytes live)",
			(unsigned long long)s->no, (unsigned long long)s->live_bytes,
			(unsigned long long)s->size);
	}
	while (s->head && !s->head->pend && budget > 0 && !j->failed) {
		int rc = copy_one(j, s->head);

		if (rc < 0) {
			bk_warn("journal: compaction of segment %llu stopped: record at offset %u unreadable: %s",
				(unsigned long long)s->no, s->head->off, strerror(-rc));
			s->failed = true;      /* not picked again */
			j->compact_seg = 0;
			return;
		}
		budget -= rc;
	}
	if (s->head == NULL)
		j->compact_seg = 0;
}

void
jnl_gc(struct st_journal *j)
{
	bool dirty = j->gc_dirty;

	j->gc_dirty = false;
	if (dirty)
		schedule_deletions(j);
	if (j->cfg.compact_live_pct && (dirty || j->compact_seg))
		compact_step(j);
}

void
jnl_copy_done(struct st_journal *j, struct jnl_live *e, int status)
{
	uint64_t old = e->seg;
	struct jnl_seg *ns;

	e->pend = false;
	if (e->dead) {
		jnl_live_free(j, e);
		return;
	}
	if (status != 0 || (ns = jnl_seg_get(j, e->pseg)) == NULL)
		return;              /* the old record stays the live one */
	jnl_live_unlink(j, e);
	jnl_live_link(j, e, e->pseg, e->poff, e->plen);
	jnl_seg_dep_add(ns, old);
}
