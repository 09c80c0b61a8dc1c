/*
 * Answer validators (shared/tg_validate.h): the checks a route's quality cascade runs on an
 * answer before it accepts it. The cheap checks (length, refusal phrases, regular expressions)
 * run first and allocate nothing; JSON is parsed only when `json` or `schema` asks for it, and the
 * schema subset lives in shared/tg_jschema.c.
 */
#include "shared/tg_validate.h"
#include "shared/tg_buf.h"
#include "shared/tg_jschema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Refusals and "I don't know" answers, in English. Matched in any case, with any run of white
 * space for a space and a typographic apostrophe for "'", as whole words. Each is specific enough
 * that, at the start of an answer, it means the model declined or did not know; "I'm not sure" and
 * the like are left out because they often open a useful answer (add them per route).
 */
static const char *const tg_refusals[] = {
    "I'm sorry, but I can't",
    "I'm sorry, but I cannot",
    "I'm sorry, I can't",
    "I'm sorry, I cannot",
    "Sorry, but I can't",
    "Sorry, I can't",
    "I apologize, but I can't",
    "I apologize, but I cannot",
    "I can't help with",
    "I cannot help with",
    "I can't assist with",
    "I cannot assist with",
    "I can't provide",
    "I cannot provide",
    "I can't answer",
    "I cannot answer",
    "I can't comply",
    "I cannot comply",
    "I'm unable to",
    "I am unable to",
    "I'm not able to",
    "I am not able to",
    "I won't be able to",
    "I will not be able to",
    "I must decline",
    "I don't know",
    "I do not know",
    "I don't have access to",
    "I do not have access to",
    "I don't have enough information",
    "I do not have enough information",
    "I have no idea",
    "As an AI",
    "As a language model",
};

#define TG_NREFUSALS (sizeof(tg_refusals) / sizeof(tg_refusals[0]))

typedef struct {
    char *show;     /* as written but for white space, for the reason */
    char *norm;     /* lower case, one space per white-space run, "'" for any apostrophe */
    int word_start; /* begins with a letter or digit: must not continue a word */
    int word_end;   /* ends with one: must not run into the next word */
} tg_phrase_t;

struct tg_validators_s {
    size_t min_length;
    int refusal;
    int json;
    int schema;
    int icase;
    tg_phrase_t *phrases; /* the built-in list when refusal is on, then the route's own */
    size_t nphrases;
    unsigned char first[256]; /* bytes a phrase can start with: most positions skip at once */
    int word_starts;          /* every phrase starts a word: positions inside words skip too */
    regex_t re;
    regex_t forbid;
    char *re_src; /* NULL: no regex; for reasons */
    char *forbid_src;
};

/* ---- small helpers ---------------------------------------------------------------------- */

/* A reason; returns 0 (rejected) so checks can `return tg_reject(...)`. */
__attribute__((format(printf, 3, 4))) static int tg_reject(char *why, size_t whylen,
                                                           const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int tg_vspace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int tg_vword(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static unsigned char tg_vlower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Strip ASCII white space from both ends of [*t, *t + *len). */
static void tg_trim(const char **t, size_t *len)
{
    while (*len > 0 && tg_vspace((unsigned char)**t)) {
        (*t)++;
        (*len)--;
    }
    while (*len > 0 && tg_vspace((unsigned char)(*t)[*len - 1]))
        (*len)--;
}

size_t tg_utf8_chars(const char *s, size_t len, size_t stop)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n < stop; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- compilation ------------------------------------------------------------------------ */

/* Bytes of an apostrophe at s: "'", U+2019 or U+02BC; 0 when there is none. */
static size_t tg_apostrophe(const unsigned char *s, size_t len)
{
    if (len >= 1 && s[0] == '\'')
        return 1;
    if (len >= 3 && s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0x99)
        return 3;
    if (len >= 2 && s[0] == 0xCA && s[1] == 0xBC)
        return 2;
    return 0;
}

/*
 * A phrase trimmed, with one space for each run of white space; with fold, also in lower case and
 * with "'" for every apostrophe: the form that is matched. NULL when out of memory.
 */
static char *tg_phrase_norm(const char *s, int fold)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t slen = strlen(s), n = 0, a;
    char *out = malloc(slen + 1);
    int space = 0;

    if (out == NULL)
        return NULL;
    while (*p) {
        if (tg_vspace(*p)) {
            space = n > 0;
            p++;
            continue;
        }
        if (space)
            out[n++] = ' ';
        space = 0;
        if (fold && (a = tg_apostrophe(p, slen - (size_t)(p - (const unsigned char *)s))) > 0) {
            out[n++] = '\'';
            p += a;
            continue;
        }
        out[n++] = (char)(fold ? tg_vlower(*p) : *p);
        p++;
    }
    out[n] = '\0';
    return out;
}

static int tg_phrase_add(tg_validators_t *v, const char *s)
{
    tg_phrase_t *p = &v->phrases[v->nphrases];
    size_t n;

    if ((p->show = tg_phrase_norm(s, 0)) == NULL || (p->norm = tg_phrase_norm(s, 1)) == NULL) {
        free(p->show);
        return -1;
    }
    v->nphrases++;
    v->first[(unsigned char)p->norm[0]] = 1;
    if (p->norm[0] == '\'') {
        v->first[0xE2] = 1; /* U+2019 */
        v->first[0xCA] = 1; /* U+02BC */
    }
    n = strlen(p->norm);
    p->word_start = tg_vword((unsigned char)p->norm[0]);
    p->word_end = tg_vword((unsigned char)p->norm[n - 1]);
    return 0;
}

/* A user phrase: 1 to TG_VALIDATE_PHRASE_MAX bytes, not only white space. */
static int tg_phrase_ok(const char *s, tg_validate_err_t *err)
{
    size_t len = strlen(s);

    if (len == 0 || len > TG_VALIDATE_PHRASE_MAX || strspn(s, " \t\n\r\f\v") == len) {
        snprintf(err->msg, sizeof(err->msg), "refusal_patterns: a phrase must have 1 to %d bytes",
                 TG_VALIDATE_PHRASE_MAX);
        return 0;
    }
    return 1;
}

static int tg_phrases_compile(tg_validators_t *v, const tg_validate_conf_t *conf,
                              tg_validate_err_t *err)
{
    err->field = TG_VFIELD_REFUSAL_PATTERNS;
    if (conf->nrefusal_patterns > TG_VALIDATE_PATTERNS_MAX) {
        err->index = TG_VALIDATE_PATTERNS_MAX;
        snprintf(err->msg, sizeof(err->msg), "refusal_patterns: at most %d phrases",
                 TG_VALIDATE_PATTERNS_MAX);
        return -1;
    }
    v->phrases = calloc(TG_NREFUSALS + conf->nrefusal_patterns, sizeof(tg_phrase_t));
    if (v->phrases == NULL)
        goto nomem;
    for (size_t i = 0; i < TG_NREFUSALS && conf->refusal; i++)
        if (tg_phrase_add(v, tg_refusals[i]) == -1)
            goto nomem;
    for (size_t i = 0; i < conf->nrefusal_patterns; i++) {
        err->index = i;
        if (!tg_phrase_ok(conf->refusal_patterns[i], err))
            return -1;
        if (tg_phrase_add(v, conf->refusal_patterns[i]) == -1)
            goto nomem;
    }
    err->field = TG_VFIELD_NONE;
    return 0;
nomem:
    err->field = TG_VFIELD_NONE;
    snprintf(err->msg, sizeof(err->msg), "out of memory");
    return -1;
}

static int tg_regex_compile(regex_t *re, char **src, const char *pattern, int icase,
                            tg_vfield_t field, tg_validate_err_t *err)
{
    const char *name = field == TG_VFIELD_REGEX ? "regex" : "regex_forbid";
    int rc;

    err->field = field;
    if (*pattern == '\0') {
        snprintf(err->msg, sizeof(err->msg), "%s: empty pattern", name);
        return -1;
    }
    /* REG_NOSUB: only "does it match" is asked, which lets glibc skip sub-match bookkeeping */
    rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    if (rc != 0) {
        int off = snprintf(err->msg, sizeof(err->msg), "%s: ", name);

        regerror(rc, re, err->msg + off, sizeof(err->msg) - (size_t)off);
        return -1;
    }
    if ((*src = strdup(pattern)) == NULL) {
        regfree(re);
        err->field = TG_VFIELD_NONE;
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    err->field = TG_VFIELD_NONE;
    return 0;
}

tg_validators_t *tg_validators_new(const tg_validate_conf_t *conf, tg_validate_err_t *err)
{
    tg_validators_t *v = calloc(1, sizeof(*v));

    memset(err, 0, sizeof(*err));
    if (v == NULL) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return NULL;
    }
    v->min_length = conf->min_length;
    v->refusal = conf->refusal;
    v->json = conf->json;
    v->schema = conf->schema;
    v->icase = conf->ignore_case;
    if (tg_phrases_compile(v, conf, err) == -1)
        goto fail;
    v->word_starts = 1;
    for (size_t i = 0; i < v->nphrases; i++)
        v->word_starts &= v->phrases[i].word_start;
    if (conf->regex != NULL &&
        tg_regex_compile(&v->re, &v->re_src, conf->regex, v->icase, TG_VFIELD_REGEX, err) == -1)
        goto fail;
    if (conf->regex_forbid != NULL &&
        tg_regex_compile(&v->forbid, &v->forbid_src, conf->regex_forbid, v->icase,
                         TG_VFIELD_REGEX_FORBID, err) == -1)
        goto fail;
    return v;
fail:
    tg_validators_free(v);
    return NULL;
}

void tg_validators_free(tg_validators_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nphrases; i++) {
        free(v->phrases[i].show);
        free(v->phrases[i].norm);
    }
    free(v->phrases);
    if (v->re_src != NULL)
        regfree(&v->re);
    if (v->forbid_src != NULL)
        regfree(&v->forbid);
    free(v->re_src);
    free(v->forbid_src);
    free(v);
}

int tg_validators_want_response_format(const tg_validators_t *v)
{
    return v != NULL && v->schema;
}

/* ---- refusal ---------------------------------------------------------------------------- */

/* Bytes of text matched by phrase p at t[i], or 0. */
static size_t tg_phrase_at(const unsigned char *t, size_t len, size_t i, const tg_phrase_t *p)
{
    size_t j = i, a;

    if (p->word_start && i > 0 && tg_vword(t[i - 1]))
        return 0;
    for (const char *q = p->norm; *q != '\0'; q++) {
        if (j >= len)
            return 0;
        if (*q == ' ') {
            if (!tg_vspace(t[j]))
                return 0;
            while (j < len && tg_vspace(t[j]))
                j++;
        } else if (*q == '\'' && (a = tg_apostrophe(t + j, len - j)) > 0) {
            j += a;
        } else if (tg_vlower(t[j]) == (unsigned char)*q) {
            j++;
        } else {
            return 0;
        }
    }
    if (p->word_end && j < len && tg_vword(t[j]))
        return 0;
    return j - i;
}

/* Directly after an opening quote: the answer mentions the phrase rather than says it. */
static int tg_quoted(const unsigned char *t, size_t i)
{
    static const char *const marks[] = {
        "\"", "'", "`", "\xE2\x80\x9C", "\xE2\x80\x98", "\xE2\x80\x9E", "\xC2\xAB"};

    for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
        size_t n = strlen(marks[m]);

        if (i >= n && memcmp(t + i - n, marks[m], n) == 0)
            return 1;
    }
    return 0;
}

/*
 * The refusal rule: a phrase that starts within the first TG_VALIDATE_REFUSAL_HEAD characters
 * (after leading white space), or anywhere when the whole answer has at most
 * TG_VALIDATE_REFUSAL_SHORT characters, and is not directly after an opening quote. A refusal
 * comes first or is all there is; a long answer that quotes "I don't know" later is an answer.
 */
static const tg_phrase_t *tg_find_refusal(const tg_validators_t *v, const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t i = 0, chars = 0;
    int whole;

    while (i < len && tg_vspace(t[i]))
        i++;
    whole = tg_utf8_chars(text + i, len - i, TG_VALIDATE_REFUSAL_SHORT + 1) <=
            TG_VALIDATE_REFUSAL_SHORT;
    for (; i < len; i++) {
        if ((t[i] & 0xC0) != 0x80) {
            if (chars >= TG_VALIDATE_REFUSAL_HEAD && !whole)
                break;
            chars++; /* from here on, t[i] is counted */
        }
        if (!v->first[tg_vlower(t[i])] || (v->word_starts && i > 0 && tg_vword(t[i - 1])))
            continue;
        for (size_t k = 0; k < v->nphrases; k++)
            if (tg_phrase_at(t, len, i, &v->phrases[k]) > 0 && !tg_quoted(t, i))
                return &v->phrases[k];
    }
    return NULL;
}

/* ---- JSON --------------------------------------------------------------------------------- */

/*
 * Models often wrap JSON in a Markdown fence. Accept exactly one fence around the whole answer:
 * "```" or "```json" (any case) alone on the first line, "```" at the very end. Anything else is
 * parsed as it is.
 */
static void tg_unfence(const char **text, size_t *len)
{
    const char *t = *text, *nl, *info;
    size_t n = *len, ilen;

    tg_trim(&t, &n);
    if (n < 7 || memcmp(t, "```", 3) != 0 || memcmp(t + n - 3, "```", 3) != 0)
        return;
    if ((nl = memchr(t + 3, '\n', n - 6)) == NULL)
        return;
    info = t + 3;
    ilen = (size_t)(nl - info);
    tg_trim(&info, &ilen);
    if (ilen != 0 && !(ilen == 4 && strncasecmp(info, "json", 4) == 0))
        return;
    *text = nl + 1;
    *len = (size_t)(t + n - 3 - (nl + 1));
}

/* The answer as a JSON value, or NULL with the reason. */
static json_t *tg_answer_json(const char *text, size_t len, char *why, size_t whylen)
{
    json_error_t e;
    json_t *doc;

    tg_unfence(&text, &len);
    /* duplicate keys: parsers disagree on which one counts, so the answer is ambiguous */
    doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL)
        tg_reject(why, whylen, "not JSON: %s (line %d, column %d)", e.text, e.line, e.column);
    return doc;
}

typedef enum { TG_RF_NONE = 0, TG_RF_JSON, TG_RF_OBJECT, TG_RF_SCHEMA } tg_rf_t;

/* What the request's response_format asks of the answer; *schema for TG_RF_SCHEMA. */
static tg_rf_t tg_rf_kind(const json_t *rf, const json_t **schema)
{
    const char *type = json_string_value(json_object_get(rf, "type"));
    const json_t *sc;

    if (type == NULL)
        return TG_RF_NONE;
    if (strcmp(type, "json_object") == 0)
        return TG_RF_OBJECT;
    if (strcmp(type, "json_schema") != 0)
        return TG_RF_NONE;
    sc = json_object_get(json_object_get(rf, "json_schema"), "schema");
    if (!json_is_object(sc) && !json_is_boolean(sc))
        return TG_RF_JSON; /* no schema to read: the answer must still be JSON */
    if (schema != NULL)
        *schema = sc;
    return TG_RF_SCHEMA;
}

static int tg_check_json(const tg_validators_t *v, const char *text, size_t len, const json_t *rf,
                         char *why, size_t whylen)
{
    const json_t *schema = NULL;
    tg_rf_t kind = v->schema ? tg_rf_kind(rf, &schema) : TG_RF_NONE;
    char sw[256];
    json_t *doc;
    int ok = 1;

    if (!v->json && kind == TG_RF_NONE)
        return 1;
    if ((doc = tg_answer_json(text, len, why, whylen)) == NULL)
        return 0;
    if (kind == TG_RF_OBJECT && !json_is_object(doc))
        ok = tg_reject(why, whylen, "schema: expected a JSON object (response_format json_object)");
    else if (kind == TG_RF_SCHEMA && !tg_jschema_check(schema, doc, sw, sizeof(sw)))
        ok = tg_reject(why, whylen, "schema: %s", sw);
    json_decref(doc);
    return ok;
}

/* ---- the checks ------------------------------------------------------------------------- */

/* regexec() on text[0..len): REG_STARTEND reads exactly len bytes, NULs included. */
static int tg_regex_match(const regex_t *re, const char *text, size_t len)
{
    regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)len};

    return regexec(re, text, 1, &m, REG_STARTEND);
}

static int tg_check_regex(const tg_validators_t *v, const char *text, size_t len, char *why,
                          size_t whylen)
{
    const char *flags = v->icase ? "i" : "";
    int rc;

    if (v->re_src != NULL) {
        rc = tg_regex_match(&v->re, text, len);
        if (rc == REG_NOMATCH)
            return tg_reject(why, whylen, "does not match /%s/%s", v->re_src, flags);
        if (rc != 0)
            return tg_reject(why, whylen, "regexec() failed: %d", rc);
    }
    if (v->forbid_src != NULL) {
        rc = tg_regex_match(&v->forbid, text, len);
        if (rc == 0)
            return tg_reject(why, whylen, "matches forbidden /%s/%s", v->forbid_src, flags);
        if (rc != REG_NOMATCH)
            return tg_reject(why, whylen, "regexec() failed: %d", rc);
    }
    return 1;
}

int tg_validate_answer(const tg_validators_t *v, const char *text, size_t len,
                       const json_t *response_format, char *why, size_t whylen)
{
    const char *t = text != NULL ? text : "";
    const char *body = t;
    const tg_phrase_t *p;
    size_t blen = len;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (v == NULL)
        return 1;
    if (text == NULL)
        len = blen = 0;
    if (v->min_length > 0) {
        /* white space around an answer is not content */
        size_t n;

        tg_trim(&body, &blen);
        if ((n = tg_utf8_chars(body, blen, v->min_length)) < v->min_length)
            return tg_reject(why, whylen, "shorter than %zu characters (got %zu)", v->min_length,
                             n);
    }
    if (v->nphrases > 0 && (p = tg_find_refusal(v, t, len)) != NULL)
        return tg_reject(why, whylen, "refusal: \"%s\"", p->show);
    if (!tg_check_regex(v, t, len, why, whylen))
        return 0;
    return tg_check_json(v, t, len, response_format, why, whylen);
}

/* ---- chat.completion bodies ------------------------------------------------------------- */

/* Join the text parts of an array content; -1 when out of memory. */
static int tg_answer_parts(const json_t *content, tg_answer_t *a)
{
    tg_buf_t b = {0};
    const json_t *part;
    size_t i;

    json_array_foreach(content, i, part)
    {
        const json_t *txt = json_object_get(part, "text");
        const char *type = json_string_value(json_object_get(part, "type"));

        if (type == NULL || strcmp(type, "text") != 0 || !json_is_string(txt))
            continue;
        if (tg_buf_append(&b, json_string_value(txt), json_string_length(txt)) == -1) {
            tg_buf_free(&b);
            return -1;
        }
    }
    if (b.data != NULL) {
        a->owned = b.data;
        a->text = b.data;
        a->len = b.len;
    }
    return 0;
}

int tg_answer_from_completion(const json_t *completion, tg_answer_t *a, char *why, size_t whylen)
{
    const json_t *msg, *content, *calls, *refusal;

    memset(a, 0, sizeof(*a));
    a->text = "";
    msg = json_object_get(json_array_get(json_object_get(completion, "choices"), 0), "message");
    if (!json_is_object(msg)) {
        tg_reject(why, whylen, "no choices[0].message in the answer");
        return -1;
    }
    content = json_object_get(msg, "content");
    if (json_is_string(content)) {
        a->text = json_string_value(content);
        a->len = json_string_length(content);
    } else if (json_is_array(content) && tg_answer_parts(content, a) == -1) {
        tg_reject(why, whylen, "out of memory");
        return -1;
    }
    calls = json_object_get(msg, "tool_calls");
    /* function_call: the pre-tools form of the same thing */
    a->tool_calls = (json_is_array(calls) && json_array_size(calls) > 0) ||
                    json_is_object(json_object_get(msg, "function_call"));
    refusal = json_object_get(msg, "refusal");
    if (json_is_string(refusal) && json_string_length(refusal) > 0)
        a->refusal = json_string_value(refusal);
    return 0;
}

void tg_answer_release(tg_answer_t *a)
{
    free(a->owned);
    a->owned = NULL;
}

static int tg_validate_message(const tg_validators_t *v, const tg_answer_t *a, const json_t *rf,
                               char *why, size_t whylen)
{
    const char *t = a->text;
    size_t len = a->len;

    if (a->refusal != NULL && v->refusal)
        return tg_reject(why, whylen, "refusal: the model set message.refusal");
    tg_trim(&t, &len);
    if (!a->tool_calls || len > 0)
        return tg_validate_answer(v, a->text, a->len, rf, why, whylen);
    if (v->json)
        return tg_reject(why, whylen, "not JSON: a tool call and no text");
    if (v->schema && tg_rf_kind(rf, NULL) != TG_RF_NONE)
        return tg_reject(why, whylen, "schema: a tool call and no text");
    return 1;
}

int tg_validate_completion(const tg_validators_t *v, const json_t *completion,
                           const json_t *response_format, char *why, size_t whylen)
{
    tg_answer_t a;
    int ok = 0;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (v == NULL)
        return 1;
    if (tg_answer_from_completion(completion, &a, why, whylen) == 0)
        ok = tg_validate_message(v, &a, response_format, why, whylen);
    tg_answer_release(&a);
    return ok;
}
