/*
 * The routes section of the configuration:
 *
 *   routes:
 *     auto:
 *       baseline: gpt-4o
 *       complexity_threshold: 0.5
 *       rules:
 *         - {task: faq, complexity: simple, targets: [deepseek-v3]}
 *         - {task: [code_review], complexity: complex, targets: [deepseek-r1, gpt-4o]}
 *         - {targets: [{model: a, weight: 80}, {model: b, weight: 20}], strategy: weighted}
 *       fallback: [gpt-4o-mini]
 *       validate: {min_length: 20, refusal: true}   # tg_config_validate.c
 *
 * Routes may be defined in any file (includes too); they are compiled after every model is
 * known, so targets are checked by name with file:line:col errors like the rest.
 */
#include "shared/tg_config_int.h"
#include "shared/tg_route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A label or a list of labels (task, complexity) into *out. */
static int tg_parse_labels(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                           char ***out, size_t *nout)
{
    const char *s;

    if (n->type == YAML_SCALAR_NODE) {
        if ((s = tg_scalar(c, d, n, what)) == NULL)
            return -1;
        if (!tg_name_ok(s))
            return tg_cerr(c, d, n, "%s \"%s\" must be 1-128 of A-Z a-z 0-9 . _ : / @ + -", what,
                           s);
        *out = tg_xcalloc(1, sizeof(char *));
        (*out)[0] = tg_xstrdup(s);
        *nout = 1;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top == n->data.sequence.items.start)
        return tg_cerr(c, d, n, "%s must be a label or a non-empty list of labels", what);
    *out = tg_xcalloc((size_t)(n->data.sequence.items.top - n->data.sequence.items.start),
                      sizeof(char *));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = tg_node(d, *it);

        if ((s = tg_scalar(c, d, e, what)) == NULL)
            return -1;
        if (!tg_name_ok(s))
            return tg_cerr(c, d, e, "%s \"%s\" must be 1-128 of A-Z a-z 0-9 . _ : / @ + -", what,
                           s);
        (*out)[(*nout)++] = tg_xstrdup(s);
    }
    return 0;
}

static const tg_model_t *tg_route_model(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    const char *s = tg_scalar(c, d, n, "a target");
    const tg_model_t *m;

    if (s == NULL)
        return NULL;
    if ((m = tg_config_model(c->cf, s, strlen(s))) == NULL)
        tg_cerr(c, d, n, "target \"%s\" is not a configured model", s);
    return m;
}

/* A target list: model names, or {model, weight} mappings. */
static int tg_parse_targets(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                            tg_route_target_t **out, size_t *nout)
{
    size_t cap;

    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top == n->data.sequence.items.start)
        return tg_cerr(c, d, n, "%s must be a non-empty list of models", what);
    cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cap > TG_ROUTE_MAX_TARGETS)
        return tg_cerr(c, d, n, "%s may list at most %d models", what, TG_ROUTE_MAX_TARGETS);
    *out = tg_xcalloc(cap, sizeof(tg_route_target_t));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = tg_node(d, *it);
        tg_route_target_t *t = &(*out)[*nout];

        if (e->type == YAML_MAPPING_NODE) {
            if (tg_expect_map(c, d, e, "a target") == -1)
                return -1;
            TG_FOREACH_PAIR(d, e, p)
            {
                const char *k = tg_key(d, p);
                yaml_node_t *v = tg_node(d, p->value);
                int64_t w;

                if (strcmp(k, "model") == 0) {
                    if ((t->model = tg_route_model(c, d, v)) == NULL)
                        return -1;
                } else if (strcmp(k, "weight") == 0) {
                    if (tg_cint(c, d, v, "weight", 0, 1000000, &w) == -1)
                        return -1;
                    t->weight = (uint32_t)w;
                } else {
                    return tg_cerr(c, d, tg_node(d, p->key),
                                   "unknown key \"%s\" in a target (model, weight)", k);
                }
            }
            if (t->model == NULL)
                return tg_cerr(c, d, e, "a target needs a model");
        } else if ((t->model = tg_route_model(c, d, e)) == NULL) {
            return -1;
        }
        for (size_t i = 0; i < *nout; i++)
            if ((*out)[i].model == t->model)
                return tg_cerr(c, d, e, "model \"%s\" is listed twice in %s", t->model->name,
                               what);
        (*nout)++;
    }
    return 0;
}

static int tg_parse_strategy(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_strategy_t *out)
{
    static const tg_strategy_t all[] = {TG_STRATEGY_PRIORITY, TG_STRATEGY_WEIGHTED,
                                        TG_STRATEGY_CHEAPEST, TG_STRATEGY_LEAST_LATENCY,
                                        TG_STRATEGY_CASCADE};
    const char *s = tg_scalar(c, d, n, "strategy");

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, tg_strategy_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return tg_cerr(c, d, n,
                   "strategy must be priority, weighted, cheapest, least-latency or cascade, not "
                   "\"%s\"",
                   s);
}

/* Weighted rules need a positive weight somewhere; weights elsewhere are a mistake. */
static int tg_check_weights(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_route_rule_t *r)
{
    uint64_t total = 0;

    for (size_t i = 0; i < r->ntargets; i++)
        total += r->targets[i].weight;
    if (r->strategy == TG_STRATEGY_WEIGHTED && total == 0)
        return tg_cerr(c, d, n, "strategy weighted needs targets with a positive weight");
    if (r->strategy != TG_STRATEGY_WEIGHTED && total > 0)
        return tg_cerr(c, d, n, "weights only apply with strategy: weighted");
    return 0;
}

static int tg_parse_rule(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_strategy_t dflt,
                         tg_route_rule_t *r)
{
    yaml_node_t *targets = NULL;

    if (tg_expect_map(c, d, n, "a rule") == -1)
        return -1;
    r->strategy = dflt;
    r->line = n->start_mark.line + 1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        int rc;

        if (strcmp(k, "task") == 0)
            rc = tg_parse_labels(c, d, v, "task", &r->tasks, &r->ntasks);
        else if (strcmp(k, "complexity") == 0)
            rc = tg_parse_labels(c, d, v, "complexity", &r->complexities, &r->ncomplexities);
        else if (strcmp(k, "targets") == 0)
            rc = tg_parse_targets(c, d, targets = v, "targets", &r->targets, &r->ntargets);
        else if (strcmp(k, "strategy") == 0)
            rc = tg_parse_strategy(c, d, v, &r->strategy);
        else if (strcmp(k, "validate") == 0)
            rc = tg_parse_validate(c, d, v, &r->validate);
        else
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in a rule (task, complexity, targets, strategy, "
                           "validate)",
                           k);
        if (rc == -1)
            return -1;
    }
    if (targets == NULL)
        return tg_cerr(c, d, n, "a rule needs targets");
    return tg_check_weights(c, d, targets, r);
}

/* A number from 0 to 1. */
static int tg_cfraction(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                        double *out)
{
    const char *s = tg_scalar(c, d, n, what);
    char *end;
    double v;

    if (s == NULL)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return tg_cerr(c, d, n, "%s must be a number from 0 to 1, not \"%s\"", what, s);
    *out = v;
    return 0;
}

/* One variant: {name, weight, route: NAME} or {name, weight, targets: [...]}. */
static int tg_parse_variant(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_variant_t *v)
{
    int64_t w = -1;

    if (tg_expect_map(c, d, n, "a variant") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p), *s;
        yaml_node_t *val = tg_node(d, p->value);

        if (strcmp(k, "name") == 0 || strcmp(k, "route") == 0) {
            if ((s = tg_scalar(c, d, val, k)) == NULL)
                return -1;
            if (!tg_name_ok(s))
                return tg_cerr(c, d, val, "%s \"%s\" must be 1-128 of A-Z a-z 0-9 . _ : / @ + -",
                               k, s);
            if (*k == 'n') {
                v->name = tg_xstrdup(s);
            } else {
                v->route_name = tg_xstrdup(s);
                v->file = d->file;
                v->line = val->start_mark.line + 1;
                v->col = val->start_mark.column + 1;
            }
        } else if (strcmp(k, "weight") == 0) {
            if (tg_cint(c, d, val, k, 0, 1000000, &w) == -1)
                return -1;
            v->weight = (uint32_t)w;
        } else if (strcmp(k, "targets") == 0) {
            if (tg_parse_targets(c, d, val, "targets", &v->targets, &v->ntargets) == -1)
                return -1;
        } else {
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in a variant (name, weight, route, targets)", k);
        }
    }
    if (v->name == NULL || w < 0)
        return tg_cerr(c, d, n, "a variant needs a name and a weight");
    if ((v->route_name == NULL) == (v->targets == NULL))
        return tg_cerr(c, d, n, "variant \"%s\" needs either a route or targets", v->name);
    return 0;
}

/* experiment: {name, variants: [...]} */
static int tg_parse_experiment(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_route_t *rt)
{
    yaml_node_t *vs = NULL;
    uint64_t total = 0;
    const char *s;

    if (tg_expect_map(c, d, n, "experiment") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);

        if (strcmp(k, "name") == 0) {
            if ((s = tg_scalar(c, d, v, k)) == NULL)
                return -1;
            if (!tg_name_ok(s))
                return tg_cerr(c, d, v, "experiment name \"%s\" must be 1-128 of A-Z a-z 0-9 . _ "
                                        ": / @ + -",
                               s);
            rt->experiment = tg_xstrdup(s);
        } else if (strcmp(k, "variants") == 0) {
            vs = v;
        } else {
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in experiment (name, variants)", k);
        }
    }
    if (vs == NULL || vs->type != YAML_SEQUENCE_NODE ||
        vs->data.sequence.items.top - vs->data.sequence.items.start < 2)
        return tg_cerr(c, d, vs ? vs : n, "an experiment needs variants: a list of two or more");
    if (rt->experiment == NULL)
        rt->experiment = tg_xstrdup(rt->name);
    rt->variants = tg_xcalloc((size_t)(vs->data.sequence.items.top - vs->data.sequence.items.start),
                              sizeof(tg_variant_t));
    for (yaml_node_item_t *it = vs->data.sequence.items.start; it < vs->data.sequence.items.top;
         it++) {
        tg_variant_t *v = &rt->variants[rt->nvariants++];

        if (tg_parse_variant(c, d, tg_node(d, *it), v) == -1)
            return -1;
        for (size_t i = 0; i + 1 < rt->nvariants; i++)
            if (strcmp(rt->variants[i].name, v->name) == 0)
                return tg_cerr(c, d, tg_node(d, *it), "variant \"%s\" is listed twice", v->name);
        total += v->weight;
    }
    if (total == 0)
        return tg_cerr(c, d, vs, "an experiment needs a variant with a positive weight");
    return 0;
}

/* hedge: {delay: 300ms | p95, max: 1} */
static int tg_parse_hedge(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_route_t *rt)
{
    int64_t v64;
    const char *s;

    if (tg_expect_map(c, d, n, "hedge") == -1)
        return -1;
    rt->hedge_max = 1;
    rt->hedge_delay_ms = -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);

        if (strcmp(k, "delay") == 0) {
            if ((s = tg_scalar(c, d, v, k)) == NULL)
                return -1;
            if (strcmp(s, "p95") == 0)
                rt->hedge_delay_ms = -1;
            else if (tg_cduration(c, d, v, "delay (a duration or p95)", &rt->hedge_delay_ms) == -1)
                return -1;
        } else if (strcmp(k, "max") == 0) {
            if (tg_cint(c, d, v, k, 0, 3, &v64) == -1)
                return -1;
            rt->hedge_max = (int)v64;
        } else {
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in hedge (delay, max)",
                           k);
        }
    }
    return 0;
}

/* shadow: {target: MODEL, percent: 10, record_output: false} */
static int tg_parse_shadow(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_route_t *rt)
{
    double pct = -1;

    if (tg_expect_map(c, d, n, "shadow") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p), *s;
        yaml_node_t *v = tg_node(d, p->value);
        char *end;

        if (strcmp(k, "target") == 0) {
            if ((rt->shadow = tg_route_model(c, d, v)) == NULL)
                return -1;
        } else if (strcmp(k, "percent") == 0) {
            if ((s = tg_scalar(c, d, v, k)) == NULL)
                return -1;
            pct = strtod(s, &end);
            if (end == s || *end != '\0' || !(pct >= 0 && pct <= 100))
                return tg_cerr(c, d, v, "percent must be a number from 0 to 100, not \"%s\"", s);
        } else if (strcmp(k, "record_output") == 0) {
            if (tg_cbool(c, d, v, k, &rt->shadow_output) == -1)
                return -1;
        } else {
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in shadow (target, percent, record_output)", k);
        }
    }
    if (rt->shadow == NULL || pct < 0)
        return tg_cerr(c, d, n, "shadow needs a target and a percent");
    rt->shadow_share = pct / 100.0;
    return 0;
}

/* The route-level keys other than rules and targets. */
static int tg_parse_route_key(tg_cctx_t *c, tg_cdoc_t *d, const char *k, yaml_node_t *v,
                              tg_route_t *rt)
{
    int64_t v64;
    const char *s;

    if (strcmp(k, "fallback") == 0)
        return tg_parse_targets(c, d, v, "fallback", &rt->fallback, &rt->nfallback);
    if (strcmp(k, "complexity_threshold") == 0)
        return tg_cfraction(c, d, v, k, &rt->complexity_threshold);
    if (strcmp(k, "baseline") == 0)
        return (rt->baseline = tg_route_model(c, d, v)) == NULL ? -1 : 0;
    if (strcmp(k, "shadow") == 0)
        return tg_parse_shadow(c, d, v, rt);
    if (strcmp(k, "hedge") == 0)
        return tg_parse_hedge(c, d, v, rt);
    if (strcmp(k, "attempts") == 0) {
        if (tg_cint(c, d, v, k, 1, 10, &v64) == -1)
            return -1;
        rt->max_attempts = (int)v64;
        return 0;
    }
    if (strcmp(k, "retry_backoff") == 0)
        return tg_cduration(c, d, v, k, &rt->retry_backoff_ms);
    if (strcmp(k, "deadline") == 0)
        return tg_cduration(c, d, v, k, &rt->deadline_ms);
    if (strcmp(k, "validate") == 0)
        return tg_parse_validate(c, d, v, &rt->validate);
    if (strcmp(k, "sticky") == 0) {
        if ((s = tg_scalar(c, d, v, k)) == NULL)
            return -1;
        if (strcmp(s, "key") != 0 && strcmp(s, "user") != 0)
            return tg_cerr(c, d, v, "sticky must be key or user, not \"%s\"", s);
        rt->sticky_user = strcmp(s, "user") == 0;
        return 0;
    }
    return tg_cerr(c, d, v,
                   "unknown key \"%s\" in a route (rules, targets, strategy, fallback, baseline, "
                   "complexity_threshold, attempts, retry_backoff, deadline, sticky, experiment, "
                   "shadow, hedge, validate)",
                   k);
}

static int tg_parse_route(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *kn, yaml_node_t *n,
                          tg_route_t *rt)
{
    const char *name = (const char *)kn->data.scalar.value;
    yaml_node_t *rules = NULL, *targets = NULL, *strategy = NULL, *experiment = NULL;
    tg_strategy_t dflt = TG_STRATEGY_PRIORITY;

    rt->name = tg_xstrdup(name);
    /* about 20% of a mixed benchmark scores at or above 0.3 (docs/routing.md) */
    rt->complexity_threshold = 0.3;
    rt->max_attempts = 3;
    rt->retry_backoff_ms = 100;
    if (!tg_name_ok(name))
        return tg_cerr(c, d, kn, "route name \"%s\" must be 1-128 of A-Z a-z 0-9 . _ : / @ + -",
                       name);
    if (tg_config_model(c->cf, name, strlen(name)) != NULL)
        return tg_cerr(c, d, kn, "route \"%s\" has the name of a model", name);
    if (tg_expect_map(c, d, n, "a route") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);

        if (strcmp(k, "rules") == 0)
            rules = v;
        else if (strcmp(k, "targets") == 0)
            targets = v;
        else if (strcmp(k, "strategy") == 0)
            strategy = v;
        else if (strcmp(k, "experiment") == 0)
            experiment = v;
        else if (tg_parse_route_key(c, d, k, v, rt) == -1)
            return -1;
    }
    if (strategy != NULL && tg_parse_strategy(c, d, strategy, &dflt) == -1)
        return -1;
    if ((rules != NULL) + (targets != NULL) + (experiment != NULL) != 1)
        return tg_cerr(c, d, n, "a route needs one of rules, targets or experiment");
    if (experiment != NULL)
        return tg_parse_experiment(c, d, experiment, rt);
    if (targets != NULL) {
        /* shorthand: one rule that matches every request */
        rt->rules = tg_xcalloc(1, sizeof(tg_route_rule_t));
        rt->nrules = 1;
        rt->rules[0].strategy = dflt;
        rt->rules[0].line = targets->start_mark.line + 1;
        if (tg_parse_targets(c, d, targets, "targets", &rt->rules[0].targets,
                             &rt->rules[0].ntargets) == -1)
            return -1;
        return tg_check_weights(c, d, targets, &rt->rules[0]);
    }
    if (rules->type != YAML_SEQUENCE_NODE ||
        rules->data.sequence.items.top == rules->data.sequence.items.start)
        return tg_cerr(c, d, rules, "rules must be a non-empty list");
    rt->rules = tg_xcalloc((size_t)(rules->data.sequence.items.top -
                                    rules->data.sequence.items.start),
                           sizeof(tg_route_rule_t));
    for (yaml_node_item_t *it = rules->data.sequence.items.start;
         it < rules->data.sequence.items.top; it++)
        if (tg_parse_rule(c, d, tg_node(d, *it), dflt, &rt->rules[rt->nrules++]) == -1)
            return -1;
    return 0;
}

static int tg_route_cmp(const void *a, const void *b)
{
    return strcmp(((const tg_route_t *)a)->name, ((const tg_route_t *)b)->name);
}

int tg_compile_routes(tg_cctx_t *c)
{
    tg_config_t *cf = c->cf;

    cf->routes = tg_xcalloc(c->routes.n, sizeof(tg_route_t));
    for (size_t i = 0; i < c->routes.n; i++) {
        tg_cdef_t *rd = &c->routes.v[i];

        cf->nroutes = i + 1;
        if (tg_parse_route(c, rd->d, rd->key, rd->val, &cf->routes[i]) == -1)
            return -1;
    }
    qsort(cf->routes, cf->nroutes, sizeof(tg_route_t), tg_route_cmp);
    /* variants name other routes: resolve them now that every route is known */
    for (size_t i = 0; i < cf->nroutes; i++) {
        for (size_t j = 0; j < cf->routes[i].nvariants; j++) {
            tg_variant_t *v = &cf->routes[i].variants[j];
            const char *why = NULL;

            if (v->route_name == NULL)
                continue;
            v->route = tg_config_route(cf, v->route_name, strlen(v->route_name));
            if (v->route == NULL)
                why = "is not a configured route";
            else if (v->route->nvariants > 0)
                why = "runs an experiment itself (experiments do not nest)";
            if (why != NULL) {
                snprintf(c->err, c->errlen, "%s:%zu:%zu: route \"%s\" %s", v->file, v->line,
                         v->col, v->route_name, why);
                return -1;
            }
        }
    }
    return 0;
}

static void tg_labels_free(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void tg_routes_free(tg_config_t *cf)
{
    for (size_t i = 0; i < cf->nroutes; i++) {
        tg_route_t *rt = &cf->routes[i];

        for (size_t j = 0; j < rt->nrules; j++) {
            tg_labels_free(rt->rules[j].tasks, rt->rules[j].ntasks);
            tg_labels_free(rt->rules[j].complexities, rt->rules[j].ncomplexities);
            free(rt->rules[j].targets);
            tg_validators_free(rt->rules[j].validate);
        }
        tg_validators_free(rt->validate);
        free(rt->rules);
        free(rt->fallback);
        for (size_t j = 0; j < rt->nvariants; j++) {
            free(rt->variants[j].name);
            free(rt->variants[j].route_name);
            free(rt->variants[j].targets);
        }
        free(rt->variants);
        free(rt->experiment);
        free(rt->name);
    }
    free(cf->routes);
    cf->routes = NULL;
    cf->nroutes = 0;
}

const tg_route_t *tg_config_route(const tg_config_t *cf, const char *name, size_t len)
{
    return tg_find_named(cf->routes, cf->nroutes, sizeof(tg_route_t), name, len);
}

int tg_parse_breaker(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_breaker_conf_t *b = &c->cf->breaker;
    int64_t v64;
    int on = 1;

    if (tg_expect_map(c, d, n, "breaker") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        int rc;

        if (strcmp(k, "enabled") == 0) {
            rc = tg_cbool(c, d, v, k, &on);
        } else if (strcmp(k, "failures") == 0) {
            rc = tg_cint(c, d, v, k, 0, 1000000, &v64);
            b->failures = (int)v64;
        } else if (strcmp(k, "error_rate") == 0) {
            rc = tg_cfraction(c, d, v, k, &b->error_rate);
        } else if (strcmp(k, "min_requests") == 0) {
            rc = tg_cint(c, d, v, k, 1, 1000000, &v64);
            b->min_requests = (int)v64;
        } else if (strcmp(k, "window") == 0) {
            rc = tg_cduration(c, d, v, k, &b->window_ms);
        } else if (strcmp(k, "cooldown") == 0) {
            rc = tg_cduration(c, d, v, k, &b->cooldown_ms);
        } else if (strcmp(k, "probe_timeout") == 0) {
            rc = tg_cduration(c, d, v, k, &b->probe_ms);
        } else {
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in breaker (enabled, failures, error_rate, "
                           "min_requests, window, cooldown, probe_timeout)",
                           k);
        }
        if (rc == -1)
            return -1;
    }
    if (!on) {
        b->failures = 0;
        b->error_rate = 0;
    }
    return 0;
}
