/*
 * The worker's side of limits, budgets and metering: admit a request against its key's and
 * tenant's limits before it goes upstream, and settle it (exactly once, whatever way it ended)
 * when its response completes or the client leaves. See shared/tg_meter.h for the store side.
 */
#ifndef TG_WORKER_METER_H
#define TG_WORKER_METER_H

#include "shared/tg_config.h"
#include "worker/http.h"

/**
 * Admit r for model m with the given estimates. Returns 0 (admitted, or nothing to enforce), or
 * -1 after answering 429 (rate limit, budget), 403 (tenant disabled) or 503 (store failure).
 * Adds the x-ratelimit-* headers to r's response.
 */
int tg_meter_admit_request(tg_req_t *r, const tg_model_t *m, int64_t prompt_tokens,
                           int64_t max_tokens);

struct event_base;

/** Set up the per-loop-turn settlement commit on base. Returns 0 or -1. */
int tg_meter_init(struct event_base *base);

/** Commit what is queued and free the event (worker exit). */
void tg_meter_shutdown(void);

/**
 * Settle r (tg_http finish hook): queue the release of its reservation and its usage for the
 * group commit at the end of this event-loop turn.
 */
void tg_meter_finish(tg_req_t *r);

#endif
