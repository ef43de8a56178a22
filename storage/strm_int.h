/*
 * strm_int.h: contract between the stream log's files (format, log,
 * reader, compaction). Nothing outside storage/ includes it, except the
 * unit tests.
 *
 * A stream is an append-only log of records with consecutive offsets
 * (0, 1, 2, ...), kept in its own directory, separate from the journal:
 *
 *   <data_dir>/streams/<id as 16 hex digits>/
 *       00000000000000000000.seg   segment: chunks, named by first offset
 *       00000000000000000000.idx   its index: one entry per chunk
 *       00000000000000004711.seg   ...
 *
 * Segment file, all integers little-endian:
 *
 *   +---------------------------------------------------------------+
 *   | magic "SLUICEST" (8)                                          |
 *   +---------------+---------------+-------------------------------+
 *   | version u32=1 | hdr_len u32=32| first offset u64              |
 *   +---------------+---------------+-------------------------------+
 *   | key u32 (random, per segment) | crc32c u32 of bytes 0..27     |
 *   +---------------------------------------------------------------+
 *   | chunk | chunk | ...                                           |
 *
 * Chunk: what one loop iteration appended to the stream (group commit),
 * written with one pwrite, durable before any publisher hears of it:
 *
 *   +------------+---------------+-----------+-----------+---------------+
 *   | magic u32  | first off u64 | span u32  | nrec u32  | timestamp u64 |
 *   +------------+---------------+-----------+-----------+---------------+
 *   | data_len u32 | filter_len u16 | flags u16 | dcrc u32 | hcrc u32    |
 *   +--------------------------------------------------------------------+
 *   | filter (filter_len: Bloom filter of the records' filter values)    |
 *   +--------------------------------------------------------------------+
 *   | record | record | ... (data_len)                                  |
 *   +--------------------------------------------------------------------+
 *     span:   offsets the chunk covers (first .. first + span - 1); after
 *             compaction nrec < span, the survivors keep their offsets
 *     flags:  STRM_CF_UNFILTERED: a record without a filter value
 *     dcrc:   CRC-32C over filter + records, started from the segment key
 *     hcrc:   CRC-32C over the 40 octets before it, from the segment key
 *
 * Record (in a chunk's data):
 *
 *   +-----------+---------+-----------+----------+---------+---------+
 *   | delta u32 | len u32 | klen u16  | flags u8 | 0 u8    | key     |
 *   +-----------+---------+-----------+----------+---------+---------+
 *   | payload (len octets: the core's encoded message, opaque here)   |
 *   +-----------------------------------------------------------------+
 *     delta:  offset - chunk first offset
 *     key:    compaction key (klen may be 0: no key)
 *     flags:  STRM_RF_TOMBSTONE: deletes its key
 *
 * Index file: one 32-octet entry per chunk, in file order:
 *
 *   +---------------+---------------+---------------+----------+----------+
 *   | first off u64 | timestamp u64 | file pos u64  | span u32 | crc u32  |
 *   +---------------+---------------+---------------+----------+----------+
 *     crc: CRC-32C of the 28 octets before it
 *
 * The index is derived data: written with the chunk but never fsynced,
 * and checked against the segment on open (strm_log.c): entries that
 * point at no valid chunk are dropped, chunks the index lacks are found
 * by scanning on from the last good entry. Seeking to an offset or a
 * timestamp is a binary search over the segments in memory, then over
 * one index file with pread: O(log n) reads, no per-chunk memory.
 */
#ifndef SLUICE_STRM_INT_H
#define SLUICE_STRM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

#define STRM_MAGIC        "SLUICEST"
#define STRM_VERSION      1u
#define STRM_SEG_HDR      32u
#define STRM_CHUNK_MAGIC  0x4b4e4843u       /* "CHNK" */
#define STRM_CHUNK_HDR    44u
#define STRM_REC_HDR      12u
#define STRM_IDX_ENTRY    32u
#define STRM_CF_UNFILTERED 1u
#define STRM_RF_TOMBSTONE  1u
#define STRM_CHUNK_DATA_MAX (4u << 20)      /* a chunk is closed past this */
#define STRM_DEFAULT_SEGMENT (500ull * 1000 * 1000)   /* RabbitMQ's default */

struct strm_chunk_hdr {
	uint64_t first;
	uint32_t span, nrec;
	uint64_t ts;
	uint32_t data_len;
	uint16_t filter_len, flags;
	uint32_t dcrc;
};

struct strm_idx {
	uint64_t first, ts, pos;
	uint32_t span;
};

struct strm_rec_view {
	uint32_t delta;
	uint8_t flags;
	const uint8_t *key;
	uint16_t klen;
	const uint8_t *payload;
	uint32_t len;
};

/* strm_format.c: pure codecs over bytes */
void strm_seg_header_encode(uint8_t out[STRM_SEG_HDR], uint64_t first, uint32_t key);
/* 0, -EPROTO (not a stream segment), -EPROTONOSUPPORT (other version). */
int  strm_seg_header_check(const uint8_t *p, size_t len, uint64_t *first, uint32_t *key);
void strm_chunk_hdr_encode(uint8_t out[STRM_CHUNK_HDR], const struct strm_chunk_hdr *h,
			   uint32_t key);
/* 0 (h filled), -EPROTO (not a chunk header checked with key). */
int  strm_chunk_hdr_parse(const uint8_t *p, uint32_t key, struct strm_chunk_hdr *h);
/* CRC of filter + data as dcrc expects it. */
uint32_t strm_chunk_dcrc(const uint8_t *body, size_t len, uint32_t key);
void strm_idx_encode(uint8_t out[STRM_IDX_ENTRY], const struct strm_idx *e);
int  strm_idx_parse(const uint8_t *p, struct strm_idx *e);   /* 0 or -EPROTO */
size_t strm_rec_size(uint16_t klen, uint32_t len);
/* payload NULL: the caller writes the len octets at out + STRM_REC_HDR + klen. */
void strm_rec_encode(uint8_t *out, uint32_t delta, uint8_t flags, const void *key,
		     uint16_t klen, const void *payload, uint32_t len);
/* One record at *pos of data[0..len): 1 = rv filled and *pos moved past
 * it, 0 = end, -EPROTO = inconsistent. */
int  strm_rec_next(const uint8_t *data, size_t len, size_t *pos, struct strm_rec_view *rv);

/*
 * Bloom filter over a chunk's filter values: m = 8 * len bits, two bit
 * positions per value from one 64-bit hash (Kirsch-Mitzenmacher). A
 * value that was added always tests true; others test true with the
 * filter's false-positive rate.
 */
uint64_t strm_filter_hash(const void *v, size_t n);
void strm_filter_add(uint8_t *bits, uint16_t len, uint64_t h);
bool strm_filter_may_contain(const uint8_t *bits, uint16_t len, uint64_t h);

/* strm_log.c / strm_read.c / strm_compact.c share these */
/* The newest offset of every compaction key (strm_compact.c): open
 * addressing by the key's 64-bit hash; offset + 1 stored, 0 = free. */
struct strm_kv;
struct strm_keys {
	struct strm_kv *v;         /* owned */
	size_t n, cap;
};
void strm_keys_put(struct strm_keys *t, uint64_t h, uint64_t offset);
void strm_keys_fini(struct strm_keys *t);
/* Whether a compaction pass is due: the bytes appended since the last
 * pass began are at least the rest of the stream's (Kafka's default
 * dirty ratio of one half). */
bool strm_compact_due(const struct st_stream *s);
/* Read every record's key of s into s->keys (opening a compacted stream). */
int strm_keys_rebuild(struct st_stream *s);
/* A follower's side of ST_REPL_COMPACT: rewrite the segment at path
 * (relative to dfd, "streams/<id>/<first>.seg") and its index without the
 * records whose bit is set in bits[0..len) (bit i: offset first + i), as
 * the leader's compaction did. 0 (also when the segment is gone or
 * nothing was dropped), -EINVAL (not a segment path, or its header does
 * not say first) or negative errno. malloc only: any one thread. */
int strm_compact_apply(int dfd, const char *path, uint64_t first, const uint8_t *bits,
		       size_t len, bool sync);

struct strm_seg {
	uint64_t first;            /* first offset (the file name) */
	uint64_t next;             /* offset after its last chunk */
	uint64_t first_ts, last_ts;/* timestamps of its first and last chunk */
	uint64_t size;             /* bytes written (header included) */
	uint64_t durable;          /* bytes known durable (readers stop here) */
	uint64_t nidx;             /* index entries */
	uint64_t file_id;          /* unique per created file (writer fd cache) */
	uint64_t idx_file_id;
	uint32_t key;
	uint32_t inflight;         /* chunks written here, not completed */
	int rfd, ifd;              /* main-thread read descriptors, -1 until needed */
	bool fresh;                /* created by this process: its files are new */
	bool sealed;               /* a later segment is being written */
	bool forgotten;            /* the journal thread closed its descriptors */
	bool compacted;            /* rewritten by compaction: done */
	bool compacting;           /* a rewrite is with the journal thread */
	uint32_t gen;              /* bumped when compaction rewrote the file */
};

struct st_stream {
	struct st_journal *j;      /* borrowed */
	uint64_t id;
	char *rel;                 /* owned: "streams/<id>" relative to data_dir */
	int dirfd;                 /* the stream's directory */
	struct st_stream_config cfg;
	struct strm_seg **segs;    /* owned, oldest first */
	size_t nsegs, segcap;
	uint64_t next;             /* next offset to assign */
	uint64_t committed;        /* offsets below are durable and readable */
	uint64_t bytes;            /* sum of segment sizes */
	/* the open chunk (this loop iteration's appends) */
	uint8_t *buf;              /* owned: filter + records */
	size_t len, cap;
	uint64_t chunk_first;
	uint64_t chunk_ts;
	uint32_t chunk_nrec;
	uint16_t chunk_flags;
	bool queued;               /* on the journal's pre-seal list */
	int failed;                /* 0, or the negative errno of a lost chunk */
	uint32_t inflight;         /* chunks not completed */
	bool destroying;           /* delete the files once nothing is in flight */
	bool closing;              /* let go: free once nothing is in flight */
	uint64_t seg_gen;          /* bumped when segments go (readers re-seek) */
	st_stream_fn notify;       /* committed grew */
	void *notify_arg;
	struct st_stream *seal_next;   /* in the journal's pre-seal list */
	uint64_t compactions, compacted_recs;
	struct strm_keys keys;     /* cfg.compact: newest offset per key */
	bool want_compact;         /* a segment was sealed: compact when settled */
	uint64_t appended;         /* bytes ever appended (compaction's dirty part) */
	uint64_t compact_mark;     /* appended when the last compaction pass began */
	uint64_t compact_jobs;     /* segments handed to the thread to compact */
};

struct strm_seg *strm_seg_find(const struct st_stream *s, uint64_t offset);
int strm_seg_rfd(struct st_stream *s, struct strm_seg *g);
int strm_seg_ifd(struct st_stream *s, struct strm_seg *g);
void strm_seg_name(char out[32], uint64_t first, const char *ext);
int strm_read_full(int fd, void *buf, size_t len, uint64_t off);
/* Index entry i of g (0 or negative errno). */
int strm_idx_read(struct st_stream *s, struct strm_seg *g, uint64_t i, struct strm_idx *e);

/* jnl_writer.c: stream chunks ride the journal's batches. */
struct jnl_fwrite;
/* Append len bytes at off of data_dir/rel/name (created when create,
 * with its directory synced) in the open batch, fdatasynced (sync) before
 * the batch's completions. file_id names the file for the journal
 * thread's descriptor cache (unique per created file). 0 or the failed
 * state's error. */
int jnl_batch_add_fwrite(struct st_journal *j, const char *rel, const char *name,
			 uint64_t file_id, uint64_t off, const void *data, size_t len,
			 bool create, bool sync);
/* The same for the n pieces of iov written one after the other (a chunk's
 * headers and its data without first joining them). */
struct iovec;
int jnl_batch_add_fwritev(struct st_journal *j, const char *rel, const char *name,
			  uint64_t file_id, uint64_t off, const struct iovec *iov, int n,
			  bool create, bool sync);
/* Run fn(arg) on the journal thread with the open batch, after its
 * writes and before its completions (strm_compact.c). 0 or the failed
 * state's error. */
int jnl_batch_add_task(struct st_journal *j, void (*fn)(void *arg), void *arg);
/* Close the journal thread's cached descriptor of file_id (sealed or gone). */
void jnl_batch_forget_file(struct st_journal *j, uint64_t file_id);
/* s has an open chunk: strm_flush(s) runs right before the batch seals. */
void jnl_stream_queue(struct st_journal *j, struct st_stream *s);
void jnl_stream_dequeue(struct st_journal *j, struct st_stream *s);
uint64_t jnl_file_id_next(struct st_journal *j);
int jnl_data_dirfd(const struct st_journal *j);
/* strm_log.c: the journal calls this for every queued stream at seal. */
void strm_flush(struct st_stream *s);
/* Free s (deleting its files when destroying). */
void strm_free(struct st_stream *s);

#endif
