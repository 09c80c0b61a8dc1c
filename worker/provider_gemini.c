/*
 * The Google Gemini adapter (generateContent): an OpenAI chat completion request becomes a
 * GenerateContentRequest for POST <base_url>/models/<model>:generateContent (or
 * :streamGenerateContent?alt=sse), the key in x-goog-api-key, never in the URL. Answers and SSE
 * events (each a GenerateContentResponse) become OpenAI chat.completion(.chunk)s. The model is
 * in the path, so the request head is built per request (x->owned), as for Azure.
 */
#include "worker/provider.h"
#include "worker/provider_common.h"
#include "shared/tg_log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* provider_anthropic_stream.c: compact JSON, reals kept short. */

#define TG_S(b, str) tg_buf_append(b, str, strlen(str))

/* ---- per-provider data: the HTTP/1.1 origin, host header and base path ---------------------- */

typedef struct {
    tg_provider_ext_t base;
    char origin[320]; /* h1 pool key: scheme://host:port */
    char host[300];   /* Host header value */
    char *path;       /* base_url's path, no trailing slash */
} tg_gemini_ext_t;

static void tg_gemini_ext_destroy(tg_provider_ext_t *ext)
{
    tg_gemini_ext_t *e = (tg_gemini_ext_t *)ext;

    free(e->path);
    free(e);
}

static tg_gemini_ext_t *tg_gemini_ext(tg_provider_t *p)
{
    tg_gemini_ext_t *e = p->ext;
    tg_provider_url_t pu;
    int ok = 0;

    if (e != NULL)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->base.destroy = tg_gemini_ext_destroy;
    if (tg_provider_url(p->base_url, &pu) == 0 && (e->path = strdup(pu.path)) != NULL) {
        snprintf(e->origin, sizeof(e->origin), "%s", pu.origin);
        snprintf(e->host, sizeof(e->host), "%s", pu.host);
        ok = 1;
    }
    if (!ok) {
        tg_log(TG_LOG_ERROR, 0, "provider \"%s\": cannot parse its Gemini base_url", p->name);
        tg_gemini_ext_destroy(&e->base);
        return NULL;
    }
    p->ext = e;
    return e;
}

/* ---- request translation -------------------------------------------------------------------- */

/* An image part: only base64 data: URLs (Gemini's fileData wants uploaded files). */
static json_t *tg_gemini_image(json_t *part, const char **why)
{
    const char *mt, *data;
    int mtlen;

    if (tg_provider_data_url(part, &mt, &mtlen, &data, why) == -1)
        return NULL;
    return json_pack("{s:{s:s#,s:s}}", "inlineData", "mimeType", mt, mtlen, "data", data);
}

/* tg_provider_call_fn: a tool call as a functionCall part (Gemini has no call ids). */
static json_t *tg_gemini_call_part(json_t *id, json_t *name, json_t *args)
{
    (void)id;
    return json_pack("{s:{s:O,s:o}}", "functionCall", "name", name, "args", args);
}

/* The function name of an earlier tool call with this id, or NULL. */
static json_t *tg_gemini_call_name(json_t *messages, size_t upto, json_t *id)
{
    for (size_t i = upto; i-- > 0;) {
        json_t *calls = json_object_get(json_array_get(messages, i), "tool_calls"), *c;
        size_t k;

        json_array_foreach(calls, k, c)
        {
            if (json_equal(json_object_get(c, "id"), id))
                return json_object_get(json_object_get(c, "function"), "name");
        }
    }
    return NULL;
}

/* tg_provider_tool_fn: a function tool as a functionDeclaration. */
static json_t *tg_gemini_decl(json_t *t, json_t *name, json_t *desc, json_t *params)
{
    json_t *d = json_pack("{s:O}", "name", name);

    (void)t;
    if (d != NULL && desc != NULL)
        json_object_set(d, "description", desc);
    if (d != NULL && params != NULL)
        json_object_set(d, "parameters", params);
    return d;
}

/* A tool message: a functionResponse part in a user turn. */
static int tg_gemini_tool(json_t *messages, size_t at, json_t *contents, const char **why)
{
    json_t *msg = json_array_get(messages, at), *id = json_object_get(msg, "tool_call_id");
    json_t *c = json_object_get(msg, "content"), *name, *resp = NULL, *parts;
    tg_buf_t text = {0};

    if (!json_is_string(id)) {
        *why = "a tool message has no tool_call_id";
        return -1;
    }
    if ((name = tg_gemini_call_name(messages, at, id)) == NULL || !json_is_string(name)) {
        *why = "a tool message's tool_call_id matches no earlier tool call";
        return -1;
    }
    if (json_is_string(c)) {
        resp = json_loadb(json_string_value(c), json_string_length(c), 0, NULL);
        if (!json_is_object(resp)) {
            json_decref(resp);
            resp = json_pack("{s:O}", "content", c);
        }
    } else if (json_is_array(c)) {
        size_t i;
        json_t *p;
        json_array_foreach(c, i, p)
        {
            json_t *t = json_object_get(p, "text");
            if (json_is_string(t))
                tg_buf_append(&text, json_string_value(t), json_string_length(t));
        }
        resp = json_pack("{s:s#}", "content", text.data ? text.data : "", (int)text.len);
        tg_buf_free(&text);
    } else {
        resp = json_pack("{s:s}", "content", "");
    }
    parts = json_pack("[{s:{s:O,s:o}}]", "functionResponse", "name", name, "response", resp);
    if (parts == NULL || tg_provider_add(contents, "user", "parts", parts) == -1) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* tool_choice as toolConfig; NULL with *why unset: none to send. */
static json_t *tg_gemini_tool_config(json_t *tc, const char **why)
{
    if (tc == NULL || json_is_null(tc))
        return NULL;
    if (tg_provider_str_is(tc, "auto"))
        return json_pack("{s:{s:s}}", "functionCallingConfig", "mode", "AUTO");
    if (tg_provider_str_is(tc, "required"))
        return json_pack("{s:{s:s}}", "functionCallingConfig", "mode", "ANY");
    if (tg_provider_str_is(tc, "none"))
        return json_pack("{s:{s:s}}", "functionCallingConfig", "mode", "NONE");
    if (json_is_object(tc) && tg_provider_str_is(json_object_get(tc, "type"), "function") &&
        json_is_string(json_object_get(json_object_get(tc, "function"), "name")))
        return json_pack("{s:{s:s,s:[O]}}", "functionCallingConfig", "mode", "ANY",
                         "allowedFunctionNames",
                         json_object_get(json_object_get(tc, "function"), "name"));
    *why = "tool_choice must be auto, required, none or a named function";
    return NULL;
}

/* The GenerateContentRequest for an OpenAI chat request. */
static json_t *tg_gemini_request(const tg_model_t *m, json_t *in, const char **why)
{
    json_t *out = json_object(), *system = json_array(), *contents = json_array();
    json_t *gc = json_object(), *messages = json_object_get(in, "messages"), *msg, *v;
    json_t *n = json_object_get(in, "n"), *tools = json_object_get(in, "tools");
    size_t i;

    if (out == NULL || system == NULL || contents == NULL || gc == NULL)
        TG_FAIL("out of memory");
    if (json_is_integer(n) && json_integer_value(n) > 1)
        TG_FAIL("n > 1 is not supported by Gemini");
    if ((v = json_object_get(in, "functions")) != NULL && !json_is_null(v))
        TG_FAIL("the legacy functions field is not supported; use tools");
    json_array_foreach(messages, i, msg)
    {
        json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");

        if (tg_provider_str_is(role, "system") || tg_provider_str_is(role, "developer")) {
            if (tg_provider_text_parts(content, NULL, system, why) == -1)
                goto fail;
        } else if (tg_provider_str_is(role, "user")) {
            json_t *parts = json_array();
            if (parts == NULL ||
                tg_provider_text_parts(content, tg_gemini_image, parts, why) == -1) {
                json_decref(parts);
                goto fail;
            }
            if (tg_provider_add(contents, "user", "parts", parts) == -1)
                TG_FAIL("out of memory");
        } else if (tg_provider_str_is(role, "assistant")) {
            if (tg_provider_assistant(msg, contents, "model", "parts", NULL, 0, tg_gemini_call_part,
                                      why) == -1)
                goto fail;
        } else if (tg_provider_str_is(role, "tool")) {
            if (tg_gemini_tool(messages, i, contents, why) == -1)
                goto fail;
        } else {
            TG_FAIL("a message has an unsupported role (system, developer, user, assistant "
                    "and tool are)");
        }
    }
    if (json_array_size(contents) == 0)
        TG_FAIL("the request has no user or assistant content");
    if (json_array_size(system) > 0)
        json_object_set_new(out, "systemInstruction", json_pack("{s:O}", "parts", system));
    json_object_set(out, "contents", contents);
    if (tools != NULL && !json_is_null(tools) && json_array_size(tools) > 0) {
        json_t *tc;
        if ((v = tg_provider_tools(tools, tg_gemini_decl, why)) == NULL)
            goto fail;
        json_object_set_new(out, "tools", json_pack("[{s:o}]", "functionDeclarations", v));
        tc = tg_gemini_tool_config(json_object_get(in, "tool_choice"), why);
        if (tc == NULL && *why != NULL)
            goto fail;
        if (tc != NULL)
            json_object_set_new(out, "toolConfig", tc);
    }

    {
        int64_t mt = tg_provider_max_tokens(in);
        if (mt == 0)
            mt = m->max_output_tokens;
        if (mt > 0)
            json_object_set_new(gc, "maxOutputTokens", json_integer(mt));
    }
    if (json_is_number(v = json_object_get(in, "temperature")))
        json_object_set(gc, "temperature", v);
    if (json_is_number(v = json_object_get(in, "top_p")))
        json_object_set(gc, "topP", v);
    if (tg_provider_stop(in, &v, why) == -1)
        goto fail;
    if (v != NULL)
        json_object_set_new(gc, "stopSequences", v);
    v = json_object_get(in, "response_format");
    if (v != NULL && !json_is_null(v)) {
        json_t *type = json_object_get(v, "type");
        if (tg_provider_str_is(type, "json_object")) {
            json_object_set_new(gc, "responseMimeType", json_string("application/json"));
        } else if (tg_provider_str_is(type, "json_schema")) {
            json_t *schema = json_object_get(json_object_get(v, "json_schema"), "schema");
            if (!json_is_object(schema))
                TG_FAIL("response_format json_schema has no schema object");
            json_object_set_new(gc, "responseMimeType", json_string("application/json"));
            json_object_set(gc, "responseJsonSchema", schema);
        } else if (!tg_provider_str_is(type, "text")) {
            TG_FAIL("response_format has an unsupported type");
        }
    }
    if (json_object_size(gc) > 0)
        json_object_set(out, "generationConfig", gc);
    json_decref(gc);
    json_decref(system);
    json_decref(contents);
    return out;
fail:
    json_decref(out);
    json_decref(gc);
    json_decref(system);
    json_decref(contents);
    return NULL;
}

/* The request head (HTTP/1.1) or header lines (HTTP/2) for one call; the key never in the URL. */
static int tg_gemini_head(const tg_provider_t *p, tg_gemini_ext_t *e, const tg_model_t *m,
                          const char *method, int stream, tg_xfer_t *x)
{
    const char *accept = stream ? "Accept: text/event-stream" : "Accept: application/json";
    char line[4096];
    tg_buf_t h = {0};
    int n, rc = -1;

    if (p->http2) {
        if (tg_xfer_header(x, "Content-Type: application/json") == -1 ||
            tg_xfer_header(x, accept) == -1)
            return -1;
        if (p->api_key != NULL) {
            n = snprintf(line, sizeof(line), "x-goog-api-key: %s", p->api_key);
            rc = n < 0 || (size_t)n >= sizeof(line) ? -1 : tg_xfer_header(x, line);
            explicit_bzero(line, sizeof(line));
            if (rc == -1)
                return -1;
        }
        for (size_t i = 0; i < p->nheaders; i++) {
            n = snprintf(line, sizeof(line), "%s: %s", p->headers[i].name, p->headers[i].value);
            if (n < 0 || (size_t)n >= sizeof(line) || tg_xfer_header(x, line) == -1)
                return -1;
        }
        return 0;
    }
    if (TG_S(&h, "POST ") || TG_S(&h, e->path) || TG_S(&h, "/models/") ||
        TG_S(&h, m->upstream_model) || TG_S(&h, method) || TG_S(&h, " HTTP/1.1\r\nHost: ") ||
        TG_S(&h, e->host) ||
        TG_S(&h, "\r\nUser-Agent: tollgate/" TG_VERSION "\r\nContent-Type: application/json\r\n") ||
        TG_S(&h, accept) || TG_S(&h, "\r\n"))
        goto done;
    if (p->api_key != NULL &&
        (TG_S(&h, "x-goog-api-key: ") || TG_S(&h, p->api_key) || TG_S(&h, "\r\n")))
        goto done;
    for (size_t i = 0; i < p->nheaders; i++)
        if (TG_S(&h, p->headers[i].name) || TG_S(&h, ": ") || TG_S(&h, p->headers[i].value) ||
            TG_S(&h, "\r\n"))
            goto done;
    x->owned = h.data; /* freed (after a wipe) with the transfer */
    x->h1_head = h.data;
    x->h1_head_len = h.len;
    x->h1_origin = e->origin;
    h.data = NULL;
    rc = 0;
done:
    if (h.data != NULL)
        explicit_bzero(h.data, h.cap);
    tg_buf_free(&h);
    return rc;
}

/*
 * An OpenAI embeddings request as batchEmbedContents (one request per input, so one call
 * serves a string and a list alike). Gemini embeds text only: token-id inputs are refused.
 */
static json_t *tg_gemini_embed_request(const tg_model_t *m, json_t *in, unsigned *aflags,
                                       const char **why)
{
    json_t *input = json_object_get(in, "input"), *dims = json_object_get(in, "dimensions");
    json_t *reqs = json_array(), *one = NULL, *v;
    const char *fmt = json_string_value(json_object_get(in, "encoding_format"));
    char model[300];
    size_t i;

    if (reqs == NULL)
        return NULL;
    if (fmt != NULL && strcmp(fmt, "base64") == 0)
        *aflags |= TG_XFER_F_EMBED_BASE64;
    else if (fmt != NULL && strcmp(fmt, "float") != 0)
        TG_FAIL("encoding_format must be float or base64");
    if (dims != NULL && !json_is_null(dims) &&
        (!json_is_integer(dims) || json_integer_value(dims) < 1))
        TG_FAIL("dimensions must be a positive integer");
    if (json_is_string(input))
        one = json_pack("[O]", input);
    else if (json_is_array(input) && json_array_size(input) > 0)
        one = json_incref(input);
    else
        TG_FAIL("input must be a string or a non-empty list of strings");
    snprintf(model, sizeof(model), "models/%s", m->upstream_model);
    json_array_foreach(one, i, v)
    {
        json_t *r;

        if (!json_is_string(v))
            TG_FAIL("Gemini embeds text only: input must be strings, not token ids");
        r = json_pack("{s:s,s:{s:[{s:O}]}}", "model", model, "content", "parts", "text", v);
        if (r == NULL ||
            (json_is_integer(dims) && json_object_set(r, "outputDimensionality", dims) != 0) ||
            json_array_append_new(reqs, r) != 0)
            goto fail;
    }
    json_decref(one);
    return json_pack("{s:o}", "requests", reqs);
fail:
    json_decref(one);
    json_decref(reqs);
    return NULL;
}

static int tg_gemini_prepare(const tg_model_t *m, tg_endpoint_t ep, int stream, tg_xfer_t *x,
                             tg_buf_t *url, tg_buf_t *body)
{
    tg_provider_t *p = m->provider;
    tg_gemini_ext_t *e;
    json_t *in, *req = NULL;
    const char *why = NULL, *method;
    int rc;

    if (ep != TG_EP_CHAT && ep != TG_EP_EMBEDDINGS) {
        tg_log(TG_LOG_INFO, 0, "provider \"%s\" (gemini) serves no text completions", p->name);
        return -1;
    }
    if ((e = tg_gemini_ext(p)) == NULL)
        return -1;
    in = json_loadb(body->data, body->len, JSON_ALLOW_NUL, NULL);
    if (ep == TG_EP_EMBEDDINGS) {
        stream = 0;
        method = ":batchEmbedContents";
        if (!json_is_object(in))
            why = "the request is not a JSON object";
        else if ((req = tg_gemini_embed_request(m, in, &x->aflags, &why)) == NULL && why == NULL)
            why = "out of memory";
    } else {
        method = stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
        if (!json_is_object(in) || !json_is_array(json_object_get(in, "messages")))
            why = "the request is not an object with a messages array";
        else if ((req = tg_gemini_request(m, in, &why)) == NULL && why == NULL)
            why = "out of memory";
    }
    json_decref(in);
    if ((rc = tg_provider_set_body(req, why, x, body)) != 0)
        return rc;
    if (TG_S(url, p->base_url) || TG_S(url, "/models/") || TG_S(url, m->upstream_model) ||
        TG_S(url, method) || tg_gemini_head(p, e, m, method, stream, x) == -1)
        return -1;
    return 0;
}

/* ---- answers -------------------------------------------------------------------------------- */

/* usageMetadata as usage: prompt includes cached; thoughts count as completion (reasoning). */
static int tg_gemini_usage(json_t *um, tg_usage_t *u)
{
    int64_t thoughts;

    if (!json_is_object(um))
        return -1;
    memset(u, 0, sizeof(*u));
    u->prompt = json_integer_value(json_object_get(um, "promptTokenCount"));
    thoughts = json_integer_value(json_object_get(um, "thoughtsTokenCount"));
    u->completion = json_integer_value(json_object_get(um, "candidatesTokenCount")) + thoughts;
    u->reasoning = thoughts;
    u->cached = json_integer_value(json_object_get(um, "cachedContentTokenCount"));
    u->reported = 1;
    return 0;
}

static json_t *tg_gemini_usage_json(const tg_usage_t *u)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I},s:{s:I}}", "prompt_tokens", (json_int_t)u->prompt,
                     "completion_tokens", (json_int_t)u->completion, "total_tokens",
                     (json_int_t)(u->prompt + u->completion), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)u->cached, "completion_tokens_details",
                     "reasoning_tokens", (json_int_t)u->reasoning);
}

/* finishReason as finish_reason (NULL while there is none). */
static const char *tg_gemini_finish(json_t *fr, int calls)
{
    const char *s = json_string_value(fr);

    if (s == NULL)
        return NULL;
    if (calls)
        return "tool_calls";
    if (strcmp(s, "MAX_TOKENS") == 0)
        return "length";
    if (strcmp(s, "SAFETY") == 0 || strcmp(s, "RECITATION") == 0 || strcmp(s, "BLOCKLIST") == 0 ||
        strcmp(s, "PROHIBITED_CONTENT") == 0 || strcmp(s, "SPII") == 0 ||
        strcmp(s, "IMAGE_SAFETY") == 0)
        return "content_filter";
    return "stop";
}

/* A functionCall part as an OpenAI tool call (index idx; id call_<idx>). */
static json_t *tg_gemini_call(json_t *fc, int idx, int with_index)
{
    json_t *args = json_object_get(fc, "args"), *name = json_object_get(fc, "name"), *c;
    tg_buf_t a = {0};
    char id[32];

    snprintf(id, sizeof(id), "call_%d", idx);
    if ((args != NULL ? tg_provider_dump(args, &a) : tg_buf_append(&a, "{}", 2)) == -1) {
        tg_buf_free(&a);
        return NULL;
    }
    c = json_pack("{s:s,s:s,s:{s:s?,s:s#}}", "id", id, "type", "function", "function", "name",
                  json_string_value(name), "arguments", a.data, (int)a.len);
    if (c != NULL && with_index)
        json_object_set_new(c, "index", json_integer(idx));
    tg_buf_free(&a);
    return c;
}

static json_t *tg_gemini_id(json_t *root)
{
    const char *id = json_string_value(json_object_get(root, "responseId"));

    return json_sprintf("chatcmpl-%s", id != NULL ? id : "gemini");
}

static json_t *tg_gemini_model(const tg_model_t *m, json_t *root)
{
    json_t *v = json_object_get(root, "modelVersion");

    return json_is_string(v) ? json_incref(v)
                             : json_string(m != NULL && m->upstream_model ? m->upstream_model : "");
}

/*
 * A batchEmbedContents answer as an OpenAI embeddings list. The Gemini API reports no token
 * counts for embeddings (Vertex AI's usageMetadata.promptTokenCount is read when present);
 * without them usage is left to the gateway's estimate and the list carries none.
 */
static int tg_gemini_embed_response(const tg_model_t *m, const char *body, size_t len,
                                    tg_usage_t *usage, tg_buf_t *out)
{
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL), *data = json_array(), *res;
    json_t *emb, *pt;
    size_t i;
    int rc = -2;

    memset(usage, 0, sizeof(*usage));
    if (data == NULL || !json_is_array(json_object_get(root, "embeddings")))
        goto done;
    json_array_foreach(json_object_get(root, "embeddings"), i, emb)
    {
        json_t *values = json_object_get(emb, "values");

        if (!json_is_array(values) ||
            json_array_append_new(data, json_pack("{s:s,s:I,s:O}", "object", "embedding", "index",
                                                  (json_int_t)i, "embedding", values)) != 0)
            goto done;
    }
    res = json_pack("{s:s,s:O,s:s}", "object", "list", "data", data, "model", m->upstream_model);
    pt = json_object_get(json_object_get(root, "usageMetadata"), "promptTokenCount");
    if (res != NULL && json_is_integer(pt)) {
        usage->prompt = json_integer_value(pt);
        usage->reported = 1;
        json_object_set_new(res, "usage",
                            json_pack("{s:I,s:I}", "prompt_tokens", (json_int_t)usage->prompt,
                                      "total_tokens", (json_int_t)usage->prompt));
    }
    if (res != NULL && tg_provider_dump(res, out) == 0)
        rc = usage->reported ? 0 : -1;
    json_decref(res);
done:
    if (rc == -2)
        tg_buf_reset(out);
    json_decref(data);
    json_decref(root);
    return rc;
}

static int tg_gemini_response(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                              tg_usage_t *usage, tg_buf_t *out)
{
    json_t *root, *cand, *parts, *part, *calls = NULL;
    tg_buf_t text = {0};
    int has_text = 0, rc = -1;
    size_t i;

    if (ep == TG_EP_EMBEDDINGS)
        return tg_gemini_embed_response(m, body, len, usage, out);
    memset(usage, 0, sizeof(*usage));
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root) || (calls = json_array()) == NULL)
        goto done;
    tg_gemini_usage(json_object_get(root, "usageMetadata"), usage);
    cand = json_array_get(json_object_get(root, "candidates"), 0);
    parts = json_object_get(json_object_get(cand, "content"), "parts");
    json_array_foreach(parts, i, part)
    {
        json_t *t = json_object_get(part, "text"), *fc = json_object_get(part, "functionCall");

        if (json_is_true(json_object_get(part, "thought")))
            continue;
        if (json_is_string(t)) {
            if (tg_buf_append(&text, json_string_value(t), json_string_length(t)) == -1)
                goto done;
            has_text = 1;
        } else if (json_is_object(fc)) {
            if (json_array_append_new(calls, tg_gemini_call(fc, (int)json_array_size(calls), 0)))
                goto done;
        }
    }
    {
        const char *fr =
            tg_gemini_finish(json_object_get(cand, "finishReason"), json_array_size(calls) > 0);
        json_t *model = tg_gemini_model(m, root);

        if (fr == NULL && cand == NULL)
            fr = "content_filter"; /* a blocked prompt: promptFeedback, no candidates */
        rc = tg_provider_completion(tg_gemini_id(root), json_string_value(model),
                                    has_text ? &text : NULL, calls, fr,
                                    usage->reported ? tg_gemini_usage_json(usage) : NULL, out);
        json_decref(model);
    }
done:
    if (rc == -1) {
        tg_buf_reset(out);
        rc = -2;
    }
    json_decref(calls);
    json_decref(root);
    tg_buf_free(&text);
    return rc;
}

/* ---- errors --------------------------------------------------------------------------------- */

static json_t *tg_gemini_error_json(json_t *err)
{
    static const struct {
        const char *status, *type, *code;
    } map[] = {
        {"INVALID_ARGUMENT", "invalid_request_error", NULL},
        {"FAILED_PRECONDITION", "invalid_request_error", NULL},
        {"OUT_OF_RANGE", "invalid_request_error", NULL},
        {"NOT_FOUND", "invalid_request_error", "upstream_not_found"},
        {"RESOURCE_EXHAUSTED", "rate_limit_error", "rate_limit_exceeded"},
        {"UNAVAILABLE", "server_error", "upstream_overloaded"},
        {"DEADLINE_EXCEEDED", "server_error", "upstream_timeout"},
        {"UNAUTHENTICATED", "server_error", "upstream_auth_failed"},
        {"PERMISSION_DENIED", "server_error", "upstream_auth_failed"},
    };
    const char *st = json_string_value(json_object_get(err, "status"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *type = "server_error", *code = "upstream_error";

    for (size_t i = 0; st != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(st, map[i].status) == 0) {
            type = map[i].type;
            code = map[i].code;
            break;
        }
    }
    /* Google answers a bad key with 400 INVALID_ARGUMENT: that is the gateway's fault */
    if (msg != NULL && strstr(msg, "API key not valid") != NULL) {
        type = "server_error";
        code = "upstream_auth_failed";
    }
    return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message",
                     msg != NULL ? msg : "The provider reported an error.", "type", type, "param",
                     "code", code);
}

static int tg_gemini_error(const tg_xfer_t *x, const char *body, size_t len, tg_buf_t *out)
{
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL), *e = NULL, *err;
    int rc = -1;

    /* some Google front ends wrap the error in a one-element array */
    if (json_is_array(root))
        err = json_object_get(json_array_get(root, 0), "error");
    else
        err = json_object_get(root, "error");
    if (json_is_object(err) && (e = tg_gemini_error_json(err)) != NULL)
        rc = tg_provider_dump(e, out) == 0 ? 0 : -1;
    json_decref(e);
    json_decref(root);
    return rc;
}

/* ---- streams -------------------------------------------------------------------------------- */

typedef struct {
    json_t *id, *model; /* from the first event */
    time_t created;
    int started; /* the role chunk went out */
    int ntools;
} tg_gemini_stream_t;

static void tg_gemini_stream_free(tg_stream_state_t *st)
{
    tg_gemini_stream_t *s = st->priv;

    if (s == NULL)
        return;
    json_decref(s->id);
    json_decref(s->model);
    free(s);
    st->priv = NULL;
}

/* Append one chunk: data: {...,"choices":[{"index":0,"delta":delta,"finish_reason":fr}]} */
static int tg_gemini_chunk(const tg_gemini_stream_t *s, json_t *delta, const char *fr,
                           json_t *usage, tg_buf_t *out)
{
    json_t *c = json_pack("{s:O,s:s,s:I,s:O,s:[]}", "id", s->id, "object", "chat.completion.chunk",
                          "created", (json_int_t)s->created, "model", s->model, "choices");
    int rc = -1;

    if (c == NULL)
        goto done;
    if (delta != NULL && json_array_append_new(json_object_get(c, "choices"),
                                               json_pack("{s:i,s:O,s:s?}", "index", 0, "delta",
                                                         delta, "finish_reason", fr)) == -1)
        goto done;
    if (delta != NULL && fr == NULL)
        json_object_set_new(json_array_get(json_object_get(c, "choices"), 0), "finish_reason",
                            json_null());
    if (usage != NULL)
        json_object_set(c, "usage", usage);
    rc =
        tg_buf_append(out, "data: ", 6) || tg_provider_dump(c, out) || tg_buf_append(out, "\n\n", 2)
            ? -1
            : 0;
done:
    json_decref(c);
    return rc;
}

static tg_event_action_t tg_gemini_event(tg_stream_state_t *st, const char *event, const char *data,
                                         size_t datalen, const char *raw, size_t rawlen,
                                         tg_buf_t *out)
{
    tg_gemini_stream_t *s = st->priv;
    json_t *root, *cand, *parts, *part, *err, *d;
    const char *fr = NULL;
    int rc = 0, done = 0;
    size_t i;

    (void)event, (void)raw, (void)rawlen;
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return TG_EVENT_DROP;
        st->priv = s;
    }
    root = json_loadb(data, datalen, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return TG_EVENT_DROP;
    }
    if (json_is_object(err = json_object_get(root, "error"))) {
        json_t *e = tg_gemini_error_json(err);
        rc = e == NULL || TG_S(out, "data: ") || tg_provider_dump(e, out) || TG_S(out, "\n\n");
        json_decref(e);
        json_decref(root);
        if (rc)
            tg_buf_reset(out);
        return out->len > 0 ? TG_EVENT_FORWARD : TG_EVENT_DROP;
    }
    if (s->id == NULL) {
        s->id = tg_gemini_id(root);
        s->model = tg_gemini_model(NULL, root);
        s->created = time(NULL);
    }
    /* the latest counts replace the earlier ones: they are cumulative, never summed */
    tg_gemini_usage(json_object_get(root, "usageMetadata"), &st->usage);
    if (!s->started) {
        s->started = 1;
        d = json_pack("{s:s,s:s}", "role", "assistant", "content", "");
        rc |= d == NULL || tg_gemini_chunk(s, d, NULL, NULL, out);
        json_decref(d);
    }
    cand = json_array_get(json_object_get(root, "candidates"), 0);
    parts = json_object_get(json_object_get(cand, "content"), "parts");
    json_array_foreach(parts, i, part)
    {
        json_t *t = json_object_get(part, "text"), *fc = json_object_get(part, "functionCall");

        if (json_is_true(json_object_get(part, "thought")))
            continue;
        d = NULL;
        if (json_is_string(t) && json_string_length(t) > 0) {
            st->content_bytes += (int64_t)json_string_length(t);
            d = json_pack("{s:O}", "content", t);
        } else if (json_is_object(fc)) {
            json_t *c = tg_gemini_call(fc, s->ntools++, 1);
            d = c != NULL ? json_pack("{s:[o]}", "tool_calls", c) : NULL;
            if (d == NULL)
                rc = -1;
        }
        if (d != NULL)
            rc |= tg_gemini_chunk(s, d, NULL, NULL, out);
        json_decref(d);
    }
    if ((fr = tg_gemini_finish(json_object_get(cand, "finishReason"), s->ntools > 0)) != NULL ||
        (cand == NULL && json_object_get(root, "promptFeedback") != NULL)) {
        if (fr == NULL)
            fr = "content_filter";
        d = json_object();
        rc |= d == NULL || tg_gemini_chunk(s, d, fr, NULL, out);
        json_decref(d);
        if (st->client_wants_usage && st->usage.reported) {
            json_t *u = tg_gemini_usage_json(&st->usage);
            rc |= u == NULL || tg_gemini_chunk(s, NULL, NULL, u, out);
            json_decref(u);
        }
        rc |= TG_S(out, "data: [DONE]\n\n");
        done = 1;
    }
    json_decref(root);
    if (rc) {
        tg_buf_reset(out);
        return done ? TG_EVENT_DONE : TG_EVENT_DROP;
    }
    if (done)
        return TG_EVENT_DONE;
    return out->len > 0 ? TG_EVENT_FORWARD : TG_EVENT_DROP;
}

const tg_adapter_t tg_gemini_adapter = {
    .kind = "gemini",
    .endpoints = 1u << TG_EP_CHAT | 1u << TG_EP_EMBEDDINGS,
    .prepare = tg_gemini_prepare,
    .response = tg_gemini_response,
    .event = tg_gemini_event,
    .stream_free = tg_gemini_stream_free,
    .error = tg_gemini_error,
};
