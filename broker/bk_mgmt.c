/*
 * bk_mgmt.c: vhost management (add, delete).
 *
 * Deleting a vhost is the one management write that reaches into live
 * connections: every registered connection on it is closed first (the
 * adapter gives back its consumers, deliveries and exclusive queues
 * inside ops->close), then the vhost watchers drop what adapters keep
 * outside connections (sessions of absent MQTT clients, retained
 * messages), then the vhost's queues, exchanges, bindings and
 * permissions go. Counters of the deleted vhost are folded into the
 * broker-wide totals so /api/overview never goes backwards.
 */
#include "bk_mgmt.h"
#include "bk_retained.h"

#include <stdio.h>
#include <string.h>

enum bk_status
bk_vhost_add(struct bk_broker *b, const char *name, struct bk_err *err)
{
	if (name == NULL || name[0] == '\0')
		return bk_err_set(err, BK_PRECONDITION_FAILED, "vhost name must not be empty");
	if (bk_vhost_get(b, name) != NULL)
		return BK_OK;
	bk_vhost_new(b, name);
	bk_mgmt(b)->access_gen++;
	bk_defs_changed(b);
	return BK_OK;
}

enum bk_status
bk_vhost_delete(struct bk_broker *b, const char *name, struct bk_err *err)
{
	struct bk_vhost *vh = bk_vhost_get(b, name);
	struct bk_mgmt *m = bk_mgmt(b);
	char reason[320];

	if (vh == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", name);
	snprintf(reason, sizeof(reason), "vhost '%s' is deleted", name);
	bk_registry_close_matching(b, name, NULL, reason);
	/* ops->close may have deleted exclusive queues and watchers may
	 * delete more; the vhost is still there (nothing else deletes
	 * vhosts, and watchers must not). */
	for (struct bk_vhost_watcher *w = m->vwatch; w; w = w->next)
		w->fn(w->arg, vh);
	for (int i = 0; i < BK_MS__COUNT; i++)
		m->ms_gone.n[i] += vh->ms.n[i];
	bk_perms_drop(b, NULL, name);
	bk_tperms_drop(b, NULL, name, NULL);
	bk_retained_drop(vh, true);     /* and their journal records */
	bk_vhost_free(vh);
	m->access_gen++;
	bk_defs_changed(b);
	return BK_OK;
}

void
bk_vhost_watch(struct bk_broker *b, bk_vhost_gone_fn fn, void *arg)
{
	struct bk_vhost_watcher *w = bk_calloc(1, sizeof(*w)), **pp;

	w->fn = fn;
	w->arg = arg;
	for (pp = &bk_mgmt(b)->vwatch; *pp; pp = &(*pp)->next)
		;
	*pp = w;
}

void
bk_vhost_unwatch(struct bk_broker *b, bk_vhost_gone_fn fn, void *arg)
{
	struct bk_vhost_watcher **pp, *w;

	for (pp = &bk_mgmt(b)->vwatch; (w = *pp) != NULL; pp = &w->next) {
		if (w->fn == fn && w->arg == arg) {
			*pp = w->next;
			bk_free(w);
			return;
		}
	}
}

void
bk_vhost_watchers_fini(struct bk_broker *b)
{
	struct bk_vhost_watcher *w, *next;

	for (w = bk_mgmt(b)->vwatch; w; w = next) {
		next = w->next;
		bk_free(w);
	}
	bk_mgmt(b)->vwatch = NULL;
}
