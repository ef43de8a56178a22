/*
 * Counting allocator. Each block carries a 16-byte prefix with its size so
 * bk_free can subtract it; 16 keeps the payload aligned for any type.
 *
 * Every thread that allocates (the core, I/O threads: libevent and
 * OpenSSL allocate through here too) counts into a counter of its own,
 * written by that thread only, so counting is a plain add and no lock or
 * atomic read-modify-write is on the hot path. A block freed by another
 * thread than the one that allocated it subtracts from the freeing
 * thread's counter: single counters go negative, their sum stays right.
 * bk_alloc_used() sums them. Counters are never freed (threads are few
 * and live as long as the broker).
 */
#include "bk_alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX 16

struct counter {
	_Atomic long long used;         /* written by its thread only */
	struct counter *next;           /* in counters, immutable once linked */
};

static _Atomic(struct counter *) counters;
static _Thread_local struct counter *mine;

static struct counter *
register_thread(void)
{
	struct counter *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	c->next = atomic_load(&counters);
	while (!atomic_compare_exchange_weak(&counters, &c->next, c))
		;
	mine = c;
	return c;
}

static inline void
count(long long n)
{
	struct counter *c = mine ? mine : register_thread();

	atomic_store_explicit(&c->used,
			      atomic_load_explicit(&c->used, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

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
	count((long long)n);
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
	count((long long)n);
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
	count((long long)n - (long long)old);
	return p + PREFIX;
}

void
bk_free(void *ptr)
{
	unsigned char *p;

	if (ptr == NULL)
		return;
	p = (unsigned char *)ptr - PREFIX;
	count(-(long long)*(size_t *)p);
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
	long long sum = 0;

	for (struct counter *c = atomic_load(&counters); c; c = c->next)
		sum += atomic_load_explicit(&c->used, memory_order_relaxed);
	return sum > 0 ? (size_t)sum : 0;
}
