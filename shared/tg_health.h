/*
 * Target health: a circuit breaker and a latency average per model, shared by every worker
 * through the meter environment (TG_DB_HEALTH, one small record per model), so a provider that
 * fails in one worker is skipped by all of them.
 *
 *   closed     every request may use the target; failures are counted (in a row, and per
 *              window); N in a row, or an error rate over a window with enough requests,
 *              opens the breaker
 *   open       skipped until the cooldown has passed; then one request is let through
 *   half-open  one probe at a time (a lease that lapses if the probe never reports back);
 *              its success closes the breaker, its failure opens it again
 *
 * The state machine works on a plain record so it is the same with or without a store.
 */
#ifndef TG_HEALTH_H
#define TG_HEALTH_H

#include <stdint.h>

#include "shared/tg_config.h"
#include "shared/tg_store.h"

enum { TG_BREAKER_CLOSED = 0, TG_BREAKER_OPEN = 1, TG_BREAKER_HALF_OPEN = 2 };

/* Latency buckets: upper bounds 10 ms * 1.5^i; the last is open-ended. */
#define TG_HEALTH_BUCKETS 24
#define TG_HEALTH_DECAY 512 /* halve the histogram when it holds this many answers */

/* One model's health record, stored as is (host byte order: one machine's processes). */
typedef struct {
    uint32_t state;
    uint32_t consecutive; /* failures in a row */
    uint32_t win_total;   /* answers in the current window */
    uint32_t win_fail;
    int64_t win_start_ms;
    int64_t opened_ms;      /* when it last opened */
    int64_t probe_until_ms; /* half-open: a probe is out until then */
    double ewma_ms;         /* latency of good answers (time to first byte), 0: unmeasured */
    uint64_t opens;         /* how often it has opened (for metrics) */
    uint32_t hist[TG_HEALTH_BUCKETS]; /* good answers' time to first byte, by bucket (decayed) */
} tg_health_t;

/** The recent 95th percentile of time to first byte in ms (a bucket's upper bound), or -1. */
double tg_health_p95(const tg_health_t *h);

/**
 * May a request use the target now? Returns 1 (closed, or this request is the half-open probe)
 * or 0 (open, or a probe is already out). Sets *changed when h was modified and must be stored.
 */
int tg_health_allow(tg_health_t *h, const tg_breaker_conf_t *c, int64_t now_ms, int *changed);

/** Record an attempt's outcome (ok: a usable answer) and, when ok, its latency in ms. */
void tg_health_record(tg_health_t *h, const tg_breaker_conf_t *c, int64_t now_ms, int ok,
                      double latency_ms);

/** "closed", "open" or "half-open". */
const char *tg_health_state_name(uint32_t state);

/** Read model's record in txn (a missing record reads as a healthy, unmeasured one). 0 or an
 * LMDB error. */
int tg_health_get(tg_store_t *s, MDB_txn *txn, const char *model, tg_health_t *out);

/** Store model's record in a write txn. 0 or an LMDB error. */
int tg_health_put(tg_store_t *s, MDB_txn *txn, const char *model, const tg_health_t *h);

#endif
