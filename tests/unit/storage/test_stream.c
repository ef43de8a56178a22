/*
 * Stream logs (strm_*.c) on a real journal and event_base: the record and
 * chunk codecs, the Bloom filter, appends becoming readable only once
 * durable, seeking by offset and time through the segment index, retention,
 * and recovery (a lost index tail rebuilt, a torn chunk cut off, offsets
 * unchanged).
 */
#include <fcntl.h>

#include "journal_helpers.h"
#include "strm_int.h"
#include "testlib.h"

static int notified;

static void
on_commit(void *arg, int status)
{
	notified++;
}

static struct st_stream *
sopen(struct st_journal *j, uint64_t segmax)
{
	struct st_stream_config cfg = { segmax, 16, false };
	struct st_stream *s = NULL;

	CHECK_EQ_INT(st_stream_open(j, 0x42, &cfg, on_commit, NULL, &s), 0);
	return s;
}

static void
append(struct st_stream *s, int i, const char *filter, uint64_t ts)
{
	char body[64];
	struct st_stream_rec r = { 0 };
	uint64_t off;

	snprintf(body, sizeof(body), "rec-%d", i);
	r.payload = body;
	r.len = (uint32_t)strlen(body);
	r.ts_ms = ts;
	if (filter) {
		r.filter = filter;
		r.filter_len = (uint16_t)strlen(filter);
		r.has_filter = true;
	}
	CHECK_EQ_INT(st_stream_append(s, &r, &off), 0);
	CHECK_EQ_INT(off, (uint64_t)i);
}

/* Read everything committed from the reader: the count; checks bodies. */
static int
read_all(struct st_sreader *r, int expect_first)
{
	struct st_stream_view v;
	int n = 0, rc;

	while ((rc = st_sreader_next(r, &v)) == 1) {
		char want[64];

		snprintf(want, sizeof(want), "rec-%llu", (unsigned long long)v.offset);
		CHECK(v.len == strlen(want) && memcmp(v.payload, want, v.len) == 0);
		if (n == 0)
			CHECK_EQ_INT(v.offset, (uint64_t)expect_first);
		n++;
	}
	CHECK_EQ_INT(rc, 0);
	return n;
}

static void
test_codecs(void)
{
	uint8_t buf[256], bits[16] = { 0 };
	struct strm_rec_view rv;
	struct strm_chunk_hdr h = { 7, 3, 2, 99, 40, 16, 1, 0x1234 }, g;
	struct strm_idx e = { 5, 6, 7, 8 }, f;
	size_t pos = 0;
	int hits = 0;

	strm_rec_encode(buf, 2, STRM_RF_TOMBSTONE, "k", 1, "payload", 7);
	CHECK_EQ_INT(strm_rec_next(buf, strm_rec_size(1, 7), &pos, &rv), 1);
	CHECK(rv.delta == 2 && rv.klen == 1 && rv.len == 7 && rv.flags == STRM_RF_TOMBSTONE);
	CHECK_EQ_INT(strm_rec_next(buf, strm_rec_size(1, 7) - 1, &(size_t){ 0 }, &rv), -EPROTO);
	strm_chunk_hdr_encode(buf, &h, 0xabc);
	CHECK_EQ_INT(strm_chunk_hdr_parse(buf, 0xabc, &g), 0);
	CHECK(g.first == 7 && g.span == 3 && g.nrec == 2 && g.ts == 99 && g.dcrc == 0x1234);
	CHECK_EQ_INT(strm_chunk_hdr_parse(buf, 0xabd, &g), -EPROTO);  /* other key */
	buf[5] ^= 1;
	CHECK_EQ_INT(strm_chunk_hdr_parse(buf, 0xabc, &g), -EPROTO);
	strm_idx_encode(buf, &e);
	CHECK_EQ_INT(strm_idx_parse(buf, &f), 0);
	CHECK(f.first == 5 && f.ts == 6 && f.pos == 7 && f.span == 8);
	/* Bloom filter: no false negatives; few false positives at 16 bytes */
	for (int i = 0; i < 4; i++) {
		char v[16];

		snprintf(v, sizeof(v), "val%d", i);
		strm_filter_add(bits, 16, strm_filter_hash(v, strlen(v)));
		CHECK(strm_filter_may_contain(bits, 16, strm_filter_hash(v, strlen(v))));
	}
	for (int i = 100; i < 1100; i++) {
		char v[16];

		snprintf(v, sizeof(v), "val%d", i);
		hits += strm_filter_may_contain(bits, 16, strm_filter_hash(v, strlen(v)));
	}
	CHECK(hits < 100);      /* 8 of 128 bits set: ~0.4% expected */
}

static void
test_append_read_seek(void)
{
	struct st_journal *j;
	struct st_stream *s;
	struct st_stream_info i;
	struct st_sreader *r;

	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	s = sopen(j, 600);
	for (int k = 0; k < 100; k++) {
		append(s, k, k % 2 ? "odd" : "even", 1000 + (uint64_t)k * 10);
		if (k % 5 == 4)
			CHECK_EQ_INT(flush(j), 0);      /* a chunk per five records */
	}
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	CHECK_EQ_INT(read_all(r, 0), 100);
	st_sreader_free(r);
	st_stream_info_get(s, &i);
	CHECK(i.segments > 3);                  /* 600-byte segments rolled */
	CHECK_EQ_INT(i.committed, 100);
	/* uncommitted appends are not readable */
	append(s, 100, NULL, 5000);
	r = st_sreader_new(s, ST_SEEK_OFFSET, 57);
	CHECK_EQ_INT(read_all(r, 57), 43);
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(read_all(r, 100), 1);
	st_sreader_free(r);
	/* by time: the chunk stamped at or after 1500 starts at offset 50 */
	r = st_sreader_new(s, ST_SEEK_TIME, 1500);
	CHECK_EQ_INT(read_all(r, 50), 51);
	st_sreader_free(r);
	r = st_sreader_new(s, ST_SEEK_LAST, 0);
	CHECK_EQ_INT(read_all(r, 100), 1);
	st_sreader_free(r);
	/* filter: chunks hold both values, so nothing is skipped for "odd";
	 * a value in no chunk skips every chunk but the unfiltered one */
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	st_sreader_filter(r, (uint64_t[]){ strm_filter_hash("none", 4) }, 1, true);
	CHECK(read_all(r, 100) <= 5);
	st_sreader_free(r);
	CHECK(notified > 0);
	/* retention: at most 1500 bytes kept, whole segments, oldest first */
	CHECK(st_stream_retain(s, 1500, 0, 0) > 0);
	st_stream_info_get(s, &i);
	CHECK(i.first > 0 && i.bytes <= 1500);
	r = st_sreader_new(s, ST_SEEK_OFFSET, 0);   /* behind retention: oldest kept */
	CHECK_EQ_INT(read_all(r, (int)i.first), (int)(101 - i.first));
	st_sreader_free(r);
	st_stream_close(s);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_recovery(void)
{
	struct st_journal *j;
	struct st_stream *s;
	struct st_stream_info i;
	struct st_sreader *r;
	char p[400];
	int fd;

	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	s = sopen(j, 1 << 20);
	for (int k = 0; k < 30; k++) {
		append(s, k, NULL, 1000);
		CHECK_EQ_INT(flush(j), 0);
	}
	st_stream_close(s);
	st_journal_close(j);
	/* lose the index's last 10 entries and tear the last chunk */
	snprintf(p, sizeof(p), "%s/streams/0000000000000042/%020d.idx", dir, 0);
	CHECK_EQ_INT(truncate(p, 20 * STRM_IDX_ENTRY), 0);
	snprintf(p, sizeof(p), "%s/streams/0000000000000042/%020d.seg", dir, 0);
	fd = open(p, O_RDWR);
	CHECK(fd >= 0 && lseek(fd, 0, SEEK_END) > 10);
	CHECK_EQ_INT(ftruncate(fd, lseek(fd, 0, SEEK_END) - 3), 0);
	close(fd);
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	s = sopen(j, 1 << 20);
	st_stream_info_get(s, &i);
	CHECK_EQ_INT(i.next, 29);               /* the torn 30th record is gone */
	r = st_sreader_new(s, ST_SEEK_OFFSET, 25);  /* through rebuilt index entries */
	CHECK_EQ_INT(read_all(r, 25), 4);
	st_sreader_free(r);
	append(s, 29, NULL, 2000);              /* the same offset is given again */
	CHECK_EQ_INT(flush(j), 0);
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	CHECK_EQ_INT(read_all(r, 0), 30);
	st_sreader_free(r);
	st_stream_destroy(s);
	st_journal_close(j);
	snprintf(p, sizeof(p), "%s/streams/0000000000000042", dir);
	CHECK(access(p, F_OK) != 0);            /* deleted with its files */
	tmpdir_free();
}

/* Compaction: 5 keys updated 20 times, then a tombstone for k1. */
static void
test_compaction(void)
{
	struct st_stream_config cfg = { 700, 16, true };
	uint64_t newest[5] = { 0 }, off, active_first;
	struct st_stream_info i;
	struct st_stream_view v;
	struct st_sreader *r;
	struct st_journal *j;
	struct st_stream *s;
	int n = 0, rc;

	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	CHECK_EQ_INT(st_stream_open(j, 0x43, &cfg, on_commit, NULL, &s), 0);
	for (int k = 0; k <= 100; k++) {
		char body[32], key[8];
		struct st_stream_rec rec = { 0 };
		int kk = k == 100 ? 1 : k % 5;

		snprintf(body, sizeof(body), "rec-%d", k);
		snprintf(key, sizeof(key), "k%d", kk);
		rec.payload = body;
		rec.len = k == 100 ? 0 : (uint32_t)strlen(body);
		rec.key = key;
		rec.klen = 2;
		rec.tombstone = k == 100;
		rec.ts_ms = 1000;
		CHECK_EQ_INT(st_stream_append(s, &rec, &off), 0);
		newest[kk] = off;
		if (k % 5 == 4)
			CHECK_EQ_INT(flush(j), 0);
	}
	CHECK_EQ_INT(flush(j), 0);
	st_stream_compact(s);
	CHECK_EQ_INT(flush(j), 0);                  /* the rewrite rode that batch */
	CHECK_EQ_INT(flush(j), 0);
	st_stream_info_get(s, &i);
	CHECK(i.compactions > 0 && i.compacted_records > 50);
	active_first = s->segs[s->nsegs - 1]->first;
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	while ((rc = st_sreader_next(r, &v)) == 1) {
		char want[32];

		n++;
		if (v.tombstone) {
			CHECK_EQ_INT(v.offset, 100);
			continue;
		}
		snprintf(want, sizeof(want), "rec-%llu", (unsigned long long)v.offset);
		CHECK(v.len == strlen(want) && memcmp(v.payload, want, v.len) == 0);  /* offsets kept */
		if (v.offset < active_first)            /* sealed: only the newest per key */
			CHECK_EQ_INT(v.offset, newest[v.offset % 5]);
	}
	CHECK_EQ_INT(rc, 0);
	CHECK(n < 30);
	st_sreader_free(r);
	st_stream_close(s);
	st_journal_close(j);
	/* reopened: the same survivors, and the key table rebuilt */
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	CHECK_EQ_INT(st_stream_open(j, 0x43, &cfg, on_commit, NULL, &s), 0);
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	rc = 0;
	while (st_sreader_next(r, &v) == 1)
		rc++;
	CHECK_EQ_INT(rc, n);
	st_sreader_free(r);
	st_stream_destroy(s);
	st_journal_close(j);
	tmpdir_free();
}

/* Segments of one record each, every key new (nothing to remove): each
 * seal used to hand every sealed segment to the thread again, the square
 * of the segments in all. A pass now waits until half the stream is new,
 * so the segments handed over stay within a few times their number. */
static void
test_compaction_passes(void)
{
	struct st_stream_config cfg = { 1, 16, true };
	struct st_journal *j;
	struct st_stream *s;
	uint64_t off;
	int k;

	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	CHECK_EQ_INT(st_stream_open(j, 0x45, &cfg, on_commit, NULL, &s), 0);
	for (k = 0; k < 400; k++) {
		char body[16], key[16];
		struct st_stream_rec rec = { 0 };

		snprintf(body, sizeof(body), "rec-%d", k);
		snprintf(key, sizeof(key), "key-%d", k);
		rec.payload = body;
		rec.len = (uint32_t)strlen(body);
		rec.key = key;
		rec.klen = (uint32_t)strlen(key);
		rec.ts_ms = 1000;
		CHECK_EQ_INT(st_stream_append(s, &rec, &off), 0);
		CHECK_EQ_INT(flush(j), 0);              /* a segment per record */
	}
	CHECK_EQ_INT(flush(j), 0);
	CHECK(s->nsegs >= 399);
	CHECK(s->compact_jobs > 0);
	CHECK(s->compact_jobs < 4 * s->nsegs);
	st_stream_destroy(s);
	st_journal_close(j);
	tmpdir_free();
}

/* Write segment first of stream 0x44 in dir: a chunk per {first, span},
 * each with one record at delta (CRCs right). */
static void
put_segment(uint64_t first, const uint64_t (*chunks)[3], int n)
{
	struct strm_chunk_hdr h;
	uint8_t seg[512], rec[64], *p = seg + STRM_SEG_HDR;
	size_t rl = strm_rec_size(0, 5);
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/streams", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/streams/%016llx", dir, 0x44ULL);
	mkdir(path, 0700);
	strm_seg_header_encode(seg, first, 7);
	for (int k = 0; k < n; k++) {
		strm_rec_encode(rec, (uint32_t)chunks[k][2], 0, NULL, 0, "rec-x", 5);
		h = (struct strm_chunk_hdr){ .first = chunks[k][0], .span = (uint32_t)chunks[k][1],
					     .nrec = 1, .ts = 1000, .data_len = (uint32_t)rl };
		h.dcrc = strm_chunk_dcrc(rec, rl, 7);
		strm_chunk_hdr_encode(p, &h, 7);
		memcpy(p + STRM_CHUNK_HDR, rec, rl);
		p += STRM_CHUNK_HDR + rl;
	}
	snprintf(path, sizeof(path), "%s/streams/%016llx/%020llu.seg", dir, 0x44ULL,
		 (unsigned long long)first);
	CHECK((f = fopen(path, "wb")) != NULL);
	fwrite(seg, 1, (size_t)(p - seg), f);
	fclose(f);
}

/* Segments whose chunks check (CRCs right) but whose offsets do not add
 * up: a record outside its chunk's span, a chunk that goes back to
 * offsets an earlier one holds, one that runs into the next segment's,
 * one whose span wraps past 2^64, one 2^40 offsets past its segment's
 * first. Recovery keeps only the chunks whose offsets grow within their
 * segment; a reader refuses a record outside its chunk rather than hand
 * out an offset past committed; compaction leaves a segment alone whose
 * offsets span more than it can have held. */
static void
test_hostile_offsets(void)
{
	static const uint64_t back[][3] = { { 0, 1, 5 }, { 0, 2, 0 } };    /* first, span, delta */
	static const uint64_t over[][3] = { { 0, 1, 0 }, { 1, 3, 0 } }, next[][3] = { { 2, 1, 0 } };
	static const uint64_t far[][3] = { { 1ULL << 40, 1, 0 } };
	static const uint64_t farnext[][3] = { { 1ULL << 41, 1, 0 } };
	struct st_stream_config cfg = { 0, 16, false };
	struct strm_chunk_hdr h, wrap = { .first = UINT64_MAX - 1, .span = 5, .nrec = 1 };
	uint8_t raw[STRM_CHUNK_HDR];
	struct st_stream_info i;
	struct st_stream_view v;
	struct st_sreader *r;
	struct st_journal *j;
	struct st_stream *s;
	int rc;

	strm_chunk_hdr_encode(raw, &wrap, 7);
	CHECK_EQ_INT(strm_chunk_hdr_parse(raw, 7, &h), -EPROTO);

	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	put_segment(0, back, 2);
	CHECK_EQ_INT(st_stream_open(j, 0x44, &cfg, on_commit, NULL, &s), 0);
	st_stream_info_get(s, &i);
	CHECK_EQ_INT(i.committed, 1);           /* the chunk going back is cut off */
	r = st_sreader_new(s, ST_SEEK_FIRST, 0);
	while ((rc = st_sreader_next(r, &v)) == 1)
		CHECK(v.offset < i.committed);
	CHECK_EQ_INT(rc, -EIO);                 /* delta 5 in a chunk of span 1 */
	st_sreader_free(r);
	st_stream_destroy(s);
	st_journal_close(j);
	tmpdir_free();

	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	put_segment(0, over, 2);
	put_segment(2, next, 1);
	CHECK_EQ_INT(st_stream_open(j, 0x44, &cfg, on_commit, NULL, &s), 0);
	CHECK(s->nsegs == 2 && s->segs[0]->next == 1);  /* 1..3 overlaps segment 2 */
	st_stream_close(s);
	st_journal_close(j);
	tmpdir_free();

	/* offsets that grow, but by 2^40 within a segment: compaction's bitmap
	 * (a bit per offset) would be 128 GiB; the segment is left alone */
	tmpdir_new();
	j = jopen_cfg(1 << 20, ST_SYNC_BATCH);
	put_segment(0, far, 1);
	put_segment(1ULL << 41, farnext, 1);
	cfg.compact = true;
	CHECK_EQ_INT(st_stream_open(j, 0x44, &cfg, on_commit, NULL, &s), 0);
	CHECK(s->nsegs == 2 && s->segs[0]->next == (1ULL << 40) + 1);
	CHECK_EQ_INT(st_stream_compact(s), 0);
	st_stream_close(s);
	st_journal_close(j);
	tmpdir_free();
}

int
main(void)
{
	base = event_base_new();
	test_codecs();
	test_append_read_seek();
	test_recovery();
	test_compaction();
	test_compaction_passes();
	test_hostile_offsets();
	event_base_free(base);
	printf("%d checks, %d failed\n", tl_checks, tl_failures);
	return tl_failures != 0;
}
