/*
 * Counting allocator. Each block carries a 16-byte prefix with its size so
 * bk_free can subtract it; 16 keeps the payload aligned for any type.
 * The counter is a plain size_t: only the main thread allocates through
 * these functions (the journal thread uses its own buffers).
 */
#include "bk_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX 16

static size_t used;

static void *
oom(size_t n)
{
	fprintf(stderr, "sluiced: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
bk_malloc(size_t n)
{
	unsigned char *p = malloc(n + PREFIX);

	if (p == NULL)
		return oom(n);
	*(size_t *)p = n;
	used += n;
	return p + PREFIX;
}

void *
bk_calloc(size_t nmemb, size_t size)
{
	unsigned char *p;
	size_t n;

	if (size != 0 && nmemb > ((size_t)-1 - PREFIX) / size)
		return oom((size_t)-1);
	n = nmemb * size;
	p = calloc(1, n + PREFIX);
	if (p == NULL)
		return oom(n);
	*(size_t *)p = n;
	used += n;
	return p + PREFIX;
}

void *
bk_realloc(void *ptr, size_t n)
{
	unsigned char *p;
	size_t old;

	if (ptr == NULL)
		return bk_malloc(n);
	p = (unsigned char *)ptr - PREFIX;
	old = *(size_t *)p;
	p = realloc(p, n + PREFIX);
	if (p == NULL)
		return oom(n);
	*(size_t *)p = n;
	used = used - old + n;
	return p + PREFIX;
}

void
bk_free(void *ptr)
{
	unsigned char *p;

	if (ptr == NULL)
		return;
	p = (unsigned char *)ptr - PREFIX;
	used -= *(size_t *)p;
	free(p);
}

char *
bk_strndup(const char *s, size_t n)
{
	char *d = bk_malloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *
bk_strdup(const char *s)
{
	return bk_strndup(s, strlen(s));
}

void *
bk_memdup(const void *p, size_t n)
{
	void *d = bk_malloc(n ? n : 1);

	if (n)
		memcpy(d, p, n);
	return d;
}

size_t
bk_alloc_used(void)
{
	return used;
}
