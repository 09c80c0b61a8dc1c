/*
 * The Bedrock Converse adapter, stream side: ConverseStream's events (binary event-stream
 * messages, decoded by the proxy with shared/tg_evstream.c: messageStart, contentBlockStart,
 * contentBlockDelta, contentBlockStop, messageStop, metadata, and exceptions) become OpenAI
 * chat.completion.chunk events ending in "data: [DONE]", with usage reported for metering.
 */
#include "worker/provider_bedrock.h"
#include "worker/provider_chunk.h"
#include "worker/provider_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_chunker_t ch;
    const char *finish; /* from messageStop, sent once */
    int finished;       /* the finish chunk went out */
    int ended;          /* [DONE] or an exception went out: nothing follows */
} tg_bedrock_stream_t;

void tg_bedrock_stream_free(tg_stream_state_t *st)
{
    tg_bedrock_stream_t *s = st->priv;

    if (s == NULL)
        return;
    tg_chunker_free(&s->ch);
    free(s);
    st->priv = NULL;
}

/* contentBlockStart: a toolUse block opens a tool call. */
static int tg_bedrock_block_start(tg_bedrock_stream_t *s, json_t *root, tg_buf_t *out)
{
    json_t *index = json_object_get(root, "contentBlockIndex");
    json_t *tu = json_object_get(json_object_get(root, "start"), "toolUse");
    json_t *id = json_object_get(tu, "toolUseId"), *name = json_object_get(tu, "name");

    if (!json_is_object(tu) || !json_is_integer(index))
        return 0;
    return tg_chunk_tool_start(&s->ch, out, json_integer_value(index), json_string_value(id),
                               json_string_length(id), json_string_value(name),
                               json_string_length(name));
}

/* contentBlockDelta: text, or a fragment of a tool call's input (reasoning is dropped). */
static int tg_bedrock_block_delta(tg_stream_state_t *st, tg_bedrock_stream_t *s, json_t *root,
                                  tg_buf_t *out)
{
    json_t *delta = json_object_get(root, "delta"),
           *index = json_object_get(root, "contentBlockIndex");
    json_t *text = json_object_get(delta, "text");
    json_t *input = json_object_get(json_object_get(delta, "toolUse"), "input");

    if (json_is_string(text)) {
        st->content_bytes += (int64_t)json_string_length(text);
        return json_string_length(text) > 0
                   ? tg_chunk_text(&s->ch, out, json_string_value(text), json_string_length(text))
                   : 0;
    }
    if (!json_is_string(input) || !json_is_integer(index))
        return 0;
    st->content_bytes += (int64_t)json_string_length(input);
    return tg_chunk_tool_args(&s->ch, out, json_integer_value(index), json_string_value(input),
                              json_string_length(input));
}

/* metadata: the usage (it replaces what was known), then the usage chunk and [DONE]. */
static int tg_bedrock_metadata(tg_stream_state_t *st, tg_bedrock_stream_t *s, json_t *root,
                               tg_buf_t *out)
{
    json_t *u = NULL;
    int rc;

    tg_bedrock_usage(json_object_get(root, "usage"), &st->usage);
    if (!s->finished) { /* a messageStop without a stopReason */
        s->finished = 1;
        if (tg_chunk_finish(&s->ch, out, s->finish != NULL ? s->finish : "stop") == -1)
            return -1;
    }
    if (st->client_wants_usage && st->usage.reported &&
        (u = tg_provider_usage_json(&st->usage)) == NULL)
        return -1;
    rc = tg_chunk_end(&s->ch, out, u);
    json_decref(u);
    return rc;
}

/* An exception (throttlingException, modelStreamErrorException, ...) as an error event. */
static int tg_bedrock_exception(const char *event, json_t *root, tg_buf_t *out)
{
    json_t *msg = json_object_get(root, "message");
    json_t *e = tg_bedrock_error_json(event, 0, json_string_value(msg));
    int rc = tg_chunk_event(out, e);

    json_decref(e);
    return rc;
}

/* An exception's name: the :exception-type, which AWS spells in lower camel case. */
static int tg_bedrock_is_exception(const char *event)
{
    size_t n = strlen(event);

    return n > 9 && strcmp(event + n - 9, "Exception") == 0;
}

tg_event_action_t tg_bedrock_event(tg_stream_state_t *st, const char *event, const char *data,
                                   size_t datalen, const char *raw, size_t rawlen, tg_buf_t *out)
{
    tg_bedrock_stream_t *s = st->priv;
    tg_event_action_t action = TG_EVENT_FORWARD;
    json_t *root;
    int rc = 0;

    (void)raw, (void)rawlen; /* nothing goes through untranslated */
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return TG_EVENT_DROP;
        st->priv = s;
    }
    if (event == NULL || s->ended)
        return TG_EVENT_DROP;
    root = json_loadb(data, datalen, JSON_ALLOW_NUL, NULL);
    if (!tg_chunker_started(&s->ch)) {
        /* Converse names neither the answer nor the model in its events */
        json_t *id = tg_bedrock_id();
        const char *model = st->model != NULL ? st->model : "";

        /* the chunk writer adds the "chatcmpl-" the id starts with */
        rc = id == NULL || tg_chunker_start(&s->ch, json_string_value(id) + 9,
                                            json_string_length(id) - 9, model, strlen(model));
        json_decref(id);
        if (rc) {
            json_decref(root);
            return TG_EVENT_DROP; /* out of memory */
        }
    }
    if (strcmp(event, "messageStart") == 0) {
        rc = tg_chunk_role(&s->ch, out);
    } else if (strcmp(event, "contentBlockStart") == 0) {
        rc = tg_bedrock_block_start(s, root, out);
    } else if (strcmp(event, "contentBlockDelta") == 0) {
        rc = tg_bedrock_block_delta(st, s, root, out);
    } else if (strcmp(event, "messageStop") == 0) {
        s->finish = tg_bedrock_finish(json_object_get(root, "stopReason"), s->ch.ntools > 0);
        if (s->finish != NULL && !s->finished) {
            s->finished = 1;
            rc = tg_chunk_finish(&s->ch, out, s->finish);
        }
    } else if (strcmp(event, "metadata") == 0) {
        rc = tg_bedrock_metadata(st, s, root, out);
        action = TG_EVENT_DONE;
        s->ended = 1;
    } else if (tg_bedrock_is_exception(event)) {
        rc = tg_bedrock_exception(event, root, out);
        s->ended = 1; /* Bedrock ends the stream after an exception */
    }
    /* contentBlockStop and event types added later: nothing to send */
    json_decref(root);
    if (rc != 0) {
        tg_buf_reset(out);
        return action == TG_EVENT_DONE ? TG_EVENT_DONE : TG_EVENT_DROP;
    }
    if (out->len == 0 && action == TG_EVENT_FORWARD)
        action = TG_EVENT_DROP;
    return action;
}
