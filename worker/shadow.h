/*
 * Shadow traffic: a share of a route's requests is copied, in the background, to a candidate
 * model. The client never waits for it and never sees it; the copy's status, tokens, cost and
 * latency (and, when the route asks, its answer text) are recorded beside the request it
 * mirrored: an access log line and a request event with shadow_of, under route "<route>:shadow"
 * with no key or tenant, so its cost is metered apart and never charged to the client's budget.
 */
#ifndef TG_WORKER_SHADOW_H
#define TG_WORKER_SHADOW_H

#include "shared/tg_route.h"
#include "worker/http.h"
#include "worker/provider.h"

/**
 * Maybe mirror r (its body as received) to rt's shadow target, as a non-stream request for
 * endpoint ep: when rt has a shadow and this request falls in its share. Never fails the
 * request; a shadow that cannot start is logged and dropped.
 */
void tg_shadow_maybe(tg_req_t *r, const tg_route_t *rt, tg_endpoint_t ep);

/** Shadows still in flight in this worker (they hold the configuration they started on). */
int tg_shadow_running(void);

/** Cancel every shadow in flight (worker exit). */
void tg_shadow_shutdown(void);

#endif
