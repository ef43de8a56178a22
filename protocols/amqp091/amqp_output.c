/*
 * amqp_output.c: frames appended to a connection's output buffer, and the
 * output backpressure that parks and wakes consumers.
 *
 * Nothing here writes to the socket: libevent writes each connection's
 * output once per loop iteration, so a burst of deliveries leaves in one
 * writev. Frames are encoded straight into reserved output space (a small
 * delivery's method, header and body in one reservation); message bodies
 * above BODY_COPY_MAX, or above one frame, are added by
 * reference, one bk_msg reference per chunk, released by libevent once
 * the chunk is written (or the buffer freed).
 *
 * Frames for channels are dropped once the connection is closing: after
 * connection.close only close / close-ok may be sent [AMQP 0-9-1 §4.2.2].
 */
#include "amqp_conn_int.h"

#include <string.h>

/* Bodies up to this size are copied: cheaper than a reference chain. */
#define BODY_COPY_MAX 4096

/* SIZE_MAX from the codec: a short string over 255 octets, our bug. */
static bool
encodable(const struct amqp_conn *c, const struct amqp_method *m, size_t n)
{
	if (n != SIZE_MAX)
		return true;
	amqp_conn_log(c, BK_LOG_ERROR, "not sent: %s with a short string over 255 octets",
		      amqp_method_name(m->id));
	return false;
}

static bool
output_closed(const struct amqp_conn *c, uint16_t channel)
{
	return amqp_conn_gone(c) || c->state == AMQP_CONN_CLOSED ||
	       (c->state == AMQP_CONN_CLOSING && channel != 0);
}

void
amqp_conn_send_method(struct amqp_conn *c, uint16_t channel,
		      const struct amqp_method *m)
{
	struct evbuffer *out = net_conn_output(c->nc);
	size_t n = amqp_method_frame_size(m);
	struct evbuffer_iovec v;
	int rc;

	if (output_closed(c, channel) || !encodable(c, m, n))
		return;
	if (evbuffer_reserve_space(out, n, &v, 1) < 1)
		return;
	rc = amqp_method_frame_encode(v.iov_base, v.iov_len, channel, m);
	BK_ASSERT(rc == (int)n);
	v.iov_len = n;
	evbuffer_commit_space(out, &v, 1);
	conn_priv(c)->tx_seen = true;
	if (c->ctr) {
		c->ctr->send_cnt++;
		c->ctr->send_oct += n;
	}
}

void
amqp_conn_send_heartbeat(struct amqp_conn *c)
{
	uint8_t f[AMQP_FRAME_OVERHEAD];

	amqp_frame_hdr_put(f, AMQP_FRAME_HEARTBEAT, 0, 0);
	f[AMQP_FRAME_HDR_SIZE] = AMQP_FRAME_END;
	evbuffer_add(net_conn_output(c->nc), f, sizeof(f));
}

/* Payload octets per body frame. */
static size_t
body_chunk(const struct amqp_conn *c)
{
	return (size_t)(c->frame_max ? c->frame_max : 131072) - AMQP_FRAME_OVERHEAD;
}

/*
 * Method, content header and (when with_body) the whole body as one frame,
 * encoded into a single reservation: one evbuffer operation per delivery
 * for small messages.
 */
static bool
send_frames(struct amqp_conn *c, struct evbuffer *out, uint16_t channel,
	    const struct amqp_method *m, const struct bk_msg *msg, bool with_body)
{
	size_t mn = amqp_method_frame_size(m);
	size_t hn = amqp_content_header_frame_size(&msg->props);
	size_t bn = with_body ? msg->body_len + AMQP_FRAME_OVERHEAD : 0;
	struct evbuffer_iovec v;
	uint8_t *w;
	int rc;

	if (!encodable(c, m, mn) || evbuffer_reserve_space(out, mn + hn + bn, &v, 1) < 1)
		return false;
	w = v.iov_base;
	rc = amqp_method_frame_encode(w, mn, channel, m);
	BK_ASSERT(rc == (int)mn);
	rc = amqp_content_header_frame_encode(w + mn, hn, channel, msg->body_len,
					      &msg->props);
	BK_ASSERT(rc == (int)hn);
	if (with_body) {
		w += mn + hn;
		amqp_frame_hdr_put(w, AMQP_FRAME_BODY, channel, (uint32_t)msg->body_len);
		memcpy(w + AMQP_FRAME_HDR_SIZE, msg->body, msg->body_len);
		w[bn - 1] = AMQP_FRAME_END;
	}
	v.iov_len = mn + hn + bn;
	evbuffer_commit_space(out, &v, 1);
	conn_priv(c)->tx_seen = true;
	if (c->ctr) {
		c->ctr->send_cnt += 2 + with_body;
		c->ctr->send_oct += mn + hn + bn;
	}
	return true;
}

static void
unref_chunk(const void *data, size_t len, void *arg)
{
	bk_msg_unref(arg);
}

/* A large body: frames of at most frame_max - 8 payload octets whose
 * payload is the message's own memory. */
static void
send_body_ref(struct amqp_conn *c, struct evbuffer *out, uint16_t channel,
	      struct bk_msg *msg)
{
	size_t chunk = body_chunk(c);
	uint8_t hdr[AMQP_FRAME_HDR_SIZE], end = AMQP_FRAME_END;

	for (size_t off = 0; off < msg->body_len; off += chunk) {
		size_t n = msg->body_len - off < chunk ? msg->body_len - off : chunk;

		amqp_frame_hdr_put(hdr, AMQP_FRAME_BODY, channel, (uint32_t)n);
		evbuffer_add(out, hdr, sizeof(hdr));
		bk_msg_ref(msg);
		if (evbuffer_add_reference(out, msg->body + off, n, unref_chunk, msg) != 0) {
			/* libevent does not call the cleanup on failure. */
			bk_msg_unref(msg);
			evbuffer_add(out, msg->body + off, n);
		}
		evbuffer_add(out, &end, 1);
		if (c->ctr) {
			c->ctr->send_cnt++;
			c->ctr->send_oct += AMQP_FRAME_OVERHEAD + n;
		}
	}
}

void
amqp_conn_send_content(struct amqp_conn *c, uint16_t channel,
		       const struct amqp_method *m, struct bk_msg *msg)
{
	struct evbuffer *out = net_conn_output(c->nc);
	bool copy;

	if (output_closed(c, channel))
		return;
	copy = msg->body_len > 0 && msg->body_len <= BODY_COPY_MAX &&
	       msg->body_len <= body_chunk(c);
	if (send_frames(c, out, channel, m, msg, copy) && !copy && msg->body_len > 0)
		send_body_ref(c, out, channel, msg);
}

bool
amqp_conn_output_full(const struct amqp_conn *c)
{
	struct amqp_conn_priv *p = conn_priv(c);

	if (!net_conn_output_full(c->nc))
		return false;
	/* The consumer parks now; the write callback wakes it below half. */
	p->wake_wanted = true;
	return true;
}

/* The transport's output drained to the low watermark (half the high one). */
void
amqp_conn_writable(void *ctx)
{
	struct amqp_conn *c = ctx;
	struct amqp_conn_priv *p = conn_priv(c);

	if (amqp_conn_gone(c) || !p->wake_wanted || !c->channels)
		return;
	p->wake_wanted = false;
	/* A wake may deliver, fill the output again and close nothing: the
	 * slots stay put, so the walk stays valid. */
	for (uint32_t i = 1, seen = 0; i <= c->channel_max && seen < p->nchannels; i++) {
		if (!c->channels[i])
			continue;
		seen++;
		amqp_channel_wake(c->channels[i]);
	}
}
