/*
 * tollgatectl: the operator's CLI for a running gateway. It speaks the admin socket protocol
 * (docs/admin-protocol.md): one JSON command per line, one JSON reply per line. Output is a
 * table for people, or the raw reply with --json for scripts; failures exit 1, command line
 * mistakes exit 2. This file holds the global options, the dispatch and the gateway commands.
 */
#include "admin/ctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char tg_ctl_help[] =
    "usage: tollgatectl [-s SOCKET | -c CONFIG] [--json] COMMAND ...\n"
    "gateway:\n"
    "  status                 version, configuration generation and checksum\n"
    "  workers                worker processes, restarts, configuration generation\n"
    "  reload                 reload the configuration (also: routes reload)\n"
    "  drain                  drain in-flight requests and stop the gateway\n"
    "keys and tenants:\n"
    "  keys create|list|show|revoke|rotate|set ...     virtual keys (keys --help)\n"
    "  tenants create|list|show|set ...                tenants and their limits\n"
    "reports:\n"
    "  usage [--by model] [--since 24h] [--until now]  requests, tokens and cost\n"
    "  audit tail|verify|export ...                    the audit trail\n"
    "  calc PROFILE.yaml | calc --replay --since 7d    cost before and after routing\n"
    "upstreams:\n"
    "  providers list | providers rotate-key NAME      (the new key is read from stdin)\n"
    "  routes show | routes reload\n"
    "  route explain < request.json | route list\n"
    "  savings [--by route|task] [--since WHEN]   cost against the baseline model\n"
    "  experiments [--since WHEN]                 A/B variants compared\n"
    "  events [--follow]                          the request event feed\n"
    "options:\n"
    "  -s, --socket SOCKET    the admin socket (else $TOLLGATE_SOCKET, else admin_socket\n"
    "                         of -c CONFIG, default etc/tollgate.yaml)\n"
    "  -c, --config CONFIG    read admin_socket from this configuration\n"
    "  -j, --json             print the gateway's reply as one JSON line\n"
    "  -h, --help             this help; COMMAND --help for a command's\n"
    "exit status: 0 success, 1 failure (reason on stderr), 2 command line mistake\n";

static void tg_ctl_print_status(const json_t *r)
{
    char b[7][256];

    printf("tollgate %s (pid %s)\nconfiguration: %s\ngeneration:    %s\nsha256:        %s\n"
           "providers:     %s\nmodels:        %s\n",
           tg_ctl_fmt(json_object_get(r, "version"), b[0], 256),
           tg_ctl_fmt(json_object_get(r, "pid"), b[1], 256),
           tg_ctl_fmt(json_object_get(r, "config"), b[2], 256),
           tg_ctl_fmt(json_object_get(r, "generation"), b[3], 256),
           tg_ctl_fmt(json_object_get(r, "config_sha256"), b[4], 256),
           tg_ctl_fmt(json_object_get(r, "providers"), b[5], 256),
           tg_ctl_fmt(json_object_get(r, "models"), b[6], 256));
}

static void tg_ctl_print_workers(const json_t *r)
{
    size_t i;
    json_t *w;

    printf("%-6s %-8s %-9s %-10s %s\n", "SLOT", "PID", "RESTARTS", "GENERATION", "UPTIME");
    json_array_foreach(json_object_get(r, "workers"), i, w)
    {
        long long up = json_integer_value(json_object_get(w, "uptime_ms")) / 1000;
        printf("%-6lld %-8lld %-9lld %-10lld %lldh%02lldm%02llds\n",
               (long long)json_integer_value(json_object_get(w, "slot")),
               (long long)json_integer_value(json_object_get(w, "pid")),
               (long long)json_integer_value(json_object_get(w, "restarts")),
               (long long)json_integer_value(json_object_get(w, "generation")), up / 3600,
               up / 60 % 60, up % 60);
    }
}

int tg_ctl_gateway(const tg_ctl_t *ctx, const char *cmd)
{
    json_t *reply;
    int rc = tg_ctl_exec_simple(ctx, cmd, &reply);

    if (rc == TG_CTL_OK && !ctx->as_json) {
        if (strcmp(cmd, "workers") == 0)
            tg_ctl_print_workers(reply);
        else if (json_is_string(json_object_get(reply, "state")))
            printf("%s\n", json_string_value(json_object_get(reply, "state")));
        else
            tg_ctl_print_status(reply);
    }
    json_decref(reply);
    return rc;
}

/* status, workers, reload, drain: no arguments beyond --json and --help */
static int tg_ctl_simple(tg_ctl_t *ctx, int argc, char **argv)
{
    int n = tg_ctl_flags(ctx, argv[0], argc - 1, argv + 1, NULL, 0, NULL, 0);

    if (n == TG_CTL_HELP) {
        fputs(tg_ctl_help, stdout);
        return TG_CTL_OK;
    }
    if (n < 0)
        return TG_CTL_USAGE;
    return tg_ctl_gateway(ctx, argv[0]);
}

static const struct {
    const char *name;
    tg_ctl_group_fn fn;
} tg_ctl_commands[] = {
    {"status", tg_ctl_simple}, {"workers", tg_ctl_simple}, {"reload", tg_ctl_simple},
    {"drain", tg_ctl_simple},  {"keys", tg_ctl_keys},      {"tenants", tg_ctl_tenants},
    {"audit", tg_ctl_audit},   {"usage", tg_ctl_usage},    {"providers", tg_ctl_providers},
    {"routes", tg_ctl_routes}, {"route", tg_ctl_route},       {"savings", tg_ctl_savings},
    {"experiments", tg_ctl_experiments}, {"events", tg_ctl_events},
    {"calc", tg_ctl_calc},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    tg_ctl_t ctx = {getenv("TOLLGATE_SOCKET"), "etc/tollgate.yaml", 0};
    const char *cmd;
    int ch;

    if (ctx.sock != NULL && ctx.sock[0] == '\0')
        ctx.sock = NULL;
    opterr = 0;
    /* "+": stop at the command, whose own flags are parsed by the command */
    while ((ch = getopt_long(argc, argv, "+s:c:jh", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            ctx.sock = optarg;
            break;
        case 'c':
            ctx.config = optarg;
            ctx.sock = NULL;
            break;
        case 'j':
            ctx.as_json = 1;
            break;
        case 'h':
            fputs(tg_ctl_help, stdout);
            return TG_CTL_OK;
        default:
            /* getopt's own message would name the binary's full path */
            fprintf(stderr, "tollgatectl: unknown option or missing value \"%s\" (see --help)\n",
                    argv[optind - 1]);
            return TG_CTL_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(tg_ctl_help, stderr);
        return TG_CTL_USAGE;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "help") == 0) {
        if (optind + 1 < argc) {
            char *sub[] = {argv[optind + 1], "--help", NULL};
            for (size_t i = 0; i < sizeof(tg_ctl_commands) / sizeof(tg_ctl_commands[0]); i++)
                if (strcmp(sub[0], tg_ctl_commands[i].name) == 0)
                    return tg_ctl_commands[i].fn(&ctx, 2, sub);
        }
        fputs(tg_ctl_help, stdout);
        return TG_CTL_OK;
    }
    for (size_t i = 0; i < sizeof(tg_ctl_commands) / sizeof(tg_ctl_commands[0]); i++)
        if (strcmp(cmd, tg_ctl_commands[i].name) == 0)
            return tg_ctl_commands[i].fn(&ctx, argc - optind, argv + optind);
    fprintf(stderr, "tollgatectl: unknown command \"%s\" (see --help)\n", cmd);
    return TG_CTL_USAGE;
}
