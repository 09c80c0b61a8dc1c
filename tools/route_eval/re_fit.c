/*
 * --fit: how much would fitting the weights to labelled data gain over the hand-set ones, out
 * of sample? Ridge least squares of the routing gain (strong correct - weak correct, in
 * {-1, 0, 1}) on the feature values estimates E[gain | features], which is exactly what the
 * metrics reward ranking by; it has a closed form, so the result is deterministic. Each fold
 * (a file, or a group of files sharing a name prefix) is scored by a model fitted on all the
 * other folds, and both that held-out model and the shipped estimator are measured on it.
 */
#include "tools/route_eval/route_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_K (TG_CX_NFEATURES + 1) /* the features and an intercept */
#define RE_RIDGE 1.0               /* keeps never-seen features (tools, turns) at weight 0 */

typedef struct {
    double w[RE_K]; /* w[0] is the intercept */
} re_model_t;

static void re_x(const re_row_t *row, double *x)
{
    x[0] = 1;
    for (int f = 0; f < TG_CX_NFEATURES; f++) {
        x[f + 1] = row->value[f];
    }
}

static void re_swap(double *x, double *y)
{
    double t = *x;

    *x = *y;
    *y = t;
}

/* Solve a * w = b (a is RE_K x RE_K) by Gaussian elimination with partial pivoting. */
static int re_solve(double a[RE_K][RE_K], double *b, double *w)
{
    for (int c = 0; c < RE_K; c++) {
        int piv = c;

        for (int r = c + 1; r < RE_K; r++) {
            if (fabs(a[r][c]) > fabs(a[piv][c])) {
                piv = r;
            }
        }
        if (fabs(a[piv][c]) < 1e-12) {
            return -1;
        }
        for (int k = 0; k < RE_K; k++) {
            re_swap(&a[c][k], &a[piv][k]);
        }
        re_swap(&b[c], &b[piv]);
        for (int r = 0; r < RE_K; r++) {
            double m = a[r][c] / a[c][c];

            if (r == c || m == 0) {
                continue;
            }
            for (int k = c; k < RE_K; k++) {
                a[r][k] -= m * a[c][k];
            }
            b[r] -= m * b[c];
        }
    }
    for (int c = 0; c < RE_K; c++) {
        w[c] = b[c] / a[c][c];
    }
    return 0;
}

/* Fit on every row whose fold differs from skip (skip < 0: all rows). */
static int re_fit_model(const re_t *re, const int *fold, int skip, re_model_t *m)
{
    double a[RE_K][RE_K] = {{0}}, b[RE_K] = {0}, x[RE_K];

    for (size_t i = 0; i < re->nfiles; i++) {
        if (fold[i] == skip) {
            continue;
        }
        for (size_t r = re->files[i].first; r < re->files[i].first + re->files[i].count; r++) {
            const re_row_t *row = &re->rows[r];
            double y = (double)row->strong - (double)row->weak;

            re_x(row, x);
            for (int j = 0; j < RE_K; j++) {
                b[j] += x[j] * y;
                for (int k = 0; k < RE_K; k++) {
                    a[j][k] += x[j] * x[k];
                }
            }
        }
    }
    /* The intercept is not shrunk: only how much each feature may matter. */
    for (int j = 1; j < RE_K; j++) {
        a[j][j] += RE_RIDGE;
    }
    return re_solve(a, b, m->w);
}

static double re_predict(const re_model_t *m, const re_row_t *row)
{
    double x[RE_K], s = 0;

    re_x(row, x);
    for (int j = 0; j < RE_K; j++) {
        s += m->w[j] * x[j];
    }
    return s;
}

/* Folds: one per file, or one per name prefix before the first '_' ("mmlu_law.csv"). */
static int re_folds(const re_t *re, int *fold)
{
    int nfolds = 0;

    for (size_t i = 0; i < re->nfiles; i++) {
        const char *name = re->files[i].name;
        size_t len = re->fold_by_prefix ? strcspn(name, "_.") : strlen(name);

        fold[i] = -1;
        for (size_t j = 0; j < i && fold[i] < 0; j++) {
            const char *other = re->files[j].name;
            size_t olen = re->fold_by_prefix ? strcspn(other, "_.") : strlen(other);

            if (olen == len && memcmp(name, other, len) == 0) {
                fold[i] = fold[j];
            }
        }
        if (fold[i] < 0) {
            fold[i] = nfolds++;
        }
    }
    return nfolds;
}

/* A fold is named by its file, or by the shared prefix: "mmlu_*". */
static void re_fold_name(const re_t *re, const re_file_t *f, char *buf, size_t size)
{
    if (re->fold_by_prefix) {
        int len = (int)strcspn(f->name, "_.");

        snprintf(buf, size, "%.*s%s", len, f->name, f->name[len] == '_' ? "_*" : "");
    } else {
        snprintf(buf, size, "%s", f->name);
    }
}

/* Rows of one fold (fold < 0: all) into re->items with the given scores, sorted. */
static size_t re_fold_items(re_t *re, const int *fold, int which, const double *score)
{
    size_t n = 0;

    for (size_t i = 0; i < re->nfiles; i++) {
        if (which >= 0 && fold[i] != which) {
            continue;
        }
        for (size_t r = re->files[i].first; r < re->files[i].first + re->files[i].count; r++) {
            re->items[n] = (tg_reval_item_t){.score = score[r],
                                             .index = (uint32_t)n,
                                             .weak = re->rows[r].weak,
                                             .strong = re->rows[r].strong};
            n++;
        }
    }
    tg_reval_sort(re->items, n);
    return n;
}

static void re_fit_cell(const tg_reval_metrics_t *m)
{
    if (m->defined) {
        printf(" %6.4f %5.1f%% %5.1f%%", m->apgr, 100 * m->cpt50, 100 * m->cpt80);
    } else {
        printf(" %6s %6s %6s", "n/a", "n/a", "n/a");
    }
}

static void re_fit_row(re_t *re, const char *name, const int *fold, int which, const double *held,
                       const double *est)
{
    tg_reval_metrics_t h, e;
    size_t n = re_fold_items(re, fold, which, held);

    tg_reval_metrics(re->items, n, re->bins, re->pts, &h);
    re_fold_items(re, fold, which, est);
    tg_reval_metrics(re->items, n, re->bins, re->pts, &e);
    printf("%-40.40s %6zu |", name, n);
    re_fit_cell(&h);
    printf(" |");
    re_fit_cell(&e);
    printf("\n");
}

static void re_print_weights(const char *what, const re_model_t *m)
{
    printf("%s: intercept %+.4f", what, m->w[0]);
    for (int f = 0; f < TG_CX_NFEATURES; f++) {
        printf(", %s %+.4f", tg_complexity_feature_name((tg_cx_feature_t)f), m->w[f + 1]);
    }
    printf("\n");
}

int re_fit(re_t *re)
{
    int *fold = calloc(re->nfiles, sizeof(*fold));
    double *held = malloc(re->nrows * sizeof(*held)), *est = malloc(re->nrows * sizeof(*est));
    int nfolds, rc = -1;
    re_model_t m;

    if (fold == NULL || held == NULL || est == NULL) {
        fprintf(stderr, "tollgate-route-eval: out of memory\n");
        goto done;
    }
    for (size_t r = 0; r < re->nrows; r++) {
        est[r] = re->rows[r].score;
    }
    nfolds = re_folds(re, fold);
    if (nfolds < 2) {
        fprintf(stderr, "tollgate-route-eval: --fit needs at least two folds\n");
        goto done;
    }
    printf("fit: ridge least squares of (strong - weak) on %d feature values, %d folds by %s\n\n",
           TG_CX_NFEATURES, nfolds, re->fold_by_prefix ? "name prefix" : "file");
    printf("%-40s %6s | %-20s | %s\n", "", "", "fitted, held out", "shipped estimator");
    printf("%-40s %6s | %6s %6s %6s | %6s %6s %6s\n", "held-out fold", "n", "APGR", "CPT50",
           "CPT80", "APGR", "CPT50", "CPT80");
    for (int k = 0; k < nfolds; k++) {
        char name[64] = "";

        if (re_fit_model(re, fold, k, &m) != 0) {
            fprintf(stderr, "tollgate-route-eval: fold %d: singular fit\n", k);
            goto done;
        }
        for (size_t i = 0; i < re->nfiles; i++) {
            if (fold[i] != k) {
                continue;
            }
            if (name[0] == '\0') {
                re_fold_name(re, &re->files[i], name, sizeof(name));
            }
            for (size_t r = re->files[i].first; r < re->files[i].first + re->files[i].count; r++) {
                held[r] = re_predict(&m, &re->rows[r]);
            }
        }
        re_fit_row(re, name, fold, k, held, est);
    }
    re_fit_row(re, "all folds, held-out scores pooled", fold, -1, held, est);
    if (re_fit_model(re, fold, -1, &m) != 0) {
        fprintf(stderr, "tollgate-route-eval: singular fit\n");
        goto done;
    }
    for (size_t r = 0; r < re->nrows; r++) {
        held[r] = re_predict(&m, &re->rows[r]);
    }
    re_fit_row(re, "all rows, fitted in sample (optimistic)", fold, -1, held, est);
    printf("\n");
    re_print_weights("weights fitted on all rows", &m);
    rc = 0;

done:
    free(fold);
    free(held);
    free(est);
    return rc;
}
