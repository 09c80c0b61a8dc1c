/*
 * Error log writer. Lines are assembled in a stack buffer and written with a single write(2) so
 * that lines from several worker processes sharing one file (O_APPEND) never interleave.
 */
#include "shared/tg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int tg_log_fd = STDERR_FILENO;
static tg_log_level_t tg_log_min = TG_LOG_INFO;
static char tg_log_role[32] = "tollgate";

static const char *const tg_log_names[] = {"debug", "info", "warn", "error", "crit"};

int tg_log_open(const char *path, tg_log_level_t level)
{
    int fd;

    tg_log_min = level;
    if (path == NULL || strcmp(path, "stderr") == 0) {
        if (tg_log_fd != STDERR_FILENO)
            close(tg_log_fd);
        tg_log_fd = STDERR_FILENO;
        return 0;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd == -1) {
        tg_log(TG_LOG_ERROR, errno, "open(\"%s\") failed", path);
        return -1;
    }
    if (tg_log_fd != STDERR_FILENO)
        close(tg_log_fd);
    tg_log_fd = fd;
    return 0;
}

void tg_log_set_role(const char *role)
{
    snprintf(tg_log_role, sizeof(tg_log_role), "%s", role);
}

tg_log_level_t tg_log_level(void)
{
    return tg_log_min;
}

int tg_log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(tg_log_names) / sizeof(tg_log_names[0]); i++)
        if (strcmp(s, tg_log_names[i]) == 0)
            return (int)i;
    return -1;
}

void tg_log(tg_log_level_t level, int err, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t len;
    int n;

    if (level < tg_log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s[%d]: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, tg_log_names[level], tg_log_role, (int)getpid());
    len = n > 0 ? (size_t)n : 0;
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    if (n > 0)
        len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
    if (err != 0 && len < sizeof(line) - 1) {
        n = snprintf(line + len, sizeof(line) - len, ": %s (%d)", strerror(err), err);
        if (n > 0)
            len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
    }
    if (len >= sizeof(line) - 1)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(tg_log_fd, line, len) < 0) {
        /* Nowhere left to report a failed log write. */
    }
}
