/*
 * Pieces every translating adapter (Anthropic, Gemini, ...) needs in the same way: reading the
 * OpenAI request's max_tokens and stop, and writing JSON compactly without inventing digits.
 */
#ifndef TG_WORKER_PROVIDER_COMMON_H
#define TG_WORKER_PROVIDER_COMMON_H

#include <jansson.h>
#include <stdint.h>

#include "shared/tg_buf.h"

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
