/*
 * Worker process lifecycle: a fresh event_base after fork (some backends do not survive fork),
 * HTTP listeners, libcurl, and the master channel carrying config generations and quit orders.
 * Draining stops accepting, lets in-flight requests and streams finish, and exits at the deadline.
 */
#include "worker/worker.h"
#include "shared/tg_channel.h"
#include "shared/tg_log.h"
#include "worker/access_log.h"
#include "worker/auth.h"
#include "worker/health.h"
#include "worker/meter.h"
#include "worker/secevents.h"
#include "worker/shadow.h"
#include "worker/http.h"
#include "worker/pipeline.h"
#include "worker/provider.h"
#include "worker/upstream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    struct event_base *base;
    struct bufferevent *channel;
    struct event *drain_timer;
    struct event *signals; /* signalfd: the master's libevent owns signal handling state */
    int sigfd;
    tg_config_t *cf;
    int slot;
    int draining;
    int64_t deadline_ns;
} tg_w;

static void tg_worker_reply(tg_msg_type_t type, uint64_t gen, const char *text)
{
    tg_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.generation = gen;
    m.text = (char *)text;
    if (tg_msg_write(bufferevent_get_output(tg_w.channel), &m) == -1)
        tg_log(TG_LOG_ERROR, 0, "cannot queue a message to the master");
}

static void tg_worker_apply(tg_msg_t *m)
{
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;

    m->source.from_disk = 0;
    cf = tg_config_load_source(&m->source, err, sizeof(err));
    if (cf == NULL) {
        /* the master validated these bytes; failing here means the environment differs */
        tg_log(TG_LOG_ERROR, 0, "configuration generation %llu refused: %s",
               (unsigned long long)m->generation, err);
        tg_worker_reply(TG_MSG_CONFIG_ACK, m->generation, err);
        return;
    }
    cf->generation = (unsigned)m->generation;
    if ((cf->access_log == NULL) != (tg_w.cf->access_log == NULL) ||
        (cf->access_log && strcmp(cf->access_log, tg_w.cf->access_log) != 0))
        tg_access_log_open(tg_w.base, cf->access_log);
    tg_http_set_config(cf); /* new requests only; in-flight ones keep their reference */
    tg_config_unref(tg_w.cf);
    tg_w.cf = cf;
    tg_log(TG_LOG_INFO, 0, "switched to configuration generation %u", cf->generation);
    tg_worker_reply(TG_MSG_CONFIG_ACK, m->generation, NULL);
}

/*
 * A provider's key changes live: remember it (every configuration compiled from now on, reloads
 * included, uses it), compile a fresh copy of the running configuration and switch to it.
 * Requests in flight keep the old object and finish with the old key.
 */
static void tg_worker_provider_key(const char *name, const char *key)
{
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;

    if (tg_config_override_key(name, key) == -1) {
        tg_log(TG_LOG_ERROR, 0, "provider key rotation for \"%s\" refused", name);
        return;
    }
    if ((cf = tg_config_load_source(&tg_w.cf->source, err, sizeof(err))) == NULL) {
        tg_log(TG_LOG_ERROR, 0, "provider key rotation failed: %s", err);
        return;
    }
    cf->generation = tg_w.cf->generation;
    tg_http_set_config(cf);
    tg_config_unref(tg_w.cf);
    tg_w.cf = cf;
    tg_log(TG_LOG_INFO, 0, "provider \"%s\" has a new API key", name);
}

static void tg_worker_check_drained(evutil_socket_t fd, short what, void *arg)
{
    struct timeval tv = {0, 50000};

    if (tg_http_connections() == 0 && tg_upstream_running() == 0) {
        event_base_loopbreak(tg_w.base);
        return;
    }
    if (tg_now_ns() >= tg_w.deadline_ns) {
        tg_log(TG_LOG_WARN, 0, "drain deadline reached with %d connections open; closing them",
               tg_http_connections());
        event_base_loopbreak(tg_w.base);
        return;
    }
    evtimer_add(tg_w.drain_timer, &tv);
}

static void tg_worker_drain(int64_t timeout_ms)
{
    if (tg_w.draining)
        return;
    tg_w.draining = 1;
    tg_w.deadline_ns = tg_now_ns() + timeout_ms * 1000000;
    tg_log(TG_LOG_INFO, 0, "draining: %d connections open, deadline %lld ms",
           tg_http_connections(), (long long)timeout_ms);
    tg_pipeline_set_draining();
    tg_http_drain();
    tg_worker_check_drained(-1, 0, NULL);
}

static void tg_worker_channel_read(struct bufferevent *bev, void *arg)
{
    tg_msg_t m;
    int rc;

    while ((rc = tg_msg_read(bufferevent_get_input(bev), &m)) == 1) {
        switch (m.type) {
        case TG_MSG_CONFIG:
            tg_worker_apply(&m);
            break;
        case TG_MSG_QUIT:
            tg_worker_drain((int64_t)m.generation);
            break;
        case TG_MSG_PROVIDER_KEY:
            tg_worker_provider_key(m.name, m.text);
            break;
        default:
            tg_log(TG_LOG_WARN, 0, "unexpected message %d from the master", (int)m.type);
        }
        tg_msg_clear(&m);
    }
    if (rc == -1) {
        tg_log(TG_LOG_ERROR, 0, "malformed message from the master; draining");
        tg_worker_drain(tg_w.cf->shutdown_timeout_ms);
    }
}

static void tg_worker_channel_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        /* the master is gone: finish what we have and leave */
        tg_log(TG_LOG_WARN, 0, "lost the master channel; draining");
        bufferevent_disable(bev, EV_READ);
        tg_worker_drain(tg_w.cf->shutdown_timeout_ms);
    }
}

static void tg_worker_signal(evutil_socket_t fd, short what, void *arg)
{
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM) {
            tg_worker_drain(tg_w.cf->shutdown_timeout_ms);
        } else if (si.ssi_signo == SIGUSR1) {
            tg_log_open(tg_w.cf->error_log, (tg_log_level_t)tg_w.cf->log_level);
            tg_access_log_open(tg_w.base, tg_w.cf->access_log);
        }
    }
}

void tg_worker_main(tg_config_t *cf, int slot, int channel, const int *fds, int nfds)
{
    char role[32];
    sigset_t set;

    snprintf(role, sizeof(role), "worker %d", slot);
    tg_log_set_role(role);
    /*
     * The master's handlers are still installed (inherited through fork) and would write into
     * the master's own signal pipe. Reset them; TERM and USR1 arrive through a signalfd, since
     * a second libevent base in this process must not register signals.
     */
    signal(SIGINT, SIG_IGN); /* a terminal's ^C reaches the whole group: the master decides */
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    tg_w.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    tg_w.cf = cf;
    tg_w.slot = slot;
    tg_config_set_ext_free(tg_provider_ext_free);
    {
        /* coalesce the interest changes made during one loop turn into one epoll_ctl per fd */
        struct event_config *ec = event_config_new();
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        tg_w.base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (tg_w.base == NULL || tg_upstream_init(tg_w.base) == -1) {
        tg_log(TG_LOG_CRIT, 0, "worker setup failed");
        _exit(2);
    }
    tg_w.drain_timer = evtimer_new(tg_w.base, tg_worker_check_drained, NULL);
    if (tg_w.sigfd == -1) {
        tg_log(TG_LOG_CRIT, errno, "signalfd() failed");
        _exit(2);
    }
    tg_w.signals = event_new(tg_w.base, tg_w.sigfd, EV_READ | EV_PERSIST, tg_worker_signal, NULL);
    event_add(tg_w.signals, NULL);
    sigprocmask(SIG_SETMASK, &set, NULL); /* only TERM and USR1 blocked: they go to the fd */

    if (tg_auth_init(cf) == -1 || tg_secevents_init(tg_w.base) == -1 ||
        tg_meter_init(tg_w.base) == -1 || tg_health_init(tg_w.base) == -1)
        _exit(2);
    tg_access_log_open(tg_w.base, cf->access_log);
    tg_http_set_config(cf);
    for (int i = 0; i < nfds; i++)
        if (tg_http_listen(tg_w.base, fds[i], tg_pipeline_handle) == -1)
            _exit(2);
    evutil_make_socket_nonblocking(channel);
    tg_w.channel = bufferevent_socket_new(tg_w.base, channel, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(tg_w.channel, tg_worker_channel_read, NULL, tg_worker_channel_event, NULL);
    bufferevent_enable(tg_w.channel, EV_READ | EV_WRITE);
    tg_worker_reply(TG_MSG_READY, cf->generation, NULL);
    tg_log(TG_LOG_INFO, 0, "started, configuration generation %u", cf->generation);

    event_base_dispatch(tg_w.base);

    tg_http_close_all();
    tg_shadow_shutdown();
    tg_upstream_shutdown();
    tg_pipeline_cleanup();
    tg_access_log_shutdown();
    tg_secevents_shutdown();
    tg_meter_shutdown();
    tg_health_shutdown();
    tg_auth_shutdown();
    bufferevent_free(tg_w.channel);
    event_free(tg_w.drain_timer);
    event_free(tg_w.signals);
    close(tg_w.sigfd);
    event_base_free(tg_w.base);
    tg_config_unref(tg_w.cf);
    tg_config_overrides_clear();
    tg_log(TG_LOG_INFO, 0, "exiting");
    exit(0);
}
