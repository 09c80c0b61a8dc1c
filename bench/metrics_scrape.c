/*
 * What a /metrics scrape costs: fills a fresh store with SERIES x MINUTES usage rollups (each a
 * distinct model/route pair per minute, as busy traffic leaves them) and times master/metrics.c
 * rendering the scrape three ways: the first after a start (every rollup is read and the
 * finished minutes folded into kept sums), the next one in the same minute (only the last two
 * minutes are read), and one a minute later (one more minute folded in).
 *
 *   tollgate-bench-metrics [SERIES [MINUTES]]      defaults: 50 series x 1440 minutes (a day)
 *
 * docs/analytics.md quotes its output.
 */
#include "master/metrics.h"
#include "shared/tg_meter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double tg_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tg_fill(tg_store_t *s, int series, int minutes, int64_t first_minute)
{
    char model[32], route[32];
    tg_mbatch_t *b = tg_mbatch_new(s);

    if (b == NULL)
        return -1;
    for (int m = 0; m < minutes; m++) {
        if (tg_mbatch_begin(b) != 0) {
            tg_mbatch_free(b);
            return -1;
        }
        for (int i = 0; i < series; i++) {
            tg_meter_record_t r;
            memset(&r, 0, sizeof(r));
            snprintf(model, sizeof(model), "model-%d", i % 10);
            snprintf(route, sizeof(route), "route-%d", i);
            r.request_id = "bench";
            r.key_id = "bbbbbbbbbbbb";
            r.tenant = "bench";
            r.model = model;
            r.provider = "provider";
            r.route = route;
            r.task = "";
            r.status = i % 7 == 0 ? 502 : 200;
            r.usage.prompt = 100;
            r.usage.completion = 50;
            r.usage.reported = 1;
            r.cost_pico = 1000000;
            r.latency_us = 1000 * (i + 1);
            r.ttft_us = 500 * (i + 1);
            if (tg_meter_settle_batch(b, NULL, &r, (first_minute + m) * 60000 + 1000, 0) != 0) {
                tg_mbatch_free(b);
                return -1;
            }
        }
        if (tg_mbatch_commit(b) != 0) {
            tg_mbatch_free(b);
            return -1;
        }
    }
    tg_mbatch_free(b);
    return 0;
}

static double tg_scrape(const tg_metrics_src_t *src, int64_t now_ms, size_t *bytes)
{
    tg_buf_t out = {NULL, 0, 0};
    char err[256];
    double t0 = tg_now_s(), t;

    if (tg_metrics_render(src, now_ms, &out, err, sizeof(err)) == -1) {
        fprintf(stderr, "render: %s\n", err);
        exit(1);
    }
    t = tg_now_s() - t0;
    *bytes = out.len;
    tg_buf_free(&out);
    return t;
}

int main(int argc, char **argv)
{
    int series = argc > 1 ? atoi(argv[1]) : 50, minutes = argc > 2 ? atoi(argv[2]) : 1440;
    static const char conf[] =
        "listen: 8080\n"
        "providers: {p: {kind: openai, base_url: \"http://127.0.0.1:9/v1\"}}\n"
        "models: {m: {provider: p, price: {input: 1, output: 1}}}\n";
    tg_config_file_t f = {.path = "bench.yaml", .data = (char *)conf, .len = sizeof(conf) - 1};
    tg_config_source_t cs = {.files = &f, .nfiles = 1, .from_disk = 0};
    char dir[] = "/tmp/tg-bench-metrics-XXXXXX", err[512], cmd[64];
    tg_store_opts_t o = {dir, 64 << 20, (size_t)4 << 30, 16, 1};
    tg_worker_info_t w[1] = {{0, 1, 0, 1, 0}};
    tg_metrics_src_t src = {NULL, NULL, w, 1};
    int64_t now_min = time(NULL) / 60;
    size_t bytes;
    double cold, warm, next;
    tg_store_t s;

    if (series < 1 || minutes < 2 || mkdtemp(dir) == NULL ||
        tg_store_open(&s, &o, err, sizeof(err)) ||
        (src.cf = tg_config_load_source(&cs, err, sizeof(err))) == NULL) {
        fprintf(stderr, "usage: tollgate-bench-metrics [SERIES [MINUTES]] (%s)\n", err);
        return 2;
    }
    src.store = &s;
    if (tg_fill(&s, series, minutes, now_min - minutes + 1) == -1) {
        fprintf(stderr, "filling the store failed\n");
        return 1;
    }
    cold = tg_scrape(&src, now_min * 60000 + 30000, &bytes);
    warm = tg_scrape(&src, now_min * 60000 + 45000, &bytes);
    next = tg_scrape(&src, now_min * 60000 + 90000, &bytes);
    printf("%d series x %d minutes = %d rollups; scrape %zu bytes\n", series, minutes,
           series * minutes, bytes);
    printf("first scrape (reads every rollup): %.1f ms\n", cold * 1e3);
    printf("next scrape, same minute (the last two minutes): %.3f ms\n", warm * 1e3);
    printf("a minute later (one more minute folded in): %.3f ms\n", next * 1e3);
    tg_metrics_reset();
    tg_config_unref((tg_config_t *)src.cf);
    tg_store_close(&s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
