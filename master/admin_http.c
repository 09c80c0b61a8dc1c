/*
 * The admin HTTP listener (see admin_http.h), in the master's event loop: the master has the
 * store and the configuration, and workers never see admin traffic. Connections are libevent
 * bufferevents parsed by http-parser, like the workers' server but without its machinery for
 * volume (admin traffic is a scrape every few seconds): one request at a time per connection, a
 * bounded URL and body, one idle/read deadline, at most TG_AH_MAX_CONNS connections. Every
 * request needs the bearer token; GET /metrics renders master/metrics.c, /admin/v1/<command>
 * runs the admin socket's dispatcher through the table tg_ah_cmds.
 */
#include "master/admin_http.h"
#include "master/admin_keys.h"
#include "master/listen.h"
#include "master/master.h"
#include "master/metrics.h"
#include "shared/tg_buf.h"
#include "shared/tg_log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TG_AH_MAX_CONNS 64
#define TG_AH_MAX_URL 8192
#define TG_AH_MAX_BODY (1024 * 1024)
#define TG_AH_TIMEOUT_S 30
#define TG_AH_PREFIX "/admin/v1/"

/*
 * The admin commands the HTTP API offers: GET /admin/v1/<cmd with '.' as '/'>?<params>, or
 * POST with a JSON object of fields. A new command is one line here (and one in
 * docs/analytics.md). Left out on purpose: keys.create and keys.rotate (their reply holds a
 * key's secret), providers.rotate_key (its request holds one), drain/stop (stopping the gateway
 * from the network): those stay on the admin socket.
 */
typedef struct {
    const char *cmd;
    int change;         /* 0: read-only, GET or POST; 1: a change, POST only (audited as http) */
    const char *params; /* GET query parameters and their types: "name:s" string, ":i" integer */
} tg_ah_cmd_t;

static const tg_ah_cmd_t tg_ah_cmds[] = {
    {"status", 0, ""},
    {"workers", 0, ""},
    {"usage", 0, "by:s since:i until:i"},
    {"savings", 0, "by:s since:i until:i"},
    {"experiments", 0, "since:i until:i"},
    {"events.tail", 0, "after:s limit:i"},
    {"routes.list", 0, ""},
    {"routes.show", 0, ""},
    {"routes.explain", 0, "task:s complexity:s key_task:s"}, /* POST: {"request": {...}} */
    {"calc", 0, "replay:i since:i until:i route:s days_per_month:i"}, /* POST: {"profile"} */
    {"providers.list", 0, ""},
    {"audit.tail", 0, "n:i"},
    {"audit.verify", 0, ""},
    {"audit.export", 0, ""},
    {"keys.list", 0, "tenant:s"},
    {"keys.show", 0, "id:s"},
    {"tenants.list", 0, ""},
    {"tenants.show", 0, "name:s"},
    {"reload", 1, ""},
    {"keys.revoke", 1, ""},
    {"keys.set", 1, ""},
    {"tenants.create", 1, ""},
    {"tenants.set", 1, ""},
};

typedef struct tg_ah_conn_s {
    struct bufferevent *bev;
    http_parser parser;
    char peer[64];
    tg_buf_t url, body;
    char field[16];
    size_t field_len;
    int in_value;   /* the last header callback was a value */
    int is_auth;    /* the header being read is Authorization */
    int auth_seen;  /* ... and one was read before: two are refused */
    char auth[512]; /* the Authorization value: holds the presented token, wiped after use */
    size_t auth_len;
    int bad_auth;  /* too long, or twice */
    int too_large; /* 414 (URL) or 413 (body) */
    int closing;   /* close once the response is written */
    struct tg_ah_conn_s *prev, *next;
} tg_ah_conn_t;

static struct {
    struct evconnlistener *listener;
    char *listen;   /* the address served */
    int pending_fd; /* bound by prepare, taken by apply; -1: none */
    unsigned char token_sha[32];
    int have_token;
    tg_ah_conn_t *conns;
    tg_ah_conn_t *busy; /* the connection whose request is being answered */
    int nconns;
    unsigned refused; /* 401s since the last warning */
    int64_t refused_logged_ms;
} tg_ah = {.pending_fd = -1};

static void tg_ah_sha256(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 32;

    EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

int tg_admin_http_token_ok(const unsigned char want[32], const char *header, size_t len)
{
    unsigned char got[32];
    size_t i = 6, end = len;
    int ok;

    if (len < 7 || strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return 0;
    while (i < len && (header[i] == ' ' || header[i] == '\t'))
        i++;
    while (end > i && (header[end - 1] == ' ' || header[end - 1] == '\t'))
        end--;
    if (end == i)
        return 0;
    tg_ah_sha256(header + i, end - i, got);
    ok = CRYPTO_memcmp(want, got, 32) == 0;
    explicit_bzero(got, sizeof(got));
    return ok;
}

static int64_t tg_ah_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connections ------------------------------------------------------------------------- */

static void tg_ah_reset(tg_ah_conn_t *c)
{
    tg_buf_reset(&c->url);
    tg_buf_reset(&c->body);
    explicit_bzero(c->auth, sizeof(c->auth));
    c->auth_len = c->field_len = 0;
    c->in_value = c->is_auth = c->auth_seen = c->bad_auth = c->too_large = 0;
}

static void tg_ah_close(tg_ah_conn_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        tg_ah.conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    tg_ah.nconns--;
    bufferevent_free(c->bev);
    tg_ah_reset(c);
    tg_buf_free(&c->url);
    tg_buf_free(&c->body);
    free(c);
}

static const char *tg_ah_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    default:
        return "Internal Server Error";
    }
}

static void tg_ah_send(tg_ah_conn_t *c, int status, const char *type, const char *body, size_t len,
                       const char *headers)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n%s%s\r\n",
                        status, tg_ah_reason(status), type, len, headers ? headers : "",
                        c->closing ? "Connection: close\r\n" : "");
    evbuffer_add(out, body, len);
}

static void tg_ah_send_json(tg_ah_conn_t *c, int status, json_t *j, const char *headers)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s == NULL) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}";
        tg_ah_send(c, 500, "application/json", oom, sizeof(oom) - 1, NULL);
    } else {
        tg_ah_send(c, status, "application/json", s, strlen(s), headers);
    }
    free(s);
    json_decref(j);
}

/* An error answer: {"error":{"message","type"}}. */
static void tg_ah_error(tg_ah_conn_t *c, int status, const char *type, const char *headers,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void tg_ah_error(tg_ah_conn_t *c, int status, const char *type, const char *headers,
                        const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tg_ah_send_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "message", msg, "type", type),
                    headers);
}

/* ---- the JSON API ------------------------------------------------------------------------ */

/* Add the query parameter key=value to req as the type cmd's table entry gives it. */
static int tg_ah_param(tg_ah_conn_t *c, const tg_ah_cmd_t *t, json_t *req, const char *key,
                       const char *value)
{
    size_t kl = strlen(key);
    const char *p = t->params;
    char type = 0;

    while (p != NULL && *p != '\0' && type == 0) {
        const char *colon = strchr(p, ':');
        if (colon == NULL)
            break;
        if ((size_t)(colon - p) == kl && strncmp(p, key, kl) == 0)
            type = colon[1];
        p = strchr(colon, ' ');
        p = p != NULL ? p + 1 : NULL;
    }
    if (type == 0) {
        tg_ah_error(c, 400, "invalid_request_error", NULL,
                    "unknown parameter \"%.64s\" for %s (it takes: %s)", key, t->cmd,
                    *t->params ? t->params : "none");
        return -1;
    }
    if (json_object_get(req, key) != NULL) {
        tg_ah_error(c, 400, "invalid_request_error", NULL, "parameter \"%s\" given twice", key);
        return -1;
    }
    if (type == 'i') {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0') {
            tg_ah_error(c, 400, "invalid_request_error", NULL,
                        "parameter \"%s\" must be an integer", key);
            return -1;
        }
        json_object_set_new(req, key, json_integer(v));
    } else {
        json_object_set_new(req, key, json_string(value));
    }
    return 0;
}

/* GET: the query's parameters as the command's fields. */
static json_t *tg_ah_query_fields(tg_ah_conn_t *c, const tg_ah_cmd_t *t, const char *q, size_t qlen)
{
    struct evkeyvalq kv;
    char *text = strndup(q, qlen);
    json_t *req = json_object();
    int rc = 0;

    kv.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
    kv.tqh_last = &kv.tqh_first;
    if (text == NULL || req == NULL || evhttp_parse_query_str(text, &kv) != 0) {
        tg_ah_error(c, 400, "invalid_request_error", NULL, "malformed query string");
        rc = -1;
    }
    for (struct evkeyval *e = kv.tqh_first; e != NULL && rc == 0; e = e->next.tqe_next)
        rc = tg_ah_param(c, t, req, e->key, e->value);
    evhttp_clear_headers(&kv);
    free(text);
    if (rc == -1) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* POST: the body, a JSON object (empty: no fields). */
static json_t *tg_ah_body_fields(tg_ah_conn_t *c)
{
    json_error_t e;
    json_t *req;

    if (c->body.len == 0)
        return json_object();
    req = json_loadb(c->body.data, c->body.len, 0, &e);
    if (!json_is_object(req)) {
        json_decref(req);
        tg_ah_error(c, 400, "invalid_request_error", NULL,
                    "a POST body is one JSON object of the command's fields");
        return NULL;
    }
    return req;
}

static void tg_ah_api(tg_ah_conn_t *c, const char *path, size_t len, const char *query, size_t qlen)
{
    static const tg_actor_t actor = {TG_ACTOR_HTTP, 0};
    const tg_ah_cmd_t *t = NULL;
    int post = c->parser.method == HTTP_POST;
    char cmd[64];
    json_t *req, *reply, *ok;

    if (len == 0 || len >= sizeof(cmd))
        goto not_found;
    for (size_t i = 0; i < len; i++)
        cmd[i] = path[i] == '/' ? '.' : path[i] == '.' ? '\0' : path[i]; /* no "a.b" spelling */
    cmd[len] = '\0';
    for (size_t i = 0; i < sizeof(tg_ah_cmds) / sizeof(tg_ah_cmds[0]) && t == NULL; i++)
        if (strlen(cmd) == len && strcmp(cmd, tg_ah_cmds[i].cmd) == 0)
            t = &tg_ah_cmds[i];
    if (t == NULL)
        goto not_found;
    if (!post && (t->change || c->parser.method != HTTP_GET)) {
        tg_ah_error(c, 405, "invalid_request_error",
                    t->change ? "Allow: POST\r\n" : "Allow: GET, POST\r\n", "%s %s",
                    t->change ? "a change needs POST:" : "use GET or POST for", t->cmd);
        return;
    }
    if (post && qlen > 0) {
        tg_ah_error(c, 400, "invalid_request_error", NULL,
                    "a POST takes its fields as a JSON object body, not a query string");
        return;
    }
    if ((req = post ? tg_ah_body_fields(c) : tg_ah_query_fields(c, t, query, qlen)) == NULL)
        return;
    json_object_set_new(req, "cmd", json_string(t->cmd)); /* the path decides, never the body */
    reply = tg_admin_command(&actor, req);
    json_decref(req);
    if (t->change)
        tg_log(TG_LOG_INFO, 0, "admin http %s: %s", c->peer, t->cmd);
    ok = json_object_get(reply, "ok");
    if (json_is_true(ok)) {
        tg_ah_send_json(c, 200, reply, NULL);
        return;
    }
    tg_ah_error(c, reply != NULL ? 400 : 500, "invalid_request_error", NULL, "%s",
                json_string_value(json_object_get(reply, "error")) != NULL
                    ? json_string_value(json_object_get(reply, "error"))
                    : "the command failed");
    json_decref(reply);
    return;
not_found:
    tg_ah_error(c, 404, "not_found_error", NULL, "no admin command at " TG_AH_PREFIX "%.*s",
                (int)(len < 64 ? len : 64), path);
}

static void tg_ah_metrics(tg_ah_conn_t *c)
{
    tg_worker_info_t w[256];
    tg_metrics_src_t src = {tg_master_store(), tg_master_config(), w, tg_master_workers(w, 256)};
    tg_buf_t out = {NULL, 0, 0};
    char err[256];

    if (c->parser.method != HTTP_GET) {
        tg_ah_error(c, 405, "invalid_request_error", "Allow: GET\r\n", "use GET for /metrics");
        return;
    }
    if (tg_metrics_render(&src, tg_ah_now_ms(), &out, err, sizeof(err)) == -1) {
        tg_log(TG_LOG_ERROR, 0, "/metrics: %s", err);
        tg_ah_error(c, 500, "server_error", NULL, "%s", err);
    } else {
        tg_ah_send(c, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len, NULL);
    }
    tg_buf_free(&out);
}

/* Refused for want of a token: answered at once, warned about at most every 10 s. */
static void tg_ah_refuse(tg_ah_conn_t *c)
{
    int64_t now = tg_ah_now_ms();

    tg_ah.refused++;
    if (now - tg_ah.refused_logged_ms >= 10000) {
        tg_log(TG_LOG_WARN, 0,
               "admin http: refused %u request(s) without a valid token (the "
               "last from %s)",
               tg_ah.refused, c->peer);
        tg_ah.refused = 0;
        tg_ah.refused_logged_ms = now;
    }
    tg_ah_error(c, 401, "authentication_error", "WWW-Authenticate: Bearer realm=\"tollgate\"\r\n",
                "this needs the admin token: Authorization: Bearer <admin_http token>");
}

static void tg_ah_handle(tg_ah_conn_t *c)
{
    struct http_parser_url u;
    const char *path, *query = "";
    size_t plen, qlen = 0;
    int authed;

    c->closing |= !http_should_keep_alive(&c->parser);
    authed = tg_ah.have_token && !c->bad_auth &&
             tg_admin_http_token_ok(tg_ah.token_sha, c->auth, c->auth_len);
    explicit_bzero(c->auth, sizeof(c->auth));
    if (!authed) {
        tg_ah_refuse(c);
        return;
    }
    http_parser_url_init(&u);
    if (c->url.len == 0 || http_parser_parse_url(c->url.data, c->url.len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        tg_ah_error(c, 400, "invalid_request_error", NULL, "malformed request target");
        return;
    }
    path = c->url.data + u.field_data[UF_PATH].off;
    plen = u.field_data[UF_PATH].len;
    if (u.field_set & (1 << UF_QUERY)) {
        query = c->url.data + u.field_data[UF_QUERY].off;
        qlen = u.field_data[UF_QUERY].len;
    }
    if (plen == 8 && memcmp(path, "/metrics", 8) == 0)
        tg_ah_metrics(c);
    else if (plen >= strlen(TG_AH_PREFIX) && memcmp(path, TG_AH_PREFIX, strlen(TG_AH_PREFIX)) == 0)
        tg_ah_api(c, path + strlen(TG_AH_PREFIX), plen - strlen(TG_AH_PREFIX), query, qlen);
    else
        tg_ah_error(c, 404, "not_found_error", NULL,
                    "not found: the admin listener serves /metrics and " TG_AH_PREFIX "<command>");
}

/* ---- http-parser callbacks ---------------------------------------------------------------- */

static int tg_ah_on_begin(http_parser *p)
{
    tg_ah_reset(p->data);
    return 0;
}

static int tg_ah_on_url(http_parser *p, const char *at, size_t len)
{
    tg_ah_conn_t *c = p->data;

    if (c->url.len + len > TG_AH_MAX_URL) {
        c->too_large = 414;
        return -1;
    }
    return tg_buf_append(&c->url, at, len);
}

static int tg_ah_on_field(http_parser *p, const char *at, size_t len)
{
    tg_ah_conn_t *c = p->data;

    if (c->in_value) {
        c->in_value = 0;
        c->field_len = 0;
    }
    for (size_t i = 0; i < len; i++, c->field_len++)
        if (c->field_len < sizeof(c->field))
            c->field[c->field_len] = at[i];
    return 0;
}

static int tg_ah_on_value(http_parser *p, const char *at, size_t len)
{
    tg_ah_conn_t *c = p->data;

    if (!c->in_value) {
        c->in_value = 1;
        c->is_auth = c->field_len == 13 && strncasecmp(c->field, "authorization", 13) == 0;
        if (c->is_auth && c->auth_seen++)
            c->bad_auth = 1;
    }
    if (!c->is_auth)
        return 0;
    if (c->auth_len + len >= sizeof(c->auth)) {
        c->bad_auth = 1;
        return 0;
    }
    memcpy(c->auth + c->auth_len, at, len);
    c->auth_len += len;
    return 0;
}

static int tg_ah_on_body(http_parser *p, const char *at, size_t len)
{
    tg_ah_conn_t *c = p->data;

    if (c->body.len + len > TG_AH_MAX_BODY) {
        c->too_large = 413;
        return -1;
    }
    return tg_buf_append(&c->body, at, len);
}

static int tg_ah_on_complete(http_parser *p)
{
    http_parser_pause(p, 1); /* answered before the next request is read */
    return 0;
}

static const http_parser_settings tg_ah_settings = {
    .on_message_begin = tg_ah_on_begin,
    .on_url = tg_ah_on_url,
    .on_header_field = tg_ah_on_field,
    .on_header_value = tg_ah_on_value,
    .on_body = tg_ah_on_body,
    .on_message_complete = tg_ah_on_complete,
};

/* ---- events ------------------------------------------------------------------------------- */

static void tg_ah_read(struct bufferevent *bev, void *arg)
{
    tg_ah_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (!c->closing && evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_length(in);
        const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
        size_t n = http_parser_execute(&c->parser, &tg_ah_settings, data, len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

        evbuffer_drain(in, n);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            tg_ah.busy = c;
            tg_ah_handle(c); /* a reload in here may retire c: it is closed after its answer */
            tg_ah.busy = NULL;
            continue;
        }
        if (e != HPE_OK) {
            c->closing = 1; /* the byte stream can no longer be trusted */
            if (c->too_large)
                tg_ah_error(c, c->too_large, "invalid_request_error", NULL, "%s",
                            c->too_large == 413 ? "the body is larger than 1 MiB"
                                                : "the URL is longer than 8 KiB");
            else
                tg_ah_error(c, 400, "invalid_request_error", NULL, "malformed HTTP request: %s",
                            http_errno_name(e));
        }
        break;
    }
    if (c->closing)
        bufferevent_disable(bev, EV_READ);
}

static void tg_ah_write(struct bufferevent *bev, void *arg)
{
    tg_ah_conn_t *c = arg;

    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        tg_ah_close(c);
}

static void tg_ah_event(struct bufferevent *bev, short what, void *arg)
{
    tg_ah_conn_t *c = arg;

    /* a client that half-closes after its request still gets the answer */
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        c->closing = 1;
        bufferevent_disable(bev, EV_READ);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        tg_ah_close(c);
}

static void tg_ah_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
    struct timeval tv = {TG_AH_TIMEOUT_S, 0};
    char host[48], port[8];
    tg_ah_conn_t *c;

    if (tg_ah.nconns >= TG_AH_MAX_CONNS || (c = calloc(1, sizeof(*c))) == NULL) {
        tg_log(TG_LOG_WARN, 0, "admin http: %d connections open; refusing another", tg_ah.nconns);
        close(fd);
        return;
    }
    if (getnameinfo(sa, (socklen_t)salen, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        free(c);
        return;
    }
    c->next = tg_ah.conns;
    if (c->next != NULL)
        c->next->prev = c;
    tg_ah.conns = c;
    tg_ah.nconns++;
    bufferevent_setcb(c->bev, tg_ah_read, tg_ah_write, tg_ah_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int tg_admin_http_prepare(const tg_config_t *cf, char *err, size_t errlen)
{
    const char *want = cf->admin_http.listen;
    int fd;

    if (tg_ah.pending_fd != -1) {
        close(tg_ah.pending_fd);
        tg_ah.pending_fd = -1;
    }
    if (want == NULL || (tg_ah.listener != NULL && strcmp(want, tg_ah.listen) == 0))
        return 0;
    /* SO_REUSEPORT (tg_listen_bind) lets the new socket share a port with the old one */
    if ((fd = tg_listen_bind(want, err, errlen)) == -1) {
        char why[256];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "admin_http: %s", why);
        return -1;
    }
    evutil_make_socket_nonblocking(fd);
    tg_ah.pending_fd = fd;
    return 0;
}

/*
 * Connections accepted by a listener that goes away (moved or removed by a reload) end after
 * their current answer; the one asking for the reload gets its answer first.
 */
static void tg_ah_retire_conns(void)
{
    tg_ah_conn_t *next;

    for (tg_ah_conn_t *c = tg_ah.conns; c != NULL; c = next) {
        next = c->next;
        c->closing = 1;
        bufferevent_disable(c->bev, EV_READ);
        if (c != tg_ah.busy && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            tg_ah_close(c);
    }
}

static void tg_ah_close_listener(void)
{
    if (tg_ah.listener != NULL)
        evconnlistener_free(tg_ah.listener);
    tg_ah.listener = NULL;
    free(tg_ah.listen);
    tg_ah.listen = NULL;
}

void tg_admin_http_apply(struct event_base *base, const tg_config_t *cf)
{
    explicit_bzero(tg_ah.token_sha, sizeof(tg_ah.token_sha));
    tg_ah.have_token = cf->admin_http.token != NULL;
    if (tg_ah.have_token)
        tg_ah_sha256(cf->admin_http.token, strlen(cf->admin_http.token), tg_ah.token_sha);
    if (cf->admin_http.listen == NULL) {
        if (tg_ah.listener != NULL)
            tg_log(TG_LOG_INFO, 0, "admin HTTP API on %s closed", tg_ah.listen);
        tg_ah_close_listener();
        tg_ah_retire_conns();
        return;
    }
    if (tg_ah.pending_fd == -1)
        return; /* the same address: keep serving it */
    tg_ah_close_listener();
    tg_ah_retire_conns();
    tg_ah.listener =
        evconnlistener_new(base, tg_ah_accept, NULL, LEV_OPT_CLOSE_ON_FREE, -1, tg_ah.pending_fd);
    if (tg_ah.listener == NULL) {
        tg_log(TG_LOG_ERROR, errno, "admin http: cannot listen on %s", cf->admin_http.listen);
        close(tg_ah.pending_fd);
    } else {
        tg_ah.listen = strdup(cf->admin_http.listen);
        tg_log(TG_LOG_INFO, 0, "admin HTTP API and /metrics on %s", cf->admin_http.listen);
    }
    tg_ah.pending_fd = -1;
}

int tg_admin_http_start(struct event_base *base, const tg_config_t *cf)
{
    char err[512];

    if (tg_admin_http_prepare(cf, err, sizeof(err)) == -1) {
        tg_log(TG_LOG_CRIT, 0, "%s", err);
        fprintf(stderr, "tollgate: %s\n", err);
        return -1;
    }
    tg_admin_http_apply(base, cf);
    return 0;
}

void tg_admin_http_stop(void)
{
    while (tg_ah.conns != NULL)
        tg_ah_close(tg_ah.conns);
    tg_ah_close_listener();
    if (tg_ah.pending_fd != -1)
        close(tg_ah.pending_fd);
    tg_ah.pending_fd = -1;
    explicit_bzero(tg_ah.token_sha, sizeof(tg_ah.token_sha));
    tg_ah.have_token = 0;
    tg_metrics_reset();
}

void tg_admin_http_forked(void)
{
    if (tg_ah.listener != NULL)
        close(evconnlistener_get_fd(tg_ah.listener));
    for (tg_ah_conn_t *c = tg_ah.conns; c != NULL; c = c->next)
        close(bufferevent_getfd(c->bev));
    if (tg_ah.pending_fd != -1)
        close(tg_ah.pending_fd);
    explicit_bzero(tg_ah.token_sha, sizeof(tg_ah.token_sha));
}
