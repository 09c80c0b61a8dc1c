/*
 * The /_sim control API and request statistics of tollgate-sim. Tests use it to install
 * fault rules at run time and to see exactly what a gateway sent upstream: the last
 * SIM_LAST_MAX requests are kept with their method, path, lowercased headers and parsed body.
 */
#include "tools/sim/sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

/* Lowercased header names; repeated headers are joined with ", " as HTTP allows. */
static json_t *sim_stats_headers(struct evhttp_request *req)
{
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    json_t *obj = json_object();

    if (obj == NULL) {
        return NULL;
    }
    TAILQ_FOREACH(kv, hdrs, next)
    {
        char name[128];
        size_t i;
        const json_t *prev;

        for (i = 0; kv->key[i] != '\0' && i + 1 < sizeof(name); i++) {
            name[i] = (char)tolower((unsigned char)kv->key[i]);
        }
        name[i] = '\0';
        prev = json_object_get(obj, name);
        if (prev != NULL) {
            size_t len = strlen(json_string_value(prev)) + strlen(kv->value) + 3;
            char *joined = malloc(len);
            int n;

            if (joined == NULL) {
                goto fail;
            }
            n = snprintf(joined, len, "%s, %s", json_string_value(prev), kv->value);
            if (n < 0 || (size_t)n >= len ||
                json_object_set_new(obj, name, json_string(joined)) != 0) {
                free(joined);
                goto fail;
            }
            free(joined);
        } else if (json_object_set_new(obj, name, json_string(kv->value)) != 0) {
            /* Not valid UTF-8: keep the record but drop the header value. */
            json_object_set_new(obj, name, json_null());
        }
    }
    return obj;

fail:
    json_decref(obj);
    return NULL;
}

void sim_stats_record(sim_req_t *r)
{
    sim_stats_t *st = &r->sim->stats;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    json_t *hdrs = sim_stats_headers(r->req);
    json_t *rec;

    st->requests++;
    if (r->model != NULL) {
        json_t *cnt = json_object_get(st->by_model, r->model);

        json_object_set_new(st->by_model, r->model,
                            json_integer(cnt != NULL ? json_integer_value(cnt) + 1 : 1));
    }
    rec = json_pack("{s:s,s:s,s:s?,s:o?,s:O?}", "method", r->method, "path", r->path, "query",
                    query, "headers", hdrs, "body", r->body);
    /* Gemini accepts the key as ?key=, which ends up in access logs; tests check for it. */
    if (rec != NULL && r->key_in_url >= 0 &&
        json_object_set_new(rec, "key_in_url", json_boolean(r->key_in_url > 0)) != 0) {
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL) {
        fprintf(stderr, "tollgate-sim: %s: could not record the request for /_sim/stats\n", r->rid);
        return;
    }
    json_decref(st->last[st->last_next]);
    st->last[st->last_next] = rec;
    st->last_next = (st->last_next + 1) % SIM_LAST_MAX;
    if (st->last_len < SIM_LAST_MAX) {
        st->last_len++;
    }
}

void sim_stats_clear(sim_stats_t *st)
{
    for (size_t i = 0; i < SIM_LAST_MAX; i++) {
        json_decref(st->last[i]);
        st->last[i] = NULL;
    }
    st->last_next = 0;
    st->last_len = 0;
    st->requests = 0;
    json_object_clear(st->by_model);
}

static json_t *sim_stats_json(const sim_t *sim)
{
    const sim_stats_t *st = &sim->stats;
    json_t *last = json_array();
    size_t start = (st->last_next + SIM_LAST_MAX - st->last_len) % SIM_LAST_MAX;

    if (last == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < st->last_len; i++) {
        if (json_array_append(last, st->last[(start + i) % SIM_LAST_MAX]) != 0) {
            json_decref(last);
            return NULL;
        }
    }
    return json_pack("{s:I,s:O,s:I,s:o}", "requests", (json_int_t)st->requests, "by_model",
                     st->by_model, "active_streams", (json_int_t)sim->active_streams, "last", last);
}

static void sim_control_ok(sim_req_t *r)
{
    json_t *rules = sim_fault_rules_json(r->sim);

    sim_reply_json(r, 200, json_pack("{s:b,s:o?}", "ok", 1, "rules", rules), NULL, NULL);
}

static void sim_control_method(sim_req_t *r, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
    sim_reply_error(r, 405, "invalid_request_error", "Method not allowed.", NULL,
                    "method_not_allowed");
}

static void sim_control_faults(sim_req_t *r, enum evhttp_cmd_type cmd)
{
    char err[160];

    switch (cmd) {
    case EVHTTP_REQ_GET:
        sim_control_ok(r);
        return;
    case EVHTTP_REQ_DELETE:
        sim_fault_clear(r->sim);
        sim_control_ok(r);
        return;
    case EVHTTP_REQ_POST:
        if (!json_is_object(r->body)) {
            sim_reply_error(r, 400, "invalid_request_error",
                            "body must be a JSON object like {\"model\":\"gpt-4o\",\"status\":500}",
                            NULL, NULL);
            return;
        }
        if (sim_fault_add_json(r->sim, r->body, err, sizeof(err)) != 0) {
            sim_reply_error(r, 400, "invalid_request_error", err, NULL, NULL);
            return;
        }
        sim_control_ok(r);
        return;
    default:
        sim_control_method(r, "GET, POST, DELETE");
        return;
    }
}

void sim_control_handle(sim_req_t *r)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);

    if (strcmp(r->path, "/_sim/faults") == 0) {
        sim_control_faults(r, cmd);
    } else if (strcmp(r->path, "/_sim/stats") == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            sim_control_method(r, "GET");
            return;
        }
        sim_reply_json(r, 200, sim_stats_json(r->sim), NULL, NULL);
    } else if (strcmp(r->path, "/_sim/reset") == 0) {
        if (cmd != EVHTTP_REQ_POST) {
            sim_control_method(r, "POST");
            return;
        }
        sim_fault_clear(r->sim);
        sim_stats_clear(&r->sim->stats);
        sim_control_ok(r);
    } else {
        sim_reply_error(r, 404, "invalid_request_error", "Unknown simulator control URL.", NULL,
                        "unknown_url");
    }
}
