/*
 * bk_queueing.h: private declarations of the queueing half (queues,
 * consumers, deliveries, TTL, overflow, dead-lettering). Only the files of
 * that half include it; the routing half sees bk_int.h.
 *
 * Lifetimes, in one place:
 *
 *   queue     refs = 1 while it is in vh->queues, + 1 per unsettled
 *             delivery, + 1 while a dispatch or expiry pass runs on it.
 *             Deletion (queue_delete) marks it deleted, unhashes it, drops
 *             its ready messages and consumers and its own ref; the struct
 *             goes when the last delivery settles ("settles into nothing").
 *   consumer  refs = 1 while registered, + 1 per unsettled delivery, + 1
 *             around each ops->deliver call. Cancel unlinks it at once; the
 *             struct lives on for its deliveries' d->consumer pointers.
 *   credit    owned by the adapter; consumers are linked to it while they
 *             are registered and unlinked (their in-flight count given
 *             back) when cancelled, so settling later never touches a freed
 *             credit.
 *   message   one ref per ready entry and per delivery.
 */
#ifndef SLUICE_BK_QUEUEING_H
#define SLUICE_BK_QUEUEING_H

#include "bk_int.h"

struct event;

/* ------------------------------------------------------------------ */
/* Typed x-arguments (bk_qargs.c)                                      */
/* ------------------------------------------------------------------ */

enum bk_qtype { BK_QTYPE_CLASSIC, BK_QTYPE_QUORUM, BK_QTYPE_STREAM };

struct bk_qargs {
	int64_t message_ttl;            /* ms; -1 = none */
	int64_t expires;                /* ms; 0 = none */
	int64_t max_length;             /* messages; -1 = none */
	int64_t max_length_bytes;       /* body bytes; -1 = none */
	int64_t delivery_limit;         /* -1 = none */
	enum bk_overflow overflow;
	bool has_overflow;              /* x-overflow given */
	bool has_dlx;                   /* "" (default exchange) is a valid DLX */
	char *dlx;                      /* owned; NULL unless has_dlx */
	char *dlrk;                     /* owned; NULL = keep the routing key */
	uint8_t max_priority;           /* 0 = not a priority queue */
	bool single_active;
	enum bk_qtype type;
	/* streams (bk_stream_args.c) */
	int64_t max_age_ms;             /* x-max-age; 0 = none */
	int64_t max_segment_bytes;      /* x-stream-max-segment-size-bytes; 0 = default */
	int64_t filter_size;            /* x-stream-filter-size-bytes; 0 = default (16) */
	bool dedup;                     /* x-message-deduplication */
	char *compaction_key;           /* owned: x-stream-compaction-key, or NULL */
};

/* Parse and validate; on error fills err with RabbitMQ's "invalid arg"
 * text (qname names the queue) and returns its status. a is filled and
 * owns its strings on success only. */
enum bk_status bk_qargs_parse(struct bk_qargs *a, struct bk_table t,
			      const char *qname, const char *vhname,
			      struct bk_err *err);
void bk_qargs_fini(struct bk_qargs *a);
/* bk_stream_args.c: a stream argument (x-max-age, x-stream-*) into a;
 * true for keys that are not stream arguments. */
bool bk_stream_arg(struct bk_qargs *a, const char *key, const struct bk_value *v,
		   char *why, size_t n);
/* "7D", "12h", ... (a positive integer and one of Y M D h m s) in ms;
 * false if s is not one. */
bool bk_stream_age_parse(struct bk_str s, int64_t *ms);
/* A new stream's flags and arguments, RabbitMQ's refusals. */
enum bk_status bk_stream_decl_check(const struct bk_queue_decl *d, const char *qname,
				    const char *vhname, struct bk_err *err);
/* Redeclare check of the x-arguments RabbitMQ compares. */
enum bk_status bk_qargs_equivalent(struct bk_table cur, struct bk_table got,
				   const char *qname, const char *vhname,
				   struct bk_err *err);

/* ------------------------------------------------------------------ */
/* Ready entries (bk_msgq.c)                                           */
/* ------------------------------------------------------------------ */

enum { BK_E_REDELIVERED = 1u << 0, BK_E_HEAP = 1u << 1 };

/*
 * One ready message: 24 bytes, stored by value in a ring (a million
 * queued messages cost their ring 24 MB). The rare fields share a word:
 *
 *   meta: bit 0             45 46   47 48              63
 *         +------------------+-------+------------------+
 *         | expires_at (ms)  | BK_E_*| delivery count   |
 *         +------------------+-------+------------------+
 *
 * expires_at is absolute wall-clock ms, 0 = never; a later one is kept as
 * 2^46-1 (the year 4199: never, in practice). The delivery count stops at
 * 65535. Read and build entries with the functions below only.
 */
struct bk_entry {
	struct bk_msg *msg;             /* ref; NULL = tombstone (expired in place) */
	uint64_t seq;                   /* queue order; rings stay sorted by it */
	uint64_t meta;                  /* see above */
};

#define BK_E_AT_BITS 46
#define BK_E_AT_MAX ((INT64_C(1) << BK_E_AT_BITS) - 1)

static inline struct bk_entry
bk_entry_make(struct bk_msg *m, int64_t expires_at, uint64_t seq,
	      uint32_t delivery_count, uint32_t flags)
{
	uint64_t at = expires_at <= 0 ? 0 :
		      (uint64_t)(expires_at > BK_E_AT_MAX ? BK_E_AT_MAX : expires_at);
	uint64_t n = delivery_count > 0xffff ? 0xffff : delivery_count;

	return (struct bk_entry){ m, seq, at | (uint64_t)(flags & 3u) << BK_E_AT_BITS |
				  n << (BK_E_AT_BITS + 2) };
}

/* Absolute expiry in ms, 0 = never. */
static inline int64_t
bk_entry_expires(const struct bk_entry *e)
{
	return (int64_t)(e->meta & (uint64_t)BK_E_AT_MAX);
}

static inline uint32_t
bk_entry_flags(const struct bk_entry *e)
{
	return (uint32_t)(e->meta >> BK_E_AT_BITS) & 3u;
}

static inline void
bk_entry_flag_set(struct bk_entry *e, uint32_t flag)
{
	e->meta |= (uint64_t)(flag & 3u) << BK_E_AT_BITS;
}

static inline uint32_t
bk_entry_count(const struct bk_entry *e)
{
	return (uint32_t)(e->meta >> (BK_E_AT_BITS + 2));
}

/* Power-of-two ring of entries, sorted by seq; tombstones keep their seq. */
struct bk_ring {
	struct bk_entry *e;             /* owned */
	uint32_t head, count, mask;     /* count includes tombstones */
};

void bk_ring_fini(struct bk_ring *r);
void bk_ring_push_tail(struct bk_ring *r, const struct bk_entry *e);
/* Insert at its seq position (requeue). */
void bk_ring_insert(struct bk_ring *r, const struct bk_entry *e);
/* Insert n entries sorted by seq, in one pass (bk_requeue.c). */
void bk_ring_merge(struct bk_ring *r, const struct bk_entry *e, uint32_t n);
/* Pop the first live entry; false if none. Drops leading tombstones. */
bool bk_ring_pop(struct bk_ring *r, struct bk_entry *out);
/* First live entry (borrowed) or NULL. */
struct bk_entry *bk_ring_first(struct bk_ring *r);
/* Entry with this seq (live or tombstone) or NULL. */
struct bk_entry *bk_ring_find(struct bk_ring *r, uint64_t seq);
/* Entry i (0 = head). */
struct bk_entry *bk_ring_at(struct bk_ring *r, uint32_t i);

/* Min-heap of per-message expiries, validated lazily against the rings. */
struct bk_ttl_item {
	int64_t at;
	uint64_t seq;
	uint32_t level;
};
struct bk_ttl_heap {
	struct bk_ttl_item *v;          /* owned */
	uint32_t n, cap;
};
void bk_heap_push(struct bk_ttl_heap *h, struct bk_ttl_item it);
void bk_heap_pop(struct bk_ttl_heap *h);
void bk_heap_fini(struct bk_ttl_heap *h);

/* ------------------------------------------------------------------ */
/* Queues, consumers, credit                                           */
/* ------------------------------------------------------------------ */

struct bk_cgroup;

struct bk_queue {
	char *name;                     /* owned; uthash key in vh->queues */
	struct bk_vhost *vhost;         /* borrowed; meaningless once deleted */
	struct bk_broker *broker;       /* borrowed */
	uint32_t refs;
	bool deleted, durable, exclusive, auto_delete;
	bool had_consumer;              /* auto-delete arms after the first one */
	bool exclusive_consumer;
	bool dispatching, dispatch_again;
	bk_owner owner;                 /* exclusive queues only */
	uint64_t jid;                   /* journal id (bk_persist.h); 0 = not durable */
	struct bk_qargs args;           /* effective: declared + policies
					   (bk_queue_policy.c) */
	const struct bk_policy *policy; /* borrowed; the vhost's, or NULL */
	const struct bk_policy *op_policy;  /* borrowed operator policy, or NULL */
	int64_t cap_length, cap_bytes;  /* the owning adapter's cap (bk_queue_set_cap); -1 = none */
	uint64_t acked_ms;              /* bk_now_ms() of the last consumer ack, or
					   of the last consumer added */
	uint8_t *args_blob;             /* owned copy of the declared arguments */
	uint32_t args_len;
	struct bk_ring *levels;         /* owned; 1 + max_priority rings */
	uint32_t nlevels;
	uint32_t ready;                 /* live entries in all rings */
	uint32_t unacked;               /* unsettled deliveries */
	uint64_t ready_bytes;           /* body bytes of live entries */
	uint64_t next_seq;
	uint64_t fresh_seq;             /* being enqueued: exempt from TTL at dispatch */
	uint32_t gen;                   /* bumped by every bk_msgq_add */
	uint32_t requeue_pending;       /* requeues held in a settle batch
					   (bk_requeue.c); no dispatch meanwhile */
	uint64_t mark_id;               /* bk_queue_mark */
	struct bk_ttl_heap heap;        /* per-message expiries */
	struct event *ttl_ev;           /* owned; earliest expiry */
	int64_t ttl_at;                 /* when ttl_ev fires; 0 = not armed */
	struct event *idle_ev;          /* owned; x-expires */
	struct bk_consumer *cons_head, *cons_tail;  /* in the order they came */
	uint32_t ncons;
	struct bk_cgroup *groups;       /* owned; consumers by priority
					   (bk_cgroup.c); none for single
					   active consumer and streams */
	struct bk_cgroup **gheap;       /* owned; groups that may have a taker,
					   a max-heap by priority */
	uint32_t gheap_n, gheap_cap;
	struct bk_queue *excl_prev, *excl_next;     /* in the exclusive list */
	struct bk_msg_stats ms;         /* message_stats, plain adds */
	struct bk_hist *hist;           /* owned (bk_hist.c); rates come from it */
	struct bk_stream *stream;       /* owned; non-NULL: a stream queue (bk_stream.h) */
	struct bk_dedup_cache *dedup;   /* owned; x-message-deduplication (bk_dedup.c) */
	UT_hash_handle hh;              /* in vh->queues */
};

struct bk_consumer {
	struct bk_queue *queue;         /* borrowed; NULL once cancelled or direct reply */
	const struct bk_consumer_ops *ops;  /* borrowed */
	void *ctx;                      /* borrowed */
	struct bk_credit *credit;       /* borrowed; NULL when none or detached */
	uint32_t refs;
	uint32_t prefetch, unacked;
	int32_t priority;
	bool no_ack, exclusive, parked, cancelled;
	struct bk_consumer *prev, *next;    /* in queue's list */
	struct bk_cgroup *group;        /* borrowed; its priority in its queue,
					   or NULL (bk_cgroup.c) */
	struct bk_consumer *gprev, *gnext;  /* in the group's turn or full list */
	bool full;                      /* in the full list */
	struct bk_consumer *cprev, *cnext;  /* in credit's list */
	/* direct reply-to pseudo consumers */
	char *reply_name;               /* owned; "amq.rabbitmq.reply-to.<token>" */
	struct bk_vhost *vhost;         /* borrowed */
	UT_hash_handle hh;              /* in vh->replies, keyed by reply_name */
	char *tag;                      /* owned; adapter's consumer tag or NULL */
	uint64_t channel_id;            /* bk_chan_id of the adapter's channel */
	struct bk_sconsumer *sc;        /* owned; stream consumers only (bk_stream.h) */
};

struct bk_cgroup {
	int32_t priority;               /* uthash key in q->groups */
	uint32_t n;                     /* consumers in both lists */
	uint32_t heap_at;               /* 1 + index in q->gheap; 0 = not in it */
	struct bk_consumer *may_head, *may_tail;    /* may take, in turn */
	struct bk_consumer *full_head;  /* found unable to take; no room since */
	UT_hash_handle hh;
};

struct bk_credit {
	uint32_t limit, used;
	struct bk_consumer *cons, *cons_tail;   /* linked consumers (not owned),
						   least recently served first
						   while limit != 0 */
	struct bk_consumer *orphans;    /* cancelled, deliveries still out */
};

/* Broker-wide queueing state (broker->queue_state). */
struct bk_qstate {
	struct bk_queue *exclusive;     /* list of exclusive queues */
	uint32_t nqueues;
	struct bk_msg *dl_msg;          /* dead-letter copy being routed */
	uint32_t dl_depth;              /* nested dead-letter publishes */
	uint64_t dl_root;               /* bk_route_root() the budget is for */
	uint64_t dl_work;               /* spent of it (bk_dlx.c) */
	uint64_t dl_warned_ms;          /* last "budget spent" warning */
	uint64_t rng[2];                /* xorshift128+ for names and tokens */
	struct bk_soffsets *soffsets;   /* owned (bk_stream_offsets.c); NULL until used */
	uint64_t cap_dropped;           /* arriving messages an adapter's cap dropped */
	struct bk_requeue_batch *requeue;   /* owned (bk_requeue.c); NULL until used */
};

static inline struct bk_qstate *
bk_qs(struct bk_broker *b)
{
	return b->queue_state;
}

/* bk_queue.c */
void bk_queue_ref(struct bk_queue *q);
void bk_queue_unref(struct bk_queue *q);
/* Delete q: unbind, cancel consumers (notify: call ops->cancelled),
 * drop ready messages. Returns the number of ready messages dropped. */
uint32_t bk_queue_destroy(struct bk_queue *q, bool notify);
void bk_queue_random_token(struct bk_broker *b, char *out, size_t nchars);

/* bk_msgq.c: ready-message bookkeeping of one queue */
uint32_t bk_msgq_level(const struct bk_queue *q, const struct bk_msg *m);
int64_t bk_msgq_expiry(const struct bk_queue *q, const struct bk_msg *m);
/* Add an entry (ref moves in): at the tail (a new message), or by seq,
 * collected for the settle batch's merge when one is open (a requeue) or
 * at once (a message taken and put straight back, bk_dispatch.c). */
enum bk_msgq_add { BK_MSGQ_TAIL, BK_MSGQ_REQUEUE, BK_MSGQ_PUT_BACK };
void bk_msgq_add(struct bk_queue *q, const struct bk_entry *e, enum bk_msgq_add how);
/* Take the next ready entry in priority then seq order. */
bool bk_msgq_take(struct bk_queue *q, struct bk_entry *out);
/* Drop every ready message (no dead-lettering); returns how many. */
uint32_t bk_msgq_clear(struct bk_queue *q);
/* bk_requeue.c: inside a settle batch, keep a requeued entry (ref moves
 * in) for the batch's end and return true; false outside one. */
bool bk_requeue_collect(struct bk_queue *q, const struct bk_entry *e);
void bk_requeue_fini(struct bk_broker *b);
/* Drop-head overflow after an enqueue. */
void bk_msgq_trim(struct bk_queue *q);
bool bk_msgq_would_overflow(const struct bk_queue *q, const struct bk_msg *m);

/* bk_consumer.c / bk_dispatch.c */
/* Messages arrived, or the queue's consumers changed: deliver what can be.
 * A consumer given room must say so first (bk_cgroup_room, or
 * bk_cgroup_dispatch_for). */
void bk_queue_dispatch(struct bk_queue *q);
struct bk_delivery *bk_delivery_alloc(void);
void bk_delivery_release(struct bk_delivery *d);
void bk_consumer_unref(struct bk_consumer *c);
/* Unlink c from its queue and credit; no callbacks. */
void bk_consumer_detach(struct bk_consumer *c);
void bk_credit_wake(struct bk_credit *cr);
/* c joins cr's consumers; c was served (to the tail of cr's turn). */
void bk_credit_link(struct bk_credit *cr, struct bk_consumer *c);
void bk_credit_to_tail(struct bk_consumer *c);
void bk_credit_orphan_done(struct bk_consumer *c);

static inline void
bk_credit_served(struct bk_consumer *c)
{
	if (c->credit != NULL && c->credit->limit != 0 && c->cnext != NULL)
		bk_credit_to_tail(c);
}

/* One of c's deliveries settled: a cancelled c with none left leaves its
 * credit. */
static inline void
bk_credit_settled(struct bk_consumer *c)
{
	if (c->credit != NULL && c->cancelled && c->unacked == 0)
		bk_credit_orphan_done(c);
}
void bk_deliveries_fini(void);

/* bk_expiry.c */
void bk_expiry_track(struct bk_queue *q, struct bk_entry *e, uint32_t level);
/* Expire every ready entry due at now (dead-lettering them). */
void bk_expiry_run(struct bk_queue *q);
void bk_expiry_idle_arm(struct bk_queue *q);    /* x-expires: (re)start */
void bk_expiry_idle_stop(struct bk_queue *q);
void bk_expiry_queue_init(struct bk_queue *q);
/* x-message-ttl changed (policy): entries already queued keep their
 * expiry, now tracked one by one, and whatever is due expires. */
void bk_expiry_ttl_changed(struct bk_queue *q);
void bk_expiry_queue_fini(struct bk_queue *q);

/* bk_dedup.c: m left q for good: its deduplication value goes. */
void bk_dedup_queue_forget_slow(struct bk_queue *q, const struct bk_msg *m);

/* bk_dlx.c: dead-letter a copy of m (borrowed) from q, or drop it. */
void bk_dlx_dead_letter(struct bk_queue *q, struct bk_msg *m, const char *reason);
/* The dead-letter copy being routed would die in q again: drop it. */
bool bk_dlx_is_cycle(const struct bk_msg *m, const char *qname);

#endif
