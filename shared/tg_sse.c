/*
 * SSE framing per the WHATWG EventSource rules that matter for LLM streams: events end at a blank
 * line, lines end in LF, CRLF or CR, "data:" lines join with LF, one optional space after the
 * colon is dropped, and lines starting with ':' are comments.
 */
#include "shared/tg_sse.h"

#include <stdlib.h>
#include <string.h>

void tg_sse_init(tg_sse_t *p)
{
    memset(p, 0, sizeof(*p));
}

void tg_sse_free(tg_sse_t *p)
{
    free(p->buf);
    free(p->data);
    memset(p, 0, sizeof(*p));
}

size_t tg_sse_pending(const tg_sse_t *p)
{
    return p->len;
}

/* Length of the event block at the start of buf (including its blank line), or 0. */
static size_t tg_sse_event_end(const char *buf, size_t len, size_t from)
{
    size_t i = from > 3 ? from - 3 : 0; /* an event end spans at most 4 bytes */

    for (; i < len; i++) {
        if (buf[i] != '\n' && buf[i] != '\r')
            continue;
        /* i ends a line; a blank line follows if the next line ending comes at once */
        size_t j = i + 1;
        if (buf[i] == '\r' && j < len && buf[j] == '\n')
            j++;
        else if (buf[i] == '\r' && j == len)
            return 0; /* wait: CR may be followed by LF */
        if (j < len && buf[j] == '\n')
            return j + 1;
        if (j < len && buf[j] == '\r') {
            if (j + 1 < len && buf[j + 1] == '\n')
                return j + 2;
            if (j + 1 < len)
                return j + 1;
            return 0;
        }
    }
    return 0;
}

static int tg_sse_dispatch(tg_sse_t *p, const char *raw, size_t rawlen, tg_sse_cb cb, void *arg)
{
    char event[64] = "";
    size_t dlen = 0;
    int have_data = 0;
    const char *line = raw, *end = raw + rawlen;

    if (p->dcap < rawlen + 1) {
        char *nd = realloc(p->data, rawlen + 1);
        if (nd == NULL)
            return -1;
        p->data = nd;
        p->dcap = rawlen + 1;
    }
    while (line < end) {
        const char *eol = line, *val;
        size_t flen, vlen;

        while (eol < end && *eol != '\n' && *eol != '\r')
            eol++;
        if (eol == line || *line == ':')
            goto next;
        val = memchr(line, ':', (size_t)(eol - line));
        if (val == NULL) {
            flen = (size_t)(eol - line);
            val = eol;
        } else {
            flen = (size_t)(val - line);
            val++;
            if (val < eol && *val == ' ')
                val++;
        }
        vlen = (size_t)(eol - val);
        if (flen == 4 && memcmp(line, "data", 4) == 0) {
            if (have_data)
                p->data[dlen++] = '\n';
            memcpy(p->data + dlen, val, vlen);
            dlen += vlen;
            have_data = 1;
        } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
            size_t n = vlen < sizeof(event) - 1 ? vlen : sizeof(event) - 1;
            memcpy(event, val, n);
            event[n] = '\0';
        }
    next:
        line = eol;
        if (line < end && *line == '\r')
            line++;
        if (line < end && *line == '\n')
            line++;
    }
    p->data[dlen] = '\0';
    if (!have_data && event[0] == '\0')
        return 0; /* comment-only block (keep-alive) */
    return cb(arg, event, p->data, dlen, raw, rawlen);
}

int tg_sse_feed(tg_sse_t *p, const char *bytes, size_t len, tg_sse_cb cb, void *arg)
{
    size_t off = 0, end;

    if (len == 0)
        return 0;
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        char *nb;
        while (cap < p->len + len)
            cap *= 2;
        if ((nb = realloc(p->buf, cap)) == NULL)
            return -1;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, bytes, len);
    p->len += len;

    while ((end = tg_sse_event_end(p->buf + off, p->len - off,
                                   off == 0 ? p->scanned : 0)) > 0) {
        if (end > TG_SSE_MAX_EVENT)
            return -1;
        if (tg_sse_dispatch(p, p->buf + off, end, cb, arg) == -1)
            return -1;
        off += end;
        p->scanned = 0;
    }
    if (off > 0) {
        memmove(p->buf, p->buf + off, p->len - off);
        p->len -= off;
    }
    p->scanned = p->len;
    if (p->len > TG_SSE_MAX_EVENT)
        return -1;
    return 0;
}
