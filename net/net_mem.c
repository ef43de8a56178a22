/*
 * net_mem.c: libevent and OpenSSL allocate through bk_malloc, so the
 * bytes waiting in every connection's input and output buffers and each
 * TLS connection's state count toward the broker's memory alarm like the
 * core's own objects do.
 */
#include "net.h"

#include <openssl/crypto.h>
#include <event2/event.h>

#include "bk_alloc.h"

static void *
ssl_malloc(size_t n, const char *file, int line)
{
	return bk_malloc(n);
}

static void *
ssl_realloc(void *p, size_t n, const char *file, int line)
{
	return bk_realloc(p, n);
}

static void
ssl_free(void *p, const char *file, int line)
{
	bk_free(p);
}

void
net_global_init(void)
{
	event_set_mem_functions(bk_malloc, bk_realloc, bk_free);
	CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free);
}
