/*
 * http_parse.h: the HTTP/1.x request head parser. Pure over bytes (plus
 * libevent's header list type), so the fuzzer drives it directly.
 *
 *   request-line = method SP request-target SP HTTP-version CRLF
 *   *( field-name ":" OWS field-value OWS CRLF )
 *   CRLF                                              [RFC 9112 §2.1]
 */
#ifndef SLUICE_HTTP_PARSE_H
#define SLUICE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

struct http_head {
	enum evhttp_cmd_type method;    /* EVHTTP_REQ_GET, ... */
	char target[4096];              /* request-target, as sent */
	int minor;                      /* HTTP/1.<minor> */
	struct evkeyvalq headers;       /* owned (http_head_fini) */
	uint64_t content_length;        /* 0 without a body */
	bool keep_alive;                /* the connection may carry another request */
	bool expect_continue;           /* "Expect: 100-continue" */
};

/*
 * Parse the head p[0..n), which ends with the blank line (CRLF CRLF; bare
 * LF line ends are accepted, as most servers do). On success fills h (its
 * headers list must be initialised with TAILQ_INIT or http_head_init)
 * and returns 0. Otherwise returns the status to answer, with the reason
 * in *why: 400 (malformed, a NUL or control character, duplicate or bad
 * Content-Length, obsolete line folding), 414 (target over 4 KiB), 501
 * (a Transfer-Encoding or a method we do not serve), 505 (not HTTP/1.x).
 * Either way h may hold headers: call http_head_fini.
 */
int http_head_parse(const char *p, size_t n, struct http_head *h, const char **why);
void http_head_init(struct http_head *h);
void http_head_fini(struct http_head *h);

/* Reason phrase of a status code ("Not Found"). */
const char *http_status_text(int code);

#endif
