/*
 * The OpenAI-compatible adapter, for every provider that speaks OpenAI's wire format (OpenAI,
 * DeepSeek, Qwen/DashScope, Together, Groq, Fireworks, Mistral, OpenRouter, vLLM, Ollama).
 * Bodies pass through unchanged; the only work is reading usage, and on streams dropping the
 * usage-only chunk the gateway asked for when the client did not.
 */
#include "worker/provider.h"
#include "worker/provider_common.h"
#include "shared/tg_json_scan.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tg_openai_paths[] = {"/chat/completions", "/completions", "/embeddings"};

int tg_openai_usage(json_t *usage, tg_usage_t *u)
{
    json_t *d;

    if (!json_is_object(usage))
        return -1;
    memset(u, 0, sizeof(*u));
    u->prompt = json_integer_value(json_object_get(usage, "prompt_tokens"));
    u->completion = json_integer_value(json_object_get(usage, "completion_tokens"));
    d = json_object_get(usage, "prompt_tokens_details");
    if (json_is_object(d)) {
        u->cached = json_integer_value(json_object_get(d, "cached_tokens"));
        u->cache_write = json_integer_value(json_object_get(d, "cache_write_tokens"));
    }
    d = json_object_get(usage, "completion_tokens_details");
    if (json_is_object(d))
        u->reasoning = json_integer_value(json_object_get(d, "reasoning_tokens"));
    u->reported = 1;
    return 0;
}

/*
 * What every call to one provider shares, built on its first use in this worker: the header
 * lists (one for streams, one not) and each endpoint's parsed URL. Building them per request
 * was a measurable share of the hot path (formatting, allocation, URL parsing in curl).
 */
typedef struct {
    tg_provider_ext_t base;
    struct curl_slist *headers[2]; /* [stream] */
    CURLU *urls[3];                /* [endpoint] */
    char origin[320];              /* h1 pool key and connect URL: scheme://host:port */
    char *heads[3][2];             /* h1 request heads [endpoint][stream], no Content-Length */
    size_t head_len[3][2];
} tg_openai_ext_t;

static void tg_openai_ext_destroy(tg_provider_ext_t *ext)
{
    tg_openai_ext_t *e = (tg_openai_ext_t *)ext;

    for (int i = 0; i < 2; i++) {
        /* one of them holds the Authorization line: wipe before freeing */
        for (struct curl_slist *l = e->headers[i]; l != NULL; l = l->next)
            explicit_bzero(l->data, strlen(l->data));
        curl_slist_free_all(e->headers[i]);
    }
    for (int i = 0; i < 3; i++) {
        curl_url_cleanup(e->urls[i]);
        for (int s = 0; s < 2; s++) {
            if (e->heads[i][s] != NULL)
                explicit_bzero(e->heads[i][s], e->head_len[i][s]);
            free(e->heads[i][s]);
        }
    }
    free(e);
}

/*
 * The HTTP/1.1 pool's view of a provider: its origin and one complete request head per
 * endpoint and mode, so a request costs one memcpy of the head plus its Content-Length line.
 */
static int tg_openai_h1(const tg_provider_t *p, tg_openai_ext_t *e)
{
    tg_provider_url_t pu;
    tg_buf_t b = {0};
    int rc = -1;

    if (tg_provider_url(p->base_url, &pu) == -1)
        goto done;
    snprintf(e->origin, sizeof(e->origin), "%s", pu.origin);
    for (int i = 0; i < 3; i++) {
        for (int s = 0; s < 2; s++) {
            tg_buf_reset(&b);
#define TG_S(str) tg_buf_append(&b, str, strlen(str))
            if (TG_S("POST ") || TG_S(pu.path) || TG_S(tg_openai_paths[i]) ||
                TG_S(" HTTP/1.1\r\nHost: ") || TG_S(pu.host))
                goto done;
            if (TG_S("\r\nUser-Agent: tollgate/" TG_VERSION "\r\n"
                     "Content-Type: application/json\r\nAccept: ") ||
                TG_S(s ? "text/event-stream" : "application/json") || TG_S("\r\n"))
                goto done;
            if (p->api_key != NULL &&
                (TG_S("Authorization: Bearer ") || TG_S(p->api_key) || TG_S("\r\n")))
                goto done;
            for (size_t h = 0; h < p->nheaders; h++)
                if (TG_S(p->headers[h].name) || TG_S(": ") || TG_S(p->headers[h].value) ||
                    TG_S("\r\n"))
                    goto done;
#undef TG_S
            if ((e->heads[i][s] = malloc(b.len)) == NULL)
                goto done;
            memcpy(e->heads[i][s], b.data, b.len);
            e->head_len[i][s] = b.len;
        }
    }
    rc = 0;
done:
    if (b.data != NULL)
        explicit_bzero(b.data, b.cap); /* it held the key */
    tg_buf_free(&b);
    return rc;
}

/* Append a header line; on failure clear *ok (the list so far stays valid). */
static void tg_slist_add(struct curl_slist **l, const char *line, int *ok)
{
    struct curl_slist *nl = curl_slist_append(*l, line);

    if (nl == NULL)
        *ok = 0;
    else
        *l = nl;
}

static tg_openai_ext_t *tg_openai_ext(tg_provider_t *p)
{
    tg_openai_ext_t *e = p->ext;
    char line[4096];
    int n, ok = 1;

    if (e != NULL)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->base.destroy = tg_openai_ext_destroy;
    for (int s = 0; s < 2; s++) {
        struct curl_slist *l = NULL;
#define TG_ADD(txt) tg_slist_add(&l, txt, &ok)
        TG_ADD("Content-Type: application/json");
        TG_ADD(s ? "Accept: text/event-stream" : "Accept: application/json");
        TG_ADD("Expect:");
        if (p->api_key != NULL) {
            n = snprintf(line, sizeof(line), "Authorization: Bearer %s", p->api_key);
            if (n < 0 || (size_t)n >= sizeof(line))
                ok = 0;
            else
                TG_ADD(line);
            explicit_bzero(line, sizeof(line));
        }
        for (size_t i = 0; i < p->nheaders; i++) {
            n = snprintf(line, sizeof(line), "%s: %s", p->headers[i].name, p->headers[i].value);
            if (n < 0 || (size_t)n >= sizeof(line))
                ok = 0;
            else
                TG_ADD(line);
        }
#undef TG_ADD
        e->headers[s] = l;
    }
    for (int i = 0; i < 3; i++) {
        n = snprintf(line, sizeof(line), "%s%s", p->base_url, tg_openai_paths[i]);
        e->urls[i] = curl_url();
        if (n < 0 || (size_t)n >= sizeof(line) || e->urls[i] == NULL ||
            curl_url_set(e->urls[i], CURLUPART_URL, line, 0) != CURLUE_OK)
            ok = 0;
    }
    if (ok && tg_openai_h1(p, e) == -1)
        ok = 0;
    if (!ok) {
        tg_openai_ext_destroy(&e->base);
        return NULL;
    }
    p->ext = e;
    return e;
}

/*
 * Azure OpenAI: the deployment (the model's upstream id) is in the path, the API version in the
 * query, the key in an api-key header. The path differs per model, so the request head is built
 * per request (into x->owned; the HTTP/1.1 pool copies it when the request is sent).
 */
static int tg_azure_prepare(const tg_model_t *m, tg_endpoint_t ep, int stream, tg_xfer_t *x,
                            tg_buf_t *url)
{
    const tg_provider_t *p = m->provider;
    tg_openai_ext_t *e = tg_openai_ext(m->provider);
    tg_buf_t h = {0};
    const char *host = strstr(p->base_url, "://"), *slash;
    char hostbuf[256];
    int rc = -1;

    /* Host as the base_url writes it; the base_url's path (if any) goes before /openai/... */
    host = host != NULL ? host + 3 : p->base_url;
    slash = strchr(host, '/');
    snprintf(hostbuf, sizeof(hostbuf), "%.*s", slash ? (int)(slash - host) : (int)strlen(host),
             host);
#define TG_S(b, str) tg_buf_append(b, str, strlen(str))
    if (TG_S(url, p->base_url) || TG_S(url, "/openai/deployments/") ||
        TG_S(url, m->upstream_model) || TG_S(url, tg_openai_paths[ep]) ||
        TG_S(url, "?api-version=") || TG_S(url, p->api_version))
        goto done;
    if (p->http2) {
        char line[4096];
        int n = snprintf(line, sizeof(line), "api-key: %s", p->api_key ? p->api_key : "");
        if (n < 0 || (size_t)n >= sizeof(line) ||
            tg_xfer_header(x, "Content-Type: application/json") == -1 ||
            tg_xfer_header(x, stream ? "Accept: text/event-stream" : "Accept: application/json") ==
                -1 ||
            (p->api_key != NULL && tg_xfer_header(x, line) == -1)) {
            explicit_bzero(line, sizeof(line));
            goto done;
        }
        explicit_bzero(line, sizeof(line));
        for (size_t i = 0; i < p->nheaders; i++) {
            n = snprintf(line, sizeof(line), "%s: %s", p->headers[i].name, p->headers[i].value);
            if (n < 0 || (size_t)n >= sizeof(line) || tg_xfer_header(x, line) == -1)
                goto done;
        }
        rc = 0;
        goto done;
    }
    if (TG_S(&h, "POST ") || (slash != NULL && TG_S(&h, slash)) ||
        TG_S(&h, "/openai/deployments/") || TG_S(&h, m->upstream_model) ||
        TG_S(&h, tg_openai_paths[ep]) || TG_S(&h, "?api-version=") || TG_S(&h, p->api_version) ||
        TG_S(&h, " HTTP/1.1\r\nHost: ") || TG_S(&h, hostbuf) ||
        TG_S(&h, "\r\nUser-Agent: tollgate/" TG_VERSION "\r\nContent-Type: application/json"
                 "\r\nAccept: ") ||
        TG_S(&h, stream ? "text/event-stream" : "application/json") || TG_S(&h, "\r\n"))
        goto done;
    if (p->api_key != NULL && (TG_S(&h, "api-key: ") || TG_S(&h, p->api_key) || TG_S(&h, "\r\n")))
        goto done;
    for (size_t i = 0; i < p->nheaders; i++)
        if (TG_S(&h, p->headers[i].name) || TG_S(&h, ": ") || TG_S(&h, p->headers[i].value) ||
            TG_S(&h, "\r\n"))
            goto done;
#undef TG_S
    x->owned = h.data; /* freed (after a wipe) with the transfer */
    x->h1_head = h.data;
    x->h1_head_len = h.len;
    x->h1_origin = e->origin;
    h.data = NULL;
    rc = 0;
done:
    if (h.data != NULL)
        explicit_bzero(h.data, h.cap);
    tg_buf_free(&h);
    return rc;
}

static int tg_openai_prepare(const tg_model_t *m, tg_endpoint_t ep, int stream, tg_xfer_t *x,
                             tg_buf_t *url, tg_buf_t *body)
{
    tg_provider_t *p = m->provider;
    tg_openai_ext_t *e = tg_openai_ext(p);

    if (e != NULL && p->kind == TG_PROVIDER_AZURE)
        return tg_azure_prepare(m, ep, stream, x, url);

    if (e == NULL)
        return -1;
    if (tg_buf_append(url, p->base_url, strlen(p->base_url)) == -1 ||
        tg_buf_append(url, tg_openai_paths[ep], strlen(tg_openai_paths[ep])) == -1)
        return -1;
    if (p->http2) {
        x->shared_headers = e->headers[stream ? 1 : 0];
        x->curlu = e->urls[ep];
    } else {
        x->h1_origin = e->origin;
        x->h1_head = e->heads[ep][stream ? 1 : 0];
        x->h1_head_len = e->head_len[ep][stream ? 1 : 0];
    }
    (void)body; /* OpenAI's wire format is the canonical one: the body goes as it is */
    return 0;
}

/* The integer after "key": inside [p, end); 0 when absent. */
static int64_t tg_usage_field(const char *p, const char *end, const char *key, size_t klen)
{
    const char *q = memmem(p, (size_t)(end - p), key, klen);
    int64_t v = 0;

    if (q == NULL)
        return 0;
    for (q += klen; q < end && (*q == ' ' || *q == ':' || *q == '\n' || *q == '\t'); q++)
        ;
    for (; q < end && *q >= '0' && *q <= '9'; q++)
        v = v * 10 + (*q - '0');
    return v;
}

#define TG_USAGE(p, end, key) tg_usage_field(p, end, "\"" key "\"", sizeof(key) + 1)

static int tg_openai_response(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                              tg_usage_t *usage, tg_buf_t *out)
{
    tg_jspan_t u;
    tg_jfield_t f = {"usage", &u};
    tg_jscan_t scan;
    const char *p, *end;

    /*
     * The body goes to the client byte for byte; only the top-level usage object is read. One
     * validating pass finds it; its counters are then read directly from its bytes (their
     * names are unique within the usage object).
     */
    memset(usage, 0, sizeof(*usage));
    if (tg_json_scan(body, len, &f, 1, &scan) == -1 || u.type != TG_JT_OBJECT)
        return -1;
    p = body + u.off;
    end = p + u.len;
    usage->prompt = TG_USAGE(p, end, "prompt_tokens");
    usage->completion = TG_USAGE(p, end, "completion_tokens");
    usage->cached = TG_USAGE(p, end, "cached_tokens");
    usage->reasoning = TG_USAGE(p, end, "reasoning_tokens");
    usage->reported = 1;
    return 0;
}

/* Length of the JSON string body starting at s (just after its opening quote). */
static size_t tg_json_strlen(const char *s, const char *end)
{
    const char *p = s;

    while (p < end && *p != '"')
        p += (*p == '\\' && p + 1 < end) ? 2 : 1;
    return (size_t)(p - s);
}

static tg_event_action_t tg_openai_event(tg_stream_state_t *st, const char *event,
                                         const char *data, size_t datalen, const char *raw,
                                         size_t rawlen, tg_buf_t *out)
{
    const char *end = data + datalen, *p;
    tg_event_action_t action = TG_EVENT_FORWARD;

    if (datalen == 6 && memcmp(data, "[DONE]", 6) == 0) {
        tg_buf_append(out, raw, rawlen);
        return TG_EVENT_DONE;
    }
    /* generated text, counted only to estimate usage if the provider never reports it */
    for (p = data; (p = memmem(p, (size_t)(end - p), "\"content\"", 9)) != NULL;) {
        p += 9;
        while (p < end && (*p == ' ' || *p == ':' || *p == '\t'))
            p++;
        if (p < end && *p == '"')
            st->content_bytes += (int64_t)tg_json_strlen(++p, end);
    }
    /* usage is rare (one chunk per stream): parse only chunks that carry a usage object */
    if (memmem(data, datalen, "\"usage\":{", 9) != NULL ||
        memmem(data, datalen, "\"usage\": {", 10) != NULL) {
        json_t *root = json_loadb(data, datalen, 0, NULL);
        if (root != NULL) {
            json_t *choices = json_object_get(root, "choices");
            tg_openai_usage(json_object_get(root, "usage"), &st->usage);
            if (!st->client_wants_usage && json_is_array(choices) && json_array_size(choices) == 0)
                action = TG_EVENT_DROP;
            json_decref(root);
        }
    }
    if (action == TG_EVENT_FORWARD)
        tg_buf_append(out, raw, rawlen);
    return action;
}

const tg_adapter_t tg_openai_adapter = {
    .kind = "openai",
    .endpoints = 1u << TG_EP_CHAT | 1u << TG_EP_COMPLETIONS | 1u << TG_EP_EMBEDDINGS,
    .prepare = tg_openai_prepare,
    .response = tg_openai_response,
    .event = tg_openai_event,
};

void tg_provider_ext_free(void *ext)
{
    tg_provider_ext_t *e = ext;

    e->destroy(e);
}

const tg_adapter_t *tg_adapter_for(tg_provider_kind_t kind)
{
    switch (kind) {
    case TG_PROVIDER_OPENAI:
        return &tg_openai_adapter;
    case TG_PROVIDER_ANTHROPIC:
        return &tg_anthropic_adapter;
    case TG_PROVIDER_AZURE:
        return &tg_openai_adapter; /* OpenAI's wire format at Azure's URLs, with api-key */
    case TG_PROVIDER_GEMINI:
        return &tg_gemini_adapter;
    case TG_PROVIDER_BEDROCK:
        return &tg_bedrock_adapter;
    }
    return NULL;
}
