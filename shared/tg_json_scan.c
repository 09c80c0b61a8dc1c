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

/* Whether the n bytes at t are lit. No strlen: most keys differ from lit in their first byte. */
static inline int tg_rd_text_eq(const char *t, size_t n, const char *lit)
{
    size_t i = 0;

    while (i < n && lit[i] != '\0' && lit[i] == t[i])
        i++;
    return i == n && lit[i] == '\0';
}

/* Whether string span s, which holds escapes, decodes to lit. */
static int tg_rd_str_eq_escaped(const char *doc, const tg_jspan_t *s, const char *lit)
{
    size_t n = strlen(lit), len;
    char buf[64];

    /* compare in pieces of the buffer's size: literals are short, so one piece as a rule */
    for (size_t at = 0;; at += sizeof(buf)) {
        size_t piece = n - at < sizeof(buf) ? n - at : sizeof(buf);

        if (tg_json_str(doc, s, at, buf, piece, &len) == -1 || len != n ||
            memcmp(buf, lit + at, piece) != 0)
            return 0;
        if (at + piece == n)
            return 1;
    }
}

/* Whether string span k (a key, valid) is lit. */
static inline int tg_rd_key_is(const char *doc, const tg_jspan_t *k, const char *lit)
{
    return k->escaped ? tg_rd_str_eq_escaped(doc, k, lit)
                      : tg_rd_text_eq(doc + k->off + 1, k->len - 2, lit);
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
        tg_jspan_t k = {TG_JT_STRING, (size_t)(s.p - doc), 0, 0};

        if (tg_sc_string(&s, &k.escaped) == -1)
            goto fail;
        k.len = (size_t)(s.p - doc) - k.off;
        for (size_t i = 0; depth == 1 && i < nfields; i++) {
            /* compared decoded ("mo\u0064el" is "model"); the key is valid, so it may be read */
            if (tg_rd_key_is(doc, &k, fields[i].key)) {
                if (fields[i].out->type != TG_JT_NONE)
                    res->dup = fields[i].key;
                field = (int)i;
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

/* ---- reading a validated document ----------------------------------------------------- */

static size_t tg_rd_ws(const char *doc, size_t p, size_t end)
{
    while (p < end && (doc[p] == ' ' || doc[p] == '\n' || doc[p] == '\r' || doc[p] == '\t'))
        p++;
    return p;
}

/* Bytes a string walk stops at: the closing quote, and a backslash (whose escape it skips). */
static const unsigned char tg_rd_string_stops[256] = {['"'] = 1, ['\\'] = 1};

/* Whether one of the 8 bytes at s is a quote or a backslash (a zero byte of s ^ '"' or '\\'). */
static int tg_rd_word_stops(const char *s)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t w, q, b;

    memcpy(&w, s, sizeof(w));
    q = w ^ (ones * '"');
    b = w ^ (ones * '\\');
    return ((((q - ones) & ~q) | ((b - ones) & ~b)) & highs) != 0;
}

/* A long string from q: memchr finds the closing quote and each backslash in big steps. */
static size_t tg_rd_string_long(const char *doc, size_t q, size_t end, int *escaped)
{
    size_t quote = q; /* the next '"' memchr found (none looked for yet) */

    while (q < end) {
        const char *bs;

        if (quote <= q) {
            const char *f = memchr(doc + q, '"', end - q);
            quote = f != NULL ? (size_t)(f - doc) : end;
        }
        if ((bs = memchr(doc + q, '\\', quote - q)) == NULL)
            return quote < end ? quote + 1 : end; /* no backslash before it: the closing quote */
        *escaped = 1;
        q = (size_t)(bs - doc) + 2; /* if it escaped the quote, the next round looks further */
    }
    return end;
}

/*
 * The string at p (its opening quote): where it ends, and whether it holds an escape. Keys,
 * labels and short texts are read eight bytes at a time; after 64 plain bytes (a prompt) the
 * rest goes to memchr.
 */
static size_t tg_rd_string(const char *doc, size_t p, size_t end, int *escaped)
{
    size_t q = p + 1;

    *escaped = 0;
    while (q < end) {
        size_t stop = end - q > 64 ? q + 64 : end;

        while (stop - q >= 8 && !tg_rd_word_stops(doc + q))
            q += 8;
        while (q < stop && !tg_rd_string_stops[(unsigned char)doc[q]])
            q++;
        if (q == stop)
            return q < end ? tg_rd_string_long(doc, q, end, escaped) : end;
        if (doc[q] == '"')
            return q + 1;
        *escaped = 1;
        q += 2; /* the backslash and the escape's letter (a \u's digits are plain) */
    }
    return end; /* unterminated: not a document the scanner accepted */
}

/* Bytes the container skip stops at: quotes and brackets. */
static const unsigned char tg_rd_special[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1,
};

/* The object or array at p: where it ends. */
static size_t tg_rd_container(const char *doc, size_t p, size_t end)
{
    size_t depth = 0;
    int esc;

    while (p < end) {
        while (p < end && !tg_rd_special[(unsigned char)doc[p]])
            p++;
        if (p >= end)
            break;
        if (doc[p] == '"') {
            p = tg_rd_string(doc, p, end, &esc);
            continue;
        }
        if (doc[p] == '{' || doc[p] == '[') {
            depth++;
        } else if (--depth == 0) {
            return p + 1;
        }
        p++;
    }
    return end;
}

/* A value's type from its first byte. */
static tg_jtype_t tg_rd_type(char c)
{
    switch (c) {
    case '{':
        return TG_JT_OBJECT;
    case '[':
        return TG_JT_ARRAY;
    case '"':
        return TG_JT_STRING;
    case 't':
        return TG_JT_TRUE;
    case 'f':
        return TG_JT_FALSE;
    case 'n':
        return TG_JT_NULL;
    default:
        return TG_JT_NUMBER;
    }
}

/* The value at p: its span; returns where it ends. */
static size_t tg_rd_value(const char *doc, size_t p, size_t end, tg_jspan_t *v)
{
    v->off = p;
    v->escaped = 0;
    switch ((v->type = tg_rd_type(doc[p]))) {
    case TG_JT_STRING:
        p = tg_rd_string(doc, p, end, &v->escaped);
        break;
    case TG_JT_OBJECT:
    case TG_JT_ARRAY:
        p = tg_rd_container(doc, p, end);
        break;
    case TG_JT_TRUE:
    case TG_JT_NULL:
        p += 4;
        break;
    case TG_JT_FALSE:
        p += 5;
        break;
    default:
        p++;
        while (p < end && ((doc[p] >= '0' && doc[p] <= '9') || doc[p] == '.' || doc[p] == 'e' ||
                           doc[p] == 'E' || doc[p] == '+' || doc[p] == '-'))
            p++;
        break;
    }
    if (p > end)
        p = end;
    v->len = p - v->off;
    return p;
}

void tg_json_root(const char *doc, size_t len, tg_jspan_t *out)
{
    size_t p = tg_rd_ws(doc, 0, len), end = len;

    memset(out, 0, sizeof(*out));
    while (end > p && (doc[end - 1] == ' ' || doc[end - 1] == '\n' || doc[end - 1] == '\r' ||
                       doc[end - 1] == '\t'))
        end--;
    if (p == end)
        return;
    /* an accepted document is its value between spaces: no need to walk it to its end */
    out->type = tg_rd_type(doc[p]);
    out->off = p;
    out->len = end - p;
    out->escaped = out->type == TG_JT_STRING && memchr(doc + p, '\\', end - p) != NULL;
}

void tg_json_iter(tg_jiter_t *it, const char *doc, const tg_jspan_t *c)
{
    it->doc = doc;
    it->object = c->type == TG_JT_OBJECT;
    it->p = it->end = 0;
    if ((c->type == TG_JT_OBJECT || c->type == TG_JT_ARRAY) && c->len >= 2) {
        it->p = c->off + 1;
        it->end = c->off + c->len - 1;
    }
}

/*
 * Move *pp past the separator to a container's next element and, in an object, past its key
 * (its span in *key) and colon, to the value. Returns 0 at the closing bracket or the end.
 */
static int tg_rd_element(const char *doc, size_t *pp, size_t end, int object, tg_jspan_t *key)
{
    size_t p = tg_rd_ws(doc, *pp, end);

    if (p < end && doc[p] == ',')
        p = tg_rd_ws(doc, p + 1, end);
    if (p < end && object && doc[p] == '"') {
        key->type = TG_JT_STRING;
        key->off = p;
        p = tg_rd_string(doc, p, end, &key->escaped);
        key->len = p - key->off;
        p = tg_rd_ws(doc, p, end);
        if (p < end && doc[p] == ':')
            p = tg_rd_ws(doc, p + 1, end);
    }
    *pp = p;
    return p < end && doc[p] != '}' && doc[p] != ']';
}

int tg_json_next(tg_jiter_t *it, tg_jspan_t *key, tg_jspan_t *val)
{
    tg_jspan_t k = {TG_JT_NONE, 0, 0, 0};
    size_t p = it->p;

    if (!tg_rd_element(it->doc, &p, it->end, it->object, &k)) {
        it->p = it->end;
        return 0;
    }
    if (key != NULL)
        *key = k;
    it->p = tg_rd_value(it->doc, p, it->end, val);
    return 1;
}

static void tg_rd_absent(tg_jfield_t *fields, size_t nfields)
{
    for (size_t i = 0; i < nfields; i++)
        memset(fields[i].out, 0, sizeof(*fields[i].out));
}

/* The object at p (its '{'): fills the listed members' spans; returns where it ends. */
static size_t tg_rd_members(const char *doc, size_t p, size_t end, tg_jfield_t *fields,
                            size_t nfields)
{
    tg_jspan_t k = {TG_JT_NONE, 0, 0, 0}, v;

    tg_rd_absent(fields, nfields);
    p++;
    while (tg_rd_element(doc, &p, end, 1, &k)) {
        p = tg_rd_value(doc, p, end, &v);
        for (size_t i = 0; i < nfields && k.type == TG_JT_STRING; i++) {
            if (tg_rd_key_is(doc, &k, fields[i].key))
                *fields[i].out = v; /* a later duplicate overwrites: the last one wins */
        }
    }
    return p < end ? p + 1 : end;
}

void tg_json_members(const char *doc, const tg_jspan_t *obj, tg_jfield_t *fields, size_t nfields)
{
    if (obj->type == TG_JT_OBJECT && obj->len >= 2)
        tg_rd_members(doc, obj->off, obj->off + obj->len, fields, nfields);
    else
        tg_rd_absent(fields, nfields);
}

int tg_json_next_members(tg_jiter_t *it, tg_jspan_t *val, tg_jfield_t *fields, size_t nfields)
{
    tg_jspan_t k;
    size_t p = it->p;

    if (!tg_rd_element(it->doc, &p, it->end, it->object, &k)) {
        it->p = it->end;
        return 0;
    }
    if (it->doc[p] != '{') {
        tg_rd_absent(fields, nfields);
        it->p = tg_rd_value(it->doc, p, it->end, val);
        return 1;
    }
    it->p = tg_rd_members(it->doc, p, it->end, fields, nfields);
    val->type = TG_JT_OBJECT;
    val->off = p;
    val->len = it->p - p;
    val->escaped = 0;
    return 1;
}

/* Four hex digits at s (the scan checked them). */
static unsigned tg_rd_hex4(const char *s)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char h = s[i];
        v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
    }
    return v;
}

static size_t tg_rd_utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* What the one-letter escapes stand for; '"', '\\' and '/' stand for themselves. */
static const char tg_rd_escapes[256] = {
    ['b'] = '\b', ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

/* The escape at s[*i] (a backslash) of a string's n bytes of text: its bytes in out. */
static size_t tg_rd_unescape(const char *s, size_t n, size_t *i, char *out)
{
    size_t at = *i;
    unsigned cp, lo;

    if (at + 1 >= n) {
        *i = n;
        return 0;
    }
    if (s[at + 1] != 'u') {
        char e = tg_rd_escapes[(unsigned char)s[at + 1]];

        out[0] = e != 0 ? e : s[at + 1];
        *i = at + 2;
        return 1;
    }
    if (n - at < 6) {
        *i = n;
        return 0;
    }
    cp = tg_rd_hex4(s + at + 2);
    *i = at + 6;
    if (cp >= 0xD800 && cp <= 0xDBFF && n - at >= 12 && s[at + 6] == '\\' && s[at + 7] == 'u' &&
        (lo = tg_rd_hex4(s + at + 8)) >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *i = at + 12;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* unpaired */
    }
    return tg_rd_utf8(cp, out);
}

typedef struct {
    char *buf;
    size_t skip, limit; /* decoded positions [skip, limit) go to buf */
    size_t total;       /* decoded bytes so far */
} tg_rd_out_t;

static void tg_rd_emit(tg_rd_out_t *o, const char *src, size_t k)
{
    size_t from = o->total, to = o->total + k;
    size_t lo = from > o->skip ? from : o->skip, hi = to < o->limit ? to : o->limit;

    if (lo < hi)
        memcpy(o->buf + (lo - o->skip), src + (lo - from), hi - lo);
    o->total = to;
}

int tg_json_str(const char *doc, const tg_jspan_t *s, size_t skip, char *buf, size_t size,
                size_t *len)
{
    tg_rd_out_t o = {buf, skip, size > SIZE_MAX - skip ? SIZE_MAX : skip + size, 0};
    const char *t;
    size_t n, i = 0;

    *len = 0;
    if (s->type != TG_JT_STRING || s->len < 2)
        return -1;
    t = doc + s->off + 1;
    n = s->len - 2;
    while (i < n) {
        const char *bs = s->escaped ? memchr(t + i, '\\', n - i) : NULL;
        size_t run = bs != NULL ? (size_t)(bs - (t + i)) : n - i;

        tg_rd_emit(&o, t + i, run);
        i += run;
        if (i < n) {
            char u[4];
            size_t k = tg_rd_unescape(t, n, &i, u);

            tg_rd_emit(&o, u, k);
        }
    }
    *len = o.total;
    return 0;
}

int tg_json_str_eq(const char *doc, const tg_jspan_t *s, const char *lit)
{
    return s->type == TG_JT_STRING && s->len >= 2 && tg_rd_key_is(doc, s, lit);
}
