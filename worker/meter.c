/*
 * Admission and settlement glue between requests and the store (see meter.h). Admission runs
 * after authentication and model resolution; settlement runs from the HTTP layer's finish hook,
 * after the status, usage and cost of the request are final, so every path (success, upstream
 * failure, client abort) is settled by the same code exactly once.
 */
#include "worker/meter.h"
#include "shared/tg_log.h"
#include "shared/tg_meter.h"
#include "shared/tg_route.h"
#include "worker/auth.h"
#include "worker/health.h"
#include "worker/secevents.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t tg_meter_seq;

static int64_t tg_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* OpenAI's reset format: "20ms", "6s", "1m30s". */
static void tg_reset_str(int64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf(buf, size, "%lldms", (long long)ms);
    else if (ms < 60000)
        snprintf(buf, size, "%llds", (long long)((ms + 999) / 1000));
    else
        snprintf(buf, size, "%lldm%llds", (long long)(ms / 60000),
                 (long long)((ms % 60000 + 999) / 1000));
}

static void tg_rl_headers(tg_req_t *r, const tg_admit_info_t *in)
{
    char v[32];

    if (in->req_limit > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)in->req_limit);
        tg_resp_header(r, "x-ratelimit-limit-requests", v);
        snprintf(v, sizeof(v), "%lld", (long long)in->req_remaining);
        tg_resp_header(r, "x-ratelimit-remaining-requests", v);
        tg_reset_str(in->req_reset_ms, v, sizeof(v));
        tg_resp_header(r, "x-ratelimit-reset-requests", v);
    }
    if (in->tok_limit > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)in->tok_limit);
        tg_resp_header(r, "x-ratelimit-limit-tokens", v);
        snprintf(v, sizeof(v), "%lld", (long long)in->tok_remaining);
        tg_resp_header(r, "x-ratelimit-remaining-tokens", v);
        tg_reset_str(in->tok_reset_ms, v, sizeof(v));
        tg_resp_header(r, "x-ratelimit-reset-tokens", v);
    }
}

/* The verdict for one request: headers, then either go on or answer the refusal. */
typedef struct {
    tg_req_t *r; /* NULL: cancelled (the client left while queued) */
    const tg_model_t *m;
    int64_t prompt, max_tokens;
    tg_admit_cb cb;
    void *arg;
    tg_admit_t verdict;
    tg_admit_info_t info;
    tg_tenant_t tenant;
    int tenant_state; /* 0 none, 1 found, 2 disabled, -1 store error */
} tg_admission_t;

#define TG_ADMIT_MAX 256

static struct {
    struct event *flush;
    tg_admission_t q[TG_ADMIT_MAX];
    int n;
} tg_admit;

static void tg_admit_lookup_tenant(tg_admission_t *e)
{
    int rc = tg_auth_tenant(e->r, &e->tenant);

    e->tenant_state = rc == 0 ? (e->tenant.disabled ? 2 : 1) : rc == MDB_NOTFOUND ? 0 : -1;
}

static tg_admit_t tg_admit_one(tg_store_t *s, MDB_txn *txn, tg_admission_t *e)
{
    /* the worst case bills every prompt token at the dearest prompt price (cache writes cost
       more than input at Anthropic) */
    const tg_price_t *p = &e->m->price;
    tg_usage_t worst = {.prompt = e->prompt, .completion = e->max_tokens};
    int64_t cost;

    if (p->cache_write > p->input)
        worst.cache_write = e->prompt;
    cost = tg_cost_pico(p, &worst);
    const tg_tenant_t *t = e->tenant_state == 1 ? &e->tenant : NULL;
    uint64_t seq = ++tg_meter_seq;

    memset(&e->info, 0, sizeof(e->info));
    if (txn != NULL)
        return tg_meter_admit_txn(s, txn, &e->r->key, t, (int)getpid(), seq, tg_wall_ms(),
                                  e->prompt + e->max_tokens, cost, &e->r->reservation,
                                  &e->info);
    return tg_meter_admit(s, &e->r->key, t, (int)getpid(), seq, tg_wall_ms(),
                          e->prompt + e->max_tokens, cost, &e->r->reservation, &e->info);
}

/* Tell the owner, then answer a refusal (the owner frees its state before r may be reused). */
static void tg_admit_conclude(tg_admission_t *e)
{
    tg_req_t *r = e->r;
    const tg_admit_info_t *info = &e->info;
    char ra[24];

    if (e->tenant_state == -1)
        e->verdict = TG_ADMIT_ERROR;
    tg_rl_headers(r, info);
    if (e->tenant_state != 2 && e->verdict == TG_ADMIT_OK) {
        r->reserved = 1;
        e->cb(r, e->arg, 1);
        return;
    }
    e->cb(r, e->arg, 0);
    r->limited = tg_meter_limited(strcmp(info->refused_scope, "tenant") == 0, e->verdict);
    if (e->tenant_state == 2) {
        tg_resp_error(r, 403, "permission_error", "tenant_disabled", NULL,
                      "The tenant '%s' is disabled.", e->tenant.name);
        return;
    }
    switch (e->verdict) {
    case TG_ADMIT_ERROR:
        tg_log(TG_LOG_ERROR, 0, "%s: the metering store failed at admission", r->request_id);
        tg_resp_error(r, 503, "server_error", "store_unavailable", NULL,
                      "The gateway could not check this key's limits; try again later.");
        return;
    case TG_ADMIT_BUDGET:
        tg_secevent_budget(info->refused_scope,
                           strcmp(info->refused_scope, "key") == 0 ? r->key.id : r->key.tenant,
                           info->refused_window);
        snprintf(ra, sizeof(ra), "%lld", (long long)info->retry_after_s);
        tg_resp_header(r, "retry-after", ra);
        tg_resp_error(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                      "The %s budget of this %s is exhausted for this %s.",
                      info->refused_window, info->refused_scope, info->refused_window);
        return;
    default:
        snprintf(ra, sizeof(ra), "%lld", (long long)info->retry_after_s);
        tg_resp_header(r, "retry-after", ra);
        tg_resp_error(r, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                      "Rate limit reached for %s on this %s. Retry after %lld s.",
                      e->verdict == TG_ADMIT_RPM   ? "requests per minute"
                      : e->verdict == TG_ADMIT_TPM ? "tokens per minute"
                                                   : "concurrent requests",
                      info->refused_scope, (long long)info->retry_after_s);
        return;
    }
}

/*
 * Admissions queued during one event-loop turn are decided in one LMDB write transaction
 * (group commit), in arrival order, so limits stay exact. If the store fails, each request is
 * retried in its own transaction so that one bad write cannot fail the whole batch.
 */
/*
 * The metering map is full (request events outgrew store.meter_map_size before their retention
 * ran out): delete the oldest events so that admissions and usage keep working. Logged, since the
 * map is too small for the traffic and retention.
 */
/*
 * The metering map is full: delete the oldest request events. A full map under load would
 * otherwise log this on every loop turn, so the message is said at most once a second, with
 * how often it happened and how many events went since the last time.
 */
static void tg_meter_room(tg_store_t *s)
{
    static time_t last;
    static int times, deleted, failed;
    time_t now = time(NULL);
    int n = tg_meter_make_room(s, 20000);

    times++;
    if (n > 0)
        deleted += n;
    else
        failed++;
    if (now == last)
        return;
    last = now;
    tg_log(TG_LOG_ERROR, 0, "the metering store is full (%d times since the last report): "
                            "deleted %d oldest request events, %d attempts deleted none (raise "
                            "store.meter_map_size or lower store.event_retention)",
           times, deleted, failed);
    times = deleted = failed = 0;
}

static void tg_admit_flush(void)
{
    static tg_admission_t batch[TG_ADMIT_MAX];
    tg_store_t *s = tg_worker_store();
    MDB_txn *txn = NULL;
    int n = tg_admit.n, failed = 0;

    if (n == 0)
        return;
    memcpy(batch, tg_admit.q, (size_t)n * sizeof(batch[0]));
    tg_admit.n = 0; /* conclusions may queue new admissions (pipelined requests) */
    for (int i = 0; i < n; i++)
        if (batch[i].r != NULL)
            tg_admit_lookup_tenant(&batch[i]);
    if (mdb_txn_begin(s->meter, NULL, 0, &txn) != 0)
        failed = 1;
    for (int i = 0; i < n && !failed; i++) {
        tg_admission_t *e = &batch[i];
        if (e->r == NULL || e->tenant_state == -1 || e->tenant_state == 2)
            continue;
        if ((e->verdict = tg_admit_one(s, txn, e)) == TG_ADMIT_ERROR)
            failed = 1;
    }
    if (!failed && mdb_txn_commit(txn) != 0)
        failed = 1, txn = NULL;
    if (failed) {
        int full = 0;
        if (txn != NULL)
            mdb_txn_abort(txn);
        for (int i = 0; i < n; i++)
            full |= batch[i].r != NULL && batch[i].info.store_rc == MDB_MAP_FULL;
        if (full)
            tg_meter_room(s);
        for (int i = 0; i < n; i++)
            if (batch[i].r != NULL && batch[i].tenant_state != -1 && batch[i].tenant_state != 2)
                batch[i].verdict = tg_admit_one(s, NULL, &batch[i]);
    }
    for (int i = 0; i < n; i++)
        if (batch[i].r != NULL && batch[i].r->admission != NULL)
            batch[i].r->admission = NULL;
    for (int i = 0; i < n; i++)
        if (batch[i].r != NULL)
            tg_admit_conclude(&batch[i]);
}

static void tg_admit_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_admit_flush();
}

void tg_meter_admit_request(tg_req_t *r, const tg_model_t *m, int64_t prompt_tokens,
                            int64_t max_tokens, tg_admit_cb cb, void *arg)
{
    tg_store_t *s = tg_worker_store();
    tg_admission_t *e;

    r->metered = s != NULL; /* with a store, every proxied request is metered */
    if (s == NULL || !r->authed) {
        cb(r, arg, 1);
        return;
    }
    if (tg_admit.n == TG_ADMIT_MAX)
        tg_admit_flush();
    e = &tg_admit.q[tg_admit.n++];
    memset(e, 0, sizeof(*e));
    e->r = r;
    e->m = m;
    e->prompt = prompt_tokens;
    e->max_tokens = max_tokens;
    e->cb = cb;
    e->arg = arg;
    r->admission = e;
    if (tg_admit.n == 1)
        event_active(tg_admit.flush, EV_TIMEOUT, 0);
}

void tg_meter_admit_cancel(tg_req_t *r)
{
    tg_admission_t *e = r->admission;

    if (e != NULL)
        e->r = NULL;
    r->admission = NULL;
}

/*
 * Settlements are queued and committed together once per event-loop turn (group commit): one
 * LMDB write transaction for every request that finished in the turn instead of one each. The
 * queue is committed before the turn's answers reach any client socket: the HTTP layer writes
 * answers late in the turn, from its own flush callback, and calls tg_meter_commit() first (the
 * event below only covers requests with no answer to write, such as a client that left). So a
 * request whose answer a client received has been settled, even if the worker is killed right
 * after.
 */
typedef struct {
    int reserved;
    tg_reservation_t res;
    tg_meter_record_t rec;
    char request_id[TG_REQUEST_ID_MAX + 1];
    char key_id[TG_KEY_ID_LEN + 1];
    char tenant[TG_NAME_MAX];
    char model[TG_NAME_MAX * 2];
    char provider[TG_NAME_MAX * 2];
    char route[TG_NAME_MAX * 2 + 1];
    char experiment[TG_NAME_MAX * 2 + 1];
    char variant[TG_NAME_MAX * 2 + 1];
    char shadow_of[TG_REQUEST_ID_MAX + 1];
    char output[TG_SHADOW_OUTPUT_MAX + 1];
    char task[TG_NAME_MAX * 2 + 1];
    char complexity[TG_NAME_MAX * 2 + 1];
    int64_t now_ms;
} tg_settle_t;

#define TG_SETTLE_MAX 256

static struct {
    struct event *flush;
    tg_settle_t q[TG_SETTLE_MAX];
    int n;
} tg_settle;

static void tg_settle_flush(void)
{
    tg_store_t *s = tg_worker_store();
    MDB_txn *txn;
    int rc = 0;

    if (tg_settle.n == 0 || s == NULL)
        return;
    for (int with_event = 1; with_event >= 0; with_event--) {
        if ((rc = mdb_txn_begin(s->meter, NULL, 0, &txn)) != 0)
            break;
        for (int i = 0; i < tg_settle.n && rc == 0; i++) {
            tg_settle_t *e = &tg_settle.q[i];
            rc = tg_meter_settle_txn(s, txn, e->reserved ? &e->res : NULL, &e->rec, e->now_ms,
                                     with_event);
        }
        if (rc == 0 && with_event) /* the attempts' outcomes in the same commit (not when the
                                      map is full: then their own timer retries them) */
            rc = tg_health_flush_txn(s, txn);
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
            break;
        }
        mdb_txn_abort(txn);
        if (rc != MDB_MAP_FULL)
            break;
        /* the map is full of events: make room, and settle this turn without its events */
        tg_meter_room(s);
    }
    if (rc != 0)
        tg_log(TG_LOG_ERROR, 0, "settling %d requests failed: %s", tg_settle.n,
               mdb_strerror(rc));
    tg_settle.n = 0;
}

static void tg_settle_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_settle_flush();
}

void tg_meter_commit(void)
{
    tg_settle_flush();
}

int tg_meter_init(struct event_base *base)
{
    tg_settle.flush = event_new(base, -1, 0, tg_settle_flush_cb, NULL);
    tg_admit.flush = event_new(base, -1, 0, tg_admit_flush_cb, NULL);
    return tg_settle.flush != NULL && tg_admit.flush != NULL ? 0 : -1;
}

void tg_meter_shutdown(void)
{
    if (tg_admit.flush != NULL)
        event_free(tg_admit.flush);
    tg_admit.flush = NULL;
    tg_settle_flush();
    if (tg_settle.flush != NULL)
        event_free(tg_settle.flush);
    tg_settle.flush = NULL;
}

/*
 * What r's tokens would have cost on the baseline model: its route's baseline, else the
 * gateway's, else its own model (no saving claimed).
 */
static int64_t tg_meter_baseline(const tg_req_t *r)
{
    const tg_route_t *rt = r->route != NULL ? tg_config_route(r->cf, r->route, strlen(r->route))
                                            : NULL;
    const tg_model_t *b = rt != NULL && rt->baseline != NULL ? rt->baseline : r->cf->baseline;

    if (r->extra_attempt)
        return 0; /* on the baseline alone there would have been no second attempt */
    return b != NULL ? tg_cost_pico(&b->price, &r->usage) : r->cost_pico;
}

void tg_meter_finish(tg_req_t *r)
{
    tg_store_t *s = tg_worker_store();
    tg_settle_t *e;

    if (s == NULL || !r->metered || r->model == NULL)
        return;
    r->metered = 0; /* exactly once */
    if (!r->usage.reported && r->usage.prompt == 0 && r->usage.completion == 0)
        r->usage.reported = 1; /* nothing reached a provider: zero is exact, not estimated */
    if (tg_settle.n == TG_SETTLE_MAX)
        tg_settle_flush();
    e = &tg_settle.q[tg_settle.n++];
    memset(&e->rec, 0, sizeof(e->rec));
    snprintf(e->request_id, sizeof(e->request_id), "%s", r->request_id);
    snprintf(e->key_id, sizeof(e->key_id), "%s", r->authed ? r->key.id : "");
    snprintf(e->tenant, sizeof(e->tenant), "%s", r->authed ? r->key.tenant : "");
    snprintf(e->model, sizeof(e->model), "%s", r->model);
    snprintf(e->provider, sizeof(e->provider), "%s", r->provider != NULL ? r->provider : "");
    snprintf(e->task, sizeof(e->task), "%s",
             r->task[0] != '\0' ? r->task : r->authed ? r->key.task : "");
    e->rec.request_id = e->request_id;
    e->rec.key_id = e->key_id;
    e->rec.tenant = e->tenant;
    e->rec.model = e->model;
    e->rec.provider = e->provider;
    snprintf(e->route, sizeof(e->route), "%s", r->route != NULL ? r->route : r->model);
    e->rec.route = e->route;
    snprintf(e->experiment, sizeof(e->experiment), "%s", r->experiment ? r->experiment : "");
    snprintf(e->variant, sizeof(e->variant), "%s", r->variant ? r->variant : "");
    e->rec.experiment = e->experiment;
    e->rec.variant = e->variant;
    snprintf(e->complexity, sizeof(e->complexity), "%s", r->complexity);
    e->rec.complexity = e->complexity;
    e->rec.baseline_pico = tg_meter_baseline(r);
    e->rec.shadow_of = NULL;
    e->rec.output = NULL;
    e->rec.extra_attempt = r->extra_attempt;
    if (r->shadow_of != NULL) {
        snprintf(e->shadow_of, sizeof(e->shadow_of), "%s", r->shadow_of);
        e->rec.shadow_of = e->shadow_of;
        if (r->output != NULL) {
            snprintf(e->output, sizeof(e->output), "%s", r->output);
            e->rec.output = e->output;
        }
    }
    e->rec.task = e->task;
    e->rec.status = r->status;
    e->rec.attempts = r->attempts;
    e->rec.fallback = r->attempts > 1;
    e->rec.limited = r->limited;
    e->rec.stream = r->stream;
    e->rec.usage = r->usage;
    e->rec.cost_pico = r->cost_pico;
    e->rec.latency_us = (tg_now_ns() - r->start_ns) / 1000;
    e->rec.ttft_us = r->ttft_ns / 1000;
    e->reserved = r->reserved;
    e->res = r->reservation;
    e->now_ms = tg_wall_ms();
    r->reserved = 0;
    if (tg_settle.n == 1 && tg_settle.flush != NULL)
        event_active(tg_settle.flush, EV_TIMEOUT, 0);
    else if (tg_settle.flush == NULL)
        tg_settle_flush();
}
