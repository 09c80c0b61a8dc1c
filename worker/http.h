/*
 * The worker's HTTP/1.1 server: connections on libevent bufferevents, requests parsed by
 * http-parser (strict build), one request in flight per connection (pipelined requests wait in
 * the input buffer), explicit limits and deadlines. Handlers answer through the tg_resp_* calls.
 */
#ifndef TG_WORKER_HTTP_H
#define TG_WORKER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_buf.h"
#include "shared/tg_config.h"
#include "shared/tg_keys.h"
#include "shared/tg_meter.h"
#include "shared/tg_money.h"

struct event_base;
struct evbuffer;
typedef struct tg_conn_s tg_conn_t;
typedef struct tg_req_s tg_req_t;

#define TG_REQUEST_ID_MAX 64

enum { TG_HTTP_GET = 1, TG_HTTP_POST = 3, TG_HTTP_HEAD = 2 }; /* http-parser's enum values */

/**
 * The wire format a request's errors (and answers) are written in. OpenAI's is the default;
 * Anthropic's is used on /v1/messages so that Anthropic's SDKs raise their typed errors.
 */
typedef enum { TG_DIALECT_OPENAI = 0, TG_DIALECT_ANTHROPIC } tg_dialect_t;

/** One HTTP request and the state of its response. Lives until tg_req_finish. */
struct tg_req_s {
    tg_conn_t *conn;
    tg_config_t *cf; /* the config generation this request runs on (a reference) */
    int method;      /* http-parser method */
    size_t path_len;
    int64_t start_ns;
    tg_dialect_t dialect; /* set by the dispatcher before anything is answered */

    /* response state */
    int status;
    int headers_sent;
    int chunked;
    int complete;
    uint64_t bytes_sent;
    size_t extra_len;

    /* what the access log reports; filled in by the handler */
    const char *model;         /* public model name (points into cf) */
    const char *provider;      /* provider name (points into cf) */
    const char *upstream_model;
    const char *route;         /* the route named in `model` (points into cf), or NULL */
    const char *experiment;    /* the A/B experiment it took part in (into cf), or NULL */
    const char *variant;       /* and the experiment's arm */
    const char *shadow_of;     /* a shadow copy (worker/shadow.c): the mirrored request's id */
    int extra_attempt;         /* a hedge that lost or a rejected cascade answer (own record) */
    const char *output;        /* a shadow's answer text to record, or NULL */
    int stream;
    int attempts;
    tg_usage_t usage;
    int64_t cost_pico;
    int64_t ttft_ns;           /* first byte of the answer sent to the client, from start */
    int metered;               /* settle usage in the store when finished */
    int reserved;              /* reservation below is live */
    int limited;               /* refused by the gateway's limits: tg_meter_limited(), else 0 */
    tg_reservation_t reservation;

    /* the handler's state and its hooks, set by the handler */
    void *handler;
    /** Client went away (or the worker must stop) before the response completed. */
    void (*on_abort)(tg_req_t *req);
    /** The client's output buffer drained below the low-water mark after tg_resp_busy. */
    void (*on_drain)(tg_req_t *req);

    /*
     * Buffers last: a connection reuses its request object for the next keep-alive request and
     * clears everything above, but only the first byte of each of these (and keeps the body's
     * memory).
     */
    tg_buf_t body;
    int authed;   /* key below is valid (auth: keys) */
    void *auth_slot; /* the auth cache entry it came from, or NULL */
    void *admission; /* its queued admission, or NULL */
    tg_key_t key; /* the caller's virtual key record */
    char path[2048];
    char request_id[TG_REQUEST_ID_MAX + 1];
    char content_type[128];
    char authorization[1024];
    char api_key[256]; /* x-api-key (Anthropic's SDKs); Authorization wins over it */
    char hdr_task[129];       /* x-tollgate-task */
    char hdr_complexity[129]; /* x-tollgate-complexity: a label or a score from 0 to 1 */
    char task[129];           /* the task label the request was routed (and is metered) with */
    char complexity[129];     /* the complexity label it was routed with */
    char fallback_reason[48]; /* why the last attempt moved on to another target */
    char client_addr[64];
    char error_code[48];       /* short machine-readable reason when status >= 400 */
    char extra_headers[1024];  /* "Name: value\r\n" lines added by handlers */
};

/** Called for each complete request; the handler must eventually call tg_resp_* to answer. */
typedef void (*tg_http_handler_t)(tg_req_t *req);

/** Start serving connections accepted on fd (a listening socket) with handler. */
int tg_http_listen(struct event_base *base, int fd, tg_http_handler_t handler);

/** Stop accepting; idle keep-alive connections close; others close after their response. */
void tg_http_drain(void);

/** Number of open client connections. */
int tg_http_connections(void);

/** Abort every in-flight request and close every connection (hard stop). */
void tg_http_close_all(void);

/** Set the configuration new requests run on (takes a reference). */
void tg_http_set_config(tg_config_t *cf);

/** Add a response header (before the response starts). name and value are copied. */
void tg_resp_header(tg_req_t *req, const char *name, const char *value);

/** Send a complete response with a body of len bytes. */
void tg_resp_send(tg_req_t *req, int status, const char *content_type, const char *body,
                  size_t len);

/**
 * Send an error in the request's dialect: OpenAI's {"error":{"message","type","param","code"}}
 * (param and code may be NULL, sent as null), or on TG_DIALECT_ANTHROPIC Anthropic's
 * {"type":"error","error":{"type","message"},"request_id"} with the type derived from status,
 * type and code (see tg_anthropic_error_type).
 */
void tg_resp_error(tg_req_t *req, int status, const char *type, const char *code,
                   const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/** Start a chunked response (used for event streams). */
void tg_resp_start(tg_req_t *req, int status, const char *content_type);

/** Send one chunk of a started response (len > 0). */
void tg_resp_chunk(tg_req_t *req, const void *data, size_t len);

/** End a started chunked response. */
void tg_resp_end(tg_req_t *req);

/**
 * Returns 1 when the client's output buffer is over the high-water mark: the caller should stop
 * producing until req->on_drain is called.
 */
int tg_resp_busy(tg_req_t *req);

/** Monotonic nanoseconds. */
int64_t tg_now_ns(void);

#endif
