/*
 * Request facts for route decisions (see tg_route_req.h).
 */
#include "shared/tg_route_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_CX_MSGS_MAX 256 /* the newest messages the estimator reads; it saturates long before */

/* "0.7" -> a score; anything else is a label. */
static int tg_parse_score(const char *s, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    v = strtod(s, &end);
    if (*end != '\0' || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

static void tg_set_complexity(tg_route_req_t *q, const char *s, double num, int is_num,
                              const char *source)
{
    if (is_num || tg_parse_score(s, &num) == 0) {
        q->score = num;
        q->have_score = 1;
    } else {
        snprintf(q->complexity, sizeof(q->complexity), "%s", s);
    }
    q->complexity_source = source;
}

static tg_cx_role_t tg_cx_role(const char *role)
{
    if (role == NULL)
        return TG_CX_ROLE_USER;
    if (strcmp(role, "assistant") == 0)
        return TG_CX_ROLE_ASSISTANT;
    if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0)
        return TG_CX_ROLE_TOOL;
    if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
        return TG_CX_ROLE_SYSTEM;
    return TG_CX_ROLE_USER;
}

static void tg_cx_add(tg_cx_msg_t *msgs, size_t *n, tg_cx_role_t role, json_t *text)
{
    if (!json_is_string(text))
        return;
    if (*n == TG_CX_MSGS_MAX) {
        /* keep the newest: drop the oldest entry */
        memmove(msgs, msgs + 1, (TG_CX_MSGS_MAX - 1) * sizeof(*msgs));
        (*n)--;
    }
    msgs[*n].role = role;
    msgs[*n].text = json_string_value(text);
    msgs[(*n)++].len = json_string_length(text);
}

/* Messages into the estimator's shape; notes image parts as a vision need. */
static size_t tg_cx_messages(json_t *messages, tg_cx_msg_t *msgs, unsigned *needs)
{
    size_t n = 0, i, j;
    json_t *m, *part;

    json_array_foreach(messages, i, m)
    {
        tg_cx_role_t role = tg_cx_role(json_string_value(json_object_get(m, "role")));
        json_t *content = json_object_get(m, "content");

        if (json_is_string(content)) {
            tg_cx_add(msgs, &n, role, content);
            continue;
        }
        json_array_foreach(content, j, part)
        {
            const char *type = json_string_value(json_object_get(part, "type"));

            if (type != NULL && strcmp(type, "image_url") == 0)
                *needs |= TG_CAP_VISION;
            else
                tg_cx_add(msgs, &n, role, json_object_get(part, "text"));
        }
    }
    return n;
}

static int64_t tg_max_tokens(json_t *req)
{
    json_t *v = json_object_get(req, "max_completion_tokens");

    if (!json_is_integer(v))
        v = json_object_get(req, "max_tokens");
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

void tg_route_req_read(json_t *req, size_t body_len, const char *hdr_task,
                       const char *hdr_complexity, const char *key_task, tg_route_req_t *q)
{
    json_t *meta = json_object_get(req, "metadata"), *v, *tools, *rf;
    tg_cx_msg_t msgs[TG_CX_MSGS_MAX];
    const char *rft;
    unsigned flags = 0;
    size_t n;

    memset(q, 0, sizeof(*q));
    q->prompt_tokens = (int64_t)(body_len + 3) / 4;
    q->max_tokens = tg_max_tokens(req);
    snprintf(q->user, sizeof(q->user), "%s",
             json_is_string(v = json_object_get(req, "user")) ? json_string_value(v) : "");
    /* the task: header, then metadata.task, then the key's default */
    if (hdr_task != NULL && *hdr_task != '\0') {
        snprintf(q->task, sizeof(q->task), "%s", hdr_task);
        q->task_source = "header";
    } else if (json_is_string(v = json_object_get(meta, "task"))) {
        snprintf(q->task, sizeof(q->task), "%s", json_string_value(v));
        q->task_source = "metadata";
    } else if (key_task != NULL && *key_task != '\0') {
        snprintf(q->task, sizeof(q->task), "%s", key_task);
        q->task_source = "key";
    }
    tools = json_object_get(req, "tools");
    if (json_is_array(tools) && json_array_size(tools) > 0) {
        q->needs |= TG_CAP_TOOLS;
        flags |= TG_CX_REQ_TOOLS;
    }
    rf = json_object_get(req, "response_format");
    rft = json_string_value(json_object_get(rf, "type"));
    if (rft != NULL && (strcmp(rft, "json_object") == 0 || strcmp(rft, "json_schema") == 0)) {
        q->needs |= TG_CAP_JSON;
        flags |= TG_CX_REQ_JSON;
    }
    n = tg_cx_messages(json_object_get(req, "messages"), msgs, &q->needs);
    /* the complexity: header, then metadata.complexity, then the estimator */
    if (hdr_complexity != NULL && *hdr_complexity != '\0') {
        tg_set_complexity(q, hdr_complexity, 0, 0, "header");
        return;
    }
    v = json_object_get(meta, "complexity");
    if (json_is_string(v) && json_string_length(v) > 0) {
        tg_set_complexity(q, json_string_value(v), 0, 0, "metadata");
        return;
    }
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1) {
        tg_set_complexity(q, NULL, json_number_value(v), 1, "metadata");
        return;
    }
    if (n == 0 && json_is_string(v = json_object_get(req, "prompt"))) {
        tg_cx_add(msgs, &n, TG_CX_ROLE_USER, v); /* legacy completions */
    }
    if (n == 0)
        return; /* nothing to read (embeddings): no complexity */
    q->score = tg_complexity_score(msgs, n, flags, &q->cx);
    q->have_score = 1;
    q->complexity_source = "estimator";
}

void tg_route_req_input(const tg_route_req_t *q, const char *sticky, tg_route_input_t *in)
{
    memset(in, 0, sizeof(*in));
    in->task = q->task;
    in->complexity = q->complexity;
    in->score = q->score;
    in->have_score = q->have_score;
    in->score_source = q->complexity_source;
    in->prompt_tokens = q->prompt_tokens;
    in->max_tokens = q->max_tokens;
    in->needs = q->needs;
    in->sticky = sticky;
}
