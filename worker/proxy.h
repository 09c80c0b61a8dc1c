/*
 * The proxy stage for OpenAI-compatible endpoints (chat completions, completions, embeddings).
 */
#ifndef TG_WORKER_PROXY_H
#define TG_WORKER_PROXY_H

#include "worker/http.h"
#include "worker/provider.h"

/** Handle a complete POST request for endpoint ep; answers r eventually. */
void tg_proxy_handle(tg_req_t *r, tg_endpoint_t ep);

#endif
