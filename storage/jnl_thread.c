/*
 * jnl_thread.c: the journal threads' side of group commit.
 *
 * A thread takes the sealed batches waiting on w->todo (a pass), pwrites
 * each at its segment offset (creating a segment file, header first, when
 * a batch asks, or renaming the spare to it: jnl_prealloc.c), fdatasyncs the segment, unlinks the segments the batches
 * made dead once those batches are durable, writes stream files, replaces
 * the whole files the batches carry (the definitions file:
 * st_journal_put_file) once their records are durable, then posts the
 * list to w->done and writes the eventfd (jnl_writer.c completes them on
 * the main thread). Whatever the main thread changed in one loop
 * iteration, messages and definitions alike, costs one pass, off the
 * event loop.
 *
 * Passes overlap (JNL_THREADS threads):
 *
 *   pass 1  [take|write]--------fdatasync--------[post]
 *   pass 2                [take|write]--------fdatasync--------[post]
 *   pass 3                              (waits for a thread)  [take|write]...
 *
 * The write turn: one pass writes at a time, in the order taken, and a
 * pass is taken only when nobody writes (it gathers what was sealed
 * meanwhile). The sync: outside every turn, so it starts as soon as the
 * pass's records are written, not when the previous sync returns. The
 * post turn: passes post in the order taken; a pass whose sync returns
 * first waits for the earlier one. A confirm still follows an fdatasync
 * that began after its record was written.
 *
 * A thread reads batch buffers and writes only b->status, b->del_status,
 * b->file_status and b->synced; it never allocates or frees (bk_malloc is
 * main-thread only).
 *
 * Failure: the first error is latched in w->err; every later batch fails
 * without being written until a probe batch creates a fresh segment. A
 * failed sync also fails every pass posted after it, even one already
 * written and synced: as if it had been refused after the failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "jnl_writer_int.h"

/* An injected failure (st_journal_inject_*): counter and error, atomics. */
static int
take_injected(int *count, int *err)
{
	int n = __atomic_load_n(count, __ATOMIC_ACQUIRE);

	while (n > 0)
		if (__atomic_compare_exchange_n(count, &n, n - 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return __atomic_load_n(err, __ATOMIC_ACQUIRE);
	return 0;
}

static int
injected(struct jnl_writer *w)
{
	return take_injected(&w->inj_n, &w->inj_err);
}

/* The latch: read and set by every pass, whatever its phase. */
static int
err_get(struct jnl_writer *w)
{
	return __atomic_load_n(&w->err, __ATOMIC_ACQUIRE);
}

static void
err_set(struct jnl_writer *w, int rc)
{
	__atomic_store_n(&w->err, rc, __ATOMIC_RELEASE);
}

/*
 * One list of batches taken off todo, from its write to its post. The
 * trailing batches (unsynced..end of list) were written since the last
 * inline sync, all into segment seg; need_sync: one of them wrote there.
 */
struct jnl_pass {
	struct jnl_batch *list, *tail;
	struct jnl_batch *unsynced;
	uint64_t seg;
	uint64_t ticket;               /* sealing order of the pass */
	int      fd, open_rc;          /* its sync's own description (open_sync) */
	bool     need_sync;
	bool     probe_ok;             /* a probe in it cleared the latch */
};

static void
close_fd(struct jnl_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->fd_seg = 0;
}

static int
open_seg(struct jnl_writer *w, uint64_t no, bool create, uint32_t key, uint32_t prealloc)
{
	uint8_t hdr[JNL_SEG_HDR];
	char name[32];
	int rc = 0;

	close_fd(w);
	jnl_seg_name(name, no);
	if (create && prealloc) {
		jnl_seg_header_encode(hdr, no, key);
		if ((rc = jnl_spare_take(w, name, hdr, sizeof(hdr))) < 0)
			return rc;
		w->fd = rc;
		w->fd_seg = no;
		return 0;
	}
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

/* Cut a rolled segment started from the spare to its records. Its
 * records are written (earlier batches, earlier write turns); the zeros
 * after them are nothing recovery needs, so a failure (or a crash before
 * the cut is durable) leaves only unused zeros: ignored. */
static void
cut_seg(struct jnl_writer *w, uint64_t no, uint64_t size)
{
	char name[32];
	int fd;

	jnl_seg_name(name, no);
	if ((fd = openat(w->dirfd, name, O_WRONLY | O_CLOEXEC)) < 0)
		return;
	if (ftruncate(fd, (off_t)size) < 0) {
		/* the zeros stay: unused */
	}
	close(fd);
}

/* fdatasync for the written batches from *first up to (not including) stop,
 * inline in the write pass (a segment switch, a probe, a failed write). */
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
		err_set(w, rc);
		close_fd(w);
	}
	for (struct jnl_batch *b = *first; b != stop; b = b->next)
		b->status = rc;
	*first = stop;
}

/*
 * The pass's own sync, outside every turn, so that it overlaps the next
 * pass's writes and sync. Through a file description of its own, opened
 * in the write turn (open_sync): a writeback error is reported once per
 * description (errseq), so a sync sharing the writer's descriptor with a
 * concurrent one could miss an error the other consumed. A description
 * opened before the pass's writes leave the turn reports every error
 * after its opening; one from before was either seen by nobody (then it
 * is reported too) or failed an earlier pass, which fails this one
 * (post_pass).
 */
static void
open_sync(struct jnl_writer *w, struct jnl_pass *p)
{
	char name[32];

	p->fd = -1;
	p->open_rc = 0;
	if (!p->need_sync)
		return;
	jnl_seg_name(name, p->seg);
	if ((p->fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		p->open_rc = -errno;
}

static int
sync_pass(struct jnl_writer *w, const struct jnl_pass *p)
{
	int rc;

	if (!p->need_sync)
		return 0;
	if (p->fd < 0)
		return p->open_rc;
	if ((rc = take_injected(&w->inj_sync_n, &w->inj_sync_err)) == 0)
		rc = jnl_fsync_timed(w->hist, p->fd);
	close(p->fd);
	return rc;
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

/*
 * In sealing order, one pass at a time: write every batch of the list at
 * its segment offset. What is left unsynced at the end (the batches
 * written since the last inline sync, all in segment p->seg) is the
 * pass's own sync, done outside the turn.
 */
static void
write_pass(struct jnl_writer *w, struct jnl_pass *p)
{
	struct jnl_batch *unsynced = NULL, *b;

	p->probe_ok = false;
	for (b = p->list; b; b = b->next) {
		bool spare_open = false;
		int rc;

		if (unsynced == NULL)
			unsynced = b;
		if (b->probe) {
			sync_written(w, &unsynced, b);
			if ((rc = injected(w)) == 0)
				rc = open_seg(w, b->seg, true, b->seg_key, 0);
			err_set(w, rc);
			p->probe_ok = rc == 0;
			b->status = rc;
			unsynced = b->next;
			continue;
		}
		if (b->cut_seg)
			cut_seg(w, b->cut_seg, b->cut_size);
		if ((rc = err_get(w)) == 0)
			rc = injected(w);
		if (rc == 0 && b->seg != w->fd_seg && (b->len || b->new_seg)) {
			sync_written(w, &unsynced, b);
			if ((rc = err_get(w)) == 0) {
				rc = open_seg(w, b->seg, b->new_seg, b->seg_key, b->prealloc);
				spare_open = true;
			}
		}
		if (b->new_seg && b->prealloc && !spare_open)
			jnl_spare_unclaim(w);
		if (rc == 0 && b->len)
			rc = jnl_write_full(w->fd, b->buf, b->len, b->seg_off);
		if (rc) {
			sync_written(w, &unsynced, b);
			if (err_get(w) == 0) {
				err_set(w, rc);
				close_fd(w);
			}
			b->status = rc;
			unsynced = b->next;
		}
	}
	p->unsynced = unsynced;
	p->need_sync = false;
	for (b = unsynced; b; b = b->next)
		p->need_sync |= b->len > 0 || b->new_seg;
	p->need_sync = p->need_sync && w->sync == ST_SYNC_BATCH && w->fd >= 0;
	p->seg = w->fd_seg;
	open_sync(w, p);
}

/* Unlink only after the batch (whose records made the segment dead) is
 * durable; fsync the directory so the order survives a crash. */
static void
unlink_dead(struct jnl_writer *w, struct jnl_batch *list)
{
	struct jnl_batch *b;
	bool unlinked = false;

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
}

/*
 * In sealing order, once every earlier pass has posted: the trailing
 * batches take their sync's result, or the error an earlier pass latched
 * (a failed sync of the previous pass fails this one, written or not, as
 * if it had come after the failure); then what must follow durability.
 */
static void
post_pass(struct jnl_writer *w, struct jnl_pass *p, int sync_rc)
{
	struct jnl_batch *b;
	int rc = sync_rc;

	if (p->probe_ok)
		w->post_err = 0;
	if (rc == 0 && p->unsynced)
		rc = w->post_err;
	if (sync_rc != 0) {
		w->post_err = sync_rc;
		err_set(w, sync_rc);
	}
	for (b = p->unsynced; b; b = b->next)
		b->status = rc;
	if (rc == 0 && p->need_sync)
		p->unsynced->synced = true;
	unlink_dead(w, p->list);
	/* Stream chunks and indexes, once the journal's records are durable. */
	jnl_fwrite_process(w, p->list);
	/* Files last, in batch order: a later batch's copy wins. */
	for (b = p->list; b; b = b->next)
		for (size_t i = 0; i < b->nfile && b->status == 0; i++) {
			int frc = replace_file(w, &b->files[i]);

			if (frc != 0 && b->file_status == 0)
				b->file_status = frc;
		}
}

/* Wait (lock held) for work, or return false once stopping with none. */
static bool
take(struct jnl_writer *w, struct jnl_pass *p)
{
	while ((w->todo == NULL || w->writing) && !(w->stop && w->todo == NULL))
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->todo == NULL)
		return false;
	p->list = w->todo;
	p->tail = w->todo_tail;
	p->ticket = w->tickets++;
	w->todo = w->todo_tail = NULL;
	w->writing = true;
	return true;
}

void *
jnl_writer_thread_main(void *arg)
{
	struct jnl_writer *w = arg;
	struct jnl_pass p;
	uint64_t one = 1;
	int rc;

	pthread_mutex_lock(&w->lock);
	while (take(w, &p)) {
		pthread_mutex_unlock(&w->lock);
		write_pass(w, &p);
		pthread_mutex_lock(&w->lock);
		w->writing = false;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);

		rc = sync_pass(w, &p);

		pthread_mutex_lock(&w->lock);
		while (w->posted != p.ticket)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
		post_pass(w, &p, rc);
		pthread_mutex_lock(&w->lock);
		if (w->done_tail)
			w->done_tail->next = p.list;
		else
			w->done = p.list;
		w->done_tail = p.tail;
		w->posted++;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&w->lock);
	}
	/* The last thread out closes the descriptors. */
	if (--w->running == 0) {
		close_fd(w);
		jnl_fwrite_close_all(w);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}
