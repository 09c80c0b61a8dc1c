/*
 * Unit tests for worker/access_log.c's JSON string escaping: quotes, backslashes and control
 * characters are escaped, everything else (UTF-8 included) is copied as it is, and a full
 * buffer truncates at a character boundary with room for the closing quote, never overflowing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "worker/access_log.h"

START_TEST(escape_quotes_backslashes_and_controls)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"plain text", "plain text"},
        {"say \"hi\"", "say \\\"hi\\\""},
        {"a\\b", "a\\\\b"},
        {"line\nbreak\ttab\x01", "line\\u000abreak\\u0009tab\\u0001"},
        {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
        {"\"", "\\\""},
    };
    char buf[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = tg_json_escape(buf, sizeof(buf), 0, cases[i].in);
        ck_assert_uint_eq(n, strlen(cases[i].out));
        ck_assert_str_eq(buf, cases[i].out);
    }
    /* appends after what is there */
    memcpy(buf, "x=", 2);
    ck_assert_uint_eq(tg_json_escape(buf, sizeof(buf), 2, "\"y\""), 7);
    ck_assert_str_eq(buf, "x=\\\"y\\\"");
    ck_assert_uint_eq(tg_json_escape(buf, sizeof(buf), 0, NULL), 0);
}
END_TEST

START_TEST(escape_stops_short_of_a_full_buffer)
{
    /* the escaper keeps 7 bytes free (the longest escape and a NUL): a 20-byte buffer takes
       13 plain characters, and an escape that would not fit is left out whole */
    char buf[20], big[64];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_uint_eq(tg_json_escape(buf, sizeof(buf), 0, big), 13);
    ck_assert_uint_eq(strlen(buf), 13);
    ck_assert_uint_eq(tg_json_escape(buf, sizeof(buf), 0, "aaaaaaaaaaaaa\n"), 13);
    ck_assert_str_eq(buf, "aaaaaaaaaaaaa");
    ck_assert_uint_eq(tg_json_escape(buf, sizeof(buf), 0, "aaaaaaa\nb"), 13);
    ck_assert_str_eq(buf, "aaaaaaa\\u000a");
}
END_TEST

static Suite *access_log_suite(void)
{
    Suite *s = suite_create("access_log");
    TCase *tc = tcase_create("escape");

    tcase_add_test(tc, escape_quotes_backslashes_and_controls);
    tcase_add_test(tc, escape_stops_short_of_a_full_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(access_log_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
