/*
 * POST /v1/feedback: a client rates an answer it got, by the id from its x-request-id header.
 * Authenticated like every /v1 call; only the key that made the request, or another key of its
 * tenant, may rate it. See shared/tg_feedback.h for storage and docs/analytics.md for the API.
 */
#ifndef TG_WORKER_FEEDBACK_H
#define TG_WORKER_FEEDBACK_H

#include "worker/http.h"

void tg_feedback_handle(tg_req_t *r);

#endif
