/*
 * jnl_writer_int.h: the group-commit batch and the writer shared by the
 * two sides of the journal writer (jnl_writer.c, main thread;
 * jnl_thread.c, journal thread). Nothing else includes it.
 *
 * Field marks: [lock] guarded by jnl_writer.lock, [write turn] / [post
 * turn] the journal thread whose pass holds that turn (turns pass on
 * under the lock), "main thread" main thread only. The rules for who may touch a
 * batch when are at the top of jnl_writer.c.
 */
#ifndef SLUICE_JNL_WRITER_INT_H
#define SLUICE_JNL_WRITER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jnl_int.h"

struct jnl_done_ent {
	st_done_fn fn;
	void *arg;
};

/* Work for the journal thread (stream compaction): fn(arg) runs there. */
struct jnl_task {
	void (*fn)(void *arg);
	void *arg;
};

/* A whole file to replace in data_dir (st_journal_put_file). */
struct jnl_file {
	char    *name;                 /* owned */
	uint8_t *data;                 /* owned */
	size_t   len;
};

/*
 * Bytes for a file outside the journal (a stream segment or index,
 * jnl_fwrite.c): written at off after the batch's records, fdatasynced
 * (sync) before the batch's completions. A batch may also ask the thread
 * to close its cached descriptor of a file (forget).
 */
struct jnl_fwrite {
	char    *path;                 /* owned: relative to data_dir */
	uint64_t file_id;              /* unique per created file */
	uint64_t off;
	uint8_t *data;                 /* owned */
	size_t   len, cap;
	bool     create, sync;
};

/* The journal thread's descriptors of stream files, by file id. */
#define JNL_FD_CACHE 16
struct jnl_fdc {
	uint64_t file_id;              /* 0 = free slot */
	int      fd;
	bool     dirty;                /* written since the last fdatasync */
	uint64_t used;                 /* for eviction */
};

struct jnl_batch {
	struct jnl_batch *next;        /* [lock] todo or done list */
	struct jnl_batch *mnext;       /* main thread: in-flight or spare list */
	uint8_t *buf;                  /* owned */
	size_t   len, cap;
	uint64_t seg, seg_off;         /* buf[0] goes to seg at seg_off */
	bool     new_seg;              /* create the file (header) first */
	uint32_t seg_key;              /* with new_seg: the key its header carries */
	uint32_t prealloc;             /* with new_seg: its file is the spare, this long */
	uint64_t cut_seg, cut_size;    /* cut_seg != 0: cut that segment's file (rolled,
					  started from the spare) to its records first */
	bool     probe;                /* failed-state probe: clears the latch */
	uint64_t *dels;                /* owned: segments to unlink once durable */
	size_t   ndel, delcap;
	struct jnl_done_ent *done;     /* owned */
	size_t   ndone, donecap;
	struct jnl_live **copies;      /* owned array of borrowed entries */
	size_t   ncopy, copycap;
	struct jnl_file *files;        /* owned array */
	size_t   nfile, filecap;
	struct jnl_fwrite *fws;        /* owned array */
	size_t   nfw, fwcap;
	uint64_t *forget;              /* owned: file ids whose descriptor to close */
	size_t   nforget, forgetcap;
	int      fw_status;            /* set by the thread: first stream write error */
	struct jnl_task *tasks;        /* owned array: run by the thread */
	size_t   ntask, taskcap;
	int      status, del_status;   /* set by the thread */
	int      file_status;          /* set by the thread: first file write error */
	bool     synced;
	/* replication (jnl_repl.c) */
	uint64_t seq;                  /* sealing order while replicating, else 0 */
	uint32_t nrec;                 /* records reserved in it */
	bool     written;              /* back from the thread, completion pending */
	struct jnl_note *notes;        /* owned: changes made outside the thread */
	size_t   nnote, notecap;
};

/* A change to data_dir made on the main thread, for followers. */
struct jnl_note {
	uint8_t kind;                  /* enum st_repl_kind */
	char   *path;                  /* owned */
	uint64_t off;
	uint8_t *data;                 /* owned, may be NULL */
	size_t   len;
};

/*
 * Journal threads: passes overlap. One thread at a time writes (a pass
 * takes todo only while nobody is writing), each syncs its own pass
 * outside every turn, so a second sync starts as soon as its records are
 * written instead of after the first returns, and passes post in the
 * order they were taken. Two suffice: a third pass's records would wait
 * for neither sync.
 */
#define JNL_THREADS 2

/*
 * The spare segment (jnl_prealloc.c): a file of zeros, written and
 * fdatasynced ahead of need by its own thread, that the next segment is
 * renamed from. Appends that overwrite allocated, written blocks need no
 * metadata in their fdatasync (no new size, no new extents), which on
 * ext4 halves the sync. Its states, [lock]:
 *
 *   NONE     nothing on disk; a request makes it WANTED
 *   WANTED   its thread is to write one (spare_size bytes): BUSY
 *   BUSY     being written: READY, or NONE if that failed
 *   READY    on disk, synced: a roll claims it (CLAIMED)
 *   CLAIMED  a batch starts its segment from it: taken by open_seg (then
 *            WANTED again, or NONE if taking failed), or given back
 *            (READY) when that batch fails before opening it
 */
#define JNL_SPARE_NAME "spare.tmp"
enum jnl_spare { JNL_SPARE_NONE, JNL_SPARE_WANTED, JNL_SPARE_BUSY, JNL_SPARE_READY,
		 JNL_SPARE_CLAIMED };

struct jnl_writer {
	pthread_t th[JNL_THREADS];
	pthread_mutex_t lock;
	pthread_cond_t cond;                  /* every change below: broadcast */
	struct jnl_batch *todo, *todo_tail;   /* [lock] */
	struct jnl_batch *done, *done_tail;   /* [lock] */
	bool     stop;                        /* [lock] */
	bool     writing;                     /* [lock] a pass is in its write turn */
	uint64_t tickets;                     /* [lock] passes taken */
	uint64_t posted;                      /* [lock] passes posted to done */
	int      running;                     /* [lock] threads not yet exited */
	int      efd;
	int      dirfd;                       /* borrowed from the journal */
	int      ddirfd;                      /* borrowed: data_dir, for files */
	enum st_sync sync;
	int      fd;                          /* [write turn] segment being written */
	uint64_t fd_seg;                      /* [write turn] */
	int      err;                         /* atomic: latched failure */
	int      post_err;                    /* [post turn] a sync failed */
	int      inj_err, inj_n;              /* atomics: injected failures */
	int      inj_sync_err, inj_sync_n;    /* atomics: injected sync failures */
	struct jnl_fsync_hist *hist;          /* borrowed from the journal; atomics */
	struct jnl_fdc fdc[JNL_FD_CACHE];     /* [post turn] stream file descriptors */
	uint64_t fdc_clock;                   /* [post turn] */
	size_t   nspare;                      /* main thread */
	int      started;                     /* main thread: th[0..started) run */
	/* the spare segment (jnl_prealloc.c) */
	pthread_t spare_th;
	pthread_cond_t spare_cond;            /* spare state changes: broadcast */
	bool     spare_on;                    /* main thread: its thread runs */
	enum jnl_spare spare;                 /* [lock] */
	uint32_t spare_size;                  /* [lock] length asked for / ready */
	int      spare_abort;                 /* atomic: stop writing zeros */
	uint64_t spare_min_free;              /* bytes to leave free beside the spare */
	uint64_t spare_for;                   /* main thread: segment that asked */
};

/* jnl_repl.c, main thread: hand a batch being sealed to the replication
 * hook (gives it its seq); may it complete now? Drop its notes. */
void jnl_repl_seal(struct st_journal *j, struct jnl_batch *b);
bool jnl_repl_may_complete(const struct st_journal *j, const struct jnl_batch *b);
void jnl_repl_notes_clear(struct jnl_batch *b);

/*
 * The journal thread's body (pthread_create's start routine; arg is the
 * struct jnl_writer). Takes batches from todo, writes and syncs them, posts
 * them to done and writes the eventfd; returns once stop is set and todo
 * is empty. Touches no main-thread state.
 */
void *jnl_writer_thread_main(void *arg);

/* jnl_prealloc.c. Main thread: start the spare's thread when on (and
 * the journal syncs), removing a spare an earlier run left; stop it once
 * the journal threads are gone, removing the spare; ask for a spare of
 * size bytes; claim a ready one for the segment being rolled to (its
 * size, or 0: create the segment as a new file). Journal thread: the
 * claimed spare becomes segment file name (header written and synced,
 * renamed, directory synced: returns its descriptor) or an error; a claim
 * whose batch never got to open it goes back (unclaim). */
int      jnl_spare_start(struct jnl_writer *w, bool on);
void     jnl_spare_stop(struct jnl_writer *w);
void     jnl_spare_request(struct jnl_writer *w, uint32_t size);
uint32_t jnl_spare_claim(struct jnl_writer *w);
int      jnl_spare_take(struct jnl_writer *w, const char *name, const uint8_t *hdr,
			size_t hdr_len);
void     jnl_spare_unclaim(struct jnl_writer *w);
/* Main thread, the journal failed: a ready spare gives its space back. */
void     jnl_spare_drop(struct jnl_writer *w);
/* Main thread: the bytes the spare holds on disk (being written or
 * ready; a claimed one is counted as the active segment's), for the
 * journal's disk figure. */
uint64_t jnl_spare_bytes(struct jnl_writer *w);

/* jnl_fwrite.c, journal thread: the stream writes and forgets of a list
 * of batches; sets b->fw_status. Close every cached descriptor (exit). */
void jnl_fwrite_process(struct jnl_writer *w, struct jnl_batch *list);
void jnl_fwrite_close_all(struct jnl_writer *w);
/* main thread: release a batch's stream writes (reuse or free). */
void jnl_fwrite_clear(struct jnl_batch *b);
void jnl_fwrite_free(struct jnl_batch *b);

#endif
