/*
 * The worker's side of limits, budgets and metering: admit a request against its key's and
 * tenant's limits before it goes upstream, and settle it (exactly once, whatever way it ended)
 * when its response completes or the client leaves. See shared/tg_meter.h for the store side.
 */
#ifndef TG_WORKER_METER_H
#define TG_WORKER_METER_H

#include "shared/tg_config.h"
#include "worker/http.h"

#define TG_SHADOW_OUTPUT_MAX 2048 /* bytes of a shadow's answer a request event may keep */

/** What the owner of a request is told once admission is decided. */
typedef void (*tg_admit_cb)(tg_req_t *r, void *arg, int admitted);

/**
 * Admit r for model m with the given estimates against its key's and tenant's limits. cb is
 * called with admitted = 1 (at once when there is nothing to enforce, else at the end of this
 * event-loop turn, after one group-committed decision for every request of the turn), or with
 * 0 just before the refusal (429, 403 tenant disabled, 503 store failure) is answered — the
 * owner must free its state then and not answer itself. x-ratelimit-* headers are added.
 */
void tg_meter_admit_request(tg_req_t *r, const tg_model_t *m, int64_t prompt_tokens,
                            int64_t max_tokens, tg_admit_cb cb, void *arg);

/** Forget r's queued admission (the client left); cb will not be called. */
void tg_meter_admit_cancel(tg_req_t *r);

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

/**
 * Commit the settlements (and admissions) queued so far, now. The HTTP layer calls it before it
 * writes answers to client sockets, so that an answer a client received has been settled (see
 * http.c tg_http_flush_cb). Cheap when nothing is queued.
 */
void tg_meter_commit(void);

#endif
