/*
 * fuzz_stream.c: libFuzzer target for what a stream reads back from its
 * directory: segment files, their index files, and the follower's redo of
 * a compaction (strm_compact_apply, the ST_REPL_COMPACT operation).
 *
 * The input, all integers little-endian:
 *
 *   +-------+----------------------------------------------------------+
 *   | flags | [idx_len u16, index bytes]  (flags & HAVE_IDX)           |
 *   +-------+----------------------------------------------------------+
 *   | [nbits u8, bitmap]  (flags & COMPACT_APPLY)                      |
 *   +------------------------------------------------------------------+
 *   | [seg1_len u16, seg2 first u64]  (flags & TWO_SEGS)               |
 *   +------------------------------------------------------------------+
 *   | segment bytes after the 32-octet header the harness writes       |
 *   +------------------------------------------------------------------+
 *
 * With FIX_CRC the harness recomputes every chunk's data and header CRC
 * and every index entry's CRC, so the fuzzer spends its time on lengths,
 * counts and offsets rather than on checksums: the files a writer of
 * the data directory (or a leader, through replication) could hand us.
 *
 * The stream is opened (recovery: index against segment, rebuild of the
 * compaction keys), read from the start with and without a filter, read
 * from the last chunk, from a timestamp and from an offset, and with
 * COMPACT its sealed segment compacted and read again; then, with
 * COMPACT_APPLY, the first segment is rewritten as a follower would and
 * the stream opened and read again. The invariants checked: recovery
 * leaves each segment's offsets at or after its first, readers hand out
 * strictly increasing offsets below the committed one, and no read takes
 * more calls than the input has bytes. ASan and LeakSanitizer catch the
 * rest.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_log.h"
#include "jnl_int.h"
#include "strm_int.h"

#define REQUIRE(x) do { \
	if (!(x)) { \
		fprintf(stderr, "fuzz_stream: %s:%d: %s\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

#define FIX_CRC        1u
#define COMPACT        2u
#define HAVE_IDX       4u
#define COMPACT_APPLY  8u
#define TWO_SEGS       16u

#define FUZZ_KEY 0x0F0F1234u
#define STREAM_ID 1

static char dir[64];
static struct event_base *evb;
static struct st_journal *jnl;
static volatile uint32_t sink;          /* every payload byte read is touched */

struct input {
	const uint8_t *p;
	size_t left;
};

static bool
take(struct input *in, void *out, size_t n)
{
	if (in->left < n)
		return false;
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

static const char *
path_of(uint64_t first, const char *ext)
{
	static char path[160];
	char name[32];

	strm_seg_name(name, first, ext);
	snprintf(path, sizeof(path), "%s/streams/%016llx/%s", dir, (unsigned long long)STREAM_ID,
		 name);
	return path;
}

static void
put_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	REQUIRE(f != NULL);
	if (n)
		fwrite(p, 1, n, f);
	fclose(f);
}

/* Make every chunk's CRCs right, walking the chunks as recovery does. */
static void
fix_chunks(uint8_t *seg, size_t len)
{
	size_t pos = STRM_SEG_HDR;

	while (pos + STRM_CHUNK_HDR <= len) {
		uint8_t *h = seg + pos;
		size_t body = (size_t)ld16(h + 32) + ld32(h + 28);

		st32(h, STRM_CHUNK_MAGIC);
		if (pos + STRM_CHUNK_HDR + body > len)
			body = 0;
		else
			st32(h + 36, strm_chunk_dcrc(h + STRM_CHUNK_HDR, body, FUZZ_KEY));
		st32(h + 40, st_crc32c(FUZZ_KEY, h, 40));
		if (body == 0 && pos + STRM_CHUNK_HDR + ((size_t)ld16(h + 32) + ld32(h + 28)) > len)
			break;
		pos += STRM_CHUNK_HDR + body;
	}
}

static void
fix_index(uint8_t *idx, size_t len)
{
	for (size_t pos = 0; pos + STRM_IDX_ENTRY <= len; pos += STRM_IDX_ENTRY)
		st32(idx + pos + 28, st_crc32c(0, idx + pos, 28));
}

/* Read r to its end: the offsets it gives. */
static void
drain(struct st_stream *s, struct st_sreader *r, size_t budget)
{
	struct st_stream_info i;
	struct st_stream_view v;
	uint64_t last = 0;
	bool any = false;
	size_t calls = 0;
	int rc;

	st_stream_info_get(s, &i);
	while ((rc = st_sreader_next(r, &v)) == 1) {
		REQUIRE(++calls <= budget);
		REQUIRE(!any || v.offset > last);
		REQUIRE(v.offset < i.committed);
		if (v.len)
			sink += ((const uint8_t *)v.payload)[v.len - 1];
		any = true;
		last = v.offset;
		st_sreader_done(r);
	}
	REQUIRE(rc <= 0);
}

static void
read_all(struct st_stream *s, size_t budget)
{
	struct st_stream_info i;
	struct st_sreader *r;
	uint64_t h = st_stream_filter_hash("a", 1);

	st_stream_info_get(s, &i);
	for (size_t k = 0; k < s->nsegs; k++) {
		REQUIRE(s->segs[k]->next >= s->segs[k]->first);
	}
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	drain(s, r, budget);
	st_sreader_free(r);
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	st_sreader_filter(r, &h, 1, true);
	drain(s, r, budget);
	st_sreader_free(r);
	r = st_sreader_new(s, ST_SEEK_LAST, 0);
	drain(s, r, budget);
	st_sreader_free(r);
	r = st_sreader_new(s, ST_SEEK_TIME, 1000);
	drain(s, r, budget);
	st_sreader_free(r);
	r = st_sreader_new(s, ST_SEEK_OFFSET, i.committed / 2);
	drain(s, r, budget);
	st_sreader_free(r);
	(void)st_stream_offset_ts(s, i.first);
}

static void
on_durable(void *arg, int status)
{
	*(bool *)arg = true;
}

/* Run the loop until what the journal holds now is durable (and the
 * completions queued before it, a compaction's, have run). */
static void
flush(void)
{
	bool done = false;

	if (st_journal_when_durable(jnl, on_durable, &done) < 0)
		return;
	while (!done)
		event_base_loop(evb, EVLOOP_ONCE);
}

static void
open_and_read(bool compact, size_t budget)
{
	struct st_stream_config cfg = { .compact = compact };
	struct st_stream *s = NULL;

	if (st_stream_open(jnl, STREAM_ID, &cfg, NULL, NULL, &s) == 0) {
		read_all(s, budget);
		/* compacted (the sealed segments) and read again */
		if (compact && st_stream_compact(s) > 0) {
			flush();
			flush();
			read_all(s, budget);
		}
		st_stream_close(s);
	}
}

static void
cleanup(void)
{
	char p[96];

	st_journal_close(jnl);
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	if (system(p) != 0)
		fprintf(stderr, "fuzz_stream: cannot remove %s\n", dir);
	event_base_free(evb);
}

static void
setup(void)
{
	struct st_journal_config cfg;
	char p[96];

	bk_log_set_level(BK_LOG_ERROR);        /* every torn tail is a warning */
	evb = event_base_new();
	snprintf(dir, sizeof(dir), "/dev/shm/fuzz-stream-%d", (int)getpid());
	mkdir(dir, 0700);
	st_journal_config_init(&cfg);
	cfg.data_dir = dir;
	cfg.sync = ST_SYNC_NONE;
	REQUIRE(st_journal_open(&cfg, evb, &jnl) == 0);
	snprintf(p, sizeof(p), "%s/streams", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/streams/%016llx", dir, (unsigned long long)STREAM_ID);
	mkdir(p, 0700);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t flags = 0, nbits = 0, bits[256], *seg, *idx = NULL;
	uint16_t idx_len = 0, seg1_len = 0;
	uint64_t first2 = 0;
	size_t body, seg1;

	if (evb == NULL)
		setup();
	if (!take(&in, &flags, 1))
		return 0;
	if ((flags & HAVE_IDX) && (!take(&in, &idx_len, 2) || in.left < idx_len))
		return 0;
	if (flags & HAVE_IDX) {
		idx = malloc(idx_len ? idx_len : 1);
		take(&in, idx, idx_len);
	}
	if ((flags & COMPACT_APPLY) && (!take(&in, &nbits, 1) || !take(&in, bits, nbits))) {
		free(idx);
		return 0;
	}
	if ((flags & TWO_SEGS) && (!take(&in, &seg1_len, 2) || !take(&in, &first2, 8))) {
		free(idx);
		return 0;
	}
	body = in.left;
	seg1 = (flags & TWO_SEGS) && seg1_len < body ? seg1_len : body;
	/* first segment: 0 + the bytes up to seg1; second: the rest */
	seg = malloc(STRM_SEG_HDR + body);
	strm_seg_header_encode(seg, 0, FUZZ_KEY);
	memcpy(seg + STRM_SEG_HDR, in.p, body);
	if (flags & FIX_CRC)
		fix_chunks(seg, STRM_SEG_HDR + seg1);
	put_file(path_of(0, "seg"), seg, STRM_SEG_HDR + seg1);
	if (idx) {
		if (flags & FIX_CRC)
			fix_index(idx, idx_len);
		put_file(path_of(0, "idx"), idx, idx_len);
	}
	if ((flags & TWO_SEGS) && first2 != 0) {
		uint8_t *s2 = seg + seg1;       /* reuse: the header goes over seg1's tail */

		strm_seg_header_encode(s2, first2, FUZZ_KEY);
		if (flags & FIX_CRC)
			fix_chunks(s2, STRM_SEG_HDR + body - seg1);
		put_file(path_of(first2, "seg"), s2, STRM_SEG_HDR + body - seg1);
	}

	open_and_read(flags & COMPACT, size + 16);
	if (flags & COMPACT_APPLY) {
		char rel[64];
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		snprintf(rel, sizeof(rel), "streams/%016llx/%020d.seg", (unsigned long long)STREAM_ID,
			 0);
		REQUIRE(dfd >= 0);
		(void)strm_compact_apply(dfd, rel, 0, bits, nbits, false);
		close(dfd);
		open_and_read(flags & COMPACT, size + 16);
	}

	free(seg);
	free(idx);
	unlink(path_of(0, "seg"));
	unlink(path_of(0, "idx"));
	if (first2 != 0) {
		unlink(path_of(first2, "seg"));
		unlink(path_of(first2, "idx"));
	}
	return 0;
}
