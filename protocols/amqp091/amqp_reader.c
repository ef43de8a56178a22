/*
 * amqp_reader.c: bytes in, frames out. The bufferevent read callback
 * checks the protocol header, cuts the input into frames and hands each
 * to channel 0 (amqp_handshake.c) or to its channel (amqp_channel*.c).
 *
 *   +------+---------+---------+-------------+------+
 *   | type | channel |  size   |   payload   | 0xCE |
 *   |  u8  |   u16   |   u32   | size octets |  u8  |
 *   +------+---------+---------+-------------+------+
 *
 * Rules (STYLE.md §5): an oversized frame is refused from its header
 * alone, before its body is buffered; only whole frames are consumed.
 * Frames that lie whole in the input's first chunk (nearly all: the
 * transport reads up to 256 KiB at a time) are handled where they lie,
 * decoded in place and drained once per batch; a body frame is copied
 * straight into its message. A frame that crosses chunks takes the
 * general path: the 7-byte header is copied out, method and header
 * payloads (bounded by frame_max) are pulled up, a body is moved chunk
 * by chunk into its message. Every whole frame already buffered is
 * handled in one callback.
 *
 * A run of basic.ack, basic.reject and basic.nack frames, on any of the
 * connection's channels and with nothing else between them, is settled
 * as one batch (bk_settle_batch_begin): what it puts back is merged into
 * each queue once, at the run's end, instead of each requeue shifting
 * its queue's ring (65,535 single rejects, lowest tag first, in front of
 * 300,000 ready messages took 7 s of the core thread). Any other frame,
 * and the end of the input at hand, ends the run first, so nothing this
 * connection or any other does can see a queue with requeues pending.
 *
 * Error codes and texts follow RabbitMQ's rabbit_reader and
 * rabbit_channel: 501 for framing, 505 for frames out of place, 504 for
 * channel misuse, 503 for methods a server never receives.
 */
#include "amqp_conn_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const uint8_t proto_header[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };
/* The AMQP 0-9 header, which RabbitMQ also serves as 0-9-1. */
static const uint8_t proto_header_09[8] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 9 };

/* Erlang-style "<<1,2,3>>" of at most 16 octets, as RabbitMQ prints them. */
static const char *
snippet(char *buf, size_t cap, const uint8_t *p, size_t n)
{
	size_t k = 0;

	if (n > 16)
		n = 16;
	k += (size_t)snprintf(buf + k, cap - k, "<<");
	for (size_t i = 0; i < n && k < cap; i++)
		k += (size_t)snprintf(buf + k, cap - k, i ? ",%u" : "%u", p[i]);
	if (k < cap)
		snprintf(buf + k, cap - k, ">>");
	return buf;
}

static void
frame_error(struct amqp_conn *c, uint8_t type, const uint8_t *p, size_t n,
	    const char *why)
{
	char s[96];

	amqp_conn_close_or(c, AMQP_FRAME_ERROR, 0, "type %u, %s octets = %s: %s", type,
			   n > 16 ? "first 16" : "all", snippet(s, sizeof(s), p, n), why);
}

static void
unexpected_frame(struct amqp_conn *c, uint8_t type, const uint8_t *p, size_t n)
{
	char s[96];

	amqp_conn_close_or(c, AMQP_UNEXPECTED_FRAME, 0, "type %u, %s octets = %s", type,
			   n > 16 ? "first 16" : "all", snippet(s, sizeof(s), p, n));
}

static bool
stopping(const struct amqp_conn *c)
{
	return c->state >= AMQP_CONN_CLOSING;
}

/* 1 = accepted, 0 = need more bytes, -1 = refused (connection closing). */
static int
read_protocol_header(struct amqp_conn *c, struct evbuffer *in)
{
	uint8_t h[8];
	char s[96];
	size_t n = evbuffer_get_length(in);

	if (n > sizeof(h))
		n = sizeof(h);
	evbuffer_copyout(in, h, n);
	/* Refuse as soon as the bytes cannot be "AMQP" (HTTP, TLS, noise). */
	if (memcmp(h, proto_header, n < 4 ? n : 4) == 0 && n < sizeof(h))
		return 0;
	if (n == sizeof(h) && (memcmp(h, proto_header, 8) == 0 ||
			       memcmp(h, proto_header_09, 8) == 0)) {
		evbuffer_drain(in, sizeof(h));
		amqp_conn_send_start(c);
		return 1;
	}
	amqp_conn_log(c, BK_LOG_INFO, "bad protocol header %s, offering AMQP 0-9-1",
		      snippet(s, sizeof(s), h, n));
	evbuffer_add(net_conn_output(c->nc), proto_header, sizeof(proto_header));
	amqp_conn_flush_then_free(c);
	return -1;
}

/* Make slot id of c->channels exist (id <= channel_max): the table grows
 * by doubling from 8 slots, never past channel_max + 1. */
static void
channel_slot_make(struct amqp_conn *c, uint16_t id)
{
	uint32_t cap = c->chan_cap ? c->chan_cap : 8;

	if (id < c->chan_cap)
		return;
	while (cap <= id)
		cap *= 2;
	if (cap > (uint32_t)c->channel_max + 1)
		cap = (uint32_t)c->channel_max + 1;
	c->channels = bk_realloc(c->channels, cap * sizeof(*c->channels));
	memset(c->channels + c->chan_cap, 0, (cap - c->chan_cap) * sizeof(*c->channels));
	c->chan_cap = cap;
}

static void
route_channel_open(struct amqp_conn *c, uint16_t id, const struct amqp_method *m)
{
	struct amqp_conn_priv *p = conn_priv(c);
	struct amqp_method ok = { .id = AMQP_CHANNEL_OPEN_OK };
	struct bk_err err;

	/* RabbitMQ counts channels; our table also bounds their numbers. */
	if (p->nchannels >= c->channel_max) {
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, 0, "number of channels opened (%u) "
				   "has reached the negotiated channel_max (%u)",
				   p->nchannels, c->channel_max);
		return;
	}
	if (id > c->channel_max) {
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, 0,
				   "channel %u is above the negotiated channel_max (%u)",
				   id, c->channel_max);
		return;
	}
	if (amqp_conn_channel(c, id)) {
		amqp_conn_close_or(c, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
		return;
	}
	/* the user's max-channels limit, over all its connections */
	if (bk_chan_limit_check(c->broker, bk_str_c(c->user), &err) != BK_OK) {
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, 0, "%s", err.text);
		return;
	}
	channel_slot_make(c, id);
	c->channels[id] = amqp_channel_new(c, id);
	p->nchannels++;
	amqp_conn_send_method(c, id, &ok);
}

/* Start (settling) or end (!settling) a run of settle frames. */
static void
settle_run(struct amqp_conn *c, bool settling)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (p->settle_run == settling)
		return;
	p->settle_run = settling;
	if (settling)
		bk_settle_batch_begin(c->broker);
	else
		bk_settle_batch_end(c->broker);
}

static bool
is_settle(uint32_t method_id)
{
	return method_id == AMQP_BASIC_ACK || method_id == AMQP_BASIC_REJECT ||
	       method_id == AMQP_BASIC_NACK;
}

/* A decoded method for channel id > 0 of a running connection. */
static void
route_method(struct amqp_conn *c, uint16_t id, const struct amqp_method *m)
{
	struct amqp_channel *ch;

	if (m->id == AMQP_CHANNEL_OPEN) {
		route_channel_open(c, id, m);
		return;
	}
	if (!(ch = amqp_conn_channel(c, id))) {
		amqp_conn_close_or(c, AMQP_CHANNEL_ERROR, m->id, "expected 'channel.open'");
		return;
	}
	if (amqp_channel_is_closing(ch) && m->id != AMQP_CHANNEL_CLOSE &&
	    m->id != AMQP_CHANNEL_CLOSE_OK)
		return;     /* RabbitMQ drops all else until close-ok */
	if (!amqp_method_is_client_to_server(m->id) ||
	    AMQP_ID_CLASS(m->id) == AMQP_CLASS_CONNECTION) {
		amqp_conn_close_or(c, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
		return;
	}
	amqp_channel_on_method(ch, m);
	if (m->id == AMQP_BASIC_PUBLISH)
		amqp_conn_flow_on_publish(c);
}

static void
on_method_frame(struct amqp_conn *c, uint16_t id, const uint8_t *p, uint32_t n)
{
	struct amqp_method m;
	uint32_t mid;
	int rc;
	char s[96];

	if (n < 4) {
		if (!stopping(c))
			frame_error(c, AMQP_FRAME_METHOD, p, n, "unknown_frame");
		return;
	}
	if (id != 0 && c->state != AMQP_CONN_RUNNING) {
		if (!stopping(c))
			unexpected_frame(c, AMQP_FRAME_METHOD, p, n);
		return;
	}
	mid = AMQP_ID((uint32_t)p[0] << 8 | p[1], (uint32_t)p[2] << 8 | p[3]);
	rc = amqp_method_decode(p, n, &m);
	if (rc < 0 && stopping(c))
		return;
	if (rc == -ENOENT) {
		amqp_conn_close_or(c, AMQP_NOT_IMPLEMENTED, 0, "unknown method: class %u, method %u",
				   AMQP_ID_CLASS(mid), AMQP_ID_METHOD(mid));
		return;
	}
	if (rc < 0) {
		amqp_conn_close_or(c, AMQP_FRAME_ERROR, mid, "cannot decode %s",
				   snippet(s, sizeof(s), p + 4, n - 4));
		return;
	}
	settle_run(c, id != 0 && is_settle(m.id));
	if (id == 0)
		amqp_conn_on_method0(c, &m);
	else
		route_method(c, id, &m);
}

/* A header or body frame: which channel takes it, or NULL if none may. */
static struct amqp_channel *
content_channel(struct amqp_conn *c, const struct amqp_frame_hdr *h, const uint8_t *p)
{
	struct amqp_channel *ch;

	if (stopping(c))
		return NULL;
	if (h->channel == 0 || c->state != AMQP_CONN_RUNNING) {
		unexpected_frame(c, h->type, p, p ? h->size : 0);
		return NULL;
	}
	if (!(ch = amqp_conn_channel(c, h->channel))) {
		amqp_conn_close_or(c, AMQP_UNEXPECTED_FRAME, 0,
				   "expected method frame, got non method frame instead");
		return NULL;
	}
	return amqp_channel_is_closing(ch) ? NULL : ch;
}

/* A header, method or heartbeat frame's payload p (n octets), whole. */
static void
dispatch_payload(struct amqp_conn *c, const struct amqp_frame_hdr *h, const uint8_t *p)
{
	struct amqp_channel *ch;

	switch (h->type) {
	case AMQP_FRAME_METHOD:
		on_method_frame(c, h->channel, p, h->size);
		break;
	case AMQP_FRAME_HEADER:
		if ((ch = content_channel(c, h, p)))
			amqp_channel_on_header(ch, p, h->size);
		break;
	case AMQP_FRAME_HEARTBEAT:
		if (stopping(c))
			break;
		if (h->size != 0)
			frame_error(c, h->type, p, h->size, "unknown_frame");
		else if (h->channel != 0)
			unexpected_frame(c, h->type, p, 0);
		break;
	default:
		if (!stopping(c))
			frame_error(c, h->type, p, h->size, "unknown_frame");
		break;
	}
}

/* A whole frame sits at the front of in, across chains; handle and
 * consume it. A body is moved into its message chain by chain, not
 * pulled up first. */
static void
dispatch(struct amqp_conn *c, struct evbuffer *in, const struct amqp_frame_hdr *h)
{
	size_t total = AMQP_FRAME_HDR_SIZE + (size_t)h->size + 1;
	struct amqp_channel *ch;

	if (h->type == AMQP_FRAME_BODY) {
		ch = content_channel(c, h, NULL);
		if (!ch) {
			evbuffer_drain(in, total);
			return;
		}
		size_t before = evbuffer_get_length(in) - AMQP_FRAME_HDR_SIZE;

		evbuffer_drain(in, AMQP_FRAME_HDR_SIZE);
		amqp_channel_on_body(ch, in, h->size);
		size_t used = before - evbuffer_get_length(in);
		BK_ASSERT(used <= h->size);
		evbuffer_drain(in, h->size - used + 1);
		return;
	}
	dispatch_payload(c, h, evbuffer_pullup(in, (ev_ssize_t)total) + AMQP_FRAME_HDR_SIZE);
	evbuffer_drain(in, total);
}

/* Framing is lost: tell the peer if the state allows, read no more. */
static void
fatal_frame_error(struct amqp_conn *c, const struct amqp_frame_hdr *h, const char *why)
{
	frame_error(c, h->type, NULL, 0, why);
	amqp_conn_stop_reading(c);
}

/* A frame header refused from itself alone (too large). */
static bool
frame_too_large(struct amqp_conn *c, const struct amqp_frame_hdr *h)
{
	uint32_t limit = c->frame_max ? c->frame_max : UINT32_MAX;
	char why[64];

	/* Refuse from the header alone: waiting for the body would let a peer
	 * make us buffer up to 4 GiB. Like RabbitMQ, tolerate clients that
	 * count the 8 framing octets into frame_max. */
	if (h->size <= limit)
		return false;
	snprintf(why, sizeof(why), "{frame_too_large,%u,%u}", h->size,
		 limit - AMQP_FRAME_OVERHEAD);
	fatal_frame_error(c, h, why);
	return true;
}

static bool
bad_frame_end(struct amqp_conn *c, const struct amqp_frame_hdr *h, uint8_t end)
{
	char why[64];

	if (end == AMQP_FRAME_END)
		return false;
	snprintf(why, sizeof(why), "{invalid_frame_end_marker,%u}", end);
	fatal_frame_error(c, h, why);
	return true;
}

static void
count_frame(struct amqp_conn *c, const struct amqp_frame_hdr *h)
{
	if (h->type != AMQP_FRAME_METHOD)
		settle_run(c, false);
	if (c->ctr) {
		c->ctr->recv_cnt++;
		c->ctr->recv_oct += AMQP_FRAME_OVERHEAD + (uint64_t)h->size;
	}
}

/* Frames are handled only while this holds. */
static bool
may_read(const struct amqp_conn *c)
{
	const struct amqp_conn_priv *p = conn_priv(c);

	return !amqp_conn_gone(c) && !p->reading_stopped && !p->flow_blocked &&
	       !c->input_held;
}

/*
 * The common case: whole frames inside the first chunk of the input,
 * handled where they lie (no copy-out, no pull-up, one drain for the
 * batch). Stops at a frame that is incomplete or crosses into the next
 * chunk, which read_frame() then takes. Returns the frames handled; -1
 * when reading must stop.
 */
static int
read_frames_in_place(struct amqp_conn *c, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	const uint8_t *p;
	size_t len, at = 0;
	int n = 0, rc = 0;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return 0;
	p = v.iov_base;
	len = v.iov_len;
	while (len - at >= AMQP_FRAME_OVERHEAD && may_read(c)) {
		struct amqp_frame_hdr h;
		size_t total;

		amqp_frame_hdr_parse(p + at, &h);
		if (frame_too_large(c, &h)) {
			rc = -1;
			break;
		}
		total = AMQP_FRAME_OVERHEAD + (size_t)h.size;
		if (total > len - at)
			break;
		if (bad_frame_end(c, &h, p[at + total - 1])) {
			rc = -1;
			break;
		}
		count_frame(c, &h);
		if (h.type != AMQP_FRAME_BODY) {
			dispatch_payload(c, &h, p + at + AMQP_FRAME_HDR_SIZE);
		} else {
			struct amqp_channel *ch = content_channel(c, &h, NULL);

			if (ch)
				amqp_channel_on_body_mem(ch, p + at + AMQP_FRAME_HDR_SIZE, h.size);
		}
		at += total;
		n++;
	}
	/* Handlers only append to the output: the chunk is still ours. */
	evbuffer_drain(in, at);
	return rc < 0 ? -1 : n;
}

/* 1 = one frame handled, 0 = need more bytes, -1 = stop reading. */
static int
read_frame(struct amqp_conn *c, struct evbuffer *in)
{
	uint8_t hb[AMQP_FRAME_HDR_SIZE], end;
	struct amqp_frame_hdr h;
	struct evbuffer_ptr pos;

	if (evbuffer_copyout(in, hb, sizeof(hb)) != (ev_ssize_t)sizeof(hb))
		return 0;
	amqp_frame_hdr_parse(hb, &h);
	if (frame_too_large(c, &h))
		return -1;
	if (evbuffer_get_length(in) < AMQP_FRAME_HDR_SIZE + (size_t)h.size + 1)
		return 0;
	evbuffer_ptr_set(in, &pos, AMQP_FRAME_HDR_SIZE + (size_t)h.size, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &pos, &end, 1);
	if (bad_frame_end(c, &h, end))
		return -1;
	count_frame(c, &h);
	dispatch(c, in, &h);
	return 1;
}

void
amqp_conn_read(void *ctx)
{
	struct amqp_conn *c = ctx;
	struct amqp_conn_priv *p = conn_priv(c);
	struct evbuffer *in = net_conn_input(c->nc);

	p->rx_seen = true;
	c->now_ms = bk_now_ms();
	/* Blocked by a resource alarm: the input waits where it is. */
	if (p->flow_blocked && !amqp_conn_gone(c) && !p->reading_stopped)
		return;
	if (!amqp_conn_gone(c) && !p->reading_stopped &&
	    (c->state != AMQP_CONN_HEADER || read_protocol_header(c, in) > 0))
		while (may_read(c) && (read_frames_in_place(c, in) > 0 ||
				       (may_read(c) && read_frame(c, in) > 0)))
			;
	settle_run(c, false);
	/* Drained only here: a decoded method may still point into it above. */
	if (amqp_conn_gone(c) || p->reading_stopped)
		evbuffer_drain(in, evbuffer_get_length(in));
}
