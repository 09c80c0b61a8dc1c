/*
 * HTTP/1.1 connections for a worker. Each connection is a bufferevent whose input is fed to
 * http-parser; the parser is paused at the end of every request so that pipelined requests are
 * answered strictly in order, one at a time. Deadlines (headers, body, keep-alive idle, send) are
 * one timer per connection, re-armed per phase, so a slow client cannot hold a slot forever.
 * Answers are written to the socket directly once per loop turn (tg_http_flush_cb); only what
 * the kernel does not take waits for the bufferevent's write event.
 */
#include "worker/http.h"
#include "shared/tg_log.h"
#include "worker/access_log.h"
#include "worker/errors.h"
#include "worker/meter.h"

#include <errno.h>
#include <limits.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#define TG_OUT_HIGH_WATER (256 * 1024)
#define TG_OUT_LOW_WATER (64 * 1024)
#define TG_MAX_PIPELINED (1024 * 1024)

typedef enum {
    TG_CONN_IDLE,       /* waiting for the first byte of a request */
    TG_CONN_HEADERS,    /* reading headers */
    TG_CONN_BODY,       /* reading the body */
    TG_CONN_PROCESSING, /* request complete, response under way */
    TG_CONN_CLOSING,    /* flushing the last response, then close */
} tg_conn_state_t;

enum {
    TG_H_NONE,
    TG_H_REQUEST_ID,
    TG_H_CONTENT_TYPE,
    TG_H_AUTHORIZATION,
    TG_H_TE,
    TG_H_EXPECT,
    TG_H_API_KEY,
    TG_H_TASK,
    TG_H_COMPLEXITY
};

struct tg_conn_s {
    struct bufferevent *bev;
    struct event *timer;
    http_parser parser;
    tg_req_t *req;
    tg_conn_state_t state;
    int in_read;       /* inside the read loop: finishing must not recurse into it */
    int want_close;    /* close once the current response is flushed */
    int dead;          /* freed at the end of the read loop */
    int bad_header;    /* a header we care about was malformed or too long */
    int bev_writing;   /* EV_WRITE is on: the bufferevent sends what a direct write left */
    int flush_queued;  /* on tg_http's flush list */
    int hcur, hlast;
    char hname[32];
    size_t hname_len;
    char te[64];
    char expect[32];
    size_t hval_len;
    char addr[64];
    tg_conn_t *prev, *next;
    tg_conn_t *flush_next;
};

static struct {
    struct event_base *base;
    struct evconnlistener *listeners[64];
    int nlisteners;
    tg_http_handler_t handler;
    tg_config_t *cf;
    tg_conn_t *conns;
    int nconns;
    int draining;
    int paused_accept;
    uint64_t id_seed;
    uint64_t id_counter;
    struct event *flush;                /* tg_http_flush_cb, activated when the list gets one */
    tg_conn_t *flush_head, *flush_tail; /* connections with output to write this turn */
} tg_http;

static http_parser_settings tg_parser_settings;
static void tg_conn_process(tg_conn_t *c);
static void tg_conn_close(tg_conn_t *c);
static struct evbuffer *tg_conn_out(tg_conn_t *c);
static void tg_conn_event_cb(struct bufferevent *bev, short what, void *arg);

int64_t tg_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void tg_arm(tg_conn_t *c, int64_t ms)
{
    struct timeval tv;

    if (ms <= 0) {
        evtimer_del(c->timer);
        return;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    evtimer_add(c->timer, &tv);
}

/* ---- requests ---------------------------------------------------------------------------- */

#define TG_BODY_KEEP (16 * 1024) /* larger body buffers are not kept for the next request */
#define TG_REQ_POOL 64           /* finished requests kept for reuse, per worker */

/*
 * Finished requests' memory (7 KB each, plus a body buffer), kept per worker for the next
 * request on any connection. Kept per connection, it was held by every idle keep-alive
 * connection: 10 KB each, where a pool bounds it to TG_REQ_POOL requests in all.
 */
static struct {
    tg_req_t *free[TG_REQ_POOL];
    int n;
} tg_req_pool;

static tg_req_t *tg_req_new(tg_conn_t *c)
{
    tg_req_t *r = tg_req_pool.n > 0 ? tg_req_pool.free[--tg_req_pool.n] : NULL;

    if (r != NULL) {
        memset(r, 0, offsetof(tg_req_t, body));
        tg_buf_reset(&r->body);
        r->authed = 0;
        r->auth_slot = NULL;
        r->admission = NULL;
        r->path[0] = r->request_id[0] = r->content_type[0] = r->authorization[0] = '\0';
        r->api_key[0] = '\0';
        r->hdr_task[0] = r->hdr_complexity[0] = r->task[0] = r->fallback_reason[0] = '\0';
        r->complexity[0] = '\0';
        r->error_code[0] = '\0';
    } else if ((r = calloc(1, sizeof(*r))) == NULL) {
        return NULL;
    }
    r->conn = c;
    r->cf = tg_config_ref(tg_http.cf);
    r->start_ns = tg_now_ns();
    memcpy(r->client_addr, c->addr, sizeof(r->client_addr));
    return r;
}

static void tg_req_free(tg_req_t *r)
{
    tg_config_unref(r->cf);
    r->cf = NULL;
    if (tg_req_pool.n < TG_REQ_POOL && r->body.cap <= TG_BODY_KEEP) {
        tg_req_pool.free[tg_req_pool.n++] = r; /* the next request reuses it */
        return;
    }
    tg_buf_free(&r->body);
    free(r);
}

/* Free the pooled requests (worker exit). */
static void tg_req_pool_free(void)
{
    while (tg_req_pool.n > 0) {
        tg_req_t *r = tg_req_pool.free[--tg_req_pool.n];
        tg_buf_free(&r->body);
        free(r);
    }
}

static int tg_request_id_ok(const char *s)
{
    size_t n = 0;

    for (; *s; s++, n++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.' || *s == ':'))
            return 0;
    }
    return n > 0 && n <= TG_REQUEST_ID_MAX;
}

/*
 * "req_", the wall-clock millisecond in 11 hex digits, the worker's request counter in 5, then 8
 * hex digits of splitmix64 over a random seed and the counter (unique per worker, unguessable
 * enough). Leading with the time and the counter keeps a worker's ids in creation order, so the
 * metering store's request-id index is appended to at its right edge: full pages, and a batch
 * of requests dirties one or two index pages instead of one page each.
 */
static void tg_request_id_new(char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t ctr = ++tg_http.id_counter;
    uint64_t z = tg_http.id_seed + ctr * 0x9E3779B97F4A7C15ULL, ms;
    struct timespec ts;

    if (size < 29)
        return;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    memcpy(out, "req_", 4);
    for (int i = 0; i < 11; i++)
        out[4 + i] = hex[(ms >> (40 - 4 * i)) & 15];
    for (int i = 0; i < 5; i++)
        out[15 + i] = hex[(ctr >> (16 - 4 * i)) & 15];
    for (int i = 0; i < 8; i++)
        out[20 + i] = hex[(z >> (60 - 4 * i)) & 15];
    out[28] = '\0';
}

/* ---- parser callbacks --------------------------------------------------------------------- */

static int tg_on_message_begin(http_parser *p)
{
    tg_conn_t *c = p->data;

    if (c->req == NULL && (c->req = tg_req_new(c)) == NULL)
        return -1;
    c->state = TG_CONN_HEADERS;
    c->hlast = 0;
    c->hcur = TG_H_NONE;
    c->te[0] = c->expect[0] = '\0';
    c->bad_header = 0;
    tg_arm(c, c->req->cf->http.header_timeout_ms);
    return 0;
}

static int tg_on_url(http_parser *p, const char *at, size_t len)
{
    tg_conn_t *c = p->data;
    tg_req_t *r = c->req;

    if (r->path_len + len >= sizeof(r->path)) {
        c->bad_header = 414;
        return 0;
    }
    memcpy(r->path + r->path_len, at, len);
    r->path_len += len;
    r->path[r->path_len] = '\0';
    return 0;
}

static char *tg_hslot(tg_conn_t *c, size_t *size)
{
    tg_req_t *r = c->req;

    switch (c->hcur) {
    case TG_H_REQUEST_ID:
        *size = sizeof(r->request_id);
        return r->request_id;
    case TG_H_CONTENT_TYPE:
        *size = sizeof(r->content_type);
        return r->content_type;
    case TG_H_AUTHORIZATION:
        *size = sizeof(r->authorization);
        return r->authorization;
    case TG_H_API_KEY:
        *size = sizeof(r->api_key);
        return r->api_key;
    case TG_H_TASK:
        *size = sizeof(r->hdr_task);
        return r->hdr_task;
    case TG_H_COMPLEXITY:
        *size = sizeof(r->hdr_complexity);
        return r->hdr_complexity;
    case TG_H_TE:
        *size = sizeof(c->te);
        return c->te;
    case TG_H_EXPECT:
        *size = sizeof(c->expect);
        return c->expect;
    }
    return NULL;
}

static int tg_on_header_field(http_parser *p, const char *at, size_t len)
{
    tg_conn_t *c = p->data;

    if (c->hlast != 1) {
        c->hname_len = 0;
        c->hcur = TG_H_NONE;
    }
    c->hlast = 1;
    if (c->hname_len + len < sizeof(c->hname)) {
        memcpy(c->hname + c->hname_len, at, len);
        c->hname_len += len;
    } else {
        c->hname_len = sizeof(c->hname); /* too long to be one we care about */
    }
    return 0;
}

static int tg_on_header_value(http_parser *p, const char *at, size_t len)
{
    tg_conn_t *c = p->data;
    char *slot;
    size_t size;

    if (c->hlast != 2) {
        c->hcur = TG_H_NONE;
        c->hval_len = 0;
        if (c->hname_len < sizeof(c->hname)) {
            /* the headers we keep, compared only when the length matches (most do not) */
            static const struct {
                const char *name;
                size_t len;
                int id;
            } keep[] = {
                {"x-request-id", 12, TG_H_REQUEST_ID},
                {"content-type", 12, TG_H_CONTENT_TYPE},
                {"authorization", 13, TG_H_AUTHORIZATION},
                {"transfer-encoding", 17, TG_H_TE},
                {"expect", 6, TG_H_EXPECT},
                {"x-api-key", 9, TG_H_API_KEY},
                {"x-tollgate-task", 15, TG_H_TASK},
                {"x-tollgate-complexity", 21, TG_H_COMPLEXITY},
            };
            c->hname[c->hname_len] = '\0';
            for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
                if (keep[i].len == c->hname_len &&
                    strncasecmp(c->hname, keep[i].name, keep[i].len) == 0) {
                    c->hcur = keep[i].id;
                    break;
                }
        }
        if ((slot = tg_hslot(c, &size)) != NULL) {
            if (c->hcur == TG_H_TE && slot[0] != '\0') {
                /* repeated Transfer-Encoding lines form one list (RFC 9110 5.3) */
                c->hval_len = strlen(slot);
                if (c->hval_len + 2 < size) {
                    memcpy(slot + c->hval_len, ", ", 3);
                    c->hval_len += 2;
                }
            } else {
                slot[0] = '\0';
            }
        }
    }
    c->hlast = 2;
    if ((slot = tg_hslot(c, &size)) == NULL)
        return 0;
    if (c->hval_len + len >= size) {
        /*
         * Longer than anything we act on. A request id is replaced by our own, a content type
         * or credential we do not use is dropped; an over-long transfer coding is unsupported.
         */
        if (c->hcur == TG_H_TE)
            c->bad_header = 501;
        else
            slot[0] = '\0';
        c->hcur = TG_H_NONE;
        return 0;
    }
    memcpy(slot + c->hval_len, at, len);
    c->hval_len += len;
    slot[c->hval_len] = '\0';
    return 0;
}

static int tg_on_headers_complete(http_parser *p)
{
    tg_conn_t *c = p->data;
    tg_req_t *r = c->req;

    r->method = p->method;
    if (!tg_request_id_ok(r->request_id))
        tg_request_id_new(r->request_id, sizeof(r->request_id));
    if (c->te[0] != '\0' && strcasecmp(c->te, "chunked") != 0) {
        c->bad_header = 501;
        return -1;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > r->cf->http.max_body_size) {
        c->bad_header = 413;
        return -1;
    }
    if (c->bad_header)
        return -1;
    if (strcasecmp(c->expect, "100-continue") == 0 && p->http_minor >= 1)
        evbuffer_add(tg_conn_out(c), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    c->state = TG_CONN_BODY;
    tg_arm(c, r->cf->http.body_timeout_ms);
    return 0;
}

static int tg_on_body(http_parser *p, const char *at, size_t len)
{
    tg_conn_t *c = p->data;
    tg_req_t *r = c->req;

    if (r->body.len + len > r->cf->http.max_body_size) {
        c->bad_header = 413;
        return -1;
    }
    if (tg_buf_append(&r->body, at, len) == -1) {
        c->bad_header = 503;
        return -1;
    }
    return 0;
}

static int tg_on_message_complete(http_parser *p)
{
    tg_conn_t *c = p->data;

    c->state = TG_CONN_PROCESSING;
    evtimer_del(c->timer);
    http_parser_pause(p, 1);
    return 0;
}

/* ---- responses ---------------------------------------------------------------------------- */

static const char *tg_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return "Unknown";
}

static const char *tg_http_date(void)
{
    static char date[64];
    static time_t cached;
    time_t now = time(NULL);
    struct tm tm;

    if (now != cached) {
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = now;
    }
    return date;
}

static int tg_keepalive(tg_req_t *r)
{
    tg_conn_t *c = r->conn;

    return !c->want_close && !tg_http.draining && http_should_keep_alive(&c->parser);
}

/* Append n bytes to a fixed buffer; returns the new length (unchanged when it would not fit). */
static size_t tg_put(char *buf, size_t size, size_t len, const char *s, size_t n)
{
    if (len + n > size)
        return len;
    memcpy(buf + len, s, n);
    return len + n;
}

#define TG_PUT_LIT(buf, n, lit) tg_put(buf, sizeof(buf), n, lit, sizeof(lit) - 1)

static size_t tg_put_s(char *buf, size_t size, size_t len, const char *s)
{
    return tg_put(buf, size, len, s, strlen(s));
}

static size_t tg_put_int(char *buf, size_t size, size_t len, int64_t v)
{
    char tmp[24];

    return tg_put(buf, size, len, tmp, tg_fmt_int(tmp, v));
}

/* The status line and headers, built without printf: this runs once per request. */
static void tg_write_head(tg_req_t *r, int status, const char *content_type, int64_t length)
{
    struct evbuffer *out = tg_conn_out(r->conn);
    char head[2048];
    size_t n = 0;
    int keep = tg_keepalive(r);

    r->status = status;
    r->headers_sent = 1;
    if (length < 0 && r->conn->parser.http_minor == 0)
        keep = 0; /* HTTP/1.0 has no chunked encoding: the end is the close */
    if (!keep)
        r->conn->want_close = 1;
    n = TG_PUT_LIT(head, n, "HTTP/1.1 ");
    n = tg_put_int(head, sizeof(head), n, status);
    n = TG_PUT_LIT(head, n, " ");
    n = tg_put_s(head, sizeof(head), n, tg_reason(status));
    n = TG_PUT_LIT(head, n, "\r\nServer: tollgate\r\nDate: ");
    n = tg_put_s(head, sizeof(head), n, tg_http_date());
    n = TG_PUT_LIT(head, n, "\r\nContent-Type: ");
    n = tg_put_s(head, sizeof(head), n, content_type);
    n = TG_PUT_LIT(head, n, "\r\nx-request-id: ");
    n = tg_put_s(head, sizeof(head), n, r->request_id);
    n = TG_PUT_LIT(head, n, "\r\n");
    if (r->dialect == TG_DIALECT_ANTHROPIC) {
        /* where Anthropic's SDKs look for it (their responses' _request_id) */
        n = TG_PUT_LIT(head, n, "request-id: ");
        n = tg_put_s(head, sizeof(head), n, r->request_id);
        n = TG_PUT_LIT(head, n, "\r\n");
    }
    if (length >= 0) {
        n = TG_PUT_LIT(head, n, "Content-Length: ");
        n = tg_put_int(head, sizeof(head), n, length);
        n = TG_PUT_LIT(head, n, "\r\n");
    } else if (r->conn->parser.http_minor >= 1) {
        n = TG_PUT_LIT(head, n, "Transfer-Encoding: chunked\r\n");
        r->chunked = 1;
    }
    if (!keep)
        n = TG_PUT_LIT(head, n, "Connection: close\r\n");
    else if (r->conn->parser.http_minor == 0)
        n = TG_PUT_LIT(head, n, "Connection: keep-alive\r\n");
    n = tg_put(head, sizeof(head), n, r->extra_headers, r->extra_len);
    n = TG_PUT_LIT(head, n, "\r\n");
    evbuffer_add(out, head, n);
}

void tg_resp_header(tg_req_t *req, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);

    if (req->headers_sent || req->extra_len + nl + vl + 4 > sizeof(req->extra_headers)) {
        tg_log(TG_LOG_WARN, 0, "%s: response header %s dropped", req->request_id, name);
        return;
    }
    memcpy(req->extra_headers + req->extra_len, name, nl);
    req->extra_len += nl;
    memcpy(req->extra_headers + req->extra_len, ": ", 2);
    req->extra_len += 2;
    memcpy(req->extra_headers + req->extra_len, value, vl);
    req->extra_len += vl;
    memcpy(req->extra_headers + req->extra_len, "\r\n", 2);
    req->extra_len += 2;
}

/* The response is complete: log it, then go on with the next pipelined request or close. */
static void tg_req_done(tg_req_t *r)
{
    tg_conn_t *c = r->conn;

    r->complete = 1;
    if (r->ttft_ns == 0)
        r->ttft_ns = tg_now_ns() - r->start_ns;
    tg_meter_finish(r);
    tg_access_log(r);
    c->req = NULL;
    tg_req_free(r);
    if (c->want_close || tg_http.draining) {
        c->state = TG_CONN_CLOSING;
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            tg_conn_close(c);
        return;
    }
    c->state = TG_CONN_IDLE;
    tg_arm(c, tg_http.cf->http.keepalive_timeout_ms);
    if (!(bufferevent_get_enabled(c->bev) & EV_READ))
        bufferevent_enable(c->bev, EV_READ);
    http_parser_pause(&c->parser, 0);
    if (!c->in_read)
        tg_conn_process(c);
}

void tg_resp_send(tg_req_t *req, int status, const char *content_type, const char *body,
                  size_t len)
{
    struct evbuffer *out = tg_conn_out(req->conn);

    tg_write_head(req, status, content_type, (int64_t)len);
    if (len > 0 && req->method != TG_HTTP_HEAD)
        evbuffer_add(out, body, len);
    req->bytes_sent += len;
    tg_req_done(req);
}

void tg_resp_error(tg_req_t *req, int status, const char *type, const char *code,
                   const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    json_t *o;
    char *s;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (code != NULL)
        snprintf(req->error_code, sizeof(req->error_code), "%s", code);
    else if (req->error_code[0] == '\0')
        snprintf(req->error_code, sizeof(req->error_code), "%s", type);
    if (req->dialect == TG_DIALECT_ANTHROPIC)
        o = json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error", "error", "type",
                      tg_anthropic_error_type(status, type, code), "message", msg, "request_id",
                      req->request_id);
    else
        o = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", msg, "type", type, "param",
                      param, "code", code);
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s == NULL) {
        static const char fallback[] =
            "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
            "\"param\":null,\"code\":null}}";
        static const char fallback_anthropic[] =
            "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
            "\"message\":\"internal error\"}}";

        if (req->dialect == TG_DIALECT_ANTHROPIC)
            tg_resp_send(req, status, "application/json", fallback_anthropic,
                         sizeof(fallback_anthropic) - 1);
        else
            tg_resp_send(req, status, "application/json", fallback, sizeof(fallback) - 1);
    } else {
        tg_resp_send(req, status, "application/json", s, strlen(s));
    }
    free(s);
    json_decref(o);
}

void tg_resp_start(tg_req_t *req, int status, const char *content_type)
{
    tg_write_head(req, status, content_type, -1);
}

void tg_resp_chunk(tg_req_t *req, const void *data, size_t len)
{
    struct evbuffer *out;

    if (len == 0)
        return;
    out = tg_conn_out(req->conn);
    if (req->bytes_sent == 0)
        req->ttft_ns = tg_now_ns() - req->start_ns;
    if (req->chunked) {
        static const char hex[] = "0123456789abcdef";
        char size[20];
        size_t n = sizeof(size) - 2, v = len;

        size[sizeof(size) - 2] = '\r';
        size[sizeof(size) - 1] = '\n';
        do {
            size[--n] = hex[v & 15];
            v >>= 4;
        } while (v > 0);
        evbuffer_add(out, size + n, sizeof(size) - n);
    }
    evbuffer_add(out, data, len);
    if (req->chunked)
        evbuffer_add(out, "\r\n", 2);
    req->bytes_sent += len;
}

void tg_resp_end(tg_req_t *req)
{
    if (req->chunked)
        evbuffer_add(tg_conn_out(req->conn), "0\r\n\r\n", 5);
    tg_req_done(req);
}

int tg_resp_busy(tg_req_t *req)
{
    return evbuffer_get_length(bufferevent_get_output(req->conn->bev)) > TG_OUT_HIGH_WATER;
}

/* ---- output ------------------------------------------------------------------------------- */

/*
 * Answers are appended to the connection's bufferevent output buffer, but the bufferevent's
 * write event is kept off while that buffer is empty. Left on, every answer would cost two
 * epoll_ctl calls (EPOLLOUT on when the buffer fills, off when it empties) and a loop turn
 * waiting for a socket that is nearly always writable. Instead tg_conn_out() lists the
 * connection and tg_http_flush_cb writes each listed buffer with one writev later in the same
 * turn; only what the kernel does not take is left to the bufferevent (EV_WRITE on, with the
 * send timeout and the low-water callback) until all of it is out. While EV_WRITE is on, new
 * output simply queues behind that remainder, so bytes always leave in the order produced.
 */
static struct evbuffer *tg_conn_out(tg_conn_t *c)
{
    if (!c->bev_writing && !c->flush_queued) {
        c->flush_queued = 1;
        c->flush_next = NULL;
        if (tg_http.flush_tail != NULL) {
            tg_http.flush_tail->flush_next = c;
        } else {
            tg_http.flush_head = c;
            event_active(tg_http.flush, EV_TIMEOUT, 0);
        }
        tg_http.flush_tail = c;
    }
    return bufferevent_get_output(c->bev);
}

/* Take a closing connection off the flush list. */
static void tg_conn_unqueue(tg_conn_t *c)
{
    tg_conn_t **pp = &tg_http.flush_head, *prev = NULL;

    if (!c->flush_queued)
        return;
    while (*pp != c) {
        prev = *pp;
        pp = &prev->flush_next;
    }
    *pp = c->flush_next;
    if (tg_http.flush_tail == c)
        tg_http.flush_tail = prev;
    c->flush_queued = 0;
}

/* Output was written (directly or by the bufferevent); what is left is under the low-water mark. */
static void tg_conn_sent(tg_conn_t *c)
{
    if (c->state == TG_CONN_CLOSING &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        tg_conn_close(c);
        return;
    }
    if (c->req != NULL && c->req->on_drain != NULL && !tg_resp_busy(c->req))
        c->req->on_drain(c->req);
}

/* Write c's output now; leave the rest to the bufferevent. c may be closed on return. */
static void tg_conn_flush(tg_conn_t *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int n, err;

    if (evbuffer_get_length(out) == 0)
        return;
    /*
     * A socket bufferevent keeps the front of its output frozen so that only its own write
     * callback drains it (evbuffer_write refuses a frozen buffer); this write stands in for that
     * callback and thaws it the same way.
     */
    evbuffer_unfreeze(out, 1);
    n = evbuffer_write(out, bufferevent_getfd(c->bev));
    err = errno;
    evbuffer_freeze(out, 1);
    if (n <= 0 && !(n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))) {
        /* the client reset or went away: end it as the bufferevent ends its own write errors */
        tg_conn_event_cb(c->bev, BEV_EVENT_WRITING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR),
                         c);
        return;
    }
    if (evbuffer_get_length(out) > 0) {
        c->bev_writing = 1;
        bufferevent_enable(c->bev, EV_WRITE);
        return;
    }
    tg_conn_sent(c);
}

/*
 * EV_ACTIVE callback: write the turn's output. An answer must not reach a client before the
 * settlement of its request is committed (worker/meter.c), and settlements are queued by
 * tg_req_done → tg_meter_finish for a group commit once per turn. Rather than rely on the order
 * libevent runs this and the meter's own flush event in (activation order, which depends on
 * which of them was activated first in the turn), the queue is committed here first — and again
 * before each connection, since writing one can finish a request (on_drain resumes a stream
 * that then ends). The access log's pending lines are written first too, so that a client that
 * has its answer finds its line (as when answers went out on the next loop turn). Both cost
 * nothing when nothing is pending, and they still write once per turn: libevent queues every socket
 * event a turn's epoll_wait reported, and every expired timer, before it runs any of them, so
 * this callback, activated by the first of them to answer, runs after all of them.
 */
static void tg_http_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_conn_t *c;

    while ((c = tg_http.flush_head) != NULL) {
        tg_http.flush_head = c->flush_next;
        if (tg_http.flush_head == NULL)
            tg_http.flush_tail = NULL;
        c->flush_queued = 0;
        tg_meter_commit();
        tg_access_log_flush();
        tg_conn_flush(c);
    }
}

/* ---- connections -------------------------------------------------------------------------- */

/* Answer a request the parser or a limit refused, then close (the stream is out of sync). */
static void tg_conn_reject(tg_conn_t *c, int status, const char *message)
{
    if (c->req == NULL && (c->req = tg_req_new(c)) == NULL) {
        tg_conn_close(c);
        return;
    }
    if (c->req->request_id[0] == '\0' || !tg_request_id_ok(c->req->request_id))
        tg_request_id_new(c->req->request_id, sizeof(c->req->request_id));
    c->want_close = 1;
    c->state = TG_CONN_PROCESSING;
    c->req->dialect = tg_dialect_of_path(c->req->path);
    tg_resp_error(c->req, status, "invalid_request_error",
                  status == 413 ? "request_too_large" : NULL, NULL, "%s", message);
}

static void tg_conn_close(tg_conn_t *c)
{
    if (c->in_read) {
        c->dead = 1;
        return;
    }
    if (c->req != NULL) {
        tg_req_t *r = c->req;
        /* the client is gone before the answer completed: let the handler settle */
        if (r->status == 0)
            r->status = 499;
        if (r->on_abort != NULL)
            r->on_abort(r);
        if (r->error_code[0] == '\0')
            snprintf(r->error_code, sizeof(r->error_code), "client_closed");
        tg_meter_finish(r);
        tg_access_log(r);
        c->req = NULL;
        tg_req_free(r);
    }
    tg_conn_unqueue(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        tg_http.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    tg_http.nconns--;
    event_free(c->timer);
    bufferevent_free(c->bev);
    free(c);
    if (tg_http.paused_accept && !tg_http.draining &&
        tg_http.nconns < tg_http.cf->http.max_connections) {
        for (int i = 0; i < tg_http.nlisteners; i++)
            evconnlistener_enable(tg_http.listeners[i]);
        tg_http.paused_accept = 0;
    }
}

static void tg_conn_process(tg_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec vec[8];
    int n;

    c->in_read = 1;
    while (!c->dead && c->state != TG_CONN_PROCESSING && c->state != TG_CONN_CLOSING &&
           evbuffer_get_length(in) > 0) {
        size_t parsed, total = 0;

        n = evbuffer_peek(in, -1, NULL, vec, 8);
        if (n > 8)
            n = 8;
        for (int i = 0; i < n; i++) {
            parsed = http_parser_execute(&c->parser, &tg_parser_settings, vec[i].iov_base,
                                         vec[i].iov_len);
            total += parsed;
            if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || parsed < vec[i].iov_len)
                break;
        }
        evbuffer_drain(in, total);
        if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
            tg_req_t *r = c->req;
            /* a complete request: answer it before parsing what follows */
            c->state = TG_CONN_PROCESSING;
            r->start_ns = tg_now_ns();
            tg_http.handler(r);
            continue;
        }
        if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
            enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
            int status = c->bad_header ? c->bad_header : 400;
            char msg[256];

            if (status == 413)
                snprintf(msg, sizeof(msg), "Request body too large: the limit is %zu bytes",
                         c->req ? c->req->cf->http.max_body_size : (size_t)0);
            else if (status == 501)
                snprintf(msg, sizeof(msg), "Transfer-Encoding \"%s\" is not supported; only"
                                           " chunked is", c->te);
            else if (status == 414)
                snprintf(msg, sizeof(msg), "Request URI too long");
            else if (e == HPE_HEADER_OVERFLOW)
                status = 431, snprintf(msg, sizeof(msg), "Request headers too large");
            else
                snprintf(msg, sizeof(msg), "Malformed HTTP request: %s",
                         http_errno_description(e));
            tg_conn_reject(c, status, msg);
            break;
        }
    }
    if (!c->dead && c->state == TG_CONN_PROCESSING && evbuffer_get_length(in) > TG_MAX_PIPELINED)
        bufferevent_disable(c->bev, EV_READ); /* a pipelining flood waits in the kernel */
    c->in_read = 0;
    if (c->dead)
        tg_conn_close(c);
}

static void tg_conn_read_cb(struct bufferevent *bev, void *arg)
{
    tg_conn_t *c = arg;

    if (c->state == TG_CONN_PROCESSING || c->state == TG_CONN_CLOSING) {
        /* pipelined bytes wait until the current answer is out; a flood waits in the kernel */
        if (evbuffer_get_length(bufferevent_get_input(bev)) > TG_MAX_PIPELINED)
            bufferevent_disable(bev, EV_READ);
        return;
    }
    tg_conn_process(c);
}

/* The bufferevent wrote part of a remainder a direct write left (see tg_conn_out). */
static void tg_conn_write_cb(struct bufferevent *bev, void *arg)
{
    tg_conn_t *c = arg;

    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        /* all out (the bufferevent has stopped its write event): write directly again */
        c->bev_writing = 0;
        bufferevent_disable(bev, EV_WRITE);
    }
    tg_conn_sent(c);
}

static void tg_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    tg_conn_t *c = arg;

    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        tg_conn_close(c);
}

static void tg_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_conn_t *c = arg;

    if (c->state == TG_CONN_HEADERS || c->state == TG_CONN_BODY) {
        tg_conn_reject(c, 408, c->state == TG_CONN_HEADERS
                                   ? "Timed out reading the request headers"
                                   : "Timed out reading the request body");
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        /* not idle: a large answer is still going out to a slow reader (the send timeout
           watches for one that stalls), so the keep-alive wait starts again */
        tg_arm(c, tg_http.cf->http.keepalive_timeout_ms);
        return;
    }
    tg_conn_close(c); /* keep-alive idle */
}

static void tg_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
    tg_conn_t *c;
    int one = 1;
    struct timeval send_tv;

    if (tg_http.draining) {
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->bev = bufferevent_socket_new(tg_http.base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(tg_http.base, tg_conn_timer_cb, c);
    if (c->bev == NULL || c->timer == NULL) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return;
    }
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->addr, sizeof(c->addr));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->addr, sizeof(c->addr));
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = TG_CONN_IDLE;
    bufferevent_setcb(c->bev, tg_conn_read_cb, tg_conn_write_cb, tg_conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, TG_OUT_LOW_WATER, 0);
    send_tv.tv_sec = (time_t)(tg_http.cf->http.send_timeout_ms / 1000);
    send_tv.tv_usec = (suseconds_t)(tg_http.cf->http.send_timeout_ms % 1000) * 1000;
    bufferevent_set_timeouts(c->bev, NULL, &send_tv);
    /* a new bufferevent has EV_WRITE enabled; it is for what a direct write leaves only */
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
    tg_arm(c, tg_http.cf->http.header_timeout_ms);
    c->next = tg_http.conns;
    if (c->next)
        c->next->prev = c;
    tg_http.conns = c;
    if (++tg_http.nconns >= tg_http.cf->http.max_connections) {
        for (int i = 0; i < tg_http.nlisteners; i++)
            evconnlistener_disable(tg_http.listeners[i]);
        tg_http.paused_accept = 1;
    }
}

static void tg_accept_error_cb(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();

    tg_log(TG_LOG_ERROR, err, "accept() failed");
}

int tg_http_listen(struct event_base *base, int fd, tg_http_handler_t handler)
{
    struct evconnlistener *l;

    if (tg_http.nlisteners == (int)(sizeof(tg_http.listeners) / sizeof(tg_http.listeners[0])))
        return -1;
    if (tg_http.base == NULL) {
        tg_http.base = base;
        tg_parser_settings.on_message_begin = tg_on_message_begin;
        tg_parser_settings.on_url = tg_on_url;
        tg_parser_settings.on_header_field = tg_on_header_field;
        tg_parser_settings.on_header_value = tg_on_header_value;
        tg_parser_settings.on_headers_complete = tg_on_headers_complete;
        tg_parser_settings.on_body = tg_on_body;
        tg_parser_settings.on_message_complete = tg_on_message_complete;
        if ((tg_http.flush = event_new(base, -1, 0, tg_http_flush_cb, NULL)) == NULL) {
            tg_log(TG_LOG_ERROR, errno, "event_new() failed");
            return -1;
        }
        if (getrandom(&tg_http.id_seed, sizeof(tg_http.id_seed), 0) != sizeof(tg_http.id_seed))
            tg_http.id_seed = (uint64_t)tg_now_ns() ^ ((uint64_t)getpid() << 32);
    }
    tg_http.handler = handler;
    evutil_make_socket_nonblocking(fd);
    l = evconnlistener_new(base, tg_accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (l == NULL) {
        tg_log(TG_LOG_ERROR, errno, "evconnlistener_new() failed");
        return -1;
    }
    evconnlistener_set_error_cb(l, tg_accept_error_cb);
    tg_http.listeners[tg_http.nlisteners++] = l;
    return 0;
}

void tg_http_set_config(tg_config_t *cf)
{
    tg_config_t *old = tg_http.cf;

    tg_http.cf = tg_config_ref(cf);
    tg_config_unref(old);
    http_parser_set_max_header_size((uint32_t)cf->http.max_header_size);
}

void tg_http_drain(void)
{
    tg_conn_t *c, *next;

    tg_http.draining = 1;
    for (int i = 0; i < tg_http.nlisteners; i++)
        evconnlistener_free(tg_http.listeners[i]);
    tg_http.nlisteners = 0;
    for (c = tg_http.conns; c != NULL; c = next) {
        next = c->next;
        if (c->state != TG_CONN_IDLE)
            c->want_close = 1;
        else if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
            c->state = TG_CONN_CLOSING; /* its last answer is still going out: then close */
        else
            tg_conn_close(c);
    }
}

int tg_http_connections(void)
{
    return tg_http.nconns;
}

void tg_http_close_all(void)
{
    while (tg_http.conns != NULL)
        tg_conn_close(tg_http.conns);
    tg_req_pool_free();
    for (int i = 0; i < tg_http.nlisteners; i++)
        evconnlistener_free(tg_http.listeners[i]);
    tg_http.nlisteners = 0;
    if (tg_http.flush != NULL)
        event_free(tg_http.flush);
    tg_http.flush = NULL;
    tg_config_unref(tg_http.cf);
    tg_http.cf = NULL;
}
