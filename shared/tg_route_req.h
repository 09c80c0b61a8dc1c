/*
 * What a route decision needs to know about one request, read from its JSON body, its
 * x-tollgate-task / x-tollgate-complexity headers and its key: the task label, the complexity
 * (a label, a number, or the estimator's score), the capabilities it uses, its size and output
 * limit, and the `user` a weighted split may stick to. Also used by `tollgatectl route explain`,
 * so the explanation is computed exactly as the decision is.
 */
#ifndef TG_ROUTE_REQ_H
#define TG_ROUTE_REQ_H

#include <jansson.h>

#include "shared/tg_complexity.h"
#include "shared/tg_route.h"

#define TG_LABEL_MAX 129

typedef struct {
    char task[TG_LABEL_MAX];
    const char *task_source; /* "header", "metadata", "key", or NULL when there is none */
    char complexity[TG_LABEL_MAX]; /* an explicit label ("" when none) */
    double score;                  /* when have_score */
    int have_score;
    const char *complexity_source; /* "header", "metadata", "estimator", or NULL */
    tg_cx_explain_t cx;            /* the estimator's breakdown, when it ran */
    char user[TG_LABEL_MAX];
    unsigned needs; /* TG_CAP_TOOLS, TG_CAP_VISION, TG_CAP_JSON */
    int64_t prompt_tokens;
    int64_t max_tokens;
} tg_route_req_t;

/**
 * Read the facts. req is the parsed body (may be NULL), body_len its size (the prompt estimate
 * is body_len / 4, as admission's). hdr_task and hdr_complexity are the headers' values (NULL
 * when absent), key_task the key's default task (NULL or ""). A complexity given as a number
 * from 0 to 1 is a score; any other text is a label. The estimator runs only when neither the
 * header nor metadata.complexity gives one.
 */
void tg_route_req_read(json_t *req, size_t body_len, const char *hdr_task,
                       const char *hdr_complexity, const char *key_task, tg_route_req_t *out);

/** Fill a decision's input from the facts; sticky is the key id or user to stick to. */
void tg_route_req_input(const tg_route_req_t *q, const char *sticky, tg_route_input_t *in);

#endif
