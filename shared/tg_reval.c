/*
 * RouteLLM's routing metrics over labelled prompts (see tg_reval.h). The curve is built from
 * the items sorted by score: the accuracy after routing the first k items to the strong model
 * is (weak correct + the strong-minus-weak gains of those k) / n, accumulated in one walk.
 */
#include "shared/tg_reval.h"

#include <math.h>
#include <stdlib.h>

static int reval_cmp(const void *a, const void *b)
{
    const tg_reval_item_t *x = a, *y = b;

    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->index < y->index ? -1 : (x->index > y->index);
}

void tg_reval_sort(tg_reval_item_t *items, size_t n)
{
    qsort(items, n, sizeof(*items), reval_cmp);
}

/* The scores ascending are items[n - 1], ..., items[0]; numpy's "linear" quantile of them. */
static double reval_quantile(const tg_reval_item_t *items, size_t n, double q)
{
    double h = (double)(n - 1) * q, frac;
    size_t lo = (size_t)h;
    double a, b;

    if (lo >= n - 1) {
        return items[0].score;
    }
    frac = h - (double)lo;
    a = items[n - 1 - lo].score;
    b = items[n - 2 - lo].score;
    return frac == 0 ? a : a + frac * (b - a);
}

static size_t reval_curve_bins(const tg_reval_item_t *items, size_t n, unsigned bins,
                               tg_reval_point_t *pts)
{
    long base = 0, gain = 0;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        base += items[i].weak;
    }
    /* Thresholds from the highest (nothing routed) down to the minimum (everything). */
    for (unsigned b = bins + 1; b-- > 0;) {
        double t = reval_quantile(items, n, (double)b / bins);

        while (k < n && (b == bins ? items[k].score > t : items[k].score >= t)) {
            gain += (long)items[k].strong - (long)items[k].weak;
            k++;
        }
        pts[bins - b].p = (double)k / (double)n;
        pts[bins - b].q = (double)(base + gain) / (double)n;
    }
    return bins + 1;
}

static size_t reval_curve_exact(const tg_reval_item_t *items, size_t n, tg_reval_point_t *pts)
{
    long base = 0, gain = 0;
    size_t npts = 0, k = 0;

    for (size_t i = 0; i < n; i++) {
        base += items[i].weak;
    }
    pts[npts].p = 0;
    pts[npts++].q = (double)base / (double)n;
    while (k < n) {
        double s = items[k].score;

        while (k < n && items[k].score == s) {
            gain += (long)items[k].strong - (long)items[k].weak;
            k++;
        }
        pts[npts].p = (double)k / (double)n;
        pts[npts++].q = (double)(base + gain) / (double)n;
    }
    return npts;
}

size_t tg_reval_curve(const tg_reval_item_t *items, size_t n, unsigned bins, tg_reval_point_t *pts)
{
    if (n == 0) {
        return 0;
    }
    return bins > 0 ? reval_curve_bins(items, n, bins, pts) : reval_curve_exact(items, n, pts);
}

double tg_reval_area(const tg_reval_point_t *pts, size_t npts)
{
    double area = 0;

    for (size_t i = 1; i < npts; i++) {
        area += (pts[i].p - pts[i - 1].p) * (pts[i].q + pts[i - 1].q) / 2;
    }
    return area;
}

double tg_reval_cpt(const tg_reval_point_t *pts, size_t npts, double target)
{
    for (size_t i = 0; i < npts; i++) {
        if (pts[i].q >= target) {
            if (i == 0 || pts[i].q == pts[i - 1].q) {
                return pts[i].p;
            }
            return pts[i - 1].p +
                   (pts[i].p - pts[i - 1].p) * (target - pts[i - 1].q) / (pts[i].q - pts[i - 1].q);
        }
    }
    return -1;
}

void tg_reval_metrics(const tg_reval_item_t *items, size_t n, unsigned bins, tg_reval_point_t *pts,
                      tg_reval_metrics_t *m)
{
    long weak = 0, strong = 0;
    size_t npts;
    double gap;

    *m = (tg_reval_metrics_t){.n = n};
    if (n == 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        weak += items[i].weak;
        strong += items[i].strong;
    }
    m->weak = (double)weak / (double)n;
    m->strong = (double)strong / (double)n;
    npts = tg_reval_curve(items, n, bins, pts);
    m->auc = tg_reval_area(pts, npts);
    if (strong <= weak) {
        return;
    }
    /* The curve spans p in [0, 1], so the weak and strong areas are just their accuracies. */
    gap = m->strong - m->weak;
    m->defined = 1;
    m->apgr = (m->auc - m->weak) / gap;
    m->cpt50 = tg_reval_cpt(pts, npts, m->weak + 0.5 * gap);
    m->cpt80 = tg_reval_cpt(pts, npts, m->weak + 0.8 * gap);
}

/* splitmix64: a tiny, well-mixed generator; the sequence depends only on the seed. */
static uint64_t reval_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tg_reval_random(tg_reval_item_t *items, size_t n, unsigned bins, unsigned runs, uint64_t seed,
                     tg_reval_point_t *pts, tg_reval_random_t *r)
{
    double sum = 0, sumsq = 0, c50 = 0, c80 = 0;
    uint64_t state = seed;

    *r = (tg_reval_random_t){0};
    for (unsigned run = 0; run < runs; run++) {
        tg_reval_metrics_t m;

        for (size_t i = 0; i < n; i++) {
            /* 53 random bits: a uniform double in [0, 1). */
            items[i].score = (double)(reval_next(&state) >> 11) * 0x1.0p-53;
        }
        tg_reval_sort(items, n);
        tg_reval_metrics(items, n, bins, pts, &m);
        if (!m.defined) {
            continue;
        }
        r->runs++;
        sum += m.apgr;
        sumsq += m.apgr * m.apgr;
        c50 += m.cpt50;
        c80 += m.cpt80;
    }
    if (r->runs == 0) {
        return;
    }
    r->apgr = sum / r->runs;
    r->cpt50 = c50 / r->runs;
    r->cpt80 = c80 / r->runs;
    if (r->runs > 1) {
        double var = (sumsq - sum * sum / r->runs) / (r->runs - 1);

        r->apgr_sd = var > 0 ? sqrt(var) : 0;
    }
}
