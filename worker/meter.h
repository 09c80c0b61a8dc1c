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

/** Settle r (tg_http finish hook): release its reservation and record its usage. */
void tg_meter_finish(tg_req_t *r);

#endif
