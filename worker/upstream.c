/*
 * libcurl multi_socket glue (see upstream.h). Each socket curl wants watched gets one persistent
 * libevent event; curl's single timeout is one timer. Transfers finish through check_done(),
 * which is the only place that removes a completed handle, so no handle is ever removed from
 * inside one of curl's own callbacks.
 */
#include "worker/upstream.h"
#include "shared/tg_log.h"
#include "worker/upstream_int.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct {
    struct event *ev;
    curl_socket_t fd;
} tg_sock_t;

#define TG_EASY_POOL 128

static struct {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int running;
    int nxfers;
    CURL *pool[TG_EASY_POOL]; /* reset handles kept for reuse: curl_easy_init is not cheap */
    int npool;
} tg_up;

static void tg_check_done(void);

/* CURLMOPT_SOCKETFUNCTION: curl tells which events it wants on a socket. */
static void tg_sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(tg_up.multi, fd, flags, &tg_up.running);
    tg_check_done();
}

static int tg_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    tg_sock_t *s = sockp;
    short kind;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            event_free(s->ev);
            free(s);
            curl_multi_assign(tg_up.multi, fd, NULL);
        }
        return 0;
    }
    kind = (short)(EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                   (what & CURL_POLL_OUT ? EV_WRITE : 0));
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return -1;
        s->fd = fd;
        curl_multi_assign(tg_up.multi, fd, s);
    } else {
        event_free(s->ev);
    }
    s->ev = event_new(tg_up.base, fd, kind, tg_sock_event_cb, NULL);
    if (s->ev == NULL)
        return -1;
    event_add(s->ev, NULL);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl's next timeout, -1 to delete. */
static int tg_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct timeval tv;

    if (timeout_ms < 0) {
        evtimer_del(tg_up.timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(tg_up.timer, &tv);
    return 0;
}

static void tg_multi_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    curl_multi_socket_action(tg_up.multi, CURL_SOCKET_TIMEOUT, 0, &tg_up.running);
    tg_check_done();
}

static int64_t tg_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct event_base *tg_upstream_base(void)
{
    return tg_up.base;
}

CURLM *tg_upstream_multi(void)
{
    return tg_up.multi;
}

static void tg_xfer_free(tg_xfer_t *x)
{
    if (x->conn != NULL)
        tg_h1_detach(x);
    if (x->easy != NULL) {
        if (x->running)
            curl_multi_remove_handle(tg_up.multi, x->easy);
        if (tg_up.npool < TG_EASY_POOL && tg_up.multi != NULL) {
            /* no curl_easy_reset: every per-transfer option is set again on reuse */
            tg_up.pool[tg_up.npool++] = x->easy;
        } else {
            curl_easy_cleanup(x->easy);
        }
    }
    if (x->timer != NULL)
        event_free(x->timer);
    curl_slist_free_all(x->headers);
    free(x->body);
    if (x->out != NULL)
        explicit_bzero(x->out, x->out_len); /* the request head carries the provider's key */
    free(x->out);
    free(x->pending);
    if (x->owned != NULL)
        explicit_bzero(x->owned, strlen(x->owned));
    free(x->owned);
    free(x);
    tg_up.nxfers--;
}

void tg_xfer_finish(tg_xfer_t *x, tg_xfer_result_t r)
{
    if (x->conn != NULL)
        tg_h1_detach(x); /* back to the pool if the answer completed */
    if (x->running) {
        curl_multi_remove_handle(tg_up.multi, x->easy);
        x->running = 0;
    }
    evtimer_del(x->timer);
    if (x->on_done != NULL)
        x->on_done(x, r);
    tg_xfer_free(x);
}

tg_xfer_result_t tg_xfer_result_of(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return TG_XFER_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return TG_XFER_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return TG_XFER_TIMEOUT;
    default:
        return TG_XFER_FAILED;
    }
}

static void tg_check_done(void)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(tg_up.multi, &left)) != NULL) {
        tg_xfer_t *x;
        tg_xfer_result_t r;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x->kind == TG_KIND_H1CONN) {
            tg_h1_connected(x, msg->data.result); /* a pooled connection is up (or failed) */
            continue;
        }
        r = tg_xfer_result_of(msg->data.result);
        if (msg->data.result == CURLE_WRITE_ERROR && x->max_bytes && x->bytes > x->max_bytes)
            r = TG_XFER_TOO_LARGE;
        else if (msg->data.result == CURLE_WRITE_ERROR)
            r = TG_XFER_ABORTED;
        if (x->status == 0)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &x->status);
        tg_xfer_finish(x, r);
    }
}

/* The per-transfer deadline: first byte, then idle between chunks. */
static void tg_xfer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_xfer_t *x = arg;

    if (x->deadline_ns > 0 && tg_mono_ns() >= x->deadline_ns) {
        snprintf(x->errbuf, sizeof(x->errbuf), "the total deadline passed");
        tg_xfer_finish(x, TG_XFER_TIMEOUT);
        return;
    }
    snprintf(x->errbuf, sizeof(x->errbuf), "%s",
             x->got_data ? "the stream went idle" : "no response before the first-byte deadline");
    tg_xfer_finish(x, x->got_data ? TG_XFER_IDLE_TIMEOUT : TG_XFER_FIRST_BYTE_TIMEOUT);
}

void tg_xfer_arm(tg_xfer_t *x, int64_t ms)
{
    struct timeval tv;

    if (x->deadline_ns > 0) {
        int64_t left = (x->deadline_ns - tg_mono_ns()) / 1000000 + 1;
        if (ms <= 0 || left < ms)
            ms = left > 0 ? left : 1;
    }
    if (ms <= 0)
        return;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    evtimer_add(x->timer, &tv);
}

/* CURLOPT_HEADERFUNCTION */
static size_t tg_header_cb(char *buf, size_t size, size_t n, void *arg)
{
    tg_xfer_t *x = arg;
    size_t len = size * n, vlen;
    char *dst = NULL;
    size_t dsize = 0;

    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        x->content_type[0] = x->retry_after[0] = x->error_type[0] = '\0';
        return len;
    }
    if (len > 13 && strncasecmp(buf, "content-type:", 13) == 0) {
        dst = x->content_type, dsize = sizeof(x->content_type);
        buf += 13, len -= 13;
    } else if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
        dst = x->retry_after, dsize = sizeof(x->retry_after);
        buf += 12, len -= 12;
    } else if (len > 17 && strncasecmp(buf, "x-amzn-errortype:", 17) == 0) {
        dst = x->error_type, dsize = sizeof(x->error_type);
        buf += 17, len -= 17;
    }
    if (dst != NULL) {
        while (len > 0 && (*buf == ' ' || *buf == '\t'))
            buf++, len--;
        vlen = len;
        while (vlen > 0 && (buf[vlen - 1] == '\r' || buf[vlen - 1] == '\n' || buf[vlen - 1] == ' '))
            vlen--;
        if (vlen >= dsize)
            vlen = dsize - 1;
        memcpy(dst, buf, vlen);
        dst[vlen] = '\0';
    }
    return size * n;
}

/* CURLOPT_WRITEFUNCTION */
static size_t tg_write_cb(char *data, size_t size, size_t n, void *arg)
{
    tg_xfer_t *x = arg;
    size_t len = size * n;
    int rc;

    if (x->status == 0)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    x->got_data = 1;
    x->bytes += len;
    if (x->max_bytes && x->bytes > x->max_bytes)
        return 0;
    rc = x->on_data(x, data, len);
    if (rc < 0)
        return 0;
    if (rc > 0) {
        x->bytes -= len; /* curl delivers the same bytes again on resume */
        x->paused = 1;
        evtimer_del(x->timer);
        return CURL_WRITEFUNC_PAUSE;
    }
    tg_xfer_arm(x, x->idle_ms);
    return len;
}

int tg_upstream_init(struct event_base *base)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tg_log(TG_LOG_ERROR, 0, "curl_global_init() failed");
        return -1;
    }
    tg_up.base = base;
    tg_up.multi = curl_multi_init();
    tg_up.timer = evtimer_new(base, tg_multi_timeout_cb, NULL);
    if (tg_up.multi == NULL || tg_up.timer == NULL) {
        tg_log(TG_LOG_ERROR, 0, "curl_multi_init() failed");
        return -1;
    }
    curl_multi_setopt(tg_up.multi, CURLMOPT_SOCKETFUNCTION, tg_socket_cb);
    curl_multi_setopt(tg_up.multi, CURLMOPT_TIMERFUNCTION, tg_timer_cb);
    curl_multi_setopt(tg_up.multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(tg_up.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return 0;
}

void tg_upstream_shutdown(void)
{
    tg_h1_shutdown();
    while (tg_up.npool > 0)
        curl_easy_cleanup(tg_up.pool[--tg_up.npool]);
    if (tg_up.multi != NULL)
        curl_multi_cleanup(tg_up.multi);
    if (tg_up.timer != NULL)
        event_free(tg_up.timer);
    memset(&tg_up, 0, sizeof(tg_up));
    curl_global_cleanup();
}

tg_xfer_t *tg_xfer_new(void)
{
    tg_xfer_t *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return NULL;
    x->kind = TG_KIND_XFER;
    x->timer = evtimer_new(tg_up.base, tg_xfer_timer_cb, x);
    if (x->timer == NULL) {
        free(x);
        return NULL;
    }
    tg_up.nxfers++;
    return x;
}

int tg_xfer_header(tg_xfer_t *x, const char *line)
{
    struct curl_slist *l = curl_slist_append(x->headers, line);

    if (l == NULL)
        return -1;
    x->headers = l;
    return 0;
}

/* A new easy handle with the options that never change between transfers. */
static CURL *tg_easy_new(void)
{
    CURL *e = curl_easy_init();

    if (e == NULL)
        return NULL;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tg_write_cb);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, tg_header_cb);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    return e;
}

int tg_xfer_post(tg_xfer_t *x, const char *url, char *body, size_t len, const tg_config_t *cf)
{
    CURL *e;

    if (x->h1_origin != NULL)
        return tg_h1_post(x, body, len, cf);
    e = tg_up.npool > 0 ? tg_up.pool[--tg_up.npool] : tg_easy_new();
    x->body = body;
    if (e == NULL)
        goto fail;
    x->easy = e;
    if (x->shared_headers == NULL && tg_xfer_header(x, "Expect:") == -1)
        goto fail;
    x->first_byte_ms = cf->upstream.first_byte_timeout_ms;
    x->idle_ms = cf->upstream.stream_idle_timeout_ms;
    x->max_bytes = cf->upstream.max_response_size;
    /* every option that can differ between transfers is set here, on every use of a handle */
    if (x->curlu != NULL) {
        curl_easy_setopt(e, CURLOPT_URL, NULL);
        curl_easy_setopt(e, CURLOPT_CURLU, x->curlu);
    } else {
        curl_easy_setopt(e, CURLOPT_CURLU, NULL);
        curl_easy_setopt(e, CURLOPT_URL, url);
    }
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER,
                     x->shared_headers ? (struct curl_slist *)x->shared_headers : x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cf->upstream.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cf->upstream.total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cf->upstream.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cf->upstream.verify_tls ? 2L : 0L);
    tg_xfer_arm(x, x->first_byte_ms);
    if (curl_multi_add_handle(tg_up.multi, e) != CURLM_OK)
        goto fail;
    x->running = 1;
    return 0;
fail:
    tg_log(TG_LOG_ERROR, 0, "starting an upstream transfer failed");
    tg_xfer_free(x);
    return -1;
}

void tg_xfer_cancel(tg_xfer_t *x)
{
    tg_xfer_free(x);
}

void tg_xfer_resume(tg_xfer_t *x)
{
    if (!x->paused)
        return;
    if (x->h1_origin != NULL) {
        tg_h1_resume(x);
        return;
    }
    x->paused = 0;
    tg_xfer_arm(x, x->idle_ms);
    curl_easy_pause(x->easy, CURLPAUSE_CONT);
}

int tg_upstream_running(void)
{
    return tg_up.nxfers;
}

const char *tg_xfer_result_str(tg_xfer_result_t r)
{
    switch (r) {
    case TG_XFER_OK: return "ok";
    case TG_XFER_CONNECT: return "could not connect";
    case TG_XFER_TIMEOUT: return "timed out";
    case TG_XFER_FIRST_BYTE_TIMEOUT: return "no response before the first-byte deadline";
    case TG_XFER_IDLE_TIMEOUT: return "the stream went idle";
    case TG_XFER_TOO_LARGE: return "response too large";
    case TG_XFER_ABORTED: return "aborted";
    case TG_XFER_FAILED: return "transfer failed";
    }
    return "unknown";
}
