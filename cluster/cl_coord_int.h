/*
 * cl_coord_int.h: the etcd thread's state, shared by cl_coord.c (the
 * thread, the lease, the election, the in-sync set) and cl_members.c
 * (the cluster's identity, this node's registration, the member list).
 * Every field after the lock is under it.
 */
#ifndef CL_COORD_INT_H
#define CL_COORD_INT_H

#include "cl_int.h"

struct want {
	char name[CL_NAME_MAX];
	bool used, on, recorded;
};

struct cl_coord {
	pthread_t th;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pipe_r, pipe_w;
	struct cl_etcd *etcd;
	const struct cluster_config *cfg;       /* the cluster's, outlives this */
	char name[CL_NAME_MAX];
	char value[CL_VALUE_MAX];       /* this node's leader key value */
	uint32_t ttl;                   /* seconds */
	/* under lock */
	bool stop, eligible, leader;
	bool checked;                   /* etcd's identity matches data_dir's */
	bool watching;                  /* the watch is in place: no polling */
	bool dirty;                     /* something changed: read etcd */
	uint64_t woken;                 /* counts the wake-ups (watch, eligible) */
	bool registered;                /* members/NAME, alive/NAME put */
	struct cl_watch *watch;
	struct { char name[CL_NAME_MAX]; bool running; } mem[CL_MAX_MEMBERS];
	int nmem;
	char id[CL_ID_MAX];             /* data_dir's identity, "" none yet */
	bool ev_lead, ev_fenced, ev_follow, ev_insync, ev_foreign;
	char follow[CL_VALUE_MAX];
	uint64_t fence_until;
	struct want w[CL_MAX_FOLLOWERS];
};

/* Raise an event flag and wake the loop. Lock held. */
void cl_coord_post(struct cl_coord *c, bool *flag);

/* cl_members.c, on the etcd thread, lock held (each drops it around its
 * etcd calls). */
void cl_identity_step(struct cl_coord *c);
void cl_register_step(struct cl_coord *c, int64_t lease);
void cl_members_step(struct cl_coord *c);

#endif
