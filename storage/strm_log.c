/*
 * strm_log.c: the write side of a stream: appends into the open chunk,
 * the chunk's hand-over to the journal's batch (strm_flush), segment
 * roll-over, completions (committed offset), retention, close and
 * delete. Opening and recovery are in strm_recover.c, readers in
 * strm_read.c.
 *
 * Offsets are assigned at append time, so the core knows a message's
 * offset at once; they become readable (committed) only when the batch
 * holding their chunk is durable, in order, since batches complete in
 * order. A chunk that could not be written leaves a hole the stream
 * cannot paper over: it refuses appends from then on (failed), and a
 * restart recovers up to the last good chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "bk_log.h"
#include "jnl_int.h"
#include "strm_int.h"

struct strm_done {
	struct st_stream *s;
	struct strm_seg *g;
	uint64_t committed;             /* offsets below this chunk's end */
	uint64_t durable;               /* g's size once it is written */
};

int
st_stream_append(struct st_stream *s, const struct st_stream_rec *r, uint64_t *offset)
{
	size_t need = strm_rec_size(r->klen, r->len);
	uint16_t fl = s->cfg.filter_bytes;

	if (s->failed)
		return s->failed;
	if (s->j->failed)
		return s->j->failed;
	if (need > ST_RECORD_MAX)
		return -EMSGSIZE;
	/* a full chunk is closed here; it rides the same batch */
	if (s->chunk_nrec > 0 && s->len - fl + need > STRM_CHUNK_DATA_MAX)
		strm_flush(s);
	if (s->chunk_nrec == 0) {
		s->chunk_first = s->next;
		s->chunk_flags = 0;
		s->chunk_ts = r->ts_ms;
		s->len = fl;
		if (s->cap < fl + need) {
			s->cap = fl + need < 4096 ? 4096 : fl + need;
			s->buf = bk_realloc(s->buf, s->cap);
		}
		memset(s->buf, 0, fl);
	}
	if (s->len + need > s->cap) {
		while (s->cap < s->len + need)
			s->cap *= 2;
		s->buf = bk_realloc(s->buf, s->cap);
	}
	strm_rec_encode(s->buf + s->len, (uint32_t)(s->next - s->chunk_first),
			r->tombstone ? STRM_RF_TOMBSTONE : 0, r->key, r->klen,
			r->fill ? NULL : r->payload, r->len);
	if (r->fill != NULL)
		r->fill(r->fill_arg, s->buf + s->len + STRM_REC_HDR + r->klen);
	s->len += need;
	if (r->has_filter)
		strm_filter_add(s->buf, fl, strm_filter_hash(r->filter, r->filter_len));
	else
		s->chunk_flags |= STRM_CF_UNFILTERED;
	s->chunk_nrec++;
	if (s->cfg.compact && r->klen > 0)
		strm_keys_put(&s->keys, strm_filter_hash(r->key, r->klen), s->next);
	*offset = s->next++;
	jnl_stream_queue(s->j, s);
	return 0;
}

/* A new segment starting at offset first; its file is created by the
 * first write of the batch. */
static struct strm_seg *
seg_new(struct st_stream *s, uint64_t first)
{
	struct strm_seg *g = bk_calloc(1, sizeof(*g));

	g->first = g->next = first;
	g->size = g->durable = STRM_SEG_HDR;
	g->key = jnl_seg_key_new();
	g->file_id = jnl_file_id_next(s->j);
	g->idx_file_id = jnl_file_id_next(s->j);
	g->rfd = g->ifd = -1;
	g->fresh = true;
	if (s->nsegs == s->segcap) {
		s->segcap = s->segcap ? s->segcap * 2 : 8;
		s->segs = bk_realloc(s->segs, s->segcap * sizeof(*s->segs));
	}
	s->segs[s->nsegs++] = g;
	s->bytes += STRM_SEG_HDR;
	return g;
}

static struct strm_seg *
active_for(struct st_stream *s, size_t chunk_len)
{
	struct strm_seg *g = s->nsegs ? s->segs[s->nsegs - 1] : NULL;

	if (g != NULL && (g->size + chunk_len <= s->cfg.max_segment_bytes || g->nidx == 0))
		return g;
	if (g != NULL) {    /* sealed: the thread may close its descriptors */
		g->sealed = true;
		if (s->cfg.compact && strm_compact_due(s))
			s->want_compact = true;
	}
	return seg_new(s, s->chunk_first);
}

static void
chunk_done(void *arg, int status)
{
	struct strm_done *d = arg;
	struct st_stream *s = d->s;

	d->g->inflight--;
	s->inflight--;
	if (status == 0) {
		if (d->durable > d->g->durable)
			d->g->durable = d->durable;
		if (d->committed > s->committed)
			s->committed = d->committed;
	} else if (s->failed == 0) {
		s->failed = status;
		bk_warn("stream %016llx: a chunk could not be written (%s); appends "
			"refused until restart", (unsigned long long)s->id, strerror(-status));
	}
	bk_free(d);
	if (s->destroying || s->closing) {
		if (s->inflight == 0)
			strm_free(s);
		return;
	}
	if (s->want_compact && st_stream_compact(s) > 0)
		s->want_compact = false;
	if (s->notify)
		s->notify(s->notify_arg, status);
}

/* Write the index entry for the chunk just placed at pos of g. */
static int
write_index(struct st_stream *s, struct strm_seg *g, uint64_t pos, uint32_t span)
{
	struct strm_idx e = { s->chunk_first, s->chunk_ts, pos, span };
	uint8_t raw[STRM_IDX_ENTRY];
	char name[32];

	strm_idx_encode(raw, &e);
	strm_seg_name(name, g->first, "idx");
	return jnl_batch_add_fwrite(s->j, s->rel, name, g->idx_file_id,
				    g->nidx * STRM_IDX_ENTRY, raw, sizeof(raw),
				    g->nidx == 0 && g->fresh, false);
}

void
strm_flush(struct st_stream *s)
{
	uint16_t fl = s->cfg.filter_bytes;
	uint32_t span = (uint32_t)(s->next - s->chunk_first);
	struct strm_chunk_hdr h = { s->chunk_first, span, s->chunk_nrec, s->chunk_ts,
				    (uint32_t)(s->len - fl), fl, s->chunk_flags, 0 };
	size_t clen = STRM_CHUNK_HDR + s->len;
	struct strm_seg *g;
	struct strm_done *d;
	uint8_t seghdr[STRM_SEG_HDR], chdr[STRM_CHUNK_HDR];
	struct iovec iov[3];
	size_t hdr = 0;
	char name[32];
	int rc, n = 0;

	if (s->chunk_nrec == 0)
		return;
	g = active_for(s, clen);
	if (g->size == STRM_SEG_HDR && g->fresh) {
		hdr = STRM_SEG_HDR;
		strm_seg_header_encode(seghdr, g->first, g->key);
		iov[n++] = (struct iovec){ seghdr, sizeof(seghdr) };
	}
	h.dcrc = strm_chunk_dcrc(s->buf, s->len, g->key);
	strm_chunk_hdr_encode(chdr, &h, g->key);
	iov[n++] = (struct iovec){ chdr, sizeof(chdr) };
	iov[n++] = (struct iovec){ s->buf, s->len };
	strm_seg_name(name, g->first, "seg");
	/* headers and records go into the batch in one copy */
	rc = jnl_batch_add_fwritev(s->j, s->rel, name, g->file_id, g->size - hdr, iov, n,
				   hdr != 0, true);
	if (rc == 0)
		rc = write_index(s, g, g->size, span);
	s->chunk_nrec = 0;
	s->len = 0;
	if (rc != 0) {
		s->failed = rc;
		return;
	}
	if (g->nidx == 0)
		g->first_ts = h.ts;
	g->last_ts = h.ts;
	g->nidx++;
	g->size += clen;
	g->next = s->chunk_first + span;
	s->bytes += clen;
	s->appended += clen;
	d = bk_malloc(sizeof(*d));
	*d = (struct strm_done){ s, g, s->chunk_first + span, g->size };
	if ((rc = st_journal_when_durable(s->j, chunk_done, d)) != 0) {
		bk_free(d);
		s->failed = rc;
		return;
	}
	g->inflight++;
	s->inflight++;
	/* a sealed predecessor is written no more: let its descriptors go */
	if (s->nsegs >= 2 && s->segs[s->nsegs - 2]->sealed &&
	    !s->segs[s->nsegs - 2]->forgotten) {
		struct strm_seg *p = s->segs[s->nsegs - 2];

		jnl_batch_forget_file(s->j, p->file_id);
		jnl_batch_forget_file(s->j, p->idx_file_id);
		p->forgotten = true;
	}
}

void
st_stream_info_get(const struct st_stream *s, struct st_stream_info *i)
{
	memset(i, 0, sizeof(*i));
	i->first = s->nsegs ? s->segs[0]->first : s->next;
	i->next = s->next;
	i->committed = s->committed;
	i->bytes = s->bytes;
	i->segments = s->nsegs;
	i->first_ts = s->nsegs ? s->segs[0]->first_ts : 0;
	i->compactions = s->compactions;
	i->compacted_records = s->compacted_recs;
	i->failed = s->failed;
}

/* Followers remove the file too (the journal may be gone on close, when
 * nothing is deleted and nothing noted). */
static void
note_gone(struct st_stream *s, const char *name)
{
	char path[96];

	if (s->j == NULL || s->rel == NULL || (s->closing && !s->destroying))
		return;
	snprintf(path, sizeof(path), "%s/%s", s->rel, name);
	jnl_repl_note(s->j, ST_REPL_UNLINK, path);
}

static void
seg_unlink(struct st_stream *s, struct strm_seg *g)
{
	char name[32];

	if (g->rfd >= 0)
		close(g->rfd);
	if (g->ifd >= 0)
		close(g->ifd);
	g->rfd = g->ifd = -1;
	strm_seg_name(name, g->first, "seg");
	unlinkat(s->dirfd, name, 0);
	note_gone(s, name);
	strm_seg_name(name, g->first, "idx");
	unlinkat(s->dirfd, name, 0);
	note_gone(s, name);
	/* a closed stream's journal may be gone already; a deleted one's is not */
	if (!g->forgotten && (!s->closing || s->destroying)) {
		jnl_batch_forget_file(s->j, g->file_id);
		jnl_batch_forget_file(s->j, g->idx_file_id);
	}
}

int
st_stream_retain(struct st_stream *s, uint64_t max_bytes, uint64_t max_age_ms,
		 uint64_t now_ms)
{
	int n = 0;

	while (s->nsegs > 1) {
		struct strm_seg *g = s->segs[0];
		bool too_big = max_bytes != 0 && s->bytes > max_bytes;
		bool too_old = max_age_ms != 0 && g->last_ts + max_age_ms < now_ms;

		if ((!too_big && !too_old) || g->inflight || g->compacting)
			break;
		seg_unlink(s, g);
		s->bytes -= g->size;
		memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
		s->nsegs--;
		bk_free(g);
		n++;
	}
	if (n > 0)
		s->seg_gen++;
	return n;
}

void
strm_free(struct st_stream *s)
{
	if (s->destroying) {
		char dir[40];

		for (size_t i = 0; i < s->nsegs; i++)
			seg_unlink(s, s->segs[i]);
		snprintf(dir, sizeof(dir), "%016llx", (unsigned long long)s->id);
		if (s->j != NULL) {
			int pfd = openat(jnl_data_dirfd(s->j), "streams",
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (pfd >= 0) {
				unlinkat(pfd, dir, AT_REMOVEDIR);
				jnl_repl_note(s->j, ST_REPL_RMDIR, s->rel);
				fsync(pfd);
				close(pfd);
			}
		}
	}
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i]->rfd >= 0)
			close(s->segs[i]->rfd);
		if (s->segs[i]->ifd >= 0)
			close(s->segs[i]->ifd);
		bk_free(s->segs[i]);
	}
	if (s->dirfd >= 0)
		close(s->dirfd);
	bk_free(s->segs);
	bk_free(s->buf);
	bk_free(s->rel);
	strm_keys_fini(&s->keys);
	bk_free(s);
}

static void
let_go(struct st_stream *s, bool destroy)
{
	if (s == NULL)
		return;
	if (s->queued)
		jnl_stream_dequeue(s->j, s);
	s->chunk_nrec = 0;
	s->notify = NULL;
	s->destroying = destroy;
	s->closing = true;
	if (s->inflight == 0)
		strm_free(s);
}

void
st_stream_close(struct st_stream *s)
{
	let_go(s, false);
}

void
st_stream_destroy(struct st_stream *s)
{
	let_go(s, true);
}
