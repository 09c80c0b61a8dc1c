/*
 * Error mapping (see errors.h). The rule: the client's own mistakes (4xx that the upstream
 * blames on the request) pass through with the upstream's explanation; the gateway's problems
 * (credentials, outages, timeouts) become 502/503/504 that name the provider but no secret.
 */
#include "worker/errors.h"

#include <string.h>

void tg_map_xfer_error(tg_xfer_result_t r, tg_errmap_t *m)
{
    memset(m, 0, sizeof(*m));
    m->type = "server_error";
    m->retryable = 1;
    switch (r) {
    case TG_XFER_CONNECT:
        m->status = 502;
        m->code = "upstream_unreachable";
        break;
    case TG_XFER_TIMEOUT:
    case TG_XFER_FIRST_BYTE_TIMEOUT:
    case TG_XFER_IDLE_TIMEOUT:
        m->status = 504;
        m->code = "upstream_timeout";
        break;
    case TG_XFER_TOO_LARGE:
        m->status = 502;
        m->code = "upstream_response_too_large";
        m->retryable = 0;
        break;
    default:
        m->status = 502;
        m->code = "upstream_error";
        break;
    }
}

void tg_map_upstream_status(long status, tg_errmap_t *m)
{
    memset(m, 0, sizeof(*m));
    if (status == 429) {
        m->status = 429;
        m->type = "rate_limit_error";
        m->code = "rate_limit_exceeded";
        m->retryable = 1;
        m->pass_body = 1;
    } else if (status == 401 || status == 403) {
        /* the client's key is ours; an upstream refusal is a gateway credential problem */
        m->status = 502;
        m->type = "server_error";
        m->code = "upstream_auth_failed";
        m->retryable = 1; /* another provider's credentials may be fine */
    } else if (status == 408 || status == 504) {
        m->status = 504;
        m->type = "server_error";
        m->code = "upstream_timeout";
        m->retryable = 1;
    } else if (status >= 400 && status < 500) {
        m->status = (int)status;
        m->type = "invalid_request_error";
        m->code = status == 404 ? "upstream_not_found" : NULL;
        m->pass_body = 1;
    } else if (status == 503 || status == 529) {
        m->status = 503;
        m->type = "server_error";
        m->code = "upstream_overloaded";
        m->retryable = 1;
    } else {
        m->status = 502;
        m->type = "server_error";
        m->code = "upstream_error";
        m->retryable = 1;
    }
}
