/*
 * Analytics on the admin socket: usage (cost, tokens, latency and quality per slice), savings
 * against the baseline model, A/B experiment comparisons, and the request event feed.
 * docs/analytics.md.
 */
#ifndef TG_MASTER_ADMIN_ANALYTICS_H
#define TG_MASTER_ADMIN_ANALYTICS_H

#include <jansson.h>

#include "shared/tg_config.h"
#include "shared/tg_store.h"

/** Run cmd if it is usage, savings, experiments or events.tail (reply owned by the caller),
 * else NULL. */
json_t *tg_admin_analytics(const tg_config_t *cf, tg_store_t *s, const char *cmd, json_t *req);

/** Two-sided p-value of a two-proportion z-test (x1 of n1 against x2 of n2); *z the statistic.
 * Returns -1 when either sample is empty or the pooled share is 0 or 1. */
double tg_two_proportion_p(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double *z);

#endif
