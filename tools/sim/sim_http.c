/*
 * Request routing for tollgate-sim: builds the per-request context (id, parsed JSON body,
 * wire format, resolved faults), records the request for /_sim/stats, checks the API key the
 * way the format's provider does, applies a simulated error status in that provider's error
 * shape, and hands the request to the handler. Also holds the OpenAI error body and the log.
 */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

typedef void (*sim_handler_fn)(sim_req_t *r);

typedef struct sim_route_t {
    const char *path;
    enum evhttp_cmd_type method;
    sim_handler_fn handler; /* POST handlers get faults and a JSON object body */
} sim_route_t;

static const sim_route_t sim_routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, sim_openai_chat},
    {"/v1/completions", EVHTTP_REQ_POST, sim_openai_completions},
    {"/v1/embeddings", EVHTTP_REQ_POST, sim_openai_embeddings},
};

#define SIM_NROUTES (sizeof(sim_routes) / sizeof(sim_routes[0]))

static const sim_route_t sim_anthropic_routes[] = {
    {"/v1/messages", EVHTTP_REQ_POST, sim_anthropic_messages},
    {"/v1/messages/count_tokens", EVHTTP_REQ_POST, sim_anthropic_count_tokens},
};

#define SIM_NANTHROPIC (sizeof(sim_anthropic_routes) / sizeof(sim_anthropic_routes[0]))

/* Gemini routes are matched by the method after the model: /v1beta/models/{model}:{path}. */
static const sim_route_t sim_gemini_routes[] = {
    {"generateContent", EVHTTP_REQ_POST, sim_gemini_generate},
    {"streamGenerateContent", EVHTTP_REQ_POST, sim_gemini_stream},
    {"countTokens", EVHTTP_REQ_POST, sim_gemini_count_tokens},
    {"embedContent", EVHTTP_REQ_POST, sim_gemini_embed},
    {"batchEmbedContents", EVHTTP_REQ_POST, sim_gemini_batch_embed},
};

#define SIM_NGEMINI (sizeof(sim_gemini_routes) / sizeof(sim_gemini_routes[0]))

/* Bedrock routes are matched by the operation after the model: /model/{modelId}/{path}. */
static const sim_route_t sim_bedrock_routes[] = {
    {"converse", EVHTTP_REQ_POST, sim_bedrock_converse},
    {"converse-stream", EVHTTP_REQ_POST, sim_bedrock_converse_stream},
};

#define SIM_NBEDROCK (sizeof(sim_bedrock_routes) / sizeof(sim_bedrock_routes[0]))

const char *sim_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 424:
        return "Failed Dependency";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Site Overloaded";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

static const char *sim_http_method(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "UNKNOWN";
}

void sim_http_log(const sim_req_t *r, int status, const char *note)
{
    if (r->sim->quiet) {
        return;
    }
    /* Notes start with a space, one per item. */
    fprintf(stderr, "%s %s %s%s%s %d%s\n", r->rid, r->method, r->path,
            r->model != NULL ? " model=" : "", r->model != NULL ? r->model : "", status,
            note != NULL ? note : "");
}

void sim_reply_error(sim_req_t *r, int status, const char *type, const char *message,
                     const char *param, const char *code)
{
    json_t *obj = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", message, "type", type,
                            "param", param, "code", code);

    if (status == 429) {
        sim_reply_json(r, status, obj, "retry-after", "1");
        return;
    }
    sim_reply_json(r, status, obj, NULL, NULL);
}

static void sim_http_fault_status(sim_req_t *r, int status)
{
    const char *type;
    const char *code = NULL;
    char msg[64];

    sim_fmt(msg, sizeof(msg), "simulated error %d", status);
    if (r->wire == SIM_WIRE_ANTHROPIC) {
        sim_anthropic_error(r, status, msg);
        return;
    }
    if (r->wire == SIM_WIRE_GEMINI) {
        sim_gemini_error(r, status, msg);
        return;
    }
    if (r->wire == SIM_WIRE_BEDROCK) {
        sim_bedrock_error(r, status, msg);
        return;
    }
    switch (status) {
    case 400:
        type = "invalid_request_error";
        break;
    case 401:
        type = "authentication_error";
        code = "invalid_api_key";
        break;
    case 403:
        type = "permission_error";
        break;
    case 404:
        type = "not_found_error";
        break;
    case 409:
        type = "conflict_error";
        break;
    case 422:
        type = "unprocessable_entity_error";
        break;
    case 429:
        type = "rate_limit_error";
        code = "rate_limit_exceeded";
        break;
    default:
        type = status >= 500 ? "server_error" : "api_error";
        break;
    }
    sim_reply_error(r, status, type, msg, NULL, code);
}

static bool sim_http_authorized(const sim_req_t *r)
{
    const char *auth;
    size_t keylen;

    if (r->sim->api_key == NULL) {
        return true;
    }
    keylen = strlen(r->sim->api_key);
    if (r->azure) {
        /* Azure OpenAI authenticates with an api-key header instead of a bearer token */
        auth = evhttp_find_header(evhttp_request_get_input_headers(r->req), "api-key");
        return auth != NULL && strcmp(auth, r->sim->api_key) == 0;
    }
    auth = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
    return auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == keylen &&
           memcmp(auth + 7, r->sim->api_key, keylen) == 0;
}

/* A 400 before the handler runs, in the shape of the request's wire format. */
static void sim_http_bad_request(sim_req_t *r, const char *message, const char *param)
{
    switch (r->wire) {
    case SIM_WIRE_ANTHROPIC:
        sim_anthropic_error(r, 400, message);
        break;
    case SIM_WIRE_GEMINI:
        sim_gemini_error(r, 400, message);
        break;
    case SIM_WIRE_BEDROCK:
        sim_bedrock_error(r, 400, message);
        break;
    case SIM_WIRE_OPENAI:
        sim_reply_error(r, 400, "invalid_request_error", message, param, NULL);
        break;
    }
}

/* A POST to a generation endpoint: faults first (so tests can fail even malformed requests
 * with a chosen status), then the format handler. */
static void sim_http_generate(sim_req_t *r, sim_handler_fn handler, bool body_bad)
{
    char err[160];

    if (body_bad || !json_is_object(r->body)) {
        sim_http_bad_request(r,
                             r->wire == SIM_WIRE_GEMINI
                                 ? "Invalid JSON payload received. The body must be a JSON object."
                             : r->wire == SIM_WIRE_BEDROCK
                                 ? "Malformed input request, please reformat your input and try "
                                   "again."
                             : r->wire == SIM_WIRE_ANTHROPIC
                                 ? "The request body is not valid JSON: it must be a JSON object."
                                 : "We could not parse the JSON body of your request. The body "
                                   "must be a JSON object.",
                             NULL);
        return;
    }
    if (sim_fault_resolve(r, err, sizeof(err)) != 0) {
        sim_fault_init(&r->fault);
        sim_http_bad_request(r, err, "sim");
        return;
    }
    r->stream = json_is_true(json_object_get(r->body, "stream"));
    if (r->fault.status >= 400 && r->fault.status <= 599) {
        sim_http_fault_status(r, (int)r->fault.status);
        return;
    }
    handler(r);
}

static void sim_http_route_anthropic(sim_req_t *r, bool body_bad)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    char msg[256];

    if (sim_anthropic_check(r) != 0) {
        return;
    }
    for (size_t i = 0; i < SIM_NANTHROPIC; i++) {
        if (strcmp(r->path, sim_anthropic_routes[i].path) != 0) {
            continue;
        }
        if (cmd != sim_anthropic_routes[i].method) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "POST");
            sim_anthropic_error(r, 405, "Method Not Allowed");
            return;
        }
        sim_http_generate(r, sim_anthropic_routes[i].handler, body_bad);
        return;
    }
    if (strcmp(r->path, "/v1/models") == 0 || strncmp(r->path, "/v1/models/", 11) == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET");
            sim_anthropic_error(r, 405, "Method Not Allowed");
            return;
        }
        sim_anthropic_models(r, r->path[10] == '/' ? r->path + 11 : NULL);
        return;
    }
    sim_fmt(msg, sizeof(msg), "Not found: %s %.200s", r->method, r->path);
    sim_anthropic_error(r, 404, msg);
}

/* `model` and `action` come from the path (NULL if absent): .../models/{model}:{action}. */
static void sim_http_route_gemini(sim_req_t *r, const char *model, const char *action,
                                  bool body_bad)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    char msg[256];

    if (sim_gemini_check(r) != 0) {
        return;
    }
    if (action != NULL) {
        for (size_t i = 0; i < SIM_NGEMINI; i++) {
            if (strcmp(action, sim_gemini_routes[i].path) != 0) {
                continue;
            }
            if (cmd != sim_gemini_routes[i].method) {
                evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "POST");
                sim_gemini_error(r, 405, "Method not allowed.");
                return;
            }
            sim_http_generate(r, sim_gemini_routes[i].handler, body_bad);
            return;
        }
    } else if (strcmp(r->path, "/v1beta/models") == 0 || model != NULL) {
        if (cmd != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET");
            sim_gemini_error(r, 405, "Method not allowed.");
            return;
        }
        sim_gemini_models(r, model);
        return;
    }
    sim_fmt(msg, sizeof(msg), "Method not found: %s %.200s", r->method, r->path);
    sim_gemini_error(r, 404, msg);
}

/* `action` comes from the path: /model/{modelId}/{action}. */
static void sim_http_route_bedrock(sim_req_t *r, const char *action, bool body_bad)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    char msg[256];

    if (sim_bedrock_check(r) != 0) {
        return;
    }
    for (size_t i = 0; action != NULL && i < SIM_NBEDROCK; i++) {
        if (strcmp(action, sim_bedrock_routes[i].path) != 0) {
            continue;
        }
        if (cmd != sim_bedrock_routes[i].method) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "POST");
            sim_bedrock_error_typed(r, 405, "UnknownOperationException", "Method not allowed.");
            return;
        }
        sim_http_generate(r, sim_bedrock_routes[i].handler, body_bad);
        return;
    }
    sim_fmt(msg, sizeof(msg), "Unknown operation: %s %.200s", r->method, r->path);
    sim_bedrock_error_typed(r, 404, "UnknownOperationException", msg);
}

static void sim_http_route_v1(sim_req_t *r, bool body_bad)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    char msg[256];

    if (!sim_http_authorized(r)) {
        sim_reply_error(r, 401, "invalid_request_error",
                        "Incorrect API key provided. You can find your API key in the simulator's "
                        "--api-key option.",
                        NULL, "invalid_api_key");
        return;
    }
    for (size_t i = 0; i < SIM_NROUTES; i++) {
        if (strcmp(r->path, sim_routes[i].path) != 0) {
            continue;
        }
        if (cmd != sim_routes[i].method) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "POST");
            sim_reply_error(r, 405, "invalid_request_error", "Method not allowed.", NULL,
                            "method_not_allowed");
            return;
        }
        sim_http_generate(r, sim_routes[i].handler, body_bad);
        return;
    }
    if (strcmp(r->path, "/v1/models") == 0 || strncmp(r->path, "/v1/models/", 11) == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET");
            sim_reply_error(r, 405, "invalid_request_error", "Method not allowed.", NULL,
                            "method_not_allowed");
            return;
        }
        sim_openai_models(r, r->path[10] == '/' ? r->path + 11 : NULL);
        return;
    }
    sim_fmt(msg, sizeof(msg), "Unknown request URL: %s %.200s. Please check the URL.", r->method,
            r->path);
    sim_reply_error(r, 404, "invalid_request_error", msg, NULL, "unknown_url");
}

/*
 * Azure OpenAI: /openai/deployments/{deployment}/{chat/completions|completions|embeddings}
 * ?api-version=..., authenticated with an api-key header; the deployment names the model.
 */
static void sim_http_route_azure(sim_req_t *r, bool body_bad)
{
    static const char *const eps[] = {"/chat/completions", "/completions", "/embeddings"};
    static char path[64];
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    const char *dep = r->path + 20, *slash = strchr(dep, '/');
    struct evkeyvalq q = {0};
    bool versioned = false;

    r->azure = true;
    if (query != NULL && evhttp_parse_query_str(query, &q) == 0)
        versioned = evhttp_find_header(&q, "api-version") != NULL;
    evhttp_clear_headers(&q);
    if (slash == NULL || !versioned) {
        sim_reply_error(r, slash == NULL ? 404 : 400, "invalid_request_error",
                        slash == NULL ? "Unknown deployment path."
                                      : "Missing required query parameter: api-version.",
                        NULL, slash == NULL ? "unknown_url" : "missing_api_version");
        return;
    }
    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        if (strcmp(slash, eps[i]) == 0) {
            sim_fmt(path, sizeof(path), "/v1%s", eps[i]);
            r->path = path;
            sim_http_route_v1(r, body_bad);
            return;
        }
    }
    sim_reply_error(r, 404, "invalid_request_error", "Unknown deployment operation.", NULL,
                    "unknown_url");
}

static bool sim_http_is_gemini_action(const char *action)
{
    for (size_t i = 0; i < SIM_NGEMINI; i++) {
        if (strcmp(action, sim_gemini_routes[i].path) == 0) {
            return true;
        }
    }
    return false;
}

/* Picks the wire format from the path: /v1/messages... is Anthropic, /v1beta/... and a POST to
 * /v1/models/{model}:{gemini method} are Gemini, /model/{modelId}/... is Bedrock, /v1/models
 * with an anthropic-version header is Anthropic's model list, everything else OpenAI. For Gemini
 * and Bedrock the model and method come from the path: `*decoded` (owned by the caller) holds
 * them. */
static void sim_http_classify(sim_req_t *r, char **decoded, const char **model, const char **action)
{
    const char *seg = NULL;
    char *colon;

    *decoded = NULL;
    *model = NULL;
    *action = NULL;
    if (strcmp(r->path, "/v1/messages") == 0 || strncmp(r->path, "/v1/messages/", 13) == 0) {
        r->wire = SIM_WIRE_ANTHROPIC;
        return;
    }
    if (strncmp(r->path, "/model/", 7) == 0) {
        /* Bedrock: /model/{URL-encoded model id}/{operation} */
        const char *op = strrchr(r->path + 7, '/');

        r->wire = SIM_WIRE_BEDROCK;
        if (op != NULL && op > r->path + 7 &&
            (*decoded = evhttp_uridecode(r->path + 7, 0, NULL)) != NULL) {
            (*decoded)[strlen(*decoded) - strlen(op)] = '\0';
            *action = op + 1;
            *model = r->model = *decoded;
        }
        return;
    }
    if (strncmp(r->path, "/v1beta/models/", 15) == 0) {
        seg = r->path + 15;
    } else if (strncmp(r->path, "/v1/models/", 11) == 0 && strchr(r->path, ':') != NULL) {
        seg = r->path + 11;
    }
    if (seg != NULL && (*decoded = evhttp_uridecode(seg, 0, NULL)) != NULL) {
        if ((colon = strrchr(*decoded, ':')) != NULL) {
            *colon = '\0';
            *action = colon + 1;
        }
        if (seg == r->path + 11 && (*action == NULL || !sim_http_is_gemini_action(*action))) {
            /* An OpenAI model id with a colon, like GET /v1/models/llama3:8b. */
            free(*decoded);
            *decoded = NULL;
            *action = NULL;
        } else {
            *model = (*decoded)[0] != '\0' ? *decoded : NULL;
            r->wire = SIM_WIRE_GEMINI;
        }
    }
    if (strcmp(r->path, "/v1beta") == 0 || strncmp(r->path, "/v1beta/", 8) == 0) {
        r->wire = SIM_WIRE_GEMINI;
    }
    if (r->wire == SIM_WIRE_GEMINI) {
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
        const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
        struct evkeyvalq q = {0};

        r->key_in_url = 0;
        if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
            r->key_in_url = evhttp_find_header(&q, "key") != NULL;
        }
        evhttp_clear_headers(&q);
        if (*model != NULL) {
            r->model = *model;
        }
        return;
    }
    if ((strcmp(r->path, "/v1/models") == 0 || strncmp(r->path, "/v1/models/", 11) == 0) &&
        evhttp_find_header(evhttp_request_get_input_headers(r->req), "anthropic-version") != NULL) {
        r->wire = SIM_WIRE_ANTHROPIC;
    }
}

void sim_http_dispatch(struct evhttp_request *req, void *arg)
{
    sim_t *sim = arg;
    sim_req_t r = {.sim = sim, .req = req, .key_in_url = -1};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    bool body_bad = false;
    char *decoded = NULL;
    const char *gmodel = NULL;
    const char *gaction = NULL;

    r.id = ++sim->next_id;
    sim_fmt(r.rid, sizeof(r.rid), "sim-%llu", (unsigned long long)r.id);
    r.path = path != NULL && path[0] != '\0' ? path : "/";
    r.method = sim_http_method(evhttp_request_get_command(req));
    sim_fault_init(&r.fault);
    if (len > 0) {
        const char *data = (const char *)evbuffer_pullup(in, -1);
        json_error_t jerr;

        r.body = data != NULL ? json_loadb(data, len, 0, &jerr) : NULL;
        body_bad = r.body == NULL;
    }
    if (json_is_object(r.body) && json_is_string(json_object_get(r.body, "model"))) {
        r.model = json_string_value(json_object_get(r.body, "model"));
    }

    if (strcmp(r.path, "/healthz") == 0) {
        sim_reply_text(&r, 200, "ok");
    } else if (strncmp(r.path, "/_sim/", 6) == 0) {
        sim_control_handle(&r);
    } else {
        sim_http_classify(&r, &decoded, &gmodel, &gaction);
        sim_stats_record(&r);
        if (r.wire == SIM_WIRE_ANTHROPIC) {
            char rid[48];

            sim_fmt(rid, sizeof(rid), "req_sim%llu", (unsigned long long)r.id);
            evhttp_add_header(evhttp_request_get_output_headers(req), "request-id", rid);
            sim_http_route_anthropic(&r, body_bad);
        } else if (r.wire == SIM_WIRE_GEMINI) {
            sim_http_route_gemini(&r, gmodel, gaction, body_bad);
        } else if (r.wire == SIM_WIRE_BEDROCK) {
            char rid[48];

            sim_fmt(rid, sizeof(rid), "b3d20c%llx-sim", (unsigned long long)r.id);
            evhttp_add_header(evhttp_request_get_output_headers(req), "x-amzn-RequestId", rid);
            sim_http_route_bedrock(&r, gaction, body_bad);
        } else if (strcmp(r.path, "/v1") == 0 || strncmp(r.path, "/v1/", 4) == 0) {
            sim_http_route_v1(&r, body_bad);
        } else if (strncmp(r.path, "/openai/deployments/", 20) == 0) {
            sim_http_route_azure(&r, body_bad);
        } else {
            char msg[256];

            sim_fmt(msg, sizeof(msg), "Unknown request URL: %s %.200s. Please check the URL.",
                    r.method, r.path);
            sim_reply_error(&r, 404, "invalid_request_error", msg, NULL, "unknown_url");
        }
    }
    json_decref(r.body);
    free(decoded);
}
