/*
 * Route decisions: rule matching, target ordering by strategy, and eligibility. Everything
 * here works on the compiled configuration and the request's few facts, allocates nothing and
 * takes a few hundred nanoseconds, so it runs on every request.
 */
#include "shared/tg_route.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define TG_EXPECTED_OUTPUT_DEFAULT 256 /* output tokens assumed when max_tokens is absent */
#define TG_EXPECTED_OUTPUT_CAP 1000    /* a large max_tokens is a ceiling, not an estimate */

const char *tg_strategy_name(tg_strategy_t s)
{
    switch (s) {
    case TG_STRATEGY_WEIGHTED:
        return "weighted";
    case TG_STRATEGY_CHEAPEST:
        return "cheapest";
    case TG_STRATEGY_LEAST_LATENCY:
        return "least-latency";
    case TG_STRATEGY_CASCADE:
        return "cascade";
    default:
        return "priority";
    }
}

int64_t tg_route_expected_cost(const tg_model_t *m, int64_t prompt_tokens, int64_t max_tokens)
{
    tg_usage_t u = {.prompt = prompt_tokens};

    u.completion = max_tokens > 0 ? max_tokens : TG_EXPECTED_OUTPUT_DEFAULT;
    if (u.completion > TG_EXPECTED_OUTPUT_CAP)
        u.completion = TG_EXPECTED_OUTPUT_CAP;
    return tg_cost_pico(&m->price, &u);
}

static int tg_label_in(char **labels, size_t n, const char *label)
{
    if (n == 0)
        return 1;
    if (label == NULL || *label == '\0')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(labels[i], label) == 0)
            return 1;
    return 0;
}

/* FNV-1a: a stable hash, so a sticky pick survives restarts and is the same in every worker. */
static uint64_t tg_fnv(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t tg_rand64(void)
{
    static uint64_t x;

    if (x == 0)
        x = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* Weighted: the pick first, then the others as written (they are its fallbacks). */
static size_t tg_order_weighted(const tg_route_t *rt, const tg_route_rule_t *r,
                                const tg_route_input_t *in, const tg_model_t **out)
{
    uint64_t total = 0, point, h;
    size_t pick = 0, n = 0;

    for (size_t i = 0; i < r->ntargets; i++)
        total += r->targets[i].weight;
    if (in->sticky != NULL && *in->sticky != '\0') {
        h = tg_fnv(tg_fnv(0xcbf29ce484222325ULL, rt->name), in->sticky);
        point = h % total;
    } else {
        point = tg_rand64() % total;
    }
    for (size_t i = 0; i < r->ntargets; i++) {
        if (point < r->targets[i].weight) {
            pick = i;
            break;
        }
        point -= r->targets[i].weight;
    }
    out[n++] = r->targets[pick].model;
    for (size_t i = 0; i < r->ntargets; i++)
        if (i != pick)
            out[n++] = r->targets[i].model;
    return n;
}

/* Stable insertion sort of out[0..n) by key (ascending); n is at most TG_ROUTE_MAX_TARGETS. */
static void tg_sort_by(const tg_model_t **out, double *key, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const tg_model_t *m = out[i];
        double k = key[i];
        size_t j = i;

        for (; j > 0 && key[j - 1] > k; j--) {
            out[j] = out[j - 1];
            key[j] = key[j - 1];
        }
        out[j] = m;
        key[j] = k;
    }
}

static size_t tg_order(const tg_route_t *rt, const tg_route_rule_t *r, const tg_route_input_t *in,
                       const tg_model_t **out)
{
    double key[TG_ROUTE_MAX_TARGETS];
    size_t n = r->ntargets;

    if (r->strategy == TG_STRATEGY_WEIGHTED)
        return tg_order_weighted(rt, r, in, out);
    for (size_t i = 0; i < n; i++) {
        out[i] = r->targets[i].model;
        if (r->strategy == TG_STRATEGY_CHEAPEST || r->strategy == TG_STRATEGY_CASCADE)
            key[i] = (double)tg_route_expected_cost(out[i], in->prompt_tokens, in->max_tokens);
        else if (r->strategy == TG_STRATEGY_LEAST_LATENCY)
            /* unmeasured targets first: that is how they get measured */
            key[i] = in->latency != NULL ? in->latency(out[i], in->arg) : -1.0;
    }
    if (r->strategy != TG_STRATEGY_PRIORITY)
        tg_sort_by(out, key, n);
    return n;
}

/* Why m cannot serve the request, or NULL when it can. */
static const char *tg_ineligible(const tg_model_t *m, const tg_route_input_t *in)
{
    if (in->allowed != NULL && !in->allowed(m, in->arg))
        return "not allowed for this key";
    if (m->context_window > 0 && in->prompt_tokens + in->max_tokens > m->context_window)
        return "context window too small";
    /* a model that declares no capabilities is not judged on them */
    if (m->caps != 0) {
        if ((in->needs & TG_CAP_TOOLS) && !(m->caps & TG_CAP_TOOLS))
            return "no tool calling";
        if ((in->needs & TG_CAP_VISION) && !(m->caps & TG_CAP_VISION))
            return "no image input";
        if ((in->needs & TG_CAP_JSON) && !(m->caps & TG_CAP_JSON))
            return "no JSON mode";
    }
    return NULL;
}

static void tg_plan_add(tg_route_plan_t *plan, const tg_model_t *m, const tg_route_input_t *in)
{
    const char *why;

    for (size_t i = 0; i < plan->n; i++)
        if (plan->order[i] == m)
            return;
    for (size_t i = 0; i < plan->nskipped; i++)
        if (plan->skipped[i].model == m)
            return;
    if ((why = tg_ineligible(m, in)) != NULL) {
        if (plan->nskipped < TG_ROUTE_MAX_TARGETS) {
            plan->skipped[plan->nskipped].model = m;
            plan->skipped[plan->nskipped++].why = why;
        }
        return;
    }
    if (plan->n < TG_ROUTE_MAX_TARGETS)
        plan->order[plan->n++] = m;
}

static void tg_plan_complexity(const tg_route_t *rt, const tg_route_input_t *in,
                               tg_route_plan_t *plan);

/* The experiment's arm for this request: by weight, sticky like a weighted split. */
static const tg_variant_t *tg_pick_variant(const tg_route_t *rt, const tg_route_input_t *in)
{
    uint64_t total = 0, point;

    for (size_t i = 0; i < rt->nvariants; i++)
        total += rt->variants[i].weight;
    if (in->sticky != NULL && *in->sticky != '\0')
        point = tg_fnv(tg_fnv(0xcbf29ce484222325ULL, rt->experiment), in->sticky) % total;
    else
        point = tg_rand64() % total;
    for (size_t i = 0; i < rt->nvariants; i++) {
        if (point < rt->variants[i].weight)
            return &rt->variants[i];
        point -= rt->variants[i].weight;
    }
    return &rt->variants[rt->nvariants - 1];
}

static void tg_route_experiment(const tg_route_t *rt, const tg_route_input_t *in,
                                tg_route_plan_t *plan)
{
    const tg_variant_t *v = tg_pick_variant(rt, in);

    if (v->route != NULL) {
        tg_route_decide(v->route, in, plan); /* variant routes run no experiment of their own */
    } else {
        memset(plan, 0, sizeof(*plan));
        plan->route = rt;
        plan->rule_index = -1;
        tg_plan_complexity(rt, in, plan);
        for (size_t i = 0; i < v->ntargets; i++)
            tg_plan_add(plan, v->targets[i].model, in);
    }
    for (size_t i = 0; i < rt->nfallback; i++)
        tg_plan_add(plan, rt->fallback[i].model, in);
    plan->experiment = rt->experiment;
    plan->variant = v->name;
}

/* The complexity label rules match on: the request's own, or its score against the route's. */
static void tg_plan_complexity(const tg_route_t *rt, const tg_route_input_t *in,
                               tg_route_plan_t *plan)
{
    if (in->complexity != NULL && *in->complexity != '\0')
        plan->complexity = in->complexity;
    else if (in->have_score)
        plan->complexity = in->score >= rt->complexity_threshold ? "complex" : "simple";
}

void tg_route_decide(const tg_route_t *rt, const tg_route_input_t *in, tg_route_plan_t *plan)
{
    const tg_model_t *ordered[TG_ROUTE_MAX_TARGETS];
    size_t n = 0;

    if (rt->nvariants > 0) {
        tg_route_experiment(rt, in, plan);
        return;
    }
    memset(plan, 0, sizeof(*plan));
    plan->route = rt;
    plan->rule_index = -1;
    tg_plan_complexity(rt, in, plan);
    for (size_t i = 0; i < rt->nrules; i++) {
        const tg_route_rule_t *r = &rt->rules[i];

        if (tg_label_in(r->tasks, r->ntasks, in->task) &&
            tg_label_in(r->complexities, r->ncomplexities, plan->complexity)) {
            plan->rule = r;
            plan->rule_index = (int)i;
            plan->strategy = r->strategy;
            n = tg_order(rt, r, in, ordered);
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        tg_plan_add(plan, ordered[i], in);
    for (size_t i = 0; i < rt->nfallback; i++)
        tg_plan_add(plan, rt->fallback[i].model, in);
}
