/*
 * bk_slab.h: size classes for small objects whose size the caller knows
 * again when freeing them (bk_slab.c has the design). Core thread only.
 */
#ifndef SLUICE_BK_SLAB_H
#define SLUICE_BK_SLAB_H

#include <stdbool.h>
#include <stddef.h>

/* Objects of at most this many bytes; bigger ones are the caller's to
 * take from bk_malloc. */
#define BK_SLAB_MAX 256

/* n rounded up to its class (a multiple of 8, at least 8). */
size_t bk_slab_round(size_t n);
/* An 8-aligned object of n (1..BK_SLAB_MAX) bytes, uninitialised; aborts
 * when memory runs out, as bk_malloc does. */
void *bk_slab_alloc(size_t n);
/* Give back o, allocated with the same n (or one of the same class). */
void bk_slab_free(void *o, size_t n);
/* Pages holding objects now (64 KiB each), for tests. */
size_t bk_slab_pages(void);

#endif
