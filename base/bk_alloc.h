/*
 * Allocation wrappers used by every module.
 *
 * They count live bytes for the broker-wide memory watermark (flow control
 * blocks publishers above it) and abort on out-of-memory, as Redis does: a
 * broker that keeps running after a failed malloc corrupts state in ways a
 * client can never recover from, while a restart keeps durable data.
 * Callers therefore never test the result for NULL.
 */
#ifndef BK_ALLOC_H
#define BK_ALLOC_H

#include <stddef.h>

void *bk_malloc(size_t n);
void *bk_calloc(size_t nmemb, size_t size);
void *bk_realloc(void *p, size_t n);
char *bk_strdup(const char *s);
char *bk_strndup(const char *s, size_t n);
void *bk_memdup(const void *p, size_t n);
void  bk_free(void *p);            /* accepts NULL */

/* Bytes currently allocated through these functions. */
size_t bk_alloc_used(void);
/* Count n bytes (negative: give back) taken from elsewhere than malloc
 * (pages a size-class allocator maps itself), so bk_alloc_used sees them. */
void bk_alloc_count(long long n);

/* Free and clear the pointer so nothing reachable dangles. */
#define BK_FREE(p) do { bk_free(p); (p) = NULL; } while (0)

#endif
