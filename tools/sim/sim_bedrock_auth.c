/*
 * AWS Bedrock's credential check and error shape for tollgate-sim. A SigV4 request is verified
 * the way AWS does it: the canonical request is rebuilt from the bytes received (method, raw
 * path, query, the headers the client says it signed, the body's SHA-256) with the simulator's
 * own secret (shared/tg_sigv4.c), and the signatures must match. Errors are `{"message": ...}`
 * with the error code in x-amzn-ErrorType, as Bedrock sends them.
 */
#include "tools/sim/sim.h"
#include "shared/tg_sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#define SIM_B_SKEW_S (15 * 60) /* AWS refuses signatures more than 15 minutes off */

static const char sim_b_bad_signature[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

static const char *sim_bedrock_type(int status)
{
    switch (status) {
    case 400:
        return "ValidationException";
    case 403:
        return "AccessDeniedException";
    case 404:
        return "ResourceNotFoundException";
    case 408:
        return "ModelTimeoutException";
    case 424:
        return "ModelErrorException";
    case 429:
        return "ThrottlingException";
    case 503:
        return "ServiceUnavailableException";
    default:
        return status >= 500 ? "InternalServerException" : "ValidationException";
    }
}

void sim_bedrock_error_typed(sim_req_t *r, int status, const char *type, const char *message)
{
    char value[128];

    /* AWS decorates the code with the service's namespace; clients cut at the ':' */
    sim_fmt(value, sizeof(value), "%s:http://internal.amazon.com/coral/com.amazon.bedrock/", type);
    sim_reply_json(r, status, json_pack("{s:s}", "message", message), "x-amzn-ErrorType", value);
}

void sim_bedrock_error(sim_req_t *r, int status, const char *message)
{
    sim_bedrock_error_typed(r, status, sim_bedrock_type(status), message);
}

/* One field of the Authorization header ("Credential=", ...) up to ',' or the end. */
static int sim_b_field(const char *authz, const char *name, char *out, size_t size)
{
    const char *p = strstr(authz, name);
    size_t n;

    if (p == NULL)
        return -1;
    p += strlen(name);
    n = strcspn(p, ", ");
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* x-amz-date within SIM_B_SKEW_S of now? */
static int sim_b_fresh(const char *date)
{
    struct tm tm = {0};
    const char *end = strptime(date, "%Y%m%dT%H%M%SZ", &tm);
    time_t t;

    if (end == NULL || *end != '\0')
        return 0;
    t = timegm(&tm);
    return t > time(NULL) - SIM_B_SKEW_S && t < time(NULL) + SIM_B_SKEW_S;
}

/*
 * The signature the simulator computes for this request, from what the client says it signed.
 * Returns 0 with the Authorization value in out, or -1 (a signed header is missing, too many).
 */
static int sim_b_expected(sim_req_t *r, const char *scope_date, const char *region,
                          const char *service, const char *signed_headers, tg_buf_t *out)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    struct evbuffer *body = evhttp_request_get_input_buffer(r->req);
    size_t blen = evbuffer_get_length(body);
    const char *bytes = blen > 0 ? (const char *)evbuffer_pullup(body, -1) : "";
    tg_sigv4_header_t h[TG_SIGV4_MAX_HEADERS];
    char names[512], hash[65], *save = NULL;
    const char *date = evhttp_find_header(in, "x-amz-date");
    tg_sigv4_request_t req = {r->method, evhttp_uri_get_path(uri), evhttp_uri_get_query(uri), h, 0,
                              hash};
    tg_sigv4_key_t k;

    memset(&k, 0, sizeof(k));
    if (sim_fmt(names, sizeof(names), "%s", signed_headers) != 0 || date == NULL)
        return -1;
    for (char *n = strtok_r(names, ";", &save); n != NULL; n = strtok_r(NULL, ";", &save)) {
        const char *v = evhttp_find_header(in, n);

        if (v == NULL || req.nheaders == TG_SIGV4_MAX_HEADERS)
            return -1;
        h[req.nheaders++] = (tg_sigv4_header_t){n, v};
    }
    tg_sigv4_sha256_hex(bytes, blen, hash);
    return tg_sigv4_derive(&k, r->sim->aws_secret_access_key, scope_date, region, service) == 0 &&
                   tg_sigv4_authorization(&k, r->sim->aws_access_key_id, region, service, date,
                                          &req, out) == 0
               ? 0
               : -1;
}

/* Verify a SigV4 Authorization header. Returns 0, or -1 after the 403. */
static int sim_b_sigv4(sim_req_t *r, const char *authz)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    const char *date = evhttp_find_header(in, "x-amz-date");
    const char *token = evhttp_find_header(in, "x-amz-security-token");
    char cred[256], signed_headers[512], *parts[5], *save = NULL;
    tg_buf_t want = {0};
    int n = 0, ok;

    if (sim_b_field(authz, "Credential=", cred, sizeof(cred)) != 0 ||
        sim_b_field(authz, "SignedHeaders=", signed_headers, sizeof(signed_headers)) != 0 ||
        strstr(authz, "Signature=") == NULL) {
        sim_bedrock_error_typed(r, 403, "IncompleteSignatureException",
                                "Authorization header requires 'Credential', 'Signature' and "
                                "'SignedHeaders' parameters.");
        return -1;
    }
    for (char *p = strtok_r(cred, "/", &save); p != NULL && n < 5; p = strtok_r(NULL, "/", &save))
        parts[n++] = p;
    if (n != 5 || strcmp(parts[0], r->sim->aws_access_key_id) != 0 ||
        (r->sim->aws_session_token != NULL &&
         (token == NULL || strcmp(token, r->sim->aws_session_token) != 0))) {
        sim_bedrock_error_typed(r, 403, "UnrecognizedClientException",
                                "The security token included in the request is invalid.");
        return -1;
    }
    if (date == NULL || strncmp(date, parts[1], 8) != 0 || !sim_b_fresh(date)) {
        sim_bedrock_error_typed(r, 403, "InvalidSignatureException",
                                "Signature expired or not yet current: the X-Amz-Date must be "
                                "within 15 minutes of the server's time.");
        return -1;
    }
    ok = strcmp(parts[3], "bedrock") == 0 && strcasestr(signed_headers, "host") != NULL &&
         sim_b_expected(r, parts[1], parts[2], parts[3], signed_headers, &want) == 0 &&
         strcmp(want.data, authz) == 0;
    tg_buf_free(&want);
    if (!ok) {
        sim_bedrock_error_typed(r, 403, "InvalidSignatureException", sim_b_bad_signature);
        return -1;
    }
    return 0;
}

int sim_bedrock_check(sim_req_t *r)
{
    const char *authz =
        evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
    const char *key = r->sim->api_key;

    if (r->sim->aws_access_key_id == NULL && key == NULL)
        return 0;
    if (authz == NULL) {
        sim_bedrock_error_typed(r, 403, "MissingAuthenticationTokenException",
                                "Missing Authentication Token");
        return -1;
    }
    if (strncasecmp(authz, "Bearer ", 7) == 0) {
        if (key != NULL && strcmp(authz + 7, key) == 0)
            return 0;
        sim_bedrock_error_typed(r, 403, "AccessDeniedException",
                                "Authentication failed: Please make sure your API Key is valid.");
        return -1;
    }
    if (strncmp(authz, "AWS4-HMAC-SHA256 ", 17) == 0 && r->sim->aws_access_key_id != NULL)
        return sim_b_sigv4(r, authz);
    sim_bedrock_error_typed(r, 403, "IncompleteSignatureException",
                            "Authorization header requires 'Credential', 'Signature' and "
                            "'SignedHeaders' parameters.");
    return -1;
}
