/*
 * The journal end to end on a real event_base and journal thread: group
 * commit and completion order, replay after reopen with settlements
 * applied, torn tail and mid-segment corruption, segment deletion,
 * compaction, body reads, the failed state after a write error, and
 * segments started from the spare (journal.preallocate): their length
 * while open, the spare's life, recovery of their zero tails.
 */
#include "../testlib.h"
#include "bk_alloc.h"
#include "jnl_writer_int.h"   /* the spare's state (prealloc tests) */
#include "journal_helpers.h"

#include <fcntl.h>

static void
test_order(void)
{
	struct st_journal_stats st;
	struct st_journal *j;
	struct waiter w[100];
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(0, ST_SYNC_BATCH);
	CHECK(j != NULL);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(append_msg(j, (uint64_t)i + 1, &q, 1, 100), 0);
		w[i].done = 0;
		w[i].status = 1;
		CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w[i]), 0);
	}
	/* nothing runs inside the calls */
	CHECK_EQ_INT(w[0].done, 0);
	CHECK_EQ_INT(flush(j), 0);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(w[i].done, 1);
		CHECK_EQ_INT(w[i].status, 0);
	}
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.records, 100);
	CHECK(st.batches >= 1 && st.batches <= 2);  /* one iteration, one batch */
	CHECK(st.syncs >= 1);
	CHECK_EQ_INT(append_msg(j, 5, &q, 1, 1), -EEXIST);
	CHECK_EQ_INT(st_journal_append_ack(j, 99, 5), -ENOENT);
	st_journal_close(j);
	tmpdir_free();
}

/* completions strictly in registration order across batches */
static int seq_seen[10], seq_n;
static void
on_seq(void *arg, int status)
{
	seq_seen[seq_n++] = (int)(intptr_t)arg;
}

static void
test_order_across_batches(void)
{
	struct st_journal *j;
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(0, ST_SYNC_BATCH);
	seq_n = 0;
	for (int i = 0; i < 10; i++) {
		append_msg(j, (uint64_t)i + 1, &q, 1, 10);
		st_journal_when_durable(j, on_seq, (void *)(intptr_t)i);
		if (i % 3 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);   /* seal mid-way */
	}
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(seq_n, 10);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(seq_seen[i], i);
	st_journal_close(j);
	tmpdir_free();
}

/*
 * Passes that overlap (a batch sealed every iteration while earlier ones
 * sync), across segment rolls and with acks making segments dead while
 * later passes are in flight: completions stay in order, every one
 * succeeds, and a reopen finds exactly the unacked messages.
 */
static int ov_seen[2000], ov_n, ov_bad;
static void
on_ov(void *arg, int status)
{
	if (status != 0)
		ov_bad++;
	if (ov_n < 2000)
		ov_seen[ov_n] = (int)(intptr_t)arg;
	ov_n++;
}

static int
count_msgs(void *arg, const struct st_msg *m)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_overlapped_passes(void)
{
	const struct st_replay_ops ops = { NULL, count_msgs };
	struct st_journal_stats st;
	struct st_journal *j;
	uint64_t q = 1;
	int live = 0;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	ov_n = ov_bad = 0;
	for (int i = 0; i < 2000; i++) {
		CHECK_EQ_INT(append_msg(j, (uint64_t)i + 1, &q, 1, 1000), 0);
		if (i >= 100 && i % 2 == 0)
			CHECK_EQ_INT(st_journal_append_ack(j, 1, (uint64_t)i - 99), 0);
		CHECK_EQ_INT(st_journal_when_durable(j, on_ov, (void *)(intptr_t)i), 0);
		if (i % 7 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);   /* seal: a new pass */
	}
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(ov_n, 2000);
	CHECK_EQ_INT(ov_bad, 0);
	for (int i = 0; i < 2000; i++)
		CHECK_EQ_INT(ov_seen[i], i);
	st_journal_stats_get(j, &st);
	CHECK(st.segments >= 2);
	CHECK(st.syncs >= 2);
	st_journal_close(j);
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK(j != NULL);
	CHECK_EQ_INT(st_journal_replay(j, &ops, &live), 0);
	CHECK_EQ_INT(live, 2000 - 950);
	st_journal_close(j);
	tmpdir_free();
}

/*
 * A pass's sync fails while later passes may already be written and
 * synced: the failing pass and every one after it complete with the
 * error (or are refused once the failed state is known), none reports
 * success; then the probe clears the state and appends work again.
 */
/* Run the loop until the journal's retry timer has cleared a failed
 * state; the state left (0 when cleared). */
static int
failure_cleared(struct st_journal *j)
{
	struct st_journal_stats st;
	int spins = 0;

	do {
		event_base_loop(base, EVLOOP_ONCE);
		st_journal_stats_get(j, &st);
	} while (st.failed && ++spins < 1000);
	return st.failed;
}

static void
test_sync_failure_fails_later_passes(void)
{
	struct st_journal *j;
	struct waiter w[40];
	uint64_t q = 1;
	int spins = 0, first_failed = -1, late_ok = 0;

	struct st_journal_config cfg;
	int n = 0;

	tmpdir_new();
	st_journal_config_init(&cfg);
	cfg.data_dir = dir;
	cfg.segment_size = 64 << 10;
	cfg.sync = ST_SYNC_BATCH;
	cfg.retry_ms = 1000;        /* the failed state outlasts the appends below */
	CHECK_EQ_INT(st_journal_open(&cfg, base, &j), 0);
	CHECK_EQ_INT(append_msg(j, 1, &q, 1, 100), 0);
	CHECK_EQ_INT(flush(j), 0);
	st_journal_inject_sync_failure(j, -EIO, 1);
	/* until the failed state is known: every pass after the failing one */
	for (; n < 40; n++) {
		w[n].done = 0;
		w[n].status = 1;
		if (append_msg(j, (uint64_t)n + 10, &q, 1, 100) != 0 ||
		    st_journal_when_durable(j, on_done, &w[n]) != 0)
			break;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	/* Two passes overlap, so the failing fdatasync may be the second
	 * pass's: batches sealed before it are durable, and every one sealed
	 * from it on must fail, even where its own sync returned 0. */
	for (int i = 0; i < n; i++) {
		while (!w[i].done && ++spins < 100000)
			event_base_loop(base, EVLOOP_ONCE);
		if (w[i].done && w[i].status == 0 && first_failed < 0)
			continue;
		if (w[i].done && w[i].status == 0)
			late_ok++;
		else if (first_failed < 0)
			first_failed = i;
	}
	CHECK(n >= 1);
	CHECK(first_failed >= 0);
	if (first_failed >= 0)
		CHECK_EQ_INT(w[first_failed].status, -EIO);
	CHECK_EQ_INT(late_ok, 0);
	CHECK_EQ_INT(failure_cleared(j), 0);
	CHECK_EQ_INT(append_msg(j, 100, &q, 1, 100), 0);
	CHECK_EQ_INT(flush(j), 0);
	st_journal_close(j);
	tmpdir_free();
}

struct replayed {
	uint64_t ids[64];
	uint16_t nq[64];
	uint64_t q0[64];
	uint32_t c0[64];
	int n;
	char kv[8][16];
	int nkv;
};

static int
rep_msg(void *arg, const struct st_msg *m)
{
	struct replayed *r = arg;

	if (r->n < 64) {
		r->ids[r->n] = m->id;
		r->nq[r->n] = m->nqueues;
		r->q0[r->n] = m->queues[0].queue_id;
		r->c0[r->n] = m->queues[0].delivery_count;
	}
	r->n++;
	return 0;
}

static int
rep_kv(void *arg, uint16_t ns, const void *key, uint32_t kl, const void *val, uint32_t vl)
{
	struct replayed *r = arg;

	if (r->nkv < 8)
		snprintf(r->kv[r->nkv], 16, "%u:%.*s=%.*s", ns, (int)kl, (const char *)key,
			 (int)vl, (const char *)val);
	r->nkv++;
	return 0;
}

static const struct st_replay_ops rops = { rep_kv, rep_msg };

static void
reopen_replay(struct st_journal **j, struct replayed *r)
{
	st_journal_close(*j);
	memset(r, 0, sizeof(*r));
	*j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK(*j != NULL);
	if (*j)
		CHECK_EQ_INT(st_journal_replay(*j, &rops, r), 0);
}

static void
test_replay(void)
{
	uint64_t q12[2] = { 1, 2 }, q2 = 2;
	struct st_journal *j;
	struct replayed r;
	const uint64_t want[] = { 1, 2, 5, 6, 7, 8, 9, 10 };

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	for (uint64_t i = 1; i <= 10; i++)
		CHECK_EQ_INT(append_msg(j, i, q12, 2, 50), 0);
	CHECK_EQ_INT(append_msg(j, 11, &q2, 1, 50), 0);
	CHECK_EQ_INT(st_journal_append_ack(j, 1, 3), 0);
	CHECK_EQ_INT(st_journal_append_ack(j, 2, 3), 0);
	CHECK_EQ_INT(st_journal_append_ack(j, 2, 3), -ENOENT);
	CHECK_EQ_INT(st_journal_append_count(j, 1, 5, 7), 0);
	CHECK_EQ_INT(st_journal_append_ack(j, 1, 4), 0);
	CHECK_EQ_INT(flush(j), 0);          /* two batches */
	CHECK_EQ_INT(st_journal_append_queue_drop(j, 2), 0);
	CHECK_EQ_INT(st_journal_put_kv(j, 1, "a", 1, "x", 1), 0);
	CHECK_EQ_INT(st_journal_put_kv(j, 1, "a", 1, "y", 1), 0);
	CHECK_EQ_INT(st_journal_put_kv(j, 1, "b", 1, "z", 1), 0);
	CHECK_EQ_INT(st_journal_del_kv(j, 1, "b", 1), 0);
	CHECK_EQ_INT(st_journal_del_kv(j, 1, "c", 1), -ENOENT);
	CHECK_EQ_INT(flush(j), 0);

	reopen_replay(&j, &r);
	CHECK_EQ_INT(r.n, 8);
	for (int i = 0; i < 8 && i < r.n; i++) {
		CHECK_EQ_INT(r.ids[i], want[i]);
		CHECK_EQ_INT(r.nq[i], 1);
		CHECK_EQ_INT(r.q0[i], 1);
		CHECK_EQ_INT(r.c0[i], want[i] == 5 ? 7 : 0);
	}
	CHECK_EQ_INT(r.nkv, 1);
	CHECK_STR(r.kv[0], "1:a=y");
	CHECK_EQ_INT(st_journal_max_msg_id(j), 11);
	CHECK_EQ_INT(st_journal_replay(j, &rops, &r), -EALREADY);
	/* append after replay, reopen again: state carries over */
	CHECK_EQ_INT(st_journal_append_ack(j, 1, 1), 0);
	CHECK_EQ_INT(flush(j), 0);
	reopen_replay(&j, &r);
	CHECK_EQ_INT(r.n, 7);
	CHECK_EQ_INT(r.ids[0], 2);
	st_journal_close(j);
	tmpdir_free();
}

static off_t
fsize(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void
test_torn_tail(void)
{
	struct st_journal *j;
	struct replayed r;
	struct st_loc loc;
	char path[320];
	uint64_t q = 1;
	off_t before;
	FILE *f;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	for (uint64_t i = 1; i <= 5; i++)
		append_msg(j, i, &q, 1, 100);
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(st_journal_msg_loc(j, 1, &loc), 0);
	st_journal_close(j);
	seg_path(path, sizeof(path), loc.segment);
	before = fsize(path);
	/* a record header and part of a payload: a write cut short */
	f = fopen(path, "ab");
	fwrite("\x90\x00\x00\x00\x12\x34\x56\x78\x01partial", 1, 16, f);
	fclose(f);
	CHECK_EQ_INT(fsize(path), before + 16);
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	memset(&r, 0, sizeof(r));
	CHECK_EQ_INT(st_journal_replay(j, &rops, &r), 0);
	CHECK_EQ_INT(r.n, 5);
	CHECK_EQ_INT(fsize(path), before);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_mid_corruption(void)
{
	struct st_journal *j;
	struct replayed r;
	struct st_loc loc;
	char path[320];
	uint64_t q = 1;
	FILE *f;
	int c;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	for (uint64_t i = 1; i <= 3; i++)
		append_msg(j, i, &q, 1, 100);
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(st_journal_msg_loc(j, 2, &loc), 0);
	st_journal_close(j);
	seg_path(path, sizeof(path), loc.segment);
	f = fopen(path, "r+b");
	fseek(f, loc.offset + 40, SEEK_SET);
	c = fgetc(f);
	fseek(f, loc.offset + 40, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	memset(&r, 0, sizeof(r));
	CHECK_EQ_INT(st_journal_replay(j, &rops, &r), 0);
	CHECK_EQ_INT(r.n, 2);
	CHECK_EQ_INT(r.ids[0], 1);
	CHECK_EQ_INT(r.ids[1], 3);
	st_journal_close(j);
	tmpdir_free();
}

/* Let deletions and compaction run: each round is a batch round trip. */
static void
settle(struct st_journal *j, int rounds)
{
	for (int i = 0; i < rounds; i++)
		flush(j);
}

static void
test_delete_settled(void)
{
	struct st_journal_stats st;
	struct st_journal *j;
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	for (uint64_t i = 1; i <= 400; i++)
		append_msg(j, i, &q, 1, 1024);
	CHECK_EQ_INT(flush(j), 0);
	st_journal_stats_get(j, &st);
	CHECK(st.segments >= 6);
	CHECK_EQ_INT(count_segments(), (int)st.segments);
	for (uint64_t i = 1; i <= 400; i++)
		CHECK_EQ_INT(st_journal_append_ack(j, 1, i), 0);
	settle(j, 8);
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.segments, 1);              /* only the active one */
	CHECK_EQ_INT(count_segments(), 1);
	CHECK_EQ_INT(st.live_msgs, 0);
	CHECK(st.deleted_segments >= 6);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_steady_state_bounded(void)
{
	struct st_journal_stats st;
	struct st_journal *j;
	uint64_t q = 1, id = 1;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_NONE);
	/* publish 50, ack the 50 before, for many rounds */
	for (int round = 0; round < 200; round++) {
		for (int k = 0; k < 50; k++, id++) {
			append_msg(j, id, &q, 1, 1024);
			if (id > 50)
				st_journal_append_ack(j, 1, id - 50);
		}
		flush(j);
	}
	st_journal_stats_get(j, &st);
	CHECK(st.segments <= 4);
	CHECK(st.disk_bytes < 4 * (64u << 10) + 4096);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_compaction(void)
{
	struct st_journal_stats st;
	struct st_journal *j;
	struct st_loc l1, l1b;
	struct replayed r;
	uint8_t body[2048];
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	for (uint64_t i = 1; i <= 400; i++)
		append_msg(j, i, &q, 1, 1024);
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(st_journal_msg_loc(j, 1, &l1), 0);
	/* keep 1, 2 (first segment) and 400; ack the rest */
	for (uint64_t i = 3; i < 400; i++)
		CHECK_EQ_INT(st_journal_append_ack(j, 1, i), 0);
	settle(j, 10);
	st_journal_stats_get(j, &st);
	CHECK(st.compacted_records >= 2);
	CHECK_EQ_INT(st_journal_msg_loc(j, 1, &l1b), 0);
	CHECK(l1b.segment > l1.segment);
	CHECK(st.segments <= 2);
	CHECK_EQ_INT(count_segments(), (int)st.segments);
	CHECK_EQ_INT(st_journal_read_body(j, 1, body, sizeof(body)), 1024);
	CHECK(body[0] == 1 && body[1023] == (uint8_t)(1 + 1023));
	reopen_replay(&j, &r);
	CHECK_EQ_INT(r.n, 3);
	CHECK_EQ_INT(r.ids[0], 1);
	CHECK_EQ_INT(r.ids[1], 2);
	CHECK_EQ_INT(r.ids[2], 400);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_read_body(void)
{
	struct st_journal *j;
	uint8_t body[2000];
	uint64_t q = 3;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	append_msg(j, 77, &q, 1, 1000);
	/* still in the open batch: served from memory */
	CHECK_EQ_INT(st_journal_read_body(j, 77, body, sizeof(body)), 1000);
	CHECK(body[0] == 77 && body[999] == (uint8_t)(77 + 999));
	CHECK_EQ_INT(flush(j), 0);
	memset(body, 0, sizeof(body));
	CHECK_EQ_INT(st_journal_read_body(j, 77, body, sizeof(body)), 1000);
	CHECK(body[0] == 77 && body[999] == (uint8_t)(77 + 999));
	CHECK_EQ_INT(st_journal_read_body(j, 77, body, 10), -EMSGSIZE);
	CHECK_EQ_INT(st_journal_read_body(j, 78, body, sizeof(body)), -ENOENT);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_write_failure(void)
{
	struct st_journal_stats st;
	struct st_journal *j;
	struct waiter w = { 0, 0 };
	struct replayed r;
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK_EQ_INT(append_msg(j, 1, &q, 1, 100), 0);
	CHECK_EQ_INT(flush(j), 0);
	st_journal_inject_failure(j, -ENOSPC, 1);
	CHECK_EQ_INT(append_msg(j, 2, &q, 1, 100), 0);
	CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), 0);
	while (!w.done)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(w.status, -ENOSPC);
	/* failed state: fast refusal */
	CHECK_EQ_INT(append_msg(j, 3, &q, 1, 100), -ENOSPC);
	CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), -ENOSPC);
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.failed, -ENOSPC);
	/* the retry timer probes a new segment and clears the state */
	CHECK_EQ_INT(failure_cleared(j), 0);
	CHECK_EQ_INT(append_msg(j, 3, &q, 1, 100), 0);
	CHECK_EQ_INT(flush(j), 0);
	/* a probe can fail too: stays failed, then recovers */
	st_journal_inject_failure(j, -EIO, 2);
	append_msg(j, 4, &q, 1, 100);
	CHECK_EQ_INT(flush(j), -EIO);
	CHECK_EQ_INT(failure_cleared(j), 0);
	CHECK_EQ_INT(append_msg(j, 5, &q, 1, 100), 0);
	CHECK_EQ_INT(flush(j), 0);
	reopen_replay(&j, &r);
	CHECK_EQ_INT(r.n, 3);
	CHECK_EQ_INT(r.ids[0], 1);
	CHECK_EQ_INT(r.ids[1], 3);
	CHECK_EQ_INT(r.ids[2], 5);
	st_journal_close(j);
	tmpdir_free();
}

static void
read_file(const char *name, char *out, size_t cap)
{
	char path[512];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) != NULL) {
		n = fread(out, 1, cap - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

static void *
text(const char *s)
{
	char *p = bk_malloc(strlen(s));

	memcpy(p, s, strlen(s));
	return p;
}

/*
 * Whole files ride a batch: written by the journal thread after the
 * batch's records, before its completions; a later put of the same name
 * in one batch wins; a file-only batch is sealed and written too; a
 * failed file write fails the batch's completions but leaves the journal
 * writable.
 */
static void
test_put_file(void)
{
	struct st_journal *j;
	uint64_t q = 1;
	char buf[64], path[512];

	tmpdir_new();
	j = jopen_cfg(64 << 10, ST_SYNC_BATCH);
	CHECK_EQ_INT(append_msg(j, 1, &q, 1, 100), 0);
	CHECK_EQ_INT(st_journal_put_file(j, "defs.json", text("first"), 5), 0);
	CHECK_EQ_INT(st_journal_put_file(j, "defs.json", text("second"), 6), 0);
	read_file("defs.json", buf, sizeof(buf));
	CHECK_STR(buf, "");                      /* nothing before the batch */
	CHECK_EQ_INT(flush(j), 0);
	read_file("defs.json", buf, sizeof(buf));
	CHECK_STR(buf, "second");
	read_file("defs.json.tmp", buf, sizeof(buf));
	CHECK_STR(buf, "");
	CHECK_EQ_INT(st_journal_put_file(j, "defs.json", text("third"), 5), 0);
	CHECK_EQ_INT(flush(j), 0);
	read_file("defs.json", buf, sizeof(buf));
	CHECK_STR(buf, "third");
	/* a directory where the file goes: the write fails, the journal not */
	snprintf(path, sizeof(path), "%s/blocked", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/blocked/x", dir);
	mkdir(path, 0700);
	CHECK_EQ_INT(st_journal_put_file(j, "blocked", text("x"), 1), 0);
	CHECK(flush(j) < 0);
	CHECK_EQ_INT(append_msg(j, 2, &q, 1, 100), 0);
	CHECK_EQ_INT(flush(j), 0);
	st_journal_close(j);
	tmpdir_free();
}

static void
test_disk(void)
{
	uint64_t fr = 0, tot = 0;

	CHECK_EQ_INT(st_disk_space("/tmp", &fr, &tot), 0);
	CHECK(tot > 0 && fr <= tot);
	CHECK_EQ_INT(st_disk_space("/nonexistent/x", &fr, &tot), -ENOENT);
}

/* ---------------- segments started from the spare ---------------- */

/*
 * journal.preallocate: new segments start from journal/spare.tmp, a file
 * of zeros segment_size long written ahead by a thread of its own. Its
 * state is read from the writer (jnl_writer_int.h) so a test can make
 * sure a spare is ready before a roll, which makes "started from the
 * spare" deterministic.
 */
#define PSEG  ST_SEGMENT_SIZE_MIN
#define PBODY 1000
#define PMAX  2000

static void
spare_path(char *out, size_t n)
{
	snprintf(out, n, "%s/journal/spare.tmp", dir);
}

static bool
spare_exists(void)
{
	char p[320];

	spare_path(p, sizeof(p));
	return access(p, F_OK) == 0;
}

static struct st_journal *
jopen_pre(bool on)
{
	struct st_journal_config cfg;
	struct st_journal *j = NULL;
	int rc;

	st_journal_config_init(&cfg);
	CHECK(cfg.preallocate);             /* on unless turned off */
	cfg.data_dir = dir;
	cfg.segment_size = PSEG;
	cfg.sync = ST_SYNC_BATCH;
	cfg.retry_ms = 20;
	cfg.preallocate = on;
	if ((rc = st_journal_open(&cfg, base, &j)) < 0)
		fprintf(stderr, "st_journal_open: %s\n", strerror(-rc));
	return j;
}

/* Encoded size of append_msg's record with a body of n octets. */
static size_t
msg_rec_size(size_t n)
{
	static uint8_t body[PBODY];
	struct st_msg_queue q = { 1, 0 };
	struct st_msg m = {
		.exchange = "ex", .exchange_len = 2, .routing_key = "rk", .routing_key_len = 2,
		.props = "P", .props_len = 1, .body = body, .body_len = (uint32_t)n,
		.queues = &q, .nqueues = 1,
	};

	return jnl_msg_size(&m);
}

/* Whether len octets of path from off are all zeros (and there). */
static bool
zeros_in(const char *path, off_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	FILE *f = fopen(path, "rb");
	bool ok = f != NULL && fseeko(f, off, SEEK_SET) == 0 && fread(buf, 1, len, f) == len;

	for (size_t i = 0; ok && i < len; i++)
		ok = buf[i] == 0;
	if (f)
		fclose(f);
	free(buf);
	return ok;
}

/* Whether path starts with a valid header of segment no. */
static bool
header_ok(const char *path, uint64_t no)
{
	uint8_t h[JNL_SEG_HDR];
	uint64_t got = 0;
	uint32_t key;
	FILE *f = fopen(path, "rb");
	bool ok = f != NULL && fread(h, 1, sizeof(h), f) == sizeof(h) &&
		  jnl_seg_header_check(h, sizeof(h), &got, &key) == 0 && got == no;

	if (f)
		fclose(f);
	return ok;
}

/*
 * Messages 1..n, in batches of 8, each batch durable before the next;
 * before each batch, any spare being written is waited for, so every
 * roll after the first request finds one ready. With spare_seen, notes
 * whether spare.tmp was ever there after a batch.
 */
static void
fill(struct st_journal *j, uint64_t from, uint64_t to, bool *spare_seen)
{
	uint64_t q = 1;

	for (uint64_t id = from; id <= to; ) {
		CHECK(spare_settled(j));
		for (int k = 0; k < 8 && id <= to; k++, id++)
			CHECK_EQ_INT(append_msg(j, id, &q, 1, PBODY), 0);
		CHECK_EQ_INT(flush(j), 0);
		if (spare_seen && spare_exists())
			*spare_seen = true;
	}
}

/* Each segment's logical end (past its last record), from the index:
 * ends[no] for segments 1..nseg; returns the highest segment seen. */
static uint64_t
logical_ends(struct st_journal *j, uint64_t n, uint64_t *ends, size_t cap)
{
	uint64_t top = 0;

	memset(ends, 0, cap * sizeof(*ends));
	for (uint64_t id = 1; id <= n; id++) {
		struct st_loc l;

		if (st_journal_msg_loc(j, id, &l) != 0 || l.segment >= cap) {
			CHECK(0);
			continue;
		}
		if ((uint64_t)l.offset + l.length > ends[l.segment])
			ends[l.segment] = (uint64_t)l.offset + l.length;
		if (l.segment > top)
			top = l.segment;
	}
	return top;
}

struct all_msgs {
	uint8_t seen[PMAX + 1];
	int n, dup, bad;
};

static int
all_msg(void *arg, const struct st_msg *m)
{
	struct all_msgs *a = arg;

	a->n++;
	if (m->id == 0 || m->id > PMAX) {
		a->bad++;
		return 0;
	}
	if (a->seen[m->id]++)
		a->dup++;
	if (m->body_len != PBODY)
		a->bad++;
	else
		for (size_t i = 0; i < PBODY; i++)
			if (((const uint8_t *)m->body)[i] != (uint8_t)(m->id + i)) {
				a->bad++;
				break;
			}
	return 0;
}

/* Open and replay: every one of 1..n exactly once with its body. */
static struct st_journal *
reopen_all(bool on, uint64_t n)
{
	const struct st_replay_ops ops = { NULL, all_msg };
	static struct all_msgs a;
	struct st_journal *j = jopen_pre(on);

	memset(&a, 0, sizeof(a));
	CHECK(j != NULL);
	if (j == NULL)
		return NULL;
	CHECK_EQ_INT(st_journal_replay(j, &ops, &a), 0);
	CHECK_EQ_INT(a.n, (int)n);
	CHECK_EQ_INT(a.dup, 0);
	CHECK_EQ_INT(a.bad, 0);
	for (uint64_t id = 1; id <= n; id++)
		if (!a.seen[id]) {
			fprintf(stderr, "message %llu not recovered\n", (unsigned long long)id);
			CHECK(0);
			break;
		}
	return j;
}

static void
test_prealloc_segments(void)
{
	const uint64_t n = 300;    /* about five segments of 64 KiB */
	uint64_t ends[32], ends2[32], nseg, sum = 0, q = 1;
	struct st_journal_stats st;
	struct st_journal *j;
	char path[320];
	uint8_t body[PBODY];

	tmpdir_new();
	j = jopen_pre(true);
	CHECK(j != NULL);
	/* not asked for yet: a journal that writes little has none */
	fill(j, 1, 8, NULL);
	usleep(50000);
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_NONE);
	CHECK(!spare_exists());
	/* past a quarter of the first segment: asked for, written, zeros */
	fill(j, 9, 24, NULL);
	CHECK(24 * msg_rec_size(PBODY) > PSEG / 4);
	CHECK(spare_settled(j));
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_READY);
	spare_path(path, sizeof(path));
	CHECK_EQ_INT(fsize(path), PSEG);
	CHECK(zeros_in(path, 0, PSEG));
	/* roll several segments, a spare ready at each roll */
	fill(j, 25, n, NULL);
	CHECK(spare_settled(j));
	nseg = logical_ends(j, n, ends, 32);
	st_journal_stats_get(j, &st);
	CHECK(nseg >= 4);
	CHECK_EQ_INT(st.segments, nseg);
	/* the first segment was a new file; every later one is the spare:
	 * its header, its records, zeros to segment_size while it is the
	 * active one; once rolled it is cut to its records */
	for (uint64_t no = 1; no <= nseg; no++) {
		seg_path(path, sizeof(path), no);
		CHECK(header_ok(path, no));
		CHECK(ends[no] > JNL_SEG_HDR && ends[no] <= PSEG);
		sum += ends[no];
		if (no < nseg) {
			CHECK_EQ_INT(fsize(path), (off_t)ends[no]);
			continue;
		}
		CHECK_EQ_INT(fsize(path), PSEG);
		CHECK(zeros_in(path, (off_t)ends[no], PSEG - ends[no]));
	}
	/* stats count what the files take: the records, the active
	 * segment's unwritten rest and the ready spare */
	CHECK_EQ_INT(sum, nseg * JNL_SEG_HDR + n * msg_rec_size(PBODY));
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_READY);
	CHECK_EQ_INT(st.disk_bytes, sum + (PSEG - ends[nseg]) + PSEG);
	{
		uint64_t on_disk = 0;

		for (uint64_t no = 1; no <= nseg; no++) {
			seg_path(path, sizeof(path), no);
			on_disk += (uint64_t)fsize(path);
		}
		spare_path(path, sizeof(path));
		on_disk += (uint64_t)fsize(path);
		CHECK_EQ_INT(st.disk_bytes, on_disk);
	}
	/* the next spare is there; a clean close removes it */
	CHECK(spare_exists());
	st_journal_close(j);
	CHECK(!spare_exists());

	/* everything back; the last segment's zeros given back, the rolled
	 * ones already cut to their records */
	j = reopen_all(true, n);
	CHECK(!spare_exists());
	CHECK_EQ_INT(logical_ends(j, n, ends2, 32), nseg);
	for (uint64_t no = 1; no <= nseg; no++)
		CHECK_EQ_INT(ends2[no], ends[no]);
	seg_path(path, sizeof(path), nseg);
	CHECK_EQ_INT(fsize(path), (off_t)ends[nseg]);
	seg_path(path, sizeof(path), nseg - 1);
	CHECK_EQ_INT(fsize(path), (off_t)ends[nseg - 1]);
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.segments, nseg);
	CHECK_EQ_INT(st.disk_bytes, sum);
	/* bodies read back from a segment with a zero tail */
	for (uint64_t id = 1; id <= n; id += 37) {
		CHECK_EQ_INT(st_journal_read_body(j, id, body, sizeof(body)), PBODY);
		CHECK(body[0] == (uint8_t)id && body[PBODY - 1] == (uint8_t)(id + PBODY - 1));
	}
	/* appends go on in new segments; a second reopen reads the earlier
	 * run's rolled, preallocated segments again */
	CHECK_EQ_INT(append_msg(j, n + 1, &q, 1, PBODY), 0);
	CHECK_EQ_INT(flush(j), 0);
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.segments, nseg + 1);
	CHECK_EQ_INT(st.disk_bytes, sum + JNL_SEG_HDR + msg_rec_size(PBODY));
	st_journal_close(j);
	CHECK(!spare_exists());
	j = reopen_all(true, n + 1);
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.disk_bytes, sum + JNL_SEG_HDR + msg_rec_size(PBODY));
	st_journal_close(j);
	tmpdir_free();
}

/* preallocate = false: no spare, ever; segments are as long as their
 * records. Nor with sync = none. */
static void
test_prealloc_off(void)
{
	const uint64_t n = 300;
	uint64_t ends[32], nseg;
	struct st_journal_stats st;
	struct st_journal *j;
	bool seen = false;
	char path[320];

	tmpdir_new();
	j = jopen_pre(false);
	CHECK(j != NULL);
	fill(j, 1, n, &seen);
	usleep(50000);
	CHECK(!seen);
	CHECK(!spare_exists());
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_NONE);
	nseg = logical_ends(j, n, ends, 32);
	CHECK(nseg >= 4);
	for (uint64_t no = 1; no <= nseg; no++) {
		seg_path(path, sizeof(path), no);
		CHECK_EQ_INT(fsize(path), (off_t)ends[no]);
	}
	st_journal_stats_get(j, &st);
	CHECK_EQ_INT(st.disk_bytes, nseg * JNL_SEG_HDR + n * msg_rec_size(PBODY));
	st_journal_close(j);
	CHECK(!spare_exists());
	j = reopen_all(false, n);
	CHECK(!spare_exists());
	st_journal_close(j);
	tmpdir_free();

	/* sync = none: preallocate on, yet no spare (nothing syncs) */
	tmpdir_new();
	j = jopen_cfg(PSEG, ST_SYNC_NONE);
	CHECK(j != NULL);
	for (uint64_t id = 1; id <= n; id++) {
		uint64_t q = 1;

		CHECK_EQ_INT(append_msg(j, id, &q, 1, PBODY), 0);
		if (id % 8 == 0)
			CHECK_EQ_INT(flush(j), 0);
	}
	CHECK_EQ_INT(flush(j), 0);
	usleep(50000);
	CHECK(!spare_exists());
	st_journal_stats_get(j, &st);
	CHECK(st.segments >= 4);
	st_journal_close(j);
	tmpdir_free();
}

/* A spare.tmp left by a crash, here garbage (and one that looks like a
 * segment), is removed at open, preallocating or not, and recovery reads
 * the segments alone. */
static void
test_prealloc_stale_spare(void)
{
	const uint64_t n = 100;
	struct st_journal *j;
	uint8_t junk[5000];
	char path[320], seg1[320];
	FILE *f, *g;
	size_t got;

	tmpdir_new();
	j = jopen_pre(true);
	fill(j, 1, n, NULL);
	st_journal_close(j);
	for (int round = 0; round < 3; round++) {
		spare_path(path, sizeof(path));
		f = fopen(path, "wb");
		CHECK(f != NULL);
		if (round == 2) {
			/* a copy of segment 1: found by no name, never replayed */
			seg_path(seg1, sizeof(seg1), 1);
			g = fopen(seg1, "rb");
			while ((got = fread(junk, 1, sizeof(junk), g)) > 0)
				fwrite(junk, 1, got, f);
			fclose(g);
		} else {
			memset(junk, 0xab + round, sizeof(junk));
			fwrite(junk, 1, sizeof(junk), f);
		}
		fclose(f);
		CHECK(spare_exists());
		j = jopen_pre(round != 1);
		CHECK(j != NULL);
		CHECK(!spare_exists());             /* gone before any append */
		st_journal_close(j);
		spare_path(path, sizeof(path));
		f = fopen(path, "wb");
		fwrite(junk, 1, sizeof(junk), f);
		fclose(f);
		j = reopen_all(round != 1, n);
		CHECK(!spare_exists());
		st_journal_close(j);
	}
	tmpdir_free();
}

/* stderr into a file while recovery runs: what it logged. */
static char *
capture(bool start)
{
	static int saved = -1, fd = -1;
	static char p[300];
	char *out = NULL;
	struct stat st;

	fflush(stderr);
	if (start) {
		snprintf(p, sizeof(p), "%s.log", dir);
		fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
		saved = dup(STDERR_FILENO);
		dup2(fd, STDERR_FILENO);
		return NULL;
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	fstat(fd, &st);
	out = calloc(1, (size_t)st.st_size + 1);
	if (pread(fd, out, (size_t)st.st_size, 0) < 0)
		out[0] = '\0';
	close(fd);
	unlink(p);
	fputs(out, stderr);
	return out;
}

static void
copy_file(const char *from, const char *to)
{
	uint8_t buf[8192];
	FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
	size_t got;

	CHECK(f != NULL && g != NULL);
	while (f && g && (got = fread(buf, 1, sizeof(buf), f)) > 0)
		CHECK_EQ_INT(fwrite(buf, 1, got, g), got);
	if (f)
		fclose(f);
	if (g)
		fclose(g);
}

/*
 * What a crash leaves: segments started from the spare are their header,
 * their records and zeros to segment_size (the journal's files copied
 * while it runs, all durable). Recovery finds every record and logs no
 * warning; the last segment is cut to its records. Then the same image
 * with half a record written into the last segment's zeros (a batch cut
 * short): torn, with a warning, and nothing else lost.
 */
static void
test_prealloc_crash_image(void)
{
	const uint64_t n = 250;
	uint64_t ends[32], nseg, last_len;
	struct st_journal *j;
	struct st_loc loc;
	char path[320], img[320], *log;
	uint8_t rec[2048];
	FILE *f;

	tmpdir_new();
	snprintf(img, sizeof(img), "%.200s-image", dir);
	CHECK_EQ_INT(mkdir(img, 0700), 0);
	j = jopen_pre(true);
	fill(j, 1, n, NULL);
	nseg = logical_ends(j, n, ends, 32);
	CHECK(nseg >= 3);
	for (uint64_t no = 1; no <= nseg; no++) {
		char to[400];

		seg_path(path, sizeof(path), no);
		snprintf(to, sizeof(to), "%s/%020llu.seg", img, (unsigned long long)no);
		copy_file(path, to);
	}
	CHECK_EQ_INT(st_journal_msg_loc(j, n, &loc), 0);
	CHECK_EQ_INT(loc.segment, nseg);
	st_journal_close(j);

	/* clean (opened preallocating, then not: recovery reads zeros the
	 * same either way), then torn */
	for (int v = 0; v < 3; v++) {
		bool torn = v == 2;

		for (uint64_t no = 1; no <= nseg; no++) {
			char from[400];

			seg_path(path, sizeof(path), no);
			snprintf(from, sizeof(from), "%s/%020llu.seg", img, (unsigned long long)no);
			copy_file(from, path);
		}
		seg_path(path, sizeof(path), nseg);
		CHECK_EQ_INT(fsize(path), PSEG);    /* the zeros are there */
		last_len = ends[nseg];
		if (torn) {
			/* the first half of a record (its last one's bytes again:
			 * a genuine header with this segment's key) after the
			 * last record, zeros after it */
			f = fopen(path, "r+b");
			CHECK(loc.length <= sizeof(rec));
			fseeko(f, loc.offset, SEEK_SET);
			CHECK_EQ_INT(fread(rec, 1, loc.length, f), loc.length);
			fseeko(f, (off_t)last_len, SEEK_SET);
			fwrite(rec, 1, loc.length / 2, f);
			fclose(f);
		}
		capture(true);
		j = reopen_all(v != 1, n);
		log = capture(false);
		if (torn) {
			CHECK(strstr(log, "torn tail") != NULL);
		} else {
			CHECK(strstr(log, " warning ") == NULL);
			CHECK(strstr(log, " error ") == NULL);
			CHECK(strstr(log, "corrupt") == NULL);
		}
		free(log);
		CHECK_EQ_INT(fsize(path), (off_t)last_len);
		CHECK(!spare_exists());
		st_journal_close(j);
	}
	memcpy(path, dir, sizeof(dir));
	snprintf(dir, sizeof(dir), "%.250s", img);
	tmpdir_free();
	memcpy(dir, path, sizeof(dir));
	tmpdir_free();
}

/* Messages that still fit in the active segment (top, its end). */
static uint64_t
room_left(uint64_t end)
{
	return (PSEG - end) / msg_rec_size(PBODY);
}

/*
 * A batch that claimed the spare for its new segment fails before the
 * segment is opened (a write error): the spare goes back, still ready,
 * and the first roll after the failed state clears starts from it.
 */
/*
 * A follower writes a new segment's header and then grows the file to
 * the spare's length; after a power cut the growth can be on disk and
 * the header not: a segment of zeros, or zeros with some records after
 * them. Nothing in it was acknowledged (the follower syncs the header
 * with the segment's first batch), so open removes it, with a warning,
 * and recovers everything else.
 */
static void
test_zero_header_segment_removed(void)
{
	const uint64_t n = 100;
	struct st_journal *j;
	uint8_t rec[600];
	char path[320], *log;
	uint64_t next;
	int fd;

	for (int v = 0; v < 2; v++) {
		tmpdir_new();
		j = jopen_pre(true);
		fill(j, 1, n, NULL);
		{
			struct st_loc l;

			CHECK_EQ_INT(st_journal_msg_loc(j, n, &l), 0);
			next = l.segment + 1;
		}
		st_journal_close(j);
		seg_path(path, sizeof(path), next);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0);
		CHECK_EQ_INT(ftruncate(fd, PSEG), 0);
		if (v == 1) {
			/* a record-shaped stretch landed after the missing header */
			memset(rec, 0x5a, sizeof(rec));
			CHECK_EQ_INT(pwrite(fd, rec, sizeof(rec), 4096), (long)sizeof(rec));
		}
		close(fd);
		capture(true);
		j = reopen_all(true, n);
		log = capture(false);
		CHECK(strstr(log, "has a header of zeros: removed") != NULL);
		free(log);
		CHECK_EQ_INT(fsize(path), -1);
		st_journal_close(j);
		tmpdir_free();
	}
}

static void
test_prealloc_claim_given_back(void)
{
	uint64_t ends[32], top, id, q = 1, n;
	struct st_journal *j;
	struct waiter w = { 0, 0 };
	char path[320];

	tmpdir_new();
	j = jopen_pre(true);
	fill(j, 1, 100, NULL);
	CHECK(spare_settled(j));
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_READY);
	/* fill the active segment to the brim, so the next message rolls */
	top = logical_ends(j, 100, ends, 32);
	n = room_left(ends[top]);
	for (id = 101; id < 101 + n; id++)
		CHECK_EQ_INT(append_msg(j, id, &q, 1, PBODY), 0);
	CHECK_EQ_INT(flush(j), 0);
	CHECK_EQ_INT(logical_ends(j, id - 1, ends, 32), top);
	CHECK(spare_settled(j));
	/* the message that rolls: its batch claims the spare, then fails */
	st_journal_inject_failure(j, -EIO, 1);
	CHECK_EQ_INT(append_msg(j, id, &q, 1, PBODY), 0);
	CHECK_EQ_INT(st_journal_when_durable(j, on_done, &w), 0);
	while (!w.done)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(w.status, -EIO);
	/* the claim came back, and the failed journal gave the ready spare's
	 * space back (the failure may be ENOSPC) */
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_NONE);
	CHECK(!spare_exists());
	seg_path(path, sizeof(path), top + 1);
	CHECK_EQ_INT(fsize(path), -1);          /* never created */
	/* the probe writes a fresh segment, which asks for a spare once a
	 * quarter full; the next rolls take spares */
	CHECK_EQ_INT(failure_cleared(j), 0);
	for (uint64_t k = id + 1; k <= id + 200; k++) {
		CHECK(spare_settled(j));
		CHECK_EQ_INT(append_msg(j, k, &q, 1, PBODY), 0);
		CHECK_EQ_INT(flush(j), 0);
	}
	{
		uint64_t probe_seg = 0;
		struct st_loc l;

		CHECK_EQ_INT(st_journal_msg_loc(j, id + 1, &l), 0);
		probe_seg = l.segment;
		CHECK(probe_seg > top);
		CHECK_EQ_INT(st_journal_msg_loc(j, id + 200, &l), 0);
		CHECK(l.segment >= probe_seg + 2);
		/* every segment rolled to after the probe's is the spare: the
		 * active one is as long as the spare, the rolled ones cut */
		for (uint64_t no = probe_seg + 1; no <= l.segment; no++) {
			seg_path(path, sizeof(path), no);
			if (no == l.segment)
				CHECK_EQ_INT(fsize(path), PSEG);
			else
				CHECK(fsize(path) > JNL_SEG_HDR && fsize(path) < PSEG);
		}
	}
	st_journal_close(j);
	CHECK(!spare_exists());
	/* all but the failed message back */
	{
		const struct st_replay_ops ops = { NULL, all_msg };
		static struct all_msgs a;

		memset(&a, 0, sizeof(a));
		j = jopen_pre(true);
		CHECK_EQ_INT(st_journal_replay(j, &ops, &a), 0);
		CHECK_EQ_INT(a.n, (int)(id + 200 - 1));
		CHECK_EQ_INT(a.dup + a.bad, 0);
		CHECK_EQ_INT(a.seen[id], 0);
		st_journal_close(j);
	}
	tmpdir_free();
}

/*
 * The spare cannot be written (a directory where spare.tmp goes): the
 * journal carries on with segments created as new files, and asks again
 * at every roll; once the name is free, the next roll's request writes
 * one and later segments start from it.
 */
static void
test_prealloc_spare_fails(void)
{
	uint64_t ends[32], top;
	struct st_journal *j;
	char path[320];

	tmpdir_new();
	snprintf(path, sizeof(path), "%s/journal", dir);
	CHECK_EQ_INT(mkdir(path, 0700), 0);
	spare_path(path, sizeof(path));
	CHECK_EQ_INT(mkdir(path, 0700), 0);
	j = jopen_pre(true);
	CHECK(j != NULL);
	fill(j, 1, 200, NULL);
	CHECK(spare_settled(j));
	CHECK_EQ_INT(spare_state(j), JNL_SPARE_NONE);
	top = logical_ends(j, 200, ends, 32);
	CHECK(top >= 3);
	for (uint64_t no = 1; no <= top; no++) {
		seg_path(path, sizeof(path), no);
		CHECK_EQ_INT(fsize(path), (off_t)ends[no]);
	}
	spare_path(path, sizeof(path));
	CHECK_EQ_INT(rmdir(path), 0);
	fill(j, 201, 400, NULL);
	CHECK(spare_settled(j));
	top = logical_ends(j, 400, ends, 32);
	seg_path(path, sizeof(path), top);
	CHECK_EQ_INT(fsize(path), PSEG);
	CHECK(spare_exists());
	st_journal_close(j);
	CHECK(!spare_exists());
	j = reopen_all(true, 400);
	st_journal_close(j);
	tmpdir_free();
}

int
main(void)
{
	base = event_base_new();
	RUN(test_order);
	RUN(test_order_across_batches);
	RUN(test_overlapped_passes);
	RUN(test_sync_failure_fails_later_passes);
	RUN(test_replay);
	RUN(test_torn_tail);
	RUN(test_mid_corruption);
	RUN(test_read_body);
	RUN(test_delete_settled);
	RUN(test_steady_state_bounded);
	RUN(test_compaction);
	RUN(test_write_failure);
	RUN(test_put_file);
	RUN(test_disk);
	RUN(test_prealloc_segments);
	RUN(test_prealloc_off);
	RUN(test_prealloc_stale_spare);
	RUN(test_prealloc_crash_image);
	RUN(test_prealloc_claim_given_back);
	RUN(test_zero_header_segment_removed);
	RUN(test_prealloc_spare_fails);
	event_base_free(base);
	TEST_DONE();
}
