/*
 * Request dispatch: the endpoint table of the OpenAI-compatible API plus health checks.
 */
#ifndef TG_WORKER_PIPELINE_H
#define TG_WORKER_PIPELINE_H

#include "worker/http.h"

/** tg_http_handler_t for the public listener. */
void tg_pipeline_handle(tg_req_t *req);

/** Mark the worker as draining (readyz answers 503). */
void tg_pipeline_set_draining(void);

/** Free cached per-config data (at worker exit). */
void tg_pipeline_cleanup(void);

#endif
