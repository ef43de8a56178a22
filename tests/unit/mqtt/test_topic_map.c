/*
 * test_topic_map.c: MQTT topics and filters <-> routing and binding keys
 * (mqtt_topic.c): the swap both ways, wildcards, growth of the scratch
 * buffer, and keys no MQTT string can hold (refused, never truncated or
 * written past a buffer).
 */
#include "testlib.h"
#include "mqtt_int.h"

#define S(lit) BK_STR_LIT(lit)

static bool
eq(struct bk_str a, const char *b)
{
	return a.len == strlen(b) && memcmp(a.p, b, a.len) == 0;
}

static void
test_swap(void)
{
	struct mqtt_buf b = { NULL };
	struct bk_str out;

	CHECK(eq(mqtt_topic_to_key(S("a/b.c/d"), &b), "a.b/c.d"));
	CHECK(eq(mqtt_filter_to_key(S("a/+/#"), &b), "a.*.#"));
	CHECK_EQ_INT(mqtt_key_to_topic(S("a.b/c"), &b, &out), 0);
	CHECK(eq(out, "a/b.c"));
	CHECK_EQ_INT(mqtt_key_to_filter(S("a.*.#"), &b, &out), 0);
	CHECK(eq(out, "a/+/#"));
	CHECK(b.p[out.len] == '\0');
	mqtt_buf_fini(&b);
	CHECK(b.p == NULL && mqtt_buf_cap(&b) == 0);
}

static void
test_long_keys(void)
{
	struct mqtt_buf b = { NULL };
	size_t n = 70000;
	char *key = malloc(n);
	struct bk_str out = { "untouched", 9 };

	memset(key, 'x', n);
	/* 65535 octets: the longest topic there is, mapped whole */
	CHECK_EQ_INT(mqtt_key_to_topic((struct bk_str){ key, 65535 }, &b, &out), 0);
	CHECK_EQ_INT(out.len, 65535);
	CHECK(mqtt_buf_cap(&b) >= 65536);
	/* one more: no topic, nothing written */
	out = (struct bk_str){ "untouched", 9 };
	CHECK_EQ_INT(mqtt_key_to_topic((struct bk_str){ key, 65536 }, &b, &out), -EMSGSIZE);
	CHECK_EQ_INT(mqtt_key_to_topic((struct bk_str){ key, (uint32_t)n }, &b, &out),
		     -EMSGSIZE);
	CHECK_EQ_INT(mqtt_key_to_filter((struct bk_str){ key, (uint32_t)n }, &b, &out),
		     -EMSGSIZE);
	CHECK(eq(out, "untouched"));
	/* the other way the buffer grows to what is asked */
	out = mqtt_topic_to_key((struct bk_str){ key, (uint32_t)n }, &b);
	CHECK_EQ_INT(out.len, (int)n);
	CHECK(mqtt_buf_cap(&b) > n);
	mqtt_buf_fini(&b);
	free(key);
}

int
main(void)
{
	RUN(test_swap);
	RUN(test_long_keys);
	TEST_DONE();
}
