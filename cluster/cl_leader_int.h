/*
 * cl_leader_int.h: what the leader's two files share: cl_leader.c (the
 * listener, the journal's hook, completions) and cl_copy.c (the full
 * copy a joining follower gets).
 */
#ifndef CL_LEADER_INT_H
#define CL_LEADER_INT_H

#include "cl_int.h"

struct net_conn;
struct net_listener;

enum cl_fstate { CL_F_AUTH, CL_F_WAIT, CL_F_COPY, CL_F_LIVE };

/* A follower by name: outlives its connections (acknowledgements and
 * the in-sync state must survive a reconnect). */
struct cl_member {
	char name[CL_NAME_MAX];
	bool used;
	bool counted;                   /* completions wait for its acks */
	uint64_t acked;                 /* highest batch it has fsynced */
	uint64_t live_from;             /* its 'E': counted once acked >= it */
	struct cl_fconn *conn;          /* NULL while disconnected */
};

/* A follower's file as it said in its hello. */
struct cl_theirs {
	char *path;
	uint64_t size;
	uint32_t crc;
};

struct cl_fconn {
	struct cl_leader *l;
	struct net_conn *nc;
	struct cl_member *mb;           /* after the hello */
	enum cl_fstate state;
	bool proven;                    /* the hello's MAC checked, its list to come */
	uint8_t nonce[CL_NONCE];
	uint64_t start;                 /* first batch queued for it */
	uint64_t live_ms;               /* cl_mono_ms() when it went LIVE */
	struct evbuffer *pending;       /* batches queued during WAIT and COPY */
	/* the copy (cl_copy.c) */
	struct cl_theirs *theirs;
	size_t ntheirs;
	char **files;                   /* the leader's, listed at COPY */
	size_t nfiles, fi, fcap;
	struct cl_crc_job *crc;         /* checksums of files[], off the loop */
	int fd;                         /* the file being sent, or -1 */
	uint64_t off;                   /* read up to here */
	uint64_t end;                   /* written up to here (zeros left out) */
	uint64_t sent_bytes;
	struct cl_fconn *next;
};

/* Totals of the batches sealed up to seq, to tell a follower's lag. */
#define CL_RING 4096
struct cl_mark {
	uint64_t seq, bytes, records;
	uint64_t ms;                    /* cl_mono_ms() at its seal */
};

struct cl_leader {
	const struct cluster_config *cfg;
	struct cl_coord *coord;
	struct st_journal *j;
	struct event_base *base;
	struct net *net;                /* its client listeners, for 'L' */
	struct net_listener *ln;
	int dfd;                        /* data_dir */
	struct cl_fconn *conns;
	struct cl_member mb[CL_MAX_FOLLOWERS];
	uint64_t released;
	uint64_t bytes, records;        /* sealed since the attach */
	struct cl_mark ring[CL_RING];
	bool stopping;                  /* the broker is shutting down */
	struct event *fence_ev;
	struct event *wait_ev;          /* polls for followers in WAIT */
	uint64_t evicted_logged_ms;     /* last "without a hello" warning */
};

/* Bytes and records sealed after the follower's last acknowledgement
 * (a lower bound once that is more than CL_RING batches back). */
void cl_leader_lag(const struct cl_leader *l, const struct cl_member *m, uint64_t *bytes,
		   uint64_t *records);
/* Release whatever the followers that count all hold. */
void cl_leader_recompute(struct cl_leader *l);

/* cl_crc.c: checksums on a worker thread. sizes[i] = CL_CRC_SKIP: not
 * wanted. fn(arg) runs on the loop once every one is known. NULL after
 * logging why (then compare nothing: send every file). */
#define CL_CRC_SKIP UINT64_MAX
struct cl_crc_job;
struct cl_crc_job *cl_crc_start(struct event_base *base, int dfd, char *const *paths,
				const uint64_t *sizes, size_t n, void (*fn)(void *arg), void *arg);
bool cl_crc_done(const struct cl_crc_job *j);          /* true for NULL */
/* 0 with the CRC-32C of paths[i]'s first sizes[i] bytes, or -errno
 * (-EAGAIN: not computed). */
int cl_crc_result(const struct cl_crc_job *j, size_t i, uint32_t *crc);
void cl_crc_free(struct cl_crc_job *j);                /* stops, joins; NULL ok */

/* cl_copy.c */
int cl_copy_theirs(struct cl_fconn *c, const uint8_t *p, size_t len);
void cl_copy_begin(struct cl_fconn *c);
void cl_copy_pump(struct cl_fconn *c);
void cl_copy_end(struct cl_fconn *c);

#endif
