/*
 * Unit tests for master/metrics.c: /metrics counts every rollup in the store once, whatever the
 * minute; finished minutes are folded into kept sums so later scrapes read only the newer rows,
 * and counters never go down across scrapes; circuit breakers and budgets come from the same
 * store; a gateway without a store shows only the master's numbers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/metrics.h"
#include "shared/tg_health.h"
#include "shared/tg_keys.h"
#include "shared/tg_meter.h"
#include "tests/unit/tg_config_fixture.h"

#define M0 30000000LL /* a minute number; the tests run at M0 and after */

static char tg_dir[64];
static tg_store_t tg_s;
static tg_config_t *tg_cf;
static const tg_worker_info_t tg_w[2] = {{0, 100, 2, 1, 5}, {1, 0, 1, 1, 0}};

static void setup(void)
{
    tg_store_opts_t o = {NULL, 16 << 20, 64 << 20, 16, 0};
    char err[512];

    snprintf(tg_dir, sizeof(tg_dir), "/tmp/tg-metrics-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tg_dir));
    o.path = tg_dir;
    ck_assert_msg(tg_store_open(&tg_s, &o, err, sizeof(err)) == 0, "%s", err);
    tg_cf = load("listen: 8080\n"
                 "providers: {p: {kind: openai, base_url: \"http://127.0.0.1:9/v1\"}}\n"
                 "models: {m: {provider: p, price: {input: 1, output: 1}},\n"
                 "         n: {provider: p, price: {input: 1, output: 1}}}\n",
                 err, sizeof(err));
    ck_assert_msg(tg_cf != NULL, "%s", err);
    tg_metrics_reset();
}

static void teardown(void)
{
    char cmd[128];

    tg_metrics_reset();
    tg_config_unref(tg_cf);
    tg_store_close(&tg_s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tg_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void settle(int64_t minute, int status, int64_t latency_us, const char *key)
{
    tg_meter_record_t r;

    memset(&r, 0, sizeof(r));
    r.request_id = "req";
    r.key_id = key;
    r.tenant = "t";
    r.model = "m";
    r.provider = "p";
    r.route = "r";
    r.task = "";
    r.status = status;
    r.usage.prompt = 10;
    r.usage.completion = 5;
    r.usage.reported = 1;
    r.cost_pico = 1500000;
    r.latency_us = latency_us;
    r.ttft_us = latency_us / 2;
    r.limited = status == 429 ? tg_meter_limited(0, TG_ADMIT_RPM) : 0;
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &r, minute * 60000 + 1000), 0);
}

/* Render at now_ms into buf (freed by the caller). */
static char *render(tg_store_t *s, int64_t now_ms)
{
    tg_metrics_src_t src = {s, tg_cf, tg_w, 2};
    tg_buf_t out = {NULL, 0, 0};
    char err[256];

    ck_assert_msg(tg_metrics_render(&src, now_ms, &out, err, sizeof(err)) == 0, "%s", err);
    return out.data;
}

/* The value of the sample whose line starts with series (name and labels); -1 if absent. */
static double value(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

#define SERIES "{model=\"m\",provider=\"p\",route=\"r\""

START_TEST(every_rollup_counted_once_and_counters_only_grow)
{
    int64_t now = M0 * 60000 + 30000;
    char *t;

    settle(M0 - 5, 200, 3000, "k1");  /* long finished */
    settle(M0 - 1, 502, 80000, "k1"); /* the previous minute: may still change */
    settle(M0, 429, 100, "k2");       /* this minute */
    t = render(&tg_s, now);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"2xx\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"4xx\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"5xx\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_request_errors_total" SERIES "}"), 2);
    ck_assert_double_eq(value(t, "tollgate_tokens_total" SERIES ",type=\"prompt\"}"), 30);
    /* exact: 3 x 1.5 micro-dollars */
    ck_assert_ptr_nonnull(strstr(t, "\ntollgate_cost_usd_total" SERIES "} 0.0000045\n"));
    ck_assert_double_eq(value(t, "tollgate_request_duration_seconds_count" SERIES "}"), 3);
    ck_assert_double_eq(
        value(t, "tollgate_request_duration_seconds_bucket" SERIES ",le=\"0.005\"}"), 2);
    ck_assert_double_eq(value(t, "tollgate_request_duration_seconds_sum" SERIES "}"), 0.0831);
    ck_assert_double_eq(value(t, "tollgate_time_to_first_byte_seconds_count" SERIES "}"), 1);
    ck_assert_double_eq(value(t, "tollgate_rate_limited_total{scope=\"key\",limit=\"rpm\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_metrics_rollups_read"), 3);
    ck_assert_double_eq(value(t, "tollgate_workers"), 1);
    ck_assert_double_eq(value(t, "tollgate_worker_slots"), 2);
    ck_assert_double_eq(value(t, "tollgate_worker_restarts_total"), 3);
    free(t);

    /* again: the finished minute is kept, only the last two are read */
    t = render(&tg_s, now + 1000);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"2xx\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_request_errors_total" SERIES "}"), 2);
    ck_assert_double_eq(value(t, "tollgate_metrics_rollups_read"), 2);
    free(t);

    /* a minute later, with one more request: M0 - 1 is folded in, nothing counted twice */
    settle(M0, 200, 3000, "k1");
    t = render(&tg_s, now + 60000);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"2xx\"}"), 2);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"5xx\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_request_duration_seconds_count" SERIES "}"), 4);
    ck_assert_double_eq(value(t, "tollgate_metrics_rollups_read"), 3); /* M0-1 folded, M0 x 2 */
    free(t);
    t = render(&tg_s, now + 61000);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"2xx\"}"), 2);
    ck_assert_double_eq(value(t, "tollgate_metrics_rollups_read"), 2);
    free(t);

    /* forgetting the kept sums (a restart) reads everything again, to the same totals */
    tg_metrics_reset();
    t = render(&tg_s, now + 61000);
    ck_assert_double_eq(value(t, "tollgate_requests_total" SERIES ",status_class=\"2xx\"}"), 2);
    ck_assert_double_eq(value(t, "tollgate_metrics_rollups_read"), 4);
    free(t);
}
END_TEST

START_TEST(breakers_and_budgets_from_the_store)
{
    int64_t now = M0 * 60000 + 30000;
    tg_health_t h;
    tg_key_t k;
    tg_tenant_t tn;
    tg_reservation_t res;
    tg_admit_info_t info;
    tg_meter_record_t r;
    MDB_txn *txn;
    char *t;

    memset(&h, 0, sizeof(h));
    h.state = TG_BREAKER_OPEN;
    h.opens = 2;
    ck_assert_int_eq(mdb_txn_begin(tg_s.meter, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_health_put(&tg_s, txn, "n", &h), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);

    memset(&k, 0, sizeof(k));
    snprintf(k.id, sizeof(k.id), "aaaaaaaaaaaa");
    snprintf(k.tenant, sizeof(k.tenant), "t");
    k.limits.daily_budget_micros = 1000000; /* $1 a day */
    memset(&tn, 0, sizeof(tn));
    snprintf(tn.name, sizeof(tn.name), "t");
    tn.limits.monthly_budget_micros = 50000000;
    ck_assert_int_eq(mdb_txn_begin(tg_s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_key_put(&tg_s, txn, &k), 0);
    ck_assert_int_eq(tg_tenant_put(&tg_s, txn, &tn), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    /* reserve $0.01, spend $0.00025 of it */
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, &tn, 7, 1, now, 100, 10000000000, &res, &info),
                     TG_ADMIT_OK);
    memset(&r, 0, sizeof(r));
    r.request_id = r.key_id = "aaaaaaaaaaaa";
    r.tenant = "t";
    r.model = r.provider = r.route = r.task = "m";
    r.status = 200;
    r.cost_pico = 250000000;
    ck_assert_int_eq(tg_meter_settle(&tg_s, &res, &r, now), 0);

    t = render(&tg_s, now);
    ck_assert_double_eq(value(t, "tollgate_breaker_state{model=\"n\"}"), 1);
    ck_assert_double_eq(value(t, "tollgate_breaker_opens_total{model=\"n\"}"), 2);
    ck_assert_double_eq(value(t, "tollgate_breaker_state{model=\"m\"}"), 0);
    ck_assert_ptr_nonnull(strstr(t, "tollgate_budget_usd{scope=\"key\",id=\"aaaaaaaaaaaa\","
                                    "window=\"day\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "tollgate_budget_remaining_usd{scope=\"key\",id=\"aaaaaaaaaaaa"
                                    "\",window=\"day\"} 0.99975\n"));
    ck_assert_ptr_nonnull(strstr(t, "tollgate_budget_remaining_usd{scope=\"tenant\",id=\"t\","
                                    "window=\"month\"} 49.99975\n"));
    ck_assert_double_eq(value(t, "tollgate_budget_remaining_usd{scope=\"key\",id=\"aaaaaaaaaaaa\","
                                 "window=\"month\"}"),
                        -1); /* no monthly budget: no series */
    free(t);

    /* a revoked key's budget is gone from the scrape */
    k.status = TG_KEY_REVOKED;
    ck_assert_int_eq(mdb_txn_begin(tg_s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_key_put(&tg_s, txn, &k), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    t = render(&tg_s, now);
    ck_assert_ptr_null(strstr(t, "id=\"aaaaaaaaaaaa\""));
    free(t);
}
END_TEST

START_TEST(without_a_store_only_the_master)
{
    char *t = render(NULL, M0 * 60000);

    ck_assert_ptr_nonnull(strstr(t, "tollgate_build_info{version=\"" TG_VERSION "\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "\ntollgate_config_generation "));
    ck_assert_ptr_null(strstr(t, "tollgate_requests_total"));
    ck_assert_ptr_null(strstr(t, "tollgate_breaker_state"));
    free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_rollup_counted_once_and_counters_only_grow);
    tcase_add_test(tc, breakers_and_budgets_from_the_store);
    tcase_add_test(tc, without_a_store_only_the_master);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
