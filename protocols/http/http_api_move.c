/*
 * http_api_move.c: POST /api/queues/VHOST/NAME/move, a Sluice extension
 * that does what RabbitMQ's UI does with a dynamic shovel ("Move
 * messages"): take ready messages from one queue and put them into
 * another queue of the same vhost. A non-administrator needs read on the
 * source and write on the default exchange, as a client doing it would.
 *
 *   request  {"destination": "other-queue", "count": 100}
 *            count is optional: every message ready at the time of the
 *            call (at most MOVE_MAX).
 *   reply    200 {"moved": N, "destination": "other-queue"}
 *
 * Each message is taken as an unacknowledged delivery, then a copy is
 * published through the default exchange with the destination's name as
 * routing key (what a shovel with dest-queue does: properties and headers
 * kept, exchange "" and the new routing key). The source copy is settled
 * only when the destination holds the message: at once for a transient
 * message, and after the journal's fsync for a persistent one in a
 * durable destination (through a confirm tracker, as a shovel acks on
 * confirm). A crash in between leaves the message in both queues, never
 * in neither. A destination that refuses a message (x-overflow
 * reject-publish, journal failure) stops the move there and the message
 * goes back to the source.
 *
 * A move whose confirms are still due outlives its request: it is on the
 * listener's list until the last one arrives, and the listener's free
 * requeues what is left.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#define MOVE_MAX 1000000L

struct http_move {
	struct http_listener *l;        /* borrowed */
	struct bk_confirm *tracker;     /* owned */
	struct bk_delivery **held;      /* owned array; [token] until confirmed */
	long n;                         /* entries in held */
	long due;                       /* confirms not yet reported */
	struct http_move *next;         /* in l->moves */
};

static void
move_free(struct http_move *m)
{
	struct http_move **p;

	for (p = &m->l->moves; *p != NULL; p = &(*p)->next) {
		if (*p == m) {
			*p = m->next;
			break;
		}
	}
	bk_confirm_free(m->tracker);
	for (long i = 0; i < m->n; i++)
		if (m->held[i] != NULL)
			bk_delivery_settle(m->held[i], BK_SETTLE_REQUEUE);
	bk_free(m->held);
	bk_free(m);
}

/* The journal answered for one copy: drop the source's (or give it back). */
static void
on_confirm(void *ctx, uint64_t token, int status)
{
	struct http_move *m = ctx;

	if ((long)token < m->n && m->held[token] != NULL) {
		bk_delivery_settle(m->held[token], status == 0 ? BK_SETTLE_ACK
							       : BK_SETTLE_REQUEUE);
		m->held[token] = NULL;
	}
	if (--m->due == 0)
		move_free(m);
}

void
http_moves_free(struct http_listener *l)
{
	while (l->moves != NULL)
		move_free(l->moves);
}

/* A copy of src for the default exchange, routed to dest. */
static struct bk_msg *
move_copy(const struct bk_msg *src, const char *dest)
{
	struct bk_msg *c = bk_msg_new(BK_STR_LIT(""), bk_str_c(dest), bk_msg_props(src),
				      src->body_len);

	memcpy(bk_msg_body(c), bk_msg_body(src), src->body_len);
	c->flags = src->flags;
	return c;
}

/*
 * Publish one delivery's copy. true when the destination took it; the
 * delivery is then settled or held for its confirm.
 */
static bool
move_one(struct http_move *m, struct bk_vhost *vh, const char *dest,
	 struct bk_delivery *d)
{
	struct bk_msg *c = move_copy(d->msg, dest);
	struct bk_route_result res;
	struct bk_err err;
	enum bk_status st;

	st = bk_publish_confirm(vh, BK_STR_LIT(""), c, m->tracker, (uint64_t)m->n,
				&res, &err);
	bk_msg_unref(c);
	if (st != BK_OK || res.queues == 0 || (res.refused > 0 && !res.pending)) {
		bk_delivery_settle(d, BK_SETTLE_REQUEUE);
		return false;
	}
	if (res.pending) {
		m->held[m->n] = d;
		m->due++;
	} else {
		bk_delivery_settle(d, BK_SETTLE_ACK);
	}
	m->n++;
	return true;
}

/*
 * What a client doing the move itself would need: read on the source
 * (basic.get) and write on the default exchange towards the destination
 * (basic.publish); false after the 403.
 */
static bool
move_allowed(struct http_req *r, struct bk_vhost *vh, const char *dest)
{
	struct bk_err err;

	if (!http_may(r, vh, BK_PERM_READ, "queue", bk_str_c(r->seg[2])))
		return false;
	return r->who == NULL ||
	       http_permitted(r, bk_access_publish(vh, r->who, BK_STR_LIT(""), bk_str_c(dest),
						   NULL, &err), &err);
}

/* destination and count from the body; false after a 400 or 404. */
static bool
move_args(struct http_req *r, struct bk_vhost *vh, const cJSON *body,
	  const char **dest, long *count)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "count");

	*dest = NULL;
	if (!http_json_string(r, body, "destination", dest))
		return false;
	if (*dest == NULL || **dest == '\0') {
		http_reply_bad_request(r, "'destination' (a queue name) is required");
		return false;
	}
	if (strcmp(*dest, r->seg[2]) == 0) {
		http_reply_bad_request(r, "source and destination are the same queue");
		return false;
	}
	*count = MOVE_MAX;
	if (c != NULL && (!cJSON_IsNumber(c) || c->valuedouble < 1 ||
			  c->valuedouble > (double)MOVE_MAX ||
			  c->valuedouble != (double)(long)c->valuedouble)) {
		http_reply_bad_request(r, "'count' must be an integer from 1 to %ld", MOVE_MAX);
		return false;
	}
	if (c != NULL)
		*count = (long)c->valuedouble;
	return true;
}

void
http_api_queue_move(struct http_req *r, struct bk_vhost *vh)
{
	struct bk_queue *src, *dst;
	struct http_move *m = NULL;
	struct bk_delivery *d;
	const char *dest;
	struct bk_err err;
	uint32_t left;
	cJSON *body, *o;
	long count;

	if ((body = http_body_json(r)) == NULL)
		return;
	if (!move_args(r, vh, body, &dest, &count) || !move_allowed(r, vh, dest))
		goto out;
	if (bk_queue_lookup(vh, bk_str_c(r->seg[2]), http_owner, &src, &err) != BK_OK ||
	    bk_queue_lookup(vh, bk_str_c(dest), http_owner, &dst, &err) != BK_OK) {
		http_reply_status(r, &err);
		goto out;
	}
	/* only what is ready now: requeued copies must not be taken twice */
	if (count > (long)bk_queue_message_count(src))
		count = (long)bk_queue_message_count(src);
	m = bk_calloc(1, sizeof(*m));
	m->l = r->l;
	m->tracker = bk_confirm_new(r->l->broker, on_confirm, m);
	m->held = bk_calloc((size_t)count + 1, sizeof(*m->held));
	while (m->n < count && bk_queue_get_one(src, false, &d, &left) == BK_OK &&
	       d != NULL && move_one(m, vh, dest, d))
		;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "moved", (double)m->n);
	cJSON_AddStringToObject(o, "destination", dest);
	http_reply_json(r, 200, o);
	if (m->due == 0) {
		move_free(m);
	} else {
		m->next = r->l->moves;
		r->l->moves = m;
	}
out:
	cJSON_Delete(body);
}
