/*
 * The /v1/messages handlers (see messages.h): parse the Anthropic request, translate it with
 * messages_in.c, and hand the canonical request to the proxy, which answers on the request's
 * Anthropic dialect; count_tokens answers the estimate admission would reserve.
 */
#include "worker/messages.h"
#include "worker/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Parse and translate r's body into canonical; the model name it asks for goes to model.
 * Returns 0, or -1 after answering the error.
 */
static int tg_messages_translate(tg_req_t *r, int count, tg_buf_t *canonical, char *model,
                                 size_t msize)
{
    const tg_model_t *m = NULL;
    json_error_t err;
    json_t *in, *name;
    char why[512];
    int rc;

    if (r->body.len == 0) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                      "The request body is empty; expected a JSON object.");
        return -1;
    }
    in = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!json_is_object(in)) {
        if (in == NULL)
            tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                          "The request body is not valid JSON: %s at line %d, column %d.", err.text,
                          err.line, err.column);
        else
            tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                          "The request body must be a JSON object.");
        json_decref(in);
        return -1;
    }
    /* the target's kind decides what provider-specific fields may go on (top_k) */
    name = json_object_get(in, "model");
    snprintf(model, msize, "%s", json_is_string(name) ? json_string_value(name) : "");
    if (json_is_string(name))
        m = tg_config_model(r->cf, json_string_value(name), json_string_length(name));
    rc = tg_messages_request(in, m != NULL ? m->provider->kind : 0, count, canonical, why,
                             sizeof(why));
    json_decref(in);
    if (rc == -1 && why[0] != '\0')
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL, "%s", why);
    else if (rc == -1)
        tg_resp_error(r, 500, "server_error", NULL, NULL, "Out of memory.");
    return rc;
}

void tg_messages_handle(tg_req_t *r)
{
    tg_buf_t canonical = {0};
    char model[256];

    if (tg_messages_translate(r, 0, &canonical, model, sizeof(model)) == -1) {
        tg_buf_free(&canonical);
        return;
    }
    /* from here on the request is the canonical one: the proxy cannot tell the difference */
    tg_buf_free(&r->body);
    r->body = canonical;
    tg_proxy_handle(r, TG_EP_CHAT);
}

void tg_messages_count_tokens(tg_req_t *r)
{
    tg_buf_t canonical = {0};
    char model[256], body[64];
    int n;

    if (tg_messages_translate(r, 1, &canonical, model, sizeof(model)) == -1 ||
        tg_proxy_model(r, model, strlen(model)) == NULL)
        goto done;
    n = snprintf(body, sizeof(body), "{\"input_tokens\":%lld}",
                 (long long)tg_proxy_prompt_estimate(canonical.len));
    tg_resp_send(r, 200, "application/json", body, (size_t)n);
done:
    tg_buf_free(&canonical);
}
