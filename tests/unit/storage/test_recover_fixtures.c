/*
 * Recovery against the committed fixture segments (tests/fixtures/journal,
 * written by make_fixtures.c): each is installed as segment 1 of an empty
 * journal, which is then opened and replayed.
 */
#include "../testlib.h"
#include "journal_helpers.h"

struct got {
	uint64_t ids[8];
	int n, nkv;
};

static int
g_msg(void *arg, const struct st_msg *m)
{
	struct got *g = arg;

	if (g->n < 8)
		g->ids[g->n] = m->id;
	g->n++;
	return 0;
}

static int
g_kv(void *arg, uint16_t ns, const void *k, uint32_t kl, const void *v, uint32_t vl)
{
	((struct got *)arg)->nkv++;
	return 0;
}

static const struct st_replay_ops ops = { g_kv, g_msg };

/* Install fixture name as segment 1; returns its size. */
static long
install(const char *name)
{
	const char *fx = getenv("FIXTURES");
	char src[512], dst[320];
	static uint8_t buf[1 << 16];
	size_t n;
	FILE *f;

	snprintf(src, sizeof(src), "%s/%s", fx ? fx : "tests/fixtures/journal", name);
	snprintf(dst, sizeof(dst), "%s/journal", dir);
	mkdir(dst, 0700);
	seg_path(dst, sizeof(dst), 1);
	if ((f = fopen(src, "rb")) == NULL) {
		perror(src);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	f = fopen(dst, "wb");
	fwrite(buf, 1, n, f);
	fclose(f);
	return (long)n;
}

static long
seg1_size(void)
{
	char p[320];
	struct stat st;

	seg_path(p, sizeof(p), 1);
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static struct st_journal *
open_replay(struct got *g)
{
	struct st_journal *j = jopen_cfg(0, ST_SYNC_BATCH);

	memset(g, 0, sizeof(*g));
	if (j)
		CHECK_EQ_INT(st_journal_replay(j, &ops, g), 0);
	return j;
}

/*
 * name recovers to MSG 1 and 3 and nkv key/values, and the file is left
 * as it was (nothing truncated).
 */
static void
expect_1_and_3(const char *name, int nkv)
{
	struct st_journal *j;
	struct got g;
	long len;

	tmpdir_new();
	len = install(name);
	CHECK(len > 0);
	j = open_replay(&g);
	CHECK(j != NULL);
	CHECK_EQ_INT(g.n, 2);
	CHECK_EQ_INT(g.ids[0], 1);
	CHECK_EQ_INT(g.ids[1], 3);
	CHECK_EQ_INT(g.nkv, nkv);
	CHECK_EQ_INT(seg1_size(), len);
	st_journal_close(j);
	tmpdir_free();
}

/* MSG 2 acked, one key/value. */
static void
test_good(void)
{
	expect_1_and_3("good.seg", 1);
}

static void
test_truncated(void)
{
	struct st_journal *j;
	long full, good_len;
	struct got g;

	tmpdir_new();
	good_len = install("good.seg");
	full = install("truncated.seg");
	CHECK(full > good_len);
	j = open_replay(&g);
	CHECK(j != NULL);
	CHECK_EQ_INT(g.n, 2);
	CHECK_EQ_INT(g.nkv, 1);
	CHECK_EQ_INT(seg1_size(), good_len);     /* torn tail cut off */
	st_journal_close(j);
	tmpdir_free();
}

/* A damaged payload: MSG 2 is skipped by its length. */
static void
test_bad_crc(void)
{
	expect_1_and_3("bad-crc.seg", 0);
}

/* A damaged length: resync finds MSG 3 right after MSG 2. */
static void
test_bad_header(void)
{
	expect_1_and_3("bad-header.seg", 0);
}

/*
 * Records a client planted in a body (made without the segment's key) are
 * not read when the scan resynchronises through that body: only MSG 1 and
 * 3 come back, no MSG 9, no key/value, and MSG 1 is not acked by the
 * planted ACK.
 */
static void
test_planted(void)
{
	expect_1_and_3("planted.seg", 0);
}

static void
test_wrong_version(void)
{
	struct st_journal_config cfg;
	struct st_journal *j = NULL;
	long len;

	tmpdir_new();
	len = install("wrong-version.seg");
	st_journal_config_init(&cfg);
	cfg.data_dir = dir;
	CHECK_EQ_INT(st_journal_open(&cfg, base, &j), -EPROTONOSUPPORT);
	CHECK(j == NULL);
	CHECK_EQ_INT(seg1_size(), len);          /* untouched */
	tmpdir_free();
}

int
main(void)
{
	base = event_base_new();
	RUN(test_good);
	RUN(test_truncated);
	RUN(test_bad_crc);
	RUN(test_bad_header);
	RUN(test_planted);
	RUN(test_wrong_version);
	event_base_free(base);
	TEST_DONE();
}
