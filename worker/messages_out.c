/*
 * The answer side of /v1/messages (see messages.h): a canonical chat.completion becomes an
 * Anthropic message, and a canonical chunk stream becomes Anthropic's typed events as the chunks
 * arrive — message_start, content blocks opened, filled and closed in order, message_delta with
 * the stop reason and the billed usage, message_stop. The Anthropic adapter's answer side
 * (provider_anthropic_stream.c) is the same mapping in the other direction.
 */
#include "worker/messages.h"
#include "shared/tg_sse.h"
#include "worker/errors.h"
#include "worker/provider_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_messages_id(const char *request_id, char *id, size_t size)
{
    /* "req_<hex>" gives "msg_<hex>"; a client's own request id is kept whole */
    if (strncmp(request_id, "req_", 4) == 0)
        request_id += 4;
    snprintf(id, size, "msg_%s", request_id);
}

/* OpenAI's finish_reason as Anthropic's stop_reason. tools: the answer calls tools. */
static const char *tg_mout_stop_reason(const char *finish, int tools)
{
    if (finish == NULL)
        return tools ? "tool_use" : "end_turn";
    if (strcmp(finish, "length") == 0)
        return "max_tokens";
    if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish, "content_filter") == 0)
        return "refusal";
    /* "stop" (and anything new): some providers say stop after tool calls */
    return tools ? "tool_use" : "end_turn";
}

/*
 * Anthropic's usage object: input_tokens excludes cache reads (OpenAI's prompt_tokens includes
 * them). The canonical usage does not separate cache writes, so they are part of input_tokens.
 */
static json_t *tg_mout_usage(const tg_usage_t *u)
{
    tg_usage_t zero = {0};

    if (u == NULL)
        u = &zero;
    return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)(u->prompt - u->cached),
                     "cache_creation_input_tokens", (json_int_t)0, "cache_read_input_tokens",
                     (json_int_t)u->cached, "output_tokens", (json_int_t)u->completion);
}

/*
 * A tool call's arguments as the tool_use input object. Anthropic's input is always an object;
 * arguments that are not one (a model's malformed JSON) become {}.
 */
static json_t *tg_mout_input(json_t *arguments)
{
    json_t *in = NULL;

    if (json_is_string(arguments) && json_string_length(arguments) > 0)
        in = json_loadb(json_string_value(arguments), json_string_length(arguments), 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        in = json_object();
    }
    return in;
}

/* The text of a message content: a string, or the text parts of an array joined. */
static int tg_mout_text(json_t *content, tg_buf_t *text)
{
    json_t *part;
    size_t i;

    if (json_is_string(content))
        return tg_buf_append(text, json_string_value(content), json_string_length(content));
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (json_is_string(t) && tg_buf_append(text, json_string_value(t), json_string_length(t)))
            return -1;
    }
    return 0;
}

/* The content blocks of a chat.completion message: its text (or refusal), then its calls. */
static json_t *tg_mout_blocks(json_t *msg)
{
    json_t *blocks = json_array(), *calls = json_object_get(msg, "tool_calls"), *call;
    json_t *refusal = json_object_get(msg, "refusal");
    tg_buf_t text = {0};
    size_t i;

    if (blocks == NULL || tg_mout_text(json_object_get(msg, "content"), &text) == -1 ||
        (text.len == 0 && json_is_string(refusal) && tg_mout_text(refusal, &text) == -1))
        goto fail;
    if (text.len > 0 &&
        json_array_append_new(blocks, json_pack("{s:s,s:s#}", "type", "text", "text", text.data,
                                                (int)text.len)) == -1)
        goto fail;
    json_array_foreach(calls, i, call)
    {
        json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
        json_t *name = json_object_get(fn, "name");

        if (json_array_append_new(
                blocks, json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id",
                                  json_is_string(id) ? json_string_value(id) : "", "name",
                                  json_is_string(name) ? json_string_value(name) : "", "input",
                                  tg_mout_input(json_object_get(fn, "arguments")))))
            goto fail;
    }
    tg_buf_free(&text);
    return blocks;
fail:
    tg_buf_free(&text);
    json_decref(blocks);
    return NULL;
}

int tg_messages_answer(const char *body, size_t len, const char *id, const char *model,
                       const tg_usage_t *u, tg_buf_t *out)
{
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL), *choice, *msg, *blocks, *res;
    const char *finish;
    int rc = -1, tools;

    choice = json_array_get(json_object_get(root, "choices"), 0);
    msg = json_object_get(choice, "message");
    if (!json_is_object(msg) || (blocks = tg_mout_blocks(msg)) == NULL)
        goto done;
    finish = json_string_value(json_object_get(choice, "finish_reason"));
    tools = json_array_size(json_object_get(msg, "tool_calls")) > 0;
    res = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:o}", "id", id, "type", "message", "role",
                    "assistant", "model", model, "content", blocks, "stop_reason",
                    tg_mout_stop_reason(finish, tools), "stop_sequence", "usage", tg_mout_usage(u));
    rc = res != NULL && tg_provider_dump(res, out) == 0 ? 0 : -1;
    json_decref(res);
done:
    json_decref(root);
    if (rc == -1)
        tg_buf_reset(out);
    return rc;
}

/* ---- streams -----------------------------------------------------------------------------------
 */

#define TG_MOUT_MAX_TOOLS 4096 /* tool calls of one answer we track; far above real answers */

enum { TG_BLOCK_NONE, TG_BLOCK_TEXT, TG_BLOCK_TOOL };

struct tg_messages_stream_s {
    char id[TG_MESSAGES_ID_MAX];
    char *model;
    tg_sse_t sse;
    int started;             /* message_start sent */
    int ended;               /* message_stop or error sent: the rest is ignored */
    int open;                /* the open block's kind (TG_BLOCK_*) */
    int block;               /* the open block's index */
    int nblocks;             /* blocks opened so far: the next one's index */
    int *tool_block;         /* OpenAI tool call index -> block index, -1 before it opens */
    int ntools;              /* entries in tool_block */
    int tools;               /* a tool_use block was opened */
    const char *finish;      /* the finish_reason seen, as a static string */
    const tg_usage_t *usage; /* for the feed call under way */
    tg_buf_t *out;           /* for the feed call under way */
    int oom;
};

tg_messages_stream_t *tg_messages_stream_new(const char *id, const char *model)
{
    tg_messages_stream_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    snprintf(s->id, sizeof(s->id), "%s", id);
    if ((s->model = strdup(model)) == NULL) {
        free(s);
        return NULL;
    }
    tg_sse_init(&s->sse);
    return s;
}

void tg_messages_stream_free(tg_messages_stream_t *s)
{
    if (s == NULL)
        return;
    tg_sse_free(&s->sse);
    free(s->tool_block);
    free(s->model);
    free(s);
}

int tg_messages_stream_ended(const tg_messages_stream_t *s)
{
    return s->ended;
}

/* Write one event: "event: <type>\ndata: <json>\n\n" (steals data). */
static void tg_mout_event(tg_messages_stream_t *s, const char *type, json_t *data)
{
    tg_buf_t *out = s->out;

    if (data == NULL || tg_buf_append(out, "event: ", 7) == -1 ||
        tg_buf_append(out, type, strlen(type)) == -1 || tg_buf_append(out, "\ndata: ", 7) == -1 ||
        tg_provider_dump(data, out) == -1 || tg_buf_append(out, "\n\n", 2) == -1)
        s->oom = 1;
    json_decref(data);
}

/* message_start, once: the message without content; usage as far as it is known. */
static void tg_mout_start(tg_messages_stream_t *s)
{
    const tg_usage_t *u = s->usage != NULL && s->usage->reported ? s->usage : NULL;
    json_t *usage;

    if (s->started)
        return;
    s->started = 1;
    usage = tg_mout_usage(u);
    tg_mout_event(s, "message_start",
                  json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:o}}", "type", "message_start",
                            "message", "id", s->id, "type", "message", "role", "assistant", "model",
                            s->model, "content", "stop_reason", "stop_sequence", "usage", usage));
}

static void tg_mout_close(tg_messages_stream_t *s)
{
    if (s->open == TG_BLOCK_NONE)
        return;
    tg_mout_event(s, "content_block_stop",
                  json_pack("{s:s,s:i}", "type", "content_block_stop", "index", s->block));
    s->open = TG_BLOCK_NONE;
}

/* Open the next block (closing the open one): content_block starts it. Returns its index. */
static int tg_mout_open(tg_messages_stream_t *s, int kind, json_t *content_block)
{
    tg_mout_close(s);
    s->open = kind;
    s->block = s->nblocks++;
    tg_mout_event(s, "content_block_start",
                  json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", s->block,
                            "content_block", content_block));
    return s->block;
}

static void tg_mout_delta(tg_messages_stream_t *s, int index, json_t *delta)
{
    tg_mout_event(
        s, "content_block_delta",
        json_pack("{s:s,s:i,s:o}", "type", "content_block_delta", "index", index, "delta", delta));
}

/* Text (content or refusal) goes to the open text block, or to a new one after other blocks. */
static void tg_mout_text_delta(tg_messages_stream_t *s, json_t *text)
{
    if (json_string_length(text) == 0)
        return;
    if (s->open != TG_BLOCK_TEXT)
        tg_mout_open(s, TG_BLOCK_TEXT, json_pack("{s:s,s:s}", "type", "text", "text", ""));
    tg_mout_delta(s, s->block, json_pack("{s:s,s:O}", "type", "text_delta", "text", text));
}

/* The block of OpenAI tool call i, growing the map; -1 when out of range or memory. */
static int *tg_mout_tool_slot(tg_messages_stream_t *s, json_int_t i)
{
    if (i < 0 || i >= TG_MOUT_MAX_TOOLS)
        return NULL;
    if (i >= s->ntools) {
        int *nm = realloc(s->tool_block, (size_t)(i + 1) * sizeof(*nm));
        if (nm == NULL) {
            s->oom = 1;
            return NULL;
        }
        for (json_int_t k = s->ntools; k <= i; k++)
            nm[k] = -1;
        s->tool_block = nm;
        s->ntools = (int)i + 1;
    }
    return &s->tool_block[i];
}

/*
 * One tool_calls entry. A call seen for the first time opens a tool_use block (closing the
 * open one, as calls arrive one after another); its argument fragments are input_json_delta
 * events addressed to its block by index, which is also where a fragment of an earlier call
 * would go if a provider interleaved them.
 */
static void tg_mout_tool_delta(tg_messages_stream_t *s, json_t *tc, size_t pos)
{
    json_t *idx = json_object_get(tc, "index"), *fn = json_object_get(tc, "function");
    json_t *id = json_object_get(tc, "id"), *name = json_object_get(fn, "name");
    json_t *args = json_object_get(fn, "arguments");
    int *slot =
        tg_mout_tool_slot(s, json_is_integer(idx) ? json_integer_value(idx) : (json_int_t)pos);

    if (slot == NULL)
        return;
    if (*slot == -1) {
        json_t *cb = json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_use", "id",
                               json_is_string(id) ? json_string_value(id) : "", "name",
                               json_is_string(name) ? json_string_value(name) : "", "input");
        if (cb != NULL && !json_is_string(id)) /* a provider that sends no id: make one */
            json_object_set_new(cb, "id", json_sprintf("toolu_%s_%d", s->id, s->ntools));
        *slot = tg_mout_open(s, TG_BLOCK_TOOL, cb);
        s->tools = 1;
    }
    if (json_string_length(args) > 0)
        tg_mout_delta(s, *slot,
                      json_pack("{s:s,s:O}", "type", "input_json_delta", "partial_json", args));
}

/* One chat.completion.chunk: its first choice's delta and finish_reason. */
static void tg_mout_chunk(tg_messages_stream_t *s, json_t *chunk)
{
    json_t *choices = json_object_get(chunk, "choices"), *choice = NULL, *c, *delta, *tc;
    const char *finish;
    size_t i;

    json_array_foreach(choices, i, c)
    {
        if (json_integer_value(json_object_get(c, "index")) == 0) {
            choice = c;
            break;
        }
    }
    tg_mout_start(s);
    if (choice == NULL)
        return; /* the usage chunk: usage comes from the caller, as billed */
    delta = json_object_get(choice, "delta");
    tg_mout_text_delta(s, json_object_get(delta, "content"));
    tg_mout_text_delta(s, json_object_get(delta, "refusal"));
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
    {
        tg_mout_tool_delta(s, tc, i);
    }
    finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish != NULL)
        s->finish = tg_mout_stop_reason(finish, 0);
}

/* The terminator: close the last block, then the stop reason, the billed usage, message_stop. */
static void tg_mout_finish(tg_messages_stream_t *s)
{
    const char *stop = s->finish != NULL ? s->finish : "end_turn";

    tg_mout_start(s);
    tg_mout_close(s);
    if (s->tools && strcmp(stop, "end_turn") == 0)
        stop = "tool_use"; /* some providers say stop after tool calls */
    tg_mout_event(s, "message_delta",
                  json_pack("{s:s,s:{s:s,s:n},s:o}", "type", "message_delta", "delta",
                            "stop_reason", stop, "stop_sequence", "usage",
                            tg_mout_usage(s->usage)));
    tg_mout_event(s, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    s->ended = 1;
}

/* An OpenAI error event ({"error":{...}}) as Anthropic's error event; the stream ends there. */
static void tg_mout_error(tg_messages_stream_t *s, json_t *err)
{
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *code = json_string_value(json_object_get(err, "code"));

    tg_mout_event(s, "error",
                  json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type",
                            tg_anthropic_error_type(0, type, code), "message",
                            msg != NULL ? msg : "The provider reported an error."));
    s->ended = 1;
}

/* tg_sse_cb: one canonical event. */
static int tg_mout_sse(void *arg, const char *event, const char *data, size_t datalen,
                       const char *raw, size_t rawlen)
{
    tg_messages_stream_t *s = arg;
    json_t *root, *err;

    (void)event, (void)raw, (void)rawlen;
    if (s->ended)
        return 0;
    if (datalen == 6 && memcmp(data, "[DONE]", 6) == 0) {
        tg_mout_finish(s);
        return 0;
    }
    if ((root = json_loadb(data, datalen, JSON_ALLOW_NUL, NULL)) == NULL)
        return 0; /* not JSON: nothing an Anthropic client could use */
    if (json_is_object(err = json_object_get(root, "error")))
        tg_mout_error(s, err);
    else
        tg_mout_chunk(s, root);
    json_decref(root);
    return 0;
}

int tg_messages_stream_feed(tg_messages_stream_t *s, const char *sse, size_t len,
                            const tg_usage_t *usage, tg_buf_t *out)
{
    int rc;

    s->usage = usage;
    s->out = out;
    s->oom = 0;
    rc = tg_sse_feed(&s->sse, sse, len, tg_mout_sse, s);
    s->usage = NULL;
    s->out = NULL;
    return rc == -1 || s->oom ? -1 : 0;
}
