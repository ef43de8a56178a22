/*
 * bk_recover.c: putting the journal's surviving messages back into their
 * durable queues at start.
 *
 * The definitions are loaded first (bk_defs.c, then the durable declares
 * recorded in the journal, bk_defs_delta.c), so every durable queue
 * exists and has its jid. st_journal_replay hands over the messages in
 * ascending id order, i.e. publish order, each with the queues still
 * holding it and its delivery count there; appending each at its queues'
 * tails rebuilds every queue in its original order. Every recovered
 * message is marked redelivered: the journal does not record deliveries,
 * and AMQP allows the flag on a message that may have been delivered.
 *
 * Retained messages come back first, from the journal's key/value
 * records (bk_retained_persist.c); records of vhosts that are gone are
 * deleted after the replay.
 *
 * Nothing is dispatched or expired during the replay (no consumer exists
 * yet, and the journal refuses appends while replaying). Afterwards:
 *   - ids that name no durable queue any more get a QUEUE-DROP (the queue
 *     was deleted but the definitions file was written before the drop);
 *   - each queue runs its expiry pass: a message whose TTL (counted from
 *     its original publish time) ran out while the broker was down is
 *     dead-lettered or dropped now, which writes ACKs as usual.
 */
#include "bk_persist.h"
#include "bk_retained.h"
#include "bk_stream.h"
#include "bk_dedup.h"
#include "storage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct jq {
	uint64_t jid;                   /* uthash key */
	struct bk_queue *q;             /* borrowed */
	uint64_t n;                     /* messages recovered into it */
	UT_hash_handle hh;
};

struct orphan {
	uint64_t jid;                   /* uthash key */
	UT_hash_handle hh;
};

struct replay {
	struct bk_broker *b;
	bool kv_done;                   /* key/value records over: queues indexed */
	struct jq *queues;              /* owned entries */
	struct orphan *orphans;         /* owned entries */
	uint64_t msgs, bad;
};

static void
orphan_add(struct replay *r, uint64_t jid)
{
	struct orphan *o = NULL;

	HASH_FIND(hh, r->orphans, &jid, sizeof(jid), o);
	if (o != NULL)
		return;
	o = bk_calloc(1, sizeof(*o));
	o->jid = jid;
	HASH_ADD(hh, r->orphans, jid, sizeof(o->jid), o);
}

/* The message, or past the memory budget a stub (bodies stay on disk). */
static struct bk_msg *
rebuild(struct bk_broker *b, const struct st_msg *sm)
{
	bool stub = bk_persist_over_budget(b) && sm->body_len > 0;
	struct bk_props props;
	struct bk_msg *m;

	if (bk_props_decode(sm->props, sm->props_len, &props) < 0)
		return NULL;
	m = bk_msg_new_x((struct bk_str){ sm->exchange, sm->exchange_len },
			 (struct bk_str){ sm->routing_key, sm->routing_key_len },
			 &props, stub ? 0 : sm->body_len,
			 sm->expires_ms != 0 ? BK_ML_EXPIRES : 0);
	if (!stub && sm->body_len > 0)
		memcpy(bk_msg_body(m), sm->body, sm->body_len);
	m->id = sm->id;
	m->published_ms = sm->published_ms;
	bk_msg_set_expires(m, sm->expires_ms);
	m->flags |= BK_MSG_PERSISTENT | BK_MSG_JOURNALED;
	if (stub) {
		m->flags |= BK_MSG_PAGED;
		m->body_len = sm->body_len;
	} else {
		bk_persist_resident += m->body_len;
	}
	return m;
}

/* Key/value records: stored stream offsets, the retained store's. */
static int
on_kv(void *arg, uint16_t ns, const void *key, uint32_t klen, const void *val,
      uint32_t vlen)
{
	struct replay *r = arg;

	if (ns == BK_NS_STREAM_OFFSET)
		return bk_soffset_load(r->b, key, klen, val, vlen);
	if (ns == BK_NS_DEDUP)
		return bk_dedup_load(r->b, key, klen, val, vlen);
	if (ns == BK_NS_DEFS)
		return bk_defs_delta_replay(r->b, key, klen, val, vlen);
	return bk_retained_replay(r->b, ns, key, klen, val, vlen);
}

static void index_queues(struct replay *r);

/*
 * The key/value records come before the messages: the durable declares
 * recorded there (bk_defs_delta.c) create their queues now, and then every
 * durable queue is indexed by its journal id.
 */
static void
kv_over(struct replay *r)
{
	if (r->kv_done)
		return;
	r->kv_done = true;
	bk_defs_delta_apply(r->b);
	index_queues(r);
}

static int
on_msg(void *arg, const struct st_msg *sm)
{
	struct replay *r = arg;
	struct bk_msg *m;
	uint16_t i;

	kv_over(r);
	m = rebuild(r->b, sm);
	if (m == NULL) {
		if (r->bad++ == 0)
			bk_warn("journal: message %llu has unreadable properties; skipped",
				(unsigned long long)sm->id);
		return 0;
	}
	for (i = 0; i < sm->nqueues; i++) {
		uint64_t jid = sm->queues[i].queue_id;
		struct jq *e = NULL;
		struct bk_entry ent;

		HASH_FIND(hh, r->queues, &jid, sizeof(jid), e);
		if (e == NULL) {
			if (!bk_delayed_recover(r->b, jid, m))
				orphan_add(r, jid);
			continue;
		}
		ent = bk_entry_make(bk_msg_ref(m), bk_msgq_expiry(e->q, m),
				    e->q->next_seq++, sm->queues[i].delivery_count,
				    BK_E_REDELIVERED);
		bk_msgq_add(e->q, &ent, BK_MSGQ_TAIL);
		e->n++;
	}
	bk_msg_unref(m);
	r->msgs++;
	return 0;
}

static void
index_queues(struct replay *r)
{
	struct bk_vhost *vh, *vtmp;
	struct bk_queue *q, *qtmp;

	HASH_ITER(hh, r->b->vhosts, vh, vtmp) {
		HASH_ITER(hh, vh->queues, q, qtmp) {
			struct jq *e = NULL;

			if (q->jid == 0)
				continue;
			HASH_FIND(hh, r->queues, &q->jid, sizeof(q->jid), e);
			if (e != NULL) {
				/* two names, one hash: keep the first, journal
				 * nothing for the second */
				bk_error("queue '%s' and '%s' share a journal id; "
					 "'%s' will not be persistent", e->q->name,
					 q->name, q->name);
				q->jid = 0;
				continue;
			}
			e = bk_calloc(1, sizeof(*e));
			e->jid = q->jid;
			e->q = q;
			HASH_ADD(hh, r->queues, jid, sizeof(e->jid), e);
		}
	}
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
bk_recover_messages(struct bk_broker *b, char *err, size_t errlen)
{
	static const struct st_replay_ops ops = { on_kv, on_msg };
	struct bk_persist *p = b->persist;
	struct replay r = { .b = b };
	struct jq *e, *etmp;
	struct orphan *o, *otmp;
	double t0 = mono_s();
	int rc;

	rc = st_journal_replay(p->j, &ops, &r);
	kv_over(&r);
	if (p->ndkeys > 0)
		bk_defs_changed(b);     /* a full write absorbs the records */
	bk_msg_id_floor(st_journal_max_msg_id(p->j));
	bk_retained_replay_done(b);
	if (rc < 0)
		snprintf(err, errlen, "journal replay failed: %s", strerror(-rc));
	HASH_ITER(hh, r.orphans, o, otmp) {
		if (rc == 0)
			st_journal_append_queue_drop(p->j, o->jid);
		HASH_DEL(r.orphans, o);
		bk_free(o);
	}
	HASH_ITER(hh, r.queues, e, etmp) {
		if (rc == 0 && e->n > 0)
			bk_expiry_run(e->q);
		HASH_DEL(r.queues, e);
		bk_free(e);
	}
	if (rc == 0)
		bk_info("journal: recovered %llu messages in %.3f s%s",
			(unsigned long long)r.msgs, mono_s() - t0,
			r.bad ? " (some skipped, see above)" : "");
	return rc;
}
