/*
 * How upstream failures become client errors. Transport failures and upstream statuses map to
 * an OpenAI-style status, type and code, and say whether another target could be tried.
 */
#ifndef TG_WORKER_ERRORS_H
#define TG_WORKER_ERRORS_H

#include "worker/http.h"
#include "worker/upstream.h"

typedef struct {
    int status;          /* status for the client */
    const char *type;    /* OpenAI error type */
    const char *code;    /* machine-readable code */
    int retryable;       /* another attempt (same or other target) may succeed */
    int pass_body;       /* the upstream's own error body may be shown to the client */
} tg_errmap_t;

/** Map a failed transfer (no usable HTTP answer). */
void tg_map_xfer_error(tg_xfer_result_t r, tg_errmap_t *m);

/** Map an upstream HTTP error status (>= 400). */
void tg_map_upstream_status(long status, tg_errmap_t *m);

/**
 * Anthropic's error type ("invalid_request_error", "authentication_error", "permission_error",
 * "not_found_error", "request_too_large", "rate_limit_error", "billing_error", "timeout_error",
 * "overloaded_error", "api_error") for one of Tollgate's errors, given as its HTTP status (0
 * when there is none, as in a stream that already answered 200), OpenAI type and code (either
 * may be NULL). The status decides, as Anthropic's API documents it; the code refines it.
 */
const char *tg_anthropic_error_type(int status, const char *type, const char *code);

/** The error dialect of a request path: Anthropic's under /v1/messages, else OpenAI's. */
tg_dialect_t tg_dialect_of_path(const char *path);

#endif
