/*
 * net_ws.c: WebSocket transport (RFC 6455), for MQTT over WebSockets
 * (MQTT 5.0 chapter 6, MQTT 3.1.1 §6).
 *
 * The connection starts as plain TCP or TLS. Its first bytes must be an
 * HTTP/1.1 upgrade request: GET on the listener's path with "Upgrade:
 * websocket", "Connection: Upgrade", a Sec-WebSocket-Key and version 13,
 * and, when it names subprotocols, one we speak ("mqtt", or "mqttv3.1"
 * from MQTT 3.1 clients). The request is bounded (8 KiB) and falls under
 * the listener's handshake deadline. Anything else gets a 4xx and the
 * connection closes once the answer is written.
 *
 * After "101 Switching Protocols" the connection's bufferevent is
 * wrapped in a filter bufferevent: the input filter feeds the raw bytes
 * to libwslay and appends the payload of binary data frames to what the
 * protocol reads, so an MQTT packet may span frames and a frame may hold
 * several packets; the output filter sends whatever the protocol wrote
 * as one binary message. libwslay does the framing, unmasking, control
 * frames (ping/pong, close) and their validation; data frames are not
 * buffered by it (no_buffering), so a peer cannot make us hold a whole
 * message. A text frame is refused [MQTT-6.0.0-1] with close code 1003.
 *
 *   raw (socket or TLS) bev --input filter: wslay --> filter bev input --> protocol
 *   raw bev output <--output filter: wslay binary message <-- protocol output
 */
#include "net_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#define WS_MAX_REQUEST 8192
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct net_ws {
	wslay_event_context_ptr ctx;    /* owned */
	struct net_sock *s;             /* borrowed */
	struct evbuffer *src;           /* input filter: raw bytes, during recv */
	struct evbuffer *dst;           /* input filter: the protocol's input */
	struct evbuffer *out;           /* the raw bev's output */
	uint8_t msg_opcode;             /* of the data message being received */
	bool in_control;                /* the frame being received is a control frame */
	bool closed;                    /* close frame received or sent */
	bool close_pending;             /* close once the last data is handed up */
};

/* ---- the upgrade request ---- */

/* Value of header name in the request head (NUL-terminated, header lines
 * end with "\r\n"), copied into buf; false if absent or too long. */
static bool
header(const char *head, const char *name, char *buf, size_t cap)
{
	size_t nlen = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end = strstr(line, "\r\n"), *v;
		size_t n;

		if (end == NULL || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
			continue;
		for (v = line + nlen + 1; *v == ' ' || *v == '\t'; v++)
			;
		n = (size_t)(end - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n >= cap)
			return false;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

/* Does the comma-separated list hold token (case-insensitive)? */
static bool
has_token(const char *list, const char *token)
{
	size_t tlen = strlen(token);

	for (const char *p = list; *p; ) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ", \t");

		if (n == tlen && strncasecmp(p, token, n) == 0)
			return true;
		p += n;
	}
	return false;
}

static void
refuse(struct net_sock *s, int code, const char *reason, const char *why)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	net_sock_log(s, BK_LOG_INFO, "WebSocket upgrade refused (%d): %s", code, why);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n", code,
			    reason, strlen(why) + 1,
			    code == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", why);
	net_sock_close_after_flush(s, 1000);
}

static void
accept_key(const char *key, char *out)
{
	unsigned char digest[SHA_DIGEST_LENGTH];
	char buf[128];

	snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
	SHA1((const unsigned char *)buf, strlen(buf), digest);
	EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest));
}

/* The subprotocol to answer with: "" when the client named none, NULL
 * when it named only ones we do not speak. */
static const char *
pick_protocol(struct net_sock *s, const char *head)
{
	static const char *const alts[] = { "mqtt", "mqttv3.1" };
	const char *want = s->l->ws_protocol;
	char list[256];

	if (!header(head, "Sec-WebSocket-Protocol", list, sizeof(list)))
		return "";
	if (want == NULL)
		return "";
	if (has_token(list, want))
		return want;
	for (size_t i = 0; strcmp(want, "mqtt") == 0 && i < sizeof(alts) / sizeof(alts[0]); i++)
		if (has_token(list, alts[i]))
			return alts[i];
	return NULL;
}

/* ---- framing through libwslay ---- */

static ssize_t
ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct net_ws *ws = user;
	int n = ws->src ? evbuffer_remove(ws->src, buf, len) : 0;

	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t
ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct net_ws *ws = user;

	if (evbuffer_add(ws->out, data, len) != 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static void
ws_frame_start(wslay_event_context_ptr ctx,
	       const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct net_ws *ws = user;

	/* A control frame (ping, pong, close) may come between the fragments
	 * of a message: its payload is not the message's. */
	ws->in_control = (arg->opcode & 8) != 0;
	if (arg->opcode == WSLAY_CONTINUATION_FRAME || ws->in_control)
		return;                 /* continuation keeps the message's opcode */
	ws->msg_opcode = arg->opcode;
	if (arg->opcode != WSLAY_BINARY_FRAME && !ws->closed) {
		/* [MQTT-6.0.0-1]: binary frames only. */
		net_sock_log(ws->s, BK_LOG_INFO, "WebSocket: non-binary data frame (opcode %u)",
			     arg->opcode);
		ws->closed = true;
		wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
					(const uint8_t *)"binary frames only", 18);
		wslay_event_shutdown_read(ctx);
	}
}

static void
ws_frame_chunk(wslay_event_context_ptr ctx,
	       const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct net_ws *ws = user;

	if (!ws->in_control && ws->msg_opcode == WSLAY_BINARY_FRAME && ws->dst && !ws->closed)
		evbuffer_add(ws->dst, arg->data, arg->data_length);
}

static void
ws_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
       void *user)
{
	struct net_ws *ws = user;

	if (arg->opcode == WSLAY_CONNECTION_CLOSE && !ws->closed) {
		ws->closed = true;
		net_sock_log(ws->s, BK_LOG_DEBUG, "WebSocket close from peer (code %u)",
			     arg->status_code);
	}
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv,
	.send_callback = ws_send,
	.on_frame_recv_start_callback = ws_frame_start,
	.on_frame_recv_chunk_callback = ws_frame_chunk,
	.on_msg_recv_callback = ws_msg,
};

static enum bufferevent_filter_result
ws_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
      enum bufferevent_flush_mode mode, void *arg)
{
	struct net_ws *ws = arg;
	size_t before = evbuffer_get_length(dst);
	int rc;

	ws->src = src;
	ws->dst = dst;
	rc = wslay_event_recv(ws->ctx);
	ws->src = ws->dst = NULL;
	if (rc == 0)
		rc = wslay_event_send(ws->ctx);   /* pongs, the close answer */
	/* Pongs go straight to the raw output, and a batch of pings alone
	 * hands the protocol nothing (so the socket's read callback, which
	 * checks the output, does not run): a peer that pings and never
	 * reads stops being read here. */
	if (rc == 0 && !ws->closed && net_sock_output_len(ws->s) > ws->s->l->cfg.output_high)
		net_sock_pause(ws->s, SOCK_PAUSE_OUTPUT, true);
	if (rc != 0 || !wslay_event_get_read_enabled(ws->ctx)) {
		if (rc != 0)
			net_sock_log(ws->s, BK_LOG_INFO, "WebSocket protocol error (%d)", rc);
		ws->closed = true;
		/* Data that came before a close frame (a DISCONNECT, say) reaches
		 * the protocol first: the socket's read callback closes then.
		 * Our close frame (libwslay queued it) leaves before the socket
		 * closes. */
		if (rc == 0 && evbuffer_get_length(dst) > before)
			ws->close_pending = true;
		else
			net_sock_close_after_flush(ws->s, 1000);
	}
	return evbuffer_get_length(dst) > before ? BEV_OK : BEV_NEED_MORE;
}

static enum bufferevent_filter_result
ws_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
       enum bufferevent_flush_mode mode, void *arg)
{
	struct net_ws *ws = arg;
	size_t n = evbuffer_get_length(src);
	struct wslay_event_msg m;

	if (n == 0 || ws->closed) {
		evbuffer_drain(src, n);
		return BEV_OK;
	}
	m.opcode = WSLAY_BINARY_FRAME;
	m.msg = evbuffer_pullup(src, (ev_ssize_t)n);
	m.msg_length = n;
	if (wslay_event_queue_msg(ws->ctx, &m) != 0 || wslay_event_send(ws->ctx) != 0) {
		evbuffer_drain(src, n);
		return BEV_ERROR;
	}
	evbuffer_drain(src, n);
	return BEV_OK;
}

static void
ws_free(void *arg)
{
	struct net_ws *ws = arg;

	wslay_event_context_free(ws->ctx);
	bk_free(ws);
}

/* Answer 101 and wrap the connection's bufferevent in the filter. */
static bool
upgrade(struct net_sock *s, const char *key, const char *proto)
{
	struct net_ws *ws = bk_calloc(1, sizeof(*ws));
	struct bufferevent *filt;
	char accept[64];

	ws->s = s;
	if (wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws) != 0) {
		bk_free(ws);
		return false;
	}
	wslay_event_config_set_no_buffering(ws->ctx, 1);
	accept_key(key, accept);
	ws->out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(ws->out, "HTTP/1.1 101 Switching Protocols\r\n"
			    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n", accept,
			    *proto ? "Sec-WebSocket-Protocol: " : "", proto, *proto ? "\r\n" : "");
	filt = bufferevent_filter_new(s->bev, ws_in, ws_out,
				      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, ws_free, ws);
	if (filt == NULL) {
		ws_free(ws);
		return false;
	}
	s->bev = filt;
	s->ws = ws;
	bufferevent_setcb(filt, NULL, NULL, NULL, NULL);
	return true;
}

/* Check the request head (NUL-terminated); 0 and the key and protocol
 * to answer with, or the refusal sent. */
static bool
check_request(struct net_sock *s, const char *head, char *key, size_t keycap,
	      const char **proto)
{
	char method[8], path[256], version[16], v[256];
	unsigned char raw[32];

	if (sscanf(head, "%7s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		refuse(s, 400, "Bad Request", "not an HTTP request");
		return false;
	}
	if (strcmp(method, "GET") != 0) {
		refuse(s, 405, "Method Not Allowed", "WebSocket upgrades use GET");
		return false;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, s->l->ws_path) != 0) {
		refuse(s, 404, "Not Found", "no WebSocket endpoint at this path");
		return false;
	}
	if (!header(head, "Upgrade", v, sizeof(v)) || !has_token(v, "websocket") ||
	    !header(head, "Connection", v, sizeof(v)) || !has_token(v, "upgrade")) {
		refuse(s, 426, "Upgrade Required", "expected a WebSocket upgrade");
		return false;
	}
	if (!header(head, "Sec-WebSocket-Version", v, sizeof(v)) || strcmp(v, "13") != 0) {
		refuse(s, 426, "Upgrade Required", "WebSocket version 13 only");
		return false;
	}
	/* The key is 16 random bytes in base64: 24 characters. */
	if (!header(head, "Sec-WebSocket-Key", key, keycap) || strlen(key) != 24 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18) {
		refuse(s, 400, "Bad Request", "missing or malformed Sec-WebSocket-Key");
		return false;
	}
	if ((*proto = pick_protocol(s, head)) == NULL) {
		refuse(s, 400, "Bad Request", "no supported WebSocket subprotocol (mqtt)");
		return false;
	}
	return true;
}

bool
net_ws_close_pending(const struct net_sock *s)
{
	return s->ws != NULL && s->ws->close_pending;
}

void
net_ws_handshake(struct net_sock *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr end;
	char head[WS_MAX_REQUEST + 1], key[64];
	const char *proto;
	size_t n;

	if (s->ws || s->flushing)
		return;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > WS_MAX_REQUEST)
			refuse(s, 431, "Request Header Fields Too Large",
			       "upgrade request over 8 KiB");
		return;
	}
	n = (size_t)end.pos + 4;
	if (n > WS_MAX_REQUEST) {
		refuse(s, 431, "Request Header Fields Too Large", "upgrade request over 8 KiB");
		return;
	}
	evbuffer_remove(in, head, n);
	head[n] = '\0';
	if (memchr(head, '\0', n) != NULL) {
		refuse(s, 400, "Bad Request", "NUL in the request");
		return;
	}
	if (!check_request(s, head, key, sizeof(key), &proto))
		return;
	if (!upgrade(s, key, proto)) {
		net_sock_log(s, BK_LOG_WARNING, "cannot set up the WebSocket");
		net_sock_close_after_flush(s, 0);
		return;
	}
	net_sock_log(s, BK_LOG_DEBUG, "WebSocket upgrade done");
	net_sock_ws_ready(s);
}
