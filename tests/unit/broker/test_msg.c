/*
 * Message records: every combination of optional parts reads back
 * through the accessors, own properties survive a body resize and a
 * clone, and a plain message's record is its fixed part, key and body.
 */
#include <stdlib.h>
#include <string.h>

#include "bk_int.h"
#include "testlib.h"

static bool
str_is(struct bk_str s, const char *c)
{
	return s.len == strlen(c) && (s.len == 0 || memcmp(s.p, c, s.len) == 0);
}

static void
test_plain_record(void)
{
	struct bk_msg *m = bk_msg_new(BK_STR_LIT(""), BK_STR_LIT("mem"), NULL, 16);

	memset(bk_msg_body(m), 'x', 16);
	CHECK(str_is(bk_msg_exchange(m), ""));
	CHECK(str_is(bk_msg_rk(m), "mem"));
	CHECK(bk_msg_props(m)->present == 0);
	CHECK(bk_msg_expires(m) == 0 && bk_msg_origin(m) == NULL);
	CHECK(bk_msg_body(m) == (uint8_t *)m + 28 + 3);
	CHECK_EQ_INT((int)bk_msg_record_size(m), 28 + 3 + 16);
	CHECK(m->refs == 1 && !(m->flags & BK_MSG_PERSISTENT));
	bk_msg_unref(m);
}

/* Long and short keys, named and default exchanges, expiry and origin,
 * shared and own properties: each part reads back as it went in. */
static void
test_every_combination(void)
{
	static const size_t rk_lens[] = { 0, 1, 254, 255, 256, 70000 };
	char *key = malloc(70000);

	for (size_t i = 0; i < 70000; i++)
		key[i] = (char)('a' + i % 26);
	uint8_t *big = malloc(70000);

	memset(big, 'h', 70000);
	for (unsigned combo = 0; combo < 64; combo++)
		for (size_t k = 0; k < sizeof(rk_lens) / sizeof(rk_lens[0]); k++) {
			struct bk_props p = { 0 };
			struct bk_str ex = (combo & 1) ? BK_STR_LIT("amq.topic") : BK_STR_LIT("");
			struct bk_str rk = { key, (uint32_t)rk_lens[k] };
			unsigned want = (combo & 2) ? BK_ML_ORIGIN : 0;
			const struct bk_props *got;
			struct bk_msg *m, *r, *c;

			if (combo & 4) {
				p.present = BK_P_DELIVERY_MODE | BK_P_REPLY_TO | BK_P_HEADERS;
				p.delivery_mode = 2;
				p.reply_to = BK_STR_LIT("amq.rabbitmq.reply-to");
				p.headers = (struct bk_table){ (const uint8_t *)"\1aS\0\0\0\1z", 8 };
			} else if (combo & 8) {
				p.present = BK_P_DELIVERY_MODE;
				p.delivery_mode = 2;
			}
			if (combo & 32) {       /* the key lies beyond 64 KiB */
				p.present |= BK_P_HEADERS;
				p.headers = (struct bk_table){ big, 70000 };
			}
			if (combo & 16) {
				p.present |= BK_P_EXPIRATION;
				p.expiration = BK_STR_LIT("60000");
			}
			m = bk_msg_new_x(ex, rk, &p, 5, want);
			memcpy(bk_msg_body(m), "hello", 5);
			bk_msg_set_origin(m, (combo & 2) ? (const void *)(uintptr_t)0x1234 : NULL);
			m->origin_flags = 0x105;
			/* grow then shrink: own properties' strings move with it */
			r = bk_msg_body_resize(m, 4000);
			memset(bk_msg_body(r) + 5, 'y', 3995);
			m = bk_msg_body_resize(r, 7);
			c = bk_msg_dup(m, 7);
			memcpy(bk_msg_body(c), bk_msg_body(m), 7);
			for (struct bk_msg *x = m; x != NULL; x = x == m ? c : NULL) {
				got = bk_msg_props(x);
				CHECK(bk_str_eq(bk_msg_exchange(x), ex));
				CHECK(bk_str_eq(bk_msg_rk(x), rk));
				CHECK(bk_msg_rk_len(x) == rk.len);
				CHECK(memcmp(bk_msg_body(x), "helloyy", 7) == 0 && x->body_len == 7);
				CHECK(got->present == p.present);
				CHECK(!!(x->flags & BK_MSG_PERSISTENT) == !!(combo & 12));
				if (combo & 32)
					CHECK(got->headers.len == 70000 &&
					      memcmp(got->headers.p, big, 70000) == 0 &&
					      (size_t)(bk_msg_body(x) - (uint8_t *)x) > 0xffff);
				if ((combo & 36) == 4) {
					CHECK(str_is(got->reply_to, "amq.rabbitmq.reply-to"));
					CHECK(got->headers.len == 8 &&
					      memcmp(got->headers.p, "\1aS\0\0\0\1z", 8) == 0);
					CHECK((const uint8_t *)got->reply_to.p > (const uint8_t *)x &&
					      (const uint8_t *)got->reply_to.p < bk_msg_body(x));
					CHECK(((uintptr_t)got & 7u) == 0);
				}
				CHECK((bk_msg_expires(x) != 0) == !!(combo & 16));
				if (combo & 16)
					CHECK(bk_msg_expires(x) == (int64_t)(x->published_ms + 60000));
				CHECK(bk_msg_origin(x) ==
				      ((combo & 2) ? (const void *)(uintptr_t)0x1234 : NULL));
				CHECK(x->origin_flags == 0x105);
				CHECK(bk_msg_record_size(x) ==
				      (size_t)(bk_msg_body(x) - (uint8_t *)x) + 7);
			}
			CHECK(c->id == m->id && c->published_ms == m->published_ms);
			CHECK(bk_msg_origin(c) == bk_msg_origin(m));
			bk_msg_unref(c);
			bk_msg_unref(m);
		}
	free(key);
	free(big);
}

/* A creator that asked for room sets expiry and origin later. */
static void
test_setters(void)
{
	struct bk_msg *m = bk_msg_new_x(BK_STR_LIT("x"), BK_STR_LIT("k"), NULL, 3,
					BK_ML_EXPIRES | BK_ML_ORIGIN);

	CHECK(bk_msg_expires(m) == 0 && bk_msg_origin(m) == NULL);
	bk_msg_set_expires(m, 4102444800000LL);
	bk_msg_set_origin(m, (const void *)(uintptr_t)42);
	CHECK(bk_msg_expires(m) == 4102444800000LL);
	CHECK(bk_msg_origin(m) == (const void *)(uintptr_t)42);
	CHECK(str_is(bk_msg_exchange(m), "x") && str_is(bk_msg_rk(m), "k"));
	bk_msg_set_expires(m, 0);
	CHECK(bk_msg_expires(m) == 0);
	bk_msg_unref(m);
}

int
main(void)
{
	RUN(test_plain_record);
	RUN(test_every_combination);
	RUN(test_setters);
	TEST_DONE();
}
