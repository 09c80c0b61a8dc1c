/*
 * The proxy stage for OpenAI-compatible endpoints (chat completions, completions, embeddings),
 * and for /v1/messages once it is translated into a chat completion.
 */
#ifndef TG_WORKER_PROXY_H
#define TG_WORKER_PROXY_H

#include "worker/http.h"
#include "worker/provider.h"

/** Handle a complete POST request for endpoint ep; answers r eventually. */
void tg_proxy_handle(tg_req_t *r, tg_endpoint_t ep);

/**
 * The configured model called name (len bytes) if r's key may use it; otherwise NULL after
 * answering 404 model_not_found or 403 model_not_allowed.
 */
const tg_model_t *tg_proxy_model(tg_req_t *r, const char *name, size_t len);

/** The prompt tokens admission reserves for a canonical request body of body_len bytes. */
int64_t tg_proxy_prompt_estimate(size_t body_len);

#endif
