/* A minimal blocking HTTP/1.1 client: one request per TCP connection
 * ("Connection: close"), basic auth, request bodies with Content-Length, and
 * responses framed by Content-Length, chunked transfer coding, or the close.
 *
 * Every wait (connect, send, receive) is bounded by the caller's timeout,
 * measured from the start of the request, so a stuck server cannot hang the
 * tool. Responses are bounded by CTL_HTTP_MAX_BODY; every length read from
 * the server is checked before it is used. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CTL_HTTP_MAX_BODY (256u << 20)   /* definitions of a big broker fit */
#define CTL_HTTP_MAX_HEAD (64u << 10)

struct buf {
	char *p;        /* owned */
	size_t len, cap;
};

static void
buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p) {
			fputs("Error:\nout of memory\n", stderr);
			exit(CTL_EX_SOFTWARE);
		}
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_addf(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for <events> on <fd> until <deadline>; 0, -ETIMEDOUT or -errno. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int left, n;

	for (;;) {
		left = (int)(deadline - now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int
connect_to(const char *host, int port, int64_t deadline)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char service[16];
	int fd = -1, err = -ECONNREFUSED, rc;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0)
		return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		socklen_t sl = sizeof(int);
		int soerr = 0;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		            ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			err = -errno;
			goto next;
		}
		if ((err = wait_fd(fd, POLLOUT, deadline)) < 0)
			goto next;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr == 0)
			break;
		err = -soerr;
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : err;
}

static int
send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	int rc;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

/* Reads everything until the peer closes (we asked for Connection: close). */
static int
recv_all(int fd, struct buf *in, int64_t deadline)
{
	char chunk[16384];
	int rc;

	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n > 0) {
			if (in->len + (size_t)n > CTL_HTTP_MAX_BODY + CTL_HTTP_MAX_HEAD)
				return -EMSGSIZE;
			buf_add(in, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((rc = wait_fd(fd, POLLIN, deadline)) < 0)
			return rc;
	}
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
add_base64(struct buf *b, const unsigned char *s, size_t n)
{
	char out[4];
	size_t i;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[0] = b64[(v >> 18) & 63];
		out[1] = b64[(v >> 12) & 63];
		out[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[3] = i + 2 < n ? b64[v & 63] : '=';
		buf_add(b, out, 4);
	}
}

/* Finds header <name> (case-insensitive) in the head [p, end); returns its
 * value (leading blanks skipped) and length through <vlen>, or NULL. */
static const char *
find_header(const char *p, const char *end, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v;

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			while (*vlen > 0 && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

/* Decodes a chunked body in [p, end) into <out>. 0 or -EPROTO. */
static int
dechunk(const char *p, const char *end, struct buf *out)
{
	for (;;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		unsigned long long size;
		char *stop;

		if (!eol)
			return -EPROTO;
		errno = 0;
		size = strtoull(p, &stop, 16);
		if (stop == p || errno != 0)
			return -EPROTO;
		p = eol + 1;
		if (size == 0)
			return 0;               /* trailers, if any, are ignored */
		if (size > (unsigned long long)(end - p) || size > CTL_HTTP_MAX_BODY)
			return -EPROTO;
		buf_add(out, p, (size_t)size);
		p += size;
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			p += 2;
		else if (end - p >= 1 && p[0] == '\n')
			p += 1;
		else
			return -EPROTO;
	}
}

/* Splits the raw response in <in> into status and body. */
static int
parse_response(const struct buf *in, struct ctl_http_resp *resp)
{
	const char *p = in->p, *end = in->p + in->len, *head_end, *body, *v;
	struct buf out = { 0 };
	size_t vlen;
	int status;

	if (!p || in->len < 12 || strncmp(p, "HTTP/1.", 7) != 0)
		return -EPROTO;
	head_end = memmem(p, in->len, "\r\n\r\n", 4);
	body = head_end ? head_end + 4 : NULL;
	if (!head_end && (head_end = memmem(p, in->len, "\n\n", 2)))
		body = head_end + 2;
	if (!head_end)
		return -EPROTO;
	if (p[8] != ' ' || sscanf(p + 9, "%3d", &status) != 1 || status < 100)
		return -EPROTO;
	v = find_header(p, head_end, "Transfer-Encoding", &vlen);
	if (v && vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0) {
		if (dechunk(body, end, &out) < 0) {
			free(out.p);
			return -EPROTO;
		}
	} else {
		size_t n = (size_t)(end - body);

		v = find_header(p, head_end, "Content-Length", &vlen);
		if (v) {
			char *stop;
			unsigned long long cl = strtoull(v, &stop, 10);

			if (stop == v || cl > n)
				return -EPROTO;    /* the body was cut short */
			n = (size_t)cl;
		}
		buf_add(&out, body, n);
	}
	resp->status = status;
	resp->body = out.p;
	resp->len = out.len;
	return 0;
}

int
ctl_http_request(const struct ctl_opts *o, const char *method,
                 const char *path, const char *body,
                 const char *extra_hdr, struct ctl_http_resp *resp)
{
	int64_t deadline = now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 60000);
	struct buf req = { 0 }, in = { 0 }, cred = { 0 };
	char line[512];
	int fd, rc;

	memset(resp, 0, sizeof(*resp));
	fd = connect_to(o->host, o->port, deadline);
	if (fd < 0)
		return fd;
	snprintf(line, sizeof(line), "%s %s HTTP/1.1\r\n", method, path);
	buf_addf(&req, line);
	snprintf(line, sizeof(line), "Host: %s:%d\r\n", o->host, o->port);
	buf_addf(&req, line);
	buf_addf(&cred, o->user);
	buf_add(&cred, ":", 1);
	buf_addf(&cred, o->password);
	buf_addf(&req, "Authorization: Basic ");
	add_base64(&req, (const unsigned char *)cred.p, cred.len);
	buf_addf(&req, "\r\nConnection: close\r\n"
	               "User-Agent: sluicectl\r\n");
	if (extra_hdr) {
		buf_addf(&req, extra_hdr);
		buf_addf(&req, "\r\n");
	}
	if (body) {
		snprintf(line, sizeof(line), "Content-Type: application/json\r\n"
		         "Content-Length: %zu\r\n\r\n", strlen(body));
		buf_addf(&req, line);
		buf_addf(&req, body);
	} else {
		buf_addf(&req, strcmp(method, "GET") == 0 ? "\r\n"
		                                         : "Content-Length: 0\r\n\r\n");
	}
	if ((rc = send_all(fd, req.p, req.len, deadline)) < 0)
		goto out;
	if ((rc = recv_all(fd, &in, deadline)) < 0)
		goto out;
	rc = parse_response(&in, resp);
out:
	close(fd);
	free(req.p);
	free(in.p);
	free(cred.p);
	return rc;
}

void
ctl_http_resp_fini(struct ctl_http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

const char *
ctl_url_seg(const char *s)
{
	static char slots[4][1024];
	static unsigned next;
	static const char hex[] = "0123456789ABCDEF";
	char *out = slots[next++ % 4];
	size_t j = 0;

	for (; s && *s && j + 4 < sizeof(slots[0]); s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~') {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
	return out;
}
