/*
 * tollgatectl's side of the admin socket: connect, write one JSON line, read one JSON line
 * back. Replies can be large (audit export), so the read buffer grows up to a cap; a reply that
 * never comes (a wedged master) ends in a clear timeout instead of a hung terminal.
 */
#include "admin/ctl.h"
#include "shared/tg_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define TG_CTL_REPLY_MAX (256u * 1024 * 1024)
#define TG_CTL_TIMEOUT_S 120

static int tg_ctl_connect(const char *path)
{
    struct sockaddr_un sun;
    struct timeval tv = {TG_CTL_TIMEOUT_S, 0};
    size_t len = strlen(path);
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (len >= sizeof(sun.sun_path)) {
        fprintf(stderr, "tollgatectl: socket path too long: %s\n", path);
        return -1;
    }
    memcpy(sun.sun_path, path, len);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "tollgatectl: socket() failed: %s\n", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
        fprintf(stderr, "tollgatectl: cannot connect to %s: %s (is tollgate running?)\n", path,
                strerror(errno));
        close(fd);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
        fprintf(stderr, "tollgatectl: setsockopt(SO_RCVTIMEO) failed: %s\n", strerror(errno));
    return fd;
}

/* The socket named by the configuration; loaded only when a command is really sent. */
static int tg_ctl_socket_path(const tg_ctl_t *ctx, char *path, size_t size)
{
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;
    int n, rc = -1;

    if (ctx->sock != NULL) {
        n = snprintf(path, size, "%s", ctx->sock);
        goto done;
    }
    if ((cf = tg_config_load_file(ctx->config, err, sizeof(err))) == NULL) {
        fprintf(stderr, "tollgatectl: %s\n", err);
        return -1;
    }
    if (cf->admin_socket == NULL) {
        fprintf(stderr, "tollgatectl: %s has no admin_socket\n", ctx->config);
        tg_config_unref(cf);
        return -1;
    }
    n = snprintf(path, size, "%s", cf->admin_socket);
    tg_config_unref(cf);
done:
    if (n >= 0 && (size_t)n < size)
        rc = 0;
    else
        fprintf(stderr, "tollgatectl: socket path too long\n");
    return rc;
}

/* Write all of buf; MSG_NOSIGNAL so a master that went away is an error, not a SIGPIPE. */
static int tg_ctl_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "tollgatectl: write to the gateway failed: %s\n", strerror(errno));
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read up to the first newline; returns the line's length (without it) in *len, or -1. */
static int tg_ctl_recv_line(int fd, char **out, size_t *len)
{
    size_t cap = 65536, used = 0, scanned = 0;
    char *buf = malloc(cap), *nl = NULL;

    if (buf == NULL)
        goto nomem;
    for (;;) {
        ssize_t n;

        if (used == cap) {
            char *bigger;
            if (cap >= TG_CTL_REPLY_MAX) {
                fprintf(stderr, "tollgatectl: reply from the gateway is larger than %u bytes\n",
                        TG_CTL_REPLY_MAX);
                goto fail;
            }
            if ((bigger = realloc(buf, cap * 2)) == NULL)
                goto nomem;
            buf = bigger;
            cap *= 2;
        }
        n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fprintf(stderr, "tollgatectl: no reply from the gateway within %ds\n",
                    TG_CTL_TIMEOUT_S);
            goto fail;
        }
        if (n < 0) {
            fprintf(stderr, "tollgatectl: read from the gateway failed: %s\n", strerror(errno));
            goto fail;
        }
        if (n == 0) {
            fprintf(stderr, "tollgatectl: the gateway closed the connection without a reply\n");
            goto fail;
        }
        used += (size_t)n;
        if ((nl = memchr(buf + scanned, '\n', used - scanned)) != NULL)
            break;
        scanned = used;
    }
    *out = buf;
    *len = (size_t)(nl - buf);
    return 0;

nomem:
    fprintf(stderr, "tollgatectl: out of memory\n");
fail:
    free(buf);
    return -1;
}

int tg_ctl_exec(const tg_ctl_t *ctx, json_t *req, json_t **reply)
{
    char *line = json_dumps(req, JSON_COMPACT), *in = NULL, path[4096];
    size_t len = 0;
    json_error_t jerr;
    json_t *r = NULL;
    int fd = -1;

    *reply = NULL;
    if (line == NULL) {
        fprintf(stderr, "tollgatectl: cannot encode the command\n");
        goto fail;
    }
    if (tg_ctl_socket_path(ctx, path, sizeof(path)) == -1 || (fd = tg_ctl_connect(path)) == -1)
        goto fail;
    if (tg_ctl_send_all(fd, line, strlen(line)) == -1 || tg_ctl_send_all(fd, "\n", 1) == -1)
        goto fail;
    if (tg_ctl_recv_line(fd, &in, &len) == -1)
        goto fail;
    r = json_loadb(in, len, 0, &jerr);
    if (!json_is_object(r)) {
        fprintf(stderr, "tollgatectl: bad reply from the gateway: %s\n",
                r == NULL ? jerr.text : "not a JSON object");
        goto fail;
    }
    if (ctx->as_json && tg_ctl_print_json_line(stdout, r) == -1)
        goto fail;
    if (!json_is_true(json_object_get(r, "ok"))) {
        const char *err = json_string_value(json_object_get(r, "error"));
        fprintf(stderr, "tollgatectl: %s\n", err != NULL ? err : "the gateway refused the command");
        goto fail;
    }
    /* the command may have carried a provider secret, the reply a key's secret */
    explicit_bzero(line, strlen(line));
    free(line);
    explicit_bzero(in, len);
    free(in);
    close(fd);
    *reply = r;
    return TG_CTL_OK;

fail:
    if (line != NULL)
        explicit_bzero(line, strlen(line));
    free(line);
    if (in != NULL)
        explicit_bzero(in, len);
    free(in);
    json_decref(r);
    if (fd != -1)
        close(fd);
    return TG_CTL_FAIL;
}

int tg_ctl_exec_simple(const tg_ctl_t *ctx, const char *cmd, json_t **reply)
{
    json_t *req = json_pack("{s:s}", "cmd", cmd);
    int rc;

    if (req == NULL) {
        fprintf(stderr, "tollgatectl: out of memory\n");
        *reply = NULL;
        return TG_CTL_FAIL;
    }
    rc = tg_ctl_exec(ctx, req, reply);
    json_decref(req);
    return rc;
}
