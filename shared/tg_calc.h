/*
 * The cost calculator (docs/analytics.md, "Cost calculator"). Two questions, answered in exact
 * integer pico-dollars from the catalog's prices and a route's own decision function:
 *
 *  - a profile (YAML: use cases with tokens per day, split over task and complexity labels or
 *    named models): what does it cost per day and per month on the baseline model ("before")
 *    and on the models a route picks ("after")?
 *  - a replay: what would the request events already metered have cost under another
 *    configuration (nothing is sent anywhere)?
 *
 * Nothing here reads prompts: a route decides on the labels alone, as tg_route_decide() does
 * for a request whose task and complexity came in headers.
 */
#ifndef TG_CALC_H
#define TG_CALC_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_config.h"
#include "shared/tg_events.h"
#include "shared/tg_money.h"

#define TG_CALC_PPM 1000000  /* shares are kept in parts per million */
#define TG_CALC_MAX_PARTS 32 /* models one row's traffic may be split over */
#define TG_CALC_MAX_TOKENS INT64_C(1000000000000000) /* per day, per use case: 10^15 */

/** Where a profile says something, for "file:line:col: reason". */
typedef struct {
    size_t line, col; /* 1-based */
} tg_calc_pos_t;

/** One row of a use case's split: labels a route decides on, or a model named directly. */
typedef struct {
    char *task;        /* NULL: none */
    char *complexity;  /* NULL: none */
    char *model;       /* a model instead of labels, or NULL */
    int64_t share_ppm; /* of the use case's traffic */
    tg_calc_pos_t pos;
} tg_calc_row_t;

/** One use case: its traffic per day and how that splits. */
typedef struct {
    char *name;
    int64_t input_tokens;  /* per day */
    int64_t output_tokens; /* per day */
    int64_t requests;      /* per day when the profile gives sizes per request, else 0 */
    int64_t cached_ppm;    /* share of the input tokens read from the provider's cache */
    tg_calc_row_t *rows;
    size_t nrows;
    tg_calc_pos_t pos;
} tg_calc_case_t;

/** A parsed profile (owns everything it points to). */
typedef struct {
    char *file;     /* the name errors are reported under */
    char *baseline; /* NULL: the route's baseline, else the gateway's */
    char *route;    /* NULL: "auto" when the configuration has it */
    tg_calc_pos_t baseline_pos, route_pos;
    int64_t days_per_month;
    tg_calc_case_t *cases;
    size_t ncases;
} tg_calc_profile_t;

/**
 * Parse a profile from YAML text; name is what errors call it ("profile.yaml:7:9: ..."). Checks
 * everything that does not need a configuration: keys, token counts (10M, 1.5K, 2500000),
 * shares (80%, 0.8) summing to exactly 100% per use case. Returns the profile (free it with
 * tg_calc_profile_free), or NULL with the reason in err.
 */
tg_calc_profile_t *tg_calc_profile_parse(const char *name, const char *text, size_t len, char *err,
                                         size_t errlen);

/** Free a profile (NULL is ignored). */
void tg_calc_profile_free(tg_calc_profile_t *p);

/** One model's portion of a row (or of a replayed request). */
typedef struct {
    const tg_model_t *model;
    tg_usage_t usage;    /* the tokens it serves */
    int64_t cost_pico;   /* those tokens at its prices */
    int rule;            /* 0-based rule of the route that chose it, -1: none (fallback, model) */
    const char *variant; /* the experiment arm that chose it, or NULL */
} tg_calc_part_t;

/** Tokens and costs, per day. */
typedef struct {
    int64_t input_tokens, output_tokens, cached_tokens;
    int64_t before_pico; /* on the baseline model */
    int64_t after_pico;  /* on the models the route picks */
} tg_calc_sum_t;

/** A row's result: its tokens, its baseline cost and the models that would serve it. */
typedef struct {
    const tg_calc_case_t *use_case;
    const tg_calc_row_t *row;
    tg_calc_sum_t sum;
    tg_calc_part_t *parts; /* owned */
    size_t nparts;
} tg_calc_line_t;

typedef struct {
    const tg_route_t *route;    /* the route that decides; NULL when every row names a model */
    const tg_model_t *baseline; /* what "before" is priced on */
    int64_t days_per_month;
    tg_calc_line_t *lines; /* every row of every use case, in order */
    size_t nlines;
    tg_calc_sum_t *cases; /* per use case, in order */
    tg_calc_sum_t total;  /* per day */
    tg_calc_sum_t month;  /* total times days_per_month */
} tg_calc_result_t;

/**
 * Price profile p on configuration cf. route and baseline (may be NULL) override the profile's;
 * the route defaults to "auto" when cf has it, the baseline to the route's, then the gateway's.
 * Each row's input, output and cached tokens are its share of the use case's (rounded so that
 * the rows add up exactly); "before" prices them on the baseline, "after" on the model the
 * route decides for the row's labels (a weighted rule or an experiment splits the row by
 * weight). Returns 0, or -1 with "file:line:col: reason" in err (an unknown model or route, a
 * row no target can serve, a figure beyond 2^63 pico-dollars). Free r with
 * tg_calc_result_free, also after a failure.
 */
int tg_calc_profile(const tg_calc_profile_t *p, const tg_config_t *cf, const char *route,
                    const char *baseline, tg_calc_result_t *r, char *err, size_t errlen);

/**
 * Multiply a day's figures by days (for a month). Returns 0, or -1 when a figure would pass
 * 2^63 (tg_calc_profile has checked the total; a part of it cannot).
 */
int tg_calc_scale(const tg_calc_sum_t *day, int64_t days, tg_calc_sum_t *out);

/** Free what a result owns. */
void tg_calc_result_free(tg_calc_result_t *r);

/** Savings as a percentage of before (0 when before is 0), for display only. */
double tg_calc_percent(int64_t before, int64_t after);

/** Why a request event was not replayed (TG_REPLAY_OK: it was). */
typedef enum {
    TG_REPLAY_OK = 0,
    TG_REPLAY_SHADOW,        /* a shadow request: never the client's traffic */
    TG_REPLAY_NO_TOKENS,     /* nothing was used (a failure before any answer) */
    TG_REPLAY_EXTRA,         /* a hedge's or a rejected cascade answer's extra attempt */
    TG_REPLAY_UNKNOWN_ROUTE, /* its route is not in the configuration */
    TG_REPLAY_UNKNOWN_MODEL, /* the model it named is not in the configuration */
    TG_REPLAY_NO_TARGET,     /* the route has no target for it */
    TG_REPLAY_NREASONS
} tg_replay_why_t;

/** The reason's name for reports ("shadow", "no_tokens", ...). */
const char *tg_replay_why_name(tg_replay_why_t why);

/**
 * Replay one request event on cf: a routed event (route names a route of cf, or route is given)
 * is decided again on its task and complexity labels and its actual token counts (cached and
 * cache-write tokens included) are priced on the chosen model; an event that named a model
 * keeps it. A weighted pick or an experiment arm is the one the gateway would make again when
 * it stuck to the event's key, else the event is split by weight. Fills parts (at most
 * TG_CALC_MAX_PARTS) and *cost_pico on TG_REPLAY_OK.
 */
tg_replay_why_t tg_calc_replay_event(const tg_config_t *cf, const char *route, const tg_event_t *ev,
                                     tg_calc_part_t *parts, size_t *nparts, int64_t *cost_pico);

/** Replay totals of one group of events (a route, a task, or everything). */
typedef struct {
    char name[TG_EVENT_STR];
    tg_replay_why_t why; /* in skipped: why these were not replayed; else TG_REPLAY_OK */
    int64_t requests;
    int64_t moved; /* requests the replay serves on another model than the one that answered */
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    int64_t actual_pico, replayed_pico;
} tg_replay_group_t;

/** A growing set of groups by name. */
typedef struct {
    tg_replay_group_t *v;
    size_t n, cap;
} tg_replay_groups_t;

/** A replay in progress: feed it events with tg_replay_add. */
typedef struct {
    const tg_config_t *cf;
    const char *route; /* decide every routed event on this route; NULL: each its own */
    tg_replay_group_t total;
    tg_replay_groups_t routes;  /* by the event's route (a model named directly) */
    tg_replay_groups_t tasks;   /* by the event's task ("" when none) */
    tg_replay_groups_t skipped; /* unknown routes and models, routes without a target */
    int64_t nskipped[TG_REPLAY_NREASONS];
    int64_t skipped_pico; /* actual cost of events not replayed (shadows excluded) */
    int overflow;         /* a sum passed 2^63 pico-dollars: the figures are not exact */
} tg_replay_t;

/** Start a replay on cf (route: as tg_calc_replay_event). */
void tg_replay_init(tg_replay_t *rp, const tg_config_t *cf, const char *route);

/** Replay ev and add it to the totals. Returns 0, or -1 when out of memory. */
int tg_replay_add(tg_replay_t *rp, const tg_event_t *ev);

/** Free the groups. */
void tg_replay_free(tg_replay_t *rp);

#endif
