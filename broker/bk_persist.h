/*
 * bk_persist.h: private to the core's persistence files (bk_persist.c,
 * bk_persist_props.c, bk_recover.c, bk_defs.c) and to the
 * queueing files that report settlements.
 *
 * What is durable:
 *   - vhosts, users, permissions, durable exchanges, durable
 *     non-exclusive queues, and bindings whose both ends are durable: one
 *     definitions file, rewritten (at most once per loop iteration, or at
 *     once on bk_defs_commit) when one of them changes (bk_defs.c);
 *   - persistent messages (BK_MSG_PERSISTENT) in durable queues: one MSG
 *     record per publish listing every durable queue it entered, then small
 *     records as it leaves them (bk_persist.c). A message that has a MSG
 *     record carries BK_MSG_JOURNALED; a queue that keeps journal records
 *     has a non-zero jid.
 *
 * Queue ids (jid) are a 64-bit hash of vhost and queue name, so the
 * definitions file needs no id of its own and a queue keeps its id across
 * restarts. Reusing an id after a delete is safe because the delete writes
 * a QUEUE-DROP first, which settles every earlier record of that id.
 *
 * Settlement hooks must run AFTER any dead-lettering of the message: the
 * copy's MSG record then precedes the original's ACK in the log, so a crash
 * between them duplicates rather than loses.
 */
#ifndef SLUICE_BK_PERSIST_H
#define SLUICE_BK_PERSIST_H

#include <event2/util.h>

#include "bk_queueing.h"

struct st_journal;
struct cJSON;
struct event;
struct bk_pnode;

struct bk_persist {
	struct st_journal *j;           /* owned; NULL when not persistent */
	struct bk_broker *broker;       /* borrowed */
	char *data_dir;                 /* owned */
	bool stopping;                  /* teardown: write nothing that settles */
	bool loading;                   /* definitions being applied: no rewrite */
	/* publish scratch */
	uint8_t *props_buf;             /* owned; encoded properties of one publish */
	size_t props_cap;
	void *qv;                       /* owned array of struct st_msg_queue */
	uint32_t qcap;
	struct bk_pnode *free_nodes;    /* completion nodes, free list */
	/* definitions (bk_defs.c): changes are counted; the file holding
	 * change defs_gen is queued to the journal at the end of the loop
	 * iteration, and each commit waits for the write that covers it */
	struct event *defs_ev;          /* owned; coalesced rewrite */
	bool defs_dirty;                /* changed since the last write was queued */
	uint64_t defs_gen;              /* changes so far */
	uint64_t defs_durable_gen;      /* changes on disk */
	struct bk_defs_waiter *defs_waiters, *defs_waiters_tail; /* owned list:
					   commits waiting for the next write */
	/* durable declares as journal records (bk_defs_delta.c) */
	uint64_t defs_epoch;            /* of the last full write rendered */
	uint64_t defs_next;             /* number of the next record */
	struct bk_defs_key *dkeys;      /* owned: records no full write absorbed yet */
	uint32_t ndkeys, dkeys_cap;
	uint64_t dbytes;                /* bytes of their values */
	uint64_t defs_file_len;         /* bytes of the last full write */
	bool defs_delta;                /* records made since the last flush */
	struct bk_defs_rec *replayed;   /* owned: records read at start */
	uint32_t nreplayed, replayed_cap;
	/* disk alarm */
	struct event *disk_ev;          /* owned; 1 s timer */
	uint64_t disk_free_limit;
	bool disk_low;
	uint64_t write_errors;          /* appends refused, for rate-limited logs */
	uint64_t mem_budget;            /* resident journaled body bytes; 0 = no limit */
	uint64_t paged_out, paged_in;   /* stats */
	/* retained messages (bk_retained_persist.c) */
	uint8_t *rkey;                  /* owned: record key scratch */
	size_t rkey_cap;
	struct bk_retained_orphan *retained_orphans;    /* owned: to delete after replay */
	uint64_t retained_bad;          /* records that did not decode */
	bool retained_marked;           /* the store's mark was replayed or written */
};

static inline struct bk_persist *
bk_persist_get(struct bk_broker *b)
{
	return b->persist;
}


/* bk_persist.c: settlement records, cheap no-ops when nothing is journaled. */
void bk_persist_ack_slow(struct bk_queue *q, struct bk_msg *m);
void bk_persist_count_slow(struct bk_queue *q, struct bk_msg *m, uint32_t count);

/* m left q for good (ack, reject, expiry, dead-letter, maxlen, ...). */
static inline void
bk_persist_ack(struct bk_queue *q, struct bk_msg *m)
{
	if (q != NULL && q->dedup != NULL)
		bk_dedup_queue_forget_slow(q, m);
	if ((m->flags & BK_MSG_JOURNALED) && q != NULL && q->jid != 0)
		bk_persist_ack_slow(q, m);
}

/* m went back to q with a new delivery count. */
static inline void
bk_persist_count(struct bk_queue *q, struct bk_msg *m, uint32_t count)
{
	if ((m->flags & BK_MSG_JOURNALED) && q != NULL && q->jid != 0)
		bk_persist_count_slow(q, m, count);
}

/*
 * Delayed messages (bk_delayed.c): m is held for journal pseudo-queue
 * jid: one MSG record naming it, tracked with c's token (res->pending),
 * as bk_persist_publish does; 0 or a negative errno. release settles one
 * held message (it fired), release_all every one (the exchange went).
 */
int bk_persist_hold(struct bk_broker *b, struct bk_msg *m, uint64_t jid,
		    struct bk_confirm *c, uint64_t token, struct bk_route_result *res);
void bk_persist_release(struct bk_broker *b, uint64_t jid, struct bk_msg *m);
void bk_persist_release_all(struct bk_broker *b, uint64_t jid);

/* Queue deleted (or purged with nothing unacked): one QUEUE-DROP. */
void bk_persist_queue_drop(struct bk_queue *q);
/* Purge with deliveries outstanding: one ACK per ready message. */
void bk_persist_ack_ready(struct bk_queue *q);

/* The journal id for a durable queue name (never 0). */
uint64_t bk_persist_queue_id(const char *vhost, const char *name);

/*
 * Backlogs bigger than memory. After an enqueue, while the resident bodies
 * exceed the budget, the entry just stored (seq at level) becomes a stub.
 * Before a stub is delivered or dead-lettered, page_in returns the full
 * message (a new ref; NULL if the journal cannot give the body back).
 */
void bk_persist_page_out(struct bk_queue *q, uint64_t seq, uint32_t level);
struct bk_msg *bk_persist_page_in(struct bk_broker *b, struct bk_msg *stub);
static inline bool
bk_persist_over_budget(const struct bk_broker *b)
{
	const struct bk_persist *p = b->persist;

	return p != NULL && p->mem_budget != 0 && bk_persist_resident > p->mem_budget;
}
/* A stub for m (bk_recover.c builds stubs directly). */
struct bk_msg *bk_persist_stub(const struct bk_msg *m, size_t body_len);

/* bk_persist_props.c: the core's encoding of bk_props in MSG records. */
size_t bk_props_encoded_size(const struct bk_props *p);
void bk_props_encode(const struct bk_props *p, uint8_t *out);
/* Pointers of *p borrow from buf. 0 or -EPROTO. */
int bk_props_decode(const uint8_t *buf, size_t len, struct bk_props *p);

/* bk_recover.c: replay the journal into the durable queues. */
int bk_recover_messages(struct bk_broker *b, char *err, size_t errlen);

/* bk_defs.c: the definitions file. */
int bk_defs_load(struct bk_broker *b, char *err, size_t errlen);

/* bk_defs_delta.c: durable declares as journal records. */
#define BK_NS_DEFS 0x4446               /* "DF": journal key/value namespace */
struct bk_defs_key {
	uint64_t epoch, n;
};
/* The durable document of the next full write: its epoch is the next one. */
struct cJSON *bk_defs_durable_doc(struct bk_persist *p);
/* The file's epoch, read from a loaded document (0 when absent). */
void bk_defs_epoch_load(struct bk_persist *p, const struct cJSON *doc);
/* Replay: keep one record (ns BK_NS_DEFS); apply them all once the
 * key/value records are over (before the messages). */
int bk_defs_delta_replay(struct bk_broker *b, const void *key, uint32_t klen,
			 const void *val, uint32_t vlen);
void bk_defs_delta_apply(struct bk_broker *b);
/* A full write took the records so far (*keys, *n: the caller's). */
void bk_defs_delta_take(struct bk_persist *p, struct bk_defs_key **keys, uint32_t *n);
/* That write is on disk (status 0: delete the records) or failed (they
 * stay, for the next one). Frees keys. */
void bk_defs_delta_done(struct bk_persist *p, struct bk_defs_key *keys, uint32_t n,
			int status);
void bk_defs_delta_free(struct bk_persist *p);
/* bk_defs_json.c: a document listing one entry as the file lists it. */
struct cJSON *bk_defs_queue_doc(struct bk_queue *q);
struct cJSON *bk_defs_binding_doc(struct bk_binding *bd);

int bk_defs_save(struct bk_broker *b);
/* The end-of-iteration write (defs_ev) and dropping the waiters (stop). */
void bk_defs_flush_cb(evutil_socket_t fd, short what, void *arg);
void bk_defs_waiters_drop(struct bk_persist *p);
/* bk_persist.c: register tracker c's token on the journal's open batch. */
int bk_persist_track(struct bk_persist *p, struct bk_confirm *c, uint64_t token);
/* bk_persist.c: one more reference on c (a waiter holds one). */
void bk_confirm_ref(struct bk_confirm *c);
void bk_confirm_unref(struct bk_confirm *c);
/* Call c's fn now (unless its adapter let go): only from an event
 * callback, never from inside a call the adapter made. */
void bk_confirm_report(struct bk_confirm *c, uint64_t token, int status);

#endif
