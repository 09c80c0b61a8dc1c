/*
 * Scoring and measuring for tollgate-route-eval. Scoring is timed over whole passes across
 * every prompt, repeated until the total is long enough for the clock to be accurate, so the
 * cost per prompt includes cache misses on real prompts rather than one hot prompt in a loop.
 */
#include "tools/route_eval/route_eval.h"

#include <time.h>

#define RE_MIN_TIMED_NS 200000000.0 /* keep scoring for at least 0.2 s */
#define RE_MAX_PASSES 1000

static double re_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void re_score(re_t *re)
{
    volatile double sink = 0; /* keeps timed passes from being optimised away */
    double start, elapsed, bytes = 0;
    unsigned passes = 0;

    for (size_t i = 0; i < re->nrows; i++) {
        re_row_t *row = &re->rows[i];
        tg_cx_explain_t ex;

        row->score = tg_complexity_score_text(row->text, row->len, &ex);
        for (int f = 0; f < TG_CX_NFEATURES; f++) {
            row->value[f] = ex.value[f];
        }
        bytes += (double)row->len;
    }
    start = re_now_ns();
    do {
        for (size_t i = 0; i < re->nrows; i++) {
            sink = sink + tg_complexity_score_text(re->rows[i].text, re->rows[i].len, NULL);
        }
        passes++;
        elapsed = re_now_ns() - start;
    } while (elapsed < RE_MIN_TIMED_NS && passes < RE_MAX_PASSES);
    (void)sink;
    re->passes = passes;
    re->us_per_prompt = elapsed / 1e3 / ((double)passes * (double)re->nrows);
    re->mean_bytes = bytes / (double)re->nrows;
}

void re_fill(re_t *re, size_t first, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const re_row_t *row = &re->rows[first + i];

        re->items[i] = (tg_reval_item_t){
            .score = row->score, .index = (uint32_t)i, .weak = row->weak, .strong = row->strong};
    }
}

void re_measure(re_t *re, size_t first, size_t count, re_result_t *res)
{
    re_fill(re, first, count);
    tg_reval_sort(re->items, count);
    tg_reval_metrics(re->items, count, re->bins, re->pts, &res->est);
    tg_reval_random(re->items, count, re->bins, re->random_runs, re->seed, re->pts, &res->rnd);
}
