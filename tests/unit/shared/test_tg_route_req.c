/*
 * Unit tests for shared/tg_route_req.c: the route facts read from the body's bytes must be
 * exactly what the jansson-based reader they replace read (kept below as the oracle, verbatim
 * but for its names), field by field and bit for bit, on a corpus of varied bodies and on
 * thousands of generated ones; and where jansson refuses a body the scanner accepts, the reader
 * does what tg_route_req.h says.
 */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_json_scan.h"
#include "shared/tg_route_req.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the oracle: tg_route_req.c before it read spans (commit 03e4dfc), on a jansson DOM --- */

#define OLD_MSGS_MAX 256 /* the newest messages the estimator reads; it saturates long before */

/* "0.7" -> a score; anything else is a label. */
static int old_parse_score(const char *s, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    v = strtod(s, &end);
    if (*end != '\0' || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

static void old_set_complexity(tg_route_req_t *q, const char *s, double num, int is_num,
                               const char *source)
{
    if (is_num || old_parse_score(s, &num) == 0) {
        q->score = num;
        q->have_score = 1;
    } else {
        snprintf(q->complexity, sizeof(q->complexity), "%s", s);
    }
    q->complexity_source = source;
}

static tg_cx_role_t old_cx_role(const char *role)
{
    if (role == NULL)
        return TG_CX_ROLE_USER;
    if (strcmp(role, "assistant") == 0)
        return TG_CX_ROLE_ASSISTANT;
    if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0)
        return TG_CX_ROLE_TOOL;
    if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
        return TG_CX_ROLE_SYSTEM;
    return TG_CX_ROLE_USER;
}

static void old_cx_add(tg_cx_msg_t *msgs, size_t *n, tg_cx_role_t role, json_t *text)
{
    if (!json_is_string(text))
        return;
    if (*n == OLD_MSGS_MAX) {
        /* keep the newest: drop the oldest entry */
        memmove(msgs, msgs + 1, (OLD_MSGS_MAX - 1) * sizeof(*msgs));
        (*n)--;
    }
    msgs[*n].skipped = 0; /* the one change: the field is newer than this code */
    msgs[*n].role = role;
    msgs[*n].text = json_string_value(text);
    msgs[(*n)++].len = json_string_length(text);
}

/* Messages into the estimator's shape; notes image parts as a vision need. */
static size_t old_cx_messages(json_t *messages, tg_cx_msg_t *msgs, unsigned *needs)
{
    size_t n = 0, i, j;
    json_t *m, *part;

    json_array_foreach(messages, i, m)
    {
        tg_cx_role_t role = old_cx_role(json_string_value(json_object_get(m, "role")));
        json_t *content = json_object_get(m, "content");

        if (json_is_string(content)) {
            old_cx_add(msgs, &n, role, content);
            continue;
        }
        json_array_foreach(content, j, part)
        {
            const char *type = json_string_value(json_object_get(part, "type"));

            if (type != NULL && strcmp(type, "image_url") == 0)
                *needs |= TG_CAP_VISION;
            else
                old_cx_add(msgs, &n, role, json_object_get(part, "text"));
        }
    }
    return n;
}

static int64_t old_max_tokens(json_t *req)
{
    json_t *v = json_object_get(req, "max_completion_tokens");

    if (!json_is_integer(v))
        v = json_object_get(req, "max_tokens");
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static void old_route_req_read(json_t *req, size_t body_len, const char *hdr_task,
                               const char *hdr_complexity, const char *key_task, tg_route_req_t *q)
{
    json_t *meta = json_object_get(req, "metadata"), *v, *tools, *rf;
    tg_cx_msg_t msgs[OLD_MSGS_MAX];
    const char *rft;
    unsigned flags = 0;
    size_t n;

    memset(q, 0, sizeof(*q));
    q->prompt_tokens = (int64_t)(body_len + 3) / 4;
    q->max_tokens = old_max_tokens(req);
    snprintf(q->user, sizeof(q->user), "%s",
             json_is_string(v = json_object_get(req, "user")) ? json_string_value(v) : "");
    /* the task: header, then metadata.task, then the key's default */
    if (hdr_task != NULL && *hdr_task != '\0') {
        snprintf(q->task, sizeof(q->task), "%s", hdr_task);
        q->task_source = "header";
    } else if (json_is_string(v = json_object_get(meta, "task"))) {
        snprintf(q->task, sizeof(q->task), "%s", json_string_value(v));
        q->task_source = "metadata";
    } else if (key_task != NULL && *key_task != '\0') {
        snprintf(q->task, sizeof(q->task), "%s", key_task);
        q->task_source = "key";
    }
    tools = json_object_get(req, "tools");
    if (json_is_array(tools) && json_array_size(tools) > 0) {
        q->needs |= TG_CAP_TOOLS;
        flags |= TG_CX_REQ_TOOLS;
    }
    rf = json_object_get(req, "response_format");
    rft = json_string_value(json_object_get(rf, "type"));
    if (rft != NULL && (strcmp(rft, "json_object") == 0 || strcmp(rft, "json_schema") == 0)) {
        q->needs |= TG_CAP_JSON;
        flags |= TG_CX_REQ_JSON;
    }
    n = old_cx_messages(json_object_get(req, "messages"), msgs, &q->needs);
    /* the complexity: header, then metadata.complexity, then the estimator */
    if (hdr_complexity != NULL && *hdr_complexity != '\0') {
        old_set_complexity(q, hdr_complexity, 0, 0, "header");
        return;
    }
    v = json_object_get(meta, "complexity");
    if (json_is_string(v) && json_string_length(v) > 0) {
        old_set_complexity(q, json_string_value(v), 0, 0, "metadata");
        return;
    }
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1) {
        old_set_complexity(q, NULL, json_number_value(v), 1, "metadata");
        return;
    }
    if (n == 0 && json_is_string(v = json_object_get(req, "prompt"))) {
        old_cx_add(msgs, &n, TG_CX_ROLE_USER, v); /* legacy completions */
    }
    if (n == 0)
        return; /* nothing to read (embeddings): no complexity */
    q->score = tg_complexity_score(msgs, n, flags, &q->cx);
    q->have_score = 1;
    q->complexity_source = "estimator";
}

/* ---- comparing the two ------------------------------------------------------------------- */

typedef struct {
    const char *task, *complexity, *key_task;
} hdrs_t;

/* Header and key combinations every body is read with. */
static const hdrs_t hdr_cases[] = {
    {NULL, NULL, NULL},
    {"code_review", NULL, "faq"},
    {NULL, "0.25", NULL},
    {NULL, "complex", "faq"},
    {"", "", ""},
    {NULL, " 1", NULL},
    {NULL, NULL, "content"},
};

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Read body with both readers under every header case; every field must match. */
static void assert_same_facts(const char *body, size_t len)
{
    json_error_t err;
    /* any root (the worker's parse took objects and arrays only: either way, no facts) */
    json_t *req = json_loadb(body, len, JSON_DECODE_ANY, &err);
    tg_jscan_t scan;

    ck_assert_msg(tg_json_scan(body, len, NULL, 0, &scan) == 0, "scanner refuses %.200s: %s", body,
                  scan.err);
    ck_assert_msg(req != NULL, "jansson refuses %.200s: %s", body, err.text);
    for (size_t h = 0; h < NELEM(hdr_cases); h++) {
        const hdrs_t *c = &hdr_cases[h];
        tg_route_req_t want, got;

        old_route_req_read(req, len, c->task, c->complexity, c->key_task, &want);
        tg_route_req_read(body, len, c->task, c->complexity, c->key_task, &got);
#define SAME(cond, what) ck_assert_msg(cond, "%s differs (headers %zu) for %.300s", what, h, body)
        SAME(strcmp(got.task, want.task) == 0, "task");
        SAME(same_str(got.task_source, want.task_source), "task_source");
        SAME(strcmp(got.complexity, want.complexity) == 0, "complexity");
        SAME(got.have_score == want.have_score, "have_score");
        SAME(memcmp(&got.score, &want.score, sizeof(got.score)) == 0, "score (bits)");
        SAME(same_str(got.complexity_source, want.complexity_source), "complexity_source");
        SAME(memcmp(&got.cx.counts, &want.cx.counts, sizeof(got.cx.counts)) == 0,
             "estimator counts");
        SAME(memcmp(got.cx.value, want.cx.value, sizeof(got.cx.value)) == 0, "feature values");
        SAME(memcmp(got.cx.contrib, want.cx.contrib, sizeof(got.cx.contrib)) == 0, "contributions");
        SAME(memcmp(&got.cx.score, &want.cx.score, sizeof(got.cx.score)) == 0, "cx.score");
        SAME(strcmp(got.user, want.user) == 0, "user");
        SAME(got.needs == want.needs, "needs");
        SAME(got.prompt_tokens == want.prompt_tokens, "prompt_tokens");
        SAME(got.max_tokens == want.max_tokens, "max_tokens");
#undef SAME
    }
    json_decref(req);
}

static void assert_same(const char *body)
{
    assert_same_facts(body, strlen(body));
}

/* ---- a corpus ---------------------------------------------------------------------------- */

START_TEST(corpus_reads_as_the_dom_did)
{
    static const char *const bodies[] = {
        /* chat: string content, roles, system prompts */
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be helpful.\"},{\"role\":\"user\","
        "\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"developer\",\"content\":\"Prove it.\"},{\"role\":\"user\","
        "\"content\":\"What is 2 + 2?\"},{\"role\":\"assistant\",\"content\":\"4\"},{\"role\":"
        "\"user\",\"content\":\"Why? Explain step by step.\"}]}",
        "{\"messages\":[{\"role\":\"tool\",\"content\":\"{\\\"x\\\": 1}\"},{\"role\":\"function\","
        "\"content\":\"42\"},{\"role\":\"wizard\",\"content\":\"compute the sum\"},{\"content\":"
        "\"no role\"},{\"role\":7,\"content\":\"numeric role\"}]}",
        /* array-of-parts content, images, parts without text */
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part one\"},"
        "{\"type\":\"text\",\"text\":\"part two: derive x\"},{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}},{\"type\":\"input_audio\"},"
        "{\"text\":\"untyped\"},{\"type\":5,\"text\":\"numeric type\"},{\"type\":\"text\","
        "\"text\":null},\"not an object\",7]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"image_url\"}]},{\"role\":"
        "\"user\",\"content\":[]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":null},{\"role\":\"user\",\"content\":{"
        "\"text\":\"an object\"}},{\"role\":\"user\",\"content\":12},\"hello\",[\"x\"],null]}",
        /* escapes and unicode, in text, roles, types and keys */
        "{\"messages\":[{\"role\":\"user\",\"content\":\"line one\\nline two\\t\\\"quoted\\\" "
        "\\\\ back\\/slash \\u00e9t\\u00e9 \\u20ac5 \\ud83d\\ude00 caf\xc3\xa9 \xe2\x88\x91 "
        "\xe2\x89\xa4 3\"}]}",
        "{\"messages\":[{\"r\\u006fle\":\"\\u0061ssistant\",\"c\\u006ftent\":\"x\",\"content\":"
        "\"Explain why 3 \\u00d7 4 = 12.\"},{\"role\":\"us\\u0065r\",\"content\":[{\"type\":"
        "\"image\\u005furl\"},{\"type\":\"te\\u0078t\",\"text\":\"\\u0048ow many?\"}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"```python\\ndef f(x):\\n    return x "
        "** 2\\n```\\nWhat does f(3) return? Must be exactly one number.\"}]}",
        /* metadata: task, complexity as label, numeric string, number */
        "{\"metadata\":{\"task\":\"faq\",\"complexity\":\"creative\"},\"messages\":[{\"role\":"
        "\"user\",\"content\":\"hi\"}],\"max_tokens\":50,\"user\":\"u7\"}",
        "{\"metadata\":{\"task\":\"f\\u0061q\",\"complexity\":\"0.7\"},\"messages\":[]}",
        "{\"metadata\":{\"complexity\":0.3}}",
        "{\"metadata\":{\"complexity\":1},\"messages\":[{\"content\":\"x\"}]}",
        "{\"metadata\":{\"complexity\":0}}",
        "{\"metadata\":{\"complexity\":-0}}",
        "{\"metadata\":{\"complexity\":-0.0}}",
        "{\"metadata\":{\"complexity\":1.0e0}}",
        "{\"metadata\":{\"complexity\":2.5e-1}}",
        "{\"metadata\":{\"complexity\":5E-1}}",
        "{\"metadata\":{\"complexity\":1E0}}",
        "{\"metadata\":{\"complexity\":0E5}}",
        "{\"metadata\":{\"complexity\":1e-400}}",
        "{\"metadata\":{\"complexity\":1.5},\"messages\":[{\"content\":\"estimate instead\"}]}",
        "{\"metadata\":{\"complexity\":-0.1},\"messages\":[{\"content\":\"estimate instead\"}]}",
        "{\"metadata\":{\"complexity\":2},\"messages\":[{\"content\":\"estimate instead\"}]}",
        "{\"metadata\":{\"complexity\":\"\"},\"messages\":[{\"content\":\"empty label\"}]}",
        "{\"metadata\":{\"complexity\":\" 0.5\"}}",
        "{\"metadata\":{\"complexity\":\"0.5 \"}}",
        "{\"metadata\":{\"complexity\":\"1.0000000001\"}}",
        "{\"metadata\":{\"complexity\":\"\\n0.25\"}}",
        "{\"metadata\":{\"complexity\":\"0x1p-1\"}}",
        "{\"metadata\":{\"complexity\":\"nan\"}}",
        "{\"metadata\":{\"complexity\":\"-0\"}}",
        "{\"metadata\":{\"complexity\":true,\"task\":null},\"messages\":[{\"content\":\"x\"}]}",
        "{\"metadata\":{\"complexity\":[0.5],\"task\":5},\"messages\":[{\"content\":\"x\"}]}",
        "{\"metadata\":{\"task\":\"\"}}",
        "{\"metadata\":{\"task\":\"a\",\"task\":\"b\",\"complexity\":\"x\",\"complexity\":0.9}}",
        "{\"metadata\":{\"nested\":{\"task\":\"inner\",\"complexity\":0.1}}}",
        "{\"metadata\":\"faq\",\"messages\":[{\"content\":\"x\"}]}",
        "{\"metadata\":[{\"task\":\"faq\"}],\"messages\":[{\"content\":\"x\"}]}",
        "{\"metadata\":null}",
        "{\"metadata\":{\"task\":\"faq\"},\"metadata\":{\"complexity\":\"simple\"}}",
        /* labels longer than TG_LABEL_MAX - 1 are cut, as snprintf cut them */
        "{\"user\":\"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
        "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu\","
        "\"metadata\":{\"task\":\"tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"
        "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt\\u00e9ttttt\"}}",
        /* user */
        "{\"user\":\"u\\u00e9\"}",
        "{\"user\":42}",
        "{\"user\":null,\"messages\":[{\"content\":\"x\"}]}",
        "{\"user\":\"\"}",
        /* tools */
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
        "\"type\":\"object\"}}}],\"messages\":[{\"content\":\"call f\"}]}",
        "{\"tools\":[],\"messages\":[{\"content\":\"no tools\"}]}",
        "{\"tools\":[ ],\"messages\":[{\"content\":\"no tools\"}]}",
        "{\"tools\":{\"a\":1},\"messages\":[{\"content\":\"object tools\"}]}",
        "{\"tools\":\"f\",\"messages\":[{\"content\":\"string tools\"}]}",
        "{\"tools\":[null]}",
        /* response_format */
        "{\"response_format\":{\"type\":\"json_object\"},\"messages\":[{\"content\":\"x\"}]}",
        "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
        "\"schema\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"}}}}},"
        "\"messages\":[{\"content\":\"x\"}]}",
        "{\"response_format\":{\"type\":\"text\"},\"messages\":[{\"content\":\"x\"}]}",
        "{\"response_format\":{\"type\":\"json_\\u006fbject\"},\"messages\":[{\"content\":\"x\"}]}",
        "{\"response_format\":\"json_object\",\"messages\":[{\"content\":\"x\"}]}",
        "{\"response_format\":{\"type\":3},\"messages\":[{\"content\":\"x\"}]}",
        "{\"response_format\":{\"schema\":{\"type\":\"json_object\"}}}",
        /* legacy completions, embeddings, nothing */
        "{\"model\":\"auto\",\"prompt\":\"Write a haiku about autumn.\"}",
        "{\"prompt\":\"Compute 12 * 7\\nthen explain why.\",\"max_tokens\":16}",
        "{\"prompt\":[\"a\",\"b\"]}",
        "{\"prompt\":\"ignored: there are messages\",\"messages\":[{\"content\":\"read\"}]}",
        "{\"prompt\":\"read: the messages have no text\",\"messages\":[{\"content\":null}]}",
        "{\"prompt\":\"read\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"image_url\"}]}]}",
        "{\"input\":\"embed me\"}",
        "{}",
        "{\"messages\":[]}",
        "{\"messages\":{\"role\":\"user\",\"content\":\"an object\"}}",
        "{\"messages\":{\"m\":{\"role\":\"user\",\"content\":\"message-shaped, in an object\"}}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":{\"p\":{\"type\":\"text\",\"text\":"
        "\"part-shaped, in an object\"},\"q\":{\"type\":\"image_url\"}}}]}",
        "{\"messages\":\"hello\"}",
        "[{\"messages\":[{\"content\":\"an array body\"}]}]",
        "\"a string body\"",
        "12",
        "null",
        /* max_tokens and max_completion_tokens */
        "{\"max_tokens\":100}",
        "{\"max_completion_tokens\":200,\"max_tokens\":100}",
        "{\"max_completion_tokens\":0,\"max_tokens\":100}",
        "{\"max_completion_tokens\":-5,\"max_tokens\":100}",
        "{\"max_completion_tokens\":-0,\"max_tokens\":100}",
        "{\"max_completion_tokens\":1.5,\"max_tokens\":100}",
        "{\"max_completion_tokens\":1e3,\"max_tokens\":100}",
        "{\"max_completion_tokens\":1E3,\"max_tokens\":100}",
        "{\"max_completion_tokens\":10.5,\"max_tokens\":100}",
        "{\"max_completion_tokens\":\"200\",\"max_tokens\":100}",
        "{\"max_completion_tokens\":null,\"max_tokens\":7}",
        "{\"max_tokens\":9223372036854775807}",
        "{\"max_tokens\":-9223372036854775807}",
        "{\"max_tokens\":100.0}",
        "{\"max_tokens\":1E2}",
        "{\"max_tokens\":true}",
        "{\"max_tokens\":1,\"max_tokens\":2}",
        /* whitespace everywhere, duplicate top-level keys (the last wins) */
        " \n{ \"messages\" : [ { \"role\" : \"user\" , \"content\" : [ { \"type\" : \"text\" , "
        "\"text\" : \"spaced out\" } ] } ] , \"user\" : \"s\" , \"tools\" : [ 1 ] } \r\n",
        "{\"user\":\"first\",\"user\":\"second\",\"messages\":[{\"content\":\"old\"}],"
        "\"messages\":[{\"content\":\"new: explain why\"}]}",
        /* values that hide brackets, quotes and keys in strings */
        "{\"x\":\"\\\"messages\\\":[{\\\"content\\\":\\\"no\\\"}]\",\"messages\":[{\"role\":"
        "\"user\",\"content\":\"}]{[\\\\\"}],\"y\":{\"messages\":\"nested\"}}",
        /* a full chat with tools, as an SDK sends it */
        "{\"model\":\"auto\",\"metadata\":{\"task\":\"code_review\"},\"messages\":[{\"role\":"
        "\"system\",\"content\":\"You review pull requests.\\nBe specific.\"},{\"role\":\"user\","
        "\"content\":\"Here is the diff:\\n```c\\nint f(int x) {\\n    return x * 2;\\n}\\n```\\n"
        "Is it correct?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"c1\",\"type\":\"function\",\"function\":{\"name\":\"run_tests\",\"arguments\":"
        "\"{\\\"suite\\\":\\\"unit\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\","
        "\"content\":\"12 passed, 0 failed\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"Tests pass. Now explain step by step why the overflow check is missing, and "
        "prove the fix is correct \\u2014 in at most 200 words.\"}]}],\"tools\":[{\"type\":"
        "\"function\",\"function\":{\"name\":\"run_tests\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"suite\":{\"type\":\"string\"}}}}}],\"response_format\":{\"type\":"
        "\"json_object\"},\"max_completion_tokens\":800,\"stream\":true,\"temperature\":0.2}",
    };

    for (size_t i = 0; i < NELEM(bodies); i++)
        assert_same(bodies[i]);
}
END_TEST

/* ---- big bodies -------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* n bytes of JSON string text (without quotes) made of pieces, escaped or not. */
static void put_text(buf_t *b, size_t n, int escaped, unsigned salt)
{
    static const char *const plain[] = {"why ",       "prove ",      "3 + 4 = 7. ", "then ",
                                        "each ",      "x ",          "def f(): ",   "{ } ; ",
                                        "How many? ", "caf\xc3\xa9 "};
    static const char *const esc[] = {"\\n",     "\\t",     "\\\"",           "\\\\",   "\\/",
                                      "\\u00e9", "\\u20ac", "\\ud83d\\ude00", "\\u0041"};
    size_t start = b->len;

    for (unsigned i = salt; b->len - start < n; i++) {
        puts_(b, plain[i % NELEM(plain)]);
        if (escaped && i % 3 == 0)
            puts_(b, esc[(i / 3) % NELEM(esc)]);
    }
}

START_TEST(big_bodies_read_as_the_dom_did)
{
    /* long texts around the estimator's 16 KiB budget, escaped and not, newest first */
    static const size_t sizes[] = {100, 16000, 16384, 16500, 40000, 200000};

    for (size_t a = 0; a < NELEM(sizes); a++) {
        for (int mix = 0; mix < 4; mix++) {
            buf_t b = {NULL, 0, 0};

            puts_(&b, "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"");
            put_text(&b, 300, 1, 1);
            puts_(&b, "\"},{\"role\":\"user\",\"content\":\"");
            put_text(&b, sizes[a], mix & 1, 2);
            puts_(&b, "\"},{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"");
            put_text(&b, sizes[NELEM(sizes) - 1 - a] / 2, mix & 2, 3);
            puts_(&b, "\"},{\"type\":\"text\",\"text\":\"");
            put_text(&b, 5000, !(mix & 2), 4);
            puts_(&b, "\"}]}]}");
            assert_same_facts(b.p, b.len);
            free(b.p);
        }
    }
}
END_TEST

START_TEST(more_texts_than_the_estimator_keeps)
{
    /* 600 messages of several parts: the newest 256 texts, in order, as the DOM reader kept */
    for (int escaped = 0; escaped < 2; escaped++) {
        buf_t b = {NULL, 0, 0};

        puts_(&b, "{\"messages\":[");
        for (int i = 0; i < 600; i++) {
            char head[96];

            snprintf(head, sizeof(head), "%s{\"role\":\"%s\",\"content\":", i ? "," : "",
                     i % 3 == 0   ? "assistant"
                     : i % 7 == 0 ? "system"
                                  : "user");
            puts_(&b, head);
            if (i % 2 == 0) {
                puts_(&b, "\"");
                put_text(&b, (size_t)(i % 50) * 7, escaped, (unsigned)i);
                puts_(&b, "\"}");
            } else {
                puts_(&b, "[{\"type\":\"text\",\"text\":\"");
                put_text(&b, 40, escaped, (unsigned)i);
                puts_(&b, "\"},{\"type\":\"text\",\"text\":\"why?\"}]}");
            }
        }
        puts_(&b, "]}");
        assert_same_facts(b.p, b.len);
        free(b.p);
    }
}
END_TEST

/* ---- generated bodies -------------------------------------------------------------------- */

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static const char *pick(uint32_t *s, const char *const *v, size_t n)
{
    return v[rnd(s) % n];
}

#define PICK(s, v) pick((s), (v), NELEM(v))

static void gen_text(buf_t *b, uint32_t *s)
{
    static const char *const words[] = {
        "why",
        "prove",
        "derive",
        "then",
        "each",
        "how",
        "many",
        "must",
        "exactly",
        "json",
        "def",
        "return",
        "step",
        "by",
        "at",
        "least",
        "no",
        "more",
        "than",
        "Compute",
        "the",
        "sum",
        "3",
        "17.5",
        "1,250",
        "+",
        "*",
        "=",
        "$5",
        "50%",
        "```",
        "{",
        "}",
        ";",
        "->",
        "?",
        ".",
        "!",
        "\\n",
        "\\t",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u00e9",
        "\\u00d7",
        "\\u2211",
        "\\ud83d\\ude00",
        "caf\xc3\xa9",
        "\xe2\x88\x9a",
        "\\\\frac",
        "$$",
        "(x)",
        "x^2",
    };
    size_t n = rnd(s) % 40;

    if (rnd(s) % 50 == 0)
        n = 3000 + rnd(s) % 3000; /* now and then past the estimator's budget */
    for (size_t i = 0; i < n; i++) {
        puts_(b, PICK(s, words));
        if (rnd(s) % 3)
            puts_(b, " ");
    }
}

static void gen_string(buf_t *b, uint32_t *s)
{
    puts_(b, "\"");
    gen_text(b, s);
    puts_(b, "\"");
}

static void gen_message(buf_t *b, uint32_t *s)
{
    static const char *const roles[] = {
        "\"user\"", "\"user\"",     "\"assistant\"",  "\"system\"",          "\"developer\"",
        "\"tool\"", "\"function\"", "\"us\\u0065r\"", "\"\\u0061ssistant\"", "\"other\"",
        "7",        "null"};
    static const char *const types[] = {
        "\"text\"", "\"text\"", "\"image_url\"", "\"input_audio\"", "\"image\\u005furl\"", "1"};
    uint32_t k = rnd(s) % 10;

    if (k == 0) {
        puts_(b, rnd(s) % 2 ? "\"a message that is a string\"" : "[1,2]");
        return;
    }
    puts_(b, "{");
    if (rnd(s) % 8)
        puts_(b, "\"role\":"), puts_(b, PICK(s, roles)), puts_(b, ",");
    puts_(b, "\"content\":");
    if (k < 6) {
        gen_string(b, s);
    } else if (k < 9) {
        size_t parts = rnd(s) % 4;

        puts_(b, "[");
        for (size_t i = 0; i < parts; i++) {
            puts_(b, i ? ",{" : "{");
            if (rnd(s) % 6)
                puts_(b, "\"type\":"), puts_(b, PICK(s, types)), puts_(b, ",");
            if (rnd(s) % 6) {
                puts_(b, "\"text\":");
                if (rnd(s) % 8)
                    gen_string(b, s);
                else
                    puts_(b, "null");
                puts_(b, ",");
            }
            puts_(b, "\"x\":{\"text\":\"nested, not read\"}}");
        }
        puts_(b, "]");
    } else {
        puts_(b, rnd(s) % 2 ? "null" : "{\"p\":{\"type\":\"text\",\"text\":\"in an object\"}}");
    }
    if (rnd(s) % 10 == 0)
        puts_(b, ",\"content\":\"a duplicate content: the last one counts\"");
    puts_(b, "}");
}

static void gen_member(buf_t *b, uint32_t *s)
{
    static const char *const meta[] = {"{\"task\":\"faq\"}",
                                       "{\"task\":\"f\\u0061q\",\"complexity\":\"simple\"}",
                                       "{\"complexity\":0.42}",
                                       "{\"complexity\":\"0.42\"}",
                                       "{\"complexity\":1}",
                                       "{\"complexity\":1.2}",
                                       "{\"complexity\":\"\"}",
                                       "{\"complexity\":-0}",
                                       "{\"task\":5,\"complexity\":null}",
                                       "[]",
                                       "\"faq\"",
                                       "{\"x\":{\"task\":\"inner\"}}",
                                       "{\"complexity\":5E-1}",
                                       "{\"task\":\"a\",\"task\":\"b\"}",
                                       "{\"complexity\":\"\\u0030.9\"}"};
    static const char *const scalars[] = {"100", "0",      "-3",   "1.5",  "1e2",
                                          "1E2", "\"64\"", "null", "true", "9223372036854775807"};
    static const char *const tools[] = {"[]",  "[{\"type\":\"function\"}]", "{}", "\"x\"", "[ ]",
                                        "[[]]"};
    static const char *const formats[] = {"{\"type\":\"json_object\"}",
                                          "{\"type\":\"json_schema\",\"json_schema\":{}}",
                                          "{\"type\":\"text\"}",
                                          "{\"type\":\"json_\\u006fbject\"}",
                                          "\"json_object\"",
                                          "{\"type\":1}"};
    static const char *const users[] = {"\"u1\"", "\"\\u00fcser\"", "7", "null", "\"\""};

    switch (rnd(s) % 9) {
    case 0:
    case 1: {
        size_t n = rnd(s) % 6;

        puts_(b, "\"messages\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                puts_(b, ",");
            gen_message(b, s);
        }
        puts_(b, "]");
        break;
    }
    case 2:
        puts_(b, "\"metadata\":"), puts_(b, PICK(s, meta));
        break;
    case 3:
        puts_(b, rnd(s) % 2 ? "\"max_tokens\":" : "\"max_completion_tokens\":");
        puts_(b, PICK(s, scalars));
        break;
    case 4:
        puts_(b, "\"tools\":"), puts_(b, PICK(s, tools));
        break;
    case 5:
        puts_(b, "\"response_format\":"), puts_(b, PICK(s, formats));
        break;
    case 6:
        puts_(b, "\"user\":"), puts_(b, PICK(s, users));
        break;
    case 7:
        puts_(b, "\"prompt\":");
        gen_string(b, s);
        break;
    default:
        puts_(b, rnd(s) % 2
                     ? "\"model\":\"auto\",\"temperature\":0.7,\"stream\":false"
                     : "\"messages\":{\"m\":{\"role\":\"user\",\"content\":\"in an object\"}}");
        break;
    }
}

START_TEST(generated_bodies_read_as_the_dom_did)
{
    uint32_t seed = 0x2545F491;

    for (int i = 0; i < 3000; i++) {
        buf_t b = {NULL, 0, 0};
        size_t n = rnd(&seed) % 7;

        puts_(&b, "{");
        for (size_t m = 0; m < n; m++) {
            if (m)
                puts_(&b, rnd(&seed) % 4 ? "," : " ,\n ");
            gen_member(&b, &seed);
        }
        puts_(&b, "}");
        assert_same_facts(b.p, b.len);
        free(b.p);
    }
}
END_TEST

/* ---- where jansson refused a body the scanner accepts -------------------------------------- */

static tg_route_req_t read_body(const char *body)
{
    tg_jscan_t scan;
    tg_route_req_t q;

    ck_assert_msg(tg_json_scan(body, strlen(body), NULL, 0, &scan) == 0, "%s", body);
    tg_route_req_read(body, strlen(body), NULL, NULL, NULL, &q);
    return q;
}

START_TEST(bodies_jansson_refused_are_read_as_documented)
{
    tg_route_req_t q;
    char body[1024];

    /* the DOM reader got no DOM for these, so it read no facts; now only the odd value is odd */
    q = read_body("{\"metadata\":{\"task\":\"f\\u0000aq\"},\"user\":\"\\ud800x\","
                  "\"max_tokens\":99999999999999999999,\"messages\":[{\"content\":\"hi\"}]}");
    ck_assert_str_eq(q.task, "f"); /* a NUL byte ends a label */
    ck_assert_str_eq(q.task_source, "metadata");
    ck_assert_str_eq(q.user, "\xef\xbf\xbdx");
    ck_assert_int_eq(q.max_tokens, 0); /* too big: no limit, as for any unusable value */
    ck_assert_str_eq(q.complexity_source, "estimator");
    ck_assert_uint_eq(q.cx.counts.bytes, 2);
    q = read_body("{\"max_completion_tokens\":-99999999999999999999,\"max_tokens\":5}");
    ck_assert_int_eq(q.max_tokens, 0); /* still an integer: max_tokens is not consulted */
    q = read_body("{\"metadata\":{\"complexity\":1e400},\"messages\":[{\"content\":\"x\"}]}");
    ck_assert_str_eq(q.complexity_source, "estimator");
    /* a score is never longer than 511 bytes: a longer text is a label (cut as labels are) */
    snprintf(body, sizeof(body), "{\"metadata\":{\"complexity\":\"0.%0511d\"}}", 5);
    q = read_body(body);
    ck_assert_int_eq(q.have_score, 0);
    ck_assert_uint_eq(strlen(q.complexity), TG_LABEL_MAX - 1);
    snprintf(body, sizeof(body), "{\"metadata\":{\"complexity\":\"0.%0509d\"}}", 5);
    q = read_body(body);
    ck_assert_int_eq(q.have_score, 1);
    ck_assert(q.score >= 0 && q.score < 1e-300); /* 5e-510 underflows */
    /* no body at all */
    tg_route_req_read(NULL, 0, NULL, NULL, "content", &q);
    ck_assert_str_eq(q.task, "content");
    ck_assert_ptr_null(q.complexity_source);
}
END_TEST

static Suite *route_req_suite(void)
{
    Suite *s = suite_create("route_req");
    TCase *tc = tcase_create("read");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, corpus_reads_as_the_dom_did);
    tcase_add_test(tc, big_bodies_read_as_the_dom_did);
    tcase_add_test(tc, more_texts_than_the_estimator_keeps);
    tcase_add_test(tc, generated_bodies_read_as_the_dom_did);
    tcase_add_test(tc, bodies_jansson_refused_are_read_as_documented);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_req_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
