/*
 * mqtt_utf8.c: UTF-8 strings [MQTT-1.5.4] and topic syntax [MQTT-4.7],
 * [MQTT-4.8.2]. Pure functions; the decoder calls mqtt_utf8_check() on
 * every UTF-8 string it reads, the session calls the topic checks.
 *
 * UTF-8 is checked per RFC 3629 (the table of well-formed byte sequences
 * of Unicode §3.9): no overlong forms, no surrogates, nothing above
 * U+10FFFF. MQTT adds: no U+0000 [MQTT-1.5.4-2]. Control characters and
 * non-characters are well formed and only reported (return 1); a BOM is
 * an ordinary character and is never stripped [MQTT-1.5.4-3].
 */
#include "mqtt_codec_int.h"

/* Cheap test for "noted" code points: C0/C1 controls, non-characters. */
static bool
is_noted(uint32_t c)
{
	return (c >= 0x01 && c <= 0x1F) || (c >= 0x7F && c <= 0x9F) ||
	       (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

int
mqtt_utf8_check(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	int noted = 0;

	while (p < end) {
		uint32_t c = *p;
		size_t n;
		uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the 2nd octet */

		if (c < 0x80) {
			if (c == 0)
				return -EILSEQ;
			noted |= c < 0x20 || c == 0x7F;
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			c &= 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;              /* overlong */
			else if (c == 0xED)
				hi = 0x9F;              /* surrogates U+D800..U+DFFF */
			c &= 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90;              /* overlong */
			else if (c == 0xF4)
				hi = 0x8F;              /* above U+10FFFF */
			c &= 0x07;
		} else {
			return -EILSEQ;                 /* continuation, C0, C1, F5..FF */
		}
		if ((size_t)(end - p) < n + 1 || p[1] < lo || p[1] > hi)
			return -EILSEQ;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return -EILSEQ;
			c = c << 6 | (p[i] & 0x3F);
		}
		noted |= is_noted(c);
		p += n + 1;
	}
	return noted;
}

bool
mqtt_topic_too_deep(struct bk_str s)
{
	const char *p = s.p, *end = s.p + s.len;
	uint32_t slashes = 0;

	if (s.len < MQTT_TOPIC_LEVELS_MAX)
		return false;           /* too short to hold that many '/' */
	while (p < end && (p = memchr(p, '/', (size_t)(end - p))) != NULL) {
		if (++slashes >= MQTT_TOPIC_LEVELS_MAX)
			return true;
		p++;
	}
	return false;
}

int
mqtt_topic_name_check(struct bk_str t)
{
	if (t.len == 0 || t.len > 0xFFFF)
		return -EINVAL;
	if (memchr(t.p, '+', t.len) || memchr(t.p, '#', t.len))
		return -EINVAL;
	if (mqtt_topic_too_deep(t))
		return -EINVAL;
	return 0;
}

int
mqtt_topic_filter_check(struct bk_str f)
{
	const char *s = f.p;
	uint32_t n = f.len;

	if (n == 0 || n > 0xFFFF)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		bool starts = i == 0 || s[i - 1] == '/';
		bool ends = i + 1 == n || s[i + 1] == '/';

		if (s[i] == '+' && !(starts && ends))
			return -EINVAL;                 /* [MQTT-4.7.1-2] */
		if (s[i] == '#' && !(starts && i + 1 == n))
			return -EINVAL;                 /* [MQTT-4.7.1-1] */
	}
	return mqtt_topic_too_deep(f) ? -EINVAL : 0;
}

int
mqtt_share_parse(struct bk_str f, struct bk_str *group, struct bk_str *filter)
{
	static const char prefix[] = "$share/";
	const size_t plen = sizeof(prefix) - 1;
	const char *g, *slash;
	uint32_t glen;

	*group = (struct bk_str){ NULL, 0 };
	*filter = f;
	if (f.len < plen || memcmp(f.p, prefix, plen) != 0)
		return 0;
	g = f.p + plen;
	slash = memchr(g, '/', f.len - plen);
	if (slash == NULL)
		return -EINVAL;                         /* no filter [MQTT-4.8.2-2] */
	glen = (uint32_t)(slash - g);
	if (glen == 0 || memchr(g, '+', glen) || memchr(g, '#', glen))
		return -EINVAL;                         /* [MQTT-4.8.2-1/2] */
	*group = (struct bk_str){ g, glen };
	*filter = (struct bk_str){ slash + 1, f.len - (uint32_t)plen - glen - 1 };
	if (mqtt_topic_filter_check(*filter) < 0)
		return -EINVAL;
	return 1;
}
