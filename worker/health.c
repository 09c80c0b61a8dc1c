/*
 * Target health in a worker (see health.h).
 */
#include "worker/health.h"
#include "shared/tg_buf.h"
#include "shared/tg_log.h"
#include "worker/auth.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TG_HEALTH_QUEUE 256 /* outcomes per loop turn before an early commit */
#define TG_MODEL_NAME_MAX 129

typedef struct {
    char name[TG_MODEL_NAME_MAX];
    tg_health_t h;
} tg_local_t;

typedef struct {
    char name[TG_MODEL_NAME_MAX];
    int ok;
    double latency_ms;
    int64_t now_ms;
} tg_report_t;

static struct {
    struct event *flush;
    tg_breaker_conf_t conf; /* of the configuration that queued the reports */
    tg_report_t q[TG_HEALTH_QUEUE];
    int n;
    tg_local_t *local; /* without a store */
    size_t nlocal, caplocal;
} tg_hs;

static int64_t tg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The worker-local record for name, created healthy on first use; NULL when out of memory. */
static tg_health_t *tg_local(const char *name)
{
    tg_local_t *l;

    for (size_t i = 0; i < tg_hs.nlocal; i++)
        if (strcmp(tg_hs.local[i].name, name) == 0)
            return &tg_hs.local[i].h;
    if (tg_hs.nlocal == tg_hs.caplocal) {
        size_t cap = tg_hs.caplocal ? tg_hs.caplocal * 2 : 16;
        if ((l = realloc(tg_hs.local, cap * sizeof(*l))) == NULL)
            return NULL;
        tg_hs.local = l;
        tg_hs.caplocal = cap;
    }
    l = &tg_hs.local[tg_hs.nlocal++];
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    return &l->h;
}

/*
 * Write the queued outcomes in txn (the caller commits). Consecutive outcomes of one model are
 * applied to one read-modify-write of its record.
 */
int tg_health_flush_txn(tg_store_t *s, MDB_txn *txn)
{
    tg_health_t h;
    int rc = 0;

    for (int i = 0; i < tg_hs.n && rc == 0; i++) {
        tg_report_t *e = &tg_hs.q[i];

        if ((rc = tg_health_get(s, txn, e->name, &h)) != 0)
            break;
        tg_health_record(&h, &tg_hs.conf, e->now_ms, e->ok, e->latency_ms);
        while (i + 1 < tg_hs.n && strcmp(tg_hs.q[i + 1].name, e->name) == 0) {
            e = &tg_hs.q[++i];
            tg_health_record(&h, &tg_hs.conf, e->now_ms, e->ok, e->latency_ms);
        }
        rc = tg_health_put(s, txn, e->name, &h);
    }
    if (rc == 0)
        tg_hs.n = 0;
    return rc;
}

static void tg_health_flush(void)
{
    tg_store_t *s = tg_worker_store();
    MDB_txn *txn;
    int rc = 0;

    if (tg_hs.n == 0 || s == NULL)
        return;
    if ((rc = mdb_txn_begin(s->meter, NULL, 0, &txn)) == 0) {
        if ((rc = tg_health_flush_txn(s, txn)) == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0)
        tg_log(TG_LOG_WARN, 0, "recording the health of %d attempts failed: %s", tg_hs.n,
               mdb_strerror(rc));
    tg_hs.n = 0;
}

static void tg_health_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    tg_health_flush();
}

int tg_health_init(struct event_base *base)
{
    tg_hs.flush = evtimer_new(base, tg_health_flush_cb, NULL);
    return tg_hs.flush != NULL ? 0 : -1;
}

void tg_health_shutdown(void)
{
    tg_health_flush();
    if (tg_hs.flush != NULL)
        event_free(tg_hs.flush);
    tg_hs.flush = NULL;
    free(tg_hs.local);
    memset(&tg_hs, 0, sizeof(tg_hs));
}

void tg_health_read(const tg_model_t *m, tg_health_t *out)
{
    tg_store_t *s = tg_worker_store();
    tg_health_t *l;
    MDB_txn *txn;

    memset(out, 0, sizeof(*out));
    if (s == NULL) {
        if ((l = tg_local(m->name)) != NULL)
            *out = *l;
        return;
    }
    if (tg_store_read_begin(s, TG_DB_HEALTH, &txn) == 0) {
        tg_health_get(s, txn, m->name, out);
        tg_store_read_end(s, TG_DB_HEALTH, txn);
    }
}

int tg_health_admit(const tg_config_t *cf, const tg_model_t *m)
{
    tg_store_t *s = tg_worker_store();
    int64_t now = tg_now_ms();
    tg_health_t h, *l;
    MDB_txn *txn;
    int allow, changed;

    if (s == NULL) {
        if ((l = tg_local(m->name)) == NULL)
            return 1;
        return tg_health_allow(l, &cf->breaker, now, &changed);
    }
    tg_health_read(m, &h);
    if (h.state == TG_BREAKER_CLOSED)
        return 1; /* the common case: one read, no write */
    /* open or half-open: decide under the write lock so only one worker takes the probe */
    if (mdb_txn_begin(s->meter, NULL, 0, &txn) != 0)
        return 1; /* a store problem must not take a healthy target away */
    if (tg_health_get(s, txn, m->name, &h) != 0) {
        mdb_txn_abort(txn);
        return 1;
    }
    allow = tg_health_allow(&h, &cf->breaker, now, &changed);
    if (changed && tg_health_put(s, txn, m->name, &h) == 0)
        mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return allow;
}

void tg_health_report(const tg_config_t *cf, const tg_model_t *m, int ok, double latency_ms)
{
    tg_report_t *e;
    tg_health_t *l;

    if (tg_worker_store() == NULL) {
        if ((l = tg_local(m->name)) != NULL)
            tg_health_record(l, &cf->breaker, tg_now_ms(), ok, latency_ms);
        return;
    }
    if (tg_hs.n == TG_HEALTH_QUEUE)
        tg_health_flush();
    tg_hs.conf = cf->breaker;
    e = &tg_hs.q[tg_hs.n++];
    tg_strlcpy(e->name, m->name, sizeof(e->name));
    e->ok = ok;
    e->latency_ms = latency_ms;
    e->now_ms = tg_now_ms();
    /* the request's settlement, in this loop turn, usually writes these in its transaction;
       the timer only catches outcomes no settlement followed */
    if (tg_hs.flush != NULL && !evtimer_pending(tg_hs.flush, NULL)) {
        struct timeval tv = {0, 50 * 1000};
        evtimer_add(tg_hs.flush, &tv);
    }
}

double tg_health_latency(const tg_model_t *m, void *arg)
{
    tg_health_t h;

    (void)arg;
    tg_health_read(m, &h);
    return h.ewma_ms > 0 ? h.ewma_ms : -1.0;
}
