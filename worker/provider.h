/*
 * Provider adapters: one per wire format, behind a small vtable. An adapter turns the canonical
 * (OpenAI-shaped) request into the upstream's URL, headers and body, and turns the upstream's
 * answer — whole or as a stream of events — back into OpenAI's shape, reporting token usage.
 */
#ifndef TG_WORKER_PROVIDER_H
#define TG_WORKER_PROVIDER_H

#include <jansson.h>

#include "shared/tg_buf.h"
#include "shared/tg_config.h"
#include "shared/tg_money.h"
#include "worker/upstream.h"

typedef enum { TG_EP_CHAT = 0, TG_EP_COMPLETIONS, TG_EP_EMBEDDINGS } tg_endpoint_t;

/** What an adapter decides about one upstream stream event. */
typedef enum {
    TG_EVENT_FORWARD = 0, /* send the bytes in out (may be the raw event) to the client */
    TG_EVENT_DROP,        /* send nothing */
    TG_EVENT_DONE,        /* the stream's terminator; out holds what to send */
} tg_event_action_t;

/** Per-request stream state an adapter may keep. */
typedef struct {
    int client_wants_usage; /* the client set stream_options.include_usage */
    const char *model;      /* the upstream model id, for streams whose events do not name it */
    int64_t content_bytes;  /* bytes of generated text seen, for estimating usage */
    tg_usage_t usage;       /* the latest usage the upstream reported */
    void *priv;             /* an adapter's own per-stream state, freed by its stream_free */
} tg_stream_state_t;

/** How an upstream frames a streamed answer. */
typedef enum {
    TG_FRAMING_SSE = 0, /* text/event-stream: event = the event: line, data = the data: lines */
    TG_FRAMING_EVSTREAM, /* application/vnd.amazon.eventstream (shared/tg_evstream.h): event =
                          * :event-type, or :exception-type for exceptions; data = the payload */
} tg_framing_t;

typedef struct {
    const char *kind;
    unsigned endpoints; /* 1 << tg_endpoint_t for each endpoint the wire format serves */
    tg_framing_t framing; /* of streamed answers; every event goes to event() */
    /**
     * Prepare the upstream call: request headers on x and the URL into url. body holds the
     * canonical request (OpenAI's JSON, "model" already the upstream id); an adapter for another
     * wire format replaces it with the translated body. Returns 0; -2 when the request cannot be
     * expressed for this provider (the reason, for the client, in x->errbuf: answered 400); or
     * -1 on an internal failure (500).
     */
    int (*prepare)(const tg_model_t *m, tg_endpoint_t ep, int stream, tg_xfer_t *x,
                   tg_buf_t *url, tg_buf_t *body);
    /**
     * A complete 2xx answer. Fill usage (usage->reported = 0 if there was none). If the client
     * body differs from the upstream's, write it to out; leave out empty to send body as is.
     * Returns 0, -1 (no usage found: it is estimated), or -2 when the answer cannot be turned
     * into the client's shape at all (answered 502).
     */
    int (*response)(const tg_model_t *m, tg_endpoint_t ep, const char *body, size_t len,
                    tg_usage_t *usage, tg_buf_t *out);
    /** One stream event: decide what the client gets; usage updates go into st->usage. */
    tg_event_action_t (*event)(tg_stream_state_t *st, const char *event, const char *data,
                               size_t datalen, const char *raw, size_t rawlen, tg_buf_t *out);
    /** Free st->priv (may be NULL when the adapter keeps none). */
    void (*stream_free)(tg_stream_state_t *st);
    /**
     * An upstream error body (a 4xx the client should see) in OpenAI's error shape, written to
     * out. x is the finished transfer (its status and error_type header). Returns 0, or -1 when
     * body is not this provider's error shape. NULL: bodies are OpenAI-shaped already.
     */
    int (*error)(const tg_xfer_t *x, const char *body, size_t len, tg_buf_t *out);
} tg_adapter_t;

/** The adapters, one file each. */
extern const tg_adapter_t tg_openai_adapter;
extern const tg_adapter_t tg_anthropic_adapter;
extern const tg_adapter_t tg_gemini_adapter;
extern const tg_adapter_t tg_bedrock_adapter;

/**
 * Per-provider data an adapter builds once per configuration generation (tg_provider_t.ext),
 * such as its curl header lists and parsed URLs. The first member frees it.
 */
typedef struct tg_provider_ext_s {
    void (*destroy)(struct tg_provider_ext_s *ext);
} tg_provider_ext_t;

/** tg_config_set_ext_free callback: frees any adapter's tg_provider_ext_t. */
void tg_provider_ext_free(void *ext);

/** The adapter for a provider kind. */
const tg_adapter_t *tg_adapter_for(tg_provider_kind_t kind);

/** Read an OpenAI-shaped usage object into u (u->reported = 1). Returns 0, or -1 if absent. */
int tg_openai_usage(json_t *usage, tg_usage_t *u);

#endif
