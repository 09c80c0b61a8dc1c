/*
 * Output of tollgate-route-eval: a table with one row per file and one for all files
 * combined, or the same as JSON; a line with the estimator's cost; and, last, the line
 * scripts read: "APGR <estimator> random <random>" for the combined rows.
 */
#include "tools/route_eval/route_eval.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#define RE_NAME_WIDTH 40

/* One cell: the value in fmt, or "n/a" when it is undefined (no gap, no random run). */
static const char *re_cell(char *buf, size_t size, int ok, const char *fmt, double v)
{
    if (ok) {
        snprintf(buf, size, fmt, v);
    } else {
        snprintf(buf, size, "%s", "n/a");
    }
    return buf;
}

static void re_print_header(void)
{
    printf("%-*s %6s %6s %6s | %-20s | %s\n", RE_NAME_WIDTH, "", "", "", "", "estimator",
           "random (mean, sd)");
    printf("%-*s %6s %6s %6s | %6s %6s %6s | %6s %6s %6s %6s\n", RE_NAME_WIDTH, "file", "n", "weak",
           "strong", "APGR", "CPT50", "CPT80", "APGR", "sd", "CPT50", "CPT80");
}

static void re_print_row(const re_result_t *r)
{
    const tg_reval_metrics_t *e = &r->est;
    const tg_reval_random_t *x = &r->rnd;
    int rok = x->runs > 0;
    char c[7][16];

    /* CPT is -1 when the target is never reached, which cannot happen when there is a gap. */
    printf("%-*.*s %6zu %6.3f %6.3f | %6s %6s %6s | %6s %6s %6s %6s\n", RE_NAME_WIDTH,
           RE_NAME_WIDTH, r->name, e->n, e->weak, e->strong,
           re_cell(c[0], 16, e->defined, "%.4f", e->apgr),
           re_cell(c[1], 16, e->defined && e->cpt50 >= 0, "%.1f%%", 100 * e->cpt50),
           re_cell(c[2], 16, e->defined && e->cpt80 >= 0, "%.1f%%", 100 * e->cpt80),
           re_cell(c[3], 16, rok, "%.4f", x->apgr), re_cell(c[4], 16, rok, "%.4f", x->apgr_sd),
           re_cell(c[5], 16, rok, "%.1f%%", 100 * x->cpt50),
           re_cell(c[6], 16, rok, "%.1f%%", 100 * x->cpt80));
}

static json_t *re_json_result(const re_result_t *r)
{
    const tg_reval_metrics_t *e = &r->est;
    const tg_reval_random_t *x = &r->rnd;
    json_t *est = e->defined ? json_pack("{s:f,s:f,s:f}", "apgr", e->apgr, "cpt50", e->cpt50,
                                         "cpt80", e->cpt80)
                             : json_null();
    json_t *rnd = x->runs > 0
                      ? json_pack("{s:f,s:f,s:f,s:f,s:I}", "apgr", x->apgr, "apgr_sd", x->apgr_sd,
                                  "cpt50", x->cpt50, "cpt80", x->cpt80, "runs", (json_int_t)x->runs)
                      : json_null();

    return json_pack("{s:s,s:I,s:f,s:f,s:o,s:o}", "name", r->name, "n", (json_int_t)e->n, "weak",
                     e->weak, "strong", e->strong, "estimator", est, "random", rnd);
}

static void re_print_last(const re_result_t *all)
{
    char est[16], rnd[16];

    printf("APGR %s random %s\n",
           re_cell(est, sizeof(est), all->est.defined, "%.4f", all->est.apgr),
           re_cell(rnd, sizeof(rnd), all->rnd.runs > 0, "%.4f", all->rnd.apgr));
}

static int re_report_json(re_t *re, const re_result_t *all)
{
    json_t *root, *files = json_array();
    int rc;

    for (size_t i = 0; i < re->nfiles && files != NULL; i++) {
        re_result_t r = {.name = re->files[i].name};

        re_measure(re, re->files[i].first, re->files[i].count, &r);
        json_array_append_new(files, re_json_result(&r));
    }
    root = json_pack("{s:i,s:i,s:I,s:o,s:o,s:f,s:i}", "bins", (int)re->bins, "random_runs",
                     (int)re->random_runs, "seed", (json_int_t)re->seed, "files", files, "combined",
                     re_json_result(all), "us_per_prompt", re->us_per_prompt, "prompts",
                     (int)re->nrows);
    if (root == NULL) {
        fprintf(stderr, "tollgate-route-eval: out of memory\n");
        return -1;
    }
    rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(root);
    return rc == 0 ? 0 : -1;
}

/*
 * What a route's threshold means on this data: the score at or above which a given share of
 * the prompts goes to the strong model (ties can add a few more).
 */
static void re_print_thresholds(re_t *re)
{
    static const double shares[] = {0.2, 0.5, 0.8};

    re_fill(re, 0, re->nrows);
    tg_reval_sort(re->items, re->nrows);
    printf("\nthreshold for");
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
        size_t k = (size_t)(shares[i] * (double)re->nrows + 0.999999);

        k = k == 0 ? 1 : k;
        printf("%s %.0f%%", i > 0 ? "," : "", 100 * shares[i]);
        printf(" strong: score >= %.4f", re->items[k - 1].score);
    }
    printf("\n");
}

int re_report(re_t *re)
{
    re_result_t all = {.name = re->nfiles > 1 ? "all files" : re->files[0].name};

    re_measure(re, 0, re->nrows, &all);
    if (re->json) {
        return re_report_json(re, &all);
    }
    printf("curve: %s; random router: mean of %u orderings (seed %llu)\n\n",
           re->bins > 0 ? "RouteLLM thresholds at score quantiles" : "exact (every score)",
           re->random_runs, (unsigned long long)re->seed);
    re_print_header();
    for (size_t i = 0; i < re->nfiles && !re->summary; i++) {
        re_result_t r = {.name = re->files[i].name};

        re_measure(re, re->files[i].first, re->files[i].count, &r);
        re_print_row(&r);
    }
    if (re->nfiles > 1 || re->summary) {
        re_print_row(&all);
    }
    re_print_thresholds(re);
    printf("estimator cost: %.3f us/prompt (%zu prompts x %u passes, mean %.0f bytes)\n",
           re->us_per_prompt, re->nrows, re->passes, re->mean_bytes);
    re_print_last(&all);
    return 0;
}

void re_print_features(re_t *re)
{
    printf("file\trow\tweak\tstrong\tscore");
    for (int f = 0; f < TG_CX_NFEATURES; f++) {
        printf("\t%s", tg_complexity_feature_name((tg_cx_feature_t)f));
    }
    printf("\n");
    for (size_t i = 0; i < re->nfiles; i++) {
        const re_file_t *file = &re->files[i];

        for (size_t k = 0; k < file->count; k++) {
            const re_row_t *row = &re->rows[file->first + k];

            printf("%s\t%zu\t%d\t%d\t%.6f", file->name, k + 1, row->weak, row->strong, row->score);
            for (int f = 0; f < TG_CX_NFEATURES; f++) {
                printf("\t%.6f", row->value[f]);
            }
            printf("\n");
        }
    }
}
