/*
 * How upstream failures become client errors. Transport failures and upstream statuses map to
 * an OpenAI-style status, type and code, and say whether another target could be tried.
 */
#ifndef TG_WORKER_ERRORS_H
#define TG_WORKER_ERRORS_H

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

#endif
