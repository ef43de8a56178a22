/*
 * bk_regcomp: patterns from outside compile as regcomp compiles them,
 * unless they would make it build a huge tree or make regexec
 * exponential; the fuzzer's policy pattern that asked regcomp for more
 * than 2 GB is one of them.
 */
#include <regex.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bk_int.h"
#include "testlib.h"

/* AddressSanitizer reserves terabytes of address space up front: under it
 * an address-space cap would fail every allocation, so none is set. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static bool
compiles(const char *src)
{
	regex_t re;
	int rc = bk_regcomp(&re, src, REG_EXTENDED | REG_NOSUB);

	if (rc == 0)
		regfree(&re);
	return rc == 0;
}

static void
test_ordinary_patterns(void)
{
	static char names[20000];
	size_t n = 0;

	CHECK(compiles(".*"));
	CHECK(compiles("^amq\\.gen-.*"));
	CHECK(compiles("^(orders|invoices)\\.[a-z]+$"));
	CHECK(compiles("^[[:alnum:]_.-]{1,64}$"));
	CHECK(compiles("a{2,5}b?c*"));
	CHECK(compiles("^[a-z.]{1,255}$"));
	CHECK(compiles("(a{1,10}){20}"));
	CHECK(compiles("^(a|b)*a(a|b){1000}$"));
	CHECK(bk_regex_tame("x{"));             /* not an interval: the estimate passes it */
	CHECK(compiles("[]a]|[^]b]|[[:digit:]]+"));
	CHECK(compiles("^$"));
	/* an alternation of a thousand names */
	n += (size_t)snprintf(names, sizeof(names), "^(");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%squeue-%04d",
				      i ? "|" : "", i);
	snprintf(names + n, sizeof(names) - n, ")$");
	CHECK(compiles(names));
	CHECK(!compiles("(unbalanced"));        /* regcomp's own refusal */
}

static void
test_explosive_patterns(void)
{
	static char plus[200];

	memset(plus, '+', sizeof(plus) - 1);
	plus[0] = 'a';
	CHECK(!bk_regex_tame(plus));
	CHECK(!compiles(plus));
	CHECK(!compiles("((a{99}){99}){99}"));
	CHECK(!compiles("a{100000}"));
	CHECK(!compiles("(.{300}){300}"));       /* 90,000 nodes */
	/* long runs of optional nodes: quadratic in regcomp and regexec */
	CHECK(!compiles("(.?){1000}x"));
	CHECK(!compiles("a{1,3000}"));
	CHECK(!compiles("(a{1,300}){300}"));
	CHECK(!compiles("(a*){1000}"));
	CHECK(!compiles("a{2,1}"));
	CHECK(!compiles("(a*)*\\1"));           /* back-reference */
	CHECK(!compiles("^\xf0\xf0\xf0+++++++++++++++++++++++++++++++++++++++++++++\xf0q"));
	CHECK(bk_regex_tame("a++"));            /* a few are cheap */
	CHECK(bk_regex_tame("(a{10}){10}"));
}

/* With the address space capped well below what the explosive pattern
 * asks for, refusing it keeps the process alive (regcomp would fail or be
 * killed trying). */
static void
test_under_a_memory_cap(void)
{
	struct rlimit rl = { 512u << 20, 512u << 20 };
	static char plus[64];

	memset(plus, '+', sizeof(plus) - 1);
	plus[0] = 'a';
	if (!UNDER_ASAN)
		setrlimit(RLIMIT_AS, &rl);
	CHECK(!compiles(plus));
	CHECK(compiles("still fine"));
}

/* What a caller bounds repeated matching by: glibc's node count. */
static void
test_node_counts(void)
{
	CHECK(bk_regex_nodes("") == 1);
	CHECK(bk_regex_nodes("abc") == 3);
	CHECK(bk_regex_nodes("a+") == 2);
	CHECK(bk_regex_nodes("(a|b)") == 3);
	CHECK(bk_regex_nodes("x{200}") == 200);
	CHECK(bk_regex_nodes("(.?){255}b") == 511);
	CHECK(bk_regex_nodes("(ab") == 2);       /* a group left open counts */
	CHECK(bk_regex_nodes("a\\1") == 0);    /* not tame */
	CHECK(bk_regex_nodes("((a{99}){99}){99}") == 0);
}

int
main(void)
{
	RUN(test_ordinary_patterns);
	RUN(test_explosive_patterns);
	RUN(test_node_counts);
	RUN(test_under_a_memory_cap);
	TEST_DONE();
}
