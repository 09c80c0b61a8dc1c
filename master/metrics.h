/*
 * Prometheus /metrics for the whole gateway, rendered by the master from the shared store (usage
 * rollups, circuit breakers, budgets) and its own counters (workers, restarts, configuration),
 * so every worker's traffic is in one scrape. docs/analytics.md lists every metric.
 */
#ifndef TG_MASTER_METRICS_H
#define TG_MASTER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "master/master.h"
#include "shared/tg_buf.h"

/** What a scrape reads: the store (NULL: none), the configuration and the worker table. */
typedef struct {
    tg_store_t *store;
    const tg_config_t *cf;
    const tg_worker_info_t *workers;
    int nworkers;
} tg_metrics_src_t;

/**
 * Append the exposition text (format 0.0.4) of the gateway (src) at now_ms to out. Usage counters
 * are the sum of every rollup since the store was created: rollups of finished minutes are
 * summed once and kept, so a scrape reads only the minutes since the previous one plus the last
 * two. Returns 0, or -1 with a reason in err (the store failed; out is then incomplete).
 */
int tg_metrics_render(const tg_metrics_src_t *src, int64_t now_ms, tg_buf_t *out, char *err,
                      size_t errlen);

/** Forget the kept sums (at shutdown; the next render sums everything again). */
void tg_metrics_reset(void);

#endif
