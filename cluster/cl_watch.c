/*
 * cl_watch.c: the thread that keeps an etcd watch on the cluster's keys
 * open, so the etcd thread (cl_coord.c) reads the leader key and the
 * member list when they change instead of every poll.
 *
 *   cl_etcd_watch --created--> changed(arg, true)   watching: no polling
 *        |        --event---> changed(arg, true)
 *        | broken
 *        v
 *   changed(arg, false)   the etcd thread polls again; a new watch in 1 s
 *
 * The watch has its own cl_etcd (libcurl handle): it blocks for as long
 * as the stream lasts. cl_watch_restart drops the stream (the etcd
 * thread calls it when etcd stopped answering, since a half-open
 * connection would otherwise look like a quiet watch forever).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cl_int.h"

#define RETRY_MS 1000

struct cl_watch {
	pthread_t th;
	bool started;
	struct cl_etcd *etcd;
	atomic_bool stop, restart;
	pthread_mutex_t lock;           /* for the retry's sleep */
	pthread_cond_t cond;
	void (*changed)(void *arg, bool watching);
	void *arg;
};

static int
on_answer(void *arg, bool created)
{
	struct cl_watch *w = arg;

	w->changed(w->arg, true);
	return 0;
}

static void *
run(void *arg)
{
	struct cl_watch *w = arg;

	while (!atomic_load(&w->stop)) {
		struct timespec ts;

		/* restart ends the stream: set to stop too */
		atomic_store(&w->restart, atomic_load(&w->stop));
		cl_etcd_watch(w->etcd, &w->restart, on_answer, w);
		w->changed(w->arg, false);
		pthread_mutex_lock(&w->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += RETRY_MS / 1000;
		if (!atomic_load(&w->stop))
			pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

struct cl_watch *
cl_watch_new(const struct cluster_config *cfg, void (*changed)(void *arg, bool watching),
	     void *arg)
{
	struct cl_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	atomic_init(&w->stop, false);
	atomic_init(&w->restart, false);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->changed = changed;
	w->arg = arg;
	if ((w->etcd = cl_etcd_new(cfg->etcd_endpoints, cfg->etcd_prefix, 0)) == NULL ||
	    pthread_create(&w->th, NULL, run, w) != 0) {
		cl_watch_free(w);
		return NULL;
	}
	w->started = true;
	return w;
}

void
cl_watch_restart(struct cl_watch *w)
{
	if (w)
		atomic_store(&w->restart, true);
}

void
cl_watch_free(struct cl_watch *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		atomic_store(&w->stop, true);
		atomic_store(&w->restart, true);
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->th, NULL);
	}
	cl_etcd_free(w->etcd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
