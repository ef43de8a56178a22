/*
 * jnl_thread.c: the journal thread's side of group commit.
 *
 * The thread takes sealed batches off w->todo in order, pwrites each at
 * its segment offset (creating a segment file, header first, when the
 * batch asks), fdatasyncs once per segment touched, unlinks the segments
 * the batches made dead once those batches are durable, replaces the
 * whole files the batches carry (the definitions file: st_journal_put_file)
 * once their records are durable, then posts the list to w->done and
 * writes the eventfd (jnl_writer.c completes them on the main thread).
 * Whatever the main thread changed in one loop iteration, messages and
 * definitions alike, costs one pass here, off the event loop.
 *
 * It reads batch buffers and writes only b->status, b->del_status,
 * b->file_status and b->synced; it never allocates or frees (bk_malloc is
 * main-thread only).
 *
 * Failure: the first error is latched in w->err; every later batch fails
 * without being written until a probe batch creates a fresh segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "jnl_writer_int.h"

static int
injected(struct jnl_writer *w)
{
	int n = __atomic_load_n(&w->inj_n, __ATOMIC_ACQUIRE);

	while (n > 0)
		if (__atomic_compare_exchange_n(&w->inj_n, &n, n - 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return __atomic_load_n(&w->inj_err, __ATOMIC_ACQUIRE);
	return 0;
}

static void
close_fd(struct jnl_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->fd_seg = 0;
}

static int
open_seg(struct jnl_writer *w, uint64_t no, bool create, uint32_t key)
{
	uint8_t hdr[JNL_SEG_HDR];
	char name[32];
	int rc = 0;

	close_fd(w);
	jnl_seg_name(name, no);
	w->fd = openat(w->dirfd, name, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
	if (w->fd < 0)
		return -errno;
	w->fd_seg = no;
	if (!create)
		return 0;
	jnl_seg_header_encode(hdr, no, key);
	rc = jnl_write_full(w->fd, hdr, sizeof(hdr), 0);
	/* The file and its directory entry must be durable before any record
	 * in it is reported durable. */
	if (rc == 0 && w->sync == ST_SYNC_BATCH)
		rc = jnl_fsync_timed(w->hist, w->fd);
	if (rc == 0 && w->sync == ST_SYNC_BATCH && fsync(w->dirfd) < 0)
		rc = -errno;
	if (rc)
		close_fd(w);
	return rc;
}

/* fdatasync for the written batches from *first up to (not including) stop. */
static void
sync_written(struct jnl_writer *w, struct jnl_batch **first, struct jnl_batch *stop)
{
	int rc = 0;
	bool any = false, wrote = false;

	for (struct jnl_batch *b = *first; b != stop; b = b->next) {
		any = true;
		wrote |= b->len > 0 || b->new_seg;
	}
	if (!any)
		return;
	/* batches with no records (only stream chunks, files, completions)
	 * have nothing of the journal's own to sync */
	if (wrote && w->sync == ST_SYNC_BATCH && w->fd >= 0) {
		rc = jnl_fsync_timed(w->hist, w->fd);
		if (rc == 0)
			(*first)->synced = true;
	}
	if (rc) {
		w->err = rc;
		close_fd(w);
	}
	for (struct jnl_batch *b = *first; b != stop; b = b->next)
		b->status = rc;
	*first = stop;
}

/*
 * Replace ddir/name atomically: a temporary file, synced, renamed over
 * the name, then the directory synced, so the name never points at a
 * file whose bytes are not on disk.
 */
static int
replace_file(struct jnl_writer *w, const struct jnl_file *f)
{
	char tmp[300];
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", f->name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(w->ddirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = jnl_write_full(fd, f->data, f->len, 0);
	if (rc == 0 && w->sync == ST_SYNC_BATCH && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(w->ddirfd, tmp, w->ddirfd, f->name) < 0)
		rc = -errno;
	if (rc == 0 && w->sync == ST_SYNC_BATCH && fsync(w->ddirfd) < 0)
		rc = -errno;
	if (rc != 0)
		unlinkat(w->ddirfd, tmp, 0);
	return rc;
}

static void
process(struct jnl_writer *w, struct jnl_batch *list)
{
	struct jnl_batch *unsynced = NULL, *b;
	bool unlinked = false;

	for (b = list; b; b = b->next) {
		int rc;

		if (unsynced == NULL)
			unsynced = b;
		if (b->probe) {
			sync_written(w, &unsynced, b);
			if ((rc = injected(w)) == 0)
				rc = open_seg(w, b->seg, true, b->seg_key);
			w->err = rc;
			b->status = rc;
			unsynced = b->next;
			continue;
		}
		rc = w->err ? w->err : injected(w);
		if (rc == 0 && b->seg != w->fd_seg && (b->len || b->new_seg)) {
			sync_written(w, &unsynced, b);
			rc = w->err ? w->err : open_seg(w, b->seg, b->new_seg, b->seg_key);
		}
		if (rc == 0 && b->len)
			rc = jnl_write_full(w->fd, b->buf, b->len, b->seg_off);
		if (rc) {
			sync_written(w, &unsynced, b);
			if (w->err == 0) {
				w->err = rc;
				close_fd(w);
			}
			b->status = rc;
			unsynced = b->next;
		}
	}
	sync_written(w, &unsynced, NULL);
	/* Unlink only after the batch (whose records made the segment dead)
	 * is durable; fsync the directory so the order survives a crash. */
	for (b = list; b; b = b->next) {
		b->del_status = 0;
		if (b->status != 0)
			continue;
		for (size_t i = 0; i < b->ndel; i++) {
			char name[32];

			jnl_seg_name(name, b->dels[i]);
			if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT)
				b->del_status = -errno;
			else
				unlinked = true;
		}
	}
	if (unlinked && w->sync == ST_SYNC_BATCH && fsync(w->dirfd) < 0)
		for (b = list; b; b = b->next)
			if (b->ndel && b->del_status == 0)
				b->del_status = -errno;
	/* Stream chunks and indexes, once the journal's records are durable. */
	jnl_fwrite_process(w, list);
	/* Files last, in batch order: a later batch's copy wins. */
	for (b = list; b; b = b->next)
		for (size_t i = 0; i < b->nfile && b->status == 0; i++) {
			int rc = replace_file(w, &b->files[i]);

			if (rc != 0 && b->file_status == 0)
				b->file_status = rc;
		}
}


void *
jnl_writer_thread_main(void *arg)
{
	struct jnl_writer *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct jnl_batch *list, *tail;

		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->todo == NULL)
			break;
		list = w->todo;
		tail = w->todo_tail;
		w->todo = w->todo_tail = NULL;
		pthread_mutex_unlock(&w->lock);

		process(w, list);

		pthread_mutex_lock(&w->lock);
		if (w->done_tail)
			w->done_tail->next = list;
		else
			w->done = list;
		w->done_tail = tail;
		pthread_mutex_unlock(&w->lock);
		while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	close_fd(w);
	jnl_fwrite_close_all(w);
	return NULL;
}
