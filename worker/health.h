/*
 * The worker's side of target health (shared/tg_health.h): ask whether a target's circuit
 * breaker lets a request through, report each attempt's outcome, and read recent latency for
 * the least-latency strategy. With a store, records live in the meter environment and every
 * worker sees the same breaker; outcomes are written once per event-loop turn (one write
 * transaction for all of them). Without a store, each worker keeps its own records.
 */
#ifndef TG_WORKER_HEALTH_H
#define TG_WORKER_HEALTH_H

#include "shared/tg_config.h"
#include "shared/tg_health.h"

struct event_base;

/** Set up the per-loop-turn commit. Returns 0 or -1. */
int tg_health_init(struct event_base *base);

/** Write the queued outcomes inside the caller's write transaction (the settlement's, so one
 * commit per loop turn covers both). 0 or an LMDB error (the queue is kept for a retry). */
int tg_health_flush_txn(tg_store_t *s, MDB_txn *txn);

/** Commit what is queued and free everything (worker exit). */
void tg_health_shutdown(void);

/**
 * May a request go to m now (its breaker closed, or this request is the half-open probe)?
 * Returns 1 or 0. Taking the probe is written at once, so only one worker probes.
 */
int tg_health_admit(const tg_config_t *cf, const tg_model_t *m);

/** Report an attempt on m: ok (a usable answer) and, when ok, its time to first byte in ms. */
void tg_health_report(const tg_config_t *cf, const tg_model_t *m, int ok, double latency_ms);

/** m's health as last recorded (a healthy, unmeasured record when none). */
void tg_health_read(const tg_model_t *m, tg_health_t *out);

/** tg_route_input_t.latency: m's latency EWMA in ms, or -1 when unmeasured. */
double tg_health_latency(const tg_model_t *m, void *arg);

#endif
