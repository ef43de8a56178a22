/*
 * cl_copy.c: the full copy a follower gets when it connects: every file
 * of the leader's data_dir it does not already hold byte for byte (same
 * size and CRC-32C as its hello said; the CRCs are computed on a worker,
 * cl_crc.c, while the loop serves clients), in 1 MiB writes, then an unlink
 * of every file it holds that the leader does not, then the batches
 * queued meanwhile, then 'E'. A follower restarted mid-stream thus gets
 * only the segments that changed. Zeros at the end of a chunk, and whole
 * chunks of zeros, are not sent: the first write of a file truncates it,
 * so what is left out is a hole the final TRUNCATE to the file's length
 * reads back as zeros (a journal segment started from the spare is
 * mostly zeros, which the follower keeps sparse). The output is kept under COPY_HIGH
 * and refilled from the transport's writable callback, so a large
 * journal never sits in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "cl_leader_int.h"
#include "net.h"

#define CHUNK (1u << 20)
#define COPY_HIGH (4u << 20)

/* Both lists are sorted by path, and looked up by binary search: one is
 * as long as the follower's hello makes it (up to CL_HELLO_MAX / 15
 * entries), the other as the leader's data_dir (a stream with small
 * segments holds two files per chunk), and a linear search of one per
 * entry of the other was their product in string compares on the loop
 * (30000 files each: 6 s). */
static int
cmp_theirs(const void *a, const void *b)
{
	return strcmp(((const struct cl_theirs *)a)->path, ((const struct cl_theirs *)b)->path);
}

static int
cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cl_copy_theirs(struct cl_fconn *c, const uint8_t *p, size_t len)
{
	uint32_t n;

	if (len < 4)
		return -EPROTO;
	n = cl_get_u32(p);
	p += 4;
	len -= 4;
	if (n > len / 14)
		return -EPROTO;
	c->theirs = bk_calloc(n ? n : 1, sizeof(*c->theirs));
	for (uint32_t i = 0; i < n; i++) {
		size_t pl;

		if (len < 14 || (pl = cl_get_u16(p)) > len - 14 || pl > ST_REPL_PATH_MAX)
			return -EPROTO;
		c->theirs[i].path = bk_malloc(pl + 1);
		memcpy(c->theirs[i].path, p + 2, pl);
		c->theirs[i].path[pl] = '\0';
		c->theirs[i].size = cl_get_u64(p + 2 + pl);
		c->theirs[i].crc = cl_get_u32(p + 10 + pl);
		c->ntheirs++;
		if (!st_repl_path_ok(c->theirs[i].path, pl) || memchr(p + 2, 0, pl))
			return -EPROTO;
		p += 14 + pl;
		len -= 14 + pl;
	}
	if (len != 0)
		return -EPROTO;
	qsort(c->theirs, c->ntheirs, sizeof(*c->theirs), cmp_theirs);
	return 0;
}

static int
add_file(void *arg, const char *path, uint64_t size)
{
	struct cl_fconn *c = arg;

	if (c->nfiles == c->fcap) {
		c->fcap = c->fcap ? c->fcap * 2 : 64;
		c->files = bk_realloc(c->files, c->fcap * sizeof(*c->files));
	}
	c->files[c->nfiles++] = bk_strdup(path);
	return 0;
}

static bool
ours_has(const struct cl_fconn *c, const char *path)
{
	return c->nfiles > 0 &&
	       bsearch(&path, c->files, c->nfiles, sizeof(*c->files), cmp_path) != NULL;
}

static const struct cl_theirs *
theirs_find(const struct cl_fconn *c, const char *path)
{
	struct cl_theirs key = { .path = (char *)path };

	if (c->ntheirs == 0)
		return NULL;
	return bsearch(&key, c->theirs, c->ntheirs, sizeof(*c->theirs), cmp_theirs);
}

/* One 'O' frame of one operation. */
static void
send_op(struct cl_fconn *c, const struct st_repl_op *op)
{
	struct evbuffer *out = net_conn_output(c->nc);
	uint8_t n[4];

	cl_frame_begin(out, 'O', 4 + cl_op_size(op));
	cl_put_u32(n, 1);
	evbuffer_add(out, n, 4);
	cl_op_put(out, op);
	c->sent_bytes += op->len;
}

static void
crc_done(void *arg)
{
	cl_copy_pump(arg);
}

/* Checksum, off the loop, every file the follower holds with our size. */
static void
start_crc(struct cl_fconn *c)
{
	uint64_t *sizes = bk_calloc(c->nfiles ? c->nfiles : 1, sizeof(*sizes));
	size_t want = 0;

	for (size_t i = 0; i < c->nfiles; i++) {
		const struct cl_theirs *t = theirs_find(c, c->files[i]);
		struct stat st;

		sizes[i] = CL_CRC_SKIP;
		if (t && fstatat(c->l->dfd, c->files[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (uint64_t)st.st_size == t->size) {
			sizes[i] = t->size;
			want++;
		}
	}
	if (want > 0)
		c->crc = cl_crc_start(c->l->base, c->l->dfd, c->files, sizes, c->nfiles, crc_done,
				      c);
	bk_free(sizes);
}

void
cl_copy_begin(struct cl_fconn *c)
{
	int rc;

	c->state = CL_F_COPY;
	if ((rc = st_repl_files(c->l->cfg->data_dir, add_file, c)) < 0) {
		bk_error("cluster: cannot list '%s': %s", c->l->cfg->data_dir, strerror(-rc));
		net_conn_close(c->nc);
		return;
	}
	if (c->nfiles > 0)
		qsort(c->files, c->nfiles, sizeof(*c->files), cmp_path);
	for (size_t i = 0; i < c->ntheirs; i++) {
		struct st_repl_op op = { .kind = ST_REPL_UNLINK, .path = c->theirs[i].path };

		if (!ours_has(c, op.path))
			send_op(c, &op);
	}
	start_crc(c);
	cl_copy_pump(c);
}

static void
finish(struct cl_fconn *c)
{
	struct evbuffer *out = net_conn_output(c->nc);
	uint64_t seq = st_journal_repl_sealed(c->l->j);
	uint8_t b[8];

	evbuffer_add_buffer(out, c->pending);
	cl_frame_begin(out, 'E', 8);
	cl_put_u64(b, seq);
	evbuffer_add(out, b, 8);
	c->state = CL_F_LIVE;
	c->live_ms = cl_mono_ms();
	c->mb->live_from = seq;
	bk_info("cluster: follower %s: %llu bytes of files sent, live from batch %llu",
		c->mb->name, (unsigned long long)c->sent_bytes, (unsigned long long)seq);
	cl_copy_end(c);
}

/* Open the next file that differs from the follower's; false at the end. */
static bool
next_file(struct cl_fconn *c)
{
	while (c->fi < c->nfiles) {
		const char *path = c->files[c->fi++];
		const struct cl_theirs *t = theirs_find(c, path);
		struct stat st;
		uint32_t crc = 0;

		if ((c->fd = openat(c->l->dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			continue;       /* gone since the listing: a batch unlinks it */
		c->off = c->end = 0;
		if (t == NULL || fstat(c->fd, &st) < 0 || (uint64_t)st.st_size != t->size ||
		    cl_crc_result(c->crc, c->fi - 1, &crc) < 0 || crc != t->crc)
			return true;
		close(c->fd);
		c->fd = -1;
	}
	return false;
}

/* How much of p[0..n) to send: up to its last byte that is not zero. */
static size_t
nonzero_len(const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p + n - 8, 8);
		if (w != 0)
			break;
		n -= 8;
	}
	while (n > 0 && p[n - 1] == 0)
		n--;
	return n;
}

void
cl_copy_pump(struct cl_fconn *c)
{
	static uint8_t buf[CHUNK];

	if (!cl_crc_done(c->crc))
		return;                 /* crc_done calls again */
	while (c->state == CL_F_COPY && !net_conn_closing(c->nc) &&
	       net_conn_output_len(c->nc) < COPY_HIGH) {
		struct st_repl_op op = { .kind = ST_REPL_WRITE };
		ssize_t n;

		if (c->fd < 0 && !next_file(c)) {
			finish(c);
			return;
		}
		op.path = c->files[c->fi - 1];
		if ((n = pread(c->fd, buf, CHUNK, (off_t)c->off)) < 0) {
			bk_error("cluster: cannot read '%s': %s", op.path, strerror(errno));
			net_conn_close(c->nc);
			return;
		}
		op.len = nonzero_len(buf, (size_t)n);
		if (op.len > 0 || c->off == 0) {
			op.off = c->off;
			op.trunc = c->off == 0;
			op.data = buf;
			send_op(c, &op);
			c->end = c->off + op.len;
		}
		c->off += (uint64_t)n;
		if (n == 0) {
			if (c->end < c->off) {
				op = (struct st_repl_op){ .kind = ST_REPL_TRUNCATE, .path = op.path,
							  .off = c->off };
				send_op(c, &op);
			}
			close(c->fd);
			c->fd = -1;
		}
	}
}

void
cl_copy_end(struct cl_fconn *c)
{
	cl_crc_free(c->crc);
	c->crc = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	for (size_t i = 0; i < c->nfiles; i++)
		bk_free(c->files[i]);
	BK_FREE(c->files);
	c->nfiles = c->fi = c->fcap = 0;
	for (size_t i = 0; i < c->ntheirs; i++)
		bk_free(c->theirs[i].path);
	BK_FREE(c->theirs);
	c->ntheirs = 0;
}
