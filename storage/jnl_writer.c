/*
 * jnl_writer.c: group commit on the main thread: the open batch, sealing,
 * completions, and the journal threads' start and stop (the threads
 * themselves, and how their passes overlap, are jnl_thread.c).
 *
 * Main thread                              journal threads
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
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "bk_log.h"
#include "jnl_writer_int.h"

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
files_clear(struct jnl_batch *b)
{
	for (size_t i = 0; i < b->nfile; i++) {
		bk_free(b->files[i].name);
		bk_free(b->files[i].data);
	}
	b->nfile = 0;
}

static void
batch_free(struct jnl_batch *b)
{
	files_clear(b);
	jnl_fwrite_free(b);
	jnl_repl_notes_clear(b);
	bk_free(b->notes);
	bk_free(b->files);
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
	files_clear(b);
	jnl_fwrite_clear(b);
	jnl_repl_notes_clear(b);
	b->seq = 0;
	b->nrec = 0;
	b->written = false;
	b->len = b->ndel = b->ndone = b->ncopy = 0;
	b->seg = b->seg_off = 0;
	b->new_seg = b->probe = b->synced = false;
	b->prealloc = 0;
	b->cut_seg = b->cut_size = 0;
	b->status = b->del_status = b->file_status = b->fw_status = 0;
	b->mnext = j->spare;
	j->spare = b;
	j->w->nspare++;
}

static bool
batch_is_empty(const struct jnl_batch *b)
{
	return b->len == 0 && b->ndel == 0 && b->ndone == 0 && b->ncopy == 0 &&
	       b->nfile == 0 && b->nfw == 0 && b->nforget == 0 && b->nnote == 0 &&
	       b->ntask == 0 &&
	       !b->probe;
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

	jnl_streams_flush(j);           /* open stream chunks join this batch */
	b = j->open;
	if (batch_is_empty(b))
		return;
	if ((s = jnl_seg_get(j, b->seg)) != NULL)
		s->inflight++;
	if (j->repl)
		jnl_repl_seal(j, b);
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
	pthread_cond_broadcast(&w->cond);
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
	struct jnl_seg *s, *old = j->active;

	seal_now(j);
	if (j->active)
		j->gc_dirty = true;
	s = jnl_seg_add(j, j->next_seg++);
	s->key = jnl_seg_key_new();
	s->size = JNL_SEG_HDR;
	j->st.disk_bytes += JNL_SEG_HDR;
	j->active = s;
	j->open->seg = s->no;
	j->open->seg_off = JNL_SEG_HDR;
	j->open->new_seg = true;
	j->open->seg_key = s->key;
	/* The spare, if one is ready; the next one once a segment has filled
	 * (jnl_prealloc.c), otherwise when this one is a quarter full. */
	j->open->prealloc = jnl_spare_claim(j->w);
	s->spare_len = j->open->prealloc;
	/* The zeros after a rolled spare's records go: a segment holds the
	 * disk its records need, whatever compaction makes of it. */
	if (old && old->spare_len) {
		j->open->cut_seg = old->no;
		j->open->cut_size = old->size;
	}
	if (old) {
		j->w->spare_for = s->no;
		jnl_spare_request(j->w, j->cfg.segment_size);
	}
}

uint8_t *
jnl_reserve(struct st_journal *j, size_t n, uint64_t *seg, uint32_t *off, uint32_t *key)
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
	*key = j->active->key;
	b->len += n;
	b->nrec++;
	j->active->size += n;
	if (j->active->size > j->cfg.segment_size / 4 && j->w->spare_for != j->active->no) {
		j->w->spare_for = j->active->no;
		jnl_spare_request(j->w, j->cfg.segment_size);
	}
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

void
jnl_arm(struct st_journal *j)
{
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

int
st_journal_put_file(struct st_journal *j, const char *name, void *data, size_t len)
{
	struct jnl_batch *b = j->open;
	struct jnl_file f;

	if (j->failed) {
		bk_free(data);
		return j->failed;
	}
	for (size_t i = 0; i < b->nfile; i++)
		if (strcmp(b->files[i].name, name) == 0) {
			bk_free(b->files[i].data);
			b->files[i].data = data;
			b->files[i].len = len;
			return 0;
		}
	f.name = bk_strdup(name);
	f.data = data;
	f.len = len;
	PUSH(b->files, b->nfile, b->filecap, f);
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

/* Try the failed-state probe again in cfg.retry_ms. */
static void
retry_later(struct st_journal *j)
{
	struct timeval tv = { j->cfg.retry_ms / 1000, (j->cfg.retry_ms % 1000) * 1000 };

	evtimer_add(j->retry_ev, &tv);
}

static void
enter_failed(struct st_journal *j, int err)
{
	j->failed = err;
	bk_warn("journal: write to %s failed: %s; persistent appends refused until a new segment can be written",
		j->dir, strerror(-err));
	if (j->active)
		j->active->failed = true;
	j->active = NULL;
	jnl_spare_drop(j->w);
	/* Records appended before we knew: the thread fails them in order. */
	seal_now(j);
	j->open->seg = 0;
	retry_later(j);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct st_journal *j = arg;
	struct jnl_seg *s;

	if (j->inflight_head != NULL || !batch_is_empty(j->open)) {
		retry_later(j);
		return;
	}
	s = jnl_seg_add(j, j->next_seg++);
	s->key = jnl_seg_key_new();
	s->size = JNL_SEG_HDR;
	j->open->seg = s->no;
	j->open->seg_off = JNL_SEG_HDR;
	j->open->new_seg = true;
	j->open->seg_key = s->key;
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
		else if (b->probe)
			retry_later(j);
	} else if (j->failed) {
		/*
		 * Sealed after a batch that failed, yet synced: its pass ran
		 * beside the failing one, and an fdatasync that returns 0
		 * after another reported the error does not vouch for pages
		 * the kernel dropped. Nothing after a failure is durable until
		 * a probe has written a fresh segment.
		 */
		status = j->failed;
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
	if (status == 0 && b->fw_status != 0) {
		bk_warn("journal: cannot write a stream file: %s", strerror(-b->fw_status));
		status = b->fw_status;
	}
	if (status == 0 && b->file_status != 0) {
		bk_warn("journal: cannot replace a file in the data directory: %s",
			strerror(-b->file_status));
		status = b->file_status;
	}
	for (size_t i = 0; i < b->ndone; i++)
		b->done[i].fn(b->done[i].arg, status);
	batch_put(j, b);
}

/* Complete, in sealing order, every written batch nothing holds back. */
void
jnl_complete_ready(struct st_journal *j)
{
	struct jnl_batch *b;

	while ((b = j->inflight_head) != NULL && b->written && jnl_repl_may_complete(j, b))
		complete(j, b);
}

static void
drain_done(struct st_journal *j)
{
	struct jnl_batch *list, *next;

	pthread_mutex_lock(&j->w->lock);
	list = j->w->done;
	j->w->done = j->w->done_tail = NULL;
	pthread_mutex_unlock(&j->w->lock);
	/* The thread hands batches back in sealing order, the order of the
	 * in-flight list. With replication a written batch may still wait
	 * for its release. */
	for (; list; list = next) {
		next = list->next;
		list->written = true;
		if (j->repl && list->seq)
			j->repl->written(j->repl_arg, list->seq, list->status);
	}
	jnl_complete_ready(j);
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
	w->ddirfd = j->ddirfd;
	w->sync = j->cfg.sync;
	w->hist = &j->fsync;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->spare_cond, NULL);
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
	for (int i = 0; i < JNL_THREADS; i++) {
		pthread_mutex_lock(&w->lock);
		w->running++;
		pthread_mutex_unlock(&w->lock);
		if ((rc = pthread_create(&w->th[i], NULL, jnl_writer_thread_main, w)) != 0) {
			pthread_mutex_lock(&w->lock);
			w->running--;
			pthread_mutex_unlock(&w->lock);
			return -rc;
		}
		w->started++;
	}
	w->spare_min_free = j->cfg.disk_free_limit;
	return jnl_spare_start(w, j->cfg.preallocate);
}

void
jnl_writer_stop(struct st_journal *j)
{
	struct jnl_writer *w = j->w;
	struct jnl_batch *b;

	if (w == NULL)
		return;
	/* Closing: whatever replication still holds completes now. */
	j->repl = NULL;
	if (j->open && w->started) {
		/* Finish everything in flight; completions may append more. */
		jnl_complete_ready(j);
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
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		for (int i = 0; i < w->started; i++)
			pthread_join(w->th[i], NULL);
	}
	jnl_spare_stop(w);
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
	pthread_cond_destroy(&w->spare_cond);
	bk_free(w);
	j->w = NULL;
}

void
st_journal_inject_failure(struct st_journal *j, int err, int n)
{
	__atomic_store_n(&j->w->inj_err, err, __ATOMIC_RELEASE);
	__atomic_store_n(&j->w->inj_n, n, __ATOMIC_RELEASE);
}

void
st_journal_inject_sync_failure(struct st_journal *j, int err, int n)
{
	__atomic_store_n(&j->w->inj_sync_err, err, __ATOMIC_RELEASE);
	__atomic_store_n(&j->w->inj_sync_n, n, __ATOMIC_RELEASE);
}
