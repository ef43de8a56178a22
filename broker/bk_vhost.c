/*
 * bk_vhost.c: vhost lifecycle.
 *
 * A vhost owns its exchanges (and, through the routing state, every
 * binding) and, through the queueing half, its queues. bk_vhost_new links
 * the vhost into the broker and declares the default exchanges.
 *
 * Teardown order matters: queues go first (bk_queues_free_all may call
 * bk_bindings_remove_queue, which needs the routing state), then the
 * exchanges with their remaining bindings, then the routing state.
 */
#include "bk_policy.h"
#include "bk_routing.h"
#include "bk_retained.h"

struct bk_vhost *
bk_vhost_new(struct bk_broker *b, const char *name)
{
	struct bk_vhost *vh = bk_vhost_get(b, name);

	if (vh != NULL)
		return vh;
	vh = bk_calloc(1, sizeof(*vh));
	vh->name = bk_strdup(name);
	vh->broker = b;
	vh->routing = bk_calloc(1, sizeof(*vh->routing));
	HASH_ADD_KEYPTR(hh, b->vhosts, vh->name, strlen(vh->name), vh);
	bk_exchanges_create_defaults(vh);
	return vh;
}

void
bk_vhost_free(struct bk_vhost *vh)
{
	if (vh == NULL)
		return;
	if (vh->broker != NULL)
		HASH_DEL(vh->broker->vhosts, vh);
	bk_retained_drop(vh, false);
	bk_queues_free_all(vh);
	bk_exchanges_free_all(vh);
	bk_routing_free(vh->routing);
	bk_policies_free_vhost(vh);
	bk_hist_free(vh->hist);
	bk_free(vh->name);
	bk_free(vh);
}
