/*
 * What the two halves of the Bedrock Converse adapter share (provider_bedrock.c: requests,
 * signing, whole answers, errors; provider_bedrock_stream.c: ConverseStream events), and the
 * clock hook the unit tests use to sign with a fixed date.
 */
#ifndef TG_WORKER_PROVIDER_BEDROCK_H
#define TG_WORKER_PROVIDER_BEDROCK_H

#include <time.h>

#include "worker/provider.h"

/** Sign with now() instead of time(NULL); NULL restores the real clock. For tests. */
void tg_bedrock_set_clock(time_t (*now)(void));

/** A stopReason as OpenAI's finish_reason (NULL for none); tool_use only with calls. */
const char *tg_bedrock_finish(json_t *stop_reason, int calls);

/** Converse usage {inputTokens, outputTokens, cacheRead/WriteInputTokens} into u. 0 or -1. */
int tg_bedrock_usage(json_t *usage, tg_usage_t *u);

/** "chatcmpl-bedrock-<unique>": Bedrock's answers carry no id of their own. A new string. */
json_t *tg_bedrock_id(void);

/**
 * An error (from an HTTP answer, or a stream's exception) as OpenAI's error object: type is the
 * AWS error type ("ThrottlingException", "throttlingException", with or without the
 * ":http://..." or "...#" decorations), status the HTTP status (0 in a stream). A new object.
 */
json_t *tg_bedrock_error_json(const char *type, long status, const char *message);

/* provider_bedrock_stream.c */
tg_event_action_t tg_bedrock_event(tg_stream_state_t *st, const char *event, const char *data,
                                   size_t datalen, const char *raw, size_t rawlen, tg_buf_t *out);
void tg_bedrock_stream_free(tg_stream_state_t *st);

#endif
