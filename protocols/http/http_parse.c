/*
 * http_parse.c: the request head parser (see http_parse.h). Strict where
 * laxness lets a request be read two ways by two parties (request
 * smuggling): one Content-Length, digits only; no Transfer-Encoding (we
 * answer 501 rather than guess at chunked bodies); no obsolete line
 * folding; no control characters in names or values.
 */
#include "http_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum evhttp_cmd_type method;
} methods[] = {
	{ "GET", EVHTTP_REQ_GET }, { "HEAD", EVHTTP_REQ_HEAD }, { "PUT", EVHTTP_REQ_PUT },
	{ "POST", EVHTTP_REQ_POST }, { "DELETE", EVHTTP_REQ_DELETE },
	{ "OPTIONS", EVHTTP_REQ_OPTIONS }, { "PATCH", EVHTTP_REQ_PATCH },
};

const char *
http_status_text(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return code < 300 ? "OK" : code < 500 ? "Bad Request" : "Internal Server Error";
	}
}

void
http_head_init(struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	TAILQ_INIT(&h->headers);
}

void
http_head_fini(struct http_head *h)
{
	evhttp_clear_headers(&h->headers);
}

/* tchar of RFC 9110 §5.6.2 */
static bool
is_tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Next line of [*p, end): its length without the line end; *p moves past
 * it. -1 when no line end remains. */
static long
next_line(const char **p, const char *end, const char **line)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	long n;

	if (nl == NULL)
		return -1;
	*line = *p;
	n = nl - *p;
	if (n > 0 && (*p)[n - 1] == '\r')
		n--;
	*p = nl + 1;
	return n;
}

static int
parse_request_line(const char *line, long n, struct http_head *h, const char **why)
{
	const char *sp1 = memchr(line, ' ', (size_t)n), *sp2;
	size_t mlen, tlen, vlen;

	if (sp1 == NULL || (sp2 = memchr(sp1 + 1, ' ', (size_t)(line + n - sp1 - 1))) == NULL) {
		*why = "malformed request line";
		return 400;
	}
	mlen = (size_t)(sp1 - line);
	tlen = (size_t)(sp2 - sp1 - 1);
	vlen = (size_t)(line + n - sp2 - 1);
	if (vlen != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp2[8])) {
		bool http = vlen >= 5 && memcmp(sp2 + 1, "HTTP/", 5) == 0;

		*why = http ? "only HTTP/1.x is served" : "malformed request line";
		return http ? 505 : 400;
	}
	h->minor = sp2[8] - '0';
	if (tlen == 0 || tlen >= sizeof(h->target)) {
		*why = tlen ? "request target over 4 KiB" : "empty request target";
		return tlen ? 414 : 400;
	}
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)sp1[1 + i] <= 0x20 || (unsigned char)sp1[1 + i] == 0x7f) {
			*why = "control character in the request target";
			return 400;
		}
	memcpy(h->target, sp1 + 1, tlen);
	h->target[tlen] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == mlen && memcmp(methods[i].name, line, mlen) == 0) {
			h->method = methods[i].method;
			return 0;
		}
	*why = "method not implemented";
	return 501;
}

/* One "name: value" line into h. 0 or a status. */
static int
parse_field(const char *line, long n, struct http_head *h, bool *has_length,
	    const char **why)
{
	const char *colon = memchr(line, ':', (size_t)n), *v, *vend = line + n;
	char name[128], value[8192];
	size_t nlen;

	if (line[0] == ' ' || line[0] == '\t') {
		*why = "obsolete line folding";
		return 400;
	}
	if (colon == NULL || colon == line || (nlen = (size_t)(colon - line)) >= sizeof(name)) {
		*why = "malformed header field";
		return 400;
	}
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)line[i])) {
			*why = "malformed header field name";
			return 400;
		}
	for (v = colon + 1; v < vend && (*v == ' ' || *v == '\t'); v++)
		;
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;
	if ((size_t)(vend - v) >= sizeof(value)) {
		*why = "header field value too long";
		return 431;
	}
	for (const char *c = v; c < vend; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t') {
			*why = "control character in a header field";
			return 400;
		}
	memcpy(name, line, nlen);
	name[nlen] = '\0';
	memcpy(value, v, (size_t)(vend - v));
	value[vend - v] = '\0';
	if (strcasecmp(name, "Transfer-Encoding") == 0) {
		*why = "Transfer-Encoding is not supported: send a Content-Length";
		return 501;
	}
	if (strcasecmp(name, "Content-Length") == 0) {
		uint64_t len = 0;

		if (*has_length || value[0] == '\0' || strspn(value, "0123456789") != strlen(value) ||
		    strlen(value) > 15) {
			*why = *has_length ? "more than one Content-Length" : "bad Content-Length";
			return 400;
		}
		for (const char *d = value; *d; d++)
			len = len * 10 + (uint64_t)(*d - '0');
		*has_length = true;
		h->content_length = len;
	} else if (strcasecmp(name, "Connection") == 0) {
		if (strcasestr(value, "close"))
			h->keep_alive = false;
		else if (strcasestr(value, "keep-alive"))
			h->keep_alive = true;
	} else if (strcasecmp(name, "Expect") == 0) {
		h->expect_continue = strcasecmp(value, "100-continue") == 0;
	}
	if (evhttp_add_header(&h->headers, name, value) != 0) {
		*why = "malformed header field";
		return 400;
	}
	return 0;
}

int
http_head_parse(const char *p, size_t n, struct http_head *h, const char **why)
{
	const char *end = p + n, *line;
	bool has_length = false, got_line = false;
	long len;
	int rc;

	*why = "";
	if (memchr(p, '\0', n) != NULL) {
		*why = "NUL in the request head";
		return 400;
	}
	while ((len = next_line(&p, end, &line)) >= 0) {
		if (!got_line) {
			if (len == 0)
				continue;       /* blank lines before the request line [RFC 9112 §2.2] */
			if ((rc = parse_request_line(line, len, h, why)) != 0)
				return rc;
			h->keep_alive = h->minor >= 1;
			got_line = true;
			continue;
		}
		if (len == 0)
			return 0;
		if ((rc = parse_field(line, len, h, &has_length, why)) != 0)
			return rc;
	}
	*why = "incomplete request head";
	return 400;
}
