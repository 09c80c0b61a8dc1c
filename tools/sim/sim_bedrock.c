/*
 * AWS Bedrock's Converse API for tollgate-sim: POST /model/{modelId}/converse answers a
 * ConverseResponse, /converse-stream the same answer as binary event-stream frames
 * (shared/tg_evstream.c) with ConverseStream's events. Requests are validated as strictly as
 * Bedrock does (alternating roles, no blank text, toolConfig with tool blocks, no unknown keys),
 * and answers use the same words and token rules as the other formats (sim_text.c).
 */
#include "tools/sim/sim.h"
#include "shared/tg_evstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#define SIM_B_DEFAULT_TOKENS 16
#define SIM_B_IMAGE_TOKENS 85
#define SIM_B_TOOL_TOKENS 10
/* Streams are rendered up front, so bound the work per request as the other formats do. */
#define SIM_B_MAX_TOKENS 1000000

/* What one answer consists of; the JSON response and the stream are both rendered from it. */
typedef struct sim_conv_plan_t {
    sim_req_t *r;
    long prompt; /* every prompt token, cache reads and writes included */
    long cached, cache_write;
    long output;
    const char *stop_reason;
    sim_words_t words;
    const char *tool_name; /* non-NULL: answer with one toolUse block */
    const char *tool_args;
    char tool_id[48];
    bool filtered; /* the safety fault: no content, stopReason content_filtered */
} sim_conv_plan_t;

/* ---- the request ---- */

static int sim_b_fail(char *err, size_t errlen, const char *msg)
{
    sim_fmt(err, errlen, "%s", msg);
    return -1;
}

/* A content block: counted into *tokens, text appended to `text` (when not NULL). */
static int sim_b_block(const json_t *b, const char *where, long *tokens, struct evbuffer *text,
                       bool *has_text, bool *tool_blocks, char *err, size_t errlen)
{
    const json_t *t = json_object_get(b, "text"), *img = json_object_get(b, "image");
    const json_t *tu = json_object_get(b, "toolUse"), *tr = json_object_get(b, "toolResult");

    if (json_is_string(t)) {
        if (strspn(json_string_value(t), " \t\r\n") == json_string_length(t)) {
            sim_fmt(err, errlen,
                    "The text field in the ContentBlock object at %s is blank. Add text to the "
                    "text field, and try again.",
                    where);
            return -1;
        }
        *tokens += sim_tokens(json_string_length(t));
        *has_text = true;
        if (text != NULL)
            evbuffer_add(text, json_string_value(t), json_string_length(t));
    } else if (img != NULL) {
        const char *f = json_string_value(json_object_get(img, "format"));

        if (f == NULL ||
            (strcmp(f, "png") != 0 && strcmp(f, "jpeg") != 0 && strcmp(f, "gif") != 0 &&
             strcmp(f, "webp") != 0) ||
            !json_is_string(json_object_get(json_object_get(img, "source"), "bytes")))
            return sim_b_fail(err, errlen,
                              "Malformed input request: the image block needs a format (png, "
                              "jpeg, gif, webp) and source.bytes, please reformat your input "
                              "and try again.");
        *tokens += SIM_B_IMAGE_TOKENS;
    } else if (tu != NULL) {
        if (!json_is_string(json_object_get(tu, "toolUseId")) ||
            !json_is_string(json_object_get(tu, "name")) ||
            !json_is_object(json_object_get(tu, "input")))
            return sim_b_fail(err, errlen,
                              "Malformed input request: toolUse needs toolUseId, name and an "
                              "input object, please reformat your input and try again.");
        *tool_blocks = true;
    } else if (tr != NULL) {
        const json_t *c = json_object_get(tr, "content"), *part;
        size_t i;

        if (!json_is_string(json_object_get(tr, "toolUseId")) || !json_is_array(c))
            return sim_b_fail(err, errlen,
                              "Malformed input request: toolResult needs toolUseId and a "
                              "content array, please reformat your input and try again.");
        json_array_foreach(c, i, part)
        {
            const json_t *pt = json_object_get(part, "text");
            char *dump;

            if (json_is_string(pt) &&
                strspn(json_string_value(pt), " \t\r\n") == json_string_length(pt)) {
                sim_fmt(err, errlen,
                        "The text field in the ToolResultContentBlock object at %s.content.%zu "
                        "is blank. Add text to the text field, and try again.",
                        where, i);
                return -1;
            }
            dump = json_dumps(json_object_get(part, "json"), JSON_COMPACT);

            /* a tool result counts like OpenAI's tool message: by its text */
            *tokens += json_is_string(pt) ? sim_tokens(json_string_length(pt))
                       : dump != NULL     ? sim_tokens(strlen(dump))
                                          : 0;
            free(dump);
        }
        *tool_blocks = true;
    } else if (json_object_get(b, "document") == NULL && json_object_get(b, "cachePoint") == NULL &&
               json_object_get(b, "reasoningContent") == NULL) {
        sim_fmt(err, errlen,
                "Malformed input request: the ContentBlock at %s has no known member, please "
                "reformat your input and try again.",
                where);
        return -1;
    }
    return 0;
}

/* system and messages: counts the prompt and leaves the last user text in `last`. */
static int sim_b_prompt(sim_conv_plan_t *p, struct evbuffer *last, char *err, size_t errlen)
{
    const json_t *msgs = json_object_get(p->r->body, "messages");
    const json_t *sys = json_object_get(p->r->body, "system"), *m, *b;
    struct evbuffer *cur = evbuffer_new();
    bool has_text, tool_blocks = false;
    const char *prev = NULL;
    char where[64];
    size_t i, j;
    int rc = -1;

    if (cur == NULL)
        return sim_b_fail(err, errlen, "out of memory");
    p->prompt = 3;
    if (sys != NULL && !json_is_array(sys)) {
        sim_fmt(err, errlen, "Malformed input request: system must be an array.");
        goto done;
    }
    json_array_foreach(sys, i, b)
    {
        sim_fmt(where, sizeof(where), "system.%zu", i);
        if (!json_is_string(json_object_get(b, "text")) &&
            json_object_get(b, "cachePoint") == NULL &&
            json_object_get(b, "guardContent") == NULL) {
            sim_fmt(err, errlen, "Malformed input request: %s needs text.", where);
            goto done;
        }
        if (sim_b_block(b, where, &p->prompt, NULL, &has_text, &tool_blocks, err, errlen) != 0)
            goto done;
    }
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        sim_fmt(err, errlen,
                "A conversation must start with a user message. Try again with a "
                "conversation that starts with a user message.");
        goto done;
    }
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");

        if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            sim_fmt(err, errlen,
                    "Malformed input request: messages.%zu.role must be user or "
                    "assistant, please reformat your input and try again.",
                    i);
            goto done;
        }
        if ((i == 0 && strcmp(role, "user") != 0)) {
            sim_fmt(err, errlen,
                    "A conversation must start with a user message. Try again with "
                    "a conversation that starts with a user message.");
            goto done;
        }
        if (prev != NULL && strcmp(prev, role) == 0) {
            sim_fmt(err, errlen,
                    "A conversation must alternate between user and assistant "
                    "roles. Make sure the conversation alternates between user and "
                    "assistant roles and try again.");
            goto done;
        }
        prev = role;
        if (!json_is_array(content) || json_array_size(content) == 0) {
            sim_fmt(err, errlen,
                    "The content field in the Message object at messages.%zu is "
                    "empty. Add a ContentBlock object to the content field and try "
                    "again.",
                    i);
            goto done;
        }
        has_text = false;
        p->prompt += 4;
        json_array_foreach(content, j, b)
        {
            sim_fmt(where, sizeof(where), "messages.%zu.content.%zu", i, j);
            if (sim_b_block(b, where, &p->prompt, cur, &has_text, &tool_blocks, err, errlen) != 0)
                goto done;
        }
        /* a user turn of tool results only is OpenAI's "tool" message: the seed stays put */
        if (strcmp(role, "user") == 0 && has_text) {
            evbuffer_drain(last, evbuffer_get_length(last));
            evbuffer_add_buffer(last, cur);
        }
        evbuffer_drain(cur, evbuffer_get_length(cur));
    }
    if (tool_blocks && json_object_get(p->r->body, "toolConfig") == NULL) {
        sim_fmt(err, errlen,
                "The toolConfig field must be defined when using toolUse and "
                "toolResult content blocks.");
        goto done;
    }
    rc = 0;
done:
    evbuffer_free(cur);
    return rc;
}

/* The top-level keys and inferenceConfig. Sets *limit (maxTokens or -1). */
static int sim_b_params(const json_t *body, long *limit, char *err, size_t errlen)
{
    static const char *const known[] = {"messages",
                                        "system",
                                        "inferenceConfig",
                                        "toolConfig",
                                        "guardrailConfig",
                                        "additionalModelRequestFields",
                                        "additionalModelResponseFieldPaths",
                                        "promptVariables",
                                        "requestMetadata",
                                        "performanceConfig",
                                        "sim"};
    const json_t *ic = json_object_get(body, "inferenceConfig"), *v;
    const char *key;
    json_t *val;

    json_object_foreach((json_t *)body, key, val)
    {
        size_t i = 0;

        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0])) {
            sim_fmt(err, errlen,
                    "Malformed input request: extraneous key [%.64s] is not "
                    "permitted, please reformat your input and try again.",
                    key);
            return -1;
        }
    }
    *limit = -1;
    if ((v = json_object_get(ic, "maxTokens")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return sim_b_fail(err, errlen, "The maximum tokens you requested must be at least 1.");
        *limit = json_integer_value(v) > SIM_B_MAX_TOKENS ? SIM_B_MAX_TOKENS
                                                          : (long)json_integer_value(v);
    }
    if ((v = json_object_get(ic, "temperature")) != NULL &&
        (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1))
        return sim_b_fail(err, errlen, "The value of temperature must be between 0 and 1.");
    if ((v = json_object_get(ic, "topP")) != NULL &&
        (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1))
        return sim_b_fail(err, errlen, "The value of topP must be between 0 and 1.");
    if ((v = json_object_get(ic, "stopSequences")) != NULL) {
        size_t i;
        const json_t *s;

        if (!json_is_array(v))
            return sim_b_fail(err, errlen, "stopSequences must be a list of strings.");
        json_array_foreach(v, i, s)
        {
            if (!json_is_string(s) || json_string_length(s) == 0)
                return sim_b_fail(err, errlen, "stopSequences must be a list of strings.");
        }
    }
    return 0;
}

/* toolConfig: validates it and decides whether the answer is a tool call (docs/sim.md). */
static int sim_b_tools(sim_conv_plan_t *p, const char *last_user, uint64_t seed, char *err,
                       size_t errlen)
{
    const json_t *tc = json_object_get(p->r->body, "toolConfig");
    const json_t *tools = json_object_get(tc, "tools"), *choice = json_object_get(tc, "toolChoice");
    const json_t *t, *spec = NULL;
    const char *want = json_string_value(json_object_get(json_object_get(choice, "tool"), "name"));
    size_t i;

    if (tc == NULL)
        return 0;
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        return sim_b_fail(err, errlen, "The toolConfig field must have at least one tool.");
    json_array_foreach(tools, i, t)
    {
        const json_t *s = json_object_get(t, "toolSpec");

        if (!json_is_string(json_object_get(s, "name")) ||
            !json_is_object(json_object_get(json_object_get(s, "inputSchema"), "json")))
            return sim_b_fail(err, errlen,
                              "Malformed input request: each tool needs a toolSpec "
                              "with a name and inputSchema.json.");
        if (want != NULL && strcmp(json_string_value(json_object_get(s, "name")), want) == 0)
            spec = s;
    }
    if (choice != NULL && json_object_get(choice, "auto") == NULL &&
        json_object_get(choice, "any") == NULL && want == NULL)
        return sim_b_fail(err, errlen, "toolChoice must be one of auto, any or tool with a name.");
    if (want != NULL && spec == NULL)
        return sim_b_fail(err, errlen, "The tool named in toolChoice is not in toolConfig.tools.");
    if (spec == NULL &&
        (json_object_get(choice, "any") != NULL || strcasestr(last_user, "weather") != NULL))
        spec = json_object_get(json_array_get(tools, 0), "toolSpec");
    if (spec == NULL)
        return 0;
    p->tool_name = json_string_value(json_object_get(spec, "name"));
    p->tool_args =
        sim_text_tool_args(json_object_get(json_object_get(spec, "inputSchema"), "json"));
    sim_fmt(p->tool_id, sizeof(p->tool_id), "tooluse_%016llx",
            (unsigned long long)sim_hash(seed, p->tool_name, strlen(p->tool_name)));
    p->stop_reason = "tool_use";
    p->output = sim_tokens(strlen(p->tool_args)) + SIM_B_TOOL_TOKENS;
    return 0;
}

/* ---- rendering ---- */

/* usage: inputTokens excludes cache reads and writes, which have fields of their own. */
static json_t *sim_b_usage(const sim_conv_plan_t *p)
{
    json_t *u = json_pack(
        "{s:I,s:I,s:I}", "inputTokens", (json_int_t)(p->prompt - p->cached - p->cache_write),
        "outputTokens", (json_int_t)p->output, "totalTokens", (json_int_t)(p->prompt + p->output));

    if (u != NULL && p->cached > 0)
        json_object_set_new(u, "cacheReadInputTokens", json_integer(p->cached));
    if (u != NULL && p->cache_write > 0)
        json_object_set_new(u, "cacheWriteInputTokens", json_integer(p->cache_write));
    return u;
}

static json_t *sim_b_content(const sim_conv_plan_t *p)
{
    if (p->filtered)
        return json_array();
    if (p->tool_name != NULL)
        return json_pack("[{s:{s:s,s:s,s:o}}]", "toolUse", "toolUseId", p->tool_id, "name",
                         p->tool_name, "input", json_loads(p->tool_args, 0, NULL));
    return json_pack("[{s:s}]", "text", p->words.text);
}

static json_t *sim_b_response(const sim_conv_plan_t *p)
{
    return json_pack("{s:{s:{s:s,s:o}},s:s,s:o,s:{s:i}}", "output", "message", "role", "assistant",
                     "content", sim_b_content(p), "stopReason", p->stop_reason, "usage",
                     sim_b_usage(p), "metrics", "latencyMs", 1);
}

/*
 * One event frame: :event-type, :content-type and :message-type headers and the JSON payload
 * with Bedrock's "p" padding (letters, of a length that varies by event). Takes `obj`.
 */
static int sim_b_frame(sim_events_t *ev, const char *type, const char *mtype, json_t *obj,
                       unsigned flags)
{
    static const char pad[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0";
    int exception = strcmp(mtype, "exception") == 0;
    tg_evheader_t h[3] = {
        {exception ? ":exception-type" : ":event-type", exception ? 15 : 11, TG_EVH_STRING, 0, type,
         strlen(type)},
        {":content-type", 13, TG_EVH_STRING, 0, "application/json", 16},
        {":message-type", 13, TG_EVH_STRING, 0, mtype, strlen(mtype)},
    };
    tg_buf_t b = {0};
    char *payload = NULL;
    int rc = -1;

    if (obj == NULL)
        return -1;
    if (!exception)
        json_object_set_new(obj, "p", json_stringn(pad, 1 + ev->n * 7 % (sizeof(pad) - 2)));
    if ((payload = json_dumps(obj, JSON_COMPACT)) != NULL &&
        tg_evstream_encode(&b, h, 3, payload, strlen(payload)) == 0)
        rc = sim_events_add_bytes(ev, b.data, b.len, flags);
    free(payload);
    tg_buf_free(&b);
    json_decref(obj);
    return rc;
}

static int sim_b_deltas(const sim_conv_plan_t *p, sim_events_t *ev)
{
    if (p->tool_name != NULL) {
        size_t alen = strlen(p->tool_args);
        char piece[8];

        if (sim_b_frame(ev, "contentBlockStart", "event",
                        json_pack("{s:i,s:{s:{s:s,s:s}}}", "contentBlockIndex", 0, "start",
                                  "toolUse", "toolUseId", p->tool_id, "name", p->tool_name),
                        0) != 0)
            return -1;
        /* 4-byte fragments, as the OpenAI stream sends the arguments */
        for (size_t off = 0; off < alen; off += 4) {
            if (sim_fmt(piece, sizeof(piece), "%.4s", p->tool_args + off) != 0 ||
                sim_b_frame(ev, "contentBlockDelta", "event",
                            json_pack("{s:i,s:{s:{s:s}}}", "contentBlockIndex", 0, "delta",
                                      "toolUse", "input", piece),
                            off > 0 ? SIM_EV_PACED : 0) != 0)
                return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < p->words.n; i++) {
        json_t *text = sim_words_piece(&p->words, i);

        /* ttft covers the first token; pacing starts with the second */
        if (text == NULL ||
            sim_b_frame(ev, "contentBlockDelta", "event",
                        json_pack("{s:i,s:{s:o}}", "contentBlockIndex", 0, "delta", "text", text),
                        i > 0 ? SIM_EV_PACED : 0) != 0)
            return -1;
    }
    return 0;
}

static int sim_b_events(const sim_conv_plan_t *p, sim_events_t *ev)
{
    long after = p->r->fault.error_event;

    if (sim_b_frame(ev, "messageStart", "event", json_pack("{s:s}", "role", "assistant"), 0) != 0)
        return -1;
    if (!p->filtered && (sim_b_deltas(p, ev) != 0 ||
                         sim_b_frame(ev, "contentBlockStop", "event",
                                     json_pack("{s:i}", "contentBlockIndex", 0), 0) != 0))
        return -1;
    if (sim_b_frame(ev, "messageStop", "event", json_pack("{s:s}", "stopReason", p->stop_reason),
                    0) != 0 ||
        sim_b_frame(ev, "metadata", "event",
                    json_pack("{s:o,s:{s:i}}", "usage", sim_b_usage(p), "metrics", "latencyMs", 1),
                    0) != 0)
        return -1;
    if (after > 0) {
        /* Bedrock ends a failing stream with an exception message */
        sim_events_truncate(ev, (size_t)after);
        return sim_b_frame(
            ev, "serviceUnavailableException", "exception",
            json_pack("{s:s}", "message", "Bedrock is unable to process your request."), 0);
    }
    return 0;
}

/* ---- handlers ---- */

static void sim_bedrock_reply(sim_req_t *r)
{
    sim_conv_plan_t p = {.r = r, .stop_reason = "end_turn"};
    struct evbuffer *last = evbuffer_new();
    const char *last_text;
    char err[320];
    long limit;
    long want = r->fault.tokens != SIM_UNSET ? r->fault.tokens : SIM_B_DEFAULT_TOKENS;
    uint64_t seed;
    sim_events_t ev = {0};

    if (last == NULL)
        goto oom;
    if (sim_b_params(r->body, &limit, err, sizeof(err)) != 0 ||
        sim_b_prompt(&p, last, err, sizeof(err)) != 0) {
        sim_bedrock_error(r, 400, err);
        goto done;
    }
    if (want > SIM_B_MAX_TOKENS) {
        sim_bedrock_error(r, 400, "the simulator's tokens fault must not exceed 1000000");
        goto done;
    }
    /* NUL-terminate the last user text so it can be searched for "weather" */
    if (evbuffer_add(last, "", 1) != 0 ||
        (last_text = (const char *)evbuffer_pullup(last, -1)) == NULL)
        goto oom;
    seed = sim_text_seed(r->model, last_text, evbuffer_get_length(last) - 1);
    sim_fault_cache(&r->fault, p.prompt, &p.cached, &p.cache_write);
    if (sim_b_tools(&p, last_text, seed, err, sizeof(err)) != 0) {
        sim_bedrock_error(r, 400, err);
        goto done;
    }
    if (r->fault.safety > 0) {
        p.filtered = true;
        p.tool_name = NULL;
        p.stop_reason = "content_filtered";
        p.output = 0;
    } else if (p.tool_name == NULL) {
        if (limit >= 0 && limit < want) {
            want = limit;
            p.stop_reason = "max_tokens";
        }
        if (sim_words_make(
                &p.words, seed, (size_t)want, false,
                json_object_get(json_object_get(r->body, "inferenceConfig"), "stopSequences")) != 0)
            goto oom;
        if (p.words.stop != NULL)
            p.stop_reason = "stop_sequence";
        p.output = (long)p.words.n;
    }
    if (!r->stream) {
        sim_reply_json(r, 200, sim_b_response(&p), NULL, NULL);
        goto done;
    }
    r->ctype = "application/vnd.amazon.eventstream";
    if (sim_b_events(&p, &ev) != 0) {
        sim_events_clear(&ev);
        goto oom;
    }
    sim_reply_stream(r, &ev);
    goto done;

oom:
    fprintf(stderr, "tollgate-sim: %s: out of memory building a Converse answer\n", r->rid);
    sim_reply_json(r, 500, NULL, NULL, NULL);
done:
    sim_words_free(&p.words);
    if (last != NULL)
        evbuffer_free(last);
}

void sim_bedrock_converse(sim_req_t *r)
{
    r->stream = false;
    sim_bedrock_reply(r);
}

void sim_bedrock_converse_stream(sim_req_t *r)
{
    r->stream = true;
    sim_bedrock_reply(r);
}
