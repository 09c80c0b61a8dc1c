/*
 * OpenAI chat.completion.chunk writer (see provider_chunk.h). Every chunk is written straight
 * into the output buffer; only the usage object (once per stream) goes through jansson.
 */
#include "worker/provider_chunk.h"
#include "worker/provider_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TG_MAX_BLOCKS 65536 /* content blocks of one answer we track; far above real answers */
#define TG_LIT(b, str) tg_buf_append(b, str, sizeof(str) - 1)

void tg_chunker_free(tg_chunker_t *c)
{
    tg_buf_free(&c->prefix);
    free(c->tool_of_block);
    memset(c, 0, sizeof(*c));
}

int tg_chunker_start(tg_chunker_t *c, const char *id, size_t idlen, const char *model,
                     size_t modellen)
{
    char created[32];
    int n = snprintf(created, sizeof(created), "%lld", (long long)time(NULL));

    tg_buf_reset(&c->prefix);
    if (TG_LIT(&c->prefix, "data: {\"id\":\"chatcmpl-") ||
        tg_provider_json_esc(&c->prefix, id, idlen) ||
        TG_LIT(&c->prefix, "\",\"object\":\"chat.completion.chunk\",\"created\":") ||
        tg_buf_append(&c->prefix, created, (size_t)n) || TG_LIT(&c->prefix, ",\"model\":") ||
        tg_provider_json_str(&c->prefix, model, modellen) || TG_LIT(&c->prefix, ",\"choices\":[")) {
        tg_buf_reset(&c->prefix);
        return -1;
    }
    return 0;
}

int tg_chunker_started(const tg_chunker_t *c)
{
    return c->prefix.len > 0;
}

/* Open a chunk: the prefix and {"index":0,"delta": */
static int tg_chunk_open(tg_buf_t *out, const tg_chunker_t *c)
{
    return tg_buf_append(out, c->prefix.data, c->prefix.len) == -1 ||
                   TG_LIT(out, "{\"index\":0,\"delta\":") == -1
               ? -1
               : 0;
}

/* Close a chunk opened by tg_chunk_open after its delta. */
static int tg_chunk_close(tg_buf_t *out, const char *finish)
{
    if (finish == NULL)
        return TG_LIT(out, ",\"finish_reason\":null}]}\n\n");
    return TG_LIT(out, ",\"finish_reason\":\"") == -1 ||
                   tg_buf_append(out, finish, strlen(finish)) == -1 ||
                   TG_LIT(out, "\"}]}\n\n") == -1
               ? -1
               : 0;
}

int tg_chunk_role(const tg_chunker_t *c, tg_buf_t *out)
{
    return tg_chunk_open(out, c) == -1 ||
                   TG_LIT(out, "{\"role\":\"assistant\",\"content\":\"\"}") == -1 ||
                   tg_chunk_close(out, NULL) == -1
               ? -1
               : 0;
}

int tg_chunk_text(const tg_chunker_t *c, tg_buf_t *out, const char *text, size_t len)
{
    return tg_chunk_open(out, c) == -1 || TG_LIT(out, "{\"content\":") == -1 ||
                   tg_provider_json_str(out, text, len) == -1 || TG_LIT(out, "}") == -1 ||
                   tg_chunk_close(out, NULL) == -1
               ? -1
               : 0;
}

/* The tool call index of a content block, or -1. */
static int tg_chunk_tool_of(const tg_chunker_t *c, json_int_t block)
{
    return block >= 0 && (size_t)block < c->nblocks ? c->tool_of_block[block] : -1;
}

int tg_chunk_tool_start(tg_chunker_t *c, tg_buf_t *out, json_int_t block, const char *id,
                        size_t idlen, const char *name, size_t namelen)
{
    char num[24];
    int n;

    if (block < 0 || block >= TG_MAX_BLOCKS)
        return 0;
    if ((size_t)block >= c->nblocks) {
        int *nm = realloc(c->tool_of_block, ((size_t)block + 1) * sizeof(*nm));
        if (nm == NULL)
            return -1;
        for (size_t k = c->nblocks; k <= (size_t)block; k++)
            nm[k] = -1;
        c->tool_of_block = nm;
        c->nblocks = (size_t)block + 1;
    }
    c->tool_of_block[block] = c->ntools++;
    n = snprintf(num, sizeof(num), "%d", c->tool_of_block[block]);
    if (tg_chunk_open(out, c) || TG_LIT(out, "{\"tool_calls\":[{\"index\":") ||
        tg_buf_append(out, num, (size_t)n) || TG_LIT(out, ",\"id\":") ||
        tg_provider_json_str(out, id, idlen) ||
        TG_LIT(out, ",\"type\":\"function\",\"function\":{\"name\":") ||
        tg_provider_json_str(out, name, namelen) || TG_LIT(out, ",\"arguments\":\"\"}}]}") ||
        tg_chunk_close(out, NULL))
        return -1;
    return 0;
}

int tg_chunk_tool_args(const tg_chunker_t *c, tg_buf_t *out, json_int_t block, const char *frag,
                       size_t len)
{
    int tool = tg_chunk_tool_of(c, block), n;
    char num[24];

    if (tool < 0 || len == 0)
        return 0;
    n = snprintf(num, sizeof(num), "%d", tool);
    if (tg_chunk_open(out, c) || TG_LIT(out, "{\"tool_calls\":[{\"index\":") ||
        tg_buf_append(out, num, (size_t)n) || TG_LIT(out, ",\"function\":{\"arguments\":") ||
        tg_provider_json_str(out, frag, len) || TG_LIT(out, "}}]}") || tg_chunk_close(out, NULL))
        return -1;
    return 0;
}

int tg_chunk_finish(const tg_chunker_t *c, tg_buf_t *out, const char *finish)
{
    return tg_chunk_open(out, c) == -1 || TG_LIT(out, "{}") == -1 ||
                   tg_chunk_close(out, finish) == -1
               ? -1
               : 0;
}

int tg_chunk_end(const tg_chunker_t *c, tg_buf_t *out, json_t *usage)
{
    if (usage != NULL &&
        (tg_buf_append(out, c->prefix.data, c->prefix.len) || TG_LIT(out, "],\"usage\":") ||
         tg_provider_dump(usage, out) || TG_LIT(out, "}\n\n")))
        return -1;
    return TG_LIT(out, "data: [DONE]\n\n");
}

int tg_chunk_event(tg_buf_t *out, json_t *v)
{
    return v == NULL || TG_LIT(out, "data: ") || tg_provider_dump(v, out) || TG_LIT(out, "\n\n")
               ? -1
               : 0;
}
