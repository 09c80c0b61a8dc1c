/*
 * Unit tests for shared/tg_json_scan.c's reading of a validated document: the root span, the
 * cursor over arrays and objects (values that hide brackets and quotes in strings, nesting,
 * whitespace), member lookup (escaped keys, the last duplicate wins) and string decoding
 * (escapes, \u as UTF-8, surrogate pairs, the skip/size window). Whatever a walk with these
 * functions reads must equal what jansson parses from the same bytes.
 */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_json_scan.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Scan doc (it must be valid) and return its root span. */
static tg_jspan_t root_of(const char *doc)
{
    tg_jscan_t res;
    tg_jspan_t root;

    ck_assert_msg(tg_json_scan(doc, strlen(doc), NULL, 0, &res) == 0, "fixture invalid: %s (%s)",
                  doc, res.err);
    tg_json_root(doc, strlen(doc), &root);
    ck_assert_int_eq(root.type, res.root);
    return root;
}

/* The span's bytes as a NUL-terminated string (for messages and comparisons). */
static const char *text_of(const char *doc, const tg_jspan_t *s)
{
    static char buf[4096];

    ck_assert_uint_lt(s->len, sizeof(buf));
    memcpy(buf, doc + s->off, s->len);
    buf[s->len] = '\0';
    return buf;
}

/* A string span's decoded text, NUL-terminated (the text must have no NUL). */
static const char *decoded(const char *doc, const tg_jspan_t *s)
{
    static char buf[4096];
    size_t len;

    ck_assert_int_eq(tg_json_str(doc, s, 0, buf, sizeof(buf) - 1, &len), 0);
    ck_assert_uint_lt(len, sizeof(buf));
    buf[len] = '\0';
    return buf;
}

/* ---- the span walk rebuilt as a jansson value must equal jansson's parse ------------------- */

static json_t *rebuild(const char *doc, const tg_jspan_t *v)
{
    tg_jiter_t it;
    tg_jspan_t k, e;
    json_t *out;
    char key[256];
    size_t len;

    switch (v->type) {
    case TG_JT_OBJECT:
        out = json_object();
        tg_json_iter(&it, doc, v);
        while (tg_json_next(&it, &k, &e)) {
            ck_assert_int_eq(k.type, TG_JT_STRING);
            ck_assert_int_eq(tg_json_str(doc, &k, 0, key, sizeof(key) - 1, &len), 0);
            key[len] = '\0';
            json_object_set_new(out, key, rebuild(doc, &e));
        }
        return out;
    case TG_JT_ARRAY:
        out = json_array();
        tg_json_iter(&it, doc, v);
        while (tg_json_next(&it, &k, &e)) {
            ck_assert_int_eq(k.type, TG_JT_NONE);
            json_array_append_new(out, rebuild(doc, &e));
        }
        return out;
    case TG_JT_STRING: {
        char *buf;

        ck_assert_int_eq(tg_json_str(doc, v, 0, NULL, 0, &len), 0);
        buf = malloc(len + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(tg_json_str(doc, v, 0, buf, len, &len), 0);
        out = json_stringn(buf, len);
        free(buf);
        /* the flag says whether the text can be read in place */
        ck_assert_int_eq(v->escaped, memchr(doc + v->off, '\\', v->len) != NULL);
        return out;
    }
    case TG_JT_NUMBER:
        out = json_loadb(doc + v->off, v->len, JSON_DECODE_ANY, NULL);
        ck_assert_msg(json_is_number(out), "not a number span: %s", text_of(doc, v));
        return out;
    case TG_JT_TRUE:
        ck_assert_str_eq(text_of(doc, v), "true");
        return json_true();
    case TG_JT_FALSE:
        ck_assert_str_eq(text_of(doc, v), "false");
        return json_false();
    case TG_JT_NULL:
        ck_assert_str_eq(text_of(doc, v), "null");
        return json_null();
    default:
        ck_abort_msg("span without a type at %zu", v->off);
        return NULL;
    }
}

static void assert_walk_equals_jansson(const char *doc)
{
    tg_jspan_t root = root_of(doc);
    json_t *want = json_loads(doc, JSON_DECODE_ANY, NULL), *got = rebuild(doc, &root);

    ck_assert_msg(want != NULL, "jansson refuses the fixture: %s", doc);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        ck_abort_msg("walk of %s\n gave %s", doc, g);
    }
    json_decref(want);
    json_decref(got);
}

START_TEST(walk_equals_jansson)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        " \n\t{ } \r\n",
        "[ 1 , -2.5e+3 , 0 , true , false , null , \"x\" ]",
        "{\"a\":{\"b\":[{\"c\":[[],{}]},\"]}\"]},\"d\":\"{[\"}",
        "{\"q\":\"say \\\"hi\\\" \\\\\",\"r\":\"\\\\\",\"s\":\"\\\\\\\"\",\"t\":\"\\\"\"}",
        "[\"\\\\\\\\\", \"a\\\\\\\"}]\\\\\", {\"\\\"k\\\"\": \"]\"}]",
        "{ \"sp\" : [ { \"x\" : 1 } , [ 2 , [ 3 ] ] ] , \"e\" : { } , \"n\" : [ ] }",
        "{\"u\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t\",\"raw\":\"caf\xc3\xa9 "
        "\xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"m\\u006fdel\":\"x\",\"model\":\"y\"}",
        "[[[[[[[[[[\"deep\"]]]]]]]]]]",
        "\"just a string\"",
        "\"\\n\"",
        "42",
        " -0.5 ",
        "true",
        "null",
    };

    for (size_t i = 0; i < NELEM(docs); i++)
        assert_walk_equals_jansson(docs[i]);
}
END_TEST

/* Strings of every length around the walk's 8-byte words and 64-byte runs, with an escape
 * (or an escaped quote) at every place, inside an array and as keys and values of an object. */
START_TEST(walk_finds_every_string_end)
{
    static const char *const escapes[] = {"", "\\\"", "\\\\", "\\n", "\\u0022", "\\\\\\\""};
    char text[200], doc[1024];

    for (size_t e = 0; e < NELEM(escapes); e++) {
        for (size_t len = 0; len < 140; len++) {
            for (size_t at = 0; at <= len; at += (len < 20 ? 1 : 7)) {
                memset(text, 'a', len);
                text[len] = '\0';
                snprintf(doc, sizeof(doc), "[\"%.*s%s%s\",{\"%.*s%s%s\":\"%s\"},\"\"]", (int)at,
                         text, escapes[e], text + at, (int)at, text, escapes[e], text + at, text);
                assert_walk_equals_jansson(doc);
            }
        }
    }
}
END_TEST

/* ---- the cursor -------------------------------------------------------------------------- */

START_TEST(cursor_reports_keys_values_and_types)
{
    const char *doc = "{ \"a\" : 1 , \"b\\u0062\":\"x\\ny\", \"c\":[1,{\"d\":\"}\"}], \"e\":{}, "
                      "\"f\":false,\"g\":null , \"h\" : true }";
    static const struct {
        const char *key, *val;
        tg_jtype_t type;
        int escaped;
    } want[] = {
        {"\"a\"", "1", TG_JT_NUMBER, 0},
        {"\"b\\u0062\"", "\"x\\ny\"", TG_JT_STRING, 1},
        {"\"c\"", "[1,{\"d\":\"}\"}]", TG_JT_ARRAY, 0},
        {"\"e\"", "{}", TG_JT_OBJECT, 0},
        {"\"f\"", "false", TG_JT_FALSE, 0},
        {"\"g\"", "null", TG_JT_NULL, 0},
        {"\"h\"", "true", TG_JT_TRUE, 0},
    };
    tg_jspan_t root = root_of(doc), k, v;
    tg_jiter_t it;
    size_t n = 0;

    tg_json_iter(&it, doc, &root);
    while (tg_json_next(&it, &k, &v)) {
        ck_assert_uint_lt(n, NELEM(want));
        ck_assert_str_eq(text_of(doc, &k), want[n].key);
        ck_assert_int_eq(k.escaped, n == 1);
        ck_assert_str_eq(text_of(doc, &v), want[n].val);
        ck_assert_int_eq(v.type, want[n].type);
        ck_assert_int_eq(v.escaped, want[n].escaped);
        if (n == 1)
            ck_assert_str_eq(decoded(doc, &k), "bb");
        n++;
    }
    ck_assert_uint_eq(n, NELEM(want));
    ck_assert_int_eq(tg_json_next(&it, &k, &v), 0); /* stays at the end */
}
END_TEST

START_TEST(cursor_over_empty_and_non_containers_yields_nothing)
{
    const char *doc = "[ [ ], { }, \"s\", 7 ]";
    tg_jspan_t root = root_of(doc), e, inner, none = {TG_JT_NONE, 0, 0, 0};
    tg_jiter_t it, in;
    int n = 0;

    tg_json_iter(&it, doc, &root);
    while (tg_json_next(&it, NULL, &e)) {
        tg_json_iter(&in, doc, &e);
        ck_assert_int_eq(tg_json_next(&in, NULL, &inner), 0);
        n++;
    }
    ck_assert_int_eq(n, 4);
    tg_json_iter(&it, doc, &none);
    ck_assert_int_eq(tg_json_next(&it, NULL, &e), 0);
}
END_TEST

START_TEST(root_span_trims_space)
{
    const char *doc = "\r\n {\"a\":[1]} \t\n";
    tg_jspan_t root = root_of(doc);

    ck_assert_int_eq(root.type, TG_JT_OBJECT);
    ck_assert_str_eq(text_of(doc, &root), "{\"a\":[1]}");
    doc = "  \"a\\tb\"  ";
    root = root_of(doc);
    ck_assert_int_eq(root.type, TG_JT_STRING);
    ck_assert_int_eq(root.escaped, 1);
    ck_assert_str_eq(decoded(doc, &root), "a\tb");
}
END_TEST

START_TEST(next_members_reads_each_element_once)
{
    const char *doc =
        "[{\"role\":\"user\",\"content\":\"a\"}, 7, {\"content\":[1,{\"role\":"
        "\"x\"}],\"ro\\u006ce\":\"tool\",\"role\":\"system\"}, {}, \"{\\\"role\\\":1}\" ]";
    static const char *const want[][3] = {
        {"{\"role\":\"user\",\"content\":\"a\"}", "\"user\"", "\"a\""},
        {"7", NULL, NULL},
        {"{\"content\":[1,{\"role\":\"x\"}],\"ro\\u006ce\":\"tool\",\"role\":\"system\"}",
         "\"system\"", "[1,{\"role\":\"x\"}]"},
        {"{}", NULL, NULL},
        {"\"{\\\"role\\\":1}\"", NULL, NULL},
    };
    tg_jspan_t root = root_of(doc), v, role, content;
    tg_jfield_t f[] = {{"role", &role}, {"content", &content}};
    tg_jiter_t it;
    size_t n = 0;

    tg_json_iter(&it, doc, &root);
    while (tg_json_next_members(&it, &v, f, NELEM(f))) {
        ck_assert_uint_lt(n, NELEM(want));
        ck_assert_str_eq(text_of(doc, &v), want[n][0]);
        if (want[n][1] == NULL) {
            ck_assert_int_eq(role.type, TG_JT_NONE);
            ck_assert_int_eq(content.type, TG_JT_NONE);
        } else {
            ck_assert_str_eq(text_of(doc, &role), want[n][1]);
            ck_assert_str_eq(text_of(doc, &content), want[n][2]);
        }
        n++;
    }
    ck_assert_uint_eq(n, NELEM(want));
}
END_TEST

/* ---- members ----------------------------------------------------------------------------- */

START_TEST(members_last_duplicate_wins_and_keys_decode)
{
    const char *doc = "{\"role\":\"user\",\"content\":\"hi\",\"r\\u006fle\":\"assistant\","
                      "\"nested\":{\"role\":\"system\"},\"ro\\u0000le\":1,\"rol\\u00e9\":2}";
    tg_jspan_t root = root_of(doc), role, content, missing, nested, inner;
    tg_jfield_t f[] = {
        {"role", &role}, {"content", &content}, {"missing", &missing}, {"nested", &nested}};
    tg_jfield_t g = {"role", &inner};

    tg_json_members(doc, &root, f, NELEM(f));
    ck_assert_str_eq(text_of(doc, &role), "\"assistant\""); /* as jansson keeps it */
    ck_assert_str_eq(text_of(doc, &content), "\"hi\"");
    ck_assert_int_eq(missing.type, TG_JT_NONE);
    ck_assert_int_eq(nested.type, TG_JT_OBJECT);
    tg_json_members(doc, &nested, &g, 1);
    ck_assert_str_eq(decoded(doc, &inner), "system");
    /* not an object: nothing, and every listed span is reset */
    tg_json_members(doc, &content, f, NELEM(f));
    ck_assert_int_eq(role.type, TG_JT_NONE);
    ck_assert_int_eq(content.type, TG_JT_NONE);
}
END_TEST

START_TEST(scan_matches_escaped_top_level_keys)
{
    /* the scanner now compares keys with the reader's decoder: the same answers as before */
    static const struct {
        const char *doc;
        int found, dup;
    } cases[] = {
        {"{\"model\":\"a\"}", 1, 0},
        {"{\"mo\\u0064el\":\"a\"}", 1, 0},
        {"{\"\\u006D\\u006F\\u0064\\u0065\\u006C\":\"a\"}", 1, 0},
        {"{\"model\":\"a\",\"m\\u006fdel\":\"b\"}", 1, 1},
        {"{\"model\\u0000\":\"a\"}", 0, 0},
        {"{\"mod\\u00e9l\":\"a\"}", 0, 0},
        {"{\"mode\":\"a\",\"models\":\"b\",\"\":\"c\"}", 0, 0},
        {"{\"x\":{\"model\":\"a\"}}", 0, 0},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        tg_jspan_t model;
        tg_jfield_t f = {"model", &model};
        tg_jscan_t res;

        ck_assert_int_eq(tg_json_scan(cases[i].doc, strlen(cases[i].doc), &f, 1, &res), 0);
        ck_assert_msg((model.type == TG_JT_STRING) == cases[i].found, "%s", cases[i].doc);
        ck_assert_msg((res.dup != NULL) == cases[i].dup, "%s", cases[i].doc);
    }
}
END_TEST

/* ---- string decoding --------------------------------------------------------------------- */

START_TEST(decode_escapes_and_unicode)
{
    static const struct {
        const char *json, *text;
        size_t len;
    } cases[] = {
        {"\"plain\"", "plain", 5},
        {"\"\"", "", 0},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
        {"\"\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!", 5}, /* a surrogate pair */
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},   /* U+10FFFF */
        {"\"a\\ud800b\"",
         "a\xef\xbf\xbd"
         "b",
         5},                                /* lone high: U+FFFD */
        {"\"\\udc00\"", "\xef\xbf\xbd", 3}, /* lone low */
        {"\"\\ud800\\u0041\"",
         "\xef\xbf\xbd"
         "A",
         4}, /* high, then no low */
        {"\"\\ud800\\ud800\\udc00\"", "\xef\xbf\xbd\xf0\x90\x80\x80", 7},
        {"\"x\\u0000y\"", "x\0y", 3}, /* a NUL byte */
        {"\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf",
         11},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        const char *doc = cases[i].json;
        tg_jspan_t s = root_of(doc);
        char buf[64];
        size_t len;

        memset(buf, 'Z', sizeof(buf));
        ck_assert_int_eq(tg_json_str(doc, &s, 0, buf, sizeof(buf), &len), 0);
        ck_assert_msg(len == cases[i].len && memcmp(buf, cases[i].text, len) == 0,
                      "%s: decoded %zu bytes", doc, len);
        ck_assert_int_eq(buf[len], 'Z'); /* no NUL added, nothing past the text */
        /* measuring: size 0 writes nothing and still gives the length */
        ck_assert_int_eq(tg_json_str(doc, &s, 0, NULL, 0, &len), 0);
        ck_assert_uint_eq(len, cases[i].len);
    }
}
END_TEST

START_TEST(decode_window_skip_and_size)
{
    /* "h\u00e9llo\nw\ud83d\ude00rld": h C3 A9 l l o \n w F0 9F 98 80 r l d = 15 bytes */
    const char *doc = "\"h\\u00e9llo\\nw\\ud83d\\ude00rld\"";
    const char want[] = "h\xc3\xa9llo\nw\xf0\x9f\x98\x80rld";
    tg_jspan_t s = root_of(doc);
    char buf[32];
    size_t len;

    for (size_t skip = 0; skip <= 17; skip++) {
        for (size_t size = 0; size <= 17; size++) {
            size_t expect = skip >= 15 ? 0 : (15 - skip < size ? 15 - skip : size);

            memset(buf, 'Z', sizeof(buf));
            ck_assert_int_eq(tg_json_str(doc, &s, skip, buf, size, &len), 0);
            ck_assert_uint_eq(len, 15);
            ck_assert_msg(memcmp(buf, want + (skip < 15 ? skip : 15), expect) == 0,
                          "skip %zu size %zu", skip, size);
            ck_assert_msg(buf[expect] == 'Z', "skip %zu size %zu wrote too much", skip, size);
        }
    }
    /* huge sizes do not overflow the window */
    ck_assert_int_eq(tg_json_str(doc, &s, 3, buf, SIZE_MAX, &len), 0);
    ck_assert(memcmp(buf, want + 3, 12) == 0);
}
END_TEST

START_TEST(decode_refuses_non_strings_and_compares)
{
    const char *doc = "{\"n\":12,\"s\":\"as\\u0073istant\",\"t\":\"tool\",\"l\":\"\\u0061\"}";
    tg_jspan_t root = root_of(doc), n, s, t, l;
    tg_jfield_t f[] = {{"n", &n}, {"s", &s}, {"t", &t}, {"l", &l}};
    char buf[8], lit[200], big[400];
    size_t len;

    tg_json_members(doc, &root, f, NELEM(f));
    ck_assert_int_eq(tg_json_str(doc, &n, 0, buf, sizeof(buf), &len), -1);
    ck_assert_uint_eq(len, 0);
    ck_assert(tg_json_str_eq(doc, &s, "assistant"));
    ck_assert(!tg_json_str_eq(doc, &s, "assistan"));
    ck_assert(!tg_json_str_eq(doc, &s, "assistants"));
    ck_assert(tg_json_str_eq(doc, &t, "tool"));
    ck_assert(!tg_json_str_eq(doc, &t, "tools"));
    ck_assert(!tg_json_str_eq(doc, &n, "12"));
    ck_assert(tg_json_str_eq(doc, &l, "a"));
    /* a literal longer than the comparison buffer */
    memset(lit, 'q', sizeof(lit) - 1);
    lit[sizeof(lit) - 1] = '\0';
    snprintf(big, sizeof(big), "\"%.150s\\u0071%s\"", lit, lit + 151);
    s = root_of(big);
    ck_assert_int_eq(s.escaped, 1);
    ck_assert(tg_json_str_eq(big, &s, lit));
    lit[198] = 'r';
    ck_assert(!tg_json_str_eq(big, &s, lit));
}
END_TEST

/* Random text through jansson's encoder (\u escapes for everything non-ASCII) and back. */
START_TEST(decode_equals_jansson_on_random_text)
{
    uint32_t seed = 12345;

    for (int round = 0; round < 2000; round++) {
        char text[256], win[256];
        size_t n = 0, len, skip, size;
        json_t *v;
        char *doc;
        tg_jspan_t s;

        while (n < sizeof(text) - 4) {
            uint32_t cp, r;

            seed = seed * 1103515245u + 12345u;
            r = seed >> 8;
            if (r % 7 == 0)
                break;
            cp = r % 3 == 0 ? r % 0x80 + 1 : r % 3 == 1 ? 0x80 + r % 0x780 : 0x10000 + r % 0x1000;
            if (cp < 0x80) {
                text[n++] = (char)cp;
            } else if (cp < 0x800) {
                text[n++] = (char)(0xC0 | (cp >> 6));
                text[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                text[n++] = (char)(0xF0 | (cp >> 18));
                text[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                text[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                text[n++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        v = json_stringn(text, n);
        ck_assert_ptr_nonnull(v);
        doc = json_dumps(v, JSON_ENCODE_ANY | (round % 2 ? JSON_ENSURE_ASCII : 0));
        ck_assert_ptr_nonnull(doc);
        s = root_of(doc);
        skip = n > 0 ? (size_t)(seed % (n + 1)) : 0;
        size = (size_t)((seed >> 4) % (sizeof(win) + 1));
        ck_assert_int_eq(tg_json_str(doc, &s, skip, win, size, &len), 0);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(win, text + skip, n - skip < size ? n - skip : size) == 0);
        free(doc);
        json_decref(v);
    }
}
END_TEST

static Suite *json_scan_suite(void)
{
    Suite *s = suite_create("json_scan");
    TCase *tc = tcase_create("read");

    tcase_add_test(tc, walk_equals_jansson);
    tcase_add_test(tc, walk_finds_every_string_end);
    tcase_add_test(tc, next_members_reads_each_element_once);
    tcase_add_test(tc, cursor_reports_keys_values_and_types);
    tcase_add_test(tc, cursor_over_empty_and_non_containers_yields_nothing);
    tcase_add_test(tc, root_span_trims_space);
    tcase_add_test(tc, members_last_duplicate_wins_and_keys_decode);
    tcase_add_test(tc, scan_matches_escaped_top_level_keys);
    tcase_add_test(tc, decode_escapes_and_unicode);
    tcase_add_test(tc, decode_window_skip_and_size);
    tcase_add_test(tc, decode_refuses_non_strings_and_compares);
    tcase_add_test(tc, decode_equals_jansson_on_random_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_scan_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
