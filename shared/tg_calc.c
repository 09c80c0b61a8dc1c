/*
 * Pricing traffic under a configuration: a profile's rows (tg_calc_profile) and metered request
 * events (tg_calc_replay_event, tg_replay_add). Both ask the route the question a worker asks,
 * through tg_route_decide, and price tokens with tg_cost_pico, so a figure here is what the
 * gateway would meter. Picks that are random in the gateway (a weighted rule or an experiment
 * without a sticky key) are replaced by their expectation: the tokens split by weight.
 */
#include "shared/tg_calc.h"
#include "shared/tg_config_int.h"
#include "shared/tg_route.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parts a row or request is being split into. */
typedef struct {
    tg_calc_part_t v[TG_CALC_MAX_PARTS];
    size_t n;
    int full; /* more parts than fit: a configuration with very many arms */
} tg_calc_parts_t;

typedef enum { TG_ASSIGN_OK = 0, TG_ASSIGN_NO_TARGET, TG_ASSIGN_TOO_MANY } tg_assign_t;

/* round(x * num / den), exactly; x, num and den are non-negative and den > 0. */
static int64_t tg_calc_frac(int64_t x, uint64_t num, uint64_t den)
{
    return (int64_t)(((__int128)x * num + den / 2) / den);
}

/*
 * The portion [lo, hi) of den of u's tokens. Portions are differences of rounded cumulative
 * figures, so adjacent portions add up to exactly the whole.
 */
static void tg_calc_portion(const tg_usage_t *u, uint64_t lo, uint64_t hi, uint64_t den,
                            tg_usage_t *out)
{
    out->prompt = tg_calc_frac(u->prompt, hi, den) - tg_calc_frac(u->prompt, lo, den);
    out->completion = tg_calc_frac(u->completion, hi, den) - tg_calc_frac(u->completion, lo, den);
    out->cached = tg_calc_frac(u->cached, hi, den) - tg_calc_frac(u->cached, lo, den);
    out->cache_write =
        tg_calc_frac(u->cache_write, hi, den) - tg_calc_frac(u->cache_write, lo, den);
    out->reasoning = 0;
    out->reported = u->reported;
}

static void tg_calc_put(tg_calc_parts_t *ps, const tg_model_t *m, const tg_usage_t *u, int rule,
                        const char *variant)
{
    tg_calc_part_t *p;

    for (size_t i = 0; i < ps->n; i++) {
        p = &ps->v[i];
        if (p->model == m && p->rule == rule && p->variant == variant) {
            p->usage.prompt += u->prompt;
            p->usage.completion += u->completion;
            p->usage.cached += u->cached;
            p->usage.cache_write += u->cache_write;
            return;
        }
    }
    if (ps->n == TG_CALC_MAX_PARTS) {
        ps->full = 1;
        return;
    }
    p = &ps->v[ps->n++];
    p->model = m;
    p->usage = *u;
    p->rule = rule;
    p->variant = variant;
}

static int tg_calc_in_plan(const tg_route_plan_t *plan, const tg_model_t *m)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->order[i] == m)
            return 1;
    return 0;
}

/*
 * A weighted rule, by expectation: each target takes its weight's share. A target the plan
 * skipped (it cannot serve the request) hands its share to the one the gateway would try next:
 * the other targets as written, then the route's fallbacks.
 */
static void tg_calc_weighted(const tg_route_plan_t *plan, const tg_usage_t *u, const char *variant,
                             tg_calc_parts_t *ps)
{
    const tg_route_rule_t *r = plan->rule;
    uint64_t total = 0, cum = 0;

    for (size_t i = 0; i < r->ntargets; i++)
        total += r->targets[i].weight;
    for (size_t i = 0; i < r->ntargets; i++) {
        const tg_model_t *m = r->targets[i].model;
        tg_usage_t pu;

        if (r->targets[i].weight == 0)
            continue; /* never picked */
        tg_calc_portion(u, cum, cum + r->targets[i].weight, total, &pu);
        cum += r->targets[i].weight;
        for (size_t j = 0; !tg_calc_in_plan(plan, m) && j < r->ntargets; j++)
            m = r->targets[j].model;
        for (size_t j = 0; !tg_calc_in_plan(plan, m) && j < plan->route->nfallback; j++)
            m = plan->route->fallback[j].model;
        if (tg_calc_in_plan(plan, m))
            tg_calc_put(ps, m, &pu, plan->rule_index, variant);
    }
}

/* The first of targets, then of the fallbacks, whose context window takes the request. */
static const tg_model_t *tg_calc_first_fit(const tg_route_target_t *t, size_t n,
                                           const tg_route_t *rt, const tg_route_input_t *in)
{
    for (size_t k = 0; k < 2; k++) {
        const tg_route_target_t *list = k == 0 ? t : rt->fallback;
        size_t len = k == 0 ? n : rt->nfallback;

        for (size_t i = 0; i < len; i++) {
            const tg_model_t *m = list[i].model;
            if (m->context_window <= 0 || in->prompt_tokens + in->max_tokens <= m->context_window)
                return m;
        }
    }
    return NULL;
}

static tg_assign_t tg_calc_assign(const tg_route_t *rt, const tg_route_input_t *in, int exact,
                                  const tg_usage_t *u, const char *variant, tg_calc_parts_t *ps);

/* An experiment, by expectation: each arm takes its weight's share of the tokens. */
static tg_assign_t tg_calc_variants(const tg_route_t *rt, const tg_route_input_t *in,
                                    const tg_usage_t *u, tg_calc_parts_t *ps)
{
    uint64_t total = 0, cum = 0;

    for (size_t i = 0; i < rt->nvariants; i++)
        total += rt->variants[i].weight;
    for (size_t i = 0; i < rt->nvariants; i++) {
        const tg_variant_t *v = &rt->variants[i];
        const tg_model_t *m = NULL;
        tg_usage_t pu;

        if (v->weight == 0)
            continue; /* never picked */
        tg_calc_portion(u, cum, cum + v->weight, total, &pu);
        cum += v->weight;
        /* a variant route with nothing to offer leaves the experiment route's fallbacks */
        if (v->route != NULL && tg_calc_assign(v->route, in, 0, &pu, v->name, ps) == 0)
            continue;
        if ((m = tg_calc_first_fit(v->targets, v->route != NULL ? 0 : v->ntargets, rt, in)) == NULL)
            return TG_ASSIGN_NO_TARGET;
        tg_calc_put(ps, m, &pu, -1, v->name);
    }
    return ps->full ? TG_ASSIGN_TOO_MANY : TG_ASSIGN_OK;
}

/*
 * Who serves u on rt: the first target of the route's plan, or — unless exact (the pick would
 * stick to a known key, so the decision itself is exact) — every weighted target and
 * experiment arm for its share.
 */
static tg_assign_t tg_calc_assign(const tg_route_t *rt, const tg_route_input_t *in, int exact,
                                  const tg_usage_t *u, const char *variant, tg_calc_parts_t *ps)
{
    tg_route_plan_t plan;

    if (rt->nvariants > 0 && !exact)
        return tg_calc_variants(rt, in, u, ps);
    tg_route_decide(rt, in, &plan);
    if (plan.n == 0)
        return TG_ASSIGN_NO_TARGET;
    if (plan.variant != NULL)
        variant = plan.variant;
    if (!exact && plan.rule != NULL && plan.strategy == TG_STRATEGY_WEIGHTED)
        tg_calc_weighted(&plan, u, variant, ps);
    else
        tg_calc_put(ps, plan.order[0], u, plan.rule != NULL ? plan.rule_index : -1, variant);
    return ps->full ? TG_ASSIGN_TOO_MANY : TG_ASSIGN_OK;
}

/* Price every part; returns the sum, or -1 when a figure passes 2^63 pico-dollars. */
static int64_t tg_calc_price_parts(tg_calc_parts_t *ps)
{
    int64_t sum = 0;

    for (size_t i = 0; i < ps->n; i++) {
        ps->v[i].cost_pico = tg_cost_pico(&ps->v[i].model->price, &ps->v[i].usage);
        if (ps->v[i].cost_pico == INT64_MAX ||
            __builtin_add_overflow(sum, ps->v[i].cost_pico, &sum))
            return -1;
    }
    return sum;
}

static int tg_calc_sum_add(tg_calc_sum_t *acc, const tg_calc_sum_t *x)
{
    return __builtin_add_overflow(acc->input_tokens, x->input_tokens, &acc->input_tokens) ||
                   __builtin_add_overflow(acc->output_tokens, x->output_tokens,
                                          &acc->output_tokens) ||
                   __builtin_add_overflow(acc->cached_tokens, x->cached_tokens,
                                          &acc->cached_tokens) ||
                   __builtin_add_overflow(acc->before_pico, x->before_pico, &acc->before_pico) ||
                   __builtin_add_overflow(acc->after_pico, x->after_pico, &acc->after_pico)
               ? -1
               : 0;
}

double tg_calc_percent(int64_t before, int64_t after)
{
    return before > 0 ? 100.0 * (double)(before - after) / (double)before : 0.0;
}

/* ---- profiles ---------------------------------------------------------------------------- */

static int tg_calc_err(const tg_calc_profile_t *p, const tg_calc_pos_t *pos, char *err,
                       size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int tg_calc_err(const tg_calc_profile_t *p, const tg_calc_pos_t *pos, char *err,
                       size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int off = pos != NULL && pos->line > 0
                  ? snprintf(err, errlen, "%s:%zu:%zu: ", p->file, pos->line, pos->col)
                  : snprintf(err, errlen, "%s: ", p->file);

    if (off < 0 || (size_t)off >= errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err + off, errlen - (size_t)off, fmt, ap);
    va_end(ap);
    return -1;
}

/* The route that decides: the caller's, the profile's, else "auto" when there is one. */
static int tg_calc_pick_route(const tg_calc_profile_t *p, const tg_config_t *cf, const char *route,
                              tg_calc_result_t *r, char *err, size_t errlen)
{
    const char *name = route != NULL ? route : p->route;

    if (name == NULL) {
        r->route = tg_config_route(cf, "auto", 4);
        return 0;
    }
    if ((r->route = tg_config_route(cf, name, strlen(name))) == NULL)
        return tg_calc_err(p, route != NULL ? NULL : &p->route_pos, err, errlen,
                           "route \"%s\" is not in the configuration", name);
    return 0;
}

/* What "before" is priced on: the caller's, the profile's, the route's, the gateway's. */
static int tg_calc_pick_baseline(const tg_calc_profile_t *p, const tg_config_t *cf,
                                 const char *baseline, tg_calc_result_t *r, char *err,
                                 size_t errlen)
{
    const char *name = baseline != NULL ? baseline : p->baseline;

    if (name != NULL) {
        if ((r->baseline = tg_config_model(cf, name, strlen(name))) == NULL)
            return tg_calc_err(p, baseline != NULL ? NULL : &p->baseline_pos, err, errlen,
                               "baseline \"%s\" is not a model of the configuration", name);
        return 0;
    }
    r->baseline =
        r->route != NULL && r->route->baseline != NULL ? r->route->baseline : cf->baseline;
    if (r->baseline == NULL)
        return tg_calc_err(p, NULL, err, errlen,
                           "no baseline: name one in the profile (baseline: MODEL) or give "
                           "the route or the gateway a baseline");
    return 0;
}

static int tg_calc_row(const tg_calc_profile_t *p, const tg_config_t *cf, tg_calc_result_t *r,
                       const tg_route_input_t *in, const tg_usage_t *u, tg_calc_line_t *line,
                       char *err, size_t errlen)
{
    const tg_calc_row_t *row = line->row;
    tg_calc_parts_t ps;
    int64_t after;

    memset(&ps, 0, sizeof(ps));
    line->sum.input_tokens = u->prompt;
    line->sum.output_tokens = u->completion;
    line->sum.cached_tokens = u->cached;
    if (row->model != NULL) {
        const tg_model_t *m = tg_config_model(cf, row->model, strlen(row->model));
        if (m == NULL)
            return tg_calc_err(p, &row->pos, err, errlen,
                               "model \"%s\" is not in the configuration's catalog", row->model);
        tg_calc_put(&ps, m, u, -1, NULL);
    } else if (r->route == NULL) {
        return tg_calc_err(p, &row->pos, err, errlen,
                           "no route decides this row: name one (route: NAME) or give the row "
                           "a model");
    } else {
        tg_assign_t a = tg_calc_assign(r->route, in, 0, u, NULL, &ps);
        if (a != TG_ASSIGN_OK)
            return tg_calc_err(p, &row->pos, err, errlen,
                               a == TG_ASSIGN_NO_TARGET
                                   ? "route \"%s\" has no target for this row"
                                   : "route \"%s\" splits this row over too many models",
                               r->route->name);
    }
    line->sum.before_pico = tg_cost_pico(&r->baseline->price, u);
    if ((after = tg_calc_price_parts(&ps)) < 0 || line->sum.before_pico == INT64_MAX)
        return tg_calc_err(p, &row->pos, err, errlen,
                           "this row costs more than 2^63 pico-dollars a day");
    line->sum.after_pico = after;
    line->parts = tg_xcalloc(ps.n, sizeof(ps.v[0]));
    memcpy(line->parts, ps.v, ps.n * sizeof(ps.v[0]));
    line->nparts = ps.n;
    return 0;
}

int tg_calc_scale(const tg_calc_sum_t *day, int64_t days, tg_calc_sum_t *out)
{
    return __builtin_mul_overflow(day->input_tokens, days, &out->input_tokens) ||
                   __builtin_mul_overflow(day->output_tokens, days, &out->output_tokens) ||
                   __builtin_mul_overflow(day->cached_tokens, days, &out->cached_tokens) ||
                   __builtin_mul_overflow(day->before_pico, days, &out->before_pico) ||
                   __builtin_mul_overflow(day->after_pico, days, &out->after_pico)
               ? -1
               : 0;
}

/* Price one use case's rows into r->lines from *li on, and add them up in r->cases[i]. */
static int tg_calc_case(const tg_calc_profile_t *p, const tg_config_t *cf, size_t i,
                        tg_calc_result_t *r, char *err, size_t errlen)
{
    const tg_calc_case_t *uc = &p->cases[i];
    tg_usage_t cu = {.prompt = uc->input_tokens, .completion = uc->output_tokens, .reported = 1};
    tg_route_input_t in;
    uint64_t cum = 0;

    memset(&in, 0, sizeof(in));
    cu.cached = tg_calc_frac(uc->input_tokens, (uint64_t)uc->cached_ppm, TG_CALC_PPM);
    /* sizes per request, when known, make eligibility and `cheapest` see real requests */
    if (uc->requests > 0) {
        in.prompt_tokens = uc->input_tokens / uc->requests;
        in.max_tokens = uc->output_tokens / uc->requests;
    }
    for (size_t j = 0; j < uc->nrows; j++) {
        tg_calc_line_t *line = &r->lines[r->nlines++];
        tg_usage_t ru;

        line->use_case = uc;
        line->row = &uc->rows[j];
        in.task = line->row->task;
        in.complexity = line->row->complexity;
        tg_calc_portion(&cu, cum, cum + (uint64_t)line->row->share_ppm, TG_CALC_PPM, &ru);
        cum += (uint64_t)line->row->share_ppm;
        if (tg_calc_row(p, cf, r, &in, &ru, line, err, errlen) == -1)
            return -1;
        if (tg_calc_sum_add(&r->cases[i], &line->sum) == -1)
            return tg_calc_err(p, &uc->pos, err, errlen,
                               "use case \"%s\" costs more than 2^63 pico-dollars a day", uc->name);
    }
    return 0;
}

int tg_calc_profile(const tg_calc_profile_t *p, const tg_config_t *cf, const char *route,
                    const char *baseline, tg_calc_result_t *r, char *err, size_t errlen)
{
    size_t nlines = 0;

    memset(r, 0, sizeof(*r));
    r->days_per_month = p->days_per_month;
    if (tg_calc_pick_route(p, cf, route, r, err, errlen) == -1 ||
        tg_calc_pick_baseline(p, cf, baseline, r, err, errlen) == -1)
        return -1;
    for (size_t i = 0; i < p->ncases; i++)
        nlines += p->cases[i].nrows;
    r->lines = tg_xcalloc(nlines, sizeof(*r->lines));
    r->cases = tg_xcalloc(p->ncases, sizeof(*r->cases));
    for (size_t i = 0; i < p->ncases; i++) {
        if (tg_calc_case(p, cf, i, r, err, errlen) == -1)
            return -1;
        if (tg_calc_sum_add(&r->total, &r->cases[i]) == -1)
            return tg_calc_err(p, NULL, err, errlen,
                               "the profile costs more than 2^63 pico-dollars a day");
    }
    if (tg_calc_scale(&r->total, r->days_per_month, &r->month) == -1)
        return tg_calc_err(p, NULL, err, errlen,
                           "the profile costs more than 2^63 pico-dollars a month");
    return 0;
}

void tg_calc_result_free(tg_calc_result_t *r)
{
    for (size_t i = 0; i < r->nlines; i++)
        free(r->lines[i].parts);
    free(r->lines);
    free(r->cases);
    memset(r, 0, sizeof(*r));
}

/* ---- replays ----------------------------------------------------------------------------- */

const char *tg_replay_why_name(tg_replay_why_t why)
{
    static const char *const names[TG_REPLAY_NREASONS] = {
        "replayed",      "shadow",        "no_tokens", "extra_attempt",
        "unknown_route", "unknown_model", "no_target"};

    return why >= 0 && why < TG_REPLAY_NREASONS ? names[why] : "?";
}

static int tg_calc_is_shadow(const tg_event_t *ev)
{
    size_t n = strlen(ev->route);

    return ev->shadow_of[0] != '\0' || (n > 7 && strcmp(ev->route + n - 7, ":shadow") == 0);
}

tg_replay_why_t tg_calc_replay_event(const tg_config_t *cf, const char *route, const tg_event_t *ev,
                                     tg_calc_part_t *parts, size_t *nparts, int64_t *cost_pico)
{
    tg_calc_parts_t ps;

    *nparts = 0;
    *cost_pico = 0;
    if (tg_calc_is_shadow(ev))
        return TG_REPLAY_SHADOW;
    if (ev->extra_attempt)
        return TG_REPLAY_EXTRA;
    if (ev->usage.prompt <= 0 && ev->usage.completion <= 0)
        return TG_REPLAY_NO_TOKENS;
    memset(&ps, 0, sizeof(ps));
    /* metering files a request that named a model under that model's name as its route */
    if (ev->route[0] != '\0' && strcmp(ev->route, ev->model) != 0) {
        const char *name = route != NULL ? route : ev->route;
        const tg_route_t *rt = tg_config_route(cf, name, strlen(name));
        tg_route_input_t in;

        if (rt == NULL)
            return TG_REPLAY_UNKNOWN_ROUTE;
        memset(&in, 0, sizeof(in));
        in.task = ev->task;
        in.complexity = ev->complexity;
        in.prompt_tokens = ev->usage.prompt;
        in.max_tokens = ev->usage.completion;
        in.sticky = ev->key;
        /* the gateway sticks to the key unless the route sticks to a user we never recorded */
        if (tg_calc_assign(rt, &in, ev->key[0] != '\0' && !rt->sticky_user, &ev->usage, NULL,
                           &ps) != TG_ASSIGN_OK)
            return TG_REPLAY_NO_TARGET;
    } else {
        const tg_model_t *m = tg_config_model(cf, ev->model, strlen(ev->model));
        if (m == NULL)
            return TG_REPLAY_UNKNOWN_MODEL;
        tg_calc_put(&ps, m, &ev->usage, -1, NULL);
    }
    *cost_pico = tg_calc_price_parts(&ps);
    if (*cost_pico < 0)
        *cost_pico = INT64_MAX; /* one request cannot cost that much: saturate, visibly */
    memcpy(parts, ps.v, ps.n * sizeof(ps.v[0]));
    *nparts = ps.n;
    return TG_REPLAY_OK;
}

void tg_replay_init(tg_replay_t *rp, const tg_config_t *cf, const char *route)
{
    memset(rp, 0, sizeof(*rp));
    rp->cf = cf;
    rp->route = route;
}

void tg_replay_free(tg_replay_t *rp)
{
    free(rp->routes.v);
    free(rp->tasks.v);
    free(rp->skipped.v);
    memset(rp, 0, sizeof(*rp));
}

static tg_replay_group_t *tg_replay_group(tg_replay_groups_t *gs, const char *name,
                                          tg_replay_why_t why)
{
    tg_replay_group_t *g;

    for (size_t i = 0; i < gs->n; i++)
        if (gs->v[i].why == why && strcmp(gs->v[i].name, name) == 0)
            return &gs->v[i];
    if (gs->n == gs->cap) {
        size_t cap = gs->cap ? gs->cap * 2 : 16;
        tg_replay_group_t *v = realloc(gs->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        gs->v = v;
        gs->cap = cap;
    }
    g = &gs->v[gs->n++];
    memset(g, 0, sizeof(*g));
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->why = why;
    return g;
}

/* Add to a counter, saturating (and saying so) rather than wrapping. */
static void tg_replay_sum(tg_replay_t *rp, int64_t *acc, int64_t v)
{
    if (__builtin_add_overflow(*acc, v, acc)) {
        *acc = INT64_MAX;
        rp->overflow = 1;
    }
}

static void tg_replay_tally(tg_replay_t *rp, tg_replay_group_t *g, const tg_event_t *ev, int moved,
                            int64_t replayed)
{
    g->requests++;
    g->moved += moved;
    tg_replay_sum(rp, &g->prompt_tokens, ev->usage.prompt);
    tg_replay_sum(rp, &g->completion_tokens, ev->usage.completion);
    tg_replay_sum(rp, &g->cached_tokens, ev->usage.cached);
    tg_replay_sum(rp, &g->actual_pico, ev->cost_pico);
    tg_replay_sum(rp, &g->replayed_pico, replayed);
}

int tg_replay_add(tg_replay_t *rp, const tg_event_t *ev)
{
    tg_calc_part_t parts[TG_CALC_MAX_PARTS];
    tg_replay_group_t *g, *t;
    size_t n;
    int64_t cost;
    tg_replay_why_t why = tg_calc_replay_event(rp->cf, rp->route, ev, parts, &n, &cost);
    int moved;

    if (why != TG_REPLAY_OK) {
        rp->nskipped[why]++;
        if (why == TG_REPLAY_SHADOW)
            return 0; /* metered apart, never the client's: not part of either side */
        tg_replay_sum(rp, &rp->skipped_pico, ev->cost_pico);
        if (why < TG_REPLAY_UNKNOWN_ROUTE)
            return 0;
        if ((g = tg_replay_group(&rp->skipped,
                                 why == TG_REPLAY_UNKNOWN_MODEL ? ev->model : ev->route, why)) ==
            NULL)
            return -1;
        tg_replay_tally(rp, g, ev, 0, 0);
        return 0;
    }
    moved = strcmp(parts[0].model->name, ev->model) != 0;
    if ((g = tg_replay_group(&rp->routes, ev->route, TG_REPLAY_OK)) == NULL ||
        (t = tg_replay_group(&rp->tasks, ev->task, TG_REPLAY_OK)) == NULL)
        return -1;
    tg_replay_tally(rp, &rp->total, ev, moved, cost);
    tg_replay_tally(rp, g, ev, moved, cost);
    tg_replay_tally(rp, t, ev, moved, cost);
    return 0;
}
