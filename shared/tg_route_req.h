/*
 * What a route decision needs to know about one request, read from its JSON body, its
 * x-tollgate-task / x-tollgate-complexity headers and its key: the task label, the complexity
 * (a label, a number, or the estimator's score), the capabilities it uses, its size and output
 * limit, and the `user` a weighted split may stick to. Also used by `tollgatectl route explain`,
 * so the explanation is computed exactly as the decision is.
 */
#ifndef TG_ROUTE_REQ_H
#define TG_ROUTE_REQ_H

#include <stddef.h>
#include <stdint.h>

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
 * Read the facts from body, len bytes of a JSON document that tg_json_scan() has accepted
 * (body may be NULL; a document that is not an object gives no facts of its own). The prompt
 * estimate is len / 4, as admission's. hdr_task and hdr_complexity are the headers' values
 * (NULL when absent), key_task the key's default task (NULL or ""). A complexity given as a
 * number from 0 to 1 is a score; any other text is a label. The estimator runs only when
 * neither the header nor metadata.complexity gives one.
 *
 * The body is read in place, without a DOM and without allocating: what it reads is what
 * jansson would parse (a key given twice counts with its last value), with these limits:
 * labels (task, complexity, user) are cut to TG_LABEL_MAX - 1 bytes; a metadata.complexity
 * text longer than 511 bytes is a label, never a score; the estimator sees the newest 256
 * texts. Strings are decoded as tg_json_str() does, so \u0000 and unpaired surrogates, which
 * jansson refuses, read as a NUL byte (ending a label) and U+FFFD.
 *
 * Caveat: the body is not validated again; pass only what the scanner accepted.
 */
void tg_route_req_read(const char *body, size_t len, const char *hdr_task,
                       const char *hdr_complexity, const char *key_task, tg_route_req_t *out);

/** Fill a decision's input from the facts; sticky is the key id or user to stick to. */
void tg_route_req_input(const tg_route_req_t *q, const char *sticky, tg_route_input_t *in);

#endif
