/*
 * routes.list and routes.explain. The explanation runs the very functions a worker runs
 * (tg_route_req_read, tg_route_decide) on the master's configuration, so it tells what the
 * gateway would do with the request, not an approximation of it.
 */
#include "master/admin_routes.h"
#include "master/admin_keys.h"
#include "shared/tg_health.h"
#include "shared/tg_route.h"
#include "shared/tg_route_req.h"

#include <string.h>

static json_t *tg_usd(int64_t pico)
{
    char buf[32];

    tg_money_format(pico, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *tg_labels(char **l, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(l[i]));
    return a;
}

static json_t *tg_targets(const tg_route_target_t *t, size_t n, int weighted)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, weighted ? json_pack("{s:s,s:I}", "model", t[i].model->name,
                                                      "weight", (json_int_t)t[i].weight)
                                          : json_string(t[i].model->name));
    return a;
}

static json_t *tg_rule_json(const tg_route_rule_t *r, int index)
{
    return json_pack("{s:i,s:I,s:o,s:o,s:s,s:o}", "index", index, "line", (json_int_t)r->line,
                     "task", tg_labels(r->tasks, r->ntasks), "complexity",
                     tg_labels(r->complexities, r->ncomplexities), "strategy",
                     tg_strategy_name(r->strategy), "targets",
                     tg_targets(r->targets, r->ntargets, r->strategy == TG_STRATEGY_WEIGHTED));
}

static json_t *tg_routes_list(const tg_config_t *cf)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < cf->nroutes; i++) {
        const tg_route_t *rt = &cf->routes[i];
        json_t *rules = json_array();

        for (size_t j = 0; j < rt->nrules; j++)
            json_array_append_new(rules, tg_rule_json(&rt->rules[j], (int)j));
        json_array_append_new(
            arr, json_pack("{s:s,s:o,s:o,s:s?,s:f,s:i}", "name", rt->name, "rules", rules,
                           "fallback", tg_targets(rt->fallback, rt->nfallback, 0), "baseline",
                           rt->baseline ? rt->baseline->name : NULL, "complexity_threshold",
                           rt->complexity_threshold, "attempts", rt->max_attempts));
    }
    return json_pack("{s:b,s:i,s:o}", "ok", 1, "generation", (int)cf->generation, "routes", arr);
}

/* The estimator's breakdown: each feature's value, weight and contribution. */
static json_t *tg_features(const tg_cx_explain_t *cx)
{
    json_t *a = json_array();

    for (int f = 0; f < TG_CX_NFEATURES; f++)
        json_array_append_new(a, json_pack("{s:s,s:f,s:f,s:f}", "name",
                                           tg_complexity_feature_name((tg_cx_feature_t)f),
                                           "value", cx->value[f], "weight",
                                           tg_complexity_weight((tg_cx_feature_t)f),
                                           "contribution", cx->contrib[f]));
    return a;
}

/* Breaker state and latency of a target, as the workers last recorded them. */
static json_t *tg_target_json(const tg_model_t *m, const tg_route_req_t *q, tg_store_t *s)
{
    tg_health_t h;
    MDB_txn *txn;

    memset(&h, 0, sizeof(h));
    if (s != NULL && tg_store_begin(s, TG_DB_HEALTH, MDB_RDONLY, &txn) == 0) {
        tg_health_get(s, txn, m->name, &h);
        mdb_txn_abort(txn);
    }
    return json_pack("{s:s,s:s,s:o,s:I,s:s,s:o}", "model", m->name, "provider",
                     m->provider->name, "expected_cost_usd",
                     tg_usd(tg_route_expected_cost(m, q->prompt_tokens, q->max_tokens)),
                     "context_window", (json_int_t)m->context_window, "breaker",
                     tg_health_state_name(h.state), "latency_ms",
                     h.ewma_ms > 0 ? json_real(h.ewma_ms) : json_null());
}

static json_t *tg_routes_explain(const tg_config_t *cf, tg_store_t *s, json_t *req)
{
    json_t *body = json_object_get(req, "request"), *targets, *skipped, *out;
    const char *name = json_string_value(json_object_get(body, "model"));
    char *text;
    const tg_route_t *rt;
    const tg_model_t *m;
    tg_route_req_t q;
    tg_route_input_t in;
    tg_route_plan_t plan;
    size_t len;

    if (!json_is_object(body))
        return tg_admin_err("routes.explain needs \"request\": the request body (an object)");
    if (name == NULL)
        return tg_admin_err("the request has no \"model\"");
    /* the facts are read from the bytes a worker would get: the request, compactly */
    if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
        return tg_admin_err("out of memory");
    len = strlen(text);
    tg_route_req_read(text, len, json_string_value(json_object_get(req, "task")),
                      json_string_value(json_object_get(req, "complexity")),
                      json_string_value(json_object_get(req, "key_task")), &q);
    free(text);
    if ((rt = tg_config_route(cf, name, strlen(name))) == NULL) {
        if ((m = tg_config_model(cf, name, strlen(name))) == NULL)
            return tg_admin_err("\"%s\" is neither a route nor a model", name);
        return json_pack("{s:b,s:n,s:s,s:o,s:s}", "ok", 1, "route", "model", name, "targets",
                         json_pack("[o]", tg_target_json(m, &q, s)), "why",
                         "the request names a model: no route applies");
    }
    tg_route_req_input(&q, q.user[0] ? q.user : "", &in);
    tg_route_decide(rt, &in, &plan);
    targets = json_array();
    skipped = json_array();
    for (size_t i = 0; i < plan.n; i++)
        json_array_append_new(targets, tg_target_json(plan.order[i], &q, s));
    for (size_t i = 0; i < plan.nskipped; i++)
        json_array_append_new(skipped, json_pack("{s:s,s:s}", "model",
                                                 plan.skipped[i].model->name, "why",
                                                 plan.skipped[i].why));
    out = json_pack("{s:b,s:s,s:s,s:s?,s:s?,s:s?,s:o,s:s?,s:f,s:o,s:o,s:s,s:o,s:o,s:I,s:I}",
                    "ok", 1, "route", rt->name, "task", q.task, "task_source", q.task_source,
                    "complexity", plan.complexity, "complexity_source", q.complexity_source,
                    "score", q.have_score ? json_real(q.score) : json_null(), "baseline",
                    rt->baseline ? rt->baseline->name : NULL, "complexity_threshold",
                    rt->complexity_threshold, "rule",
                    plan.rule ? tg_rule_json(plan.rule, plan.rule_index) : json_null(),
                    "fallback", tg_targets(rt->fallback, rt->nfallback, 0), "strategy",
                    tg_strategy_name(plan.strategy), "targets", targets, "skipped", skipped,
                    "prompt_tokens_estimate", (json_int_t)q.prompt_tokens, "max_tokens",
                    (json_int_t)q.max_tokens);
    if (out != NULL && plan.experiment != NULL)
        json_object_set_new(out, "experiment",
                            json_pack("{s:s,s:s,s:s}", "name", plan.experiment, "variant",
                                      plan.variant, "route", plan.route->name));
    if (out != NULL && q.complexity_source != NULL &&
        strcmp(q.complexity_source, "estimator") == 0)
        json_object_set_new(out, "features", tg_features(&q.cx));
    return out;
}

json_t *tg_admin_route_cmds(const tg_config_t *cf, tg_store_t *s, const char *cmd, json_t *req)
{
    if (strcmp(cmd, "routes.list") == 0)
        return tg_routes_list(cf);
    if (strcmp(cmd, "routes.explain") == 0)
        return tg_routes_explain(cf, s, req);
    return NULL;
}
