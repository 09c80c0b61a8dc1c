/*
 * Fault settings for tollgate-sim: parsing keys from headers, JSON and --fault specs, the
 * per-model rule list (with use counts), and the merge that decides which faults one request
 * gets. Applying the faults (timers, resets, stalls) is the response engine's job
 * (sim_reply.c); this file only decides.
 */
#include "tools/sim/sim.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

typedef struct sim_fault_key_t {
    const char *name;
    size_t offset; /* of the long field in sim_fault_t; SIZE_MAX: accepted and ignored */
} sim_fault_key_t;

static const sim_fault_key_t sim_fault_keys[] = {
    {"status", offsetof(sim_fault_t, status)},
    {"latency_ms", offsetof(sim_fault_t, latency_ms)},
    {"ttft_ms", offsetof(sim_fault_t, ttft_ms)},
    {"tps", offsetof(sim_fault_t, tps)},
    {"tokens", offsetof(sim_fault_t, tokens)},
    {"reset_after", offsetof(sim_fault_t, reset_after)},
    {"stall", offsetof(sim_fault_t, stall)},
    {"stall_after", offsetof(sim_fault_t, stall_after)},
    {"cached", offsetof(sim_fault_t, cached)},
    {"cache_write", offsetof(sim_fault_t, cache_write)},
    {"error_event", offsetof(sim_fault_t, error_event)},
    {"safety", offsetof(sim_fault_t, safety)},
    {"count", offsetof(sim_fault_t, count)},
    {"chunk_bytes", SIZE_MAX},
};

#define SIM_NKEYS (sizeof(sim_fault_keys) / sizeof(sim_fault_keys[0]))

void sim_fault_init(sim_fault_t *f)
{
    f->status = SIM_UNSET;
    f->latency_ms = SIM_UNSET;
    f->ttft_ms = SIM_UNSET;
    f->tps = SIM_UNSET;
    f->tokens = SIM_UNSET;
    f->reset_after = SIM_UNSET;
    f->stall = SIM_UNSET;
    f->stall_after = SIM_UNSET;
    f->cached = SIM_UNSET;
    f->cache_write = SIM_UNSET;
    f->error_event = SIM_UNSET;
    f->safety = SIM_UNSET;
    f->count = SIM_UNSET;
}

static long *sim_fault_field(sim_fault_t *f, size_t offset)
{
    return (long *)(void *)((char *)f + offset);
}

static long sim_fault_get(const sim_fault_t *f, size_t offset)
{
    return *(const long *)(const void *)((const char *)f + offset);
}

static const sim_fault_key_t *sim_fault_lookup(const char *key)
{
    for (size_t i = 0; i < SIM_NKEYS; i++) {
        if (strcmp(sim_fault_keys[i].name, key) == 0) {
            return &sim_fault_keys[i];
        }
    }
    return NULL;
}

/* Keys arrive as "latency_ms", "Latency-Ms" (headers) and so on; compare one spelling. */
static int sim_fault_normalize(const char *key, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; key[i] != '\0'; i++) {
        if (i + 1 >= outlen) {
            return -1;
        }
        out[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
    }
    out[i] = '\0';
    return 0;
}

static int sim_fault_store(sim_fault_t *f, const char *key, long v, char *err, size_t errlen)
{
    char norm[32];
    const sim_fault_key_t *k;

    if (sim_fault_normalize(key, norm, sizeof(norm)) != 0 || (k = sim_fault_lookup(norm)) == NULL) {
        sim_fmt(err, errlen, "unknown sim fault key '%s'", key);
        return -1;
    }
    if (v < 0) {
        sim_fmt(err, errlen, "sim fault key '%s' needs a non-negative integer", key);
        return -1;
    }
    if (k->offset != SIZE_MAX) {
        *sim_fault_field(f, k->offset) = v;
    }
    return 0;
}

int sim_fault_set(sim_fault_t *f, const char *key, const char *val, char *err, size_t errlen)
{
    char *end;
    long v;

    if (strcasecmp(val, "true") == 0) {
        return sim_fault_store(f, key, 1, err, errlen);
    }
    if (strcasecmp(val, "false") == 0) {
        return sim_fault_store(f, key, 0, err, errlen);
    }
    errno = 0;
    v = strtol(val, &end, 10);
    while (*end == ' ' || *end == '\t') {
        end++;
    }
    if (errno != 0 || end == val || *end != '\0') {
        sim_fmt(err, errlen, "sim fault key '%s' needs a non-negative integer, got '%s'", key, val);
        return -1;
    }
    return sim_fault_store(f, key, v, err, errlen);
}

int sim_fault_set_json(sim_fault_t *f, const char *key, const json_t *val, char *err, size_t errlen)
{
    if (json_is_integer(val)) {
        json_int_t v = json_integer_value(val);

        return sim_fault_store(f, key, v > LONG_MAX ? LONG_MAX : (long)v, err, errlen);
    }
    if (json_is_real(val)) {
        double d = json_real_value(val);

        if (d >= 0 && d < (double)LONG_MAX && d == (double)(long)d) {
            return sim_fault_store(f, key, (long)d, err, errlen);
        }
    } else if (json_is_boolean(val)) {
        return sim_fault_store(f, key, json_is_true(val) ? 1 : 0, err, errlen);
    } else if (json_is_string(val)) {
        return sim_fault_set(f, key, json_string_value(val), err, errlen);
    }
    sim_fmt(err, errlen, "sim fault key '%s' needs a non-negative integer", key);
    return -1;
}

int sim_fault_add_rule(sim_t *sim, const char *model, const sim_fault_t *f)
{
    sim_rule_t *rule = calloc(1, sizeof(*rule));
    sim_rule_t **tail;

    if (rule == NULL || (rule->model = strdup(model)) == NULL) {
        free(rule);
        return -1;
    }
    rule->fault = *f;
    for (tail = &sim->rules; *tail != NULL; tail = &(*tail)->next) {
    }
    *tail = rule;
    return 0;
}

int sim_fault_add_spec(sim_t *sim, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    const char *colon = NULL;
    char *model = NULL;
    char *list = NULL;
    char *save = NULL;
    sim_fault_t f;

    /* Model names may contain ':' (e.g. "llama3:8b"): split at the last ':' before a '='. */
    for (const char *p = spec; *p != '\0' && (eq == NULL || p < eq); p++) {
        if (*p == ':') {
            colon = p;
        }
    }
    if (colon == NULL || colon == spec || eq == NULL) {
        sim_fmt(err, errlen, "bad --fault '%s': want MODEL:key=val,...", spec);
        return -1;
    }
    sim_fault_init(&f);
    model = strndup(spec, (size_t)(colon - spec));
    list = strdup(colon + 1);
    if (model == NULL || list == NULL) {
        sim_fmt(err, errlen, "out of memory");
        goto fail;
    }
    for (char *item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *sep = strchr(item, '=');

        if (sep == NULL) {
            sim_fmt(err, errlen, "bad --fault item '%s': want key=val", item);
            goto fail;
        }
        *sep = '\0';
        if (sim_fault_set(&f, item, sep + 1, err, errlen) != 0) {
            goto fail;
        }
    }
    if (sim_fault_add_rule(sim, model, &f) != 0) {
        sim_fmt(err, errlen, "out of memory");
        goto fail;
    }
    free(model);
    free(list);
    return 0;

fail:
    free(model);
    free(list);
    return -1;
}

int sim_fault_add_json(sim_t *sim, const json_t *obj, char *err, size_t errlen)
{
    const json_t *model = json_object_get(obj, "model");
    const char *key;
    json_t *val;
    sim_fault_t f;

    if (model != NULL && !json_is_string(model)) {
        sim_fmt(err, errlen, "'model' must be a string");
        return -1;
    }
    sim_fault_init(&f);
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strcmp(key, "model") != 0 && sim_fault_set_json(&f, key, val, err, errlen) != 0) {
            return -1;
        }
    }
    if (sim_fault_add_rule(sim, model != NULL ? json_string_value(model) : "*", &f) != 0) {
        sim_fmt(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void sim_fault_clear(sim_t *sim)
{
    while (sim->rules != NULL) {
        sim_rule_t *next = sim->rules->next;

        free(sim->rules->model);
        free(sim->rules);
        sim->rules = next;
    }
}

/* Exact-model rules win over "*" rules; among equals the oldest applies, so a test can queue
 * a sequence of one-shot rules (count=1) and see them fire in order. */
static sim_rule_t **sim_fault_match(sim_t *sim, const char *model)
{
    sim_rule_t **wild = NULL;

    for (sim_rule_t **pp = &sim->rules; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->model, "*") == 0) {
            if (wild == NULL) {
                wild = pp;
            }
        } else if (model != NULL && strcmp((*pp)->model, model) == 0) {
            return pp;
        }
    }
    return wild;
}

static void sim_fault_overlay(sim_fault_t *dst, const sim_fault_t *src)
{
    for (size_t i = 0; i < SIM_NKEYS; i++) {
        size_t off = sim_fault_keys[i].offset;

        if (off != SIZE_MAX && sim_fault_get(src, off) != SIM_UNSET) {
            *sim_fault_field(dst, off) = sim_fault_get(src, off);
        }
    }
}

int sim_fault_resolve(sim_req_t *r, char *err, size_t errlen)
{
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(r->req);
    struct evkeyval *kv;
    sim_fault_t from_hdr, from_body;
    json_t *sim_obj = r->body != NULL ? json_object_get(r->body, "sim") : NULL;
    sim_rule_t **match;

    sim_fault_init(&from_hdr);
    sim_fault_init(&from_body);
    sim_fault_init(&r->fault);
    TAILQ_FOREACH(kv, hdrs, next)
    {
        if (strncasecmp(kv->key, "x-sim-", 6) == 0 &&
            sim_fault_set(&from_hdr, kv->key + 6, kv->value, err, errlen) != 0) {
            return -1;
        }
    }
    if (json_is_object(sim_obj)) {
        const char *key;
        json_t *val;

        json_object_foreach(sim_obj, key, val)
        {
            if (sim_fault_set_json(&from_body, key, val, err, errlen) != 0) {
                return -1;
            }
        }
    }
    match = sim_fault_match(r->sim, r->model);
    if (match != NULL) {
        sim_rule_t *rule = *match;

        sim_fault_overlay(&r->fault, &rule->fault);
        if (rule->fault.count != SIM_UNSET && --rule->fault.count <= 0) {
            *match = rule->next;
            free(rule->model);
            free(rule);
        }
    }
    sim_fault_overlay(&r->fault, &from_body);
    sim_fault_overlay(&r->fault, &from_hdr);
    r->fault.count = SIM_UNSET;
    return 0;
}

void sim_fault_cache(const sim_fault_t *f, long prompt, long *cached, long *written)
{
    *cached = f->cached > 0 ? (f->cached < prompt ? f->cached : prompt) : 0;
    if (written != NULL) {
        *written = f->cache_write > 0 ? f->cache_write : 0;
        if (*written > prompt - *cached) {
            *written = prompt - *cached;
        }
    }
}

json_t *sim_fault_rules_json(const sim_t *sim)
{
    json_t *arr = json_array();

    if (arr == NULL) {
        return NULL;
    }
    for (const sim_rule_t *rule = sim->rules; rule != NULL; rule = rule->next) {
        json_t *obj = json_pack("{s:s}", "model", rule->model);

        if (obj == NULL) {
            goto fail;
        }
        for (size_t i = 0; i < SIM_NKEYS; i++) {
            size_t off = sim_fault_keys[i].offset;
            long v;

            if (off == SIZE_MAX) {
                continue;
            }
            v = sim_fault_get(&rule->fault, off);
            if (v != SIM_UNSET &&
                json_object_set_new(obj, sim_fault_keys[i].name, json_integer(v)) != 0) {
                json_decref(obj);
                goto fail;
            }
        }
        if (json_array_append_new(arr, obj) != 0) {
            goto fail;
        }
    }
    return arr;

fail:
    json_decref(arr);
    return NULL;
}
