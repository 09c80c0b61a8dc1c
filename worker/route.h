/*
 * Routing in a worker: when a request's `model` names a route, decide which models serve it
 * (shared/tg_route.h) from the request's facts (shared/tg_route_req.h), then hand out targets
 * one attempt at a time, skipping those whose circuit breaker is open (worker/health.h).
 */
#ifndef TG_WORKER_ROUTE_H
#define TG_WORKER_ROUTE_H

#include "shared/tg_route.h"
#include "worker/http.h"
#include "worker/provider.h"

typedef struct {
    const tg_route_t *route;
    tg_route_plan_t plan;
    size_t next; /* the plan index the next attempt starts looking at */
    int skipped_open; /* targets passed over because their breaker was open */
} tg_routing_t;

/**
 * Decide the plan for r (its body, headers and key) on route rt for endpoint ep. Targets whose
 * provider lacks ep are skipped like other ineligible ones. Sets r->route and r->task. When no
 * target can serve the request, answers the client (400, or 403 when the key's allowed models
 * are the reason) and returns -1.
 */
int tg_routing_begin(tg_req_t *r, const tg_route_t *rt, tg_endpoint_t ep, tg_routing_t *rs);

/**
 * The next target to try: the plan's targets in order from rs->next, skipping those whose
 * breaker is open; after the last it starts over (a retry of the same targets). Returns NULL
 * when every target's breaker is open.
 */
const tg_model_t *tg_routing_next(tg_req_t *r, tg_routing_t *rs);

/**
 * The target whose worst case is dearest (every choice running to its output limit: the
 * request's max_tokens, else the model's), for the admission's reservation; its limit times
 * choices in *max_tokens.
 */
const tg_model_t *tg_routing_worst(const tg_routing_t *rs, int64_t prompt, int64_t req_max,
                                   int64_t choices, int64_t *max_tokens);

#endif
