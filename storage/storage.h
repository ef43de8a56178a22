/*
 * storage.h: the store-and-forward journal, the only storage header the
 * core includes.
 *
 * The journal keeps persistent messages of durable queues (and opaque
 * key/value records: the core's retained messages, one record per vhost
 * and routing key, and its one-time marks) in numbered segment files
 * under <data_dir>/journal/. It stores records,
 * not queues: a message is written ONCE with the queues it entered, and
 * everything that happens to it afterwards is a small record (ack, new
 * delivery count, queue deleted). The journal understands payloads only
 * as far as liveness needs: message id -> queues still holding it.
 *
 * Threads. Every function here runs on the main thread (the thread of the
 * event_base given to st_journal_open), and every callback is called on
 * it, from the event loop, never from inside an st_* call. Two private
 * journal threads do the write() + fdatasync() work: one writes while
 * the other's fdatasync is in flight and then starts its own, so a batch
 * is synced as soon as it is written, not once the sync before it
 * returns; batches still complete in sealing order (jnl_thread.c).
 *
 * Group commit. Appends only copy the encoded record into the open batch
 * (memory, no syscall). The first append of a loop iteration activates a
 * sealing event (event_active on a preallocated event, at the base's
 * lowest priority if the core set priorities up); when it runs, at the end
 * of the iteration's active callbacks, the batch is sealed and handed to
 * the journal thread, which writes it, fdatasyncs it, and wakes the main
 * loop through an eventfd; the completions registered in that batch then
 * run in registration order. One fdatasync covers every publish of the
 * iteration: that is what makes "fsync before every confirm" affordable.
 *
 * Failure. If a write or fdatasync fails (ENOSPC, EIO, ...), every
 * completion of that batch and of every batch sealed after it gets the
 * negative errno, nothing in them is reported durable, and the journal
 * enters the failed state: appends fail fast with the error until a retry
 * succeeds. Retry: every retry_ms the journal asks the thread to open a
 * fresh segment (create, write header, fdatasync file and directory); the
 * failed segment is never written again (after a failed fsync the page
 * cache no longer says what is on disk). When the probe succeeds, appends
 * resume into the new segment. Records of failed batches stay in the
 * liveness index (the core may keep the messages as unconfirmed and settle
 * them normally later), but their bodies cannot be read back.
 *
 * Numbers: ids are 64-bit and never reused. The core must give queues ids
 * that are never reused while the journal may hold records naming them
 * (a QUEUE-DROP settles every earlier record of that id).
 */
#ifndef SLUICE_STORAGE_H
#define SLUICE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct st_journal;

/* ------------------------------------------------------------------ */
/* Configuration ([journal] section)                                   */
/* ------------------------------------------------------------------ */

enum st_sync {
	ST_SYNC_BATCH = 0,   /* fdatasync every batch before its completions (default) */
	ST_SYNC_NONE  = 1,   /* write only: UNSAFE, a crash or power loss loses
				confirmed messages; for benchmarks only */
};

#define ST_SEGMENT_SIZE_DEFAULT   (64u << 20)
#define ST_SEGMENT_SIZE_MIN       (64u << 10)
#define ST_SEGMENT_SIZE_MAX       (1u << 30)
#define ST_MEM_BUDGET_DEFAULT     (256ull << 20)
#define ST_RECORD_MAX             (128u << 20)   /* largest encoded record */

struct st_journal_config {
	const char  *data_dir;        /* borrowed during open; segments go in data_dir/journal */
	enum st_sync sync;            /* `sync = batch | none` */
	uint32_t     segment_size;    /* `segment_size`, bytes; a new segment starts once
				         the active one would exceed it */
	uint64_t     mem_budget;      /* `memory_budget`: bytes of persistent bodies the
				         CORE keeps in RAM; the journal only carries the
				         value (policy is the core's, see st_journal_read_body) */
	uint32_t     compact_live_pct;/* compact an old segment whose live bytes are
				         below this percentage of its size (default 25) */
	uint32_t     retry_ms;        /* failed state: probe a new segment this often (1000) */
	bool         preallocate;     /* `preallocate`: start segments from a spare file of
				         zeros written ahead (jnl_prealloc.c; default on) */
	uint64_t     disk_free_limit; /* the spare is written only while this much stays
				         free beside two of it (the disk alarm's limit) */
};

/* Fill in the defaults; data_dir is set to NULL. */
void st_journal_config_init(struct st_journal_config *cfg);

/* ------------------------------------------------------------------ */
/* Records the core writes                                             */
/* ------------------------------------------------------------------ */

/* One queue a message entered, with its delivery count there. */
struct st_msg_queue {
	uint64_t queue_id;
	uint32_t delivery_count;
};

/*
 * A persistent message as the journal stores it. All pointers are
 * borrowed: on append they are copied into the batch before the call
 * returns; in a replay callback they point into a read buffer that is
 * valid only during the callback.
 */
struct st_msg {
	uint64_t id;                 /* broker-wide, increasing, never reused */
	uint64_t published_ms;
	int64_t  expires_ms;         /* absolute; 0 = none */
	uint32_t flags;              /* the core's bits, opaque here */
	const void *exchange;        uint16_t exchange_len;
	const void *routing_key;     uint16_t routing_key_len;  /* MQTT topics reach 65535 */
	const void *props;           uint32_t props_len;   /* the core's encoded properties */
	const void *body;            uint32_t body_len;
	const struct st_msg_queue *queues;   /* durable queues it entered (or, on replay,
						still holds), each once */
	uint16_t nqueues;            /* >= 1 */
};

/*
 * Where a record lies on disk. Positions move when compaction copies a
 * record, so the core should hold message ids and read bodies through
 * st_journal_read_body(); st_journal_msg_loc() is for diagnostics.
 */
struct st_loc {
	uint64_t segment;            /* segment number (file name) */
	uint32_t offset;             /* of the record header in the file */
	uint32_t length;             /* whole record, header included */
};

/*
 * Append a message (MSG record) entering msg->queues. Refuses with
 * -EINVAL (nqueues 0, or a queue listed twice), -EEXIST (id already live),
 * -EMSGSIZE (record > ST_RECORD_MAX), -EBUSY (during replay), or the
 * failed state's negative errno. Nothing is durable until a completion
 * registered after it reports 0.
 */
int st_journal_append_msg(struct st_journal *j, const struct st_msg *msg);

/*
 * Settle (ack, reject, drop, expire, dead-letter out of) msg_id in
 * queue_id. When the last queue holding a message is settled the journal
 * forgets it. -ENOENT (nothing written) if the journal has no live
 * (queue, msg) pair: the core may call this for every settlement.
 */
int st_journal_append_ack(struct st_journal *j, uint64_t queue_id, uint64_t msg_id);

/*
 * Record msg_id's new delivery count in queue_id (requeue, redelivery:
 * for x-delivery-limit and the redelivered flag). -ENOENT as above.
 */
int st_journal_append_count(struct st_journal *j, uint64_t queue_id,
			    uint64_t msg_id, uint32_t delivery_count);

/*
 * Queue queue_id was deleted (or purged): every message it holds is
 * settled there. Costs one pass over the live messages (queue deletes are
 * rare). Always written.
 */
int st_journal_append_queue_drop(struct st_journal *j, uint64_t queue_id);

/*
 * Opaque key/value records for the core's durable state outside queues:
 * today its retained messages (namespace 1, key "vhost\0routing key",
 * value drawn in broker/bk_retained_persist.c) and one-time marks
 * (namespace 2). ns is the core's namespace number. A later put of the
 * same (ns, key) replaces the earlier in place: the earlier record is
 * dead at once, its segment goes when nothing in it lives, and
 * compaction copies a live record forward out of a mostly dead segment.
 * del removes the key (-ENOENT, nothing written, if absent); replay hands
 * back the latest value of every live key. key_len <= 65535; the value
 * may be up to ST_RECORD_MAX with the key.
 */
int st_journal_put_kv(struct st_journal *j, uint16_t ns, const void *key,
		      uint32_t key_len, const void *val, uint32_t val_len);
int st_journal_del_kv(struct st_journal *j, uint16_t ns, const void *key,
		      uint32_t key_len);

/*
 * Completion. fn(arg, status) runs on the main thread once every record
 * appended BEFORE this call is durable (status 0) or could not be made
 * durable (negative errno). Completions run in registration order. Never
 * called from inside this call. While failed, returns the error and does
 * not register fn. A completion may append and register more.
 */
typedef void (*st_done_fn)(void *arg, int status);
int st_journal_when_durable(struct st_journal *j, st_done_fn fn, void *arg);

/*
 * Replace the file data_dir/name by data[0..len) with the open batch: the
 * journal thread writes it after the batch's records (a temporary file,
 * fsync, rename over name, fsync of the directory, so a crash leaves the
 * old or the new contents, never a mix) and before the batch's
 * completions run, so a completion registered after this call reports the
 * file written too (or, if that failed, its negative errno; the journal
 * itself stays writable). A second put of the same name into the same
 * batch replaces the first (one write). Takes data (bk_malloc'd) even on
 * failure. name is a plain file name. 0, or the error while failed.
 */
int st_journal_put_file(struct st_journal *j, const char *name, void *data, size_t len);

/* ------------------------------------------------------------------ */
/* Open, recovery, close                                               */
/* ------------------------------------------------------------------ */

/*
 * Open (creating data_dir/journal if missing) and scan every segment:
 * every CRC is checked, a torn tail in the last segment is truncated
 * (warning), a corrupt record elsewhere is reported and skipped (the scan
 * resynchronises on the next valid record). The liveness index is rebuilt
 * here. Refuses with -EPROTO (a file that is not a segment: bad magic) or
 * -EPROTONOSUPPORT (segment of another format version), leaving the files
 * untouched; other negative errno for I/O errors. Starts the journal
 * thread. *out is owned by the caller (st_journal_close).
 */
int st_journal_open(const struct st_journal_config *cfg, struct event_base *base,
		    struct st_journal **out);

/*
 * Replay what survived, once, after open and before the first append
 * (afterwards -EALREADY). kv(): the latest value of every live key, in log
 * order. msg(): every message some queue still holds, in ascending id
 * order (publish order, even for records compaction has moved), with
 * only the queues still holding it and their latest delivery counts. The
 * pointers are valid during the callback only. A callback returns 0 to go
 * on or a negative errno to stop the replay with it; it must not call any
 * st_journal_append_* (they return -EBUSY). Synchronous.
 */
struct st_replay_ops {
	int (*kv)(void *arg, uint16_t ns, const void *key, uint32_t key_len,
		  const void *val, uint32_t val_len);            /* may be NULL */
	int (*msg)(void *arg, const struct st_msg *msg);         /* may be NULL */
};
int st_journal_replay(struct st_journal *j, const struct st_replay_ops *ops, void *arg);

/* Highest message id the scan saw (0 if none): start the core's ids above it. */
uint64_t st_journal_max_msg_id(const struct st_journal *j);

/*
 * Seal the open batch, wait for the thread to finish every batch, run the
 * outstanding completions (0 or the error), stop the thread and free.
 * Blocks. Accepts NULL. Not from inside a journal callback.
 */
void st_journal_close(struct st_journal *j);

/* ------------------------------------------------------------------ */
/* Backlogs bigger than memory                                         */
/* ------------------------------------------------------------------ */

/*
 * Copy msg_id's body into buf (the core knows body_len). The read is a
 * pread() on the main thread: a page-cache hit costs a few microseconds,
 * less than a round trip to the journal thread, and keeps the body path
 * synchronous; a miss blocks the loop for one disk read, so the core
 * should page bodies back in ahead of consumers, a batch at a time. The
 * whole record's CRC is checked. Records not yet written (open or
 * in-flight batch) are served from memory. Returns the body length, or
 * -ENOENT (not live), -EMSGSIZE (buf too small), -EIO (CRC mismatch, or
 * the record was in a failed batch), or a pread errno.
 */
long st_journal_read_body(struct st_journal *j, uint64_t msg_id, void *buf, size_t len);

/* Where msg_id's record currently is: 0 or -ENOENT. */
int st_journal_msg_loc(const struct st_journal *j, uint64_t msg_id, struct st_loc *loc);

/* ------------------------------------------------------------------ */
/* Streams: append-only logs with offsets (strm_*.c)                   */
/* ------------------------------------------------------------------ */

/*
 * A stream is an append-only log in its own segment files under
 * <data_dir>/streams/<id>/ (formats drawn in strm_int.h). Records get
 * consecutive offsets from 0; reading never removes anything; retention
 * deletes whole segments, oldest first. Appends are copied into the
 * stream's open chunk (memory); the chunk is written with the journal's
 * batch of the same loop iteration, so a completion registered with
 * st_journal_when_durable after an append reports that append durable too.
 * Same threading rules as the journal: main thread only.
 */
struct st_stream;
struct st_sreader;

struct st_stream_config {
	uint64_t max_segment_bytes;  /* a new segment starts past this; 0 = 500 MB */
	uint16_t filter_bytes;       /* Bloom filter per chunk, 16..255; 0 = 16 */
	bool compact;                /* keep the newest record per key (st_stream_compact) */
};

/* The stream's committed offset grew (status 0: st_stream_info's
 * committed tells how far) or a chunk could not be written (status < 0:
 * the stream refuses appends from now on, until a restart recovers it). */
typedef void (*st_stream_fn)(void *arg, int status);

/*
 * Open (creating it if absent) stream id of journal j and recover it:
 * every segment's index is checked against the segment, missing index
 * entries are rebuilt, a torn last chunk is cut off. fn(arg, status) is
 * called from the event loop whenever committed grows. 0 or a negative
 * errno (-EPROTO: a file in the directory is not a stream segment).
 */
int st_stream_open(struct st_journal *j, uint64_t id, const struct st_stream_config *cfg,
		   st_stream_fn fn, void *arg, struct st_stream **out);
/* Forget s (the files stay). Accepts NULL. No more fn calls. */
void st_stream_close(struct st_stream *s);
/* Delete s and its files (once its in-flight chunks completed). No more
 * fn calls. Accepts NULL. */
void st_stream_destroy(struct st_stream *s);

struct st_stream_rec {
	const void *payload;         /* opaque to storage */
	uint32_t len;
	/* Instead of payload: fill writes the len payload octets straight
	 * into the open chunk (the caller encodes in place, nothing copied). */
	void (*fill)(void *arg, uint8_t *dst);
	void *fill_arg;
	uint64_t ts_ms;              /* wall clock; a chunk keeps its first one */
	const void *filter;          /* filter value for the chunk's Bloom filter */
	uint16_t filter_len;
	bool has_filter;
	const void *key;             /* compaction key, may be NULL */
	uint16_t klen;
	bool tombstone;              /* deletes key on compaction */
};

/* Append one record: *offset is its offset. -EMSGSIZE (too big), or the
 * stream's or journal's failure errno. */
int st_stream_append(struct st_stream *s, const struct st_stream_rec *r, uint64_t *offset);

struct st_stream_info {
	uint64_t first;              /* oldest offset still kept */
	uint64_t next;               /* offset the next append gets */
	uint64_t committed;          /* offsets below are durable and readable */
	uint64_t bytes;              /* on disk */
	uint64_t segments;
	uint64_t first_ts;           /* ms of the oldest chunk; 0 if empty */
	uint64_t compactions;        /* segments compacted since open */
	uint64_t compacted_records;  /* records removed by compaction */
	int failed;
};
void st_stream_info_get(const struct st_stream *s, struct st_stream_info *i);

/*
 * Retention: delete the oldest segments (never the one being written)
 * while the stream is bigger than max_bytes (0 = no limit) or a
 * segment's newest chunk is older than max_age_ms (0 = no limit) at
 * now_ms. Returns the segments deleted.
 */
int st_stream_retain(struct st_stream *s, uint64_t max_bytes, uint64_t max_age_ms,
		     uint64_t now_ms);

/*
 * Compaction (cfg.compact): every sealed segment is rewritten by the
 * journal thread keeping, per key, only the record (or tombstone) with
 * the newest offset in the whole stream, plus every record without a
 * key. Surviving records keep their offsets; readers positioned in a
 * rewritten segment find their offset again. Runs by itself when a
 * segment is sealed and half the stream's bytes came since the last
 * pass (strm_compact_due); this call asks for it now. Returns the
 * segments handed to the thread.
 */
int st_stream_compact(struct st_stream *s);

/* Readers: one cursor per consumer. */
enum st_seek { ST_SEEK_FIRST, ST_SEEK_LAST, ST_SEEK_NEXT, ST_SEEK_OFFSET, ST_SEEK_TIME };
/* value: the offset (OFFSET, clamped to what is kept) or ms (TIME: the
 * first chunk stamped at or after it). Never NULL. */
struct st_sreader *st_sreader_new(struct st_stream *s, enum st_seek how, uint64_t value);
void st_sreader_free(struct st_sreader *r);
/* Skip chunks whose Bloom filter rules out every hash (strm_filter_hash
 * of the values wanted), unless match_unfiltered and the chunk holds a
 * record without a filter value. n = 0: no filtering. Copies hashes. */
void st_sreader_filter(struct st_sreader *r, const uint64_t *hashes, size_t n,
		       bool match_unfiltered);
uint64_t st_stream_filter_hash(const void *v, size_t n);

struct st_stream_view {
	uint64_t offset;
	uint64_t ts_ms;              /* the chunk's */
	const void *payload;         /* valid until the next call on r */
	uint32_t len;
	bool tombstone;
};
/* 1 = next committed record in v, 0 = none yet, negative errno = read
 * error (-EIO: a chunk failed its CRC). */
int st_sreader_next(struct st_sreader *r, struct st_stream_view *v);
/* The caller is done with the last view: once its chunk is read to the
 * end, a large chunk buffer is freed (a reader waiting for credit or for
 * the next publish would otherwise hold it: one per stream consumer). */
void st_sreader_done(struct st_sreader *r);
/* The offset the next record read will have at least. */
uint64_t st_sreader_offset(const struct st_sreader *r);
/* Timestamp (ms) of the chunk holding offset; 0 if it is not kept. */
uint64_t st_stream_offset_ts(struct st_stream *s, uint64_t offset);

/* ------------------------------------------------------------------ */
/* Replication (cluster/): the journal's batches leave for followers   */
/* ------------------------------------------------------------------ */

/*
 * A follower's data directory is a byte-for-byte copy of the leader's,
 * kept by replaying, in the leader's order, every change the journal
 * makes to a file there. Those changes are few and physical, whatever
 * the records mean (messages, acks, queue drops, retained messages, stream
 * chunks, the definitions file), so a record kind added later rides along
 * without a change here:
 *
 *   WRITE    data at off of path; the file (and its directories) is
 *            created when missing; with trunc it is emptied first
 *   REPLACE  path becomes data, atomically (temporary file, rename)
 *   UNLINK   path goes (already gone is fine)
 *   RMDIR    the empty directory path goes
 *   TRUNCATE path is cut (or grown with zeros) to off bytes
 *   COMPACT  the stream segment path ("streams/<id>/<first>.seg", first =
 *            off) is rewritten, with its index, without the records whose
 *            bit is set in data (bit i, byte i / 8, lowest bit first:
 *            offset off + i): the leader's compaction of that segment,
 *            redone by the follower on its identical copy, so both end
 *            with the same bytes without the segment crossing the wire
 *
 * Paths are relative to data_dir ("journal/00000000000000000007.seg",
 * "definitions.json", "streams/<id>/<first>.seg"). Every file under
 * data_dir belongs to the copy except *.tmp and ST_REPL_LOCAL (the node's
 * own cluster identity). Anything that changes a file under data_dir
 * outside the journal thread's batches must say so with the journal's
 * note function (jnl_repl_note, storage-internal), or followers drift.
 */
enum st_repl_kind {
	ST_REPL_WRITE = 1,
	ST_REPL_REPLACE = 2,
	ST_REPL_UNLINK = 3,
	ST_REPL_RMDIR = 4,
	ST_REPL_TRUNCATE = 5,
	ST_REPL_COMPACT = 6,
};

#define ST_REPL_LOCAL "cluster.node"

struct st_repl_op {
	uint8_t kind;                /* enum st_repl_kind */
	bool trunc;                  /* WRITE: empty the file first */
	const char *path;            /* relative to data_dir, checked by st_repl_path_ok */
	uint64_t off;                /* WRITE: where; TRUNCATE: the new size */
	const void *data;            /* WRITE, REPLACE; COMPACT: the removed offsets */
	size_t len;
};

/* One sealed batch: its operations in the order the journal thread
 * performs them. */
struct st_repl_batch {
	uint64_t seq;                /* 1, 2, ... in sealing order, per open */
	uint32_t records;            /* journal records in it */
	uint64_t bytes;              /* data bytes of its operations */
	const struct st_repl_op *ops;
	size_t nops;
};

struct st_repl_ops {
	/* A batch was sealed (end of a loop iteration), before the journal
	 * thread writes it. Everything in b is borrowed for the call. */
	void (*sealed)(void *arg, const struct st_repl_batch *b);
	/* The journal thread is done with batch seq (status 0: written, and
	 * fdatasynced unless sync = none; else the negative errno). In seq
	 * order, from the event loop. */
	void (*written)(void *arg, uint64_t seq, int status);
};

/*
 * Replicate from now on: every sealed batch goes to ops->sealed, and a
 * batch completes (its st_journal_when_durable callbacks: confirms,
 * -oks, HTTP 2xx) only once it is written here AND released with
 * st_journal_repl_release. Without attach (a single node) nothing of
 * this runs. ops and arg are borrowed until the journal closes.
 * Closing the journal releases whatever is held.
 */
void st_journal_repl_attach(struct st_journal *j, const struct st_repl_ops *ops, void *arg);
/* Batches up to seq may complete; they do from the event loop, soon
 * (never inside this call). */
void st_journal_repl_release(struct st_journal *j, uint64_t seq);
/* seq of the last sealed batch (0 before the first). */
uint64_t st_journal_repl_sealed(const struct st_journal *j);
/* Has the journal thread written every batch up to seq, and every batch
 * sealed before the attach (those have no seq and no written call)?
 * Files read after that hold them. */
bool st_journal_repl_written(const struct st_journal *j, uint64_t seq);

/* CRC-32C (Castagnoli) of p[0..n), continuing from crc (0 to start): the
 * journal's record checksum, and the full copy's file checksum. Pure. */
uint32_t st_crc32c(uint32_t crc, const void *p, size_t n);

/* path is relative, has no "." or ".." component, no empty component, no
 * control character, and is at most ST_REPL_PATH_MAX bytes. Pure. */
#define ST_REPL_PATH_MAX 255
bool st_repl_path_ok(const char *path, size_t len);

/*
 * Every file of data_dir that belongs to the copy (see above), with its
 * size: fn(arg, path, size) for each, in no particular order; fn returns
 * 0 to go on or a negative errno to stop (returned). Subdirectories are
 * walked to a depth of 3. Uses malloc, not bk_malloc: any thread.
 */
typedef int (*st_repl_file_fn)(void *arg, const char *path, uint64_t size);
int st_repl_files(const char *data_dir, st_repl_file_fn fn, void *arg);

/*
 * The follower's side: apply operations to a data directory. Everything
 * here runs on ONE thread of the caller's choosing (not necessarily the
 * main thread: it allocates with malloc and calls no bk_* function but
 * logging). Writes are not durable until st_mirror_sync.
 */
struct st_mirror;
/* data_dir must exist. sync false: st_mirror_sync writes nothing out
 * (journal.sync = none). 0 or negative errno. */
int st_mirror_open(const char *data_dir, bool sync, struct st_mirror **out);
/* 0, -EINVAL (a path st_repl_path_ok refuses, an unknown kind) or the
 * file system's negative errno. */
int st_mirror_apply(struct st_mirror *m, const struct st_repl_op *op);
/* fdatasync every file written since the last sync and fsync every
 * directory whose entries changed. 0 or the first negative errno. */
int st_mirror_sync(struct st_mirror *m);
void st_mirror_close(struct st_mirror *m);     /* accepts NULL; closes, no sync */

/* ------------------------------------------------------------------ */
/* Observability, disk                                                 */
/* ------------------------------------------------------------------ */

/*
 * fdatasync latency histogram: upper bounds of its buckets in
 * microseconds (Prometheus' le, ascending; +Inf is the count).
 */
#define ST_FSYNC_BUCKETS 14
extern const uint32_t st_fsync_bounds_us[ST_FSYNC_BUCKETS];

struct st_journal_stats {
	uint64_t segments;          /* files in the journal */
	uint64_t disk_bytes;        /* their total size, with the unwritten rest of
				       the active one and the spare (jnl_prealloc.c) */
	uint64_t live_bytes;        /* bytes of records still needed */
	uint64_t live_msgs;
	uint64_t live_kvs;
	uint64_t records;           /* appended since open */
	uint64_t batches;           /* written since open */
	uint64_t syncs;             /* fdatasync calls since open */
	uint64_t compacted_records; /* copied by compaction since open */
	uint64_t deleted_segments;  /* since open */
	int      failed;            /* 0, or the negative errno of the failed state */
	/* fdatasync latency, measured on the journal thread (every segment
	 * and batch sync since open) */
	uint64_t fsync_bucket[ST_FSYNC_BUCKETS];   /* cumulative: took <= bound */
	uint64_t fsync_count;
	uint64_t fsync_ns;          /* total time */
};
void st_journal_stats_get(const struct st_journal *j, struct st_journal_stats *s);

/*
 * Free and total bytes of the file system holding path (statvfs; free is
 * what an unprivileged process may use). 0 or negative errno. For the
 * core's disk alarm.
 */
int st_disk_space(const char *path, uint64_t *free_bytes, uint64_t *total_bytes);

/* ------------------------------------------------------------------ */
/* Testing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Make the journal thread fail the next n batch writes (or segment
 * probes) with err (a negative errno) as if write() had; n = 0 clears.
 */
void st_journal_inject_failure(struct st_journal *j, int err, int n);
/* The same for the next n fdatasyncs that make records durable (a pass's
 * own sync, which may overlap the next pass's writes and sync). */
void st_journal_inject_sync_failure(struct st_journal *j, int err, int n);

#endif
