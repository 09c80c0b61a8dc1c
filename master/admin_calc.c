/*
 * calc: the cost calculator over the admin protocol (tollgatectl calc, and anything else that
 * calls the dispatcher). A profile is priced row by row on the routes and catalog in force, or
 * on a proposed configuration compiled from a path or YAML text and then dropped; a replay
 * prices the request events of a period again. Nothing is applied and nothing is sent
 * upstream. Every figure is an exact integer in pico-dollars with a 6-decimal USD string
 * beside it, as `usage` gives them.
 */
#include "master/admin_calc.h"
#include "master/admin_keys.h"
#include "shared/tg_calc.h"
#include "shared/tg_route.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define TG_CALC_DAY_MS INT64_C(86400000)

static json_t *tg_calc_usd(int64_t pico)
{
    char buf[40];

    tg_money_format(pico, buf, sizeof(buf));
    return json_string(buf);
}

/* "<a>_pico" and "<a>_usd", the same for b, and the savings from a to b. */
static void tg_calc_money(json_t *o, const char *a, int64_t av, const char *b, int64_t bv)
{
    const char *names[2] = {a, b};
    int64_t values[2] = {av, bv};
    char k[48];

    for (int i = 0; i < 2; i++) {
        snprintf(k, sizeof(k), "%s_pico", names[i]);
        json_object_set_new(o, k, json_integer(values[i]));
        snprintf(k, sizeof(k), "%s_usd", names[i]);
        json_object_set_new(o, k, tg_calc_usd(values[i]));
    }
    /* both are non-negative: the difference cannot overflow */
    json_object_set_new(o, "savings_pico", json_integer(av - bv));
    json_object_set_new(o, "savings_usd", tg_calc_usd(av - bv));
    json_object_set_new(o, "savings_percent", json_real(tg_calc_percent(av, bv)));
}

/* A string field that may be absent: 0 with *out (NULL when absent), -1 when not a string. */
static int tg_calc_opt_str(json_t *req, const char *key, const char **out)
{
    json_t *v = json_object_get(req, key);

    *out = json_string_value(v);
    return v == NULL || json_is_null(v) || *out != NULL ? 0 : -1;
}

/* ---- profiles ---------------------------------------------------------------------------- */

static json_t *tg_calc_sum_json(const tg_calc_sum_t *s)
{
    json_t *o =
        json_pack("{s:I,s:I,s:I}", "input_tokens", (json_int_t)s->input_tokens, "output_tokens",
                  (json_int_t)s->output_tokens, "cached_tokens", (json_int_t)s->cached_tokens);

    tg_calc_money(o, "before", s->before_pico, "after", s->after_pico);
    return o;
}

/* A day's figures, with the month's under "per_month". */
static json_t *tg_calc_days_json(const tg_calc_sum_t *day, int64_t days)
{
    json_t *o = tg_calc_sum_json(day);
    tg_calc_sum_t month;

    /* tg_calc_profile checked the month's total: no part of it can overflow */
    if (tg_calc_scale(day, days, &month) == 0)
        json_object_set_new(o, "per_month", tg_calc_sum_json(&month));
    return o;
}

static json_t *tg_calc_part_json(const tg_calc_part_t *p)
{
    json_t *o =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:s?}", "model", p->model->name, "input_tokens",
                  (json_int_t)p->usage.prompt, "output_tokens", (json_int_t)p->usage.completion,
                  "cached_tokens", (json_int_t)p->usage.cached, "cost_pico",
                  (json_int_t)p->cost_pico, "cost_usd", tg_calc_usd(p->cost_pico), "rule",
                  p->rule >= 0 ? json_integer(p->rule + 1) : json_null(), "variant", p->variant);

    return o;
}

static json_t *tg_calc_row_json(const tg_calc_line_t *l, const tg_model_t *baseline)
{
    json_t *o = tg_calc_sum_json(&l->sum), *after = json_array();

    for (size_t i = 0; i < l->nparts; i++)
        json_array_append_new(after, tg_calc_part_json(&l->parts[i]));
    json_object_set_new(o, "task", l->row->task ? json_string(l->row->task) : json_null());
    json_object_set_new(o, "complexity",
                        l->row->complexity ? json_string(l->row->complexity) : json_null());
    json_object_set_new(o, "model", l->row->model ? json_string(l->row->model) : json_null());
    json_object_set_new(o, "share_ppm", json_integer(l->row->share_ppm));
    json_object_set_new(o, "model_before", json_string(baseline->name));
    json_object_set_new(o, "after", after);
    return o;
}

static json_t *tg_calc_profile_reply(const tg_calc_profile_t *p, const tg_calc_result_t *r,
                                     const char *config)
{
    json_t *cases = json_array();
    size_t li = 0;

    for (size_t i = 0; i < p->ncases; i++) {
        json_t *rows = json_array(), *c = tg_calc_days_json(&r->cases[i], r->days_per_month);

        for (size_t j = 0; j < p->cases[i].nrows; j++, li++)
            json_array_append_new(rows, tg_calc_row_json(&r->lines[li], r->baseline));
        json_object_set_new(c, "name", json_string(p->cases[i].name));
        json_object_set_new(c, "rows", rows);
        json_array_append_new(cases, c);
    }
    return json_pack("{s:b,s:s,s:s,s:s?,s:s,s:I,s:o,s:o}", "ok", 1, "mode", "profile", "config",
                     config, "route", r->route != NULL ? r->route->name : NULL, "baseline",
                     r->baseline->name, "days_per_month", (json_int_t)r->days_per_month,
                     "use_cases", cases, "total", tg_calc_days_json(&r->total, r->days_per_month));
}

static json_t *tg_calc_profile_cmd(const tg_config_t *cf, json_t *req, const char *config)
{
    json_t *text = json_object_get(req, "profile"), *reply;
    const char *name, *route, *baseline;
    char err[TG_CONFIG_ERR_MAX];
    tg_calc_profile_t *p;
    tg_calc_result_t r;

    if (!json_is_string(text))
        return tg_admin_err("calc needs \"profile\" (the profile's YAML text) or \"replay\": true");
    if (tg_calc_opt_str(req, "profile_name", &name) == -1 ||
        tg_calc_opt_str(req, "route", &route) == -1 ||
        tg_calc_opt_str(req, "baseline", &baseline) == -1)
        return tg_admin_err("calc: \"profile_name\", \"route\" and \"baseline\" are strings");
    p = tg_calc_profile_parse(name != NULL ? name : "profile", json_string_value(text),
                              json_string_length(text), err, sizeof(err));
    if (p == NULL)
        return tg_admin_err("%s", err);
    if (tg_calc_profile(p, cf, route, baseline, &r, err, sizeof(err)) == -1)
        reply = tg_admin_err("%s", err);
    else
        reply = tg_calc_profile_reply(p, &r, config);
    tg_calc_result_free(&r);
    tg_calc_profile_free(p);
    return reply;
}

/* ---- replays ----------------------------------------------------------------------------- */

typedef struct {
    tg_replay_t rp;
    int oom;
} tg_calc_replay_t;

static int tg_calc_replay_one(void *arg, const tg_event_t *ev)
{
    tg_calc_replay_t *cr = arg;

    cr->oom = tg_replay_add(&cr->rp, ev) == -1;
    return cr->oom;
}

static json_t *tg_calc_group_json(const tg_replay_group_t *g)
{
    json_t *o = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I}", "name", g->name, "requests", (json_int_t)g->requests, "moved",
        (json_int_t)g->moved, "prompt_tokens", (json_int_t)g->prompt_tokens, "completion_tokens",
        (json_int_t)g->completion_tokens, "cached_tokens", (json_int_t)g->cached_tokens);

    if (g->why != TG_REPLAY_OK)
        json_object_set_new(o, "reason", json_string(tg_replay_why_name(g->why)));
    tg_calc_money(o, "actual", g->actual_pico, "replayed", g->replayed_pico);
    return o;
}

static json_t *tg_calc_groups_json(const tg_replay_groups_t *gs)
{
    json_t *a = json_array();

    for (size_t i = 0; i < gs->n; i++)
        json_array_append_new(a, tg_calc_group_json(&gs->v[i]));
    return a;
}

/* v over a window of window_ms, times num days: rounded; saturated (and flagged) if huge. */
static int64_t tg_calc_rate(int64_t v, int64_t num_days, int64_t window_ms, int *overflow)
{
    __int128 x = ((__int128)v * num_days * TG_CALC_DAY_MS + window_ms / 2) / window_ms;

    if (x > INT64_MAX) {
        *overflow = 1;
        return INT64_MAX;
    }
    return (int64_t)x;
}

/* Per day and per month of the period's totals, and the events left out and why. */
static json_t *tg_calc_replay_reply(tg_replay_t *rp, int64_t since_ms, int64_t until_ms,
                                    int64_t days_per_month, long events, long bad,
                                    const char *config)
{
    int64_t window_ms = until_ms - since_ms;
    json_t *day = json_object(), *month = json_object(), *left = json_object(), *out;

    tg_calc_money(day, "actual", tg_calc_rate(rp->total.actual_pico, 1, window_ms, &rp->overflow),
                  "replayed", tg_calc_rate(rp->total.replayed_pico, 1, window_ms, &rp->overflow));
    tg_calc_money(month, "actual",
                  tg_calc_rate(rp->total.actual_pico, days_per_month, window_ms, &rp->overflow),
                  "replayed",
                  tg_calc_rate(rp->total.replayed_pico, days_per_month, window_ms, &rp->overflow));
    for (int w = TG_REPLAY_OK + 1; w < TG_REPLAY_NREASONS; w++)
        json_object_set_new(left, tg_replay_why_name((tg_replay_why_t)w),
                            json_integer(rp->nskipped[w]));
    json_object_set_new(left, "actual_pico", json_integer(rp->skipped_pico));
    json_object_set_new(left, "actual_usd", tg_calc_usd(rp->skipped_pico));
    json_object_set_new(left, "unreplayable", tg_calc_groups_json(&rp->skipped));
    out =
        json_pack("{s:b,s:s,s:s,s:s?,s:I,s:I,s:f,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "ok", 1,
                  "mode", "replay", "config", config, "route", rp->route, "since",
                  (json_int_t)(since_ms / 1000), "until", (json_int_t)((until_ms + 999) / 1000),
                  "days", (double)window_ms / (double)TG_CALC_DAY_MS, "days_per_month",
                  (json_int_t)days_per_month, "events", (json_int_t)events, "undecodable",
                  (json_int_t)bad, "total", tg_calc_group_json(&rp->total), "per_day", day,
                  "per_month", month, "routes", tg_calc_groups_json(&rp->routes), "tasks",
                  tg_calc_groups_json(&rp->tasks), "not_replayed", left, "overflow", rp->overflow);
    return out;
}

/* now in milliseconds: a replay without "until" takes in what was settled a moment ago */
static int64_t tg_calc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

static json_t *tg_calc_replay_cmd(const tg_config_t *cf, tg_store_t *s, json_t *req,
                                  const char *config)
{
    json_t *js = json_object_get(req, "since"), *ju = json_object_get(req, "until");
    json_t *jd = json_object_get(req, "days_per_month"), *reply;
    int64_t since = json_integer_value(js), until_ms = tg_calc_now_ms(), days = 30;
    tg_calc_replay_t cr;
    const char *route;
    long events, bad;

    if (!json_is_integer(js) || since < 0 || since > INT64_MAX / 1000)
        return tg_admin_err("calc replay needs \"since\" (unix seconds)");
    if (ju != NULL && !json_is_null(ju) &&
        (!json_is_integer(ju) || json_integer_value(ju) < 0 ||
         json_integer_value(ju) > INT64_MAX / 1000))
        return tg_admin_err("calc: \"until\" must be unix seconds");
    if (json_is_integer(ju))
        until_ms = json_integer_value(ju) * 1000;
    if (until_ms <= since * 1000)
        return tg_admin_err("calc: \"since\" must be before \"until\"");
    if (jd != NULL && !json_is_null(jd) &&
        (!json_is_integer(jd) || (days = json_integer_value(jd)) < 1 || days > 31))
        return tg_admin_err("calc: \"days_per_month\" must be an integer from 1 to 31");
    if (tg_calc_opt_str(req, "route", &route) == -1)
        return tg_admin_err("calc: \"route\" must be a route's name");
    /* every routed event would be "unknown route": say so once instead */
    if (route != NULL && tg_config_route(cf, route, strlen(route)) == NULL)
        return tg_admin_err("route \"%s\" is not in the configuration", route);
    tg_replay_init(&cr.rp, cf, route);
    cr.oom = 0;
    events = tg_events_scan(s, since * 1000, until_ms, tg_calc_replay_one, &cr, &bad);
    if (events < 0 || cr.oom)
        reply = tg_admin_err(events < 0 ? "reading the request events failed" : "out of memory");
    else
        reply = tg_calc_replay_reply(&cr.rp, since * 1000, until_ms, days, events, bad, config);
    tg_replay_free(&cr.rp);
    return reply;
}

/* ---- the command ------------------------------------------------------------------------- */

/*
 * The configuration to price on: the running one, or "config" — a path (when by_path: not for
 * callers over the network), or YAML text when it holds a line break (named "config_name",
 * default proposed.yaml; it cannot include files) — compiled like a reload would compile it,
 * and never applied. *own is what to unref.
 */
static const tg_config_t *tg_calc_config(const tg_config_t *cf, json_t *req, int by_path,
                                         tg_config_t **own, const char **name, char *err,
                                         size_t errlen)
{
    json_t *jc = json_object_get(req, "config");
    const char *text = json_string_value(jc);
    tg_config_file_t f;
    tg_config_source_t src = {&f, 1, 0};

    *own = NULL;
    *name = "running";
    if (jc == NULL || json_is_null(jc))
        return cf;
    if (text == NULL || tg_calc_opt_str(req, "config_name", name) == -1) {
        snprintf(err, errlen, "calc: \"config\" is a path or YAML text, \"config_name\" a name");
        return NULL;
    }
    if (strchr(text, '\n') == NULL) {
        if (!by_path) {
            snprintf(err, errlen, "calc: over HTTP, give the proposed configuration as YAML text");
            return NULL;
        }
        *name = text;
        return *own = tg_config_load_file(text, err, errlen);
    }
    f.path = (char *)(*name != NULL ? *name : "proposed.yaml");
    f.data = (char *)text;
    f.len = json_string_length(jc);
    *name = f.path;
    return *own = tg_config_load_source(&src, err, errlen);
}

json_t *tg_admin_calc(const tg_config_t *cf, tg_store_t *s, const char *cmd, json_t *req,
                      const tg_actor_t *actor)
{
    json_t *jr = json_object_get(req, "replay");
    /* true, or 1 (a GET parameter over HTTP is an integer) */
    int replay = json_is_true(jr) || (json_is_integer(jr) && json_integer_value(jr) != 0);
    char err[TG_CONFIG_ERR_MAX];
    const tg_config_t *use;
    tg_config_t *own;
    const char *name;
    json_t *reply;

    if (strcmp(cmd, "calc") != 0)
        return NULL;
    if (replay && json_object_get(req, "profile") != NULL)
        return tg_admin_err("calc: give a \"profile\" or \"replay\": true, not both");
    if (replay && s == NULL)
        return tg_admin_err("calc replay reads the request events: this gateway has no store "
                            "(configure store: {path: DIR})");
    if ((use = tg_calc_config(cf, req, actor->uid != TG_ACTOR_HTTP, &own, &name, err,
                              sizeof(err))) == NULL)
        return tg_admin_err("%s", err);
    reply = replay ? tg_calc_replay_cmd(use, s, req, name) : tg_calc_profile_cmd(use, req, name);
    tg_config_unref(own);
    return reply;
}
