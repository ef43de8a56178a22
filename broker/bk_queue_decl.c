/*
 * bk_queue_decl.c: queue.declare, queue.delete and queue.purge with
 * RabbitMQ's checks and reply texts.
 *
 * Check order on declare follows RabbitMQ: reserved "amq." prefix (not for
 * passive declares), configure permission when the declaration acts for a
 * user (on the generated name of a server-named queue), existence,
 * exclusive owner (RESOURCE_LOCKED, which is also what a mismatched
 * exclusive flag gets), durable, auto_delete, then the x-arguments
 * RabbitMQ compares; a new queue checks the queue limit, then the
 * dead-letter exchange's permissions (bk_authz.c), then its arguments. A redeclare counts as a use for
 * x-expires. New queues keep a copy of their argument table for later
 * equivalence checks and for the management API.
 */
#include "bk_persist.h"
#include "bk_policy.h"
#include "bk_stream.h"
#include "bk_dedup.h"

#include <stdio.h>
#include <string.h>

static enum bk_status
inequivalent_flag(struct bk_queue *q, const char *what, bool got, bool cur,
		  struct bk_err *err)
{
	return bk_err_set(err, BK_PRECONDITION_FAILED,
			  "inequivalent arg '%s' for queue '%s' in vhost '%s': "
			  "received '%s' but current is '%s'", what, q->name,
			  q->vhost->name, got ? "true" : "false", cur ? "true" : "false");
}

static enum bk_status
check_existing(struct bk_queue *q, const struct bk_queue_decl *d, struct bk_err *err)
{
	struct bk_table cur = { q->args_blob, q->args_len };

	if ((q->exclusive && q->owner != d->owner) ||
	    (!d->passive && d->exclusive != q->exclusive))
		return bk_err_set(err, BK_RESOURCE_LOCKED,
				  "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "
				  "It could be originally declared on another connection or the "
				  "exclusive property value does not match that of the original "
				  "declaration.", q->name, q->vhost->name);
	if (d->passive)
		return BK_OK;
	if (d->durable != q->durable)
		return inequivalent_flag(q, "durable", d->durable, q->durable, err);
	if (d->auto_delete != q->auto_delete)
		return inequivalent_flag(q, "auto_delete", d->auto_delete, q->auto_delete, err);
	return bk_qargs_equivalent(cur, d->arguments, q->name, q->vhost->name, err);
}

static struct bk_queue *
queue_new(struct bk_vhost *vh, const struct bk_queue_decl *d, char *name,
	  struct bk_qargs *args)
{
	struct bk_queue *q = bk_calloc(1, sizeof(*q));
	struct bk_qstate *qs = bk_qs(vh->broker);

	q->name = name;
	q->vhost = vh;
	q->broker = vh->broker;
	q->refs = 1;
	q->durable = d->durable;
	q->exclusive = d->exclusive;
	q->auto_delete = d->auto_delete;
	q->owner = d->exclusive ? d->owner : NULL;
	q->args = *args;
	if (d->arguments.len > 0) {
		q->args_blob = bk_memdup(d->arguments.p, d->arguments.len);
		q->args_len = d->arguments.len;
	}
	q->nlevels = 1u + args->max_priority;
	q->levels = bk_calloc(q->nlevels, sizeof(*q->levels));
	q->mark_id = UINT64_MAX;
	q->fresh_seq = UINT64_MAX;
	q->cap_length = q->cap_bytes = -1;
	if (q->durable && !q->exclusive)
		q->jid = bk_persist_queue_id(vh->name, q->name);
	HASH_ADD_KEYPTR(hh, vh->queues, q->name, strlen(q->name), q);
	if (q->exclusive) {
		q->excl_next = qs->exclusive;
		if (qs->exclusive)
			qs->exclusive->excl_prev = q;
		qs->exclusive = q;
	}
	qs->nqueues++;
	vh->broker->churn.queue_created++;
	bk_expiry_queue_init(q);
	if (vh->policies[BK_POLICY_USER] != NULL || vh->policies[BK_POLICY_OPERATOR] != NULL)
		bk_queue_policy_refresh(q);
	if (q->jid != 0)
		bk_defs_queue_added(q);
	return q;
}

static char *
server_name(struct bk_vhost *vh)
{
	char buf[8 + 22 + 1];

	do {
		memcpy(buf, "amq.gen-", 8);
		bk_queue_random_token(vh->broker, buf + 8, 22);
	} while (bk_queue_get(vh, bk_str_c(buf)) != NULL);
	return bk_strdup(buf);
}

/*
 * Room for one more queue: the broker's max_queues (configuration) and
 * the vhost's max-queues limit (RabbitMQ's vhost limit; negative = none).
 */
static enum bk_status
queue_limits(struct bk_vhost *vh, const char *name, struct bk_err *err)
{
	uint32_t bmax = vh->broker->limits.max_queues;
	int64_t max = -1;

	if (vh->limits.set & (1u << BK_LIMIT_MAX_QUEUES))
		max = vh->limits.v[BK_LIMIT_MAX_QUEUES];
	if (bmax != 0 && bk_qs(vh->broker)->nqueues >= bmax)
		max = bmax;
	else if (max < 0 || (int64_t)HASH_COUNT(vh->queues) < max)
		return BK_OK;
	bk_err_set(err, BK_PRECONDITION_FAILED, "cannot declare queue '%s': queue limit "
		   "in vhost '%s' (%lld) is reached", name, vh->name, (long long)max);
	if (err != NULL)
		err->quota = true;
	return BK_PRECONDITION_FAILED;
}

/* name is the new queue's (owned; freed on refusal). */
static enum bk_status
create(struct bk_vhost *vh, const struct bk_queue_decl *d, char *name,
       struct bk_queue **out, struct bk_err *err)
{
	struct bk_qargs args;
	enum bk_status st;

	st = queue_limits(vh, name, err);
	if (st == BK_OK)
		st = bk_authz_queue_new(vh, d->who, name, d->arguments, err);
	if (st == BK_OK)
		st = bk_stream_decl_check(d, name, vh->name, err);
	if (st == BK_OK)
		st = bk_qargs_parse(&args, d->arguments, name, vh->name, err);
	if (st != BK_OK) {
		bk_free(name);
		return st;
	}
	*out = queue_new(vh, d, name, &args);
	if ((*out)->args.type == BK_QTYPE_STREAM &&
	    (st = bk_stream_attach(*out, err)) != BK_OK) {
		bk_queue_destroy(*out, false);
		*out = NULL;
		return st;
	}
	return BK_OK;
}

/* Configure permission on name when the declaration acts for someone. */
static enum bk_status
configure_allowed(struct bk_vhost *vh, const struct bk_queue_decl *d, const char *name,
		  struct bk_err *err)
{
	if (d->who == NULL || d->passive)
		return BK_OK;
	return bk_access_check(vh, d->who->user, BK_PERM_CONFIGURE, "queue",
			       bk_str_c(name), err);
}

enum bk_status
bk_queue_declare(struct bk_vhost *vh, const struct bk_queue_decl *d,
		 const char **name_out, uint32_t *message_count,
		 uint32_t *consumer_count, struct bk_err *err)
{
	struct bk_queue *q = NULL;
	enum bk_status st;
	char *name;

	if (!d->passive && d->name.len >= 4 && memcmp(d->name.p, "amq.", 4) == 0)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "queue name '%.*s' contains reserved prefix 'amq.*'",
				  (int)d->name.len, d->name.p);
	if (d->name.len > 0)
		q = bk_queue_get(vh, d->name);
	if (q == NULL && d->passive)
		return bk_err_set(err, BK_NOT_FOUND, "no queue '%.*s' in vhost '%s'",
				  (int)d->name.len, d->name.p ? d->name.p : "", vh->name);
	if (q != NULL) {
		if ((st = configure_allowed(vh, d, q->name, err)) != BK_OK ||
		    (st = check_existing(q, d, err)) != BK_OK)
			return st;
		bk_expiry_idle_arm(q);                  /* a redeclare is a use */
	} else {
		if (bk_name_check("queue", d->name, vh->name, err) != BK_OK)
			return BK_PRECONDITION_FAILED;
		/* a server-named queue is checked under the name it is to get */
		name = d->name.len == 0 ? server_name(vh) : bk_strndup(d->name.p, d->name.len);
		if ((st = configure_allowed(vh, d, name, err)) != BK_OK) {
			bk_free(name);
			return st;
		}
		if ((st = create(vh, d, name, &q, err)) != BK_OK)
			return st;
	}
	if (!d->passive)
		vh->broker->churn.queue_declared++;
	if (name_out)
		*name_out = q->name;
	if (message_count)
		*message_count = q->ready;
	if (consumer_count)
		*consumer_count = q->ncons;
	return BK_OK;
}

enum bk_status
bk_queue_delete(struct bk_vhost *vh, struct bk_str name, bk_owner owner,
		bool if_unused, bool if_empty, uint32_t *message_count,
		struct bk_err *err)
{
	struct bk_queue *q;
	enum bk_status st;
	uint32_t n;

	if (message_count)
		*message_count = 0;
	if (bk_queue_get(vh, name) == NULL)
		return BK_OK;                   /* deleting nothing succeeds */
	if ((st = bk_queue_lookup(vh, name, owner, &q, err)) != BK_OK)
		return st;
	if (if_unused && q->ncons > 0)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "queue '%s' in vhost '%s' in use", q->name, vh->name);
	if (if_empty && q->ready > 0)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "queue '%s' in vhost '%s' not empty", q->name, vh->name);
	n = bk_queue_destroy(q, true);
	if (message_count)
		*message_count = n;
	return BK_OK;
}

enum bk_status
bk_queue_purge(struct bk_vhost *vh, struct bk_str name, bk_owner owner,
	       uint32_t *message_count, struct bk_err *err)
{
	struct bk_queue *q;
	enum bk_status st;
	uint32_t n;

	if ((st = bk_queue_lookup(vh, name, owner, &q, err)) != BK_OK)
		return st;
	if (q->stream != NULL)
		return bk_err_set(err, BK_NOT_IMPLEMENTED,
				  "queue.purge not supported by stream queues queue '%s' in vhost '%s'",
				  q->name, vh->name);
	/* Unacked deliveries may still come back (requeue) and must stay
	 * live in the journal: then settle the ready ones one by one. */
	if (q->unacked == 0)
		bk_persist_queue_drop(q);
	else
		bk_persist_ack_ready(q);
	n = bk_msgq_clear(q);
	bk_dedup_queue_clear(q);
	if (message_count)
		*message_count = n;
	return BK_OK;
}
