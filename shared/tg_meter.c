/*
 * Limits, budgets and metering (see tg_meter.h). Window counters live in the "limits" database
 * under keys [type, scope, id, 0, be64 window], each an int64: 'r' requests and 't' tokens per
 * minute, 'c' requests in flight, 'd' and 'm' pico-dollars per UTC day and month. Usage rollups
 * are keyed [be64 minute, tenant, key, model, provider, route, task] (NUL-separated) with eight
 * int64 counters; events are keyed [be64 ns, request id] with a msgpack map.
 */
#include "shared/tg_meter.h"

#include <errno.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TG_F_RPM = 1, TG_F_TPM = 2, TG_F_CONC = 4, TG_F_DAY = 8, TG_F_MONTH = 16 };
enum { TG_SCOPE_KEY = 0, TG_SCOPE_TENANT = 1 };

#define TG_INFLIGHT_VERSION 1
/*
 * A rollup row's int64 counters: requests, errors, prompt, completion, cached, estimated,
 * fallbacks, cost (the first 8, the original layout), the baseline cost, the latency and
 * time-to-first-byte histograms, then errors by class, the histograms' sums and refusals by
 * the gateway's own limits. Rows are only ever extended: a row written by an older version is
 * read as far as it goes (the rest reads as zero) and grows to the full layout when next added
 * to.
 */
enum {
    TG_R_REQUESTS,
    TG_R_ERRORS,
    TG_R_PROMPT,
    TG_R_COMPLETION,
    TG_R_CACHED,
    TG_R_ESTIMATED,
    TG_R_FALLBACKS,
    TG_R_COST, /* the original layout ends here */
    TG_R_BASELINE,
    TG_R_LATENCY,
    TG_R_TTFT = TG_R_LATENCY + TG_LAT_BUCKETS,
    TG_R_4XX = TG_R_TTFT + TG_LAT_BUCKETS,
    TG_R_5XX,
    TG_R_LATENCY_SUM,
    TG_R_TTFT_SUM,
    TG_R_LIMITED,
    TG_ROLLUP_FIELDS = TG_R_LIMITED + TG_LIMITED_KINDS,
};
#define TG_ROLLUP_BASE 8 /* the original layout: shorter rows are not rollups */

typedef struct {
    uint32_t version;
    uint32_t flags[2];
    tg_reservation_t res;
} tg_inflight_t;

int64_t tg_meter_day(int64_t ms)
{
    return ms / 86400000;
}

int64_t tg_meter_month(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* ms until the end of the month containing ms */
static int64_t tg_month_left_ms(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon++;
    return (int64_t)timegm(&tm) * 1000 - ms;
}

static size_t tg_lkey(unsigned char *buf, char type, int scope, const char *id, int64_t window)
{
    size_t n = strlen(id);

    buf[0] = (unsigned char)type;
    buf[1] = scope == TG_SCOPE_KEY ? 'k' : 't';
    memcpy(buf + 2, id, n);
    buf[2 + n] = 0;
    tg_store_be64(buf + 3 + n, (uint64_t)window);
    return 11 + n;
}

static int tg_lget(tg_store_t *s, MDB_txn *txn, char type, int scope, const char *id,
                   int64_t window, int64_t *v)
{
    unsigned char kb[96];
    MDB_val k = {tg_lkey(kb, type, scope, id, window), kb}, d;
    int rc = mdb_get(txn, s->dbi[TG_DB_LIMITS], &k, &d);

    *v = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0 && d.mv_size == 8)
        memcpy(v, d.mv_data, 8);
    return rc;
}

static int tg_ladd(tg_store_t *s, MDB_txn *txn, char type, int scope, const char *id,
                   int64_t window, int64_t delta, int floor0)
{
    unsigned char kb[96];
    MDB_val k = {tg_lkey(kb, type, scope, id, window), kb}, d;
    int64_t v;
    int rc = tg_lget(s, txn, type, scope, id, window, &v);

    if (rc != 0)
        return rc;
    if (__builtin_add_overflow(v, delta, &v))
        v = delta > 0 ? INT64_MAX : INT64_MIN; /* saturate: a wrapped counter would be a lie */
    if (floor0 && v < 0)
        v = 0;
    d.mv_size = 8;
    d.mv_data = &v;
    return mdb_put(txn, s->dbi[TG_DB_LIMITS], &k, &d, 0);
}

static void tg_inflight_key(unsigned char kb[12], int pid, uint64_t seq)
{
    kb[0] = (unsigned char)((uint32_t)pid >> 24);
    kb[1] = (unsigned char)((uint32_t)pid >> 16);
    kb[2] = (unsigned char)((uint32_t)pid >> 8);
    kb[3] = (unsigned char)pid;
    tg_store_be64(kb + 4, seq);
}

tg_admit_t tg_meter_admit(tg_store_t *s, const tg_key_t *k, const tg_tenant_t *t, int pid,
                          uint64_t seq, int64_t now_ms, int64_t est_tokens, int64_t est_cost_pico,
                          tg_reservation_t *res, tg_admit_info_t *info)
{
    MDB_txn *txn;
    tg_admit_t a;

    memset(info, 0, sizeof(*info));
    if (mdb_txn_begin(s->meter, NULL, 0, &txn) != 0)
        return TG_ADMIT_ERROR;
    a = tg_meter_admit_txn(s, txn, k, t, pid, seq, now_ms, est_tokens, est_cost_pico, res, info);
    if (a != TG_ADMIT_OK) {
        mdb_txn_abort(txn);
        return a;
    }
    return mdb_txn_commit(txn) == 0 ? TG_ADMIT_OK : TG_ADMIT_ERROR;
}

tg_admit_t tg_meter_admit_txn(tg_store_t *s, MDB_txn *txn, const tg_key_t *k,
                              const tg_tenant_t *t, int pid, uint64_t seq, int64_t now_ms,
                              int64_t est_tokens, int64_t est_cost_pico, tg_reservation_t *res,
                              tg_admit_info_t *info)
{
    const tg_limits_t *lim[2] = {&k->limits, t != NULL ? &t->limits : NULL};
    const char *ids[2] = {k->id, t != NULL ? t->name : ""};
    int64_t minute = now_ms / 60000, day = tg_meter_day(now_ms), month = tg_meter_month(now_ms);
    int64_t minute_left = 60000 - now_ms % 60000;
    tg_inflight_t inf;
    unsigned char kb[12];
    MDB_val key, val;
    tg_admit_t verdict = TG_ADMIT_OK;
    int rc;

    memset(info, 0, sizeof(*info));
    memset(&inf, 0, sizeof(inf));
    for (int sc = 0; sc < 2 && verdict == TG_ADMIT_OK; sc++) {
        const tg_limits_t *l = lim[sc];
        int64_t v;

        if (l == NULL)
            continue;
        if (l->rpm > 0) {
            if ((rc = tg_lget(s, txn, 'r', sc, ids[sc], minute, &v)) != 0)
                goto fail;
            if (sc == TG_SCOPE_KEY || info->req_limit == 0) {
                info->req_limit = l->rpm;
                info->req_remaining = l->rpm - v - 1 > 0 ? l->rpm - v - 1 : 0;
                info->req_reset_ms = minute_left;
            }
            if (v >= l->rpm) {
                verdict = TG_ADMIT_RPM;
                info->retry_after_s = (minute_left + 999) / 1000;
                info->req_remaining = 0;
            }
            inf.flags[sc] |= TG_F_RPM;
        }
        if (verdict == TG_ADMIT_OK && l->tpm > 0) {
            if ((rc = tg_lget(s, txn, 't', sc, ids[sc], minute, &v)) != 0)
                goto fail;
            if (sc == TG_SCOPE_KEY || info->tok_limit == 0) {
                info->tok_limit = l->tpm;
                info->tok_remaining = est_tokens < l->tpm - v ? l->tpm - v - est_tokens : 0;
                info->tok_reset_ms = minute_left;
            }
            if (v >= l->tpm) {
                verdict = TG_ADMIT_TPM;
                info->retry_after_s = (minute_left + 999) / 1000;
                info->tok_remaining = 0;
            }
            inf.flags[sc] |= TG_F_TPM;
        }
        if (verdict == TG_ADMIT_OK && l->concurrency > 0) {
            if ((rc = tg_lget(s, txn, 'c', sc, ids[sc], 0, &v)) != 0)
                goto fail;
            if (v >= l->concurrency) {
                verdict = TG_ADMIT_CONCURRENCY;
                info->retry_after_s = 1;
            }
            inf.flags[sc] |= TG_F_CONC;
        }
        if (verdict == TG_ADMIT_OK && l->daily_budget_micros > 0) {
            if ((rc = tg_lget(s, txn, 'd', sc, ids[sc], day, &v)) != 0)
                goto fail;
            /* compare without adding: the worst case may be saturated at INT64_MAX */
            if (est_cost_pico > l->daily_budget_micros * 1000000 - v) {
                verdict = TG_ADMIT_BUDGET;
                info->retry_after_s = (86400000 - now_ms % 86400000 + 999) / 1000;
                snprintf(info->refused_window, sizeof(info->refused_window), "day");
            }
            inf.flags[sc] |= TG_F_DAY;
        }
        if (verdict == TG_ADMIT_OK && l->monthly_budget_micros > 0) {
            if ((rc = tg_lget(s, txn, 'm', sc, ids[sc], month, &v)) != 0)
                goto fail;
            if (est_cost_pico > l->monthly_budget_micros * 1000000 - v) {
                verdict = TG_ADMIT_BUDGET;
                info->retry_after_s = (tg_month_left_ms(now_ms) + 999) / 1000;
                snprintf(info->refused_window, sizeof(info->refused_window), "month");
            }
            inf.flags[sc] |= TG_F_MONTH;
        }
        if (verdict != TG_ADMIT_OK)
            snprintf(info->refused_scope, sizeof(info->refused_scope), "%s",
                     sc == TG_SCOPE_KEY ? "key" : "tenant");
    }
    if (verdict != TG_ADMIT_OK)
        return verdict; /* nothing written: the transaction is still good for others */
    /* admitted: count it everywhere a limit applies */
    for (int sc = 0; sc < 2; sc++) {
        unsigned f = inf.flags[sc];
        if ((f & TG_F_RPM) && (rc = tg_ladd(s, txn, 'r', sc, ids[sc], minute, 1, 0)) != 0)
            goto fail;
        if ((f & TG_F_TPM) && (rc = tg_ladd(s, txn, 't', sc, ids[sc], minute, est_tokens, 0)))
            goto fail;
        if ((f & TG_F_CONC) && (rc = tg_ladd(s, txn, 'c', sc, ids[sc], 0, 1, 0)) != 0)
            goto fail;
        if ((f & TG_F_DAY) && (rc = tg_ladd(s, txn, 'd', sc, ids[sc], day, est_cost_pico, 0)))
            goto fail;
        if ((f & TG_F_MONTH) &&
            (rc = tg_ladd(s, txn, 'm', sc, ids[sc], month, est_cost_pico, 0)) != 0)
            goto fail;
    }
    inf.version = TG_INFLIGHT_VERSION;
    inf.res.minute = minute;
    inf.res.day = day;
    inf.res.month = month;
    inf.res.tokens = est_tokens;
    inf.res.cost_pico = est_cost_pico;
    inf.res.seq = seq;
    inf.res.pid = pid;
    snprintf(inf.res.key_id, sizeof(inf.res.key_id), "%s", k->id);
    snprintf(inf.res.tenant, sizeof(inf.res.tenant), "%s", t != NULL ? t->name : "");
    tg_inflight_key(kb, pid, seq);
    key.mv_size = sizeof(kb);
    key.mv_data = kb;
    val.mv_size = sizeof(inf);
    val.mv_data = &inf;
    if ((rc = mdb_put(txn, s->dbi[TG_DB_INFLIGHT], &key, &val, 0)) != 0)
        goto fail;
    *res = inf.res;
    return TG_ADMIT_OK;
fail:
    info->store_rc = rc;
    return TG_ADMIT_ERROR; /* the transaction is broken: the caller aborts it */
}

/* Undo (actual = 0) or settle (actual usage) a reservation's window counters. */
static int tg_apply(tg_store_t *s, MDB_txn *txn, const tg_inflight_t *inf, int64_t tokens,
                    int64_t cost_pico)
{
    const char *ids[2] = {inf->res.key_id, inf->res.tenant};
    int rc;

    for (int sc = 0; sc < 2; sc++) {
        unsigned f = inf->flags[sc];
        if ((f & TG_F_CONC) && (rc = tg_ladd(s, txn, 'c', sc, ids[sc], 0, -1, 1)) != 0)
            return rc;
        if ((f & TG_F_TPM) && (rc = tg_ladd(s, txn, 't', sc, ids[sc], inf->res.minute,
                                            tokens - inf->res.tokens, 1)) != 0)
            return rc;
        if ((f & TG_F_DAY) && (rc = tg_ladd(s, txn, 'd', sc, ids[sc], inf->res.day,
                                            cost_pico - inf->res.cost_pico, 1)) != 0)
            return rc;
        if ((f & TG_F_MONTH) && (rc = tg_ladd(s, txn, 'm', sc, ids[sc], inf->res.month,
                                              cost_pico - inf->res.cost_pico, 1)) != 0)
            return rc;
    }
    return 0;
}

static const int64_t tg_bucket_bounds[TG_LAT_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 60000, 120000, 300000,
    INT64_MAX};

int64_t tg_meter_bucket_ms(int i)
{
    return i >= 0 && i < TG_LAT_BUCKETS ? tg_bucket_bounds[i] : INT64_MAX;
}

static int tg_bucket_of(int64_t us)
{
    int i = 0;

    while (i < TG_LAT_BUCKETS - 1 && us > tg_bucket_bounds[i] * 1000)
        i++;
    return i;
}

int64_t tg_meter_quantile_ms(const int64_t *hist, double q)
{
    int64_t total = 0, seen = 0;

    for (int i = 0; i < TG_LAT_BUCKETS; i++)
        total += hist[i];
    if (total <= 0)
        return -1;
    for (int i = 0; i < TG_LAT_BUCKETS; i++) {
        seen += hist[i];
        if ((double)seen >= q * (double)total)
            return tg_bucket_bounds[i];
    }
    return tg_bucket_bounds[TG_LAT_BUCKETS - 1];
}

static size_t tg_dim(unsigned char *buf, size_t off, size_t size, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (off + n + 1 > size)
        n = size > off + 1 ? size - off - 1 : 0;
    memcpy(buf + off, s != NULL ? s : "", n);
    buf[off + n] = 0;
    return off + n + 1;
}

static int tg_rollup_add(tg_store_t *s, MDB_txn *txn, const tg_meter_record_t *r, int64_t minute)
{
    unsigned char kb[512];
    int64_t c[TG_ROLLUP_FIELDS] = {0};
    size_t n = 8;
    MDB_val k, v;
    int rc;

    tg_store_be64(kb, (uint64_t)minute);
    n = tg_dim(kb, n, sizeof(kb), r->tenant);
    n = tg_dim(kb, n, sizeof(kb), r->key_id);
    n = tg_dim(kb, n, sizeof(kb), r->model);
    n = tg_dim(kb, n, sizeof(kb), r->provider);
    n = tg_dim(kb, n, sizeof(kb), r->route);
    n = tg_dim(kb, n, sizeof(kb), r->task);
    if (r->experiment != NULL && *r->experiment != '\0') {
        char ev[300];

        snprintf(ev, sizeof(ev), "%s/%s", r->experiment, r->variant ? r->variant : "");
        n = tg_dim(kb, n, sizeof(kb), ev);
    } else {
        n = tg_dim(kb, n, sizeof(kb), "");
    }
    k.mv_size = n;
    k.mv_data = kb;
    rc = mdb_get(txn, s->dbi[TG_DB_USAGE], &k, &v);
    if (rc == 0)
        memcpy(c, v.mv_data, v.mv_size < sizeof(c) ? v.mv_size : sizeof(c));
    else if (rc != MDB_NOTFOUND)
        return rc;
    c[TG_R_REQUESTS] += 1;
    c[TG_R_ERRORS] += r->status >= 400 ? 1 : 0;
    c[TG_R_PROMPT] += r->usage.prompt;
    c[TG_R_COMPLETION] += r->usage.completion;
    c[TG_R_CACHED] += r->usage.cached;
    c[TG_R_ESTIMATED] += r->usage.reported ? 0 : 1;
    c[TG_R_FALLBACKS] += r->fallback ? 1 : 0;
    c[TG_R_COST] += r->cost_pico;
    c[TG_R_BASELINE] += r->baseline_pico;
    c[TG_R_LATENCY + tg_bucket_of(r->latency_us)]++;
    c[TG_R_LATENCY_SUM] += r->latency_us;
    if (r->status < 400) {
        c[TG_R_TTFT + tg_bucket_of(r->ttft_us)]++;
        c[TG_R_TTFT_SUM] += r->ttft_us;
    }
    c[TG_R_4XX] += r->status >= 400 && r->status < 500 ? 1 : 0;
    c[TG_R_5XX] += r->status >= 500 ? 1 : 0;
    if (r->limited > 0 && r->limited <= TG_LIMITED_KINDS)
        c[TG_R_LIMITED + r->limited - 1]++;
    v.mv_size = sizeof(c);
    v.mv_data = c;
    return mdb_put(txn, s->dbi[TG_DB_USAGE], &k, &v, 0);
}

static void tg_pk_kv_s(msgpack_packer *pk, const char *k, const char *v)
{
    size_t kn = strlen(k), vn = v != NULL ? strlen(v) : 0;

    msgpack_pack_str(pk, kn);
    msgpack_pack_str_body(pk, k, kn);
    msgpack_pack_str(pk, vn);
    msgpack_pack_str_body(pk, v != NULL ? v : "", vn);
}

static void tg_pk_kv_i(msgpack_packer *pk, const char *k, int64_t v)
{
    size_t kn = strlen(k);

    msgpack_pack_str(pk, kn);
    msgpack_pack_str_body(pk, k, kn);
    msgpack_pack_int64(pk, v);
}

static int tg_event_put(tg_store_t *s, MDB_txn *txn, const tg_meter_record_t *r, int64_t now_ms)
{
    unsigned char kb[96];
    size_t idl = strlen(r->request_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct timespec ts;
    MDB_val k, v;
    int rc;

    if (idl > 80)
        idl = 80;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* nanoseconds keep events of the same millisecond apart and in order */
    tg_store_be64(kb, (uint64_t)now_ms * 1000000 + (uint64_t)(ts.tv_nsec % 1000000));
    memcpy(kb + 8, r->request_id, idl);
    k.mv_size = 8 + idl;
    k.mv_data = kb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 24 + (r->shadow_of != NULL) + (r->output != NULL) +
                              (r->extra_attempt != 0));
    tg_pk_kv_i(&pk, "ts_ms", now_ms);
    tg_pk_kv_s(&pk, "request_id", r->request_id);
    tg_pk_kv_s(&pk, "key", r->key_id);
    tg_pk_kv_s(&pk, "tenant", r->tenant);
    tg_pk_kv_s(&pk, "model", r->model);
    tg_pk_kv_s(&pk, "provider", r->provider);
    tg_pk_kv_s(&pk, "route", r->route);
    tg_pk_kv_s(&pk, "task", r->task);
    tg_pk_kv_s(&pk, "experiment", r->experiment);
    tg_pk_kv_s(&pk, "variant", r->variant);
    tg_pk_kv_s(&pk, "complexity", r->complexity);
    tg_pk_kv_i(&pk, "baseline_pico", r->baseline_pico);
    if (r->shadow_of != NULL)
        tg_pk_kv_s(&pk, "shadow_of", r->shadow_of);
    if (r->output != NULL)
        tg_pk_kv_s(&pk, "output", r->output);
    if (r->extra_attempt)
        tg_pk_kv_i(&pk, "extra_attempt", 1); /* so a replay does not take it for a request */
    tg_pk_kv_i(&pk, "status", r->status);
    tg_pk_kv_i(&pk, "attempts", r->attempts);
    tg_pk_kv_i(&pk, "stream", r->stream);
    tg_pk_kv_i(&pk, "prompt_tokens", r->usage.prompt);
    tg_pk_kv_i(&pk, "completion_tokens", r->usage.completion);
    tg_pk_kv_i(&pk, "cached_tokens", r->usage.cached);
    tg_pk_kv_i(&pk, "cache_write_tokens", r->usage.cache_write);
    tg_pk_kv_i(&pk, "estimated", !r->usage.reported);
    tg_pk_kv_i(&pk, "cost_pico", r->cost_pico);
    tg_pk_kv_i(&pk, "latency_us", r->latency_us);
    tg_pk_kv_i(&pk, "ttft_us", r->ttft_us);
    tg_pk_kv_i(&pk, "fallback", r->fallback);
    v.mv_size = sb.size;
    v.mv_data = sb.data;
    rc = mdb_put(txn, s->dbi[TG_DB_EVENTS], &k, &v, 0);
    msgpack_sbuffer_destroy(&sb);
    if (rc == 0) {
        /* request id -> event key, so feedback can find the request it is about */
        MDB_val ik = {idl, (void *)r->request_id};
        rc = mdb_put(txn, s->dbi[TG_DB_REQIDX], &ik, &k, 0);
    }
    return rc;
}

/* Delete an event's index entry (the event is being deleted by cursor). */
static void tg_event_unindex(tg_store_t *s, MDB_txn *txn, const MDB_val *ek)
{
    MDB_val ik;

    if (ek->mv_size <= 8)
        return;
    ik.mv_size = ek->mv_size - 8;
    ik.mv_data = (char *)ek->mv_data + 8;
    mdb_del(txn, s->dbi[TG_DB_REQIDX], &ik, NULL);
}

int tg_meter_settle_txn(tg_store_t *s, MDB_txn *txn, const tg_reservation_t *res,
                        const tg_meter_record_t *rec, int64_t now_ms, int with_event)
{
    unsigned char kb[12];
    MDB_val k, v;
    int rc;

    if (res != NULL) {
        tg_inflight_key(kb, res->pid, res->seq);
        k.mv_size = sizeof(kb);
        k.mv_data = kb;
        rc = mdb_get(txn, s->dbi[TG_DB_INFLIGHT], &k, &v);
        if (rc == 0 && v.mv_size == sizeof(tg_inflight_t)) {
            tg_inflight_t inf;
            memcpy(&inf, v.mv_data, sizeof(inf));
            if ((rc = tg_apply(s, txn, &inf, rec->usage.prompt + rec->usage.completion,
                               rec->cost_pico)) != 0 ||
                (rc = mdb_del(txn, s->dbi[TG_DB_INFLIGHT], &k, NULL)) != 0)
                return rc;
        } else if (rc != MDB_NOTFOUND && rc != 0) {
            return rc;
        }
        /* MDB_NOTFOUND: already released; the usage below is still recorded once */
    }
    if ((rc = tg_rollup_add(s, txn, rec, now_ms / 60000)) != 0)
        return rc;
    return with_event ? tg_event_put(s, txn, rec, now_ms) : 0;
}

int tg_meter_settle(tg_store_t *s, const tg_reservation_t *res, const tg_meter_record_t *rec,
                    int64_t now_ms)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(s->meter, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = tg_meter_settle_txn(s, txn, res, rec, now_ms, 1)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

int tg_meter_release_pid(tg_store_t *s, int pid)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, n = 0;

    if (mdb_txn_begin(s->meter, NULL, 0, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, s->dbi[TG_DB_INFLIGHT], &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tg_inflight_t inf;

        if (v.mv_size != sizeof(inf))
            continue;
        memcpy(&inf, v.mv_data, sizeof(inf));
        if (pid != 0 && inf.res.pid != pid)
            continue;
        /* the request was never answered: refund the whole reservation */
        if (tg_apply(s, txn, &inf, 0, 0) != 0)
            continue;
        mdb_cursor_del(cur, 0);
        n++;
    }
    mdb_cursor_close(cur);
    if (mdb_txn_commit(txn) != 0)
        return -1;
    return n;
}

int tg_meter_fill(tg_store_t *s, size_t *used, size_t *max)
{
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t free_pages = 0;
    int rc;

    if (mdb_env_info(s->meter, &info) != 0 || mdb_env_stat(s->meter, &st) != 0 ||
        mdb_txn_begin(s->meter, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    /* the free list is database 0: each record is a page-number list, its length first */
    if (mdb_cursor_open(txn, 0, &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            if (v.mv_size >= sizeof(size_t))
                free_pages += *(const size_t *)v.mv_data;
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    *max = info.me_mapsize / st.ms_psize;
    *used = info.me_last_pgno + 1 > free_pages ? info.me_last_pgno + 1 - free_pages : 0;
    return 0;
}

/* Delete up to n of the oldest events in one transaction. */
static int tg_make_room_batch(tg_store_t *s, int n)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, done = 0;

    if (mdb_txn_begin(s->meter, NULL, 0, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, s->dbi[TG_DB_EVENTS], &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && done < n;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tg_event_unindex(s, txn, &k);
        if (mdb_cursor_del(cur, 0) != 0)
            break;
        done++;
    }
    mdb_cursor_close(cur);
    if (mdb_txn_commit(txn) != 0)
        return -1;
    return done;
}

/*
 * In batches: each committed batch frees pages the next one can use, where one big transaction
 * in a nearly full map could fail for want of pages to copy and delete nothing at all.
 */
int tg_meter_make_room(tg_store_t *s, int n)
{
    int total = 0, got;

    while (total < n) {
        got = tg_make_room_batch(s, n - total < 1000 ? n - total : 1000);
        if (got <= 0)
            return total > 0 ? total : got;
        total += got;
    }
    return total;
}

int tg_meter_prune(tg_store_t *s, int64_t now_ms, int64_t event_cutoff_ms)
{
    int64_t minute = now_ms / 60000, day = tg_meter_day(now_ms), month = tg_meter_month(now_ms);
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if (mdb_txn_begin(s->meter, NULL, 0, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, s->dbi[TG_DB_EVENTS], &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size < 8 ||
                tg_store_get_be64(k.mv_data) / 1000000 >= (uint64_t)event_cutoff_ms)
                break;
            tg_event_unindex(s, txn, &k);
            mdb_cursor_del(cur, 0);
        }
        mdb_cursor_close(cur);
    }
    if (mdb_cursor_open(txn, s->dbi[TG_DB_LIMITS], &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const unsigned char *kb = k.mv_data;
            int64_t w, keep;
            if (k.mv_size < 11 || kb[0] == 'c')
                continue;
            w = (int64_t)tg_store_get_be64(kb + k.mv_size - 8);
            keep = kb[0] == 'd' ? day - 1 : kb[0] == 'm' ? month - 1 : minute - 2;
            if (w < keep)
                mdb_cursor_del(cur, 0);
        }
        mdb_cursor_close(cur);
    }
    return mdb_txn_commit(txn) == 0 ? 0 : -1;
}

int tg_meter_spent(tg_store_t *s, MDB_txn *txn, int tenant, const char *id, int month,
                   int64_t now_ms, int64_t *pico)
{
    if (strlen(id) >= 80)
        return EINVAL;
    return tg_lget(s, txn, month ? 'm' : 'd', tenant ? TG_SCOPE_TENANT : TG_SCOPE_KEY, id,
                   month ? tg_meter_month(now_ms) : tg_meter_day(now_ms), pico);
}

int tg_meter_limited(int tenant, tg_admit_t verdict)
{
    if (verdict < TG_ADMIT_RPM || verdict > TG_ADMIT_BUDGET)
        return 0;
    return 1 + (tenant ? 4 : 0) + (int)(verdict - TG_ADMIT_RPM);
}

static void tg_sat_add(int64_t *a, int64_t b)
{
    if (__builtin_add_overflow(*a, b, a))
        *a = b > 0 ? INT64_MAX : INT64_MIN;
}

void tg_usage_row_add(tg_usage_row_t *a, const tg_usage_row_t *b)
{
    /* every member after group is an int64_t counter */
    int64_t *d = &a->requests;
    const int64_t *v = &b->requests;
    size_t n = (sizeof(*a) - offsetof(tg_usage_row_t, requests)) / sizeof(int64_t);

    for (size_t i = 0; i < n; i++)
        tg_sat_add(&d[i], v[i]);
}

/* A histogram's sum estimated from bucket midpoints (the open last bucket: its lower bound). */
static int64_t tg_hist_mid_us(const int64_t *h)
{
    int64_t sum = 0, lo = 0;

    for (int i = 0; i < TG_LAT_BUCKETS; i++) {
        int64_t hi = i < TG_LAT_BUCKETS - 1 ? tg_bucket_bounds[i] : lo;
        tg_sat_add(&sum, h[i] * ((lo + hi) * 1000 / 2));
        lo = hi;
    }
    return sum;
}

/* A stored rollup value into row (counters only); 0, or -1 when it is not a rollup. */
static int tg_rollup_decode(const MDB_val *v, tg_usage_row_t *row)
{
    int64_t c[TG_ROLLUP_FIELDS];

    if (v->mv_size < TG_ROLLUP_BASE * sizeof(int64_t))
        return -1;
    memset(c, 0, sizeof(c)); /* an older, shorter row: the rest reads as zero */
    memcpy(c, v->mv_data, v->mv_size < sizeof(c) ? v->mv_size : sizeof(c));
    memset(row, 0, sizeof(*row));
    row->requests = c[TG_R_REQUESTS];
    row->errors = c[TG_R_ERRORS];
    row->prompt = c[TG_R_PROMPT];
    row->completion = c[TG_R_COMPLETION];
    row->cached = c[TG_R_CACHED];
    row->estimated = c[TG_R_ESTIMATED];
    row->fallbacks = c[TG_R_FALLBACKS];
    row->cost_pico = c[TG_R_COST];
    row->baseline_pico = c[TG_R_BASELINE];
    memcpy(row->latency, c + TG_R_LATENCY, sizeof(row->latency));
    memcpy(row->ttft, c + TG_R_TTFT, sizeof(row->ttft));
    row->status_4xx = c[TG_R_4XX];
    row->status_5xx = c[TG_R_5XX];
    if (v->mv_size >= (TG_R_TTFT_SUM + 1) * sizeof(int64_t)) {
        row->latency_sum_us = c[TG_R_LATENCY_SUM];
        row->ttft_sum_us = c[TG_R_TTFT_SUM];
    } else {
        row->latency_sum_us = tg_hist_mid_us(row->latency);
        row->ttft_sum_us = tg_hist_mid_us(row->ttft);
    }
    memcpy(row->limited, c + TG_R_LIMITED, sizeof(row->limited));
    return 0;
}

int64_t tg_meter_rollups(tg_store_t *s, MDB_txn *txn, int64_t from_minute, int64_t to_minute,
                         int (*fn)(void *arg, const char *const *dims, const tg_usage_row_t *row),
                         void *arg)
{
    unsigned char start[8];
    MDB_cursor *cur;
    MDB_val k, v;
    int64_t seen = 0;
    int rc;

    if (mdb_cursor_open(txn, s->dbi[TG_DB_USAGE], &cur) != 0)
        return -1;
    tg_store_be64(start, (uint64_t)(from_minute > 0 ? from_minute : 0));
    k.mv_size = 8;
    k.mv_data = start;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *p = (const char *)k.mv_data + 8, *end = (const char *)k.mv_data + k.mv_size;
        const char *dims[TG_DIMS];
        tg_usage_row_t row;
        int n = 0;

        if (k.mv_size < 8 || (int64_t)tg_store_get_be64(k.mv_data) >= to_minute)
            break;
        /* TG_DIMS NUL-terminated dimensions; anything else is not a rollup of ours */
        while (n < TG_DIMS && p < end) {
            size_t len = strnlen(p, (size_t)(end - p));
            if (p + len >= end)
                break;
            dims[n++] = p;
            p += len + 1;
        }
        if (n < TG_DIMS || tg_rollup_decode(&v, &row) == -1)
            continue;
        seen++;
        if (fn(arg, dims, &row) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? seen : -1;
}

typedef struct {
    int dim;
    tg_usage_row_t *rows;
    size_t n, cap;
} tg_usage_acc_t;

static int tg_usage_acc(void *arg, const char *const *dims, const tg_usage_row_t *r)
{
    tg_usage_acc_t *a = arg;
    const char *g = dims[a->dim];
    tg_usage_row_t *row = NULL;

    for (size_t i = 0; i < a->n && row == NULL; i++)
        if (strncmp(a->rows[i].group, g, sizeof(a->rows[i].group)) == 0)
            row = &a->rows[i];
    if (row == NULL) {
        if (a->n == a->cap) {
            tg_usage_row_t *nr = realloc(a->rows, (a->cap ? a->cap * 2 : 16) * sizeof(*nr));
            if (nr == NULL)
                return 1;
            a->rows = nr;
            a->cap = a->cap ? a->cap * 2 : 16;
        }
        row = &a->rows[a->n++];
        memset(row, 0, sizeof(*row));
        snprintf(row->group, sizeof(row->group), "%s", g);
    }
    tg_usage_row_add(row, r);
    return 0;
}

int tg_meter_usage(tg_store_t *s, const char *by, int64_t since_ms, int64_t until_ms,
                   void (*fn)(void *arg, const tg_usage_row_t *row), void *arg)
{
    static const char *const dims[TG_DIMS] = {"tenant", "key",  "model",  "provider",
                                              "route",  "task", "variant"};
    tg_usage_acc_t a = {-1, NULL, 0, 0};
    MDB_txn *txn;

    for (int i = 0; i < TG_DIMS; i++)
        if (strcmp(by, dims[i]) == 0)
            a.dim = i;
    if (a.dim < 0 || mdb_txn_begin(s->meter, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    /* minutes that begin before until_ms */
    tg_meter_rollups(s, txn, since_ms / 60000, until_ms <= 0 ? 0 : (until_ms + 59999) / 60000,
                     tg_usage_acc, &a);
    mdb_txn_abort(txn);
    for (size_t i = 0; i < a.n; i++)
        fn(arg, &a.rows[i]);
    free(a.rows);
    return 0;
}
