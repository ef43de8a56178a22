/*
 * bk_queue.c: queue lifecycle (declare, delete, purge, lookup, exclusive
 * owners) and the enqueue entry point used by routing.
 *
 * A queue lives in vh->queues (uthash by name) and, when exclusive, in the
 * broker-wide exclusive list that bk_owner_gone() walks. Deletion is
 * bk_queue_destroy(): it unhashes the queue at once (so a redeclare of the
 * same name gets a fresh queue) but the struct stays until the last
 * unsettled delivery lets go of it (see bk_queueing.h).
 *
 * Exclusive queues and bk_owner_gone(): the owner's connection is being
 * torn down, so consumers still registered on its exclusive queues are
 * dropped WITHOUT ops->cancelled (calling into a connection that is half
 * freed is the worse risk). Adapters should cancel their own consumers
 * before calling bk_owner_gone(); consumers of other connections cannot
 * exist on an exclusive queue.
 *
 * Re-enters routing through bk_bindings_remove_queue() on deletion.
 */
#include "bk_persist.h"
#include "bk_stream.h"
#include "bk_dedup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint64_t
rng_next(struct bk_qstate *qs)
{
	uint64_t s1 = qs->rng[0];
	const uint64_t s0 = qs->rng[1];

	qs->rng[0] = s0;
	s1 ^= s1 << 23;
	qs->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return qs->rng[1] + s0;
}

void
bk_queue_random_token(struct bk_broker *b, char *out, size_t nchars)
{
	size_t i;

	for (i = 0; i < nchars; i++)
		out[i] = b64url[rng_next(bk_qs(b)) >> 58];
	out[nchars] = '\0';
}

void
bk_queueing_init(struct bk_broker *b)
{
	struct bk_qstate *qs = bk_calloc(1, sizeof(*qs));

	if (getrandom(qs->rng, sizeof(qs->rng), 0) != (ssize_t)sizeof(qs->rng)) {
		qs->rng[0] = (uint64_t)time(NULL) ^ (uintptr_t)qs;
		qs->rng[1] = 0x9e3779b97f4a7c15ULL;
	}
	if (qs->rng[0] == 0 && qs->rng[1] == 0)
		qs->rng[1] = 1;
	b->queue_state = qs;
}

void
bk_queueing_fini(struct bk_broker *b)
{
	bk_deliveries_fini();           /* settling may still look at queue state */
	bk_soffsets_fini(b);
	bk_requeue_fini(b);
	BK_FREE(b->queue_state);
}

void
bk_queue_ref(struct bk_queue *q)
{
	q->refs++;
}

void
bk_queue_unref(struct bk_queue *q)
{
	if (q == NULL || --q->refs > 0)
		return;
	BK_ASSERT(q->deleted);
	bk_hist_free(q->hist);
	bk_free(q->levels);
	bk_free(q->args_blob);
	bk_qargs_fini(&q->args);
	bk_free(q->name);
	bk_free(q);
}

static void
excl_unlink(struct bk_queue *q)
{
	struct bk_qstate *qs = bk_qs(q->broker);

	if (!q->exclusive)
		return;
	if (q->excl_prev)
		q->excl_prev->excl_next = q->excl_next;
	else if (qs->exclusive == q)
		qs->exclusive = q->excl_next;
	if (q->excl_next)
		q->excl_next->excl_prev = q->excl_prev;
	q->excl_prev = q->excl_next = NULL;
}

uint32_t
bk_queue_destroy(struct bk_queue *q, bool notify)
{
	uint32_t n, l;

	if (q->deleted)
		return 0;
	bk_queue_ref(q);
	bk_bindings_remove_queue(q->vhost, q);
	bk_persist_queue_drop(q);       /* no-op while the broker shuts down */
	if (q->jid != 0)
		bk_defs_changed(q->broker);
	q->deleted = true;
	q->broker->churn.queue_deleted++;
	for (int i = 0; i < BK_MS__COUNT; i++)
		q->broker->queues_gone.n[i] += q->ms.n[i];
	HASH_DEL(q->vhost->queues, q);
	excl_unlink(q);
	bk_qs(q->broker)->nqueues--;
	bk_expiry_queue_fini(q);
	while (q->cons_head != NULL) {
		struct bk_consumer *c = q->cons_head;

		bk_consumer_detach(c);
		if (notify && c->ops->cancelled)
			c->ops->cancelled(c->ctx, BK_CANCEL_QUEUE_DELETED);
		bk_consumer_unref(c);
	}
	n = bk_msgq_clear(q);
	for (l = 0; l < q->nlevels; l++)
		bk_ring_fini(&q->levels[l]);
	bk_stream_detach(q);            /* after its consumers' cursors went */
	bk_dedup_queue_clear(q);
	bk_queue_unref(q);              /* the vhost's reference */
	bk_queue_unref(q);
	return n;
}

void
bk_queues_free_all(struct bk_vhost *vh)
{
	struct bk_queue *q, *tmp;
	struct bk_consumer *reg = vh->replies, *c, *ctmp;

	HASH_ITER(hh, vh->queues, q, tmp)
		bk_queue_destroy(q, false);
	/* reply-to consumers belong to their adapters; just forget them */
	HASH_ITER(hh, reg, c, ctmp) {
		HASH_DEL(reg, c);
		c->vhost = NULL;
	}
	vh->replies = NULL;
}

void
bk_owner_gone(struct bk_broker *b, bk_owner owner)
{
	struct bk_queue *q = bk_qs(b)->exclusive, *next;

	while (q != NULL) {
		next = q->excl_next;
		if (q->owner == owner) {
			bk_queue_destroy(q, false);
			next = bk_qs(b)->exclusive;     /* the list may have changed */
		}
		q = next;
	}
}

static struct bk_queue *
find(struct bk_vhost *vh, struct bk_str name)
{
	struct bk_queue *q = NULL;

	HASH_FIND(hh, vh->queues, name.p ? name.p : "", name.len, q);
	return q;
}

struct bk_queue *
bk_queue_get(struct bk_vhost *vh, struct bk_str name)
{
	return find(vh, name);
}

struct bk_queue *
bk_queue_get_memo(struct bk_vhost *vh, struct bk_str name, struct bk_queue **memo)
{
	struct bk_queue *q = *memo;

	if (q != NULL && !q->deleted && q->vhost == vh && name.len > 0 &&
	    q->hh.keylen == name.len && memcmp(q->name, name.p, name.len) == 0)
		return q;
	if ((q = find(vh, name)) == NULL)
		return NULL;
	bk_queue_ref(q);
	bk_queue_unref(*memo);
	*memo = q;
	return q;
}

void
bk_queue_memo_drop(struct bk_queue **memo)
{
	bk_queue_unref(*memo);
	*memo = NULL;
}

static enum bk_status
locked(struct bk_queue *q, struct bk_err *err)
{
	return bk_err_set(err, BK_RESOURCE_LOCKED,
			  "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "
			  "It could be originally declared on another connection or the "
			  "exclusive property value does not match that of the original "
			  "declaration.", q->name, q->vhost->name);
}

enum bk_status
bk_queue_lookup(struct bk_vhost *vh, struct bk_str name, bk_owner owner,
		struct bk_queue **out, struct bk_err *err)
{
	struct bk_queue *q = find(vh, name);

	*out = NULL;
	if (q == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no queue '%.*s' in vhost '%s'",
				  (int)name.len, name.p ? name.p : "", vh->name);
	if (q->exclusive && q->owner != owner)
		return locked(q, err);
	*out = q;
	return BK_OK;
}

const char *
bk_queue_name(const struct bk_queue *q)
{
	return q->name;
}

uint32_t
bk_queue_message_count(const struct bk_queue *q)
{
	return q->ready;
}

uint32_t
bk_queue_consumer_count(const struct bk_queue *q)
{
	return q->ncons;
}

bool
bk_queue_persists(const struct bk_queue *q)
{
	return q->jid != 0;
}

bool
bk_queue_would_accept(struct bk_queue *q, struct bk_msg *m)
{
	struct bk_qstate *qs = bk_qs(q->broker);

	if (q->deleted || (qs->dl_msg == m && bk_dlx_is_cycle(m, q->name)))
		return false;
	if (q->stream != NULL)
		return true;
	if (q->args.dedup && bk_dedup_queue_has(q, m))
		return false;
	return q->args.overflow == BK_OVERFLOW_DROP_HEAD ||
	       !bk_msgq_would_overflow(q, m);
}

bool
bk_queue_mark(struct bk_queue *q, uint64_t route_id)
{
	if (q->mark_id == route_id)
		return false;
	q->mark_id = route_id;
	return true;
}

/*
 * Order matters: the adapter's cap (bk_queue_set_cap) and reject-publish
 * refuse before anything is stored; a
 * consumer gets the message before drop-head trims (a consumer that can
 * take it means the queue never grows), and a TTL-0 message expires only
 * after no consumer took it.
 */
bool
bk_queue_behind(const struct bk_queue *q)
{
	return q->cap_length > 0 && q->ncons > 0 &&
	       2 * ((uint64_t)q->ready + 1) >= (uint64_t)q->cap_length &&
	       q->acked_ms + BK_QUEUE_BEHIND_MS > bk_now_ms();
}

int
bk_queue_enqueue(struct bk_queue *q, struct bk_msg *m)
{
	struct bk_qstate *qs = bk_qs(q->broker);
	struct bk_entry e;

	/* The journal may have listed q for m (bk_persist_publish): every
	 * way out without storing settles it there. */
	if (q->deleted)
		return 0;
	if (q->stream != NULL)
		return bk_stream_enqueue(q, m);
	if (qs->dl_msg == m && bk_dlx_is_cycle(m, q->name)) {
		bk_persist_ack(q, m);
		return 0;                       /* dead-letter cycle: dropped */
	}
	if (q->args.dedup && bk_dedup_queue_has(q, m)) {
		bk_persist_ack(q, m);
		return 0;                       /* a duplicate: confirmed, not stored */
	}
	if ((q->cap_length >= 0 && q->ready + 1 > (uint64_t)q->cap_length) ||
	    (q->cap_bytes >= 0 && q->ready_bytes + m->body_len > (uint64_t)q->cap_bytes)) {
		bk_persist_ack(q, m);
		qs->cap_dropped++;
		return 0;                       /* the adapter's cap: the arriving one goes */
	}
	if (q->args.overflow != BK_OVERFLOW_DROP_HEAD && bk_msgq_would_overflow(q, m)) {
		if (q->args.overflow == BK_OVERFLOW_REJECT_PUBLISH_DLX)
			bk_dlx_dead_letter(q, m, "maxlen");
		bk_persist_ack(q, m);
		return -ENOSPC;
	}
	e = bk_entry_make(bk_msg_ref(m), bk_msgq_expiry(q, m), q->next_seq++, 0, 0);
	bk_queue_ref(q);
	bk_msgq_add(q, &e, BK_MSGQ_TAIL);
	bk_dedup_queue_add(q, m);
	q->ms.n[BK_MS_PUBLISH]++;
	q->fresh_seq = e.seq;
	bk_queue_dispatch(q);
	q->fresh_seq = UINT64_MAX;
	if (!q->deleted && bk_persist_over_budget(q->broker))
		bk_persist_page_out(q, e.seq, bk_msgq_level(q, m));
	if (!q->deleted)
		bk_msgq_trim(q);
	if (!q->deleted && bk_entry_expires(&e) != 0 &&
	    bk_entry_expires(&e) <= (int64_t)bk_now_ms())
		bk_expiry_run(q);
	bk_queue_unref(q);
	return 0;
}
