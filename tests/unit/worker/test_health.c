/*
 * Unit tests for worker/health.c without a store (each worker keeps its own records): the
 * breaker opens after the configured failures, admits one probe after the cooldown, and the
 * latency EWMA feeds the least-latency strategy.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/health.h"

START_TEST(breaker_without_a_store)
{
    tg_config_t cf;
    tg_model_t m = {.name = "flaky"}, other = {.name = "steady"};
    tg_health_t h;

    memset(&cf, 0, sizeof(cf));
    cf.breaker = (tg_breaker_conf_t){.failures = 2, .cooldown_ms = 200, .probe_ms = 1000};
    ck_assert_int_eq(tg_health_admit(&cf, &m), 1);
    ck_assert(tg_health_latency(&m, NULL) < 0); /* unmeasured */
    tg_health_report(&cf, &m, 1, 80);
    ck_assert(tg_health_latency(&m, NULL) == 80);
    tg_health_report(&cf, &m, 0, 0);
    tg_health_report(&cf, &m, 0, 0);
    tg_health_read(&m, &h);
    ck_assert_uint_eq(h.state, TG_BREAKER_OPEN);
    ck_assert_int_eq(tg_health_admit(&cf, &m), 0);
    ck_assert_int_eq(tg_health_admit(&cf, &other), 1); /* records are per model */
    usleep(250 * 1000);
    ck_assert_int_eq(tg_health_admit(&cf, &m), 1); /* the probe */
    ck_assert_int_eq(tg_health_admit(&cf, &m), 0); /* one at a time */
    tg_health_report(&cf, &m, 1, 120);
    ck_assert_int_eq(tg_health_admit(&cf, &m), 1);
    tg_health_read(&m, &h);
    ck_assert_uint_eq(h.state, TG_BREAKER_CLOSED);
    tg_health_shutdown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("local");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, breaker_without_a_store);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
