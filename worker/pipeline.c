/*
 * Endpoint dispatch for the public listener: OpenAI's /v1 paths, Anthropic's /v1/messages,
 * /healthz and /readyz. Unknown paths and wrong methods get 404/405 errors shaped as the API
 * they were meant for (OpenAI's, or Anthropic's under /v1/messages) answers them.
 */
#include "worker/pipeline.h"
#include "worker/auth.h"
#include "worker/feedback.h"
#include "worker/errors.h"
#include "worker/messages.h"
#include "worker/proxy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int tg_draining;

/* GET /v1/models is the same for a whole config generation: build it once per generation. */
static struct {
    tg_config_t *cf;
    char *json;
    size_t len;
} tg_models_cache;

void tg_pipeline_set_draining(void)
{
    tg_draining = 1;
}

void tg_pipeline_cleanup(void)
{
    tg_config_unref(tg_models_cache.cf);
    free(tg_models_cache.json);
    memset(&tg_models_cache, 0, sizeof(tg_models_cache));
}

static json_t *tg_model_object(const tg_model_t *m)
{
    return json_pack("{s:s,s:s,s:i,s:s}", "id", m->name, "object", "model", "created", 0,
                     "owned_by", m->provider->name);
}

static void tg_models_list(tg_req_t *r)
{
    if (tg_models_cache.cf != r->cf) {
        json_t *data = json_array(), *root;

        for (size_t i = 0; i < r->cf->nmodels; i++)
            json_array_append_new(data, tg_model_object(&r->cf->models[i]));
        root = json_pack("{s:s,s:o}", "object", "list", "data", data);
        tg_pipeline_cleanup();
        tg_models_cache.json = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (tg_models_cache.json == NULL) {
            tg_resp_error(r, 500, "server_error", NULL, NULL, "Out of memory.");
            return;
        }
        tg_models_cache.len = strlen(tg_models_cache.json);
        tg_models_cache.cf = tg_config_ref(r->cf);
    }
    tg_resp_send(r, 200, "application/json", tg_models_cache.json, tg_models_cache.len);
}

static void tg_model_get(tg_req_t *r, const char *name, size_t len)
{
    const tg_model_t *m = tg_config_model(r->cf, name, len);
    json_t *o;
    char *s;

    if (m == NULL) {
        tg_resp_error(r, 404, "invalid_request_error", "model_not_found", "model",
                      "The model `%.*s` does not exist or you do not have access to it.",
                      (int)(len > 200 ? 200 : len), name);
        return;
    }
    o = tg_model_object(m);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL) {
        tg_resp_error(r, 500, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    tg_resp_send(r, 200, "application/json", s, strlen(s));
    free(s);
}

static void tg_method_not_allowed(tg_req_t *r, const char *allow)
{
    tg_resp_header(r, "Allow", allow);
    tg_resp_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                  "Method not allowed: %s only.", allow);
}

/* Anthropic's Messages API: /v1/messages and /v1/messages/count_tokens (POST only). */
static void tg_messages_route(tg_req_t *r, int post)
{
    int create = strcmp(r->path, "/v1/messages") == 0;

    if (!create && strcmp(r->path, "/v1/messages/count_tokens") != 0) {
        tg_resp_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                      "Unknown request URL: %.200s.", r->path);
        return;
    }
    if (!post)
        tg_method_not_allowed(r, "POST");
    else if (create)
        tg_messages_handle(r);
    else
        tg_messages_count_tokens(r);
}

void tg_pipeline_handle(tg_req_t *r)
{
    char *q = strchr(r->path, '?');
    size_t len;
    int get = r->method == TG_HTTP_GET || r->method == TG_HTTP_HEAD;
    int post = r->method == TG_HTTP_POST;

    if (q != NULL)
        *q = '\0';
    len = strlen(r->path);
    while (len > 1 && r->path[len - 1] == '/')
        r->path[--len] = '\0';
    r->path_len = len;

    /* Anthropic's SDKs get Anthropic's error shape from the first error on */
    r->dialect = tg_dialect_of_path(r->path);
    /* everything under /v1 needs a key when the configuration says so */
    if (strncmp(r->path, "/v1/", 4) == 0 && tg_auth_request(r) == -1)
        return;
    if (r->dialect == TG_DIALECT_ANTHROPIC) {
        tg_messages_route(r, post);
        return;
    }
    if (strcmp(r->path, "/v1/chat/completions") == 0) {
        if (!post)
            {
                tg_method_not_allowed(r, "POST");
                return;
            }
        {
            tg_proxy_handle(r, TG_EP_CHAT);
            return;
        }
    }
    if (strcmp(r->path, "/v1/completions") == 0) {
        if (!post)
            {
                tg_method_not_allowed(r, "POST");
                return;
            }
        {
            tg_proxy_handle(r, TG_EP_COMPLETIONS);
            return;
        }
    }
    if (strcmp(r->path, "/v1/embeddings") == 0) {
        if (!post)
            {
                tg_method_not_allowed(r, "POST");
                return;
            }
        {
            tg_proxy_handle(r, TG_EP_EMBEDDINGS);
            return;
        }
    }
    if (strcmp(r->path, "/v1/feedback") == 0) {
        if (!post)
            tg_method_not_allowed(r, "POST");
        else
            tg_feedback_handle(r);
        return;
    }
    if (strcmp(r->path, "/v1/models") == 0) {
        if (!get)
            {
                tg_method_not_allowed(r, "GET");
                return;
            }
        {
            tg_models_list(r);
            return;
        }
    }
    if (strncmp(r->path, "/v1/models/", 11) == 0 && len > 11) {
        if (!get)
            {
                tg_method_not_allowed(r, "GET");
                return;
            }
        {
            tg_model_get(r, r->path + 11, len - 11);
            return;
        }
    }
    if (strcmp(r->path, "/healthz") == 0) {
        if (!get)
            {
                tg_method_not_allowed(r, "GET");
                return;
            }
        {
            tg_resp_send(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
            return;
        }
    }
    if (strcmp(r->path, "/readyz") == 0) {
        if (!get)
            {
                tg_method_not_allowed(r, "GET");
                return;
            }
        if (tg_draining)
            {
                tg_resp_send(r, 503, "application/json", "{\"status\":\"draining\"}", 21);
                return;
            }
        {
            tg_resp_send(r, 200, "application/json", "{\"status\":\"ready\"}", 18);
            return;
        }
    }
    tg_resp_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                  "Unknown request URL: %s %.200s. Please check the URL for typos.",
                  post ? "POST" : (get ? "GET" : "request"), r->path);
}
