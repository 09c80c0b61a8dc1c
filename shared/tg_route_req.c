/*
 * Request facts for route decisions (see tg_route_req.h), read from the body's bytes with the
 * JSON scanner's cursor instead of a DOM: strings without escapes are read where they lie,
 * escaped ones are decoded into bounded stack buffers, and of message text only the tail the
 * estimator will read is decoded. Nothing allocates.
 */
#include "shared/tg_route_req.h"
#include "shared/tg_buf.h"
#include "shared/tg_json_scan.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_CX_MSGS_MAX 256 /* the newest texts the estimator reads; it saturates long before */
#define TG_CX_SCORE_TEXT_MAX 511 /* a longer metadata.complexity text is a label, never a score */

/* One text of the conversation: a string span of the body. */
typedef struct {
    size_t off, len;
    int escaped;
    tg_cx_role_t role;
} tg_rq_text_t;

/* The texts seen so far; the ring keeps the newest TG_CX_MSGS_MAX in order. */
typedef struct {
    tg_rq_text_t ring[TG_CX_MSGS_MAX];
    size_t n; /* texts seen, including those the ring no longer holds */
} tg_rq_texts_t;

/* A complexity given as text: a number from 0 to 1 ("0.7") is a score, other text a label. */
static void tg_set_complexity(tg_route_req_t *q, const char *s, int may_be_score,
                              const char *source)
{
    char *end = NULL;
    double v = may_be_score && *s != '\0' ? strtod(s, &end) : -1;

    q->complexity_source = source;
    if (end != NULL && *end == '\0' && v >= 0.0 && v <= 1.0) {
        q->score = v;
        q->have_score = 1;
        return;
    }
    tg_strlcpy(q->complexity, s, sizeof(q->complexity));
}

/* A string member's text cut to size - 1 bytes (as snprintf cuts); -1 if v is no string. */
static int tg_rq_label(const char *doc, const tg_jspan_t *v, char *out, size_t size)
{
    size_t len;

    out[0] = '\0';
    if (tg_json_str(doc, v, 0, out, size - 1, &len) == -1)
        return -1;
    out[len < size - 1 ? len : size - 1] = '\0';
    return 0;
}

/* json_is_integer: a number written without fraction or exponent. */
static int tg_rq_is_int(const char *doc, const tg_jspan_t *v)
{
    if (v->type != TG_JT_NUMBER)
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        char c = doc[v->off + i];

        if (c == '.' || c == 'e' || c == 'E')
            return 0;
    }
    return 1;
}

/*
 * A number as jansson reads it: an integer converts from its 64-bit value (so -0 is 0), any
 * other number with strtod, which stops at the delimiter that follows every member's value.
 * Returns -1 for what jansson refuses (integers beyond 64 bits, doubles that overflow).
 */
static int tg_rq_number(const char *doc, const tg_jspan_t *v, double *out)
{
    const char *s = doc + v->off;
    char *end;

    if (v->type != TG_JT_NUMBER)
        return -1;
    if (tg_rq_is_int(doc, v)) {
        int64_t n = 0;

        for (size_t i = *s == '-'; i < v->len; i++) {
            if (n > (INT64_MAX - (s[i] - '0')) / 10)
                return -1;
            n = n * 10 + (s[i] - '0');
        }
        *out = (double)(*s == '-' ? -n : n);
        return 0;
    }
    *out = strtod(s, &end);
    return end == s + v->len && *out > -HUGE_VAL && *out < HUGE_VAL ? 0 : -1;
}

static int64_t tg_rq_max_tokens(const char *doc, const tg_jspan_t *max_completion,
                                const tg_jspan_t *max)
{
    const tg_jspan_t *v = tg_rq_is_int(doc, max_completion) ? max_completion : max;
    int64_t n;

    return tg_rq_is_int(doc, v) && tg_json_span_int(doc, v, &n) == 0 && n > 0 ? n : 0;
}

static tg_cx_role_t tg_rq_role(const char *doc, const tg_jspan_t *role)
{
    if (role->type != TG_JT_STRING)
        return TG_CX_ROLE_USER;
    if (tg_json_str_eq(doc, role, "assistant"))
        return TG_CX_ROLE_ASSISTANT;
    if (tg_json_str_eq(doc, role, "tool") || tg_json_str_eq(doc, role, "function"))
        return TG_CX_ROLE_TOOL;
    if (tg_json_str_eq(doc, role, "system") || tg_json_str_eq(doc, role, "developer"))
        return TG_CX_ROLE_SYSTEM;
    return TG_CX_ROLE_USER;
}

static void tg_rq_add(tg_rq_texts_t *t, tg_cx_role_t role, const tg_jspan_t *text)
{
    tg_rq_text_t *e;

    if (text->type != TG_JT_STRING)
        return;
    e = &t->ring[t->n % TG_CX_MSGS_MAX]; /* when full, the oldest text gives way */
    t->n++;
    e->off = text->off;
    e->len = text->len;
    e->escaped = text->escaped;
    e->role = role;
}

/*
 * The texts to estimate from: the messages' (string content, or the text parts), or when they
 * have none the legacy completions' prompt. Notes image parts as a vision need.
 */
static void tg_rq_texts(const char *doc, const tg_jspan_t *messages, const tg_jspan_t *prompt,
                        tg_rq_texts_t *t, unsigned *needs)
{
    tg_jspan_t m, role, content, part, type, text;
    tg_jfield_t mf[2] = {{"role", &role}, {"content", &content}};
    tg_jfield_t pf[2] = {{"type", &type}, {"text", &text}};
    tg_jiter_t it, parts;

    t->n = 0;
    tg_json_iter(&it, doc, messages);
    while (messages->type == TG_JT_ARRAY && tg_json_next_members(&it, &m, mf, 2)) {
        tg_cx_role_t r = tg_rq_role(doc, &role);

        if (content.type == TG_JT_STRING) {
            tg_rq_add(t, r, &content);
            continue;
        }
        if (content.type != TG_JT_ARRAY)
            continue;
        tg_json_iter(&parts, doc, &content);
        while (tg_json_next_members(&parts, &part, pf, 2)) {
            if (tg_json_str_eq(doc, &type, "image_url"))
                *needs |= TG_CAP_VISION;
            else
                tg_rq_add(t, r, &text);
        }
    }
    if (t->n == 0)
        tg_rq_add(t, TG_CX_ROLE_USER, prompt);
}

/*
 * Run the estimator on the newest texts. Texts without escapes are passed where they lie; of an
 * escaped user text only the tail the estimator reads is decoded (it reads user text newest
 * first, up to TG_CX_SCAN_MAX bytes in all), so one buffer of that size holds every tail.
 */
static void tg_rq_estimate(const char *doc, const tg_rq_texts_t *t, unsigned flags,
                           tg_route_req_t *q)
{
    tg_cx_msg_t msgs[TG_CX_MSGS_MAX];
    char tails[TG_CX_SCAN_MAX];
    size_t n = t->n, used = 0, left = sizeof(tails);

    if (n > TG_CX_MSGS_MAX)
        n = TG_CX_MSGS_MAX;
    for (size_t i = 0; i < n; i++) {
        const tg_rq_text_t *e = &t->ring[(t->n - n + i) % TG_CX_MSGS_MAX];

        msgs[i] = (tg_cx_msg_t){.role = e->role, .text = doc + e->off + 1, .len = e->len - 2};
    }
    for (size_t i = n; i-- > 0;) {
        const tg_rq_text_t *e = &t->ring[(t->n - n + i) % TG_CX_MSGS_MAX];
        tg_jspan_t s = {TG_JT_STRING, e->off, e->len, 1};
        size_t total, take;

        if (e->role != TG_CX_ROLE_USER)
            continue;
        if (!e->escaped) {
            left -= msgs[i].len < left ? msgs[i].len : left;
            continue;
        }
        /* most texts fit whole: one pass; a longer one is measured by it, then its tail read */
        tg_json_str(doc, &s, 0, tails + used, left, &total);
        take = total;
        if (total > left) {
            take = left;
            tg_json_str(doc, &s, total - take, tails + used, take, &total);
        }
        msgs[i].text = tails + used;
        msgs[i].len = take;
        msgs[i].skipped = total - take;
        used += take; /* used <= what the newer texts took of the budget: tails has room */
        left -= take;
    }
    q->score = tg_complexity_score(msgs, n, flags, &q->cx);
    q->have_score = 1;
    q->complexity_source = "estimator";
}

void tg_route_req_read(const char *body, size_t len, const char *hdr_task,
                       const char *hdr_complexity, const char *key_task, tg_route_req_t *q)
{
    enum { F_META, F_USER, F_TOOLS, F_RF, F_MESSAGES, F_PROMPT, F_MAX, F_MAXC, F_COUNT };
    tg_jspan_t root = {TG_JT_NONE, 0, 0, 0}, f[F_COUNT], task, cx, rft, tool;
    tg_jfield_t fields[F_COUNT] = {
        {"metadata", &f[F_META]},     {"user", &f[F_USER]},
        {"tools", &f[F_TOOLS]},       {"response_format", &f[F_RF]},
        {"messages", &f[F_MESSAGES]}, {"prompt", &f[F_PROMPT]},
        {"max_tokens", &f[F_MAX]},    {"max_completion_tokens", &f[F_MAXC]},
    };
    tg_jfield_t meta[2] = {{"task", &task}, {"complexity", &cx}}, rf = {"type", &rft};
    tg_rq_texts_t texts;
    tg_jiter_t it;
    unsigned flags = 0;
    char text[TG_CX_SCORE_TEXT_MAX + 1];
    size_t textlen;
    double v;

    memset(q, 0, sizeof(*q));
    q->prompt_tokens = (int64_t)(len + 3) / 4;
    if (body != NULL)
        tg_json_root(body, len, &root);
    tg_json_members(body, &root, fields, F_COUNT);
    tg_json_members(body, &f[F_META], meta, 2);
    tg_json_members(body, &f[F_RF], &rf, 1);
    q->max_tokens = tg_rq_max_tokens(body, &f[F_MAXC], &f[F_MAX]);
    tg_rq_label(body, &f[F_USER], q->user, sizeof(q->user));
    /* the task: header, then metadata.task, then the key's default */
    if (hdr_task != NULL && *hdr_task != '\0') {
        tg_strlcpy(q->task, hdr_task, sizeof(q->task));
        q->task_source = "header";
    } else if (tg_rq_label(body, &task, q->task, sizeof(q->task)) == 0) {
        q->task_source = "metadata";
    } else if (key_task != NULL && *key_task != '\0') {
        tg_strlcpy(q->task, key_task, sizeof(q->task));
        q->task_source = "key";
    }
    tg_json_iter(&it, body, &f[F_TOOLS]);
    if (f[F_TOOLS].type == TG_JT_ARRAY && tg_json_next(&it, NULL, &tool)) {
        q->needs |= TG_CAP_TOOLS;
        flags |= TG_CX_REQ_TOOLS;
    }
    if (tg_json_str_eq(body, &rft, "json_object") || tg_json_str_eq(body, &rft, "json_schema")) {
        q->needs |= TG_CAP_JSON;
        flags |= TG_CX_REQ_JSON;
    }
    tg_rq_texts(body, &f[F_MESSAGES], &f[F_PROMPT], &texts, &q->needs);
    /* the complexity: header, then metadata.complexity, then the estimator */
    if (hdr_complexity != NULL && *hdr_complexity != '\0') {
        tg_set_complexity(q, hdr_complexity, 1, "header");
        return;
    }
    if (tg_json_str(body, &cx, 0, text, TG_CX_SCORE_TEXT_MAX, &textlen) == 0 && textlen > 0) {
        text[textlen < TG_CX_SCORE_TEXT_MAX ? textlen : TG_CX_SCORE_TEXT_MAX] = '\0';
        tg_set_complexity(q, text, textlen <= TG_CX_SCORE_TEXT_MAX, "metadata");
        return;
    }
    if (tg_rq_number(body, &cx, &v) == 0 && v >= 0 && v <= 1) {
        q->score = v;
        q->have_score = 1;
        q->complexity_source = "metadata";
        return;
    }
    if (texts.n > 0)
        tg_rq_estimate(body, &texts, flags, q);
    /* else nothing to read (embeddings): no complexity */
}

void tg_route_req_input(const tg_route_req_t *q, const char *sticky, tg_route_input_t *in)
{
    memset(in, 0, sizeof(*in));
    in->task = q->task;
    in->complexity = q->complexity;
    in->score = q->score;
    in->have_score = q->have_score;
    in->score_source = q->complexity_source;
    in->prompt_tokens = q->prompt_tokens;
    in->max_tokens = q->max_tokens;
    in->needs = q->needs;
    in->sticky = sticky;
}
