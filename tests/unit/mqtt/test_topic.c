/*
 * test_topic.c: UTF-8 validation [MQTT-1.5.4], topic names, topic filters
 * [MQTT-4.7] and shared subscriptions [MQTT-4.8.2].
 */
#include "mqtt_test.h"

static struct bk_str
cstr(const char *s)
{
	return (struct bk_str){ s, (uint32_t)strlen(s) };
}

#define U(lit) mqtt_utf8_check((const uint8_t *)(lit), sizeof(lit) - 1)

static void
test_utf8(void)
{
	CHECK_EQ_INT(U(""), 0);
	CHECK_EQ_INT(U("plain/ascii"), 0);
	CHECK_EQ_INT(U("\xC3\xA9t\xC3\xA9"), 0);                /* été */
	CHECK_EQ_INT(U("\xE2\x82\xAC"), 0);                     /* U+20AC */
	CHECK_EQ_INT(U("\xF0\x9F\x98\x80"), 0);                 /* U+1F600 */
	CHECK_EQ_INT(U("\xEF\xBB\xBF" "a"), 0);                 /* BOM kept [MQTT-1.5.4-3] */
	CHECK_EQ_INT(U("\xF4\x8F\xBF\xBD"), 0);                 /* U+10FFFD */
	/* noted, not refused */
	CHECK_EQ_INT(U("a\x01"), 1);
	CHECK_EQ_INT(U("\x1F"), 1);
	CHECK_EQ_INT(U("\x7F"), 1);
	CHECK_EQ_INT(U("\xC2\x80"), 1);                         /* U+0080 */
	CHECK_EQ_INT(U("\xC2\x9F"), 1);                         /* U+009F */
	CHECK_EQ_INT(U("\xC2\xA0"), 0);                         /* U+00A0 */
	CHECK_EQ_INT(U("\xEF\xBF\xBF"), 1);                     /* U+FFFF */
	/* refused */
	CHECK_EQ_INT(U("a\x00" "b"), -EILSEQ);                  /* [MQTT-1.5.4-2] */
	CHECK_EQ_INT(U("\xC0\x80"), -EILSEQ);                   /* overlong NUL */
	CHECK_EQ_INT(U("\xC1\xBF"), -EILSEQ);
	CHECK_EQ_INT(U("\xE0\x80\xAF"), -EILSEQ);               /* overlong '/' */
	CHECK_EQ_INT(U("\xF0\x80\x80\xAF"), -EILSEQ);
	CHECK_EQ_INT(U("\xED\xA0\x80"), -EILSEQ);               /* U+D800 [MQTT-1.5.4-1] */
	CHECK_EQ_INT(U("\xED\xBF\xBF"), -EILSEQ);               /* U+DFFF */
	CHECK_EQ_INT(U("\xED\x9F\xBF"), 0);                     /* U+D7FF */
	CHECK_EQ_INT(U("\xF4\x90\x80\x80"), -EILSEQ);           /* U+110000 */
	CHECK_EQ_INT(U("\xF5\x80\x80\x80"), -EILSEQ);
	CHECK_EQ_INT(U("\x80"), -EILSEQ);                       /* lone continuation */
	CHECK_EQ_INT(U("\xC3"), -EILSEQ);                       /* truncated */
	CHECK_EQ_INT(U("\xE2\x82"), -EILSEQ);
	CHECK_EQ_INT(U("\xE2\x28\xA1"), -EILSEQ);
	CHECK_EQ_INT(U("\xFF"), -EILSEQ);
}

static void
test_topic_name(void)
{
	CHECK_EQ_INT(mqtt_topic_name_check(S("a/b/c")), 0);
	CHECK_EQ_INT(mqtt_topic_name_check(S("/")), 0);
	CHECK_EQ_INT(mqtt_topic_name_check(S("$SYS/x")), 0);
	CHECK_EQ_INT(mqtt_topic_name_check(S("")), -EINVAL);    /* [MQTT-4.7.3-1] */
	CHECK_EQ_INT(mqtt_topic_name_check(S("a/+")), -EINVAL); /* [MQTT-4.7.0-1] */
	CHECK_EQ_INT(mqtt_topic_name_check(S("#")), -EINVAL);
	CHECK_EQ_INT(mqtt_topic_name_check(S("a#b")), -EINVAL);
}

/* At most MQTT_TOPIC_LEVELS_MAX levels, as Mosquitto (200 '/'). */
static void
test_topic_levels(void)
{
	char s[2 * MQTT_TOPIC_LEVELS_MAX + 4];
	struct bk_str t = { s, 0 };

	memset(s, '/', sizeof(s));
	t.len = MQTT_TOPIC_LEVELS_MAX - 1;              /* 200 '/' */
	CHECK_EQ_INT(mqtt_topic_name_check(t), 0);
	CHECK_EQ_INT(mqtt_topic_filter_check(t), 0);
	t.len++;
	CHECK_EQ_INT(mqtt_topic_name_check(t), -EINVAL);
	CHECK_EQ_INT(mqtt_topic_filter_check(t), -EINVAL);
	for (size_t i = 0; i < sizeof(s); i += 2)
		s[i] = 'a';                             /* a/a/a/... */
	t.len = 2 * MQTT_TOPIC_LEVELS_MAX - 1;          /* 201 levels */
	CHECK_EQ_INT(mqtt_topic_name_check(t), 0);
	t.len += 2;
	CHECK_EQ_INT(mqtt_topic_name_check(t), -EINVAL);
	s[t.len - 1] = '#';                             /* a/.../a/# */
	CHECK_EQ_INT(mqtt_topic_filter_check(t), -EINVAL);
	t.len -= 2;
	s[t.len - 1] = '#';
	CHECK_EQ_INT(mqtt_topic_filter_check(t), 0);
}

static void
test_topic_filter(void)
{
	static const char *const good[] = { "#", "+", "a/#", "a/+", "+/+", "/+", "+/",
		"a/+/c", "sport/tennis/#", "//", "/#", "+/#", "a b/c" };
	static const char *const bad[] = { "", "a#", "a/#/b", "#/", "a/b#", "a+", "+a",
		"a/+b/c", "a/b+", "##", "++" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_EQ_INT(mqtt_topic_filter_check(cstr(good[i])), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(mqtt_topic_filter_check(cstr(bad[i])), -EINVAL);
}

static void
test_share(void)
{
	struct bk_str g, f;

	CHECK_EQ_INT(mqtt_share_parse(S("$share/grp/a/+"), &g, &f), 1);
	CHECK(str_eq(g, S("grp")) && str_eq(f, S("a/+")));
	CHECK_EQ_INT(mqtt_share_parse(S("$share/g/#"), &g, &f), 1);
	CHECK(str_eq(f, S("#")));
	CHECK_EQ_INT(mqtt_share_parse(S("a/b"), &g, &f), 0);
	CHECK(g.p == NULL && str_eq(f, S("a/b")));
	CHECK_EQ_INT(mqtt_share_parse(S("$shared/g/a"), &g, &f), 0);
	CHECK_EQ_INT(mqtt_share_parse(S("$share"), &g, &f), 0);
	CHECK_EQ_INT(mqtt_share_parse(S("$share//a"), &g, &f), -EINVAL);    /* empty group */
	CHECK_EQ_INT(mqtt_share_parse(S("$share/g"), &g, &f), -EINVAL);     /* no filter */
	CHECK_EQ_INT(mqtt_share_parse(S("$share/g/"), &g, &f), -EINVAL);    /* empty filter */
	CHECK_EQ_INT(mqtt_share_parse(S("$share/g+/a"), &g, &f), -EINVAL);
	CHECK_EQ_INT(mqtt_share_parse(S("$share/#/a"), &g, &f), -EINVAL);
	CHECK_EQ_INT(mqtt_share_parse(S("$share/g/a#"), &g, &f), -EINVAL);
}

int
main(void)
{
	RUN(test_utf8);
	RUN(test_topic_name);
	RUN(test_topic_levels);
	RUN(test_topic_filter);
	RUN(test_share);
	TEST_DONE();
}
