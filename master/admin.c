/*
 * The admin socket: a unix stream socket owned by the master, mode 0600, that only the gateway's
 * own user (or root) may use — checked with SO_PEERCRED, not just file modes. Each line in is one
 * JSON command, each line out one JSON reply. The protocol is docs/admin-protocol.md.
 */
#include "master/admin_analytics.h"
#include "master/admin_calc.h"
#include "master/admin_keys.h"
#include "master/admin_routes.h"
#include "master/master.h"
#include "shared/tg_log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TG_ADMIN_MAX_LINE (1024 * 1024)

static struct {
    struct evconnlistener *listener;
    char *path;
} tg_admin;

typedef struct tg_admin_conn_s {
    struct bufferevent *bev;
    uid_t uid;
    pid_t pid;
    struct tg_admin_conn_s *prev, *next; /* every open connection, freed at shutdown */
} tg_admin_conn_t;

static tg_admin_conn_t *tg_admin_conns;

static void tg_admin_reply(tg_admin_conn_t *c, json_t *reply)
{
    char *s = json_dumps(reply, JSON_COMPACT);

    if (s != NULL) {
        bufferevent_write(c->bev, s, strlen(s));
        bufferevent_write(c->bev, "\n", 1);
        free(s);
    }
    json_decref(reply);
}

static json_t *tg_admin_status(void)
{
    const tg_config_t *cf = tg_master_config();
    char sha[65];

    tg_config_sha256_hex(cf, sha);
    return json_pack("{s:b,s:s,s:i,s:i,s:s,s:s,s:i,s:i}", "ok", 1, "version", TG_VERSION, "pid",
                     (int)getpid(), "generation", (int)cf->generation, "config", cf->path,
                     "config_sha256", sha, "models", (int)cf->nmodels, "providers",
                     (int)cf->nproviders);
}

static json_t *tg_admin_workers(void)
{
    tg_worker_info_t w[256];
    int n = tg_master_workers(w, 256);
    json_t *arr = json_array();

    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i,s:i,s:i,s:i,s:I}", "slot", w[i].slot, "pid",
                                             (int)w[i].pid, "restarts", (int)w[i].restarts,
                                             "generation", (int)w[i].generation, "uptime_ms",
                                             (json_int_t)w[i].uptime_ms));
    return json_pack("{s:b,s:o}", "ok", 1, "workers", arr);
}

static json_t *tg_admin_providers(void)
{
    static const char *const sources[] = {"none", "env", "file", "rotated"};
    const tg_config_t *cf = tg_master_config();
    json_t *arr = json_array();

    for (size_t i = 0; i < cf->nproviders; i++) {
        const tg_provider_t *p = &cf->providers[i];
        int models = 0;
        for (size_t j = 0; j < cf->nmodels; j++)
            models += cf->models[j].provider == p;
        /* never the key; not even its length. A SigV4 provider's key is its secret access key */
        int sigv4 = tg_provider_sigv4(p);
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:b,s:b,s:s,s:i}", "name", p->name, "kind",
                           tg_provider_kind_name(p->kind), "base_url", p->base_url, "http2",
                           p->http2, "has_key", sigv4 || p->api_key != NULL, "key_source",
                           sources[sigv4 ? p->aws_key_source : (int)p->key_source], "models",
                           models));
    }
    return json_pack("{s:b,s:o}", "ok", 1, "providers", arr);
}

/* A price in pico-dollars per token back to "USD per 1M tokens" text: 2500000 -> "2.50". */
static json_t *tg_admin_price(int64_t pico)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld.%06lld", (long long)(pico / 1000000),
                     (long long)(pico % 1000000));

    while (n > 0 && buf[n - 1] == '0' && buf[n - 3] != '.')
        buf[--n] = '\0';
    return json_string(buf);
}

static json_t *tg_admin_routes(void)
{
    const tg_config_t *cf = tg_master_config();
    json_t *arr = json_array();

    for (size_t i = 0; i < cf->nmodels; i++) {
        const tg_model_t *m = &cf->models[i];
        json_t *caps = json_array();
        static const char *const names[] = {"tools", "vision", "json", "reasoning", "embeddings"};
        for (int c = 0; c < 5; c++)
            if (m->caps & (1u << c))
                json_array_append_new(caps, json_string(names[c]));
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:I,s:o}", "name", m->name, "provider",
                           m->provider->name, "upstream_model", m->upstream_model, "input",
                           tg_admin_price(m->price.input), "output",
                           tg_admin_price(m->price.output), "cached_input",
                           m->price.cached >= 0 ? tg_admin_price(m->price.cached) : json_null(),
                           "context_window", (json_int_t)m->context_window, "max_output_tokens",
                           (json_int_t)m->max_output_tokens, "capabilities", caps));
    }
    return json_pack("{s:b,s:i,s:o}", "ok", 1, "generation", (int)cf->generation, "models", arr);
}

/* Who asked, for the error log: "admin (uid 1000 pid 42)" or "admin http". */
static const char *tg_admin_who(const tg_actor_t *a, char *buf, size_t size)
{
    if (a->uid == TG_ACTOR_HTTP)
        snprintf(buf, size, "admin http");
    else
        snprintf(buf, size, "admin (uid %d pid %d)", a->uid, a->pid);
    return buf;
}

json_t *tg_admin_command(const tg_actor_t *actor, json_t *req)
{
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    char err[TG_CONFIG_ERR_MAX], who[64];
    json_t *reply;

    if (cmd == NULL)
        return tg_admin_err("missing \"cmd\"");
    if ((reply = tg_admin_keys(tg_master_store(), cmd, req, actor)) != NULL ||
        (reply = tg_admin_route_cmds(tg_master_config(), tg_master_store(), cmd, req)) != NULL ||
        (reply = tg_admin_analytics(tg_master_config(), tg_master_store(), cmd, req)) != NULL ||
        (reply = tg_admin_calc(tg_master_config(), tg_master_store(), cmd, req, actor)) != NULL)
        return reply;
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "ping") == 0)
        return tg_admin_status();
    if (strcmp(cmd, "workers") == 0)
        return tg_admin_workers();
    if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "routes.reload") == 0) {
        tg_log(TG_LOG_INFO, 0, "%s: reload", tg_admin_who(actor, who, sizeof(who)));
        if (tg_master_reload_by(actor, err, sizeof(err)) == -1)
            return tg_admin_err("%s", err);
        return tg_admin_status();
    }
    if (strcmp(cmd, "providers.list") == 0)
        return tg_admin_providers();
    if (strcmp(cmd, "routes.show") == 0)
        return tg_admin_routes();
    if (strcmp(cmd, "providers.rotate_key") == 0) {
        const char *name = json_string_value(json_object_get(req, "name"));
        const char *secret = json_string_value(json_object_get(req, "secret"));
        if (name == NULL || secret == NULL)
            return tg_admin_err("providers.rotate_key needs \"name\" and \"secret\"");
        if (tg_master_provider_key(actor, name, secret, err, sizeof(err)) == -1)
            return tg_admin_err("%s", err);
        return json_pack("{s:b,s:s}", "ok", 1, "provider", name);
    }
    if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "stop") == 0) {
        tg_log(TG_LOG_INFO, 0, "%s: %s", tg_admin_who(actor, who, sizeof(who)), cmd);
        tg_admin_audit(tg_master_store(), actor, "gateway.drain", "gateway", "{}");
        tg_master_stop(1);
        return json_pack("{s:b,s:s}", "ok", 1, "state", "draining");
    }
    return tg_admin_err("unknown command \"%s\"", cmd);
}

static void tg_admin_close(tg_admin_conn_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        tg_admin_conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

static void tg_admin_read(struct bufferevent *bev, void *arg)
{
    tg_admin_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;

    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
        json_error_t jerr;
        json_t *req = json_loadb(line, len, 0, &jerr);

        free(line);
        if (!json_is_object(req)) {
            json_decref(req);
            tg_admin_reply(c, tg_admin_err("a command is one JSON object per line"));
            continue;
        }
        tg_actor_t actor = {(int)c->uid, (int)c->pid};
        tg_admin_reply(c, tg_admin_command(&actor, req));
        json_decref(req);
    }
    if (evbuffer_get_length(in) > TG_ADMIN_MAX_LINE)
        tg_admin_close(c);
}

static void tg_admin_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        tg_admin_close(arg);
}

static void tg_admin_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    tg_admin_conn_t *c;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
        tg_log(TG_LOG_ERROR, errno, "getsockopt(SO_PEERCRED) failed");
        close(fd);
        return;
    }
    if (cred.uid != geteuid() && cred.uid != 0) {
        static const char deny[] = "{\"ok\":false,\"error\":\"permission denied: wrong user\"}\n";
        tg_log(TG_LOG_WARN, 0, "admin socket: refused uid %d (pid %d)", (int)cred.uid,
               (int)cred.pid);
        if (write(fd, deny, sizeof(deny) - 1) < 0) {
            /* the peer is being refused anyway */
        }
        close(fd);
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->uid = cred.uid;
    c->pid = cred.pid;
    c->next = tg_admin_conns;
    if (c->next != NULL)
        c->next->prev = c;
    tg_admin_conns = c;
    c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, tg_admin_read, NULL, tg_admin_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int tg_admin_start(struct event_base *base, const tg_config_t *cf)
{
    struct sockaddr_un sun;
    mode_t old;
    int fd;

    if (cf->admin_socket == NULL)
        return 0;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(cf->admin_socket) >= sizeof(sun.sun_path)) {
        tg_log(TG_LOG_CRIT, 0, "admin_socket path too long: %s", cf->admin_socket);
        return -1;
    }
    memcpy(sun.sun_path, cf->admin_socket, strlen(cf->admin_socket));
    unlink(cf->admin_socket); /* a stale socket from a previous run */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        tg_log(TG_LOG_CRIT, errno, "socket(AF_UNIX) failed");
        return -1;
    }
    old = umask(0077); /* born 0600: no window where others could connect */
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
        umask(old);
        tg_log(TG_LOG_CRIT, errno, "bind(\"%s\") failed", cf->admin_socket);
        close(fd);
        return -1;
    }
    umask(old);
    chmod(cf->admin_socket, 0600);
    tg_admin.listener =
        evconnlistener_new(base, tg_admin_accept, NULL, LEV_OPT_CLOSE_ON_FREE, 16, fd);
    if (tg_admin.listener == NULL) {
        tg_log(TG_LOG_CRIT, errno, "listen(\"%s\") failed", cf->admin_socket);
        close(fd);
        return -1;
    }
    tg_admin.path = strdup(cf->admin_socket);
    return 0;
}

void tg_admin_stop(void)
{
    while (tg_admin_conns != NULL)
        tg_admin_close(tg_admin_conns);
    if (tg_admin.listener != NULL)
        evconnlistener_free(tg_admin.listener);
    if (tg_admin.path != NULL) {
        unlink(tg_admin.path);
        free(tg_admin.path);
    }
    memset(&tg_admin, 0, sizeof(tg_admin));
}
