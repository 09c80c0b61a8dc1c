/*
 * The Google Gemini API for tollgate-sim: generateContent, streamGenerateContent (SSE with
 * ?alt=sse, otherwise a streamed JSON array, as Google does), countTokens, the API key check
 * and Google's error shape. Answers use the same words and token rules as the OpenAI handlers
 * (sim_text.c). Embeddings and the model list live in sim_gemini_embed.c.
 */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#define SIM_G_DEFAULT_TOKENS 16
#define SIM_G_IMAGE_TOKENS 85
#define SIM_G_TOOL_TOKENS 10
/* Streams are rendered up front, so bound the work per request as the OpenAI handler does. */
#define SIM_G_MAX_TOKENS 1000000
#define SIM_G_MAX_STOPS 5

/* What one answer consists of; the JSON response and the stream are rendered from it. */
typedef struct sim_gen_plan_t {
    sim_req_t *r;
    char id[48]; /* responseId */
    long prompt; /* promptTokenCount, cached tokens included */
    long cached;
    long output;
    const char *finish; /* STOP, MAX_TOKENS or SAFETY */
    sim_words_t words;
    const char *tool_name; /* non-NULL: answer with one functionCall part */
    const char *tool_args;
    bool safety;
} sim_gen_plan_t;

const json_t *sim_gemini_get(const json_t *obj, const char *camel, const char *snake)
{
    const json_t *v = json_object_get(obj, camel);

    return v != NULL ? v : json_object_get(obj, snake);
}

static const char *sim_gemini_status(int code)
{
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 501:
        return "UNIMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

/* Sends Google's error object; takes ownership of `details` (may be NULL). */
static void sim_gemini_error_details(sim_req_t *r, int code, const char *message, json_t *details)
{
    json_t *err = json_pack("{s:i,s:s,s:s}", "code", code, "message", message, "status",
                            sim_gemini_status(code));

    if (err != NULL && details != NULL && json_object_set(err, "details", details) != 0) {
        json_decref(err);
        err = NULL;
    }
    json_decref(details);
    sim_reply_json(r, code, err != NULL ? json_pack("{s:o}", "error", err) : NULL, NULL, NULL);
}

void sim_gemini_error(sim_req_t *r, int code, const char *message)
{
    json_t *details = NULL;

    if (code == 429) {
        details = json_pack("[{s:s,s:s}]", "@type", "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay", "1s");
    }
    sim_gemini_error_details(r, code, message, details);
}

int sim_gemini_check(sim_req_t *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    const char *key =
        evhttp_find_header(evhttp_request_get_input_headers(r->req), "x-goog-api-key");
    struct evkeyvalq q = {0};
    int rc = 0;

    if (r->sim->api_key == NULL) {
        return 0;
    }
    if (key == NULL && query != NULL && evhttp_parse_query_str(query, &q) == 0) {
        key = evhttp_find_header(&q, "key");
    }
    if (key == NULL) {
        sim_gemini_error(r, 403,
                         "Method doesn't allow unregistered callers (callers without established "
                         "identity). Please use API Key or other form of API consumer identity to "
                         "call this API.");
        rc = -1;
    } else if (strcmp(key, r->sim->api_key) != 0) {
        sim_gemini_error_details(r, 400, "API key not valid. Please pass a valid API key.",
                                 json_pack("[{s:s,s:s,s:s,s:{s:s}}]", "@type",
                                           "type.googleapis.com/google.rpc.ErrorInfo", "reason",
                                           "API_KEY_INVALID", "domain", "googleapis.com",
                                           "metadata", "service",
                                           "generativelanguage.googleapis.com"));
        rc = -1;
    }
    evhttp_clear_headers(&q);
    return rc;
}

/* ---- the request: contents, prompt tokens and the last user text ---- */

/* Counts one Content's parts; text goes to `text` if not NULL. Returns 0 or -1 with `err`. */
static int sim_gemini_parts(const json_t *content, const char *where, long *tokens,
                            struct evbuffer *text, bool *has_text, char *err, size_t errlen)
{
    const json_t *parts = json_object_get(content, "parts");
    size_t i;
    const json_t *part;

    if (!json_is_array(parts) || json_array_size(parts) == 0) {
        sim_fmt(err, errlen, "* GenerateContentRequest.%s.parts: contents.parts must not be empty.",
                where);
        return -1;
    }
    json_array_foreach(parts, i, part)
    {
        const json_t *t = json_object_get(part, "text");
        const json_t *fr = sim_gemini_get(part, "functionResponse", "function_response");

        if (json_is_string(t)) {
            *tokens += sim_tokens(json_string_length(t));
            *has_text = true;
            if (text != NULL) {
                evbuffer_add(text, json_string_value(t), json_string_length(t));
            }
        } else if (sim_gemini_get(part, "inlineData", "inline_data") != NULL ||
                   sim_gemini_get(part, "fileData", "file_data") != NULL) {
            *tokens += SIM_G_IMAGE_TOKENS;
        } else if (fr != NULL) {
            /* A tool result counts like OpenAI's tool message: by its text. */
            char *dump = json_dumps(json_object_get(fr, "response"), JSON_COMPACT);

            *tokens += dump != NULL ? sim_tokens(strlen(dump)) : 0;
            free(dump);
        } else if (sim_gemini_get(part, "functionCall", "function_call") == NULL &&
                   sim_gemini_get(part, "executableCode", "executable_code") == NULL &&
                   sim_gemini_get(part, "codeExecutionResult", "code_execution_result") == NULL) {
            sim_fmt(err, errlen,
                    "* GenerateContentRequest.%s.parts[%zu].data: required oneof field 'data' "
                    "must have one initialized field",
                    where, i);
            return -1;
        }
    }
    return 0;
}

/* contents and systemInstruction of `req` (the body, or countTokens' generateContentRequest).
 * Counts the prompt into p->prompt and leaves the last user text in `last`. Returns 0 or -1
 * with a message in `err`. */
static int sim_gemini_prompt(sim_gen_plan_t *p, const json_t *req, struct evbuffer *last, char *err,
                             size_t errlen)
{
    const json_t *contents = json_object_get(req, "contents");
    const json_t *sys = sim_gemini_get(req, "systemInstruction", "system_instruction");
    struct evbuffer *cur = evbuffer_new();
    char where[48];
    size_t i;
    const json_t *c;
    bool has_text = false;
    int rc = -1;

    if (cur == NULL) {
        sim_fmt(err, errlen, "out of memory");
        return -1;
    }
    if (!json_is_array(contents) || json_array_size(contents) == 0) {
        sim_fmt(err, errlen, "* GenerateContentRequest.contents: contents is not specified");
        goto done;
    }
    p->prompt = 3;
    if (sys != NULL && !json_is_null(sys)) {
        if (!json_is_object(sys)) {
            sim_fmt(err, errlen,
                    "Invalid value at 'system_instruction' (type.googleapis.com/"
                    "google.ai.generativelanguage.v1beta.Content)");
            goto done;
        }
        if (sim_gemini_parts(sys, "system_instruction", &p->prompt, NULL, &has_text, err, errlen) !=
            0) {
            goto done;
        }
    }
    json_array_foreach(contents, i, c)
    {
        const json_t *role = json_object_get(c, "role");
        const char *rs = json_string_value(role);
        bool user = role == NULL || (rs != NULL && strcmp(rs, "user") == 0);

        if (!json_is_object(c)) {
            sim_fmt(err, errlen,
                    "Invalid value at 'contents[%zu]' (type.googleapis.com/"
                    "google.ai.generativelanguage.v1beta.Content)",
                    i);
            goto done;
        }
        if (!user && (rs == NULL || (strcmp(rs, "model") != 0 && strcmp(rs, "function") != 0))) {
            sim_fmt(err, errlen, "Please use a valid role: user, model.");
            goto done;
        }
        has_text = false;
        sim_fmt(where, sizeof(where), "contents[%zu]", i);
        p->prompt += 4;
        if (sim_gemini_parts(c, where, &p->prompt, cur, &has_text, err, errlen) != 0) {
            goto done;
        }
        /* A user turn made only of functionResponse parts is OpenAI's "tool" message: the
         * seed stays with the last turn that has text, as in the OpenAI handler. */
        if (user && has_text) {
            evbuffer_drain(last, evbuffer_get_length(last));
            evbuffer_add_buffer(last, cur);
        }
        evbuffer_drain(cur, evbuffer_get_length(cur));
    }
    rc = 0;

done:
    evbuffer_free(cur);
    return rc;
}

/* generationConfig: sets *limit (maxOutputTokens or -1) and *json_mode. Returns 0 or -1. */
static int sim_gemini_config(const json_t *body, long *limit, bool *json_mode, char *err,
                             size_t errlen)
{
    const json_t *gc = sim_gemini_get(body, "generationConfig", "generation_config");
    const json_t *max = sim_gemini_get(gc, "maxOutputTokens", "max_output_tokens");
    const json_t *temp = json_object_get(gc, "temperature");
    const json_t *stops = sim_gemini_get(gc, "stopSequences", "stop_sequences");
    const json_t *mime = sim_gemini_get(gc, "responseMimeType", "response_mime_type");
    const char *m = json_string_value(mime);

    *limit = -1;
    *json_mode = false;
    if (gc != NULL && !json_is_null(gc) && !json_is_object(gc)) {
        sim_fmt(err, errlen,
                "Invalid value at 'generation_config' (type.googleapis.com/"
                "google.ai.generativelanguage.v1beta.GenerationConfig)");
        return -1;
    }
    if (max != NULL && !json_is_null(max)) {
        if (!json_is_integer(max) || json_integer_value(max) < 0) {
            sim_fmt(err, errlen,
                    "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32)");
            return -1;
        }
        /* 0 means "not set" in proto3, as for Google. */
        if (json_integer_value(max) > 0) {
            *limit = json_integer_value(max) > SIM_G_MAX_TOKENS ? SIM_G_MAX_TOKENS
                                                                : (long)json_integer_value(max);
        }
    }
    if (temp != NULL && !json_is_null(temp) &&
        (!json_is_number(temp) || json_number_value(temp) < 0 || json_number_value(temp) > 2)) {
        sim_fmt(err, errlen,
                "* GenerateContentRequest.generation_config.temperature: "
                "temperature must be between 0 and 2");
        return -1;
    }
    if (stops != NULL && !json_is_null(stops)) {
        size_t i;
        const json_t *s;

        if (!json_is_array(stops) || json_array_size(stops) > SIM_G_MAX_STOPS) {
            sim_fmt(err, errlen,
                    "* GenerateContentRequest.generation_config.stop_sequences: "
                    "at most 5 stop sequences are allowed");
            return -1;
        }
        json_array_foreach(stops, i, s)
        {
            if (!json_is_string(s)) {
                sim_fmt(err, errlen,
                        "Invalid value at 'generation_config.stop_sequences[%zu]' "
                        "(TYPE_STRING)",
                        i);
                return -1;
            }
        }
    }
    if (mime != NULL && !json_is_null(mime)) {
        if (m == NULL || (strcmp(m, "text/plain") != 0 && strcmp(m, "application/json") != 0 &&
                          strcmp(m, "text/x.enum") != 0)) {
            sim_fmt(err, errlen,
                    "* GenerateContentRequest.generation_config.response_mime_type: allowed "
                    "mimetypes are `text/plain`, `application/json` and `text/x.enum`.");
            return -1;
        }
        *json_mode = strcmp(m, "application/json") == 0;
    }
    return 0;
}

/* The functionDeclaration called `name` (any one if NULL), or NULL. */
static const json_t *sim_gemini_decl(const json_t *tools, const char *name)
{
    size_t i, j;
    const json_t *t;
    const json_t *d;

    json_array_foreach(tools, i, t)
    {
        json_array_foreach(sim_gemini_get(t, "functionDeclarations", "function_declarations"), j, d)
        {
            const char *dn = json_string_value(json_object_get(d, "name"));

            if (dn != NULL && (name == NULL || strcmp(dn, name) == 0)) {
                return d;
            }
        }
    }
    return NULL;
}

/* tools and toolConfig, following docs/sim.md. Returns 0 or -1 with a message in `err`. */
static int sim_gemini_tools(sim_gen_plan_t *p, const char *last_user, char *err, size_t errlen)
{
    const json_t *body = p->r->body;
    const json_t *tools = json_object_get(body, "tools");
    const json_t *cfg = sim_gemini_get(sim_gemini_get(body, "toolConfig", "tool_config"),
                                       "functionCallingConfig", "function_calling_config");
    const char *mode = json_string_value(json_object_get(cfg, "mode"));
    const json_t *allowed = sim_gemini_get(cfg, "allowedFunctionNames", "allowed_function_names");
    const char *first_allowed = json_string_value(json_array_get(allowed, 0));
    const json_t *decl;

    if (tools != NULL && !json_is_null(tools) && !json_is_array(tools)) {
        sim_fmt(err, errlen,
                "Invalid value at 'tools' (type.googleapis.com/"
                "google.ai.generativelanguage.v1beta.Tool)");
        return -1;
    }
    if (mode != NULL && strcmp(mode, "AUTO") != 0 && strcmp(mode, "ANY") != 0 &&
        strcmp(mode, "NONE") != 0 && strcmp(mode, "VALIDATED") != 0 &&
        strcmp(mode, "MODE_UNSPECIFIED") != 0) {
        sim_fmt(err, errlen,
                "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
                "google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"%.40s\"",
                mode);
        return -1;
    }
    if ((decl = sim_gemini_decl(tools, first_allowed)) == NULL ||
        (mode != NULL && strcmp(mode, "NONE") == 0)) {
        return 0;
    }
    if ((mode == NULL || strcmp(mode, "ANY") != 0) && strcasestr(last_user, "weather") == NULL) {
        return 0;
    }
    p->tool_name = json_string_value(json_object_get(decl, "name"));
    p->tool_args = sim_text_tool_args(
        json_object_get(decl, "parameters") != NULL
            ? json_object_get(decl, "parameters")
            : sim_gemini_get(decl, "parametersJsonSchema", "parameters_json_schema"));
    p->finish = "STOP";
    p->output = sim_tokens(strlen(p->tool_args)) + SIM_G_TOOL_TOKENS;
    return 0;
}

/* ---- rendering ---- */

/* usageMetadata after `output` answer tokens. Zero counts are left out, as Google does. */
static json_t *sim_gemini_usage(const sim_gen_plan_t *p, long output)
{
    json_t *u = json_pack("{s:I}", "promptTokenCount", (json_int_t)p->prompt);

    if (u == NULL ||
        (output > 0 && json_object_set_new(u, "candidatesTokenCount", json_integer(output)) != 0) ||
        json_object_set_new(u, "totalTokenCount", json_integer(p->prompt + output)) != 0 ||
        (p->cached > 0 &&
         json_object_set_new(u, "cachedContentTokenCount", json_integer(p->cached)) != 0) ||
        json_object_set_new(u, "promptTokensDetails",
                            json_pack("[{s:s,s:I}]", "modality", "TEXT", "tokenCount",
                                      (json_int_t)p->prompt)) != 0) {
        json_decref(u);
        return NULL;
    }
    return u;
}

/* One GenerateContentResponse; takes ownership of `parts` (NULL: a safety block). */
static json_t *sim_gemini_response(const sim_gen_plan_t *p, json_t *parts, const char *finish,
                                   long output)
{
    json_t *cand;

    if (p->safety) {
        json_decref(parts);
        cand = json_pack("{s:s,s:i,s:[{s:s,s:s,s:b}]}", "finishReason", "SAFETY", "index", 0,
                         "safetyRatings", "category", "HARM_CATEGORY_DANGEROUS_CONTENT",
                         "probability", "HIGH", "blocked", 1);
    } else if (parts == NULL) {
        return NULL;
    } else {
        cand = json_pack("{s:{s:o,s:s},s:s*,s:i}", "content", "parts", parts, "role", "model",
                         "finishReason", finish, "index", 0);
    }
    return json_pack("{s:[o],s:o,s:s,s:s}", "candidates", cand, "usageMetadata",
                     sim_gemini_usage(p, output), "modelVersion", p->r->model, "responseId", p->id);
}

static json_t *sim_gemini_call_parts(const sim_gen_plan_t *p)
{
    return json_pack("[{s:{s:s,s:o}}]", "functionCall", "name", p->tool_name, "args",
                     json_loads(p->tool_args, 0, NULL));
}

static json_t *sim_gemini_full(const sim_gen_plan_t *p)
{
    json_t *parts = NULL;

    if (!p->safety) {
        parts = p->tool_name != NULL ? sim_gemini_call_parts(p)
                                     : json_pack("[{s:s}]", "text", p->words.text);
    }
    return sim_gemini_response(p, parts, p->finish, p->output);
}

/* Frames one chunk: SSE `data: ...\r\n\r\n`, or an element of a streamed JSON array. Takes
 * ownership of `obj`. */
static int sim_gemini_chunk(sim_events_t *ev, bool sse, json_t *obj, unsigned flags)
{
    int rc = -1;

    if (obj != NULL) {
        rc = sse ? sim_events_add_frame(ev, "data: ", obj, "\r\n\r\n", flags)
                 : sim_events_add_frame(ev, ev->n == 0 ? "[" : ",\r\n", obj, "", flags);
    }
    json_decref(obj);
    return rc;
}

static int sim_gemini_events(const sim_gen_plan_t *p, sim_events_t *ev, bool sse)
{
    long after = p->r->fault.error_event;

    if (p->safety || p->tool_name != NULL) {
        if (sim_gemini_chunk(ev, sse, sim_gemini_full(p), 0) != 0) {
            return -1;
        }
    } else if (p->words.n == 0) {
        if (sim_gemini_chunk(ev, sse,
                             sim_gemini_response(p, json_pack("[{s:s}]", "text", ""), p->finish, 0),
                             0) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; !p->safety && p->tool_name == NULL && i < p->words.n; i++) {
        json_t *text = sim_words_piece(&p->words, i);
        json_t *parts = text != NULL ? json_pack("[{s:o}]", "text", text) : NULL;

        /* usageMetadata on every chunk, cumulative, as Google sends it. */
        if (sim_gemini_chunk(
                ev, sse,
                sim_gemini_response(p, parts, i + 1 == p->words.n ? p->finish : NULL, (long)i + 1),
                i > 0 ? SIM_EV_PACED : 0) != 0) {
            return -1;
        }
    }
    if (after > 0) {
        json_t *err =
            json_pack("{s:{s:i,s:s,s:s}}", "error", "code", 503, "message",
                      "The model is overloaded. Please try again later.", "status", "UNAVAILABLE");

        sim_events_truncate(ev, (size_t)after);
        if (sim_gemini_chunk(ev, sse, err, 0) != 0) {
            return -1;
        }
    }
    return sse ? 0 : sim_events_add_raw(ev, "]", 0);
}

/* ---- handlers ---- */

static void sim_gemini_reply(sim_req_t *r)
{
    sim_gen_plan_t p = {.r = r, .finish = "STOP"};
    struct evbuffer *last = evbuffer_new();
    const char *last_text;
    char err[320];
    long limit;
    long want = r->fault.tokens != SIM_UNSET ? r->fault.tokens : SIM_G_DEFAULT_TOKENS;
    bool json_mode;

    if (last == NULL) {
        goto oom;
    }
    if (r->model == NULL) {
        sim_gemini_error(r, 400, "* GenerateContentRequest.model: model is required");
        goto done;
    }
    if (sim_gemini_prompt(&p, r->body, last, err, sizeof(err)) != 0 ||
        sim_gemini_config(r->body, &limit, &json_mode, err, sizeof(err)) != 0) {
        sim_gemini_error(r, 400, err);
        goto done;
    }
    if (want > SIM_G_MAX_TOKENS) {
        sim_gemini_error(r, 400, "the simulator's tokens fault must not exceed 1000000");
        goto done;
    }
    /* NUL-terminate the last user text so it can be searched for "weather". */
    if (evbuffer_add(last, "", 1) != 0 ||
        (last_text = (const char *)evbuffer_pullup(last, -1)) == NULL) {
        goto oom;
    }
    sim_fmt(p.id, sizeof(p.id), "sim%llu", (unsigned long long)r->id);
    sim_fault_cache(&r->fault, p.prompt, &p.cached, NULL);
    if (sim_gemini_tools(&p, last_text, err, sizeof(err)) != 0) {
        sim_gemini_error(r, 400, err);
        goto done;
    }
    if (r->fault.safety > 0) {
        p.safety = true;
        p.tool_name = NULL;
        p.finish = "SAFETY";
        p.output = 0;
    } else if (p.tool_name == NULL) {
        if (limit >= 0 && limit < want) {
            want = limit;
            p.finish = "MAX_TOKENS";
        }
        if (sim_words_make(
                &p.words, sim_text_seed(r->model, last_text, evbuffer_get_length(last) - 1),
                (size_t)want, json_mode,
                sim_gemini_get(sim_gemini_get(r->body, "generationConfig", "generation_config"),
                               "stopSequences", "stop_sequences")) != 0) {
            goto oom;
        }
        if (p.words.stop != NULL) {
            p.finish = "STOP";
        }
        p.output = (long)p.words.n;
    }
    if (!r->stream) {
        sim_reply_json(r, 200, sim_gemini_full(&p), NULL, NULL);
        goto done;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq q = {0};
    const char *alt = NULL;
    bool sse;
    sim_events_t ev = {0};

    if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
        alt = evhttp_find_header(&q, "alt");
    }
    sse = alt != NULL && strcmp(alt, "sse") == 0;
    evhttp_clear_headers(&q);
    r->ctype = sse ? NULL : "application/json";
    if (sim_gemini_events(&p, &ev, sse) != 0) {
        sim_events_clear(&ev);
        goto oom;
    }
    sim_reply_stream(r, &ev);
    goto done;

oom:
    fprintf(stderr, "tollgate-sim: %s: out of memory building a Gemini answer\n", r->rid);
    sim_reply_json(r, 500, NULL, NULL, NULL);
done:
    sim_words_free(&p.words);
    if (last != NULL) {
        evbuffer_free(last);
    }
}

void sim_gemini_generate(sim_req_t *r)
{
    r->stream = false;
    sim_gemini_reply(r);
}

void sim_gemini_stream(sim_req_t *r)
{
    r->stream = true;
    sim_gemini_reply(r);
}

void sim_gemini_count_tokens(sim_req_t *r)
{
    const json_t *gcr =
        sim_gemini_get(r->body, "generateContentRequest", "generate_content_request");
    sim_gen_plan_t p = {.r = r};
    struct evbuffer *last = evbuffer_new();
    char err[320];

    if (last == NULL) {
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    if (sim_gemini_prompt(&p, gcr != NULL ? gcr : r->body, last, err, sizeof(err)) != 0) {
        sim_gemini_error(r, 400, err);
    } else {
        sim_reply_json(r, 200,
                       json_pack("{s:I,s:[{s:s,s:I}]}", "totalTokens", (json_int_t)p.prompt,
                                 "promptTokensDetails", "modality", "TEXT", "tokenCount",
                                 (json_int_t)p.prompt),
                       NULL, NULL);
    }
    evbuffer_free(last);
}
