/*
 * Assertions that stay on in release builds (Redis serverAssert): they guard
 * our own invariants, never peer input. A failed one logs file:line and the
 * expression, then aborts so a core dump shows the state.
 */
#ifndef BK_ASSERT_H
#define BK_ASSERT_H

void bk_assert_fail(const char *expr, const char *file, int line)
	__attribute__((noreturn));

#define BK_ASSERT(x) \
	((x) ? (void)0 : bk_assert_fail(#x, __FILE__, __LINE__))

#endif
