/*
 * bk_slab.c: size classes for small objects of a known size (message
 * records), without malloc's per-block header and 16-byte rounding: a
 * 48-byte record costs 48 bytes, where malloc takes 64.
 *
 * Memory comes in 64 KiB pages aligned to their size (mmap), so the page
 * of any object is its address rounded down. Each page serves one class
 * (sizes 8, 16, ... BK_SLAB_MAX) and starts with its header:
 *
 *   page (64 KiB, aligned)
 *   +--------+-------+-------+-----+-------+---------------------------+
 *   | header | obj 0 | obj 1 | ... | obj k |   never used yet (bump)   |
 *   +--------+-------+-------+-----+-------+---------------------------+
 *              freed objects form a list through their first 8 bytes
 *
 * A class keeps a list of its pages that have room; allocating takes a
 * freed object of the first such page, else the next never-used one. A
 * page whose last object goes gives its memory back to the system
 * (unless it is its class's only page with room), so a drained queue
 * does not keep its peak. The size of an
 * object is the caller's to remember (bk_msg derives it from the record).
 * Live objects count in bk_alloc_used as their class's size, as malloc
 * blocks count their usable size.
 *
 * Not thread-safe: message records are allocated and freed on the core
 * thread only (net/net_io.c hands released references back to it).
 */
#include "bk_slab.h"

#include "bk_alloc.h"
#include "bk_assert.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE ((size_t)64 * 1024)
#define ARENA (32 * PAGE)
#define NCLASS (BK_SLAB_MAX / 8)

struct page {
	struct page *next, *prev;       /* in its class's list of pages with room,
					   or (next only) in the list of free pages */
	void *free;                     /* freed objects */
	uint32_t used;                  /* live objects */
	uint32_t bump;                  /* offset of the first never-used byte */
	uint32_t size;                  /* object size */
	bool listed;                    /* in its class's list */
};

#define FIRST (((sizeof(struct page) + 15u) / 16u) * 16u)

static struct page *avail[NCLASS];      /* per class: pages with room */
static struct page *free_pages;         /* mapped, holding no memory */
static size_t pages;                    /* in use */

/*
 * Pages come from 2 MiB arenas that stay mapped (so the number of
 * mappings stays small however many pages come and go); a page given
 * back returns its memory to the system (MADV_DONTNEED) and waits in
 * free_pages.
 */
static struct page *
page_map(void)
{
	struct page *pg;
	uint8_t *p, *a;
	size_t head, i;

	if (free_pages == NULL) {
		p = mmap(NULL, ARENA + PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		a = (uint8_t *)(((uintptr_t)p + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
		head = (size_t)(a - p);
		if (head > 0)
			munmap(p, head);
		munmap(a + ARENA, PAGE - head);
		for (i = ARENA / PAGE; i-- > 0;) {
			pg = (struct page *)(void *)(a + i * PAGE);
			pg->next = free_pages;
			free_pages = pg;
		}
	}
	pg = free_pages;
	free_pages = pg->next;
	pages++;
	return pg;
}

static void
page_unmap(struct page *pg)
{
	madvise(pg, PAGE, MADV_DONTNEED);
	pg->next = free_pages;
	free_pages = pg;
	pages--;
}

static void
unlist(struct page *pg, unsigned c)
{
	if (pg->prev != NULL)
		pg->prev->next = pg->next;
	else
		avail[c] = pg->next;
	if (pg->next != NULL)
		pg->next->prev = pg->prev;
	pg->next = pg->prev = NULL;
	pg->listed = false;
}

static void
list(struct page *pg, unsigned c)
{
	pg->prev = NULL;
	pg->next = avail[c];
	if (avail[c] != NULL)
		avail[c]->prev = pg;
	avail[c] = pg;
	pg->listed = true;
}

static bool
full(const struct page *pg)
{
	return pg->free == NULL && pg->bump + pg->size > PAGE;
}

size_t
bk_slab_round(size_t n)
{
	return n < 8 ? 8 : (n + 7u) & ~(size_t)7u;
}

void *
bk_slab_alloc(size_t n)
{
	unsigned c;
	struct page *pg;
	void *o;

	n = bk_slab_round(n);
	BK_ASSERT(n <= BK_SLAB_MAX);
	c = (unsigned)(n / 8u) - 1u;
	pg = avail[c];
	if (pg == NULL) {
		pg = page_map();
		*pg = (struct page){ .bump = FIRST, .size = (uint32_t)n };
		list(pg, c);
	}
	if (pg->free != NULL) {
		o = pg->free;
		pg->free = *(void **)o;
	} else {
		o = (uint8_t *)pg + pg->bump;
		pg->bump += pg->size;
	}
	pg->used++;
	bk_alloc_count((long long)n);
	if (full(pg))
		unlist(pg, c);
	return o;
}

void
bk_slab_free(void *o, size_t n)
{
	struct page *pg = (struct page *)(void *)((uintptr_t)o & ~(uintptr_t)(PAGE - 1));
	unsigned c;

	n = bk_slab_round(n);
	c = (unsigned)(n / 8u) - 1u;
	BK_ASSERT(pg->size == n && pg->used > 0);
	*(void **)o = pg->free;
	pg->free = o;
	bk_alloc_count(-(long long)n);
	if (!pg->listed)
		list(pg, c);
	/* an empty page goes unless it is its class's last one with room:
	 * one message at a time must not map and unmap a page each */
	if (--pg->used == 0 && (pg->prev != NULL || pg->next != NULL)) {
		unlist(pg, c);
		page_unmap(pg);
	}
}

size_t
bk_slab_pages(void)
{
	return pages;
}
