/*
 * Offline evaluation of a routing score, with RouteLLM's metrics (lm-sys/RouteLLM,
 * routellm/evals/evaluate.py and benchmarks.py). Each item is one prompt with the router's
 * score and whether the weak and the strong model answered it correctly. Sending the prompts
 * whose score is at or above a threshold to the strong model gives one point of the
 * quality-versus-cost curve: p = share of strong calls, q = accuracy. From that curve:
 *   APGR    = (area under q(p) over p in [0, 1] - weak accuracy) / (strong - weak accuracy)
 *   CPT(x%) = the smallest p at which q reaches weak + x% of the gap, read off the curve.
 * None of these functions allocate; the caller passes the point array.
 */
#ifndef TG_REVAL_H
#define TG_REVAL_H

#include <stddef.h>
#include <stdint.h>

/** One labelled prompt. */
typedef struct {
    double score;         /* higher means "send to the strong model"; never NaN */
    uint32_t index;       /* input position: orders equal scores deterministically */
    unsigned char weak;   /* 1 when the weak model was correct */
    unsigned char strong; /* 1 when the strong model was correct */
} tg_reval_item_t;

/** One point of the curve: share of strong calls and the accuracy it buys. */
typedef struct {
    double p;
    double q;
} tg_reval_point_t;

/** Metrics of one router on one item set. */
typedef struct {
    size_t n;
    double weak;   /* weak model's accuracy */
    double strong; /* strong model's accuracy */
    double auc;    /* area under q(p) for p in [0, 1] */
    int defined;   /* 0 when strong <= weak: there is no gap to recover */
    double apgr;   /* valid when defined */
    double cpt50;  /* CPT(50%), a share in [0, 1]; valid when defined */
    double cpt80;  /* CPT(80%) */
} tg_reval_metrics_t;

/** The random router's metrics, averaged over runs (only runs with a gap count). */
typedef struct {
    unsigned runs;
    double apgr, apgr_sd; /* mean and sample standard deviation */
    double cpt50, cpt80;
} tg_reval_random_t;

/** Sort by score, highest first, then by index: a total order, so results never vary. */
void tg_reval_sort(tg_reval_item_t *items, size_t n);

/**
 * The curve of sorted items (tg_reval_sort), in increasing p, into pts; returns the number
 * of points. bins > 0 follows RouteLLM: thresholds at the 0, 1/bins, ..., 1 quantiles of the
 * scores (linear interpolation, as numpy and pandas.qcut), each routing score >= threshold to
 * the strong model except the last (score > max: nothing). pts needs bins + 1 slots.
 * bins == 0 gives the exact curve: one point per distinct score, so pts needs n + 1 slots.
 * Either way a threshold moves whole groups of equal scores at once, as a deployed threshold
 * does; joining the points with straight lines is then exactly the average over every order
 * the tied prompts could have been taken in.
 */
size_t tg_reval_curve(const tg_reval_item_t *items, size_t n, unsigned bins, tg_reval_point_t *pts);

/** Trapezoidal area under the curve (numpy.trapz over the points). */
double tg_reval_area(const tg_reval_point_t *pts, size_t npts);

/**
 * The smallest p at which the curve reaches q >= target, interpolating linearly inside the
 * segment that first crosses it; -1 when no point reaches it. RouteLLM uses numpy.interp,
 * which agrees on a curve whose accuracy only grows and is undefined otherwise; this reads the
 * first crossing, the cheapest share that buys the target.
 */
double tg_reval_cpt(const tg_reval_point_t *pts, size_t npts, double target);

/** All metrics of sorted items; pts is scratch space sized as for tg_reval_curve. */
void tg_reval_metrics(const tg_reval_item_t *items, size_t n, unsigned bins, tg_reval_point_t *pts,
                      tg_reval_metrics_t *m);

/**
 * The random router: runs times, give every item a uniform random score from a generator
 * seeded with seed, sort, and measure; report the means. Overwrites the items' scores and
 * order (the caller rescores and resorts). Deterministic for a given seed.
 */
void tg_reval_random(tg_reval_item_t *items, size_t n, unsigned bins, unsigned runs, uint64_t seed,
                     tg_reval_point_t *pts, tg_reval_random_t *r);

#endif
