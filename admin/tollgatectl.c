/*
 * tollgatectl: the operator's CLI for a running gateway. It speaks the admin socket protocol
 * (docs/admin-protocol.md): one JSON command per line, one JSON reply per line. Output is a
 * table for people, or the raw reply with --json for scripts; any failure exits non-zero.
 */
#include "shared/tg_config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void tg_usage(FILE *out)
{
    fprintf(out,
            "usage: tollgatectl [-s SOCKET | -c CONFIG] [--json] COMMAND\n"
            "commands:\n"
            "  status           version, configuration generation and checksum\n"
            "  workers          worker processes, restarts, configuration generation\n"
            "  reload           reload the configuration (also: routes reload)\n"
            "  drain            drain in-flight requests and stop the gateway\n"
            "the socket is -s, else $TOLLGATE_SOCKET, else admin_socket from -c CONFIG\n"
            "(default etc/tollgate.yaml)\n");
}

static int tg_connect(const char *path)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "tollgatectl: socket path too long: %s\n", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
        fprintf(stderr, "tollgatectl: cannot connect to %s: %s (is tollgate running?)\n", path,
                strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    return fd;
}

static json_t *tg_call(const char *path, json_t *cmd)
{
    char *line = json_dumps(cmd, JSON_COMPACT);
    char buf[65536];
    size_t len = 0;
    ssize_t n;
    json_t *reply;
    json_error_t jerr;
    int fd = tg_connect(path);

    if (fd == -1 || line == NULL) {
        free(line);
        if (fd != -1)
            close(fd);
        return NULL;
    }
    if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0) {
        fprintf(stderr, "tollgatectl: write failed: %s\n", strerror(errno));
        free(line);
        close(fd);
        return NULL;
    }
    free(line);
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
        if (memchr(buf, '\n', len) != NULL)
            break;
    }
    close(fd);
    reply = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
    if (reply == NULL)
        fprintf(stderr, "tollgatectl: bad reply from the gateway: %s\n", jerr.text);
    return reply;
}

static void tg_print_human(const char *cmd, json_t *r)
{
    if (strcmp(cmd, "workers") == 0) {
        size_t i;
        json_t *w;

        printf("%-6s %-8s %-9s %-10s %s\n", "SLOT", "PID", "RESTARTS", "GENERATION", "UPTIME");
        json_array_foreach(json_object_get(r, "workers"), i, w)
        {
            long long up = json_integer_value(json_object_get(w, "uptime_ms")) / 1000;
            printf("%-6lld %-8lld %-9lld %-10lld %lldh%02lldm%02llds\n",
                   json_integer_value(json_object_get(w, "slot")),
                   json_integer_value(json_object_get(w, "pid")),
                   json_integer_value(json_object_get(w, "restarts")),
                   json_integer_value(json_object_get(w, "generation")), up / 3600,
                   up / 60 % 60, up % 60);
        }
        return;
    }
    if (json_object_get(r, "state") != NULL) {
        printf("%s\n", json_string_value(json_object_get(r, "state")));
        return;
    }
    printf("tollgate %s (pid %lld)\nconfiguration: %s\ngeneration:    %lld\nsha256:        %s\n"
           "providers:     %lld\nmodels:        %lld\n",
           json_string_value(json_object_get(r, "version")),
           json_integer_value(json_object_get(r, "pid")),
           json_string_value(json_object_get(r, "config")),
           json_integer_value(json_object_get(r, "generation")),
           json_string_value(json_object_get(r, "config_sha256")),
           json_integer_value(json_object_get(r, "providers")),
           json_integer_value(json_object_get(r, "models")));
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sock = getenv("TOLLGATE_SOCKET"), *config = "etc/tollgate.yaml", *cmd;
    char err[TG_CONFIG_ERR_MAX], name[64];
    tg_config_t *cf = NULL;
    json_t *req, *reply;
    int as_json = 0, ch, rc = 1;

    while ((ch = getopt_long(argc, argv, "s:c:jh", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            sock = optarg;
            break;
        case 'c':
            config = optarg;
            sock = NULL;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            tg_usage(stdout);
            return 0;
        default:
            tg_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        tg_usage(stderr);
        return 2;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "routes") == 0 && optind + 1 < argc && strcmp(argv[optind + 1], "reload") == 0)
        cmd = "reload";
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "workers") != 0 &&
        strcmp(cmd, "reload") != 0 && strcmp(cmd, "drain") != 0) {
        fprintf(stderr, "tollgatectl: unknown command \"%s\"\n", cmd);
        tg_usage(stderr);
        return 2;
    }
    if (sock == NULL) {
        cf = tg_config_load_file(config, err, sizeof(err));
        if (cf == NULL) {
            fprintf(stderr, "tollgatectl: %s\n", err);
            return 1;
        }
        if (cf->admin_socket == NULL) {
            fprintf(stderr, "tollgatectl: %s has no admin_socket\n", config);
            tg_config_unref(cf);
            return 1;
        }
        sock = cf->admin_socket;
    }
    snprintf(name, sizeof(name), "%s", cmd);
    req = json_pack("{s:s}", "cmd", name);
    reply = tg_call(sock, req);
    json_decref(req);
    if (reply != NULL) {
        if (as_json) {
            char *s = json_dumps(reply, JSON_COMPACT);
            printf("%s\n", s ? s : "null");
            free(s);
        }
        if (json_is_true(json_object_get(reply, "ok"))) {
            if (!as_json)
                tg_print_human(name, reply);
            rc = 0;
        } else if (!as_json) {
            fprintf(stderr, "tollgatectl: %s\n",
                    json_string_value(json_object_get(reply, "error")));
        }
        json_decref(reply);
    }
    tg_config_unref(cf);
    return rc;
}
