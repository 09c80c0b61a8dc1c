/*
 * Access log writer (see access_log.h). Each line is formatted into a stack buffer and written
 * with one write(2) on an O_APPEND descriptor, so lines from all workers interleave whole.
 */
#include "worker/access_log.h"
#include "shared/tg_log.h"

#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int tg_access_fd = -1;

int tg_access_log_open(const char *path)
{
    tg_access_log_close();
    if (path == NULL)
        return 0;
    if (strcmp(path, "stdout") == 0) {
        tg_access_fd = dup(STDOUT_FILENO);
    } else if (strcmp(path, "stderr") == 0) {
        tg_access_fd = dup(STDERR_FILENO);
    } else {
        tg_access_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    }
    if (tg_access_fd == -1) {
        tg_log(TG_LOG_ERROR, errno, "open(\"%s\") failed", path);
        return -1;
    }
    return 0;
}

void tg_access_log_close(void)
{
    if (tg_access_fd != -1)
        close(tg_access_fd);
    tg_access_fd = -1;
}

size_t tg_json_escape(char *buf, size_t size, size_t len, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; s != NULL && *s && len + 7 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)ch;
        } else if (ch < 0x20) {
            buf[len++] = '\\';
            buf[len++] = 'u';
            buf[len++] = '0';
            buf[len++] = '0';
            buf[len++] = hex[ch >> 4];
            buf[len++] = hex[ch & 15];
        } else {
            buf[len++] = (char)ch;
        }
    }
    if (len < size)
        buf[len] = '\0';
    return len;
}

static size_t tg_put(char *buf, size_t size, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t tg_put(char *buf, size_t size, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (len >= size)
        return len;
    va_start(ap, fmt);
    n = vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return len;
    return len + (size_t)n < size ? len + (size_t)n : size - 1;
}

static size_t tg_put_str(char *buf, size_t size, size_t len, const char *key, const char *val)
{
    if (val == NULL || *val == '\0')
        return len;
    len = tg_put(buf, size, len, ",\"%s\":\"", key);
    len = tg_json_escape(buf, size, len, val);
    return tg_put(buf, size, len, "\"");
}

void tg_access_log(const tg_req_t *r)
{
    char line[4096], ts[96], cost[32];
    struct timespec now;
    struct tm tm;
    size_t len = 0;
    int64_t latency_us = (tg_now_ns() - r->start_ns) / 1000;

    if (tg_access_fd == -1)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             now.tv_nsec / 1000000);
    tg_money_format(r->cost_pico, cost, sizeof(cost));
    len = tg_put(line, sizeof(line), len, "{\"ts\":\"%s\",\"request_id\":\"%s\"", ts,
                 r->request_id);
    len = tg_put_str(line, sizeof(line), len, "client", r->client_addr);
    len = tg_put(line, sizeof(line), len, ",\"method\":\"%s\"",
                 http_method_str((enum http_method)r->method));
    len = tg_put_str(line, sizeof(line), len, "path", r->path);
    len = tg_put(line, sizeof(line), len, ",\"status\":%d", r->status);
    len = tg_put_str(line, sizeof(line), len, "model", r->model);
    len = tg_put_str(line, sizeof(line), len, "provider", r->provider);
    len = tg_put_str(line, sizeof(line), len, "upstream_model", r->upstream_model);
    if (r->model != NULL)
        len = tg_put(line, sizeof(line), len,
                     ",\"stream\":%s,\"attempts\":%d,\"prompt_tokens\":%lld,"
                     "\"completion_tokens\":%lld,\"cached_tokens\":%lld,"
                     "\"usage_estimated\":%s,\"cost_usd\":\"%s\"",
                     r->stream ? "true" : "false", r->attempts, (long long)r->usage.prompt,
                     (long long)r->usage.completion, (long long)r->usage.cached,
                     r->usage.reported ? "false" : "true", cost);
    len = tg_put(line, sizeof(line), len,
                 ",\"ttfb_ms\":%.3f,\"latency_ms\":%.3f,\"bytes_sent\":%llu",
                 (double)r->ttft_ns / 1e6, (double)latency_us / 1e3,
                 (unsigned long long)r->bytes_sent);
    len = tg_put_str(line, sizeof(line), len, "error", r->error_code);
    len = tg_put(line, sizeof(line), len, "}\n");
    if (line[len - 1] != '\n')
        line[len - 1] = '\n'; /* truncated: keep one line per request */
    if (write(tg_access_fd, line, len) < 0) {
        /* a full disk must not take the gateway down; the error log says why once */
        static int warned;
        if (!warned++)
            tg_log(TG_LOG_ERROR, errno, "write() to the access log failed");
    }
}
