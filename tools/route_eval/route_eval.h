/*
 * tollgate-route-eval: scores labelled prompts with the complexity estimator and reports
 * RouteLLM's routing metrics for it and for a random router. This header joins the parts:
 * the command line (route_eval.c), loading CSV files (re_load.c), measuring (re_measure.c),
 * printing (re_report.c) and cross-validating fitted weights (re_fit.c).
 */
#ifndef TG_ROUTE_EVAL_H
#define TG_ROUTE_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_complexity.h"
#include "shared/tg_reval.h"

/** One input file; its rows are items[first .. first + count) of the run. */
typedef struct {
    const char *path;
    const char *name; /* the path's last component */
    char *data;       /* the whole file, unescaped in place by the CSV reader; owned */
    size_t len;
    size_t first;
    size_t count;
} re_file_t;

/** One labelled prompt. The text points into its file's data. */
typedef struct {
    const char *text;
    size_t len;
    unsigned char weak, strong;
    double score;
    double value[TG_CX_NFEATURES];
} re_row_t;

/** Results for one set of rows (a file, or all of them). */
typedef struct {
    const char *name;
    tg_reval_metrics_t est;
    tg_reval_random_t rnd;
} re_result_t;

typedef struct {
    /* options */
    unsigned bins;        /* quantile bins of the curve; 0 = exact curve */
    unsigned random_runs; /* orderings averaged for the random router */
    uint64_t seed;
    int json;
    int features;       /* print per-prompt features instead of metrics */
    int summary;        /* only the combined row */
    int fit;            /* cross-validate fitted weights instead of the metrics table */
    int fold_by_prefix; /* --fit folds: files sharing a name prefix, not each file */

    re_file_t *files;
    size_t nfiles;
    re_row_t *rows;
    size_t nrows, cap;

    /* scratch sized for all rows */
    tg_reval_item_t *items;
    tg_reval_point_t *pts;

    double us_per_prompt;
    unsigned passes;
    double mean_bytes;
} re_t;

/** Read every file in re->files and append its rows. Prints file:line errors; returns 0/-1. */
int re_load(re_t *re);

/** Score every row, measuring the estimator's cost per prompt. */
void re_score(re_t *re);

/** Copy rows [first, first + count) with their scores into re->items (unsorted). */
void re_fill(re_t *re, size_t first, size_t count);

/** Metrics of rows [first, first + count) for the estimator and the random router. */
void re_measure(re_t *re, size_t first, size_t count, re_result_t *res);

/** Print the per-file and combined table (or JSON) and the final "APGR ..." line. */
int re_report(re_t *re);

/** --fit: held-out metrics of ridge-fitted weights beside the shipped estimator. */
int re_fit(re_t *re);

/** Print one line of features per prompt (tab-separated) for offline analysis. */
void re_print_features(re_t *re);

#endif
