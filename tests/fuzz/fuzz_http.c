/*
 * fuzz_http.c: libFuzzer target for the management API's request
 * handling: routing of the path and its percent-decoded segments, the
 * query options, headers, authentication and the JSON bodies of every
 * handler, against the real core.
 *
 * The input is one or more requests separated by two NUL octets. In each,
 * the first octet picks the method (GET, PUT, POST, DELETE, HEAD), the
 * rest up to the first newline is the request target (path and query),
 * the lines after it up to an empty line are extra headers, and what
 * follows is the body. The harness wraps each in a well-formed HTTP/1.1
 * request (Host, Content-Type: application/json, which state-changing
 * requests need, Content-Length, and guest's basic credentials unless the
 * target starts with '!'), so mutations land in our handlers rather than
 * in the HTTP parser. Each input runs on a fresh broker and listener,
 * requests in order on one kept-alive connection (fuzz_net.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_admin.h"
#include "fuzz_net.h"
#include "http.h"
#include "net.h"

#define MAX_REQUESTS 6

static const char *const methods[] = { "GET", "PUT", "POST", "DELETE", "HEAD" };

/* Append one request built from in[0..n) to out; returns bytes written. */
static size_t
build(char *out, size_t cap, const uint8_t *in, size_t n, bool last)
{
	const char *method = n ? methods[in[0] % 5] : "GET";
	const uint8_t *p = n ? in + 1 : in, *end = in + n, *nl, *sep, *target = p;
	const uint8_t *hdrs, *body;
	size_t tlen, hlen, blen, k;
	bool auth = true;

	nl = memchr(p, '\n', (size_t)(end - p));
	tlen = (size_t)((nl ? nl : end) - p);
	hdrs = nl ? nl + 1 : end;
	sep = hdrs < end ? memmem(hdrs, (size_t)(end - hdrs), "\n\n", 2) : NULL;
	if (hdrs < end && hdrs[0] == '\n') {           /* no extra header */
		hlen = 0;
		body = hdrs + 1;
	} else if (sep != NULL) {
		hlen = (size_t)(sep + 1 - hdrs);
		body = sep + 2;
	} else {
		hlen = (size_t)(end - hdrs);
		body = end;
	}
	blen = (size_t)(end - body);
	if (tlen > 0 && target[0] == '!') {
		auth = false;
		target++;
		tlen--;
	}
	k = (size_t)snprintf(out, cap, "%s /%.*s HTTP/1.1\r\nHost: fuzz\r\n%s"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\nConnection: %s\r\n", method,
			     (int)tlen, (const char *)target,
			     auth ? "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n" : "",
			     blen, last ? "close" : "keep-alive");
	if (k >= cap || k + hlen + 4 + blen > cap)
		return 0;
	memcpy(out + k, hdrs, hlen);
	k += hlen;
	if (hlen > 0 && hdrs[hlen - 1] != '\n')
		out[k++] = '\n';
	memcpy(out + k, "\r\n", 2);
	k += 2;
	memcpy(out + k, body, blen);
	return k + blen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_broker *b;
	struct http_listener *l;
	struct http_config cfg;
	struct net *net;
	size_t cap = size * 2 + 512 * MAX_REQUESTS, n = 0;
	char *req = malloc(cap);
	int port;
	const uint8_t *p = data, *end = data + size;

	for (int i = 0; i < MAX_REQUESTS && p <= end; i++) {
		const uint8_t *sep = NULL;

		for (const uint8_t *q = p; q + 1 < end; q++)
			if (q[0] == 0 && q[1] == 0) {
				sep = q;
				break;
			}
		if (sep == NULL || i == MAX_REQUESTS - 1) {
			n += build(req + n, cap - n, p, (size_t)(end - p), true);
			break;
		}
		n += build(req + n, cap - n, p, (size_t)(sep - p), false);
		p = sep + 2;
	}
	b = fuzz_net_broker();
	http_config_defaults(&cfg);
	cfg.port = 0;
	net = fuzz_net_new(b);
	l = http_listener_new(fuzz_net_base(), b, net, &cfg);
	if ((port = fuzz_net_listen(net, "http", &http_net_ops, l)) > 0)
		fuzz_net_exchange(port, NULL, 0, (const uint8_t *)req, n);
	net_free(net);
	http_listener_free(l);
	fuzz_net_broker_free(b);
	free(req);
	return 0;
}
