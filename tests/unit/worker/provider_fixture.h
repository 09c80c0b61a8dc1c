/*
 * Helpers for adapter tests on top of the JSON golden fixtures (tests/unit/tg_json_fixture.h:
 * dq, J, assert_json): an answer's "created" checked and removed, and an adapter's SSE output
 * split into its payloads. Header-only (static inline) so each test executable takes what it uses.
 */
#ifndef TG_TESTS_PROVIDER_FIXTURE_H
#define TG_TESTS_PROVIDER_FIXTURE_H

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/tg_buf.h"
#include "tests/unit/tg_json_fixture.h"
#include "worker/provider.h"

/* A document's "created" must be a recent time; it is then removed for comparison. */
static inline void fx_take_created(json_t *doc)
{
    json_t *c = json_object_get(doc, "created");
    json_int_t now = (json_int_t)time(NULL);

    ck_assert_msg(json_is_integer(c), "no created");
    ck_assert(json_integer_value(c) >= now - 60 && json_integer_value(c) <= now + 1);
    json_object_del(doc, "created");
}

/* Split SSE bytes into data payloads, parsed ([DONE] as the string "[DONE]"); "created" taken. */
static inline json_t *fx_split_sse(const tg_buf_t *out)
{
    json_t *list = json_array();
    const char *p = out->data, *end = out->data + out->len;

    while (p != NULL && p < end) {
        const char *e = strstr(p, "\n\n");
        json_t *v;

        ck_assert_msg(e != NULL, "unterminated event: %s", p);
        ck_assert_msg(strncmp(p, "data: ", 6) == 0, "event without data: %s", p);
        p += 6;
        if (e - p == 6 && memcmp(p, "[DONE]", 6) == 0) {
            v = json_string("[DONE]");
        } else {
            v = json_loadb(p, (size_t)(e - p), 0, NULL);
            ck_assert_msg(v != NULL, "event data is not JSON: %.*s", (int)(e - p), p);
            if (json_object_get(v, "created") != NULL)
                fx_take_created(v);
        }
        json_array_append_new(list, v);
        p = e + 2;
    }
    return list;
}

/* Free what an adapter cached on its provider (test teardown). */
static inline void fx_teardown(tg_provider_t *p)
{
    if (p->ext != NULL)
        tg_provider_ext_free(p->ext);
    p->ext = NULL;
}

/* Run m's adapter's prepare on an OpenAI request fixture (' for "); its rc, the body in *body. */
static inline int fx_prepare(const tg_model_t *m, tg_endpoint_t ep, int stream, const char *openai,
                             tg_buf_t *body, tg_xfer_t *x, tg_buf_t *url)
{
    char *in = dq(openai);

    memset(body, 0, sizeof(*body));
    ck_assert_int_eq(tg_buf_append(body, in, strlen(in)), 0);
    free(in);
    return tg_adapter_for(m->provider->kind)->prepare(m, ep, stream, x, url, body);
}

/* Translate an OpenAI chat request and compare the upstream body with the golden one. */
static inline void fx_assert_request(const tg_model_t *m, int stream, const char *openai,
                                     const char *want, const char *what)
{
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    json_error_t err;
    json_t *got;

    memset(&x, 0, sizeof(x));
    ck_assert_msg(fx_prepare(m, TG_EP_CHAT, stream, openai, &body, &x, &url) == 0,
                  "%s: prepare failed", what);
    got = json_loadb(body.data, body.len, 0, &err);
    ck_assert_msg(got != NULL, "%s: body is not JSON (%s): %s", what, err.text, body.data);
    assert_json(got, want, what);
    free(x.owned);
    tg_buf_free(&body);
    tg_buf_free(&url);
}

#endif
