/*
 * Incremental Server-Sent Events parser. Bytes arrive in arbitrary pieces from upstream; whole
 * events come out, each with its "event:" name, joined "data:" payload and the raw bytes it was
 * framed in (so a relay can forward an event byte-for-byte without re-serialising it).
 */
#ifndef TG_SSE_H
#define TG_SSE_H

#include <stddef.h>

#define TG_SSE_MAX_EVENT (4 * 1024 * 1024)

/**
 * Called once per complete event. event/data point into the parser's buffer and are valid only
 * during the call; event is "" when absent, data is NUL-terminated. Return 0 to go on, -1 to
 * stop parsing (tg_sse_feed then returns -1).
 */
typedef int (*tg_sse_cb)(void *arg, const char *event, const char *data, size_t datalen,
                         const char *raw, size_t rawlen);

typedef struct {
    char *buf;
    size_t len, cap;
    size_t scanned; /* bytes of buf already searched for an event end */
    char *data;     /* scratch for the joined data lines */
    size_t dcap;
} tg_sse_t;

/** Initialise an empty parser. */
void tg_sse_init(tg_sse_t *p);

/** Free the parser's buffers. */
void tg_sse_free(tg_sse_t *p);

/**
 * Feed bytes; calls cb for every event they complete.
 * Returns 0, or -1 when cb stopped, memory ran out or one event exceeded TG_SSE_MAX_EVENT.
 */
int tg_sse_feed(tg_sse_t *p, const char *bytes, size_t len, tg_sse_cb cb, void *arg);

/** Bytes held that do not yet form a complete event. */
size_t tg_sse_pending(const tg_sse_t *p);

#endif
