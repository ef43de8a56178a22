/*
 * jnl_repl.c: the journal's replication hook (storage.h, "Replication").
 *
 * At seal, a batch is described as the file operations the journal thread
 * is about to perform, in its order (jnl_thread.c, process()):
 *
 *   notes        changes the main thread already made outside the thread
 *                since the last seal (stream segments unlinked, a stream
 *                segment's compaction finished by an earlier batch)
 *   rolled spare TRUNCATE the segment rolled from to its records, when it
 *                was started from the spare (jnl_prealloc.c)
 *   new segment  WRITE header at 0 with trunc (open_seg's create), then
 *                TRUNCATE to the spare's length when the segment is
 *                started from the spare
 *   records      WRITE buf at seg_off of the segment
 *   deletes      UNLINK every segment the batch made dead
 *   stream files WRITE each fwrite at its offset (created when missing)
 *   files        REPLACE each whole file (the definitions document)
 *
 * so a follower that replays them in order holds the same bytes. The
 * description borrows the batch's buffers (no copy here); the hook copies
 * what it keeps.
 *
 * The gate. With a hook attached every sealed batch gets a sequence
 * number, and jnl_complete_ready (jnl_writer.c) completes a written batch
 * only when its seq is released; batches sealed before the attach (seq 0)
 * are never held. Release runs completions from release_ev, never inside
 * st_journal_repl_release (callbacks come from the event loop only).
 * Without a hook none of this runs: one pointer test per seal and per
 * completed batch.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "jnl_writer_int.h"

#define JOURNAL_DIR "journal/"

static void
release_cb(evutil_socket_t fd, short what, void *arg)
{
	struct st_journal *j = arg;

	jnl_complete_ready(j);
	if (!j->failed && j->state == JNL_S_READY)
		jnl_gc(j);
}

void
st_journal_repl_attach(struct st_journal *j, const struct st_repl_ops *ops, void *arg)
{
	if (j->release_ev == NULL)
		j->release_ev = event_new(j->base, -1, 0, release_cb, j);
	j->repl = ops;
	j->repl_arg = arg;
	j->repl_released = j->repl_seq;
}

void
st_journal_repl_release(struct st_journal *j, uint64_t seq)
{
	if (seq <= j->repl_released)
		return;
	j->repl_released = seq < j->repl_seq ? seq : j->repl_seq;
	if (j->release_ev)
		event_active(j->release_ev, EV_TIMEOUT, 1);
}

uint64_t
st_journal_repl_sealed(const struct st_journal *j)
{
	return j->repl_seq;
}

bool
st_journal_repl_written(const struct st_journal *j, uint64_t seq)
{
	for (const struct jnl_batch *b = j->inflight_head; b; b = b->mnext)
		if (!b->written && (b->seq == 0 || b->seq <= seq))
			return false;
	return true;
}

bool
jnl_repl_may_complete(const struct st_journal *j, const struct jnl_batch *b)
{
	return j->repl == NULL || b->seq == 0 || b->seq <= j->repl_released;
}

void
jnl_repl_note_take(struct st_journal *j, enum st_repl_kind kind, const char *path,
		   uint64_t off, uint8_t *data, size_t len)
{
	struct jnl_batch *b = j->open;

	if (j->repl == NULL || b == NULL) {
		bk_free(data);
		return;
	}
	if (b->nnote == b->notecap) {
		b->notecap = b->notecap ? b->notecap * 2 : 8;
		b->notes = bk_realloc(b->notes, b->notecap * sizeof(*b->notes));
	}
	b->notes[b->nnote] = (struct jnl_note){ (uint8_t)kind, bk_strdup(path), off, data, len };
	b->nnote++;
	jnl_arm(j);
}

void
jnl_repl_note(struct st_journal *j, enum st_repl_kind kind, const char *path)
{
	jnl_repl_note_take(j, kind, path, 0, NULL, 0);
}

void
jnl_repl_notes_clear(struct jnl_batch *b)
{
	for (size_t i = 0; i < b->nnote; i++) {
		bk_free(b->notes[i].path);
		bk_free(b->notes[i].data);
	}
	b->nnote = 0;
}

void
jnl_repl_fini(struct st_journal *j)
{
	if (j->release_ev)
		event_free(j->release_ev);
	j->release_ev = NULL;
	BK_FREE(j->rops);
	BK_FREE(j->rpaths);
	j->rcap = j->rpcap = 0;
}

/* Room for n operations and n segment paths in the scratch. */
static void
scratch_reserve(struct st_journal *j, size_t n)
{
	if (n > j->rcap) {
		j->rcap = n < 16 ? 16 : n * 2;
		j->rops = bk_realloc(j->rops, j->rcap * sizeof(*j->rops));
	}
	if (n > j->rpcap) {
		j->rpcap = n < 16 ? 16 : n * 2;
		j->rpaths = bk_realloc(j->rpaths, j->rpcap * sizeof(*j->rpaths));
	}
}

static const char *
seg_path(struct st_journal *j, size_t slot, uint64_t no)
{
	char name[32];

	jnl_seg_name(name, no);
	snprintf(j->rpaths[slot], sizeof(j->rpaths[slot]), JOURNAL_DIR "%s", name);
	return j->rpaths[slot];
}

static struct st_repl_op *
op_add(struct st_repl_op *ops, size_t *n, uint8_t kind, const char *path, uint64_t off,
       const void *data, size_t len)
{
	struct st_repl_op *o = &ops[(*n)++];

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->path = path;
	o->off = off;
	o->data = data;
	o->len = len;
	return o;
}

void
jnl_repl_seal(struct st_journal *j, struct jnl_batch *b)
{
	uint8_t hdr[JNL_SEG_HDR];
	struct st_repl_batch rb;
	size_t n = 0, np = 0, max;
	uint64_t bytes = 0;

	max = b->nnote + 4 + b->ndel + b->nfw + b->nfile;
	scratch_reserve(j, max);
	b->seq = ++j->repl_seq;
	for (size_t i = 0; i < b->nnote; i++) {
		op_add(j->rops, &n, b->notes[i].kind, b->notes[i].path, b->notes[i].off,
		       b->notes[i].data, b->notes[i].len);
		bytes += b->notes[i].len;
	}
	if (b->cut_seg)
		op_add(j->rops, &n, ST_REPL_TRUNCATE, seg_path(j, np++, b->cut_seg),
		       b->cut_size, NULL, 0);
	if (b->new_seg) {
		jnl_seg_header_encode(hdr, b->seg, b->seg_key);
		op_add(j->rops, &n, ST_REPL_WRITE, seg_path(j, np, b->seg), 0, hdr,
		       sizeof(hdr))->trunc = true;
		bytes += sizeof(hdr);
		/* started from the spare: the copy is as long, zeros after the
		 * header (sparse there: followers sync no zeros) */
		if (b->prealloc)
			op_add(j->rops, &n, ST_REPL_TRUNCATE, seg_path(j, np, b->seg),
			       b->prealloc, NULL, 0);
		np++;
	}
	if (b->len) {
		op_add(j->rops, &n, ST_REPL_WRITE, seg_path(j, np++, b->seg), b->seg_off,
		       b->buf, b->len);
		bytes += b->len;
	}
	for (size_t i = 0; i < b->ndel; i++)
		op_add(j->rops, &n, ST_REPL_UNLINK, seg_path(j, np++, b->dels[i]), 0, NULL, 0);
	for (size_t i = 0; i < b->nfw; i++) {
		op_add(j->rops, &n, ST_REPL_WRITE, b->fws[i].path, b->fws[i].off,
		       b->fws[i].data, b->fws[i].len);
		bytes += b->fws[i].len;
	}
	for (size_t i = 0; i < b->nfile; i++) {
		op_add(j->rops, &n, ST_REPL_REPLACE, b->files[i].name, 0, b->files[i].data,
		       b->files[i].len);
		bytes += b->files[i].len;
	}
	BK_ASSERT(n <= max && np <= max);
	rb.seq = b->seq;
	rb.records = b->nrec;
	rb.bytes = bytes;
	rb.ops = j->rops;
	rb.nops = n;
	j->repl->sealed(j->repl_arg, &rb);
}
