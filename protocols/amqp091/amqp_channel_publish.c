/*
 * amqp_channel_publish.c: basic.publish, content assembly, mandatory
 * returns, publisher confirms and direct reply-to addresses.
 *
 * A publish arrives as three kinds of frames [§4.2.6]:
 *
 *   method basic.publish -> content header -> body frame * N
 *
 * The method's exchange and routing key are copied into the channel (the
 * decoded frame does not outlive the call). The header gives the body size
 * and properties; the message is allocated then, and body frames are
 * copied straight from the connection's input buffer into msg->body: one
 * copy, no intermediate buffer. A frame out of sequence is a 505
 * UNEXPECTED_FRAME connection error with RabbitMQ's command-assembler
 * texts; a body frame longer than what is left is 501.
 *
 * Memory follows the bytes that arrived, never the size a header
 * announces (a peer may announce 16 MB on every channel and send
 * nothing): a body of up to BODY_PREALLOC bytes gets its room with the
 * header (the common small message costs one allocation), a larger one
 * grows as frames arrive, doubling up to the announced size. The room held
 * by a connection's incomplete publishes (conn->inflight_content, every
 * channel together) is capped by amqp.max_inflight_content: more is 506
 * RESOURCE_ERROR. A publish whose next body frame does not come within
 * amqp.content_timeout also closes the connection with 506, except while
 * a resource alarm keeps us from reading (then the wait is ours).
 *
 * Confirms: routing is synchronous, so each publish is decided (ack, or
 * nack when a queue refused it) before the next one. Acks are coalesced:
 * we keep the highest ackable sequence number and a deferred event writes
 * one basic.ack(multiple) after the current read batch. A nack flushes the
 * pending ack first, so the client sees decisions in order. A mandatory
 * return goes out before the ack of the same message, as RabbitMQ does.
 *
 * Durability: a persistent publish that reached a durable queue is only
 * acked once the journal has fsynced it (the core reports it later through
 * the channel's bk_confirm tracker, in publish order). While such a
 * publish is pending, every later decision (an immediate ack or nack, a
 * tx.commit-ok) waits behind it in the cf ring, so basic.ack(multiple)
 * never covers a publish that is not on disk; the ring drains from its
 * head as the journal reports. A journal failure nacks the publish (in tx
 * mode it fails the commit: 541, nothing half-committed is reported ok).
 */
#include <string.h>

#include "amqp_channel_int.h"

#define REPLY_TO_PSEUDO "amq.rabbitmq.reply-to"

static void content_progress(struct amqp_channel *ch);

/* Bodies up to this size get all their room with the header. */
#define BODY_PREALLOC 4096

/* The message being received leaves the channel: stop counting its room. */
static struct bk_msg *
content_take(struct amqp_channel *ch)
{
	struct bk_msg *msg = ch->pub_msg;

	if (msg != NULL)
		ch->conn->inflight_content -= msg->body_len;
	ch->pub_msg = NULL;
	ch->pub_off = 0;
	ch->pub_size = 0;
	ch->cstate = AMQP_CONTENT_IDLE;
	return msg;
}

void
amqp_ch_publish_reset(struct amqp_channel *ch)
{
	bk_msg_unref(content_take(ch));
}

void
amqp_ch_publish_fini(struct amqp_channel *ch)
{
	amqp_ch_publish_reset(ch);
	if (ch->content_ev != NULL)
		event_free(ch->content_ev);
	ch->content_ev = NULL;
}

void
amqp_ch_basic_publish(struct amqp_channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_publish *a = &m->u.basic_publish;

	if (a->immediate) {
		amqp_channel_fail(ch, AMQP_NOT_IMPLEMENTED, m->id, "immediate=true");
		return;
	}
	if (!amqp_ch_publish_allowed(ch, m->id, a->exchange, a->routing_key))
		return;
	amqp_sstr_set(&ch->pub_exchange, a->exchange);
	amqp_sstr_set(&ch->pub_rkey, a->routing_key);
	ch->pub_mandatory = a->mandatory;
	ch->cstate = AMQP_CONTENT_HEADER;
	content_progress(ch);
}

/* ---- confirms ------------------------------------------------------- */

static void
send_confirm(struct amqp_channel *ch, uint32_t id, uint64_t tag, bool multiple)
{
	struct amqp_method m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	if (id == AMQP_BASIC_ACK) {
		m.u.basic_ack.delivery_tag = tag;
		m.u.basic_ack.multiple = multiple;
	} else {
		m.u.basic_nack.delivery_tag = tag;
		m.u.basic_nack.multiple = multiple;
		m.u.basic_nack.requeue = false;
	}
	amqp_conn_send_method(ch->conn, ch->id, &m);
}

void
amqp_ch_confirm_flush(struct amqp_channel *ch)
{
	if (ch->confirm_upto <= ch->confirm_sent)
		return;
	send_confirm(ch, AMQP_BASIC_ACK, ch->confirm_upto,
		     ch->confirm_upto - ch->confirm_sent > 1);
	ch->confirm_sent = ch->confirm_upto;
}

static void
confirm_decided(struct amqp_channel *ch, uint64_t seq, bool ok)
{
	if (!ok) {
		amqp_ch_confirm_flush(ch);
		send_confirm(ch, AMQP_BASIC_NACK, seq, false);
		ch->confirm_sent = ch->confirm_upto = seq;
		return;
	}
	bk_stats_count(ch->conn->vhost, BK_MS_CONFIRM, 1);
	if (ch->ctr)
		ch->ctr->ms.n[BK_MS_CONFIRM]++;
	ch->confirm_upto = seq;
	if (!ch->confirm_ev_armed) {
		ch->confirm_ev_armed = true;
		event_active(ch->confirm_ev, 0, 0);
	}
}

/* ---- durability ----------------------------------------------------- */

static void
cf_push(struct amqp_channel *ch, uint64_t seq, uint8_t kind, uint8_t state)
{
	if (ch->cf == NULL || ch->cf_count == ch->cf_mask + 1) {
		uint32_t cap = ch->cf ? (ch->cf_mask + 1) * 2 : 64, i;
		struct amqp_cf *n = bk_malloc(cap * sizeof(*n));

		for (i = 0; i < ch->cf_count; i++)
			n[i] = ch->cf[(ch->cf_head + i) & ch->cf_mask];
		bk_free(ch->cf);
		ch->cf = n;
		ch->cf_head = 0;
		ch->cf_mask = cap - 1;
	}
	ch->cf[(ch->cf_head + ch->cf_count) & ch->cf_mask] =
		(struct amqp_cf){ seq, kind, state };
	ch->cf_count++;
}

/* Pop every decided entry at the head and act on it, in order. */
static void
cf_drain(struct amqp_channel *ch)
{
	while (ch->cf_count > 0) {
		struct amqp_cf e = ch->cf[ch->cf_head];

		if (e.state == AMQP_CF_PENDING)
			return;
		ch->cf_head = (ch->cf_head + 1) & ch->cf_mask;
		ch->cf_count--;
		if (ch->closing)
			continue;
		if (e.kind == AMQP_CF_COMMIT) {
			if (ch->tx_failed) {
				ch->tx_failed = false;
				amqp_channel_fail(ch, AMQP_INTERNAL_ERROR, AMQP_TX_COMMIT,
						  "a message could not be written to disk");
				return;
			}
			amqp_channel_send_simple(ch, AMQP_TX_COMMIT_OK);
		} else if (ch->confirm) {
			confirm_decided(ch, e.seq, e.state == AMQP_CF_OK);
		} else if (e.state == AMQP_CF_FAIL) {
			ch->tx_failed = true;
		}
	}
}

/* The journal's report for publish seq (pending entries complete in order). */
static void
on_durable(void *ctx, uint64_t seq, int status)
{
	struct amqp_channel *ch = ctx;
	uint32_t i;

	for (i = 0; i < ch->cf_count; i++) {
		struct amqp_cf *e = &ch->cf[(ch->cf_head + i) & ch->cf_mask];

		if (e->kind == AMQP_CF_PUB && e->seq == seq && e->state == AMQP_CF_PENDING) {
			e->state = status == 0 ? AMQP_CF_OK : AMQP_CF_FAIL;
			break;
		}
	}
	cf_drain(ch);
}

void
amqp_ch_commit_ok(struct amqp_channel *ch)
{
	if (ch->cf_count == 0)
		amqp_channel_send_simple(ch, AMQP_TX_COMMIT_OK);
	else
		cf_push(ch, 0, AMQP_CF_COMMIT, AMQP_CF_OK);
}

void
amqp_ch_durable_fini(struct amqp_channel *ch)
{
	bk_confirm_free(ch->durable);
	ch->durable = NULL;
	BK_FREE(ch->cf);
	ch->cf_count = ch->cf_head = ch->cf_mask = 0;
}

/* Record one routed publish's outcome. */
static void
publish_decided(struct amqp_channel *ch, uint64_t seq, const struct bk_route_result *res)
{
	if (!ch->confirm) {
		if (res->pending)               /* tx: commit-ok waits for it */
			cf_push(ch, seq, AMQP_CF_PUB, AMQP_CF_PENDING);
		return;
	}
	if (res->pending)
		cf_push(ch, seq, AMQP_CF_PUB, AMQP_CF_PENDING);
	else if (ch->cf_count > 0)
		cf_push(ch, seq, AMQP_CF_PUB, res->refused == 0 ? AMQP_CF_OK : AMQP_CF_FAIL);
	else
		confirm_decided(ch, seq, res->refused == 0);
}

/* ---- routing -------------------------------------------------------- */

static void
send_return(struct amqp_channel *ch, struct bk_msg *msg)
{
	struct amqp_method m;

	memset(&m, 0, sizeof(m));
	m.id = AMQP_BASIC_RETURN;
	m.u.basic_return.reply_code = AMQP_NO_ROUTE;
	m.u.basic_return.reply_text = BK_STR_LIT("NO_ROUTE");
	m.u.basic_return.exchange = msg->exchange;
	m.u.basic_return.routing_key = msg->routing_key;
	amqp_conn_send_content(ch->conn, ch->id, &m, msg);
}

bool
amqp_ch_route(struct amqp_channel *ch, struct bk_msg *msg, bool mandatory)
{
	struct bk_route_result res;
	struct bk_err err;
	uint64_t seq = 0;

	if (ch->confirm || ch->tx) {
		seq = ++ch->pub_seq;
		if (ch->durable == NULL)
			ch->durable = bk_confirm_new(ch->conn->broker, on_durable, ch);
	}
	memset(&res, 0, sizeof(res));
	if (bk_publish_confirm(ch->conn->vhost, msg->exchange, msg, ch->durable, seq,
			       &res, &err) != BK_OK) {
		bk_msg_unref(msg);
		amqp_channel_fail_err(ch, AMQP_BASIC_PUBLISH, &err);
		return false;
	}
	if (ch->ctr) {
		ch->ctr->ms.n[BK_MS_PUBLISH]++;
		if (res.queues > 0 || res.direct_reply)
			ch->ctr->ms.n[BK_MS_PUBLISH_OUT]++;
		else if (!mandatory)
			ch->ctr->ms.n[BK_MS_DROP_UNROUTABLE]++;
	}
	if (mandatory && res.queues == 0 && !res.direct_reply &&
	    amqp_ch_content_fits(ch, msg)) {
		send_return(ch, msg);
		bk_stats_count(ch->conn->vhost, BK_MS_RETURN_UNROUTABLE, 1);
		if (ch->ctr)
			ch->ctr->ms.n[BK_MS_RETURN_UNROUTABLE]++;
	}
	if (seq)
		publish_decided(ch, seq, &res);
	bk_msg_unref(msg);
	return true;
}

/* ---- content -------------------------------------------------------- */

/*
 * RabbitMQ's reason for a bad expiration, as rabbit_basic:parse_expiration
 * reports it after "invalid expiration '...': ".
 */
static void
expiration_reason(struct bk_str s, char *buf, size_t cap)
{
	uint32_t i = 0;
	bool neg = false;

	if (i < s.len && (s.p[i] == '-' || s.p[i] == '+'))
		neg = s.p[i++] == '-';
	if (i >= s.len || s.p[i] < '0' || s.p[i] > '9') {
		snprintf(buf, cap, "no_integer");
		return;
	}
	while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
		i++;
	if (i < s.len)
		snprintf(buf, cap, "{leftover_string,\"%.*s\"}",
			 (int)(s.len - i), s.p + i);
	else if (neg)
		snprintf(buf, cap, "{value_negative,%.*s}", (int)s.len, s.p);
	else
		snprintf(buf, cap, "{value_too_large,%.*s}", (int)s.len, s.p);
}

/* Checks that need the properties; false when the channel failed. */
static bool
check_props(struct amqp_channel *ch, struct bk_props *props)
{
	uint64_t ms;
	char why[128];

	if ((props->present & BK_P_EXPIRATION) &&
	    bk_expiration_parse(props->expiration, &ms) < 0) {
		expiration_reason(props->expiration, why, sizeof(why));
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
				  "invalid expiration '%.*s': %s",
				  (int)props->expiration.len, props->expiration.p, why);
		return false;
	}
	/* RabbitMQ validates user_id against the login (no impersonators) */
	if ((props->present & BK_P_USER_ID) && ch->conn->user &&
	    !bk_str_eq_c(props->user_id, ch->conn->user)) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
				  "user_id property set to '%.*s' but authenticated "
				  "user was '%s'", (int)props->user_id.len,
				  props->user_id.p, ch->conn->user);
		return false;
	}
	if ((props->present & BK_P_REPLY_TO) &&
	    bk_str_eq_c(props->reply_to, REPLY_TO_PSEUDO)) {
		if (!ch->reply_bc) {
			amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED,
					  AMQP_BASIC_PUBLISH,
					  "fast reply consumer does not exist");
			return false;
		}
		/* bk_msg_new copies it: borrowing the consumer's name is fine */
		props->reply_to = bk_str_c(ch->reply_name);
	}
	return true;
}

/* The smaller of the listener's and the broker's limits (0 = unset). */
static uint64_t
max_message_size(const struct amqp_channel *ch)
{
	const struct bk_limits *lim = bk_broker_limits(ch->conn->broker);
	uint64_t a = ch->conn->max_message_size;
	uint64_t b = lim ? lim->max_message_size : 0;

	if (a && b)
		return a < b ? a : b;
	if (a || b)
		return a ? a : b;
	return 16u << 20;
}

/* The message is complete: route it now, or hold it for tx.commit. */
static void
publish_complete(struct amqp_channel *ch)
{
	struct bk_msg *msg = content_take(ch);

	if (ch->tx)
		amqp_ch_tx_add_publish(ch, msg, ch->pub_mandatory);
	else
		amqp_ch_route(ch, msg, ch->pub_mandatory);
}

static bool
header_in_sequence(struct amqp_channel *ch, const uint8_t *p, size_t n)
{
	if (ch->cstate == AMQP_CONTENT_HEADER)
		return true;
	if (ch->cstate == AMQP_CONTENT_IDLE)
		amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, 0,
				  "expected method frame, got non method frame instead");
	else
		amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
				  "expected content body, got non content body frame instead");
	return false;
}

/* ---- the incomplete-content limits ---------------------------------- */

static void content_timer_cb(evutil_socket_t fd, short what, void *arg);

/* room more body bytes for this connection, or close it with 506 */
static bool
inflight_allow(struct amqp_channel *ch, size_t more)
{
	struct amqp_conn *c = ch->conn;
	uint64_t max = amqp_conn_config(c)->max_inflight_content;

	if (max == 0 || c->inflight_content + more <= max)
		return true;
	amqp_conn_close_or(c, AMQP_RESOURCE_ERROR, AMQP_BASIC_PUBLISH,
			   "incomplete messages on this connection would hold %llu "
			   "bytes, more than amqp.max_inflight_content (%llu)",
			   (unsigned long long)(c->inflight_content + more),
			   (unsigned long long)max);
	return false;
}

static void
content_timer_arm(struct amqp_channel *ch, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (ch->content_ev == NULL) {
		ch->content_ev = evtimer_new(ch->conn->base,
					     content_timer_cb, ch);
		BK_ASSERT(ch->content_ev != NULL);
	}
	evtimer_add(ch->content_ev, &tv);
}

/*
 * Fires at most once per timeout while a body is awaited, not once per
 * frame: progress only moves pub_last_ms, and the timer re-arms itself
 * for what is left of the wait.
 */
static void
content_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct amqp_channel *ch = arg;
	uint32_t limit = amqp_conn_config(ch->conn)->content_timeout_ms;
	uint64_t now = bk_now_ms(), idle;

	if (ch->cstate == AMQP_CONTENT_IDLE || ch->closing || limit == 0)
		return;
	if (amqp_conn_reading_paused(ch->conn))
		ch->pub_last_ms = now;          /* we are not reading: not its delay */
	idle = now - ch->pub_last_ms;
	if (idle < limit) {
		content_timer_arm(ch, limit - idle);
		return;
	}
	amqp_conn_close_or(ch->conn, AMQP_RESOURCE_ERROR, AMQP_BASIC_PUBLISH,
			   "channel %u: no content %s for %llu ms (amqp.content_timeout)",
			   ch->id, ch->cstate == AMQP_CONTENT_HEADER ? "header" : "body frame",
			   (unsigned long long)idle);
}

/* A publish method or content frame arrived: the wait starts (again). */
static void
content_progress(struct amqp_channel *ch)
{
	uint32_t limit = amqp_conn_config(ch->conn)->content_timeout_ms;

	ch->pub_last_ms = bk_now_ms();
	if (limit != 0 && (ch->content_ev == NULL ||
			   !evtimer_pending(ch->content_ev, NULL)))
		content_timer_arm(ch, limit);
}

/* Room in the body for need bytes: grow (doubling, up to the announced
 * size) within the connection's limit. false = connection closed. */
static bool
content_room(struct amqp_channel *ch, size_t need)
{
	size_t cap = ch->pub_msg->body_len, want;

	if (need <= cap)
		return true;
	want = cap * 2 > need ? cap * 2 : need;
	if (want > ch->pub_size)
		want = (size_t)ch->pub_size;
	if (!inflight_allow(ch, want - cap))
		return false;
	ch->pub_msg = bk_msg_body_resize(ch->pub_msg, want);
	ch->conn->inflight_content += want - cap;
	return true;
}

void
amqp_channel_on_header(struct amqp_channel *ch, const uint8_t *p, size_t n)
{
	struct bk_props props;
	uint16_t class_id = 0;
	uint64_t size = 0, max;
	size_t room;

	if (ch->closing || !header_in_sequence(ch, p, n))
		return;
	memset(&props, 0, sizeof(props));
	if (amqp_content_header_decode(p, n, &class_id, &size, &props) < 0) {
		amqp_channel_fail(ch, AMQP_SYNTAX_ERROR, AMQP_BASIC_PUBLISH,
				  "malformed content header");
		return;
	}
	if (class_id != 60) {
		amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
				  "expected content header for class 60, "
				  "got one for class %u instead", class_id);
		return;
	}
	max = max_message_size(ch);
	if (size > max) {
		amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
				  "message size %llu is larger than configured max size %llu",
				  (unsigned long long)size, (unsigned long long)max);
		return;
	}
	if (!check_props(ch, &props))
		return;
	room = size <= BODY_PREALLOC ? (size_t)size : 0;
	if (!inflight_allow(ch, room))
		return;
	ch->pub_msg = bk_msg_new(amqp_sstr_get(&ch->pub_exchange),
				 amqp_sstr_get(&ch->pub_rkey), &props, room);
	ch->conn->inflight_content += room;
	ch->pub_size = size;
	ch->pub_off = 0;
	ch->cstate = AMQP_CONTENT_BODY;
	if (size == 0)
		publish_complete(ch);
	else
		content_progress(ch);
}

void
amqp_channel_on_body(struct amqp_channel *ch, struct evbuffer *in, size_t n)
{
	size_t left;

	if (ch->closing) {
		evbuffer_drain(in, n);
		return;
	}
	if (ch->cstate != AMQP_CONTENT_BODY) {
		evbuffer_drain(in, n);
		if (ch->cstate == AMQP_CONTENT_HEADER)
			amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
					  "expected content header for class 60, "
					  "got non content header frame instead");
		else
			amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, 0,
					  "expected method frame, got non method frame instead");
		return;
	}
	left = (size_t)(ch->pub_size - ch->pub_off);
	if (n > left) {
		evbuffer_drain(in, n);
		amqp_channel_fail(ch, AMQP_FRAME_ERROR, AMQP_BASIC_PUBLISH,
				  "content body frame exceeds remaining content size");
		return;
	}
	if (!content_room(ch, ch->pub_off + n)) {
		evbuffer_drain(in, n);
		return;
	}
	if (n && evbuffer_remove(in, ch->pub_msg->body + ch->pub_off, n) != (int)n) {
		amqp_channel_fail(ch, AMQP_INTERNAL_ERROR, AMQP_BASIC_PUBLISH,
				  "short body frame");
		return;
	}
	ch->pub_off += n;
	if (ch->pub_off == ch->pub_size)
		publish_complete(ch);
	else
		content_progress(ch);
}
