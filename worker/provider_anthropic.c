/*
 * The Anthropic Messages adapter, request side: the provider's request heads (x-api-key,
 * anthropic-version), and the translation of an OpenAI chat completion request into a body for
 * POST /v1/messages. Answers and stream events are translated back in provider_anthropic_stream.c.
 * Translation needs a DOM (messages are regrouped, tool calls re-parsed), so jansson is used here.
 */
#include "worker/provider.h"
#include "worker/provider_common.h"
#include "shared/tg_log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TG_ANTHROPIC_VERSION "2023-06-01"
#define TG_ANTHROPIC_PATH "/messages"
#define TG_ANTHROPIC_DEFAULT_MAX_TOKENS 4096 /* Anthropic requires max_tokens; models know none */

/* Defined in provider_anthropic_stream.c (the adapter's answer side). */
int tg_anthropic_error(const tg_xfer_t *x, const char *body, size_t len, tg_buf_t *out);
int tg_anthropic_response(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                          tg_usage_t *usage, tg_buf_t *out);
tg_event_action_t tg_anthropic_event(tg_stream_state_t *st, const char *event, const char *data,
                                     size_t datalen, const char *raw, size_t rawlen, tg_buf_t *out);
void tg_anthropic_stream_free(tg_stream_state_t *st);

/* ---- per-provider request heads ------------------------------------------------------------- */

/*
 * Built on a provider's first use in this worker, like the OpenAI adapter's: the curl header
 * lists and parsed URL (HTTP/2 path), and the two HTTP/1.1 request heads (stream or not).
 * Anthropic serves only chat, so there is one URL.
 */
typedef struct {
    tg_provider_ext_t base;
    struct curl_slist *headers[2]; /* [stream] */
    CURLU *url;
    char origin[320]; /* h1 pool key and connect URL: scheme://host:port */
    char *heads[2];   /* h1 request heads [stream], no Content-Length */
    size_t head_len[2];
} tg_anthropic_ext_t;

static void tg_anthropic_ext_destroy(tg_provider_ext_t *ext)
{
    tg_anthropic_ext_t *e = (tg_anthropic_ext_t *)ext;

    for (int s = 0; s < 2; s++) {
        /* the lists and heads hold the x-api-key line: wipe before freeing */
        for (struct curl_slist *l = e->headers[s]; l != NULL; l = l->next)
            explicit_bzero(l->data, strlen(l->data));
        curl_slist_free_all(e->headers[s]);
        if (e->heads[s] != NULL)
            explicit_bzero(e->heads[s], e->head_len[s]);
        free(e->heads[s]);
    }
    curl_url_cleanup(e->url);
    free(e);
}

/* The provider's configured headers replace ours of the same name (e.g. anthropic-version). */
static int tg_anthropic_configured(const tg_provider_t *p, const char *name)
{
    for (size_t i = 0; i < p->nheaders; i++)
        if (strcasecmp(p->headers[i].name, name) == 0)
            return 1;
    return 0;
}

/*
 * The header lines every call carries, in order, without the Accept line: written once for the
 * h1 heads and once for each curl list. add returns 0 or -1.
 */
static int tg_anthropic_lines(const tg_provider_t *p, int (*add)(void *, const char *, size_t),
                              void *arg)
{
#define TG_L(str) add(arg, str, strlen(str))
    if (TG_L("Content-Type: application/json"))
        return -1;
    if (!tg_anthropic_configured(p, "anthropic-version") &&
        TG_L("anthropic-version: " TG_ANTHROPIC_VERSION))
        return -1;
    if (p->api_key != NULL && !tg_anthropic_configured(p, "x-api-key")) {
        char line[4096];
        int n = snprintf(line, sizeof(line), "x-api-key: %s", p->api_key);
        int rc = n < 0 || (size_t)n >= sizeof(line) ? -1 : add(arg, line, (size_t)n);

        explicit_bzero(line, sizeof(line));
        if (rc == -1)
            return -1;
    }
    for (size_t h = 0; h < p->nheaders; h++) {
        char line[4096];
        int n = snprintf(line, sizeof(line), "%s: %s", p->headers[h].name, p->headers[h].value);

        if (n < 0 || (size_t)n >= sizeof(line) || add(arg, line, (size_t)n) == -1)
            return -1;
    }
#undef TG_L
    return 0;
}

/* tg_anthropic_lines callback: one head line, CRLF-terminated. */
static int tg_anthropic_head_line(void *arg, const char *line, size_t len)
{
    return tg_buf_append(arg, line, len) == -1 || tg_buf_append(arg, "\r\n", 2) == -1 ? -1 : 0;
}

/* tg_anthropic_lines callback: one curl list entry. */
static int tg_anthropic_slist_line(void *arg, const char *line, size_t len)
{
    struct curl_slist **l = arg, *nl;

    (void)len;
    if ((nl = curl_slist_append(*l, line)) == NULL)
        return -1;
    *l = nl;
    return 0;
}

/* The HTTP/1.1 pool's view: the origin and one complete request head per mode. */
static int tg_anthropic_h1(const tg_provider_t *p, tg_anthropic_ext_t *e)
{
    tg_provider_url_t pu;
    tg_buf_t b = {0};
    int rc = -1;

    if (tg_provider_url(p->base_url, &pu) == -1)
        goto done;
    snprintf(e->origin, sizeof(e->origin), "%s", pu.origin);
    for (int s = 0; s < 2; s++) {
        tg_buf_reset(&b);
#define TG_S(str) tg_buf_append(&b, str, strlen(str))
        if (TG_S("POST ") || TG_S(pu.path) || TG_S(TG_ANTHROPIC_PATH) ||
            TG_S(" HTTP/1.1\r\nHost: ") || TG_S(pu.host))
            goto done;
        if (TG_S("\r\nUser-Agent: tollgate/" TG_VERSION "\r\nAccept: ") ||
            TG_S(s ? "text/event-stream" : "application/json") || TG_S("\r\n"))
            goto done;
#undef TG_S
        if (tg_anthropic_lines(p, tg_anthropic_head_line, &b) == -1)
            goto done;
        if ((e->heads[s] = malloc(b.len)) == NULL)
            goto done;
        memcpy(e->heads[s], b.data, b.len);
        e->head_len[s] = b.len;
    }
    rc = 0;
done:
    if (b.data != NULL)
        explicit_bzero(b.data, b.cap); /* it held the key */
    tg_buf_free(&b);
    return rc;
}

static tg_anthropic_ext_t *tg_anthropic_ext(tg_provider_t *p)
{
    tg_anthropic_ext_t *e = p->ext;
    char url[4096];
    int n, ok = 1;

    if (e != NULL)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->base.destroy = tg_anthropic_ext_destroy;
    for (int s = 0; s < 2 && ok; s++) {
        struct curl_slist *l = NULL;

        ok = tg_anthropic_slist_line(
                 &l, s ? "Accept: text/event-stream" : "Accept: application/json", 0) == 0 &&
             tg_anthropic_slist_line(&l, "Expect:", 0) == 0 &&
             tg_anthropic_lines(p, tg_anthropic_slist_line, &l) == 0;
        e->headers[s] = l; /* even partial, so that destroy wipes it */
    }
    n = snprintf(url, sizeof(url), "%s%s", p->base_url, TG_ANTHROPIC_PATH);
    if (ok && (n < 0 || (size_t)n >= sizeof(url) || (e->url = curl_url()) == NULL ||
               curl_url_set(e->url, CURLUPART_URL, url, 0) != CURLUE_OK))
        ok = 0;
    if (ok && tg_anthropic_h1(p, e) == -1)
        ok = 0;
    if (!ok) {
        tg_log(TG_LOG_ERROR, 0, "provider \"%s\": cannot build its Anthropic request heads",
               p->name);
        tg_anthropic_ext_destroy(&e->base);
        return NULL;
    }
    p->ext = e;
    return e;
}

/* ---- request translation -------------------------------------------------------------------- */

/* A text block, with the part's cache_control (an Anthropic extension clients send) kept. */
static json_t *tg_anthropic_text_block(json_t *text, json_t *part)
{
    json_t *b = json_pack("{s:s,s:O}", "type", "text", "text", text);
    json_t *cc = part != NULL ? json_object_get(part, "cache_control") : NULL;

    if (b != NULL && cc != NULL)
        json_object_set(b, "cache_control", cc);
    return b;
}

/*
 * An image part: a data: URL becomes a base64 source, an http(s) URL a url source.
 * Returns a new block, or NULL with *why set.
 */
static json_t *tg_anthropic_image(json_t *part, const char **why)
{
    json_t *iu = json_object_get(part, "image_url"), *b = NULL, *cc;
    const char *url = json_string_value(json_is_object(iu) ? json_object_get(iu, "url") : iu);
    const char *mt, *data;
    int mtlen;

    if (url != NULL &&
        (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0)) {
        b = json_pack("{s:s,s:{s:s,s:s}}", "type", "image", "source", "type", "url", "url", url);
    } else if (url != NULL && strncmp(url, "data:", 5) != 0) {
        *why = "an image URL is neither a data: URL nor http(s)";
        return NULL;
    } else if (tg_provider_data_url(part, &mt, &mtlen, &data, why) == 0) {
        b = json_pack("{s:s,s:{s:s,s:s#,s:s}}", "type", "image", "source", "type", "base64",
                      "media_type", mt, mtlen, "data", data);
    } else {
        return NULL;
    }
    if (b == NULL)
        *why = "out of memory";
    else if ((cc = json_object_get(part, "cache_control")) != NULL)
        json_object_set(b, "cache_control", cc);
    return b;
}

/* A file part carrying a PDF as a data: URL becomes a document block. */
static json_t *tg_anthropic_file(json_t *part, const char **why)
{
    json_t *f = json_object_get(part, "file");
    const char *d = json_string_value(json_object_get(f, "file_data"));
    static const char pfx[] = "data:application/pdf;base64,";

    if (d == NULL || strncmp(d, pfx, sizeof(pfx) - 1) != 0) {
        *why = "only file parts with a base64 PDF in file_data are supported";
        return NULL;
    }
    return json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "document", "source", "type", "base64",
                     "media_type", "application/pdf", "data", d + sizeof(pfx) - 1);
}

/*
 * Append the blocks of an OpenAI message content (string, array of parts, or null) to blocks.
 * media: image and file parts are allowed. Empty text is skipped (Anthropic refuses it).
 * Returns 0, or -1 with *why set.
 */
static int tg_anthropic_parts(json_t *content, int media, json_t *blocks, const char **why)
{
    size_t i;
    json_t *part, *b;

    if (content == NULL || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        if (json_string_length(content) == 0)
            return 0;
        return json_array_append_new(blocks, tg_anthropic_text_block(content, NULL));
    }
    if (!json_is_array(content)) {
        *why = "a message content is neither a string nor an array of parts";
        return -1;
    }
    json_array_foreach(content, i, part)
    {
        json_t *type = json_object_get(part, "type");

        if (tg_provider_str_is(type, "text")) {
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text)) {
                *why = "a text part has no text";
                return -1;
            }
            if (json_string_length(text) == 0)
                continue;
            b = tg_anthropic_text_block(text, part);
        } else if (tg_provider_str_is(type, "refusal")) {
            continue; /* an assistant's earlier refusal: Anthropic has no such block */
        } else if (media && tg_provider_str_is(type, "image_url")) {
            if ((b = tg_anthropic_image(part, why)) == NULL)
                return -1;
        } else if (media && tg_provider_str_is(type, "file")) {
            if ((b = tg_anthropic_file(part, why)) == NULL)
                return -1;
        } else {
            *why = "a message content part has an unsupported type";
            return -1;
        }
        if (json_array_append_new(blocks, b) == -1) {
            *why = "out of memory";
            return -1;
        }
    }
    return 0;
}

/* tg_provider_parts_fn: an assistant's content (text only) as Anthropic blocks. */
static int tg_anthropic_text(json_t *content, json_t *blocks, const char **why)
{
    return tg_anthropic_parts(content, 0, blocks, why);
}

/* tg_provider_call_fn: a tool call as a tool_use block. */
static json_t *tg_anthropic_call_block(json_t *id, json_t *name, json_t *input)
{
    return json_pack("{s:s,s:O,s:O,s:o}", "type", "tool_use", "id", id, "name", name, "input",
                     input);
}

/*
 * A tool message: a tool_result block in a user turn. Anthropic wants tool results before any
 * other content of their turn, so it goes after the turn's last tool_result, not at its end.
 */
static int tg_anthropic_tool(json_t *msg, json_t *msgs, const char **why)
{
    json_t *id = json_object_get(msg, "tool_call_id"), *c = json_object_get(msg, "content");
    json_t *res = NULL, *blocks = NULL;

    if (!json_is_string(id))
        TG_FAIL("a tool message has no tool_call_id");
    if ((res = json_pack("{s:s,s:O}", "type", "tool_result", "tool_use_id", id)) == NULL)
        TG_FAIL("out of memory");
    if (json_is_string(c)) {
        if (json_string_length(c) > 0)
            json_object_set(res, "content", c);
    } else {
        if ((blocks = json_array()) == NULL || tg_anthropic_parts(c, 1, blocks, why) == -1)
            goto fail;
        if (json_array_size(blocks) > 0)
            json_object_set(res, "content", blocks);
    }
    if (tg_provider_add_result(msgs, res, "type", "tool_result") == -1)
        TG_FAIL("out of memory");
    json_decref(res);
    json_decref(blocks);
    return 0;
fail:
    json_decref(res);
    json_decref(blocks);
    return -1;
}

/*
 * A turn whose content is a single plain text block is sent as a string: the shape every
 * Anthropic example uses, and smaller.
 */
static void tg_anthropic_collapse(json_t *turn, const char *key)
{
    json_t *c = json_object_get(turn, key), *b = json_array_get(c, 0);

    if (json_array_size(c) == 1 && json_object_size(b) == 2 &&
        tg_provider_str_is(json_object_get(b, "type"), "text"))
        json_object_set(turn, key, json_object_get(b, "text"));
}

/* The system blocks joined into one string, unless one carries cache_control. */
static json_t *tg_anthropic_system(json_t *blocks)
{
    tg_buf_t b = {0};
    size_t i;
    json_t *blk, *s;

    json_array_foreach(blocks, i, blk)
    {
        if (json_object_size(blk) != 2)
            return json_incref(blocks);
    }
    json_array_foreach(blocks, i, blk)
    {
        json_t *t = json_object_get(blk, "text");
        if ((i > 0 && tg_buf_append(&b, "\n\n", 2) == -1) ||
            tg_buf_append(&b, json_string_value(t), json_string_length(t)) == -1) {
            tg_buf_free(&b);
            return NULL;
        }
    }
    s = json_stringn(b.data, b.len);
    tg_buf_free(&b);
    return s;
}

/* response_format as an instruction for the system prompt (Anthropic has no JSON mode). */
static int tg_anthropic_format(json_t *rf, json_t *system, const char **why)
{
    json_t *text = tg_provider_format_instruction(rf, why);

    if (text == NULL)
        return *why != NULL ? -1 : 0;
    if (json_array_append_new(system, json_pack("{s:s,s:o}", "type", "text", "text", text))) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* tg_provider_tool_fn: a function tool as an Anthropic tool (cache_control kept). */
static json_t *tg_anthropic_tool_decl(json_t *t, json_t *name, json_t *desc, json_t *params)
{
    json_t *a = json_pack("{s:O,s:o}", "name", name, "input_schema", tg_provider_schema(params));
    json_t *cc = json_object_get(t, "cache_control");

    if (a != NULL && desc != NULL)
        json_object_set(a, "description", desc);
    if (a != NULL && cc != NULL)
        json_object_set(a, "cache_control", cc);
    return a;
}

/*
 * tool_choice and parallel_tool_calls as Anthropic's tool_choice. Returns a new object, NULL
 * with *why unset when there is none to send, or NULL with *why set on error.
 */
static json_t *tg_anthropic_tool_choice(json_t *tc, json_t *parallel, const char **why)
{
    json_t *out;

    if (tc == NULL || json_is_null(tc) || tg_provider_str_is(tc, "auto"))
        out = json_pack("{s:s}", "type", "auto");
    else if (tg_provider_str_is(tc, "required"))
        out = json_pack("{s:s}", "type", "any");
    else if (tg_provider_str_is(tc, "none"))
        return json_pack("{s:s}", "type", "none");
    else if (json_is_object(tc) && tg_provider_str_is(json_object_get(tc, "type"), "function") &&
             json_is_string(json_object_get(json_object_get(tc, "function"), "name")))
        out = json_pack("{s:s,s:O}", "type", "tool", "name",
                        json_object_get(json_object_get(tc, "function"), "name"));
    else {
        *why = "tool_choice must be auto, required, none or a named function";
        return NULL;
    }
    if (json_is_false(parallel))
        json_object_set_new(out, "disable_parallel_tool_use", json_true());
    else if (tc == NULL || json_is_null(tc)) {
        json_decref(out); /* Anthropic's default is auto already */
        return NULL;
    }
    return out;
}

/*
 * The OpenAI request fields this adapter knows: mapped above, refused, or dropped because
 * Anthropic has no equivalent (an OpenAI-only field would get 400 "Extra inputs are not
 * permitted"). Any other field is not OpenAI's and passes through unchanged, so clients can use
 * Anthropic's own (thinking, top_k, ...) as they would with extra_body.
 */
static int tg_anthropic_known(const char *key)
{
    static const char *const known[] = {
        /* mapped */
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
        "stream", "user", "safety_identifier", "tools", "tool_choice", "parallel_tool_calls",
        "response_format",
        /* refused when used */
        "n", "functions", "function_call",
        /* dropped */
        "stream_options", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty",
        "logit_bias", "seed", "service_tier", "store", "metadata", "modalities", "audio",
        "prediction", "reasoning_effort", "web_search_options", "verbosity", "prompt_cache_key",
        "prompt_cache_retention", "best_of", "echo", "suffix"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(key, known[i]) == 0)
            return 1;
    return 0;
}

/* Does the request use a field that has no translation and that we must not drop? */
static const char *tg_anthropic_unsupported(json_t *in)
{
    json_t *n = json_object_get(in, "n"), *f = json_object_get(in, "functions");

    if (json_is_integer(n) && json_integer_value(n) > 1)
        return "n > 1 is not supported by Anthropic";
    if (f != NULL && !json_is_null(f))
        return "the legacy functions field is not supported; use tools";
    return NULL;
}

/* The Anthropic request for an OpenAI chat request in (a tg_provider_translate_fn). */
static json_t *tg_anthropic_request(const tg_model_t *m, int stream, json_t *in, const char **why)
{
    json_t *out = json_object(), *system = json_array(), *msgs = json_array(), *v, *msg;
    json_t *tools = json_object_get(in, "tools");
    const char *key;
    int64_t max_tokens = 0;
    size_t i;

    if (out == NULL || system == NULL || msgs == NULL)
        TG_FAIL("out of memory");
    if ((*why = tg_anthropic_unsupported(in)) != NULL)
        goto fail;
    v = json_object_get(in, "model"); /* the proxy put the upstream id there */
    json_object_set_new(out, "model",
                        json_is_string(v) ? json_incref(v) : json_string(m->upstream_model));
    json_array_foreach(json_object_get(in, "messages"), i, msg)
    {
        json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");

        if (tg_provider_str_is(role, "system") || tg_provider_str_is(role, "developer")) {
            if (tg_anthropic_parts(content, 0, system, why) == -1)
                goto fail;
        } else if (tg_provider_str_is(role, "user")) {
            json_t *blocks = json_array();
            if (blocks == NULL || tg_anthropic_parts(content, 1, blocks, why) == -1) {
                json_decref(blocks);
                goto fail;
            }
            if (tg_provider_add(msgs, "user", "content", blocks) == -1)
                TG_FAIL("out of memory");
        } else if (tg_provider_str_is(role, "assistant")) {
            if (tg_provider_assistant(msg, msgs, "assistant", "content", tg_anthropic_text, 1,
                                      tg_anthropic_call_block, why) == -1)
                goto fail;
        } else if (tg_provider_str_is(role, "tool")) {
            if (tg_anthropic_tool(msg, msgs, why) == -1)
                goto fail;
        } else {
            TG_FAIL("a message has an unsupported role (system, developer, user, assistant "
                    "and tool are)");
        }
    }
    json_array_foreach(msgs, i, msg)
    {
        tg_anthropic_collapse(msg, "content");
    }
    if (tg_anthropic_format(json_object_get(in, "response_format"), system, why) == -1)
        goto fail;
    if (json_array_size(system) > 0)
        json_object_set_new(out, "system", tg_anthropic_system(system));
    json_object_set(out, "messages", msgs);

    /* max_completion_tokens is the newer name; either wins over the model's default */
    if ((max_tokens = tg_provider_max_tokens(in)) == 0)
        max_tokens =
            m->max_output_tokens > 0 ? m->max_output_tokens : TG_ANTHROPIC_DEFAULT_MAX_TOKENS;
    json_object_set_new(out, "max_tokens", json_integer(max_tokens));
    if (tg_provider_stop(in, &v, why) == -1)
        goto fail;
    if (v != NULL)
        json_object_set_new(out, "stop_sequences", v);
    if (json_is_number(v = json_object_get(in, "temperature")))
        json_object_set(out, "temperature", v);
    if (json_is_number(v = json_object_get(in, "top_p")))
        json_object_set(out, "top_p", v);
    v = json_object_get(in, "user");
    if (!json_is_string(v))
        v = json_object_get(in, "safety_identifier"); /* OpenAI's successor to user */
    if (json_is_string(v) && json_string_length(v) > 0)
        json_object_set_new(out, "metadata", json_pack("{s:O}", "user_id", v));

    /* tools, unless there are none: Anthropic has no tool_choice without tools */
    if (tools != NULL && !json_is_null(tools) && json_array_size(tools) > 0) {
        json_t *tc;
        if ((v = tg_provider_tools(tools, tg_anthropic_tool_decl, why)) == NULL)
            goto fail;
        json_object_set_new(out, "tools", v);
        tc = tg_anthropic_tool_choice(json_object_get(in, "tool_choice"),
                                      json_object_get(in, "parallel_tool_calls"), why);
        if (tc == NULL && *why != NULL)
            goto fail;
        if (tc != NULL)
            json_object_set_new(out, "tool_choice", tc);
    }
    if (stream)
        json_object_set_new(out, "stream", json_true());
    json_object_foreach(in, key, v)
    {
        if (!tg_anthropic_known(key) && json_object_get(out, key) == NULL &&
            json_object_set(out, key, v) == -1)
            TG_FAIL("out of memory");
    }
    json_decref(system);
    json_decref(msgs);
    return out;
fail:
    json_decref(out);
    json_decref(system);
    json_decref(msgs);
    return NULL;
}

static int tg_anthropic_prepare(const tg_model_t *m, tg_endpoint_t ep, int stream, tg_xfer_t *x,
                                tg_buf_t *url, tg_buf_t *body)
{
    tg_provider_t *p = m->provider;
    tg_anthropic_ext_t *e;
    int rc;

    if (ep != TG_EP_CHAT) {
        tg_log(TG_LOG_INFO, 0, "provider \"%s\" (anthropic) serves only chat completions", p->name);
        return -1;
    }
    if ((e = tg_anthropic_ext(p)) == NULL)
        return -1;
    if ((rc = tg_provider_translate(m, stream, x, body, tg_anthropic_request)) != 0)
        return rc;
    if (tg_buf_append(url, p->base_url, strlen(p->base_url)) == -1 ||
        tg_buf_append(url, TG_ANTHROPIC_PATH, strlen(TG_ANTHROPIC_PATH)) == -1)
        return -1;
    if (p->http2) {
        x->shared_headers = e->headers[stream ? 1 : 0];
        x->curlu = e->url;
    } else {
        x->h1_origin = e->origin;
        x->h1_head = e->heads[stream ? 1 : 0];
        x->h1_head_len = e->head_len[stream ? 1 : 0];
    }
    return 0;
}

const tg_adapter_t tg_anthropic_adapter = {
    .kind = "anthropic",
    .endpoints = 1u << TG_EP_CHAT,
    .prepare = tg_anthropic_prepare,
    .response = tg_anthropic_response,
    .event = tg_anthropic_event,
    .stream_free = tg_anthropic_stream_free,
    .error = tg_anthropic_error,
};
