/*
 * Unit tests for shared/tg_meter.c: admission against limits and budgets, settlement exactly
 * once, release of a dead process's reservations, usage aggregation, and pruning (the store must
 * not grow without bound: expired events and dead windows go away).
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/tg_meter.h"
#include "tests/unit/tg_store_fixture.h"

static tg_key_t make_key(const char *id, int64_t rpm, int64_t conc, int64_t daily_micros)
{
    tg_key_t k;

    memset(&k, 0, sizeof(k));
    snprintf(k.id, sizeof(k.id), "%s", id);
    snprintf(k.tenant, sizeof(k.tenant), "t1");
    k.limits.rpm = rpm;
    k.limits.concurrency = conc;
    k.limits.daily_budget_micros = daily_micros;
    return k;
}

static tg_meter_record_t record(const char *rid, const tg_key_t *k, int64_t prompt,
                                int64_t completion, int64_t cost_pico, int status)
{
    tg_meter_record_t r;

    memset(&r, 0, sizeof(r));
    r.request_id = rid;
    r.key_id = k->id;
    r.tenant = k->tenant;
    r.model = "gpt-4o";
    r.provider = "openai";
    r.route = "gpt-4o";
    r.task = "";
    r.status = status;
    r.attempts = 1;
    r.usage.prompt = prompt;
    r.usage.completion = completion;
    r.usage.reported = 1;
    r.cost_pico = cost_pico;
    return r;
}

START_TEST(rpm_admits_exactly_the_limit)
{
    /* ten requests a minute means the eleventh in the same minute is refused */
    tg_key_t k = make_key("aaaaaaaaaaaa", 10, 0, 0);
    tg_reservation_t res;
    tg_admit_info_t info;
    int64_t now = 1800000000000;
    int ok = 0;

    for (int i = 0; i < 25; i++)
        ok += tg_meter_admit(&tg_s, &k, NULL, 1, (uint64_t)i, now, 10, 0, &res, &info) ==
              TG_ADMIT_OK;
    ck_assert_int_eq(ok, 10);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 99, now, 10, 0, &res, &info),
                     TG_ADMIT_RPM);
    ck_assert_int_eq(info.req_limit, 10);
    ck_assert_int_eq(info.req_remaining, 0);
    ck_assert(info.retry_after_s >= 1 && info.retry_after_s <= 60);
    /* the next minute starts afresh */
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 100, now + 60000, 10, 0, &res, &info),
                     TG_ADMIT_OK);
}
END_TEST

START_TEST(concurrency_released_by_settlement_exactly_once)
{
    tg_key_t k = make_key("bbbbbbbbbbbb", 0, 1, 0);
    tg_reservation_t res, res2;
    tg_admit_info_t info;
    tg_meter_record_t rec = record("r1", &k, 5, 5, 0, 200);
    int64_t now = 1800000000000;

    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 1, now, 10, 0, &res, &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 2, now, 10, 0, &res2, &info),
                     TG_ADMIT_CONCURRENCY);
    ck_assert_int_eq(tg_meter_settle(&tg_s, &res, &rec, now), 0);
    /* settling the same reservation again must not release a second slot */
    ck_assert_int_eq(tg_meter_settle(&tg_s, &res, &rec, now), 0);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 3, now, 10, 0, &res2, &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 4, now, 10, 0, &res, &info),
                     TG_ADMIT_CONCURRENCY);
}
END_TEST

START_TEST(budget_reserves_worst_case_and_refunds_the_rest)
{
    /* $1.00 a day; each request reserves $0.40 worst case but costs $0.10 */
    tg_key_t k = make_key("cccccccccccc", 0, 0, 1000000);
    tg_reservation_t r[4];
    tg_admit_info_t info;
    int64_t now = 1800000000000;
    tg_meter_record_t rec = record("x", &k, 1, 1, 100000LL * 1000000, 200);

    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 1, now, 1, 400000LL * 1000000, &r[0],
                                    &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 2, now, 1, 400000LL * 1000000, &r[1],
                                    &info),
                     TG_ADMIT_OK);
    /* a third worst case would overspend: refused while the others are in flight */
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 3, now, 1, 400000LL * 1000000, &r[2],
                                    &info),
                     TG_ADMIT_BUDGET);
    ck_assert_str_eq(info.refused_window, "day");
    ck_assert_int_eq(tg_meter_settle(&tg_s, &r[0], &rec, now), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, &r[1], &rec, now), 0);
    /* spent $0.20; $0.80 left: two more worst cases fit, a third does not */
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 4, now, 1, 400000LL * 1000000, &r[2],
                                    &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 5, now, 1, 400000LL * 1000000, &r[3],
                                    &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 6, now, 1, 400000LL * 1000000, &r[0],
                                    &info),
                     TG_ADMIT_BUDGET);
    /* a saturated worst case is refused, never wrapped around */
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 7, now, 1, INT64_MAX, &r[0], &info),
                     TG_ADMIT_BUDGET);
}
END_TEST

START_TEST(release_pid_refunds_only_that_process)
{
    tg_key_t k = make_key("dddddddddddd", 0, 2, 0);
    tg_reservation_t a, b;
    tg_admit_info_t info;
    int64_t now = 1800000000000;

    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 111, 1, now, 1, 0, &a, &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 222, 1, now, 1, 0, &b, &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 333, 1, now, 1, 0, &b, &info),
                     TG_ADMIT_CONCURRENCY);
    ck_assert_int_eq(tg_meter_release_pid(&tg_s, 111), 1);
    ck_assert_int_eq(tg_meter_release_pid(&tg_s, 111), 0);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 333, 2, now, 1, 0, &a, &info),
                     TG_ADMIT_OK);
}
END_TEST

typedef struct {
    int rows;
    int64_t min_requests; /* over every row */
    tg_usage_row_t last;
} usage_acc_t;

static void usage_cb(void *arg, const tg_usage_row_t *row)
{
    usage_acc_t *u = arg;

    if (u->rows++ == 0 || row->requests < u->min_requests)
        u->min_requests = row->requests;
    u->last = *row;
}

START_TEST(usage_aggregates_by_dimension)
{
    tg_key_t k = make_key("eeeeeeeeeeee", 0, 0, 0);
    int64_t now = 1800000000000;
    tg_meter_record_t ok = record("u1", &k, 10, 16, 185000000, 200);
    tg_meter_record_t err = record("u2", &k, 0, 0, 0, 502);
    usage_acc_t u = {0};

    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &ok, now), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &ok, now + 61000), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &err, now), 0);
    ck_assert_int_eq(tg_meter_usage(&tg_s, "model", now - 60000, now + 120000, usage_cb, &u), 0);
    ck_assert_int_eq(u.rows, 1);
    ck_assert_str_eq(u.last.group, "gpt-4o");
    ck_assert_int_eq(u.last.requests, 3);
    ck_assert_int_eq(u.last.errors, 1);
    ck_assert_int_eq(u.last.prompt, 20);
    ck_assert_int_eq(u.last.completion, 32);
    ck_assert_int_eq(u.last.cost_pico, 370000000);
    /* a range that excludes the second minute */
    memset(&u, 0, sizeof(u));
    ck_assert_int_eq(tg_meter_usage(&tg_s, "key", now - 60000, now + 1000, usage_cb, &u), 0);
    ck_assert_int_eq(u.last.requests, 2);
    ck_assert_int_eq(tg_meter_usage(&tg_s, "nonsense", 0, now, usage_cb, &u), -1);
}
END_TEST

/*
 * A batch caches the counters and rollups it touches: many admissions of one key in one batch
 * must still stop at the limit, a refusal in the batch must not count, and the written-back
 * values must equal those of one transaction per request.
 */
START_TEST(batch_admits_exactly_and_writes_back_once)
{
    tg_key_t k = make_key("ffffffffffff", 10, 4, 1000000); /* 10 rpm, 4 in flight, $1/day */
    tg_reservation_t res[12];
    tg_admit_info_t info;
    tg_mbatch_t *b = tg_mbatch_new(&tg_s);
    int64_t now = 1800000000000;
    int ok = 0, conc = 0;

    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tg_mbatch_begin(b), 0);
    for (int i = 0; i < 12; i++) {
        tg_admit_t a = tg_meter_admit_batch(b, &k, NULL, 1, (uint64_t)i + 1, now, 10,
                                            100000000000, &res[ok], &info);
        ok += a == TG_ADMIT_OK;
        conc += a == TG_ADMIT_CONCURRENCY;
    }
    ck_assert_int_eq(ok, 4);
    ck_assert_int_eq(conc, 8);
    /* settle two in the same batch: their slots are free for the next admissions at once */
    for (int i = 0; i < 2; i++) {
        tg_meter_record_t rec = record(i ? "b2" : "b1", &k, 3, 4, 30000000000, 200);
        ck_assert_int_eq(tg_meter_settle_batch(b, &res[i], &rec, now, 1), 0);
    }
    ck_assert_int_eq(tg_meter_admit_batch(b, &k, NULL, 1, 100, now, 10, 100000000000, &res[0],
                                          &info), TG_ADMIT_OK);
    ck_assert_int_eq(tg_mbatch_commit(b), 0);
    /* what was written back: 5 requests counted this minute (refusals are not), 3 in flight
       (one more is refused), and the day's spend = 3 reservations + 2 actual costs */
    int64_t spent = 0;
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(tg_s.meter, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(tg_meter_spent(&tg_s, txn, 0, k.id, 0, now, &spent), 0);
    mdb_txn_abort(txn);
    ck_assert_int_eq(spent, 3 * 100000000000LL + 2 * 30000000000LL);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 101, now, 10, 0, &res[1], &info),
                     TG_ADMIT_OK);
    ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, 102, now, 10, 0, &res[1], &info),
                     TG_ADMIT_CONCURRENCY);
    ck_assert_int_eq(info.req_remaining, 3); /* 10 - 6 counted - this one */
    tg_mbatch_free(b);
}
END_TEST

/* More keys and rollups than the batch caches hold go straight to the map, still exactly. */
START_TEST(batch_beyond_its_caches_stays_exact)
{
    tg_mbatch_t *b = tg_mbatch_new(&tg_s);
    tg_reservation_t res;
    tg_admit_info_t info;
    int64_t now = 1800000000000;
    char id[16], model[16];
    usage_acc_t u = {0};

    ck_assert_int_eq(tg_mbatch_begin(b), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof(id), "k%011d", i);
            tg_key_t k = make_key(id, 1, 0, 0); /* one request a minute each */
            tg_admit_t want = round == 0 ? TG_ADMIT_OK : TG_ADMIT_RPM;
            ck_assert_int_eq(tg_meter_admit_batch(b, &k, NULL, 1, (uint64_t)(round * 100 + i),
                                                  now, 1, 0, &res, &info), want);
            snprintf(model, sizeof(model), "m%d", i % 50);
            tg_meter_record_t rec = record("x", &k, 1, 2, 5, 200);
            rec.model = model;
            ck_assert_int_eq(tg_meter_settle_batch(b, NULL, &rec, now, 0), 0);
        }
    }
    ck_assert_int_eq(tg_mbatch_commit(b), 0);
    tg_mbatch_free(b);
    ck_assert_int_eq(tg_meter_usage(&tg_s, "model", now - 60000, now + 60000, usage_cb, &u), 0);
    ck_assert_int_eq(u.rows, 50);
    ck_assert_int_eq(u.min_requests, 4); /* every model: 2 keys x 2 rounds */
    ck_assert_int_eq(u.last.requests, 4);
    ck_assert_int_eq(u.last.completion, 2 * 4);
}
END_TEST

static int count_entries(tg_db_t db)
{
    MDB_txn *txn;
    MDB_stat st;

    ck_assert_int_eq(mdb_txn_begin(tg_s.meter, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_stat(txn, tg_s.dbi[db], &st), 0);
    mdb_txn_abort(txn);
    return (int)st.ms_entries;
}

START_TEST(prune_deletes_expired_events_and_dead_windows)
{
    /* the store must not grow without bound */
    tg_key_t k = make_key("ffffffffffff", 100, 0, 0);
    tg_reservation_t res;
    tg_admit_info_t info;
    int64_t t0 = 1800000000000;
    char rid[32];

    for (int i = 0; i < 50; i++) {
        tg_meter_record_t rec;
        snprintf(rid, sizeof(rid), "old%d", i);
        rec = record(rid, &k, 1, 1, 0, 200);
        ck_assert_int_eq(tg_meter_admit(&tg_s, &k, NULL, 1, (uint64_t)i, t0, 2, 0, &res, &info),
                         TG_ADMIT_OK);
        ck_assert_int_eq(tg_meter_settle(&tg_s, &res, &rec, t0), 0);
    }
    for (int i = 0; i < 5; i++) {
        tg_meter_record_t rec;
        snprintf(rid, sizeof(rid), "new%d", i);
        rec = record(rid, &k, 1, 1, 0, 200);
        ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &rec, t0 + 3600000), 0);
    }
    ck_assert_int_eq(count_entries(TG_DB_EVENTS), 55);
    ck_assert_int_gt(count_entries(TG_DB_LIMITS), 0);
    /* an hour later with a 30-minute retention: the 50 old events and the old rpm window go */
    ck_assert_int_eq(tg_meter_prune(&tg_s, t0 + 3600000, t0 + 1800000), 0);
    ck_assert_int_eq(count_entries(TG_DB_EVENTS), 5);
    ck_assert_int_eq(count_entries(TG_DB_LIMITS), 0);
    ck_assert_int_eq(count_entries(TG_DB_INFLIGHT), 0);
}
END_TEST

typedef struct {
    int rows;
    char route[64];
    tg_usage_row_t sum;
} rollup_acc_t;

static int rollup_cb(void *arg, const char *const *dims, const tg_usage_row_t *row)
{
    rollup_acc_t *a = arg;

    a->rows++;
    snprintf(a->route, sizeof(a->route), "%s", dims[TG_DIM_ROUTE]);
    tg_usage_row_add(&a->sum, row);
    return 0;
}

static void rollups(int64_t from_ms, int64_t to_ms, rollup_acc_t *a)
{
    MDB_txn *txn;

    memset(a, 0, sizeof(*a));
    ck_assert_int_eq(mdb_txn_begin(tg_s.meter, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(tg_meter_rollups(&tg_s, txn, from_ms / 60000, to_ms / 60000, rollup_cb, a),
                     a->rows);
    mdb_txn_abort(txn);
}

START_TEST(rollups_count_status_classes_limits_and_exact_sums)
{
    /* what /metrics reads: errors by class, refusals by scope and limit, exact latency sums */
    tg_key_t k = make_key("ffffffffffff", 0, 0, 0);
    int64_t now = 1800000000000;
    tg_meter_record_t ok = record("r1", &k, 10, 16, 0, 200);
    tg_meter_record_t bad = record("r2", &k, 0, 0, 0, 502);
    tg_meter_record_t lim = record("r3", &k, 0, 0, 0, 429);
    rollup_acc_t a;

    ok.latency_us = 1500000; /* 1.5 s: the (1, 2.5] s bucket */
    ok.ttft_us = 30000;
    bad.latency_us = 7000;
    lim.latency_us = 100;
    lim.limited = tg_meter_limited(1, TG_ADMIT_BUDGET);
    ck_assert_int_eq(lim.limited, 8);
    ck_assert_int_eq(tg_meter_limited(0, TG_ADMIT_RPM), 1);
    ck_assert_int_eq(tg_meter_limited(0, TG_ADMIT_ERROR), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &ok, now), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &bad, now), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &lim, now), 0);
    ck_assert_int_eq(tg_meter_settle(&tg_s, NULL, &ok, now + 60000), 0);
    rollups(now, now + 60000, &a);
    ck_assert_int_eq(a.rows, 1);
    ck_assert_str_eq(a.route, "gpt-4o");
    ck_assert_int_eq(a.sum.requests, 3);
    ck_assert_int_eq(a.sum.errors, 2);
    ck_assert_int_eq(a.sum.status_4xx, 1);
    ck_assert_int_eq(a.sum.status_5xx, 1);
    ck_assert_int_eq(a.sum.limited[7], 1);
    ck_assert_int_eq(a.sum.limited[0], 0);
    ck_assert_int_eq(a.sum.latency_sum_us, 1500000 + 7000 + 100);
    ck_assert_int_eq(a.sum.ttft_sum_us, 30000); /* answered requests only */
    ck_assert_int_eq(a.sum.latency[8], 1);
    ck_assert_int_eq(a.sum.ttft[3], 1);
    rollups(now, now + 120000, &a);
    ck_assert_int_eq(a.rows, 2);
    ck_assert_int_eq(a.sum.requests, 4);
}
END_TEST

START_TEST(rollups_read_rows_of_older_versions)
{
    /* a row of the layout before the class, sum and limit fields: 41 counters */
    static const unsigned char key[] = "\0\0\0\0\0\0\0\1t\0k\0m\0p\0r\0\0";
    int64_t c[41] = {3, 1, 5, 6, 0, 0, 0, 99, 0};
    MDB_val k = {sizeof(key), (void *)key}, v = {sizeof(c), c};
    rollup_acc_t a;
    MDB_txn *txn;

    c[9 + 2] = 2; /* two requests in the (10, 25] ms bucket */
    c[9 + 15] = 1; /* one above 300 s */
    ck_assert_int_eq(mdb_txn_begin(tg_s.meter, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, tg_s.dbi[TG_DB_USAGE], &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    rollups(0, 120000, &a);
    ck_assert_int_eq(a.rows, 1);
    ck_assert_str_eq(a.route, "r");
    ck_assert_int_eq(a.sum.requests, 3);
    ck_assert_int_eq(a.sum.cost_pico, 99);
    ck_assert_int_eq(a.sum.status_4xx + a.sum.status_5xx, 0);
    /* no stored sum: bucket midpoints, the open bucket at its lower bound */
    ck_assert_int_eq(a.sum.latency_sum_us, 2 * 17500 + 300000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tg_meter");
    TCase *tc = tcase_create("meter");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rpm_admits_exactly_the_limit);
    tcase_add_test(tc, concurrency_released_by_settlement_exactly_once);
    tcase_add_test(tc, budget_reserves_worst_case_and_refunds_the_rest);
    tcase_add_test(tc, release_pid_refunds_only_that_process);
    tcase_add_test(tc, usage_aggregates_by_dimension);
    tcase_add_test(tc, batch_admits_exactly_and_writes_back_once);
    tcase_add_test(tc, batch_beyond_its_caches_stays_exact);
    tcase_add_test(tc, prune_deletes_expired_events_and_dead_windows);
    tcase_add_test(tc, rollups_count_status_classes_limits_and_exact_sums);
    tcase_add_test(tc, rollups_read_rows_of_older_versions);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
