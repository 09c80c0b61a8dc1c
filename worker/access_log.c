/*
 * Access log writer (see access_log.h). Lines are formatted without printf into a per-worker
 * buffer that is written with one write(2) per event-loop turn (or when 48 KiB are pending), just
 * before the turn's answers go out, on an O_APPEND descriptor so that whole batches from
 * different workers never interleave mid-line. A crash loses at most the lines of the current
 * loop turn; metering does not depend on this log.
 */
#include "worker/access_log.h"
#include "shared/tg_buf.h"
#include "shared/tg_log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TG_ALOG_BUF (64 * 1024)
#define TG_ALOG_FLUSH (48 * 1024)
#define TG_ALOG_LINE 4096

static struct {
    int fd;
    struct event *flush;
    char buf[TG_ALOG_BUF];
    size_t len;
    time_t ts_sec;
    char ts[32]; /* "YYYY-MM-DDTHH:MM:SS" for ts_sec */
} tg_alog = {.fd = -1};

static void tg_alog_flush(void)
{
    size_t off = 0;
    ssize_t n;

    while (off < tg_alog.len) {
        n = write(tg_alog.fd, tg_alog.buf + off, tg_alog.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* a full disk must not take the gateway down; say so once */
            static int warned;
            if (!warned++)
                tg_log(TG_LOG_ERROR, errno, "write() to the access log failed");
            break;
        }
        off += (size_t)n;
    }
    tg_alog.len = 0;
}

static void tg_alog_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_access_log_flush();
}

void tg_access_log_flush(void)
{
    if (tg_alog.fd != -1 && tg_alog.len > 0)
        tg_alog_flush();
}

int tg_access_log_open(struct event_base *base, const char *path)
{
    tg_access_log_close();
    if (base != NULL && tg_alog.flush == NULL)
        tg_alog.flush = event_new(base, -1, 0, tg_alog_flush_cb, NULL);
    if (path == NULL)
        return 0;
    if (strcmp(path, "stdout") == 0) {
        tg_alog.fd = dup(STDOUT_FILENO);
    } else if (strcmp(path, "stderr") == 0) {
        tg_alog.fd = dup(STDERR_FILENO);
    } else {
        tg_alog.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    }
    if (tg_alog.fd == -1) {
        tg_log(TG_LOG_ERROR, errno, "open(\"%s\") failed", path);
        return -1;
    }
    return 0;
}

void tg_access_log_close(void)
{
    if (tg_alog.fd != -1) {
        tg_alog_flush();
        close(tg_alog.fd);
    }
    tg_alog.fd = -1;
}

void tg_access_log_shutdown(void)
{
    tg_access_log_close();
    if (tg_alog.flush != NULL)
        event_free(tg_alog.flush);
    tg_alog.flush = NULL;
}

size_t tg_json_escape(char *buf, size_t size, size_t len, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    while (s != NULL && *s && len + 7 < size) {
        /* copy the run of characters that need no escape in one go (most strings: all) */
        size_t run = 0, room = size - 7 - len;
        while (run < room && s[run] != '\0' && (unsigned char)s[run] >= 0x20 &&
               s[run] != '"' && s[run] != '\\')
            run++;
        memcpy(buf + len, s, run);
        len += run;
        s += run;
        if (*s == '\0' || len + 7 >= size)
            break;
        unsigned char ch = (unsigned char)*s++;
        buf[len++] = '\\';
        if (ch == '"' || ch == '\\') {
            buf[len++] = (char)ch;
        } else {
            buf[len++] = 'u';
            buf[len++] = '0';
            buf[len++] = '0';
            buf[len++] = hex[ch >> 4];
            buf[len++] = hex[ch & 15];
        }
    }
    if (len < size)
        buf[len] = '\0';
    return len;
}

/* A tiny append-only formatter: each call leaves room or does nothing. */
typedef struct {
    char *p;
    size_t len, size;
} tg_line_t;

static void tg_lit(tg_line_t *l, const char *s, size_t n)
{
    if (l->len + n < l->size) {
        memcpy(l->p + l->len, s, n);
        l->len += n;
    }
}

#define TG_LIT(l, s) tg_lit(l, s, sizeof(s) - 1)

static void tg_int(tg_line_t *l, int64_t v)
{
    char tmp[24];

    tg_lit(l, tmp, tg_fmt_int(tmp, v));
}

/* nanoseconds as milliseconds with 3 decimals */
static void tg_ms(tg_line_t *l, int64_t ns)
{
    int64_t us = ns / 1000;
    char frac[4];

    if (us < 0)
        us = 0;
    tg_int(l, us / 1000);
    frac[0] = '.';
    frac[1] = (char)('0' + us / 100 % 10);
    frac[2] = (char)('0' + us / 10 % 10);
    frac[3] = (char)('0' + us % 10);
    tg_lit(l, frac, 4);
}

static void tg_str(tg_line_t *l, const char *key, size_t klen, const char *val)
{
    if (val == NULL || *val == '\0')
        return;
    tg_lit(l, key, klen);
    l->len = tg_json_escape(l->p, l->size, l->len, val);
    TG_LIT(l, "\"");
}

#define TG_STR(l, key, val) tg_str(l, key, sizeof(key) - 1, val)

static void tg_timestamp(tg_line_t *l)
{
    struct timespec now;
    struct tm tm;
    char ms[5];

    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != tg_alog.ts_sec) {
        gmtime_r(&now.tv_sec, &tm);
        strftime(tg_alog.ts, sizeof(tg_alog.ts), "%Y-%m-%dT%H:%M:%S", &tm);
        tg_alog.ts_sec = now.tv_sec;
    }
    tg_lit(l, tg_alog.ts, strlen(tg_alog.ts));
    ms[0] = '.';
    ms[1] = (char)('0' + now.tv_nsec / 100000000 % 10);
    ms[2] = (char)('0' + now.tv_nsec / 10000000 % 10);
    ms[3] = (char)('0' + now.tv_nsec / 1000000 % 10);
    ms[4] = 'Z';
    tg_lit(l, ms, 5);
}

void tg_access_log(const tg_req_t *r)
{
    char cost[32];
    tg_line_t l;

    if (tg_alog.fd == -1)
        return;
    if (tg_alog.len + TG_ALOG_LINE > TG_ALOG_BUF)
        tg_alog_flush();
    l.p = tg_alog.buf + tg_alog.len;
    l.len = 0;
    l.size = TG_ALOG_LINE - 2; /* room for "}\n" */

    TG_LIT(&l, "{\"ts\":\"");
    tg_timestamp(&l);
    TG_STR(&l, "\",\"request_id\":\"", r->request_id);
    TG_STR(&l, ",\"client\":\"", r->client_addr);
    TG_STR(&l, ",\"method\":\"", http_method_str((enum http_method)r->method));
    TG_STR(&l, ",\"path\":\"", r->path);
    TG_LIT(&l, ",\"status\":");
    tg_int(&l, r->status);
    if (r->authed) {
        TG_STR(&l, ",\"key_id\":\"", r->key.id);
        TG_STR(&l, ",\"tenant\":\"", r->key.tenant);
    }
    TG_STR(&l, ",\"model\":\"", r->model);
    TG_STR(&l, ",\"provider\":\"", r->provider);
    TG_STR(&l, ",\"upstream_model\":\"", r->upstream_model);
    TG_STR(&l, ",\"route\":\"", r->route);
    TG_STR(&l, ",\"task\":\"", r->task);
    TG_STR(&l, ",\"experiment\":\"", r->experiment);
    TG_STR(&l, ",\"variant\":\"", r->variant);
    TG_STR(&l, ",\"shadow_of\":\"", r->shadow_of);
    TG_STR(&l, ",\"fallback_reason\":\"", r->fallback_reason);
    if (r->model != NULL) {
        if (r->stream)
            TG_LIT(&l, ",\"stream\":true");
        else
            TG_LIT(&l, ",\"stream\":false");
        TG_LIT(&l, ",\"attempts\":");
        tg_int(&l, r->attempts);
        TG_LIT(&l, ",\"prompt_tokens\":");
        tg_int(&l, r->usage.prompt);
        TG_LIT(&l, ",\"completion_tokens\":");
        tg_int(&l, r->usage.completion);
        TG_LIT(&l, ",\"cached_tokens\":");
        tg_int(&l, r->usage.cached);
        if (r->usage.cache_write > 0) {
            TG_LIT(&l, ",\"cache_write_tokens\":");
            tg_int(&l, r->usage.cache_write);
        }
        if (r->usage.reported)
            TG_LIT(&l, ",\"usage_estimated\":false");
        else
            TG_LIT(&l, ",\"usage_estimated\":true");
        tg_money_format(r->cost_pico, cost, sizeof(cost));
        TG_STR(&l, ",\"cost_usd\":\"", cost);
    }
    TG_LIT(&l, ",\"ttfb_ms\":");
    tg_ms(&l, r->ttft_ns);
    TG_LIT(&l, ",\"latency_ms\":");
    tg_ms(&l, tg_now_ns() - r->start_ns);
    TG_LIT(&l, ",\"bytes_sent\":");
    tg_int(&l, (int64_t)r->bytes_sent);
    TG_STR(&l, ",\"error\":\"", r->error_code);
    l.p[l.len++] = '}';
    l.p[l.len++] = '\n';
    if (tg_alog.len == 0 && tg_alog.flush != NULL)
        event_active(tg_alog.flush, EV_TIMEOUT, 0); /* write at the end of this loop turn */
    tg_alog.len += l.len;
    if (tg_alog.len >= TG_ALOG_FLUSH)
        tg_alog_flush();
}
