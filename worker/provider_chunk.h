/*
 * Writing OpenAI chat.completion.chunk events for adapters that translate a provider's stream
 * (Anthropic, Bedrock). A stream's common prefix (id, created, model) is rendered once; each chunk
 * is that prefix plus a small delta written by hand, so a token costs no JSON DOM. Tool calls are
 * numbered in the order the provider opens them, whatever its content block indexes.
 */
#ifndef TG_WORKER_PROVIDER_CHUNK_H
#define TG_WORKER_PROVIDER_CHUNK_H

#include <jansson.h>
#include <stddef.h>

#include "shared/tg_buf.h"

/** One stream's chunk writer. Zero-initialise; free with tg_chunker_free. */
typedef struct {
    tg_buf_t prefix;    /* data: {"id":"chatcmpl-...",...,"choices":[ */
    int *tool_of_block; /* provider content block index -> tool call index, -1 when none */
    size_t nblocks;     /* entries in tool_of_block */
    int ntools;         /* tool calls opened so far */
} tg_chunker_t;

/** Free the writer's memory (the struct itself is the caller's). */
void tg_chunker_free(tg_chunker_t *c);

/**
 * Render the prefix for chunks of the answer with this id ("chatcmpl-" is prepended) and model;
 * NULL strings are written empty. Returns 0 or -1.
 */
int tg_chunker_start(tg_chunker_t *c, const char *id, size_t idlen, const char *model,
                     size_t modellen);

/** 1 once tg_chunker_start succeeded. */
int tg_chunker_started(const tg_chunker_t *c);

/** The first chunk: delta {"role":"assistant","content":""}. Returns 0 or -1. */
int tg_chunk_role(const tg_chunker_t *c, tg_buf_t *out);

/** A chunk with delta {"content": text}. Returns 0 or -1. */
int tg_chunk_text(const tg_chunker_t *c, tg_buf_t *out, const char *text, size_t len);

/**
 * Content block `block` opens a tool call: a chunk with the call's index, id, type and name (and
 * empty arguments). Returns 0 (also when block is out of range: nothing is written) or -1.
 */
int tg_chunk_tool_start(tg_chunker_t *c, tg_buf_t *out, json_int_t block, const char *id,
                        size_t idlen, const char *name, size_t namelen);

/**
 * A fragment of the arguments of the tool call content block `block` opened; nothing when it
 * opened none. Returns 0 or -1.
 */
int tg_chunk_tool_args(const tg_chunker_t *c, tg_buf_t *out, json_int_t block, const char *frag,
                       size_t len);

/** A chunk with delta {} and this finish_reason. Returns 0 or -1. */
int tg_chunk_finish(const tg_chunker_t *c, tg_buf_t *out, const char *finish);

/** The usage chunk (choices [] and usage; only when usage is not NULL), then data: [DONE]. */
int tg_chunk_end(const tg_chunker_t *c, tg_buf_t *out, json_t *usage);

/** An event carrying v (an OpenAI error object): data: <v>\n\n. Returns 0 or -1. */
int tg_chunk_event(tg_buf_t *out, json_t *v);

#endif
