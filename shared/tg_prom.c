/*
 * Prometheus text exposition (see tg_prom.h). Everything goes through one growing buffer; the
 * first failure marks the writer failed so the caller answers an error instead of a truncated
 * scrape that would read as counters going down.
 */
#include "shared/tg_prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_prom_init(tg_prom_t *p)
{
    memset(p, 0, sizeof(*p));
}

void tg_prom_free(tg_prom_t *p)
{
    tg_buf_free(&p->out);
    for (size_t i = 0; i < p->nseen; i++)
        free(p->seen[i]);
    memset(p, 0, sizeof(*p));
}

static int tg_prom_fail(tg_prom_t *p)
{
    p->failed = 1;
    return -1;
}

static int tg_prom_put(tg_prom_t *p, const char *s, size_t n)
{
    return tg_buf_append(&p->out, s, n) == 0 ? 0 : tg_prom_fail(p);
}

static int tg_prom_puts(tg_prom_t *p, const char *s)
{
    return tg_prom_put(p, s, strlen(s));
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':' (colon 0). */
static int tg_prom_name_ok(const char *s, int colon)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || (colon && *s == ':')))
            return 0;
    return 1;
}

/* Escape \ and newline (and " in label values) as the format says. */
static int tg_prom_escaped(tg_prom_t *p, const char *s, int quote)
{
    const char *run = s;

    for (; *s; s++) {
        const char *esc = *s == '\\'           ? "\\\\"
                          : *s == '\n'         ? "\\n"
                          : quote && *s == '"' ? "\\\""
                                               : NULL;
        if (esc == NULL)
            continue;
        if (tg_prom_put(p, run, (size_t)(s - run)) == -1 || tg_prom_puts(p, esc) == -1)
            return -1;
        run = s + 1;
    }
    return tg_prom_put(p, run, (size_t)(s - run));
}

int tg_prom_family(tg_prom_t *p, const char *name, const char *type, const char *help)
{
    if (!tg_prom_name_ok(name, 1) || strlen(name) >= sizeof(p->family) ||
        p->nseen == TG_PROM_MAX_FAMILIES ||
        (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
         strcmp(type, "histogram") != 0))
        return tg_prom_fail(p);
    for (size_t i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i], name) == 0)
            return tg_prom_fail(p);
    if ((p->seen[p->nseen] = strdup(name)) == NULL)
        return tg_prom_fail(p);
    p->nseen++;
    snprintf(p->family, sizeof(p->family), "%s", name);
    if (tg_prom_puts(p, "# HELP ") == -1 || tg_prom_puts(p, name) == -1 ||
        tg_prom_puts(p, " ") == -1 || tg_prom_escaped(p, help, 0) == -1 ||
        tg_prom_puts(p, "\n# TYPE ") == -1 || tg_prom_puts(p, name) == -1 ||
        tg_prom_puts(p, " ") == -1 || tg_prom_puts(p, type) == -1 || tg_prom_puts(p, "\n") == -1)
        return -1;
    return 0;
}

int tg_prom_sample(tg_prom_t *p, const char *suffix, const tg_prom_label_t *labels, size_t nlabels,
                   const char *value)
{
    if (p->family[0] == '\0')
        return tg_prom_fail(p);
    if (tg_prom_puts(p, p->family) == -1 || tg_prom_puts(p, suffix) == -1)
        return -1;
    for (size_t i = 0; i < nlabels; i++) {
        if (!tg_prom_name_ok(labels[i].name, 0) || strncmp(labels[i].name, "__", 2) == 0)
            return tg_prom_fail(p);
        if (tg_prom_puts(p, i == 0 ? "{" : ",") == -1 || tg_prom_puts(p, labels[i].name) == -1 ||
            tg_prom_puts(p, "=\"") == -1 ||
            tg_prom_escaped(p, labels[i].value != NULL ? labels[i].value : "", 1) == -1 ||
            tg_prom_puts(p, "\"") == -1)
            return -1;
    }
    if ((nlabels > 0 && tg_prom_puts(p, "}") == -1) || tg_prom_puts(p, " ") == -1 ||
        tg_prom_puts(p, value) == -1 || tg_prom_puts(p, "\n") == -1)
        return -1;
    return 0;
}

int tg_prom_sample_i(tg_prom_t *p, const tg_prom_label_t *labels, size_t nlabels, int64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return tg_prom_sample(p, "", labels, nlabels, buf);
}

int tg_prom_histogram(tg_prom_t *p, const tg_prom_label_t *labels, size_t nlabels,
                      const int64_t *counts, const char *const *le, size_t n, const char *sum)
{
    tg_prom_label_t l[8];
    int64_t total = 0;
    char buf[24];

    if (nlabels >= 8 || n == 0 || strcmp(le[n - 1], "+Inf") != 0)
        return tg_prom_fail(p);
    memcpy(l, labels, nlabels * sizeof(*l));
    l[nlabels].name = "le";
    for (size_t i = 0; i < n; i++) {
        total += counts[i];
        snprintf(buf, sizeof(buf), "%lld", (long long)total);
        l[nlabels].value = le[i];
        if (tg_prom_sample(p, "_bucket", l, nlabels + 1, buf) == -1)
            return -1;
    }
    if (tg_prom_sample(p, "_sum", labels, nlabels, sum) == -1)
        return -1;
    return tg_prom_sample(p, "_count", labels, nlabels, buf);
}

void tg_prom_fixed(int64_t v, int digits, char *buf, size_t size)
{
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v, scale = 1;
    int n;

    if (digits <= 0) {
        snprintf(buf, size, "%lld", (long long)v);
        return;
    }
    for (int i = 0; i < digits && i < 18; i++)
        scale *= 10;
    n = snprintf(buf, size, "%s%llu.%0*llu", v < 0 ? "-" : "", (unsigned long long)(m / scale),
                 digits < 18 ? digits : 18, (unsigned long long)(m % scale));
    /* no trailing zeros, no bare point: "2.500000" -> "2.5", "3.000" -> "3" */
    if (n > 0 && (size_t)n < size) {
        while (buf[n - 1] == '0')
            buf[--n] = '\0';
        if (buf[n - 1] == '.')
            buf[n - 1] = '\0';
    }
}
