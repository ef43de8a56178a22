/*
 * Headers exchange matching: x-match all/any/all-with-x/any-with-x, void
 * pattern values, integer widths, x-match validation.
 */
#include "bk_routing.h"
#include "testlib.h"

/* A small table builder for tests: entries as (name, value) pairs. */
struct tb {
	struct bk_table_builder b;
};

static void
put_str(struct tb *t, const char *name, const char *s)
{
	struct bk_value v = { .type = BK_V_LSTR };

	v.u.s = bk_str_c(s);
	bk_tb_put(&t->b, name, (uint32_t)strlen(name), &v);
}

static void
put_int(struct tb *t, const char *name, enum bk_vtype type, int64_t i)
{
	struct bk_value v = { .type = type };

	v.u.i = i;
	bk_tb_put(&t->b, name, (uint32_t)strlen(name), &v);
}

static void
put_void(struct tb *t, const char *name)
{
	struct bk_value v = { .type = BK_V_VOID };

	bk_tb_put(&t->b, name, (uint32_t)strlen(name), &v);
}

static struct bk_table
view(struct tb *t)
{
	return bk_tb_view(&t->b);
}

static uint8_t
mode_of(struct bk_table args)
{
	struct bk_err err;
	uint8_t mode = 0xff;

	CHECK_EQ_INT(bk_headers_parse_xmatch(args, &mode, &err), BK_OK);
	return mode;
}

static bool
hm(struct tb *args, struct tb *hdrs)
{
	struct bk_table a = view(args);

	return bk_headers_match(mode_of(a), a, view(hdrs));
}

static void
test_all(void)
{
	struct tb a, h;

	bk_tb_init(&a.b);
	bk_tb_init(&h.b);
	put_str(&a, "format", "pdf");
	put_str(&a, "type", "report");
	put_str(&h, "type", "report");
	CHECK(!hm(&a, &h));                  /* format missing */
	put_str(&h, "format", "pdf");
	CHECK(hm(&a, &h));
	bk_tb_fini(&h.b);
	bk_tb_init(&h.b);
	put_str(&h, "format", "zip");
	put_str(&h, "type", "report");
	CHECK(!hm(&a, &h));                  /* wrong value */
	bk_tb_fini(&a.b);
	bk_tb_init(&a.b);
	CHECK(hm(&a, &h));                   /* all with no pattern: everything */
	CHECK(bk_headers_match(BK_XM_ALL, view(&a), (struct bk_table){ NULL, 0 }));
	bk_tb_fini(&a.b);
	bk_tb_fini(&h.b);
}

static void
test_any(void)
{
	struct tb a, h;

	bk_tb_init(&a.b);
	bk_tb_init(&h.b);
	put_str(&a, "x-match", "any");
	CHECK(!hm(&a, &h));                  /* any with no pattern: nothing */
	put_str(&a, "format", "pdf");
	put_str(&a, "type", "report");
	put_str(&h, "type", "log");
	CHECK(!hm(&a, &h));
	put_str(&h, "format", "pdf");
	CHECK(hm(&a, &h));
	CHECK(!bk_headers_match(BK_XM_ANY, view(&a), (struct bk_table){ NULL, 0 }));
	bk_tb_fini(&a.b);
	bk_tb_fini(&h.b);
}

static void
test_with_x(void)
{
	struct tb a, h;

	bk_tb_init(&a.b);
	bk_tb_init(&h.b);
	put_str(&a, "x-match", "all");
	put_str(&a, "x-tenant", "t1");
	put_str(&a, "k", "v");
	put_str(&h, "k", "v");
	CHECK(hm(&a, &h));                   /* x- pattern keys ignored */
	bk_tb_fini(&a.b);
	bk_tb_init(&a.b);
	put_str(&a, "x-match", "all-with-x");
	put_str(&a, "x-tenant", "t1");
	put_str(&a, "k", "v");
	CHECK(!hm(&a, &h));                  /* now x-tenant counts */
	put_str(&h, "x-tenant", "t1");
	CHECK(hm(&a, &h));
	bk_tb_fini(&a.b);
	bk_tb_init(&a.b);
	put_str(&a, "x-match", "any-with-x");
	put_str(&a, "x-tenant", "t1");
	bk_tb_fini(&h.b);
	bk_tb_init(&h.b);
	put_str(&h, "x-tenant", "t1");
	CHECK(hm(&a, &h));
	bk_tb_fini(&a.b);
	bk_tb_init(&a.b);
	put_str(&a, "x-match", "any");
	put_str(&a, "x-tenant", "t1");
	CHECK(!hm(&a, &h));
	bk_tb_fini(&a.b);
	bk_tb_fini(&h.b);
}

static void
test_void_and_types(void)
{
	struct tb a, h;

	bk_tb_init(&a.b);
	bk_tb_init(&h.b);
	put_void(&a, "flag");
	put_int(&h, "flag", BK_V_I32, 5);
	CHECK(hm(&a, &h));                   /* void: presence only */
	bk_tb_fini(&h.b);
	bk_tb_init(&h.b);
	put_int(&h, "other", BK_V_I32, 5);
	CHECK(!hm(&a, &h));
	bk_tb_fini(&a.b);
	bk_tb_init(&a.b);
	put_int(&a, "n", BK_V_I8, 42);
	bk_tb_fini(&h.b);
	bk_tb_init(&h.b);
	put_int(&h, "n", BK_V_I64, 42);
	CHECK(hm(&a, &h));                   /* integer widths compare by value */
	bk_tb_fini(&h.b);
	bk_tb_init(&h.b);
	put_str(&h, "n", "42");
	CHECK(!hm(&a, &h));                  /* string is another type class */
	bk_tb_fini(&a.b);
	bk_tb_fini(&h.b);
}

static void
test_xmatch_validation(void)
{
	struct tb a;
	struct bk_err err;
	uint8_t mode;

	bk_tb_init(&a.b);
	put_str(&a, "x-match", "some");
	CHECK_EQ_INT(bk_headers_parse_xmatch(view(&a), &mode, &err),
		     BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "Invalid x-match field value <<\"some\">>; expected "
		  "all, any, all-with-x, or any-with-x");
	bk_tb_fini(&a.b);
	bk_tb_init(&a.b);
	put_int(&a, "x-match", BK_V_I32, 1);
	CHECK_EQ_INT(bk_headers_parse_xmatch(view(&a), &mode, &err),
		     BK_PRECONDITION_FAILED);
	bk_tb_fini(&a.b);
	CHECK_EQ_INT(mode_of((struct bk_table){ NULL, 0 }), BK_XM_ALL);
}

int
main(void)
{
	RUN(test_all);
	RUN(test_any);
	RUN(test_with_x);
	RUN(test_void_and_types);
	RUN(test_xmatch_validation);
	TEST_DONE();
}
