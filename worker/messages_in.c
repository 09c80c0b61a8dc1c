/*
 * The request side of /v1/messages (see messages.h): an Anthropic Messages request is validated
 * the way Anthropic validates it and rewritten as the canonical OpenAI chat request, which then
 * runs through the proxy like any chat completion (the handlers are in messages.c). This is the
 * Anthropic adapter's translation run backwards (provider_anthropic.c), so its field mappings
 * are the reference here. The request is regrouped (tool results become tool messages), so a
 * jansson DOM is used.
 */
#include "worker/messages.h"
#include "worker/provider_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One translation: the target's kind and where the reason for a refusal goes. */
typedef struct {
    tg_provider_kind_t kind;
    char *why;
    size_t whysize;
} tg_min_t;

static int tg_min_fail(tg_min_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Say why the request is invalid (Anthropic's "<path>: <problem>" style). Returns -1. */
static int tg_min_fail(tg_min_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->why, c->whysize, fmt, ap);
    va_end(ap);
    return -1;
}

/* Out of memory: no reason for the client (the handler answers 500). Returns -1. */
static int tg_min_oom(tg_min_t *c)
{
    c->why[0] = '\0';
    return -1;
}

static int tg_min_is(json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/*
 * Append v to a (steals v). v NULL is a failure already explained (or, with no reason given,
 * memory ran out). Returns 0 or -1.
 */
static int tg_min_push(tg_min_t *c, json_t *a, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_array_append_new(a, v) == -1 ? tg_min_oom(c) : 0;
}

/*
 * Copy a block's cache_control to its translated part: the Anthropic adapter sends it on, and
 * OpenAI-compatible providers that cache (OpenRouter) read it there.
 */
static json_t *tg_min_keep_cc(json_t *part, json_t *blk)
{
    json_t *cc = json_object_get(blk, "cache_control");

    if (part != NULL && cc != NULL && !json_is_null(cc) &&
        json_object_set(part, "cache_control", cc) == -1) {
        json_decref(part);
        return NULL;
    }
    return part;
}

/* ---- content blocks ------------------------------------------------------------------------- */

/* A text block's text, or NULL after saying why. */
static json_t *tg_min_text(tg_min_t *c, json_t *blk, const char *at)
{
    json_t *t = json_object_get(blk, "text");

    if (!json_is_string(t))
        tg_min_fail(c, "%s.text: Field required", at);
    return json_is_string(t) ? t : NULL;
}

/* An image block as an image_url part: base64 becomes a data: URL, a url source stays a URL. */
static json_t *tg_min_image(tg_min_t *c, json_t *blk, const char *at)
{
    json_t *src = json_object_get(blk, "source"), *type = json_object_get(src, "type"), *part;
    const char *mt = json_string_value(json_object_get(src, "media_type"));
    json_t *data = json_object_get(src, "data"), *url = json_object_get(src, "url");

    if (tg_min_is(type, "base64")) {
        if (mt == NULL || !json_is_string(data)) {
            tg_min_fail(c, "%s.source: a base64 source needs media_type and data", at);
            return NULL;
        }
        part = json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url",
                         json_sprintf("data:%s;base64,%s", mt, json_string_value(data)));
    } else if (tg_min_is(type, "url")) {
        if (!json_is_string(url)) {
            tg_min_fail(c, "%s.source.url: Field required", at);
            return NULL;
        }
        part = json_pack("{s:s,s:{s:O}}", "type", "image_url", "image_url", "url", url);
    } else {
        tg_min_fail(c, "%s.source: only base64 and url image sources are supported", at);
        return NULL;
    }
    if (part == NULL)
        tg_min_oom(c);
    return tg_min_keep_cc(part, blk);
}

/*
 * A document block: a base64 PDF becomes a file part (what the Anthropic adapter turns back into
 * a document), a plain-text source a text part.
 */
static json_t *tg_min_document(tg_min_t *c, json_t *blk, const char *at)
{
    json_t *src = json_object_get(blk, "source"), *type = json_object_get(src, "type"), *part;
    json_t *data = json_object_get(src, "data"), *title = json_object_get(blk, "title");

    if (tg_min_is(type, "base64") &&
        tg_min_is(json_object_get(src, "media_type"), "application/pdf") && json_is_string(data)) {
        part = json_pack("{s:s,s:{s:s,s:o}}", "type", "file", "file", "filename",
                         json_is_string(title) ? json_string_value(title) : "document.pdf",
                         "file_data",
                         json_sprintf("data:application/pdf;base64,%s", json_string_value(data)));
    } else if (tg_min_is(type, "text") && json_is_string(data)) {
        part = json_pack("{s:s,s:O}", "type", "text", "text", data);
    } else {
        tg_min_fail(c, "%s.source: only base64 PDF and plain text document sources are supported",
                    at);
        return NULL;
    }
    if (part == NULL)
        tg_min_oom(c);
    return tg_min_keep_cc(part, blk);
}

/* A user turn's content part for a text, image or document block; NULL with why set. */
static json_t *tg_min_part(tg_min_t *c, json_t *blk, const char *type, const char *at)
{
    if (strcmp(type, "text") == 0) {
        json_t *t = tg_min_text(c, blk, at);

        if (t == NULL)
            return NULL;
        t = json_pack("{s:s,s:O}", "type", "text", "text", t);
        if (t == NULL)
            tg_min_oom(c);
        return tg_min_keep_cc(t, blk);
    }
    if (strcmp(type, "image") == 0)
        return tg_min_image(c, blk, at);
    if (strcmp(type, "document") == 0)
        return tg_min_document(c, blk, at);
    tg_min_fail(c, "%s: content blocks of type '%s' are not supported", at, type);
    return NULL;
}

/*
 * A content made of parts, as OpenAI clients write it: one plain text part is sent as a string
 * (the shape every OpenAI-compatible provider accepts), anything else as the array. Steals parts.
 */
static json_t *tg_min_content(json_t *parts)
{
    json_t *p = json_array_get(parts, 0), *s;

    if (json_array_size(parts) != 1 || json_object_size(p) != 2 ||
        !tg_min_is(json_object_get(p, "type"), "text"))
        return parts;
    s = json_incref(json_object_get(p, "text"));
    json_decref(parts);
    return s;
}

/* Thinking blocks: the canonical request cannot carry them (nor their signatures): dropped. */
static int tg_min_thinking(const char *type)
{
    return strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0;
}

/* The block's type, or NULL after saying why. */
static const char *tg_min_block_type(tg_min_t *c, json_t *blk, const char *at)
{
    const char *type = json_string_value(json_object_get(blk, "type"));

    if (!json_is_object(blk))
        tg_min_fail(c, "%s: Input should be a valid dictionary", at);
    else if (type == NULL)
        tg_min_fail(c, "%s.type: Field required", at);
    return json_is_object(blk) ? type : NULL;
}

/*
 * A tool_result block as an OpenAI tool message. Its content (a string or text and image
 * blocks) becomes a string when it is all text, else parts; is_error is said in the text, since
 * OpenAI's tool messages have no such flag.
 */
static json_t *tg_min_tool_result(tg_min_t *c, json_t *blk, const char *at)
{
    json_t *id = json_object_get(blk, "tool_use_id"), *content = json_object_get(blk, "content");
    json_t *parts = NULL, *msg, *b, *out;
    int err = json_is_true(json_object_get(blk, "is_error")), media = 0;
    tg_buf_t text = {0};
    char sub[128];
    size_t i;

    if (!json_is_string(id)) {
        tg_min_fail(c, "%s.tool_use_id: Field required", at);
        return NULL;
    }
    if (err && tg_buf_append(&text, "Error: ", 7) == -1)
        goto oom;
    if (json_is_string(content)) {
        if (tg_buf_append(&text, json_string_value(content), json_string_length(content)) == -1)
            goto oom;
    } else if (json_is_array(content)) {
        if ((parts = json_array()) == NULL)
            goto oom;
        json_array_foreach(content, i, b)
        {
            const char *type;

            snprintf(sub, sizeof(sub), "%s.content.%zu", at, i);
            if ((type = tg_min_block_type(c, b, sub)) == NULL)
                goto fail;
            if (strcmp(type, "text") != 0 && strcmp(type, "image") != 0) {
                tg_min_fail(c, "%s: tool results may hold text and image blocks only", sub);
                goto fail;
            }
            media |= strcmp(type, "image") == 0;
            if (tg_min_push(c, parts, tg_min_part(c, b, type, sub)) == -1)
                goto fail;
        }
        /* all text: one string, blocks on their own lines */
        json_array_foreach(parts, i, b)
        {
            json_t *t = json_object_get(b, "text");
            if (!media && ((i > 0 && tg_buf_append(&text, "\n", 1) == -1) ||
                           tg_buf_append(&text, json_string_value(t), json_string_length(t))))
                goto oom;
        }
    } else if (content != NULL && !json_is_null(content)) {
        tg_min_fail(c, "%s.content: Input should be a valid string or list of blocks", at);
        goto fail;
    }
    if (media) {
        if (err && json_array_insert_new(
                       parts, 0, json_pack("{s:s,s:s}", "type", "text", "text", "Error:")) == -1)
            goto oom;
        out = parts;
        parts = NULL;
    } else {
        out = json_stringn(text.data != NULL ? text.data : "", text.len);
    }
    msg = json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", id, "content", out);
    json_decref(parts);
    tg_buf_free(&text);
    if (msg == NULL)
        tg_min_oom(c);
    return msg;
oom:
    tg_min_oom(c);
fail:
    json_decref(parts);
    tg_buf_free(&text);
    return NULL;
}

/* ---- turns ---------------------------------------------------------------------------------- */

/*
 * A user turn's blocks. Its tool_result blocks become tool messages, which OpenAI wants right after
 * the assistant's tool calls, so they go before a user message holding the turn's other content.
 */
static int tg_min_user(tg_min_t *c, json_t *content, const char *at, json_t *msgs)
{
    json_t *parts, *blk;
    char sub[96];
    size_t i;

    if ((parts = json_array()) == NULL)
        return tg_min_oom(c);
    json_array_foreach(content, i, blk)
    {
        const char *type;
        json_t *v;

        snprintf(sub, sizeof(sub), "%s.%zu", at, i);
        if ((type = tg_min_block_type(c, blk, sub)) == NULL)
            goto fail;
        if (tg_min_thinking(type))
            continue;
        if (strcmp(type, "tool_use") == 0) {
            tg_min_fail(c, "%s: tool_use blocks belong in assistant messages", sub);
            goto fail;
        }
        if (strcmp(type, "tool_result") == 0) {
            if ((v = tg_min_tool_result(c, blk, sub)) == NULL || tg_min_push(c, msgs, v) == -1)
                goto fail;
            continue;
        }
        if (tg_min_push(c, parts, tg_min_part(c, blk, type, sub)) == -1)
            goto fail;
    }
    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return 0;
    }
    return tg_min_push(c, msgs,
                       json_pack("{s:s,s:o}", "role", "user", "content", tg_min_content(parts)));
fail:
    json_decref(parts);
    return -1;
}

/* A tool_use block as an OpenAI tool call: the id is kept, the input becomes its JSON text. */
static json_t *tg_min_tool_call(tg_min_t *c, json_t *blk, const char *at)
{
    json_t *id = json_object_get(blk, "id"), *name = json_object_get(blk, "name");
    json_t *input = json_object_get(blk, "input"), *call;
    tg_buf_t args = {0};

    if (!json_is_string(id) || !json_is_string(name)) {
        tg_min_fail(c, "%s: a tool_use block needs an id and a name", at);
        return NULL;
    }
    if (!json_is_object(input)) {
        tg_min_fail(c, "%s.input: Input should be a valid dictionary", at);
        return NULL;
    }
    if (tg_provider_dump(input, &args) == -1) {
        tg_min_oom(c);
        return NULL;
    }
    call = json_pack("{s:O,s:s,s:{s:O,s:s#}}", "id", id, "type", "function", "function", "name",
                     name, "arguments", args.data, (int)args.len);
    tg_buf_free(&args);
    if (call == NULL)
        tg_min_oom(c);
    return call;
}

/*
 * An assistant turn's blocks: their text blocks joined into the content string (as the Anthropic
 * adapter joins them the other way), tool_use blocks as tool_calls; thinking is dropped, since the
 * canonical request cannot carry it. A turn of thinking only disappears.
 */
static int tg_min_assistant(tg_min_t *c, json_t *content, const char *at, json_t *msgs)
{
    json_t *calls = NULL, *blk, *msg;
    tg_buf_t text = {0};
    int has_text = 0;
    char sub[96];
    size_t i;

    if ((calls = json_array()) == NULL)
        return tg_min_oom(c);
    json_array_foreach(content, i, blk)
    {
        const char *type;
        json_t *t;

        snprintf(sub, sizeof(sub), "%s.%zu", at, i);
        if ((type = tg_min_block_type(c, blk, sub)) == NULL)
            goto fail;
        if (tg_min_thinking(type))
            continue;
        if (strcmp(type, "text") == 0) {
            if ((t = tg_min_text(c, blk, sub)) == NULL)
                goto fail;
            if (tg_buf_append(&text, json_string_value(t), json_string_length(t)) == -1)
                goto oom;
            has_text = 1;
        } else if (strcmp(type, "tool_use") == 0) {
            if (tg_min_push(c, calls, tg_min_tool_call(c, blk, sub)) == -1)
                goto fail;
        } else {
            tg_min_fail(c,
                        "%s: content blocks of type '%s' are not allowed in assistant "
                        "messages",
                        sub, type);
            goto fail;
        }
    }
    if (!has_text && json_array_size(calls) == 0) {
        json_decref(calls);
        return 0;
    }
    msg = json_pack("{s:s,s:o}", "role", "assistant", "content",
                    has_text ? json_stringn(text.data, text.len) : json_null());
    if (msg != NULL && json_array_size(calls) > 0)
        json_object_set(msg, "tool_calls", calls);
    json_decref(calls);
    tg_buf_free(&text);
    return tg_min_push(c, msgs, msg);
oom:
    tg_min_oom(c);
fail:
    json_decref(calls);
    tg_buf_free(&text);
    return -1;
}

/* system (a string or text blocks) as the first message of msgs. */
static int tg_min_system(tg_min_t *c, json_t *sys, json_t *msgs)
{
    json_t *parts, *blk, *content;
    int cached = 0;
    tg_buf_t text = {0};
    char sub[64];
    size_t i;

    if (sys == NULL || json_is_null(sys))
        return 0;
    if (json_is_string(sys))
        return json_string_length(sys) == 0
                   ? 0
                   : tg_min_push(c, msgs, json_pack("{s:s,s:O}", "role", "system", "content", sys));
    if (!json_is_array(sys))
        return tg_min_fail(c, "system: Input should be a valid string or list of text blocks");
    if ((parts = json_array()) == NULL)
        return tg_min_oom(c);
    json_array_foreach(sys, i, blk)
    {
        const char *type;

        snprintf(sub, sizeof(sub), "system.%zu", i);
        if ((type = tg_min_block_type(c, blk, sub)) == NULL)
            goto fail;
        if (strcmp(type, "text") != 0) {
            tg_min_fail(c, "%s.type: system blocks must be text blocks", sub);
            goto fail;
        }
        if (tg_min_push(c, parts, tg_min_part(c, blk, type, sub)) == -1)
            goto fail;
        cached |= json_object_get(blk, "cache_control") != NULL;
    }
    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return 0;
    }
    if (cached) {
        content = parts; /* parts keep their cache_control */
    } else {
        /* one string, blocks a blank line apart: what the Anthropic adapter makes of parts */
        json_array_foreach(parts, i, blk)
        {
            json_t *t = json_object_get(blk, "text");
            if ((i > 0 && tg_buf_append(&text, "\n\n", 2) == -1) ||
                tg_buf_append(&text, json_string_value(t), json_string_length(t)) == -1) {
                tg_buf_free(&text);
                json_decref(parts);
                return tg_min_oom(c);
            }
        }
        content = json_stringn(text.data, text.len);
        tg_buf_free(&text);
        json_decref(parts);
    }
    return tg_min_push(c, msgs, json_pack("{s:s,s:o}", "role", "system", "content", content));
fail:
    json_decref(parts);
    return -1;
}

/* messages: every turn, in order, after the system message. */
static int tg_min_messages(tg_min_t *c, json_t *in, json_t *msgs)
{
    json_t *list = json_object_get(in, "messages"), *m;
    char at[64];
    size_t i;

    if (list == NULL)
        return tg_min_fail(c, "messages: Field required");
    if (!json_is_array(list))
        return tg_min_fail(c, "messages: Input should be a valid list");
    if (json_array_size(list) == 0)
        return tg_min_fail(c, "messages: at least one message is required");
    json_array_foreach(list, i, m)
    {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        int rc;

        snprintf(at, sizeof(at), "messages.%zu.content", i);
        if (!json_is_object(m))
            return tg_min_fail(c, "messages.%zu: Input should be a valid dictionary", i);
        if (tg_min_is(role, "system"))
            return tg_min_fail(c,
                               "messages.%zu.role: Unexpected role \"system\". The Messages "
                               "API accepts a top-level `system` parameter, not \"system\" "
                               "as an input message role.",
                               i);
        if (!tg_min_is(role, "user") && !tg_min_is(role, "assistant"))
            return tg_min_fail(c, "messages.%zu.role: Input should be 'user' or 'assistant'", i);
        if (!json_is_string(content) && !json_is_array(content))
            return tg_min_fail(c, "%s: Input should be a valid string or list of blocks", at);
        if (json_is_array(content) && json_array_size(content) == 0)
            return tg_min_fail(c, "%s: messages must have non-empty content", at);
        if (json_is_string(content))
            rc = tg_min_push(c, msgs, json_pack("{s:O,s:O}", "role", role, "content", content));
        else if (tg_min_is(role, "user"))
            rc = tg_min_user(c, content, at, msgs);
        else
            rc = tg_min_assistant(c, content, at, msgs);
        if (rc == -1)
            return -1;
    }
    return 0;
}

/* ---- tools ---------------------------------------------------------------------------------- */

/* tools: client tools as OpenAI function tools. Server tools (web search, ...) are refused. */
static json_t *tg_min_tools(tg_min_t *c, json_t *tools)
{
    json_t *out = json_array(), *t, *fn;
    size_t i;

    if (out == NULL) {
        tg_min_oom(c);
        return NULL;
    }
    if (!json_is_array(tools)) {
        tg_min_fail(c, "tools: Input should be a valid list");
        goto fail;
    }
    json_array_foreach(tools, i, t)
    {
        json_t *type = json_object_get(t, "type"), *name = json_object_get(t, "name");
        json_t *schema = json_object_get(t, "input_schema");
        json_t *desc = json_object_get(t, "description");

        if (type != NULL && !json_is_null(type) && !tg_min_is(type, "custom")) {
            tg_min_fail(c,
                        "tools.%zu.type: server tools ('%s') are not supported; only client "
                        "tools with name and input_schema are",
                        i, json_is_string(type) ? json_string_value(type) : "?");
            goto fail;
        }
        if (!json_is_string(name) || !json_is_object(schema)) {
            tg_min_fail(c, "tools.%zu: a tool needs a name and an input_schema object", i);
            goto fail;
        }
        fn = json_pack("{s:O}", "name", name);
        if (fn != NULL && json_is_string(desc))
            json_object_set(fn, "description", desc);
        if (fn != NULL)
            json_object_set(fn, "parameters", schema);
        if (tg_min_push(c, out,
                        tg_min_keep_cc(json_pack("{s:s,s:o}", "type", "function", "function", fn),
                                       t)) == -1)
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* tool_choice (and disable_parallel_tool_use) into out; only called when there are tools. */
static int tg_min_tool_choice(tg_min_t *c, json_t *tc, json_t *out)
{
    json_t *type = json_object_get(tc, "type"), *v;

    if (tc == NULL || json_is_null(tc))
        return 0;
    if (tg_min_is(type, "auto"))
        v = json_string("auto");
    else if (tg_min_is(type, "any"))
        v = json_string("required");
    else if (tg_min_is(type, "none"))
        v = json_string("none");
    else if (tg_min_is(type, "tool") && json_is_string(json_object_get(tc, "name")))
        v = json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name",
                      json_object_get(tc, "name"));
    else
        return tg_min_fail(c, "tool_choice: type must be auto, any, none, or tool with a name");
    if (v == NULL || json_object_set_new(out, "tool_choice", v) == -1)
        return tg_min_oom(c);
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")) &&
        !tg_min_is(type, "none") &&
        json_object_set_new(out, "parallel_tool_calls", json_false()) == -1)
        return tg_min_oom(c);
    return 0;
}

/* ---- the request ---------------------------------------------------------------------------- */

/*
 * Fields of Anthropic's request. Those without a canonical equivalent are dropped: thinking
 * (its blocks cannot travel through the canonical request and answer), server-side features
 * (container, mcp_servers, context_management) and tiers or formats OpenAI spells differently.
 */
static const char *const tg_min_anthropic_fields[] = {
    "model", "messages", "max_tokens", "system", "stop_sequences", "temperature", "top_p", "top_k",
    "tools", "tool_choice", "metadata", "stream",
    /* dropped */
    "thinking", "service_tier", "container", "mcp_servers", "context_management", "output_format",
    "output_config", "inference_geo", NULL};

/*
 * Canonical fields the translation owns or whose effect cannot be translated back (more than one
 * choice, log probabilities): refused, as Anthropic refuses fields it does not know.
 */
static const char *const tg_min_refused_fields[] = {
    "n", "best_of", "stream_options", "max_completion_tokens", "logprobs", "top_logprobs", NULL};

static int tg_min_listed(const char *key, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(key, *list) == 0)
            return 1;
    return 0;
}

/* The sampling and stop fields. */
static int tg_min_sampling(tg_min_t *c, json_t *in, json_t *out)
{
    static const char *const nums[] = {"temperature", "top_p", "top_k"};
    json_t *stop = json_object_get(in, "stop_sequences"), *s;
    size_t i;

    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
        json_t *v = json_object_get(in, nums[k]);

        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_number(v) || (k == 2 && !json_is_integer(v)))
            return tg_min_fail(c, "%s: Input should be a valid number", nums[k]);
        /* top_k has no OpenAI equivalent; the Anthropic adapter passes it on unchanged */
        if (k == 2 && c->kind != TG_PROVIDER_ANTHROPIC)
            continue;
        if (json_object_set(out, nums[k], v) == -1)
            return tg_min_oom(c);
    }
    if (stop == NULL || json_is_null(stop))
        return 0;
    if (!json_is_array(stop))
        return tg_min_fail(c, "stop_sequences: Input should be a valid list");
    json_array_foreach(stop, i, s)
    {
        if (!json_is_string(s))
            return tg_min_fail(c, "stop_sequences.%zu: Input should be a valid string", i);
    }
    if (json_array_size(stop) > 0 && json_object_set(out, "stop", stop) == -1)
        return tg_min_oom(c);
    return 0;
}

/* model and max_tokens, which Anthropic requires (max_tokens not when counting tokens). */
static int tg_min_required(tg_min_t *c, json_t *in, int count, json_t *out)
{
    json_t *model = json_object_get(in, "model"), *mt = json_object_get(in, "max_tokens");

    if (!json_is_string(model) || json_string_length(model) == 0)
        return tg_min_fail(c, "model: Field required");
    if (json_object_set(out, "model", model) == -1)
        return tg_min_oom(c);
    if (count)
        return 0;
    if (mt == NULL || json_is_null(mt))
        return tg_min_fail(c, "max_tokens: Field required");
    if (!json_is_integer(mt))
        return tg_min_fail(c, "max_tokens: Input should be a valid integer");
    if (json_integer_value(mt) < 1)
        return tg_min_fail(c, "max_tokens: Input should be greater than or equal to 1");
    return 0;
}

/* tools, tool_choice, metadata.user_id and stream. */
static int tg_min_options(tg_min_t *c, json_t *in, int count, json_t *out)
{
    json_t *tools = json_object_get(in, "tools"), *meta = json_object_get(in, "metadata");
    json_t *stream = json_object_get(in, "stream"), *user = json_object_get(meta, "user_id");

    if (tools != NULL && !json_is_null(tools)) {
        json_t *v = tg_min_tools(c, tools);

        if (v == NULL)
            return -1;
        if (json_array_size(v) == 0) {
            json_decref(v); /* no tools: tool_choice means nothing, as in the adapter */
        } else if (json_object_set_new(out, "tools", v) == -1 ||
                   tg_min_tool_choice(c, json_object_get(in, "tool_choice"), out) == -1) {
            return c->why[0] != '\0' ? -1 : tg_min_oom(c);
        }
    }
    if (meta != NULL && !json_is_null(meta) && !json_is_object(meta))
        return tg_min_fail(c, "metadata: Input should be a valid dictionary");
    if (user != NULL && !json_is_null(user) && !json_is_string(user))
        return tg_min_fail(c, "metadata.user_id: Input should be a valid string");
    if (json_is_string(user) && json_string_length(user) > 0 &&
        json_object_set(out, "user", user) == -1)
        return tg_min_oom(c);
    if (stream != NULL && !json_is_null(stream) && !json_is_boolean(stream))
        return tg_min_fail(c, "stream: Input should be a valid boolean");
    /* usage is needed for the final message_delta, whether or not a client would ask */
    if (!count && json_is_true(stream) &&
        (json_object_set_new(out, "stream", json_true()) == -1 ||
         json_object_set_new(out, "stream_options", json_pack("{s:b}", "include_usage", 1))))
        return tg_min_oom(c);
    return 0;
}

int tg_messages_request(json_t *in, tg_provider_kind_t kind, int count, tg_buf_t *out, char *why,
                        size_t whysize)
{
    tg_min_t c = {kind, why, whysize};
    json_t *req = json_object(), *msgs = json_array(), *v;
    const char *key;
    int rc = -1;

    why[0] = '\0';
    if (req == NULL || msgs == NULL) {
        tg_min_oom(&c);
        goto done;
    }
    if (tg_min_required(&c, in, count, req) == -1 ||
        tg_min_system(&c, json_object_get(in, "system"), msgs) == -1 ||
        tg_min_messages(&c, in, msgs) == -1)
        goto done;
    if (json_object_set(req, "messages", msgs) == -1 ||
        (!count && json_object_set(req, "max_tokens", json_object_get(in, "max_tokens")) == -1)) {
        tg_min_oom(&c);
        goto done;
    }
    if (tg_min_sampling(&c, in, req) == -1 || tg_min_options(&c, in, count, req) == -1)
        goto done;
    /* fields Anthropic does not define go on unchanged, as on /v1/chat/completions */
    json_object_foreach(in, key, v)
    {
        if (tg_min_listed(key, tg_min_anthropic_fields))
            continue;
        if (tg_min_listed(key, tg_min_refused_fields)) {
            tg_min_fail(&c, "%s: Extra inputs are not permitted", key);
            goto done;
        }
        if (json_object_get(req, key) == NULL && json_object_set(req, key, v) == -1) {
            tg_min_oom(&c);
            goto done;
        }
    }
    if (tg_provider_dump(req, out) == -1) {
        tg_min_oom(&c);
        goto done;
    }
    rc = 0;
done:
    json_decref(req);
    json_decref(msgs);
    return rc;
}
