/*
 * jnl_int.h: contract between the journal's files (codec, segments, index,
 * writer, recovery, compaction). Nothing outside storage/ includes it,
 * except the unit tests and the fuzz target.
 *
 * Threads: everything here is main-thread state except the fields of
 * struct jnl_writer (jnl_writer_int.h) marked for the journal threads'
 * turns, the atomics, and the lists marked [lock], guarded by
 * jnl_writer.lock.
 */
#ifndef SLUICE_JNL_INT_H
#define SLUICE_JNL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

/* ------------------------------------------------------------------ */
/* On-disk format (jnl_record.c)                                       */
/* ------------------------------------------------------------------ */

/*
 * Segment file <data_dir>/journal/%020llu.seg, all integers little-endian:
 *
 *   +---------------------------------------------------------------+
 *   | magic "SLUICEJL" (8)                                          |
 *   +---------------+---------------+-------------------------------+
 *   | version u32=2 | hdr_len u32=32| segment number u64            |
 *   +---------------+---------------+-------------------------------+
 *   | key u32 (random, per segment) | crc32c u32 of bytes 0..27     |
 *   +---------------------------------------------------------------+
 *   | record | record | ...                                         |
 *
 * Record (no padding, records follow each other):
 *
 *   +------------+------------+---------+------------+--------------------+
 *   | length u32 | crc32c u32 | type u8 | hcrc u32   | payload (length)   |
 *   +------------+------------+---------+------------+--------------------+
 *     crc32c: CRC-32C over type + payload, started from the segment key
 *     hcrc:   CRC-32C over the 9 octets before it, started from the key
 *
 * Why the key. Message bodies are written into the log as they came from
 * clients, so a body can hold bytes laid out exactly like a record. Were
 * the CRCs plain, a client could plant a record (a message for another
 * queue, a key/value) that recovery would read as genuine once it scans
 * past a damaged record. The key is drawn from getrandom() for each new
 * segment and never leaves the file, so bytes a client wrote check with
 * probability 2^-32. hcrc lets a scan test a candidate header in O(1),
 * so resynchronisation is linear in the segment and never gives up.
 *
 * Recovery, case by case (jnl_scan, jnl_recover.c):
 *
 *   good record            hcrc and crc32c match: applied, scan goes on
 *   damaged payload        hcrc matches, crc32c does not: the header is
 *   [hdr ok|xxxxxxxx]      genuine, so its length is too: that one record
 *                          is skipped (counted, logged) and the scan goes
 *                          on right after it
 *   damaged header         hcrc does not match: the scan moves one octet
 *   [xxx|.........][hdr]   at a time, testing hcrc at each offset, until
 *                          a whole record checks; everything between is
 *                          a corrupt stretch (counted, logged, left in the
 *                          file). Bytes inside a message body are passed
 *                          over like any others: they cannot check.
 *   no record follows      a torn tail (a write cut short): in the last
 *   [good][good][xxxx]EOF  segment it is truncated after the last good
 *                          record; in an older segment it is skipped.
 *                          Only then is anything cut, and nothing found
 *                          valid after a damaged region is ever dropped:
 *                          there is no scan budget that could run out.
 *   only zeros follow      the unwritten rest of a segment started from
 *   [good][good][0000]EOF  the spare (jnl_prealloc.c): its end, not
 *                          damage; cut off in the last segment. A damaged
 *                          record with only zeros after it is a torn tail.
 *                          Runs of zeros are stepped over in one go when
 *                          resynchronising (a header of zeros is type 0).
 *   header of zeros        a segment created from the spare on a follower
 *                          (header write and growth reach the disk in
 *                          either order): its creation was cut short, it
 *                          is removed like a file shorter than its header
 *   other format version   the journal refuses to open (nothing touched)
 *
 * MSG payload (44 fixed bytes, then the variable parts in this order, the
 * body last so it is one contiguous range of the file):
 *
 *   +----------+----------------+--------------+----------+
 *   | id u64   | published u64  | expires i64  | flags u32|
 *   +----------+----------------+--------------+----------+
 *   | nq u16 | exch_len u16 | rkey_len u16 | 0 u16 | props_len u32 | body_len u32 |
 *   +--------------------------------------------------------------------+
 *   | nq x { queue id u64, delivery count u32 } | exchange | rkey | props | body |
 *   +--------------------------------------------------------------------+
 *
 * ACK   payload: queue id u64, msg id u64                   (16 bytes)
 * COUNT payload: queue id u64, msg id u64, count u32        (20 bytes)
 * QDROP payload: queue id u64                               (8 bytes)
 * KV    payload: ns u16, key_len u16, key, value
 * KVDEL payload: ns u16, key_len u16, key
 */
#define JNL_MAGIC          "SLUICEJL"
#define JNL_VERSION        2u
#define JNL_SEG_HDR        32u
#define JNL_REC_HDR        13u
#define JNL_MSG_FIXED      44u
#define JNL_MSG_QSIZE      12u

enum jnl_type {
	JNL_T_MSG   = 1,
	JNL_T_ACK   = 2,
	JNL_T_COUNT = 3,
	JNL_T_QDROP = 4,
	JNL_T_KV    = 5,
	JNL_T_KVDEL = 6,
};

struct jnl_rec {
	uint8_t        type;
	uint32_t       len;        /* payload bytes */
	const uint8_t *payload;    /* borrowed from the scanned buffer */
};

/* Decoded forms; pointers borrow from the payload. */
struct jnl_msg_view {
	struct st_msg  m;          /* m.queues is NULL: use jnl_msg_queue_at() */
	const uint8_t *qraw;       /* nq x 12 bytes */
};
struct jnl_ref {               /* ACK, COUNT, QDROP */
	uint64_t queue_id, msg_id;
	uint32_t count;
};
struct jnl_kv_view {
	uint16_t ns;
	uint16_t key_len;
	const uint8_t *key;
	uint32_t val_len;
	const uint8_t *val;
};

static inline uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ld32(const uint8_t *p)
{ return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static inline void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void st32(uint8_t *p, uint32_t v)
{ p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static inline void st64(uint8_t *p, uint64_t v) { st32(p, (uint32_t)v); st32(p + 4, (uint32_t)(v >> 32)); }

void jnl_seg_header_encode(uint8_t out[JNL_SEG_HDR], uint64_t segno, uint32_t key);
/* 0, -EPROTO (not a segment), -EPROTONOSUPPORT (other version). */
int  jnl_seg_header_check(const uint8_t *p, size_t len, uint64_t *segno, uint32_t *key);
/* A fresh segment key from getrandom() (never 0). */
uint32_t jnl_seg_key_new(void);

/* Encoded sizes (header included); 0 if it would exceed ST_RECORD_MAX. */
size_t jnl_msg_size(const struct st_msg *m);
size_t jnl_kv_size(uint32_t key_len, uint32_t val_len);
/* Encoders write a whole record (header + payload) at out, checked with
 * the key of the segment it goes to. */
void jnl_encode_msg(uint8_t *out, const struct st_msg *m, uint32_t key);
size_t jnl_encode_ref(uint8_t *out, enum jnl_type t, const struct jnl_ref *r,
		      uint32_t key);
void jnl_encode_kv(uint8_t *out, uint16_t ns, const void *k, uint16_t k_len,
		   const void *val, uint32_t val_len, bool del, uint32_t key);

/*
 * One record at p, checked with the segment key: 1 = whole record, both
 * CRCs good (r filled, it takes JNL_REC_HDR + r->len bytes); 0 =
 * truncated (a genuine header whose payload runs past avail, or fewer than
 * JNL_REC_HDR bytes); -EBADMSG = genuine header (hcrc, type and length
 * good; r->len set) but damaged payload; -EPROTO = no record header here.
 * Never reads past avail.
 */
int jnl_rec_parse(const uint8_t *p, size_t avail, uint32_t key, struct jnl_rec *r);

/* Payload decoders: 0 or -EPROTO when the payload is inconsistent. */
int jnl_decode_msg(const struct jnl_rec *r, struct jnl_msg_view *v);
void jnl_msg_queue_at(const struct jnl_msg_view *v, uint16_t i, struct st_msg_queue *q);
int jnl_decode_ref(const struct jnl_rec *r, struct jnl_ref *out);
int jnl_decode_kv(const struct jnl_rec *r, struct jnl_kv_view *v);

/*
 * Scan a segment body checked with key: fn(arg, offset, rec) for every
 * valid record in order (offset relative to p). Damage is handled as the
 * drawing above says: a record with a genuine header and a bad payload is
 * skipped by its length, anything else by resynchronising on the next
 * offset where a whole record checks. fn returns 0 or a negative errno
 * that stops the scan (returned). Pure over bytes; linear in len.
 */
struct jnl_scan_res {
	size_t   valid_end;     /* end of the last valid record */
	uint32_t records;
	uint32_t bad_records;   /* genuine headers with a damaged payload */
	uint32_t bad_regions;   /* corrupt stretches followed by a valid record */
	size_t   first_bad;     /* offset of the first damage of either kind */
	size_t   skipped;       /* bytes in those records and stretches */
	bool     torn;          /* bytes after valid_end that hold no record */
	bool     zero_tail;     /* only zeros after valid_end (preallocated, unwritten) */
};
typedef int (*jnl_scan_fn)(void *arg, size_t off, const struct jnl_rec *r);
int jnl_scan(const uint8_t *p, size_t len, uint32_t key, jnl_scan_fn fn, void *arg,
	     struct jnl_scan_res *res);

/* ------------------------------------------------------------------ */
/* Live records and segments (jnl_index.c, jnl_segment.c)              */
/* ------------------------------------------------------------------ */

enum { JNL_LIVE_MSG = 1, JNL_LIVE_KV = 2 };

/* Head shared by live messages and live key/values. */
struct jnl_live {
	uint64_t key;              /* msg id, or hash of (ns, key): the index key */
	uint64_t seg;              /* record position */
	uint32_t off, len;
	struct jnl_live *prev, *next;   /* in seg's live list, borrowed links */
	uint8_t  kind;             /* JNL_LIVE_* */
	bool     pend;             /* a compaction copy is in flight (pseg/poff/plen) */
	bool     dead;             /* settled while pend: the copy's completion frees it */
	uint64_t pseg;
	uint32_t poff, plen;
};

struct jnl_qslot {
	uint64_t queue_id;
	uint32_t count;
	uint32_t live;             /* 1 while the queue holds the message */
};

struct jnl_msg {
	struct jnl_live l;         /* l.key = id */
	uint16_t nq, nlive;
	struct jnl_qslot q[];
};

struct jnl_kv {
	struct jnl_live l;         /* l.key = hash */
	uint16_t ns, key_len;
	uint8_t  key[];
};

/* Open addressing (linear probing, backward-shift delete) of entries. */
struct jnl_tab {
	struct jnl_live **slot;    /* owned array; entries borrowed */
	size_t cap, n;             /* cap a power of two */
};

struct jnl_seg {
	uint64_t no;
	uint32_t key;              /* the header's key: every record checks with it */
	uint64_t size;             /* bytes appended (header included) */
	uint64_t live_bytes;
	uint32_t nlive;
	uint32_t inflight;         /* sealed batches writing here, not completed */
	struct jnl_live *head, *tail;   /* live records, owned by the index */
	uint64_t *deps;            /* owned: segments this one must outlive */
	uint32_t ndeps, depcap;
	int      rfd;              /* main-thread read fd, -1 until needed */
	bool     failed;           /* a write here failed: never written again */
	bool     deleting;         /* unlink requested in a sealed batch */
	uint32_t spare_len;        /* started from the spare, this long: its file
				      is longer than its records until rolled */
};

struct jnl_batch;

/* jnl_fsync.c: fdatasync latency. Buckets per bound (not cumulative),
 * the last one past every bound; updated with relaxed atomics by the
 * journal thread, read by the main thread. */
struct jnl_fsync_hist {
	uint64_t bucket[ST_FSYNC_BUCKETS + 1];
	uint64_t ns;
};

struct st_journal {
	struct st_journal_config cfg;
	char    *dir;              /* owned: data_dir/journal */
	int      dirfd;
	int      ddirfd;           /* data_dir itself (st_journal_put_file) */
	struct event_base *base;   /* borrowed */

	/* index */
	struct jnl_tab msgs, kvs;
	uint64_t live_msgs, live_kvs, max_msg_id;

	/* segments: segs[no - seg_first], NULL once deleted */
	struct jnl_seg **segs;
	uint64_t seg_first;
	size_t   nsegs, segcap;
	struct jnl_seg *active;    /* NULL while failed or before the first append */
	uint64_t next_seg;         /* number the next new segment gets */
	bool     gc_dirty;         /* something may have become deletable/compactable */
	uint64_t compact_seg;      /* 0 = none */

	/* writer */
	struct jnl_batch *open;    /* owned */
	struct jnl_batch *inflight_head, *inflight_tail;   /* sealed, main-thread order */
	struct jnl_batch *spare;   /* free list */
	struct event *seal_ev, *done_ev, *retry_ev;
	bool     seal_armed;
	int      failed;           /* 0 or negative errno */
	int      state;            /* JNL_S_* */
	struct jnl_writer *w;      /* owned */

	/* reads */
	uint8_t *scratch;          /* owned */
	size_t   scratch_cap;

	struct st_journal_stats st;
	struct jnl_fsync_hist fsync;   /* written by the journal thread */

	/* streams (strm_*.c): those with an open chunk, flushed into the
	 * batch at seal; ids for the files they create */
	struct st_stream *streams_dirty;   /* borrowed list via seal_next */
	uint64_t next_file_id;

	/* replication (jnl_repl.c): repl NULL = one node, nothing held */
	const struct st_repl_ops *repl;    /* borrowed */
	void *repl_arg;
	uint64_t repl_seq;         /* seq of the last sealed batch */
	uint64_t repl_released;    /* batches up to here may complete */
	struct event *release_ev;  /* owned: completes what a release freed */
	struct st_repl_op *rops;   /* owned scratch: one seal's operations */
	size_t rcap;
	char (*rpaths)[40];        /* owned scratch: their segment paths */
	size_t rpcap;
};

enum { JNL_S_OPENED, JNL_S_REPLAYING, JNL_S_READY };

/* jnl_fsync.c: fdatasync(fd) timed into h: 0 or -errno. No allocation, no lock. */
int  jnl_fsync_timed(struct jnl_fsync_hist *h, int fd);
/* h into s's cumulative fsync_* fields. */
void jnl_fsync_read(const struct jnl_fsync_hist *h, struct st_journal_stats *s);

/* jnl_segment.c */
struct jnl_seg *jnl_seg_get(const struct st_journal *j, uint64_t no);
struct jnl_seg *jnl_seg_add(struct st_journal *j, uint64_t no);
void jnl_seg_forget(struct st_journal *j, struct jnl_seg *s);
void jnl_seg_dep_add(struct jnl_seg *s, uint64_t target);
bool jnl_seg_deps_gone(const struct st_journal *j, struct jnl_seg *s);
void jnl_seg_name(char out[32], uint64_t no);
int  jnl_seg_list(int dirfd, uint64_t **nos, size_t *n);
int  jnl_seg_read_fd(struct st_journal *j, struct jnl_seg *s);
int  jnl_read_full(int fd, uint8_t *buf, size_t len, uint64_t off);
int  jnl_write_full(int fd, const void *buf, size_t len, uint64_t off);

/* jnl_index.c: the liveness index; `cur` is the segment the record that
 * causes the change lives in (its dependencies are recorded there). */
void jnl_tab_fini(struct jnl_tab *t);
struct jnl_msg *jnl_msg_find(const struct st_journal *j, uint64_t id);
struct jnl_kv *jnl_kv_find(const struct st_journal *j, uint16_t ns, const void *key, uint16_t klen);
uint64_t jnl_kv_hash(uint16_t ns, const void *key, uint16_t klen);
void jnl_live_link(struct st_journal *j, struct jnl_live *e, uint64_t seg, uint32_t off, uint32_t len);
void jnl_live_unlink(struct st_journal *j, struct jnl_live *e);
int  jnl_index_msg(struct st_journal *j, const struct jnl_msg_view *v,
		   uint64_t seg, uint32_t off, uint32_t len, bool replace);
int  jnl_index_ack(struct st_journal *j, struct jnl_seg *cur, uint64_t qid, uint64_t mid);
int  jnl_index_count(struct st_journal *j, struct jnl_seg *cur, uint64_t qid, uint64_t mid, uint32_t n);
void jnl_index_qdrop(struct st_journal *j, struct jnl_seg *cur, uint64_t qid);
void jnl_index_kv(struct st_journal *j, struct jnl_seg *cur, const struct jnl_kv_view *v,
		  bool del, uint32_t off, uint32_t len);
void jnl_live_free(struct st_journal *j, struct jnl_live *e);
void jnl_index_fini(struct st_journal *j);

/* jnl_writer.c */
int  jnl_writer_start(struct st_journal *j);
void jnl_writer_stop(struct st_journal *j);
/* Room for n record bytes in the open batch (rolling the segment over
 * when needed): the pointer to write at, the record's position and the
 * key of the segment it goes to. */
uint8_t *jnl_reserve(struct st_journal *j, size_t n, uint64_t *seg, uint32_t *off,
		     uint32_t *key);
void jnl_batch_add_copy(struct st_journal *j, struct jnl_live *e);
void jnl_batch_add_delete(struct st_journal *j, struct jnl_seg *s);
const uint8_t *jnl_batch_lookup(const struct st_journal *j, uint64_t seg, uint32_t off, uint32_t len);

/* jnl_writer.c: make sure the open batch gets sealed this iteration. */
void jnl_arm(struct st_journal *j);
/* jnl_writer.c: complete the written batches at the head of the
 * in-flight list that replication does not hold back. */
void jnl_complete_ready(struct st_journal *j);
/* jnl_fwrite.c: hand every stream's open chunk to the open batch. */
void jnl_streams_flush(struct st_journal *j);

/* jnl_compact.c */
void jnl_gc(struct st_journal *j);            /* schedule deletions, run a compaction step */
void jnl_copy_done(struct st_journal *j, struct jnl_live *e, int status);

/* jnl_repl.c: a change to a file under data_dir made outside the
 * journal thread (a stream segment unlinked on the main thread) joins
 * the open batch's operations for followers; nothing when not
 * replicating. path is relative to data_dir. */
void jnl_repl_note(struct st_journal *j, enum st_repl_kind kind, const char *path);
/* The same with an offset and data (taken: freed with the note, or at
 * once when nothing replicates). */
void jnl_repl_note_take(struct st_journal *j, enum st_repl_kind kind, const char *path,
			uint64_t off, uint8_t *data, size_t len);
/* Free the scratch and the release event (journal close). */
void jnl_repl_fini(struct st_journal *j);

/* jnl_recover.c */
int  jnl_recover(struct st_journal *j);
/* Whole record at (seg, off, len) checked, into j->scratch or a batch. */
int  jnl_read_record(struct st_journal *j, uint64_t seg, uint32_t off, uint32_t len,
		     struct jnl_rec *r);

#endif
