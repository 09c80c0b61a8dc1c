/*
 * A growable byte buffer with a hard limit, used for request and response bodies that must be
 * held whole (JSON parsing needs the complete document).
 */
#ifndef TG_BUF_H
#define TG_BUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} tg_buf_t;

/** Append len bytes, keeping a NUL after the data. Returns 0, or -1 when out of memory. */
int tg_buf_append(tg_buf_t *b, const void *data, size_t len);

/** Forget the contents but keep the memory for reuse. */
void tg_buf_reset(tg_buf_t *b);

/** Free the memory. */
void tg_buf_free(tg_buf_t *b);

/**
 * Copy the string src (NULL: "") into dst of size bytes (> 0), truncated and always
 * NUL-terminated, as snprintf(dst, size, "%s", src) does at a fraction of the cost (the
 * hot path copies a dozen names per request). Returns the length copied.
 */
size_t tg_strlcpy(char *dst, const char *src, size_t size);

/** v in decimal at buf (room for 21 bytes), NUL-terminated; returns the length. */
size_t tg_fmt_int(char *buf, long long v);

#endif
