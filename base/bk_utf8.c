/*
 * UTF-8 checks and repair for text that leaves the broker (bk_utf8.h).
 */
#include "bk_utf8.h"
#include "bk_alloc.h"

#include <string.h>

size_t
bk_utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

char *
bk_utf8_repair(const char *s, size_t n, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, bad = 0, o = 0;
	char *out;

	/* a whole API answer passes here: ASCII without a call a byte */
	for (i = 0; i < n; i += k ? k : 1)
		if ((k = p[i] < 0x80 ? 1 : bk_utf8_len(p + i, n - i)) == 0)
			bad++;
	if (bad == 0)
		return NULL;
	out = bk_malloc(n + 2 * bad + 1);       /* 1 byte -> 3 (EF BF BD) */
	for (i = 0; i < n; i += k ? k : 1) {
		if ((k = bk_utf8_len(p + i, n - i)) == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
		} else {
			memcpy(out + o, p + i, k);
			o += k;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}
