/*
 * UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing
 * past U+10FFFF. Names a client chose (AMQP short strings, table values)
 * are bytes; what shows them to others (the log, the HTTP API's JSON,
 * the Prometheus text format) must be UTF-8.
 */
#ifndef BK_UTF8_H
#define BK_UTF8_H

#include <stddef.h>

/* Length of the well-formed sequence at p (at most n bytes, n > 0), 0 if
 * the byte at p does not start one. */
size_t bk_utf8_len(const unsigned char *p, size_t n);

/*
 * s[0..n) with each byte that is not part of a well-formed sequence
 * replaced by U+FFFD (what a browser's decoder shows), NUL-terminated,
 * its length in *outlen; NULL when s is well-formed already (the usual
 * case: no copy). bk_free() the result.
 */
char *bk_utf8_repair(const char *s, size_t n, size_t *outlen);

#endif
