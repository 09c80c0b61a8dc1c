/*
 * The AWS Bedrock Converse adapter: an OpenAI chat completion request becomes a Converse request
 * for POST <base_url>/model/<model id>/converse (or /converse-stream), signed with AWS Signature
 * Version 4 (or sent with a Bedrock API key as a bearer token), and a Converse answer becomes a
 * chat.completion. Streams (binary event-stream frames) are translated in
 * provider_bedrock_stream.c. The model id is in the path, so the request head is built and signed
 * per request (x->owned); the signing key is derived once a day per provider (the ext).
 */
#include "worker/provider_bedrock.h"
#include "worker/provider_common.h"
#include "shared/tg_log.h"
#include "shared/tg_sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TG_S(b, str) tg_buf_append(b, str, strlen(str))
#define TG_BEDROCK_SERVICE "bedrock" /* the SigV4 service name of bedrock-runtime */

static time_t (*tg_bedrock_now)(void);

void tg_bedrock_set_clock(time_t (*now)(void))
{
    tg_bedrock_now = now;
}

/* ---- per-provider data: the parsed base_url and the day's signing key ----------------------- */

typedef struct {
    tg_provider_ext_t base;
    tg_provider_url_t url;
    tg_sigv4_key_t key; /* derived from the secret for key.date; wiped with the ext */
} tg_bedrock_ext_t;

static void tg_bedrock_ext_destroy(tg_provider_ext_t *ext)
{
    tg_bedrock_ext_t *e = (tg_bedrock_ext_t *)ext;

    explicit_bzero(&e->key, sizeof(e->key)); /* a day's signing key */
    free(e);
}

static tg_bedrock_ext_t *tg_bedrock_ext(tg_provider_t *p)
{
    tg_bedrock_ext_t *e = p->ext;

    if (e != NULL)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->base.destroy = tg_bedrock_ext_destroy;
    if (tg_provider_url(p->base_url, &e->url) == -1) {
        tg_log(TG_LOG_ERROR, 0, "provider \"%s\": cannot parse its Bedrock base_url", p->name);
        tg_bedrock_ext_destroy(&e->base);
        return NULL;
    }
    p->ext = e;
    return e;
}

/* ---- request translation -------------------------------------------------------------------- */

/* An image part as an image block: a base64 data: URL of a format Bedrock reads. */
static json_t *tg_bedrock_image(json_t *part, const char **why)
{
    static const struct {
        const char *mt, *format;
    } formats[] = {{"image/png", "png"},
                   {"image/jpeg", "jpeg"},
                   {"image/jpg", "jpeg"},
                   {"image/gif", "gif"},
                   {"image/webp", "webp"}};
    const char *mt, *data;
    int mtlen;

    if (tg_provider_data_url(part, &mt, &mtlen, &data, why) == -1)
        return NULL;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if ((size_t)mtlen == strlen(formats[i].mt) && strncasecmp(mt, formats[i].mt, mtlen) == 0)
            return json_pack("{s:{s:s,s:{s:s}}}", "image", "format", formats[i].format, "source",
                             "bytes", data);
    *why = "Bedrock accepts images only as png, jpeg, gif or webp";
    return NULL;
}

/* tg_provider_call_fn: a tool call as a toolUse block. */
static json_t *tg_bedrock_call_block(json_t *id, json_t *name, json_t *input)
{
    return json_pack("{s:{s:O,s:O,s:o}}", "toolUse", "toolUseId", id, "name", name, "input", input);
}

/*
 * A tool message: a toolResult block in a user turn, before any other content of that turn
 * (models read results first, as Anthropic's require). A result that is a JSON object is sent as
 * {json}, other text as {text}, an empty one as {json: {}}.
 */
static int tg_bedrock_tool(json_t *msg, json_t *msgs, const char **why)
{
    json_t *id = json_object_get(msg, "tool_call_id"), *c = json_object_get(msg, "content");
    json_t *content = json_array(), *res = NULL, *obj;

    if (content == NULL)
        TG_FAIL("out of memory");
    if (!json_is_string(id))
        TG_FAIL("a tool message has no tool_call_id");
    obj =
        json_is_string(c) ? json_loadb(json_string_value(c), json_string_length(c), 0, NULL) : NULL;
    if (json_is_object(obj)) {
        if (json_array_append_new(content, json_pack("{s:o}", "json", obj)) == -1)
            TG_FAIL("out of memory");
    } else {
        json_decref(obj);
        if (tg_provider_text_parts(c, tg_bedrock_image, content, why) == -1)
            goto fail;
        /* Converse refuses blank text blocks: an empty result is an empty JSON object */
        if (json_array_size(content) == 0 &&
            json_array_append_new(content, json_pack("{s:{}}", "json")) == -1)
            TG_FAIL("out of memory");
    }
    res = json_pack("{s:{s:O,s:O}}", "toolResult", "toolUseId", id, "content", content);
    if (res == NULL || tg_provider_add_result(msgs, res, "toolResult", NULL) == -1)
        TG_FAIL("out of memory");
    json_decref(res);
    json_decref(content);
    return 0;
fail:
    json_decref(res);
    json_decref(content);
    return -1;
}

/* tg_provider_tool_fn: a function tool as a toolSpec (Bedrock requires a schema). */
static json_t *tg_bedrock_tool_spec(json_t *t, json_t *name, json_t *desc, json_t *params)
{
    json_t *spec =
        json_pack("{s:O,s:{s:o}}", "name", name, "inputSchema", "json", tg_provider_schema(params));

    (void)t;
    if (spec != NULL && desc != NULL && json_string_length(desc) > 0)
        json_object_set(spec, "description", desc);
    return spec != NULL ? json_pack("{s:o}", "toolSpec", spec) : NULL;
}

/* Does the conversation already hold toolUse or toolResult blocks? */
static int tg_bedrock_has_tool_blocks(json_t *msgs)
{
    size_t i, j;
    json_t *msg, *b;

    json_array_foreach(msgs, i, msg)
    {
        json_array_foreach(json_object_get(msg, "content"), j, b)
        {
            if (json_object_get(b, "toolUse") != NULL || json_object_get(b, "toolResult") != NULL)
                return 1;
        }
    }
    return 0;
}

/*
 * tools and tool_choice as toolConfig. Converse has no "none": tools are then left out, unless
 * the conversation already holds tool blocks (Converse requires toolConfig with those), in which
 * case they are sent without a choice (auto). Returns 0, or -1 with *why set.
 */
static int tg_bedrock_tool_config(json_t *in, json_t *msgs, json_t *out, const char **why)
{
    json_t *tools = json_object_get(in, "tools"), *tc = json_object_get(in, "tool_choice");
    json_t *choice = NULL, *specs, *fn = json_object_get(tc, "function");

    if (tools == NULL || json_is_null(tools) || json_array_size(tools) == 0)
        return 0;
    if (tc == NULL || json_is_null(tc) || tg_provider_str_is(tc, "auto"))
        choice = json_pack("{s:{}}", "auto");
    else if (tg_provider_str_is(tc, "required"))
        choice = json_pack("{s:{}}", "any");
    else if (json_is_object(tc) && tg_provider_str_is(json_object_get(tc, "type"), "function") &&
             json_is_string(json_object_get(fn, "name")))
        choice = json_pack("{s:{s:O}}", "tool", "name", json_object_get(fn, "name"));
    else if (!tg_provider_str_is(tc, "none")) {
        *why = "tool_choice must be auto, required, none or a named function";
        return -1;
    } else if (!tg_bedrock_has_tool_blocks(msgs)) {
        return 0;
    }
    if ((specs = tg_provider_tools(tools, tg_bedrock_tool_spec, why)) == NULL) {
        json_decref(choice);
        return -1;
    }
    if (json_object_set_new(out, "toolConfig", json_pack("{s:o}", "tools", specs)) == -1 ||
        (choice != NULL &&
         json_object_set_new(json_object_get(out, "toolConfig"), "toolChoice", choice) == -1)) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* max tokens, temperature, top_p and stop as inferenceConfig (NULL: nothing to set). */
static json_t *tg_bedrock_inference(const tg_model_t *m, json_t *in, const char **why)
{
    json_t *ic = json_object(), *v;
    int64_t mt = tg_provider_max_tokens(in);

    if (ic == NULL)
        TG_FAIL("out of memory");
    /* the model's default bounds the answer as admission assumed it would */
    if (mt == 0)
        mt = m->max_output_tokens;
    if (mt > 0)
        json_object_set_new(ic, "maxTokens", json_integer(mt));
    if (json_is_number(v = json_object_get(in, "temperature")))
        json_object_set(ic, "temperature", v);
    if (json_is_number(v = json_object_get(in, "top_p")))
        json_object_set(ic, "topP", v);
    if (tg_provider_stop(in, &v, why) == -1)
        goto fail;
    if (v != NULL)
        json_object_set_new(ic, "stopSequences", v);
    return ic;
fail:
    json_decref(ic);
    return NULL;
}

/* The roles of OpenAI messages, each into the conversation (msgs) or the system blocks. */
static int tg_bedrock_message(json_t *msg, json_t *system, json_t *msgs, const char **why)
{
    json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");
    json_t *blocks;

    if (tg_provider_str_is(role, "system") || tg_provider_str_is(role, "developer"))
        return tg_provider_text_parts(content, NULL, system, why);
    if (tg_provider_str_is(role, "assistant"))
        return tg_provider_assistant(msg, msgs, "assistant", "content", NULL, 1,
                                     tg_bedrock_call_block, why);
    if (tg_provider_str_is(role, "tool"))
        return tg_bedrock_tool(msg, msgs, why);
    if (!tg_provider_str_is(role, "user")) {
        *why = "a message has an unsupported role (system, developer, user, assistant and tool "
               "are)";
        return -1;
    }
    if ((blocks = json_array()) == NULL ||
        tg_provider_text_parts(content, tg_bedrock_image, blocks, why) == -1) {
        json_decref(blocks);
        return -1;
    }
    if (tg_provider_add(msgs, "user", "content", blocks) == -1) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* The Converse request for an OpenAI chat request (a tg_provider_translate_fn). */
static json_t *tg_bedrock_request(const tg_model_t *m, int stream, json_t *in, const char **why)
{
    json_t *out = json_object(), *system = json_array(), *msgs = json_array(), *msg, *v;
    size_t i;

    (void)stream; /* the path, not the body, says whether to stream */
    if (out == NULL || system == NULL || msgs == NULL)
        TG_FAIL("out of memory");
    if (json_is_integer(v = json_object_get(in, "n")) && json_integer_value(v) > 1)
        TG_FAIL("n > 1 is not supported by Bedrock");
    if ((v = json_object_get(in, "functions")) != NULL && !json_is_null(v))
        TG_FAIL("the legacy functions field is not supported; use tools");
    json_array_foreach(json_object_get(in, "messages"), i, msg)
    {
        if (tg_bedrock_message(msg, system, msgs, why) == -1)
            goto fail;
    }
    if (json_array_size(msgs) == 0)
        TG_FAIL("the request has no user or assistant content");
    if ((v = tg_provider_format_instruction(json_object_get(in, "response_format"), why)) != NULL) {
        if (json_array_append_new(system, json_pack("{s:o}", "text", v)) == -1)
            TG_FAIL("out of memory");
    } else if (*why != NULL) {
        goto fail;
    }
    json_object_set_new(out, "messages", json_incref(msgs));
    if (json_array_size(system) > 0)
        json_object_set(out, "system", system);
    if ((v = tg_bedrock_inference(m, in, why)) == NULL)
        goto fail;
    if (json_object_size(v) > 0)
        json_object_set(out, "inferenceConfig", v);
    json_decref(v);
    if (tg_bedrock_tool_config(in, msgs, out, why) == -1)
        goto fail;
    json_decref(system);
    json_decref(msgs);
    return out;
fail:
    json_decref(out);
    json_decref(system);
    json_decref(msgs);
    return NULL;
}

/* ---- the signed request head ---------------------------------------------------------------- */

/* The request path: the base path, /model/, the model id with every reserved byte escaped. */
static int tg_bedrock_path(const tg_bedrock_ext_t *e, const char *model, int stream, tg_buf_t *b)
{
    static const char hex[] = "0123456789ABCDEF";

    if (TG_S(b, e->url.path) || TG_S(b, "/model/"))
        return -1;
    for (const unsigned char *c = (const unsigned char *)model; *c != '\0'; c++) {
        char esc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
        int plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~';

        if (tg_buf_append(b, plain ? (const char *)c : esc, plain ? 1 : 3) == -1)
            return -1;
    }
    return TG_S(b, stream ? "/converse-stream" : "/converse");
}

/*
 * The credential lines: SigV4's X-Amz-Date, X-Amz-Security-Token and Authorization (over host,
 * content-type, x-amz-date and the token), or a Bedrock API key as a bearer token.
 */
static int tg_bedrock_auth(const tg_provider_t *p, tg_bedrock_ext_t *e, const char *path,
                           const tg_buf_t *body, tg_buf_t *lines)
{
    char date[17], hash[65], day[9];
    tg_sigv4_header_t h[4] = {{"host", e->url.host},
                              {"content-type", "application/json"},
                              {"x-amz-date", date},
                              {"x-amz-security-token", p->aws_session_token}};
    tg_sigv4_request_t r = {"POST", path, NULL, h, p->aws_session_token != NULL ? 4 : 3, hash};

    if (!tg_provider_sigv4(p)) {
        if (p->api_key == NULL)
            return 0;
        return TG_S(lines, "Authorization: Bearer ") || TG_S(lines, p->api_key) ||
                       TG_S(lines, "\r\n")
                   ? -1
                   : 0;
    }
    tg_sigv4_amz_date(tg_bedrock_now != NULL ? tg_bedrock_now() : time(NULL), date);
    memcpy(day, date, 8);
    day[8] = '\0';
    if (tg_sigv4_derive(&e->key, p->aws_secret_access_key, day, p->region, TG_BEDROCK_SERVICE) ==
        -1)
        return -1;
    tg_sigv4_sha256_hex(body->data != NULL ? body->data : "", body->len, hash);
    if (TG_S(lines, "X-Amz-Date: ") || TG_S(lines, date) || TG_S(lines, "\r\n"))
        return -1;
    if (p->aws_session_token != NULL && (TG_S(lines, "X-Amz-Security-Token: ") ||
                                         TG_S(lines, p->aws_session_token) || TG_S(lines, "\r\n")))
        return -1;
    return TG_S(lines, "Authorization: ") ||
                   tg_sigv4_authorization(&e->key, p->aws_access_key_id, p->region,
                                          TG_BEDROCK_SERVICE, date, &r, lines) ||
                   TG_S(lines, "\r\n")
               ? -1
               : 0;
}

/* Hand the CRLF-separated header lines to curl (HTTP/2 path) one by one. */
static int tg_bedrock_curl_headers(tg_xfer_t *x, char *lines)
{
    for (char *line = lines, *end; *line != '\0'; line = end + 2) {
        if ((end = strstr(line, "\r\n")) == NULL)
            return -1;
        *end = '\0';
        if (tg_xfer_header(x, line) == -1)
            return -1;
    }
    return 0;
}

/* The request head (HTTP/1.1 pool) or the curl header list, signed for this body. */
static int tg_bedrock_head(const tg_provider_t *p, tg_bedrock_ext_t *e, const char *path,
                           int stream, const tg_buf_t *body, tg_xfer_t *x)
{
    tg_buf_t h = {0};
    int rc = -1;

    /* curl is given the Host line too, so that it sends exactly the host that was signed */
    if ((!p->http2 && (TG_S(&h, "POST ") || TG_S(&h, path) || TG_S(&h, " HTTP/1.1\r\n"))) ||
        TG_S(&h, "Host: ") || TG_S(&h, e->url.host) || TG_S(&h, "\r\n"))
        goto done;
    if (TG_S(&h, "User-Agent: tollgate/" TG_VERSION "\r\nContent-Type: application/json\r\n") ||
        TG_S(&h, stream ? "Accept: application/vnd.amazon.eventstream\r\n"
                        : "Accept: application/json\r\n") ||
        tg_bedrock_auth(p, e, path, body, &h) == -1)
        goto done;
    for (size_t i = 0; i < p->nheaders; i++) /* sent, not signed */
        if (TG_S(&h, p->headers[i].name) || TG_S(&h, ": ") || TG_S(&h, p->headers[i].value) ||
            TG_S(&h, "\r\n"))
            goto done;
    if (p->http2) {
        rc =
            tg_xfer_header(x, "Expect:") == -1 || tg_bedrock_curl_headers(x, h.data) == -1 ? -1 : 0;
        goto done;
    }
    x->owned = h.data; /* freed (after a wipe) with the transfer */
    x->h1_head = h.data;
    x->h1_head_len = h.len;
    x->h1_origin = e->url.origin;
    h.data = NULL;
    rc = 0;
done:
    if (h.data != NULL)
        explicit_bzero(h.data, h.cap); /* it held the credentials */
    tg_buf_free(&h);
    return rc;
}

static int tg_bedrock_prepare(const tg_model_t *m, tg_endpoint_t ep, int stream, tg_xfer_t *x,
                              tg_buf_t *url, tg_buf_t *body)
{
    tg_provider_t *p = m->provider;
    tg_bedrock_ext_t *e;
    tg_buf_t path = {0};
    int rc;

    if (ep != TG_EP_CHAT) {
        tg_log(TG_LOG_INFO, 0, "provider \"%s\" (bedrock) serves only chat completions", p->name);
        return -1;
    }
    if ((e = tg_bedrock_ext(p)) == NULL)
        return -1;
    if ((rc = tg_provider_translate(m, stream, x, body, tg_bedrock_request)) != 0)
        return rc;
    rc = tg_bedrock_path(e, m->upstream_model, stream, &path) == -1 || TG_S(url, e->url.origin) ||
                 tg_buf_append(url, path.data, path.len) ||
                 tg_bedrock_head(p, e, path.data, stream, body, x) == -1
             ? -1
             : 0;
    tg_buf_free(&path);
    return rc;
}

/* ---- answers -------------------------------------------------------------------------------- */

int tg_bedrock_usage(json_t *usage, tg_usage_t *u)
{
    int64_t in, read, write;

    if (!json_is_object(usage))
        return -1;
    in = json_integer_value(json_object_get(usage, "inputTokens"));
    read = json_integer_value(json_object_get(usage, "cacheReadInputTokens"));
    write = json_integer_value(json_object_get(usage, "cacheWriteInputTokens"));
    memset(u, 0, sizeof(*u));
    /* OpenAI counts every prompt token in prompt_tokens; Converse splits them three ways */
    u->prompt = in + read + write;
    u->cached = read;
    u->cache_write = write;
    u->completion = json_integer_value(json_object_get(usage, "outputTokens"));
    u->reported = 1;
    return 0;
}

const char *tg_bedrock_finish(json_t *stop_reason, int calls)
{
    const char *s = json_string_value(stop_reason);

    if (s == NULL)
        return NULL;
    if (strcmp(s, "tool_use") == 0)
        return calls ? "tool_calls" : "stop";
    if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(s, "guardrail_intervened") == 0 || strcmp(s, "content_filtered") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence */
}

json_t *tg_bedrock_id(void)
{
    static unsigned long n;

    return json_sprintf("chatcmpl-bedrock-%lx%05lx", (unsigned long)time(NULL), ++n & 0xfffff);
}

/* A toolUse block as an OpenAI tool call; arguments are the JSON text of its input. */
static json_t *tg_bedrock_call(json_t *tu)
{
    json_t *input = json_object_get(tu, "input"), *c;
    tg_buf_t a = {0};

    if ((input != NULL ? tg_provider_dump(input, &a) : tg_buf_append(&a, "{}", 2)) == -1) {
        tg_buf_free(&a);
        return NULL;
    }
    c = json_pack("{s:O,s:s,s:{s:O,s:s#}}", "id", json_object_get(tu, "toolUseId"), "type",
                  "function", "function", "name", json_object_get(tu, "name"), "arguments", a.data,
                  (int)a.len);
    tg_buf_free(&a);
    return c;
}

static int tg_bedrock_response(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                               tg_usage_t *usage, tg_buf_t *out)
{
    json_t *root, *content, *blk, *calls = NULL;
    tg_buf_t text = {0};
    int has_text = 0, rc = -1;
    size_t i;

    (void)ep; /* prepare refuses all but chat */
    memset(usage, 0, sizeof(*usage));
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    content =
        json_object_get(json_object_get(json_object_get(root, "output"), "message"), "content");
    if (!json_is_array(content) || (calls = json_array()) == NULL)
        goto done;
    tg_bedrock_usage(json_object_get(root, "usage"), usage);
    json_array_foreach(content, i, blk)
    {
        json_t *t = json_object_get(blk, "text"), *tu = json_object_get(blk, "toolUse");

        if (json_is_string(t)) {
            if (tg_buf_append(&text, json_string_value(t), json_string_length(t)) == -1)
                goto done;
            has_text = 1;
        } else if (json_is_object(tu) && json_array_append_new(calls, tg_bedrock_call(tu))) {
            goto done;
        }
        /* reasoningContent, citations, ...: no place in a chat.completion */
    }
    rc = tg_provider_completion(
        tg_bedrock_id(), m->upstream_model, has_text ? &text : NULL, calls,
        tg_bedrock_finish(json_object_get(root, "stopReason"), json_array_size(calls) > 0),
        usage->reported ? tg_provider_usage_json(usage) : NULL, out);
done:
    if (rc == -1) {
        tg_buf_reset(out);
        rc = -2; /* an answer we cannot read is unusable, not merely without usage */
    }
    json_decref(calls);
    json_decref(root);
    tg_buf_free(&text);
    return rc;
}

/* ---- errors --------------------------------------------------------------------------------- */

json_t *tg_bedrock_error_json(const char *type, long status, const char *message)
{
    static const struct {
        const char *aws, *type, *code;
    } map[] = {
        {"validationexception", "invalid_request_error", NULL},
        {"resourcenotfoundexception", "invalid_request_error", "upstream_not_found"},
        {"throttlingexception", "rate_limit_error", "rate_limit_exceeded"},
        {"servicequotaexceededexception", "rate_limit_error", "rate_limit_exceeded"},
        {"modelnotreadyexception", "rate_limit_error", "upstream_model_not_ready"},
        {"serviceunavailableexception", "server_error", "upstream_overloaded"},
        {"modeltimeoutexception", "server_error", "upstream_timeout"},
        {"modelerrorexception", "server_error", "upstream_model_error"},
        {"modelstreamerrorexception", "server_error", "upstream_model_error"},
        {"internalserverexception", "server_error", "upstream_error"},
        /* credentials are the gateway's, never the client's fault */
        {"accessdeniedexception", "server_error", "upstream_auth_failed"},
        {"unrecognizedclientexception", "server_error", "upstream_auth_failed"},
        {"invalidsignatureexception", "server_error", "upstream_auth_failed"},
        {"incompletesignatureexception", "server_error", "upstream_auth_failed"},
        {"missingauthenticationtokenexception", "server_error", "upstream_auth_failed"},
        {"expiredtokenexception", "server_error", "upstream_auth_failed"},
    };
    const char *t = type != NULL ? type : "", *hash = strchr(t, '#');
    const char *etype = NULL, *code = NULL;
    size_t n;

    /* "ThrottlingException:http://internal.amazon.com/coral/..." or "aws.protocols#Name" */
    if (hash != NULL)
        t = hash + 1;
    n = strcspn(t, ":");
    for (size_t i = 0; n > 0 && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].aws) == n && strncasecmp(t, map[i].aws, n) == 0) {
            etype = map[i].type;
            code = map[i].code;
            break;
        }
    }
    if (etype == NULL && status == 429) { /* a type we do not know: its status says what */
        etype = "rate_limit_error";
        code = "rate_limit_exceeded";
    } else if (etype == NULL && status >= 400 && status < 500) {
        etype = "invalid_request_error";
        code = status == 404 ? "upstream_not_found" : NULL;
    } else if (etype == NULL) {
        etype = "server_error";
        code = "upstream_error";
    }
    return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message",
                     message != NULL ? message : "The provider reported an error.", "type", etype,
                     "param", "code", code);
}

/* Bedrock's error bodies are {"message": ...}; the type is in x-amzn-ErrorType (or __type). */
static int tg_bedrock_error(const tg_xfer_t *x, const char *body, size_t len, tg_buf_t *out)
{
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL), *msg, *e = NULL;
    const char *type = x != NULL && x->error_type[0] != '\0' ? x->error_type : NULL;
    int rc = -1;

    msg = json_object_get(root, "message");
    if (!json_is_string(msg))
        msg = json_object_get(root, "Message");
    if (type == NULL)
        type = json_string_value(json_object_get(root, "__type"));
    if (json_is_string(msg) &&
        (e = tg_bedrock_error_json(type, x != NULL ? x->status : 0, json_string_value(msg))))
        rc = tg_provider_dump(e, out) == 0 ? 0 : -1;
    json_decref(e);
    json_decref(root);
    return rc;
}

const tg_adapter_t tg_bedrock_adapter = {
    .kind = "bedrock",
    .endpoints = 1u << TG_EP_CHAT,
    .framing = TG_FRAMING_EVSTREAM,
    .prepare = tg_bedrock_prepare,
    .response = tg_bedrock_response,
    .event = tg_bedrock_event,
    .stream_free = tg_bedrock_stream_free,
    .error = tg_bedrock_error,
};
