/*
 * Pieces every translating adapter (Anthropic, Gemini, Bedrock) needs in the same way: the
 * translate-the-body step of prepare, reading the OpenAI request's max_tokens, stop, image data
 * URLs, tool call arguments and response_format, regrouping messages into alternating turns,
 * the OpenAI usage object, and writing JSON compactly without inventing digits.
 */
#ifndef TG_WORKER_PROVIDER_COMMON_H
#define TG_WORKER_PROVIDER_COMMON_H

#include <jansson.h>
#include <stdint.h>

#include "shared/tg_buf.h"
#include "worker/provider.h"

/** Set *why to msg and jump to fail: how translators report why a request cannot be sent. */
#define TG_FAIL(msg)                                                                               \
    do {                                                                                           \
        *why = (msg);                                                                              \
        goto fail;                                                                                 \
    } while (0)

/**
 * An adapter's request translation: the provider's body for the OpenAI request in (the proxy
 * already put the upstream model id in "model"). Returns a new object, or NULL with *why set
 * (to "out of memory" when that is the reason).
 */
typedef json_t *(*tg_provider_translate_fn)(const tg_model_t *m, int stream, json_t *in,
                                            const char **why);

/**
 * Replace body (OpenAI's chat request) with fn's translation, written compactly. Returns 0; -2
 * when the request cannot be expressed for the provider (the reason in x->errbuf); -1 on an
 * internal failure.
 */
int tg_provider_translate(const tg_model_t *m, int stream, tg_xfer_t *x, tg_buf_t *body,
                          tg_provider_translate_fn fn);

/**
 * The end of any translation: req (stolen; NULL when it failed, why saying why) written
 * compactly into body. Returns 0, -2 (why copied to x->errbuf) or -1, as tg_provider_translate.
 */
int tg_provider_set_body(json_t *req, const char *why, tg_xfer_t *x, tg_buf_t *body);

/** 1 when v is the string s. */
int tg_provider_str_is(json_t *v, const char *s);

/**
 * An image_url part's base64 data: URL, taken apart: the media type (*mt, *mtlen bytes) and the
 * base64 data (*data, to the end of the URL). Returns 0, or -1 with *why set (no url, not a
 * data: URL, not base64).
 */
int tg_provider_data_url(json_t *part, const char **mt, int *mtlen, const char **data,
                         const char **why);

/**
 * A tool call's function arguments (a JSON text) as an object; blank arguments are {}. Returns a
 * new object, or NULL with *why set when they are not a JSON object.
 */
json_t *tg_provider_tool_input(json_t *function, const char **why);

/** Makes a provider's image block from an OpenAI image_url part; NULL with *why set. */
typedef json_t *(*tg_provider_image_fn)(json_t *part, const char **why);

/**
 * Append an OpenAI message content (a string, parts or null) to blocks as {"text": ...} blocks
 * (the shape Gemini and Bedrock share), and image_url parts as image(part) when image is not
 * NULL. Empty text is skipped and refusal parts dropped. Returns 0, or -1 with *why set.
 */
int tg_provider_text_parts(json_t *content, tg_provider_image_fn image, json_t *blocks,
                           const char **why);

/** Makes a provider's block for one tool call (input is stolen); NULL when out of memory. */
typedef json_t *(*tg_provider_call_fn)(json_t *id, json_t *name, json_t *input);

/**
 * Makes a provider's declaration of one function tool t: its name, description (NULL when none)
 * and parameters schema (NULL when none). NULL: out of memory.
 */
typedef json_t *(*tg_provider_tool_fn)(json_t *t, json_t *name, json_t *desc, json_t *params);

/**
 * OpenAI's tools as an array of fn declarations; only function tools with a name are accepted.
 * Returns a new array, or NULL with *why set.
 */
json_t *tg_provider_tools(json_t *tools, tg_provider_tool_fn fn, const char **why);

/** A tool's parameters schema, or one for no parameters (an empty object). A new reference. */
json_t *tg_provider_schema(json_t *params);

/** Appends an assistant message's content as a provider's blocks; 0, or -1 with *why set. */
typedef int (*tg_provider_parts_fn)(json_t *content, json_t *blocks, const char **why);

/**
 * An assistant message into the conversation as role's turn (blocks under key): its content as
 * parts makes them (NULL: tg_provider_text_parts without images), then one call(id, name,
 * arguments) block per tool call. The legacy function_call is refused, and so is a call without
 * a name (or an id, with need_id). Returns 0, or -1 with *why set.
 */
int tg_provider_assistant(json_t *msg, json_t *turns, const char *role, const char *key,
                          tg_provider_parts_fn parts, int need_id, tg_provider_call_fn call,
                          const char **why);

/**
 * Write a chat.completion to out: id (stolen), model, one choice with the assistant's text
 * (NULL: none), its tool calls (an array, left out when empty) and finish_reason, and usage
 * (stolen; NULL: none). Returns 0 or -1.
 */
int tg_provider_completion(json_t *id, const char *model, const tg_buf_t *text, json_t *calls,
                           const char *finish, json_t *usage, tg_buf_t *out);

/**
 * The blocks array (under key) of the conversation's last turn if it has this role, else of a
 * new turn {role, key: []}. Turns are made only when something is added, so consecutive
 * same-role messages merge and an empty message never leaves an empty turn. NULL: out of memory.
 */
json_t *tg_provider_turn(json_t *turns, const char *role, const char *key);

/** Move blocks (stolen) into the conversation as role's turn. Returns 0 or -1. */
int tg_provider_add(json_t *turns, const char *role, const char *key, json_t *blocks);

/**
 * Put a tool result block into the user turn at the end of the conversation (under "content"),
 * after that turn's earlier results and before its other blocks: providers want results first.
 * A block is a result when it has the member `member` (equal to the string `value`, if not
 * NULL). result is not stolen. Returns 0 or -1.
 */
int tg_provider_add_result(json_t *turns, json_t *result, const char *member, const char *value);

/**
 * response_format as an instruction for a system prompt, for providers without a JSON mode:
 * a new string; NULL with *why unset when there is nothing to say (absent, text); NULL with *why
 * set on an unknown type or a json_schema without a schema.
 */
json_t *tg_provider_format_instruction(json_t *rf, const char **why);

/**
 * OpenAI's usage object for u (a new reference). Cache writes, which OpenAI's shape has no name
 * for, are reported as prompt_tokens_details.cache_write_tokens when there are any.
 */
json_t *tg_provider_usage_json(const tg_usage_t *u);

/**
 * The output limit an OpenAI request asks for: max_completion_tokens, else max_tokens (each
 * only when a positive integer), else 0.
 */
int64_t tg_provider_max_tokens(json_t *req);

/**
 * The request's stop as a list of non-empty strings (OpenAI allows one string or a list).
 * Returns 0 with *out a new array, or NULL when there is nothing to stop on; or -1 when stop is
 * neither (with *why set).
 */
int tg_provider_stop(json_t *req, json_t **out, const char **why);

/** A provider's base_url, taken apart once for its cached request heads. */
typedef struct {
    char origin[320]; /* scheme://host:port: the HTTP/1.1 pool's key and connect URL */
    char host[300];   /* the Host header: host, with :port only when not the default */
    char path[1024];  /* the base path without a trailing slash ("" or "/v1") */
} tg_provider_url_t;

/** Parse base_url (with libcurl's URL parser). Returns 0 or -1. */
int tg_provider_url(const char *base_url, tg_provider_url_t *u);

/**
 * Rewrite an OpenAI embeddings list in place with each data[].embedding, a list of numbers,
 * as base64 of little-endian float32 (encoding_format: base64), for adapters whose upstream
 * only answers with numbers. Returns 0 or -1.
 */
int tg_provider_embeddings_base64(tg_buf_t *list);

/** Append v as compact JSON, reals as short as exactness allows (0.7 stays 0.7). 0 or -1. */
int tg_provider_dump(json_t *v, tg_buf_t *out);

/**
 * Append s[0..len) escaped for the inside of a JSON string (no quotes): for the stream paths,
 * which write their small events by hand instead of through a DOM. Returns 0 or -1.
 */
int tg_provider_json_esc(tg_buf_t *b, const char *s, size_t len);

/** Append s[0..len) as a JSON string, quotes included. Returns 0 or -1. */
int tg_provider_json_str(tg_buf_t *b, const char *s, size_t len);

#endif
