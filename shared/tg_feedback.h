/*
 * Feedback on answers: a client rates a request it made (thumbs up or down, a score from 0 to
 * 1, whether it had to escalate to a human, a comment), by the id from x-request-id. Stored in
 * the meter environment keyed by request id, so a later rating replaces the earlier one; each
 * record carries the request's dimensions (route, task, model, variant, key, tenant) and time,
 * copied from its request event, so quality reports need no join.
 */
#ifndef TG_FEEDBACK_H
#define TG_FEEDBACK_H

#include <stdint.h>

#include "shared/tg_store.h"

#define TG_FB_DIM_MAX 160
#define TG_FB_COMMENT_MAX 2000

enum { TG_FB_DIM_TENANT = 0, TG_FB_DIM_KEY, TG_FB_DIM_MODEL, TG_FB_DIM_PROVIDER, TG_FB_DIM_ROUTE,
       TG_FB_DIM_TASK, TG_FB_DIM_VARIANT, TG_FB_NDIMS };

/** A request as its event recorded it: the dimensions feedback and reports group by. */
typedef struct {
    int64_t ts_ms;
    char dim[TG_FB_NDIMS][TG_FB_DIM_MAX]; /* variant as "experiment/variant", "" outside one */
    int status;
} tg_request_info_t;

typedef struct {
    int rating;     /* 1 up, -1 down, 0 none */
    double score;   /* 0..1, or < 0 when none */
    int escalated;  /* 1 yes, 0 no, -1 not said */
    const char *comment; /* NULL: none */
} tg_feedback_t;

/** Look up a request by id. Returns 0, MDB_NOTFOUND (unknown or expired), or an LMDB error. */
int tg_request_info(tg_store_t *s, MDB_txn *txn, const char *request_id, tg_request_info_t *out);

/** Store feedback on a request (replacing any earlier). 0 or an LMDB error. */
int tg_feedback_put(tg_store_t *s, MDB_txn *txn, const char *request_id,
                    const tg_request_info_t *req, const tg_feedback_t *fb, int64_t now_ms);

/** Feedback aggregated for one group. */
typedef struct {
    char group[TG_FB_DIM_MAX];
    int64_t feedback;   /* requests with feedback */
    int64_t rated, up;  /* with a thumbs rating, and of those up */
    int64_t scored;     /* with a score */
    double score_sum;
    int64_t escalation_answers, escalated; /* said whether they escalated, and did */
} tg_feedback_row_t;

/**
 * Aggregate feedback on requests made in [since_ms, until_ms), grouped by "tenant", "key",
 * "model", "provider", "route", "task" or "variant". Calls fn per group. Returns 0 or -1.
 */
int tg_feedback_report(tg_store_t *s, const char *by, int64_t since_ms, int64_t until_ms,
                       void (*fn)(void *arg, const tg_feedback_row_t *row), void *arg);

/** The index of a grouping name in TG_FB_DIM_*, or -1. */
int tg_feedback_dim(const char *by);

#endif
