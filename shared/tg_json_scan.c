/*
 * The JSON scanner (see tg_json_scan.h): one pass, an explicit stack instead of recursion (so a
 * deeply nested hostile body cannot exhaust the C stack), no allocation. It is as strict as a
 * parser: whatever it accepts, every conforming JSON parser accepts too.
 */
#include "shared/tg_json_scan.h"

#include <string.h>

typedef struct {
    const char *doc, *p, *end;
    const char *err;
} tg_sc_t;

static int tg_sc_fail(tg_sc_t *s, const char *why)
{
    if (s->err == NULL)
        s->err = why;
    return -1;
}

static void tg_sc_ws(tg_sc_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int tg_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence starting at a byte >= 0x80 (no overlongs, no surrogates, <= U+10FFFF). */
static int tg_sc_utf8(tg_sc_t *s)
{
    const unsigned char *u = (const unsigned char *)s->p;
    size_t left = (size_t)(s->end - s->p);
    unsigned c = u[0];

    if (c >= 0xC2 && c <= 0xDF) {
        if (left < 2 || (u[1] & 0xC0) != 0x80)
            return tg_sc_fail(s, "invalid UTF-8");
        s->p += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80 ||
            (c == 0xE0 && u[1] < 0xA0) || (c == 0xED && u[1] > 0x9F))
            return tg_sc_fail(s, "invalid UTF-8");
        s->p += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80 ||
            (u[3] & 0xC0) != 0x80 || (c == 0xF0 && u[1] < 0x90) || (c == 0xF4 && u[1] > 0x8F))
            return tg_sc_fail(s, "invalid UTF-8");
        s->p += 4;
    } else {
        return tg_sc_fail(s, "invalid UTF-8");
    }
    return 0;
}

/* Bytes a string scan must look at: quote, backslash, control characters, non-ASCII. */
static const unsigned char tg_sc_special[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

/* A string; s->p at the opening quote, left after the closing one. */
static int tg_sc_string(tg_sc_t *s, int *escaped)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c;

        /* plain ASCII runs are most of every prompt: skip them in a tight loop */
        while (s->p < s->end && !tg_sc_special[(unsigned char)*s->p])
            s->p++;
        if (s->p >= s->end)
            break;
        c = (unsigned char)*s->p;

        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c == '\\') {
            *escaped = 1;
            if (s->p + 1 >= s->end)
                break;
            switch (s->p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                s->p += 2;
                continue;
            case 'u':
                if (s->end - s->p < 6 || !tg_hex(s->p[2]) || !tg_hex(s->p[3]) ||
                    !tg_hex(s->p[4]) || !tg_hex(s->p[5]))
                    return tg_sc_fail(s, "invalid \\u escape in string");
                s->p += 6;
                continue;
            default:
                return tg_sc_fail(s, "invalid escape in string");
            }
        }
        if (c < 0x20)
            return tg_sc_fail(s, "control character in string");
        if (c >= 0x80) {
            if (tg_sc_utf8(s) == -1)
                return -1;
            continue;
        }
        s->p++;
    }
    return tg_sc_fail(s, "unterminated string");
}

static int tg_sc_digits(tg_sc_t *s)
{
    const char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start ? 0 : -1;
}

static int tg_sc_number(tg_sc_t *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (tg_sc_digits(s) == -1)
        return tg_sc_fail(s, "invalid number");
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (tg_sc_digits(s) == -1)
            return tg_sc_fail(s, "invalid number");
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (tg_sc_digits(s) == -1)
            return tg_sc_fail(s, "invalid number");
    }
    return 0;
}

static int tg_sc_literal(tg_sc_t *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return tg_sc_fail(s, "invalid literal");
    s->p += n;
    return 0;
}

/* Decode an escaped key (ASCII only; our keys are) into out; -1 when it cannot be one of ours. */
static int tg_key_decode(const char *k, size_t klen, char *out, size_t size, size_t *olen)
{
    size_t n = 0;

    for (size_t i = 0; i < klen; i++) {
        char c = k[i];
        if (c == '\\') {
            char e = k[++i];
            if (e == 'u') {
                unsigned v = 0;
                for (int j = 1; j <= 4; j++) {
                    char h = k[i + (size_t)j];
                    v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                }
                i += 4;
                if (v == 0 || v > 0x7f)
                    return -1;
                c = (char)v;
            } else {
                c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' :
                    e == 'f' ? '\f' : e;
            }
        }
        if (n == size)
            return -1;
        out[n++] = c;
    }
    *olen = n;
    return 0;
}

int tg_json_scan(const char *doc, size_t len, tg_jfield_t *fields, size_t nfields,
                 tg_jscan_t *res)
{
    char stack[TG_JSON_MAX_DEPTH];
    int depth = 0, field = -1, escaped;
    size_t vstart = 0;
    tg_jtype_t vtype = TG_JT_NONE;
    tg_sc_t s = {doc, doc, doc + len, NULL};

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < nfields; i++)
        memset(fields[i].out, 0, sizeof(*fields[i].out));

value:
    tg_sc_ws(&s);
    if (s.p >= s.end)
        goto fail_eof;
    if (depth == 1 && stack[0] == '{')
        vstart = (size_t)(s.p - doc);
    escaped = 0;
    switch (*s.p) {
    case '{':
    case '[':
        if (depth == TG_JSON_MAX_DEPTH) {
            tg_sc_fail(&s, "nesting too deep");
            goto fail;
        }
        if (depth == 0)
            res->root = *s.p == '{' ? TG_JT_OBJECT : TG_JT_ARRAY;
        if (depth == 1)
            vtype = *s.p == '{' ? TG_JT_OBJECT : TG_JT_ARRAY;
        stack[depth++] = *s.p++;
        tg_sc_ws(&s);
        if (s.p < s.end && (*s.p == '}' || *s.p == ']')) {
            if (*s.p != (stack[depth - 1] == '{' ? '}' : ']')) {
                tg_sc_fail(&s, "mismatched bracket");
                goto fail;
            }
            goto close;
        }
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    case '"':
        vtype = TG_JT_STRING;
        if (tg_sc_string(&s, &escaped) == -1)
            goto fail;
        break;
    case 't':
        vtype = TG_JT_TRUE;
        if (tg_sc_literal(&s, "true", 4) == -1)
            goto fail;
        break;
    case 'f':
        vtype = TG_JT_FALSE;
        if (tg_sc_literal(&s, "false", 5) == -1)
            goto fail;
        break;
    case 'n':
        vtype = TG_JT_NULL;
        if (tg_sc_literal(&s, "null", 4) == -1)
            goto fail;
        break;
    default:
        if (*s.p == '-' || (*s.p >= '0' && *s.p <= '9')) {
            vtype = TG_JT_NUMBER;
            if (tg_sc_number(&s) == -1)
                goto fail;
            break;
        }
        tg_sc_fail(&s, "unexpected character");
        goto fail;
    }
    if (depth == 0)
        res->root = vtype;

after:
    if (depth == 1 && stack[0] == '{' && field >= 0) {
        tg_jspan_t *o = fields[field].out;
        o->type = vtype;
        o->off = vstart;
        o->len = (size_t)(s.p - doc) - vstart;
        o->escaped = escaped;
    }
    if (depth == 1)
        field = -1;
    tg_sc_ws(&s);
    if (depth == 0) {
        if (s.p != s.end) {
            tg_sc_fail(&s, "trailing characters after the JSON value");
            goto fail;
        }
        return 0;
    }
    if (s.p >= s.end)
        goto fail_eof;
    if (*s.p == ',') {
        s.p++;
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    }
    if (*s.p == (stack[depth - 1] == '{' ? '}' : ']'))
        goto close;
    tg_sc_fail(&s, stack[depth - 1] == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    goto fail;

close:
    if (depth == 1 && stack[0] == '{')
        res->root_close = (size_t)(s.p - doc);
    s.p++;
    depth--;
    if (depth == 1)
        vtype = stack[1] == '{' ? TG_JT_OBJECT : TG_JT_ARRAY;
    escaped = 0;
    goto after;

key:
    tg_sc_ws(&s);
    if (s.p >= s.end)
        goto fail_eof;
    if (*s.p != '"') {
        tg_sc_fail(&s, "expected a string key");
        goto fail;
    }
    {
        const char *k = s.p + 1;
        int kesc = 0;

        if (tg_sc_string(&s, &kesc) == -1)
            goto fail;
        if (depth == 1) {
            size_t klen = (size_t)(s.p - 1 - k);
            char kbuf[64];

            if (kesc && tg_key_decode(k, klen, kbuf, sizeof(kbuf), &klen) == 0)
                k = kbuf;
            else if (kesc)
                klen = 0; /* decodes to nothing we look for */
            for (size_t i = 0; i < nfields && klen > 0; i++) {
                if (strlen(fields[i].key) == klen && memcmp(fields[i].key, k, klen) == 0) {
                    if (fields[i].out->type != TG_JT_NONE)
                        res->dup = fields[i].key;
                    field = (int)i;
                }
            }
        }
    }
    tg_sc_ws(&s);
    if (s.p >= s.end || *s.p != ':') {
        tg_sc_fail(&s, "expected ':'");
        goto fail;
    }
    s.p++;
    goto value;

fail_eof:
    tg_sc_fail(&s, "unexpected end of input");
fail:
    res->err = s.err;
    res->err_off = (size_t)(s.p - doc);
    return -1;
}

void tg_json_position(const char *doc, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (doc[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int tg_json_span_int(const char *doc, const tg_jspan_t *s, int64_t *out)
{
    int64_t v = 0;

    if (s->type != TG_JT_NUMBER || s->len == 0 || s->len > 19)
        return -1;
    for (size_t i = 0; i < s->len; i++) {
        char c = doc[s->off + i];
        if (c < '0' || c > '9' || v > (INT64_MAX - (c - '0')) / 10)
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}
