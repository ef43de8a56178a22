/*
 * Shared by the journal tests and the benchmark: temp directories, a
 * journal opened on a real event_base, and waiting for durability.
 */
#ifndef SLUICE_JOURNAL_HELPERS_H
#define SLUICE_JOURNAL_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"

static struct event_base *base;
static char dir[256];

#define UNUSED __attribute__((unused))

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void
tmpdir_new(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/sluice-jnl-XXXXXX", t ? t : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static void
tmpdir_free(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct st_journal *
jopen_cfg(uint32_t segsize, enum st_sync sync)
{
	struct st_journal_config cfg;
	struct st_journal *j = NULL;
	int rc;

	st_journal_config_init(&cfg);
	cfg.data_dir = dir;
	cfg.segment_size = segsize;
	cfg.sync = sync;
	cfg.retry_ms = 20;
	if ((rc = st_journal_open(&cfg, base, &j)) < 0)
		fprintf(stderr, "st_journal_open: %s\n", strerror(-rc));
	return j;
}

struct waiter {
	int done, status;
};

static void
on_done(void *arg, int status)
{
	struct waiter *w = arg;

	w->done = 1;
	w->status = status;
}

/* Everything appended so far durable: 0 or the batch's error. */
static int UNUSED
flush(struct st_journal *j)
{
	struct waiter w = { 0, 0 };
	int rc = st_journal_when_durable(j, on_done, &w);

	if (rc < 0)
		return rc;
	while (!w.done)
		event_base_loop(base, EVLOOP_ONCE);
	return w.status;
}

static int UNUSED
append_msg(struct st_journal *j, uint64_t id, const uint64_t *qids, int nq, size_t body_len)
{
	static uint8_t body[1 << 16];
	struct st_msg_queue q[8];
	struct st_msg m = {
		.id = id, .published_ms = 1000 + id, .exchange = "ex", .exchange_len = 2,
		.routing_key = "rk", .routing_key_len = 2, .props = "P", .props_len = 1,
		.body = body, .body_len = (uint32_t)body_len, .queues = q, .nqueues = (uint16_t)nq,
	};

	for (size_t i = 0; i < body_len; i++)
		body[i] = (uint8_t)(id + i);
	for (int i = 0; i < nq; i++)
		q[i] = (struct st_msg_queue){ qids[i], 0 };
	return st_journal_append_msg(j, &m);
}

static int UNUSED
count_segments(void)
{
	char p[300];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/journal", dir);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

/* Path of segment no. */
static void UNUSED
seg_path(char *out, size_t n, uint64_t no)
{
	snprintf(out, n, "%s/journal/%020llu.seg", dir, (unsigned long long)no);
}

#ifdef SLUICE_JNL_WRITER_INT_H
/* The spare's state (jnl_prealloc.c), for tests that include the
 * writer's internals to make "started from the spare" deterministic. */
static UNUSED enum jnl_spare
spare_state(struct st_journal *j)
{
	enum jnl_spare s;

	pthread_mutex_lock(&j->w->lock);
	s = j->w->spare;
	pthread_mutex_unlock(&j->w->lock);
	return s;
}

/* Until no spare is being written (not WANTED or BUSY); false after 10 s. */
static UNUSED bool
spare_settled(struct st_journal *j)
{
	for (int i = 0; i < 2000; i++) {
		enum jnl_spare s = spare_state(j);

		if (s != JNL_SPARE_WANTED && s != JNL_SPARE_BUSY)
			return true;
		usleep(5000);
	}
	return false;
}
#endif

#endif
