/*
 * tollgatectl calc: the cost calculator. `calc PROFILE.yaml` reads a usage profile here, sends
 * its text to the gateway and prints what it costs per day and per month before routing (all
 * on the baseline model) and after (on the models the route picks); `calc --replay` prices
 * the requests already metered in a period again. Either may run on a proposed configuration
 * (--config) instead of the one in force. docs/analytics.md.
 */
#include "admin/ctl.h"
#include "shared/tg_money.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the profile travels in one admin line (at most 1 MiB, escapes included) */
#define TG_CTL_PROFILE_MAX (512 * 1024)

static const char tg_ctl_calc_help[] =
    "usage: tollgatectl [--json] calc PROFILE.yaml [--config PROPOSED.yaml] [--route NAME]\n"
    "                                [--baseline MODEL]\n"
    "       tollgatectl [--json] calc --replay [--since WHEN] [--until WHEN]\n"
    "                                [--config PROPOSED.yaml] [--route NAME]\n"
    "                                [--days-per-month N]\n"
    "  calc PROFILE.yaml   price a usage profile per day and per month: on the baseline model\n"
    "                      (before) and on the models the route picks (after)\n"
    "  calc --replay       price the requests metered since WHEN (default 7d) again, under\n"
    "                      the configuration; nothing is sent upstream\n"
    "  --config FILE       a proposed configuration (compiled by the gateway, not applied);\n"
    "                      default: the one in force\n"
    "  --route NAME        decide on this route (default: the profile's, else auto; replay:\n"
    "                      each request's own)\n"
    "  --baseline MODEL    price \"before\" on this model (default: the profile's, the\n"
    "                      route's, the gateway's)\n"
    "  --days-per-month N  replay: scale the daily average by N (default 30)\n"
    "WHEN is a duration ago (7d, 1h), now, @UNIXSECONDS or a UTC date (2026-11-01)\n";

/* Digits with a comma every three from the right: "4650" -> "4,650". */
static void tg_ctl_calc_commas(const char *digits, size_t n, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static const char *tg_ctl_calc_int(const json_t *v, char *buf, size_t size)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));

    tg_ctl_calc_commas(num, n > 0 ? (size_t)n : 0, buf, size); /* counts are never negative */
    return buf;
}

/*
 * Pico-dollars as "$4,650.00": exact to the micro-dollar, with two decimals and any further
 * ones that are not zero ("$31.1335"); "-$1.20" below zero.
 */
static const char *tg_ctl_calc_usd(const json_t *pico, char *buf, size_t size)
{
    char num[48], whole[48];
    const char *digits, *dot;
    size_t keep;

    if (!json_is_integer(pico) ||
        tg_money_format((int64_t)json_integer_value(pico), num, sizeof(num)) < 0)
        return "-";
    digits = num[0] == '-' ? num + 1 : num;
    dot = strchr(digits, '.');
    tg_ctl_calc_commas(digits, (size_t)(dot - digits), whole, sizeof(whole));
    for (keep = strlen(dot); keep > 3 && dot[keep - 1] == '0'; keep--)
        ;
    snprintf(buf, size, "%s$%s%.*s", num[0] == '-' ? "-" : "", whole, (int)keep, dot);
    return buf;
}

static const char *tg_ctl_calc_pct(const json_t *v, char *buf, size_t size)
{
    snprintf(buf, size, "%.1f%%", json_number_value(v));
    return buf;
}

/* A share in parts per million as "80%", "33.3333%". */
static const char *tg_ctl_calc_share(int64_t ppm, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%lld.%04lld", (long long)(ppm / 10000), (long long)(ppm % 10000));

    while (n > 0 && buf[n - 1] == '0')
        n--;
    if (n > 0 && buf[n - 1] == '.')
        n--;
    snprintf(buf + n, size - (size_t)n, "%%");
    return buf;
}

/* How a row is labelled: "faq/simple 80%", "extraction 75%", "model qwen3-32b 25%". */
static const char *tg_ctl_calc_label(const json_t *row, char *buf, size_t size)
{
    const char *task = json_string_value(json_object_get(row, "task"));
    const char *cx = json_string_value(json_object_get(row, "complexity"));
    const char *model = json_string_value(json_object_get(row, "model"));
    char share[32];

    tg_ctl_calc_share(json_integer_value(json_object_get(row, "share_ppm")), share, sizeof(share));
    if (model != NULL)
        snprintf(buf, size, "  model %s %s", model, share);
    else if (task != NULL || cx != NULL)
        snprintf(buf, size, "  %s%s%s %s", task != NULL ? task : "*", cx != NULL ? "/" : "",
                 cx != NULL ? cx : "", share);
    else
        snprintf(buf, size, "  (any) %s", share);
    return buf;
}

/* "gpt-4o -> deepseek-chat", or with a split "gpt-4o -> qwen3-32b 75% + gpt-4o-mini 25%". */
static const char *tg_ctl_calc_models(const json_t *row, char *buf, size_t size)
{
    const json_t *after = json_object_get(row, "after"), *p;
    double total = (double)json_integer_value(json_object_get(row, "input_tokens")) +
                   (double)json_integer_value(json_object_get(row, "output_tokens"));
    size_t used, i;
    int n = snprintf(buf, size, "%s ->", json_string_value(json_object_get(row, "model_before")));

    used = n > 0 && (size_t)n < size ? (size_t)n : size - 1;
    json_array_foreach(after, i, p)
    {
        double mine = (double)json_integer_value(json_object_get(p, "input_tokens")) +
                      (double)json_integer_value(json_object_get(p, "output_tokens"));

        if (json_array_size(after) == 1 || total <= 0)
            n = snprintf(buf + used, size - used, " %s",
                         json_string_value(json_object_get(p, "model")));
        else
            n = snprintf(buf + used, size - used, "%s %s %.0f%%", i > 0 ? " +" : "",
                         json_string_value(json_object_get(p, "model")), 100.0 * mine / total);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/*
 * One table row: the lead cells, then o's counts (ints), then its money a, b and the savings
 * from a to b, then the savings in percent.
 */
static void tg_ctl_calc_row(tg_ctl_table_t *t, const char *const *lead, int nlead, const json_t *o,
                            const char *const *ints, int nints, const char *a, const char *b)
{
    const char *money[3] = {a, b, "savings"}, *c[TG_CTL_MAX_COLS];
    char buf[TG_CTL_MAX_COLS][64], key[32];
    int n = 0;

    for (int i = 0; i < nlead; i++, n++)
        c[n] = lead[i];
    for (int i = 0; i < nints; i++, n++)
        c[n] = tg_ctl_calc_int(json_object_get(o, ints[i]), buf[n], 64);
    for (int i = 0; i < 3; i++, n++) {
        snprintf(key, sizeof(key), "%s_pico", money[i]);
        c[n] = tg_ctl_calc_usd(json_object_get(o, key), buf[n], 64);
    }
    c[n] = tg_ctl_calc_pct(json_object_get(o, "savings_percent"), buf[n], 64);
    tg_ctl_table_add(t, c);
}

/* A use case, a split row or the total of a profile. */
static void tg_ctl_calc_add(tg_ctl_table_t *t, const char *label, const char *models,
                            const json_t *o)
{
    static const char *const ints[] = {"input_tokens", "output_tokens"};
    const char *lead[2] = {label, models};

    tg_ctl_calc_row(t, lead, 2, o, ints, 2, "before", "after");
}

/* "$155.00/day before, $31.1335/day after, savings $123.8665/day (79.9%)"; per NULL: no "/day" */
static void tg_ctl_calc_summary(const json_t *o, const char *per, const char *a, const char *b)
{
    char k[2][32], v[4][64], unit[16] = "";

    if (per != NULL)
        snprintf(unit, sizeof(unit), "/%s", per);
    snprintf(k[0], sizeof(k[0]), "%s_pico", a);
    snprintf(k[1], sizeof(k[1]), "%s_pico", b);
    printf("%s%s %s, %s%s %s, savings %s%s (%s)",
           tg_ctl_calc_usd(json_object_get(o, k[0]), v[0], 64), unit, a,
           tg_ctl_calc_usd(json_object_get(o, k[1]), v[1], 64), unit, b,
           tg_ctl_calc_usd(json_object_get(o, "savings_pico"), v[2], 64), unit,
           tg_ctl_calc_pct(json_object_get(o, "savings_percent"), v[3], 64));
}

static int tg_ctl_calc_print_profile(const json_t *reply)
{
    static const char *const heads[] = {"USE CASE / ROW", "BEFORE -> AFTER", "INPUT/DAY",
                                        "OUTPUT/DAY",     "BEFORE/DAY",      "AFTER/DAY",
                                        "SAVINGS/DAY",    "SAVINGS"};
    const json_t *total = json_object_get(reply, "total"), *uc, *row;
    const char *route = json_string_value(json_object_get(reply, "route"));
    tg_ctl_table_t t;
    size_t i, j;
    int rc;

    printf("configuration: %s; route %s; baseline %s; %lld days a month\n",
           json_string_value(json_object_get(reply, "config")), route != NULL ? route : "(none)",
           json_string_value(json_object_get(reply, "baseline")),
           (long long)json_integer_value(json_object_get(reply, "days_per_month")));
    tg_ctl_table_init(&t, 8, "llrrrrrr", heads);
    json_array_foreach(json_object_get(reply, "use_cases"), i, uc)
    {
        tg_ctl_calc_add(&t, json_string_value(json_object_get(uc, "name")), "", uc);
        json_array_foreach(json_object_get(uc, "rows"), j, row)
        {
            char label[300], models[512];
            tg_ctl_calc_add(&t, tg_ctl_calc_label(row, label, sizeof(label)),
                            tg_ctl_calc_models(row, models, sizeof(models)), row);
        }
    }
    tg_ctl_calc_add(&t, "TOTAL", "", total);
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    printf("\n");
    tg_ctl_calc_summary(total, "day", "before", "after");
    printf("\n");
    tg_ctl_calc_summary(json_object_get(total, "per_month"), "month", "before", "after");
    printf(" over %lld days\n",
           (long long)json_integer_value(json_object_get(reply, "days_per_month")));
    return rc;
}

static int tg_ctl_calc_groups(const char *what, const json_t *groups)
{
    static const char *const heads[] = {NULL,     "REQUESTS", "MOVED",   "PROMPT",   "COMPLETION",
                                        "ACTUAL", "REPLAYED", "SAVINGS", "SAVINGS %"};
    const char *hd[9];
    const json_t *g;
    tg_ctl_table_t t;
    size_t i;
    int rc;

    memcpy(hd, heads, sizeof(hd));
    hd[0] = what;
    tg_ctl_table_init(&t, 9, "lrrrrrrrr", hd);
    json_array_foreach(groups, i, g)
    {
        static const char *const ints[] = {"requests", "moved", "prompt_tokens",
                                           "completion_tokens"};
        const char *name = json_string_value(json_object_get(g, "name"));
        const char *lead[1] = {name != NULL && *name != '\0' ? name : "(none)"};

        tg_ctl_calc_row(&t, lead, 1, g, ints, 4, "actual", "replayed");
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

/* "not replayed: 1 shadow, 2 extra_attempt ($0.000123 actual)" and the unknown names. */
static void tg_ctl_calc_left_out(const json_t *left)
{
    const char *k;
    const json_t *v;
    char b[2][64];
    size_t i;
    int any = 0;

    json_object_foreach((json_t *)left, k, v)
    {
        if (json_is_integer(v) && json_integer_value(v) > 0 && strcmp(k, "actual_pico") != 0) {
            printf("%s %lld %s", any ? "," : "not replayed:", (long long)json_integer_value(v), k);
            any = 1;
        }
    }
    if (!any)
        return;
    printf(" (%s actual, not counted above)\n",
           tg_ctl_calc_usd(json_object_get(left, "actual_pico"), b[0], 64));
    json_array_foreach(json_object_get(left, "unreplayable"), i, v)
    {
        printf("  %s %s: %lld requests, %s actual\n",
               json_string_value(json_object_get(v, "reason")),
               json_string_value(json_object_get(v, "name")),
               (long long)json_integer_value(json_object_get(v, "requests")),
               tg_ctl_calc_usd(json_object_get(v, "actual_pico"), b[1], 64));
    }
}

static int tg_ctl_calc_print_replay(const json_t *reply)
{
    const json_t *total = json_object_get(reply, "total");
    const char *route = json_string_value(json_object_get(reply, "route"));
    double days = json_number_value(json_object_get(reply, "days"));
    char from[32], to[32];
    int rc;

    printf("replay of %s .. %s (%.1f %s) on configuration %s%s%s: %lld requests\n",
           tg_ctl_fmt_time(json_object_get(reply, "since"), "-", from, sizeof(from)),
           tg_ctl_fmt_time(json_object_get(reply, "until"), "-", to, sizeof(to)),
           days < 1 ? days * 24 : days, days < 1 ? "hours" : "days",
           json_string_value(json_object_get(reply, "config")), route ? ", route " : "",
           route ? route : "", (long long)json_integer_value(json_object_get(total, "requests")));
    if ((rc = tg_ctl_calc_groups("ROUTE", json_object_get(reply, "routes"))) != TG_CTL_OK)
        return rc;
    printf("\n");
    if ((rc = tg_ctl_calc_groups("TASK", json_object_get(reply, "tasks"))) != TG_CTL_OK)
        return rc;
    printf("\n");
    printf("in the period: ");
    tg_ctl_calc_summary(total, NULL, "actual", "replayed");
    printf("\n");
    tg_ctl_calc_summary(json_object_get(reply, "per_day"), "day", "actual", "replayed");
    printf("\n");
    tg_ctl_calc_summary(json_object_get(reply, "per_month"), "month", "actual", "replayed");
    printf(" over %lld days\n",
           (long long)json_integer_value(json_object_get(reply, "days_per_month")));
    tg_ctl_calc_left_out(json_object_get(reply, "not_replayed"));
    if (json_is_true(json_object_get(reply, "overflow")))
        printf("warning: some figures passed 2^63 pico-dollars and are shown saturated\n");
    return TG_CTL_OK;
}

/* The profile's text, at most TG_CTL_PROFILE_MAX bytes; NULL after saying why. */
static char *tg_ctl_calc_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;

    if (f == NULL) {
        fprintf(stderr, "tollgatectl: calc: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if ((data = malloc(TG_CTL_PROFILE_MAX + 1)) == NULL) {
        fclose(f);
        fprintf(stderr, "tollgatectl: out of memory\n");
        return NULL;
    }
    *len = fread(data, 1, TG_CTL_PROFILE_MAX + 1, f);
    if (ferror(f) || *len > TG_CTL_PROFILE_MAX) {
        fprintf(stderr, "tollgatectl: calc: %s: %s\n", path,
                ferror(f) ? "cannot read it" : "larger than 512 KiB");
        fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    return data;
}

/* flags[] of tg_ctl_calc, in order */
enum { TG_F_CONFIG, TG_F_ROUTE, TG_F_BASELINE, TG_F_REPLAY, TG_F_SINCE, TG_F_UNTIL, TG_F_DAYS };

/*
 * Fill req with what the flags say. The proposed configuration goes by absolute path: the
 * gateway compiles it with its includes, from its own working directory.
 */
static int tg_ctl_calc_request(const tg_ctl_flag_t *f, int replay, json_t *req)
{
    int64_t now = (int64_t)time(NULL), since = now - 7 * 86400, until = now, days;

    if (f[TG_F_CONFIG].value != NULL) {
        char full[PATH_MAX];

        if (realpath(f[TG_F_CONFIG].value, full) == NULL) {
            fprintf(stderr, "tollgatectl: calc: %s: %s\n", f[TG_F_CONFIG].value, strerror(errno));
            return TG_CTL_FAIL;
        }
        json_object_set_new(req, "config", json_string(full));
    }
    if (f[TG_F_ROUTE].value != NULL)
        json_object_set_new(req, "route", json_string(f[TG_F_ROUTE].value));
    if (f[TG_F_BASELINE].value != NULL)
        json_object_set_new(req, "baseline", json_string(f[TG_F_BASELINE].value));
    if (!replay)
        return TG_CTL_OK;
    if (f[TG_F_SINCE].value != NULL && tg_ctl_parse_when(f[TG_F_SINCE].value, now, &since) == -1)
        return tg_ctl_usage_error("calc",
                                  "--since must be a duration like 7d or a date, not "
                                  "\"%s\"",
                                  f[TG_F_SINCE].value);
    if (f[TG_F_UNTIL].value != NULL && tg_ctl_parse_when(f[TG_F_UNTIL].value, now, &until) == -1)
        return tg_ctl_usage_error("calc",
                                  "--until must be a duration like 1h or a date, not "
                                  "\"%s\"",
                                  f[TG_F_UNTIL].value);
    if (f[TG_F_UNTIL].value != NULL ? since >= until : since > now)
        return tg_ctl_usage_error("calc", "--since must be before --until");
    if (f[TG_F_DAYS].value != NULL) {
        if (tg_ctl_parse_count(f[TG_F_DAYS].value, 31, &days) == -1 || days < 1)
            return tg_ctl_usage_error("calc", "--days-per-month must be from 1 to 31");
        json_object_set_new(req, "days_per_month", json_integer(days));
    }
    json_object_set_new(req, "replay", json_true());
    json_object_set_new(req, "since", json_integer(since));
    if (f[TG_F_UNTIL].value != NULL) /* else the gateway's now, to the millisecond */
        json_object_set_new(req, "until", json_integer(until));
    return TG_CTL_OK;
}

int tg_ctl_calc(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t f[] = {{"config", 0, 1, NULL},        {"route", 0, 1, NULL},
                         {"baseline", 0, 1, NULL},      {"replay", 0, 0, NULL},
                         {"since", 0, 1, NULL},         {"until", 0, 1, NULL},
                         {"days-per-month", 0, 1, NULL}};
    const char *pos[1] = {NULL};
    json_t *req, *reply = NULL;
    char *text = NULL;
    size_t len = 0;
    int npos, replay, rc;

    npos = tg_ctl_flags(ctx, "calc", argc - 1, argv + 1, f, 7, pos, 1);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_calc_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    replay = f[TG_F_REPLAY].value != NULL;
    if (replay == (npos == 1))
        return tg_ctl_usage_error("calc", "give a PROFILE.yaml or --replay");
    if (replay ? f[TG_F_BASELINE].value != NULL
               : f[TG_F_SINCE].value != NULL || f[TG_F_UNTIL].value != NULL ||
                     f[TG_F_DAYS].value != NULL)
        return tg_ctl_usage_error("calc", replay ? "--baseline applies to a profile only"
                                                 : "--since, --until and --days-per-month "
                                                   "apply to --replay only");
    if (!replay && (text = tg_ctl_calc_read(pos[0], &len)) == NULL)
        return TG_CTL_FAIL;
    req = json_pack("{s:s}", "cmd", "calc");
    if (text != NULL) {
        json_object_set_new(req, "profile", json_stringn(text, len));
        json_object_set_new(req, "profile_name", json_string(pos[0]));
        free(text);
        if (json_object_get(req, "profile") == NULL) {
            json_decref(req);
            fprintf(stderr, "tollgatectl: calc: %s is not UTF-8 text\n", pos[0]);
            return TG_CTL_FAIL;
        }
    }
    if ((rc = tg_ctl_calc_request(f, replay, req)) == TG_CTL_OK &&
        (rc = tg_ctl_exec(ctx, req, &reply)) == TG_CTL_OK && !ctx->as_json)
        rc = replay ? tg_ctl_calc_print_replay(reply) : tg_ctl_calc_print_profile(reply);
    json_decref(req);
    json_decref(reply);
    return rc;
}
