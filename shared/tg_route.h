/*
 * Routes: a client names a route in `model` ("auto", "support-bot") and Tollgate picks the
 * models that serve it. A route's rules are matched in order on the request's task and
 * complexity labels; the first match gives a target list and a strategy that orders it; the
 * route's fallback targets follow. The plan (tg_route_plan_t) records every step so that
 * `tollgatectl route explain` and the response headers can say why.
 */
#ifndef TG_ROUTE_H
#define TG_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_config.h"
#include "shared/tg_validate.h"

#define TG_ROUTE_MAX_TARGETS 16 /* per plan: rule targets + fallbacks, after de-duplication */

typedef enum {
    TG_STRATEGY_PRIORITY = 0, /* in the order written */
    TG_STRATEGY_WEIGHTED,     /* one pick by weight (sticky per key or user), the rest in order */
    TG_STRATEGY_CHEAPEST,     /* lowest expected cost first, from catalog prices */
    TG_STRATEGY_LEAST_LATENCY, /* lowest recent latency (EWMA) first; unmeasured ones first */
    TG_STRATEGY_CASCADE        /* cheapest first; an answer the validators reject escalates */
} tg_strategy_t;

typedef struct {
    const tg_model_t *model;
    uint32_t weight; /* weighted: share of traffic (any positive scale); 0 elsewhere */
} tg_route_target_t;

typedef struct {
    char **tasks;             /* labels this rule matches; none: any task */
    size_t ntasks;
    char **complexities;      /* labels ("simple", "complex", "creative", ...); none: any */
    size_t ncomplexities;
    tg_route_target_t *targets;
    size_t ntargets;
    tg_strategy_t strategy;
    tg_validators_t *validate; /* answer checks for this rule; NULL: the route's (owned) */
    size_t line; /* where the rule is written (1-based), for explain */
} tg_route_rule_t;

/** One arm of an A/B experiment: another route, or a target list tried in order. */
typedef struct {
    char *name;
    uint32_t weight;
    char *route_name;         /* the route this variant runs, or NULL */
    const tg_route_t *route;  /* resolved once every route is known */
    tg_route_target_t *targets; /* when route_name is NULL */
    size_t ntargets;
    size_t line, col; /* where route_name is written, for errors while resolving it */
    const char *file;
} tg_variant_t;

struct tg_route_s {
    char *name;
    tg_route_rule_t *rules;
    size_t nrules;
    tg_route_target_t *fallback; /* tried after the matched rule's targets */
    size_t nfallback;
    double complexity_threshold; /* an estimated score >= this is "complex", else "simple" */
    const tg_model_t *baseline;  /* what the traffic would have cost (savings); may be NULL */
    int max_attempts;            /* per request, across targets and retries (default 3) */
    int64_t retry_backoff_ms;    /* base of the jittered back-off between attempts */
    int64_t deadline_ms;         /* 0: the upstream total timeout only */
    int sticky_user;             /* weighted: stick per request `user` (else per key) */
    int hedge_max;               /* hedged attempts per request (0: no hedging) */
    int64_t hedge_delay_ms;      /* wait this long for a first byte; -1: the target's p95 */
    const tg_model_t *shadow;    /* mirror requests to this candidate in the background */
    double shadow_share;         /* the share of requests mirrored, 0..1 */
    int shadow_output;           /* record the shadow's answer text (first 2 KB) */
    char *experiment;            /* an A/B experiment's name: traffic splits over variants */
    tg_variant_t *variants;
    size_t nvariants;
    tg_validators_t *validate; /* answer checks of a quality cascade; NULL: none (owned) */
};

/** What the router knows about one request. */
typedef struct {
    const char *task;       /* NULL or "": none */
    const char *complexity; /* an explicit label, or NULL */
    double score;           /* complexity score 0..1 when have_score */
    int have_score;
    const char *score_source; /* "header", "metadata", "estimator" (for explain) */
    int64_t prompt_tokens;    /* estimate */
    int64_t max_tokens;       /* the request's output limit, 0 when none */
    unsigned needs;           /* TG_CAP_* the request uses (tools, vision, json) */
    const char *sticky;       /* weighted: the key id or user the pick sticks to */
    /* may this caller use the model? NULL: every model */
    int (*allowed)(const tg_model_t *m, void *arg);
    /* recent latency of a model in ms, < 0 when unmeasured; NULL: unmeasured */
    double (*latency)(const tg_model_t *m, void *arg);
    void *arg;
} tg_route_input_t;

typedef struct {
    const tg_model_t *model;
    const char *why; /* static text */
} tg_route_skip_t;

/** The decision for one request: targets in the order to try, and how they were chosen. */
typedef struct {
    const tg_route_t *route;
    const tg_route_rule_t *rule; /* NULL: no rule matched; the fallbacks alone serve */
    int rule_index;              /* 0-based, -1 when none */
    const char *complexity;      /* the label matched on ("simple"/"complex" when estimated) */
    const tg_model_t *order[TG_ROUTE_MAX_TARGETS];
    size_t n;
    tg_route_skip_t skipped[TG_ROUTE_MAX_TARGETS];
    size_t nskipped;
    tg_strategy_t strategy;
    const char *experiment; /* the experiment the request took part in, or NULL */
    const char *variant;    /* and its arm */
} tg_route_plan_t;

/** Find a route by name; NULL when there is none. */
const tg_route_t *tg_config_route(const tg_config_t *cf, const char *name, size_t len);

/**
 * Decide: on a route with an experiment, pick the variant (by weight, sticky like a weighted
 * split) and decide on its route, or take its targets in order; otherwise match a rule, order
 * its targets by its strategy. Then append the route's fallbacks, and drop targets that cannot
 * serve the request (context window, capabilities, the caller's allowed models), noting why.
 * Never fails; plan->n may be 0 when nothing is eligible.
 */
void tg_route_decide(const tg_route_t *rt, const tg_route_input_t *in, tg_route_plan_t *plan);

/** The expected cost of a request on m in pico-dollars (prompt estimate + expected output). */
int64_t tg_route_expected_cost(const tg_model_t *m, int64_t prompt_tokens, int64_t max_tokens);

/**
 * A cheap pseudo-random number (xorshift, seeded once per process from the clock and pid) for
 * non-sticky picks, shadow shares and back-off jitter. Not for secrets.
 */
uint64_t tg_rand64(void);

/** The strategy's name ("priority", ...). */
const char *tg_strategy_name(tg_strategy_t s);

#endif
