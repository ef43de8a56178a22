/*
 * http_conn.c: HTTP/1.1 connections on the transport (net/): reading
 * requests, answering them, keep-alive, and the limits that keep an
 * unauthenticated client from making the broker buffer anything.
 *
 *   HEAD ---head complete, parsed, credentials checked---> BODY
 *    ^                                                      |
 *    +------- answered (keep-alive), next request <---------+ dispatch
 *
 * Limits, all before a handler runs:
 *  - the request head is at most http.max_header_size (8 KiB): 431;
 *  - credentials are checked as soon as the head is in, BEFORE any body
 *    byte is read: an unauthenticated request is answered 401 and the
 *    connection closed, so its body is never buffered;
 *  - the body is at most http.max_body_size: 413, before it is read;
 *    a path served without credentials takes none (413);
 *  - the bodies one user's connections are reading (their announced
 *    lengths) total at most twice http.max_body_size: 429, before the
 *    body is read (256 connections of one user each sending all but the
 *    last byte of 16 MB held 4 GB for minutes);
 *  - a request must arrive whole within http.request_timeout of the
 *    previous answer (or of accept), which traffic does not extend, so a
 *    client sending one byte a second is dropped; the body gets that
 *    plus one second per 64 KiB;
 *  - no Transfer-Encoding (501): every client we serve sends
 *    Content-Length.
 * Requests are answered in order; a pipelined request waits in the input
 * until the previous one is answered.
 *
 * An answer is built whole into the output (a list of 100,000 queues is
 * over 100 MB), so what a client does not read is bounded by when the
 * next request is taken, not by the transport's watermark: no request is
 * read while the connection's own output is over that watermark (the
 * client pipelines and does not read: it waits in the input, reading
 * paused), and none is answered while the unsent answers of the
 * connections of the same user exceed USER_UNSENT_MAX (many connections
 * that ask and do not read: HTTP_WAIT, the request read, its deadline
 * stopped). Either waits until a connection's output drains or a
 * connection ends. So a user's unsent answers hold at most
 * USER_UNSENT_MAX plus one answer, whatever the number of connections or
 * pipelined requests, and one user's do not hold up another's requests
 * (requests without credentials count as one user).
 */
#include "http_int.h"
#include "http_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>

#define BODY_BYTES_PER_S (64 * 1024)
#define USER_UNSENT_MAX (64u << 20)

enum http_conn_state {
	HTTP_HEAD,                      /* reading a request head */
	HTTP_BODY,                      /* reading its body */
	HTTP_WAIT,                      /* read; waits for its user's answers to drain */
	HTTP_HELD,                      /* its answer waits for the disk (http_commit.c)
					   or for its slices (http_slices.c) */
	HTTP_CLOSING,                   /* answered the last request */
};

struct http_conn {
	struct http_listener *l;        /* borrowed */
	struct net_conn *nc;            /* borrowed: the transport owns us */
	enum http_conn_state state;
	struct http_head head;          /* the request being read */
	struct http_req req;            /* valid from head to answer */
	bool req_live;
	struct evbuffer *body;          /* owned */
	struct http_hold *held;         /* what the answer waits for, while HTTP_HELD */
	bool waiting;                   /* reading paused until output drains */
	char user[256];                 /* whose the last request was ("": none) */
	TAILQ_ENTRY(http_conn) link;    /* in l->conns */
};

static void conn_read(void *ctx);

static void
conn_log(const struct http_conn *hc, enum bk_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
conn_log(const struct http_conn *hc, enum bk_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_conn_logv(hc->nc, lvl, fmt, ap);
	va_end(ap);
}

static void
end_request(struct http_conn *hc)
{
	if (hc->req_live) {
		http_req_fini(&hc->req);
		hc->req_live = false;
	}
	http_head_fini(&hc->head);
	http_head_init(&hc->head);
	evbuffer_drain(hc->body, evbuffer_get_length(hc->body));
}

/* Status line and headers; the body goes after them. */
static struct evbuffer *
respond_head(struct http_conn *hc, int code, struct evkeyvalq *headers, size_t len)
{
	struct evbuffer *out = net_conn_output(hc->nc);
	struct evkeyval *h;
	bool keep = hc->head.keep_alive && hc->state != HTTP_CLOSING;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", code, http_status_text(code));
	TAILQ_FOREACH(h, headers, next)
		evbuffer_add_printf(out, "%s: %s\r\n", h->key, h->value);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n%s\r\n", len,
			    keep ? "" : "Connection: close\r\n");
	if (!keep)
		hc->state = HTTP_CLOSING;
	return out;
}

void
http_conn_respond(struct http_conn *hc, int code, struct evkeyvalq *headers,
		  const void *body, size_t len, bool head_only)
{
	struct evbuffer *out = respond_head(hc, code, headers, len);

	if (len > 0 && !head_only)
		evbuffer_add(out, body, len);
}

void
http_conn_respond_buffer(struct http_conn *hc, int code, struct evkeyvalq *headers,
			 struct evbuffer *body, bool head_only)
{
	struct evbuffer *out = respond_head(hc, code, headers, evbuffer_get_length(body));

	if (!head_only)
		evbuffer_add_buffer(out, body);         /* its chains move, no copy */
}

/* An answer without a request object (the head did not parse). */
static void
refuse(struct http_conn *hc, int code, const char *why)
{
	struct evkeyvalq h;
	char body[320];
	int n;

	conn_log(hc, BK_LOG_INFO, "bad request (%d): %s", code, why);
	TAILQ_INIT(&h);
	evhttp_add_header(&h, "Content-Type", "application/json");
	n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"reason\":\"%s\"}",
		     code == 431 || code == 413 ? "too_large" :
		     code == 429 ? "too_many_requests" : "bad_request", why);
	hc->state = HTTP_CLOSING;
	http_conn_respond(hc, code, &h, body, (size_t)n, false);
	evhttp_clear_headers(&h);
}

/* The request is answered: next one, or close. */
static void
answered(struct http_conn *hc)
{
	end_request(hc);
	if (hc->state == HTTP_CLOSING) {
		net_conn_close_after_flush(hc->nc, 5000);
		return;
	}
	hc->state = HTTP_HEAD;
	net_conn_deadline(hc->nc, hc->l->cfg.request_timeout_ms);
}

/* The unsent output of the connections whose last request was user's. */
static size_t
user_unsent(struct http_listener *l, const char *user)
{
	struct http_conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &l->conns, link)
		if (strcmp(c->user, user) == 0)
			n += c->held != NULL && c->held->counts_full ? USER_UNSENT_MAX + 1
								     : net_conn_output_len(c->nc);
	return n;
}

static void
dispatch(struct http_conn *hc)
{
	if (user_unsent(hc->l, hc->user) > USER_UNSENT_MAX) {
		/* woken by wake_waiters, answered from conn_deferred */
		hc->state = HTTP_WAIT;
		net_conn_deadline(hc->nc, 0);
		net_conn_pause(hc->nc, NET_PAUSE_PROTO, true);
		return;
	}
	hc->req.body = hc->body;
	http_req_dispatch(&hc->req);
	if (hc->state != HTTP_HELD)
		answered(hc);
}

void
http_conn_hold(struct http_conn *hc, struct http_hold *h)
{
	hc->state = HTTP_HELD;
	hc->held = h;
	/* No request deadline while the answer is made (it starts again
	 * once it is sent), and no reading: what the client pipelines
	 * meanwhile waits in the socket, not in our buffer. */
	net_conn_deadline(hc->nc, 0);
	net_conn_pause(hc->nc, NET_PAUSE_PROTO, true);
}

static void released(struct http_conn *hc);
static void wake_waiters(struct http_listener *l);

void
http_conn_release(struct http_conn *hc, int code, const char *ctype, const char *body,
		  size_t len)
{
	hc->held = NULL;
	hc->state = HTTP_HEAD;
	http_reply_write(&hc->req, code, ctype, body, len);
	released(hc);
}

void
http_conn_release_buffer(struct http_conn *hc, int code, const char *ctype,
			 struct evbuffer *body)
{
	hc->held = NULL;
	hc->state = HTTP_HEAD;
	http_reply_write_buffer(&hc->req, code, ctype, body);
	released(hc);
	wake_waiters(hc->l);            /* its user's requests count it anew */
}

static void
released(struct http_conn *hc)
{
	net_conn_pause(hc->nc, NET_PAUSE_PROTO, false);
	answered(hc);
	/* A pipelined request waits in the input; nothing else announces it. */
	if (!net_conn_closing(hc->nc) && hc->state == HTTP_HEAD &&
	    evbuffer_get_length(net_conn_input(hc->nc)) > 0)
		conn_read(hc);
}

/* Would hc's body keep its user's bodies within twice max_body_size? A
 * connection reading a body counts its announced length (the transport
 * may buffer it whole before the deadline), one whose request waits
 * (HTTP_WAIT, HTTP_HELD) the body it holds. */
static bool
body_room(struct http_conn *hc)
{
	uint64_t n = hc->head.content_length;
	struct http_conn *c;

	TAILQ_FOREACH(c, &hc->l->conns, link)
		if (c != hc && strcmp(c->user, hc->user) == 0)
			n += c->state == HTTP_BODY ? c->head.content_length
						   : evbuffer_get_length(c->body);
	return n <= 2 * (uint64_t)hc->l->cfg.max_body_size;
}

/* The head is parsed: check who asks before reading a body byte. */
static void
on_head(struct http_conn *hc)
{
	struct http_req *r = &hc->req;

	http_req_init(r, hc->l, hc, &hc->head, net_conn_peer_is_loopback(hc->nc));
	hc->req_live = true;
	hc->user[0] = '\0';
	if (r->answered || (!http_req_public(r) && !http_auth_check(r))) {
		/* Refused: the body (if any) is not read; the connection ends. */
		hc->state = HTTP_CLOSING;
		end_request(hc);
		net_conn_close_after_flush(hc->nc, 5000);
		return;
	}
	snprintf(hc->user, sizeof(hc->user), "%s", r->user);
	if (hc->head.content_length > 0 && http_req_public(r)) {
		/* What is served without credentials (the UI's files, the
		 * in-service check, Prometheus) takes no body: an anonymous
		 * client must not make us buffer one either. */
		end_request(hc);
		refuse(hc, 413, "no request body is taken on this path");
		net_conn_close_after_flush(hc->nc, 5000);
		return;
	}
	if (hc->head.content_length > hc->l->cfg.max_body_size) {
		end_request(hc);
		refuse(hc, 413, "request body over http.max_body_size");
		net_conn_close_after_flush(hc->nc, 5000);
		return;
	}
	if (hc->head.content_length > 0 && !body_room(hc)) {
		end_request(hc);
		refuse(hc, 429, "this user's request bodies being read total over "
		       "twice http.max_body_size");
		net_conn_close_after_flush(hc->nc, 5000);
		return;
	}
	if (hc->head.content_length == 0) {
		dispatch(hc);
		return;
	}
	if (hc->head.expect_continue)
		evbuffer_add_printf(net_conn_output(hc->nc), "HTTP/1.1 100 Continue\r\n\r\n");
	net_conn_deadline(hc->nc, hc->l->cfg.request_timeout_ms +
			  (uint32_t)(hc->head.content_length / BODY_BYTES_PER_S) * 1000);
	hc->state = HTTP_BODY;
}

/* 1 = a head was taken, 0 = need more bytes, -1 = refused. */
static int
read_head(struct http_conn *hc, struct evbuffer *in)
{
	size_t max = hc->l->cfg.max_header_size, n;
	ev_ssize_t crlf = evbuffer_search(in, "\r\n\r\n", 4, NULL).pos;
	ev_ssize_t lflf = evbuffer_search(in, "\n\n", 2, NULL).pos;
	const char *why;
	char *p;
	int rc;

	/* The head ends at the first blank line, CRLF or (leniently) bare LF. */
	if (crlf >= 0 && (lflf < 0 || crlf + 4 <= lflf + 2))
		n = (size_t)crlf + 4;
	else if (lflf >= 0)
		n = (size_t)lflf + 2;
	else if (evbuffer_get_length(in) > max)
		n = max + 1;
	else
		return 0;
	if (n > max) {
		refuse(hc, 431, "request head over http.max_header_size");
		return -1;
	}
	p = (char *)evbuffer_pullup(in, (ev_ssize_t)n);
	rc = http_head_parse(p, n, &hc->head, &why);
	evbuffer_drain(in, n);
	if (rc != 0) {
		refuse(hc, rc, why);
		return -1;
	}
	on_head(hc);
	return 1;
}

/* May hc read its next request? Not while its output is over the
 * watermark; then its reading pauses until wake_waiters. */
static bool
output_has_room(struct http_conn *hc)
{
	if (!net_conn_output_full(hc->nc))
		return true;
	hc->waiting = true;
	net_conn_pause(hc->nc, NET_PAUSE_PROTO, true);
	return false;
}

/* Output drained or a connection ended: every waiting connection looks
 * again (the transport announces its input anew, from its own event). */
static void
wake_waiters(struct http_listener *l)
{
	struct http_conn *c;

	TAILQ_FOREACH(c, &l->conns, link) {
		if (c->state == HTTP_WAIT)
			net_conn_defer(c->nc);
		if (!c->waiting)
			continue;
		c->waiting = false;
		net_conn_pause(c->nc, NET_PAUSE_PROTO, false);
	}
}

/* net ops, from the reaper: a request in HTTP_WAIT tries again. */
static void
conn_deferred(void *ctx)
{
	struct http_conn *hc = ctx;

	if (hc->state != HTTP_WAIT || net_conn_closing(hc->nc))
		return;
	hc->state = HTTP_BODY;
	dispatch(hc);
	if (hc->state == HTTP_WAIT || hc->state == HTTP_HELD)
		return;                 /* reading stays paused (released resumes) */
	net_conn_pause(hc->nc, NET_PAUSE_PROTO, false);
	if (!net_conn_closing(hc->nc) && hc->state == HTTP_HEAD &&
	    evbuffer_get_length(net_conn_input(hc->nc)) > 0)
		conn_read(hc);
}

/* net ops: bytes wait in the input. */
static void
conn_read(void *ctx)
{
	struct http_conn *hc = ctx;
	struct evbuffer *in = net_conn_input(hc->nc);

	while (!net_conn_closing(hc->nc) && hc->state != HTTP_CLOSING &&
	       hc->state != HTTP_HELD && hc->state != HTTP_WAIT) {
		if (hc->state == HTTP_HEAD) {
			if (hc->waiting || evbuffer_get_length(in) == 0 ||
			    !output_has_room(hc) || read_head(hc, in) <= 0)
				break;
			continue;
		}
		uint64_t want = hc->head.content_length - evbuffer_get_length(hc->body);
		size_t have = evbuffer_get_length(in);

		if (have == 0)
			break;
		evbuffer_remove_buffer(in, hc->body, have < want ? have : (size_t)want);
		if (evbuffer_get_length(hc->body) < hc->head.content_length)
			break;
		dispatch(hc);
	}
	if (net_conn_closing(hc->nc) || hc->state == HTTP_CLOSING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		if (!net_conn_closing(hc->nc))
			net_conn_close_after_flush(hc->nc, 5000);
	}
}

static void *
conn_open(void *arg, struct net_conn *nc)
{
	struct http_conn *hc = bk_calloc(1, sizeof(*hc));

	hc->l = arg;
	hc->nc = nc;
	hc->body = evbuffer_new();
	http_head_init(&hc->head);
	TAILQ_INSERT_TAIL(&hc->l->conns, hc, link);
	return hc;
}

/* net ops: the output drained to half the watermark. */
static void
conn_writable(void *ctx)
{
	struct http_conn *hc = ctx;

	wake_waiters(hc->l);
}

/* net ops: the broker is stopping. Requests are answered within the
 * callback that completes them, so nothing is half-answered here. */
static void
conn_shutdown(void *ctx)
{
	static const char body[] = "{\"error\":\"unavailable\",\"reason\":\"shutting down\"}";
	struct http_conn *hc = ctx;
	struct http_hold *h = hc->held;

	hc->state = HTTP_CLOSING;
	if (h != NULL && h->stop_answers) {
		/* a long list being built: its job stops at its next slice */
		hc->held = NULL;
		h->detach(h);
		http_reply_write(&hc->req, 503, "application/json", body, sizeof(body) - 1);
		end_request(hc);
	}
	net_conn_close_after_flush(hc->nc, 1000);
}

static void
conn_free(void *ctx, enum net_end why)
{
	struct http_conn *hc = ctx;

	if (why == NET_END_DEADLINE)
		conn_log(hc, BK_LOG_INFO, "request not received within %u ms",
			 hc->l->cfg.request_timeout_ms);
	if (hc->held)
		hc->held->detach(hc->held);
	TAILQ_REMOVE(&hc->l->conns, hc, link);
	wake_waiters(hc->l);
	end_request(hc);
	http_head_fini(&hc->head);
	evbuffer_free(hc->body);
	bk_free(hc);
}

const struct net_proto_ops http_net_ops = {
	.version = NET_PROTO_OPS_V1,
	.name = "http",
	.open = conn_open,
	.read = conn_read,
	.writable = conn_writable,
	.deferred = conn_deferred,
	.shutdown = conn_shutdown,
	.free = conn_free,
};
