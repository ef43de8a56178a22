/*
 * Opening a journal: recovery scan, replay, and close.
 *
 * The scan reads each segment whole, oldest first, and feeds every record
 * with a good CRC to the same index functions the append path uses, so
 * the liveness index (and the segment dependencies) come out as they were
 * before the crash. Damage handling follows the recovery fixtures and the
 * drawing in jnl_int.h:
 *   - torn tail: the last segment ends in bytes that hold no valid record
 *     (a write cut short). It is truncated after its last good record, with
 *     a warning; nothing confirmed is lost, since a batch is only reported
 *     durable after its fdatasync, and nothing valid follows the cut.
 *   - corruption inside a segment: reported; a record whose header checks
 *     but whose payload does not is skipped by its length, other damage by
 *     resynchronising on the next offset where a whole record checks with
 *     the segment's key (jnl_scan); the bad bytes are left in place.
 *   - a file with another magic or format version: open refuses, touching
 *     nothing, so an operator can run the right version or move it away.
 * Appends never go into a recovered segment: the first batch starts a new
 * one.
 *
 * Replay then walks the index: key/values in log order, messages sorted by
 * id, each read back through a per-segment window of 1 MiB so a
 * sequential journal costs one pread per window, not one per record.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "jnl_int.h"

void
st_journal_config_init(struct st_journal_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sync = ST_SYNC_BATCH;
	cfg->segment_size = ST_SEGMENT_SIZE_DEFAULT;
	cfg->mem_budget = ST_MEM_BUDGET_DEFAULT;
	cfg->compact_live_pct = 25;
	cfg->retry_ms = 1000;
	cfg->preallocate = true;
}

struct scan_ctx {
	struct st_journal *j;
	struct jnl_seg *s;
	uint32_t bad_payloads;
};

static int
apply(void *arg, size_t off, const struct jnl_rec *r)
{
	struct scan_ctx *c = arg;
	uint32_t foff = (uint32_t)(JNL_SEG_HDR + off), len = JNL_REC_HDR + r->len;
	struct jnl_msg_view v;
	struct jnl_kv_view kv;
	struct jnl_ref ref;

	switch (r->type) {
	case JNL_T_MSG:
		if (jnl_decode_msg(r, &v) < 0 ||
		    jnl_index_msg(c->j, &v, c->s->no, foff, len, true) < 0)
			c->bad_payloads++;
		break;
	case JNL_T_ACK:
	case JNL_T_COUNT:
	case JNL_T_QDROP:
		if (jnl_decode_ref(r, &ref) < 0) {
			c->bad_payloads++;
			break;
		}
		if (r->type == JNL_T_ACK)
			jnl_index_ack(c->j, c->s, ref.queue_id, ref.msg_id);
		else if (r->type == JNL_T_COUNT)
			jnl_index_count(c->j, c->s, ref.queue_id, ref.msg_id, ref.count);
		else
			jnl_index_qdrop(c->j, c->s, ref.queue_id);
		break;
	case JNL_T_KV:
	case JNL_T_KVDEL:
		if (jnl_decode_kv(r, &kv) < 0) {
			c->bad_payloads++;
			break;
		}
		jnl_index_kv(c->j, c->s, &kv, r->type == JNL_T_KVDEL, foff, len);
		break;
	}
	return 0;
}

static int
read_whole(int fd, uint8_t **out, size_t *len)
{
	struct stat st;
	int rc;

	*out = NULL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > (uint64_t)ST_SEGMENT_SIZE_MAX + ST_RECORD_MAX + JNL_SEG_HDR)
		return -EFBIG;
	*len = (size_t)st.st_size;
	*out = bk_malloc(*len ? *len : 1);
	if ((rc = jnl_read_full(fd, *out, *len, 0)) < 0)
		BK_FREE(*out);
	return rc;
}

static bool
zero_header(const uint8_t *p)
{
	for (size_t i = 0; i < JNL_SEG_HDR; i++)
		if (p[i])
			return false;
	return true;
}

static int
recover_one(struct st_journal *j, uint64_t no, bool last)
{
	struct scan_ctx c = { j, NULL, 0 };
	struct jnl_scan_res res;
	uint64_t hdr_no;
	uint32_t key;
	char name[32];
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, rc;

	jnl_seg_name(name, no);
	if ((fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	if ((rc = read_whole(fd, &buf, &len)) < 0)
		goto out;
	if (len < JNL_SEG_HDR || zero_header(buf)) {
		/* Creation was cut short: the header is written and synced before
		 * any record, so such a file holds nothing. A follower grows a
		 * segment started from the spare right after writing its header,
		 * and the growth can reach the disk first: a header of zeros. */
		bk_warn("journal: segment %s/%s %s: removed", j->dir, name,
			len < JNL_SEG_HDR ? "is shorter than its header" : "has a header of zeros");
		if (unlinkat(j->dirfd, name, 0) < 0)
			rc = -errno;
		goto out;
	}
	if ((rc = jnl_seg_header_check(buf, len, &hdr_no, &key)) < 0 || hdr_no != no) {
		bk_error("journal: %s/%s: %s", j->dir, name,
			 rc == -EPROTONOSUPPORT ? "segment of an unsupported format version" :
			 "not a journal segment (bad header)");
		rc = rc < 0 ? rc : -EPROTO;
		goto out;
	}
	c.s = jnl_seg_add(j, no);
	c.s->key = key;
	c.s->size = len;
	j->st.disk_bytes += len;
	if ((rc = jnl_scan(buf + JNL_SEG_HDR, len - JNL_SEG_HDR, key, apply, &c, &res)) < 0)
		goto out;
	if (res.bad_regions || res.bad_records || c.bad_payloads)
		bk_warn("journal: segment %s/%s: %u corrupt record(s) and %u corrupt stretch(es) "
			"skipped (first at offset %zu, %zu bytes), %u inconsistent record(s); "
			"%u good record(s) read",
			j->dir, name, res.bad_records, res.bad_regions, JNL_SEG_HDR + res.first_bad,
			res.skipped, c.bad_payloads, res.records);
	if ((res.torn || res.zero_tail) && last) {
		uint64_t end = JNL_SEG_HDR + res.valid_end;

		/* A zero tail is the unwritten part of a segment started from
		 * the spare: nothing was lost, it only gives the space back. */
		if (res.torn)
			bk_warn("journal: segment %s/%s: torn tail truncated at offset %llu (%llu bytes dropped)",
				j->dir, name, (unsigned long long)end, (unsigned long long)(len - end));
		else if (len > end)
			bk_info("journal: segment %s/%s: %llu unwritten bytes after its last record released",
				j->dir, name, (unsigned long long)(len - end));
		if (ftruncate(fd, (off_t)end) < 0 || fdatasync(fd) < 0) {
			rc = -errno;
			goto out;
		}
		j->st.disk_bytes -= len - end;
		c.s->size = end;
	} else if (res.zero_tail) {
		/* a rolled preallocated segment: its size is its records' */
		j->st.disk_bytes -= len - JNL_SEG_HDR - res.valid_end;
		c.s->size = JNL_SEG_HDR + res.valid_end;
	} else if (res.torn) {
		bk_warn("journal: segment %s/%s: %zu unreadable bytes at its end skipped",
			j->dir, name, len - JNL_SEG_HDR - res.valid_end);
	}
out:
	bk_free(buf);
	close(fd);
	return rc;
}

int
jnl_recover(struct st_journal *j)
{
	uint64_t *nos;
	size_t n;
	int rc;

	if ((rc = jnl_seg_list(j->dirfd, &nos, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = recover_one(j, nos[i], i + 1 == n);
	j->next_seg = n ? nos[n - 1] + 1 : 1;
	bk_free(nos);
	j->gc_dirty = true;
	return rc;
}

int
jnl_read_record(struct st_journal *j, uint64_t seg, uint32_t off, uint32_t len,
		struct jnl_rec *r)
{
	const uint8_t *p = jnl_batch_lookup(j, seg, off, len);
	struct jnl_seg *s = jnl_seg_get(j, seg);
	int rc;

	if (s == NULL)
		return -ENOENT;
	if (p == NULL) {
		if ((rc = jnl_seg_read_fd(j, s)) < 0)
			return rc;
		if (j->scratch_cap < len) {
			bk_free(j->scratch);
			j->scratch = bk_malloc(len);
			j->scratch_cap = len;
		}
		if ((rc = jnl_read_full(s->rfd, j->scratch, len, off)) < 0)
			return rc;
		p = j->scratch;
	}
	if (jnl_rec_parse(p, len, s->key, r) != 1 || JNL_REC_HDR + r->len != len)
		return -EIO;
	return 0;
}

/* ---------------- replay ---------------- */

#define NWIN 8
#define WIN (1u << 20)

struct win {
	uint64_t seg, off;
	size_t   len, cap;
	uint8_t *buf;                  /* owned */
};

static int
win_read(struct st_journal *j, struct win *w, const struct jnl_live *e, struct jnl_rec *r)
{
	struct win *x = &w[e->seg % NWIN];
	struct jnl_seg *s = jnl_seg_get(j, e->seg);
	size_t want = e->len > WIN ? e->len : WIN;
	int fd;

	if (!(x->buf && x->seg == e->seg && e->off >= x->off &&
	      (uint64_t)e->off + e->len <= x->off + x->len)) {
		if (s == NULL || (fd = jnl_seg_read_fd(j, s)) < 0)
			return -EIO;
		if (x->cap < want) {
			bk_free(x->buf);
			x->buf = bk_malloc(want);
			x->cap = want;
		}
		x->seg = e->seg;
		x->off = e->off;
		x->len = 0;
		while (x->len < e->len) {
			ssize_t n = pread(fd, x->buf + x->len, want - x->len, (off_t)(x->off + x->len));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			x->len += (size_t)n;
		}
	}
	if (s == NULL || jnl_rec_parse(x->buf + (e->off - x->off), e->len, s->key, r) != 1 ||
	    JNL_REC_HDR + r->len != e->len)
		return -EIO;
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	uint64_t x = (*(struct jnl_live *const *)a)->key, y = (*(struct jnl_live *const *)b)->key;

	return x < y ? -1 : x > y;
}

static int
replay_kvs(struct st_journal *j, const struct st_replay_ops *ops, void *arg, struct win *w)
{
	for (size_t i = 0; i < j->nsegs; i++) {
		struct jnl_seg *s = j->segs[i];

		for (struct jnl_live *e = s ? s->head : NULL; e; e = e->next) {
			struct jnl_kv_view v;
			struct jnl_rec r;
			int rc;

			if (e->kind != JNL_LIVE_KV)
				continue;
			if ((rc = win_read(j, w, e, &r)) < 0 || (rc = jnl_decode_kv(&r, &v)) < 0)
				return rc;
			if ((rc = ops->kv(arg, v.ns, v.key, v.key_len, v.val, v.val_len)) < 0)
				return rc;
		}
	}
	return 0;
}

static int
replay_msgs(struct st_journal *j, const struct st_replay_ops *ops, void *arg, struct win *w)
{
	struct jnl_live **all = bk_malloc((j->msgs.n ? j->msgs.n : 1) * sizeof(*all));
	struct st_msg_queue *q = bk_malloc(65536 * sizeof(*q));
	size_t n = 0;
	bool sorted = true;
	int rc = 0;

	for (size_t i = 0; i < j->msgs.cap; i++)
		if (j->msgs.slot[i]) {
			all[n] = j->msgs.slot[i];
			if (n && all[n]->key < all[n - 1]->key)
				sorted = false;
			n++;
		}
	if (!sorted)
		qsort(all, n, sizeof(*all), cmp_id);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct jnl_msg *m = (struct jnl_msg *)all[i];
		struct jnl_msg_view v;
		struct jnl_rec r;
		uint16_t k = 0;

		if ((rc = win_read(j, w, &m->l, &r)) < 0 || (rc = jnl_decode_msg(&r, &v)) < 0)
			break;
		for (uint16_t x = 0; x < m->nq; x++)
			if (m->q[x].live)
				q[k++] = (struct st_msg_queue){ m->q[x].queue_id, m->q[x].count };
		v.m.queues = q;
		v.m.nqueues = k;
		rc = ops->msg(arg, &v.m);
	}
	bk_free(q);
	bk_free(all);
	return rc;
}

int
st_journal_replay(struct st_journal *j, const struct st_replay_ops *ops, void *arg)
{
	struct win w[NWIN];
	int rc = 0;

	if (j->state != JNL_S_OPENED)
		return -EALREADY;
	j->state = JNL_S_REPLAYING;
	memset(w, 0, sizeof(w));
	if (ops && ops->kv)
		rc = replay_kvs(j, ops, arg, w);
	if (rc == 0 && ops && ops->msg)
		rc = replay_msgs(j, ops, arg, w);
	for (int i = 0; i < NWIN; i++)
		bk_free(w[i].buf);
	j->state = JNL_S_READY;
	jnl_gc(j);
	return rc;
}

/* ---------------- open, close ---------------- */

static void
free_all(struct st_journal *j)
{
	jnl_writer_stop(j);
	jnl_repl_fini(j);
	jnl_index_fini(j);
	for (size_t i = 0; i < j->nsegs; i++)
		if (j->segs[i]) {
			if (j->segs[i]->rfd >= 0)
				close(j->segs[i]->rfd);
			bk_free(j->segs[i]->deps);
			bk_free(j->segs[i]);
		}
	bk_free(j->segs);
	bk_free(j->scratch);
	if (j->dirfd >= 0)
		close(j->dirfd);
	if (j->ddirfd >= 0)
		close(j->ddirfd);
	bk_free(j->dir);
	bk_free(j);
}

int
st_journal_open(const struct st_journal_config *cfg, struct event_base *base,
		struct st_journal **out)
{
	struct st_journal *j;
	size_t dl;
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->data_dir == NULL || base == NULL)
		return -EINVAL;
	j = bk_calloc(1, sizeof(*j));
	j->cfg = *cfg;
	j->cfg.data_dir = NULL;
	j->dirfd = -1;
	j->ddirfd = -1;
	j->base = base;
	if (j->cfg.segment_size == 0)
		j->cfg.segment_size = ST_SEGMENT_SIZE_DEFAULT;
	if (j->cfg.segment_size < ST_SEGMENT_SIZE_MIN)
		j->cfg.segment_size = ST_SEGMENT_SIZE_MIN;
	if (j->cfg.segment_size > ST_SEGMENT_SIZE_MAX)
		j->cfg.segment_size = ST_SEGMENT_SIZE_MAX;
	if (j->cfg.retry_ms == 0)
		j->cfg.retry_ms = 1000;
	dl = strlen(cfg->data_dir);
	j->dir = bk_malloc(dl + sizeof("/journal"));
	memcpy(j->dir, cfg->data_dir, dl);
	memcpy(j->dir + dl, "/journal", sizeof("/journal"));
	if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto err;
	}
	if (mkdir(j->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto err;
	}
	if ((j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (j->ddirfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto err;
	}
	if ((rc = jnl_recover(j)) < 0)
		goto err;
	if ((rc = jnl_writer_start(j)) < 0)
		goto err;
	j->state = JNL_S_OPENED;
	*out = j;
	return 0;
err:
	free_all(j);
	return rc;
}

void
st_journal_close(struct st_journal *j)
{
	if (j)
		free_all(j);
}
