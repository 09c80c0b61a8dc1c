/*
 * The answer side of /v1/messages (see messages.h): a canonical chat.completion becomes an
 * Anthropic message, and a canonical chunk stream becomes Anthropic's typed events as the chunks
 * arrive — message_start, content blocks opened, filled and closed in order, message_delta with
 * the stop reason and the billed usage, message_stop. The Anthropic adapter's answer side
 * (provider_anthropic_stream.c) is the same mapping in the other direction.
 */
#include "worker/messages.h"
#include "shared/tg_json_scan.h"
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
 * Anthropic's usage object: input_tokens excludes cache reads and cache writes, which
 * OpenAI's prompt_tokens (and the canonical usage's prompt) include.
 */
static json_t *tg_mout_usage(const tg_usage_t *u)
{
    tg_usage_t zero = {0};

    if (u == NULL)
        u = &zero;
    return json_pack(
        "{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)(u->prompt - u->cached - u->cache_write),
        "cache_creation_input_tokens", (json_int_t)u->cache_write, "cache_read_input_tokens",
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
    json_t *root = NULL, *choice, *msg, *blocks, *res;
    tg_jspan_t span;
    tg_jfield_t f = {"choices", &span};
    tg_jscan_t scan;
    const char *finish;
    int rc = -1, tools;

    /* only the choices are needed (usage is the billed one): skip building the rest */
    if (tg_json_scan(body, len, &f, 1, &scan) == -1 || span.type != TG_JT_ARRAY)
        goto done;
    root = json_loadb(body + span.off, span.len, JSON_ALLOW_NUL, NULL);
    choice = json_array_get(root, 0);
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

/* ---- streams -------------------------------------------------------------------------------- */

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
    const char *finish;      /* the stop reason the finish_reason seen maps to (static) */
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

/*
 * Events are written directly, not through a DOM: they are small and fixed in shape, and the
 * per-token ones run once per chunk of every stream. Each writer sets s->oom on failure.
 */
#define TG_LIT(b, str) tg_buf_append(b, str, sizeof(str) - 1)

static void tg_mout_put(tg_messages_stream_t *s, const char *str, size_t len)
{
    if (tg_buf_append(s->out, str, len) == -1)
        s->oom = 1;
}

#define TG_PUT(s, lit) tg_mout_put(s, lit, sizeof(lit) - 1)

/* A non-negative integer, without printf. */
static void tg_mout_int(tg_messages_stream_t *s, int64_t v)
{
    char num[24];

    tg_mout_put(s, num, tg_fmt_int(num, v < 0 ? 0 : v));
}

static void tg_mout_str(tg_messages_stream_t *s, const char *str, size_t len)
{
    if (tg_provider_json_str(s->out, str, len) == -1)
        s->oom = 1;
}

/* Anthropic's usage object for u (zeros for NULL), as tg_mout_usage builds it. */
static void tg_mout_usage_put(tg_messages_stream_t *s, const tg_usage_t *u)
{
    tg_usage_t zero = {0};

    if (u == NULL)
        u = &zero;
    TG_PUT(s, "{\"input_tokens\":");
    tg_mout_int(s, u->prompt - u->cached - u->cache_write);
    TG_PUT(s, ",\"cache_creation_input_tokens\":");
    tg_mout_int(s, u->cache_write);
    TG_PUT(s, ",\"cache_read_input_tokens\":");
    tg_mout_int(s, u->cached);
    TG_PUT(s, ",\"output_tokens\":");
    tg_mout_int(s, u->completion);
    TG_PUT(s, "}");
}

/* message_start, once: the message without content; usage as far as it is known. */
static void tg_mout_start(tg_messages_stream_t *s)
{
    if (s->started)
        return;
    s->started = 1;
    TG_PUT(s, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":");
    tg_mout_str(s, s->id, strlen(s->id));
    TG_PUT(s, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    tg_mout_str(s, s->model, strlen(s->model));
    TG_PUT(s, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    tg_mout_usage_put(s, s->usage != NULL && s->usage->reported ? s->usage : NULL);
    TG_PUT(s, "}}\n\n");
}

/* The head of a content block event up to its index: "event: <type>\ndata: {...,"index":N */
static void tg_mout_block_head(tg_messages_stream_t *s, const char *type, int index)
{
    TG_PUT(s, "event: ");
    tg_mout_put(s, type, strlen(type));
    TG_PUT(s, "\ndata: {\"type\":\"");
    tg_mout_put(s, type, strlen(type));
    TG_PUT(s, "\",\"index\":");
    tg_mout_int(s, index);
}

static void tg_mout_close(tg_messages_stream_t *s)
{
    if (s->open == TG_BLOCK_NONE)
        return;
    tg_mout_block_head(s, "content_block_stop", s->block);
    TG_PUT(s, "}\n\n");
    s->open = TG_BLOCK_NONE;
}

/*
 * Open the next block (closing the open one). A tool_use block names its call (id, name);
 * a text block starts empty. Returns its index.
 */
static int tg_mout_open(tg_messages_stream_t *s, int kind, json_t *id, json_t *name)
{
    tg_mout_close(s);
    s->open = kind;
    s->block = s->nblocks++;
    tg_mout_block_head(s, "content_block_start", s->block);
    if (kind == TG_BLOCK_TEXT) {
        TG_PUT(s, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        return s->block;
    }
    TG_PUT(s, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
    if (json_is_string(id)) {
        tg_mout_str(s, json_string_value(id), json_string_length(id));
    } else { /* a provider that sends no id: make one */
        TG_PUT(s, "\"toolu_");
        tg_mout_put(s, s->id, strlen(s->id));
        TG_PUT(s, "_");
        tg_mout_int(s, s->block);
        TG_PUT(s, "\"");
    }
    TG_PUT(s, ",\"name\":");
    tg_mout_str(s, json_is_string(name) ? json_string_value(name) : "",
                json_is_string(name) ? json_string_length(name) : 0);
    TG_PUT(s, ",\"input\":{}}}\n\n");
    return s->block;
}

/*
 * A content_block_delta: text (text_delta) or a tool call's arguments (input_json_delta). The
 * value is given either as a JSON string literal (raw, copied as it is) or as a string value.
 */
static void tg_mout_delta(tg_messages_stream_t *s, int index, int text, const char *raw,
                          size_t rawlen, json_t *str)
{
    tg_mout_block_head(s, "content_block_delta", index);
    if (text)
        TG_PUT(s, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
    else
        TG_PUT(s, ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":");
    if (raw != NULL)
        tg_mout_put(s, raw, rawlen);
    else
        tg_mout_str(s, json_string_value(str), json_string_length(str));
    TG_PUT(s, "}}\n\n");
}

/* Text goes to the open text block, or to a new one after other blocks (or none). */
static void tg_mout_text_delta(tg_messages_stream_t *s, const char *raw, size_t rawlen, json_t *str)
{
    if (s->open != TG_BLOCK_TEXT)
        tg_mout_open(s, TG_BLOCK_TEXT, NULL, NULL);
    tg_mout_delta(s, s->block, 1, raw, rawlen, str);
}

/* The block of OpenAI tool call i, growing the map; NULL when out of range or memory. */
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
    json_t *args = json_object_get(fn, "arguments");
    int *slot =
        tg_mout_tool_slot(s, json_is_integer(idx) ? json_integer_value(idx) : (json_int_t)pos);

    if (slot == NULL)
        return;
    if (*slot == -1) {
        *slot =
            tg_mout_open(s, TG_BLOCK_TOOL, json_object_get(tc, "id"), json_object_get(fn, "name"));
        s->tools = 1;
    }
    if (json_string_length(args) > 0)
        tg_mout_delta(s, *slot, 0, NULL, 0, args);
}

/* The general case of a chunk: its parsed choices; the first choice's delta and finish. */
static void tg_mout_choices(tg_messages_stream_t *s, json_t *choices)
{
    json_t *choice = NULL, *c, *delta, *tc, *v;
    const char *finish;
    size_t i;

    json_array_foreach(choices, i, c)
    {
        if (json_integer_value(json_object_get(c, "index")) == 0) {
            choice = c;
            break;
        }
    }
    if (choice == NULL)
        return; /* the usage chunk: usage comes from the caller, as billed */
    delta = json_object_get(choice, "delta");
    if (json_string_length(v = json_object_get(delta, "content")) > 0)
        tg_mout_text_delta(s, NULL, 0, v);
    if (json_string_length(v = json_object_get(delta, "refusal")) > 0)
        tg_mout_text_delta(s, NULL, 0, v);
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
    {
        tg_mout_tool_delta(s, tc, i);
    }
    finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish != NULL)
        s->finish = tg_mout_stop_reason(finish, 0);
}

/* A JSON value span with surrounding whitespace trimmed: [*p, *end). */
static void tg_mout_trim(const char **p, const char **end)
{
    while (*p < *end && (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t'))
        (*p)++;
    while (*end > *p &&
           ((*end)[-1] == ' ' || (*end)[-1] == '\n' || (*end)[-1] == '\r' || (*end)[-1] == '\t'))
        (*end)--;
}

/*
 * The common chunk read with the scanner, without a DOM: no choice (the usage chunk), or one
 * choice of index 0 whose delta holds at most a role and text. The text's JSON string goes
 * into the event as it is, never decoded and re-encoded. Returns 1 when handled, 0 when the
 * chunk needs the general path (tool calls, refusals, several choices, ...).
 */
static int tg_mout_fast(tg_messages_stream_t *s, const char *data, const tg_jspan_t *choices)
{
    const char *p = data + choices->off + 1, *end = data + choices->off + choices->len - 1;
    tg_jspan_t index, delta, finish, content, other[3];
    tg_jfield_t cf[3] = {{"index", &index}, {"delta", &delta}, {"finish_reason", &finish}};
    tg_jfield_t df[4] = {{"content", &content},
                         {"tool_calls", &other[0]},
                         {"refusal", &other[1]},
                         {"function_call", &other[2]}};
    tg_jscan_t scan;
    int64_t i;
    char reason[32];

    tg_mout_trim(&p, &end);
    if (p == end)
        return 1; /* "choices":[] */
    if (*p != '{' || tg_json_scan(p, (size_t)(end - p), cf, 3, &scan) == -1 ||
        index.type != TG_JT_NUMBER || tg_json_span_int(p, &index, &i) == -1 || i != 0 ||
        delta.type != TG_JT_OBJECT || tg_json_scan(p + delta.off, delta.len, df, 4, &scan) == -1)
        return 0;
    for (int k = 0; k < 3; k++)
        if (other[k].type != TG_JT_NONE && other[k].type != TG_JT_NULL)
            return 0;
    if (finish.type == TG_JT_STRING && (finish.escaped || finish.len - 2 >= sizeof(reason)))
        return 0;
    if (content.type == TG_JT_STRING && content.len > 2)
        tg_mout_text_delta(s, p + delta.off + content.off, content.len, NULL);
    if (finish.type == TG_JT_STRING) {
        memcpy(reason, p + finish.off + 1, finish.len - 2);
        reason[finish.len - 2] = '\0';
        s->finish = tg_mout_stop_reason(reason, 0);
    }
    return 1;
}

/* The terminator: close the last block, then the stop reason, the billed usage, message_stop. */
static void tg_mout_finish(tg_messages_stream_t *s)
{
    const char *stop = s->finish != NULL ? s->finish : "end_turn";

    tg_mout_start(s);
    tg_mout_close(s);
    if (s->tools && strcmp(stop, "end_turn") == 0)
        stop = "tool_use"; /* some providers say stop after tool calls */
    TG_PUT(s, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
              "{\"stop_reason\":\"");
    tg_mout_put(s, stop, strlen(stop));
    TG_PUT(s, "\",\"stop_sequence\":null},\"usage\":");
    tg_mout_usage_put(s, s->usage);
    TG_PUT(s, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s->ended = 1;
}

/* An OpenAI error object as Anthropic's error event; the stream ends there. */
static void tg_mout_error(tg_messages_stream_t *s, json_t *err)
{
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *code = json_string_value(json_object_get(err, "code"));

    type = tg_anthropic_error_type(0, type, code);
    if (msg == NULL)
        msg = "The provider reported an error.";
    TG_PUT(s, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"");
    tg_mout_put(s, type, strlen(type));
    TG_PUT(s, "\",\"message\":");
    tg_mout_str(s, msg, strlen(msg));
    TG_PUT(s, "}}\n\n");
    s->ended = 1;
}

/* tg_sse_cb: one canonical event. */
static int tg_mout_sse(void *arg, const char *event, const char *data, size_t datalen,
                       const char *raw, size_t rawlen)
{
    tg_messages_stream_t *s = arg;
    tg_jspan_t choices, error;
    tg_jfield_t f[2] = {{"choices", &choices}, {"error", &error}};
    tg_jscan_t scan;
    json_t *v;

    (void)event, (void)raw, (void)rawlen;
    if (s->ended)
        return 0;
    if (datalen == 6 && memcmp(data, "[DONE]", 6) == 0) {
        tg_mout_finish(s);
        return 0;
    }
    /* not JSON: nothing an Anthropic client could use */
    if (tg_json_scan(data, datalen, f, 2, &scan) == -1 || scan.root != TG_JT_OBJECT)
        return 0;
    if (error.type == TG_JT_OBJECT) {
        v = json_loadb(data + error.off, error.len, JSON_ALLOW_NUL, NULL);
        tg_mout_error(s, v);
        json_decref(v);
        return 0;
    }
    tg_mout_start(s);
    if (choices.type != TG_JT_ARRAY || tg_mout_fast(s, data, &choices))
        return 0;
    /* only the choices are read: the rest of a chunk need not be built */
    v = json_loadb(data + choices.off, choices.len, JSON_ALLOW_NUL, NULL);
    tg_mout_choices(s, v);
    json_decref(v);
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
