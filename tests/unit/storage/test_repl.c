/*
 * The journal's replication hook and the follower's mirror (jnl_repl.c,
 * st_mirror.c): every sealed batch described as file operations, applied
 * to a second directory, gives byte-for-byte the same files (segments
 * rolled and deleted, key/values, the definitions file, stream chunks and
 * retention); a journal opened on the copy replays the same messages;
 * completions wait for their release; paths from the wire stay inside
 * the data directory; a compacted stream's rewritten segments reach the
 * copy (ST_REPL_COMPACT) with the same bytes; a segment started from the
 * spare is grown on the copy to the spare's length (ST_REPL_TRUNCATE).
 */
#include <fcntl.h>

#include "bk_alloc.h"
#include "jnl_writer_int.h"   /* the spare's state (test_prealloc_copy) */
#include "journal_helpers.h"
#include "testlib.h"

static char mdir[256];
static struct st_mirror *mirror;
static uint64_t sealed_seq, written_seq;
static int apply_errors, batches;

/* A fresh directory, its mirror beside it (sync on or off), counters reset. */
static void
mirror_new(bool sync)
{
	tmpdir_new();
	snprintf(mdir, sizeof(mdir), "%.200s-mirror", dir);
	CHECK_EQ_INT(mkdir(mdir, 0700), 0);
	CHECK_EQ_INT(st_mirror_open(mdir, sync, &mirror), 0);
	sealed_seq = written_seq = 0;
	apply_errors = 0;
}
static uint64_t records_seen;

static void
on_sealed(void *arg, const struct st_repl_batch *b)
{
	CHECK_EQ_INT(b->seq, sealed_seq + 1);
	sealed_seq = b->seq;
	records_seen += b->records;
	batches++;
	for (size_t i = 0; i < b->nops; i++)
		if (st_mirror_apply(mirror, &b->ops[i]) != 0)
			apply_errors++;
}

static void
on_written(void *arg, uint64_t seq, int status)
{
	CHECK_EQ_INT(status, 0);
	CHECK(seq > written_seq);
	written_seq = seq;
}

static const struct st_repl_ops hook = { on_sealed, on_written };

/* Read a whole file (malloc'd) or NULL. */
static uint8_t *
slurp(const char *root, const char *rel, size_t *len)
{
	char p[600];
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if ((f = fopen(p, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

struct cmp {
	const char *other;
	int files, diffs;
};

static int
cmp_one(void *arg, const char *path, uint64_t size)
{
	struct cmp *c = arg;
	size_t la = 0, lb = 0;
	uint8_t *a = slurp(dir, path, &la), *b = slurp(c->other, path, &lb);

	c->files++;
	if (a == NULL || b == NULL || la != lb || memcmp(a, b, la) != 0) {
		fprintf(stderr, "differs: %s (%zu vs %zu)\n", path, la, lb);
		c->diffs++;
	}
	free(a);
	free(b);
	return 0;
}

static int
count_one(void *arg, const char *path, uint64_t size)
{
	(*(int *)arg)++;
	return 0;
}

/* Both trees hold the same files with the same bytes. */
static void
check_identical(void)
{
	struct cmp c = { mdir, 0, 0 };
	int n = 0;

	CHECK_EQ_INT(st_repl_files(dir, cmp_one, &c), 0);
	CHECK_EQ_INT(st_repl_files(mdir, count_one, &n), 0);
	CHECK_EQ_INT(c.diffs, 0);
	CHECK_EQ_INT(n, c.files);
	CHECK(c.files > 3);
}

/* Remove the mirror's directory (tmpdir_free works on dir). */
static void
mirror_dir_free(void)
{
	char keep[256];

	memcpy(keep, dir, sizeof(keep));
	snprintf(dir, sizeof(dir), "%s", mdir);
	tmpdir_free();
	memcpy(dir, keep, sizeof(dir));
}

static int
on_msg(void *arg, const struct st_msg *m)
{
	(*(int *)arg)++;
	return 0;
}

static void
stream_append(struct st_stream *s, int i)
{
	char body[600];
	struct st_stream_rec r = { 0 };
	uint64_t off;

	memset(body, 'a' + i % 26, sizeof(body));
	r.payload = body;
	r.len = sizeof(body);
	r.ts_ms = 1000 + (uint64_t)i;
	CHECK_EQ_INT(st_stream_append(s, &r, &off), 0);
}

static void
stream_done(void *arg, int status)
{
}

static void
test_copy(void)
{
	const uint64_t q1 = 7, q2 = 8;
	struct st_stream_config scfg = { 4096, 16, false };
	struct st_stream *s = NULL;
	struct st_journal *j;
	struct waiter w = { 0, 0 };
	int live = 0, replayed = 0;
	uint64_t mark;

	mirror_new(true);
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK(j != NULL);
	CHECK_EQ_INT(st_journal_replay(j, NULL, NULL), 0);
	st_journal_repl_attach(j, &hook, NULL);
	CHECK_EQ_INT(st_stream_open(j, 0x99, &scfg, stream_done, NULL, &s), 0);

	/* Enough to roll segments; half acked so old segments die. */
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 20; i++) {
			uint64_t id = (uint64_t)round * 100 + (uint64_t)i + 1;
			uint64_t qs[2] = { q1, q2 };

			CHECK_EQ_INT(append_msg(j, id, qs, 1 + (i % 2), 700), 0);
			if (round > 0 && i % 3 != 0) {
				uint64_t old = id - 100;

				st_journal_append_ack(j, q1, old);
				st_journal_append_ack(j, q2, old);
			}
		}
		CHECK_EQ_INT(st_journal_put_kv(j, 1, "k", 1, &round, sizeof(round)), 0);
		stream_append(s, round);
		CHECK_EQ_INT(st_journal_put_file(j, "definitions.json",
						 bk_strdup("{\"v\":1}"), 7), 0);
		/* a completion waits for its release */
		w.done = 0;
		CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), 0);
		mark = sealed_seq;
		while (sealed_seq == mark || written_seq < sealed_seq)
			event_base_loop(base, EVLOOP_ONCE);
		event_base_loop(base, EVLOOP_NONBLOCK);
		CHECK_EQ_INT(w.done, 0);
		st_journal_repl_release(j, st_journal_repl_sealed(j));
		CHECK_EQ_INT(w.done, 0);        /* never inside the call */
		while (!w.done)
			event_base_loop(base, EVLOOP_ONCE);
		CHECK_EQ_INT(w.status, 0);
		st_stream_retain(s, 12000, 0, 0);
	}
	/* one more batch so the last retention's unlinks leave */
	CHECK_EQ_INT(st_journal_put_kv(j, 1, "k2", 2, "x", 1), 0);
	w.done = 0;
	CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), 0);
	mark = sealed_seq;
	st_journal_repl_release(j, UINT64_MAX);    /* not ahead of sealing */
	while (sealed_seq == mark || written_seq < sealed_seq)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(w.done, 0);
	st_journal_repl_release(j, UINT64_MAX);
	while (!w.done)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(st_mirror_sync(mirror), 0);
	CHECK_EQ_INT(apply_errors, 0);
	CHECK(batches >= 20);
	CHECK(records_seen > 400);
	CHECK(count_segments() > 1);
	check_identical();

	st_stream_close(s);
	st_journal_close(j);
	st_mirror_close(mirror);
	mirror = NULL;
	/* the copy is a journal of its own */
	{
		char keep[256];
		struct st_replay_ops ops = { NULL, on_msg };

		memcpy(keep, dir, sizeof(keep));
		j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
		CHECK_EQ_INT(st_journal_replay(j, &ops, &live), 0);
		st_journal_close(j);
		snprintf(dir, sizeof(dir), "%s", mdir);
		j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
		CHECK(j != NULL);
		CHECK_EQ_INT(st_journal_replay(j, &ops, &replayed), 0);
		st_journal_close(j);
		CHECK(live > 0);
		CHECK_EQ_INT(replayed, live);
		tmpdir_free();
		memcpy(dir, keep, sizeof(dir));
	}
	tmpdir_free();
}

/* Without a hook, a completion does not wait for any release. */
static void
test_no_hook(void)
{
	struct st_journal *j;
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK_EQ_INT(st_journal_replay(j, NULL, NULL), 0);
	CHECK_EQ_INT(append_msg(j, 1, &q, 1, 10), 0);
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(st_journal_repl_sealed(j), 0);
	st_journal_close(j);
	tmpdir_free();
}

/* Closing releases what the gate holds: completions run, with 0. */
static void
test_close_releases(void)
{
	struct st_journal *j;
	struct waiter w = { 0, 0 };
	uint64_t q = 1;

	mirror_new(false);
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK_EQ_INT(st_journal_replay(j, NULL, NULL), 0);
	st_journal_repl_attach(j, &hook, NULL);
	CHECK_EQ_INT(append_msg(j, 1, &q, 1, 10), 0);
	CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), 0);
	while (written_seq == 0)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(w.done, 0);
	st_journal_close(j);
	CHECK_EQ_INT(w.done, 1);
	CHECK_EQ_INT(w.status, 0);
	st_mirror_close(mirror);
	mirror = NULL;
	mirror_dir_free();
	tmpdir_free();
}

static void
test_paths(void)
{
	static const char *good[] = { "definitions.json", "journal/00000000000000000001.seg",
				      "streams/0000000000000042/0.seg", "a..b", ".hidden" };
	static const char *bad[] = { "", "/etc/passwd", "../x", "journal/../../x", "a//b",
				     "a/", "./a", "a/.", "a\nb", "a\x7f" };
	struct st_repl_op op = { .kind = ST_REPL_WRITE, .data = "x", .len = 1 };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(st_repl_path_ok(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!st_repl_path_ok(bad[i], strlen(bad[i])));

	tmpdir_new();
	CHECK_EQ_INT(st_mirror_open(dir, true, &mirror), 0);
	op.path = "../escape";
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), -EINVAL);
	op.path = ST_REPL_LOCAL;
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), -EINVAL);
	op.path = "definitions.json.tmp";
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), -EINVAL);
	op.path = "a/b/c";
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), 0);
	op.kind = 99;
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), -EINVAL);
	/* a symlink planted in the copy is not followed */
	{
		char p[400];

		snprintf(p, sizeof(p), "%s/link", dir);
		CHECK_EQ_INT(symlink("/tmp", p), 0);
		op.kind = ST_REPL_WRITE;
		op.path = "link";
		CHECK(st_mirror_apply(mirror, &op) < 0);
	}
	op.kind = ST_REPL_TRUNCATE;
	op.path = "a/b/c";
	op.off = 10;
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), 0);
	op.kind = ST_REPL_UNLINK;
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), 0);
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), 0);      /* gone already */
	op.kind = ST_REPL_RMDIR;
	op.path = "a/b";
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), 0);
	CHECK_EQ_INT(st_mirror_sync(mirror), 0);
	st_mirror_close(mirror);
	mirror = NULL;
	tmpdir_free();
}

/* What was appended since mark: sealed, written, released, completed. */
static void
batch_done(struct st_journal *j, uint64_t mark)
{
	struct waiter w = { 0, 0 };

	CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), 0);
	while (sealed_seq == mark)
		event_base_loop(base, EVLOOP_ONCE);
	while (!w.done) {
		st_journal_repl_release(j, st_journal_repl_sealed(j));
		event_base_loop(base, EVLOOP_ONCE);
	}
	CHECK_EQ_INT(w.status, 0);
}

/* One batch (a key/value), sealed, written, released and completed. */
static void
one_batch(struct st_journal *j, int i)
{
	uint64_t mark = sealed_seq;

	CHECK_EQ_INT(st_journal_put_kv(j, 1, "k", 1, &i, sizeof(i)), 0);
	batch_done(j, mark);
}

static void
test_compact_copy(void)
{
	struct st_stream_config scfg = { 2048, 16, true };
	struct st_repl_op op = { .kind = ST_REPL_COMPACT, .data = "\xff", .len = 1 };
	struct st_stream *s = NULL;
	struct st_stream_info info;
	struct st_journal *j;
	int i;

	mirror_new(true);
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK_EQ_INT(st_journal_replay(j, NULL, NULL), 0);
	st_journal_repl_attach(j, &hook, NULL);
	CHECK_EQ_INT(st_stream_open(j, 0x77, &scfg, stream_done, NULL, &s), 0);
	/* three keys rewritten over and over, a chunk per batch */
	for (i = 0; i < 60; i++) {
		char body[200], key[1] = { (char)('a' + i % 3) };
		struct st_stream_rec r = { 0 };
		uint64_t off;

		memset(body, 'x', sizeof(body));
		body[0] = (char)i;
		r.payload = body;
		r.len = sizeof(body);
		r.ts_ms = 1000 + (uint64_t)i;
		r.key = key;
		r.klen = 1;
		CHECK_EQ_INT(st_stream_append(s, &r, &off), 0);
		one_batch(j, i);
	}
	/* compactions done, and the batch after them carries their notes */
	do {
		one_batch(j, i++);
		st_stream_info_get(s, &info);
	} while (info.compactions == 0 && i < 200);
	one_batch(j, i++);
	one_batch(j, i++);
	CHECK(info.compacted_records > 0);
	CHECK_EQ_INT(st_mirror_sync(mirror), 0);
	CHECK_EQ_INT(apply_errors, 0);
	check_identical();
	/* hostile operations: not a segment, a segment whose header says
	 * another first offset, a segment that is gone */
	op.path = "definitions.json";
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), -EINVAL);
	op.path = "streams/0000000000000077/00000000000000000000.seg";
	op.off = 5;
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), -EINVAL);
	op.path = "streams/0000000000000077/00000000000000099999.seg";
	CHECK_EQ_INT(st_mirror_apply(mirror, &op), 0);
	st_stream_close(s);
	st_journal_close(j);
	st_mirror_close(mirror);
	mirror = NULL;
	mirror_dir_free();
	tmpdir_free();
}

/*
 * A segment started from the spare (journal.preallocate) is, on the
 * leader, the spare's file: header, records, zeros to segment_size. Its
 * batch is described as WRITE header (trunc), TRUNCATE to the spare's
 * length, then the records' WRITE, and the copy comes out byte for byte
 * the same (lengths included). A segment not started from the spare
 * (the first) gets no TRUNCATE.
 */
#define PSEG ST_SEGMENT_SIZE_MIN

struct seen_op {
	uint8_t kind;
	bool trunc;
	char path[64];
	uint64_t off;
	size_t len;
};
static struct seen_op pops[4096];
static size_t npops;
static size_t pbatch_start[1024], npbatches;

static void
on_sealed_rec(void *arg, const struct st_repl_batch *b)
{
	if (npbatches < 1024)
		pbatch_start[npbatches++] = npops;
	for (size_t i = 0; i < b->nops && npops < 4096; i++) {
		struct seen_op *o = &pops[npops++];

		o->kind = b->ops[i].kind;
		o->trunc = b->ops[i].trunc;
		snprintf(o->path, sizeof(o->path), "%s", b->ops[i].path);
		o->off = b->ops[i].off;
		o->len = b->ops[i].len;
	}
	on_sealed(arg, b);
}

static const struct st_repl_ops rec_hook = { on_sealed_rec, on_written };

static off_t
file_size(const char *root, const char *rel)
{
	char p[600];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void
test_prealloc_copy(void)
{
	const struct st_replay_ops ops = { NULL, on_msg };
	struct st_journal *j;
	uint64_t q = 1, id = 1;
	int from_spare = 0, fresh = 0, replayed = 0;
	char name[80];

	mirror_new(true);
	npops = npbatches = 0;
	j = jopen_cfg(PSEG, ST_SYNC_BATCH);     /* preallocate: on by default */
	CHECK(j != NULL);
	CHECK_EQ_INT(st_journal_replay(j, NULL, NULL), 0);
	st_journal_repl_attach(j, &rec_hook, NULL);
	/* batches of 8 messages, each released and durable before the next;
	 * a spare being written is waited for, so each roll finds one */
	for (int round = 0; round < 40; round++) {
		uint64_t mark = sealed_seq;

		CHECK(spare_settled(j));
		for (int k = 0; k < 8; k++, id++)
			CHECK_EQ_INT(append_msg(j, id, &q, 1, 1000), 0);
		batch_done(j, mark);
	}
	CHECK(spare_settled(j));
	CHECK_EQ_INT(apply_errors, 0);
	/* each new segment's description */
	for (size_t bi = 0; bi < npbatches; bi++) {
		size_t end = bi + 1 < npbatches ? pbatch_start[bi + 1] : npops;

		for (size_t i = pbatch_start[bi]; i < end; i++) {
			struct seen_op *o = &pops[i];
			bool recs = false;

			if (!(o->kind == ST_REPL_WRITE && o->trunc &&
			      strncmp(o->path, "journal/", 8) == 0))
				continue;
			CHECK_EQ_INT(o->off, 0);
			CHECK_EQ_INT(o->len, JNL_SEG_HDR);
			if (i + 1 < end && pops[i + 1].kind == ST_REPL_TRUNCATE) {
				from_spare++;
				CHECK_STR(pops[i + 1].path, o->path);
				CHECK_EQ_INT(pops[i + 1].off, PSEG);
				/* the records come after the TRUNCATE, not before */
				for (size_t k = i + 2; k < end; k++)
					if (pops[k].kind == ST_REPL_WRITE &&
					    strcmp(pops[k].path, o->path) == 0) {
						CHECK_EQ_INT(pops[k].off, JNL_SEG_HDR);
						CHECK(!pops[k].trunc);
						recs = true;
					}
				CHECK(recs);
			} else {
				fresh++;
				CHECK_STR(o->path, "journal/00000000000000000001.seg");
			}
			/* nothing in the batch shrinks or grows it otherwise */
			for (size_t k = i + 2; k < end; k++)
				CHECK(!(pops[k].kind == ST_REPL_TRUNCATE &&
					strcmp(pops[k].path, o->path) == 0));
		}
	}
	CHECK_EQ_INT(fresh, 1);
	CHECK(from_spare >= 3);
	/* each rolled segment that came from the spare is cut to its
	 * records, in the next segment's first batch, before its header */
	for (uint64_t no = 2; no <= (uint64_t)from_spare; no++) {
		size_t cuts = 0;

		snprintf(name, sizeof(name), "journal/%020llu.seg", (unsigned long long)no);
		for (size_t i = 0; i < npops; i++)
			if (pops[i].kind == ST_REPL_TRUNCATE && strcmp(pops[i].path, name) == 0 &&
			    pops[i].off != PSEG) {
				cuts++;
				CHECK(pops[i].off > JNL_SEG_HDR && pops[i].off < PSEG);
				CHECK(i + 1 < npops && pops[i + 1].kind == ST_REPL_WRITE &&
				      pops[i + 1].trunc && strcmp(pops[i + 1].path, name) != 0);
			}
		CHECK_EQ_INT(cuts, 1);
	}
	/* the copy: the same bytes; the active segment the spare's length,
	 * the rolled ones their records' */
	CHECK_EQ_INT(st_mirror_sync(mirror), 0);
	check_identical();
	for (uint64_t no = 2; no <= (uint64_t)from_spare + 1; no++) {
		snprintf(name, sizeof(name), "journal/%020llu.seg", (unsigned long long)no);
		if (no == (uint64_t)from_spare + 1)
			CHECK_EQ_INT(file_size(dir, name), PSEG);
		else
			CHECK(file_size(dir, name) < PSEG);
		CHECK_EQ_INT(file_size(mdir, name), file_size(dir, name));
	}
	CHECK_EQ_INT(file_size(mdir, "journal/spare.tmp"), -1);
	st_journal_close(j);
	st_mirror_close(mirror);
	mirror = NULL;
	/* the copy opens as a journal with every message */
	{
		char keep[256];

		memcpy(keep, dir, sizeof(keep));
		snprintf(dir, sizeof(dir), "%s", mdir);
		j = jopen_cfg(PSEG, ST_SYNC_BATCH);
		CHECK(j != NULL);
		CHECK_EQ_INT(st_journal_replay(j, &ops, &replayed), 0);
		CHECK_EQ_INT(replayed, (int)(id - 1));
		st_journal_close(j);
		memcpy(dir, keep, sizeof(dir));
	}
	mirror_dir_free();
	tmpdir_free();
}

int
main(void)
{
	base = event_base_new();
	RUN(test_paths);
	RUN(test_no_hook);
	RUN(test_copy);
	RUN(test_close_releases);
	RUN(test_compact_copy);
	RUN(test_prealloc_copy);
	event_base_free(base);
	TEST_DONE();
}
