/*
 * Admission and settlement glue between requests and the store (see meter.h). Admission runs
 * after authentication and model resolution; settlement runs from the HTTP layer's finish hook,
 * after the status, usage and cost of the request are final, so every path (success, upstream
 * failure, client abort) is settled by the same code exactly once.
 */
#include "worker/meter.h"
#include "shared/tg_buf.h"
#include "shared/tg_log.h"
#include "shared/tg_meter.h"
#include "shared/tg_route.h"
#include "worker/auth.h"
#include "worker/health.h"
#include "worker/secevents.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
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

/* OpenAI's reset format: "20ms", "6s", "1m30s". buf holds at least 48 bytes. */
static void tg_reset_str(int64_t ms, char *buf)
{
    size_t n;

    if (ms < 1000) {
        n = tg_fmt_int(buf, ms);
        memcpy(buf + n, "ms", 3);
    } else if (ms < 60000) {
        n = tg_fmt_int(buf, (ms + 999) / 1000);
        memcpy(buf + n, "s", 2);
    } else {
        n = tg_fmt_int(buf, ms / 60000);
        buf[n++] = 'm';
        n += tg_fmt_int(buf + n, (ms % 60000 + 999) / 1000);
        memcpy(buf + n, "s", 2);
    }
}

static void tg_rl_headers(tg_req_t *r, const tg_admit_info_t *in)
{
    char v[48];

    if (in->req_limit > 0) {
        tg_fmt_int(v, in->req_limit);
        tg_resp_header(r, "x-ratelimit-limit-requests", v);
        tg_fmt_int(v, in->req_remaining);
        tg_resp_header(r, "x-ratelimit-remaining-requests", v);
        tg_reset_str(in->req_reset_ms, v);
        tg_resp_header(r, "x-ratelimit-reset-requests", v);
    }
    if (in->tok_limit > 0) {
        tg_fmt_int(v, in->tok_limit);
        tg_resp_header(r, "x-ratelimit-limit-tokens", v);
        tg_fmt_int(v, in->tok_remaining);
        tg_resp_header(r, "x-ratelimit-remaining-tokens", v);
        tg_reset_str(in->tok_reset_ms, v);
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
    tg_admission_t q[TG_ADMIT_MAX];
    int n;
} tg_admit;

static struct event *tg_meter_ev;    /* flushes both queues once per loop turn */
static tg_admission_t *tg_levels[8]; /* tg_meter_flush's batch copies, one per nesting level */
static tg_mbatch_t *tg_mb;           /* the worker's metering batch (its caches) */
static void tg_meter_flush(void);

static void tg_admit_lookup_tenant(tg_admission_t *e)
{
    int rc = tg_auth_tenant(e->r, &e->tenant);

    e->tenant_state = rc == 0 ? (e->tenant.disabled ? 2 : 1) : rc == MDB_NOTFOUND ? 0 : -1;
}

static tg_admit_t tg_admit_one(tg_store_t *s, tg_mbatch_t *b, tg_admission_t *e)
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
    if (b != NULL)
        return tg_meter_admit_batch(b, &e->r->key, t, s->pid, seq, tg_wall_ms(),
                                    e->prompt + e->max_tokens, cost, &e->r->reservation,
                                    &e->info);
    return tg_meter_admit(s, &e->r->key, t, s->pid, seq, tg_wall_ms(),
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
 * The metering map is full (request events outgrew store.meter_map_size before their retention
 * ran out): delete the oldest request events so that admissions and usage keep working. A full
 * map under load would otherwise log this on every loop turn, so the message is said at most
 * once a second, with how often it happened and how many events went since the last time.
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
        tg_meter_flush();
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
        event_active(tg_meter_ev, EV_TIMEOUT, 0); /* a no-op if settlements activated it */
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
 * LMDB write transaction for every request that finished in the turn instead of one each
 * (with the turn's admissions, tg_meter_flush). The queue is committed before the turn's
 * answers reach any client socket: the HTTP layer writes answers late in the turn, from its own
 * flush callback, and calls tg_meter_commit() first (the event below only covers requests with
 * no answer to write, such as a client that left). So a request whose answer a client received
 * has been settled, even if the worker is killed right after.
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
    tg_settle_t q[TG_SETTLE_MAX];
    int n;
} tg_settle;

/* Settle the queued requests in b (and record the attempts' health outcomes with them unless
   the map is full); 0 or an LMDB error, which leaves b broken. */
static int tg_settle_run(tg_store_t *s, tg_mbatch_t *b, int with_event)
{
    int rc = 0;

    for (int i = 0; i < tg_settle.n && rc == 0; i++) {
        tg_settle_t *e = &tg_settle.q[i];
        rc = tg_meter_settle_batch(b, e->reserved ? &e->res : NULL, &e->rec, e->now_ms,
                                   with_event);
    }
    if (rc == 0 && with_event) /* not when the map is full: then their own timer retries them */
        rc = tg_health_flush_txn(s, tg_mbatch_txn(b));
    return rc;
}

/* Settle the queue in a transaction of its own (after a failed shared one, and at shutdown). */
static void tg_settle_flush(tg_store_t *s)
{
    int rc = 0;

    if (tg_settle.n == 0 || s == NULL)
        return;
    for (int with_event = 1; with_event >= 0; with_event--) {
        if ((rc = tg_mbatch_begin(tg_mb)) != 0)
            break;
        if ((rc = tg_settle_run(s, tg_mb, with_event)) == 0) {
            rc = tg_mbatch_commit(tg_mb);
        } else {
            tg_mbatch_abort(tg_mb);
        }
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

/*
 * One metering transaction per event-loop turn (group commit): the turn's settlements first
 * (finished requests free their concurrency slots), then its admissions in arrival order (so
 * limits stay exact), then the attempts' health outcomes, all committed at once. If the store
 * fails, the settlements are retried on their own and each admission in its own transaction,
 * so that one bad write cannot fail the others.
 */
static void tg_meter_flush(void)
{
    /*
     * Conclusions can queue more work (a pipelined request's admission, an answered refusal's
     * settlement) and, with a queue full, flush again from inside this one: each nesting level
     * copies its batch into its own array (allocated on first use and kept).
     */
    static int depth;
    tg_store_t *s = tg_worker_store();
    tg_admission_t *batch;
    int n = tg_admit.n, rc, full;

    if (s == NULL || (n == 0 && tg_settle.n == 0))
        return;
    if (depth == (int)(sizeof(tg_levels) / sizeof(tg_levels[0])) ||
        (tg_levels[depth] == NULL &&
         (tg_levels[depth] = malloc(TG_ADMIT_MAX * sizeof(tg_admission_t))) == NULL)) {
        tg_log(TG_LOG_ERROR, 0, "metering flush nested %d deep or out of memory", depth);
        abort(); /* the master respawns the worker and releases its reservations */
    }
    batch = tg_levels[depth++];
    memcpy(batch, tg_admit.q, (size_t)n * sizeof(batch[0]));
    tg_admit.n = 0; /* conclusions may queue new admissions (pipelined requests) */
    for (int i = 0; i < n; i++)
        if (batch[i].r != NULL)
            tg_admit_lookup_tenant(&batch[i]);
    if ((rc = tg_mbatch_begin(tg_mb)) == 0 && tg_settle.n > 0)
        rc = tg_settle_run(s, tg_mb, 1);
    for (int i = 0; i < n && rc == 0; i++) {
        tg_admission_t *e = &batch[i];
        if (e->r == NULL || e->tenant_state == -1 || e->tenant_state == 2)
            continue;
        if ((e->verdict = tg_admit_one(s, tg_mb, e)) == TG_ADMIT_ERROR)
            rc = e->info.store_rc != 0 ? e->info.store_rc : EIO;
    }
    if (rc == 0)
        rc = tg_mbatch_commit(tg_mb);
    else
        tg_mbatch_abort(tg_mb);
    if (rc == 0) {
        tg_settle.n = 0;
    } else {
        full = rc == MDB_MAP_FULL;
        for (int i = 0; i < n; i++)
            full |= batch[i].r != NULL && batch[i].info.store_rc == MDB_MAP_FULL;
        if (full)
            tg_meter_room(s);
        tg_settle_flush(s);
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
    depth--;
}

static void tg_meter_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_meter_flush();
}

void tg_meter_commit(void)
{
    tg_meter_flush(); /* the turn's admissions ride in the same transaction */
}

int tg_meter_init(struct event_base *base)
{
    tg_meter_ev = event_new(base, -1, 0, tg_meter_flush_cb, NULL);
    if (tg_worker_store() != NULL && tg_mb == NULL)
        tg_mb = tg_mbatch_new(tg_worker_store());
    return tg_meter_ev != NULL && (tg_worker_store() == NULL || tg_mb != NULL) ? 0 : -1;
}

void tg_meter_shutdown(void)
{
    tg_settle_flush(tg_worker_store());
    if (tg_meter_ev != NULL)
        event_free(tg_meter_ev);
    tg_meter_ev = NULL;
    tg_mbatch_free(tg_mb);
    tg_mb = NULL;
    for (size_t i = 0; i < sizeof(tg_levels) / sizeof(tg_levels[0]); i++) {
        free(tg_levels[i]);
        tg_levels[i] = NULL;
    }
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
        tg_meter_flush();
    e = &tg_settle.q[tg_settle.n++];
    memset(&e->rec, 0, sizeof(e->rec));
    tg_strlcpy(e->request_id, r->request_id, sizeof(e->request_id));
    tg_strlcpy(e->key_id, r->authed ? r->key.id : "", sizeof(e->key_id));
    tg_strlcpy(e->tenant, r->authed ? r->key.tenant : "", sizeof(e->tenant));
    tg_strlcpy(e->model, r->model, sizeof(e->model));
    tg_strlcpy(e->provider, r->provider != NULL ? r->provider : "", sizeof(e->provider));
    tg_strlcpy(e->task, r->task[0] != '\0' ? r->task : r->authed ? r->key.task : "",
               sizeof(e->task));
    e->rec.request_id = e->request_id;
    e->rec.key_id = e->key_id;
    e->rec.tenant = e->tenant;
    e->rec.model = e->model;
    e->rec.provider = e->provider;
    tg_strlcpy(e->route, r->route != NULL ? r->route : r->model, sizeof(e->route));
    e->rec.route = e->route;
    tg_strlcpy(e->experiment, r->experiment ? r->experiment : "", sizeof(e->experiment));
    tg_strlcpy(e->variant, r->variant ? r->variant : "", sizeof(e->variant));
    e->rec.experiment = e->experiment;
    e->rec.variant = e->variant;
    tg_strlcpy(e->complexity, r->complexity, sizeof(e->complexity));
    e->rec.complexity = e->complexity;
    e->rec.baseline_pico = tg_meter_baseline(r);
    e->rec.shadow_of = NULL;
    e->rec.output = NULL;
    e->rec.extra_attempt = r->extra_attempt;
    if (r->shadow_of != NULL) {
        tg_strlcpy(e->shadow_of, r->shadow_of, sizeof(e->shadow_of));
        e->rec.shadow_of = e->shadow_of;
        if (r->output != NULL) {
            tg_strlcpy(e->output, r->output, sizeof(e->output));
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
    if (tg_meter_ev == NULL)
        tg_settle_flush(s);
    else if (tg_settle.n == 1)
        event_active(tg_meter_ev, EV_TIMEOUT, 0);
}
