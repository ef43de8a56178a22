/*
 * fuzz_journal.c: libFuzzer target for the journal recovery reader.
 *
 * The input is a damaged segment file: its header is checked, then the
 * rest is scanned exactly as recovery scans a segment (jnl_scan: header
 * and payload CRCs under the segment key, damaged records skipped, torn
 * tail, resync over corrupt stretches), and every record the scan accepts
 * is decoded by its type and all its fields are walked. The invariants
 * checked: the scan never reports a record outside the input, records
 * come in increasing non-overlapping order, valid_end never passes the
 * input, and a decoded MSG accounts for every byte of its payload.
 *
 * Then the same bytes become segment 1 of a journal on /dev/shm, which is
 * opened (recovery builds the liveness index from the records: acks,
 * counts, queue drops and key/values against messages that may or may
 * not exist, and truncates a torn tail), replayed, appended to and
 * closed. ASan catches any read out of bounds, LeakSanitizer any leak.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jnl_int.h"

#define REQUIRE(x) do { \
	if (!(x)) { \
		fprintf(stderr, "fuzz_journal: %s:%d: %s\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

struct ctx {
	const uint8_t *base;
	size_t len, last_end;
	volatile uint32_t sink;
};

static void
touch(struct ctx *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		return;
	REQUIRE(b >= c->base && b + n <= c->base + c->len);
	c->sink += b[0] + b[n - 1];
}

static int
each(void *arg, size_t off, const struct jnl_rec *r)
{
	struct ctx *c = arg;
	struct jnl_msg_view v;
	struct jnl_kv_view kv;
	struct jnl_ref ref;

	REQUIRE(off >= c->last_end);
	REQUIRE(off + JNL_REC_HDR + r->len <= c->len);
	c->last_end = off + JNL_REC_HDR + r->len;
	touch(c, r->payload, r->len);
	switch (r->type) {
	case JNL_T_MSG:
		if (jnl_decode_msg(r, &v) == 0) {
			struct st_msg_queue q;

			for (uint16_t i = 0; i < v.m.nqueues; i++) {
				jnl_msg_queue_at(&v, i, &q);
				c->sink += (uint32_t)q.queue_id + q.delivery_count;
			}
			touch(c, v.m.exchange, v.m.exchange_len);
			touch(c, v.m.routing_key, v.m.routing_key_len);
			touch(c, v.m.props, v.m.props_len);
			touch(c, v.m.body, v.m.body_len);
			REQUIRE((const uint8_t *)v.m.body + v.m.body_len == r->payload + r->len);
		}
		break;
	case JNL_T_KV:
	case JNL_T_KVDEL:
		if (jnl_decode_kv(r, &kv) == 0) {
			touch(c, kv.key, kv.key_len);
			touch(c, kv.val, kv.val_len);
		}
		break;
	default:
		if (jnl_decode_ref(r, &ref) == 0)
			c->sink += (uint32_t)(ref.queue_id ^ ref.msg_id) + ref.count;
		break;
	}
	return 0;
}

/* ---- recovery of the segment as a journal ---------------------------- */

static char dir[64];
static struct event_base *evb;

/* data_dir/journal/<no>.seg, in a static buffer */
static const char *
seg_path(unsigned long long no)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/journal/%020llu.seg", dir, no);
	return path;
}

static int
r_msg(void *arg, const struct st_msg *m)
{
	struct ctx *c = arg;

	REQUIRE(m->nqueues > 0);
	for (uint16_t i = 0; i < m->nqueues; i++)
		c->sink += (uint32_t)m->queues[i].queue_id;
	if (m->body_len)
		c->sink += ((const uint8_t *)m->body)[m->body_len - 1];
	return 0;
}

static int
r_kv(void *arg, uint16_t ns, const void *k, uint32_t kl, const void *v, uint32_t vl)
{
	struct ctx *c = arg;

	if (kl)
		c->sink += ((const uint8_t *)k)[kl - 1];
	if (vl)
		c->sink += ((const uint8_t *)v)[vl - 1];
	return 0;
}

static void
cleanup(void)
{
	char p[96];

	for (unsigned long long no = 1; no <= 4; no++)
		unlink(seg_path(no));
	snprintf(p, sizeof(p), "%s/journal", dir);
	rmdir(p);
	rmdir(dir);
	event_base_free(evb);
}

/*
 * The bytes as segment 1 of a journal: open (recovery: scan, index,
 * truncation of a torn tail), replay every live key and message, then
 * append and close, as the broker does at start.
 */
static void
recover(const uint8_t *seg, size_t n)
{
	static const struct st_replay_ops ops = { r_kv, r_msg };
	struct st_journal_config cfg;
	struct st_journal *j = NULL;
	struct st_msg_queue q = { 1, 0 };
	struct st_msg m = { .id = 0, .body = "x", .body_len = 1, .queues = &q, .nqueues = 1 };
	struct ctx c;
	FILE *f;

	if (evb == NULL) {
		evb = event_base_new();
		snprintf(dir, sizeof(dir), "/dev/shm/fuzz-journal-%d", (int)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
	}
	if ((f = fopen(seg_path(1), "wb")) == NULL) {
		/* the open creates data_dir/journal; write the segment after */
		st_journal_config_init(&cfg);
		cfg.data_dir = dir;
		if (st_journal_open(&cfg, evb, &j) == 0)
			st_journal_close(j);
		j = NULL;
		unlink(seg_path(1));
		if ((f = fopen(seg_path(1), "wb")) == NULL)
			return;
	}
	fwrite(seg, 1, n, f);
	fclose(f);
	st_journal_config_init(&cfg);
	cfg.data_dir = dir;
	cfg.sync = ST_SYNC_NONE;
	memset(&c, 0, sizeof(c));
	if (st_journal_open(&cfg, evb, &j) == 0) {
		REQUIRE(st_journal_replay(j, &ops, &c) == 0);
		m.id = st_journal_max_msg_id(j) + 1;
		if (m.id != 0)
			REQUIRE(st_journal_append_msg(j, &m) == 0);
		st_journal_close(j);
	}
	/* what the open wrote (a new segment, a truncation) goes */
	for (unsigned long long no = 1; no <= 4; no++)
		unlink(seg_path(no));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Without a segment header the input is taken as records under the key
 * FUZZ_KEY (libFuzzer's comparison tracing finds the CRCs), after a
 * header carrying it, so both the pure scan and the recovery see records.
 */
#define FUZZ_KEY 0x0F0F1234u

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jnl_scan_res res;
	struct ctx c;
	uint64_t no;
	uint32_t key = FUZZ_KEY;
	size_t skip = 0;
	uint8_t *seg;

	if (jnl_seg_header_check(data, size, &no, &key) == 0)
		skip = JNL_SEG_HDR;
	else
		key = FUZZ_KEY;
	memset(&c, 0, sizeof(c));
	c.base = data + skip;
	c.len = size - skip;
	REQUIRE(jnl_scan(c.base, c.len, key, each, &c, &res) == 0);
	REQUIRE(res.valid_end <= c.len);
	REQUIRE(res.valid_end == c.last_end);
	REQUIRE(res.skipped <= c.len);
	REQUIRE(!res.torn || res.valid_end < c.len);

	/* Opening a journal costs a thread and a few files: only for inputs
	 * that hold records, the ones whose recovery does something. */
	if (res.records == 0)
		return 0;
	seg = malloc(JNL_SEG_HDR + c.len);
	jnl_seg_header_encode(seg, 1, key);
	memcpy(seg + JNL_SEG_HDR, c.base, c.len);
	recover(seg, JNL_SEG_HDR + c.len);
	free(seg);
	return 0;
}
