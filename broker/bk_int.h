/*
 * bk_int.h: declarations shared between the core's own files. Never
 * included from protocols/ (they see broker.h only).
 *
 * Two halves meet here:
 *   routing  (bk_broker.c bk_vhost.c bk_exchange.c bk_binding.c bk_xtype_*.c
 *             bk_topic.c bk_msg.c): vhosts, exchanges, bindings, bk_publish.
 *   queueing (bk_queue.c bk_consumer.c bk_qargs.c bk_dlx.c bk_expiry.c):
 *             queues, consumers, deliveries, TTL, overflow, dead-lettering.
 * Routing calls queueing through the functions marked [Q]; queueing calls
 * routing through those marked [R].
 */
#ifndef SLUICE_BK_INT_H
#define SLUICE_BK_INT_H

#include "bk_admin.h"

#include <uthash.h>

struct bk_broker {
	struct event_base *base;        /* borrowed */
	bk_cluster_each_fn cluster_each;        /* NULL: not in a cluster */
	void *cluster_ctx;
	struct bk_limits limits;
	struct bk_vhost *vhosts;        /* uthash by name, owned */
	uint64_t next_msg_id;
	uint64_t next_queue_seq;        /* for amq.gen- names */
	void *queue_state;              /* owned by the queueing half (timers, free lists) */
	struct bk_user *users;          /* uthash by name, owned (bk_user.c) */
	struct bk_flow *flow;           /* owned by bk_flow.c; NULL until first used */
	struct bk_persist *persist;     /* owned by bk_persist.c; NULL = nothing durable */
	struct bk_mgmt *mgmt;           /* owned by bk_stats.c (bk_mgmt.h): sampler,
					   registry, permissions */
	struct bk_churn churn;          /* counted where it happens */
	struct bk_auth_counters auth;   /* bk_user_check */
	struct bk_msg_stats queues_gone;    /* counters of deleted queues */
	struct bk_delayed *delayed;     /* owned by bk_delayed.c; NULL until used */
};

struct bk_vhost {
	char *name;                     /* owned; uthash key */
	struct bk_broker *broker;       /* borrowed */
	struct bk_exchange *exchanges;  /* uthash by name, owned */
	struct bk_queue *queues;        /* uthash by name, owned by the queueing half */
	void *replies;                  /* direct reply-to consumers, queueing half */
	struct bk_routing *routing;     /* owned by the routing half (bk_routing.h) */
	struct bk_policy *policies[BK_POLICY__COUNT];  /* uthash by name, owned
					   (bk_policy.c) */
	struct bk_msg_stats ms;         /* counted on the hot path (plain adds) */
	struct bk_msg_stats ms_last;    /* at the previous sample (bk_stats.c) */
	struct bk_msg_rates rates;
	struct bk_hist *hist;           /* owned (bk_hist.c); NULL before a tick */
	struct bk_rstore *retained;     /* owned by bk_retained.c; NULL until the first */
	struct bk_limit_values limits;  /* max-connections, max-queues (bk_limits.c) */
	UT_hash_handle hh;              /* in broker->vhosts */
};

/* [R] bk_vhost.c: create a vhost with its default exchanges. */
struct bk_vhost *bk_vhost_new(struct bk_broker *b, const char *name);
void bk_vhost_free(struct bk_vhost *vh);

/*
 * [R] Remove every binding whose destination is q (queue deletion). May
 * delete auto-delete exchanges left without bindings.
 */
void bk_bindings_remove_queue(struct bk_vhost *vh, struct bk_queue *q);

/*
 * [Q] Enqueue one message on q for routing. Takes its own reference on m.
 * 0 = enqueued; -ENOSPC = refused by x-overflow reject-publish(-dlx).
 * May deliver to a consumer synchronously.
 */
int bk_queue_enqueue(struct bk_queue *q, struct bk_msg *m);

/*
 * [Q] q has an adapter's cap (bk_queue_set_cap), would be at least half
 * full with one more message, and has a consumer that acknowledged
 * something in the last BK_QUEUE_BEHIND_MS: a consumer that is slower
 * than its publishers but keeps going. Past the cap arriving messages are
 * dropped; a consumer that stopped acknowledging is not waited for.
 */
#define BK_QUEUE_BEHIND_MS 1000
bool bk_queue_behind(const struct bk_queue *q);

/*
 * [Q] Dedupe during one routing pass: true the first time q is marked for
 * route_id, false when it was already reached by another path.
 */
bool bk_queue_mark(struct bk_queue *q, uint64_t route_id);

/* [Q] Direct reply-to: deliver to the consumer registered under key
 * (the full "amq.rabbitmq.reply-to.<token>" routing key). true if one was
 * found and took the message. */
bool bk_direct_reply_route(struct bk_vhost *vh, struct bk_str key, struct bk_msg *m);

/*
 * Persistence (bk_persist.c, bk_defs.c; see bk_persist.h).
 *
 * bk_defs_changed: a vhost, user, permission, or a durable exchange,
 * queue or binding was added, changed or removed; the definitions file is
 * rewritten once at the end of this loop iteration (or by bk_defs_commit).
 * Cheap; a no-op without persistence.
 */
void bk_defs_changed(struct bk_broker *b);
/*
 * A durable queue was created, a binding a restart keeps was added
 * (bk_defs_delta.c): the change is one journal record in this iteration's
 * batch instead of a rewrite of the whole file, when it can be (else
 * bk_defs_changed). Same contract as bk_defs_changed for the caller.
 */
struct bk_queue;
struct bk_binding;
void bk_defs_queue_added(struct bk_queue *q);
void bk_defs_binding_added(struct bk_binding *bd);
/*
 * [Q] Before msg (routed by a publish) is enqueued on the n queues qs:
 * write one MSG record naming those that are durable (and would accept
 * it), flag the message BK_MSG_JOURNALED and set res->pending; register
 * token with c (may be NULL) for the completion. 0, or a negative errno
 * when the journal refused: the caller then skips the durable queues
 * (bk_queue_journaled) and counts them as refused.
 */
int bk_persist_publish(struct bk_broker *b, struct bk_msg *msg,
		       struct bk_queue *const *qs, uint32_t n,
		       struct bk_confirm *c, uint64_t token,
		       struct bk_route_result *res);
/*
 * [R] The pass id of the outermost publish running (bk_publish and the
 * delayed exchange's release), 0 outside any. Everything a publish sets
 * off synchronously (enqueues, dead-lettering, nested publishes) runs
 * under the same root; bk_dlx.c bounds its work per root.
 */
uint64_t bk_route_root(void);
/* [Q] q is durable and outlives a restart (defs and journal). */
bool bk_queue_persists(const struct bk_queue *q);
/* [Q] A persistent message on q would be journaled. */
bool bk_queue_journaled(const struct bk_queue *q, const struct bk_msg *m);
/* [Q] bk_queue_enqueue(q, m) would store m (not deleted, no overflow
 * refusal, no dead-letter cycle) as things stand now. */
bool bk_queue_would_accept(struct bk_queue *q, struct bk_msg *m);
/* Teardown, called by bk_broker_free: stop (close the journal, write
 * nothing more) before the vhosts go, free after. Accept no persistence. */
void bk_persist_stop(struct bk_broker *b);
void bk_persist_free(struct bk_broker *b);
/*
 * Persistent bodies in RAM (bk_persist.c, bk_msg.c). A message with a MSG
 * record is BK_MSG_JOURNALED; a PAGED one is a stub whose body (body NULL,
 * body_len kept) is read back from the journal before delivery. Bytes of
 * resident journaled bodies are counted in bk_persist_resident.
 */
#define BK_MSG_JOURNALED (1u << 1)
#define BK_MSG_PAGED     (1u << 2)
extern uint64_t bk_persist_resident;
/* bk_msg.c: later messages get ids above id (after recovery). */
void bk_msg_id_floor(uint64_t id);
/* Bytes m's record holds (a paged-out stub holds no body). */
size_t bk_msg_record_size(const struct bk_msg *m);

/*
 * bk_hist.c: record vals (fields [lo, hi) of enum bk_hfield) at the
 * current tick into *hp, creating it (cap ticks; 64-bit slots when wide)
 * on first use. Free accepts NULL.
 */
void bk_hist_record(struct bk_broker *b, struct bk_hist **hp, unsigned lo,
		    unsigned hi, uint32_t cap, bool wide, const uint64_t *vals);
void bk_hist_free(struct bk_hist *h);
/*
 * bk_hist_record() for an object recorded from tick born on whose
 * counters start at zero: while vals are all zero nothing is allocated;
 * the history made at the first other value holds zeros from born on,
 * as if every tick had been recorded.
 */
void bk_hist_record_lazy(struct bk_broker *b, struct bk_hist **hp, unsigned lo,
			 unsigned hi, uint32_t cap, uint64_t born, const uint64_t *vals);
/*
 * The history such an object would have while nothing was allocated (all
 * zero from born to the current tick), built in space (words u64s); NULL
 * before born or when it does not fit.
 */
const struct bk_hist *bk_hist_flat_zero(struct bk_broker *b, uint64_t *space, size_t words,
					unsigned lo, unsigned hi, uint32_t cap, uint64_t born);
/* The same with the values vals instead of zeros (a narrow history). */
const struct bk_hist *bk_hist_flat(struct bk_broker *b, uint64_t *space, size_t words,
				   unsigned lo, unsigned hi, uint32_t cap, uint64_t born,
				   const uint64_t *vals);
/*
 * An object that keeps no history while its values stay put: when a
 * narrow h holds no change over its window, *since (the first tick the
 * window covers) and vals (its values) are all it holds: true, and the
 * caller may free h. bk_hist_record_from() records vals at the current
 * tick into *hp, first making it (when NULL) the flat history of old
 * over ticks [since, current tick).
 */
bool bk_hist_flat_state(const struct bk_hist *h, uint64_t *since, uint64_t *vals);
void bk_hist_record_from(struct bk_broker *b, struct bk_hist **hp, unsigned lo, unsigned hi,
			 uint32_t cap, uint64_t since, const uint64_t *old, const uint64_t *vals);
/*
 * The per-second rates of the message counters over the broker's newest
 * tick, from h (which keeps fields BK_HF_MS .. BK_HF_MS + BK_MS__COUNT);
 * all zero when h is NULL, was not recorded at that tick, or no interval
 * has passed yet. Queues and channels keep no rates of their own.
 */
void bk_hist_rates(struct bk_broker *b, const struct bk_hist *h,
		   struct bk_msg_rates *out);

/*
 * bk_authz.c: the extra permissions a new queue or exchange needs when
 * who is set (NULL: BK_OK): x-dead-letter-exchange asks read on the
 * queue and write on the DLX, alternate-exchange read on the exchange
 * and write on the alternate. Configure on the name is checked by the
 * declare itself.
 */
enum bk_status bk_authz_queue_new(struct bk_vhost *vh, const struct bk_who *who,
				  const char *name, struct bk_table args,
				  struct bk_err *err);
enum bk_status bk_authz_exchange_new(struct bk_vhost *vh, const struct bk_who *who,
				     struct bk_str name, struct bk_table args,
				     struct bk_err *err);

/* bk_stats.c: management state (sampler, registry, permissions);
 * started by bk_broker_new, freed by bk_broker_free after the vhosts. */
void bk_mgmt_init(struct bk_broker *b);
void bk_mgmt_fini(struct bk_broker *b);

/* bk_flow.c: free the alarm state (timer, watchers). Accepts none. */
void bk_flow_fini(struct bk_broker *b);

/* bk_delayed.c: free every held message (after the vhosts went). */
void bk_delayed_fini(struct bk_broker *b);
/* bk_delayed.c: a journaled message of pseudo-queue jid (recovery): held
 * again until its original due time. false if no delayed exchange has jid. */
bool bk_delayed_recover(struct bk_broker *b, uint64_t jid, struct bk_msg *m);
/* Messages x holds for later (x-delayed-message), 0 for other types. */
uint64_t bk_delayed_count(const struct bk_exchange *x);

/* [Q] Lifecycle hooks of the queueing half, called by bk_broker.c. */
void bk_queueing_init(struct bk_broker *b);
void bk_queueing_fini(struct bk_broker *b);
/* [Q] Delete every queue of vh (vhost teardown); no client notifications. */
void bk_queues_free_all(struct bk_vhost *vh);

#endif
