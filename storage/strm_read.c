/*
 * strm_read.c: stream readers. A reader is a cursor: the offset it wants
 * next, and where that is (segment, file position of the next chunk).
 * It reads a whole chunk at a time with pread (main thread; page-cache
 * hits cost microseconds, as for the journal's bodies) into its own
 * buffer, checks its CRC, and hands out the records one by one. Only
 * committed chunks are read, so a reader never sees what is not durable.
 *
 * Finding an offset: binary search over the segments (memory), then over
 * the segment's index file (pread of 32-octet entries): O(log n) reads
 * wherever the offset lies in the stream. A timestamp is found the same
 * way, on the chunk timestamps.
 *
 * Filtering: a chunk whose Bloom filter rules out every value the reader
 * wants (and that holds no unfiltered record the reader would also take)
 * is skipped after reading its header and filter only; its records are
 * never read.
 *
 * Segments go (retention) and are rewritten (compaction) under a reader:
 * the reader notices (the stream's segment generation, the segment's
 * rewrite generation) and finds its offset again.
 */
#include <errno.h>
#include <string.h>

#include "bk_alloc.h"
#include "jnl_int.h"
#include "strm_int.h"

struct st_sreader {
	struct st_stream *s;            /* borrowed */
	uint64_t offset;                /* next offset wanted */
	struct strm_seg *g;             /* borrowed; NULL = find again */
	uint64_t seg_gen;               /* s->seg_gen when g was found */
	uint32_t g_gen;                 /* g->gen when pos was found */
	uint64_t pos;                   /* next chunk in g */
	uint8_t *buf;                   /* owned: filter + records of a chunk */
	size_t cap;
	struct strm_chunk_hdr h;        /* the chunk in buf */
	size_t rpos;                    /* next record in it */
	bool have;
	uint64_t *want;                 /* owned filter hashes */
	size_t nwant;
	bool match_unfiltered;
};

struct strm_seg *
strm_seg_find(const struct st_stream *s, uint64_t offset)
{
	size_t lo = 0, hi = s->nsegs;

	if (s->nsegs == 0)
		return NULL;
	while (hi - lo > 1) {                   /* last segment with first <= offset */
		size_t mid = (lo + hi) / 2;

		if (s->segs[mid]->first <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return s->segs[lo];
}

/* Position of the chunk of g holding offset (the last one starting at or
 * before it); by timestamp when by_ts. */
static int
idx_search(struct st_stream *s, struct strm_seg *g, uint64_t key, bool by_ts,
	   struct strm_idx *out)
{
	uint64_t lo = 0, hi = g->nidx;
	struct strm_idx e;
	int rc;

	if (g->nidx == 0)
		return -ENOENT;
	if (by_ts) {                            /* first entry with ts >= key */
		while (lo < hi) {
			uint64_t mid = (lo + hi) / 2;

			if ((rc = strm_idx_read(s, g, mid, &e)) < 0)
				return rc;
			if (e.ts < key)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == g->nidx)
			return -ENOENT;
		return strm_idx_read(s, g, lo, out);
	}
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;

		if ((rc = strm_idx_read(s, g, mid, &e)) < 0)
			return rc;
		if (e.first <= key)
			lo = mid;
		else
			hi = mid;
	}
	return strm_idx_read(s, g, lo, out);
}

static uint64_t
first_offset(const struct st_stream *s)
{
	return s->nsegs ? s->segs[0]->first : s->next;
}

static uint64_t
seek_time(struct st_stream *s, uint64_t ms)
{
	struct strm_idx e;

	for (size_t i = 0; i < s->nsegs; i++) {
		struct strm_seg *g = s->segs[i];

		if (g->nidx == 0 || g->last_ts < ms)
			continue;
		if (idx_search(s, g, ms, true, &e) == 0)
			return e.first;
	}
	return s->next;
}

static uint64_t
seek_last(struct st_stream *s)
{
	struct strm_idx e;

	for (size_t i = s->nsegs; i-- > 0;) {
		struct strm_seg *g = s->segs[i];

		if (g->nidx > 0 && strm_idx_read(s, g, g->nidx - 1, &e) == 0)
			return e.first;
	}
	return s->next;
}

struct st_sreader *
st_sreader_new(struct st_stream *s, enum st_seek how, uint64_t value)
{
	struct st_sreader *r = bk_calloc(1, sizeof(*r));
	uint64_t first = first_offset(s);

	r->s = s;
	switch (how) {
	case ST_SEEK_FIRST:  r->offset = first; break;
	case ST_SEEK_LAST:   r->offset = seek_last(s); break;
	case ST_SEEK_NEXT:   r->offset = s->next; break;
	case ST_SEEK_TIME:   r->offset = seek_time(s, value); break;
	default:
		r->offset = value < first ? first : value > s->next ? s->next : value;
		break;
	}
	return r;
}

void
st_sreader_free(struct st_sreader *r)
{
	if (r == NULL)
		return;
	bk_free(r->buf);
	bk_free(r->want);
	bk_free(r);
}

void
st_sreader_filter(struct st_sreader *r, const uint64_t *hashes, size_t n,
		  bool match_unfiltered)
{
	BK_FREE(r->want);
	r->nwant = n;
	r->match_unfiltered = match_unfiltered;
	if (n) {
		r->want = bk_malloc(n * sizeof(*hashes));
		memcpy(r->want, hashes, n * sizeof(*hashes));
	}
}

uint64_t
st_stream_filter_hash(const void *v, size_t n)
{
	return strm_filter_hash(v, n);
}

uint64_t
st_stream_offset_ts(struct st_stream *s, uint64_t offset)
{
	struct strm_seg *g = strm_seg_find(s, offset);
	struct strm_idx e;

	if (g == NULL || offset < first_offset(s) || offset >= s->next ||
	    idx_search(s, g, offset, false, &e) < 0)
		return 0;
	return e.ts;
}

uint64_t
st_sreader_offset(const struct st_sreader *r)
{
	return r->offset;
}

static struct strm_seg *
seg_after(const struct st_stream *s, const struct strm_seg *g)
{
	for (size_t i = 0; i + 1 < s->nsegs; i++)
		if (s->segs[i] == g)
			return s->segs[i + 1];
	return NULL;
}

/* Find the chunk holding r->offset: r->g and r->pos. */
static int
locate(struct st_sreader *r)
{
	struct st_stream *s = r->s;
	struct strm_idx e;
	int rc;

	if (r->offset < first_offset(s))
		r->offset = first_offset(s);    /* fell behind retention */
	r->g = strm_seg_find(s, r->offset);
	if (r->g == NULL)
		return -ENOENT;
	r->seg_gen = s->seg_gen;
	r->g_gen = r->g->gen;
	if ((rc = idx_search(s, r->g, r->offset, false, &e)) < 0) {
		r->pos = STRM_SEG_HDR;
		return rc == -ENOENT ? 0 : rc;
	}
	r->pos = e.pos;
	return 0;
}

static bool
wanted(const struct st_sreader *r, const struct strm_chunk_hdr *h, const uint8_t *filter)
{
	if (r->nwant == 0)
		return true;
	if (r->match_unfiltered && (h->flags & STRM_CF_UNFILTERED))
		return true;
	for (size_t i = 0; i < r->nwant; i++)
		if (strm_filter_may_contain(filter, h->filter_len, r->want[i]))
			return true;
	return false;
}

/* Load the next chunk at or after r->offset into r->buf. 1, 0 (nothing
 * committed there yet), or a negative errno. */
static int
load(struct st_sreader *r)
{
	struct st_stream *s = r->s;
	uint8_t raw[STRM_CHUNK_HDR + 255];
	struct strm_chunk_hdr *h = &r->h;
	struct strm_seg *n;
	uint64_t end;
	size_t body, hn;
	int fd, rc;

	for (;;) {
		if (r->offset >= s->committed)
			return 0;
		if (r->g == NULL || r->seg_gen != s->seg_gen || r->g_gen != r->g->gen ||
		    r->offset < first_offset(s)) {
			if ((rc = locate(r)) < 0)
				return rc;
		}
		if (r->pos >= r->g->durable) {          /* on to the next segment */
			n = seg_after(s, r->g);
			if (n == NULL || r->pos < r->g->size)
				return 0;               /* the rest is not durable yet */
			r->g = n;
			r->g_gen = n->gen;
			r->pos = STRM_SEG_HDR;
			continue;
		}
		if ((fd = strm_seg_rfd(s, r->g)) < 0)
			return fd;
		end = (n = seg_after(s, r->g)) != NULL ? n->first : s->committed;
		hn = r->g->durable - r->pos < sizeof(raw) ? r->g->durable - r->pos : sizeof(raw);
		if (hn < STRM_CHUNK_HDR || (rc = strm_read_full(fd, raw, hn, r->pos)) < 0 ||
		    strm_chunk_hdr_parse(raw, r->g->key, h) < 0)
			return -EIO;
		/* recovery checked the offsets of the chunks past the last good
		 * index entry, not those before it: one outside its segment's
		 * offsets (first .. the next segment's first, or committed) is
		 * damage, not records to hand out */
		if (h->first < r->g->first || h->first > end || h->span > end - h->first)
			return -EIO;
		body = (size_t)h->filter_len + h->data_len;
		if (h->first + h->span <= r->offset ||
		    (STRM_CHUNK_HDR + h->filter_len <= hn && !wanted(r, h, raw + STRM_CHUNK_HDR))) {
			r->pos += STRM_CHUNK_HDR + body;
			if (r->offset < h->first + h->span)
				r->offset = h->first + h->span;
			continue;
		}
		if (r->cap < body) {
			r->cap = body;
			r->buf = bk_realloc(r->buf, body);
		}
		if ((rc = strm_read_full(fd, r->buf, body, r->pos + STRM_CHUNK_HDR)) < 0 ||
		    strm_chunk_dcrc(r->buf, body, r->g->key) != h->dcrc)
			return -EIO;
		if (!wanted(r, h, r->buf)) {            /* a filter past the header read */
			r->pos += STRM_CHUNK_HDR + body;
			r->offset = h->first + h->span;
			continue;
		}
		r->pos += STRM_CHUNK_HDR + body;
		r->rpos = h->filter_len;
		r->have = true;
		return 1;
	}
}

/* A chunk buffer larger than this is not kept once its chunk is read. */
#define KEEP_BUF (256u * 1024)

void
st_sreader_done(struct st_sreader *r)
{
	size_t end = (size_t)r->h.filter_len + r->h.data_len;

	if (!r->have || r->rpos < end)
		return;
	r->have = false;
	if (r->offset < r->h.first + r->h.span)
		r->offset = r->h.first + r->h.span;
	if (r->cap > KEEP_BUF) {
		BK_FREE(r->buf);
		r->cap = 0;
	}
}

int
st_sreader_next(struct st_sreader *r, struct st_stream_view *v)
{
	struct strm_rec_view rv;
	int rc;

	for (;;) {
		if (!r->have && (rc = load(r)) <= 0)
			return rc;
		if (r->seg_gen != r->s->seg_gen || r->g_gen != r->g->gen) {
			r->have = false;                /* rewritten or retained: r->g may be gone */
			continue;
		}
		rc = strm_rec_next(r->buf, (size_t)r->h.filter_len + r->h.data_len, &r->rpos, &rv);
		if (rc < 0)
			return -EIO;
		if (rc == 0) {
			r->have = false;
			if (r->offset < r->h.first + r->h.span)
				r->offset = r->h.first + r->h.span;
			continue;
		}
		/* a record outside its chunk's span is damage (its offset could
		 * be past committed, or the one of a later chunk) */
		if (rv.delta >= r->h.span)
			return -EIO;
		if (r->h.first + rv.delta < r->offset)
			continue;
		v->offset = r->h.first + rv.delta;
		v->ts_ms = r->h.ts;
		v->payload = rv.payload;
		v->len = rv.len;
		v->tombstone = (rv.flags & STRM_RF_TOMBSTONE) != 0;
		r->offset = v->offset + 1;
		return 1;
	}
}
