/*
 * Unit tests for shared/tg_prom.c: what Prometheus' text format 0.0.4 requires of the writer —
 * HELP and TYPE once per family before its samples, escaped label values and help texts, valid
 * names only, no family twice, and histograms with cumulative buckets that end at +Inf and equal
 * _count — and exact decimal text for money and seconds.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_prom.h"

START_TEST(family_then_samples_with_escaped_labels)
{
    tg_prom_t p;
    tg_prom_label_t l[2] = {{"model", "gpt-4o"}, {"route", "a\"b\\c\nd"}};

    tg_prom_init(&p);
    ck_assert_int_eq(tg_prom_family(&p, "tollgate_requests_total", "counter",
                                    "Requests; a back\\slash and a\nnewline"),
                     0);
    ck_assert_int_eq(tg_prom_sample_i(&p, l, 2, 42), 0);
    ck_assert_int_eq(tg_prom_sample_i(&p, NULL, 0, 7), 0);
    ck_assert_str_eq(p.out.data,
                     "# HELP tollgate_requests_total Requests; a back\\\\slash and a\\nnewline\n"
                     "# TYPE tollgate_requests_total counter\n"
                     "tollgate_requests_total{model=\"gpt-4o\",route=\"a\\\"b\\\\c\\nd\"} 42\n"
                     "tollgate_requests_total 7\n");
    ck_assert_int_eq(p.failed, 0);
    tg_prom_free(&p);
}
END_TEST

START_TEST(invalid_names_and_repeated_families_are_refused)
{
    tg_prom_t p;
    tg_prom_label_t bad[1] = {{"le-x", "1"}}, reserved[1] = {{"__name__", "x"}};

    tg_prom_init(&p);
    ck_assert_int_eq(tg_prom_sample_i(&p, NULL, 0, 1), -1); /* no family yet */
    ck_assert_int_eq(tg_prom_family(&p, "9lives", "counter", "x"), -1);
    ck_assert_int_eq(tg_prom_family(&p, "a-b", "counter", "x"), -1);
    ck_assert_int_eq(tg_prom_family(&p, "ok_name", "summary", "x"), -1);
    ck_assert_int_eq(tg_prom_family(&p, "ns:ok_name", "gauge", "x"), 0);
    ck_assert_int_eq(tg_prom_family(&p, "ns:ok_name", "gauge", "x"), -1);
    ck_assert_int_eq(tg_prom_sample_i(&p, bad, 1, 1), -1);
    ck_assert_int_eq(tg_prom_sample_i(&p, reserved, 1, 1), -1);
    ck_assert_int_eq(p.failed, 1);
    tg_prom_free(&p);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative_and_end_at_inf)
{
    static const char *const le[4] = {"0.005", "0.25", "1", "+Inf"};
    static const char *const bad_le[2] = {"0.1", "1"};
    const int64_t counts[4] = {2, 0, 3, 1};
    tg_prom_label_t l[1] = {{"model", "m"}};
    tg_prom_t p;

    tg_prom_init(&p);
    ck_assert_int_eq(tg_prom_family(&p, "d_seconds", "histogram", "Durations"), 0);
    ck_assert_int_eq(tg_prom_histogram(&p, l, 1, counts, le, 4, "3.25"), 0);
    ck_assert_str_eq(p.out.data, "# HELP d_seconds Durations\n"
                                 "# TYPE d_seconds histogram\n"
                                 "d_seconds_bucket{model=\"m\",le=\"0.005\"} 2\n"
                                 "d_seconds_bucket{model=\"m\",le=\"0.25\"} 2\n"
                                 "d_seconds_bucket{model=\"m\",le=\"1\"} 5\n"
                                 "d_seconds_bucket{model=\"m\",le=\"+Inf\"} 6\n"
                                 "d_seconds_sum{model=\"m\"} 3.25\n"
                                 "d_seconds_count{model=\"m\"} 6\n");
    /* the last bucket must be +Inf */
    ck_assert_int_eq(tg_prom_histogram(&p, l, 1, counts, bad_le, 2, "0"), -1);
    tg_prom_free(&p);
}
END_TEST

START_TEST(fixed_point_text_is_exact)
{
    char b[48];

    tg_prom_fixed(2500000, 12, b, sizeof(b)); /* pico-dollars */
    ck_assert_str_eq(b, "0.0000025");
    tg_prom_fixed(INT64_MAX, 12, b, sizeof(b));
    ck_assert_str_eq(b, "9223372.036854775807");
    tg_prom_fixed(3000000, 6, b, sizeof(b));
    ck_assert_str_eq(b, "3");
    tg_prom_fixed(10000000, 6, b, sizeof(b));
    ck_assert_str_eq(b, "10");
    tg_prom_fixed(0, 6, b, sizeof(b));
    ck_assert_str_eq(b, "0");
    tg_prom_fixed(-1500, 3, b, sizeof(b));
    ck_assert_str_eq(b, "-1.5");
    tg_prom_fixed(5, 3, b, sizeof(b)); /* 5 ms in seconds */
    ck_assert_str_eq(b, "0.005");
    tg_prom_fixed(42, 0, b, sizeof(b));
    ck_assert_str_eq(b, "42");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tg_prom");
    TCase *tc = tcase_create("prom");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, family_then_samples_with_escaped_labels);
    tcase_add_test(tc, invalid_names_and_repeated_families_are_refused);
    tcase_add_test(tc, histogram_buckets_are_cumulative_and_end_at_inf);
    tcase_add_test(tc, fixed_point_text_is_exact);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
