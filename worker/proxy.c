/*
 * The proxy stage: validate an OpenAI request, pick the configured model's provider, call it
 * through the provider's adapter, and relay the answer — whole, or event by event for streams
 * with backpressure — while metering tokens and cost exactly once per request, whether it
 * succeeds, fails upstream or is abandoned by the client.
 */
#include "worker/proxy.h"
#include "shared/tg_buf.h"
#include "shared/tg_evstream.h"
#include "shared/tg_json_scan.h"
#include "shared/tg_log.h"
#include "shared/tg_sse.h"
#include "worker/errors.h"
#include "worker/health.h"
#include "worker/messages.h"
#include "worker/meter.h"
#include "worker/provider.h"
#include "worker/provider_common.h"
#include "worker/route.h"
#include "worker/access_log.h"
#include "worker/shadow.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TG_F_MODEL, TG_F_STREAM, TG_F_STREAM_OPTIONS, TG_F_MESSAGES, TG_F_PROMPT, TG_F_INPUT,
       TG_F_MAX_TOKENS, TG_F_MAX_COMPLETION_TOKENS, TG_F_N, TG_F_BEST_OF, TG_F_COUNT };

typedef struct tg_proxy_s tg_proxy_t;

/* A hedged attempt racing the current one until either sends its first byte. */
typedef struct {
    tg_proxy_t *p;
    const tg_model_t *model;
    tg_xfer_t *xfer;
    int64_t attempt_ns;
} tg_hedge_t;

struct tg_proxy_s {
    tg_req_t *req;
    const tg_model_t *model;
    const tg_adapter_t *adapter;
    tg_xfer_t *xfer;
    tg_endpoint_t ep;
    int stream;
    int started;       /* the client's stream response has begun */
    int done_seen;     /* the upstream sent its terminator */
    int64_t max_tokens;
    int64_t prompt_estimate;
    tg_stream_state_t st;
    tg_sse_t sse;
    tg_evstream_t evs; /* for adapters whose streams are AWS event-streams (Bedrock) */
    tg_buf_t resp;     /* whole answer (non-stream, or an error body) */
    tg_buf_t out;      /* scratch for one client event */
    int upstream_started; /* admitted and sent: usage may have been produced */
    tg_jspan_t f[TG_F_COUNT]; /* where the fields of interest lie in the request body */
    tg_jscan_t scan;
    tg_messages_stream_t *egress; /* /v1/messages streams: chunks become Anthropic events */
    tg_buf_t eout;                /* scratch for the translated events */
    tg_routing_t *routing;        /* the request named a route: its plan; else NULL */
    struct event *retry;          /* the next attempt, after a back-off */
    int64_t attempt_ns;           /* when the current attempt was sent */
    int64_t first_byte_ns;        /* when its first answer bytes came (0: not yet) */
    int64_t deadline_ns;          /* the route's deadline for all attempts (0: none) */
    const tg_validators_t *validate; /* the route's answer checks (quality cascade), or NULL */
    int holding;                  /* a stream held back until its answer is validated */
    tg_buf_t held;                /* ... its client events so far */
    tg_buf_t held_text;           /* ... and its text, for the validators */
    int held_tools;               /* ... which called tools */
    tg_hedge_t *hedge;            /* a hedged attempt in flight, or NULL */
    struct event *hedge_timer;    /* when to send it */
    int hedges;                   /* hedged attempts sent so far */
};

static void tg_hedge_cancel(tg_proxy_t *p, const char *why);
static int tg_hedge_promote(tg_proxy_t *p);
static void tg_hedge_arm(tg_proxy_t *p);
static int tg_proxy_rewrite(const char *doc, size_t len, const tg_jspan_t *f,
                            const tg_jscan_t *scan, const tg_model_t *m, int stream,
                            int *client_usage, tg_buf_t *out);

static const char *const tg_ep_names[] = {"chat.completions", "completions", "embeddings"};

static void tg_proxy_free(tg_proxy_t *p)
{
    if (p->adapter != NULL && p->adapter->stream_free != NULL)
        p->adapter->stream_free(&p->st);
    tg_sse_free(&p->sse);
    tg_evstream_free(&p->evs);
    tg_buf_free(&p->resp);
    tg_buf_free(&p->out);
    tg_messages_stream_free(p->egress);
    tg_buf_free(&p->eout);
    tg_buf_free(&p->held);
    tg_buf_free(&p->held_text);
    if (p->hedge != NULL)
        tg_hedge_cancel(p, "client_gone");
    if (p->hedge_timer != NULL)
        event_free(p->hedge_timer);
    free(p->routing);
    if (p->retry != NULL)
        event_free(p->retry);
    p->req->handler = NULL;
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    free(p);
}

/* Settle: usage (reported, or estimated and capped at max_tokens) and its exact cost. */
static void tg_proxy_meter(tg_proxy_t *p, const tg_usage_t *reported)
{
    tg_req_t *r = p->req;

    if (reported != NULL && reported->reported) {
        r->usage = *reported;
    } else {
        memset(&r->usage, 0, sizeof(r->usage));
        r->usage.prompt = p->prompt_estimate;
        r->usage.completion = (p->st.content_bytes + 3) / 4;
        if (p->max_tokens > 0 && r->usage.completion > p->max_tokens)
            r->usage.completion = p->max_tokens;
    }
    r->cost_pico = tg_cost_pico(&p->model->price, &r->usage);
}

static void tg_proxy_headers(tg_proxy_t *p)
{
    tg_req_t *r = p->req;
    char n[24];

    tg_resp_header(r, "x-tollgate-provider", p->model->provider->name);
    tg_resp_header(r, "x-tollgate-model", p->model->name);
    if (r->route != NULL) {
        tg_resp_header(r, "x-tollgate-route", r->route);
        tg_fmt_int(n, r->attempts);
        tg_resp_header(r, "x-tollgate-attempts", n);
        if (r->fallback_reason[0] != '\0')
            tg_resp_header(r, "x-tollgate-fallback-reason", r->fallback_reason);
        if (r->experiment != NULL) {
            tg_resp_header(r, "x-tollgate-experiment", r->experiment);
            tg_resp_header(r, "x-tollgate-variant", r->variant);
        }
    }
}

/* An error answer for a failed upstream call, when nothing has been sent yet. */
static void tg_proxy_fail(tg_proxy_t *p, const tg_errmap_t *m, const char *detail)
{
    tg_req_t *r = p->req;
    const char *prov = p->model->provider->name;

    tg_proxy_headers(p);
    if (m->pass_body && p->resp.len > 0 && p->adapter->error != NULL) {
        /* the provider's explanation, in OpenAI's shape */
        tg_buf_t out = {0};
        if (p->adapter->error(p->xfer, p->resp.data, p->resp.len, &out) == 0) {
            tg_buf_free(&p->resp);
            p->resp = out;
        } else {
            tg_buf_free(&out);
        }
    }
    if (m->pass_body && p->resp.len > 0) {
        json_t *root = json_loadb(p->resp.data, p->resp.len, 0, NULL);
        json_t *err = json_object_get(root, "error");
        if (json_is_object(err)) {
            /* the provider's own explanation of a client mistake, in OpenAI's shape */
            tg_buf_t body = p->resp;

            if (m->code != NULL)
                snprintf(r->error_code, sizeof(r->error_code), "%s", m->code);
            else
                snprintf(r->error_code, sizeof(r->error_code), "upstream_%d", m->status);
            if (p->xfer != NULL && p->xfer->retry_after[0] != '\0')
                tg_resp_header(r, "retry-after", p->xfer->retry_after);
            memset(&p->resp, 0, sizeof(p->resp));
            tg_proxy_free(p);
            if (r->dialect == TG_DIALECT_ANTHROPIC) /* the same explanation, in its shape */
                tg_resp_error(r, m->status, json_string_value(json_object_get(err, "type")),
                              m->code, NULL, "%s",
                              json_is_string(json_object_get(err, "message"))
                                  ? json_string_value(json_object_get(err, "message"))
                                  : "The provider refused the request.");
            else
                tg_resp_send(r, m->status, "application/json", body.data, body.len);
            json_decref(root);
            tg_buf_free(&body);
            return;
        }
        json_decref(root);
    }
    if (p->xfer != NULL && p->xfer->retry_after[0] != '\0')
        tg_resp_header(r, "retry-after", p->xfer->retry_after);
    tg_proxy_free(p);
    tg_resp_error(r, m->status, m->type, m->code, NULL, "Provider '%s' %s", prov, detail);
}

/*
 * Stream bytes for the client: as they are, or on /v1/messages as Anthropic's events. usage is
 * what is known of the exchange's usage (the billed usage once the terminator is in data).
 */
/* A held stream's client events: kept, and their text gathered for the validators. */
static void tg_proxy_hold(tg_proxy_t *p, const char *data, size_t len)
{
    const char *s = data, *end = data + len;

    if (tg_buf_append(&p->held, data, len) == -1)
        return;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((nl != NULL ? nl : end) - s);

        if (n > 6 && memcmp(s, "data: {", 7) == 0) {
            json_t *c = json_loadb(s + 6, n - 6, 0, NULL);
            json_t *d = json_object_get(json_array_get(json_object_get(c, "choices"), 0), "delta");
            json_t *t = json_object_get(d, "content");

            if (json_is_string(t))
                tg_buf_append(&p->held_text, json_string_value(t), json_string_length(t));
            if (json_array_size(json_object_get(d, "tool_calls")) > 0)
                p->held_tools = 1;
            json_decref(c);
        }
        s += n + 1;
    }
}

static void tg_proxy_send(tg_proxy_t *p, const char *data, size_t len, const tg_usage_t *usage)
{
    if (p->holding) {
        tg_proxy_hold(p, data, len);
        return;
    }
    if (p->egress != NULL) {
        tg_buf_reset(&p->eout);
        if (tg_messages_stream_feed(p->egress, data, len, usage, &p->eout) == -1)
            tg_log(TG_LOG_ERROR, 0, "%s: out of memory translating a stream event",
                   p->req->request_id);
        data = p->eout.data;
        len = p->eout.len;
    }
    if (len > 0)
        tg_resp_chunk(p->req, data, len);
}

static void tg_proxy_stream_error(tg_proxy_t *p, const tg_errmap_t *m, const char *detail)
{
    char buf[512];
    int n;

    n = snprintf(buf, sizeof(buf),
                 "data: {\"error\":{\"message\":\"Provider '%s' %s\",\"type\":\"%s\","
                 "\"param\":null,\"code\":\"%s\"}}\n\n",
                 p->model->provider->name, detail, m->type, m->code ? m->code : "upstream_error");
    if (n > 0 && (size_t)n < sizeof(buf))
        tg_proxy_send(p, buf, (size_t)n, NULL);
    snprintf(p->req->error_code, sizeof(p->req->error_code), "%s",
             m->code ? m->code : "upstream_error");
}

/* tg_sse_cb: one upstream event of a stream. */
static int tg_proxy_event(void *arg, const char *event, const char *data, size_t datalen,
                          const char *raw, size_t rawlen)
{
    tg_proxy_t *p = arg;
    tg_event_action_t a;

    tg_buf_reset(&p->out);
    a = p->adapter->event(&p->st, event, data, datalen, raw, rawlen, &p->out);
    if (a == TG_EVENT_DONE) {
        p->done_seen = 1;
        if (p->egress != NULL)
            tg_proxy_meter(p, &p->st.usage); /* message_delta reports what is billed */
    }
    if (a != TG_EVENT_DROP && p->out.len > 0)
        tg_proxy_send(p, p->out.data, p->out.len,
                      a == TG_EVENT_DONE ? &p->req->usage : &p->st.usage);
    return 0;
}

/* tg_evstream_cb: one AWS event-stream message, handed on as an event named by its type. */
static int tg_proxy_message(void *arg, const tg_evmsg_t *m)
{
    const char *event = strcmp(m->message_type, "exception") == 0 ? m->exception_type
                                                                   : m->event_type;

    return tg_proxy_event(arg, event, m->payload, m->payload_len, m->payload, m->payload_len);
}

/* Is this answer the stream the adapter expects (SSE, or an AWS event-stream)? */
static int tg_proxy_is_stream(const tg_proxy_t *p, const tg_xfer_t *x)
{
    const char *ct = p->adapter->framing == TG_FRAMING_EVSTREAM
                         ? "application/vnd.amazon.eventstream"
                         : "text/event-stream";

    return p->stream && x->status >= 200 && x->status < 300 &&
           strncmp(x->content_type, ct, strlen(ct)) == 0;
}

static void tg_proxy_start_stream(tg_proxy_t *p)
{
    tg_proxy_headers(p);
    tg_resp_header(p->req, "Cache-Control", "no-cache");
    tg_resp_header(p->req, "X-Accel-Buffering", "no");
    tg_resp_start(p->req, 200, "text/event-stream; charset=utf-8");
    p->started = 1;
}

/* tg_xfer_data_cb */
static int tg_proxy_data(tg_xfer_t *x, const char *data, size_t len)
{
    tg_proxy_t *p = x->arg;

    if (p->first_byte_ns == 0) {
        p->first_byte_ns = tg_now_ns();
        if (p->hedge_timer != NULL)
            evtimer_del(p->hedge_timer);
        if (p->hedge != NULL && x->status >= 200 && x->status < 300)
            tg_hedge_cancel(p, "hedge_lost"); /* the current attempt answered first */
    }
    if (tg_proxy_is_stream(p, x)) {
        if (!p->started && !p->holding)
            tg_proxy_start_stream(p);
        else if (p->started && tg_resp_busy(p->req))
            return 1; /* the client reads slower than the model writes: pause upstream */
        if (p->adapter->framing == TG_FRAMING_EVSTREAM) {
            if (tg_evstream_feed(&p->evs, data, len, tg_proxy_message, p) == 0)
                return 0;
            tg_log(TG_LOG_WARN, 0, "%s: provider \"%s\" sent an event-stream frame that "
                   "cannot be decoded (bad CRC or length, or too large)", p->req->request_id,
                   p->model->provider->name);
            return -1;
        }
        if (tg_sse_feed(&p->sse, data, len, tg_proxy_event, p) == -1)
            return -1;
        return 0;
    }
    return tg_buf_append(&p->resp, data, len) == 0 ? 0 : -1;
}

/* tg_req_t.on_drain: the client caught up; let the upstream go on. */
static void tg_proxy_drain(tg_req_t *req)
{
    tg_proxy_t *p = req->handler;

    if (p != NULL && p->xfer != NULL && p->xfer->paused)
        tg_xfer_resume(p->xfer);
}

/* A whole canonical answer in out becomes an Anthropic message with the billed usage. */
static int tg_proxy_messages_answer(tg_proxy_t *p, tg_buf_t *out)
{
    char id[TG_MESSAGES_ID_MAX];
    tg_buf_t msg = {0};

    tg_messages_id(p->req->request_id, id, sizeof(id));
    if (tg_messages_answer(out->data, out->len, id, p->model->name, &p->req->usage, &msg) == -1) {
        tg_buf_free(&msg);
        return -1;
    }
    tg_buf_free(out);
    *out = msg;
    return 0;
}

static void tg_proxy_start(tg_proxy_t *p);

/* Passive health: how the attempt on p->model went, with its time to first byte. */
static void tg_proxy_health(tg_proxy_t *p, int ok)
{
    double ms = -1;

    if (ok && p->first_byte_ns > 0)
        ms = (double)(p->first_byte_ns - p->attempt_ns) / 1e6;
    tg_health_report(p->req->cf, p->model, ok, ms);
}

static void tg_proxy_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tg_proxy_start(arg);
}

/*
 * Did the upstream refuse the prompt as too long for the model? Providers say so in their own
 * words: OpenAI's code, Anthropic's and Google's messages.
 */
static int tg_proxy_context_error(const tg_buf_t *b)
{
    static const char *const marks[] = {"context_length_exceeded", "maximum context length",
                                        "prompt is too long",
                                        "exceeds the maximum number of tokens"};

    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (b->len > 0 && memmem(b->data, b->len, marks[i], strlen(marks[i])) != NULL)
            return 1;
    return 0;
}

/* Forget the current attempt's answer and stream state (it failed, or another one won). */
static void tg_proxy_reset_attempt(tg_proxy_t *p)
{
    tg_buf_reset(&p->resp);
    if (p->adapter->stream_free != NULL)
        p->adapter->stream_free(&p->st);
    memset(&p->st, 0, sizeof(p->st));
    tg_sse_free(&p->sse);
    tg_sse_init(&p->sse);
    tg_evstream_free(&p->evs);
    tg_evstream_init(&p->evs, TG_SSE_MAX_EVENT);
    p->done_seen = 0;
    p->first_byte_ns = 0;
    p->upstream_started = 0; /* a failed attempt produced nothing to bill */
    tg_buf_reset(&p->held);
    tg_buf_reset(&p->held_text);
    p->held_tools = 0;
    if (p->hedge_timer != NULL)
        evtimer_del(p->hedge_timer);
}

/*
 * Meter an attempt that did not give the client's answer but may cost money (a hedge that lost,
 * an answer the cascade rejected): its own access log line and request event, under the
 * request's key, route and task, with id <request id>-<n>. usage NULL: it was cut off before
 * answering, so its prompt (estimated) is what it consumed.
 */
static void tg_proxy_meter_extra(tg_proxy_t *p, const tg_model_t *m, int status,
                                 const tg_usage_t *usage, const char *why)
{
    tg_req_t *r = p->req, *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return;
    snprintf(e->request_id, sizeof(e->request_id), "%.48s-%d", r->request_id, r->attempts);
    snprintf(e->path, sizeof(e->path), "%s", r->path);
    snprintf(e->task, sizeof(e->task), "%s", r->task);
    snprintf(e->error_code, sizeof(e->error_code), "%s", why);
    memcpy(e->client_addr, r->client_addr, sizeof(e->client_addr));
    e->cf = r->cf;
    e->method = r->method;
    e->start_ns = r->start_ns;
    e->authed = r->authed;
    if (r->authed)
        e->key = r->key;
    e->model = m->name;
    e->provider = m->provider->name;
    e->upstream_model = m->upstream_model;
    e->route = r->route;
    e->experiment = r->experiment;
    e->variant = r->variant;
    e->stream = r->stream;
    e->attempts = 1;
    e->status = status;
    if (usage != NULL && usage->reported) {
        e->usage = *usage;
    } else {
        e->usage.prompt = p->prompt_estimate;
    }
    e->cost_pico = tg_cost_pico(&m->price, &e->usage);
    e->metered = 1;
    e->extra_attempt = 1;
    tg_meter_finish(e);
    tg_access_log(e);
    explicit_bzero(&e->key, sizeof(e->key));
    free(e);
}

/* Make next the target of the coming attempt. */
static void tg_proxy_target(tg_proxy_t *p, const tg_model_t *next)
{
    tg_req_t *r = p->req;

    p->model = next;
    p->adapter = tg_adapter_for(next->provider->kind);
    r->model = next->name;
    r->provider = next->provider->name;
    r->upstream_model = next->upstream_model;
}

/*
 * The attempt on p->model failed before anything reached the client: on a route, try its next
 * target (only a larger-context one after a context-length refusal), at once, or after a
 * jittered, doubling back-off when it is the same target again. The route's attempts and
 * deadline bound it. Returns 1 when another attempt is scheduled (the failure is not
 * answered), 0 when the failure must be answered.
 */
static int tg_proxy_fallback(tg_proxy_t *p, const char *reason, int bigger_context)
{
    tg_req_t *r = p->req;
    tg_routing_t *rs = p->routing;
    const tg_model_t *next = NULL;
    int64_t delay_ms = 0;
    struct timeval tv;

    if (rs == NULL || r->attempts >= rs->route->max_attempts)
        return 0;
    for (size_t i = 0; i < rs->plan.n && next == NULL; i++) {
        const tg_model_t *m = tg_routing_next(r, rs);
        if (m == NULL)
            break;
        if (!bigger_context || m->context_window > p->model->context_window)
            next = m;
    }
    if (next == NULL)
        return 0;
    if (next == p->model) {
        int shift = r->attempts - 1 < 10 ? r->attempts - 1 : 10;
        delay_ms = rs->route->retry_backoff_ms << shift;
        delay_ms = delay_ms / 2 + (int64_t)(tg_rand64() % (uint64_t)(delay_ms + 1));
    }
    if (p->deadline_ns > 0 && tg_now_ns() + delay_ms * 1000000 >= p->deadline_ns)
        return 0;
    if (p->retry == NULL &&
        (p->retry = evtimer_new(tg_upstream_base(), tg_proxy_retry_cb, p)) == NULL)
        return 0;
    tg_log(TG_LOG_INFO, 0, "%s: route %s: %s failed (%s); attempt %d goes to %s in %lld ms",
           r->request_id, rs->route->name, p->model->name, reason, r->attempts + 1, next->name,
           (long long)delay_ms);
    tg_proxy_reset_attempt(p);
    p->xfer = NULL; /* the caller frees the finished transfer */
    tg_proxy_target(p, next);
    r->attempts++;
    snprintf(r->fallback_reason, sizeof(r->fallback_reason), "%s", reason);
    tv.tv_sec = delay_ms / 1000;
    tv.tv_usec = (delay_ms % 1000) * 1000;
    evtimer_add(p->retry, &tv);
    return 1;
}

/* May a rejected answer escalate: another untried target, and attempts left? */
static int tg_proxy_can_escalate(const tg_proxy_t *p)
{
    return p->routing != NULL && p->validate != NULL && p->ep == TG_EP_CHAT &&
           p->req->attempts < p->routing->route->max_attempts &&
           p->routing->next < p->routing->plan.n;
}

/* Validate a chat.completion answer against the route's checks. 1 accepted, 0 rejected. */
static int tg_proxy_validate(tg_proxy_t *p, const json_t *completion, char *why, size_t whylen)
{
    json_t *req = NULL;
    int ok;

    if (tg_validators_want_response_format(p->validate))
        req = json_loadb(p->req->body.data, p->req->body.len, 0, NULL);
    ok = tg_validate_completion(p->validate, completion, json_object_get(req, "response_format"),
                                why, whylen);
    json_decref(req);
    return ok;
}

/*
 * The cascade's verdict on an answer: accepted (or nowhere left to escalate to: the answer
 * stands, marked), or rejected and escalated. An escalated answer's cost is metered on its own
 * line. Returns 1 when escalated (the caller stops), 0 when the answer goes to the client.
 */
static int tg_proxy_judge(tg_proxy_t *p, const json_t *completion)
{
    tg_req_t *r = p->req;
    char why[256], hv[300];
    int ok = tg_proxy_validate(p, completion, why, sizeof(why));

    if (!ok && tg_proxy_can_escalate(p)) {
        tg_log(TG_LOG_INFO, 0, "%s: route %s: answer from %s rejected (%s); escalating",
               r->request_id, r->route, p->model->name, why);
        tg_proxy_meter_extra(p, p->model, 200, &r->usage, "cascade_rejected");
        tg_proxy_reset_attempt(p);
        if (tg_proxy_fallback(p, "cascade_rejected", 0))
            return 1;
    }
    snprintf(hv, sizeof(hv), ok ? "passed" : "failed: %s", why);
    tg_resp_header(r, "x-tollgate-validation", hv);
    return 0;
}

/* A held stream ended: judge it; send it (as the stream it was) unless it escalated. */
static int tg_proxy_release(tg_proxy_t *p)
{
    json_t *c = json_pack("{s:[{s:{s:s%}}]}", "choices", "message", "content",
                          p->held_text.data != NULL ? p->held_text.data : "", p->held_text.len);
    int escalated;

    if (c != NULL && p->held_tools)
        json_object_set_new(json_object_get(json_array_get(json_object_get(c, "choices"), 0),
                                            "message"),
                            "tool_calls", json_pack("[{}]"));
    escalated = tg_proxy_judge(p, c);
    json_decref(c);
    if (escalated)
        return 1;
    p->holding = 0;
    tg_proxy_start_stream(p);
    tg_proxy_send(p, p->held.data, p->held.len, &p->req->usage);
    return 0;
}

/* tg_xfer_done_cb */
static void tg_proxy_done(tg_xfer_t *x, tg_xfer_result_t result)
{
    tg_proxy_t *p = x->arg;
    tg_req_t *r = p->req;
    tg_errmap_t m;
    char detail[320];

    if (p->holding && result == TG_XFER_OK && p->done_seen) {
        /* a whole stream, held for the cascade's validators */
        tg_proxy_meter(p, &p->st.usage);
        tg_proxy_health(p, 1);
        p->xfer = NULL;
        if (tg_proxy_release(p) == 1)
            return; /* escalated */
        tg_proxy_free(p); /* accepted: sent as the stream it was */
        tg_resp_end(r);
        return;
    }
    if (p->started) {
        /* a stream: bytes already reached the client, so failures end the stream in-band */
        tg_proxy_meter(p, &p->st.usage);
        if (result != TG_XFER_OK) {
            tg_map_xfer_error(result, &m);
            snprintf(detail, sizeof(detail), "failed mid-stream: %s", tg_xfer_result_str(result));
            tg_log(TG_LOG_WARN, 0, "%s: provider \"%s\" stream failed: %s (%s)", r->request_id,
                   p->model->provider->name, tg_xfer_result_str(result), x->errbuf);
            tg_proxy_stream_error(p, &m, detail);
        } else if (!p->done_seen && p->egress != NULL) {
            /* Anthropic's clients need message_stop: say the answer is incomplete */
            tg_errmap_t early = {502, "server_error", "upstream_incomplete_stream", 1, 0};
            tg_proxy_stream_error(p, &early, "ended the stream early");
        } else if (!p->done_seen) {
            snprintf(r->error_code, sizeof(r->error_code), "upstream_incomplete_stream");
        }
        tg_proxy_health(p, result == TG_XFER_OK);
        p->xfer = NULL;
        tg_proxy_free(p);
        tg_resp_end(r);
        return;
    }
    if (result != TG_XFER_OK) {
        tg_map_xfer_error(result, &m);
        tg_log(TG_LOG_WARN, 0, "%s: provider \"%s\" %s: %s", r->request_id,
               p->model->provider->name, tg_xfer_result_str(result), x->errbuf);
        /* no answer came back: nothing to bill that we can know of */
        memset(&r->usage, 0, sizeof(r->usage));
        r->cost_pico = 0;
        if (p->holding && p->first_byte_ns != 0)
            /* a held stream that broke off: the provider produced (and bills) part of it */
            tg_proxy_meter_extra(p, p->model, 502, NULL, "stream_failed_held");
        tg_proxy_health(p, 0);
        if (tg_hedge_promote(p))
            return; /* the hedged attempt carries on alone */
        if (m.retryable && tg_proxy_fallback(p, m.code, 0))
            return;
        snprintf(detail, sizeof(detail), "%s", tg_xfer_result_str(result));
        if (result == TG_XFER_CONNECT)
            snprintf(detail, sizeof(detail), "is unreachable");
        else if (m.status == 504)
            snprintf(detail, sizeof(detail), "timed out (%s)", tg_xfer_result_str(result));
        p->xfer = NULL;
        tg_proxy_fail(p, &m, detail);
        return;
    }
    if (x->status >= 400 || x->status < 200) {
        tg_map_upstream_status(x->status, &m);
        /* the error type AWS names (never a secret) tells an operator which credential failed */
        tg_log(TG_LOG_WARN, 0, "%s: provider \"%s\" answered HTTP %ld%s%.*s", r->request_id,
               p->model->provider->name, x->status, x->error_type[0] ? " " : "",
               (int)strcspn(x->error_type, ":"), x->error_type);
        snprintf(detail, sizeof(detail),
                 m.code != NULL && strcmp(m.code, "upstream_auth_failed") == 0
                     ? "refused the gateway's credentials (HTTP %ld)"
                     : "returned HTTP %ld",
                 x->status);
        {
            /* a route moves on after an outage, a throttle, a missing model, or a prompt too
               long for this model; the client's own mistakes go back to it */
            int ctx = x->status == 400 && tg_proxy_context_error(&p->resp);
            char reason[32];

            snprintf(reason, sizeof(reason), "upstream_%ld", x->status);
            if (m.retryable || x->status == 404)
                tg_proxy_health(p, 0);
            if ((m.retryable || x->status == 404 || ctx) && tg_hedge_promote(p))
                return;
            if ((m.retryable || x->status == 404 || ctx) &&
                tg_proxy_fallback(p, ctx ? "context_length_exceeded" : reason, ctx))
                return;
        }
        /* keep the body for pass-through but stop the transfer owning anything */
        tg_proxy_fail(p, &m, detail);
        return;
    }
    /* a whole 2xx answer */
    tg_proxy_health(p, 1);
    {
        tg_usage_t usage;
        tg_buf_t out = {0};
        char cost[32];

        if (p->adapter->response(p->model, p->ep, p->resp.data, p->resp.len, &usage, &out) ==
            -2) {
            tg_errmap_t bad = {502, "server_error", "upstream_error", 1, 0};
            tg_buf_free(&out);
            tg_log(TG_LOG_WARN, 0, "%s: provider \"%s\" sent an answer that cannot be read",
                   r->request_id, p->model->provider->name);
            tg_proxy_meter(p, NULL); /* the provider may still bill it: estimate */
            p->xfer = NULL;
            tg_proxy_fail(p, &bad, "sent an answer that could not be read");
            return;
        }
        tg_proxy_meter(p, &usage);
        if (p->validate != NULL && p->ep == TG_EP_CHAT) {
            const tg_buf_t *b = out.len > 0 ? &out : &p->resp;
            json_t *doc = json_loadb(b->data, b->len, 0, NULL);
            int escalated = tg_proxy_judge(p, doc);

            json_decref(doc);
            if (escalated) {
                tg_buf_free(&out);
                p->xfer = NULL;
                return;
            }
        }
        if ((x->aflags & TG_XFER_F_EMBED_BASE64) && out.len > 0 &&
            tg_provider_embeddings_base64(&out) == -1) {
            tg_errmap_t oom = {503, "server_error", NULL, 1, 0};
            tg_buf_free(&out);
            p->xfer = NULL;
            tg_proxy_fail(p, &oom, "answered, but the embeddings could not be encoded");
            return;
        }
        if (out.len == 0) {
            tg_buf_free(&out);
            out = p->resp; /* the upstream's bytes, unchanged */
            memset(&p->resp, 0, sizeof(p->resp));
        }
        if (r->dialect == TG_DIALECT_ANTHROPIC && tg_proxy_messages_answer(p, &out) == -1) {
            tg_errmap_t bad = {502, "server_error", "upstream_error", 1, 0};
            tg_buf_free(&out);
            tg_log(TG_LOG_WARN, 0, "%s: provider \"%s\" sent no chat.completion to translate",
                   r->request_id, p->model->provider->name);
            p->xfer = NULL;
            tg_proxy_fail(p, &bad, "sent an answer that could not be read");
            return;
        }
        tg_money_format(r->cost_pico, cost, sizeof(cost));
        tg_proxy_headers(p);
        tg_resp_header(r, "x-tollgate-cost-usd", cost);
        p->xfer = NULL;
        tg_proxy_free(p);
        tg_resp_send(r, 200, "application/json", out.data, out.len);
        tg_buf_free(&out);
    }
}

/* tg_req_t.on_abort: the client left; stop the upstream and settle what was used. */
static void tg_proxy_abort(tg_req_t *req)
{
    tg_proxy_t *p = req->handler;

    if (p == NULL)
        return;
    tg_meter_admit_cancel(req); /* in case it left while its admission was queued */
    if (p->xfer != NULL) {
        tg_xfer_cancel(p->xfer);
        p->xfer = NULL;
    }
    /* estimated unless the usage chunk already came: the provider bills what it generated */
    if (p->upstream_started)
        tg_proxy_meter(p, &p->st.usage);
    tg_proxy_free(p);
}


/* ---- hedging ---------------------------------------------------------------------------- */

#define TG_HEDGE_DEFAULT_MS 1000 /* delay: p95 before the target has any measured answers */

/* The hedge lost (or the request ended): stop it and meter what it may have consumed. */
static void tg_hedge_cancel(tg_proxy_t *p, const char *why)
{
    tg_hedge_t *h = p->hedge;

    p->hedge = NULL;
    if (h->xfer != NULL)
        tg_xfer_cancel(h->xfer);
    tg_proxy_meter_extra(p, h->model, 499, NULL, why);
    free(h);
}

/* Make the hedged attempt the current one (the current one is gone or has lost). */
static void tg_hedge_adopt(tg_proxy_t *p)
{
    tg_hedge_t *h = p->hedge;

    p->hedge = NULL;
    tg_proxy_reset_attempt(p);
    tg_proxy_target(p, h->model);
    p->xfer = h->xfer;
    p->attempt_ns = h->attempt_ns;
    p->upstream_started = 1;
    p->xfer->arg = p;
    p->xfer->on_data = tg_proxy_data;
    p->xfer->on_done = tg_proxy_done;
    free(h);
}

/* tg_xfer_data_cb of a hedge: its first good byte wins the race. */
static int tg_hedge_data(tg_xfer_t *x, const char *data, size_t len)
{
    tg_hedge_t *h = x->arg;
    tg_proxy_t *p = h->p;
    tg_req_t *r = p->req;

    if (x->status < 200 || x->status >= 300)
        return 0; /* an error body: the hedge failed; its end says so */
    tg_log(TG_LOG_INFO, 0, "%s: route %s: hedge on %s answered before %s", r->request_id,
           r->route, h->model->name, p->model->name);
    if (p->xfer != NULL) {
        tg_xfer_cancel(p->xfer);
        p->xfer = NULL;
        tg_proxy_meter_extra(p, p->model, 499, NULL, "hedge_lost");
    }
    tg_hedge_adopt(p);
    snprintf(r->fallback_reason, sizeof(r->fallback_reason), "hedge");
    return tg_proxy_data(x, data, len);
}

/* tg_xfer_done_cb of a hedge that never answered well: it just drops out of the race. */
static void tg_hedge_done(tg_xfer_t *x, tg_xfer_result_t result)
{
    tg_hedge_t *h = x->arg;
    tg_proxy_t *p = h->p;

    (void)result;
    tg_health_report(p->req->cf, h->model, 0, -1);
    p->hedge = NULL;
    free(h);
}

/* The current attempt failed before its first byte while a hedge runs: the hedge goes on. */
static int tg_hedge_promote(tg_proxy_t *p)
{
    if (p->hedge == NULL || p->started)
        return 0;
    p->xfer = NULL; /* the caller frees the failed transfer */
    tg_hedge_adopt(p);
    return 1;
}

/* The hedge timer: no first byte yet, so send the same request to the next target. */
static void tg_hedge_cb(evutil_socket_t fd, short what, void *arg)
{
    tg_proxy_t *p = arg;
    tg_req_t *r = p->req;
    tg_buf_t url = {0}, body = {0};
    const tg_model_t *m;
    tg_hedge_t *h;
    int ignored;

    (void)fd;
    (void)what;
    if (p->first_byte_ns != 0 || p->xfer == NULL || p->hedge != NULL ||
        (m = tg_routing_next(r, p->routing)) == NULL || (h = calloc(1, sizeof(*h))) == NULL)
        return;
    h->p = p;
    h->model = m;
    h->attempt_ns = tg_now_ns();
    if ((h->xfer = tg_xfer_new()) == NULL ||
        tg_proxy_rewrite(r->body.data, r->body.len, p->f, &p->scan, m, p->stream, &ignored,
                         &body) == -1 ||
        tg_adapter_for(m->provider->kind)->prepare(m, p->ep, p->stream, h->xfer, &url, &body) !=
            0) {
        if (h->xfer != NULL)
            tg_xfer_cancel(h->xfer);
        tg_buf_free(&url);
        tg_buf_free(&body);
        free(h);
        return;
    }
    h->xfer->arg = h;
    h->xfer->on_data = tg_hedge_data;
    h->xfer->on_done = tg_hedge_done;
    if (tg_xfer_post(h->xfer, url.data, body.data, body.len, r->cf) == -1) {
        tg_buf_free(&url);
        free(h);
        return;
    }
    tg_buf_free(&url);
    p->hedge = h;
    p->hedges++;
    r->attempts++;
    tg_log(TG_LOG_INFO, 0, "%s: route %s: no first byte from %s yet: hedging on %s",
           r->request_id, r->route, p->model->name, m->name);
}

/* After an attempt is sent: on a hedged route, wait the delay for its first byte. */
static void tg_hedge_arm(tg_proxy_t *p)
{
    const tg_route_t *rt = p->routing != NULL ? p->routing->route : NULL;
    int64_t ms;
    struct timeval tv;

    if (rt == NULL || rt->hedge_max <= p->hedges || p->routing->plan.n < 1)
        return;
    ms = rt->hedge_delay_ms;
    if (ms < 0) {
        tg_health_t hl;
        double p95;

        tg_health_read(p->model, &hl);
        p95 = tg_health_p95(&hl);
        ms = p95 > 0 ? (int64_t)p95 : TG_HEDGE_DEFAULT_MS;
    }
    if (p->hedge_timer == NULL &&
        (p->hedge_timer = evtimer_new(tg_upstream_base(), tg_hedge_cb, p)) == NULL)
        return;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(p->hedge_timer, &tv);
}

#define TG_MAX_TOKENS_LIMIT 100000000 /* far above any model's output; beyond it: 400 */
#define TG_MAX_CHOICES 128

/*
 * An optional positive integer field (max_tokens, n, ...): absent leaves *out alone; present
 * but not an integer in 1..max answers 400 naming the field. Returns 0 or -1 (answered).
 */
static int tg_proxy_int_field(tg_req_t *r, const tg_jspan_t *s, const char *name, int64_t max,
                              int64_t *out)
{
    int64_t v;

    if (s->type == TG_JT_NONE || s->type == TG_JT_NULL)
        return 0;
    if (tg_json_span_int(r->body.data, s, &v) == -1 || v < 1 || v > max) {
        tg_resp_error(r, 400, "invalid_request_error", "invalid_value", name,
                      "'%s' must be an integer from 1 to %lld.", name, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

/*
 * The upstream body: the client's bytes with "model" replaced by the upstream id and, on
 * streams, stream_options.include_usage forced on. Everything else is copied untouched.
 */
static int tg_proxy_rewrite(const char *doc, size_t len, const tg_jspan_t *f,
                            const tg_jscan_t *scan, const tg_model_t *m, int stream,
                            int *client_usage, tg_buf_t *out)
{
    const tg_jspan_t *model = &f[TG_F_MODEL], *so = &f[TG_F_STREAM_OPTIONS];
    const char *um = m->upstream_model;
    char *so_new = NULL;
    size_t pos = 0;
    int rc = -1;

    *client_usage = 0;
    if (stream && so->type == TG_JT_OBJECT) {
        json_t *o = json_loadb(doc + so->off, so->len, 0, NULL);
        *client_usage = json_is_true(json_object_get(o, "include_usage"));
        if (!*client_usage) {
            json_object_set_new(o, "include_usage", json_true());
            so_new = json_dumps(o, JSON_COMPACT);
        }
        json_decref(o);
    }
    /* the two edits are in document order; both spans lie inside the root object */
    const tg_jspan_t *first = model, *second = so_new ? so : NULL;
    const char *first_txt = NULL, *second_txt = so_new;
    if (second != NULL && second->off < first->off) {
        first = so, second = model;
        first_txt = so_new, second_txt = NULL;
    }
    for (int i = 0; i < 2; i++) {
        const tg_jspan_t *e = i == 0 ? first : second;
        const char *txt = i == 0 ? first_txt : second_txt;
        if (e == NULL)
            continue;
        if (tg_buf_append(out, doc + pos, e->off - pos) == -1)
            goto done;
        if (e == model) {
            if (tg_buf_append(out, "\"", 1) == -1 || tg_buf_append(out, um, strlen(um)) == -1 ||
                tg_buf_append(out, "\"", 1) == -1)
                goto done;
        } else if (tg_buf_append(out, txt, strlen(txt)) == -1) {
            goto done;
        }
        pos = e->off + e->len;
    }
    if (stream && so->type != TG_JT_OBJECT) {
        /* no stream_options (or null): add ours just before the closing brace */
        static const char add[] = ",\"stream_options\":{\"include_usage\":true}";
        if (so->type != TG_JT_NONE) {
            if (tg_buf_append(out, doc + pos, so->off - pos) == -1 ||
                tg_buf_append(out, "{\"include_usage\":true}", 22) == -1)
                goto done;
            pos = so->off + so->len;
        } else {
            if (tg_buf_append(out, doc + pos, scan->root_close - pos) == -1 ||
                tg_buf_append(out, add, sizeof(add) - 1) == -1)
                goto done;
            pos = scan->root_close;
        }
    }
    rc = tg_buf_append(out, doc + pos, len - pos);
done:
    free(so_new);
    return rc;
}

static void tg_proxy_admitted(tg_req_t *r, void *arg, int admitted);

const tg_model_t *tg_proxy_model(tg_req_t *r, const char *name, size_t len)
{
    const tg_model_t *m = tg_config_model(r->cf, name, len);

    if (m == NULL) {
        tg_resp_error(r, 404, "invalid_request_error", "model_not_found", "model",
                      "The model `%.*s` does not exist or you do not have access to it.",
                      (int)(len > 200 ? 200 : len), name);
        return NULL;
    }
    if (r->authed && !tg_key_allows(&r->key, m->name)) {
        tg_resp_error(r, 403, "invalid_request_error", "model_not_allowed", "model",
                      "This API key is not allowed to use the model `%s`.", m->name);
        return NULL;
    }
    return m;
}

int64_t tg_proxy_prompt_estimate(size_t body_len)
{
    return (int64_t)(body_len + 3) / 4;
}

void tg_proxy_handle(tg_req_t *r, tg_endpoint_t ep)
{
    static const char *const keys[TG_F_COUNT] = {
        "model", "stream", "stream_options", "messages", "prompt", "input", "max_tokens",
        "max_completion_tokens", "n", "best_of"};
    tg_jspan_t f[TG_F_COUNT];
    tg_jfield_t fields[TG_F_COUNT];
    tg_jscan_t scan;
    const tg_model_t *m, *admit_model;
    const tg_route_t *rt = NULL;
    tg_routing_t rs;
    const char *doc = r->body.data, *name;
    char namebuf[256];
    size_t namelen;
    int64_t max_tokens = 0, req_max, choices = 1, best_of = 1, admit_max;
    tg_proxy_t *p;
    int stream, line, col;

    if (r->body.len == 0) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                      "The request body is empty; expected a JSON object.");
        return;
    }
    for (int i = 0; i < TG_F_COUNT; i++) {
        fields[i].key = keys[i];
        fields[i].out = &f[i];
    }
    if (tg_json_scan(doc, r->body.len, fields, TG_F_COUNT, &scan) == -1) {
        tg_json_position(doc, scan.err_off, &line, &col);
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                      "We could not parse the JSON body of your request: %s at line %d, column "
                      "%d.",
                      scan.err, line, col);
        return;
    }
    if (scan.root != TG_JT_OBJECT) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, NULL,
                      "The request body must be a JSON object.");
        return;
    }
    if (scan.dup != NULL) {
        /* JSON parsers disagree on which duplicate wins: never let the provider decide */
        tg_resp_error(r, 400, "invalid_request_error", NULL, scan.dup,
                      "The request body has the key '%s' more than once.", scan.dup);
        return;
    }
    if (f[TG_F_MODEL].type != TG_JT_STRING || f[TG_F_MODEL].len <= 2) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, "model",
                      "You must provide a model parameter.");
        return;
    }
    name = doc + f[TG_F_MODEL].off + 1;
    namelen = f[TG_F_MODEL].len - 2;
    if (f[TG_F_MODEL].escaped) {
        /* rare: decode the escapes properly */
        json_t *v = json_loadb(doc + f[TG_F_MODEL].off, f[TG_F_MODEL].len,
                               JSON_DECODE_ANY, NULL);
        snprintf(namebuf, sizeof(namebuf), "%s", v ? json_string_value(v) : "");
        json_decref(v);
        name = namebuf;
        namelen = strlen(namebuf);
    }
    if ((m = tg_config_model(r->cf, name, namelen)) == NULL &&
        (rt = tg_config_route(r->cf, name, namelen)) != NULL) {
        /* a route: decide its targets; the first stands in for the checks below */
        if (tg_routing_begin(r, rt, ep, &rs) == -1)
            return;
        m = rs.plan.order[0];
    } else if ((m = tg_proxy_model(r, name, namelen)) == NULL) {
        return;
    }
    if (!(tg_adapter_for(m->provider->kind)->endpoints & (1u << ep))) {
        static const char *const what[] = {"chat completions", "completions", "embeddings"};
        tg_resp_error(r, 400, "invalid_request_error", "unsupported_endpoint", "model",
                      "The model `%s` is served by provider '%s', which does not offer %s.",
                      m->name, m->provider->name, what[ep]);
        return;
    }
    if (ep == TG_EP_CHAT && f[TG_F_MESSAGES].type != TG_JT_ARRAY) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, "messages",
                      "'messages' is a required property and must be an array.");
        return;
    }
    if (ep == TG_EP_COMPLETIONS && f[TG_F_PROMPT].type == TG_JT_NONE) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, "prompt",
                      "'prompt' is a required property.");
        return;
    }
    if (ep == TG_EP_EMBEDDINGS && f[TG_F_INPUT].type == TG_JT_NONE) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, "input",
                      "'input' is a required property.");
        return;
    }
    if (f[TG_F_STREAM].type != TG_JT_NONE && f[TG_F_STREAM].type != TG_JT_TRUE &&
        f[TG_F_STREAM].type != TG_JT_FALSE && f[TG_F_STREAM].type != TG_JT_NULL) {
        tg_resp_error(r, 400, "invalid_request_error", NULL, "stream",
                      "'stream' must be a boolean.");
        return;
    }
    stream = ep != TG_EP_EMBEDDINGS && f[TG_F_STREAM].type == TG_JT_TRUE;
    if (tg_proxy_int_field(r, &f[TG_F_MAX_TOKENS], "max_tokens", TG_MAX_TOKENS_LIMIT,
                           &max_tokens) == -1 ||
        tg_proxy_int_field(r, &f[TG_F_MAX_COMPLETION_TOKENS], "max_completion_tokens",
                           TG_MAX_TOKENS_LIMIT, &max_tokens) == -1 ||
        tg_proxy_int_field(r, &f[TG_F_N], "n", TG_MAX_CHOICES, &choices) == -1 ||
        tg_proxy_int_field(r, &f[TG_F_BEST_OF], "best_of", TG_MAX_CHOICES, &best_of) == -1)
        return;
    if (best_of > choices)
        choices = best_of;
    /* the worst case a budget must cover: every choice may run to max_tokens */
    req_max = max_tokens;
    if (max_tokens == 0 && ep != TG_EP_EMBEDDINGS)
        max_tokens = m->max_output_tokens;
    max_tokens *= choices;
    admit_model = m;
    admit_max = max_tokens;
    if (rt != NULL) /* whichever target serves, the reservation covers the dearest */
        admit_model = tg_routing_worst(&rs, tg_proxy_prompt_estimate(r->body.len), req_max,
                                       ep == TG_EP_EMBEDDINGS ? 0 : choices, &admit_max);
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        tg_resp_error(r, 503, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    p->req = r;
    p->model = m;
    p->ep = ep;
    p->stream = stream;
    p->adapter = tg_adapter_for(m->provider->kind);
    tg_sse_init(&p->sse);
    tg_evstream_init(&p->evs, TG_SSE_MAX_EVENT);
    p->st.model = m->upstream_model;
    if (stream && r->dialect == TG_DIALECT_ANTHROPIC) {
        char id[TG_MESSAGES_ID_MAX];

        tg_messages_id(r->request_id, id, sizeof(id));
        if ((p->egress = tg_messages_stream_new(id, m->name)) == NULL) {
            free(p);
            tg_resp_error(r, 503, "server_error", NULL, NULL, "Out of memory.");
            return;
        }
    }
    if (rt != NULL) {
        if ((p->routing = malloc(sizeof(rs))) == NULL) {
            tg_messages_stream_free(p->egress);
            free(p);
            tg_resp_error(r, 503, "server_error", NULL, NULL, "Out of memory.");
            return;
        }
        *p->routing = rs;
        p->validate = rs.plan.rule != NULL && rs.plan.rule->validate != NULL
                          ? rs.plan.rule->validate
                          : rs.plan.route->validate;
        if (rt->deadline_ms > 0)
            p->deadline_ns = r->start_ns + rt->deadline_ms * 1000000;
    }
    p->max_tokens = admit_max;
    p->prompt_estimate = tg_proxy_prompt_estimate(r->body.len);
    memcpy(p->f, f, sizeof(p->f));
    p->scan = scan;

    r->model = m->name; /* from here on the request is metered as this model */
    r->provider = m->provider->name;
    r->upstream_model = m->upstream_model;
    r->stream = stream;
    r->attempts = 1;
    r->handler = p;
    r->on_abort = tg_proxy_abort;
    r->on_drain = tg_proxy_drain;
    tg_meter_admit_request(r, admit_model, p->prompt_estimate, admit_max, tg_proxy_admitted, p);
}

/* Admitted: build the upstream request and send it. */
static void tg_proxy_start(tg_proxy_t *p)
{
    tg_req_t *r = p->req;
    const tg_model_t *m = p->model;
    tg_endpoint_t ep = p->ep;
    tg_buf_t url = {0}, body = {0};
    int stream = p->stream, rc;

    p->attempt_ns = tg_now_ns();
    /* a stream that may yet be rejected is held back until it can be judged whole */
    p->holding = p->stream && tg_proxy_can_escalate(p);
    p->xfer = tg_xfer_new();
    rc = p->xfer == NULL ? -1
                         : tg_proxy_rewrite(r->body.data, r->body.len, p->f, &p->scan, m, stream,
                                            &p->st.client_wants_usage, &body);
    if (rc == 0)
        rc = p->adapter->prepare(m, ep, stream, p->xfer, &url, &body);
    if (rc != 0) {
        char why[256];

        snprintf(why, sizeof(why), "%s", p->xfer != NULL ? p->xfer->errbuf : "");
        tg_buf_free(&url);
        tg_buf_free(&body);
        if (p->xfer != NULL)
            tg_xfer_cancel(p->xfer);
        p->xfer = NULL;
        /* on a route, a target that cannot express the request makes way for the next */
        if (rc == -2 && tg_proxy_fallback(p, "unsupported_for_provider", 0))
            return;
        tg_proxy_free(p);
        if (rc == -2)
            tg_resp_error(r, 400, "invalid_request_error", "unsupported_for_provider", NULL,
                          "Provider '%s' cannot serve this request: %s.", m->provider->name, why);
        else
            tg_resp_error(r, 500, "server_error", NULL, NULL,
                          "Could not build the request for provider '%s'.", m->provider->name);
        return;
    }
    p->xfer->arg = p;
    p->xfer->on_data = tg_proxy_data;
    p->xfer->on_done = tg_proxy_done;
    tg_log_debug("%s: %s %s -> provider %s", r->request_id, tg_ep_names[ep], m->name,
                 m->provider->name); /* never the URL: it may carry credentials */
    if (tg_xfer_post(p->xfer, url.data, body.data, body.len, r->cf) == -1) {
        p->xfer = NULL;
        tg_buf_free(&url);
        tg_proxy_free(p);
        tg_resp_error(r, 502, "server_error", "upstream_error", NULL,
                      "Could not start the call to provider '%s'.", m->provider->name);
        return;
    }
    p->upstream_started = 1;
    tg_buf_free(&url);
    tg_hedge_arm(p);
}

/*
 * A route's first target: the first in the plan whose circuit breaker lets it through. Returns
 * 0, or -1 after answering 503 when every target's breaker is open.
 */
static int tg_proxy_first_target(tg_proxy_t *p)
{
    tg_req_t *r = p->req;
    const tg_model_t *m = tg_routing_next(r, p->routing);

    if (m == NULL) {
        const char *route = p->routing->route->name;

        tg_proxy_free(p);
        tg_resp_header(r, "x-tollgate-route", route);
        tg_resp_error(r, 503, "server_error", "no_healthy_target", "model",
                      "Every model of route `%s` is failing (circuit open); try again shortly.",
                      route);
        return -1;
    }
    if (m != p->model) {
        tg_proxy_target(p, m);
        snprintf(r->fallback_reason, sizeof(r->fallback_reason), "circuit_open");
    }
    return 0;
}

/* tg_admit_cb */
static void tg_proxy_admitted(tg_req_t *r, void *arg, int admitted)
{
    tg_proxy_t *p = arg;

    if (admitted) {
        if (p->routing != NULL && tg_proxy_first_target(p) == -1)
            return;
        if (p->routing != NULL) /* admitted: a share of the route's traffic is mirrored */
            tg_shadow_maybe(r, p->routing->route, p->ep);
        tg_proxy_start(p);
        return;
    }
    tg_proxy_free(p); /* the meter answers the refusal */
}
