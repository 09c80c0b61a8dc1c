/*
 * OpenAI chat completions and legacy completions for tollgate-sim. Both the JSON answer and
 * the SSE stream are built from one plan (the same words, finish reason and usage), so a
 * streamed and a non-streamed request for the same input agree byte for byte on content
 * and on token counts. Embeddings and the model list live in sim_openai_embed.c.
 */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#define SIM_DEFAULT_TOKENS 16
#define SIM_MAX_CHOICES 128
#define SIM_IMAGE_TOKENS 85
#define SIM_TOOL_TOKENS 10
/* Streams are rendered up front (about 250 bytes per event), so bound the work per request. */
#define SIM_MAX_EVENTS 1000000

/* What one answer consists of; filled by the request parsers, rendered by the writers. */
typedef struct sim_plan_t {
    sim_req_t *r;
    const char *model;
    bool chat;
    uint64_t seed;
    size_t ntok; /* words in the answer */
    size_t nchoices;
    bool json_mode;        /* content is {"answer":"..."} */
    const char *finish;    /* stop, length or tool_calls */
    const char *tool_name; /* non-NULL: answer with one call to this tool */
    const char *tool_args;
    char tool_id[32];
    long prompt_tokens;
    long completion_tokens; /* per choice */
    bool include_usage;
    char id[48];
    json_int_t created;
} sim_plan_t;

json_t *sim_openai_usage(long prompt, long completion, long cached)
{
    if (cached < 0) {
        cached = 0;
    }
    if (cached > prompt) {
        cached = prompt;
    }
    return json_pack("{s:I,s:I,s:I,s:{s:I},s:{s:I}}", "prompt_tokens", (json_int_t)prompt,
                     "completion_tokens", (json_int_t)completion, "total_tokens",
                     (json_int_t)(prompt + completion), "prompt_tokens_details", "cached_tokens",
                     (json_int_t)cached, "completion_tokens_details", "reasoning_tokens",
                     (json_int_t)0);
}

/* Piece i of the answer: a word, a space unless it is the last, and the JSON-mode wrapper
 * around the first and last pieces. */
static void sim_plan_piece(const sim_plan_t *p, size_t i, char *buf, size_t len)
{
    sim_text_piece(p->seed, i, p->ntok, p->json_mode, buf, len);
}

static char *sim_plan_text(const sim_plan_t *p)
{
    struct evbuffer *b = evbuffer_new();
    char piece[64];
    char *text = NULL;
    size_t len;

    if (b == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < p->ntok; i++) {
        sim_plan_piece(p, i, piece, sizeof(piece));
        if (evbuffer_add(b, piece, strlen(piece)) != 0) {
            goto done;
        }
    }
    len = evbuffer_get_length(b);
    text = malloc(len + 1);
    if (text != NULL) {
        evbuffer_remove(b, text, len);
        text[len] = '\0';
    }

done:
    evbuffer_free(b);
    return text;
}

/* Sets ntok and finish from the request's limit, the `tokens` fault and the default. */
static int sim_plan_length(sim_plan_t *p, const json_t *body)
{
    const json_t *lim = json_object_get(body, "max_completion_tokens");
    long want = p->r->fault.tokens != SIM_UNSET ? p->r->fault.tokens : SIM_DEFAULT_TOKENS;

    if (lim == NULL || json_is_null(lim)) {
        lim = json_object_get(body, "max_tokens");
    }
    p->finish = "stop";
    p->ntok = (size_t)want;
    if (lim != NULL && !json_is_null(lim)) {
        if (!json_is_integer(lim) || json_integer_value(lim) < 0) {
            return -1;
        }
        if (json_integer_value(lim) < want) {
            p->ntok = (size_t)json_integer_value(lim);
            p->finish = "length";
        }
    }
    return 0;
}

static int sim_plan_common(sim_plan_t *p, sim_req_t *r, bool chat)
{
    const json_t *n = json_object_get(r->body, "n");
    const json_t *so = json_object_get(r->body, "stream_options");

    p->r = r;
    p->chat = chat;
    p->model = r->model;
    p->nchoices = 1;
    p->created = (json_int_t)time(NULL);
    sim_fmt(p->id, sizeof(p->id), "%s-sim%llu", chat ? "chatcmpl" : "cmpl",
            (unsigned long long)r->id);
    if (n != NULL && !json_is_null(n)) {
        if (!json_is_integer(n) || json_integer_value(n) < 1 ||
            json_integer_value(n) > SIM_MAX_CHOICES) {
            sim_reply_error(r, 400, "invalid_request_error", "'n' must be between 1 and 128", "n",
                            NULL);
            return -1;
        }
        p->nchoices = (size_t)json_integer_value(n);
    }
    if (sim_plan_length(p, r->body) != 0) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "'max_tokens' must be a non-negative integer", "max_tokens", NULL);
        return -1;
    }
    if (p->ntok > SIM_MAX_EVENTS / p->nchoices) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "tokens * n must not exceed 1000000 in the simulator", "sim", NULL);
        return -1;
    }
    p->include_usage = r->stream && json_is_true(json_object_get(so, "include_usage"));
    return 0;
}

/* ---- chat: prompt counting and the tool decision ---- */

/* Counts a message's content and, for the last user message, appends its text to `last`. */
static long sim_chat_content_tokens(const json_t *content, struct evbuffer *last)
{
    size_t i;
    const json_t *part;
    long tokens = 0;

    if (json_is_string(content)) {
        if (last != NULL) {
            evbuffer_add(last, json_string_value(content), json_string_length(content));
        }
        return sim_tokens(json_string_length(content));
    }
    if (!json_is_array(content)) {
        return 0;
    }
    json_array_foreach(content, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        const json_t *text = json_object_get(part, "text");

        if (json_is_string(text) && (type == NULL || strcmp(type, "text") == 0)) {
            tokens += sim_tokens(json_string_length(text));
            if (last != NULL) {
                evbuffer_add(last, json_string_value(text), json_string_length(text));
            }
        } else if (type != NULL && strcmp(type, "image_url") == 0) {
            tokens += SIM_IMAGE_TOKENS;
        }
    }
    return tokens;
}

static int sim_chat_prompt(sim_plan_t *p, const json_t *messages, struct evbuffer *last)
{
    size_t i, last_user = (size_t)-1;
    const json_t *msg;

    json_array_foreach(messages, i, msg)
    {
        if (!json_is_object(msg)) {
            return -1;
        }
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (role != NULL && strcmp(role, "user") == 0) {
            last_user = i;
        }
    }
    p->prompt_tokens = 3;
    json_array_foreach(messages, i, msg)
    {
        p->prompt_tokens += 4 + sim_chat_content_tokens(json_object_get(msg, "content"),
                                                        i == last_user ? last : NULL);
    }
    return 0;
}

static const json_t *sim_chat_tool_params(const json_t *tool)
{
    const json_t *fn = json_object_get(tool, "function");

    return json_object_get(fn != NULL ? fn : tool, "parameters");
}

static const char *sim_chat_tool_name(const json_t *tool)
{
    const json_t *fn = json_object_get(tool, "function");

    return json_string_value(json_object_get(fn != NULL ? fn : tool, "name"));
}

/* Decides whether the answer is a tool call, following docs/sim.md. */
static void sim_chat_tools(sim_plan_t *p, const json_t *body, const char *last_user)
{
    const json_t *tools = json_object_get(body, "tools");
    const json_t *choice = json_object_get(body, "tool_choice");
    const json_t *tool = NULL;
    const char *name = NULL;
    const json_t *props;

    if (!json_is_array(tools) || json_array_size(tools) == 0) {
        return;
    }
    if (json_is_string(choice) && strcmp(json_string_value(choice), "none") == 0) {
        return;
    }
    if (json_is_object(choice)) {
        const json_t *fn = json_object_get(choice, "function");

        name = json_string_value(json_object_get(fn != NULL ? fn : choice, "name"));
    }
    if (name != NULL) {
        size_t i;
        const json_t *t;

        json_array_foreach(tools, i, t)
        {
            const char *tn = sim_chat_tool_name(t);

            if (tn != NULL && strcmp(tn, name) == 0) {
                tool = t;
                break;
            }
        }
    } else if ((json_is_string(choice) && strcmp(json_string_value(choice), "required") == 0) ||
               strcasestr(last_user, "weather") != NULL) {
        tool = json_array_get(tools, 0);
        name = sim_chat_tool_name(tool);
    } else {
        return;
    }
    p->tool_name = name != NULL ? name : "tool";
    props = json_object_get(sim_chat_tool_params(tool), "properties");
    p->tool_args = json_object_get(props, "location") != NULL ? "{\"location\":\"Paris\"}" : "{}";
    sim_fmt(p->tool_id, sizeof(p->tool_id), "call_%016llx",
            (unsigned long long)sim_hash(p->seed, p->tool_name, strlen(p->tool_name)));
    p->finish = "tool_calls";
    p->completion_tokens = sim_tokens(strlen(p->tool_args)) + SIM_TOOL_TOKENS;
}

static bool sim_chat_json_mode(const json_t *body)
{
    const char *type =
        json_string_value(json_object_get(json_object_get(body, "response_format"), "type"));

    return type != NULL && (strcmp(type, "json_object") == 0 || strcmp(type, "json_schema") == 0);
}

/* ---- rendering ---- */

static json_t *sim_plan_usage(const sim_plan_t *p)
{
    return sim_openai_usage(p->prompt_tokens, p->completion_tokens * (long)p->nchoices,
                            p->r->fault.cached);
}

static json_t *sim_chat_tool_calls(const sim_plan_t *p, bool stream, bool with_args)
{
    json_t *call =
        json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", p->tool_id, "type", "function", "function", "name",
                  p->tool_name, "arguments", with_args ? p->tool_args : "");

    if (call != NULL && stream) {
        json_object_set_new(call, "index", json_integer(0));
    }
    return call != NULL ? json_pack("[o]", call) : NULL;
}

static json_t *sim_plan_full(const sim_plan_t *p)
{
    json_t *choices = json_array();
    char *text = p->tool_name == NULL ? sim_plan_text(p) : NULL;
    json_t *obj = NULL;

    if (choices == NULL || (p->tool_name == NULL && text == NULL)) {
        goto done;
    }
    for (size_t k = 0; k < p->nchoices; k++) {
        json_t *choice;

        if (!p->chat) {
            choice = json_pack("{s:s,s:I,s:n,s:s}", "text", text, "index", (json_int_t)k,
                               "logprobs", "finish_reason", p->finish);
        } else if (p->tool_name != NULL) {
            choice = json_pack("{s:I,s:{s:s,s:n,s:o,s:n},s:n,s:s}", "index", (json_int_t)k,
                               "message", "role", "assistant", "content", "tool_calls",
                               sim_chat_tool_calls(p, false, true), "refusal", "logprobs",
                               "finish_reason", p->finish);
        } else {
            choice = json_pack("{s:I,s:{s:s,s:s,s:n},s:n,s:s}", "index", (json_int_t)k, "message",
                               "role", "assistant", "content", text, "refusal", "logprobs",
                               "finish_reason", p->finish);
        }
        if (choice == NULL || json_array_append_new(choices, choice) != 0) {
            goto done;
        }
    }
    obj = json_pack("{s:s,s:s,s:I,s:s,s:s,s:O,s:o}", "id", p->id, "object",
                    p->chat ? "chat.completion" : "text_completion", "created", p->created, "model",
                    p->model, "system_fingerprint", "fp_sim", "choices", choices, "usage",
                    sim_plan_usage(p));

done:
    json_decref(choices);
    free(text);
    return obj;
}

/* One stream chunk; takes ownership of `choices`. */
static json_t *sim_plan_chunk(const sim_plan_t *p, json_t *choices)
{
    json_t *obj =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:o}", "id", p->id, "object",
                  p->chat ? "chat.completion.chunk" : "text_completion", "created", p->created,
                  "model", p->model, "system_fingerprint", "fp_sim", "choices", choices);

    if (obj != NULL && p->include_usage && json_object_set_new(obj, "usage", json_null()) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *sim_plan_delta(const sim_plan_t *p, size_t k, json_t *delta, const char *finish)
{
    if (!p->chat) {
        json_t *c = json_pack("{s:O,s:I,s:n,s:s?}", "text", json_object_get(delta, "text"), "index",
                              (json_int_t)k, "logprobs", "finish_reason", finish);

        json_decref(delta);
        return c;
    }
    return json_pack("{s:I,s:o,s:n,s:s?}", "index", (json_int_t)k, "delta", delta, "logprobs",
                     "finish_reason", finish);
}

static int sim_plan_emit(const sim_plan_t *p, sim_events_t *ev, json_t *delta, size_t k,
                         const char *finish, unsigned flags)
{
    json_t *choice;
    json_t *chunk;
    int rc;

    if (delta == NULL || (choice = sim_plan_delta(p, k, delta, finish)) == NULL) {
        return -1;
    }
    if ((chunk = sim_plan_chunk(p, json_pack("[o]", choice))) == NULL) {
        return -1;
    }
    rc = sim_events_add_json(ev, chunk, flags);
    json_decref(chunk);
    return rc;
}

static int sim_plan_events(const sim_plan_t *p, sim_events_t *ev)
{
    const char *key = p->chat ? "content" : "text";
    char piece[64];

    if (p->chat) {
        for (size_t k = 0; k < p->nchoices; k++) {
            json_t *d = p->tool_name != NULL
                            ? json_pack("{s:s,s:n,s:o}", "role", "assistant", "content",
                                        "tool_calls", sim_chat_tool_calls(p, true, false))
                            : json_pack("{s:s,s:s}", "role", "assistant", "content", "");
            if (sim_plan_emit(p, ev, d, k, NULL, 0) != 0) {
                return -1;
            }
        }
    }
    if (p->tool_name != NULL) {
        /* Argument fragments of 4 bytes: one per counted token of the arguments. */
        size_t alen = strlen(p->tool_args);

        for (size_t off = 0; off < alen; off += 4) {
            int n = snprintf(piece, sizeof(piece), "%.4s", p->tool_args + off);

            for (size_t k = 0; n > 0 && k < p->nchoices; k++) {
                json_t *d = json_pack("{s:[{s:i,s:{s:s}}]}", "tool_calls", "index", 0, "function",
                                      "arguments", piece);

                if (sim_plan_emit(p, ev, d, k, NULL, k == 0 && off > 0 ? SIM_EV_PACED : 0) != 0) {
                    return -1;
                }
            }
        }
    } else {
        for (size_t i = 0; i < p->ntok; i++) {
            sim_plan_piece(p, i, piece, sizeof(piece));
            for (size_t k = 0; k < p->nchoices; k++) {
                json_t *d = json_pack("{s:s}", key, piece);
                /* ttft covers the first token; pacing starts with the second. */
                if (sim_plan_emit(p, ev, d, k, NULL, k == 0 && i > 0 ? SIM_EV_PACED : 0) != 0) {
                    return -1;
                }
            }
        }
    }
    for (size_t k = 0; k < p->nchoices; k++) {
        json_t *d = p->chat ? json_object() : json_pack("{s:s}", "text", "");

        if (sim_plan_emit(p, ev, d, k, p->finish, 0) != 0) {
            return -1;
        }
    }
    if (p->include_usage) {
        json_t *chunk = sim_plan_chunk(p, json_array());
        int rc;

        if (chunk == NULL || json_object_set_new(chunk, "usage", sim_plan_usage(p)) != 0) {
            json_decref(chunk);
            return -1;
        }
        rc = sim_events_add_json(ev, chunk, 0);
        json_decref(chunk);
        if (rc != 0) {
            return -1;
        }
    }
    return sim_events_add_raw(ev, "data: [DONE]\n\n", 0);
}

static void sim_plan_reply(sim_plan_t *p)
{
    sim_req_t *r = p->r;

    if (!r->stream) {
        sim_reply_json(r, 200, sim_plan_full(p), NULL, NULL);
        return;
    }
    sim_events_t ev = {0};
    if (sim_plan_events(p, &ev) != 0) {
        sim_events_clear(&ev);
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    sim_reply_stream(r, &ev);
}

/* ---- handlers ---- */

void sim_openai_chat(sim_req_t *r)
{
    const json_t *messages = json_object_get(r->body, "messages");
    struct evbuffer *last = NULL;
    const char *last_text;
    sim_plan_t p = {0};

    if (r->model == NULL) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "you must provide a model parameter (a string)", "model", NULL);
        return;
    }
    if (!json_is_array(messages)) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "'messages' is a required property and must be an array", "messages", NULL);
        return;
    }
    if (sim_plan_common(&p, r, true) != 0) {
        return;
    }
    if ((last = evbuffer_new()) == NULL) {
        goto oom;
    }
    if (sim_chat_prompt(&p, messages, last) != 0) {
        sim_reply_error(r, 400, "invalid_request_error", "each message must be an object",
                        "messages", NULL);
        goto done;
    }
    /* NUL-terminate the last user text so it can be searched for "weather". */
    if (evbuffer_add(last, "", 1) != 0 ||
        (last_text = (const char *)evbuffer_pullup(last, -1)) == NULL) {
        goto oom;
    }
    p.seed = sim_hash(sim_hash(SIM_HASH_INIT, r->model, strlen(r->model)), "\n", 1);
    p.seed = sim_hash(p.seed, last_text, evbuffer_get_length(last) - 1);
    p.json_mode = sim_chat_json_mode(r->body);
    p.completion_tokens = (long)p.ntok;
    sim_chat_tools(&p, r->body, last_text);
    sim_plan_reply(&p);
    goto done;

oom:
    fprintf(stderr, "tollgate-sim: %s: out of memory\n", r->rid);
    sim_reply_json(r, 500, NULL, NULL, NULL);
done:
    if (last != NULL) {
        evbuffer_free(last);
    }
}

/* Counts a legacy prompt: strings by the usual rule, token ids one each. */
static long sim_completion_prompt(const json_t *prompt, const char **last)
{
    size_t i;
    const json_t *item;
    long tokens = 0;

    if (json_is_string(prompt)) {
        *last = json_string_value(prompt);
        return sim_tokens(json_string_length(prompt));
    }
    if (json_is_integer(prompt)) {
        return 1;
    }
    json_array_foreach(prompt, i, item)
    {
        tokens += sim_completion_prompt(item, last);
    }
    return tokens;
}

void sim_openai_completions(sim_req_t *r)
{
    const json_t *prompt = json_object_get(r->body, "prompt");
    const char *last = "";
    sim_plan_t p = {0};

    if (r->model == NULL) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "you must provide a model parameter (a string)", "model", NULL);
        return;
    }
    if (!json_is_string(prompt) && !json_is_array(prompt)) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "'prompt' is a required property (a string or an array of strings)",
                        "prompt", NULL);
        return;
    }
    if (sim_plan_common(&p, r, false) != 0) {
        return;
    }
    p.prompt_tokens = sim_completion_prompt(prompt, &last);
    p.seed = sim_hash(sim_hash(SIM_HASH_INIT, r->model, strlen(r->model)), "\n", 1);
    p.seed = sim_hash(p.seed, last, strlen(last));
    p.completion_tokens = (long)p.ntok;
    sim_plan_reply(&p);
}
