/*
 * stderr logger. Each call formats into one buffer and emits it with a
 * single write so lines from the journal thread never interleave.
 */
#include "bk_log.h"
#include "bk_assert.h"

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

void
bk_logv(enum bk_log_level lvl, const char *fmt, va_list ap)
{
	char line[2048];
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
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (k < 0)
		k = 0;
	n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
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
