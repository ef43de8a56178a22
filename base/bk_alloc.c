/*
 * Counting allocator. A block counts the bytes malloc really gave it
 * (malloc_usable_size: the request rounded up to malloc's granule), read
 * again when it is freed, so blocks carry no size prefix of their own:
 * a prefix would cost 16 bytes on every message, queue entry, libevent
 * and OpenSSL object.
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

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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
	void *p = malloc(n);

	if (p == NULL)
		return oom(n);
	count((long long)malloc_usable_size(p));
	return p;
}

void *
bk_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > (size_t)-1 / size)
		return oom((size_t)-1);
	p = calloc(1, nmemb * size);
	if (p == NULL)
		return oom(nmemb * size);
	count((long long)malloc_usable_size(p));
	return p;
}

void *
bk_realloc(void *ptr, size_t n)
{
	long long old;
	void *p;

	if (ptr == NULL)
		return bk_malloc(n);
	old = (long long)malloc_usable_size(ptr);
	p = realloc(ptr, n);
	if (p == NULL) {
		if (n == 0) {                   /* realloc(p, 0) may free p */
			count(-old);
			return bk_malloc(0);
		}
		return oom(n);
	}
	count((long long)malloc_usable_size(p) - old);
	return p;
}

void
bk_free(void *ptr)
{
	if (ptr == NULL)
		return;
	count(-(long long)malloc_usable_size(ptr));
	free(ptr);
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

void
bk_alloc_count(long long n)
{
	count(n);
}

size_t
bk_alloc_used(void)
{
	long long sum = 0;

	for (struct counter *c = atomic_load(&counters); c; c = c->next)
		sum += atomic_load_explicit(&c->used, memory_order_relaxed);
	return sum > 0 ? (size_t)sum : 0;
}
