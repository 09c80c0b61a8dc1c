/*
 * /metrics (see metrics.h). Usage counters come from the per-minute rollups every worker writes
 * to the shared store. A rollup stops changing once its minute is over (settlements stamp the
 * minute they commit in), so the rollups of minutes before the previous one are summed once
 * into per-series totals kept here; each scrape then reads only what is newer. Counters so never
 * go down while the master runs, and a scrape costs the rows of the last two minutes plus the
 * minutes since the previous scrape, not the store's whole history (docs/analytics.md).
 */
#include "master/metrics.h"
#include "master/master.h"
#include "shared/tg_health.h"
#include "shared/tg_keys.h"
#include "shared/tg_meter.h"
#include "shared/tg_prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One series of the usage families: a model, provider and route. */
typedef struct {
    char *labels; /* "model\0provider\0route\0", which the three below point into */
    const char *model, *provider, *route;
    uint64_t hash;
    tg_usage_row_t closed; /* the rollups of minutes before tg_mc.closed_until: final */
    tg_usage_row_t open;   /* the minutes since: read again at every scrape */
} tg_mseries_t;

static struct {
    tg_mseries_t *v;
    size_t n, cap;
    uint32_t *slots;      /* open addressing over v: index + 1, 0 empty */
    size_t nslots;        /* a power of two, more than twice n */
    int64_t closed_until; /* minute */
} tg_mc;

void tg_metrics_reset(void)
{
    for (size_t i = 0; i < tg_mc.n; i++)
        free(tg_mc.v[i].labels);
    free(tg_mc.v);
    free(tg_mc.slots);
    memset(&tg_mc, 0, sizeof(tg_mc));
}

/* FNV-1a over s and a separator. */
static uint64_t tg_fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static int tg_mc_rehash(size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t k = 0; k < tg_mc.n; k++) {
        size_t i = tg_mc.v[k].hash & (nslots - 1);
        while (slots[i] != 0)
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    free(tg_mc.slots);
    tg_mc.slots = slots;
    tg_mc.nslots = nslots;
    return 0;
}

/* The series of (model, provider, route), made when new; NULL when out of memory. */
static tg_mseries_t *tg_mc_series(const char *model, const char *provider, const char *route)
{
    uint64_t h = tg_fnv(tg_fnv(tg_fnv(14695981039346656037ULL, model), provider), route);
    size_t i, lm = strlen(model) + 1, lp = strlen(provider) + 1, lr = strlen(route) + 1;
    tg_mseries_t *m;

    if ((tg_mc.n + 1) * 2 >= tg_mc.nslots && tg_mc_rehash(tg_mc.nslots ? tg_mc.nslots * 2 : 64))
        return NULL;
    for (i = h & (tg_mc.nslots - 1); tg_mc.slots[i] != 0; i = (i + 1) & (tg_mc.nslots - 1)) {
        m = &tg_mc.v[tg_mc.slots[i] - 1];
        if (m->hash == h && strcmp(m->model, model) == 0 && strcmp(m->provider, provider) == 0 &&
            strcmp(m->route, route) == 0)
            return m;
    }
    if (tg_mc.n == tg_mc.cap) {
        size_t cap = tg_mc.cap ? tg_mc.cap * 2 : 32;
        tg_mseries_t *v = realloc(tg_mc.v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        tg_mc.v = v;
        tg_mc.cap = cap;
    }
    m = &tg_mc.v[tg_mc.n];
    memset(m, 0, sizeof(*m));
    if ((m->labels = malloc(lm + lp + lr)) == NULL)
        return NULL;
    m->model = memcpy(m->labels, model, lm);
    m->provider = memcpy(m->labels + lm, provider, lp);
    m->route = memcpy(m->labels + lm + lp, route, lr);
    m->hash = h;
    tg_mc.slots[i] = (uint32_t)++tg_mc.n;
    return m;
}

typedef struct {
    int open; /* add into the series' open sums, else the closed ones */
    int oom;
} tg_walk_t;

static int tg_mc_add(void *arg, const char *const *dims, const tg_usage_row_t *row)
{
    tg_walk_t *w = arg;
    tg_mseries_t *m = tg_mc_series(dims[TG_DIM_MODEL], dims[TG_DIM_PROVIDER], dims[TG_DIM_ROUTE]);

    if (m == NULL) {
        w->oom = 1;
        return 1;
    }
    tg_usage_row_add(w->open ? &m->open : &m->closed, row);
    return 0;
}

/*
 * Bring the sums up to date in txn: fold the minutes that have become final into the closed
 * sums, then read the rest into the open ones. Returns the rollups read, or -1 (the kept sums
 * are dropped when folding failed half way, so nothing is ever counted twice).
 */
static int64_t tg_mc_update(tg_store_t *s, MDB_txn *txn, int64_t now_ms)
{
    int64_t final = now_ms / 60000 - 1, n, m;
    tg_walk_t w = {0, 0};

    n = 0;
    if (final > tg_mc.closed_until) {
        n = tg_meter_rollups(s, txn, tg_mc.closed_until, final, tg_mc_add, &w);
        if (n < 0 || w.oom) {
            tg_metrics_reset();
            return -1;
        }
        tg_mc.closed_until = final;
    }
    for (size_t i = 0; i < tg_mc.n; i++)
        memset(&tg_mc.v[i].open, 0, sizeof(tg_mc.v[i].open));
    w.open = 1;
    m = tg_meter_rollups(s, txn, tg_mc.closed_until, INT64_MAX, tg_mc_add, &w);
    return m < 0 || w.oom ? -1 : n + m;
}

/* ---- the usage families ------------------------------------------------------------------ */

static const char *const tg_classes[] = {"2xx", "4xx", "5xx", "other"};
static const char *const tg_token_types[] = {"prompt", "completion", "cached"};

static int64_t tg_v_requests(const tg_usage_row_t *r, int i)
{
    int64_t other = r->errors - r->status_4xx - r->status_5xx;

    /* "other": errors of rollups written before the classes were counted */
    return i == 0      ? r->requests - r->errors
           : i == 1    ? r->status_4xx
           : i == 2    ? r->status_5xx
           : other > 0 ? other
                       : -1;
}

static int64_t tg_v_errors(const tg_usage_row_t *r, int i)
{
    return r->errors;
}

static int64_t tg_v_tokens(const tg_usage_row_t *r, int i)
{
    return i == 0 ? r->prompt : i == 1 ? r->completion : r->cached;
}

static int64_t tg_v_cost(const tg_usage_row_t *r, int i)
{
    return r->cost_pico;
}

static int64_t tg_v_baseline(const tg_usage_row_t *r, int i)
{
    return r->baseline_pico;
}

static int64_t tg_v_fallbacks(const tg_usage_row_t *r, int i)
{
    return r->fallbacks;
}

static int64_t tg_v_estimated(const tg_usage_row_t *r, int i)
{
    return r->estimated;
}

/* A counter family with one sample per series (and per value of an extra label). */
static const struct {
    const char *name, *help;
    const char *extra;         /* an extra label, or NULL */
    const char *const *values; /* its values */
    int nvalues;
    int digits; /* fixed-point digits of the number (12: pico -> USD) */
    int64_t (*get)(const tg_usage_row_t *r, int i); /* < 0: no sample */
} tg_ufamilies[] = {
    {"tollgate_requests_total",
     "Requests metered (answered, failed or refused), by HTTP status "
     "class",
     "status_class", tg_classes, 4, 0, tg_v_requests},
    {"tollgate_request_errors_total", "Requests answered with an HTTP status of 400 or more", NULL,
     NULL, 1, 0, tg_v_errors},
    {"tollgate_tokens_total", "Tokens by type (cached prompt tokens are also prompt tokens)",
     "type", tg_token_types, 3, 0, tg_v_tokens},
    {"tollgate_cost_usd_total",
     "Cost at the models' prices, in USD (exact: summed in "
     "pico-dollars)",
     NULL, NULL, 1, 12, tg_v_cost},
    {"tollgate_baseline_cost_usd_total",
     "What the same tokens would have cost on the baseline "
     "model, in USD",
     NULL, NULL, 1, 12, tg_v_baseline},
    {"tollgate_fallbacks_total", "Requests that needed more than one attempt", NULL, NULL, 1, 0,
     tg_v_fallbacks},
    {"tollgate_usage_estimated_total",
     "Requests whose tokens were estimated because the "
     "provider reported none",
     NULL, NULL, 1, 0, tg_v_estimated},
};

static int tg_series_cmp(const void *a, const void *b)
{
    const tg_mseries_t *x = *(tg_mseries_t *const *)a, *y = *(tg_mseries_t *const *)b;
    int c = strcmp(x->model, y->model);

    if (c == 0)
        c = strcmp(x->provider, y->provider);
    return c != 0 ? c : strcmp(x->route, y->route);
}

static void tg_metrics_usage(tg_prom_t *p)
{
    static const char *const fams[2][2] = {
        {"tollgate_request_duration_seconds",
         "Whole-request latency, every metered request (refusals included)"},
        {"tollgate_time_to_first_byte_seconds",
         "Time to the first byte of the answer, answered requests (status below 400) only"}};
    char le[TG_LAT_BUCKETS][24], num[48];
    const char *lep[TG_LAT_BUCKETS];
    tg_mseries_t **order = calloc(tg_mc.n + 1, sizeof(*order));
    tg_usage_row_t *tot = calloc(tg_mc.n + 1, sizeof(*tot));
    tg_usage_row_t all;

    if (order == NULL || tot == NULL) {
        p->failed = 1;
        goto done;
    }
    for (size_t i = 0; i < tg_mc.n; i++)
        order[i] = &tg_mc.v[i];
    qsort(order, tg_mc.n, sizeof(*order), tg_series_cmp);
    memset(&all, 0, sizeof(all));
    for (size_t i = 0; i < tg_mc.n; i++) {
        tot[i] = order[i]->closed;
        tg_usage_row_add(&tot[i], &order[i]->open);
        tg_usage_row_add(&all, &tot[i]);
    }
    for (size_t f = 0; f < sizeof(tg_ufamilies) / sizeof(tg_ufamilies[0]); f++) {
        tg_prom_family(p, tg_ufamilies[f].name, "counter", tg_ufamilies[f].help);
        for (size_t i = 0; i < tg_mc.n; i++) {
            for (int v = 0; v < tg_ufamilies[f].nvalues; v++) {
                tg_prom_label_t l[4] = {{"model", order[i]->model},
                                        {"provider", order[i]->provider},
                                        {"route", order[i]->route},
                                        {tg_ufamilies[f].extra, NULL}};
                int64_t x = tg_ufamilies[f].get(&tot[i], v);
                if (x < 0)
                    continue;
                l[3].value = tg_ufamilies[f].extra ? tg_ufamilies[f].values[v] : NULL;
                tg_prom_fixed(x, tg_ufamilies[f].digits, num, sizeof(num));
                tg_prom_sample(p, "", l, tg_ufamilies[f].extra ? 4 : 3, num);
            }
        }
    }
    for (int i = 0; i < TG_LAT_BUCKETS; i++) {
        if (i < TG_LAT_BUCKETS - 1)
            tg_prom_fixed(tg_meter_bucket_ms(i), 3, le[i], sizeof(le[i]));
        else
            snprintf(le[i], sizeof(le[i]), "+Inf");
        lep[i] = le[i];
    }
    for (int h = 0; h < 2; h++) {
        tg_prom_family(p, fams[h][0], "histogram", fams[h][1]);
        for (size_t i = 0; i < tg_mc.n; i++) {
            tg_prom_label_t l[3] = {{"model", order[i]->model},
                                    {"provider", order[i]->provider},
                                    {"route", order[i]->route}};
            tg_prom_fixed(h ? tot[i].ttft_sum_us : tot[i].latency_sum_us, 6, num, sizeof(num));
            tg_prom_histogram(p, l, 3, h ? tot[i].ttft : tot[i].latency, lep, TG_LAT_BUCKETS, num);
        }
    }
    tg_prom_family(p, "tollgate_rate_limited_total", "counter",
                   "Requests the gateway refused with 429 under its own limits, by the scope and "
                   "limit that refused them");
    for (int k = 0; k < TG_LIMITED_KINDS; k++) {
        static const char *const limits[4] = {"rpm", "tpm", "concurrency", "budget"};
        tg_prom_label_t l[2] = {{"scope", k < 4 ? "key" : "tenant"}, {"limit", limits[k % 4]}};
        tg_prom_sample_i(p, l, 2, all.limited[k]);
    }
done:
    free(order);
    free(tot);
}

/* ---- circuit breakers and budgets ------------------------------------------------------- */

static int tg_metrics_breakers(tg_prom_t *p, tg_store_t *s, MDB_txn *txn, const tg_config_t *cf)
{
    tg_health_t *h = calloc(cf->nmodels + 1, sizeof(*h));

    if (h == NULL)
        return -1;
    for (size_t i = 0; i < cf->nmodels; i++)
        if (tg_health_get(s, txn, cf->models[i].name, &h[i]) != 0) {
            free(h);
            return -1;
        }
    tg_prom_family(p, "tollgate_breaker_state", "gauge",
                   "Circuit breaker of each configured model: 0 closed, 1 open, 2 half-open");
    for (size_t i = 0; i < cf->nmodels; i++) {
        tg_prom_label_t l[1] = {{"model", cf->models[i].name}};
        tg_prom_sample_i(p, l, 1, h[i].state);
    }
    tg_prom_family(p, "tollgate_breaker_opens_total", "counter",
                   "How often each configured model's circuit breaker has opened");
    for (size_t i = 0; i < cf->nmodels; i++) {
        tg_prom_label_t l[1] = {{"model", cf->models[i].name}};
        tg_prom_sample_i(p, l, 1, (int64_t)h[i].opens);
    }
    free(h);
    return 0;
}

typedef struct {
    int tenant, month;
    char id[TG_NAME_MAX];
    int64_t budget_micros, spent_pico;
} tg_budget_t;

typedef struct {
    tg_budget_t *v;
    size_t n, cap;
} tg_budgets_t;

static int tg_budget_push(tg_budgets_t *b, int tenant, const char *id, const tg_limits_t *l)
{
    for (int month = 0; month < 2; month++) {
        int64_t micros = month ? l->monthly_budget_micros : l->daily_budget_micros;
        if (micros <= 0)
            continue;
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 16;
            tg_budget_t *v = realloc(b->v, cap * sizeof(*v));
            if (v == NULL)
                return -1;
            b->v = v;
            b->cap = cap;
        }
        b->v[b->n].tenant = tenant;
        b->v[b->n].month = month;
        snprintf(b->v[b->n].id, sizeof(b->v[b->n].id), "%s", id);
        b->v[b->n].budget_micros = micros;
        b->v[b->n++].spent_pico = 0;
    }
    return 0;
}

/* Every active key's and every tenant's budgets, from one read of the control environment. */
static int tg_budgets_read(tg_store_t *s, int64_t now_ms, tg_budgets_t *b)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = 0;

    if (mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    for (int db = 0; db < 2 && rc == 0; db++) {
        if (mdb_cursor_open(txn, s->dbi[db ? TG_DB_TENANTS : TG_DB_KEYS], &cur) != 0) {
            rc = -1;
            break;
        }
        for (int c = mdb_cursor_get(cur, &k, &v, MDB_FIRST); c == 0 && rc == 0;
             c = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            tg_key_t key;
            tg_tenant_t t;
            if (db == 0 && tg_key_decode(v.mv_data, v.mv_size, &key) == 0 &&
                key.status == TG_KEY_ACTIVE && (key.expires == 0 || key.expires * 1000 > now_ms))
                rc = tg_budget_push(b, 0, key.id, &key.limits);
            else if (db == 1 && tg_tenant_decode(v.mv_data, v.mv_size, &t) == 0)
                rc = tg_budget_push(b, 1, t.name, &t.limits);
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return rc;
}

static int tg_metrics_budgets(tg_prom_t *p, tg_store_t *s, MDB_txn *txn, int64_t now_ms)
{
    tg_budgets_t b = {NULL, 0, 0};
    char num[48];

    if (tg_budgets_read(s, now_ms, &b) == -1) {
        free(b.v);
        return -1;
    }
    for (size_t i = 0; i < b.n; i++)
        if (tg_meter_spent(s, txn, b.v[i].tenant, b.v[i].id, b.v[i].month, now_ms,
                           &b.v[i].spent_pico) != 0) {
            free(b.v);
            return -1;
        }
    for (int f = 0; f < 2; f++) {
        tg_prom_family(p, f ? "tollgate_budget_remaining_usd" : "tollgate_budget_usd", "gauge",
                       f ? "What is left of each budget in its current UTC day or month (spent "
                           "and still reserved taken off), in USD"
                         : "The daily and monthly budgets of active keys and of tenants, in USD");
        for (size_t i = 0; i < b.n; i++) {
            tg_prom_label_t l[3] = {{"scope", b.v[i].tenant ? "tenant" : "key"},
                                    {"id", b.v[i].id},
                                    {"window", b.v[i].month ? "month" : "day"}};
            if (f)
                tg_prom_fixed(b.v[i].budget_micros * 1000000 - b.v[i].spent_pico, 12, num,
                              sizeof(num));
            else
                tg_prom_fixed(b.v[i].budget_micros, 6, num, sizeof(num));
            tg_prom_sample(p, "", l, 3, num);
        }
    }
    free(b.v);
    return 0;
}

/* ---- the whole scrape ---------------------------------------------------------------------- */

static void tg_metrics_master(tg_prom_t *p, const tg_metrics_src_t *src)
{
    const tg_worker_info_t *w = src->workers;
    int n = src->nworkers, running = 0;
    int64_t restarts = 0;
    tg_prom_label_t version[1] = {{"version", TG_VERSION}};

    for (int i = 0; i < n; i++) {
        running += w[i].pid > 0;
        restarts += w[i].restarts;
    }
    tg_prom_family(p, "tollgate_build_info", "gauge", "The running version (always 1)");
    tg_prom_sample_i(p, version, 1, 1);
    tg_prom_family(p, "tollgate_config_generation", "gauge",
                   "Configuration generation in force (1 at start, +1 per successful reload)");
    tg_prom_sample_i(p, NULL, 0, src->cf->generation);
    tg_prom_family(p, "tollgate_workers", "gauge", "Worker processes running");
    tg_prom_sample_i(p, NULL, 0, running);
    tg_prom_family(p, "tollgate_worker_slots", "gauge", "Worker processes configured");
    tg_prom_sample_i(p, NULL, 0, n);
    tg_prom_family(p, "tollgate_worker_restarts_total", "counter",
                   "Workers respawned after they died, since the master started");
    tg_prom_sample_i(p, NULL, 0, restarts);
}

static int64_t tg_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int tg_metrics_render(const tg_metrics_src_t *src, int64_t now_ms, tg_buf_t *out, char *err,
                      size_t errlen)
{
    const tg_config_t *cf = src->cf;
    tg_store_t *s = src->store;
    int64_t t0 = tg_mono_us(), rows = 0;
    MDB_txn *txn = NULL;
    tg_prom_t p;
    char num[32];
    int rc = -1;

    tg_prom_init(&p);
    tg_metrics_master(&p, src);
    if (s != NULL) {
        /* one read transaction of the meter environment for every number that comes from it */
        if (mdb_txn_begin(s->meter, NULL, MDB_RDONLY, &txn) != 0 ||
            (rows = tg_mc_update(s, txn, now_ms)) < 0) {
            snprintf(err, errlen, "cannot read the usage rollups from the store");
            goto done;
        }
        tg_metrics_usage(&p);
        if (tg_metrics_breakers(&p, s, txn, cf) == -1 ||
            tg_metrics_budgets(&p, s, txn, now_ms) == -1) {
            snprintf(err, errlen, "cannot read breakers or budgets from the store");
            goto done;
        }
        tg_prom_family(&p, "tollgate_metrics_rollups_read", "gauge",
                       "Usage rollups this scrape read from the store (its cost)");
        tg_prom_sample_i(&p, NULL, 0, rows);
    }
    tg_prom_family(&p, "tollgate_metrics_scrape_duration_seconds", "gauge",
                   "Time this scrape took to read the store and write the text");
    tg_prom_fixed(tg_mono_us() - t0, 6, num, sizeof(num));
    tg_prom_sample(&p, "", NULL, 0, num);
    if (p.failed || tg_buf_append(out, p.out.data, p.out.len) == -1) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (txn != NULL)
        mdb_txn_abort(txn);
    tg_prom_free(&p);
    return rc;
}
