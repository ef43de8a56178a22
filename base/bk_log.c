/*
 * stderr logger. Each call formats into one buffer and emits it with a
 * single write so lines from the journal thread never interleave.
 */
#include "bk_log.h"
#include "bk_assert.h"
#include "bk_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum bk_log_level min_level = BK_LOG_INFO;

static const char *const names[] = { "debug", "info", "warning", "error" };

int
bk_log_level_parse(const char *s)
{
	if (strcasecmp(s, "warn") == 0)
		return BK_LOG_WARNING;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	return -1;
}

void
bk_log_set_level(enum bk_log_level lvl)
{
	min_level = lvl;
}

int
bk_log_enabled(enum bk_log_level lvl)
{
	return lvl >= min_level;
}

/*
 * Log text often carries names a client chose (queues, exchanges, client
 * ids). Escape control characters and invalid UTF-8 as \xNN so a peer can
 * neither forge log lines nor break a reader expecting UTF-8.
 */
static size_t
sanitize(char *out, size_t cap, const char *in, size_t n)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, i = 0, k;

	while (i < n && o + 4 < cap) {
		k = bk_utf8_len(p + i, n - i);
		if (k == 1 && p[i] >= 0x20 && p[i] != 0x7F) {
			out[o++] = (char)p[i++];
		} else if (k > 1) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02X", p[i++]);
		}
	}
	return o;
}

void
bk_logv(enum bk_log_level lvl, const char *fmt, va_list ap)
{
	char line[2048], text[1536];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int k;

	if (lvl < min_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-7s ",
		     (long)(tv.tv_usec / 1000), names[lvl]);
	n += k > 0 ? (size_t)k : 0;
	k = vsnprintf(text, sizeof(text), fmt, ap);
	if (k < 0)
		k = 0;
	if ((size_t)k >= sizeof(text))
		k = sizeof(text) - 1;
	n += sanitize(line + n, sizeof(line) - n - 1, text, (size_t)k);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void
bk_log(enum bk_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bk_logv(lvl, fmt, ap);
	va_end(ap);
}

void
bk_assert_fail(const char *expr, const char *file, int line)
{
	bk_log(BK_LOG_ERROR, "assertion failed: %s (%s:%d)", expr, file, line);
	abort();
}
