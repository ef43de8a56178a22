/*
 * The size classes message records live in: objects of every class are
 * 8-aligned and keep their bytes while others come and go, and a page
 * whose objects all went is given back (except each class's last one).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bk_slab.h"
#include "testlib.h"

/* Objects of every class are 8-aligned and disjoint; a page whose
 * objects all went is given back, except each class's last one. */
static void
test_slab(void)
{
	enum { N = 20000 };
	size_t base = bk_slab_pages();
	uint8_t **o = calloc(N, sizeof(*o));
	size_t *len = calloc(N, sizeof(*len));

	srand(7);
	for (int i = 0; i < N; i++) {
		len[i] = 1 + (size_t)rand() % BK_SLAB_MAX;
		o[i] = bk_slab_alloc(len[i]);
		CHECK(((uintptr_t)o[i] & 7u) == 0);
		memset(o[i], (int)(i & 0xff), len[i]);
	}
	CHECK(bk_slab_pages() > base);
	/* free every other one, then check the rest kept their bytes */
	for (int i = 0; i < N; i += 2)
		bk_slab_free(o[i], len[i]);
	for (int i = 1; i < N; i += 2)
		for (size_t j = 0; j < len[i]; j++)
			if (o[i][j] != (uint8_t)(i & 0xff)) {
				CHECK(!"object overwritten");
				j = len[i];
				i = N;
			}
	for (int i = 0; i < N; i += 2)
		o[i] = bk_slab_alloc(len[i]);
	for (int i = 0; i < N; i++)
		bk_slab_free(o[i], len[i]);
	CHECK(bk_slab_pages() <= base + BK_SLAB_MAX / 8);
	free(o);
	free(len);
}

/* One object at a time does not map and unmap a page each time. */
static void
test_one_at_a_time(void)
{
	size_t base = bk_slab_pages();

	for (int i = 0; i < 100000; i++)
		bk_slab_free(bk_slab_alloc(48), 48);
	CHECK(bk_slab_pages() <= base + 1);
}

int
main(void)
{
	RUN(test_slab);
	RUN(test_one_at_a_time);
	TEST_DONE();
}
