/*
 * A stand-in for the queueing half, enough to test routing alone: queues
 * are names with a counter of enqueued messages (each holding a message
 * reference), an owner for exclusivity, and the dedupe mark. Linked
 * instead of bk_queue.c & co when those are not wanted in a test binary.
 */
#include "bk_int.h"

#include <errno.h>
#include <string.h>

struct bk_queue {
	char *name;                     /* owned; uthash key */
	struct bk_vhost *vh;            /* borrowed */
	bk_owner owner;                 /* exclusive owner or NULL */
	uint64_t mark;
	uint32_t count;
	bool refuse;
	struct bk_msg **msgs;           /* refs */
	UT_hash_handle hh;
};

void
bk_queueing_init(struct bk_broker *b)
{
	(void)b;
}

void
bk_queueing_fini(struct bk_broker *b)
{
	(void)b;
}

static void
queue_free(struct bk_vhost *vh, struct bk_queue *q)
{
	uint32_t i;

	bk_bindings_remove_queue(vh, q);
	HASH_DEL(vh->queues, q);
	for (i = 0; i < q->count; i++)
		bk_msg_unref(q->msgs[i]);
	bk_free(q->msgs);
	bk_free(q->name);
	bk_free(q);
}

void
bk_queues_free_all(struct bk_vhost *vh)
{
	struct bk_queue *q, *tmp;

	HASH_ITER(hh, vh->queues, q, tmp) {
		queue_free(vh, q);
	}
}

struct bk_queue *
bk_queue_get(struct bk_vhost *vh, struct bk_str name)
{
	struct bk_queue *q = NULL;

	HASH_FIND(hh, vh->queues, name.len ? name.p : "", name.len, q);
	return q;
}

enum bk_status
bk_queue_lookup(struct bk_vhost *vh, struct bk_str name, bk_owner owner,
		struct bk_queue **out, struct bk_err *err)
{
	struct bk_queue *q = bk_queue_get(vh, name);

	*out = q;
	if (q == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no queue '%.*s' in vhost '%s'",
				  (int)name.len, name.p, vh->name);
	if (q->owner != NULL && q->owner != owner)
		return bk_err_set(err, BK_RESOURCE_LOCKED,
				  "cannot obtain exclusive access to locked queue "
				  "'%s' in vhost '%s'", q->name, vh->name);
	return BK_OK;
}

enum bk_status
bk_queue_declare(struct bk_vhost *vh, const struct bk_queue_decl *d,
		 const char **name_out, uint32_t *message_count,
		 uint32_t *consumer_count, struct bk_err *err)
{
	struct bk_queue *q = bk_queue_get(vh, d->name);

	(void)err;
	if (q == NULL) {
		q = bk_calloc(1, sizeof(*q));
		q->name = bk_strndup(d->name.p, d->name.len);
		q->vh = vh;
		q->owner = d->exclusive ? d->owner : NULL;
		HASH_ADD_KEYPTR(hh, vh->queues, q->name, d->name.len, q);
	}
	if (name_out)
		*name_out = q->name;
	if (message_count)
		*message_count = q->count;
	if (consumer_count)
		*consumer_count = 0;
	return BK_OK;
}

enum bk_status
bk_queue_delete(struct bk_vhost *vh, struct bk_str name, bk_owner owner,
		bool if_unused, bool if_empty, uint32_t *message_count,
		struct bk_err *err)
{
	struct bk_queue *q = bk_queue_get(vh, name);

	(void)owner, (void)if_unused, (void)if_empty, (void)err;
	if (message_count)
		*message_count = q ? q->count : 0;
	if (q != NULL)
		queue_free(vh, q);
	return BK_OK;
}

const char *
bk_queue_name(const struct bk_queue *q)
{
	return q->name;
}

uint32_t
bk_queue_message_count(const struct bk_queue *q)
{
	return q->count;
}

uint32_t
bk_queue_consumer_count(const struct bk_queue *q)
{
	(void)q;
	return 0;
}

int
bk_queue_enqueue(struct bk_queue *q, struct bk_msg *m)
{
	if (q->refuse)
		return -ENOSPC;
	q->msgs = bk_realloc(q->msgs, (q->count + 1) * sizeof(*q->msgs));
	q->msgs[q->count++] = bk_msg_ref(m);
	return 0;
}

bool
bk_queue_mark(struct bk_queue *q, uint64_t route_id)
{
	if (q->mark == route_id)
		return false;
	q->mark = route_id;
	return true;
}

bool
bk_direct_reply_route(struct bk_vhost *vh, struct bk_str key, struct bk_msg *m)
{
	(void)vh, (void)key, (void)m;
	return false;
}
