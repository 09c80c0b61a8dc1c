/*
 * How tollgatectl shows replies to people: aligned tables, money as $12.50, times in UTC, and
 * "-" for anything missing or unlimited, so a reply from an older or newer master still prints.
 * Scripts use --json instead and never see these formats.
 */
#include "admin/ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tg_ctl_table_init(tg_ctl_table_t *t, int ncols, const char *align, const char *const *heads)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols < TG_CTL_MAX_COLS ? ncols : TG_CTL_MAX_COLS;
    for (int i = 0; i < t->ncols; i++) {
        t->heads[i] = heads[i] != NULL ? heads[i] : "";
        t->align[i] = align[i] == 'r' ? 'r' : 'l';
    }
}

void tg_ctl_table_add(tg_ctl_table_t *t, const char *const *cells)
{
    size_t base;

    if (t->failed)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **bigger = realloc(t->cells, cap * (size_t)t->ncols * sizeof(char *));
        if (bigger == NULL) {
            t->failed = 1;
            return;
        }
        t->cells = bigger;
        t->cap = cap;
    }
    base = t->nrows * (size_t)t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        t->cells[base + (size_t)i] = strdup(cells[i] != NULL ? cells[i] : "-");
        if (t->cells[base + (size_t)i] == NULL)
            t->failed = 1;
    }
    t->nrows++;
}

static void tg_ctl_table_line(const tg_ctl_table_t *t, const size_t *width,
                              const char *const *cells, FILE *out)
{
    for (int i = 0; i < t->ncols; i++) {
        const char *c = cells[i] != NULL ? cells[i] : "-";
        int w = (int)width[i], last = i == t->ncols - 1;

        if (t->align[i] == 'r')
            fprintf(out, "%*s", w, c);
        else if (last)
            fputs(c, out); /* no trailing blanks */
        else
            fprintf(out, "%-*s", w, c);
        fputs(last ? "\n" : "  ", out);
    }
}

int tg_ctl_table_print(const tg_ctl_table_t *t, FILE *out)
{
    size_t width[TG_CTL_MAX_COLS];

    if (t->failed) {
        fprintf(stderr, "tollgatectl: out of memory\n");
        return TG_CTL_FAIL;
    }
    for (int i = 0; i < t->ncols; i++)
        width[i] = strlen(t->heads[i]);
    for (size_t r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++) {
            size_t len = strlen(t->cells[r * (size_t)t->ncols + (size_t)i]);
            if (len > width[i])
                width[i] = len;
        }
    tg_ctl_table_line(t, width, t->heads, out);
    for (size_t r = 0; r < t->nrows; r++)
        tg_ctl_table_line(t, width, (const char *const *)&t->cells[r * (size_t)t->ncols], out);
    return TG_CTL_OK;
}

void tg_ctl_table_free(tg_ctl_table_t *t)
{
    for (size_t i = 0; t->cells != NULL && i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

const char *tg_ctl_fmt(const json_t *v, char *buf, size_t size)
{
    int n = 0;

    buf[0] = '\0';
    if (json_is_string(v)) {
        n = snprintf(buf, size, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        n = snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        n = snprintf(buf, size, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        n = snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i, used = 0;
        json_t *e;
        char item[256];

        json_array_foreach(v, i, e)
        {
            n = snprintf(buf + used, size - used, "%s%s", i > 0 ? "," : "",
                         tg_ctl_fmt(e, item, sizeof(item)));
            if (n < 0 || (size_t)n >= size - used)
                break;
            used += (size_t)n;
        }
    } else if (json_is_object(v)) {
        char *s = json_dumps(v, JSON_COMPACT);
        n = snprintf(buf, size, "%s", s != NULL ? s : "{}");
        free(s);
    }
    if (n < 0 || buf[0] == '\0')
        snprintf(buf, size, "-");
    else if ((size_t)n >= size && size > 4)
        memcpy(buf + size - 4, "...", 4); /* truncated: say so */
    return buf;
}

const char *tg_ctl_fmt_limit(const json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v) && json_integer_value(v) == 0)
        v = NULL;
    return tg_ctl_fmt(v, buf, size);
}

const char *tg_ctl_fmt_usd(const json_t *v, int zero_dash, char *buf, size_t size)
{
    char num[64];
    const char *dot;
    size_t len;
    int n, zero = 1;

    if (json_is_string(v))
        n = snprintf(num, sizeof(num), "%s", json_string_value(v));
    else if (json_is_integer(v))
        n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        n = snprintf(num, sizeof(num), "%.6f", json_real_value(v));
    else
        return tg_ctl_fmt(NULL, buf, size);
    if (n < 0 || (size_t)n >= sizeof(num) || n == 0)
        return tg_ctl_fmt(v, buf, size);
    for (const char *p = num; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return tg_ctl_fmt(v, buf, size); /* not a plain amount: show it as sent */
        if (*p >= '1' && *p <= '9')
            zero = 0;
    }
    if (zero && zero_dash)
        return tg_ctl_fmt(NULL, buf, size);
    len = strlen(num);
    if ((dot = strchr(num, '.')) == NULL) {
        n = snprintf(buf, size, "$%s.00", num);
    } else {
        /* keep two decimals, and any further ones that are not trailing zeros */
        size_t keep = len;
        while (keep > (size_t)(dot - num) + 3 && num[keep - 1] == '0')
            keep--;
        n = snprintf(buf, size, "$%.*s%s", (int)keep, num,
                     keep == (size_t)(dot - num) + 1   ? "00"
                     : keep == (size_t)(dot - num) + 2 ? "0"
                                                       : "");
    }
    if (n < 0 || (size_t)n >= size)
        snprintf(buf, size, "-");
    return buf;
}

const char *tg_ctl_fmt_time(const json_t *v, const char *zero_text, char *buf, size_t size)
{
    struct tm tm;
    time_t t;

    if (!json_is_integer(v))
        return tg_ctl_fmt(NULL, buf, size);
    if (json_integer_value(v) == 0) {
        snprintf(buf, size, "%s", zero_text);
        return buf;
    }
    t = (time_t)json_integer_value(v);
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return tg_ctl_fmt(v, buf, size);
    return buf;
}

int tg_ctl_print_json_line(FILE *out, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);

    if (s == NULL) {
        fprintf(stderr, "tollgatectl: cannot encode the reply\n");
        return -1;
    }
    fprintf(out, "%s\n", s);
    explicit_bzero(s, strlen(s)); /* a create or rotate reply holds a secret */
    free(s);
    return 0;
}

static int tg_ctl_secret_field(const char *key)
{
    return strstr(key, "secret") != NULL || strstr(key, "api_key") != NULL ||
           strstr(key, "password") != NULL || strstr(key, "token") == key;
}

int tg_ctl_print_rows(const json_t *rows, FILE *out)
{
    const char *heads[TG_CTL_MAX_COLS] = {NULL}, *keys[TG_CTL_MAX_COLS] = {NULL};
    char upper[TG_CTL_MAX_COLS][48], align[TG_CTL_MAX_COLS + 1];
    tg_ctl_table_t t;
    const char *key;
    json_t *first = json_array_get(rows, 0), *row, *v;
    size_t i;
    int ncols = 0, rc;

    if (!json_is_object(first))
        return TG_CTL_OK;
    json_object_foreach(first, key, v)
    {
        size_t j;
        if (ncols == TG_CTL_MAX_COLS)
            break;
        for (j = 0; j < sizeof(upper[0]) - 1 && key[j] != '\0'; j++)
            upper[ncols][j] = (char)toupper((unsigned char)key[j]);
        upper[ncols][j] = '\0';
        keys[ncols] = key;
        heads[ncols] = upper[ncols];
        align[ncols] = json_is_number(v) ? 'r' : 'l';
        ncols++;
    }
    if (ncols == 0)
        return TG_CTL_OK;
    align[ncols] = '\0';
    tg_ctl_table_init(&t, ncols, align, heads);
    json_array_foreach(rows, i, row)
    {
        char cells[TG_CTL_MAX_COLS][256];
        const char *cp[TG_CTL_MAX_COLS];

        for (int c = 0; c < ncols; c++) {
            v = json_object_get(row, keys[c]);
            if (tg_ctl_secret_field(keys[c]) && json_is_string(v))
                cp[c] = "(hidden)";
            else
                cp[c] = tg_ctl_fmt(v, cells[c], sizeof(cells[c]));
        }
        tg_ctl_table_add(&t, cp);
    }
    rc = tg_ctl_table_print(&t, out);
    tg_ctl_table_free(&t);
    return rc;
}

const char *tg_ctl_fmt_pct(const json_t *v, char *buf, size_t size)
{
    if (!json_is_number(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f%%", json_number_value(v) * 100.0);
    return buf;
}

const char *tg_ctl_upper(const char *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s", s);
    for (char *p = buf; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    return buf;
}
