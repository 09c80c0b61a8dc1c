/*
 * Unit tests for shared/tg_events.c: request events written by settlement (tg_meter_settle) read
 * back field by field, in time order, within a time range, with the marks a replay relies on
 * (a shadow's shadow_of, an extra attempt's extra_attempt); a reader may stop early, and a
 * record that does not decode is counted, not fatal.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_events.h"
#include "shared/tg_meter.h"
#include "tests/unit/tg_store_fixture.h"

static tg_meter_record_t record(const char *rid, const char *model, const char *route)
{
    tg_meter_record_t r;

    memset(&r, 0, sizeof(r));
    r.request_id = rid;
    r.key_id = "k1";
    r.tenant = "acme";
    r.model = model;
    r.provider = "p";
    r.route = route;
    r.task = "faq";
    r.experiment = "";
    r.variant = "";
    r.complexity = "simple";
    r.status = 200;
    r.attempts = 1;
    r.usage.prompt = 1000;
    r.usage.completion = 500;
    r.usage.cached = 200;
    r.usage.cache_write = 100;
    r.usage.reported = 1;
    r.cost_pico = 820000000;
    r.baseline_pico = 7500000000;
    r.latency_us = 1234;
    r.ttft_us = 567;
    return r;
}

typedef struct {
    tg_event_t ev[8];
    int n, stop_after;
} tg_seen_t;

static int collect(void *arg, const tg_event_t *ev)
{
    tg_seen_t *s = arg;

    if (s->n < 8)
        s->ev[s->n++] = *ev;
    return s->stop_after > 0 && s->n >= s->stop_after;
}

START_TEST(settled_events_read_back_in_order_with_every_field)
{
    tg_meter_record_t a = record("req-a", "deepseek-chat", "auto");
    tg_meter_record_t b = record("req-a-2", "gpt-4o-mini", "auto");
    tg_meter_record_t c = record("req-c", "qwen3-32b", "auto:shadow");
    tg_seen_t seen;
    long bad;

    b.extra_attempt = 1;
    b.status = 499;
    b.baseline_pico = 0;
    c.shadow_of = "req-a";
    c.output = "an answer the reader passes over";
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &a, 1000000), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &b, 1000001), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &c, 2000000), 0);

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(tg_events_scan(&tg_s, 0, INT64_MAX, collect, &seen, &bad), 3);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_int_eq(seen.ev[0].ts_ms, 1000000);
    ck_assert_str_eq(seen.ev[0].request_id, "req-a");
    ck_assert_str_eq(seen.ev[0].key, "k1");
    ck_assert_str_eq(seen.ev[0].tenant, "acme");
    ck_assert_str_eq(seen.ev[0].model, "deepseek-chat");
    ck_assert_str_eq(seen.ev[0].provider, "p");
    ck_assert_str_eq(seen.ev[0].route, "auto");
    ck_assert_str_eq(seen.ev[0].task, "faq");
    ck_assert_str_eq(seen.ev[0].complexity, "simple");
    ck_assert_str_eq(seen.ev[0].shadow_of, "");
    ck_assert_int_eq(seen.ev[0].status, 200);
    ck_assert_int_eq(seen.ev[0].usage.prompt, 1000);
    ck_assert_int_eq(seen.ev[0].usage.completion, 500);
    ck_assert_int_eq(seen.ev[0].usage.cached, 200);
    ck_assert_int_eq(seen.ev[0].usage.cache_write, 100);
    ck_assert_int_eq(seen.ev[0].usage.reported, 1);
    ck_assert_int_eq(seen.ev[0].cost_pico, 820000000);
    ck_assert_int_eq(seen.ev[0].baseline_pico, 7500000000);
    ck_assert_int_eq(seen.ev[0].latency_us, 1234);
    ck_assert_int_eq(seen.ev[0].ttft_us, 567);
    ck_assert_int_eq(seen.ev[0].extra_attempt, 0);
    ck_assert_int_eq(seen.ev[1].extra_attempt, 1);
    ck_assert_int_eq(seen.ev[1].status, 499);
    ck_assert_str_eq(seen.ev[2].shadow_of, "req-a");
    ck_assert_str_eq(seen.ev[2].route, "auto:shadow");

    /* [since, until): the window is half-open, by settlement time */
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(tg_events_scan(&tg_s, 1000001, 2000000, collect, &seen, NULL), 1);
    ck_assert_str_eq(seen.ev[0].request_id, "req-a-2");
    ck_assert_int_eq(tg_events_scan(&tg_s, 3000000, 4000000, collect, &seen, NULL), 0);
    ck_assert_int_eq(tg_events_scan(&tg_s, 2000000, 1000000, collect, &seen, NULL), 0);
    /* the reader may stop */
    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 2;
    ck_assert_int_eq(tg_events_scan(&tg_s, 0, INT64_MAX, collect, &seen, NULL), 2);
}
END_TEST

START_TEST(records_that_do_not_decode_are_counted_and_passed_over)
{
    tg_meter_record_t a = record("req-a", "deepseek-chat", "auto");
    unsigned char key[9] = {0, 0, 0, 0, 0, 0, 0, 1, 'x'};
    MDB_val k = {sizeof(key), key}, v = {3, "\x93\x01\x02"}; /* an array, not a map */
    tg_event_t ev;
    MDB_txn *txn;
    tg_seen_t seen;
    long bad;

    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &a, 1000), 0);
    ck_assert_int_eq(tg_store_begin(&tg_s, TG_DB_EVENTS, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, tg_s.dbi[TG_DB_EVENTS], &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(tg_events_scan(&tg_s, 0, INT64_MAX, collect, &seen, &bad), 1);
    ck_assert_int_eq(bad, 1);
    ck_assert_str_eq(seen.ev[0].request_id, "req-a");
    ck_assert_int_eq(tg_events_decode("\xc1", 1, &ev), -1);
}
END_TEST

static Suite *events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, settled_events_read_back_in_order_with_every_field);
    tcase_add_test(tc, records_that_do_not_decode_are_counted_and_passed_over);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(events_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
