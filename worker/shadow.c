/*
 * Shadow traffic (see shadow.h). A shadow owns everything it needs (a copy of the body, a
 * reference to its configuration, a detached request record for the access log and the
 * meter), so it outlives the request it mirrors.
 */
#include "worker/shadow.h"
#include "shared/tg_log.h"
#include "worker/access_log.h"
#include "worker/meter.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct tg_shadow_s {
    tg_req_t rec; /* not an HTTP request: only what the access log and the meter read */
    tg_config_t *cf;
    const tg_model_t *model;
    const tg_adapter_t *adapter;
    tg_endpoint_t ep;
    tg_xfer_t *xfer;
    tg_buf_t resp;
    int record_output;
    char route[TG_NAME_MAX * 2 + 8];
    char of[TG_REQUEST_ID_MAX + 1];
    char output[TG_SHADOW_OUTPUT_MAX + 1];
    struct tg_shadow_s *prev, *next;
} tg_shadow_t;

static tg_shadow_t *tg_shadows;
static int tg_nshadows;
static uint64_t tg_shadow_seq;

static void tg_shadow_free(tg_shadow_t *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        tg_shadows = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    tg_nshadows--;
    tg_buf_free(&s->resp);
    tg_buf_free(&s->rec.body);
    tg_config_unref(s->cf);
    free(s);
}

/* The answer's text (choices[0].message.content), first TG_SHADOW_OUTPUT_MAX bytes. */
static void tg_shadow_text(tg_shadow_t *s, const tg_buf_t *answer)
{
    json_t *root = json_loadb(answer->data, answer->len, 0, NULL);
    json_t *c = json_object_get(json_object_get(json_array_get(json_object_get(root, "choices"),
                                                                0),
                                                "message"),
                                "content");

    if (json_is_string(c)) {
        size_t n = json_string_length(c);

        if (n > TG_SHADOW_OUTPUT_MAX)
            n = TG_SHADOW_OUTPUT_MAX;
        memcpy(s->output, json_string_value(c), n);
        s->output[n] = '\0';
        s->rec.output = s->output;
    }
    json_decref(root);
}

/* Record the shadow like a finished request: access log line and request event. */
static void tg_shadow_record(tg_shadow_t *s)
{
    if (s->rec.ttft_ns == 0)
        s->rec.ttft_ns = tg_now_ns() - s->rec.start_ns;
    tg_meter_finish(&s->rec);
    tg_access_log(&s->rec);
}

static int tg_shadow_data(tg_xfer_t *x, const char *data, size_t len)
{
    tg_shadow_t *s = x->arg;

    if (s->rec.ttft_ns == 0)
        s->rec.ttft_ns = tg_now_ns() - s->rec.start_ns;
    return tg_buf_append(&s->resp, data, len) == 0 ? 0 : -1;
}

static void tg_shadow_done(tg_xfer_t *x, tg_xfer_result_t result)
{
    tg_shadow_t *s = x->arg;
    tg_usage_t usage;
    tg_buf_t out = {0};

    s->xfer = NULL;
    if (result != TG_XFER_OK) {
        s->rec.status = 502;
        snprintf(s->rec.error_code, sizeof(s->rec.error_code), "%s", tg_xfer_result_str(result));
    } else if (x->status < 200 || x->status >= 300) {
        s->rec.status = (int)x->status;
        snprintf(s->rec.error_code, sizeof(s->rec.error_code), "upstream_%ld", x->status);
    } else if (s->adapter->response(s->model, s->ep, s->resp.data, s->resp.len, &usage, &out) ==
               -2) {
        s->rec.status = 502;
        snprintf(s->rec.error_code, sizeof(s->rec.error_code), "upstream_error");
    } else {
        s->rec.status = 200;
        if (!usage.reported) { /* estimate as the proxy does */
            memset(&usage, 0, sizeof(usage));
            usage.prompt = (int64_t)(s->rec.body.len + 3) / 4;
        }
        s->rec.usage = usage;
        s->rec.cost_pico = tg_cost_pico(&s->model->price, &usage);
        if (s->record_output && s->ep == TG_EP_CHAT)
            tg_shadow_text(s, out.len > 0 ? &out : &s->resp);
    }
    tg_buf_free(&out);
    tg_shadow_record(s);
    tg_shadow_free(s);
}

/* The canonical request for the shadow target: upstream model, never streamed. */
static int tg_shadow_body(const tg_req_t *r, const tg_model_t *m, tg_buf_t *out)
{
    json_t *req = json_loadb(r->body.data, r->body.len, 0, NULL);
    char *text;
    int rc = -1;

    if (!json_is_object(req))
        goto done;
    json_object_set_new(req, "model", json_string(m->upstream_model));
    json_object_del(req, "stream");
    json_object_del(req, "stream_options");
    if ((text = json_dumps(req, JSON_COMPACT)) != NULL) {
        rc = tg_buf_append(out, text, strlen(text));
        free(text);
    }
done:
    json_decref(req);
    return rc;
}

void tg_shadow_maybe(tg_req_t *r, const tg_route_t *rt, tg_endpoint_t ep)
{
    const tg_model_t *m = rt->shadow;
    const tg_adapter_t *a;
    tg_buf_t url = {0}, body = {0};
    tg_shadow_t *s;

    if (m == NULL || rt->shadow_share <= 0 ||
        (double)(tg_rand64() % 1000000) >= rt->shadow_share * 1000000.0)
        return;
    a = tg_adapter_for(m->provider->kind);
    if (!(a->endpoints & (1u << ep)) || (s = calloc(1, sizeof(*s))) == NULL)
        return;
    s->cf = tg_config_ref(r->cf);
    s->model = m;
    s->adapter = a;
    s->ep = ep;
    s->record_output = rt->shadow_output;
    snprintf(s->route, sizeof(s->route), "%s:shadow", rt->name);
    snprintf(s->of, sizeof(s->of), "%s", r->request_id);
    snprintf(s->rec.request_id, sizeof(s->rec.request_id), "%.40s-shadow%llu", r->request_id,
             (unsigned long long)++tg_shadow_seq);
    snprintf(s->rec.path, sizeof(s->rec.path), "%s", r->path);
    snprintf(s->rec.task, sizeof(s->rec.task), "%s", r->task);
    s->rec.cf = s->cf;
    s->rec.method = r->method;
    s->rec.start_ns = tg_now_ns();
    s->rec.model = m->name;
    s->rec.provider = m->provider->name;
    s->rec.upstream_model = m->upstream_model;
    s->rec.route = s->route;
    s->rec.shadow_of = s->of;
    s->rec.attempts = 1;
    s->rec.metered = 1; /* no key, no reservation: metered apart, never charged to a budget */
    s->prev = NULL;
    s->next = tg_shadows;
    if (tg_shadows != NULL)
        tg_shadows->prev = s;
    tg_shadows = s;
    tg_nshadows++;
    if (tg_buf_append(&s->rec.body, r->body.data, r->body.len) == -1 ||
        (s->xfer = tg_xfer_new()) == NULL || tg_shadow_body(r, m, &body) == -1 ||
        a->prepare(m, ep, 0, s->xfer, &url, &body) != 0) {
        tg_log(TG_LOG_INFO, 0, "%s: shadow to %s not sent: cannot build its request",
               r->request_id, m->name);
        if (s->xfer != NULL)
            tg_xfer_cancel(s->xfer);
        s->xfer = NULL;
        tg_buf_free(&url);
        tg_buf_free(&body);
        s->rec.metered = 0;
        tg_shadow_free(s);
        return;
    }
    s->xfer->arg = s;
    s->xfer->on_data = tg_shadow_data;
    s->xfer->on_done = tg_shadow_done;
    if (tg_xfer_post(s->xfer, url.data, body.data, body.len, r->cf) == -1) {
        s->xfer = NULL;
        s->rec.metered = 0;
        tg_shadow_free(s);
    }
    tg_buf_free(&url);
}

int tg_shadow_running(void)
{
    return tg_nshadows;
}

void tg_shadow_shutdown(void)
{
    while (tg_shadows != NULL) {
        tg_shadow_t *s = tg_shadows;

        if (s->xfer != NULL) {
            tg_xfer_t *x = s->xfer;
            s->xfer = NULL;
            x->on_done = NULL;
            tg_xfer_cancel(x);
        }
        tg_shadow_free(s);
    }
}
