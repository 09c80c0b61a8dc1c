/*
 * Anthropic's Messages API on the public listener, for code written against Anthropic's SDKs:
 * POST /v1/messages is translated into the canonical (OpenAI chat) request and then runs the
 * same way as POST /v1/chat/completions — keys, limits, budgets, any provider kind, metering —
 * and its answer, whole or streamed, is translated back into Anthropic's shape on the way out.
 * messages.c holds the handlers, messages_in.c the request side, messages_out.c the answer side.
 */
#ifndef TG_WORKER_MESSAGES_H
#define TG_WORKER_MESSAGES_H

#include <jansson.h>

#include "shared/tg_buf.h"
#include "shared/tg_config.h"
#include "shared/tg_money.h"
#include "worker/http.h"

/** POST /v1/messages: translate, then hand the canonical request to the proxy. */
void tg_messages_handle(tg_req_t *r);

/**
 * POST /v1/messages/count_tokens: {"input_tokens": N}, N the estimate admission uses for the
 * same request (bytes of its canonical translation / 4, rounded up), not a provider's count.
 */
void tg_messages_count_tokens(tg_req_t *r);

/**
 * Translate an Anthropic Messages request (a parsed object) into the canonical chat request,
 * appended to out as compact JSON. kind is the provider kind of the target model (0 when the
 * model is not configured: the proxy answers that); it decides whether top_k is kept. count:
 * a count_tokens request (no max_tokens, no stream). Returns 0, or -1 with Anthropic's
 * explanation of an invalid request in why (a 400 invalid_request_error), or "" when memory
 * ran out.
 */
int tg_messages_request(json_t *in, tg_provider_kind_t kind, int count, tg_buf_t *out, char *why,
                        size_t whysize);

/* ---- answers (messages_out.c) ---------------------------------------------------------------- */

#define TG_MESSAGES_ID_MAX (TG_REQUEST_ID_MAX + 8)

/** The message id of a request: "msg_" and the request id (without its "req_" prefix). */
void tg_messages_id(const char *request_id, char *id, size_t size);

/**
 * A whole canonical chat.completion as an Anthropic message with this id and model, its usage
 * the billed usage u (so the client sees exactly what was metered). Returns 0, or -1 when body
 * is not a chat.completion (out is then empty).
 */
int tg_messages_answer(const char *body, size_t len, const char *id, const char *model,
                       const tg_usage_t *u, tg_buf_t *out);

/** A stream translator: canonical chat.completion.chunk events in, Anthropic events out. */
typedef struct tg_messages_stream_s tg_messages_stream_t;

/** A translator for the message with this id and model. NULL when out of memory. */
tg_messages_stream_t *tg_messages_stream_new(const char *id, const char *model);

/**
 * Translate the canonical SSE bytes a client of /v1/chat/completions would have been sent
 * (complete "data: ..." events) into Anthropic's events, appended to out. usage is what is known
 * of the exchange's usage when the bytes arrived (NULL: nothing): message_start reports it when
 * usage->reported; the terminator (data: [DONE]) reports it as the final count in message_delta,
 * reported or estimated. An OpenAI error event becomes Anthropic's error event and ends the
 * translation; bytes after the end are ignored. Returns 0, or -1 when memory ran out.
 */
int tg_messages_stream_feed(tg_messages_stream_t *s, const char *sse, size_t len,
                            const tg_usage_t *usage, tg_buf_t *out);

/** Has the translator written message_stop or an error event? */
int tg_messages_stream_ended(const tg_messages_stream_t *s);

/** Free a translator (NULL is fine). */
void tg_messages_stream_free(tg_messages_stream_t *s);

#endif
