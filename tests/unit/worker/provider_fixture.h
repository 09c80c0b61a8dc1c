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

#endif
