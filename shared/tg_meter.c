/*
 * Limits, budgets and metering (see tg_meter.h). Window counters live in the "limits" database
 * under keys [type, scope, id, 0, be64 window], each an int64: 'r' requests and 't' tokens per
 * minute, 'c' requests in flight, 'd' and 'm' pico-dollars per UTC day and month. Usage rollups
 * are keyed [be64 minute, tenant, key, model, provider, route, task] (NUL-separated) with eight
 * int64 counters; events are keyed [be64 ns, request id] with a msgpack map.
 */
#include "shared/tg_meter.h"
#include "shared/tg_buf.h"

#include <errno.h>
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

/*
 * A batch's write-back cache. Every request of a batch touches the same few window counters
 * (its key's and tenant's) and usually the same usage rollup (same minute, key, model, route):
 * each is read from the map once, updated in memory, and written back once at commit, so a
 * batch of n requests of one key costs one B-tree read and one write per counter instead of 2n.
 * A full cache is not an error: further keys go straight to the map (they are then not cached,
 * so nothing is read stale).
 */
#define TG_LKEY_MAX 96
#define TG_BATCH_COUNTERS 64  /* power of two: open addressing */
#define TG_BATCH_ROLLUPS 16
#define TG_ROLLUP_KEY_MAX 512

typedef struct {
    uint32_t hash; /* 0: free slot */
    unsigned char klen;
    unsigned char dirty;
    unsigned char key[TG_LKEY_MAX];
    int64_t v;
} tg_bcounter_t;

typedef struct {
    uint32_t hash;
    unsigned short klen;
    unsigned char key[TG_ROLLUP_KEY_MAX];
    int64_t c[TG_ROLLUP_FIELDS];
} tg_brollup_t;

/* The greatest key of a database as of this batch, so keys past it can be appended. */
typedef struct {
    int known; /* 0: not read yet in this batch */
    size_t len;
    unsigned char key[128];
} tg_blast_t;

struct tg_mbatch {
    tg_store_t *s;
    MDB_txn *txn;
    int ncounters, nrollups;
    tg_blast_t last_event, last_reqidx;
    tg_bcounter_t counters[TG_BATCH_COUNTERS];
    tg_brollup_t rollups[TG_BATCH_ROLLUPS];
};

/* A multiply-xor hash eight bytes at a time (keys are short); never 0, which marks a free slot */
static uint32_t tg_bhash(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    h ^= h >> 32;
    return (uint32_t)h != 0 ? (uint32_t)h : 1;
}

tg_mbatch_t *tg_mbatch_new(tg_store_t *s)
{
    tg_mbatch_t *b = calloc(1, sizeof(*b));

    if (b != NULL)
        b->s = s;
    return b;
}

void tg_mbatch_free(tg_mbatch_t *b)
{
    if (b != NULL && b->txn != NULL)
        tg_mbatch_abort(b);
    free(b);
}

int tg_mbatch_begin(tg_mbatch_t *b)
{
    int rc = mdb_txn_begin(b->s->meter, NULL, 0, &b->txn);

    if (rc != 0)
        b->txn = NULL;
    if (b->ncounters > 0)
        memset(b->counters, 0, sizeof(b->counters));
    b->ncounters = b->nrollups = 0;
    b->last_event.known = b->last_reqidx.known = 0;
    return rc;
}

MDB_txn *tg_mbatch_txn(const tg_mbatch_t *b)
{
    return b->txn;
}

void tg_mbatch_abort(tg_mbatch_t *b)
{
    if (b->txn != NULL)
        mdb_txn_abort(b->txn);
    b->txn = NULL;
}

int tg_mbatch_commit(tg_mbatch_t *b)
{
    MDB_val k, v;
    int rc = 0;

    if (b->txn == NULL)
        return EINVAL;
    for (int i = 0; i < TG_BATCH_COUNTERS && rc == 0; i++) {
        tg_bcounter_t *c = &b->counters[i];
        if (c->hash == 0 || !c->dirty)
            continue;
        k.mv_size = c->klen;
        k.mv_data = c->key;
        v.mv_size = sizeof(c->v);
        v.mv_data = &c->v;
        rc = mdb_put(b->txn, b->s->dbi[TG_DB_LIMITS], &k, &v, 0);
    }
    for (int i = 0; i < b->nrollups && rc == 0; i++) {
        tg_brollup_t *r = &b->rollups[i];
        k.mv_size = r->klen;
        k.mv_data = r->key;
        v.mv_size = sizeof(r->c);
        v.mv_data = r->c;
        rc = mdb_put(b->txn, b->s->dbi[TG_DB_USAGE], &k, &v, 0);
    }
    if (rc != 0) {
        tg_mbatch_abort(b);
        return rc;
    }
    rc = mdb_txn_commit(b->txn);
    b->txn = NULL;
    return rc;
}

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

static int tg_lget_raw(tg_store_t *s, MDB_txn *txn, const MDB_val *k, int64_t *v)
{
    MDB_val d;
    int rc = mdb_get(txn, s->dbi[TG_DB_LIMITS], (MDB_val *)k, &d);

    *v = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0 && d.mv_size == 8)
        memcpy(v, d.mv_data, 8);
    return rc;
}

static int tg_lget(tg_store_t *s, MDB_txn *txn, char type, int scope, const char *id,
                   int64_t window, int64_t *v)
{
    unsigned char kb[TG_LKEY_MAX];
    MDB_val k = {tg_lkey(kb, type, scope, id, window), kb};

    return tg_lget_raw(s, txn, &k, v);
}

/*
 * The batch's cached counter for a key, read from the map on first use; NULL when the cache is
 * full (the caller then reads and writes the map itself).
 */
static tg_bcounter_t *tg_bcounter(tg_mbatch_t *b, const unsigned char *kb, size_t n, int *rc)
{
    uint32_t h = tg_bhash(kb, n);
    unsigned i = h & (TG_BATCH_COUNTERS - 1);
    tg_bcounter_t *c;

    *rc = 0;
    for (;; i = (i + 1) & (TG_BATCH_COUNTERS - 1)) {
        c = &b->counters[i];
        if (c->hash == 0)
            break;
        if (c->hash == h && c->klen == n && memcmp(c->key, kb, n) == 0)
            return c;
    }
    if (b->ncounters >= TG_BATCH_COUNTERS * 3 / 4)
        return NULL;
    MDB_val k = {n, (void *)kb};
    if ((*rc = tg_lget_raw(b->s, b->txn, &k, &c->v)) != 0)
        return NULL;
    c->hash = h;
    c->klen = (unsigned char)n;
    c->dirty = 0;
    memcpy(c->key, kb, n);
    b->ncounters++;
    return c;
}

/* One window counter as read in a batch: its cache slot, or (cache full) its key and value. */
typedef struct {
    tg_bcounter_t *c;
    size_t n;
    unsigned char kb[TG_LKEY_MAX];
    int64_t v;
} tg_bslot_t;

static int tg_bslot_read(tg_mbatch_t *b, tg_bslot_t *sl, char type, int scope, const char *id,
                         int64_t window)
{
    int rc;

    sl->n = tg_lkey(sl->kb, type, scope, id, window);
    if ((sl->c = tg_bcounter(b, sl->kb, sl->n, &rc)) != NULL) {
        sl->v = sl->c->v;
        return 0;
    }
    if (rc != 0)
        return rc;
    MDB_val k = {sl->n, sl->kb};
    return tg_lget_raw(b->s, b->txn, &k, &sl->v);
}

static int tg_bslot_add(tg_mbatch_t *b, tg_bslot_t *sl, int64_t delta, int floor0)
{
    int64_t *at = sl->c != NULL ? &sl->c->v : &sl->v;

    if (__builtin_add_overflow(*at, delta, at))
        *at = delta > 0 ? INT64_MAX : INT64_MIN; /* saturate: a wrapped counter would be a lie */
    if (floor0 && *at < 0)
        *at = 0;
    if (sl->c != NULL) {
        sl->c->dirty = 1;
        return 0;
    }
    MDB_val k = {sl->n, sl->kb}, d = {8, at};
    return mdb_put(b->txn, b->s->dbi[TG_DB_LIMITS], &k, &d, 0);
}

static int tg_badd(tg_mbatch_t *b, char type, int scope, const char *id, int64_t window,
                   int64_t delta, int floor0)
{
    tg_bslot_t sl;
    int rc = tg_bslot_read(b, &sl, type, scope, id, window);

    return rc != 0 ? rc : tg_bslot_add(b, &sl, delta, floor0);
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
    tg_mbatch_t *b = tg_mbatch_new(s);
    tg_admit_t a;

    memset(info, 0, sizeof(*info));
    if (b == NULL || tg_mbatch_begin(b) != 0) {
        tg_mbatch_free(b);
        return TG_ADMIT_ERROR;
    }
    a = tg_meter_admit_batch(b, k, t, pid, seq, now_ms, est_tokens, est_cost_pico, res, info);
    if (a == TG_ADMIT_OK && (info->store_rc = tg_mbatch_commit(b)) != 0)
        a = TG_ADMIT_ERROR;
    tg_mbatch_free(b);
    return a;
}

tg_admit_t tg_meter_admit_batch(tg_mbatch_t *b, const tg_key_t *k, const tg_tenant_t *t,
                                int pid, uint64_t seq, int64_t now_ms, int64_t est_tokens,
                                int64_t est_cost_pico, tg_reservation_t *res,
                                tg_admit_info_t *info)
{
    const tg_limits_t *lim[2] = {&k->limits, t != NULL ? &t->limits : NULL};
    const char *ids[2] = {k->id, t != NULL ? t->name : ""};
    int64_t minute = now_ms / 60000, day = tg_meter_day(now_ms), month = tg_meter_month(now_ms);
    int64_t minute_left = 60000 - now_ms % 60000;
    tg_inflight_t inf;
    tg_bslot_t sl[2][5]; /* per scope: rpm, tpm, concurrency, day, month */
    unsigned char kb[12];
    MDB_val key, val;
    tg_admit_t verdict = TG_ADMIT_OK;
    int rc;

    memset(info, 0, sizeof(*info));
    memset(&inf, 0, sizeof(inf));
    for (int sc = 0; sc < 2 && verdict == TG_ADMIT_OK; sc++) {
        const tg_limits_t *l = lim[sc];
        int64_t v;
        tg_bslot_t *ss = sl[sc];

        if (l == NULL)
            continue;
        if (l->rpm > 0) {
            if ((rc = tg_bslot_read(b, &ss[0], 'r', sc, ids[sc], minute)) != 0)
                goto fail;
            v = ss[0].v;
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
            if ((rc = tg_bslot_read(b, &ss[1], 't', sc, ids[sc], minute)) != 0)
                goto fail;
            v = ss[1].v;
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
            if ((rc = tg_bslot_read(b, &ss[2], 'c', sc, ids[sc], 0)) != 0)
                goto fail;
            v = ss[2].v;
            if (v >= l->concurrency) {
                verdict = TG_ADMIT_CONCURRENCY;
                info->retry_after_s = 1;
            }
            inf.flags[sc] |= TG_F_CONC;
        }
        if (verdict == TG_ADMIT_OK && l->daily_budget_micros > 0) {
            if ((rc = tg_bslot_read(b, &ss[3], 'd', sc, ids[sc], day)) != 0)
                goto fail;
            v = ss[3].v;
            /* compare without adding: the worst case may be saturated at INT64_MAX */
            if (est_cost_pico > l->daily_budget_micros * 1000000 - v) {
                verdict = TG_ADMIT_BUDGET;
                info->retry_after_s = (86400000 - now_ms % 86400000 + 999) / 1000;
                snprintf(info->refused_window, sizeof(info->refused_window), "day");
            }
            inf.flags[sc] |= TG_F_DAY;
        }
        if (verdict == TG_ADMIT_OK && l->monthly_budget_micros > 0) {
            if ((rc = tg_bslot_read(b, &ss[4], 'm', sc, ids[sc], month)) != 0)
                goto fail;
            v = ss[4].v;
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
        if ((f & TG_F_RPM) && (rc = tg_bslot_add(b, &sl[sc][0], 1, 0)) != 0)
            goto fail;
        if ((f & TG_F_TPM) && (rc = tg_bslot_add(b, &sl[sc][1], est_tokens, 0)) != 0)
            goto fail;
        if ((f & TG_F_CONC) && (rc = tg_bslot_add(b, &sl[sc][2], 1, 0)) != 0)
            goto fail;
        if ((f & TG_F_DAY) && (rc = tg_bslot_add(b, &sl[sc][3], est_cost_pico, 0)) != 0)
            goto fail;
        if ((f & TG_F_MONTH) && (rc = tg_bslot_add(b, &sl[sc][4], est_cost_pico, 0)) != 0)
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
    tg_strlcpy(inf.res.key_id, k->id, sizeof(inf.res.key_id));
    tg_strlcpy(inf.res.tenant, t != NULL ? t->name : "", sizeof(inf.res.tenant));
    tg_inflight_key(kb, pid, seq);
    key.mv_size = sizeof(kb);
    key.mv_data = kb;
    val.mv_size = sizeof(inf);
    val.mv_data = &inf;
    if ((rc = mdb_put(b->txn, b->s->dbi[TG_DB_INFLIGHT], &key, &val, 0)) != 0)
        goto fail;
    *res = inf.res;
    return TG_ADMIT_OK;
fail:
    info->store_rc = rc;
    return TG_ADMIT_ERROR; /* the transaction is broken: the caller aborts it */
}

/* Undo (actual = 0) or settle (actual usage) a reservation's window counters. */
static int tg_apply(tg_mbatch_t *b, const tg_inflight_t *inf, int64_t tokens, int64_t cost_pico)
{
    const char *ids[2] = {inf->res.key_id, inf->res.tenant};
    int rc;

    for (int sc = 0; sc < 2; sc++) {
        unsigned f = inf->flags[sc];
        if ((f & TG_F_CONC) && (rc = tg_badd(b, 'c', sc, ids[sc], 0, -1, 1)) != 0)
            return rc;
        if ((f & TG_F_TPM) && (rc = tg_badd(b, 't', sc, ids[sc], inf->res.minute,
                                            tokens - inf->res.tokens, 1)) != 0)
            return rc;
        if ((f & TG_F_DAY) && (rc = tg_badd(b, 'd', sc, ids[sc], inf->res.day,
                                            cost_pico - inf->res.cost_pico, 1)) != 0)
            return rc;
        if ((f & TG_F_MONTH) && (rc = tg_badd(b, 'm', sc, ids[sc], inf->res.month,
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

/* The rollup row for a key, from the batch's cache (loaded on first use) or, when the cache is
   full, from the map into *spill; NULL on an LMDB error (*rc). */
static int64_t *tg_rollup_row(tg_mbatch_t *b, const unsigned char *kb, size_t n,
                              int64_t *spill, int *cached, int *rc)
{
    uint32_t h = tg_bhash(kb, n);
    int64_t *c = spill;
    MDB_val k = {n, (void *)kb}, v;

    *cached = 0;
    for (int i = 0; i < b->nrollups; i++) {
        tg_brollup_t *r = &b->rollups[i];
        if (r->hash == h && r->klen == n && memcmp(r->key, kb, n) == 0) {
            *cached = 1;
            return r->c;
        }
    }
    if (b->nrollups < TG_BATCH_ROLLUPS) {
        tg_brollup_t *r = &b->rollups[b->nrollups];
        r->hash = h;
        r->klen = (unsigned short)n;
        memcpy(r->key, kb, n);
        c = r->c;
        *cached = 1;
    }
    memset(c, 0, sizeof(int64_t) * TG_ROLLUP_FIELDS);
    *rc = mdb_get(b->txn, b->s->dbi[TG_DB_USAGE], &k, &v);
    if (*rc == 0)
        memcpy(c, v.mv_data, v.mv_size < sizeof(int64_t) * TG_ROLLUP_FIELDS
                                 ? v.mv_size : sizeof(int64_t) * TG_ROLLUP_FIELDS);
    else if (*rc != MDB_NOTFOUND)
        return NULL;
    *rc = 0;
    if (*cached)
        b->nrollups++;
    return c;
}

static int tg_rollup_add(tg_mbatch_t *b, const tg_meter_record_t *r, int64_t minute)
{
    unsigned char kb[TG_ROLLUP_KEY_MAX];
    int64_t spill[TG_ROLLUP_FIELDS], *c;
    size_t n = 8;
    MDB_val k, v;
    int rc, cached;

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
    if ((c = tg_rollup_row(b, kb, n, spill, &cached, &rc)) == NULL)
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
    if (cached)
        return 0; /* written back at commit */
    k.mv_size = n;
    k.mv_data = kb;
    v.mv_size = sizeof(spill);
    v.mv_data = spill;
    return mdb_put(b->txn, b->s->dbi[TG_DB_USAGE], &k, &v, 0);
}

/*
 * Put a key that is usually past every other key of the database (event keys lead with the
 * time, and so do the gateway's request ids) with MDB_APPEND: no search, and a full page is
 * split at its end rather than in half, so such databases fill their pages instead of leaving
 * them half empty. Other keys (a clock step back, a caller's own request id) take a normal put.
 */
static int tg_put_ordered(tg_mbatch_t *b, MDB_dbi dbi, tg_blast_t *last, MDB_val *k, MDB_val *v)
{
    unsigned flags = 0;
    int rc;

    if (!last->known) {
        MDB_cursor *cur;
        MDB_val lk, lv;

        if ((rc = mdb_cursor_open(b->txn, dbi, &cur)) != 0)
            return rc;
        rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
        last->len = rc == 0 && lk.mv_size <= sizeof(last->key) ? lk.mv_size : 0;
        if (last->len > 0)
            memcpy(last->key, lk.mv_data, last->len);
        last->known = rc == 0 || rc == MDB_NOTFOUND ? 1 : -1; /* -1: no appends */
        mdb_cursor_close(cur);
    }
    if (last->known == 1 && k->mv_size <= sizeof(last->key)) {
        size_t n = k->mv_size < last->len ? k->mv_size : last->len;
        int c = memcmp(k->mv_data, last->key, n);
        if (c > 0 || (c == 0 && k->mv_size > last->len))
            flags = MDB_APPEND;
    }
    if ((rc = mdb_put(b->txn, dbi, k, v, flags)) == 0 && flags == MDB_APPEND) {
        memcpy(last->key, k->mv_data, k->mv_size);
        last->len = k->mv_size;
    }
    return rc;
}

/*
 * A request event's msgpack, written straight into a caller's buffer (msgpack-c's packer makes
 * a callback per header and per body, three per field; this is a few stores per field). The
 * buffer moves to the heap if an event ever outgrows it (a shadow's answer text). Numbers use
 * the smallest encoding, as msgpack-c's packer does; any msgpack reader decodes them.
 */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int heap, failed;
} tg_mp_t;

static unsigned char *tg_mp_room(tg_mp_t *w, size_t need)
{
    if (w->n + need > w->cap) {
        size_t cap = (w->n + need) * 2;
        unsigned char *p = w->failed ? NULL : w->heap ? realloc(w->p, cap) : malloc(cap);
        if (p == NULL) {
            w->failed = 1;
            return NULL;
        }
        if (!w->heap)
            memcpy(p, w->p, w->n);
        w->p = p;
        w->cap = cap;
        w->heap = 1;
    }
    return w->p + w->n;
}

static void tg_mp_be(unsigned char *at, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        at[i] = (unsigned char)v;
}

static void tg_mp_str(tg_mp_t *w, const char *s, size_t n)
{
    unsigned char *at = tg_mp_room(w, n + 5);
    size_t h;

    if (at == NULL)
        return;
    if (n < 32) {
        at[0] = (unsigned char)(0xa0 | n);
        h = 1;
    } else if (n < 256) {
        at[0] = 0xd9;
        at[1] = (unsigned char)n;
        h = 2;
    } else if (n < 65536) {
        at[0] = 0xda;
        tg_mp_be(at + 1, n, 2);
        h = 3;
    } else {
        at[0] = 0xdb;
        tg_mp_be(at + 1, n, 4);
        h = 5;
    }
    memcpy(at + h, s, n);
    w->n += h + n;
}

static void tg_mp_int(tg_mp_t *w, int64_t v)
{
    unsigned char *at = tg_mp_room(w, 9);

    if (at == NULL)
        return;
    if (v >= 0 && v < 128) {
        at[0] = (unsigned char)v;
        w->n += 1;
    } else if (v >= -32 && v < 0) {
        at[0] = (unsigned char)(0xe0 | (v + 32));
        w->n += 1;
    } else if (v >= 0) {
        int bytes = v < 256 ? 1 : v < 65536 ? 2 : v <= 0xffffffffLL ? 4 : 8;
        at[0] = bytes == 1 ? 0xcc : bytes == 2 ? 0xcd : bytes == 4 ? 0xce : 0xcf;
        tg_mp_be(at + 1, (uint64_t)v, bytes);
        w->n += 1 + (size_t)bytes;
    } else {
        int bytes = v >= -128 ? 1 : v >= -32768 ? 2 : v >= INT32_MIN ? 4 : 8;
        at[0] = bytes == 1 ? 0xd0 : bytes == 2 ? 0xd1 : bytes == 4 ? 0xd2 : 0xd3;
        tg_mp_be(at + 1, (uint64_t)v, bytes);
        w->n += 1 + (size_t)bytes;
    }
}

static void tg_mp_kv_s(tg_mp_t *w, const char *k, size_t kn, const char *v)
{
    tg_mp_str(w, k, kn);
    tg_mp_str(w, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
}

static void tg_mp_kv_i(tg_mp_t *w, const char *k, size_t kn, int64_t v)
{
    tg_mp_str(w, k, kn);
    tg_mp_int(w, v);
}

#define TG_KV_S(w, k, v) tg_mp_kv_s(w, k, sizeof(k) - 1, v)
#define TG_KV_I(w, k, v) tg_mp_kv_i(w, k, sizeof(k) - 1, v)

static int tg_event_put(tg_mbatch_t *b, const tg_meter_record_t *r, int64_t now_ms)
{
    unsigned char kb[96];
    unsigned char stack[2048];
    size_t idl = strlen(r->request_id);
    tg_mp_t w = {stack, 0, sizeof(stack), 0, 0};
    unsigned fields = 24 + (r->shadow_of != NULL) + (r->output != NULL) + (r->extra_attempt != 0);
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
    stack[0] = 0xde; /* map 16: the field count is over 15 */
    tg_mp_be(stack + 1, fields, 2);
    w.n = 3;
    TG_KV_I(&w, "ts_ms", now_ms);
    TG_KV_S(&w, "request_id", r->request_id);
    TG_KV_S(&w, "key", r->key_id);
    TG_KV_S(&w, "tenant", r->tenant);
    TG_KV_S(&w, "model", r->model);
    TG_KV_S(&w, "provider", r->provider);
    TG_KV_S(&w, "route", r->route);
    TG_KV_S(&w, "task", r->task);
    TG_KV_S(&w, "experiment", r->experiment);
    TG_KV_S(&w, "variant", r->variant);
    TG_KV_S(&w, "complexity", r->complexity);
    TG_KV_I(&w, "baseline_pico", r->baseline_pico);
    if (r->shadow_of != NULL)
        TG_KV_S(&w, "shadow_of", r->shadow_of);
    if (r->output != NULL)
        TG_KV_S(&w, "output", r->output);
    if (r->extra_attempt)
        TG_KV_I(&w, "extra_attempt", 1); /* so a replay does not take it for a request */
    TG_KV_I(&w, "status", r->status);
    TG_KV_I(&w, "attempts", r->attempts);
    TG_KV_I(&w, "stream", r->stream);
    TG_KV_I(&w, "prompt_tokens", r->usage.prompt);
    TG_KV_I(&w, "completion_tokens", r->usage.completion);
    TG_KV_I(&w, "cached_tokens", r->usage.cached);
    TG_KV_I(&w, "cache_write_tokens", r->usage.cache_write);
    TG_KV_I(&w, "estimated", !r->usage.reported);
    TG_KV_I(&w, "cost_pico", r->cost_pico);
    TG_KV_I(&w, "latency_us", r->latency_us);
    TG_KV_I(&w, "ttft_us", r->ttft_us);
    TG_KV_I(&w, "fallback", r->fallback);
    v.mv_size = w.n;
    v.mv_data = w.p;
    rc = w.failed ? ENOMEM : tg_put_ordered(b, b->s->dbi[TG_DB_EVENTS], &b->last_event, &k, &v);
    if (w.heap)
        free(w.p);
    if (rc == 0) {
        /* request id -> event key, so feedback can find the request it is about */
        MDB_val ik = {idl, (void *)r->request_id};
        rc = tg_put_ordered(b, b->s->dbi[TG_DB_REQIDX], &b->last_reqidx, &ik, &k);
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

int tg_meter_settle_batch(tg_mbatch_t *b, const tg_reservation_t *res,
                          const tg_meter_record_t *rec, int64_t now_ms, int with_event)
{
    unsigned char kb[12];
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if (res != NULL) {
        tg_inflight_key(kb, res->pid, res->seq);
        k.mv_size = sizeof(kb);
        k.mv_data = kb;
        /* one descent finds the record and deletes it */
        if ((rc = mdb_cursor_open(b->txn, b->s->dbi[TG_DB_INFLIGHT], &cur)) != 0)
            return rc;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        if (rc == 0 && v.mv_size == sizeof(tg_inflight_t)) {
            tg_inflight_t inf;
            memcpy(&inf, v.mv_data, sizeof(inf));
            if ((rc = mdb_cursor_del(cur, 0)) == 0)
                rc = tg_apply(b, &inf, rec->usage.prompt + rec->usage.completion,
                              rec->cost_pico);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0; /* already released; the usage below is still recorded once */
        }
        mdb_cursor_close(cur);
        if (rc != 0)
            return rc;
    }
    if ((rc = tg_rollup_add(b, rec, now_ms / 60000)) != 0)
        return rc;
    return with_event ? tg_event_put(b, rec, now_ms) : 0;
}

int tg_meter_settle(tg_store_t *s, const tg_reservation_t *res, const tg_meter_record_t *rec,
                    int64_t now_ms)
{
    tg_mbatch_t *b = tg_mbatch_new(s);
    int rc;

    if (b == NULL)
        return ENOMEM;
    if ((rc = tg_mbatch_begin(b)) == 0) {
        if ((rc = tg_meter_settle_batch(b, res, rec, now_ms, 1)) == 0)
            rc = tg_mbatch_commit(b);
    }
    tg_mbatch_free(b);
    return rc;
}

int tg_meter_release_pid(tg_store_t *s, int pid)
{
    tg_mbatch_t *b = tg_mbatch_new(s);
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, n = 0;

    if (b == NULL || tg_mbatch_begin(b) != 0) {
        tg_mbatch_free(b);
        return -1;
    }
    if (mdb_cursor_open(b->txn, s->dbi[TG_DB_INFLIGHT], &cur) != 0) {
        tg_mbatch_free(b);
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
        if (tg_apply(b, &inf, 0, 0) != 0)
            continue;
        mdb_cursor_del(cur, 0);
        n++;
    }
    mdb_cursor_close(cur);
    rc = tg_mbatch_commit(b);
    tg_mbatch_free(b);
    return rc == 0 ? n : -1;
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
