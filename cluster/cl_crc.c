/*
 * cl_crc.c: the CRC-32C of the files a joining follower says it already
 * holds, computed on a thread of their own so that a large data_dir does
 * not stall the loop (and every client of the leader) while it is read.
 *
 *   loop: cl_crc_start --> worker: cl_file_crc of each file asked for
 *                                  |
 *   loop: done(arg) <-- pipe byte -+
 *
 * The job's arrays are made and freed on the loop (bk_malloc); the
 * worker only reads the paths and sizes and writes the results, and
 * allocates with malloc (cl_file_crc) as a thread other than the loop
 * must. cl_crc_free stops the worker between two files and joins it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "cl_leader_int.h"

struct cl_crc_job {
	int dfd;                        /* owned (dup) */
	size_t n;
	char **paths;                   /* owned copies */
	uint64_t *sizes;                /* CL_CRC_SKIP: not asked for */
	uint32_t *crc;
	int *rc;
	atomic_bool stop;
	atomic_bool done;
	bool started;
	pthread_t th;
	int pipe_r, pipe_w;
	struct event *ev;
	void (*fn)(void *arg);
	void *arg;
};

static void *
work(void *arg)
{
	struct cl_crc_job *j = arg;
	char b = 1;

	for (size_t i = 0; i < j->n && !atomic_load(&j->stop); i++)
		if (j->sizes[i] != CL_CRC_SKIP)
			j->rc[i] = cl_file_crc(j->dfd, j->paths[i], j->sizes[i], &j->crc[i]);
	atomic_store(&j->done, true);
	if (write(j->pipe_w, &b, 1) < 0)
		bk_warn("cluster: cannot wake the event loop: %s", strerror(errno));
	return NULL;
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct cl_crc_job *j = arg;
	char b[8];

	while (read(j->pipe_r, b, sizeof(b)) > 0)
		;
	if (atomic_load(&j->done))
		j->fn(j->arg);
}

struct cl_crc_job *
cl_crc_start(struct event_base *base, int dfd, char *const *paths, const uint64_t *sizes,
	     size_t n, void (*fn)(void *arg), void *arg)
{
	struct cl_crc_job *j = bk_calloc(1, sizeof(*j));
	int p[2] = { -1, -1 };

	j->n = n;
	j->fn = fn;
	j->arg = arg;
	j->paths = bk_calloc(n ? n : 1, sizeof(*j->paths));
	j->sizes = bk_calloc(n ? n : 1, sizeof(*j->sizes));
	j->crc = bk_calloc(n ? n : 1, sizeof(*j->crc));
	j->rc = bk_calloc(n ? n : 1, sizeof(*j->rc));
	for (size_t i = 0; i < n; i++) {
		j->paths[i] = bk_strdup(paths[i]);
		j->sizes[i] = sizes[i];
		j->rc[i] = -EAGAIN;
	}
	atomic_init(&j->stop, false);
	atomic_init(&j->done, false);
	j->pipe_r = j->pipe_w = -1;
	if ((j->dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	j->pipe_r = p[0];
	j->pipe_w = p[1];
	j->ev = event_new(base, j->pipe_r, EV_READ | EV_PERSIST, on_done, j);
	if (j->ev == NULL || event_add(j->ev, NULL) < 0 ||
	    pthread_create(&j->th, NULL, work, j) != 0)
		goto fail;
	j->started = true;
	return j;
fail:
	bk_error("cluster: cannot start the checksum thread: %s", strerror(errno));
	cl_crc_free(j);
	return NULL;
}

int
cl_crc_result(const struct cl_crc_job *j, size_t i, uint32_t *crc)
{
	if (j == NULL || i >= j->n || !atomic_load(&j->done))
		return -EAGAIN;
	*crc = j->crc[i];
	return j->rc[i];
}

bool
cl_crc_done(const struct cl_crc_job *j)
{
	return j == NULL || atomic_load(&j->done);
}

void
cl_crc_free(struct cl_crc_job *j)
{
	if (j == NULL)
		return;
	if (j->started) {
		atomic_store(&j->stop, true);
		pthread_join(j->th, NULL);
	}
	if (j->ev)
		event_free(j->ev);
	if (j->pipe_r >= 0)
		close(j->pipe_r);
	if (j->pipe_w >= 0)
		close(j->pipe_w);
	if (j->dfd >= 0)
		close(j->dfd);
	for (size_t i = 0; i < j->n; i++)
		bk_free(j->paths[i]);
	bk_free(j->paths);
	bk_free(j->sizes);
	bk_free(j->crc);
	bk_free(j->rc);
	bk_free(j);
}
