/*
 * jnl_fwrite.c: stream files ride the journal's group commit.
 *
 * Main thread: a stream that appended in this loop iteration is queued
 * (jnl_stream_queue); when the batch is sealed, every queued stream turns
 * its open chunk into writes on the batch (jnl_streams_flush ->
 * strm_flush -> jnl_batch_add_fwrite) and registers its completion after
 * those of the iteration's publishes. So one batch, one wake-up and one
 * fdatasync per file touched cover the journal's records and every
 * stream's chunk of the iteration, and a publisher confirm registered in
 * the batch is only reported once the chunk holding its message is on
 * disk.
 *
 * Journal thread (jnl_fwrite_process): after the batch's records are
 * durable, pwrite each write, fdatasync each file written with sync,
 * fsync the directory of each file created. Descriptors are cached by
 * file id (ids are never reused, so a cached descriptor never writes into
 * a file that was deleted and created again under the same name); a batch
 * can ask for one to be closed (forget) once its file is sealed or gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "jnl_writer_int.h"
#include "strm_int.h"

#define PUSH(arr, n, cap, v) do { \
	if ((n) == (cap)) { \
		(cap) = (cap) ? (cap) * 2 : 8; \
		(arr) = bk_realloc((arr), (cap) * sizeof(*(arr))); \
	} \
	(arr)[(n)++] = (v); \
} while (0)

/* ---- main thread ------------------------------------------------------ */

uint64_t
jnl_file_id_next(struct st_journal *j)
{
	return ++j->next_file_id;
}

int
jnl_data_dirfd(const struct st_journal *j)
{
	return j->ddirfd;
}

static void
copy_iov(uint8_t *dst, const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

/* The data is copied once, here, into the batch's buffer for the file:
 * the caller's buffers are free again on return. */
int
jnl_batch_add_fwritev(struct st_journal *j, const char *rel, const char *name,
		      uint64_t file_id, uint64_t off, const struct iovec *iov, int n,
		      bool create, bool sync)
{
	struct jnl_batch *b = j->open;
	struct jnl_fwrite *last = b->nfw ? &b->fws[b->nfw - 1] : NULL;
	struct jnl_fwrite f;
	char path[300];
	size_t len = 0;

	if (j->failed)
		return j->failed;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	/* Contiguous bytes for the same file in the same batch: one write. */
	if (last && last->file_id == file_id && last->off + last->len == off) {
		if (last->len + len > last->cap) {
			last->cap = (last->len + len) * 2;
			last->data = bk_realloc(last->data, last->cap);
		}
		copy_iov(last->data + last->len, iov, n);
		last->len += len;
		last->sync |= sync;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", rel, name);
	memset(&f, 0, sizeof(f));
	f.path = bk_strdup(path);
	f.file_id = file_id;
	f.off = off;
	f.cap = len < 256 ? 256 : len;
	f.data = bk_malloc(f.cap);
	copy_iov(f.data, iov, n);
	f.len = len;
	f.create = create;
	f.sync = sync;
	PUSH(b->fws, b->nfw, b->fwcap, f);
	jnl_arm(j);
	return 0;
}

int
jnl_batch_add_fwrite(struct st_journal *j, const char *rel, const char *name,
		     uint64_t file_id, uint64_t off, const void *data, size_t len,
		     bool create, bool sync)
{
	struct iovec iov = { (void *)data, len };

	return jnl_batch_add_fwritev(j, rel, name, file_id, off, &iov, 1, create, sync);
}

int
jnl_batch_add_task(struct st_journal *j, void (*fn)(void *arg), void *arg)
{
	struct jnl_batch *b = j->open;
	struct jnl_task t = { fn, arg };

	if (j->failed)
		return j->failed;
	PUSH(b->tasks, b->ntask, b->taskcap, t);
	jnl_arm(j);
	return 0;
}

void
jnl_batch_forget_file(struct st_journal *j, uint64_t file_id)
{
	struct jnl_batch *b = j->open;

	PUSH(b->forget, b->nforget, b->forgetcap, file_id);
	jnl_arm(j);
}

void
jnl_stream_queue(struct st_journal *j, struct st_stream *s)
{
	if (s->queued)
		return;
	s->queued = true;
	s->seal_next = j->streams_dirty;
	j->streams_dirty = s;
	jnl_arm(j);
}

void
jnl_stream_dequeue(struct st_journal *j, struct st_stream *s)
{
	struct st_stream **pp;

	if (!s->queued)
		return;
	for (pp = &j->streams_dirty; *pp; pp = &(*pp)->seal_next)
		if (*pp == s) {
			*pp = s->seal_next;
			break;
		}
	s->queued = false;
	s->seal_next = NULL;
}

void
jnl_streams_flush(struct st_journal *j)
{
	struct st_stream *s;

	while ((s = j->streams_dirty) != NULL) {
		j->streams_dirty = s->seal_next;
		s->queued = false;
		s->seal_next = NULL;
		strm_flush(s);
	}
}

void
jnl_fwrite_clear(struct jnl_batch *b)
{
	for (size_t i = 0; i < b->nfw; i++) {
		bk_free(b->fws[i].path);
		bk_free(b->fws[i].data);
	}
	b->nfw = 0;
	b->nforget = 0;
	b->ntask = 0;
	b->fw_status = 0;
}

void
jnl_fwrite_free(struct jnl_batch *b)
{
	jnl_fwrite_clear(b);
	BK_FREE(b->fws);
	BK_FREE(b->forget);
	BK_FREE(b->tasks);
	b->fwcap = b->forgetcap = b->taskcap = 0;
}

/* ---- journal thread ----------------------------------------------------- */

static void
fdc_close(struct jnl_fdc *c)
{
	if (c->file_id != 0 && c->fd >= 0)
		close(c->fd);
	c->file_id = 0;
	c->fd = -1;
	c->dirty = false;
}

static int
sync_dir_of(struct jnl_writer *w, const char *path)
{
	char dir[300];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return fsync(w->ddirfd) < 0 ? -errno : 0;
	*slash = '\0';
	if ((fd = openat(w->ddirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static struct jnl_fdc *
fdc_get(struct jnl_writer *w, const struct jnl_fwrite *f, int *rc)
{
	struct jnl_fdc *victim = &w->fdc[0];
	int fd;

	for (int i = 0; i < JNL_FD_CACHE; i++) {
		struct jnl_fdc *c = &w->fdc[i];

		if (c->file_id == f->file_id) {
			c->used = ++w->fdc_clock;
			return c;
		}
		if (c->file_id == 0 || c->used < victim->used)
			victim = c;
	}
	fd = openat(w->ddirfd, f->path, O_WRONLY | O_CLOEXEC | (f->create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		*rc = -errno;
		return NULL;
	}
	/* Written but not yet synced bytes of the victim: sync them now. */
	if (victim->file_id != 0 && victim->dirty && w->sync == ST_SYNC_BATCH)
		*rc = jnl_fsync_timed(w->hist, victim->fd);
	fdc_close(victim);
	victim->file_id = f->file_id;
	victim->fd = fd;
	victim->used = ++w->fdc_clock;
	return victim;
}

static int
write_one(struct jnl_writer *w, const struct jnl_fwrite *f)
{
	struct jnl_fdc *c;
	int rc = 0;

	if ((c = fdc_get(w, f, &rc)) == NULL || rc != 0)
		return rc ? rc : -EIO;
	if ((rc = jnl_write_full(c->fd, f->data, f->len, f->off)) != 0)
		return rc;
	if (w->sync != ST_SYNC_BATCH)
		return 0;
	if (f->create) {
		/* the file and its name durable before any chunk in it counts */
		if ((rc = jnl_fsync_timed(w->hist, c->fd)) != 0)
			return rc;
		return sync_dir_of(w, f->path);
	}
	c->dirty |= f->sync;
	return 0;
}

/*
 * Every batch of the list the thread took: write, then one fdatasync per
 * file for all of them (a busy stream gets one sync per pass, however
 * many batches queued up during the previous one), then close what the
 * batches let go. A failure fails every batch of the list.
 */
void
jnl_fwrite_process(struct jnl_writer *w, struct jnl_batch *list)
{
	struct jnl_batch *b;
	int rc = __atomic_load_n(&w->err, __ATOMIC_ACQUIRE);

	for (b = list; b != NULL && rc == 0; b = b->next)
		for (size_t i = 0; i < b->nfw && rc == 0 && b->status == 0; i++)
			rc = write_one(w, &b->fws[i]);
	for (int i = 0; i < JNL_FD_CACHE && rc == 0; i++)
		if (w->fdc[i].file_id != 0 && w->fdc[i].dirty) {
			rc = jnl_fsync_timed(w->hist, w->fdc[i].fd);
			w->fdc[i].dirty = false;
		}
	for (b = list; b != NULL; b = b->next) {
		for (size_t k = 0; k < b->nforget; k++)
			for (int i = 0; i < JNL_FD_CACHE; i++)
				if (w->fdc[i].file_id == b->forget[k])
					fdc_close(&w->fdc[i]);
		if (b->nfw)
			b->fw_status = rc;
	}
	for (b = list; b != NULL; b = b->next)
		for (size_t i = 0; i < b->ntask && b->status == 0; i++)
			b->tasks[i].fn(b->tasks[i].arg);
}

void
jnl_fwrite_close_all(struct jnl_writer *w)
{
	for (int i = 0; i < JNL_FD_CACHE; i++)
		fdc_close(&w->fdc[i]);
}
