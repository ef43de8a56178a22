/*
 * bk_defs.c: the durable definitions file, <data_dir>/definitions.json:
 * every vhost, user (password hash and tags) and permission, and the
 * durable exchanges, queues and bindings (bk_defs_export with
 * BK_DEFS_DURABLE), in RabbitMQ's definitions format.
 *
 * When it is written. A change counts one more generation
 * (bk_defs_changed, bk_persist.c) and marks the file dirty; at the end of
 * the loop iteration the document is rendered once and handed to the
 * journal (st_journal_put_file), whose thread writes it with the batch
 * (temp file, fsync, rename, fsync of the directory) after the batch's
 * records, off the event loop. So a burst of declares from any number of
 * clients costs one write, and no client waits on the loop for a disk.
 *
 * A durable queue created or a binding added is not worth a rewrite: it
 * becomes one journal record in the iteration's batch, and the file
 * absorbs such records from time to time (bk_defs_delta.c).
 *
 * Answers wait for the disk. An adapter about to confirm a change (AMQP
 * declare-ok, bind-ok, delete-ok; an HTTP 2xx) calls
 * bk_defs_commit_track: 0 when everything changed so far is already on
 * disk; otherwise its tracker hears once the write that covers its change
 * has completed. A commit made before the end-of-iteration flush joins
 * the waiters of that flush; one made while a write is in flight but
 * nothing newer is dirty waits on the journal's open batch, which
 * completes after it. Without a journal (tests, tools) the file is
 * written synchronously, as before.
 *
 * Loaded (bk_defs_load, before listeners open) through the shared
 * importer (bk_defs_apply.c) with BK_DEFS_KEEP_GOING: an entry the core
 * refuses is logged and skipped, a file that is not JSON or not in the
 * format stops the start (starting empty would rewrite it without its
 * queues). Users and permissions of sluice.conf are applied after it, so
 * the configuration file wins for the users it names.
 */
#include "bk_persist.h"
#include "st_defs.h"
#include "storage.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

int
bk_defs_save(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;
	cJSON *doc;
	int rc;

	if (p == NULL)
		return 0;
	doc = bk_defs_durable_doc(p);
	rc = st_defs_write(p->data_dir, doc);
	cJSON_Delete(doc);
	if (rc < 0)
		bk_error("cannot write %s/%s: %s", p->data_dir, ST_DEFS_FILE,
			 strerror(-rc));
	return rc;
}

int
bk_defs_commit(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;
	int rc;

	if (p == NULL || p->stopping || !p->defs_dirty)
		return 0;
	p->defs_dirty = false;
	if ((rc = bk_defs_save(b)) < 0)
		bk_defs_changed(b);     /* try again at the end of the iteration */
	else
		p->defs_durable_gen = p->defs_gen;
	return rc;
}

/* A commit waiting for the next write to be queued. */
struct bk_defs_waiter {
	struct bk_confirm *c;           /* ref */
	uint64_t token;
	struct bk_defs_waiter *next;
};

/* A rendering at least this big returns the heap's free pages after it. */
#define DEFS_TRIM_BYTES (64u << 10)

/* A queued write of generation gen completed. */
struct defs_write {
	struct bk_persist *p;           /* borrowed */
	uint64_t gen;
	struct bk_defs_key *keys;       /* owned: the records a full write absorbed */
	uint32_t nkeys;
};

static void
defs_written(void *arg, int status)
{
	struct defs_write *w = arg;
	struct bk_persist *p = w->p;

	if (status == 0 && w->gen > p->defs_durable_gen)
		p->defs_durable_gen = w->gen;
	else if (status != 0 && !p->stopping) {
		bk_error("cannot write %s/%s: %s", p->data_dir, ST_DEFS_FILE,
			 strerror(-status));
		p->defs_dirty = true;   /* the next change or commit tries again */
	}
	bk_defs_delta_done(p, w->keys, w->nkeys, status);
	bk_free(w);
}

void
bk_defs_waiters_drop(struct bk_persist *p)
{
	while (p->defs_waiters != NULL) {
		struct bk_defs_waiter *w = p->defs_waiters;

		p->defs_waiters = w->next;
		bk_confirm_unref(w->c);
		bk_free(w);
	}
	p->defs_waiters_tail = NULL;
}

/* Tell every waiter status now (the write could not be queued). */
static void
waiters_report(struct bk_persist *p, int status)
{
	struct bk_defs_waiter *list = p->defs_waiters;

	p->defs_waiters = p->defs_waiters_tail = NULL;
	while (list != NULL) {
		struct bk_defs_waiter *w = list;

		list = w->next;
		bk_confirm_report(w->c, w->token, status);
		bk_confirm_unref(w->c);
		bk_free(w);
	}
}

/* Register w (taken) for the open batch's completion. */
static int
defs_when_durable(struct bk_persist *p, struct defs_write *w)
{
	int rc = st_journal_when_durable(p->j, defs_written, w);

	if (rc < 0) {
		bk_defs_delta_done(p, w->keys, w->nkeys, rc);
		bk_free(w);
	}
	return rc;
}

/*
 * Render the document and queue it with the journal's open batch; it
 * absorbs the records made so far (bk_defs_delta.c).
 */
static int
defs_queue(struct bk_persist *p)
{
	struct defs_write *w;
	cJSON *doc = bk_defs_durable_doc(p);
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = st_defs_render(doc, &text, &len);
	cJSON_Delete(doc);
	/* a big document's tree leaves the heap full of holes that no
	 * declare fills: hand the free pages back */
	if (rc == 0 && len >= DEFS_TRIM_BYTES)
		malloc_trim(0);
	if (rc == 0)
		p->defs_file_len = len;
	if (rc < 0 || (rc = st_journal_put_file(p->j, ST_DEFS_FILE, text, len)) < 0)
		return rc;
	w = bk_calloc(1, sizeof(*w));
	w->p = p;
	w->gen = p->defs_gen;
	bk_defs_delta_take(p, &w->keys, &w->nkeys);
	return defs_when_durable(p, w);
}

/* Only records changed: their batch's completion makes them durable. */
static void
defs_records_queued(struct bk_persist *p)
{
	struct defs_write *w = bk_calloc(1, sizeof(*w));

	w->p = p;
	w->gen = p->defs_gen;
	defs_when_durable(p, w);
}

void
bk_defs_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bk_persist *p = arg;
	int rc;

	if (p->stopping)
		return;
	if (!p->defs_dirty) {
		if (p->defs_delta && p->j != NULL)
			defs_records_queued(p);
		p->defs_delta = false;
		return;
	}
	p->defs_delta = false;
	p->defs_dirty = false;
	if (p->j == NULL) {
		if ((rc = bk_defs_save(p->broker)) == 0)
			p->defs_durable_gen = p->defs_gen;
		waiters_report(p, rc);
		return;
	}
	if ((rc = defs_queue(p)) < 0) {
		/* the journal is failed: nothing can be made durable now */
		p->defs_dirty = true;
		waiters_report(p, rc);
		return;
	}
	while (p->defs_waiters != NULL) {
		struct bk_defs_waiter *w = p->defs_waiters;

		p->defs_waiters = w->next;
		if ((rc = bk_persist_track(p, w->c, w->token)) < 0)
			bk_confirm_report(w->c, w->token, rc);
		bk_confirm_unref(w->c);
		bk_free(w);
	}
	p->defs_waiters_tail = NULL;
}

uint64_t
bk_defs_generation(const struct bk_broker *b)
{
	return b->persist ? b->persist->defs_gen : 0;
}

int
bk_defs_commit_track(struct bk_broker *b, struct bk_confirm *c, uint64_t token)
{
	struct bk_persist *p = b->persist;
	struct bk_defs_waiter *w;
	int rc;

	if (p == NULL || p->stopping || p->defs_durable_gen >= p->defs_gen)
		return 0;
	if (p->defs_ev == NULL)         /* no event loop: write it now */
		return bk_defs_commit(b);
	if (!p->defs_dirty) {
		/* queued, not yet on disk: the open batch completes after it */
		if (p->j == NULL)
			return 0;
		return (rc = bk_persist_track(p, c, token)) < 0 ? rc : 1;
	}
	w = bk_malloc(sizeof(*w));
	w->c = c;
	w->token = token;
	w->next = NULL;
	bk_confirm_ref(c);
	if (p->defs_waiters_tail != NULL)
		p->defs_waiters_tail->next = w;
	else
		p->defs_waiters = w;
	p->defs_waiters_tail = w;
	return 1;
}

int
bk_defs_load(struct bk_broker *b, char *err, size_t errlen)
{
	struct bk_persist *p = b->persist;
	cJSON *doc = NULL;
	char why[512] = "";
	int rc;

	rc = st_defs_read(p->data_dir, &doc, why, sizeof(why));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		if (why[0])
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "cannot read %s/%s: %s", p->data_dir,
				 ST_DEFS_FILE, strerror(-rc));
		return rc;
	}
	bk_defs_epoch_load(p, doc);
	rc = bk_defs_import(b, doc, NULL, BK_DEFS_KEEP_GOING | BK_DEFS_STORED, why,
			    sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "%s/%s: %s", p->data_dir, ST_DEFS_FILE, why);
	cJSON_Delete(doc);
	return rc;
}
