/*
 * Group commit: the open batch, the journal thread, and completions.
 *
 * Main thread                              journal thread
 *   append -> copy into j->open              wait for todo
 *   first append arms seal_ev       seal ->  pwrite each batch at its offset,
 *   seal_ev (end of the iteration):          fdatasync once per segment touched,
 *     gc/compaction step, seal_now()         unlink the batches' dead segments,
 *   done_ev (eventfd readable):     <- done  fsync the directory, post to done,
 *     complete() each batch in order         write the eventfd
 *
 * Why event_active on a preallocated event to seal: it costs no syscall and
 * no allocation (event_base_once allocates and a 0 timeout waits for the
 * next poll), and an event activated during the iteration runs after the
 * callbacks already active, so one batch gathers everything the
 * iteration's callbacks appended. With priorities, it runs at the lowest.
 *
 * Ownership: batches are allocated and freed on the main thread only
 * (bk_malloc counts bytes without locking); the thread reads their buffers
 * and writes only b->status, b->del_status and b->synced, then hands them
 * back under the lock. While a batch is with the thread the main thread
 * may still READ its buffer (st_journal_read_body of an unwritten record).
 *
 * Failure: the thread latches the first error; it fails every later batch
 * without writing until a probe batch creates a fresh segment. The main
 * thread enters the failed state at the first failed completion (see
 * storage.h) and sends the probe from a retry timer once nothing is in
 * flight.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/bk_alloc.h"
#include "base/bk_assert.h"
#include "base/bk_log.h"
#include "jnl_int.h"

struct jnl_done_ent {
	st_done_fn fn;
	void *arg;
};

struct jnl_batch {
	struct jnl_batch *next;        /* [lock] todo or done list */
	struct jnl_batch *mnext;       /* main thread: in-flight or spare list */
	uint8_t *buf;                  /* owned */
	size_t   len, cap;
	uint64_t seg, seg_off;         /* buf[0] goes to seg at seg_off */
	bool     new_seg;              /* create the file (header) first */
	bool     probe;                /* failed-state probe: clears the latch */
	uint64_t *dels;                /* owned: segments to unlink once durable */
	size_t   ndel, delcap;
	struct jnl_done_ent *done;     /* owned */
	size_t   ndone, donecap;
	struct jnl_live **copies;      /* owned array of borrowed entries */
	size_t   ncopy, copycap;
	int      status, del_status;   /* set by the thread */
	bool     synced;
};

struct jnl_writer {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct jnl_batch *todo, *todo_tail;   /* [lock] */
	struct jnl_batch *done, *done_tail;   /* [lock] */
	bool     stop;                        /* [lock] */
	int      efd;
	int      dirfd;                       /* borrowed from the journal */
	enum st_sync sync;
	int      fd;                          /* [thread] segment being written */
	uint64_t fd_seg;                      /* [thread] */
	int      err;                         /* [thread] latched failure */
	int      inj_err, inj_n;              /* atomics: injected failures */
	struct jnl_fsync_hist *hist;          /* borrowed from the journal; atomics */
	size_t   nspare;                      /* main thread */
	bool     started;                     /* main thread: th is running */
};

/* ---------------- journal thread ---------------- */

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

static int
pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
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
open_seg(struct jnl_writer *w, uint64_t no, bool create)
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
	jnl_seg_header_encode(hdr, no);
	rc = pwrite_all(w->fd, hdr, sizeof(hdr), 0);
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
	bool any = false;

	for (struct jnl_batch *b = *first; b != stop; b = b->next)
		any = true;
	if (!any)
		return;
	if (w->sync == ST_SYNC_BATCH && w->fd >= 0) {
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
				rc = open_seg(w, b->seg, true);
			w->err = rc;
			b->status = rc;
			unsynced = b->next;
			continue;
		}
		rc = w->err ? w->err : injected(w);
		if (rc == 0 && b->seg != w->fd_seg && (b->len || b->new_seg)) {
			sync_written(w, &unsynced, b);
			rc = w->err ? w->err : open_seg(w, b->seg, b->new_seg);
		}
		if (rc == 0 && b->len)
			rc = pwrite_all(w->fd, b->buf, b->len, b->seg_off);
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
}

static void *
thread_main(void *arg)
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
	return NULL;
}

/* ---------------- main thread ---------------- */

static struct jnl_batch *
batch_get(struct st_journal *j)
{
	struct jnl_batch *b = j->spare;

	if (b) {
		j->spare = b->mnext;
		j->w->nspare--;
	} else {
		b = bk_calloc(1, sizeof(*b));
	}
	b->next = b->mnext = NULL;
	if (j->active) {
		b->seg = j->active->no;
		b->seg_off = j->active->size;
	}
	return b;
}

static void
batch_free(struct jnl_batch *b)
{
	bk_free(b->buf);
	bk_free(b->dels);
	bk_free(b->done);
	bk_free(b->copies);
	bk_free(b);
}

static void
batch_put(struct st_journal *j, struct jnl_batch *b)
{
	if (j->w->nspare >= 4 || b->cap > (8u << 20)) {
		batch_free(b);
		return;
	}
	b->len = b->ndel = b->ndone = b->ncopy = 0;
	b->seg = b->seg_off = 0;
	b->new_seg = b->probe = b->synced = false;
	b->status = b->del_status = 0;
	b->mnext = j->spare;
	j->spare = b;
	j->w->nspare++;
}

static bool
batch_is_empty(const struct jnl_batch *b)
{
	return b->len == 0 && b->ndel == 0 && b->ndone == 0 && b->ncopy == 0 && !b->probe;
}

static void
arm(struct st_journal *j)
{
	if (!j->seal_armed) {
		j->seal_armed = true;
		event_active(j->seal_ev, EV_TIMEOUT, 1);
	}
}

static void
seal_now(struct st_journal *j)
{
	struct jnl_batch *b = j->open;
	struct jnl_writer *w = j->w;
	struct jnl_seg *s;

	if (batch_is_empty(b))
		return;
	if ((s = jnl_seg_get(j, b->seg)) != NULL)
		s->inflight++;
	if (j->inflight_tail)
		j->inflight_tail->mnext = b;
	else
		j->inflight_head = b;
	j->inflight_tail = b;
	pthread_mutex_lock(&w->lock);
	if (w->todo_tail)
		w->todo_tail->next = b;
	else
		w->todo = b;
	w->todo_tail = b;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	j->open = batch_get(j);
}

static void
seal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct st_journal *j = arg;

	/* Stay armed while gc appends copies into the batch being sealed. */
	if (!j->failed && j->state == JNL_S_READY)
		jnl_gc(j);
	seal_now(j);
	j->seal_armed = false;
}

/* Start a new segment; the open batch will create it. */
static void
roll(struct st_journal *j)
{
	struct jnl_seg *s;

	seal_now(j);
	if (j->active)
		j->gc_dirty = true;
	s = jnl_seg_add(j, j->next_seg++);
	s->size = JNL_SEG_HDR;
	j->st.disk_bytes += JNL_SEG_HDR;
	j->active = s;
	j->open->seg = s->no;
	j->open->seg_off = JNL_SEG_HDR;
	j->open->new_seg = true;
}

uint8_t *
jnl_reserve(struct st_journal *j, size_t n, uint64_t *seg, uint32_t *off)
{
	struct jnl_batch *b;
	uint8_t *p;

	if (j->active == NULL ||
	    (j->active->size + n > j->cfg.segment_size && j->active->size > JNL_SEG_HDR))
		roll(j);
	b = j->open;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64u << 10;

		while (cap < b->len + n)
			cap *= 2;
		b->buf = bk_realloc(b->buf, cap);
		b->cap = cap;
	}
	p = b->buf + b->len;
	*seg = j->active->no;
	*off = (uint32_t)j->active->size;
	b->len += n;
	j->active->size += n;
	j->st.disk_bytes += n;
	j->st.records++;
	arm(j);
	return p;
}

#define PUSH(arr, n, cap, v) do { \
	if ((n) == (cap)) { \
		(cap) = (cap) ? (cap) * 2 : 16; \
		(arr) = bk_realloc((arr), (cap) * sizeof(*(arr))); \
	} \
	(arr)[(n)++] = (v); \
} while (0)

void
jnl_batch_add_copy(struct st_journal *j, struct jnl_live *e)
{
	PUSH(j->open->copies, j->open->ncopy, j->open->copycap, e);
	arm(j);
}

void
jnl_batch_add_delete(struct st_journal *j, struct jnl_seg *s)
{
	s->deleting = true;
	PUSH(j->open->dels, j->open->ndel, j->open->delcap, s->no);
	arm(j);
}

int
st_journal_when_durable(struct st_journal *j, st_done_fn fn, void *arg)
{
	struct jnl_done_ent d = { fn, arg };

	if (j->failed)
		return j->failed;
	PUSH(j->open->done, j->open->ndone, j->open->donecap, d);
	arm(j);
	return 0;
}

const uint8_t *
jnl_batch_lookup(const struct st_journal *j, uint64_t seg, uint32_t off, uint32_t len)
{
	const struct jnl_batch *b;

	for (b = j->inflight_head; ; b = b->mnext) {
		if (b == NULL)
			b = j->open;
		if (b->seg == seg && off >= b->seg_off &&
		    (uint64_t)off + len <= b->seg_off + b->len)
			return b->buf + (off - b->seg_off);
		if (b == j->open)
			return NULL;
	}
}

static void
enter_failed(struct st_journal *j, int err)
{
	struct timeval tv = { j->cfg.retry_ms / 1000, (j->cfg.retry_ms % 1000) * 1000 };

	j->failed = err;
	bk_warn("journal: write to %s failed: %s; persistent appends refused until a new segment can be written",
		j->dir, strerror(-err));
	if (j->active)
		j->active->failed = true;
	j->active = NULL;
	/* Records appended before we knew: the thread fails them in order. */
	seal_now(j);
	j->open->seg = 0;
	evtimer_add(j->retry_ev, &tv);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct st_journal *j = arg;
	struct timeval tv = { j->cfg.retry_ms / 1000, (j->cfg.retry_ms % 1000) * 1000 };
	struct jnl_seg *s;

	if (j->inflight_head != NULL || !batch_is_empty(j->open)) {
		evtimer_add(j->retry_ev, &tv);
		return;
	}
	s = jnl_seg_add(j, j->next_seg++);
	s->size = JNL_SEG_HDR;
	j->open->seg = s->no;
	j->open->seg_off = JNL_SEG_HDR;
	j->open->new_seg = true;
	j->open->probe = true;
	seal_now(j);
}

static void
complete(struct st_journal *j, struct jnl_batch *b)
{
	struct jnl_seg *s = jnl_seg_get(j, b->seg);
	int status = b->status;

	BK_ASSERT(j->inflight_head == b);
	j->inflight_head = b->mnext;
	if (j->inflight_head == NULL)
		j->inflight_tail = NULL;
	if (s && --s->inflight == 0 && s != j->active)
		j->gc_dirty = true;
	j->st.batches++;
	j->st.syncs += b->synced;
	if (status == 0 && b->probe) {
		bk_info("journal: writing again, in segment %llu", (unsigned long long)b->seg);
		j->failed = 0;
		j->active = s;
		j->open->seg = s->no;
		j->open->seg_off = s->size;
		j->open->new_seg = false;
	} else if (status != 0) {
		if (s)
			s->failed = true;
		if (!j->failed)
			enter_failed(j, status);
		else if (b->probe) {
			struct timeval tv = { j->cfg.retry_ms / 1000, (j->cfg.retry_ms % 1000) * 1000 };

			evtimer_add(j->retry_ev, &tv);
		}
	}
	for (size_t i = 0; i < b->ncopy; i++)
		jnl_copy_done(j, b->copies[i], status);
	for (size_t i = 0; i < b->ndel; i++) {
		struct jnl_seg *d = jnl_seg_get(j, b->dels[i]);

		if (d == NULL)
			continue;
		if (status == 0 && b->del_status == 0) {
			jnl_seg_forget(j, d);
			j->st.deleted_segments++;
			j->gc_dirty = true;
		} else {
			d->deleting = false;
			if (status == 0)
				bk_warn("journal: cannot delete segment %llu: %s",
					(unsigned long long)b->dels[i], strerror(-b->del_status));
		}
	}
	for (size_t i = 0; i < b->ndone; i++)
		b->done[i].fn(b->done[i].arg, status);
	batch_put(j, b);
}

static void
drain_done(struct st_journal *j)
{
	struct jnl_batch *list, *next;

	pthread_mutex_lock(&j->w->lock);
	list = j->w->done;
	j->w->done = j->w->done_tail = NULL;
	pthread_mutex_unlock(&j->w->lock);
	for (; list; list = next) {
		next = list->next;
		complete(j, list);
	}
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct st_journal *j = arg;
	uint64_t v;

	while (read(j->w->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	drain_done(j);
	if (!j->failed && j->state == JNL_S_READY)
		jnl_gc(j);
}

int
jnl_writer_start(struct st_journal *j)
{
	struct jnl_writer *w = bk_calloc(1, sizeof(*w));
	int prio, rc;

	w->fd = -1;
	w->dirfd = j->dirfd;
	w->sync = j->cfg.sync;
	w->hist = &j->fsync;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	j->w = w;
	if ((w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	j->seal_ev = event_new(j->base, -1, 0, seal_cb, j);
	j->done_ev = event_new(j->base, w->efd, EV_READ | EV_PERSIST, done_cb, j);
	j->retry_ev = evtimer_new(j->base, retry_cb, j);
	if (!j->seal_ev || !j->done_ev || !j->retry_ev || event_add(j->done_ev, NULL) < 0)
		return -ENOMEM;
	if ((prio = event_base_get_npriorities(j->base)) > 1)
		event_priority_set(j->seal_ev, prio - 1);
	j->open = batch_get(j);
	if ((rc = pthread_create(&w->th, NULL, thread_main, w)) != 0)
		return -rc;
	w->started = true;
	return 0;
}

void
jnl_writer_stop(struct st_journal *j)
{
	struct jnl_writer *w = j->w;
	struct jnl_batch *b;

	if (w == NULL)
		return;
	if (j->open && w->started) {
		/* Finish everything in flight; completions may append more. */
		seal_now(j);
		while (j->inflight_head) {
			struct pollfd pfd = { .fd = w->efd, .events = POLLIN };
			uint64_t v;

			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				break;
			while (read(w->efd, &v, sizeof(v)) < 0 && errno == EINTR)
				;
			drain_done(j);
			seal_now(j);
		}
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->th, NULL);
	}
	if (j->seal_ev)
		event_free(j->seal_ev);
	if (j->done_ev)
		event_free(j->done_ev);
	if (j->retry_ev)
		event_free(j->retry_ev);
	j->seal_ev = j->done_ev = j->retry_ev = NULL;
	while ((b = j->spare) != NULL) {
		j->spare = b->mnext;
		batch_free(b);
	}
	if (j->open)
		batch_free(j->open);
	j->open = NULL;
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	bk_free(w);
	j->w = NULL;
}

void
st_journal_inject_failure(struct st_journal *j, int err, int n)
{
	__atomic_store_n(&j->w->inj_err, err, __ATOMIC_RELEASE);
	__atomic_store_n(&j->w->inj_n, n, __ATOMIC_RELEASE);
}

