/*
 * bk_queue_policy.c: a queue's effective arguments, from its declared
 * x-arguments, its policy and its operator policy, applied at once.
 *
 * As RabbitMQ 3.13 resolves them (rabbit_amqqueue_process and
 * rabbit_quorum_queue):
 *
 *   key                      policy vs operator policy   argument vs policy
 *   message-ttl, expires,    the lower                   the lower
 *   max-length(-bytes),
 *   delivery-limit
 *   dead-letter-exchange,    (policy only)               the argument
 *   dead-letter-routing-key,
 *   overflow
 *
 * so an argument always wins for the names and modes, and the tightest
 * limit always wins for the numbers: an operator policy caps what users
 * and their policies ask for. The cap the queue's adapter sets
 * (bk_queue_set_cap: MQTT's max_queued_messages) is not merged here: it
 * drops arriving messages in bk_queue_enqueue and never trims. max-priority, single-active-consumer and the
 * queue type come from the arguments only, as in RabbitMQ.
 *
 * Streams follow rabbit_stream_queue instead: max-length-bytes, max-age
 * and stream-max-segment-size-bytes of the policy win over the arguments.
 * Retention acts at once; a segment size applies when the stream's log is
 * opened (declaration, start).
 *
 * Applying a change acts at once, as RabbitMQ's queue process does when
 * its policy changes: a lower max-length with drop-head trims the queue
 * now (dead-lettering what leaves), a new message-ttl applies to messages
 * queued from now on and whatever is due expires, a new expires restarts
 * the idle timer. Messages already queued keep their expiry.
 */
#include "bk_policy.h"
#include "bk_queueing.h"
#include "bk_stream.h"

#include <string.h>

/* The policy's value of numeric key k, capped by the operator policy's;
 * false when neither sets it. */
static bool
policy_num(const struct bk_pdef *p, const struct bk_pdef *o, int k, int64_t *out)
{
	bool hp = p != NULL && (p->has & (1u << k));
	bool ho = o != NULL && (o->has & (1u << k));

	if (!hp && !ho)
		return false;
	if (hp && ho)
		*out = p->num[k] < o->num[k] ? p->num[k] : o->num[k];
	else
		*out = hp ? p->num[k] : o->num[k];
	return true;
}

/* decl (none = not declared) against the policies: the lower. */
static int64_t
resolve(int64_t decl, int64_t none, const struct bk_pdef *p, const struct bk_pdef *o, int k)
{
	int64_t v;

	if (!policy_num(p, o, k, &v))
		return decl;
	return decl == none || v < decl ? v : decl;
}

/* A stream's retention and segment size: the policy's value wins over the
 * argument (rabbit_stream_queue's policy_precedence); an operator policy's
 * max-length-bytes caps whichever applies. */
static void
stream_effective(struct bk_qargs *eff, const struct bk_pdef *p, const struct bk_pdef *o)
{
	int64_t v;

	if (policy_num(p, NULL, BK_PN_MAX_LENGTH_BYTES, &v))
		eff->max_length_bytes = v;
	if (policy_num(NULL, o, BK_PN_MAX_LENGTH_BYTES, &v) &&
	    (eff->max_length_bytes < 0 || v < eff->max_length_bytes))
		eff->max_length_bytes = v;
	if (policy_num(p, NULL, BK_PN_MAX_AGE, &v))
		eff->max_age_ms = v;
	if (policy_num(p, NULL, BK_PN_SEGMENT_BYTES, &v))
		eff->max_segment_bytes = v;
}

/* Effective arguments: eff gets its own copies of every string. */
static void
effective(struct bk_qargs *eff, const struct bk_qargs *d, const struct bk_pdef *p,
	  const struct bk_pdef *o)
{
	*eff = *d;
	eff->message_ttl = resolve(d->message_ttl, -1, p, o, BK_PN_MESSAGE_TTL);
	eff->expires = resolve(d->expires, 0, p, o, BK_PN_EXPIRES);
	eff->max_length = resolve(d->max_length, -1, p, o, BK_PN_MAX_LENGTH);
	eff->max_length_bytes = resolve(d->max_length_bytes, -1, p, o,
					BK_PN_MAX_LENGTH_BYTES);
	eff->delivery_limit = resolve(d->delivery_limit, -1, p, o, BK_PN_DELIVERY_LIMIT);
	eff->dlx = d->dlx != NULL ? bk_strdup(d->dlx) : NULL;
	eff->dlrk = d->dlrk != NULL ? bk_strdup(d->dlrk) : NULL;
	eff->compaction_key = d->compaction_key != NULL ? bk_strdup(d->compaction_key) : NULL;
	if (d->type == BK_QTYPE_STREAM) {
		stream_effective(eff, p, o);
		return;
	}
	if (p == NULL)
		return;
	if (!d->has_overflow && (p->has & BK_PD_OVERFLOW))
		eff->overflow = p->overflow;
	if (!d->has_dlx && (p->has & BK_PD_DLX)) {
		eff->has_dlx = true;
		eff->dlx = bk_strdup(p->dlx);
	}
	if (d->dlrk == NULL && (p->has & BK_PD_DLRK))
		eff->dlrk = bk_strdup(p->dlrk);
}

/* What changed from old to q->args takes effect now. */
static void
take_effect(struct bk_queue *q, const struct bk_qargs *old)
{
	const struct bk_qargs *n = &q->args;

	if (n->type == BK_QTYPE_STREAM) {
		if (old->max_length_bytes != n->max_length_bytes ||
		    old->max_age_ms != n->max_age_ms)
			bk_stream_retain_now(q);
		return;
	}
	if (old->expires != n->expires) {
		bk_expiry_idle_stop(q);
		bk_expiry_idle_arm(q);
	}
	if (old->message_ttl != n->message_ttl && q->ready > 0)
		bk_expiry_ttl_changed(q);
	if (!q->deleted && n->overflow == BK_OVERFLOW_DROP_HEAD &&
	    (old->max_length != n->max_length || old->overflow != n->overflow ||
	     old->max_length_bytes != n->max_length_bytes))
		bk_msgq_trim(q);
}

void
bk_queue_set_cap(struct bk_queue *q, int64_t max_length, int64_t max_length_bytes)
{
	q->cap_length = max_length;
	q->cap_bytes = max_length_bytes;
}

uint64_t
bk_cap_dropped(struct bk_broker *b)
{
	return bk_qs(b)->cap_dropped;
}

void
bk_queue_policy_refresh(struct bk_queue *q)
{
	enum bk_qtype t = q->args.type;
	const struct bk_policy *p, *o;
	struct bk_qargs decl, old;
	struct bk_err err;

	if (q->deleted)
		return;
	p = bk_policy_match_queue(q->vhost, BK_POLICY_USER, q->name, t);
	o = bk_policy_match_queue(q->vhost, BK_POLICY_OPERATOR, q->name, t);
	q->policy = p;
	q->op_policy = o;
	/* the declared arguments parsed when the queue was made: cannot fail */
	if (bk_qargs_parse(&decl, (struct bk_table){ q->args_blob, q->args_len },
			   q->name, q->vhost->name, &err) != BK_OK)
		return;
	old = q->args;
	effective(&q->args, &decl, p ? &p->def : NULL, o ? &o->def : NULL);
	bk_qargs_fini(&decl);
	bk_queue_ref(q);
	take_effect(q, &old);
	bk_qargs_fini(&old);
	bk_queue_unref(q);
}

/*
 * Every queue of vh. Taking effect may dead-letter into other queues of
 * the vhost, so walk a snapshot held by references rather than the hash.
 */
void
bk_queues_policy_refresh(struct bk_vhost *vh)
{
	unsigned n = HASH_COUNT(vh->queues), i = 0;
	struct bk_queue **v, *q, *tmp;

	if (n == 0)
		return;
	v = bk_calloc(n, sizeof(*v));
	HASH_ITER(hh, vh->queues, q, tmp) {
		bk_queue_ref(q);
		v[i++] = q;
	}
	for (i = 0; i < n; i++) {
		bk_queue_policy_refresh(v[i]);
		bk_queue_unref(v[i]);
	}
	bk_free(v);
}
