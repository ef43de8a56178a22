/*
 * Logging. One line per event to stderr:
 *   2026-11-22T03:04:05.123Z info  conn=12 peer=127.0.0.1:5555 proto=amqp: text
 * Levels: client misbehaviour is info, resource pressure warning, our bugs
 * error. Payloads are never logged.
 */
#ifndef BK_LOG_H
#define BK_LOG_H

#include <stdarg.h>

enum bk_log_level {
	BK_LOG_DEBUG,
	BK_LOG_INFO,
	BK_LOG_WARNING,
	BK_LOG_ERROR,
};

/* Parse "debug", "info", "warning" (or "warn"), "error"; -1 if unknown. */
int  bk_log_level_parse(const char *s);
void bk_log_set_level(enum bk_log_level lvl);
int  bk_log_enabled(enum bk_log_level lvl);

void bk_log(enum bk_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bk_logv(enum bk_log_level lvl, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define bk_debug(...) do { if (bk_log_enabled(BK_LOG_DEBUG)) bk_log(BK_LOG_DEBUG, __VA_ARGS__); } while (0)
#define bk_info(...)  bk_log(BK_LOG_INFO, __VA_ARGS__)
#define bk_warn(...)  bk_log(BK_LOG_WARNING, __VA_ARGS__)
#define bk_error(...) bk_log(BK_LOG_ERROR, __VA_ARGS__)

#endif
