/*
 * Command line parsing for tollgatectl's commands: one small flag parser (flags may come before
 * or after positionals, as people type them) and strict parsers for the values operators give:
 * counts, durations, points in time and USD amounts. Every mistake is reported by name and
 * exits 2, before anything is sent to the gateway.
 */
#include "admin/ctl.h"
#include "shared/tg_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tg_ctl_usage_error(const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tollgatectl: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    return TG_CTL_USAGE;
}

static tg_ctl_flag_t *tg_ctl_find_flag(tg_ctl_flag_t *flags, int nflags, const char *name,
                                       size_t len, char alias)
{
    for (int i = 0; i < nflags; i++) {
        if (alias != 0 ? flags[i].alias == alias
                       : strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    }
    return NULL;
}

/* how people type the flag: -n for one-letter names, --tenant otherwise */
#define TG_CTL_DASHES(f) ((f)->name[1] == '\0' ? "-" : "--")

int tg_ctl_flags(tg_ctl_t *ctx, const char *what, int argc, char **argv, tg_ctl_flag_t *flags,
                 int nflags, const char **pos, int maxpos)
{
    int npos = 0, only_pos = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        tg_ctl_flag_t *f;

        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (npos == maxpos) {
                tg_ctl_usage_error(what, "unexpected argument \"%s\"", a);
                return -1;
            }
            pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return TG_CTL_HELP;
        if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
            ctx->as_json = 1;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);

            f = tg_ctl_find_flag(flags, nflags, name, len, 0);
            if (eq != NULL)
                val = eq + 1;
        } else {
            if (a[2] != '\0') /* -n5 */
                val = a + 2;
            f = tg_ctl_find_flag(flags, nflags, "", 0, a[1]);
        }
        if (f == NULL) {
            tg_ctl_usage_error(what, "unknown option \"%s\"", a);
            return -1;
        }
        if (!f->takes_value) {
            if (val != NULL) {
                tg_ctl_usage_error(what, "%s%s takes no value", TG_CTL_DASHES(f), f->name);
                return -1;
            }
            f->value = "";
            continue;
        }
        if (val == NULL) {
            if (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0) {
                tg_ctl_usage_error(what, "%s%s needs a value", TG_CTL_DASHES(f), f->name);
                return -1;
            }
            val = argv[++i];
        }
        f->value = val;
    }
    return npos;
}

int tg_ctl_parse_count(const char *s, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (s == NULL)
        return -1;
    if (strcmp(s, "unlimited") == 0) {
        *out = 0;
        return 0;
    }
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int tg_ctl_parse_seconds(const char *s, int64_t *out)
{
    int64_t ms = tg_parse_duration_ms(s);

    if (ms < 0 || ms > INT64_MAX - 999)
        return -1;
    *out = (ms + 999) / 1000; /* 500ms is one second, not zero */
    return 0;
}

int tg_ctl_parse_when(const char *s, int64_t now, int64_t *out)
{
    static const char *const formats[] = {"%Y-%m-%d",          "%Y-%m-%dT%H:%M",
                                          "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
                                          "%Y-%m-%d %H:%M",    "%Y-%m-%d %H:%M:%S"};
    int64_t secs;

    if (s == NULL || *s == '\0')
        return -1;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return 0;
    }
    if (s[0] == '@')
        return tg_ctl_parse_count(s + 1, INT64_MAX, out);
    if (strchr(s, '-') == NULL) {
        if (tg_ctl_parse_seconds(s, &secs) == -1 || secs > now)
            return -1;
        *out = now - secs;
        return 0;
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        const char *end;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end != NULL && *end == '\0') {
            time_t t = timegm(&tm);
            if (t == (time_t)-1)
                return -1;
            *out = (int64_t)t;
            return 0;
        }
    }
    return -1;
}

int tg_ctl_parse_usd(const char *s, char *out, size_t size)
{
    const char *p;
    int digits = 0, decimals = -1, n;

    if (s == NULL)
        return -1;
    if (strcmp(s, "unlimited") == 0)
        s = "0";
    if (*s == '$')
        s++;
    for (p = s; *p != '\0'; p++) {
        if (*p == '.' && decimals == -1 && digits > 0) {
            decimals = 0;
        } else if (isdigit((unsigned char)*p)) {
            if (decimals >= 0)
                decimals++;
            else
                digits++;
        } else {
            return -1;
        }
    }
    if (digits == 0 || digits > 7 || decimals == 0 || decimals > 6)
        return -1;
    n = snprintf(out, size, "%s", s);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

json_t *tg_ctl_split_list(const char *s)
{
    json_t *arr = json_array();

    while (arr != NULL && *s != '\0') {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);

        if (len > 0 && json_array_append_new(arr, json_stringn(s, len)) == -1) {
            json_decref(arr);
            return NULL;
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return arr;
}

const char tg_ctl_limits_help[] = "limits (0 or \"unlimited\" removes a limit):\n"
                                  "  --rpm N                 requests per minute\n"
                                  "  --tpm N                 tokens per minute\n"
                                  "  --concurrency N         requests in flight at once\n"
                                  "  --daily-budget USD      spend per UTC day, e.g. 25 or 12.50\n"
                                  "  --monthly-budget USD    spend per UTC month\n";

int tg_ctl_limits_to(const char *what, const tg_ctl_flag_t *flags, json_t *req)
{
    static const char *const fields[TG_CTL_NLIMITS] = {"rpm", "tpm", "concurrency",
                                                       "daily_budget_usd", "monthly_budget_usd"};
    int set = 0;

    for (int i = 0; i < TG_CTL_NLIMITS; i++) {
        const char *v = flags[i].value;
        json_t *jv;

        if (v == NULL)
            continue;
        if (i < 3) {
            int64_t n;
            if (tg_ctl_parse_count(v, INT64_C(1000000000000), &n) == -1) {
                tg_ctl_usage_error(what, "--%s must be a whole number, not \"%s\"", flags[i].name,
                                   v);
                return -1;
            }
            jv = json_integer((json_int_t)n);
        } else {
            char usd[32];
            if (tg_ctl_parse_usd(v, usd, sizeof(usd)) == -1) {
                tg_ctl_usage_error(what, "--%s must be a USD amount like 25 or 12.50, not \"%s\"",
                                   flags[i].name, v);
                return -1;
            }
            jv = json_string(usd);
        }
        if (json_object_set_new(req, fields[i], jv) == -1) {
            fprintf(stderr, "tollgatectl: out of memory\n");
            return -1;
        }
        set++;
    }
    return set;
}
