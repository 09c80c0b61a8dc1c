/*
 * JSON golden fixtures for unit tests. In a fixture, ' stands for " so that JSON stays readable
 * inside C strings; documents are compared as JSON values (key order and spacing do not count).
 */
#ifndef TG_TEST_JSON_FIXTURE_H
#define TG_TEST_JSON_FIXTURE_H

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A fixture's text with ' turned into ". The caller frees it. */
static inline char *dq(const char *s)
{
    char *t = strdup(s);

    ck_assert_ptr_nonnull(t);
    for (char *p = t; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

/* A fixture as a JSON value (must parse). */
static inline json_t *J(const char *s)
{
    char *t = dq(s);
    json_error_t err;
    json_t *v = json_loads(t, JSON_DECODE_ANY, &err);

    ck_assert_msg(v != NULL, "bad fixture: %s: %s", err.text, t);
    free(t);
    return v;
}

/* Assert that got (a JSON value, consumed) equals the fixture want. */
static inline void assert_json(json_t *got, const char *want, const char *what)
{
    json_t *w = J(want);

    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *e = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        ck_abort_msg("%s:\n got  %s\n want %s", what, g ? g : "(invalid)", e);
    }
    json_decref(w);
    json_decref(got);
}

#endif
