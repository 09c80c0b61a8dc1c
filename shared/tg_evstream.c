/*
 * AWS event-stream framing (see tg_evstream.h). The decoder keeps the bytes of the message being
 * assembled; a message is handed out only after both CRCs check, so a corrupt or truncated
 * frame can never reach the JSON parser behind it.
 */
#include "shared/tg_evstream.h"

#include <stdlib.h>
#include <string.h>

#define TG_PRELUDE 12
#define TG_MIN_MESSAGE 16 /* prelude + message CRC */

/* CRC32 (IEEE 802.3, reflected, polynomial 0xEDB88320) four bits at a time: a 16-entry table. */
uint32_t tg_crc32(uint32_t crc, const void *data, size_t len)
{
    static const uint32_t t[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    const unsigned char *p = data;

    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = t[crc & 15] ^ (crc >> 4);
        crc = t[crc & 15] ^ (crc >> 4);
    }
    return ~crc;
}

static uint32_t tg_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t tg_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- headers -------------------------------------------------------------------------------- */

/* Bytes of a value of type t: 0 for none, -2 when length-prefixed, -1 for an unknown type. */
static long tg_evh_size(int t)
{
    static const long size[] = {0, 0, 1, 2, 4, 8, -2, -2, 8, 16};

    return t >= 0 && t <= TG_EVH_UUID ? size[t] : -1;
}

int tg_evstream_header_next(const unsigned char *p, size_t len, size_t *off, tg_evheader_t *h)
{
    size_t o = *off, nlen;
    long size;
    uint64_t u;

    if (o >= len)
        return 0;
    nlen = p[o++];
    if (nlen == 0 || o + nlen + 1 > len)
        return -1;
    memset(h, 0, sizeof(*h));
    h->name = (const char *)p + o;
    h->name_len = nlen;
    o += nlen;
    h->type = p[o++];
    if ((size = tg_evh_size(h->type)) == -1)
        return -1;
    if (size == -2) { /* bytes and strings: a 2-byte length, then the bytes */
        if (o + 2 > len)
            return -1;
        h->value_len = (size_t)tg_be(p + o, 2);
        o += 2;
        if (o + h->value_len > len)
            return -1;
        h->value = p + o;
        o += h->value_len;
    } else if (h->type == TG_EVH_UUID) {
        if (o + 16 > len)
            return -1;
        h->value = p + o;
        h->value_len = 16;
        o += 16;
    } else {
        if (o + (size_t)size > len)
            return -1;
        u = tg_be(p + o, (size_t)size);
        /* sign-extend: byte, short, int and long are two's complement */
        if (size > 0 && size < 8 && (u >> (size * 8 - 1)) & 1)
            u |= ~(uint64_t)0 << (size * 8);
        h->num = h->type == TG_EVH_TRUE ? 1 : h->type == TG_EVH_FALSE ? 0 : (int64_t)u;
        o += (size_t)size;
    }
    *off = o;
    return 1;
}

/* Copy a string header's value into dst (truncated to fit, NUL-terminated). */
static void tg_evh_copy(char *dst, size_t size, const tg_evheader_t *h)
{
    size_t n = h->value_len < size - 1 ? h->value_len : size - 1;

    memcpy(dst, h->value, n);
    dst[n] = '\0';
}

/* Read the headers AWS routes on. Returns 0, or -1 when the block is malformed. */
static int tg_evmsg_headers(tg_evmsg_t *m)
{
    static const struct {
        const char *name;
        size_t off, size;
    } known[] = {
        {":event-type", offsetof(tg_evmsg_t, event_type), sizeof(((tg_evmsg_t *)0)->event_type)},
        {":message-type", offsetof(tg_evmsg_t, message_type),
         sizeof(((tg_evmsg_t *)0)->message_type)},
        {":exception-type", offsetof(tg_evmsg_t, exception_type),
         sizeof(((tg_evmsg_t *)0)->exception_type)},
        {":error-code", offsetof(tg_evmsg_t, error_code), sizeof(((tg_evmsg_t *)0)->error_code)},
    };
    tg_evheader_t h;
    size_t off = 0;
    int rc;

    while ((rc = tg_evstream_header_next(m->headers, m->headers_len, &off, &h)) == 1) {
        if (h.type != TG_EVH_STRING)
            continue;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (h.name_len == strlen(known[i].name) &&
                memcmp(h.name, known[i].name, h.name_len) == 0)
                tg_evh_copy((char *)m + known[i].off, known[i].size, &h);
    }
    return rc;
}

/* ---- decoder -------------------------------------------------------------------------------- */

void tg_evstream_init(tg_evstream_t *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    d->max = max > 0 ? max : TG_EVSTREAM_MAX_MESSAGE;
}

void tg_evstream_free(tg_evstream_t *d)
{
    free(d->buf);
    d->buf = NULL;
    d->len = d->cap = 0;
}

size_t tg_evstream_pending(const tg_evstream_t *d)
{
    return d->len;
}

static int tg_evstream_append(tg_evstream_t *d, const void *bytes, size_t len)
{
    if (d->len + len > d->cap) {
        size_t cap = d->cap > 0 ? d->cap : 4096;
        unsigned char *nb;

        while (cap < d->len + len)
            cap *= 2;
        if ((nb = realloc(d->buf, cap)) == NULL)
            return -1;
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, bytes, len);
    d->len += len;
    return 0;
}

/*
 * The whole message at p (total bytes, both lengths already checked) handed to cb. Returns 0,
 * -1 (cb stopped) or -2 (corrupt).
 */
static int tg_evstream_deliver(const unsigned char *p, uint32_t total, tg_evstream_cb cb, void *arg)
{
    tg_evmsg_t m;
    uint32_t hlen = tg_be32(p + 4);

    if (tg_crc32(0, p, total - 4) != tg_be32(p + total - 4))
        return -2;
    memset(&m, 0, sizeof(m));
    m.headers = p + TG_PRELUDE;
    m.headers_len = hlen;
    m.payload = (const char *)p + TG_PRELUDE + hlen;
    m.payload_len = total - TG_MIN_MESSAGE - hlen;
    if (tg_evmsg_headers(&m) == -1)
        return -2;
    return cb(arg, &m) == 0 ? 0 : -1;
}

int tg_evstream_feed(tg_evstream_t *d, const void *bytes, size_t len, tg_evstream_cb cb, void *arg)
{
    size_t pos = 0;
    int rc = 0;

    if (d->failed)
        return -2;
    if (len > 0 && tg_evstream_append(d, bytes, len) == -1)
        return -1;
    while (d->len - pos >= TG_PRELUDE) {
        const unsigned char *p = d->buf + pos;
        uint32_t total = tg_be32(p), hlen = tg_be32(p + 4);

        if (tg_crc32(0, p, 8) != tg_be32(p + 8) || total < TG_MIN_MESSAGE || total > d->max ||
            hlen > TG_EVSTREAM_MAX_HEADERS || hlen > total - TG_MIN_MESSAGE) {
            rc = -2;
            break;
        }
        if (d->len - pos < total)
            break; /* the rest of this message has not arrived yet */
        if ((rc = tg_evstream_deliver(p, total, cb, arg)) != 0)
            break;
        pos += total;
    }
    if (rc == -2)
        d->failed = 1;
    if (pos > 0) {
        memmove(d->buf, d->buf + pos, d->len - pos);
        d->len -= pos;
    }
    return rc;
}

/* ---- encoder -------------------------------------------------------------------------------- */

static int tg_put_be(tg_buf_t *b, uint64_t v, size_t n)
{
    unsigned char bytes[8];

    for (size_t i = 0; i < n; i++)
        bytes[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return tg_buf_append(b, bytes, n);
}

static int tg_evh_encode(tg_buf_t *b, const tg_evheader_t *h)
{
    long size = tg_evh_size(h->type);
    unsigned char nlen = (unsigned char)h->name_len, type = (unsigned char)h->type;

    if (size == -1 || h->name_len == 0 || h->name_len > 255 ||
        (h->type == TG_EVH_UUID && h->value_len != 16) || (size == -2 && h->value_len > 32767))
        return -1;
    if (tg_buf_append(b, &nlen, 1) || tg_buf_append(b, h->name, h->name_len) ||
        tg_buf_append(b, &type, 1))
        return -1;
    if (size == -2)
        return tg_put_be(b, h->value_len, 2) || tg_buf_append(b, h->value, h->value_len) ? -1 : 0;
    if (h->type == TG_EVH_UUID)
        return tg_buf_append(b, h->value, 16);
    return tg_put_be(b, (uint64_t)h->num, (size_t)size);
}

int tg_evstream_encode(tg_buf_t *out, const tg_evheader_t *h, size_t nh, const void *payload,
                       size_t payload_len)
{
    size_t start = out->len, hstart;
    uint64_t total;

    /* the prelude is written once the lengths are known */
    if (tg_buf_append(out, "\0\0\0\0\0\0\0\0\0\0\0\0", TG_PRELUDE) == -1)
        return -1;
    hstart = out->len;
    for (size_t i = 0; i < nh; i++)
        if (tg_evh_encode(out, &h[i]) == -1)
            goto fail;
    if ((payload_len > 0 && tg_buf_append(out, payload, payload_len) == -1))
        goto fail;
    total = out->len - start + 4;
    if (total > TG_EVSTREAM_MAX_MESSAGE ||
        out->len - hstart - payload_len > TG_EVSTREAM_MAX_HEADERS)
        goto fail;
    {
        unsigned char *p = (unsigned char *)out->data + start;
        uint32_t hlen = (uint32_t)(out->len - hstart - payload_len), crc;

        for (int i = 0; i < 4; i++) {
            p[i] = (unsigned char)(total >> (24 - 8 * i));
            p[4 + i] = (unsigned char)(hlen >> (24 - 8 * i));
        }
        crc = tg_crc32(0, p, 8);
        for (int i = 0; i < 4; i++)
            p[8 + i] = (unsigned char)(crc >> (24 - 8 * i));
        crc = tg_crc32(0, p, out->len - start);
        if (tg_put_be(out, crc, 4) == -1)
            goto fail;
    }
    return 0;
fail:
    out->len = start;
    if (out->data != NULL)
        out->data[start] = '\0';
    return -1;
}
