/*
 * bk_stream.h: private to the core's stream files (bk_stream*.c) and the
 * queueing files that branch to them. A stream queue is a bk_queue whose
 * `stream` is set: declare, bind, publish and delete take the same paths
 * as for any queue; enqueue appends to the log (storage.h) instead of a
 * ring, and consumers read it through their own cursors (bk_stream_read.c)
 * instead of taking entries.
 *
 *   queue --stream--> bk_stream --log--> st_stream (segments on disk)
 *   consumer --sc--> bk_sconsumer --r--> st_sreader (a cursor)
 *
 * Named consumers' offsets live in one broker-wide table (bk_stream_offsets.c)
 * keyed by (queue journal id, name), stored as journal key/values in
 * namespace BK_NS_STREAM_OFFSET at most once a second per name.
 */
#ifndef SLUICE_BK_STREAM_H
#define SLUICE_BK_STREAM_H

#include "bk_queueing.h"

struct st_stream;
struct st_sreader;

#define BK_NS_STREAM_OFFSET 0x5354      /* "ST": journal key/value namespace */

struct bk_stream {
	struct bk_queue *q;             /* borrowed back-pointer */
	struct st_stream *log;          /* owned */
	uint64_t last_ts;               /* ms of the newest committed append */
};

/* A named consumer's stored position. */
struct bk_soffset {
	uint64_t jid;                   /* key part 1: the stream's queue */
	char *name;                     /* owned; key part 2 */
	uint64_t next;                  /* offset after the last one acked */
	uint64_t acked_ts;              /* ms of the chunk of the last one acked */
	bool stored;                    /* next is meaningful */
	bool dirty;                     /* not yet written to the journal */
	uint32_t sac_members;           /* single-active consumers of this name */
	UT_hash_handle hh;              /* in the broker's table; key = keybuf */
	uint32_t klen;
	uint8_t key[];                  /* jid (8, LE) + name */
};

struct bk_sconsumer {
	struct st_sreader *r;           /* owned; NULL until it reads (SAC standby) */
	struct bk_msg *pending;         /* ref: read but refused by -EAGAIN */
	uint64_t pending_off;
	int64_t delivered;              /* last offset handed over, or -1 */
	struct bk_consume_stream opts;  /* offset spec; strings below */
	char *name;                     /* owned, or NULL */
	struct bk_str *filters;         /* owned array; strings in fbuf */
	char *fbuf;                     /* owned */
	uint64_t *hashes;               /* owned */
	uint32_t nfilters;
	bool sac;                       /* one of its name's group reads at a time */
	bool waiting;                   /* sac: an earlier member of its group reads */
};

/* bk_stream.c: a stream queue's log */
enum bk_status bk_stream_attach(struct bk_queue *q, struct bk_err *err);
void bk_stream_detach(struct bk_queue *q);      /* close (shutdown) or delete */
/* Apply q->args' retention (max-length-bytes, max-age) now: a policy
 * changed them. */
void bk_stream_retain_now(struct bk_queue *q);
int bk_stream_enqueue(struct bk_queue *q, struct bk_msg *m);
/* The message of a stream record (a new ref) with its x-stream-offset
 * header; NULL if the record does not decode. */
struct bk_msg *bk_stream_msg_decode(const void *p, uint32_t len, uint64_t offset);
uint64_t bk_stream_count(const struct bk_queue *q);

/* bk_stream_view.c: a stream queue's part of its view (nothing for others). */
void bk_stream_queue_view(struct bk_queue *q, struct bk_queue_view *v);

/* bk_stream_consume.c */
enum bk_status bk_stream_consume(const struct bk_consume_decl *d,
				 struct bk_consumer **out, struct bk_err *err);
void bk_stream_dispatch(struct bk_queue *q);
void bk_stream_settled(struct bk_queue *q, struct bk_delivery *d);
void bk_sconsumer_free(struct bk_consumer *c);

/* bk_stream_offsets.c */
struct bk_soffset *bk_soffset_get(struct bk_broker *b, uint64_t jid, const char *name,
				  bool create);
void bk_soffset_ack(struct bk_broker *b, struct bk_soffset *o, uint64_t offset,
		    uint64_t ts);
/* Journal replay: one stored offset. */
int bk_soffset_load(struct bk_broker *b, const void *key, uint32_t klen,
		    const void *val, uint32_t vlen);
/* A stream was deleted: forget its names (and their records). */
void bk_soffsets_drop(struct bk_broker *b, uint64_t jid);
void bk_soffsets_fini(struct bk_broker *b);
/* The table itself, for walks (bk_stream_view.c). */
struct bk_soffset *bk_soffsets_table(struct bk_soffsets *t);
/* Write every moved offset now (shutdown). */
void bk_soffsets_flush(struct bk_broker *b);

#endif
