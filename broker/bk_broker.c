/*
 * bk_broker.c: the broker object and vhost lookup.
 *
 * The broker owns its vhosts (uthash by name) and its users; the queueing
 * half hangs its own state off broker->queue_state through
 * bk_queueing_init/fini. Teardown frees vhosts first (their queues may
 * still use the queueing state), then the queueing state, then users.
 */
#include "bk_routing.h"


struct bk_broker *
bk_broker_new(struct event_base *base, const struct bk_limits *lim)
{
	struct bk_broker *b = bk_calloc(1, sizeof(*b));

	b->base = base;
	if (lim != NULL)
		b->limits = *lim;
	if (b->limits.max_message_size == 0)
		b->limits.max_message_size = 16u * 1024 * 1024;
	b->next_msg_id = 1;
	b->next_queue_seq = 1;
	bk_queueing_init(b);
	bk_mgmt_init(b);
	bk_vhost_new(b, "/");
	return b;
}

void
bk_broker_free(struct bk_broker *b)
{
	struct bk_vhost *vh, *tmp;

	if (b == NULL)
		return;
	bk_persist_stop(b);             /* journal closed: teardown keeps every message */
	HASH_ITER(hh, b->vhosts, vh, tmp) {
		bk_vhost_free(vh);
	}
	bk_delayed_fini(b);
	bk_queueing_fini(b);
	bk_flow_fini(b);
	bk_mgmt_fini(b);
	bk_users_free(b);
	bk_persist_free(b);
	bk_free(b);
}

const struct bk_limits *
bk_broker_limits(const struct bk_broker *b)
{
	return &b->limits;
}

struct bk_vhost *
bk_vhost_get(struct bk_broker *b, const char *name)
{
	struct bk_vhost *vh = NULL;

	HASH_FIND_STR(b->vhosts, name, vh);
	return vh;
}

const char *
bk_vhost_name(const struct bk_vhost *vh)
{
	return vh->name;
}
