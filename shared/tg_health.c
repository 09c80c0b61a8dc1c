/*
 * The circuit breaker's state machine and its record in the meter environment.
 */
#include "shared/tg_health.h"

#include <string.h>

#define TG_EWMA_ALPHA 0.2 /* weight of the newest latency sample */

const char *tg_health_state_name(uint32_t state)
{
    return state == TG_BREAKER_OPEN        ? "open"
           : state == TG_BREAKER_HALF_OPEN ? "half-open"
                                           : "closed";
}

static void tg_health_open(tg_health_t *h, int64_t now_ms)
{
    h->state = TG_BREAKER_OPEN;
    h->opened_ms = now_ms;
    h->probe_until_ms = 0;
    h->opens++;
}

int tg_health_allow(tg_health_t *h, const tg_breaker_conf_t *c, int64_t now_ms, int *changed)
{
    *changed = 0;
    if (h->state == TG_BREAKER_CLOSED)
        return 1;
    if (h->state == TG_BREAKER_OPEN && now_ms - h->opened_ms < c->cooldown_ms)
        return 0;
    if (h->state == TG_BREAKER_HALF_OPEN && now_ms < h->probe_until_ms)
        return 0; /* one probe at a time */
    /* cooldown over (or the last probe's lease lapsed): this request is the probe */
    h->state = TG_BREAKER_HALF_OPEN;
    h->probe_until_ms = now_ms + c->probe_ms;
    *changed = 1;
    return 1;
}

static double tg_bucket_bound(int i)
{
    double b = 10.0;

    while (i-- > 0)
        b *= 1.5;
    return b;
}

/* Count a latency in its bucket; halve every bucket now and then so the histogram is recent. */
static void tg_health_hist(tg_health_t *h, double ms)
{
    uint64_t total = 0;
    int i = 0;

    while (i < TG_HEALTH_BUCKETS - 1 && ms > tg_bucket_bound(i))
        i++;
    h->hist[i]++;
    for (int j = 0; j < TG_HEALTH_BUCKETS; j++)
        total += h->hist[j];
    if (total >= TG_HEALTH_DECAY)
        for (int j = 0; j < TG_HEALTH_BUCKETS; j++)
            h->hist[j] /= 2;
}

double tg_health_p95(const tg_health_t *h)
{
    uint64_t total = 0, seen = 0;

    for (int i = 0; i < TG_HEALTH_BUCKETS; i++)
        total += h->hist[i];
    if (total == 0)
        return -1;
    for (int i = 0; i < TG_HEALTH_BUCKETS; i++) {
        seen += h->hist[i];
        if (seen * 100 >= total * 95)
            return tg_bucket_bound(i);
    }
    return tg_bucket_bound(TG_HEALTH_BUCKETS - 1);
}

void tg_health_record(tg_health_t *h, const tg_breaker_conf_t *c, int64_t now_ms, int ok,
                      double latency_ms)
{
    if (ok && latency_ms >= 0) {
        h->ewma_ms = h->ewma_ms > 0 ? h->ewma_ms + TG_EWMA_ALPHA * (latency_ms - h->ewma_ms)
                                    : latency_ms;
        tg_health_hist(h, latency_ms);
    }
    if (h->state == TG_BREAKER_HALF_OPEN || h->state == TG_BREAKER_OPEN) {
        /* a probe's answer (or a late answer sent before the breaker opened) decides */
        if (ok) {
            h->state = TG_BREAKER_CLOSED;
            h->consecutive = h->win_total = h->win_fail = 0;
            h->win_start_ms = now_ms;
            h->probe_until_ms = 0;
        } else if (h->state == TG_BREAKER_HALF_OPEN) {
            tg_health_open(h, now_ms);
        }
        return;
    }
    if (c->window_ms > 0 && now_ms - h->win_start_ms >= c->window_ms) {
        h->win_start_ms = now_ms;
        h->win_total = h->win_fail = 0;
    }
    h->win_total++;
    if (ok) {
        h->consecutive = 0;
        return;
    }
    h->consecutive++;
    h->win_fail++;
    if ((c->failures > 0 && h->consecutive >= (uint32_t)c->failures) ||
        (c->error_rate > 0 && h->win_total >= (uint32_t)c->min_requests &&
         (double)h->win_fail >= c->error_rate * (double)h->win_total))
        tg_health_open(h, now_ms);
}

int tg_health_get(tg_store_t *s, MDB_txn *txn, const char *model, tg_health_t *out)
{
    MDB_val k = {strlen(model), (void *)model}, v;
    int rc = mdb_get(txn, s->dbi[TG_DB_HEALTH], &k, &v);

    memset(out, 0, sizeof(*out));
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    memcpy(out, v.mv_data, v.mv_size < sizeof(*out) ? v.mv_size : sizeof(*out));
    return 0;
}

int tg_health_put(tg_store_t *s, MDB_txn *txn, const char *model, const tg_health_t *h)
{
    MDB_val k = {strlen(model), (void *)model}, v = {sizeof(*h), (void *)h};

    return mdb_put(txn, s->dbi[TG_DB_HEALTH], &k, &v, 0);
}
