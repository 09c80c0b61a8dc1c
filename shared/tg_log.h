/*
 * Logging for every Tollgate process: one line per message on the error log, prefixed with
 * time, level, process role and pid. Messages that follow a failed call name the call and errno,
 * as nginx does. Secrets must never be passed to these functions.
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdarg.h>

typedef enum { TG_LOG_DEBUG = 0, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR, TG_LOG_CRIT } tg_log_level_t;

/** Open (or reopen) the error log. path NULL or "stderr" logs to stderr. Returns 0 or -1. */
int tg_log_open(const char *path, tg_log_level_t level);

/** Set the role name shown on each line ("master", "worker 1", ...). The string is copied. */
void tg_log_set_role(const char *role);

/** Current minimum level. */
tg_log_level_t tg_log_level(void);

/** Parse "debug|info|warn|error|crit"; returns -1 when unknown. */
int tg_log_level_parse(const char *s);

/** Log a line. err: errno of a failed call (0 for none): appended as ": strerror (errno)". */
void tg_log(tg_log_level_t level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tg_log_debug(...)                                                                          \
    do {                                                                                           \
        if (tg_log_level() <= TG_LOG_DEBUG)                                                        \
            tg_log(TG_LOG_DEBUG, 0, __VA_ARGS__);                                                  \
    } while (0)

#endif
