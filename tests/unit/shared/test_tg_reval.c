/*
 * Unit tests for shared/tg_reval.c, RouteLLM's routing metrics. Every expected figure is
 * worked out by hand in the comments on datasets of four or five prompts: a perfect ranking,
 * the inverse ranking, ties (which must equal the average over the orders the tied prompts
 * could take), RouteLLM's quantile thresholds, and the random router's mean near 0.5.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_reval.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define EPS 1e-12

/* Items with scores and labels (weak, strong); the index is the position. */
static void make(tg_reval_item_t *it, size_t n, const double *score, const char *weak,
                 const char *strong)
{
    for (size_t i = 0; i < n; i++) {
        it[i] = (tg_reval_item_t){.score = score[i],
                                  .index = (uint32_t)i,
                                  .weak = weak[i] == '1',
                                  .strong = strong[i] == '1'};
    }
    tg_reval_sort(it, n);
}

/*
 * Four prompts: A and B only the strong model answers, C both answer, D neither.
 * Weak accuracy 1/4, strong 3/4, gap 1/2.
 */
static const char *const weak4 = "0010", *const strong4 = "1110";

START_TEST(perfect_ranking)
{
    static const double score[] = {4, 3, 2, 1};
    tg_reval_item_t it[4];
    tg_reval_point_t pts[5];
    tg_reval_metrics_t m;

    make(it, 4, score, weak4, strong4);
    /* q(p) at p = 0, 1/4, 1/2, 3/4, 1: 1/4, 1/2, 3/4, 3/4, 3/4 */
    ck_assert_uint_eq(tg_reval_curve(it, 4, 0, pts), 5);
    ck_assert_double_eq_tol(pts[1].p, 0.25, EPS);
    ck_assert_double_eq_tol(pts[1].q, 0.5, EPS);
    ck_assert_double_eq_tol(pts[4].q, 0.75, EPS);
    tg_reval_metrics(it, 4, 0, pts, &m);
    ck_assert_int_eq(m.defined, 1);
    ck_assert_double_eq_tol(m.weak, 0.25, EPS);
    ck_assert_double_eq_tol(m.strong, 0.75, EPS);
    /* area: 3/32 + 5/32 + 3/16 + 3/16 = 5/8; APGR = (5/8 - 1/4) / (1/2) = 3/4 */
    ck_assert_double_eq_tol(m.auc, 0.625, EPS);
    ck_assert_double_eq_tol(m.apgr, 0.75, EPS);
    /* 50%: q = 1/2 is reached at p = 1/4; 80%: q = 0.65 at 1/4 + 1/4 * 0.15 / 0.25 = 0.4 */
    ck_assert_double_eq_tol(m.cpt50, 0.25, EPS);
    ck_assert_double_eq_tol(m.cpt80, 0.4, EPS);
}
END_TEST

START_TEST(inverse_ranking)
{
    static const double score[] = {1, 2, 3, 4};
    tg_reval_item_t it[4];
    tg_reval_point_t pts[5];
    tg_reval_metrics_t m;

    make(it, 4, score, weak4, strong4);
    tg_reval_metrics(it, 4, 0, pts, &m);
    /* D, C, B, A: q = 1/4, 1/4, 1/4, 1/2, 3/4; area 1/16 + 1/16 + 3/32 + 5/32 = 3/8 */
    ck_assert_double_eq_tol(m.auc, 0.375, EPS);
    ck_assert_double_eq_tol(m.apgr, 0.25, EPS);
    /* 50%: q = 1/2 first at p = 3/4; 80%: 3/4 + 1/4 * 0.15 / 0.25 = 0.9 */
    ck_assert_double_eq_tol(m.cpt50, 0.75, EPS);
    ck_assert_double_eq_tol(m.cpt80, 0.9, EPS);
}
END_TEST

START_TEST(all_tied_is_the_straight_line)
{
    static const double score[] = {7, 7, 7, 7};
    tg_reval_item_t it[4];
    tg_reval_point_t pts[5];
    tg_reval_metrics_t m;

    make(it, 4, score, weak4, strong4);
    ck_assert_uint_eq(tg_reval_curve(it, 4, 0, pts), 2);
    tg_reval_metrics(it, 4, 0, pts, &m);
    ck_assert_double_eq_tol(m.apgr, 0.5, EPS);
    ck_assert_double_eq_tol(m.cpt50, 0.5, EPS);
    ck_assert_double_eq_tol(m.cpt80, 0.8, EPS);
}
END_TEST

START_TEST(ties_average_over_orders)
{
    /* A and D tie at the top: the exact curve must be the mean of "A first" and "D first". */
    static const double tied[] = {3, 2, 1, 3};
    static const double a_first[] = {3.5, 2, 1, 3}, d_first[] = {3, 2, 1, 3.5};
    tg_reval_item_t it[4];
    tg_reval_point_t pts[5];
    tg_reval_metrics_t t, a, d;

    make(it, 4, tied, weak4, strong4);
    tg_reval_metrics(it, 4, 0, pts, &t);
    make(it, 4, a_first, weak4, strong4);
    tg_reval_metrics(it, 4, 0, pts, &a);
    make(it, 4, d_first, weak4, strong4);
    tg_reval_metrics(it, 4, 0, pts, &d);
    /* A,D,B,C: area 9/16 -> APGR 5/8; D,A,B,C: area 1/2 -> 1/2; tied: 17/32 -> 9/16 */
    ck_assert_double_eq_tol(a.apgr, 0.625, EPS);
    ck_assert_double_eq_tol(d.apgr, 0.5, EPS);
    ck_assert_double_eq_tol(t.apgr, 0.5625, EPS);
    ck_assert_double_eq_tol(t.apgr, (a.apgr + d.apgr) / 2, EPS);
}
END_TEST

START_TEST(sort_orders_ties_by_index)
{
    static const double score[] = {1, 5, 1, 5, 3};
    tg_reval_item_t it[5];
    static const uint32_t order[] = {1, 3, 4, 0, 2};

    make(it, 5, score, "00000", "00000");
    for (size_t i = 0; i < NELEM(order); i++) {
        ck_assert_uint_eq(it[i].index, order[i]);
    }
}
END_TEST

START_TEST(quantile_bins_follow_routellm)
{
    /*
     * Gains +1, 0, +1, 0 in score order 4, 3, 2, 1 (weak 1/4, strong 3/4). With 2 bins the
     * thresholds are the 1, 0.5 and 0 quantiles of {1, 2, 3, 4}: 4 (strictly above: none),
     * 2.5 (scores 4 and 3: p = 1/2, q = 1/2) and 1 (all: q = 3/4). Area 3/16 + 5/16 = 1/2,
     * so APGR = 1/2, where the exact curve (1/4, 1/2, 1/2, 3/4, 3/4) gives 9/16 -> 5/8.
     */
    static const double score[] = {4, 3, 2, 1};
    tg_reval_item_t it[4];
    tg_reval_point_t pts[5];
    tg_reval_metrics_t m;

    make(it, 4, score, "0100", "1110");
    ck_assert_uint_eq(tg_reval_curve(it, 4, 2, pts), 3);
    ck_assert_double_eq_tol(pts[0].p, 0, EPS);
    ck_assert_double_eq_tol(pts[1].p, 0.5, EPS);
    ck_assert_double_eq_tol(pts[1].q, 0.5, EPS);
    ck_assert_double_eq_tol(pts[2].p, 1, EPS);
    tg_reval_metrics(it, 4, 2, pts, &m);
    ck_assert_double_eq_tol(m.apgr, 0.5, EPS);
    tg_reval_metrics(it, 4, 0, pts, &m);
    ck_assert_double_eq_tol(m.apgr, 0.625, EPS);
}
END_TEST

START_TEST(quantile_thresholds_move_tie_groups)
{
    /*
     * Scores {1, 1, 1, 2}: the median threshold is 1 (numpy's linear quantile at h = 1.5
     * between two 1s), so "score >= 1" takes everything at once: the curve's points are
     * p = 0, 1/4 (the 0.75 quantile, 1.25: only the 2), 1 and 1.
     */
    static const double score[] = {1, 1, 1, 2};
    tg_reval_item_t it[4];
    tg_reval_point_t pts[5];

    make(it, 4, score, "0000", "1111");
    ck_assert_uint_eq(tg_reval_curve(it, 4, 4, pts), 5);
    ck_assert_double_eq_tol(pts[0].p, 0, EPS);
    ck_assert_double_eq_tol(pts[1].p, 0.25, EPS);
    ck_assert_double_eq_tol(pts[2].p, 1, EPS);
    ck_assert_double_eq_tol(pts[3].p, 1, EPS);
    ck_assert_double_eq_tol(pts[4].p, 1, EPS);
    ck_assert_double_eq_tol(tg_reval_area(pts, 5), 0.25 * 0.25 / 2 + 0.75 * (0.25 + 1) / 2, EPS);
}
END_TEST

START_TEST(no_gap_is_undefined)
{
    static const double score[] = {1, 2, 3};
    tg_reval_item_t it[3];
    tg_reval_point_t pts[11]; /* 10 bins: 11 points */
    tg_reval_metrics_t m;

    make(it, 3, score, "110", "011"); /* equal accuracies */
    tg_reval_metrics(it, 3, 0, pts, &m);
    ck_assert_int_eq(m.defined, 0);
    make(it, 3, score, "111", "011"); /* strong worse */
    tg_reval_metrics(it, 3, 10, pts, &m);
    ck_assert_int_eq(m.defined, 0);
    ck_assert_double_eq_tol(m.weak, 1, EPS);
    tg_reval_metrics(it, 0, 0, pts, &m);
    ck_assert_int_eq(m.defined, 0);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(cpt_reads_the_first_crossing)
{
    /* Accuracy that rises, dips and rises again: the first crossing is the cheapest share. */
    static const tg_reval_point_t pts[] = {{0, 0.2}, {0.25, 0.6}, {0.5, 0.4}, {1, 0.8}};

    ck_assert_double_eq_tol(tg_reval_cpt(pts, 4, 0.5), 0.25 * 0.3 / 0.4, EPS);
    ck_assert_double_eq_tol(tg_reval_cpt(pts, 4, 0.7), 0.5 + 0.5 * 0.3 / 0.4, EPS);
    ck_assert_double_eq_tol(tg_reval_cpt(pts, 4, 0.1), 0, EPS);
    ck_assert_double_eq(tg_reval_cpt(pts, 4, 0.9), -1);
}
END_TEST

START_TEST(random_router_averages_near_half)
{
    enum { N = 400 };
    tg_reval_item_t *it = malloc(N * sizeof(*it)), *again = malloc(N * sizeof(*it));
    tg_reval_point_t *pts = malloc((N + 1) * sizeof(*pts));
    tg_reval_random_t r, r2, r3;

    ck_assert_ptr_nonnull(it);
    ck_assert_ptr_nonnull(again);
    ck_assert_ptr_nonnull(pts);
    /* A third of the prompts gain from the strong model, a tenth lose, the rest tie. */
    for (size_t i = 0; i < N; i++) {
        it[i] = (tg_reval_item_t){.index = (uint32_t)i,
                                  .weak = i % 10 == 0 || i % 3 == 1,
                                  .strong = i % 3 != 2 && i % 10 != 0};
    }
    memcpy(again, it, N * sizeof(*it));
    tg_reval_random(it, N, 10, 300, 1, pts, &r);
    tg_reval_random(again, N, 10, 300, 1, pts, &r2);
    ck_assert_uint_eq(r.runs, 300);
    /* The mean of 300 runs, each with a spread near 0.05, is within 0.02 of 1/2. */
    ck_assert_msg(r.apgr > 0.48 && r.apgr < 0.52, "apgr %f", r.apgr);
    ck_assert_msg(r.cpt50 > 0.45 && r.cpt50 < 0.55, "cpt50 %f", r.cpt50);
    ck_assert_msg(r.cpt80 > 0.75 && r.cpt80 < 0.85, "cpt80 %f", r.cpt80);
    ck_assert(r.apgr_sd > 0.01 && r.apgr_sd < 0.2);
    /* Same seed, same numbers to the bit; another seed, other numbers. */
    ck_assert(memcmp(&r, &r2, sizeof(r)) == 0);
    tg_reval_random(again, N, 10, 300, 2, pts, &r3);
    ck_assert(r3.apgr != r.apgr);
    free(it);
    free(again);
    free(pts);
}
END_TEST

static Suite *tg_reval_suite(void)
{
    Suite *s = suite_create("tg_reval");
    TCase *tc = tcase_create("exact");

    tcase_add_test(tc, perfect_ranking);
    tcase_add_test(tc, inverse_ranking);
    tcase_add_test(tc, all_tied_is_the_straight_line);
    tcase_add_test(tc, ties_average_over_orders);
    tcase_add_test(tc, sort_orders_ties_by_index);
    suite_add_tcase(s, tc);

    tc = tcase_create("routellm");
    tcase_add_test(tc, quantile_bins_follow_routellm);
    tcase_add_test(tc, quantile_thresholds_move_tie_groups);
    tcase_add_test(tc, no_gap_is_undefined);
    tcase_add_test(tc, cpt_reads_the_first_crossing);
    tcase_add_test(tc, random_router_averages_near_half);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_reval_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
