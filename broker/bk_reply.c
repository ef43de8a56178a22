/*
 * bk_reply.c: direct reply-to (amq.rabbitmq.reply-to).
 *
 * A requester consumes from the pseudo queue "amq.rabbitmq.reply-to" in
 * no-ack mode; the core gives it a pseudo consumer with a random token and
 * the address "amq.rabbitmq.reply-to.<token>" that the requester sends as
 * its reply_to. vh->replies is a uthash of those consumers keyed by the
 * full address, so routing a reply is one lookup and one deliver() with no
 * queue in between. A reply the consumer cannot take right now (-EAGAIN)
 * is dropped, as RabbitMQ drops replies to a gone or blocked requester.
 */
#include "bk_queueing.h"

#include <errno.h>
#include <string.h>

#define REPLY_PREFIX "amq.rabbitmq.reply-to."

struct bk_consumer *
bk_direct_reply_consumer_new(struct bk_vhost *vh, const struct bk_consumer_ops *ops,
			     void *ctx, const char **name_out)
{
	struct bk_consumer *c = bk_calloc(1, sizeof(*c)), *reg = vh->replies, *dup;
	size_t plen = strlen(REPLY_PREFIX);
	char *name = bk_malloc(plen + 24 + 1);

	memcpy(name, REPLY_PREFIX, plen);
	do {
		bk_queue_random_token(vh->broker, name + plen, 24);
		HASH_FIND_STR(reg, name, dup);
	} while (dup != NULL);
	c->ops = ops;
	c->ctx = ctx;
	c->refs = 1;
	c->no_ack = true;
	c->reply_name = name;
	c->vhost = vh;
	HASH_ADD_KEYPTR(hh, reg, c->reply_name, strlen(c->reply_name), c);
	vh->replies = reg;
	if (name_out)
		*name_out = c->reply_name;
	return c;
}

bool
bk_direct_reply_route(struct bk_vhost *vh, struct bk_str key, struct bk_msg *m)
{
	struct bk_consumer *reg = vh->replies, *c = NULL;
	struct bk_delivery *d;
	int rc;

	if (reg == NULL || key.p == NULL)
		return false;
	HASH_FIND(hh, reg, key.p, key.len, c);
	if (c == NULL || c->cancelled)
		return false;
	d = bk_delivery_alloc();
	d->msg = bk_msg_ref(m);
	d->consumer = c;
	d->no_ack = true;
	c->refs++;
	c->refs++;                              /* held across deliver() */
	rc = c->ops->deliver(c->ctx, d);
	if (rc == -EAGAIN) {
		bk_msg_unref(d->msg);
		bk_delivery_release(d);
		c->refs--;
	}
	bk_consumer_unref(c);
	return rc != -EAGAIN;
}
