/*
 * bk_defs.c: the durable definitions file, <data_dir>/definitions.json:
 * every vhost, user (password hash and tags) and permission, and the
 * durable exchanges, queues and bindings (bk_defs_export with
 * BK_DEFS_DURABLE), in RabbitMQ's definitions format.
 *
 * When it is written. A change marks the file dirty (bk_defs_changed,
 * bk_persist.c) and it is rewritten once at the end of the loop
 * iteration, so a burst of declares costs one write. The management API
 * does not wait for that: it calls bk_defs_commit before its 2xx, which
 * writes (temp file, fsync, rename, fsync of the directory: st_defs.c)
 * right away, so a 2xx means the change survives kill -9 and power loss,
 * as RabbitMQ's answer means the change is committed. Management writes
 * are rare; the few milliseconds of fsync are paid by the request that
 * made the change, not by the message path.
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

#include <errno.h>
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
	doc = bk_defs_export(b, NULL, BK_DEFS_DURABLE);
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
	return rc;
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
	rc = bk_defs_import(b, doc, NULL, BK_DEFS_KEEP_GOING, why, sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "%s/%s: %s", p->data_dir, ST_DEFS_FILE, why);
	cJSON_Delete(doc);
	return rc;
}
