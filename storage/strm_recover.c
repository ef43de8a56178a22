/*
 * strm_recover.c: opening a stream: its directory, its segments, and the
 * check of every segment against its index (strm_int.h says why the
 * index is only a hint).
 *
 * Per segment, on open: the header must check (else -EPROTO, nothing
 * touched). Index entries are dropped from the end while the chunk they
 * point at does not check; from the end of the last good one the segment
 * is scanned chunk by chunk (header CRC, data CRC) and every chunk found
 * gets its index entry written; whatever follows the last whole chunk is
 * a torn write and is cut off. A chunk counts only if its offsets lie
 * between the end of the chunk before it (or the segment's first offset)
 * and the next segment's first: offsets only grow through a stream, which
 * readers (strm_seg_find, committed) and compaction (a bitmap from first
 * to next) rely on, so a file whose offsets go back or overlap is cut
 * there like a torn one. A segment left without chunks is deleted
 * unless it is the newest. The cost is one chunk read per segment plus
 * the chunks the index lacked, not a scan of the stream.
 *
 * Everything here runs on the main thread, before the stream is used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "jnl_int.h"
#include "strm_int.h"


void
strm_seg_name(char out[32], uint64_t first, const char *ext)
{
	snprintf(out, 32, "%020" PRIu64 ".%s", first, ext);
}

int
strm_read_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int
strm_seg_rfd(struct st_stream *s, struct strm_seg *g)
{
	char name[32];

	if (g->rfd < 0) {
		strm_seg_name(name, g->first, "seg");
		g->rfd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	}
	return g->rfd < 0 ? -errno : g->rfd;
}

int
strm_seg_ifd(struct st_stream *s, struct strm_seg *g)
{
	char name[32];

	if (g->ifd < 0) {
		strm_seg_name(name, g->first, "idx");
		g->ifd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	return g->ifd < 0 ? -errno : g->ifd;
}

int
strm_idx_read(struct st_stream *s, struct strm_seg *g, uint64_t i, struct strm_idx *e)
{
	uint8_t raw[STRM_IDX_ENTRY];
	int fd = strm_seg_ifd(s, g), rc;

	if (fd < 0)
		return fd;
	if ((rc = strm_read_full(fd, raw, sizeof(raw), i * STRM_IDX_ENTRY)) < 0)
		return rc;
	return strm_idx_parse(raw, e);
}

/* The whole chunk at pos checks, and its offsets lie in [min, end): a
 * segment's offsets only grow, from its first to the next segment's
 * first. Its header is in *h. */
static bool
chunk_ok(struct st_stream *s, struct strm_seg *g, uint64_t pos, uint64_t fsize,
	 uint64_t min, uint64_t end, struct strm_chunk_hdr *h, uint8_t **buf, size_t *cap)
{
	uint8_t raw[STRM_CHUNK_HDR];
	size_t body;

	if (pos + STRM_CHUNK_HDR > fsize ||
	    strm_read_full(g->rfd, raw, sizeof(raw), pos) < 0 ||
	    strm_chunk_hdr_parse(raw, g->key, h) < 0 || h->first < min || h->first >= end ||
	    h->span > end - h->first)
		return false;
	body = (size_t)h->filter_len + h->data_len;
	if (pos + STRM_CHUNK_HDR + body > fsize)
		return false;
	if (*cap < body) {
		*cap = body;
		*buf = bk_realloc(*buf, body ? body : 1);
	}
	if (strm_read_full(g->rfd, *buf, body, pos + STRM_CHUNK_HDR) < 0)
		return false;
	return strm_chunk_dcrc(*buf, body, g->key) == h->dcrc;
}

static int
put_index(struct st_stream *s, struct strm_seg *g, const struct strm_idx *e)
{
	uint8_t raw[STRM_IDX_ENTRY];
	int fd = strm_seg_ifd(s, g);

	if (fd < 0)
		return fd;
	strm_idx_encode(raw, e);
	if (pwrite(fd, raw, sizeof(raw), (off_t)(g->nidx * STRM_IDX_ENTRY)) != sizeof(raw))
		return -EIO;
	g->nidx++;
	return 0;
}

/* Index entries that point at good chunks; the position after the last. */
static uint64_t
trust_index(struct st_stream *s, struct strm_seg *g, uint64_t fsize, uint64_t end,
	    uint8_t **buf, size_t *cap)
{
	struct stat st;
	struct strm_chunk_hdr h;
	struct strm_idx e;
	int fd = strm_seg_ifd(s, g);

	g->nidx = (fd >= 0 && fstat(fd, &st) == 0) ? (uint64_t)st.st_size / STRM_IDX_ENTRY : 0;
	while (g->nidx > 0) {
		if (strm_idx_read(s, g, g->nidx - 1, &e) == 0 &&
		    chunk_ok(s, g, e.pos, fsize, g->first, end, &h, buf, cap) && h.first == e.first &&
		    h.span == e.span) {
			g->last_ts = e.ts;
			g->next = e.first + e.span;
			return e.pos + STRM_CHUNK_HDR + h.filter_len + h.data_len;
		}
		g->nidx--;
	}
	return STRM_SEG_HDR;
}

/* end: the next segment's first offset (UINT64_MAX for the newest). */
static int
recover_seg(struct st_stream *s, struct strm_seg *g, uint64_t end, uint8_t **buf, size_t *cap)
{
	uint8_t hdr[STRM_SEG_HDR];
	struct strm_chunk_hdr h;
	struct strm_idx e;
	struct stat st;
	uint64_t first, pos;
	int rc;

	if ((rc = strm_seg_rfd(s, g)) < 0 || fstat(g->rfd, &st) < 0)
		return rc < 0 ? rc : -errno;
	if ((rc = strm_read_full(g->rfd, hdr, sizeof(hdr), 0)) < 0 ||
	    (rc = strm_seg_header_check(hdr, sizeof(hdr), &first, &g->key)) < 0)
		return rc == -ENODATA ? -EPROTO : rc;
	g->next = g->first;
	pos = trust_index(s, g, (uint64_t)st.st_size, end, buf, cap);
	while (chunk_ok(s, g, pos, (uint64_t)st.st_size, g->next, end, &h, buf, cap)) {
		e = (struct strm_idx){ h.first, h.ts, pos, h.span };
		if ((rc = put_index(s, g, &e)) < 0)
			return rc;
		g->last_ts = h.ts;
		g->next = h.first + h.span;
		pos += STRM_CHUNK_HDR + h.filter_len + h.data_len;
	}
	if (pos < (uint64_t)st.st_size) {
		char name[32];
		int wfd;

		bk_warn("stream %016llx: segment %llu: %llu bytes after the last whole "
			"chunk cut off", (unsigned long long)s->id, (unsigned long long)g->first,
			(unsigned long long)((uint64_t)st.st_size - pos));
		strm_seg_name(name, g->first, "seg");
		if ((wfd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC)) >= 0) {
			if (ftruncate(wfd, (off_t)pos) == 0)
				fsync(wfd);
			close(wfd);
		}
	}
	if (g->ifd >= 0 && ftruncate(g->ifd, (off_t)(g->nidx * STRM_IDX_ENTRY)) < 0)
		return -errno;
	if (g->nidx > 0 && strm_idx_read(s, g, 0, &e) == 0)
		g->first_ts = e.ts;
	g->size = g->durable = pos;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* First offsets of the segment files in the directory, sorted. */
static int
list_segs(int dirfd, uint64_t **out, size_t *n)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int fd = dup(dirfd);

	*out = NULL;
	*n = 0;
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		char *end, name[32];
		unsigned long long v = strtoull(de->d_name, &end, 10);

		/* only the names strm_seg_name gives: "7.seg" or "-1.seg" would
		 * be opened (and deleted) under another segment's name */
		if (end == de->d_name || strcmp(end, ".seg") != 0)
			continue;
		strm_seg_name(name, v, "seg");
		if (strcmp(name, de->d_name) != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = bk_realloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = v;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_u64);
	return 0;
}

static int
make_dir(struct st_stream *s)
{
	char rel[64];
	int ddir = jnl_data_dirfd(s->j);

	if (mkdirat(ddir, "streams", 0700) == 0)
		fsync(ddir);
	snprintf(rel, sizeof(rel), "streams/%016llx", (unsigned long long)s->id);
	if (mkdirat(ddir, rel, 0700) == 0) {
		int p = openat(ddir, "streams", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (p >= 0) {
			fsync(p);
			close(p);
		}
	} else if (errno != EEXIST) {
		return -errno;
	}
	s->rel = bk_strdup(rel);
	s->dirfd = openat(ddir, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->dirfd < 0 ? -errno : 0;
}

static void
drop_empty(struct st_stream *s)
{
	size_t i = 0;

	while (i + 1 < s->nsegs) {
		struct strm_seg *g = s->segs[i];
		char name[32];

		if (g->nidx > 0) {
			i++;
			continue;
		}
		close(g->rfd);
		if (g->ifd >= 0)
			close(g->ifd);
		strm_seg_name(name, g->first, "seg");
		unlinkat(s->dirfd, name, 0);
		strm_seg_name(name, g->first, "idx");
		unlinkat(s->dirfd, name, 0);
		bk_free(g);
		memmove(s->segs + i, s->segs + i + 1, (s->nsegs - i - 1) * sizeof(*s->segs));
		s->nsegs--;
	}
}

static int
recover_all(struct st_stream *s)
{
	uint64_t *firsts;
	uint8_t *buf = NULL;
	size_t n, cap = 0;
	int rc;

	if ((rc = list_segs(s->dirfd, &firsts, &n)) < 0)
		return rc;
	s->segs = bk_calloc(n ? n : 1, sizeof(*s->segs));
	s->segcap = n ? n : 1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct strm_seg *g = bk_calloc(1, sizeof(*g));

		g->first = firsts[i];
		g->rfd = g->ifd = -1;
		g->file_id = jnl_file_id_next(s->j);
		g->idx_file_id = jnl_file_id_next(s->j);
		s->segs[s->nsegs++] = g;
		rc = recover_seg(s, g, i + 1 < n ? firsts[i + 1] : UINT64_MAX, &buf, &cap);
		s->bytes += g->size;
	}
	bk_free(buf);
	bk_free(firsts);
	if (rc == 0)
		drop_empty(s);
	if (s->nsegs > 0) {
		struct strm_seg *last = s->segs[s->nsegs - 1];

		s->next = last->nidx ? last->next : last->first;
		for (size_t i = 0; i + 1 < s->nsegs; i++)
			s->segs[i]->sealed = s->segs[i]->forgotten = true;
	}
	s->committed = s->next;
	return rc;
}

int
st_stream_open(struct st_journal *j, uint64_t id, const struct st_stream_config *cfg,
	       st_stream_fn fn, void *arg, struct st_stream **out)
{
	struct st_stream *s = bk_calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	s->j = j;
	s->id = id;
	s->dirfd = -1;
	s->cfg = *cfg;
	if (s->cfg.max_segment_bytes == 0)
		s->cfg.max_segment_bytes = STRM_DEFAULT_SEGMENT;
	if (s->cfg.filter_bytes < 16)
		s->cfg.filter_bytes = 16;
	if (s->cfg.filter_bytes > 255)
		s->cfg.filter_bytes = 255;
	s->notify = fn;
	s->notify_arg = arg;
	if ((rc = make_dir(s)) < 0 || (rc = recover_all(s)) < 0 ||
	    (s->cfg.compact && (rc = strm_keys_rebuild(s)) < 0)) {
		s->closing = true;
		strm_free(s);
		return rc;
	}
	*out = s;
	return 0;
}
