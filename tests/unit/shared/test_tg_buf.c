/*
 * Unit tests for shared/tg_buf.c: the growable buffer keeps a NUL after its data and its memory
 * across resets; tg_strlcpy copies like snprintf("%s") (truncated, always terminated), tg_fmt_int
 * prints like "%lld".
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_buf.h"

START_TEST(buf_appends_and_keeps_a_nul)
{
    tg_buf_t b = {NULL, 0, 0};

    ck_assert_int_eq(tg_buf_append(&b, "abc", 3), 0);
    ck_assert_int_eq(tg_buf_append(&b, "de", 2), 0);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_str_eq(b.data, "abcde");
    tg_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_nonnull(b.data);
    tg_buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(strlcpy_copies_truncates_and_terminates)
{
    char d[6], ref[6];
    static const char *cases[] = {"", "a", "abcde", "abcdef", "abcdefghij"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(d, 'x', sizeof(d));
        snprintf(ref, sizeof(ref), "%s", cases[i]);
        ck_assert_uint_eq(tg_strlcpy(d, cases[i], sizeof(d)), strlen(ref));
        ck_assert_str_eq(d, ref);
    }
    ck_assert_uint_eq(tg_strlcpy(d, NULL, sizeof(d)), 0);
    ck_assert_str_eq(d, "");
    ck_assert_uint_eq(tg_strlcpy(d, "zz", 1), 0); /* room for the NUL only */
    ck_assert_str_eq(d, "");
}
END_TEST

START_TEST(fmt_int_matches_printf)
{
    static const long long cases[] = {0, 7, -7, 10, 99, 100, 123456789, -2147483648LL,
                                      9223372036854775807LL, -9223372036854775807LL - 1};
    char buf[24], ref[24];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(ref, sizeof(ref), "%lld", cases[i]);
        ck_assert_uint_eq(tg_fmt_int(buf, cases[i]), strlen(ref));
        ck_assert_str_eq(buf, ref);
    }
}
END_TEST

static Suite *tg_buf_suite(void)
{
    Suite *s = suite_create("tg_buf");
    TCase *tc = tcase_create("buf");

    tcase_add_test(tc, buf_appends_and_keeps_a_nul);
    tcase_add_test(tc, strlcpy_copies_truncates_and_terminates);
    tcase_add_test(tc, fmt_int_matches_printf);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_buf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
