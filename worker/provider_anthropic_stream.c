/*
 * The Anthropic Messages adapter, answer side: a whole Anthropic message becomes an OpenAI
 * chat.completion, and Anthropic's typed stream events (message_start, content_block_*,
 * message_delta, message_stop, ping, error) become OpenAI chat.completion.chunk events ending in
 * "data: [DONE]" (written by provider_chunk.c). Token usage is read from both and reported for
 * metering.
 */
#include "worker/provider.h"
#include "worker/provider_chunk.h"
#include "worker/provider_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Declared here for provider_anthropic.c, which holds the adapter's vtable. */
int tg_anthropic_response(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                          tg_usage_t *usage, tg_buf_t *out);
tg_event_action_t tg_anthropic_event(tg_stream_state_t *st, const char *event, const char *data,
                                     size_t datalen, const char *raw, size_t rawlen, tg_buf_t *out);
void tg_anthropic_stream_free(tg_stream_state_t *st);

/* Anthropic's token counts, as last reported (they are cumulative, never summed). */
typedef struct {
    int64_t input, output, cache_read, cache_write;
} tg_anthropic_usage_t;

/* Read the counts present in an Anthropic usage object into u; absent ones stay as they were. */
static void tg_anthropic_usage_read(json_t *usage, tg_anthropic_usage_t *u)
{
    json_t *v;

    if (json_is_integer(v = json_object_get(usage, "input_tokens")))
        u->input = json_integer_value(v);
    if (json_is_integer(v = json_object_get(usage, "output_tokens")))
        u->output = json_integer_value(v);
    if (json_is_integer(v = json_object_get(usage, "cache_read_input_tokens")))
        u->cache_read = json_integer_value(v);
    if (json_is_integer(v = json_object_get(usage, "cache_creation_input_tokens")))
        u->cache_write = json_integer_value(v);
}

/*
 * OpenAI counts every prompt token, cached or not, in prompt_tokens; Anthropic splits input into
 * uncached, cache reads and cache writes.
 */
static void tg_anthropic_usage_fill(const tg_anthropic_usage_t *a, tg_usage_t *u)
{
    memset(u, 0, sizeof(*u));
    u->prompt = a->input + a->cache_read + a->cache_write;
    u->completion = a->output;
    u->cached = a->cache_read;
    u->cache_write = a->cache_write;
    u->reported = 1;
}

/* Anthropic's stop_reason as OpenAI's finish_reason (NULL while there is none). */
static const char *tg_anthropic_finish(json_t *stop_reason)
{
    const char *s = json_string_value(stop_reason);

    if (s == NULL)
        return NULL;
    if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(s, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(s, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

/* "chatcmpl-" + Anthropic's message id: OpenAI clients expect that prefix. */
static json_t *tg_anthropic_id(json_t *msg_id)
{
    const char *id = json_string_value(msg_id);

    return json_sprintf("chatcmpl-%s", id != NULL ? id : "");
}

/* ---- whole answers -------------------------------------------------------------------------- */

int tg_anthropic_response(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                          tg_usage_t *usage, tg_buf_t *out)
{
    json_t *root, *content, *blk, *calls = NULL, *model;
    tg_anthropic_usage_t au = {0};
    tg_buf_t text = {0}, args = {0};
    int has_text = 0, rc = -1;
    size_t i;

    memset(usage, 0, sizeof(*usage));
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root))
        goto done;
    if (json_is_object(json_object_get(root, "usage"))) {
        tg_anthropic_usage_read(json_object_get(root, "usage"), &au);
        tg_anthropic_usage_fill(&au, usage);
    }
    content = json_object_get(root, "content");
    if (!json_is_array(content) || (calls = json_array()) == NULL)
        goto done;
    json_array_foreach(content, i, blk)
    {
        json_t *type = json_object_get(blk, "type");
        const char *t = json_string_value(type);

        if (t != NULL && strcmp(t, "text") == 0) {
            json_t *s = json_object_get(blk, "text");
            if (tg_buf_append(&text, json_string_value(s), json_string_length(s)) == -1)
                goto done;
            has_text = 1;
        } else if (t != NULL && strcmp(t, "tool_use") == 0) {
            json_t *input = json_object_get(blk, "input");
            tg_buf_reset(&args);
            if ((input != NULL ? tg_provider_dump(input, &args) : tg_buf_append(&args, "{}", 2)) ||
                json_array_append_new(calls,
                                      json_pack("{s:O,s:s,s:{s:O,s:s#}}", "id",
                                                json_object_get(blk, "id"), "type", "function",
                                                "function", "name", json_object_get(blk, "name"),
                                                "arguments", args.data, (int)args.len)) == -1)
                goto done;
        }
        /* thinking and redacted_thinking blocks have no place in a chat.completion */
    }
    model = json_object_get(root, "model");
    rc = tg_provider_completion(
        tg_anthropic_id(json_object_get(root, "id")),
        json_is_string(model) ? json_string_value(model) : m->upstream_model,
        has_text ? &text : NULL, calls, tg_anthropic_finish(json_object_get(root, "stop_reason")),
        usage->reported ? tg_provider_usage_json(usage) : NULL, out);
done:
    if (rc == -1) {
        tg_buf_reset(out);
        rc = -2; /* an answer we cannot read is unusable, not merely without usage */
    }
    json_decref(calls);
    json_decref(root);
    tg_buf_free(&text);
    tg_buf_free(&args);
    (void)ep; /* only chat reaches this adapter: prepare refuses the others */
    return rc;
}

/* ---- errors --------------------------------------------------------------------------------- */

/*
 * Anthropic's error object {"type": ..., "message": ...} as OpenAI's error object. The types
 * follow the gateway's own mapping of upstream statuses (worker/errors.c).
 */
static json_t *tg_anthropic_error_json(json_t *err);

int tg_anthropic_error(const tg_xfer_t *x, const char *body, size_t len, tg_buf_t *out)
{
    (void)x; /* the body says it all */
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL), *e = NULL;
    int rc = -1;

    if (json_is_object(json_object_get(root, "error")) &&
        (e = tg_anthropic_error_json(json_object_get(root, "error"))) != NULL)
        rc = tg_provider_dump(e, out) == 0 ? 0 : -1;
    json_decref(e);
    json_decref(root);
    return rc;
}

static json_t *tg_anthropic_error_json(json_t *err)
{
    static const struct {
        const char *anthropic, *type, *code;
    } map[] = {
        {"invalid_request_error", "invalid_request_error", NULL},
        {"not_found_error", "invalid_request_error", "upstream_not_found"},
        {"request_too_large", "invalid_request_error", "request_too_large"},
        {"rate_limit_error", "rate_limit_error", "rate_limit_exceeded"},
        {"overloaded_error", "server_error", "upstream_overloaded"},
        {"timeout_error", "server_error", "upstream_timeout"},
        {"authentication_error", "server_error", "upstream_auth_failed"},
        {"permission_error", "server_error", "upstream_auth_failed"},
        {"billing_error", "server_error", "upstream_auth_failed"},
    };
    const char *t = json_string_value(json_object_get(err, "type"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *type = "server_error", *code = "upstream_error";

    for (size_t i = 0; t != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(t, map[i].anthropic) == 0) {
            type = map[i].type;
            code = map[i].code;
            break;
        }
    }
    return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message",
                     msg != NULL ? msg : "The provider reported an error.", "type", type, "param",
                     "code", code);
}

/* ---- streams -------------------------------------------------------------------------------- */

typedef struct {
    tg_chunker_t ch; /* the chunk writer: prefix and tool call numbering */
    tg_anthropic_usage_t usage;
    int final;    /* message_delta gave the final output count */
    int finished; /* the finish_reason chunk went out */
} tg_anthropic_stream_t;

void tg_anthropic_stream_free(tg_stream_state_t *st)
{
    tg_anthropic_stream_t *s = st->priv;

    if (s == NULL)
        return;
    tg_chunker_free(&s->ch);
    free(s);
    st->priv = NULL;
}

/* The chunk prefix, from message_start (or empty fields if the stream lacks one). */
static int tg_anthropic_prefix(tg_anthropic_stream_t *s, json_t *msg)
{
    json_t *id = json_object_get(msg, "id"), *model = json_object_get(msg, "model");

    return tg_chunker_start(&s->ch, json_string_value(id), json_string_length(id),
                            json_string_value(model), json_string_length(model));
}

/* Report usage so far. Until message_delta's final count, output is at least what was seen. */
static void tg_anthropic_stream_usage(tg_stream_state_t *st, const tg_anthropic_stream_t *s)
{
    int64_t est = (st->content_bytes + 3) / 4;

    tg_anthropic_usage_fill(&s->usage, &st->usage);
    if (!s->final && est > st->usage.completion)
        st->usage.completion = est;
}

/* content_block_start: a tool_use block opens a tool call; text may start with some text. */
static int tg_anthropic_block_start(tg_anthropic_stream_t *s, json_t *root, tg_buf_t *out)
{
    json_t *index = json_object_get(root, "index"), *cb = json_object_get(root, "content_block");
    json_t *type = json_object_get(cb, "type"), *id, *name, *text;

    if (json_is_string(type) && strcmp(json_string_value(type), "text") == 0) {
        text = json_object_get(cb, "text");
        return json_string_length(text) > 0
                   ? tg_chunk_text(&s->ch, out, json_string_value(text), json_string_length(text))
                   : 0;
    }
    if (!json_is_string(type) || strcmp(json_string_value(type), "tool_use") != 0 ||
        !json_is_integer(index))
        return 0; /* thinking, server tools, ...: nothing for an OpenAI client */
    id = json_object_get(cb, "id");
    name = json_object_get(cb, "name");
    return tg_chunk_tool_start(&s->ch, out, json_integer_value(index), json_string_value(id),
                               json_string_length(id), json_string_value(name),
                               json_string_length(name));
}

/* content_block_delta: text, or a fragment of a tool call's arguments. */
static int tg_anthropic_block_delta(tg_stream_state_t *st, tg_anthropic_stream_t *s, json_t *root,
                                    tg_buf_t *out)
{
    json_t *delta = json_object_get(root, "delta"), *index = json_object_get(root, "index");
    const char *type = json_string_value(json_object_get(delta, "type"));
    json_t *v;

    if (type == NULL)
        return 0;
    if (strcmp(type, "text_delta") == 0) {
        v = json_object_get(delta, "text");
        st->content_bytes += (int64_t)json_string_length(v);
        return json_string_length(v) > 0
                   ? tg_chunk_text(&s->ch, out, json_string_value(v), json_string_length(v))
                   : 0;
    }
    if (strcmp(type, "input_json_delta") != 0)
        return 0; /* thinking_delta, signature_delta, citations_delta */
    v = json_object_get(delta, "partial_json");
    st->content_bytes += (int64_t)json_string_length(v);
    if (!json_is_integer(index))
        return 0;
    return tg_chunk_tool_args(&s->ch, out, json_integer_value(index), json_string_value(v),
                              json_string_length(v));
}

/* message_stop: the usage chunk if the client asked for it, then the terminator. */
static int tg_anthropic_stop(const tg_stream_state_t *st, const tg_anthropic_stream_t *s,
                             tg_buf_t *out)
{
    json_t *u =
        st->client_wants_usage && st->usage.reported ? tg_provider_usage_json(&st->usage) : NULL;
    int rc =
        (u == NULL && st->client_wants_usage && st->usage.reported) || tg_chunk_end(&s->ch, out, u);

    json_decref(u);
    return rc ? -1 : 0;
}

tg_event_action_t tg_anthropic_event(tg_stream_state_t *st, const char *event, const char *data,
                                     size_t datalen, const char *raw, size_t rawlen, tg_buf_t *out)
{
    tg_anthropic_stream_t *s = st->priv;
    tg_event_action_t action = TG_EVENT_FORWARD;
    json_t *root, *v;
    const char *type;
    int rc = 0;

    (void)raw, (void)rawlen; /* nothing goes through untranslated */
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return TG_EVENT_DROP;
        st->priv = s;
    }
    root = json_loadb(data, datalen, JSON_ALLOW_NUL, NULL);
    /* every event names its type in both the event: line and the data's "type" */
    type = json_string_value(json_object_get(root, "type"));
    if (type == NULL)
        type = event != NULL ? event : "";
    if (root == NULL && strcmp(type, "error") != 0)
        return TG_EVENT_DROP;
    if (!tg_chunker_started(&s->ch) && strcmp(type, "message_start") != 0 &&
        tg_anthropic_prefix(s, NULL) == -1) {
        json_decref(root);
        return TG_EVENT_DROP; /* out of memory */
    }
    if (strcmp(type, "message_start") == 0) {
        v = json_object_get(root, "message");
        tg_anthropic_usage_read(json_object_get(v, "usage"), &s->usage);
        tg_anthropic_stream_usage(st, s);
        rc = tg_anthropic_prefix(s, v) == -1 || tg_chunk_role(&s->ch, out) == -1 ? -1 : 0;
    } else if (strcmp(type, "content_block_start") == 0) {
        rc = tg_anthropic_block_start(s, root, out);
    } else if (strcmp(type, "content_block_delta") == 0) {
        rc = tg_anthropic_block_delta(st, s, root, out);
        if (tg_chunker_started(&s->ch) && st->usage.reported)
            tg_anthropic_stream_usage(st, s);
    } else if (strcmp(type, "message_delta") == 0) {
        const char *finish =
            tg_anthropic_finish(json_object_get(json_object_get(root, "delta"), "stop_reason"));

        /* usage here is cumulative: it replaces what was known, and output becomes exact */
        v = json_object_get(root, "usage");
        tg_anthropic_usage_read(v, &s->usage);
        if (json_is_integer(json_object_get(v, "output_tokens")))
            s->final = 1;
        tg_anthropic_stream_usage(st, s);
        if (finish != NULL && !s->finished) {
            s->finished = 1;
            rc = tg_chunk_finish(&s->ch, out, finish);
        }
    } else if (strcmp(type, "message_stop") == 0) {
        rc = tg_anthropic_stop(st, s, out);
        action = TG_EVENT_DONE;
    } else if (strcmp(type, "error") == 0) {
        json_t *e = tg_anthropic_error_json(json_object_get(root, "error"));

        rc = tg_chunk_event(out, e);
        json_decref(e);
    }
    /* ping, content_block_stop and event types added later: nothing to send */
    json_decref(root);
    if (rc == -1) {
        tg_buf_reset(out);
        return action == TG_EVENT_DONE ? TG_EVENT_DONE : TG_EVENT_DROP;
    }
    if (out->len == 0 && action == TG_EVENT_FORWARD)
        action = TG_EVENT_DROP;
    return action;
}
