/*
 * Rate limits, budgets and metering in the store's meter environment. Admission and settlement
 * run in short LMDB write transactions (a worker batches each loop turn's requests into one),
 * and LMDB has one writer at a time across every process, so limits hold exactly across all
 * workers. Admission reserves the worst case (one
 * request, estimated tokens, cost at max_tokens); settlement replaces the reservation with what
 * the provider reported, writes the per-minute usage rollup and the request event, and deletes
 * the in-flight record — which is how a request is settled exactly once, and how the master
 * releases the reservations of a worker that died.
 */
#ifndef TG_METER_H
#define TG_METER_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_keys.h"
#include "shared/tg_money.h"
#include "shared/tg_store.h"

typedef enum {
    TG_ADMIT_OK = 0,
    TG_ADMIT_RPM,         /* requests per minute */
    TG_ADMIT_TPM,         /* tokens per minute */
    TG_ADMIT_CONCURRENCY, /* requests in flight */
    TG_ADMIT_BUDGET,      /* daily or monthly budget */
    TG_ADMIT_ERROR,       /* the store failed */
} tg_admit_t;

/** What was reserved for one request (also its in-flight record). */
typedef struct {
    int64_t minute, day, month; /* windows the reservation was made in */
    int64_t tokens;             /* reserved tokens (tpm) */
    int64_t cost_pico;          /* reserved cost (budgets) */
    char key_id[TG_KEY_ID_LEN + 1];
    char tenant[TG_NAME_MAX];
    uint64_t seq;               /* per-process request sequence */
    int pid;
} tg_reservation_t;

/** OpenAI-style rate-limit headers for one response (limit 0: no limit, no headers). */
typedef struct {
    int64_t req_limit, req_remaining, req_reset_ms;
    int64_t tok_limit, tok_remaining, tok_reset_ms;
    int64_t retry_after_s;    /* when refused */
    char refused_scope[8];    /* "key" or "tenant" */
    char refused_window[16];  /* "day" or "month" for budgets */
    int store_rc;             /* TG_ADMIT_ERROR: the LMDB error */
} tg_admit_info_t;

/** One finished request, for settlement: what it used and how it is filed. */
typedef struct {
    const char *request_id;
    const char *key_id;     /* "" without a key */
    const char *tenant;     /* "" without a key */
    const char *model;
    const char *provider;
    const char *route;
    const char *task;
    const char *experiment; /* "" or NULL: none */
    const char *variant;
    const char *complexity; /* the complexity label the request was routed with, or NULL */
    int64_t baseline_pico;  /* what the same tokens would have cost on the baseline model */
    const char *shadow_of;  /* a shadow request: the id of the request it mirrored, else NULL */
    const char *output;     /* a shadow's recorded answer text, or NULL */
    int extra_attempt;      /* a hedge's or rejected cascade answer's own line (not a request) */
    int status;
    int attempts;
    int stream;
    tg_usage_t usage;
    int64_t cost_pico;
    int64_t latency_us;
    int64_t ttft_us;
    int fallback;
    int limited; /* refused by the gateway's own limits: tg_meter_limited(); 0: it was not */
} tg_meter_record_t;

/* Refusals by scope (key, tenant) and limit (rpm, tpm, concurrency, budget). */
#define TG_LIMITED_KINDS 8

/**
 * The tg_meter_record_t.limited value of a request refused with verdict (TG_ADMIT_RPM ..
 * TG_ADMIT_BUDGET) by its key's (tenant 0) or its tenant's (tenant 1) limits; 0 for any other
 * verdict. Value - 1 indexes tg_usage_row_t.limited: scope * 4 + limit.
 */
int tg_meter_limited(int tenant, tg_admit_t verdict);

/**
 * Admit one request for key (and its tenant; t may be NULL) at now_ms, reserving est_tokens and
 * est_cost_pico. On TG_ADMIT_OK, res describes the reservation to settle later. info is filled
 * in every case (for headers, or the refusal).
 */
tg_admit_t tg_meter_admit(tg_store_t *s, const tg_key_t *k, const tg_tenant_t *t, int pid,
                          uint64_t seq, int64_t now_ms, int64_t est_tokens, int64_t est_cost_pico,
                          tg_reservation_t *res, tg_admit_info_t *info);

/**
 * A metering write transaction that admits or settles many requests at once (group commit).
 * The window counters and usage rollups it touches are read from the map once, updated in
 * memory and written back by tg_mbatch_commit, so n requests of one key cost one B-tree read
 * and write per counter, not 2n. Allocate one per process (it holds the caches, ~30 KB).
 */
typedef struct tg_mbatch tg_mbatch_t;

tg_mbatch_t *tg_mbatch_new(tg_store_t *s);
void tg_mbatch_free(tg_mbatch_t *b);
/** Begin the write transaction (caches emptied). Returns 0 or an LMDB error. */
int tg_mbatch_begin(tg_mbatch_t *b);
/** The transaction, for other writes that belong in the same commit. */
MDB_txn *tg_mbatch_txn(const tg_mbatch_t *b);
/** Write the cached counters and rollups back and commit (aborts on error). 0 or an LMDB error. */
int tg_mbatch_commit(tg_mbatch_t *b);
void tg_mbatch_abort(tg_mbatch_t *b);

/**
 * tg_meter_admit inside a batch. A refusal writes nothing and leaves the batch usable;
 * TG_ADMIT_ERROR leaves it broken (abort it).
 */
tg_admit_t tg_meter_admit_batch(tg_mbatch_t *b, const tg_key_t *k, const tg_tenant_t *t,
                                int pid, uint64_t seq, int64_t now_ms, int64_t est_tokens,
                                int64_t est_cost_pico, tg_reservation_t *res,
                                tg_admit_info_t *info);

/**
 * Settle: release res (may be NULL for a request that reserved nothing), count the actual
 * tokens and cost against the windows it reserved in, add the usage rollup for the current
 * minute and the request event. Returns 0, or an LMDB error.
 */
int tg_meter_settle(tg_store_t *s, const tg_reservation_t *res, const tg_meter_record_t *rec,
                    int64_t now_ms);

/**
 * tg_meter_settle inside a batch; with_event 0 skips the request event (when the map is full,
 * usage still counts). An error leaves the batch unusable (LMDB): abort it.
 */
int tg_meter_settle_batch(tg_mbatch_t *b, const tg_reservation_t *res,
                          const tg_meter_record_t *rec, int64_t now_ms, int with_event);

/**
 * Release every in-flight reservation of a dead process (no usage charged: the request was
 * never answered). Returns how many were released, or -1.
 */
int tg_meter_release_pid(tg_store_t *s, int pid);

/**
 * How full the metering map is: pages in use (the high-water mark less the free list) and the
 * map's page count. Returns 0 or -1.
 */
int tg_meter_fill(tg_store_t *s, size_t *used, size_t *max);

/**
 * Make room in a full metering map: delete the n oldest request events (usage rollups, limits
 * and reservations are kept). Returns how many were deleted, or -1.
 */
int tg_meter_make_room(tg_store_t *s, int n);

/** Delete events older than cutoff_ms and limit windows that can no longer matter. */
int tg_meter_prune(tg_store_t *s, int64_t now_ms, int64_t event_cutoff_ms);

/*
 * Latency histograms in usage rollups: bucket i counts requests that took at most
 * tg_meter_bucket_ms(i) ms (the last bucket is open-ended).
 */
#define TG_LAT_BUCKETS 16

/** The upper bound of latency bucket i in ms (the last one: INT64_MAX). */
int64_t tg_meter_bucket_ms(int i);

/**
 * The q-quantile (0 < q < 1) of a latency histogram, as the upper bound of the bucket it falls
 * in, in ms; -1 for an empty histogram.
 */
int64_t tg_meter_quantile_ms(const int64_t *hist, double q);

/** One aggregated usage row (every member after group is an int64_t counter). */
typedef struct {
    char group[160];
    int64_t requests, errors, prompt, completion, cached, estimated, fallbacks;
    int64_t cost_pico;
    int64_t baseline_pico;          /* the same traffic at the baseline model's prices */
    int64_t latency[TG_LAT_BUCKETS]; /* whole-request latency histogram */
    int64_t ttft[TG_LAT_BUCKETS];    /* time-to-first-byte histogram */
    int64_t status_4xx, status_5xx;  /* errors by class (rows before these fields: neither) */
    int64_t latency_sum_us, ttft_sum_us; /* the histograms' sums (older rows: bucket midpoints) */
    int64_t limited[TG_LIMITED_KINDS];   /* refused by the gateway's limits (tg_meter_limited) */
} tg_usage_row_t;

/** Add every counter of b to a (saturating; a's group is kept). */
void tg_usage_row_add(tg_usage_row_t *a, const tg_usage_row_t *b);

/* The dimensions of a usage rollup, in key order (tg_meter_rollups). */
enum { TG_DIM_TENANT, TG_DIM_KEY, TG_DIM_MODEL, TG_DIM_PROVIDER, TG_DIM_ROUTE, TG_DIM_TASK,
       TG_DIM_VARIANT, TG_DIMS };

/**
 * Call fn for every usage rollup of the minutes [from_minute, to_minute) (minutes since the
 * epoch), in key order, inside the caller's read (or write) transaction: dims[TG_DIM_*] are
 * NUL-terminated and point into the map (valid until txn ends); row->group is empty. fn
 * returning non-zero stops the walk. Returns the number of rollups seen, or -1 (LMDB error).
 */
int64_t tg_meter_rollups(tg_store_t *s, MDB_txn *txn, int64_t from_minute, int64_t to_minute,
                         int (*fn)(void *arg, const char *const *dims, const tg_usage_row_t *row),
                         void *arg);

/**
 * Aggregate usage rollups in [since_ms, until_ms) grouped by "key", "tenant", "model",
 * "provider", "route", "task" or "variant" ("experiment/variant", "" outside experiments). Calls fn once per group (sorted by group). Returns 0 or -1.
 */
int tg_meter_usage(tg_store_t *s, const char *by, int64_t since_ms, int64_t until_ms,
                   void (*fn)(void *arg, const tg_usage_row_t *row), void *arg);

/**
 * What has been spent (settled plus still reserved) against the daily (month 0) or monthly
 * (month 1) budget window containing now_ms of key id (tenant 0) or tenant id (tenant 1), in
 * pico-dollars, read in the caller's transaction. Only counted while that scope has a budget.
 * Returns 0 or an LMDB error.
 */
int tg_meter_spent(tg_store_t *s, MDB_txn *txn, int tenant, const char *id, int month,
                   int64_t now_ms, int64_t *pico);

/** UTC day number and month number (year * 12 + month) of a time. */
int64_t tg_meter_day(int64_t ms);
int64_t tg_meter_month(int64_t ms);

#endif
