/*
 * tollgatectl route explain: send a request body (stdin) to the gateway and print the routing
 * decision it would get: the route and rule matched, the task and complexity with where they
 * came from, the estimator's breakdown, the targets in order with their expected cost and
 * breaker state, and the targets skipped with the reason. routes list prints the routes.
 */
#include "admin/ctl.h"

#include <string.h>
#include <unistd.h>

#define TG_CTL_BODY_MAX (16 * 1024 * 1024)

static const char tg_ctl_route_help[] =
    "usage: tollgatectl [--json] route explain [--task T] [--complexity C] < request.json\n"
    "  route explain   how the gateway would route the request body read from stdin:\n"
    "                  --task and --complexity stand for the x-tollgate-task and\n"
    "                  x-tollgate-complexity headers (a label, or a score from 0 to 1)\n"
    "  route list      the routes in force, their rules and fallbacks\n";

static json_t *tg_ctl_read_body(void)
{
    char buf[65536];
    size_t len = 0, cap = 0;
    char *data = NULL, *p;
    json_error_t err;
    json_t *v;
    ssize_t n;

    while ((n = read(0, buf, sizeof(buf))) > 0) {
        if (len + (size_t)n > TG_CTL_BODY_MAX) {
            fprintf(stderr, "tollgatectl: route explain: the request is over 16 MB\n");
            free(data);
            return NULL;
        }
        if (len + (size_t)n > cap) {
            cap = (len + (size_t)n) * 2;
            if ((p = realloc(data, cap)) == NULL) {
                free(data);
                return NULL;
            }
            data = p;
        }
        memcpy(data + len, buf, (size_t)n);
        len += (size_t)n;
    }
    v = json_loadb(data != NULL ? data : "", len, 0, &err);
    free(data);
    if (!json_is_object(v)) {
        fprintf(stderr, "tollgatectl: route explain: stdin is not a JSON object (%s)\n",
                v == NULL ? err.text : "not an object");
        json_decref(v);
        return NULL;
    }
    return v;
}

static void tg_ctl_explain_targets(const json_t *reply)
{
    const json_t *list = json_object_get(reply, "targets"), *t;
    size_t i;

    printf("targets, in the order they are tried:\n");
    if (json_array_size(list) == 0)
        printf("  none: no target can serve this request\n");
    json_array_foreach(list, i, t)
    {
        char b[4][256];

        printf("  %zu. %s (%s)  expected %s  breaker %s", i + 1,
               tg_ctl_fmt(json_object_get(t, "model"), b[0], 256),
               tg_ctl_fmt(json_object_get(t, "provider"), b[1], 256),
               tg_ctl_fmt_usd(json_object_get(t, "expected_cost_usd"), 0, b[2], 256),
               tg_ctl_fmt(json_object_get(t, "breaker"), b[3], 256));
        if (json_is_number(json_object_get(t, "latency_ms")))
            printf("  latency %.0f ms", json_number_value(json_object_get(t, "latency_ms")));
        printf("\n");
    }
    list = json_object_get(reply, "skipped");
    json_array_foreach(list, i, t)
    {
        char b[2][256];

        printf("  skipped %s: %s\n", tg_ctl_fmt(json_object_get(t, "model"), b[0], 256),
               tg_ctl_fmt(json_object_get(t, "why"), b[1], 256));
    }
}

static void tg_ctl_explain_print(const json_t *reply)
{
    const json_t *rule = json_object_get(reply, "rule"), *features, *f;
    char b[8][256];
    size_t i;

    if (json_is_null(json_object_get(reply, "route"))) {
        printf("model %s: %s\n", tg_ctl_fmt(json_object_get(reply, "model"), b[0], 256),
               tg_ctl_fmt(json_object_get(reply, "why"), b[1], 256));
        tg_ctl_explain_targets(reply);
        return;
    }
    printf("route %s\n", tg_ctl_fmt(json_object_get(reply, "route"), b[0], 256));
    printf("task: %s (%s)\n", tg_ctl_fmt(json_object_get(reply, "task"), b[0], 256),
           tg_ctl_fmt(json_object_get(reply, "task_source"), b[1], 256));
    printf("complexity: %s (%s)", tg_ctl_fmt(json_object_get(reply, "complexity"), b[0], 256),
           tg_ctl_fmt(json_object_get(reply, "complexity_source"), b[1], 256));
    if (json_is_number(json_object_get(reply, "score")))
        printf(", score %.3f against threshold %.2f",
               json_number_value(json_object_get(reply, "score")),
               json_number_value(json_object_get(reply, "complexity_threshold")));
    printf("\n");
    features = json_object_get(reply, "features");
    json_array_foreach(features, i, f)
    {
        printf("  %-12s %.3f x %.2f = %.3f\n",
               tg_ctl_fmt(json_object_get(f, "name"), b[0], 256),
               json_number_value(json_object_get(f, "value")),
               json_number_value(json_object_get(f, "weight")),
               json_number_value(json_object_get(f, "contribution")));
    }
    if (json_is_object(rule))
        printf("rule %lld (line %s): task %s, complexity %s -> %s, strategy %s\n",
               (long long)json_integer_value(json_object_get(rule, "index")) + 1,
               tg_ctl_fmt(json_object_get(rule, "line"), b[0], 256),
               tg_ctl_fmt(json_object_get(rule, "task"), b[1], 256),
               tg_ctl_fmt(json_object_get(rule, "complexity"), b[2], 256),
               tg_ctl_fmt(json_object_get(rule, "targets"), b[3], 256),
               tg_ctl_fmt(json_object_get(rule, "strategy"), b[4], 256));
    else
        printf("no rule matched: the fallbacks serve\n");
    printf("fallback: %s\n", tg_ctl_fmt(json_object_get(reply, "fallback"), b[0], 256));
    tg_ctl_explain_targets(reply);
}

static int tg_ctl_route_explain(tg_ctl_t *ctx, const tg_ctl_flag_t *flags)
{
    json_t *body = tg_ctl_read_body(), *req, *reply = NULL;
    int rc;

    if (body == NULL)
        return TG_CTL_FAIL;
    req = json_pack("{s:s,s:o}", "cmd", "routes.explain", "request", body);
    if (flags[0].value != NULL)
        json_object_set_new(req, "task", json_string(flags[0].value));
    if (flags[1].value != NULL)
        json_object_set_new(req, "complexity", json_string(flags[1].value));
    if ((rc = tg_ctl_exec(ctx, req, &reply)) == TG_CTL_OK && !ctx->as_json)
        tg_ctl_explain_print(reply);
    json_decref(req);
    json_decref(reply);
    return rc;
}

int tg_ctl_route(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t flags[] = {{"task", 0, 1, NULL}, {"complexity", 0, 1, NULL}};
    const char *pos[1] = {NULL};
    json_t *reply = NULL;
    int npos, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(tg_ctl_route_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_CTL_USAGE : TG_CTL_OK;
    }
    if (strcmp(argv[1], "explain") != 0 && strcmp(argv[1], "list") != 0)
        return tg_ctl_usage_error("route", "unknown command \"%s\"", argv[1]);
    npos = tg_ctl_flags(ctx, "route", argc - 2, argv + 2, flags,
                        strcmp(argv[1], "explain") == 0 ? 2 : 0, pos, 0);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_route_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    if (strcmp(argv[1], "explain") == 0)
        return tg_ctl_route_explain(ctx, flags);
    if ((rc = tg_ctl_exec_simple(ctx, "routes.list", &reply)) == TG_CTL_OK && !ctx->as_json)
        rc = tg_ctl_print_rows(json_object_get(reply, "routes"), stdout);
    json_decref(reply);
    return rc;
}
