/*
 * Error mapping (see errors.h). The rule: the client's own mistakes (4xx that the upstream
 * blames on the request) pass through with the upstream's explanation; the gateway's problems
 * (credentials, outages, timeouts) become 502/503/504 that name the provider but no secret.
 * The same errors are written in Anthropic's vocabulary for requests on its dialect.
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

static int tg_streq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

const char *tg_anthropic_error_type(int status, const char *type, const char *code)
{
    /* codes that say more than their status */
    if (tg_streq(code, "upstream_overloaded"))
        return "overloaded_error";
    if (tg_streq(code, "upstream_timeout"))
        return "timeout_error";
    if (tg_streq(code, "insufficient_quota") || tg_streq(type, "insufficient_quota"))
        return "billing_error"; /* a budget, not a rate: retrying soon does not help */
    if (tg_streq(code, "request_too_large"))
        return "request_too_large";
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    case 0:
        break;
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
    /* no status (an error inside a stream): the OpenAI type is all there is */
    if (tg_streq(type, "rate_limit_error"))
        return "rate_limit_error";
    if (tg_streq(type, "invalid_request_error"))
        return "invalid_request_error";
    return "api_error";
}

tg_dialect_t tg_dialect_of_path(const char *path)
{
    if (strncmp(path, "/v1/messages", 12) == 0 &&
        (path[12] == '\0' || path[12] == '/' || path[12] == '?'))
        return TG_DIALECT_ANTHROPIC;
    return TG_DIALECT_OPENAI;
}
