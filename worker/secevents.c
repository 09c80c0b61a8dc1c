/*
 * Aggregated security events (see secevents.h). Groups live in a small fixed table; when it is
 * full, further groups are counted in one overflow entry rather than growing without bound under
 * a flood of random keys or addresses.
 */
#include "worker/secevents.h"
#include "shared/tg_audit.h"
#include "shared/tg_log.h"
#include "worker/auth.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TG_SEC_GROUPS 64

typedef struct {
    char action[32];
    char target[96];
    char detail[96]; /* client address or window */
    char reason[32];
    long count;
} tg_secgroup_t;

static struct {
    struct event *timer;
    int64_t minute;
    tg_secgroup_t groups[TG_SEC_GROUPS];
    int n;
    long overflow;
} tg_sec;

static int64_t tg_minute(void)
{
    return (int64_t)time(NULL) / 60;
}

static void tg_sec_flush(void)
{
    tg_store_t *s = tg_worker_store();
    tg_actor_t actor = {-1, (int)getpid()};
    MDB_txn *txn;

    if (tg_sec.n == 0 && tg_sec.overflow == 0)
        return;
    if (s != NULL && mdb_txn_begin(s->control, NULL, 0, &txn) == 0) {
        int rc = 0;
        for (int i = 0; i < tg_sec.n && rc == 0; i++) {
            tg_secgroup_t *g = &tg_sec.groups[i];
            json_t *d = json_pack("{s:s,s:s,s:i,s:I}", "client_or_window", g->detail, "reason",
                                  g->reason, "count", (int)g->count, "minute",
                                  (json_int_t)tg_sec.minute);
            char *ds = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
            rc = tg_audit_append(s, txn, &actor, g->action, g->target, ds ? ds : "{}");
            free(ds);
            json_decref(d);
        }
        if (rc == 0 && tg_sec.overflow > 0) {
            char d[96];
            snprintf(d, sizeof(d), "{\"count\":%ld,\"minute\":%lld}", tg_sec.overflow,
                     (long long)tg_sec.minute);
            rc = tg_audit_append(s, txn, &actor, "security.overflow", "-", d);
        }
        if (rc != 0 || mdb_txn_commit(txn) != 0) {
            if (rc != 0)
                mdb_txn_abort(txn);
            tg_log(TG_LOG_ERROR, 0, "could not append security events to the audit trail");
        }
    }
    tg_sec.n = 0;
    tg_sec.overflow = 0;
}

static void tg_sec_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    if (tg_minute() != tg_sec.minute) {
        tg_sec_flush();
        tg_sec.minute = tg_minute();
    }
}

int tg_secevents_init(struct event_base *base)
{
    struct timeval tv = {5, 0};

    tg_sec.minute = tg_minute();
    tg_sec.timer = event_new(base, -1, EV_PERSIST, tg_sec_timer_cb, NULL);
    return tg_sec.timer != NULL && event_add(tg_sec.timer, &tv) == 0 ? 0 : -1;
}

void tg_secevents_shutdown(void)
{
    tg_sec_flush();
    if (tg_sec.timer != NULL)
        event_free(tg_sec.timer);
    tg_sec.timer = NULL;
}

static void tg_sec_count(const char *action, const char *target, const char *detail,
                         const char *reason)
{
    tg_secgroup_t *g;

    if (tg_minute() != tg_sec.minute) {
        tg_sec_flush();
        tg_sec.minute = tg_minute();
    }
    for (int i = 0; i < tg_sec.n; i++) {
        g = &tg_sec.groups[i];
        if (strcmp(g->action, action) == 0 && strcmp(g->target, target) == 0 &&
            strcmp(g->detail, detail) == 0 && strcmp(g->reason, reason) == 0) {
            g->count++;
            return;
        }
    }
    if (tg_sec.n == TG_SEC_GROUPS) {
        tg_sec.overflow++;
        return;
    }
    g = &tg_sec.groups[tg_sec.n++];
    snprintf(g->action, sizeof(g->action), "%s", action);
    snprintf(g->target, sizeof(g->target), "%s", target);
    snprintf(g->detail, sizeof(g->detail), "%s", detail);
    snprintf(g->reason, sizeof(g->reason), "%s", reason);
    g->count = 1;
}

void tg_secevent_auth_failure(const char *prefix, const char *client, const char *reason)
{
    tg_sec_count("security.auth_failures", prefix, client, reason);
}

void tg_secevent_budget(const char *scope, const char *id, const char *window)
{
    char target[96];

    snprintf(target, sizeof(target), "%s:%s", scope, id);
    tg_sec_count("security.budget_exhausted", target, window, "insufficient_quota");
}
