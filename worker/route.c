/*
 * Routing in a worker (see route.h).
 */
#include "worker/route.h"
#include "shared/tg_buf.h"
#include "shared/tg_route_req.h"
#include "worker/health.h"

#include <stdio.h>
#include <string.h>

static int tg_routing_allowed(const tg_model_t *m, void *arg)
{
    tg_req_t *r = arg;

    return !r->authed || tg_key_allows(&r->key, m->name);
}

/* Targets whose provider does not offer the endpoint become skipped ones. */
static void tg_routing_endpoint(tg_route_plan_t *plan, tg_endpoint_t ep)
{
    size_t n = 0;

    for (size_t i = 0; i < plan->n; i++) {
        const tg_model_t *m = plan->order[i];

        if (tg_adapter_for(m->provider->kind)->endpoints & (1u << ep)) {
            plan->order[n++] = m;
        } else if (plan->nskipped < TG_ROUTE_MAX_TARGETS) {
            plan->skipped[plan->nskipped].model = m;
            plan->skipped[plan->nskipped++].why = "endpoint not offered by its provider";
        }
    }
    plan->n = n;
}

/* No target can serve the request: say why for each one. */
static void tg_routing_refuse(tg_req_t *r, const tg_route_plan_t *plan)
{
    char why[768];
    size_t off = 0;
    int keyonly = plan->nskipped > 0;

    why[0] = '\0';
    for (size_t i = 0; i < plan->nskipped && off < sizeof(why); i++) {
        int n = snprintf(why + off, sizeof(why) - off, "%s%s: %s", i ? "; " : "",
                         plan->skipped[i].model->name, plan->skipped[i].why);
        if (n > 0)
            off += (size_t)n;
        keyonly &= strcmp(plan->skipped[i].why, "not allowed for this key") == 0;
    }
    if (keyonly)
        tg_resp_error(r, 403, "invalid_request_error", "model_not_allowed", "model",
                      "This API key may use none of the models of route `%s` (%s).",
                      plan->route->name, why);
    else
        tg_resp_error(r, 400, "invalid_request_error", "no_eligible_target", "model",
                      "No model of route `%s` can serve this request%s%s.", plan->route->name,
                      why[0] ? ": " : "", why);
}

int tg_routing_begin(tg_req_t *r, const tg_route_t *rt, tg_endpoint_t ep, tg_routing_t *rs)
{
    tg_route_req_t q;
    tg_route_input_t in;
    const char *sticky;

    memset(rs, 0, sizeof(*rs));
    rs->route = rt;
    /* tg_proxy_handle has validated the body with the scanner */
    tg_route_req_read(r->body.data, r->body.len, r->hdr_task, r->hdr_complexity,
                      r->authed ? r->key.task : NULL, &q);
    /* a weighted split sticks to the caller: the request's user, else its key */
    sticky = rt->sticky_user && q.user[0] != '\0' ? q.user : r->authed ? r->key.id : q.user;
    tg_route_req_input(&q, sticky, &in);
    in.allowed = tg_routing_allowed;
    in.latency = tg_health_latency;
    in.arg = r;
    tg_route_decide(rt, &in, &rs->plan);
    tg_routing_endpoint(&rs->plan, ep);
    r->route = rt->name;
    r->experiment = rs->plan.experiment;
    r->variant = rs->plan.variant;
    tg_strlcpy(r->task, q.task, sizeof(r->task));
    tg_strlcpy(r->complexity, rs->plan.complexity != NULL ? rs->plan.complexity : "",
               sizeof(r->complexity));
    if (rs->plan.n == 0) {
        tg_routing_refuse(r, &rs->plan);
        return -1;
    }
    return 0;
}

const tg_model_t *tg_routing_next(tg_req_t *r, tg_routing_t *rs)
{
    for (size_t i = 0; i < rs->plan.n; i++) {
        size_t at = (rs->next + i) % rs->plan.n;
        const tg_model_t *m = rs->plan.order[at];

        if (tg_health_admit(r->cf, m)) {
            rs->next = at + 1;
            return m;
        }
        rs->skipped_open++;
    }
    return NULL;
}

const tg_model_t *tg_routing_worst(const tg_routing_t *rs, int64_t prompt, int64_t req_max,
                                   int64_t choices, int64_t *max_tokens)
{
    const tg_model_t *worst = rs->plan.order[0];
    int64_t worst_cost = -1;

    for (size_t i = 0; i < rs->plan.n; i++) {
        const tg_model_t *m = rs->plan.order[i];
        tg_usage_t u = {.prompt = prompt};
        int64_t cost;

        u.completion = (req_max > 0 ? req_max : m->max_output_tokens) * choices;
        if ((cost = tg_cost_pico(&m->price, &u)) > worst_cost) {
            worst = m;
            worst_cost = cost;
            *max_tokens = u.completion;
        }
    }
    return worst;
}
