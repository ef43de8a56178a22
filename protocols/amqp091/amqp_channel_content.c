/*
 * amqp_channel_content.c: basic.publish and its content, assembled into
 * one message.
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
 * texts; a body frame longer than what is left is 501. A complete message
 * is routed (amqp_ch_route) or held for tx.commit.
 *
 * Memory follows the bytes that arrived, never the size a header
 * announces (a peer may announce 16 MB on every channel and send
 * nothing): a body of up to BODY_PREALLOC bytes gets its room with the
 * header (the common small message costs one allocation), a larger one
 * grows as frames arrive, doubling up to the announced size. The room held
 * by a connection's incomplete publishes (conn->inflight_content, every
 * channel together) is capped by amqp.max_inflight_content: more is 506
 * RESOURCE_ERROR. A publish whose next content frame does not come within
 * amqp.content_timeout also closes the connection with 506, except while
 * the broker is not reading (a resource alarm, a held input: then the
 * wait is ours).
 */
#include <stdio.h>
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
	ch->content_armed = false;
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
	amqp_cstr_set(&ch->pub_exchange, a->exchange);
	amqp_cstr_set(&ch->pub_rkey, a->routing_key);
	ch->pub_mandatory = a->mandatory;
	ch->cstate = AMQP_CONTENT_HEADER;
	content_progress(ch);
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
		if (!amqp_ch_reply_bc(ch)) {
			amqp_channel_fail(ch, AMQP_PRECONDITION_FAILED,
					  AMQP_BASIC_PUBLISH,
					  "fast reply consumer does not exist");
			return false;
		}
		/* bk_msg_new copies it: borrowing the consumer's name is fine */
		props->reply_to = bk_str_c(ch->reply->name);
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
	ch->content_armed = true;
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

	ch->content_armed = false;
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

/* A publish method or content frame arrived: the wait starts (again).
 * Per frame this is a store: the time is the input batch's, and a timer
 * already pending re-arms itself for what is left of the wait. */
static void
content_progress(struct amqp_channel *ch)
{
	uint32_t limit = amqp_conn_config(ch->conn)->content_timeout_ms;

	ch->pub_last_ms = ch->conn->now_ms ? ch->conn->now_ms : bk_now_ms();
	if (limit != 0 && !ch->content_armed)
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
	ch->pub_msg = bk_msg_new(amqp_cstr_get(&ch->pub_exchange),
				 amqp_cstr_get(&ch->pub_rkey), &props, room);
	ch->conn->inflight_content += room;
	ch->pub_size = size;
	ch->pub_off = 0;
	ch->cstate = AMQP_CONTENT_BODY;
	if (size == 0)
		publish_complete(ch);
	else
		content_progress(ch);
}

/*
 * Where the next n body octets go: a pointer into the message's body, or
 * NULL when the frame is dropped (the channel or connection failed, or
 * the channel is closing).
 */
static uint8_t *
body_dest(struct amqp_channel *ch, size_t n)
{
	size_t left;

	if (ch->closing)
		return NULL;
	if (ch->cstate != AMQP_CONTENT_BODY) {
		if (ch->cstate == AMQP_CONTENT_HEADER)
			amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
					  "expected content header for class 60, "
					  "got non content header frame instead");
		else
			amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, 0,
					  "expected method frame, got non method frame instead");
		return NULL;
	}
	left = (size_t)(ch->pub_size - ch->pub_off);
	if (n > left) {
		amqp_channel_fail(ch, AMQP_FRAME_ERROR, AMQP_BASIC_PUBLISH,
				  "content body frame exceeds remaining content size");
		return NULL;
	}
	if (!content_room(ch, ch->pub_off + n))
		return NULL;
	return bk_msg_body(ch->pub_msg) + ch->pub_off;
}

/* n body octets are in place. */
static void
body_arrived(struct amqp_channel *ch, size_t n)
{
	ch->pub_off += n;
	if (ch->pub_off == ch->pub_size)
		publish_complete(ch);
	else
		content_progress(ch);
}

void
amqp_channel_on_body(struct amqp_channel *ch, struct evbuffer *in, size_t n)
{
	uint8_t *dst = body_dest(ch, n);

	if (dst == NULL) {
		evbuffer_drain(in, n);
		return;
	}
	if (n && evbuffer_remove(in, dst, n) != (int)n) {
		amqp_channel_fail(ch, AMQP_INTERNAL_ERROR, AMQP_BASIC_PUBLISH,
				  "short body frame");
		return;
	}
	body_arrived(ch, n);
}

void
amqp_channel_on_body_mem(struct amqp_channel *ch, const uint8_t *p, size_t n)
{
	uint8_t *dst = body_dest(ch, n);

	if (dst == NULL)
		return;
	if (n)
		memcpy(dst, p, n);
	body_arrived(ch, n);
}
