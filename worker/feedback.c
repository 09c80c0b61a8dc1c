/*
 * POST /v1/feedback (see feedback.h). Feedback is rare next to requests, so it is written at
 * once in its own short write transaction, and answered after the commit.
 */
#include "worker/feedback.h"
#include "shared/tg_feedback.h"
#include "shared/tg_log.h"
#include "worker/auth.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* Read and check the body into fb; answers 400 and returns -1 on a mistake. */
static int tg_feedback_parse(tg_req_t *r, json_t *body, const char **id, tg_feedback_t *fb)
{
    json_t *v;

    fb->rating = 0;
    fb->score = -1;
    fb->escalated = -1;
    fb->comment = NULL;
    if (!json_is_object(body)) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                      "The request body must be a JSON object.");
        return -1;
    }
    *id = json_string_value(json_object_get(body, "request_id"));
    if (*id == NULL || **id == '\0' || strlen(*id) > 80) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, "request_id",
                      "'request_id' is required: the x-request-id of the answer you rate.");
        return -1;
    }
    if ((v = json_object_get(body, "rating")) != NULL && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (s == NULL || (strcmp(s, "up") != 0 && strcmp(s, "down") != 0)) {
            tg_resp_error(r, 400, "invalid_request_error", "invalid_value", "rating",
                          "'rating' must be \"up\" or \"down\".");
            return -1;
        }
        fb->rating = s[0] == 'u' ? 1 : -1;
    }
    if ((v = json_object_get(body, "score")) != NULL && !json_is_null(v)) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 1)) {
            tg_resp_error(r, 400, "invalid_request_error", "invalid_value", "score",
                          "'score' must be a number from 0 to 1.");
            return -1;
        }
        fb->score = json_number_value(v);
    }
    if ((v = json_object_get(body, "escalated")) != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            tg_resp_error(r, 400, "invalid_request_error", "invalid_value", "escalated",
                          "'escalated' must be true or false.");
            return -1;
        }
        fb->escalated = json_is_true(v);
    }
    if ((v = json_object_get(body, "comment")) != NULL && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) > TG_FB_COMMENT_MAX) {
            tg_resp_error(r, 400, "invalid_request_error", "invalid_value", "comment",
                          "'comment' must be a string of at most %d bytes.", TG_FB_COMMENT_MAX);
            return -1;
        }
        fb->comment = json_string_value(v);
    }
    if (fb->rating == 0 && fb->score < 0 && fb->escalated < 0) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                      "Give at least one of 'rating', 'score' or 'escalated'.");
        return -1;
    }
    return 0;
}

/* Only the key that made the request, or a key of the same tenant, may rate it. */
static int tg_feedback_owner(const tg_req_t *r, const tg_request_info_t *req)
{
    if (!r->authed)
        return req->dim[TG_FB_DIM_KEY][0] == '\0'; /* no keys: requests made without one */
    if (req->dim[TG_FB_DIM_TENANT][0] != '\0')
        return strcmp(req->dim[TG_FB_DIM_TENANT], r->key.tenant) == 0;
    return strcmp(req->dim[TG_FB_DIM_KEY], r->key.id) == 0;
}

void tg_feedback_handle(tg_req_t *r)
{
    tg_store_t *s = tg_worker_store();
    json_t *body, *reply;
    tg_request_info_t req;
    tg_feedback_t fb;
    const char *id;
    struct timespec ts;
    MDB_txn *txn;
    char *text;
    int rc;

    if (s == NULL) {
        tg_resp_error(r, 501, "invalid_request_error", "feedback_unavailable", NULL,
                      "This gateway keeps no store, so it cannot record feedback.");
        return;
    }
    body = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (tg_feedback_parse(r, body, &id, &fb) == -1) {
        json_decref(body);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((rc = mdb_txn_begin(s->meter, NULL, 0, &txn)) == 0) {
        rc = tg_request_info(s, txn, id, &req);
        if (rc == 0 && !tg_feedback_owner(r, &req))
            rc = MDB_NOTFOUND; /* another tenant's request: as if it did not exist */
        if (rc == 0)
            rc = tg_feedback_put(s, txn, id, &req, &fb,
                                 (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc == MDB_NOTFOUND) {
        tg_resp_error(r, 404, "invalid_request_error", "request_not_found", "request_id",
                      "No request '%.80s' of yours is on record (unknown, another tenant's, or "
                      "past the retention).",
                      id);
    } else if (rc != 0) {
        tg_log(TG_LOG_ERROR, 0, "%s: storing feedback failed: %s", r->request_id,
               mdb_strerror(rc));
        tg_resp_error(r, 503, "server_error", NULL, NULL, "The feedback could not be stored.");
    } else {
        reply = json_pack("{s:s,s:s,s:o,s:o,s:o}", "object", "feedback", "request_id", id,
                          "rating",
                          fb.rating ? json_string(fb.rating > 0 ? "up" : "down") : json_null(),
                          "score", fb.score >= 0 ? json_real(fb.score) : json_null(),
                          "escalated", fb.escalated >= 0 ? json_boolean(fb.escalated) : json_null());
        text = json_dumps(reply, JSON_COMPACT);
        tg_resp_send(r, 200, "application/json", text, text != NULL ? strlen(text) : 0);
        free(text);
        json_decref(reply);
    }
    json_decref(body);
}
