/*
 * The HTTP/1.1 upstream transport: a keep-alive connection pool per provider origin, as nginx
 * keeps to its upstreams. libcurl still makes every connection (DNS, TCP, TLS with verification,
 * proxies) through the worker's multi handle with CURLOPT_CONNECT_ONLY, and carries every byte
 * with curl_easy_send/recv; this file only frames requests (one cached head per provider plus
 * Content-Length) and parses answers with http-parser. It exists because curl's HTTP layer cost
 * about two thirds of the gateway's instructions per request (docs/performance.md).
 *
 * A connect-only handle must stay in the multi handle after its connect completes (removing it
 * would drop the connection), so pooled connections keep their easy handle added until closed.
 */
#include "shared/tg_buf.h"
#include "shared/tg_log.h"
#include "worker/upstream_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TG_H1_MAX_IDLE 64         /* idle connections kept per origin */
#define TG_H1_IDLE_MS 30000       /* close idle connections before providers typically do */
#define TG_H1_READ_BUF (16 * 1024)

typedef struct tg_h1pool_s tg_h1pool_t;

typedef struct tg_h1conn_s {
    int kind; /* TG_KIND_H1CONN; first, like tg_xfer_t.kind */
    CURL *easy;
    curl_socket_t fd;
    struct event *ev;
    tg_h1pool_t *pool;
    struct tg_h1conn_s *next; /* idle list */
    tg_xfer_t *x;             /* the transfer using it; NULL when idle */
    int connected;
    int reused;               /* served an earlier answer: it may have gone stale */
    short want;               /* events the transfer waits for */
} tg_h1conn_t;

struct tg_h1pool_s {
    char origin[320];
    int plain; /* http:// (no TLS): a short read means the socket is drained */
    tg_h1conn_t *idle;
    int nidle;
    tg_h1pool_t *next;
};

static tg_h1pool_t *tg_pools;
static http_parser_settings tg_h1_settings;
static char tg_h1_rbuf[TG_H1_READ_BUF];

static void tg_h1_start(tg_xfer_t *x);
static void tg_h1_event(evutil_socket_t fd, short what, void *arg);

static int64_t tg_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static tg_h1pool_t *tg_h1_pool(const char *origin)
{
    tg_h1pool_t *p;

    for (p = tg_pools; p != NULL; p = p->next)
        if (strcmp(p->origin, origin) == 0)
            return p;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    snprintf(p->origin, sizeof(p->origin), "%s", origin);
    p->plain = strncasecmp(origin, "http://", 7) == 0;
    p->next = tg_pools;
    tg_pools = p;
    return p;
}

static void tg_h1_close(tg_h1conn_t *c)
{
    if (c->ev != NULL)
        event_free(c->ev);
    if (c->easy != NULL) {
        curl_multi_remove_handle(tg_upstream_multi(), c->easy);
        curl_easy_cleanup(c->easy);
    }
    free(c);
}

/*
 * Wait for events on the connection (replacing what it waited for before), with a timeout or
 * none. The interest rarely changes: a connection waits to read while it waits for an answer
 * and while it idles in the pool, so going idle and being taken again only change the timeout.
 * That is done on the pending event itself (event_add again, event_remove_timer), which touches
 * libevent's timer heap only: an event_del and event_add in one turn would reach epoll as an
 * EPOLL_CTL_MOD with the same flags, one wasted syscall per request.
 */
static void tg_h1_want(tg_h1conn_t *c, short what, const struct timeval *tv)
{
    if (c->ev != NULL && c->want == what) {
        if (tv != NULL)
            event_add(c->ev, tv);
        else
            event_remove_timer(c->ev);
        return;
    }
    if (c->ev == NULL)
        c->ev = event_new(tg_upstream_base(), c->fd, what | EV_PERSIST, tg_h1_event, c);
    else {
        event_del(c->ev);
        event_assign(c->ev, tg_upstream_base(), c->fd, what | EV_PERSIST, tg_h1_event, c);
    }
    c->want = what;
    event_add(c->ev, tv);
}

/* ---- response parsing ----------------------------------------------------------------- */

static int tg_h1_on_header_field(http_parser *p, const char *at, size_t len)
{
    tg_xfer_t *x = p->data;

    if (x->hlast != 1)
        x->hfield = 0;
    x->hlast = 1;
    /* fields arrive whole in practice; a split name simply is not recognised */
    if (len == 12 && strncasecmp(at, "content-type", 12) == 0)
        x->hfield = 1;
    else if (len == 11 && strncasecmp(at, "retry-after", 11) == 0)
        x->hfield = 2;
    else if (len == 16 && strncasecmp(at, "x-amzn-errortype", 16) == 0)
        x->hfield = 3;
    return 0;
}

static int tg_h1_on_header_value(http_parser *p, const char *at, size_t len)
{
    tg_xfer_t *x = p->data;
    char *dst = x->hfield == 1   ? x->content_type
                : x->hfield == 2 ? x->retry_after
                : x->hfield == 3 ? x->error_type
                                 : NULL;
    size_t size = x->hfield == 1   ? sizeof(x->content_type)
                  : x->hfield == 2 ? sizeof(x->retry_after)
                                   : sizeof(x->error_type),
           have;

    x->hlast = 2;
    if (dst == NULL)
        return 0;
    have = strlen(dst);
    if (have + len >= size)
        len = size - 1 - have;
    memcpy(dst + have, at, len);
    dst[have + len] = '\0';
    return 0;
}

static int tg_h1_on_headers_complete(http_parser *p)
{
    tg_xfer_t *x = p->data;

    x->status = p->status_code;
    return 0;
}

static int tg_h1_hold(tg_xfer_t *x, const char *at, size_t len)
{
    if (x->pending_len + len > x->pending_cap) {
        size_t cap = x->pending_cap ? x->pending_cap : 4096;
        char *n;
        while (cap < x->pending_len + len)
            cap *= 2;
        if ((n = realloc(x->pending, cap)) == NULL)
            return -1;
        x->pending = n;
        x->pending_cap = cap;
    }
    memcpy(x->pending + x->pending_len, at, len);
    x->pending_len += len;
    return 0;
}

static int tg_h1_on_body(http_parser *p, const char *at, size_t len)
{
    tg_xfer_t *x = p->data;
    int rc;

    x->got_data = 1;
    x->bytes += len;
    if (x->max_bytes && x->bytes > x->max_bytes) {
        x->complete = -1;
        return -1;
    }
    if (x->paused)
        return tg_h1_hold(x, at, len); /* the rest of this read waits with the paused part */
    rc = x->on_data(x, at, len);
    if (rc < 0) {
        x->complete = -2;
        return -1;
    }
    if (rc > 0) {
        /* the owner wants no more for now: keep these bytes and stop reading */
        x->paused = 1;
        return tg_h1_hold(x, at, len);
    }
    tg_xfer_arm(x, x->idle_ms);
    return 0;
}

static int tg_h1_on_message_complete(http_parser *p)
{
    tg_xfer_t *x = p->data;

    x->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- transfer flow ---------------------------------------------------------------------- */

static void tg_h1_fail(tg_xfer_t *x, tg_xfer_result_t r, const char *why)
{
    snprintf(x->errbuf, sizeof(x->errbuf), "%s", why);
    tg_xfer_finish(x, r);
}

/*
 * A reused keep-alive connection can be closed by the provider just as we send on it. If that
 * happens before any byte of an answer arrived, the request cannot have been processed: send
 * it again once on a fresh connection (curl and nginx do the same).
 */
static int tg_h1_retry_stale(tg_xfer_t *x)
{
    tg_h1conn_t *c = x->conn;

    if (c == NULL || !c->reused || x->retried || x->status != 0 || x->bytes != 0)
        return 0;
    x->retried = 1;
    c->x = NULL;
    x->conn = NULL;
    tg_h1_close(c);
    x->out_off = 0;
    http_parser_init(&x->parser, HTTP_RESPONSE);
    x->parser.data = x;
    tg_h1_start(x);
    return 1;
}

static void tg_h1_send(tg_xfer_t *x)
{
    tg_h1conn_t *c = x->conn;

    while (x->out_off < x->out_len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(c->easy, x->out + x->out_off, x->out_len - x->out_off, &n);

        if (rc == CURLE_AGAIN) {
            tg_h1_want(c, EV_WRITE, NULL);
            return;
        }
        if (rc != CURLE_OK) {
            if (!tg_h1_retry_stale(x))
                tg_h1_fail(x, TG_XFER_FAILED, curl_easy_strerror(rc));
            return;
        }
        x->out_off += n;
    }
    tg_h1_want(c, EV_READ, NULL);
}

/* Feed bytes to the parser; finishes the transfer when the answer is complete or broken. */
static int tg_h1_feed(tg_xfer_t *x, const char *buf, size_t n)
{
    size_t used = http_parser_execute(&x->parser, &tg_h1_settings, buf, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&x->parser);

    if (x->complete == 1) {
        if (used < n && x->conn != NULL)
            x->conn->reused = -1; /* bytes after the answer: never reuse this connection */
        if (x->paused) {
            /* all read, some still held for a slow client: finish when resumed */
            event_del(x->conn->ev);
            x->conn->want = 0;
            return 1;
        }
        tg_xfer_finish(x, TG_XFER_OK);
        return 1;
    }
    if (e != HPE_OK) {
        if (x->complete == -1)
            tg_h1_fail(x, TG_XFER_TOO_LARGE, "response too large");
        else if (x->complete == -2)
            tg_h1_fail(x, TG_XFER_ABORTED, "aborted");
        else
            tg_h1_fail(x, TG_XFER_FAILED, http_errno_description(e));
        return 1;
    }
    return 0;
}

static void tg_h1_recv(tg_xfer_t *x)
{
    tg_h1conn_t *c = x->conn;

    while (!x->paused) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(c->easy, tg_h1_rbuf, sizeof(tg_h1_rbuf), &n);

        if (rc == CURLE_AGAIN)
            return;
        if (rc != CURLE_OK || n == 0) {
            /* the provider closed: fine if that ends the answer (no length), else an error */
            if (tg_h1_retry_stale(x))
                return;
            if (rc == CURLE_OK && tg_h1_feed(x, NULL, 0))
                return;
            if (x->conn != NULL)
                x->conn->reused = -1;
            tg_h1_fail(x, TG_XFER_FAILED,
                       rc == CURLE_OK ? "the provider closed the connection" :
                                        curl_easy_strerror(rc));
            return;
        }
        if (x->status == 0 && x->bytes == 0)
            tg_xfer_arm(x, x->idle_ms); /* first byte in: from now on the idle deadline */
        if (tg_h1_feed(x, tg_h1_rbuf, n))
            return;
        /* Without TLS, a read shorter than the buffer took all the socket had: the next read
           would only say EAGAIN (one wasted system call per stream event). The read event is
           level-triggered, so more data calls us again. TLS keeps reading: curl may hold
           decrypted bytes the socket no longer shows. */
        if (!x->paused && c->pool != NULL && c->pool->plain && n < sizeof(tg_h1_rbuf))
            return;
    }
    event_del(c->ev); /* paused: read nothing until resumed */
    c->want = 0;
}

static void tg_h1_event(evutil_socket_t fd, short what, void *arg)
{
    tg_h1conn_t *c = arg;
    tg_xfer_t *x = c->x;

    if (x == NULL) {
        /* idle: readable means the provider closed it (or misbehaves); timeout means old */
        tg_h1pool_t *p = c->pool;
        for (tg_h1conn_t **pp = &p->idle; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == c) {
                *pp = c->next;
                p->nidle--;
                break;
            }
        }
        tg_h1_close(c);
        return;
    }
    if (x->out_off < x->out_len)
        tg_h1_send(x);
    else
        tg_h1_recv(x);
}

void tg_h1_connected(void *arg, CURLcode result)
{
    tg_h1conn_t *c = arg;
    tg_xfer_t *x = c->x;
    curl_socket_t fd = CURL_SOCKET_BAD;

    if (result == CURLE_OK &&
        curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
        fd != CURL_SOCKET_BAD) {
        c->fd = fd;
        c->connected = 1;
        if (x != NULL)
            tg_h1_send(x);
        return;
    }
    /* connect failed: the transfer fails with curl's reason */
    if (x != NULL) {
        x->conn = NULL;
        c->x = NULL;
        snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_easy_strerror(result));
        tg_h1_close(c);
        tg_xfer_finish(x, result == CURLE_OK ? TG_XFER_FAILED : tg_xfer_result_of(result));
        return;
    }
    tg_h1_close(c);
}

static tg_h1conn_t *tg_h1_connect(tg_xfer_t *x, tg_h1pool_t *pool)
{
    tg_h1conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->easy = curl_easy_init()) == NULL) {
        free(c);
        return NULL;
    }
    c->kind = TG_KIND_H1CONN;
    c->pool = pool;
    c->fd = CURL_SOCKET_BAD;
    curl_easy_setopt(c->easy, CURLOPT_URL, x->h1_origin);
    curl_easy_setopt(c->easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)x->connect_timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, x->verify_tls ? 1L : 0L);
    curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, x->verify_tls ? 2L : 0L);
    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(tg_upstream_multi(), c->easy) != CURLM_OK) {
        curl_easy_cleanup(c->easy);
        free(c);
        return NULL;
    }
    return c;
}

/* Attach a connection (idle one if any) and go. */
static void tg_h1_start(tg_xfer_t *x)
{
    tg_h1pool_t *pool;
    tg_h1conn_t *c;

    /* a connection made without certificate checks must never serve a config that checks */
    if (x->verify_tls) {
        pool = tg_h1_pool(x->h1_origin);
    } else {
        char key[320];
        snprintf(key, sizeof(key), "%s (no TLS verify)", x->h1_origin);
        pool = tg_h1_pool(key);
    }
    if (pool == NULL) {
        tg_h1_fail(x, TG_XFER_FAILED, "out of memory");
        return;
    }
    if ((c = pool->idle) != NULL && !x->retried) {
        pool->idle = c->next;
        pool->nidle--;
        c->next = NULL;
        c->x = x;
        x->conn = c;
        tg_h1_send(x);
        return;
    }
    if ((c = tg_h1_connect(x, pool)) == NULL) {
        tg_h1_fail(x, TG_XFER_FAILED, "cannot start a connection");
        return;
    }
    c->x = x;
    x->conn = c;
}

int tg_h1_post(tg_xfer_t *x, char *body, size_t len, const tg_config_t *cf)
{
    char cl[48];
    size_t n;

    if (tg_h1_settings.on_body == NULL) {
        tg_h1_settings.on_header_field = tg_h1_on_header_field;
        tg_h1_settings.on_header_value = tg_h1_on_header_value;
        tg_h1_settings.on_headers_complete = tg_h1_on_headers_complete;
        tg_h1_settings.on_body = tg_h1_on_body;
        tg_h1_settings.on_message_complete = tg_h1_on_message_complete;
    }
    memcpy(cl, "Content-Length: ", 16);
    n = 16 + tg_fmt_int(cl + 16, (long long)len);
    memcpy(cl + n, "\r\n\r\n", 4);
    n += 4;
    x->out_len = x->h1_head_len + n + len;
    x->out = malloc(x->out_len);
    if (x->out == NULL) {
        free(body);
        tg_xfer_cancel(x);
        return -1;
    }
    memcpy(x->out, x->h1_head, x->h1_head_len);
    memcpy(x->out + x->h1_head_len, cl, n);
    memcpy(x->out + x->h1_head_len + n, body, len);
    free(body);
    x->first_byte_ms = cf->upstream.first_byte_timeout_ms;
    x->idle_ms = cf->upstream.stream_idle_timeout_ms;
    x->max_bytes = cf->upstream.max_response_size;
    x->connect_timeout_ms = (int)cf->upstream.connect_timeout_ms;
    x->verify_tls = cf->upstream.verify_tls;
    x->deadline_ns = tg_now() + cf->upstream.total_timeout_ms * 1000000;
    http_parser_init(&x->parser, HTTP_RESPONSE);
    x->parser.data = x;
    x->running = 0;
    tg_xfer_arm(x, x->first_byte_ms);
    tg_h1_start(x);
    return 0;
}

void tg_h1_detach(tg_xfer_t *x)
{
    tg_h1conn_t *c = x->conn;
    tg_h1pool_t *p;
    struct timeval tv = {TG_H1_IDLE_MS / 1000, 0};

    if (c == NULL)
        return;
    x->conn = NULL;
    c->x = NULL;
    p = c->pool;
    if (x->complete != 1 || !c->connected || c->reused < 0 ||
        !http_should_keep_alive(&x->parser) || p->nidle >= TG_H1_MAX_IDLE) {
        tg_h1_close(c);
        return;
    }
    c->reused = 1;
    c->next = p->idle;
    p->idle = c;
    p->nidle++;
    tg_h1_want(c, EV_READ, &tv);
}

void tg_h1_resume(tg_xfer_t *x)
{
    size_t off = 0;

    x->paused = 0;
    tg_xfer_arm(x, x->idle_ms);
    /* hand over what was held, as long as the owner keeps taking it */
    while (off < x->pending_len && !x->paused) {
        size_t chunk = x->pending_len - off;
        int rc = x->on_data(x, x->pending + off, chunk);
        if (rc < 0) {
            tg_h1_fail(x, TG_XFER_ABORTED, "aborted");
            return;
        }
        if (rc > 0) {
            x->paused = 1;
            break;
        }
        off += chunk;
    }
    memmove(x->pending, x->pending + off, x->pending_len - off);
    x->pending_len -= off;
    if (x->paused)
        return;
    if (x->complete == 1) {
        tg_xfer_finish(x, TG_XFER_OK);
        return;
    }
    tg_h1_want(x->conn, EV_READ, NULL);
    tg_h1_recv(x); /* curl may hold decrypted bytes the socket will not signal again */
}

void tg_h1_shutdown(void)
{
    while (tg_pools != NULL) {
        tg_h1pool_t *p = tg_pools;
        while (p->idle != NULL) {
            tg_h1conn_t *c = p->idle;
            p->idle = c->next;
            tg_h1_close(c);
        }
        tg_pools = p->next;
        free(p);
    }
}
