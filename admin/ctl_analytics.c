/*
 * tollgatectl savings, experiments and events: what routing saved against the baseline model,
 * A/B variants side by side with a significance test, and the request event feed (--follow
 * polls it). They share the --by/--since/--until parsing with usage.
 */
#include "admin/ctl.h"
#include "shared/tg_money.h"

#include <ctype.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char tg_ctl_savings_help[] =
    "usage: tollgatectl [--json] savings [--by route|task|model|...] [--since WHEN] [--until WHEN]\n"
    "  actual cost against the same tokens at the baseline model's prices (before vs after),\n"
    "  with per-day and projected per-month figures over the period (default: the last 24h)\n";

static const char tg_ctl_experiments_help[] =
    "usage: tollgatectl [--json] experiments [--since WHEN] [--until WHEN]\n"
    "  each A/B experiment's variants: requests, cost per request, latency, thumbs-up and\n"
    "  escalation rates, and a two-proportion z-test of each variant against the first\n";

static const char tg_ctl_events_help[] =
    "usage: tollgatectl [--json] events [--follow] [--limit N]\n"
    "  the latest request events (no prompt text); --follow keeps printing new ones\n";

json_t *tg_ctl_report_req(const char *what, const char *cmd, const tg_ctl_flag_t *f)
{
    static const char *const groups[] = {"key",   "tenant", "model",  "provider",
                                         "route", "task",   "variant"};
    int64_t now = (int64_t)time(NULL), since = 0, until = 0;
    int known = 0;
    json_t *req;

    for (size_t i = 0; f[0].value != NULL && i < sizeof(groups) / sizeof(groups[0]); i++)
        known |= strcmp(f[0].value, groups[i]) == 0;
    if (f[0].value != NULL && !known) {
        tg_ctl_usage_error(what, "--by must be key, tenant, model, provider, route, task or "
                                 "variant, not \"%s\"",
                           f[0].value);
        return NULL;
    }
    if (f[1].value != NULL && tg_ctl_parse_when(f[1].value, now, &since) == -1) {
        tg_ctl_usage_error(what, "--since must be a duration like 24h or a date like 2026-11-01, "
                                 "not \"%s\"",
                           f[1].value);
        return NULL;
    }
    if (f[2].value != NULL && tg_ctl_parse_when(f[2].value, now, &until) == -1) {
        tg_ctl_usage_error(what, "--until must be a duration like 1h or a date like 2026-11-02, "
                                 "not \"%s\"",
                           f[2].value);
        return NULL;
    }
    if (f[1].value != NULL && f[2].value != NULL && since >= until) {
        tg_ctl_usage_error(what, "--since must be before --until");
        return NULL;
    }
    req = json_pack("{s:s}", "cmd", cmd);
    if (req != NULL && f[0].value != NULL)
        json_object_set_new(req, "by", json_string(f[0].value));
    if (req != NULL && f[1].value != NULL)
        json_object_set_new(req, "since", json_integer(since));
    if (req != NULL && f[2].value != NULL)
        json_object_set_new(req, "until", json_integer(until));
    return req;
}

/* Parse a report command's flags and send it; the reply in *reply. */
static int tg_ctl_report(tg_ctl_t *ctx, int argc, char **argv, const char *cmd, const char *help,
                         int with_by, json_t **reply)
{
    tg_ctl_flag_t f[] = {{"by", 0, 1, NULL}, {"since", 0, 1, NULL}, {"until", 0, 1, NULL}};
    json_t *req;
    int npos, rc;

    npos = with_by ? tg_ctl_flags(ctx, argv[0], argc - 1, argv + 1, f, 3, NULL, 0)
                   : tg_ctl_flags(ctx, argv[0], argc - 1, argv + 1, f + 1, 2, NULL, 0);
    if (npos == TG_CTL_HELP) {
        fputs(help, stdout);
        return TG_CTL_HELP;
    }
    if (npos < 0 || (req = tg_ctl_report_req(argv[0], cmd, f)) == NULL)
        return TG_CTL_USAGE;
    rc = tg_ctl_exec(ctx, req, reply);
    json_decref(req);
    return rc;
}

static void tg_ctl_savings_add(tg_ctl_table_t *t, const json_t *r, const char *name)
{
    char b[8][256];
    const char *c[8] = {
        name,
        tg_ctl_fmt(json_object_get(r, "tokens"), b[1], 256),
        tg_ctl_fmt_usd(json_object_get(r, "baseline_cost_usd"), 0, b[2], 256),
        tg_ctl_fmt_usd(json_object_get(r, "cost_usd"), 0, b[3], 256),
        tg_ctl_fmt_usd(json_object_get(r, "savings_usd"), 0, b[4], 256),
        tg_ctl_fmt_pct(json_object_get(r, "savings_ratio"), b[5], 256),
        tg_ctl_fmt_usd(json_object_get(r, "daily_baseline_usd"), 0, b[6], 256),
        tg_ctl_fmt_usd(json_object_get(r, "daily_cost_usd"), 0, b[7], 256),
    };

    tg_ctl_table_add(t, c);
}

static int tg_ctl_savings_print(const json_t *reply)
{
    static const char *const heads[] = {NULL,      "TOKENS",    "BEFORE",   "AFTER",
                                        "SAVINGS", "SAVINGS%",  "BEFORE/DAY", "AFTER/DAY"};
    const json_t *rows = json_object_get(reply, "rows"), *tot = json_object_get(reply, "total");
    const char *by = json_string_value(json_object_get(reply, "by"));
    const char *hd[8];
    char upper[32], b[7][64];
    tg_ctl_table_t t;
    json_t *r;
    size_t i;
    int rc;

    memcpy(hd, heads, sizeof(hd));
    hd[0] = tg_ctl_upper(by != NULL ? by : "group", upper, sizeof(upper));
    printf("savings against the baseline by %s over %.2f days (before: every token at the "
           "baseline model's prices)\n",
           by != NULL ? by : "-", json_number_value(json_object_get(reply, "days")));
    tg_ctl_table_init(&t, 8, "lrrrrrrr", hd);
    json_array_foreach(rows, i, r)
    {
        const char *g = json_string_value(json_object_get(r, "group"));
        tg_ctl_savings_add(&t, r, g != NULL && g[0] != '\0' ? g : "(none)");
    }
    tg_ctl_savings_add(&t, tot, "TOTAL");
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    printf("%s/day before, %s/day after (%s saved); projected per month: %s before, %s after, "
           "%s saved\n",
           tg_ctl_fmt_usd(json_object_get(tot, "daily_baseline_usd"), 0, b[0], 64),
           tg_ctl_fmt_usd(json_object_get(tot, "daily_cost_usd"), 0, b[1], 64),
           tg_ctl_fmt_pct(json_object_get(tot, "savings_ratio"), b[2], 64),
           tg_ctl_fmt_usd(json_object_get(tot, "monthly_baseline_usd"), 0, b[3], 64),
           tg_ctl_fmt_usd(json_object_get(tot, "monthly_cost_usd"), 0, b[4], 64),
           tg_ctl_fmt_usd(json_object_get(tot, "monthly_savings_usd"), 0, b[5], 64));
    return rc;
}

int tg_ctl_savings(tg_ctl_t *ctx, int argc, char **argv)
{
    json_t *reply = NULL;
    int rc = tg_ctl_report(ctx, argc, argv, "savings", tg_ctl_savings_help, 1, &reply);

    if (rc == TG_CTL_HELP)
        return TG_CTL_OK;
    if (rc == TG_CTL_OK && !ctx->as_json)
        rc = tg_ctl_savings_print(reply);
    json_decref(reply);
    return rc;
}

/* "thumbs-up 94.0% vs 95.0% (z=-0.83, p=0.41)" for one comparison. */
static void tg_ctl_cmp(const char *what, const json_t *v, const json_t *ctl, const char *ratio,
                       const json_t *cmp)
{
    char a[32], b[32];

    printf("    %s %s vs %s", what, tg_ctl_fmt_pct(json_object_get(v, ratio), a, sizeof(a)),
           tg_ctl_fmt_pct(json_object_get(ctl, ratio), b, sizeof(b)));
    if (json_is_object(cmp))
        printf(" (z=%.2f, p=%.3f: %s)", json_number_value(json_object_get(cmp, "z")),
               json_number_value(json_object_get(cmp, "p_value")),
               json_is_true(json_object_get(cmp, "significant")) ? "significant"
                                                                 : "no significant difference");
    else
        printf(" (not enough feedback to test)");
    printf("\n");
}

static int tg_ctl_experiments_print(const json_t *reply)
{
    const json_t *exps = json_object_get(reply, "experiments"), *e, *v;
    size_t i, j;

    if (json_array_size(exps) == 0)
        printf("no experiments are configured\n");
    json_array_foreach(exps, i, e)
    {
        const json_t *ctl = json_array_get(json_object_get(e, "variants"), 0);

        printf("experiment %s (route %s)\n", json_string_value(json_object_get(e, "experiment")),
               json_string_value(json_object_get(e, "route")));
        json_array_foreach(json_object_get(e, "variants"), j, v)
        {
            char b[6][64];

            printf("  %-16s requests %s  cost/request %s  p50 %s ms  errors %s  thumbs-up %s  "
                   "escalated %s\n",
                   json_string_value(json_object_get(v, "variant")),
                   tg_ctl_fmt(json_object_get(v, "requests"), b[0], 64),
                   tg_ctl_fmt_usd(json_object_get(v, "cost_per_request_usd"), 0, b[1], 64),
                   tg_ctl_fmt(json_object_get(v, "latency_p50_ms"), b[2], 64),
                   tg_ctl_fmt_pct(json_object_get(v, "error_rate"), b[3], 64),
                   tg_ctl_fmt_pct(json_object_get(v, "thumbs_up_ratio"), b[4], 64),
                   tg_ctl_fmt_pct(json_object_get(v, "escalation_rate"), b[5], 64));
            if (j > 0) {
                const json_t *cmp = json_object_get(v, "vs_control");
                tg_ctl_cmp("thumbs-up", v, ctl, "thumbs_up_ratio",
                           json_object_get(cmp, "thumbs_up"));
                tg_ctl_cmp("escalation", v, ctl, "escalation_rate",
                           json_object_get(cmp, "escalation"));
            }
        }
    }
    return TG_CTL_OK;
}

int tg_ctl_experiments(tg_ctl_t *ctx, int argc, char **argv)
{
    json_t *reply = NULL;
    int rc = tg_ctl_report(ctx, argc, argv, "experiments", tg_ctl_experiments_help, 0, &reply);

    if (rc == TG_CTL_HELP)
        return TG_CTL_OK;
    if (rc == TG_CTL_OK && !ctx->as_json)
        rc = tg_ctl_experiments_print(reply);
    json_decref(reply);
    return rc;
}

/* One request event as a line: time, id, model (and route), status, tokens, cost. */
static void tg_ctl_event_line(const json_t *e)
{
    json_t *secs = json_integer(json_integer_value(json_object_get(e, "ts_ms")) / 1000);
    const char *route = json_string_value(json_object_get(e, "route"));
    char b[6][64], money[32];

    if (tg_money_format(json_integer_value(json_object_get(e, "cost_pico")), money,
                        sizeof(money)) < 0)
        snprintf(money, sizeof(money), "-");
    printf("%s %s %s%s%s status %s tokens %s+%s cost $%s\n",
           tg_ctl_fmt_time(secs, "-", b[0], 64),
           tg_ctl_fmt(json_object_get(e, "request_id"), b[1], 64),
           tg_ctl_fmt(json_object_get(e, "model"), b[2], 64), route && *route ? " route " : "",
           route && *route ? route : "", tg_ctl_fmt(json_object_get(e, "status"), b[3], 64),
           tg_ctl_fmt(json_object_get(e, "prompt_tokens"), b[4], 64),
           tg_ctl_fmt(json_object_get(e, "completion_tokens"), b[5], 64), money);
    json_decref(secs);
    fflush(stdout);
}

int tg_ctl_events(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t f[] = {{"follow", 'f', 0, NULL}, {"limit", 'n', 1, NULL}};
    json_t *req, *reply = NULL, *e;
    int64_t limit = 20;
    char cursor[256] = "";
    size_t i;
    int npos, rc;

    npos = tg_ctl_flags(ctx, "events", argc - 1, argv + 1, f, 2, NULL, 0);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_events_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    if (f[1].value != NULL && (tg_ctl_parse_count(f[1].value, 1000, &limit) == -1 || limit < 1))
        return tg_ctl_usage_error("events", "--limit must be from 1 to 1000");
    for (;;) {
        req = json_pack("{s:s,s:I}", "cmd", "events.tail", "limit", (json_int_t)limit);
        if (cursor[0] != '\0')
            json_object_set_new(req, "after", json_string(cursor));
        rc = tg_ctl_exec(ctx, req, &reply);
        json_decref(req);
        if (rc != TG_CTL_OK)
            return rc;
        if (!ctx->as_json)
            json_array_foreach(json_object_get(reply, "events"), i, e) tg_ctl_event_line(e);
        snprintf(cursor, sizeof(cursor), "%s",
                 json_string_value(json_object_get(reply, "cursor")) ?: "");
        json_decref(reply);
        reply = NULL;
        if (f[0].value == NULL)
            return TG_CTL_OK;
        limit = 1000;
        usleep(500 * 1000);
    }
}
