/*
 * The Anthropic Messages API for tollgate-sim: POST /v1/messages (a JSON message or the
 * named-event SSE stream), /v1/messages/count_tokens, Anthropic's model list, its auth and
 * version headers and its error shape. Answers use the same words and token rules as the
 * OpenAI handlers (sim_text.c), so one prompt gets the same text in either format.
 */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#define SIM_A_DEFAULT_TOKENS 16
#define SIM_A_IMAGE_TOKENS 85
#define SIM_A_TOOL_TOKENS 10
/* Streams are rendered up front, so bound the work per request as the OpenAI handler does. */
#define SIM_A_MAX_TOKENS 1000000
#define SIM_A_MODELS_CREATED "2025-01-01T00:00:00Z"

/* What one answer consists of; the JSON message and the stream are both rendered from it. */
typedef struct sim_msg_plan_t {
    sim_req_t *r;
    char id[48];
    long input;  /* prompt tokens, cached ones included */
    long cached; /* reported as cache_read_input_tokens; input_tokens excludes them */
    long cache_write; /* reported as cache_creation_input_tokens; input_tokens excludes them */
    long output;
    const char *stop_reason;
    sim_words_t words;
    const char *tool_name; /* non-NULL: answer with one tool_use block */
    const char *tool_args;
    char tool_id[40];
    bool refusal; /* the `safety` fault: no content, stop_reason refusal */
} sim_msg_plan_t;

static const char *sim_anthropic_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
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
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

void sim_anthropic_error(sim_req_t *r, int status, const char *message)
{
    char rid[48];
    json_t *obj;

    sim_fmt(rid, sizeof(rid), "req_sim%llu", (unsigned long long)r->id);
    obj = json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error", "error", "type",
                    sim_anthropic_type(status), "message", message, "request_id", rid);
    if (status == 429) {
        sim_reply_json(r, status, obj, "retry-after", "1");
        return;
    }
    sim_reply_json(r, status, obj, NULL, NULL);
}

int sim_anthropic_check(sim_req_t *r)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    const char *key = evhttp_find_header(h, "x-api-key");

    if (r->sim->api_key != NULL) {
        if (key == NULL) {
            sim_anthropic_error(r, 401, "x-api-key header is required");
            return -1;
        }
        if (strcmp(key, r->sim->api_key) != 0) {
            sim_anthropic_error(r, 401, "invalid x-api-key");
            return -1;
        }
    }
    if (evhttp_find_header(h, "anthropic-version") == NULL) {
        sim_anthropic_error(r, 400, "anthropic-version: header is required");
        return -1;
    }
    return 0;
}

/* ---- the request: validation, prompt tokens and the last user text ---- */

static int sim_anthropic_source(const json_t *block)
{
    const json_t *src = json_object_get(block, "source");
    const char *type = json_string_value(json_object_get(src, "type"));

    if (type == NULL) {
        return -1;
    }
    if (strcmp(type, "base64") == 0) {
        return json_is_string(json_object_get(src, "data")) ? 0 : -1;
    }
    if (strcmp(type, "url") == 0) {
        return json_is_string(json_object_get(src, "url")) ? 0 : -1;
    }
    return strcmp(type, "file") == 0 || strcmp(type, "text") == 0 ? 0 : -1;
}

/*
 * Counts a content value (a string or an array of blocks) into *tokens. Text goes to `text`
 * when it is not NULL (tool results never do); *has_text says whether there was any. Returns
 * 0, or -1 with a message in `err` naming the bad field under `where`.
 */
static int sim_anthropic_content(const json_t *content, const char *where, long *tokens,
                                 struct evbuffer *text, bool *has_text, char *err, size_t errlen)
{
    size_t i;
    const json_t *b;

    if (json_is_string(content)) {
        *tokens += sim_tokens(json_string_length(content));
        *has_text = true;
        if (text != NULL) {
            evbuffer_add(text, json_string_value(content), json_string_length(content));
        }
        return 0;
    }
    if (!json_is_array(content)) {
        sim_fmt(err, errlen, "%s: Input should be a valid string or a valid list", where);
        return -1;
    }
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        const json_t *t = json_object_get(b, "text");

        if (type == NULL) {
            sim_fmt(err, errlen, "%s.%zu.type: Field required", where, i);
            return -1;
        }
        if (strcmp(type, "text") == 0) {
            if (!json_is_string(t)) {
                sim_fmt(err, errlen, "%s.%zu.text: Field required", where, i);
                return -1;
            }
            *tokens += sim_tokens(json_string_length(t));
            *has_text = true;
            if (text != NULL) {
                evbuffer_add(text, json_string_value(t), json_string_length(t));
            }
        } else if (strcmp(type, "image") == 0 || strcmp(type, "document") == 0) {
            if (sim_anthropic_source(b) != 0) {
                sim_fmt(err, errlen,
                        "%s.%zu.source: a base64, url, file or text source is required", where, i);
                return -1;
            }
            *tokens += SIM_A_IMAGE_TOKENS;
        } else if (strcmp(type, "tool_use") == 0) {
            if (!json_is_string(json_object_get(b, "id")) ||
                !json_is_string(json_object_get(b, "name")) ||
                !json_is_object(json_object_get(b, "input"))) {
                sim_fmt(err, errlen, "%s.%zu: tool_use needs id, name and an input object", where,
                        i);
                return -1;
            }
        } else if (strcmp(type, "tool_result") == 0) {
            const json_t *rc = json_object_get(b, "content");
            char sub[96];
            bool unused = false;

            if (!json_is_string(json_object_get(b, "tool_use_id"))) {
                sim_fmt(err, errlen, "%s.%zu.tool_use_id: Field required", where, i);
                return -1;
            }
            sim_fmt(sub, sizeof(sub), "%s.%zu.content", where, i);
            if (rc != NULL &&
                sim_anthropic_content(rc, sub, tokens, NULL, &unused, err, errlen) != 0) {
                return -1;
            }
        } else if (strcmp(type, "thinking") != 0 && strcmp(type, "redacted_thinking") != 0) {
            sim_fmt(err, errlen,
                    "%s.%zu: Input tag '%.40s' found using 'type' does not match any of the "
                    "expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', "
                    "'thinking', 'redacted_thinking'",
                    where, i, type);
            return -1;
        }
    }
    return 0;
}

/* model, system and messages, shared by /v1/messages and count_tokens. Counts the prompt
 * into p->input and leaves the text of the last user message that has text in `last`.
 * Returns 0, or -1 after sending the 400. */
static int sim_anthropic_prompt(sim_msg_plan_t *p, struct evbuffer *last)
{
    sim_req_t *r = p->r;
    const json_t *messages = json_object_get(r->body, "messages");
    const json_t *system = json_object_get(r->body, "system");
    struct evbuffer *cur = evbuffer_new();
    char err[256];
    char where[48];
    size_t i;
    const json_t *m;
    bool has_text = false;

    if (cur == NULL) {
        sim_anthropic_error(r, 500, "out of memory");
        return -1;
    }
    if (r->model == NULL) {
        sim_fmt(err, sizeof(err), "model: Field required");
        goto bad;
    }
    if (!json_is_array(messages)) {
        sim_fmt(err, sizeof(err), "messages: Field required (a list)");
        goto bad;
    }
    if (json_array_size(messages) == 0) {
        sim_fmt(err, sizeof(err),
                "messages: List should have at least 1 item after validation, "
                "not 0");
        goto bad;
    }
    p->input = 3;
    if (system != NULL && !json_is_null(system) &&
        sim_anthropic_content(system, "system", &p->input, NULL, &has_text, err, sizeof(err)) !=
            0) {
        goto bad;
    }
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        bool user;

        if (!json_is_object(m)) {
            sim_fmt(err, sizeof(err), "messages.%zu: Input should be a valid dictionary", i);
            goto bad;
        }
        if (role != NULL && strcmp(role, "system") == 0) {
            sim_fmt(err, sizeof(err),
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level "
                    "`system` parameter, not \"system\" as an input message role.");
            goto bad;
        }
        if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            sim_fmt(err, sizeof(err), "messages.%zu.role: Input should be 'user' or 'assistant'",
                    i);
            goto bad;
        }
        if (content == NULL) {
            sim_fmt(err, sizeof(err), "messages.%zu.content: Field required", i);
            goto bad;
        }
        user = strcmp(role, "user") == 0;
        has_text = false;
        sim_fmt(where, sizeof(where), "messages.%zu.content", i);
        p->input += 4;
        if (sim_anthropic_content(content, where, &p->input, cur, &has_text, err, sizeof(err)) !=
            0) {
            goto bad;
        }
        /* A user turn made only of tool results is OpenAI's "tool" message, not a user one:
         * the seed stays with the last turn that has text, as in the OpenAI handler. */
        if (user && has_text) {
            evbuffer_drain(last, evbuffer_get_length(last));
            evbuffer_add_buffer(last, cur);
        }
        evbuffer_drain(cur, evbuffer_get_length(cur));
    }
    evbuffer_free(cur);
    return 0;

bad:
    evbuffer_free(cur);
    sim_anthropic_error(r, 400, err);
    return -1;
}

/* tools and tool_choice; sets the tool fields of `p` if the answer is a tool call. Returns
 * 0, or -1 with a message in `err`. */
static int sim_anthropic_tools(sim_msg_plan_t *p, const char *last_user, uint64_t seed, char *err,
                               size_t errlen)
{
    const json_t *tools = json_object_get(p->r->body, "tools");
    const json_t *choice = json_object_get(p->r->body, "tool_choice");
    const char *ctype = NULL;
    const char *want = NULL;
    const json_t *tool = NULL;
    size_t i;
    const json_t *t;

    if (tools != NULL && !json_is_null(tools) && !json_is_array(tools)) {
        sim_fmt(err, errlen, "tools: Input should be a valid list");
        return -1;
    }
    json_array_foreach(tools, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));

        if (!json_is_string(json_object_get(t, "name"))) {
            sim_fmt(err, errlen, "tools.%zu.name: Field required", i);
            return -1;
        }
        if ((type == NULL || strcmp(type, "custom") == 0) &&
            !json_is_object(json_object_get(t, "input_schema"))) {
            sim_fmt(err, errlen, "tools.%zu.custom.input_schema: Field required", i);
            return -1;
        }
    }
    if (choice != NULL && !json_is_null(choice)) {
        ctype = json_string_value(json_object_get(choice, "type"));
        if (ctype == NULL || (strcmp(ctype, "auto") != 0 && strcmp(ctype, "any") != 0 &&
                              strcmp(ctype, "tool") != 0 && strcmp(ctype, "none") != 0)) {
            sim_fmt(err, errlen,
                    "tool_choice.type: Input should be 'auto', 'any', 'tool' or "
                    "'none'");
            return -1;
        }
        if (json_array_size(tools) == 0 && strcmp(ctype, "none") != 0) {
            sim_fmt(err, errlen,
                    "tool_choice: tool_choice may only be specified while providing "
                    "tools");
            return -1;
        }
        if (strcmp(ctype, "tool") == 0 &&
            (want = json_string_value(json_object_get(choice, "name"))) == NULL) {
            sim_fmt(err, errlen, "tool_choice.tool.name: Field required");
            return -1;
        }
    }
    if (json_array_size(tools) == 0 || (ctype != NULL && strcmp(ctype, "none") == 0)) {
        return 0;
    }
    if (want != NULL) {
        json_array_foreach(tools, i, t)
        {
            if (strcmp(json_string_value(json_object_get(t, "name")), want) == 0) {
                tool = t;
                break;
            }
        }
        if (tool == NULL) {
            sim_fmt(err, errlen, "tool_choice: tool '%.100s' not found in tools", want);
            return -1;
        }
    } else if ((ctype != NULL && strcmp(ctype, "any") == 0) ||
               strcasestr(last_user, "weather") != NULL) {
        tool = json_array_get(tools, 0);
    } else {
        return 0;
    }
    p->tool_name = json_string_value(json_object_get(tool, "name"));
    p->tool_args = sim_text_tool_args(json_object_get(tool, "input_schema"));
    sim_fmt(p->tool_id, sizeof(p->tool_id), "toolu_%016llx",
            (unsigned long long)sim_hash(seed, p->tool_name, strlen(p->tool_name)));
    p->stop_reason = "tool_use";
    p->output = sim_tokens(strlen(p->tool_args)) + SIM_A_TOOL_TOKENS;
    return 0;
}

/* max_tokens, temperature and stop_sequences. Returns 0, or -1 with a message in `err`. */
static int sim_anthropic_params(const json_t *body, long *max_tokens, char *err, size_t errlen)
{
    const json_t *mt = json_object_get(body, "max_tokens");
    const json_t *temp = json_object_get(body, "temperature");
    const json_t *stops = json_object_get(body, "stop_sequences");

    if (mt == NULL) {
        sim_fmt(err, errlen, "max_tokens: Field required");
        return -1;
    }
    if (!json_is_integer(mt)) {
        sim_fmt(err, errlen, "max_tokens: Input should be a valid integer");
        return -1;
    }
    if (json_integer_value(mt) < 1) {
        sim_fmt(err, errlen, "max_tokens: Input should be greater than or equal to 1");
        return -1;
    }
    *max_tokens =
        json_integer_value(mt) > SIM_A_MAX_TOKENS ? SIM_A_MAX_TOKENS : (long)json_integer_value(mt);
    if (temp != NULL && !json_is_null(temp) &&
        (!json_is_number(temp) || json_number_value(temp) < 0 || json_number_value(temp) > 1)) {
        sim_fmt(err, errlen, "temperature: Input should be a number between 0 and 1");
        return -1;
    }
    if (stops != NULL && !json_is_null(stops)) {
        size_t i;
        const json_t *s;

        if (!json_is_array(stops)) {
            sim_fmt(err, errlen, "stop_sequences: Input should be a valid list");
            return -1;
        }
        json_array_foreach(stops, i, s)
        {
            if (!json_is_string(s)) {
                sim_fmt(err, errlen, "stop_sequences.%zu: Input should be a valid string", i);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- rendering ---- */

static json_t *sim_anthropic_usage(const sim_msg_plan_t *p, long output)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens",
                     (json_int_t)(p->input - p->cached - p->cache_write),
                     "cache_creation_input_tokens", (json_int_t)p->cache_write,
                     "cache_read_input_tokens",
                     (json_int_t)p->cached, "output_tokens", (json_int_t)output);
}

static json_t *sim_anthropic_tool_block(const sim_msg_plan_t *p, bool with_input)
{
    json_t *input = with_input ? json_loads(p->tool_args, 0, NULL) : json_object();

    return json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", p->tool_id, "name",
                     p->tool_name, "input", input);
}

/* The message object; `stream_start` gives the one message_start carries. */
static json_t *sim_anthropic_message(const sim_msg_plan_t *p, bool stream_start)
{
    json_t *content = json_array();
    json_t *block = NULL;

    if (content == NULL) {
        return NULL;
    }
    if (!stream_start && !p->refusal) {
        block = p->tool_name != NULL
                    ? sim_anthropic_tool_block(p, true)
                    : json_pack("{s:s,s:s}", "type", "text", "text", p->words.text);
        if (block == NULL || json_array_append_new(content, block) != 0) {
            json_decref(content);
            return NULL;
        }
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s?,s:s?,s:o}", "id", p->id, "type", "message", "role",
                     "assistant", "model", p->r->model, "content", content, "stop_reason",
                     stream_start ? NULL : p->stop_reason, "stop_sequence",
                     stream_start ? NULL : p->words.stop, "usage",
                     sim_anthropic_usage(p, stream_start ? 1 : p->output));
}

/* Appends `event: NAME\ndata: <obj>\n\n`; takes ownership of `obj`. */
static int sim_anthropic_event(sim_events_t *ev, const char *name, json_t *obj, unsigned flags)
{
    char prefix[64];
    int rc = -1;

    if (obj != NULL && sim_fmt(prefix, sizeof(prefix), "event: %s\ndata: ", name) == 0) {
        rc = sim_events_add_frame(ev, prefix, obj, "\n\n", flags);
    }
    json_decref(obj);
    return rc;
}

static int sim_anthropic_deltas(const sim_msg_plan_t *p, sim_events_t *ev)
{
    if (p->tool_name != NULL) {
        /* 4-byte fragments, as the OpenAI stream sends the arguments. */
        size_t alen = strlen(p->tool_args);
        char piece[8];

        for (size_t off = 0; off < alen; off += 4) {
            if (sim_fmt(piece, sizeof(piece), "%.4s", p->tool_args + off) != 0 ||
                sim_anthropic_event(ev, "content_block_delta",
                                    json_pack("{s:s,s:i,s:{s:s,s:s}}", "type",
                                              "content_block_delta", "index", 0, "delta", "type",
                                              "input_json_delta", "partial_json", piece),
                                    off > 0 ? SIM_EV_PACED : 0) != 0) {
                return -1;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < p->words.n; i++) {
        json_t *text = sim_words_piece(&p->words, i);

        /* ttft covers the first token; pacing starts with the second. */
        if (text == NULL ||
            sim_anthropic_event(ev, "content_block_delta",
                                json_pack("{s:s,s:i,s:{s:s,s:o}}", "type", "content_block_delta",
                                          "index", 0, "delta", "type", "text_delta", "text", text),
                                i > 0 ? SIM_EV_PACED : 0) != 0) {
            return -1;
        }
    }
    return 0;
}

static int sim_anthropic_events(const sim_msg_plan_t *p, sim_events_t *ev)
{
    long after = p->r->fault.error_event;

    if (sim_anthropic_event(ev, "message_start",
                            json_pack("{s:s,s:o}", "type", "message_start", "message",
                                      sim_anthropic_message(p, true)),
                            0) != 0) {
        return -1;
    }
    if (!p->refusal) {
        json_t *block = p->tool_name != NULL ? sim_anthropic_tool_block(p, false)
                                             : json_pack("{s:s,s:s}", "type", "text", "text", "");

        if (sim_anthropic_event(ev, "content_block_start",
                                json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index",
                                          0, "content_block", block),
                                0) != 0) {
            return -1;
        }
    }
    if (sim_anthropic_event(ev, "ping", json_pack("{s:s}", "type", "ping"), 0) != 0) {
        return -1;
    }
    if (!p->refusal) {
        if (sim_anthropic_deltas(p, ev) != 0 ||
            sim_anthropic_event(ev, "content_block_stop",
                                json_pack("{s:s,s:i}", "type", "content_block_stop", "index", 0),
                                0) != 0) {
            return -1;
        }
    }
    if (sim_anthropic_event(ev, "message_delta",
                            json_pack("{s:s,s:{s:s,s:s?},s:{s:I}}", "type", "message_delta",
                                      "delta", "stop_reason", p->stop_reason, "stop_sequence",
                                      p->words.stop, "usage", "output_tokens",
                                      (json_int_t)p->output),
                            0) != 0 ||
        sim_anthropic_event(ev, "message_stop", json_pack("{s:s}", "type", "message_stop"), 0) !=
            0) {
        return -1;
    }
    if (after > 0) {
        /* An overloaded error in the middle of the stream: Anthropic sends it as an event
         * and ends the response. */
        sim_events_truncate(ev, (size_t)after);
        return sim_events_add_raw(ev,
                                  "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                                  "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
                                  0);
    }
    return 0;
}

/* ---- handlers ---- */

void sim_anthropic_messages(sim_req_t *r)
{
    sim_msg_plan_t p = {.r = r, .stop_reason = "end_turn"};
    struct evbuffer *last = evbuffer_new();
    const char *last_text;
    char err[256];
    long max_tokens = 0;
    long want = r->fault.tokens != SIM_UNSET ? r->fault.tokens : SIM_A_DEFAULT_TOKENS;
    uint64_t seed;

    if (last == NULL) {
        goto oom;
    }
    if (sim_anthropic_prompt(&p, last) != 0) {
        goto done;
    }
    if (sim_anthropic_params(r->body, &max_tokens, err, sizeof(err)) != 0) {
        sim_anthropic_error(r, 400, err);
        goto done;
    }
    if (want > SIM_A_MAX_TOKENS) {
        sim_anthropic_error(r, 400, "the simulator's tokens fault must not exceed 1000000");
        goto done;
    }
    /* NUL-terminate the last user text so it can be searched for "weather". */
    if (evbuffer_add(last, "", 1) != 0 ||
        (last_text = (const char *)evbuffer_pullup(last, -1)) == NULL) {
        goto oom;
    }
    seed = sim_text_seed(r->model, last_text, evbuffer_get_length(last) - 1);
    sim_fmt(p.id, sizeof(p.id), "msg_sim%llu", (unsigned long long)r->id);
    sim_fault_cache(&r->fault, p.input, &p.cached, &p.cache_write);
    if (sim_anthropic_tools(&p, last_text, seed, err, sizeof(err)) != 0) {
        sim_anthropic_error(r, 400, err);
        goto done;
    }
    if (r->fault.safety > 0) {
        p.refusal = true;
        p.tool_name = NULL;
        p.stop_reason = "refusal";
        p.output = 0;
    } else if (p.tool_name == NULL) {
        if (max_tokens < want) {
            want = max_tokens;
            p.stop_reason = "max_tokens";
        }
        if (sim_words_make(&p.words, seed, (size_t)want, false,
                           json_object_get(r->body, "stop_sequences")) != 0) {
            goto oom;
        }
        if (p.words.stop != NULL) {
            p.stop_reason = "stop_sequence";
        }
        p.output = (long)p.words.n;
    }
    if (!r->stream) {
        sim_reply_json(r, 200, sim_anthropic_message(&p, false), NULL, NULL);
        goto done;
    }
    sim_events_t ev = {0};
    if (sim_anthropic_events(&p, &ev) != 0) {
        sim_events_clear(&ev);
        goto oom;
    }
    sim_reply_stream(r, &ev);
    goto done;

oom:
    fprintf(stderr, "tollgate-sim: %s: out of memory building a message\n", r->rid);
    sim_reply_json(r, 500, NULL, NULL, NULL);
done:
    sim_words_free(&p.words);
    if (last != NULL) {
        evbuffer_free(last);
    }
}

void sim_anthropic_count_tokens(sim_req_t *r)
{
    sim_msg_plan_t p = {.r = r};
    struct evbuffer *last = evbuffer_new();

    if (last == NULL) {
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    if (sim_anthropic_prompt(&p, last) == 0) {
        sim_reply_json(r, 200, json_pack("{s:I}", "input_tokens", (json_int_t)p.input), NULL, NULL);
    }
    evbuffer_free(last);
}

static json_t *sim_anthropic_model_json(const char *id)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "type", "model", "id", id, "display_name", id,
                     "created_at", SIM_A_MODELS_CREATED);
}

void sim_anthropic_models(sim_req_t *r, const char *id)
{
    const sim_t *sim = r->sim;
    json_t *data;

    if (id != NULL) {
        char msg[320];

        for (size_t i = 0; i < sim->n_models; i++) {
            if (strcmp(sim->models[i], id) == 0) {
                sim_reply_json(r, 200, sim_anthropic_model_json(id), NULL, NULL);
                return;
            }
        }
        sim_fmt(msg, sizeof(msg), "model: %.200s", id);
        sim_anthropic_error(r, 404, msg);
        return;
    }
    if ((data = json_array()) == NULL) {
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < sim->n_models; i++) {
        if (json_array_append_new(data, sim_anthropic_model_json(sim->models[i])) != 0) {
            json_decref(data);
            sim_reply_json(r, 500, NULL, NULL, NULL);
            return;
        }
    }
    sim_reply_json(r, 200,
                   json_pack("{s:o,s:b,s:s?,s:s?}", "data", data, "has_more", 0, "first_id",
                             sim->n_models > 0 ? sim->models[0] : NULL, "last_id",
                             sim->n_models > 0 ? sim->models[sim->n_models - 1] : NULL),
                   NULL, NULL);
}
