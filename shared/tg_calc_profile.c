/*
 * The cost calculator's profile: YAML read with libyaml's document API and checked with the
 * configuration compiler's helpers, so a mistake reads "profile.yaml:12:9: reason" exactly like
 * a configuration error. Everything that can be checked without a configuration is checked
 * here; model and route names are checked when the profile is priced (tg_calc.c).
 */
#include "shared/tg_calc.h"
#include "shared/tg_config_int.h"

#include <stdlib.h>
#include <string.h>

#define TG_CALC_MAX_CASES ((size_t)1000)
#define TG_CALC_MAX_ROWS ((size_t)1000)
#define TG_CALC_MAX_ALL_ROWS 10000 /* YAML aliases can repeat a list: bound the whole profile */
#define TG_CALC_MAX_LABEL 128

static tg_calc_pos_t tg_calc_pos(yaml_node_t *n)
{
    tg_calc_pos_t pos = {n->start_mark.line + 1, n->start_mark.column + 1};

    return pos;
}

/*
 * "12", "2.5", "80" with at most maxfrac decimals, as an integer scaled by 10^maxfrac. *end is
 * where the number stops. Returns 0, or -1 when there are no digits, too many decimals, or the
 * whole part passes 10^15.
 */
static int tg_calc_decimal(const char *s, int maxfrac, __int128 *out, const char **end)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;

    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        whole = whole * 10 + (*s - '0');
        if (whole > TG_CALC_MAX_TOKENS)
            return -1;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
            if (++fdigits > maxfrac)
                return -1;
            frac = frac * 10 + (*s - '0');
        }
        if (fdigits == 0)
            return -1;
    }
    if (digits == 0)
        return -1;
    for (int i = fdigits; i < maxfrac; i++)
        frac *= 10;
    *out = (__int128)whole;
    for (int i = 0; i < maxfrac; i++)
        *out *= 10;
    *out += frac;
    *end = s;
    return 0;
}

/* Tokens: 2500000, 10K, 1.5M, 2B (whole tokens, at most 10^15). */
static int tg_calc_tokens(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                          int64_t *out)
{
    static const char suffixes[] = "KkMmBb";
    static const int64_t mult[] = {1000, 1000, 1000000, 1000000, 1000000000, 1000000000};
    const char *s = tg_scalar(c, d, n, what), *end;
    __int128 v;

    if (s == NULL)
        return -1;
    if (tg_calc_decimal(s, 9, &v, &end) == 0) {
        const char *suf = *end != '\0' && end[1] == '\0' ? strchr(suffixes, *end) : NULL;
        int64_t m = 1;

        if (suf != NULL)
            m = mult[suf - suffixes];
        else if (*end != '\0')
            v = -1;
        /* v is tokens / m scaled by 10^9: whole tokens only */
        if (v >= 0 && (v * m) % 1000000000 == 0 && v * m / 1000000000 <= TG_CALC_MAX_TOKENS) {
            *out = (int64_t)(v * m / 1000000000);
            return 0;
        }
    }
    return tg_cerr(c, d, n,
                   "%s must be a whole number of tokens like 2500000, 10K, 1.5M or 2B "
                   "(at most 10^15), not \"%s\"",
                   what, s);
}

/* A share: "80%" (at most 4 decimals) or a fraction "0.8" (at most 6), in parts per million. */
static int tg_calc_share(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int64_t *ppm)
{
    const char *s = tg_scalar(c, d, n, what), *end;
    __int128 v;

    if (s == NULL)
        return -1;
    /* a percentage scaled by 10^4 and a fraction scaled by 10^6 are both parts per million */
    if ((tg_calc_decimal(s, 4, &v, &end) == 0 && strcmp(end, "%") == 0 && v <= TG_CALC_PPM) ||
        (tg_calc_decimal(s, 6, &v, &end) == 0 && *end == '\0' && v <= TG_CALC_PPM)) {
        *ppm = (int64_t)v;
        return 0;
    }
    return tg_cerr(c, d, n, "%s must be a percentage like 80%% or a fraction like 0.8, not \"%s\"",
                   what, s);
}

/* A label, a name: a non-empty scalar of at most 128 bytes, copied. */
static int tg_calc_text(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, char **out)
{
    const char *s = tg_scalar(c, d, n, what);

    if (s == NULL)
        return -1;
    if (*s == '\0' || strlen(s) > TG_CALC_MAX_LABEL)
        return tg_cerr(c, d, n, "%s must be 1 to %d characters", what, TG_CALC_MAX_LABEL);
    free(*out);
    *out = tg_xstrdup(s);
    return 0;
}

/* n must be a list of 1 to max entries (what they are: "rows"); its length into *len. */
static int tg_calc_list(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                        const char *entries, size_t max, size_t *len)
{
    if (n->type == YAML_SEQUENCE_NODE)
        *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (n->type != YAML_SEQUENCE_NODE || *len == 0)
        return tg_cerr(c, d, n, "%s must be a list of %s", what, entries);
    if (*len > max)
        return tg_cerr(c, d, n, "%s has more than %zu entries", what, max);
    return 0;
}

/* The percentage text of a sum of shares, for the error that says they do not add up. */
static void tg_calc_ppm_text(int64_t ppm, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%lld.%04lld", (long long)(ppm / 10000), (long long)(ppm % 10000));

    while (n > 0 && (buf[n - 1] == '0' || buf[n - 1] == '.')) {
        int dot = buf[n - 1] == '.';
        buf[--n] = '\0';
        if (dot)
            break;
    }
}

static int tg_calc_parse_row(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, size_t nrows,
                             tg_calc_row_t *row)
{
    yaml_node_t *share = NULL;

    row->pos = tg_calc_pos(n);
    if (tg_expect_map(c, d, n, "a split row") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        int rc;

        if (strcmp(k, "task") == 0)
            rc = tg_calc_text(c, d, v, "task", &row->task);
        else if (strcmp(k, "complexity") == 0)
            rc = tg_calc_text(c, d, v, "complexity", &row->complexity);
        else if (strcmp(k, "model") == 0)
            rc = tg_calc_text(c, d, v, "model", &row->model);
        else if (strcmp(k, "share") == 0)
            rc = tg_calc_share(c, d, share = v, "share", &row->share_ppm);
        else
            rc = tg_cerr(c, d, tg_node(d, p->key),
                         "unknown key \"%s\" in a split row (task, complexity, model, share)", k);
        if (rc == -1)
            return -1;
    }
    if (row->model != NULL && (row->task != NULL || row->complexity != NULL))
        return tg_cerr(c, d, n, "a split row names a model or task and complexity, not both");
    if (share == NULL) {
        if (nrows > 1)
            return tg_cerr(c, d, n, "a split row needs a share (e.g. share: 80%%)");
        row->share_ppm = TG_CALC_PPM; /* the only row is all of the traffic */
    }
    return 0;
}

static int tg_calc_parse_split(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_calc_case_t *uc)
{
    int64_t sum = 0;

    if (tg_calc_list(c, d, n, "split", "rows ({task, complexity, share})", TG_CALC_MAX_ROWS,
                     &uc->nrows) == -1)
        return -1;
    uc->rows = tg_xcalloc(uc->nrows, sizeof(*uc->rows));
    for (size_t i = 0; i < uc->nrows; i++) {
        if (tg_calc_parse_row(c, d, tg_node(d, n->data.sequence.items.start[i]), uc->nrows,
                              &uc->rows[i]) == -1)
            return -1;
        sum += uc->rows[i].share_ppm;
    }
    if (sum != TG_CALC_PPM) {
        char pct[32];
        tg_calc_ppm_text(sum, pct, sizeof(pct));
        return tg_cerr(c, d, n, "the shares of use case \"%s\" add up to %s%%, not 100%%",
                       uc->name != NULL ? uc->name : "?", pct);
    }
    return 0;
}

/*
 * The traffic figures, v[] in the order of tg_calc_traffic_keys: per day, or per request times
 * requests per day, never both.
 */
static int tg_calc_case_traffic(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, yaml_node_t **v,
                                tg_calc_case_t *uc)
{
    int64_t in_req = 0, out_req = 0;
    int per_day = v[0] != NULL && v[1] != NULL && v[2] == NULL && v[3] == NULL && v[4] == NULL;
    int per_req = v[0] == NULL && v[1] == NULL && v[2] != NULL && v[3] != NULL && v[4] != NULL;

    if (per_day) {
        if (tg_calc_tokens(c, d, v[0], "input_tokens_per_day", &uc->input_tokens) == -1)
            return -1;
        return tg_calc_tokens(c, d, v[1], "output_tokens_per_day", &uc->output_tokens);
    }
    if (!per_req)
        return tg_cerr(c, d, n,
                       "use case \"%s\" needs input_tokens_per_day and output_tokens_per_day, "
                       "or requests_per_day, input_tokens_per_request and "
                       "output_tokens_per_request",
                       uc->name);
    if (tg_calc_tokens(c, d, v[2], "requests_per_day", &uc->requests) == -1 ||
        tg_calc_tokens(c, d, v[3], "input_tokens_per_request", &in_req) == -1 ||
        tg_calc_tokens(c, d, v[4], "output_tokens_per_request", &out_req) == -1)
        return -1;
    if ((in_req > 0 && uc->requests > TG_CALC_MAX_TOKENS / in_req) ||
        (out_req > 0 && uc->requests > TG_CALC_MAX_TOKENS / out_req))
        return tg_cerr(c, d, n, "use case \"%s\" has more than 10^15 tokens per day", uc->name);
    uc->input_tokens = uc->requests * in_req;
    uc->output_tokens = uc->requests * out_req;
    return 0;
}

static const char *const tg_calc_traffic_keys[] = {"input_tokens_per_day", "output_tokens_per_day",
                                                   "requests_per_day", "input_tokens_per_request",
                                                   "output_tokens_per_request"};

static int tg_calc_parse_case(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_calc_case_t *uc)
{
    yaml_node_t *v[5] = {NULL, NULL, NULL, NULL, NULL}, *split = NULL, *cached = NULL;

    uc->pos = tg_calc_pos(n);
    if (tg_expect_map(c, d, n, "a use case") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        size_t i = 0;

        while (i < 5 && strcmp(k, tg_calc_traffic_keys[i]) != 0)
            i++;
        if (i < 5)
            v[i] = tg_node(d, p->value);
        else if (strcmp(k, "name") == 0) {
            if (tg_calc_text(c, d, tg_node(d, p->value), "name", &uc->name) == -1)
                return -1;
        } else if (strcmp(k, "split") == 0)
            split = tg_node(d, p->value);
        else if (strcmp(k, "cached_share") == 0)
            cached = tg_node(d, p->value);
        else
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in a use case", k);
    }
    if (uc->name == NULL)
        return tg_cerr(c, d, n, "a use case needs a name");
    if (tg_calc_case_traffic(c, d, n, v, uc) == -1)
        return -1;
    if (cached != NULL && tg_calc_share(c, d, cached, "cached_share", &uc->cached_ppm) == -1)
        return -1;
    if (split == NULL)
        return tg_cerr(c, d, n, "use case \"%s\" needs a split", uc->name);
    return tg_calc_parse_split(c, d, split, uc);
}

static int tg_calc_parse_cases(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_calc_profile_t *p)
{
    if (tg_calc_list(c, d, n, "use_cases", "use cases", TG_CALC_MAX_CASES, &p->ncases) == -1)
        return -1;
    p->cases = tg_xcalloc(p->ncases, sizeof(*p->cases));
    for (size_t i = 0, rows = 0; i < p->ncases; i++) {
        if (tg_calc_parse_case(c, d, tg_node(d, n->data.sequence.items.start[i]), &p->cases[i]) ==
            -1)
            return -1;
        if ((rows += p->cases[i].nrows) > TG_CALC_MAX_ALL_ROWS)
            return tg_cerr(c, d, n, "the profile has more than %d split rows",
                           TG_CALC_MAX_ALL_ROWS);
    }
    return 0;
}

static int tg_calc_parse_top(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *root, tg_calc_profile_t *p)
{
    yaml_node_t *cases = NULL;

    if (tg_expect_map(c, d, root, "a profile") == -1)
        return -1;
    TG_FOREACH_PAIR(d, root, pr)
    {
        const char *k = tg_key(d, pr);
        yaml_node_t *v = tg_node(d, pr->value);
        int rc = 0;

        if (strcmp(k, "baseline") == 0) {
            p->baseline_pos = tg_calc_pos(v);
            rc = tg_calc_text(c, d, v, "baseline", &p->baseline);
        } else if (strcmp(k, "route") == 0) {
            p->route_pos = tg_calc_pos(v);
            rc = tg_calc_text(c, d, v, "route", &p->route);
        } else if (strcmp(k, "days_per_month") == 0) {
            rc = tg_cint(c, d, v, "days_per_month", 1, 31, &p->days_per_month);
        } else if (strcmp(k, "use_cases") == 0) {
            cases = v;
        } else {
            rc = tg_cerr(c, d, tg_node(d, pr->key),
                         "unknown key \"%s\" (baseline, route, days_per_month, use_cases)", k);
        }
        if (rc == -1)
            return -1;
    }
    if (cases == NULL)
        return tg_cerr(c, d, root, "a profile needs use_cases");
    return tg_calc_parse_cases(c, d, cases, p);
}

tg_calc_profile_t *tg_calc_profile_parse(const char *name, const char *text, size_t len, char *err,
                                         size_t errlen)
{
    tg_calc_profile_t *p = tg_xcalloc(1, sizeof(*p));
    yaml_parser_t parser;
    tg_cdoc_t d;
    tg_cctx_t c;
    yaml_node_t *root;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    c.err = err;
    c.errlen = errlen;
    p->file = tg_xstrdup(name);
    p->days_per_month = 30;
    d.file = p->file;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &d.doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        tg_calc_profile_free(p);
        return NULL;
    }
    yaml_parser_delete(&parser);
    root = yaml_document_get_root_node(&d.doc);
    rc = root == NULL ? tg_cerr(&c, &d, NULL, "the profile is empty")
                      : tg_calc_parse_top(&c, &d, root, p);
    yaml_document_delete(&d.doc);
    if (rc == -1) {
        tg_calc_profile_free(p);
        return NULL;
    }
    return p;
}

void tg_calc_profile_free(tg_calc_profile_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ncases; i++) {
        for (size_t j = 0; j < p->cases[i].nrows; j++) {
            free(p->cases[i].rows[j].task);
            free(p->cases[i].rows[j].complexity);
            free(p->cases[i].rows[j].model);
        }
        free(p->cases[i].rows);
        free(p->cases[i].name);
    }
    free(p->cases);
    free(p->baseline);
    free(p->route);
    free(p->file);
    free(p);
}
