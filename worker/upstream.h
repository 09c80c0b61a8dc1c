/*
 * Upstream HTTP transfers on the worker's event loop: libcurl's multi_socket interface driven by
 * libevent (the hiperfifo pattern), with connection reuse, HTTP/2 when offered, TLS verification,
 * and first-byte / idle deadlines that curl does not offer itself.
 */
#ifndef TG_WORKER_UPSTREAM_H
#define TG_WORKER_UPSTREAM_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/tg_config.h"

struct event_base;
typedef struct tg_xfer_s tg_xfer_t;

typedef enum {
    TG_XFER_OK = 0,
    TG_XFER_CONNECT,            /* could not resolve or connect */
    TG_XFER_TIMEOUT,            /* connect or total deadline */
    TG_XFER_FIRST_BYTE_TIMEOUT, /* no answer within first_byte_timeout */
    TG_XFER_IDLE_TIMEOUT,       /* a stream went quiet for stream_idle_timeout */
    TG_XFER_TOO_LARGE,          /* response over max_response_size */
    TG_XFER_ABORTED,            /* the owner asked to stop */
    TG_XFER_FAILED,             /* anything else: reset, protocol error, TLS error */
} tg_xfer_result_t;

/** Data arrived (status and headers are known). Return 0 to go on, 1 to pause, -1 to abort. */
typedef int (*tg_xfer_data_cb)(tg_xfer_t *x, const char *data, size_t len);

/** The transfer ended; x is freed right after this returns. */
typedef void (*tg_xfer_done_cb)(tg_xfer_t *x, tg_xfer_result_t result);

/* tg_xfer_t.aflags */
#define TG_XFER_F_EMBED_BASE64 0x1 /* send the float embeddings to the client as base64 */

struct tg_xfer_s {
    int kind; /* TG_KIND_XFER: tells transfers from pooled connections in curl's PRIVATE */
    void *arg;
    tg_xfer_data_cb on_data;
    tg_xfer_done_cb on_done;
    long status;            /* HTTP status of the answer, 0 until known */
    char content_type[128];
    char retry_after[32];
    char error_type[96];    /* x-amzn-ErrorType: the AWS error code of an error answer */
    char errbuf[256];       /* curl's description of a failure; never holds secrets */
    uint64_t bytes;         /* body bytes received */

    /* set by an adapter: a header list and a parsed URL kept per provider (not owned) */
    const void *shared_headers; /* struct curl_slist *, used instead of tg_xfer_header lines */
    void *curlu;                /* CURLU *, used instead of the url argument */

    /*
     * Set by an adapter to use the HTTP/1.1 connection pool (upstream_h1.c) instead of curl's
     * full HTTP stack: the pool key ("scheme://host:port") and the request head, every line
     * but Content-Length (not owned; kept per provider).
     */
    const char *h1_origin;
    const char *h1_head;
    size_t h1_head_len;
    char *owned;       /* a per-request head or URL an adapter built (freed with x) */
    unsigned aflags;   /* TG_XFER_F_*: what an adapter's prepare asks of the answer's handling */

    /* private */
    void *easy;
    struct curl_slist *headers;
    char *body;
    struct event *timer;
    int64_t first_byte_ms, idle_ms;
    size_t max_bytes;
    int paused, got_data, running;
    int64_t deadline_ns; /* total_timeout */

    /* HTTP/1.1 pool transfers */
    struct tg_h1conn_s *conn;
    http_parser parser;
    char *out;            /* request bytes: head + Content-Length + body */
    size_t out_len, out_off;
    char *pending;        /* body bytes held while paused */
    size_t pending_len, pending_cap;
    int hfield;           /* header being read: 0 none, 1 content-type, 2 retry-after, 3 error type */
    int hlast;
    int complete, retried, connect_timeout_ms;
    int verify_tls;
};

/** Set up libcurl on base for this process. Returns 0 or -1. */
int tg_upstream_init(struct event_base *base);

/** The event base transfers run on (for timers of their owners, e.g. retry back-offs). */
struct event_base *tg_upstream_base(void);

/** Cancel every transfer and free libcurl's state. */
void tg_upstream_shutdown(void);

/** A new transfer with no headers. */
tg_xfer_t *tg_xfer_new(void);

/** Add a request header line "Name: value" (copied). Returns 0 or -1. */
int tg_xfer_header(tg_xfer_t *x, const char *line);

/**
 * POST body (ownership passes to the transfer, freed with it) to url with cf's upstream limits.
 * Returns 0, or -1 with x freed and nothing called back.
 */
int tg_xfer_post(tg_xfer_t *x, const char *url, char *body, size_t len, const tg_config_t *cf);

/** Stop a running transfer and free it; on_done is not called. */
void tg_xfer_cancel(tg_xfer_t *x);

/** Resume a transfer paused by on_data returning 1. */
void tg_xfer_resume(tg_xfer_t *x);

/** Running transfers in this process. */
int tg_upstream_running(void);

/** A short human description of a result. */
const char *tg_xfer_result_str(tg_xfer_result_t r);

#endif
