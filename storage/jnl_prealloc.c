/*
 * jnl_prealloc.c: the spare segment, written ahead of need.
 *
 * Why. An fdatasync after an append must also commit the file's new
 * size and, on ext4 and XFS, the extents the append allocated: a journal
 * commit on top of the data. An fdatasync after an overwrite of blocks
 * that are already allocated and written has only the data to flush. On
 * the disks measured (a virtio disk under ext4) the second takes about
 * half as long, and the sync is what a publisher waiting for its confirm
 * waits on. fallocate() does not give this: it leaves unwritten extents,
 * and converting them on first write is again a metadata commit. So the
 * spare's blocks are written with zeros, by a thread of its own, while
 * the active segment fills.
 *
 * The life of a spare (states in jnl_writer_int.h):
 *   - asked for (main thread, jnl_spare_request) when a segment is rolled
 *     because the last one filled, or when the first segment of a run
 *     passes a quarter of segment_size: a broker that writes little
 *     never spends a segment's worth of zeros; and again as soon as one
 *     is taken;
 *   - written: spare.tmp in the journal directory, segment_size bytes of
 *     zeros, fdatasynced; skipped (and asked for again at the next roll)
 *     when the file system has less than five spares' worth free, or less
 *     than two spares beyond the disk alarm's limit, so the spare never
 *     takes the space the journal itself needs; a ready spare is removed
 *     when the journal fails (ENOSPC, EIO);
 *   - claimed (main thread, roll) for the segment being started, and the
 *     batch remembers it (b->prealloc), so the description followers get
 *     says to grow their copy with zeros to the same length (jnl_repl.c);
 *   - taken (journal thread, open_seg): the header is written over its
 *     first bytes and synced, then the file is renamed to the segment's
 *     name and the directory synced. The name never points at a file
 *     without a valid header;
 *   - cut to its records when the segment is rolled (the next segment's
 *     first batch carries the cut, followers get it as a TRUNCATE), so a
 *     segment that compaction leaves alone holds only its records' disk.
 * A spare left by a crash is removed at start; a clean stop removes it.
 *
 * Recovery reads the unwritten rest of a segment as zeros and knows it
 * (jnl_scan: zero_tail); a header of zeros never checks, so zeros are
 * never taken for records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "jnl_writer_int.h"

#define ZCHUNK (1u << 20)

/* size bytes of zeros in spare.tmp, synced; removed again on failure. */
static int
write_spare(struct jnl_writer *w, uint32_t size)
{
	struct statvfs vfs;
	uint8_t *zeros = NULL;
	int fd, rc = 0;

	fd = openat(w->dirfd, JNL_SPARE_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstatvfs(fd, &vfs) == 0) {
		uint64_t free_b = (uint64_t)vfs.f_bavail * vfs.f_frsize;

		if (free_b < 5ull * size || free_b - 2ull * size < w->spare_min_free)
			rc = -ENOSPC;
	}
	if (rc == 0 && (zeros = calloc(1, ZCHUNK)) == NULL)
		rc = -ENOMEM;
	for (uint64_t off = 0; rc == 0 && off < size; off += ZCHUNK) {
		size_t n = size - off < ZCHUNK ? (size_t)(size - off) : ZCHUNK;

		if (__atomic_load_n(&w->spare_abort, __ATOMIC_ACQUIRE))
			rc = -ECANCELED;
		else
			rc = jnl_write_full(fd, zeros, n, off);
		/* out to the disk a chunk at a time, not as one burst that
		 * the journal's own syncs would queue behind */
		if (rc == 0 && sync_file_range(fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WAIT_BEFORE |
					       SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			rc = -errno;
	}
	free(zeros);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc != 0)
		unlinkat(w->dirfd, JNL_SPARE_NAME, 0);
	return rc;
}

static void *
spare_main(void *arg)
{
	struct jnl_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		uint32_t size;
		int rc;

		while (w->spare != JNL_SPARE_WANTED && !w->stop)
			pthread_cond_wait(&w->spare_cond, &w->lock);
		if (w->stop)
			break;
		w->spare = JNL_SPARE_BUSY;
		size = w->spare_size;
		pthread_mutex_unlock(&w->lock);
		rc = write_spare(w, size);
		pthread_mutex_lock(&w->lock);
		w->spare = rc == 0 ? JNL_SPARE_READY : JNL_SPARE_NONE;
		pthread_cond_broadcast(&w->spare_cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int
jnl_spare_start(struct jnl_writer *w, bool on)
{
	int rc;

	unlinkat(w->dirfd, JNL_SPARE_NAME, 0);
	if (!on || w->sync != ST_SYNC_BATCH)
		return 0;
	if ((rc = pthread_create(&w->spare_th, NULL, spare_main, w)) != 0)
		return -rc;
	w->spare_on = true;
	return 0;
}

void
jnl_spare_stop(struct jnl_writer *w)
{
	if (w->spare_on) {
		__atomic_store_n(&w->spare_abort, 1, __ATOMIC_RELEASE);
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_broadcast(&w->spare_cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->spare_th, NULL);
		w->spare_on = false;
		unlinkat(w->dirfd, JNL_SPARE_NAME, 0);
	}
}

void
jnl_spare_request(struct jnl_writer *w, uint32_t size)
{
	if (!w->spare_on)
		return;
	pthread_mutex_lock(&w->lock);
	if (w->spare == JNL_SPARE_NONE) {
		w->spare = JNL_SPARE_WANTED;
		w->spare_size = size;
		pthread_cond_broadcast(&w->spare_cond);
	}
	pthread_mutex_unlock(&w->lock);
}

uint32_t
jnl_spare_claim(struct jnl_writer *w)
{
	uint32_t size = 0;

	if (!w->spare_on)
		return 0;
	pthread_mutex_lock(&w->lock);
	if (w->spare == JNL_SPARE_READY) {
		w->spare = JNL_SPARE_CLAIMED;
		size = w->spare_size;
	}
	pthread_mutex_unlock(&w->lock);
	return size;
}

static void
spare_set(struct jnl_writer *w, enum jnl_spare to)
{
	pthread_mutex_lock(&w->lock);
	w->spare = to;
	pthread_cond_broadcast(&w->spare_cond);
	pthread_mutex_unlock(&w->lock);
}

void
jnl_spare_unclaim(struct jnl_writer *w)
{
	spare_set(w, JNL_SPARE_READY);
}

uint64_t
jnl_spare_bytes(struct jnl_writer *w)
{
	uint64_t n = 0;

	if (!w->spare_on)
		return 0;
	pthread_mutex_lock(&w->lock);
	if (w->spare == JNL_SPARE_BUSY || w->spare == JNL_SPARE_READY)
		n = w->spare_size;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void
jnl_spare_drop(struct jnl_writer *w)
{
	if (!w->spare_on)
		return;
	pthread_mutex_lock(&w->lock);
	if (w->spare == JNL_SPARE_READY) {
		unlinkat(w->dirfd, JNL_SPARE_NAME, 0);
		w->spare = JNL_SPARE_NONE;
	}
	pthread_mutex_unlock(&w->lock);
}

int
jnl_spare_take(struct jnl_writer *w, const char *name, const uint8_t *hdr, size_t hdr_len)
{
	int fd, rc;

	fd = openat(w->dirfd, JNL_SPARE_NAME, O_WRONLY | O_CLOEXEC);
	rc = fd < 0 ? -errno : jnl_write_full(fd, hdr, hdr_len, 0);
	if (rc == 0)
		rc = jnl_fsync_timed(w->hist, fd);
	if (rc == 0 && renameat(w->dirfd, JNL_SPARE_NAME, w->dirfd, name) < 0)
		rc = -errno;
	if (rc == 0 && fsync(w->dirfd) < 0)
		rc = -errno;
	/* Whatever happened, this spare is spent: a failed one is not reused.
	 * A spare taken means segments fill: the next one is wanted now. */
	if (rc != 0)
		unlinkat(w->dirfd, JNL_SPARE_NAME, 0);
	spare_set(w, rc == 0 ? JNL_SPARE_WANTED : JNL_SPARE_NONE);
	if (rc != 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}
