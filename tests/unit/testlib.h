/*
 * Minimal unit-test support: CHECK records a failure and goes on, so one
 * run reports every broken expectation; TEST_MAIN's return value is the
 * number of failures (meson counts a non-zero exit as a failed test).
 */
#ifndef SLUICE_TESTLIB_H
#define SLUICE_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int tl_failures;
static int tl_checks;

#define CHECK(cond) do { \
	tl_checks++; \
	if (!(cond)) { \
		tl_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long tl_a = (long long)(a), tl_b = (long long)(b); \
	tl_checks++; \
	if (tl_a != tl_b) { \
		tl_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
			__FILE__, __LINE__, #a, #b, tl_a, tl_b); \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *tl_a = (a), *tl_b = (b); \
	tl_checks++; \
	if (tl_a == NULL || tl_b == NULL || strcmp(tl_a, tl_b) != 0) { \
		tl_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
			__FILE__, __LINE__, #a, #b, tl_a ? tl_a : "(null)", tl_b ? tl_b : "(null)"); \
	} \
} while (0)

#define RUN(fn) do { fprintf(stderr, "-- %s\n", #fn); fn(); } while (0)

#define TEST_DONE() do { \
	fprintf(stderr, "%d checks, %d failed\n", tl_checks, tl_failures); \
	return tl_failures ? 1 : 0; \
} while (0)

#endif
