/*
 * tollgatectl audit and usage: read the hash-chained audit trail (tail, verify, export as JSON
 * lines for archiving) and the metered usage report grouped by key, tenant, model, route or
 * task. Both only read; an export file is created owner-only because it names every actor.
 */
#include "admin/ctl.h"
#include "shared/tg_money.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char tg_ctl_audit_help[] =
    "usage: tollgatectl [--json] audit COMMAND\n"
    "  audit tail [-n N]              the last N entries (default 20)\n"
    "  audit verify                   check the hash chain; exits 1 when it is broken\n"
    "  audit export [--output FILE]   every entry as JSON lines, to stdout or FILE (mode 0600)\n";

static const char tg_ctl_usage_help[] =
    "usage: tollgatectl [--json] usage [--by key|tenant|model|provider|route|task|variant]\n"
    "                                  [--since WHEN] [--until WHEN]\n"
    "  requests, tokens, cost, cost per request, p50/p95 latency and time to first byte,\n"
    "  thumbs-up and escalation rates (from feedback) per group (default --by model --since 24h)\n"
    "  WHEN is a duration ago (24h, 7d), now, @UNIXSECONDS or a UTC date\n"
    "  (2026-11-01, 2026-11-01T08:00, 2026-11-01T08:00:00Z)\n";

/* "k=v k=v" for a person; 64-hex record hashes shortened to 12 characters. */
static const char *tg_ctl_detail(const json_t *d, char *buf, size_t size)
{
    const char *k;
    json_t *v;
    size_t used = 0;

    buf[0] = '\0';
    json_object_foreach((json_t *)d, k, v)
    {
        char val[256];
        const char *s = tg_ctl_fmt(v, val, sizeof(val));
        size_t len = strlen(s);
        int n;

        if (len == 64 && strspn(s, "0123456789abcdef") == 64)
            len = 12;
        n = snprintf(buf + used, size - used, "%s%s=%.*s", used ? " " : "", k, (int)len, s);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "-");
    return buf;
}

static int tg_ctl_audit_table(const json_t *entries)
{
    static const char *const heads[] = {"SEQ", "TIME", "UID", "PID", "ACTION", "TARGET", "DETAIL"};
    tg_ctl_table_t t;
    json_t *e;
    size_t i;
    int rc;

    if (json_array_size(entries) == 0) {
        printf("no audit entries\n");
        return TG_CTL_OK;
    }
    tg_ctl_table_init(&t, 7, "rlrrlll", heads);
    json_array_foreach(entries, i, e)
    {
        char b[7][512];
        json_t *ms = json_object_get(e, "ts_ms"), *secs = NULL;
        const char *c[7];
        json_int_t uid;

        if (json_is_integer(ms))
            secs = json_integer(json_integer_value(ms) / 1000);
        c[0] = tg_ctl_fmt(json_object_get(e, "seq"), b[0], 512);
        c[1] = tg_ctl_fmt_time(secs, "-", b[1], 512);
        /* the actor: a uid, the gateway itself (-1) or the admin HTTP API (-2) */
        uid = json_integer_value(json_object_get(e, "uid"));
        c[2] = uid == -2   ? "http"
               : uid == -1 ? "gateway"
                           : tg_ctl_fmt(json_object_get(e, "uid"), b[2], 512);
        c[3] = tg_ctl_fmt(json_object_get(e, "pid"), b[3], 512);
        c[4] = tg_ctl_fmt(json_object_get(e, "action"), b[4], 512);
        c[5] = tg_ctl_fmt(json_object_get(e, "target"), b[5], 512);
        c[6] = tg_ctl_detail(json_object_get(e, "detail"), b[6], 512);
        tg_ctl_table_add(&t, c);
        json_decref(secs);
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

/* audit export: one entry per line, the archive format (and what --json would be per line). */
static int tg_ctl_audit_export(const json_t *entries, const char *path, int quiet)
{
    FILE *out = stdout;
    json_t *e;
    size_t i;
    int fd = -1;

    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd == -1 || fchmod(fd, 0600) == -1 || (out = fdopen(fd, "w")) == NULL) {
            fprintf(stderr, "tollgatectl: cannot write %s: %s\n", path, strerror(errno));
            goto fail;
        }
        fd = -1; /* the FILE owns it */
    }
    json_array_foreach(entries, i, e)
    {
        if (tg_ctl_print_json_line(out, e) == -1)
            goto fail;
    }
    if (fflush(out) == EOF || ferror(out)) {
        fprintf(stderr, "tollgatectl: writing %s failed: %s\n", path ? path : "stdout",
                strerror(errno));
        goto fail;
    }
    if (path != NULL) {
        if (fsync(fileno(out)) == -1 || fclose(out) == EOF) {
            fprintf(stderr, "tollgatectl: writing %s failed: %s\n", path, strerror(errno));
            out = stdout;
            goto fail;
        }
        if (!quiet)
            fprintf(stderr, "exported %zu audit entries to %s\n", json_array_size(entries), path);
    }
    return TG_CTL_OK;

fail:
    if (out != stdout)
        fclose(out);
    if (fd != -1)
        close(fd);
    return TG_CTL_FAIL;
}

int tg_ctl_audit(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t f[] = {{"n", 'n', 1, NULL}, {"output", 'o', 1, NULL}};
    const char *sub, *cmd;
    char what[32];
    json_t *req = NULL, *reply = NULL;
    int npos, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(tg_ctl_audit_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_CTL_USAGE : TG_CTL_OK;
    }
    sub = argv[1];
    snprintf(what, sizeof(what), "audit %.20s", sub);
    if (strcmp(sub, "tail") == 0)
        cmd = "audit.tail";
    else if (strcmp(sub, "verify") == 0)
        cmd = "audit.verify";
    else if (strcmp(sub, "export") == 0)
        cmd = "audit.export";
    else
        return tg_ctl_usage_error("audit", "unknown command \"%s\"", sub);
    npos = tg_ctl_flags(ctx, what, argc - 2, argv + 2, f, 2, NULL, 0);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_audit_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    if (f[0].value != NULL && strcmp(cmd, "audit.tail") != 0)
        return tg_ctl_usage_error(what, "-n applies to audit tail only");
    if (f[1].value != NULL && strcmp(cmd, "audit.export") != 0)
        return tg_ctl_usage_error(what, "--output applies to audit export only");
    if ((req = json_pack("{s:s}", "cmd", cmd)) == NULL) {
        fprintf(stderr, "tollgatectl: out of memory\n");
        return TG_CTL_FAIL;
    }
    if (f[0].value != NULL) {
        int64_t n;
        if (tg_ctl_parse_count(f[0].value, 1000000, &n) == -1 || n == 0) {
            json_decref(req);
            return tg_ctl_usage_error(what, "-n must be a number from 1 to 1000000");
        }
        json_object_set_new(req, "n", json_integer((json_int_t)n));
    }
    if (strcmp(cmd, "audit.export") == 0) {
        tg_ctl_t quiet = *ctx;
        quiet.as_json = 0; /* the export is JSON lines already */
        if ((rc = tg_ctl_exec(&quiet, req, &reply)) == TG_CTL_OK)
            rc = tg_ctl_audit_export(json_object_get(reply, "entries"), f[1].value, ctx->as_json);
    } else if ((rc = tg_ctl_exec(ctx, req, &reply)) != TG_CTL_OK) {
        /* reported */
    } else if (strcmp(cmd, "audit.verify") == 0) {
        char n[32];
        tg_ctl_fmt(json_object_get(reply, "entries"), n, sizeof(n));
        if (json_is_true(json_object_get(reply, "intact"))) {
            if (!ctx->as_json)
                printf("audit trail intact: %s entries\n", n);
        } else {
            const char *why = json_string_value(json_object_get(reply, "why"));
            if (!ctx->as_json) {
                char seq[32];
                printf("audit trail broken at entry %s: %s\n",
                       tg_ctl_fmt(json_object_get(reply, "first_bad"), seq, sizeof(seq)),
                       why != NULL ? why : "-");
            }
            rc = TG_CTL_FAIL;
        }
    } else if (!ctx->as_json) {
        rc = tg_ctl_audit_table(json_object_get(reply, "entries"));
    }
    json_decref(reply);
    json_decref(req);
    return rc;
}

static int tg_ctl_usage_table(const json_t *reply)
{
    static const char *const heads[] = {NULL,       "REQUESTS", "ERRORS",   "PROMPT",
                                        "COMPLETION", "CACHED", "COST",     "COST/REQ",
                                        "P50 MS",     "P95 MS", "TTFT P95", "UP%",
                                        "ESCALATED%"};
    const char *hd[13];
    const char *by = json_string_value(json_object_get(reply, "by"));
    const json_t *rows = json_object_get(reply, "rows");
    char upper[32], from[32], to[32];
    int64_t req = 0, err = 0, prompt = 0, completion = 0, cached = 0, pico = 0;
    tg_ctl_table_t t;
    json_t *r;
    size_t i;
    int rc;

    memcpy(hd, heads, sizeof(hd));
    hd[0] = tg_ctl_upper(by != NULL ? by : "group", upper, sizeof(upper));
    printf("usage by %s, %s .. %s\n", by != NULL ? by : "-",
           tg_ctl_fmt_time(json_object_get(reply, "since"), "-", from, sizeof(from)),
           tg_ctl_fmt_time(json_object_get(reply, "until"), "-", to, sizeof(to)));
    if (json_array_size(rows) == 0) {
        printf("no usage in this period\n");
        return TG_CTL_OK;
    }
    tg_ctl_table_init(&t, 13, "lrrrrrrrrrrrr", hd);
    json_array_foreach(rows, i, r)
    {
        char b[13][256];
        const char *group = json_string_value(json_object_get(r, "group"));
        const char *c[13] = {
            group != NULL && group[0] == '\0' ? "(none)"
                                              : tg_ctl_fmt(json_object_get(r, "group"), b[0], 256),
            tg_ctl_fmt(json_object_get(r, "requests"), b[1], 256),
            tg_ctl_fmt(json_object_get(r, "errors"), b[2], 256),
            tg_ctl_fmt(json_object_get(r, "prompt_tokens"), b[3], 256),
            tg_ctl_fmt(json_object_get(r, "completion_tokens"), b[4], 256),
            tg_ctl_fmt(json_object_get(r, "cached_tokens"), b[5], 256),
            tg_ctl_fmt_usd(json_object_get(r, "cost_usd"), 0, b[6], 256),
            tg_ctl_fmt_usd(json_object_get(r, "cost_per_request_usd"), 0, b[7], 256),
            tg_ctl_fmt(json_object_get(r, "latency_p50_ms"), b[8], 256),
            tg_ctl_fmt(json_object_get(r, "latency_p95_ms"), b[9], 256),
            tg_ctl_fmt(json_object_get(r, "ttft_p95_ms"), b[10], 256),
            tg_ctl_fmt_pct(json_object_get(r, "thumbs_up_ratio"), b[11], 256),
            tg_ctl_fmt_pct(json_object_get(r, "escalation_rate"), b[12], 256),
        };
        tg_ctl_table_add(&t, c);
        req += json_integer_value(json_object_get(r, "requests"));
        err += json_integer_value(json_object_get(r, "errors"));
        prompt += json_integer_value(json_object_get(r, "prompt_tokens"));
        completion += json_integer_value(json_object_get(r, "completion_tokens"));
        cached += json_integer_value(json_object_get(r, "cached_tokens"));
        pico += json_integer_value(json_object_get(r, "cost_pico"));
    }
    if (json_array_size(rows) > 1) {
        char b[7][64], money[32];
        json_t *cost;
        const char *c[13] = {"TOTAL", b[1], b[2], b[3], b[4], b[5], b[6], "", "", "", "", "", ""};

        snprintf(b[1], 64, "%lld", (long long)req);
        snprintf(b[2], 64, "%lld", (long long)err);
        snprintf(b[3], 64, "%lld", (long long)prompt);
        snprintf(b[4], 64, "%lld", (long long)completion);
        snprintf(b[5], 64, "%lld", (long long)cached);
        if (tg_money_format(pico, money, sizeof(money)) < 0)
            snprintf(money, sizeof(money), "-");
        cost = json_string(money);
        tg_ctl_fmt_usd(cost, 0, b[6], 64);
        json_decref(cost);
        tg_ctl_table_add(&t, c);
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

int tg_ctl_usage(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t f[] = {{"by", 0, 1, NULL}, {"since", 0, 1, NULL}, {"until", 0, 1, NULL}};
    json_t *req = NULL, *reply = NULL;
    int npos, rc;

    npos = tg_ctl_flags(ctx, "usage", argc - 1, argv + 1, f, 3, NULL, 0);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_usage_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0 || (req = tg_ctl_report_req("usage", "usage", f)) == NULL)
        return TG_CTL_USAGE;
    if ((rc = tg_ctl_exec(ctx, req, &reply)) == TG_CTL_OK && !ctx->as_json)
        rc = tg_ctl_usage_table(reply);
    json_decref(reply);
    json_decref(req);
    return rc;
}
