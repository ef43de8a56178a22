/*
 * The liveness index: which records the journal still needs.
 *
 *   msgs: message id -> struct jnl_msg (its record's position and, per
 *         queue it entered, whether that queue still holds it and the
 *         latest delivery count);
 *   kvs:  (ns, key) -> struct jnl_kv (the position of the latest value).
 *
 * Every live entry sits on its segment's live list and counts in the
 * segment's live bytes; compaction and deletion read only that. The same
 * functions serve recovery (fed from the scan) and the append path, so a
 * reopened journal has exactly the index it had before the crash, minus
 * unsynced records. Each change caused by a record in segment `cur` also
 * records cur's dependency on the segment of the record it changes (see
 * jnl_segment.c). Main thread only; allocates through bk_malloc.
 */
#include <errno.h>
#include <string.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "jnl_int.h"

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void tab_insert(struct jnl_tab *t, struct jnl_live *e);

static void
tab_grow(struct jnl_tab *t)
{
	struct jnl_tab old = *t;

	t->cap = old.cap ? old.cap * 2 : 1024;
	t->slot = bk_calloc(t->cap, sizeof(*t->slot));
	t->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slot[i])
			tab_insert(t, old.slot[i]);
	bk_free(old.slot);
}

static void
tab_insert(struct jnl_tab *t, struct jnl_live *e)
{
	size_t i;

	if ((t->n + 1) * 10 > t->cap * 7)
		tab_grow(t);
	for (i = mix(e->key) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = e;
	t->n++;
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void
tab_remove(struct jnl_tab *t, struct jnl_live *e)
{
	size_t m = t->cap - 1, i, k;

	for (i = mix(e->key) & m; t->slot[i] != e; i = (i + 1) & m)
		BK_ASSERT(t->slot[i] != NULL);
	t->slot[i] = NULL;
	t->n--;
	for (k = (i + 1) & m; t->slot[k]; k = (k + 1) & m) {
		size_t home = mix(t->slot[k]->key) & m;

		/* Move slot k back to the hole unless its home lies in (i, k]. */
		if (((k - home) & m) >= ((k - i) & m)) {
			t->slot[i] = t->slot[k];
			t->slot[k] = NULL;
			i = k;
		}
	}
}

void
jnl_tab_fini(struct jnl_tab *t)
{
	BK_FREE(t->slot);
	t->cap = t->n = 0;
}

struct jnl_msg *
jnl_msg_find(const struct st_journal *j, uint64_t id)
{
	const struct jnl_tab *t = &j->msgs;

	if (t->cap == 0)
		return NULL;
	for (size_t i = mix(id) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		if (t->slot[i]->key == id)
			return (struct jnl_msg *)t->slot[i];
	return NULL;
}

uint64_t
jnl_kv_hash(uint16_t ns, const void *key, uint16_t klen)
{
	return (uint64_t)st_crc32c(ns, key, klen) << 32 | st_crc32c(~(uint32_t)ns, key, klen);
}

struct jnl_kv *
jnl_kv_find(const struct st_journal *j, uint16_t ns, const void *key, uint16_t klen)
{
	const struct jnl_tab *t = &j->kvs;
	uint64_t h;

	if (t->cap == 0)
		return NULL;
	h = jnl_kv_hash(ns, key, klen);
	for (size_t i = mix(h) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1)) {
		struct jnl_kv *kv = (struct jnl_kv *)t->slot[i];

		if (kv->l.key == h && kv->ns == ns && kv->key_len == klen &&
		    memcmp(kv->key, key, klen) == 0)
			return kv;
	}
	return NULL;
}

void
jnl_live_link(struct st_journal *j, struct jnl_live *e, uint64_t seg, uint32_t off, uint32_t len)
{
	struct jnl_seg *s = jnl_seg_get(j, seg);

	BK_ASSERT(s != NULL);
	e->seg = seg;
	e->off = off;
	e->len = len;
	e->next = NULL;
	e->prev = s->tail;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->live_bytes += len;
	s->nlive++;
	j->st.live_bytes += len;
}

void
jnl_live_unlink(struct st_journal *j, struct jnl_live *e)
{
	struct jnl_seg *s = jnl_seg_get(j, e->seg);

	BK_ASSERT(s != NULL);
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
	s->live_bytes -= e->len;
	s->nlive--;
	j->st.live_bytes -= e->len;
	if (s != j->active)
		j->gc_dirty = true;
}

void
jnl_live_free(struct st_journal *j, struct jnl_live *e)
{
	bk_free(e);
}

/* The record behind e is no longer needed. */
static void
kill(struct st_journal *j, struct jnl_tab *t, struct jnl_live *e)
{
	tab_remove(t, e);
	jnl_live_unlink(j, e);
	if (e->pend)
		e->dead = true;     /* the compaction copy's completion frees it */
	else
		jnl_live_free(j, e);
}

static void
depend(struct jnl_seg *cur, const struct jnl_live *e)
{
	jnl_seg_dep_add(cur, e->seg);
	if (e->pend)
		jnl_seg_dep_add(cur, e->pseg);
}

int
jnl_index_msg(struct st_journal *j, const struct jnl_msg_view *v,
	      uint64_t seg, uint32_t off, uint32_t len, bool replace)
{
	uint16_t nq = v->m.nqueues;
	struct jnl_msg *e, *old;

	if (nq == 0)
		return -EINVAL;
	e = bk_malloc(sizeof(*e) + (size_t)nq * sizeof(e->q[0]));
	memset(&e->l, 0, sizeof(e->l));
	e->l.key = v->m.id;
	e->l.kind = JNL_LIVE_MSG;
	e->nq = e->nlive = nq;
	for (uint16_t i = 0; i < nq; i++) {
		struct st_msg_queue q;

		if (v->qraw)
			jnl_msg_queue_at(v, i, &q);
		else
			q = v->m.queues[i];
		e->q[i].queue_id = q.queue_id;
		e->q[i].count = q.delivery_count;
		e->q[i].live = 1;
		for (uint16_t k = 0; k < i; k++)
			if (e->q[k].queue_id == q.queue_id) {
				bk_free(e);
				return -EINVAL;
			}
	}
	if ((old = jnl_msg_find(j, v->m.id)) != NULL) {
		if (!replace) {
			bk_free(e);
			return -EEXIST;
		}
		/* A copy made by compaction: it supersedes the older record. */
		depend(jnl_seg_get(j, seg), &old->l);
		kill(j, &j->msgs, &old->l);
		j->live_msgs--;
	}
	tab_insert(&j->msgs, &e->l);
	jnl_live_link(j, &e->l, seg, off, len);
	j->live_msgs++;
	if (v->m.id > j->max_msg_id)
		j->max_msg_id = v->m.id;
	return 0;
}

static struct jnl_qslot *
slot_of(struct jnl_msg *e, uint64_t qid)
{
	for (uint16_t i = 0; i < e->nq; i++)
		if (e->q[i].live && e->q[i].queue_id == qid)
			return &e->q[i];
	return NULL;
}

static void
settle(struct st_journal *j, struct jnl_seg *cur, struct jnl_msg *e, struct jnl_qslot *q)
{
	q->live = 0;
	depend(cur, &e->l);
	if (--e->nlive == 0) {
		kill(j, &j->msgs, &e->l);
		j->live_msgs--;
	}
}

int
jnl_index_ack(struct st_journal *j, struct jnl_seg *cur, uint64_t qid, uint64_t mid)
{
	struct jnl_msg *e = jnl_msg_find(j, mid);
	struct jnl_qslot *q;

	if (e == NULL || (q = slot_of(e, qid)) == NULL)
		return -ENOENT;
	if (cur)
		settle(j, cur, e, q);
	return 0;
}

int
jnl_index_count(struct st_journal *j, struct jnl_seg *cur, uint64_t qid, uint64_t mid, uint32_t n)
{
	struct jnl_msg *e = jnl_msg_find(j, mid);
	struct jnl_qslot *q;

	if (e == NULL || (q = slot_of(e, qid)) == NULL)
		return -ENOENT;
	if (cur) {
		q->count = n;
		depend(cur, &e->l);
	}
	return 0;
}

/* One pass over every live message: queue deletes are rare. */
void
jnl_index_qdrop(struct st_journal *j, struct jnl_seg *cur, uint64_t qid)
{
	struct jnl_msg **hit = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < j->msgs.cap; i++) {
		struct jnl_msg *e = (struct jnl_msg *)j->msgs.slot[i];

		if (e == NULL || slot_of(e, qid) == NULL)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			hit = bk_realloc(hit, cap * sizeof(*hit));
		}
		hit[n++] = e;
	}
	for (size_t i = 0; i < n; i++)
		settle(j, cur, hit[i], slot_of(hit[i], qid));
	bk_free(hit);
}

void
jnl_index_kv(struct st_journal *j, struct jnl_seg *cur, const struct jnl_kv_view *v,
	     bool del, uint32_t off, uint32_t len)
{
	struct jnl_kv *old = jnl_kv_find(j, v->ns, v->key, v->key_len), *e;

	if (old) {
		depend(cur, &old->l);
		kill(j, &j->kvs, &old->l);
		j->live_kvs--;
	}
	if (del)
		return;
	e = bk_malloc(sizeof(*e) + v->key_len);
	memset(&e->l, 0, sizeof(e->l));
	e->l.key = jnl_kv_hash(v->ns, v->key, v->key_len);
	e->l.kind = JNL_LIVE_KV;
	e->ns = v->ns;
	e->key_len = v->key_len;
	if (v->key_len)
		memcpy(e->key, v->key, v->key_len);
	tab_insert(&j->kvs, &e->l);
	jnl_live_link(j, &e->l, cur->no, off, len);
	j->live_kvs++;
}

void
jnl_index_fini(struct st_journal *j)
{
	struct jnl_tab *tabs[2] = { &j->msgs, &j->kvs };

	for (int t = 0; t < 2; t++) {
		for (size_t i = 0; i < tabs[t]->cap; i++) {
			struct jnl_live *e = tabs[t]->slot[i];

			if (e == NULL)
				continue;
			jnl_live_unlink(j, e);
			if (!e->pend)
				jnl_live_free(j, e);
			else
				e->dead = true;
		}
		jnl_tab_fini(tabs[t]);
	}
	j->live_msgs = j->live_kvs = 0;
}
