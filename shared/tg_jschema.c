/*
 * The JSON Schema subset behind the `schema` answer validator (shared/tg_jschema.h). It walks the
 * schema and the answer together, writing the instance path into a fixed buffer as it descends,
 * so a mismatch names the exact place ("$.items[2].price: expected number, got string"). What it
 * cannot judge (unknown keywords, malformed keyword values, unresolvable references) never
 * rejects an answer: the check must not be stricter than the schema the provider enforced.
 */
#include "shared/tg_jschema.h"
#include "shared/tg_validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * jansson's iteration and lookup functions take json_t * even for reading; everything below only
 * reads, and tg_jschema_check() is the one place that drops the const.
 */
typedef struct {
    json_t *root; /* for $ref */
    char *why;
    size_t whylen;
    char path[TG_JSCHEMA_PATH_MAX];
    size_t plen;
    unsigned depth;
    unsigned long steps;
    int quiet;   /* inside anyOf, oneOf, not: a failing branch is no reason to report */
    int aborted; /* a limit was reached: the reason is written and the result is a mismatch */
} tg_js_t;

static int tg_js_check(tg_js_t *s, json_t *sc, json_t *inst);

/* ---- reasons and paths ------------------------------------------------------------------ */

static int tg_js_vwrite(tg_js_t *s, const char *fmt, va_list ap)
{
    int off;

    if (s->why == NULL || s->whylen == 0)
        return 0;
    off = snprintf(s->why, s->whylen, "%s: ", s->path);
    if (off >= 0 && (size_t)off < s->whylen)
        vsnprintf(s->why + off, s->whylen - (size_t)off, fmt, ap);
    return 0;
}

/* A mismatch here; returns 0 so callers can `return tg_js_fail(...)`. */
__attribute__((format(printf, 2, 3))) static int tg_js_fail(tg_js_t *s, const char *fmt, ...)
{
    va_list ap;

    if (s->quiet || s->aborted)
        return 0;
    va_start(ap, fmt);
    tg_js_vwrite(s, fmt, ap);
    va_end(ap);
    return 0;
}

/* A limit reached: reported even inside anyOf, and nothing later overwrites it. */
__attribute__((format(printf, 2, 3))) static int tg_js_abort(tg_js_t *s, const char *fmt, ...)
{
    va_list ap;

    if (s->aborted)
        return 0;
    va_start(ap, fmt);
    tg_js_vwrite(s, fmt, ap);
    va_end(ap);
    s->aborted = 1;
    return 0;
}

static void tg_js_putc(tg_js_t *s, char ch)
{
    /* a path longer than the buffer is cut short: still a true prefix of where the problem is */
    if (s->plen + 1 < sizeof(s->path)) {
        s->path[s->plen++] = ch;
        s->path[s->plen] = '\0';
    }
}

static void tg_js_puts(tg_js_t *s, const char *str)
{
    while (*str)
        tg_js_putc(s, *str++);
}

static int tg_js_ident(const char *k)
{
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_' || *k == '$'))
        return 0;
    for (k++; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '$'))
            return 0;
    return 1;
}

/* Descend into a property: ".name", or ["odd key"] when it is not an identifier. */
static size_t tg_js_push_key(tg_js_t *s, const char *k)
{
    size_t saved = s->plen;

    if (tg_js_ident(k)) {
        tg_js_putc(s, '.');
        tg_js_puts(s, k);
        return saved;
    }
    tg_js_puts(s, "[\"");
    for (; *k; k++) {
        if (*k == '"' || *k == '\\')
            tg_js_putc(s, '\\');
        /* control bytes would garble a log line */
        tg_js_putc(s, (unsigned char)*k < 0x20 ? '?' : *k);
    }
    tg_js_puts(s, "\"]");
    return saved;
}

static size_t tg_js_push_index(tg_js_t *s, size_t i)
{
    size_t saved = s->plen;
    char buf[32];

    snprintf(buf, sizeof(buf), "[%zu]", i);
    tg_js_puts(s, buf);
    return saved;
}

static void tg_js_pop(tg_js_t *s, size_t saved)
{
    s->plen = saved;
    s->path[saved] = '\0';
}

/* A mismatch at a property that is missing or not allowed: the path names the property. */
static int tg_js_fail_key(tg_js_t *s, const char *key, const char *what)
{
    size_t saved = tg_js_push_key(s, key);

    tg_js_fail(s, "%s", what);
    tg_js_pop(s, saved);
    return 0;
}

/* Check a property's or an item's value, with the path extended while it runs. */
static int tg_js_check_key(tg_js_t *s, json_t *sc, json_t *inst, const char *key)
{
    size_t saved = tg_js_push_key(s, key);
    int ok = tg_js_check(s, sc, inst);

    tg_js_pop(s, saved);
    return ok;
}

static int tg_js_check_index(tg_js_t *s, json_t *sc, json_t *inst, size_t i)
{
    size_t saved = tg_js_push_index(s, i);
    int ok = tg_js_check(s, sc, inst);

    tg_js_pop(s, saved);
    return ok;
}

/* ---- values --------------------------------------------------------------------------- */

/* JSON Schema counts 1.0 as an integer: the type is about the value, not its spelling. */
static int tg_js_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return 1;
    if (!json_is_real(v))
        return 0;
    d = json_real_value(v);
    return isfinite(d) && floor(d) == d;
}

/* 1 when inst has the named type, 0 when not, -1 for a name that is not a JSON Schema type. */
static int tg_js_has_type(const json_t *inst, const char *t)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(inst);
    if (strcmp(t, "array") == 0)
        return json_is_array(inst);
    if (strcmp(t, "string") == 0)
        return json_is_string(inst);
    if (strcmp(t, "number") == 0)
        return json_is_number(inst);
    if (strcmp(t, "integer") == 0)
        return tg_js_integral(inst);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(inst);
    if (strcmp(t, "null") == 0)
        return json_is_null(inst);
    return -1;
}

static const char *tg_js_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Numbers compare by value (1 == 1.0); exactly when both are integers. */
static int tg_js_numcmp(const json_t *a, const json_t *b)
{
    double x, y;

    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t i = json_integer_value(a), j = json_integer_value(b);
        return (i > j) - (i < j);
    }
    x = json_number_value(a);
    y = json_number_value(b);
    return (x > y) - (x < y);
}

static void tg_js_numstr(const json_t *n, char *buf, size_t len)
{
    if (json_is_integer(n))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
    else
        snprintf(buf, len, "%.15g", json_real_value(n));
}

/* JSON Schema equality (enum, const): numbers by value, objects regardless of key order. */
static int tg_js_equal(json_t *a, json_t *b)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_number(a) && json_is_number(b))
        return tg_js_numcmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (i = 0; i < json_array_size(a); i++)
            if (!tg_js_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach(a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (w == NULL || !tg_js_equal(v, w))
                return 0;
        }
        return 1;
    default:
        return 1; /* true, false, null: the type is the value */
    }
}

/* A keyword whose value must be a non-negative integer (minLength, minItems ...), or 0. */
static int tg_js_count(json_t *sc, const char *kw, size_t *out)
{
    json_t *n = json_object_get(sc, kw);
    double d;

    if (n == NULL || !tg_js_integral(n))
        return 0;
    d = json_number_value(n);
    if (d < 0)
        return 0;
    *out = d >= (double)SIZE_MAX ? SIZE_MAX : (size_t)d;
    return 1;
}

/* ---- $ref ------------------------------------------------------------------------------- */

/* An array index token: digits without a leading zero. */
static int tg_js_index(const char *tok, size_t *out)
{
    size_t i = 0;

    if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    for (; *tok; tok++) {
        if (*tok < '0' || *tok > '9' || i > SIZE_MAX / 10 - 1)
            return -1;
        i = i * 10 + (size_t)(*tok - '0');
    }
    *out = i;
    return 0;
}

/* Follow "#" or "#/a/b~1c" (RFC 6901) from the root; NULL when it leads nowhere. */
static json_t *tg_js_resolve(json_t *root, const char *ref)
{
    json_t *cur = root;
    char tok[128];
    size_t n, idx;

    if (*ref++ != '#')
        return NULL; /* another document: never fetched */
    while (*ref == '/') {
        for (ref++, n = 0; *ref != '\0' && *ref != '/'; n++) {
            char ch = *ref++;

            if (ch == '~') {
                if (*ref != '0' && *ref != '1')
                    return NULL;
                ch = *ref++ == '0' ? '~' : '/';
            }
            if (n + 1 >= sizeof(tok))
                return NULL;
            tok[n] = ch;
        }
        tok[n] = '\0';
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur) && tg_js_index(tok, &idx) == 0)
            cur = json_array_get(cur, idx);
        else
            return NULL;
        if (cur == NULL)
            return NULL;
    }
    return *ref == '\0' ? cur : NULL; /* "#anchor" is not supported */
}

static int tg_js_ref(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *ref = json_object_get(sc, "$ref"), *target;

    if (!json_is_string(ref) || (target = tg_js_resolve(s->root, json_string_value(ref))) == NULL)
        return 1;
    return tg_js_check(s, target, inst);
}

/* ---- keywords for any instance ---------------------------------------------------------- */

/* "string", "string or null", "string, number or null" */
static void tg_js_type_list(json_t *types, char *buf, size_t len)
{
    size_t n = json_array_size(types), off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + off, len - off, "%s%s", sep,
                         json_string_value(json_array_get(types, i)));

        if (w < 0)
            return;
        off += (size_t)w;
    }
}

static int tg_js_type(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *t = json_object_get(sc, "type"), *e;
    char want[128];
    size_t i;

    if (json_is_string(t)) {
        if (tg_js_has_type(inst, json_string_value(t)) != 0)
            return 1;
        return tg_js_fail(s, "expected %s, got %s", json_string_value(t), tg_js_type_name(inst));
    }
    if (!json_is_array(t) || json_array_size(t) == 0)
        return 1;
    json_array_foreach(t, i, e)
    {
        /* an unknown name makes the list one we cannot judge */
        if (!json_is_string(e) || tg_js_has_type(inst, json_string_value(e)) != 0)
            return 1;
    }
    tg_js_type_list(t, want, sizeof(want));
    return tg_js_fail(s, "expected %s, got %s", want, tg_js_type_name(inst));
}

static int tg_js_enum_const(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *en = json_object_get(sc, "enum"), *c = json_object_get(sc, "const");
    size_t i;

    if (c != NULL && !tg_js_equal(c, inst))
        return tg_js_fail(s, "not equal to const");
    if (!json_is_array(en))
        return 1;
    for (i = 0; i < json_array_size(en); i++)
        if (tg_js_equal(json_array_get(en, i), inst))
            return 1;
    return tg_js_fail(s, "not one of the enum values");
}

/* Evaluate a branch of anyOf, oneOf or not: its failure is no reason to report. */
static int tg_js_matches(tg_js_t *s, json_t *sc, json_t *inst)
{
    int ok;

    s->quiet++;
    ok = tg_js_check(s, sc, inst);
    s->quiet--;
    return ok;
}

static int tg_js_all_of(tg_js_t *s, json_t *all, json_t *inst)
{
    for (size_t i = 0; i < json_array_size(all); i++)
        if (!tg_js_check(s, json_array_get(all, i), inst))
            return 0;
    return 1;
}

static int tg_js_any_of(tg_js_t *s, json_t *any, json_t *inst)
{
    if (json_array_size(any) == 0)
        return 1; /* invalid (must be non-empty): ignored */
    for (size_t i = 0; i < json_array_size(any); i++)
        if (tg_js_matches(s, json_array_get(any, i), inst))
            return 1;
    return tg_js_fail(s, "matches no anyOf alternative");
}

static int tg_js_one_of(tg_js_t *s, json_t *one, json_t *inst)
{
    size_t n = 0;

    if (json_array_size(one) == 0)
        return 1;
    for (size_t i = 0; i < json_array_size(one) && n < 2; i++)
        n += (size_t)tg_js_matches(s, json_array_get(one, i), inst);
    if (n == 1)
        return 1;
    return tg_js_fail(s, n == 0 ? "matches no oneOf alternative"
                                : "matches more than one oneOf alternative");
}

static int tg_js_not(tg_js_t *s, json_t *neg, json_t *inst)
{
    int hit = tg_js_matches(s, neg, inst);

    if (s->aborted)
        return 0; /* a limit, not a mismatch under not: never read as a match */
    return hit ? tg_js_fail(s, "matches the schema under not") : 1;
}

static int tg_js_combinators(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *all = json_object_get(sc, "allOf"), *any = json_object_get(sc, "anyOf");
    json_t *one = json_object_get(sc, "oneOf"), *neg = json_object_get(sc, "not");

    if (json_is_array(all) && !tg_js_all_of(s, all, inst))
        return 0;
    if (json_is_array(any) && !tg_js_any_of(s, any, inst))
        return 0;
    if (json_is_array(one) && !tg_js_one_of(s, one, inst))
        return 0;
    if ((json_is_object(neg) || json_is_boolean(neg)) && !tg_js_not(s, neg, inst))
        return 0;
    return !s->aborted;
}

/* ---- keywords by instance type ---------------------------------------------------------- */

static int tg_js_string(tg_js_t *s, json_t *sc, json_t *inst)
{
    const char *str = json_string_value(inst);
    size_t len = json_string_length(inst), lim;

    /* lengths are in characters (code points), as JSON Schema defines them */
    if (tg_js_count(sc, "minLength", &lim) && tg_utf8_chars(str, len, lim) < lim)
        return tg_js_fail(s, "shorter than minLength %zu", lim);
    if (tg_js_count(sc, "maxLength", &lim) && lim < SIZE_MAX &&
        tg_utf8_chars(str, len, lim + 1) > lim)
        return tg_js_fail(s, "longer than maxLength %zu", lim);
    return 1;
}

static int tg_js_number(tg_js_t *s, json_t *sc, json_t *inst)
{
    static const struct {
        const char *kw;
        int bad; /* the comparison of instance with limit that fails */
        int or_equal;
        const char *what;
    } bounds[] = {
        {"minimum", -1, 0, "less than minimum"},
        {"maximum", 1, 0, "greater than maximum"},
        {"exclusiveMinimum", -1, 1, "not greater than exclusiveMinimum"},
        {"exclusiveMaximum", 1, 1, "not less than exclusiveMaximum"},
    };
    char num[40];

    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        json_t *lim = json_object_get(sc, bounds[i].kw);
        int cmp;

        /* draft-4's boolean exclusiveMinimum is not a number: ignored */
        if (!json_is_number(lim))
            continue;
        cmp = tg_js_numcmp(inst, lim);
        if (cmp == bounds[i].bad || (bounds[i].or_equal && cmp == 0)) {
            tg_js_numstr(lim, num, sizeof(num));
            return tg_js_fail(s, "%s %s", bounds[i].what, num);
        }
    }
    return 1;
}

static int tg_js_props(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *props = json_object_get(sc, "properties"), *ap, *v;
    const char *k;

    if (json_is_object(props))
        json_object_foreach(props, k, v)
        {
            json_t *iv = json_object_get(inst, k);
            if (iv != NULL && !tg_js_check_key(s, v, iv, k))
                return 0;
        }
    ap = json_object_get(sc, "additionalProperties");
    /* patternProperties is not supported: with it, "additional" is unknowable, so skip */
    if (!(json_is_object(ap) || json_is_boolean(ap)) || json_object_get(sc, "patternProperties"))
        return 1;
    json_object_foreach(inst, k, v)
    {
        if (json_is_object(props) && json_object_get(props, k) != NULL)
            continue;
        if (json_is_false(ap))
            return tg_js_fail_key(s, k, "additional property not allowed");
        if (!tg_js_check_key(s, ap, v, k))
            return 0;
    }
    return 1;
}

static int tg_js_object(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *req = json_object_get(sc, "required");
    size_t lim;

    for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
        const char *name = json_string_value(json_array_get(req, i));

        if (name != NULL && json_object_get(inst, name) == NULL)
            return tg_js_fail_key(s, name, "required property missing");
    }
    if (tg_js_count(sc, "minProperties", &lim) && json_object_size(inst) < lim)
        return tg_js_fail(s, "fewer properties than minProperties %zu", lim);
    if (tg_js_count(sc, "maxProperties", &lim) && json_object_size(inst) > lim)
        return tg_js_fail(s, "more properties than maxProperties %zu", lim);
    return tg_js_props(s, sc, inst);
}

static int tg_js_array(tg_js_t *s, json_t *sc, json_t *inst)
{
    json_t *prefix = json_object_get(sc, "prefixItems"), *rest = json_object_get(sc, "items");
    size_t n = json_array_size(inst), start = 0, lim;

    if (tg_js_count(sc, "minItems", &lim) && n < lim)
        return tg_js_fail(s, "fewer items than minItems %zu", lim);
    if (tg_js_count(sc, "maxItems", &lim) && n > lim)
        return tg_js_fail(s, "more items than maxItems %zu", lim);
    if (json_is_array(rest)) {
        /* draft 7's tuple form: items is the prefix, additionalItems the rest */
        prefix = rest;
        rest = json_object_get(sc, "additionalItems");
    }
    if (json_is_array(prefix)) {
        start = json_array_size(prefix);
        for (size_t i = 0; i < n && i < start; i++)
            if (!tg_js_check_index(s, json_array_get(prefix, i), json_array_get(inst, i), i))
                return 0;
    }
    if (!(json_is_object(rest) || json_is_boolean(rest)))
        return 1;
    for (size_t i = start; i < n; i++)
        if (!tg_js_check_index(s, rest, json_array_get(inst, i), i))
            return 0;
    return 1;
}

static int tg_js_by_type(tg_js_t *s, json_t *sc, json_t *inst)
{
    if (json_is_string(inst))
        return tg_js_string(s, sc, inst);
    if (json_is_number(inst))
        return tg_js_number(s, sc, inst);
    if (json_is_object(inst))
        return tg_js_object(s, sc, inst);
    if (json_is_array(inst))
        return tg_js_array(s, sc, inst);
    return 1;
}

/* ---- the walk --------------------------------------------------------------------------- */

static int tg_js_check(tg_js_t *s, json_t *sc, json_t *inst)
{
    int ok;

    if (s->aborted)
        return 0;
    /* anyOf inside anyOf over a deep answer multiplies work: bound it, whatever the schema */
    if (++s->steps > TG_JSCHEMA_MAX_STEPS)
        return tg_js_abort(s, "too complex to check (more than %d steps)", TG_JSCHEMA_MAX_STEPS);
    if (json_is_true(sc))
        return 1;
    if (json_is_false(sc))
        return tg_js_fail(s, "not allowed (false schema)");
    if (!json_is_object(sc))
        return 1;
    /* a $ref cycle that consumes nothing would otherwise recurse until the stack ends */
    if (s->depth >= TG_JSCHEMA_MAX_DEPTH)
        return tg_js_abort(s, "nested deeper than %d schema levels", TG_JSCHEMA_MAX_DEPTH);
    s->depth++;
    ok = tg_js_ref(s, sc, inst) && tg_js_type(s, sc, inst) && tg_js_enum_const(s, sc, inst) &&
         tg_js_by_type(s, sc, inst) && tg_js_combinators(s, sc, inst);
    s->depth--;
    return ok;
}

int tg_jschema_check(const json_t *schema, const json_t *instance, char *why, size_t whylen)
{
    tg_js_t s = {.root = (json_t *)schema, .why = why, .whylen = whylen, .path = "$", .plen = 1};

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    return tg_js_check(&s, (json_t *)schema, (json_t *)instance);
}
