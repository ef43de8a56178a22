/*
 * amqp_output.c: frames appended to a connection's output buffer, and the
 * output backpressure that parks and wakes consumers.
 *
 * Nothing here writes to the socket: libevent writes each connection's
 * output once per loop iteration, so a burst of deliveries leaves in one
 * writev. Frames are encoded straight into reserved output space (a
 * delivery's method, header and small body in one reservation), and
 * that space comes in OUT_CHUNK pieces: a burst of small deliveries is a
 * few large chunks of the output (a few iovecs, a few TLS records), not
 * one allocation each. Message bodies above BODY_COPY_MAX, or above one
 * frame, are not copied: they are added by reference, one bk_msg
 * reference per chunk, released by libevent once the chunk is written
 * (or the buffer freed).
 *
 * Frames for channels are dropped once the connection is closing: after
 * connection.close only close / close-ok may be sent [AMQP 0-9-1 §4.2.2].
 */
#include "amqp_conn_int.h"

#include <string.h>

/* Bodies up to this size are copied: cheaper than a reference chain. */
#define BODY_COPY_MAX 4096
/* Output space is taken this much at a time (with libevent's chunk
 * header, one 16 KiB allocation: at most one TLS record). */
#define OUT_CHUNK (16384 - 128)

/*
 * n contiguous bytes at the end of out, from the last chunk when it has
 * them, else from a fresh OUT_CHUNK: libevent on its own would give each
 * small reservation its own chunk, or copy the last chunk into a larger
 * one. NULL if libevent cannot allocate.
 */
static uint8_t *
out_reserve(struct evbuffer *out, size_t n, struct evbuffer_iovec *v)
{
	if (evbuffer_reserve_space(out, 1, v, 1) == 1 && v->iov_len >= n)
		return v->iov_base;
	if (n < OUT_CHUNK && evbuffer_expand(out, OUT_CHUNK) != 0)
		return NULL;
	if (evbuffer_reserve_space(out, (ev_ssize_t)n, v, 1) < 1)
		return NULL;
	return v->iov_base;
}

static void
out_commit(struct evbuffer *out, struct evbuffer_iovec *v, size_t n)
{
	v->iov_len = n;
	evbuffer_commit_space(out, v, 1);
}

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
	if (out_reserve(out, n, &v) == NULL)
		return;
	rc = amqp_method_frame_encode(v.iov_base, v.iov_len, channel, m);
	BK_ASSERT(rc == (int)n);
	out_commit(out, &v, n);
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
 * Method and content header frames, then the body: copied into the same
 * reservation as one frame when copy_body, else only the body frame's
 * header (ref_body: the caller adds the body by reference and the end
 * octet). One evbuffer reservation per delivery.
 */
static bool
send_frames(struct amqp_conn *c, struct evbuffer *out, uint16_t channel,
	    const struct amqp_method *m, const struct bk_msg *msg,
	    const struct bk_props *props, bool copy_body, bool ref_body)
{
	size_t mn = amqp_method_frame_size(m);
	size_t hn = amqp_content_header_frame_size(props);
	size_t bn = copy_body ? msg->body_len + AMQP_FRAME_OVERHEAD :
		    ref_body ? AMQP_FRAME_HDR_SIZE : 0;
	struct evbuffer_iovec v;
	uint8_t *w;
	int rc;

	if (!encodable(c, m, mn) || (w = out_reserve(out, mn + hn + bn, &v)) == NULL)
		return false;
	rc = amqp_method_frame_encode(w, mn, channel, m);
	BK_ASSERT(rc == (int)mn);
	rc = amqp_content_header_frame_encode(w + mn, hn, channel, msg->body_len, props);
	BK_ASSERT(rc == (int)hn);
	w += mn + hn;
	if (copy_body || ref_body)
		amqp_frame_hdr_put(w, AMQP_FRAME_BODY, channel, (uint32_t)msg->body_len);
	if (copy_body) {
		memcpy(w + AMQP_FRAME_HDR_SIZE, bk_msg_body(msg), msg->body_len);
		w[bn - 1] = AMQP_FRAME_END;
	}
	out_commit(out, &v, mn + hn + bn);
	conn_priv(c)->tx_seen = true;
	if (c->ctr) {
		c->ctr->send_cnt += 2 + (copy_body || ref_body);
		c->ctr->send_oct += mn + hn + (copy_body ? bn : 0);
	}
	return true;
}

/* n body octets at p as the payload of a frame whose header is already
 * out: by reference, then the end octet. */
static void
add_body_ref(struct amqp_conn *c, struct evbuffer *out, struct bk_msg *msg,
	     const uint8_t *p, size_t n)
{
	static const uint8_t end = AMQP_FRAME_END;

	bk_msg_ref(msg);
	if (evbuffer_add_reference(out, p, n, net_body_unref, msg) != 0) {
		/* libevent does not call the cleanup on failure. */
		bk_msg_unref(msg);
		evbuffer_add(out, p, n);
	}
	evbuffer_add(out, &end, 1);
	if (c->ctr)
		c->ctr->send_oct += AMQP_FRAME_OVERHEAD + n;
}

/* A body larger than one frame: frames of at most frame_max - 8 payload
 * octets whose payload is the message's own memory. */
static void
send_body_frames(struct amqp_conn *c, struct evbuffer *out, uint16_t channel,
		 struct bk_msg *msg)
{
	size_t chunk = body_chunk(c);
	uint8_t hdr[AMQP_FRAME_HDR_SIZE];

	for (size_t off = 0; off < msg->body_len; off += chunk) {
		size_t n = msg->body_len - off < chunk ? msg->body_len - off : chunk;

		amqp_frame_hdr_put(hdr, AMQP_FRAME_BODY, channel, (uint32_t)n);
		evbuffer_add(out, hdr, sizeof(hdr));
		add_body_ref(c, out, msg, bk_msg_body(msg) + off, n);
		if (c->ctr)
			c->ctr->send_cnt++;
	}
}

void
amqp_conn_send_content(struct amqp_conn *c, uint16_t channel,
		       const struct amqp_method *m, struct bk_msg *msg,
		       const struct bk_props *props)
{
	struct evbuffer *out = net_conn_output(c->nc);
	bool one_frame, copy;

	if (output_closed(c, channel))
		return;
	one_frame = msg->body_len > 0 && msg->body_len <= body_chunk(c);
	copy = one_frame && msg->body_len <= BODY_COPY_MAX;
	if (!send_frames(c, out, channel, m, msg, props, copy, one_frame && !copy) ||
	    msg->body_len == 0 || copy)
		return;
	if (one_frame)
		add_body_ref(c, out, msg, bk_msg_body(msg), msg->body_len);
	else
		send_body_frames(c, out, channel, msg);
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

	if (amqp_conn_gone(c) || !p->wake_wanted)
		return;
	p->wake_wanted = false;
	/* A wake may deliver, fill the output again and close nothing: the
	 * slots stay put, so the walk stays valid. */
	for (uint32_t i = 1, seen = 0; i < c->chan_cap && seen < p->nchannels; i++) {
		if (!c->channels[i])
			continue;
		seen++;
		amqp_channel_wake(c->channels[i]);
	}
}
