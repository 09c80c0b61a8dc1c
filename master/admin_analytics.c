/*
 * usage, savings, experiments and events.tail (see admin_analytics.h). Everything is read from
 * the meter store in one read transaction per report: usage rollups (per minute), feedback
 * records and request events. Money stays in integer pico-dollars until it is printed.
 */
#include "master/admin_analytics.h"
#include "master/admin_keys.h"
#include "shared/tg_feedback.h"
#include "shared/tg_meter.h"
#include "shared/tg_money.h"
#include "shared/tg_route.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TG_DAYS_PER_MONTH 30

static json_t *tg_usd(int64_t pico)
{
    char buf[32];

    tg_money_format(pico, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *tg_ratio(int64_t a, int64_t b)
{
    return b > 0 ? json_real((double)a / (double)b) : json_null();
}

static json_t *tg_ms(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

/* since/until in unix seconds, defaulting to the last 24 hours */
static void tg_range(json_t *req, int64_t *from, int64_t *to)
{
    json_t *since = json_object_get(req, "since"), *until = json_object_get(req, "until");
    int64_t now = (int64_t)time(NULL);

    *from = json_is_integer(since) ? json_integer_value(since) : now - 86400;
    *to = json_is_integer(until) ? json_integer_value(until) : now + 60;
}

/* ---- usage: cost, tokens, latency and quality per slice ---------------------------------- */

static void tg_usage_row(void *arg, const tg_usage_row_t *r)
{
    json_t *row = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "group",
        r->group, "requests", (json_int_t)r->requests, "errors", (json_int_t)r->errors,
        "prompt_tokens", (json_int_t)r->prompt, "completion_tokens", (json_int_t)r->completion,
        "cached_tokens", (json_int_t)r->cached, "estimated", (json_int_t)r->estimated,
        "fallbacks", (json_int_t)r->fallbacks, "cost_usd", tg_usd(r->cost_pico), "cost_pico",
        (json_int_t)r->cost_pico, "cost_per_request_usd",
        tg_usd(r->requests > 0 ? r->cost_pico / r->requests : 0), "baseline_cost_usd",
        tg_usd(r->baseline_pico), "error_rate", tg_ratio(r->errors, r->requests),
        "fallback_rate", tg_ratio(r->fallbacks, r->requests), "latency_p50_ms",
        tg_ms(tg_meter_quantile_ms(r->latency, 0.50)), "latency_p95_ms",
        tg_ms(tg_meter_quantile_ms(r->latency, 0.95)), "ttft_p50_ms",
        tg_ms(tg_meter_quantile_ms(r->ttft, 0.50)), "ttft_p95_ms",
        tg_ms(tg_meter_quantile_ms(r->ttft, 0.95)));

    json_object_set_new(row, "baseline_pico", json_integer(r->baseline_pico));
    json_array_append_new(arg, row);
}

/* The quality columns of a slice: thumbs-up ratio, escalation rate, mean score. */
static void tg_quality_set(json_t *row, const tg_feedback_row_t *f)
{
    json_object_set_new(row, "feedback", json_integer(f != NULL ? f->feedback : 0));
    json_object_set_new(row, "thumbs_up_ratio", f ? tg_ratio(f->up, f->rated) : json_null());
    json_object_set_new(row, "ratings", json_integer(f != NULL ? f->rated : 0));
    json_object_set_new(row, "escalation_rate",
                        f ? tg_ratio(f->escalated, f->escalation_answers) : json_null());
    json_object_set_new(row, "mean_score",
                        f && f->scored > 0 ? json_real(f->score_sum / (double)f->scored)
                                           : json_null());
}

typedef struct {
    tg_feedback_row_t *v;
    size_t n, cap;
} tg_fb_rows_t;

static void tg_feedback_row(void *arg, const tg_feedback_row_t *r)
{
    tg_fb_rows_t *rows = arg;

    if (rows->n == rows->cap) {
        tg_feedback_row_t *nv = realloc(rows->v, (rows->cap = rows->cap ? rows->cap * 2 : 16) *
                                                     sizeof(*nv));
        if (nv == NULL)
            return;
        rows->v = nv;
    }
    rows->v[rows->n++] = *r;
}

static const tg_feedback_row_t *tg_fb_find(const tg_fb_rows_t *rows, const char *group)
{
    for (size_t i = 0; i < rows->n; i++)
        if (strcmp(rows->v[i].group, group) == 0)
            return &rows->v[i];
    return NULL;
}

/* Usage rows for a slice, each with its quality columns; NULL when by is not a slice. */
static json_t *tg_usage_rows(tg_store_t *s, const char *by, int64_t from, int64_t to,
                             tg_fb_rows_t *fb)
{
    json_t *rows = json_array(), *row;
    size_t i;

    if (tg_meter_usage(s, by, from * 1000, to * 1000, tg_usage_row, rows) == -1 ||
        tg_feedback_report(s, by, from * 1000, to * 1000, tg_feedback_row, fb) == -1) {
        json_decref(rows);
        return NULL;
    }
    json_array_foreach(rows, i, row)
        tg_quality_set(row, tg_fb_find(fb, json_string_value(json_object_get(row, "group"))));
    return rows;
}

static json_t *tg_usage_cmd(tg_store_t *s, json_t *req)
{
    const char *by = json_string_value(json_object_get(req, "by"));
    tg_fb_rows_t fb = {0};
    int64_t from, to;
    json_t *rows;

    tg_range(req, &from, &to);
    if (by == NULL)
        by = "model";
    rows = tg_usage_rows(s, by, from, to, &fb);
    free(fb.v);
    if (rows == NULL)
        return tg_admin_err("usage --by must be key, tenant, model, provider, route, task or "
                            "variant");
    return json_pack("{s:b,s:s,s:I,s:I,s:o}", "ok", 1, "by", by, "since", (json_int_t)from,
                     "until", (json_int_t)to, "rows", rows);
}

/* ---- savings: actual cost against the baseline --------------------------------------------- */

typedef struct {
    json_t *rows;
    int64_t days_x1000; /* the period in thousandths of a day, for per-day figures */
    int64_t tokens, cost, baseline;
} tg_savings_t;

static json_t *tg_savings_json(const char *group, int64_t tokens, int64_t cost, int64_t base,
                               int64_t days_x1000)
{
    int64_t day_cost = cost * 1000 / days_x1000, day_base = base * 1000 / days_x1000;

    return json_pack("{s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}", "group", group,
                     "tokens", (json_int_t)tokens, "cost_usd", tg_usd(cost), "baseline_cost_usd",
                     tg_usd(base), "savings_usd", tg_usd(base - cost), "savings_ratio",
                     base > 0 ? json_real((double)(base - cost) / (double)base) : json_null(),
                     "daily_cost_usd", tg_usd(day_cost), "daily_baseline_usd", tg_usd(day_base),
                     "monthly_cost_usd", tg_usd(day_cost * TG_DAYS_PER_MONTH),
                     "monthly_baseline_usd", tg_usd(day_base * TG_DAYS_PER_MONTH),
                     "monthly_savings_usd", tg_usd((day_base - day_cost) * TG_DAYS_PER_MONTH),
                     "cost_pico", (json_int_t)cost, "baseline_pico", (json_int_t)base);
}

static void tg_savings_row(void *arg, const tg_usage_row_t *r)
{
    tg_savings_t *sv = arg;
    int64_t tokens = r->prompt + r->completion;

    json_array_append_new(sv->rows, tg_savings_json(r->group, tokens, r->cost_pico,
                                                    r->baseline_pico, sv->days_x1000));
    sv->tokens += tokens;
    sv->cost += r->cost_pico;
    sv->baseline += r->baseline_pico;
}

static json_t *tg_savings_cmd(tg_store_t *s, json_t *req)
{
    const char *by = json_string_value(json_object_get(req, "by"));
    tg_savings_t sv = {0};
    int64_t from, to;

    tg_range(req, &from, &to);
    if (by == NULL)
        by = "route";
    sv.rows = json_array();
    sv.days_x1000 = (to - from) * 1000 / 86400;
    if (sv.days_x1000 < 1)
        sv.days_x1000 = 1;
    if (tg_meter_usage(s, by, from * 1000, to * 1000, tg_savings_row, &sv) == -1) {
        json_decref(sv.rows);
        return tg_admin_err("savings --by must be route, task, model, provider, key, tenant or "
                            "variant");
    }
    return json_pack("{s:b,s:s,s:I,s:I,s:f,s:o,s:o}", "ok", 1, "by", by, "since",
                     (json_int_t)from, "until", (json_int_t)to, "days",
                     (double)sv.days_x1000 / 1000.0, "rows", sv.rows, "total",
                     tg_savings_json("total", sv.tokens, sv.cost, sv.baseline, sv.days_x1000));
}

/* ---- experiments: variants side by side, with significance ---------------------------------- */

double tg_two_proportion_p(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double *z)
{
    double p1, p2, p, se;

    *z = 0;
    if (n1 <= 0 || n2 <= 0)
        return -1;
    p1 = (double)x1 / (double)n1;
    p2 = (double)x2 / (double)n2;
    p = (double)(x1 + x2) / (double)(n1 + n2);
    if (p <= 0 || p >= 1)
        return -1;
    se = sqrt(p * (1 - p) * (1.0 / (double)n1 + 1.0 / (double)n2));
    *z = (p1 - p2) / se;
    return erfc(fabs(*z) / sqrt(2.0)); /* two-sided: 2 * (1 - Phi(|z|)) */
}

static json_t *tg_compare(int64_t x1, int64_t n1, int64_t x2, int64_t n2)
{
    double z, p = tg_two_proportion_p(x1, n1, x2, n2, &z);

    if (p < 0)
        return json_null();
    return json_pack("{s:f,s:f,s:b}", "z", z, "p_value", p, "significant", p < 0.05);
}

/* One experiment: its variants' usage and quality, each compared with the first (control). */
static json_t *tg_experiment_json(const tg_route_t *rt, const json_t *rows)
{
    json_t *vs = json_array(), *control = NULL;
    char group[TG_FB_DIM_MAX];

    for (size_t i = 0; i < rt->nvariants; i++) {
        json_t *row = NULL, *r, *v;
        size_t j;

        snprintf(group, sizeof(group), "%s/%s", rt->experiment, rt->variants[i].name);
        json_array_foreach(rows, j, r)
            if (strcmp(json_string_value(json_object_get(r, "group")), group) == 0)
                row = r;
        v = row != NULL ? json_deep_copy(row) : json_pack("{s:s,s:i}", "group", group,
                                                          "requests", 0);
        json_object_set_new(v, "variant", json_string(rt->variants[i].name));
        json_object_set_new(v, "weight", json_integer(rt->variants[i].weight));
        if (control == NULL) {
            control = v;
        } else {
            json_t *cmp = json_object();
#define TG_INT(o, k) json_integer_value(json_object_get(o, k))
            /* thumbs-up share and escalation share against the control's */
            json_object_set_new(
                cmp, "thumbs_up",
                tg_compare(TG_INT(v, "thumbs_up"), TG_INT(v, "ratings"),
                           TG_INT(control, "thumbs_up"), TG_INT(control, "ratings")));
            json_object_set_new(
                cmp, "escalation",
                tg_compare(TG_INT(v, "escalated"), TG_INT(v, "escalation_answers"),
                           TG_INT(control, "escalated"), TG_INT(control, "escalation_answers")));
#undef TG_INT
            json_object_set_new(v, "vs_control", cmp);
        }
        json_array_append_new(vs, v);
    }
    return json_pack("{s:s,s:s,s:o}", "experiment", rt->experiment, "route", rt->name,
                     "variants", vs);
}

static json_t *tg_experiments_cmd(const tg_config_t *cf, tg_store_t *s, json_t *req)
{
    json_t *out = json_array(), *rows;
    tg_fb_rows_t fb = {0};
    int64_t from, to;
    size_t i;

    tg_range(req, &from, &to);
    if ((rows = tg_usage_rows(s, "variant", from, to, &fb)) == NULL) {
        free(fb.v);
        json_decref(out);
        return tg_admin_err("cannot read the usage of experiments");
    }
    /* the counts the significance tests need, next to the ratios */
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const tg_feedback_row_t *f = tg_fb_find(&fb, json_string_value(json_object_get(row,
                                                                                      "group")));
        json_object_set_new(row, "thumbs_up", json_integer(f ? f->up : 0));
        json_object_set_new(row, "escalated", json_integer(f ? f->escalated : 0));
        json_object_set_new(row, "escalation_answers",
                            json_integer(f ? f->escalation_answers : 0));
    }
    for (size_t r = 0; r < cf->nroutes; r++)
        if (cf->routes[r].nvariants > 0)
            json_array_append_new(out, tg_experiment_json(&cf->routes[r], rows));
    free(fb.v);
    json_decref(rows);
    return json_pack("{s:b,s:I,s:I,s:o}", "ok", 1, "since", (json_int_t)from, "until",
                     (json_int_t)to, "experiments", out);
}

/* ---- events.tail: the request event feed ---------------------------------------------------- */

/* A request event (msgpack map) as JSON: strings and integers as they are. */
static json_t *tg_event_json(const MDB_val *v)
{
    msgpack_unpacked up;
    json_t *o = json_object();

    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, v->mv_data, v->mv_size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++) {
            const msgpack_object *k = &up.data.via.map.ptr[i].key, *x = &up.data.via.map.ptr[i].val;
            char name[64];
            json_t *jv = NULL;

            if (k->type != MSGPACK_OBJECT_STR || k->via.str.size >= sizeof(name))
                continue;
            memcpy(name, k->via.str.ptr, k->via.str.size);
            name[k->via.str.size] = '\0';
            if (x->type == MSGPACK_OBJECT_STR)
                jv = json_stringn(x->via.str.ptr, x->via.str.size);
            else if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                jv = json_integer((json_int_t)x->via.u64);
            else if (x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                jv = json_integer((json_int_t)x->via.i64);
            if (jv != NULL)
                json_object_set_new(o, name, jv);
        }
    }
    msgpack_unpacked_destroy(&up);
    return o;
}

/* events.tail {after: CURSOR, limit: N}: events after the cursor (hex of the last key seen);
 * without a cursor, the last N. Returns the events and the cursor to ask with next time. */
static json_t *tg_events_cmd(tg_store_t *s, json_t *req)
{
    const char *after = json_string_value(json_object_get(req, "after"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    unsigned char ck[96];
    char cursor[2 * sizeof(ck) + 1] = "";
    size_t cklen = 0;
    json_t *events = json_array();
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, n = 0;

    if (limit <= 0 || limit > 1000)
        limit = 100;
    if (after != NULL) {
        size_t len = strlen(after);
        for (size_t i = 0; i + 1 < len && cklen < sizeof(ck); i += 2) {
            unsigned int b;
            if (sscanf(after + i, "%2x", &b) != 1)
                break;
            ck[cklen++] = (unsigned char)b;
        }
        snprintf(cursor, sizeof(cursor), "%s", after);
    }
    if (mdb_txn_begin(s->meter, NULL, MDB_RDONLY, &txn) != 0 ||
        mdb_cursor_open(txn, s->dbi[TG_DB_EVENTS], &cur) != 0) {
        json_decref(events);
        return tg_admin_err("cannot read the request events");
    }
    if (cklen > 0) {
        k.mv_size = cklen;
        k.mv_data = ck;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == cklen && memcmp(k.mv_data, ck, cklen) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else {
        /* the last `limit` events: step back from the end */
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        for (json_int_t i = 1; rc == 0 && i < limit; i++)
            if (mdb_cursor_get(cur, &k, &v, MDB_PREV) != 0)
                rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST), i = limit;
    }
    for (; rc == 0 && n < limit; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        json_array_append_new(events, tg_event_json(&v));
        for (size_t i = 0; i < k.mv_size && i < sizeof(ck); i++)
            snprintf(cursor + 2 * i, 3, "%02x", ((unsigned char *)k.mv_data)[i]);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return json_pack("{s:b,s:o,s:s}", "ok", 1, "events", events, "cursor", cursor);
}

json_t *tg_admin_analytics(const tg_config_t *cf, tg_store_t *s, const char *cmd, json_t *req)
{
    if (strcmp(cmd, "usage") != 0 && strcmp(cmd, "savings") != 0 &&
        strcmp(cmd, "experiments") != 0 && strcmp(cmd, "events.tail") != 0)
        return NULL;
    if (s == NULL)
        return tg_admin_err("this gateway has no store (configure store: {path: DIR})");
    if (strcmp(cmd, "usage") == 0)
        return tg_usage_cmd(s, req);
    if (strcmp(cmd, "savings") == 0)
        return tg_savings_cmd(s, req);
    if (strcmp(cmd, "experiments") == 0)
        return tg_experiments_cmd(cf, s, req);
    return tg_events_cmd(s, req);
}
