/*
 * strm_compact.c: compaction of a stream with a compaction key: only the
 * newest record per key (a value, or a tombstone that deletes the key)
 * survives, as in Kafka's compacted topics. Records without a key stay.
 *
 * Main thread: the stream keeps, while it is open, the newest offset of
 * every key (64-bit hash of the key -> offset; rebuilt by reading the
 * records' keys when the stream is opened). When a segment is sealed
 * (the next one starts) and the bytes appended since the last pass are
 * at least the rest of the stream's (strm_compact_due: Kafka's default
 * dirty ratio, one half), every sealed segment is handed to the journal
 * thread with one sorted snapshot of that table, shared by the pass: its
 * offsets are fixed then, so what the thread decides is what the table
 * said. Passing over every sealed segment at every seal cost the square
 * of the segments: with 1-octet segments (a user's choice), 200
 * confirmed publishes kept the journal thread, which every durable
 * queue's confirms wait for, busy for 10.8 s. A pass now comes once the
 * stream has half as much again to compact, so each byte is compacted
 * a bounded number of times over.
 *
 * Journal thread (strm_compact_run, a batch task): read the segment
 * chunk by chunk, keep the records whose offset is their key's newest,
 * write the survivors as chunks with the same first offsets and spans
 * (so every surviving record keeps its offset; a chunk left with nothing
 * goes), a new index beside it, fsync both, rename both over the old
 * files, fsync the directory. A segment with nothing to remove is left
 * alone. Only the thread reads and writes here; it allocates with
 * malloc (bk_malloc counts on the main thread only) and frees before it
 * returns.
 *
 * Main thread again (the task's completion): the segment's size and
 * index count change, its read descriptors are reopened, and its
 * generation moves so readers positioned in it find their offset again.
 *
 * Followers (a cluster): the rewrite happens outside the batches whose
 * file operations replicate, so the leader sends it as an operation of
 * its own (ST_REPL_COMPACT, noted when the rewrite is done): the
 * segment's path and a bitmap of the offsets the rewrite removed. The
 * follower runs the same rewrite over its copy (strm_compact_apply),
 * dropping exactly those records; same input bytes and same records
 * dropped give the same output bytes, offsets included. Shipping the
 * decision rather than the result keeps the wire small (one bit per
 * offset of the segment, not the rewritten segment); shipping the
 * decision rather than letting the follower decide keeps it exact: the
 * follower has no table of newest offsets, and one built from its files
 * could see records the leader's snapshot did not, and drop more.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "jnl_int.h"
#include "strm_int.h"

struct strm_kv {
	uint64_t hash, offset;
};

struct strm_cjob {
	struct st_stream *s;            /* main thread only */
	struct strm_seg *g;             /* main thread only */
	int dirfd;                      /* the stream's directory (borrowed) */
	char seg[32], idx[32];
	uint32_t key;
	struct strm_ksnap *snap;        /* ref: the pass's snapshot */
	const struct strm_kv *keys;     /* snap's, sorted by hash */
	size_t nkeys;
	uint64_t first;                 /* the segment's first offset */
	uint8_t *bits;                  /* removed offsets, bit offset - first */
	size_t nbytes;
	bool given;                     /* bits decide (a follower), not keys */
	bool sync;                      /* fsync the new files */
	/* results, written by the thread */
	int status;
	bool changed;
	uint64_t size, nidx, removed;
};

/* ---- the newest offset per key (main thread) ------------------------- */

static size_t
slot(const struct strm_keys *t, uint64_t h)
{
	return (size_t)(h * 0x9E3779B97F4A7C15ULL) & (t->cap - 1);
}

void
strm_keys_put(struct strm_keys *t, uint64_t h, uint64_t offset)
{
	size_t i;

	if ((t->n + 1) * 4 > t->cap * 3) {
		struct strm_kv *old = t->v;
		size_t ocap = t->cap;

		t->cap = t->cap ? t->cap * 2 : 1024;
		t->v = bk_calloc(t->cap, sizeof(*t->v));
		t->n = 0;
		for (size_t k = 0; k < ocap; k++)
			if (old[k].offset != 0)
				strm_keys_put(t, old[k].hash, old[k].offset - 1);
		bk_free(old);
	}
	for (i = slot(t, h); t->v[i].offset != 0 && t->v[i].hash != h; i = (i + 1) & (t->cap - 1))
		;
	if (t->v[i].offset == 0)
		t->n++;
	t->v[i].hash = h;
	t->v[i].offset = offset + 1;            /* 0 marks a free slot */
}

void
strm_keys_fini(struct strm_keys *t)
{
	BK_FREE(t->v);
	t->n = t->cap = 0;
}

static int
cmp_kv(const void *a, const void *b)
{
	const struct strm_kv *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* A pass's snapshot of the table, shared by its jobs (main thread refs). */
struct strm_ksnap {
	uint32_t refs;
	size_t n;
	struct strm_kv *kv;             /* owned, sorted by hash */
};

static struct strm_ksnap *
snapshot(const struct strm_keys *t)
{
	struct strm_ksnap *sn = bk_calloc(1, sizeof(*sn));
	size_t k = 0;

	sn->refs = 1;
	sn->kv = bk_malloc((t->n ? t->n : 1) * sizeof(*sn->kv));
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].offset != 0)
			sn->kv[k++] = (struct strm_kv){ t->v[i].hash, t->v[i].offset - 1 };
	qsort(sn->kv, k, sizeof(*sn->kv), cmp_kv);
	sn->n = k;
	return sn;
}

static void
snapshot_unref(struct strm_ksnap *sn)
{
	if (sn == NULL || --sn->refs > 0)
		return;
	bk_free(sn->kv);
	bk_free(sn);
}

bool
strm_compact_due(const struct st_stream *s)
{
	uint64_t dirty = s->appended - s->compact_mark;

	return dirty >= (s->bytes > dirty ? s->bytes - dirty : 0);
}

/* ---- the rewrite (journal thread) ------------------------------------- */

static bool
newest(const struct strm_cjob *j, uint64_t h, uint64_t offset)
{
	size_t lo = 0, hi = j->nkeys;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (j->keys[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == j->nkeys || j->keys[lo].hash != h || j->keys[lo].offset == offset;
}

static int
write_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = pwrite(fd, b, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Does the record at offset go? The leader decides by the snapshot and
 * marks it in bits; a follower reads bits. An offset outside bits stays. */
static bool
drop(struct strm_cjob *j, const struct strm_rec_view *rv, uint64_t offset)
{
	uint64_t i = offset - j->first;

	if (offset < j->first || i / 8 >= j->nbytes)
		return false;
	if (j->given)
		return (j->bits[i / 8] >> (i % 8)) & 1;
	if (rv->klen == 0 || newest(j, strm_filter_hash(rv->key, rv->klen), offset))
		return false;
	j->bits[i / 8] |= (uint8_t)(1u << (i % 8));
	return true;
}

/* Filter one chunk's body (filter + records) into out; 0 records left
 * means the chunk goes. */
static size_t
filter_chunk(struct strm_cjob *j, const struct strm_chunk_hdr *h, const uint8_t *body,
	     uint8_t *out, uint32_t *nrec)
{
	struct strm_rec_view rv;
	size_t pos = h->filter_len, n = h->filter_len, len = h->filter_len + (size_t)h->data_len;

	memcpy(out, body, h->filter_len);
	*nrec = 0;
	while (strm_rec_next(body, len, &pos, &rv) == 1) {
		size_t rs = strm_rec_size(rv.klen, rv.len);

		if (drop(j, &rv, h->first + rv.delta)) {
			j->removed++;
			continue;
		}
		memcpy(out + n, rv.payload - rv.klen - STRM_REC_HDR, rs);
		n += rs;
		(*nrec)++;
	}
	return n;
}

static int
rewrite(struct strm_cjob *j, int in, int out, int iout, uint64_t fsize)
{
	uint8_t hdr[STRM_CHUNK_HDR], seghdr[STRM_SEG_HDR], ie[STRM_IDX_ENTRY];
	uint8_t *body = NULL, *nb = NULL;
	uint64_t pos = STRM_SEG_HDR, wpos = STRM_SEG_HDR;
	struct strm_chunk_hdr h;
	int rc = 0;

	if (pread(in, seghdr, sizeof(seghdr), 0) != (ssize_t)sizeof(seghdr) ||
	    (rc = write_all(out, seghdr, sizeof(seghdr), 0)) != 0)
		return rc ? rc : -EIO;
	while (pos + STRM_CHUNK_HDR <= fsize && rc == 0) {
		size_t blen, nlen;
		uint32_t nrec;

		if (pread(in, hdr, sizeof(hdr), (off_t)pos) != (ssize_t)sizeof(hdr) ||
		    strm_chunk_hdr_parse(hdr, j->key, &h) < 0)
			break;
		blen = (size_t)h.filter_len + h.data_len;
		if (pos + STRM_CHUNK_HDR + blen > fsize)
			break;          /* not a whole chunk: nothing to allocate for */
		free(body);
		free(nb);
		body = malloc(blen ? blen : 1);
		nb = malloc(blen ? blen : 1);
		if (body == NULL || nb == NULL || pread(in, body, blen, (off_t)(pos + STRM_CHUNK_HDR)) !=
		    (ssize_t)blen) {
			rc = -EIO;
			break;
		}
		pos += STRM_CHUNK_HDR + blen;
		nlen = filter_chunk(j, &h, body, nb, &nrec);
		if (nrec == 0)
			continue;
		h.nrec = nrec;
		h.data_len = (uint32_t)(nlen - h.filter_len);
		h.dcrc = strm_chunk_dcrc(nb, nlen, j->key);
		strm_chunk_hdr_encode(hdr, &h, j->key);
		strm_idx_encode(ie, &(struct strm_idx){ h.first, h.ts, wpos, h.span });
		if ((rc = write_all(out, hdr, sizeof(hdr), wpos)) == 0 &&
		    (rc = write_all(out, nb, nlen, wpos + STRM_CHUNK_HDR)) == 0)
			rc = write_all(iout, ie, sizeof(ie), j->nidx * STRM_IDX_ENTRY);
		wpos += STRM_CHUNK_HDR + nlen;
		j->nidx++;
	}
	free(body);
	free(nb);
	j->size = wpos;
	return rc;
}

static void
compact_run(void *arg)
{
	struct strm_cjob *j = arg;
	char tseg[40], tidx[40];
	struct stat st;
	int in, out = -1, iout = -1, rc;

	snprintf(tseg, sizeof(tseg), "%s.tmp", j->seg);
	snprintf(tidx, sizeof(tidx), "%s.tmp", j->idx);
	if ((in = openat(j->dirfd, j->seg, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) < 0) {
		j->status = -errno;
		goto out;
	}
	out = openat(j->dirfd, tseg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	iout = openat(j->dirfd, tidx, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || iout < 0) {
		j->status = -errno;
		goto out;
	}
	rc = rewrite(j, in, out, iout, (uint64_t)st.st_size);
	if (rc == 0 && j->removed == 0)
		goto out;                       /* nothing to gain: keep the file */
	if (rc == 0 && j->sync && (fsync(out) < 0 || fsync(iout) < 0))
		rc = -errno;
	if (rc == 0 && (renameat(j->dirfd, tidx, j->dirfd, j->idx) < 0 ||
			renameat(j->dirfd, tseg, j->dirfd, j->seg) < 0))
		rc = -errno;
	if (rc == 0 && j->sync && fsync(j->dirfd) < 0)
		rc = -errno;
	j->status = rc;
	j->changed = rc == 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (iout >= 0)
		close(iout);
	if (!j->changed) {
		unlinkat(j->dirfd, tseg, 0);
		unlinkat(j->dirfd, tidx, 0);
	}
}

/* ---- hand-over and completion (main thread) ---------------------------- */

/* Followers redo the rewrite: the segment and the offsets it lost. */
static void
note_compacted(struct st_stream *s, struct strm_cjob *j)
{
	char path[96];

	snprintf(path, sizeof(path), "%s/%s", s->rel, j->seg);
	jnl_repl_note_take(s->j, ST_REPL_COMPACT, path, j->first, j->bits, j->nbytes);
	j->bits = NULL;
}

static void
compact_done(void *arg, int status)
{
	struct strm_cjob *j = arg;
	struct st_stream *s = j->s;
	struct strm_seg *g = j->g;

	g->compacting = false;
	s->inflight--;
	if (status == 0 && j->status == 0 && j->changed) {
		if (g->rfd >= 0)
			close(g->rfd);
		if (g->ifd >= 0)
			close(g->ifd);
		g->rfd = g->ifd = -1;
		s->bytes = s->bytes - g->size + j->size;
		g->size = g->durable = j->size;
		g->nidx = j->nidx;
		g->gen++;
		s->compactions++;
		s->compacted_recs += j->removed;
		note_compacted(s, j);
	} else if (j->status != 0) {
		bk_warn("stream %016llx: compaction of segment %llu failed: %s",
			(unsigned long long)s->id, (unsigned long long)g->first,
			strerror(-j->status));
	}
	snapshot_unref(j->snap);
	bk_free(j->bits);
	bk_free(j);
	if ((s->destroying || s->closing) && s->inflight == 0)
		strm_free(s);
}

/*
 * The removed-offsets bitmap has a bit per offset from g->first to
 * g->next. Records are at least STRM_REC_HDR octets, a segment is closed
 * past max_segment_bytes and a chunk past STRM_CHUNK_DATA_MAX plus one
 * record, and compaction keeps the offsets of what it removes: a segment
 * never spans more offsets than that many records, whatever it holds now.
 * Wider offsets come from a damaged or foreign file (recovery takes a
 * chunk's first offset as written): its bitmap would be an allocation of
 * up to 2^61 octets, so the segment is left alone.
 */
static bool
range_plausible(const struct st_stream *s, const struct strm_seg *g)
{
	uint64_t bytes = s->cfg.max_segment_bytes > g->size ? s->cfg.max_segment_bytes : g->size;

	return g->next - g->first <=
	       (bytes + STRM_CHUNK_DATA_MAX + ST_RECORD_MAX) / STRM_REC_HDR + 1;
}

int
st_stream_compact(struct st_stream *s)
{
	struct strm_ksnap *sn = NULL;
	int n = 0;

	if (!s->cfg.compact || s->failed || s->j->failed)
		return 0;
	for (size_t i = 0; i + 1 < s->nsegs; i++) {
		struct strm_seg *g = s->segs[i];
		struct strm_cjob *j;

		if (g->compacting || g->inflight || g->nidx == 0)
			continue;
		if (!range_plausible(s, g)) {
			bk_warn("stream %016llx: segment %llu spans offsets %llu to %llu, more than "
				"it can have held: not compacted", (unsigned long long)s->id,
				(unsigned long long)g->first, (unsigned long long)g->first,
				(unsigned long long)g->next);
			continue;
		}
		j = bk_calloc(1, sizeof(*j));
		j->s = s;
		j->g = g;
		j->dirfd = s->dirfd;
		j->key = g->key;
		strm_seg_name(j->seg, g->first, "seg");
		strm_seg_name(j->idx, g->first, "idx");
		if (sn == NULL)
			sn = snapshot(&s->keys);        /* the pass holds one ref */
		sn->refs++;
		j->snap = sn;
		j->keys = sn->kv;
		j->nkeys = sn->n;
		j->first = g->first;
		j->nbytes = (size_t)((g->next - g->first + 7) / 8);
		j->bits = bk_calloc(j->nbytes ? j->nbytes : 1, 1);
		j->sync = true;
		if (jnl_batch_add_task(s->j, compact_run, j) < 0 ||
		    st_journal_when_durable(s->j, compact_done, j) < 0) {
			sn->refs--;             /* the pass still holds one */
			bk_free(j->bits);
			bk_free(j);
			break;
		}
		g->compacting = true;
		s->inflight++;
		s->compact_jobs++;
		n++;
	}
	snapshot_unref(sn);                     /* the pass's ref */
	if (n > 0)
		s->compact_mark = s->appended;
	return n;
}

/* ---- a follower's copy (any one thread) ---------------------------------- */

int
strm_compact_apply(int dfd, const char *path, uint64_t first, const uint8_t *bits,
		   size_t len, bool sync)
{
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : "";
	size_t nl = strlen(name);
	uint8_t hdr[STRM_SEG_HDR];
	struct strm_cjob j;
	char dir[ST_REPL_PATH_MAX + 1];
	uint64_t hfirst = 0;
	int fd, rc;

	memset(&j, 0, sizeof(j));
	if (slash == NULL || nl < 5 || nl >= sizeof(j.seg) || strcmp(name + nl - 4, ".seg") != 0 ||
	    (size_t)(slash - path) >= sizeof(dir))
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	snprintf(j.seg, sizeof(j.seg), "%s", name);
	snprintf(j.idx, sizeof(j.idx), "%.*s.idx", (int)(nl - 4), name);
	/* gone already (retention, a deleted stream): nothing to redo */
	if ((j.dirfd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((fd = openat(j.dirfd, j.seg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		close(j.dirfd);
		return rc;
	}
	rc = strm_read_full(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (rc == 0)
		rc = strm_seg_header_check(hdr, sizeof(hdr), &hfirst, &j.key);
	if (rc == 0 && hfirst != first)
		rc = -EINVAL;
	if (rc == 0) {
		j.first = first;
		j.bits = (uint8_t *)bits;       /* read only: given */
		j.nbytes = len;
		j.given = true;
		j.sync = sync;
		compact_run(&j);
		rc = j.status;
	}
	close(j.dirfd);
	return rc;
}

int
strm_keys_rebuild(struct st_stream *s)
{
	uint8_t hdr[STRM_CHUNK_HDR], *body = NULL;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < s->nsegs && rc == 0; i++) {
		struct strm_seg *g = s->segs[i];
		uint64_t pos = STRM_SEG_HDR;
		int fd = strm_seg_rfd(s, g);

		if (fd < 0)
			return fd;
		while (pos + STRM_CHUNK_HDR <= g->size) {
			struct strm_chunk_hdr h;
			struct strm_rec_view rv;
			size_t blen, rp;

			if (strm_read_full(fd, hdr, sizeof(hdr), pos) < 0 ||
			    strm_chunk_hdr_parse(hdr, g->key, &h) < 0)
				break;
			blen = (size_t)h.filter_len + h.data_len;
			if (pos + STRM_CHUNK_HDR + blen > g->size)
				break;
			if (blen > cap) {
				cap = blen;
				body = bk_realloc(body, cap);
			}
			if ((rc = strm_read_full(fd, body, blen, pos + STRM_CHUNK_HDR)) < 0)
				break;
			rp = h.filter_len;
			while (strm_rec_next(body, blen, &rp, &rv) == 1)
				if (rv.klen > 0)
					strm_keys_put(&s->keys, strm_filter_hash(rv.key, rv.klen),
						      h.first + rv.delta);
			pos += STRM_CHUNK_HDR + blen;
		}
	}
	bk_free(body);
	return rc;
}
