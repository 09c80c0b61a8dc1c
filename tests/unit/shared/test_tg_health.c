/*
 * Unit tests for shared/tg_health.c: the circuit breaker opens after N consecutive failures or
 * an error rate over a window, lets one probe through after the cooldown, closes on the probe's
 * success and reopens on its failure; latency is an EWMA; records round-trip through LMDB.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/tg_health.h"

static const tg_breaker_conf_t conf = {.failures = 3, .error_rate = 0.5, .min_requests = 10,
                                       .window_ms = 60000, .cooldown_ms = 30000,
                                       .probe_ms = 10000};

START_TEST(opens_after_consecutive_failures)
{
    tg_health_t h = {0};
    int changed;

    tg_health_record(&h, &conf, 1000, 0, 0);
    tg_health_record(&h, &conf, 1001, 0, 0);
    ck_assert_uint_eq(h.state, TG_BREAKER_CLOSED);
    ck_assert_int_eq(tg_health_allow(&h, &conf, 1002, &changed), 1);
    ck_assert_int_eq(changed, 0);
    /* a success in between resets the run */
    tg_health_record(&h, &conf, 1003, 1, 100);
    tg_health_record(&h, &conf, 1004, 0, 0);
    tg_health_record(&h, &conf, 1005, 0, 0);
    ck_assert_uint_eq(h.state, TG_BREAKER_CLOSED);
    tg_health_record(&h, &conf, 1006, 0, 0);
    ck_assert_uint_eq(h.state, TG_BREAKER_OPEN);
    ck_assert_int_eq(h.opened_ms, 1006);
    ck_assert_uint_eq(h.opens, 1);
    ck_assert_str_eq(tg_health_state_name(h.state), "open");
}
END_TEST

START_TEST(opens_on_error_rate_over_enough_requests)
{
    tg_health_t h = {.win_start_ms = 0};
    const tg_breaker_conf_t c = {.failures = 0, .error_rate = 0.5, .min_requests = 10,
                                 .window_ms = 60000, .cooldown_ms = 1000, .probe_ms = 1000};

    /* alternate ok/fail: 50% errors, never two in a row */
    for (int i = 0; i < 9; i++)
        tg_health_record(&h, &c, 100 + i, i % 2, 10);
    ck_assert_uint_eq(h.state, TG_BREAKER_CLOSED); /* 9 answers: below min_requests */
    tg_health_record(&h, &c, 200, 0, 0);
    ck_assert_uint_eq(h.state, TG_BREAKER_OPEN); /* 5 of 10 failed */
    /* a new window starts counting afresh */
    h = (tg_health_t){.win_start_ms = 0};
    for (int i = 0; i < 9; i++)
        tg_health_record(&h, &c, 100 + i, i % 2, 10);
    tg_health_record(&h, &c, 60000, 0, 0); /* the window has rolled: 1 of 1 */
    ck_assert_uint_eq(h.state, TG_BREAKER_CLOSED);
    ck_assert_uint_eq(h.win_total, 1);
}
END_TEST

START_TEST(half_open_lets_one_probe_through)
{
    tg_health_t h = {0};
    int changed;

    for (int i = 0; i < 3; i++)
        tg_health_record(&h, &conf, 0, 0, 0);
    ck_assert_uint_eq(h.state, TG_BREAKER_OPEN);
    ck_assert_int_eq(tg_health_allow(&h, &conf, 29999, &changed), 0);
    ck_assert_int_eq(changed, 0);
    /* cooldown over: exactly one probe */
    ck_assert_int_eq(tg_health_allow(&h, &conf, 30000, &changed), 1);
    ck_assert_int_eq(changed, 1);
    ck_assert_uint_eq(h.state, TG_BREAKER_HALF_OPEN);
    ck_assert_int_eq(tg_health_allow(&h, &conf, 30001, &changed), 0);
    /* the probe never reported: its lease lapses and another request probes */
    ck_assert_int_eq(tg_health_allow(&h, &conf, 40000, &changed), 1);
    ck_assert_int_eq(changed, 1);
    /* the probe fails: open again, a fresh cooldown */
    tg_health_record(&h, &conf, 40500, 0, 0);
    ck_assert_uint_eq(h.state, TG_BREAKER_OPEN);
    ck_assert_int_eq(h.opened_ms, 40500);
    ck_assert_uint_eq(h.opens, 2);
    ck_assert_int_eq(tg_health_allow(&h, &conf, 70499, &changed), 0);
    ck_assert_int_eq(tg_health_allow(&h, &conf, 70500, &changed), 1);
    /* the probe succeeds: closed, counters reset */
    tg_health_record(&h, &conf, 70600, 1, 50);
    ck_assert_uint_eq(h.state, TG_BREAKER_CLOSED);
    ck_assert_uint_eq(h.consecutive, 0);
    ck_assert_int_eq(tg_health_allow(&h, &conf, 70601, &changed), 1);
    ck_assert_int_eq(changed, 0);
}
END_TEST

START_TEST(latency_is_an_ewma_of_good_answers)
{
    tg_health_t h = {0};

    tg_health_record(&h, &conf, 1, 1, 100);
    ck_assert(fabs(h.ewma_ms - 100) < 1e-9);
    tg_health_record(&h, &conf, 2, 1, 200);
    ck_assert(fabs(h.ewma_ms - 120) < 1e-9);
    tg_health_record(&h, &conf, 3, 0, 5000); /* failures do not count */
    ck_assert(fabs(h.ewma_ms - 120) < 1e-9);
}
END_TEST

START_TEST(records_round_trip_through_the_store)
{
    char dir[] = "/tmp/tg-health-XXXXXX", err[256], cmd[300];
    tg_store_opts_t o = {.path = dir, .control_map_size = 1 << 20, .meter_map_size = 1 << 20,
                         .max_readers = 16};
    tg_store_t s;
    tg_health_t h = {.state = TG_BREAKER_OPEN, .opened_ms = 1234, .ewma_ms = 42.5, .opens = 7},
                got;
    MDB_txn *txn;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_msg(tg_store_open(&s, &o, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(tg_store_begin(&s, TG_DB_HEALTH, 0, &txn), 0);
    ck_assert_int_eq(tg_health_get(&s, txn, "gpt-4o", &got), 0);
    ck_assert_uint_eq(got.state, TG_BREAKER_CLOSED); /* never seen: healthy */
    ck_assert_int_eq(tg_health_put(&s, txn, "gpt-4o", &h), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_int_eq(tg_store_begin(&s, TG_DB_HEALTH, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(tg_health_get(&s, txn, "gpt-4o", &got), 0);
    mdb_txn_abort(txn);
    ck_assert_int_eq(memcmp(&got, &h, sizeof(h)), 0);
    tg_store_close(&s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(p95_of_recent_latency)
{
    tg_health_t h = {0};

    ck_assert(tg_health_p95(&h) < 0); /* unmeasured */
    for (int i = 0; i < 95; i++)
        tg_health_record(&h, &conf, i, 1, 8); /* bucket <= 10 ms */
    for (int i = 0; i < 5; i++)
        tg_health_record(&h, &conf, i, 1, 400);
    ck_assert(fabs(tg_health_p95(&h) - 10.0) < 1e-9);
    for (int i = 0; i < 10; i++)
        tg_health_record(&h, &conf, i, 1, 400); /* now 15 of 110 are slow */
    ck_assert_msg(tg_health_p95(&h) >= 400 && tg_health_p95(&h) < 600, "p95 %f",
                  tg_health_p95(&h));
    /* the histogram halves itself: old answers fade */
    for (int i = 0; i < 2000; i++)
        tg_health_record(&h, &conf, i, 1, 8);
    ck_assert(fabs(tg_health_p95(&h) - 10.0) < 1e-9);
}
END_TEST

static Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("breaker");

    tcase_add_test(tc, opens_after_consecutive_failures);
    tcase_add_test(tc, opens_on_error_rate_over_enough_requests);
    tcase_add_test(tc, half_open_lets_one_probe_through);
    tcase_add_test(tc, latency_is_an_ewma_of_good_answers);
    tcase_add_test(tc, p95_of_recent_latency);
    tcase_add_test(tc, records_round_trip_through_the_store);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(health_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
