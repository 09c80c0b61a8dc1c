/*
 * Growable byte buffer (see tg_buf.h). Capacity doubles so that appends are amortised O(1).
 */
#include "shared/tg_buf.h"

#include <stdlib.h>
#include <string.h>

int tg_buf_append(tg_buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *nd;
        while (cap < b->len + len + 1)
            cap *= 2;
        if ((nd = realloc(b->data, cap)) == NULL)
            return -1;
        b->data = nd;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void tg_buf_reset(tg_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void tg_buf_free(tg_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t tg_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = src != NULL ? strnlen(src, size - 1) : 0;

    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

size_t tg_fmt_int(char *buf, long long v)
{
    char tmp[24];
    size_t n = 0, len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}
