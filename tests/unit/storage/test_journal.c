/*
 * The journal end to end on a real event_base and journal thread: group
 * commit and completion order, replay after reopen with settlements
 * applied, torn tail and mid-segment corruption, segment deletion,
 * compaction, body reads, and the failed state after a write error.
 */
#include "../testlib.h"
#include "journal_helpers.h"
#include "bk_alloc.h"

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
	event_base_free(base);
	TEST_DONE();
}
