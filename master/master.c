/*
 * The master process: owns the configuration, the listening sockets and the worker table. It
 * reacts to signals through libevent signal events (never work inside a raw handler), respawns
 * workers that die with a growing back-off, reloads configurations all-or-nothing, and drains
 * workers on shutdown with a deadline.
 */
#include "master/master.h"
#include "master/admin_http.h"
#include "master/listen.h"
#include "shared/tg_channel.h"
#include "master/admin_keys.h"
#include "shared/tg_keys.h"
#include "shared/tg_meter.h"
#include "shared/tg_log.h"
#include "worker/worker.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TG_MAX_WORKERS 256
#define TG_RESPAWN_MIN_MS 100
#define TG_RESPAWN_MAX_MS 10000
#define TG_QUICK_EXIT_MS 2000

typedef struct {
    int slot;
    pid_t pid;
    struct bufferevent *channel;
    struct event *respawn;
    int64_t started_ns;
    int64_t backoff_ms;
    int quick_exits;
    unsigned restarts;
    unsigned generation; /* last configuration generation the worker acknowledged */
    int ready;
} tg_proc_t;

static struct {
    struct event_base *base;
    tg_config_t *cf;
    unsigned generation;
    int nslots;
    int nfds;      /* listening sockets per slot */
    int *fds;      /* nslots * nfds */
    tg_proc_t procs[TG_MAX_WORKERS];
    struct event *signals[6];
    struct event *kill_timer;
    int stopping;
    int exit_code;
    char *pid_file;
    tg_store_t store;
    int have_store;
    struct event *sync_timer;
} tg_m;

static void tg_master_spawn(tg_proc_t *p);

static int64_t tg_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- channel --------------------------------------------------------------------------- */

static void tg_master_send(tg_proc_t *p, const tg_msg_t *m)
{
    if (p->channel == NULL || p->pid <= 0)
        return;
    if (tg_msg_write(bufferevent_get_output(p->channel), m) == -1)
        tg_log(TG_LOG_ERROR, 0, "cannot queue a message for worker %d", p->slot);
}

static void tg_master_channel_read(struct bufferevent *bev, void *arg)
{
    tg_proc_t *p = arg;
    tg_msg_t m;
    int rc;

    while ((rc = tg_msg_read(bufferevent_get_input(bev), &m)) == 1) {
        if (m.type == TG_MSG_READY) {
            p->ready = 1;
            p->generation = (unsigned)m.generation;
        } else if (m.type == TG_MSG_CONFIG_ACK) {
            if (m.text == NULL)
                p->generation = (unsigned)m.generation;
            else
                tg_log(TG_LOG_ERROR, 0, "worker %d refused generation %llu: %s", p->slot,
                       (unsigned long long)m.generation, m.text);
        }
        tg_msg_clear(&m);
    }
    if (rc == -1)
        tg_log(TG_LOG_ERROR, 0, "malformed message from worker %d", p->slot);
}

static void tg_master_channel_event(struct bufferevent *bev, short what, void *arg)
{
    tg_proc_t *p = arg;

    /* the worker is exiting; SIGCHLD does the bookkeeping */
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(p->channel);
        p->channel = NULL;
    }
}

/* ---- workers ----------------------------------------------------------------------------- */

static void tg_master_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_proc_t *p = arg;

    if (!tg_m.stopping)
        tg_master_spawn(p);
}

static void tg_master_spawn(tg_proc_t *p)
{
    int sv[2];
    pid_t pid;
    sigset_t all, old;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        tg_log(TG_LOG_ERROR, errno, "socketpair() failed");
        return;
    }
    /* no signal may reach the child before it has reset the master's handlers */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == -1) {
        tg_log(TG_LOG_ERROR, errno, "fork() failed");
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(sv[0]);
        close(sv[1]);
        return;
    }
    if (pid == 0) {
        int *mine = tg_m.fds + p->slot * tg_m.nfds;

        close(sv[0]);
        for (int i = 0; i < TG_MAX_WORKERS; i++)
            if (tg_m.procs[i].channel != NULL)
                close(bufferevent_getfd(tg_m.procs[i].channel));
        for (int i = 0; i < tg_m.nslots * tg_m.nfds; i++)
            if (tg_m.fds + i < mine || tg_m.fds + i >= mine + tg_m.nfds)
                close(tg_m.fds[i]);
        tg_admin_http_forked();
        tg_worker_main(tg_m.cf, p->slot, sv[1], mine, tg_m.nfds);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    p->pid = pid;
    p->ready = 0;
    p->started_ns = tg_mono_ns();
    p->generation = tg_m.cf->generation;
    evutil_make_socket_nonblocking(sv[0]);
    if (p->channel != NULL)
        bufferevent_free(p->channel);
    p->channel = bufferevent_socket_new(tg_m.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(p->channel, tg_master_channel_read, NULL, tg_master_channel_event, p);
    bufferevent_enable(p->channel, EV_READ | EV_WRITE);
    tg_log(TG_LOG_INFO, 0, "started worker %d (pid %d)", p->slot, (int)pid);
}

static int tg_master_alive(void)
{
    int n = 0;

    for (int i = 0; i < tg_m.nslots; i++)
        if (tg_m.procs[i].pid > 0)
            n++;
    return n;
}

static void tg_master_reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        tg_proc_t *p = NULL;
        int64_t lived_ms;
        struct timeval tv;

        for (int i = 0; i < tg_m.nslots; i++)
            if (tg_m.procs[i].pid == pid)
                p = &tg_m.procs[i];
        if (p == NULL)
            continue;
        p->pid = 0;
        if (p->channel != NULL) {
            bufferevent_free(p->channel);
            p->channel = NULL;
        }
        if (tg_m.have_store) {
            /* its in-flight requests will never be answered: refund their reservations */
            int n = tg_meter_release_pid(&tg_m.store, (int)pid);
            if (n > 0)
                tg_log(TG_LOG_WARN, 0, "released %d in-flight reservations of worker %d", n,
                       p->slot);
        }
        if (tg_m.stopping) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                tg_log(TG_LOG_INFO, 0, "worker %d (pid %d) exited", p->slot, (int)pid);
            else
                tg_log(TG_LOG_WARN, 0, "worker %d (pid %d) ended with status %d", p->slot,
                       (int)pid, status);
            continue;
        }
        if (WIFSIGNALED(status))
            tg_log(TG_LOG_ERROR, 0, "worker %d (pid %d) was killed by signal %d", p->slot,
                   (int)pid, WTERMSIG(status));
        else
            tg_log(TG_LOG_ERROR, 0, "worker %d (pid %d) exited with code %d", p->slot, (int)pid,
                   WEXITSTATUS(status));
        /* back off when a worker dies young, so a crash loop is logged, not spun */
        lived_ms = (tg_mono_ns() - p->started_ns) / 1000000;
        if (lived_ms < TG_QUICK_EXIT_MS) {
            p->quick_exits++;
            p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : TG_RESPAWN_MIN_MS;
            if (p->backoff_ms > TG_RESPAWN_MAX_MS)
                p->backoff_ms = TG_RESPAWN_MAX_MS;
        } else {
            p->quick_exits = 0;
            p->backoff_ms = 0;
        }
        p->restarts++;
        if (p->quick_exits >= 5)
            tg_log(TG_LOG_ERROR, 0, "worker %d is crash-looping (%d quick exits); next start in"
                   " %lld ms", p->slot, p->quick_exits, (long long)p->backoff_ms);
        tv.tv_sec = (time_t)(p->backoff_ms / 1000);
        tv.tv_usec = (suseconds_t)(p->backoff_ms % 1000) * 1000;
        if (p->respawn == NULL)
            p->respawn = evtimer_new(tg_m.base, tg_master_respawn_cb, p);
        evtimer_add(p->respawn, &tv);
    }
    if (tg_m.stopping && tg_master_alive() == 0)
        event_base_loopbreak(tg_m.base);
}

/* ---- reload and shutdown ------------------------------------------------------------------- */

int tg_master_reload_by(const void *by, char *err, size_t errlen)
{
    static const tg_actor_t signal_actor = {-1, 0};
    const tg_actor_t *actor = by != NULL ? by : &signal_actor;
    tg_config_t *cf;
    tg_msg_t m;
    char sha[65], detail[TG_CONFIG_ERR_MAX + 128];

    cf = tg_config_load_file(tg_m.cf->path, err, errlen);
    if (cf != NULL && tg_admin_http_prepare(cf, err, errlen) == -1) {
        tg_config_unref(cf); /* its admin_http.listen cannot be bound: refuse it all */
        cf = NULL;
    }
    if (cf == NULL) {
        json_t *d = json_pack("{s:s,s:i}", "error", err, "generation", (int)tg_m.generation);
        char *ds = json_dumps(d, JSON_COMPACT);
        tg_log(TG_LOG_ERROR, 0, "reload failed, keeping generation %u: %s", tg_m.generation,
               err);
        tg_admin_audit(tg_master_store(), actor, "config.reload_refused", tg_m.cf->path,
                       ds ? ds : "{}");
        free(ds);
        json_decref(d);
        return -1;
    }
    if ((cf->store.path == NULL) != (tg_m.cf->store.path == NULL) ||
        (cf->store.path != NULL && strcmp(cf->store.path, tg_m.cf->store.path) != 0))
        tg_log(TG_LOG_WARN, 0, "store changes take effect only after a restart");
    if (cf->nlisten != tg_m.cf->nlisten || cf->workers != tg_m.cf->workers)
        tg_log(TG_LOG_WARN, 0, "listen and workers changes take effect only after a restart");
    for (size_t i = 0; i < cf->nlisten && i < tg_m.cf->nlisten; i++)
        if (strcmp(cf->listen[i], tg_m.cf->listen[i]) != 0)
            tg_log(TG_LOG_WARN, 0, "listen changes take effect only after a restart");
    cf->generation = ++tg_m.generation;
    memset(&m, 0, sizeof(m));
    m.type = TG_MSG_CONFIG;
    m.generation = cf->generation;
    m.source = cf->source;
    for (int i = 0; i < tg_m.nslots; i++)
        tg_master_send(&tg_m.procs[i], &m);
    tg_config_unref(tg_m.cf);
    tg_m.cf = cf;
    tg_admin_http_apply(tg_m.base, cf);
    tg_log_open(cf->error_log, (tg_log_level_t)cf->log_level);
    tg_config_sha256_hex(cf, sha);
    tg_log(TG_LOG_INFO, 0, "reloaded %s: generation %u, sha256 %s, %zu models", cf->path,
           cf->generation, sha, cf->nmodels);
    snprintf(detail, sizeof(detail), "{\"generation\":%u,\"sha256\":\"%s\"}", cf->generation,
             sha);
    tg_admin_audit(tg_master_store(), actor, "config.reload", cf->path, detail);
    return 0;
}

int tg_master_provider_key(const void *by, const char *name, const char *key, char *err,
                           size_t errlen)
{
    tg_msg_t m;

    if (tg_config_set_provider_key(tg_m.cf, name, key) == -1 ||
        tg_config_override_key(name, key) == -1) {
        snprintf(err, errlen,
                 "no provider named \"%s\" (or the key has a control character, or, for a "
                 "SigV4 bedrock provider, is neither SECRET nor ACCESS_KEY_ID:SECRET[:TOKEN])",
                 name);
        return -1;
    }
    /* workers forked from now on inherit the new key with tg_m.cf; running ones get a message */
    memset(&m, 0, sizeof(m));
    m.type = TG_MSG_PROVIDER_KEY;
    m.generation = tg_m.cf->generation;
    m.name = (char *)name;
    m.text = (char *)key;
    for (int i = 0; i < tg_m.nslots; i++)
        tg_master_send(&tg_m.procs[i], &m);
    tg_admin_audit(tg_master_store(), by, "provider.rotate_key", name,
                   *key != '\0' ? "{\"key\":\"replaced\"}" : "{\"key\":\"removed\"}");
    tg_log(TG_LOG_INFO, 0, "provider \"%s\" has a new API key", name);
    return 0;
}

static void tg_master_kill_cb(evutil_socket_t fd, short what, void *arg)
{
    for (int i = 0; i < tg_m.nslots; i++) {
        if (tg_m.procs[i].pid > 0) {
            tg_log(TG_LOG_WARN, 0, "worker %d did not drain in time; killing it", i);
            kill(tg_m.procs[i].pid, SIGKILL);
        }
    }
}

void tg_master_stop(int graceful)
{
    tg_msg_t m;
    struct timeval tv;
    int64_t grace = tg_m.cf->shutdown_timeout_ms;

    if (tg_m.stopping && graceful)
        return;
    if (tg_m.stopping || !graceful) {
        tg_log(TG_LOG_INFO, 0, "fast shutdown");
        tg_m.stopping = 1;
        for (int i = 0; i < tg_m.nslots; i++)
            if (tg_m.procs[i].pid > 0)
                kill(tg_m.procs[i].pid, SIGKILL);
        return;
    }
    tg_m.stopping = 1;
    tg_log(TG_LOG_INFO, 0, "graceful shutdown: draining workers (deadline %lld ms)",
           (long long)grace);
    memset(&m, 0, sizeof(m));
    m.type = TG_MSG_QUIT;
    m.generation = (uint64_t)grace;
    for (int i = 0; i < tg_m.nslots; i++) {
        if (tg_m.procs[i].respawn != NULL)
            evtimer_del(tg_m.procs[i].respawn);
        tg_master_send(&tg_m.procs[i], &m);
    }
    /* workers enforce the deadline themselves; this is the backstop */
    tv.tv_sec = (time_t)((grace + 2000) / 1000);
    tv.tv_usec = (suseconds_t)((grace + 2000) % 1000) * 1000;
    tg_m.kill_timer = evtimer_new(tg_m.base, tg_master_kill_cb, NULL);
    evtimer_add(tg_m.kill_timer, &tv);
    if (tg_master_alive() == 0)
        event_base_loopbreak(tg_m.base);
}

static void tg_master_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    char err[TG_CONFIG_ERR_MAX];

    switch (sig) {
    case SIGHUP:
        tg_log(TG_LOG_INFO, 0, "SIGHUP: reloading the configuration");
        tg_master_reload_by(NULL, err, sizeof(err));
        break;
    case SIGTERM:
    case SIGINT:
        /* the first drains; a second (^C twice) stops at once */
        tg_master_stop(!tg_m.stopping);
        break;
    case SIGQUIT:
        tg_master_stop(1);
        break;
    case SIGCHLD:
        tg_master_reap();
        break;
    case SIGUSR1:
        /* log rotation: reopen ours, and have every worker reopen its error and access logs */
        tg_log_open(tg_m.cf->error_log, (tg_log_level_t)tg_m.cf->log_level);
        for (int i = 0; i < tg_m.nslots; i++)
            if (tg_m.procs[i].pid > 0)
                kill(tg_m.procs[i].pid, SIGUSR1);
        tg_log(TG_LOG_INFO, 0, "SIGUSR1: logs reopened");
        break;
    }
}

/* ---- status ------------------------------------------------------------------------------ */

int tg_master_workers(tg_worker_info_t *out, int max)
{
    int n = 0;

    for (int i = 0; i < tg_m.nslots && n < max; i++, n++) {
        out[n].slot = i;
        out[n].pid = tg_m.procs[i].pid;
        out[n].restarts = tg_m.procs[i].restarts;
        out[n].generation = tg_m.procs[i].generation;
        out[n].uptime_ms =
            tg_m.procs[i].pid > 0 ? (tg_mono_ns() - tg_m.procs[i].started_ns) / 1000000 : 0;
    }
    return n;
}

tg_store_t *tg_master_store(void)
{
    return tg_m.have_store ? &tg_m.store : NULL;
}

/*
 * Metering commits are not synced one by one (MDB_NOSYNC): flush them on a timer. Once a
 * minute the same timer prunes old events and dead limit windows.
 */
static void tg_master_sync_cb(evutil_socket_t fd, short what, void *arg)
{
    static int64_t last_prune;
    struct timespec ts;
    int64_t now;

    if (tg_store_sync(&tg_m.store) == -1)
        tg_log(TG_LOG_ERROR, 0, "syncing the metering store failed");
    {
        /*
         * LMDB cannot even delete in a completely full map, so act at 80%: drop the oldest
         * request events (never usage or limits) until back under 70%.
         */
        size_t used, max;
        int rounds = 0, deleted = 0, n;
        while (rounds++ < 50 && tg_meter_fill(&tg_m.store, &used, &max) == 0 &&
               used * 10 > max * (deleted ? 7 : 8) && (n = tg_meter_make_room(&tg_m.store,
                                                                                2000)) > 0)
            deleted += n;
        if (deleted > 0)
            tg_log(TG_LOG_WARN, 0,
                   "the metering store was over 80%% full: deleted the %d oldest request events "
                   "(raise store.meter_map_size or lower store.event_retention)", deleted);
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now - last_prune >= 60000) {
        last_prune = now;
        if (tg_meter_prune(&tg_m.store, now, now - tg_m.cf->store.event_retention_ms) == -1)
            tg_log(TG_LOG_ERROR, 0, "pruning the metering store failed");
    }
}

static int tg_master_open_store(const tg_config_t *cf)
{
    tg_store_opts_t o = {cf->store.path, cf->store.control_map_size, cf->store.meter_map_size,
                         (unsigned)(cf->workers * 2 + 32), cf->store.meter_writemap};
    char err[512];
    struct timeval tv;

    if (cf->store.path == NULL)
        return 0;
    if (tg_store_open(&tg_m.store, &o, err, sizeof(err)) == -1 ||
        tg_pepper_load(cf->store.pepper_file, tg_pepper, err, sizeof(err)) == -1) {
        tg_log(TG_LOG_CRIT, 0, "%s", err);
        fprintf(stderr, "tollgate: %s\n", err);
        return -1;
    }
    tg_m.have_store = 1;
    /* no worker runs yet: whatever is still in flight was cut off by a previous crash */
    if (tg_meter_release_pid(&tg_m.store, 0) > 0)
        tg_log(TG_LOG_WARN, 0, "released in-flight reservations left by a previous run");
    tv.tv_sec = (time_t)(cf->store.sync_interval_ms / 1000);
    tv.tv_usec = (suseconds_t)(cf->store.sync_interval_ms % 1000) * 1000;
    tg_m.sync_timer = event_new(tg_m.base, -1, EV_PERSIST, tg_master_sync_cb, NULL);
    event_add(tg_m.sync_timer, &tv);
    return 0;
}

const tg_config_t *tg_master_config(void)
{
    return tg_m.cf;
}

struct event_base *tg_master_base(void)
{
    return tg_m.base;
}

/* ---- main loop --------------------------------------------------------------------------- */

static int tg_master_write_pid(const char *path)
{
    char buf[32];
    int fd, n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        tg_log(TG_LOG_ERROR, errno, "open(\"%s\") failed", path);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        tg_log(TG_LOG_ERROR, errno, "write(\"%s\") failed", path);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int tg_master_run(tg_config_t *cf)
{
    static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGUSR1};
    char err[TG_CONFIG_ERR_MAX];

    tg_log_set_role("master");
    tg_m.cf = cf;
    tg_m.generation = cf->generation = 1;
    tg_m.nslots = cf->workers > TG_MAX_WORKERS ? TG_MAX_WORKERS : cf->workers;
    tg_m.nfds = (int)cf->nlisten;
    tg_m.fds = calloc((size_t)(tg_m.nslots * tg_m.nfds), sizeof(int));
    if (tg_m.fds == NULL)
        return 1;
    for (int s = 0; s < tg_m.nslots; s++) {
        for (int i = 0; i < tg_m.nfds; i++) {
            int fd = tg_listen_bind(cf->listen[i], err, sizeof(err));
            if (fd == -1) {
                tg_log(TG_LOG_CRIT, 0, "%s", err);
                fprintf(stderr, "tollgate: %s\n", err);
                return 1;
            }
            tg_m.fds[s * tg_m.nfds + i] = fd;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    tg_m.base = event_base_new();
    if (tg_m.base == NULL)
        return 1;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        tg_m.signals[i] = evsignal_new(tg_m.base, sigs[i], tg_master_signal_cb, NULL);
        evsignal_add(tg_m.signals[i], NULL);
    }
    if (cf->pid_file != NULL) {
        if (tg_master_write_pid(cf->pid_file) == -1)
            return 1;
        tg_m.pid_file = strdup(cf->pid_file);
    }
    if (tg_master_open_store(cf) == -1 || tg_admin_start(tg_m.base, cf) == -1 ||
        tg_admin_http_start(tg_m.base, cf) == -1)
        return 1;
    tg_log(TG_LOG_INFO, 0, "tollgate %s starting %d workers on %s%s", TG_VERSION, tg_m.nslots,
           cf->listen[0], cf->nlisten > 1 ? " and more" : "");
    for (int s = 0; s < tg_m.nslots; s++) {
        tg_m.procs[s].slot = s;
        tg_master_spawn(&tg_m.procs[s]);
    }

    event_base_dispatch(tg_m.base);

    tg_admin_stop();
    tg_admin_http_stop();
    if (tg_m.have_store) {
        event_free(tg_m.sync_timer);
        tg_store_close(&tg_m.store); /* syncs the meter environment */
        explicit_bzero(tg_pepper, sizeof(tg_pepper));
    }
    for (int s = 0; s < tg_m.nslots; s++) {
        if (tg_m.procs[s].channel != NULL)
            bufferevent_free(tg_m.procs[s].channel);
        if (tg_m.procs[s].respawn != NULL)
            event_free(tg_m.procs[s].respawn);
    }
    for (int i = 0; i < tg_m.nslots * tg_m.nfds; i++)
        close(tg_m.fds[i]);
    free(tg_m.fds);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        event_free(tg_m.signals[i]);
    if (tg_m.kill_timer != NULL)
        event_free(tg_m.kill_timer);
    event_base_free(tg_m.base);
    if (tg_m.pid_file != NULL) {
        unlink(tg_m.pid_file);
        free(tg_m.pid_file);
    }
    tg_log(TG_LOG_INFO, 0, "stopped");
    tg_config_unref(tg_m.cf);
    tg_config_overrides_clear();
    return tg_m.exit_code;
}
