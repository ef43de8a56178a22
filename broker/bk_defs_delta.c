/*
 * bk_defs_delta.c: durable declares as journal records, so that declaring
 * many durable queues does not rewrite the whole definitions file each
 * time (a channel answers one durable declare at a time: a rewrite per
 * declare made a bulk declare quadratic).
 *
 * A durable queue created, or a binding added that a restart keeps, is one
 * key/value record (storage.h) in the loop iteration's journal batch, so
 * its -ok waits for one small append and the batch's fsync, not for the
 * whole file:
 *
 *   key   +------------------+------------------+
 *         | epoch, u64 BE    | number, u64 BE   |
 *         +------------------+------------------+
 *   value {"queues":[{...}]} or {"bindings":[{...}]}: the one entry
 *         exactly as the file lists it, as JSON text
 *
 * Every other change (deletes, exchanges, vhosts, users, policies, streams
 * and deduplicating queues, ...)
 * rewrites the file as before, and so does a record that would take the
 * records' bytes past the size of the last full write: the file absorbs
 * them, and rewrites cost in proportion to the growth, not its square.
 *
 * Epochs keep records and file consistent. The file carries
 * "sluice_epoch"; each full write renders the next epoch, and records made
 * after it carry that epoch. Once a full write is on disk, the records it
 * absorbed (older epochs) are deleted. At start, after the file is loaded,
 * the records of the file's epoch or later are applied in number order
 * (compaction may move records, so the log's order is not trusted); older
 * ones were absorbed by the file (a crash came between the full write and
 * their deletion) and are only deleted. A later epoch than the file's
 * means a full write did not land: its records were made after it, so
 * applying them over the older file is still right. Whatever start
 * applied is absorbed by a full write at once.
 */
#include "bk_persist.h"
#include "bk_routing.h"
#include "storage.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

/* Records may add up to this much before a full write absorbs them, or
 * the last full write's size if that is larger. */
#define DELTA_MIN_BYTES (64u << 10)
#define EPOCH_KEY "sluice_epoch"

struct bk_defs_rec {
	struct bk_defs_key k;
	char *json;                     /* owned */
	uint32_t len;
};

static void
key_put(uint8_t out[16], const struct bk_defs_key *k)
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(k->epoch >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(k->n >> (56 - 8 * i));
	}
}

static void
key_get(const uint8_t in[16], struct bk_defs_key *k)
{
	k->epoch = k->n = 0;
	for (int i = 0; i < 8; i++) {
		k->epoch = k->epoch << 8 | in[i];
		k->n = k->n << 8 | in[8 + i];
	}
}

static void
keys_push(struct bk_persist *p, struct bk_defs_key k)
{
	if (p->ndkeys == p->dkeys_cap) {
		p->dkeys_cap = p->dkeys_cap ? p->dkeys_cap * 2 : 64;
		p->dkeys = bk_realloc(p->dkeys, p->dkeys_cap * sizeof(*p->dkeys));
	}
	p->dkeys[p->ndkeys++] = k;
}

cJSON *
bk_defs_durable_doc(struct bk_persist *p)
{
	cJSON *doc = bk_defs_export(p->broker, NULL, BK_DEFS_DURABLE);

	p->defs_epoch++;
	cJSON_AddNumberToObject(doc, EPOCH_KEY, (double)p->defs_epoch);
	return doc;
}

void
bk_defs_epoch_load(struct bk_persist *p, const cJSON *doc)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, EPOCH_KEY);

	p->defs_epoch = 0;
	if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < 9007199254740992.0)
		p->defs_epoch = (uint64_t)e->valuedouble;
}

/* A record can carry this change (else the whole file is rewritten). */
static bool
delta_possible(const struct bk_persist *p)
{
	return p != NULL && !p->loading && !p->stopping && p->j != NULL &&
	       p->defs_ev != NULL && !p->defs_dirty;
}

/* Journal doc (taken) as one record; false when the file must be rewritten. */
static bool
record(struct bk_persist *p, cJSON *doc)
{
	struct bk_defs_key k = { p->defs_epoch, p->defs_next };
	uint64_t limit = p->defs_file_len > DELTA_MIN_BYTES ? p->defs_file_len
							    : DELTA_MIN_BYTES;
	char *text = cJSON_PrintUnformatted(doc);
	uint8_t key[16];
	size_t len;
	int rc;

	cJSON_Delete(doc);
	if (text == NULL)
		return false;
	len = strlen(text);
	if (p->dbytes + len > limit) {
		free(text);
		return false;
	}
	key_put(key, &k);
	rc = st_journal_put_kv(p->j, BK_NS_DEFS, key, sizeof(key), text, (uint32_t)len);
	free(text);
	if (rc < 0)
		return false;
	keys_push(p, k);
	p->defs_next++;
	p->dbytes += len;
	p->defs_gen++;
	if (!p->defs_delta) {
		p->defs_delta = true;
		event_active(p->defs_ev, 0, 0);
	}
	return true;
}

/*
 * Streams and deduplicating queues have journal state of their own that
 * start reads with the key/value records, before records are applied:
 * those queues must come from the file.
 */
void
bk_defs_queue_added(struct bk_queue *q)
{
	struct bk_persist *p = q->broker->persist;

	if (!delta_possible(p) || q->args.type == BK_QTYPE_STREAM || q->args.dedup ||
	    !record(p, bk_defs_queue_doc(q)))
		bk_defs_changed(q->broker);
}

void
bk_defs_binding_added(struct bk_binding *bd)
{
	struct bk_broker *b = bd->source->vhost->broker;
	struct bk_persist *p = b->persist;

	if (!delta_possible(p) || !record(p, bk_defs_binding_doc(bd)))
		bk_defs_changed(b);
}

void
bk_defs_delta_take(struct bk_persist *p, struct bk_defs_key **keys, uint32_t *n)
{
	*keys = p->dkeys;
	*n = p->ndkeys;
	p->dkeys = NULL;
	p->ndkeys = p->dkeys_cap = 0;
	p->dbytes = 0;
}

void
bk_defs_delta_done(struct bk_persist *p, struct bk_defs_key *keys, uint32_t n,
		   int status)
{
	uint8_t key[16];

	for (uint32_t i = 0; i < n; i++) {
		if (status != 0)
			keys_push(p, keys[i]);  /* the next full write deletes them */
		else if (!p->stopping && p->j != NULL) {
			key_put(key, &keys[i]);
			st_journal_del_kv(p->j, BK_NS_DEFS, key, sizeof(key));
		}
	}
	bk_free(keys);
}

/* ---- start ------------------------------------------------------------ */

int
bk_defs_delta_replay(struct bk_broker *b, const void *key, uint32_t klen,
		     const void *val, uint32_t vlen)
{
	struct bk_persist *p = b->persist;
	struct bk_defs_rec *r;

	if (klen != 16)
		return 0;               /* not ours: leave it */
	if (p->nreplayed == p->replayed_cap) {
		p->replayed_cap = p->replayed_cap ? p->replayed_cap * 2 : 64;
		p->replayed = bk_realloc(p->replayed, p->replayed_cap * sizeof(*r));
	}
	r = &p->replayed[p->nreplayed++];
	key_get(key, &r->k);
	r->json = bk_malloc((size_t)vlen + 1);
	memcpy(r->json, val, vlen);
	r->json[vlen] = '\0';
	r->len = vlen;
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct bk_defs_rec *x = a, *y = b;

	return x->k.n < y->k.n ? -1 : x->k.n > y->k.n;
}

static void
rec_apply(struct bk_broker *b, const struct bk_defs_rec *r)
{
	cJSON *doc = cJSON_ParseWithLength(r->json, r->len);
	char why[256] = "";

	if (doc == NULL || !cJSON_IsObject(doc))
		bk_warn("definitions: journal record %llu is not a JSON object; skipped",
			(unsigned long long)r->k.n);
	else if (bk_defs_import(b, doc, NULL, BK_DEFS_KEEP_GOING | BK_DEFS_STORED, why,
				sizeof(why)) < 0)
		bk_warn("definitions: journal record %llu: %s", (unsigned long long)r->k.n,
			why);
	cJSON_Delete(doc);
}

void
bk_defs_delta_apply(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;
	bool loading = p->loading;
	uint64_t top = p->defs_epoch;

	if (p->nreplayed == 0)
		return;
	qsort(p->replayed, p->nreplayed, sizeof(*p->replayed), rec_cmp);
	p->loading = true;              /* nothing of this is recorded again */
	for (uint32_t i = 0; i < p->nreplayed; i++) {
		struct bk_defs_rec *r = &p->replayed[i];

		if (r->k.epoch >= p->defs_epoch)
			rec_apply(b, r);
		keys_push(p, r->k);     /* deleted once a full write holds them */
		if (r->k.n >= p->defs_next)
			p->defs_next = r->k.n + 1;
		if (r->k.epoch > top)
			top = r->k.epoch;
		bk_free(r->json);
	}
	/* the next full write's epoch is above every record's */
	p->defs_epoch = top;
	p->loading = loading;
	bk_info("definitions: %u journal records read", p->nreplayed);
	BK_FREE(p->replayed);
	p->nreplayed = p->replayed_cap = 0;
}

void
bk_defs_delta_free(struct bk_persist *p)
{
	for (uint32_t i = 0; i < p->nreplayed; i++)
		bk_free(p->replayed[i].json);
	BK_FREE(p->replayed);
	BK_FREE(p->dkeys);
	p->nreplayed = p->replayed_cap = p->ndkeys = p->dkeys_cap = 0;
}
