/*
 * tollgate-sim: a deterministic fake LLM provider for tests, the demo and benchmarks.
 * This header is the contract between the simulator's parts: the server core (sim.c,
 * sim_http.c), the response engine (sim_reply.c), fault rules (sim_fault.c), the control
 * API (sim_control.c), deterministic text (sim_text.c) and the wire formats: OpenAI
 * (sim_openai*.c), Anthropic Messages (sim_anthropic.c), Google Gemini (sim_gemini*.c) and AWS
 * Bedrock Converse (sim_bedrock*.c).
 */
#ifndef TG_SIM_H
#define TG_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

/** How many recent requests GET /_sim/stats reports in `last`. */
#define SIM_LAST_MAX 50

/** Value of a fault field that was not given. */
#define SIM_UNSET (-1L)

/**
 * One set of fault settings. Every field is SIM_UNSET unless given; see docs/sim.md for
 * the meaning of each key. `count` is only meaningful on rules.
 */
typedef struct sim_fault_t {
    long status;
    long latency_ms;
    long ttft_ms;
    long tps;
    long tokens;
    long reset_after;
    long stall;
    long stall_after;
    long cached;
    long cache_write;
    long error_event;
    long safety;
    long count;
} sim_fault_t;

/** A per-model fault rule, from --fault or POST /_sim/faults. Owned by the rule list. */
typedef struct sim_rule_t {
    char *model; /* "*" matches every model */
    sim_fault_t fault;
    struct sim_rule_t *next;
} sim_rule_t;

/** Request statistics for GET /_sim/stats. */
typedef struct sim_stats_t {
    uint64_t requests;
    json_t *by_model;           /* model name -> integer count; owned */
    json_t *last[SIM_LAST_MAX]; /* ring buffer of request records; owned */
    size_t last_next;           /* slot the next record goes to */
    size_t last_len;
} sim_stats_t;

typedef struct sim_job_t sim_job_t;

/** Which provider's wire format a request speaks; it decides the shape of every reply. */
typedef enum sim_wire_t {
    SIM_WIRE_OPENAI = 0,
    SIM_WIRE_ANTHROPIC,
    SIM_WIRE_GEMINI,
    SIM_WIRE_BEDROCK,
} sim_wire_t;

/** The whole simulator. One per process; passed to every callback, never global. */
typedef struct sim_t {
    struct event_base *base;
    struct evhttp *http;
    struct event *sig_int;
    struct event *sig_term;

    char *host;
    int port;
    char *api_key; /* NULL: no authentication */
    /* Bedrock: SigV4 credentials requests must be signed with (NULL: not checked) */
    char *aws_access_key_id;
    char *aws_secret_access_key;
    char *aws_session_token;
    char **models;
    size_t n_models;
    bool quiet;

    uint64_t next_id;
    long active_streams;
    sim_rule_t *rules; /* oldest first */
    sim_stats_t stats;
    sim_job_t *jobs;     /* responses still in flight, see sim_reply.c */
    struct event *sweep; /* finds clients that left while their job waits, see sim_reply.c */
} sim_t;

/** Per-request context, built by the dispatcher and valid until the handler returns. */
typedef struct sim_req_t {
    sim_t *sim;
    struct evhttp_request *req;
    uint64_t id;
    char rid[32];     /* "sim-<id>", sent as x-request-id */
    const char *path; /* decoded path without the query string */
    bool azure;       /* an Azure OpenAI deployment path (api-key header) */
    const char *method;
    json_t *body;      /* parsed JSON body or NULL; borrowed */
    const char *model; /* body's "model" if a string, else NULL; borrowed */
    sim_fault_t fault; /* merged headers > body "sim" > rules */
    bool stream;       /* the response will be an event stream */
    sim_wire_t wire;   /* chosen from the path (and headers) before the request is recorded */
    const char *ctype; /* content type of a stream; NULL: text/event-stream */
    int key_in_url;    /* Gemini: 1 if the API key came as ?key=, 0 if not; -1: other formats */
} sim_req_t;

/* ---- sim_http.c: routing and plain responses ---- */

/** evhttp generic callback: routes every request. */
void sim_http_dispatch(struct evhttp_request *req, void *arg);

/** Logs one line for a request to stderr unless --quiet; `note` items each start with a space. */
void sim_http_log(const sim_req_t *r, int status, const char *note);

/**
 * Sends an OpenAI-shaped error `{"error":{message,type,param,code}}` through the response
 * engine (so latency, reset and stall faults still apply). param/code may be NULL.
 */
void sim_reply_error(sim_req_t *r, int status, const char *type, const char *message,
                     const char *param, const char *code);

/** The HTTP reason phrase for a status code. */
const char *sim_http_reason(int status);

/* ---- sim_reply.c: the response engine ---- */

/** Flags on a stream event. */
#define SIM_EV_PACED 1u /* wait 1/tps seconds before sending it */

/** A list of pre-rendered stream events (each already framed, e.g. "data: ...\n\n"). */
typedef struct sim_events_t {
    char **text;
    size_t *len;
    unsigned *flags;
    size_t n;
    size_t cap;
} sim_events_t;

/** Appends `data: <compact json>\n\n`. Returns 0 or -1 (out of memory). */
int sim_events_add_json(sim_events_t *ev, const json_t *obj, unsigned flags);

/**
 * Appends `<prefix><compact json><suffix>`, for the other framings: Anthropic's
 * `event: NAME\ndata: ` prefix, Gemini's `\r\n\r\n` suffix, or a streamed JSON array.
 * Returns 0 or -1 (out of memory).
 */
int sim_events_add_frame(sim_events_t *ev, const char *prefix, const json_t *obj,
                         const char *suffix, unsigned flags);

/**
 * Keeps the first `n` events and drops the rest (no-op if there are fewer), so a format can
 * end a stream early with an error event of its own.
 */
void sim_events_truncate(sim_events_t *ev, size_t n);

/** Appends raw framed text. Returns 0 or -1 (out of memory). */
int sim_events_add_raw(sim_events_t *ev, const char *text, unsigned flags);

/** Appends len bytes of framed binary data (AWS event-stream frames). Returns 0 or -1. */
int sim_events_add_bytes(sim_events_t *ev, const void *data, size_t len, unsigned flags);

/** Frees the events' storage (not the struct itself). */
void sim_events_clear(sim_events_t *ev);

/**
 * Sends a complete JSON response. Takes ownership of `obj` (may be NULL on allocation
 * failure: a 500 is sent instead). Honors latency_ms, reset_after=0, stall, stall_after=0.
 * `extra_header`/`extra_value` add one header (e.g. retry-after), may be NULL.
 */
void sim_reply_json(sim_req_t *r, int status, json_t *obj, const char *extra_header,
                    const char *extra_value);

/** Sends a plain-text response (used by /healthz); no faults apply. */
void sim_reply_text(sim_req_t *r, int status, const char *text);

/**
 * Sends an event stream (content-type text/event-stream, chunked), one write per event.
 * Takes ownership of the events' storage and clears `ev`. Honors every timing fault.
 */
void sim_reply_stream(sim_req_t *r, sim_events_t *ev);

/** Frees every response still in flight (at shutdown, after evhttp_free). */
void sim_reply_shutdown(sim_t *sim);

/* ---- sim_fault.c: fault settings and rules ---- */

/** Sets every field of `f` to SIM_UNSET. */
void sim_fault_init(sim_fault_t *f);

/**
 * Sets one key (without the "x-sim-" prefix) from text. Returns 0, or -1 for an unknown key
 * or a value that is not a non-negative integer; `err` then holds a message.
 */
int sim_fault_set(sim_fault_t *f, const char *key, const char *val, char *err, size_t errlen);

/** Like sim_fault_set but from a JSON value (integer, integral real, boolean or string). */
int sim_fault_set_json(sim_fault_t *f, const char *key, const json_t *val, char *err,
                       size_t errlen);

/** Parses a --fault argument `MODEL:key=val,...` and appends the rule. Returns 0 or -1. */
int sim_fault_add_spec(sim_t *sim, const char *spec, char *err, size_t errlen);

/** Appends a rule; takes a copy of `model`. Returns 0 or -1 (out of memory). */
int sim_fault_add_rule(sim_t *sim, const char *model, const sim_fault_t *f);

/**
 * Adds a rule from a control-API object `{"model":"gpt-4o","status":500,"count":3}`
 * (model defaults to "*"). Returns 0, or -1 with a message in `err`.
 */
int sim_fault_add_json(sim_t *sim, const json_t *obj, char *err, size_t errlen);

/** Removes and frees every rule. */
void sim_fault_clear(sim_t *sim);

/**
 * Fills r->fault from the x-sim-* headers, the body's "sim" object and the first matching
 * rule, in that priority, and consumes one use of that rule. Returns 0, or -1 with a message
 * in `err` when a header or body key is invalid.
 */
int sim_fault_resolve(sim_req_t *r, char *err, size_t errlen);

/**
 * The cache faults for a prompt of `prompt` tokens: *cached = the cached fault (at most the
 * prompt) and, when written is not NULL, *written = the cache_write fault (at most what is left).
 */
void sim_fault_cache(const sim_fault_t *f, long prompt, long *cached, long *written);

/** The rules as a JSON array (for GET /_sim/faults). */
json_t *sim_fault_rules_json(const sim_t *sim);

/* ---- sim_control.c: the /_sim control API and statistics ---- */

/** Records a request for /_sim/stats (takes its own reference to r->body). */
void sim_stats_record(sim_req_t *r);

/** Frees the statistics' storage and resets them to empty. */
void sim_stats_clear(sim_stats_t *st);

/** Handles /_sim/... requests. */
void sim_control_handle(sim_req_t *r);

/* ---- sim_text.c: deterministic text, token counting, encodings ---- */

/** FNV-1a 64-bit hash of `len` bytes, chained from `h` (start with SIM_HASH_INIT). */
#define SIM_HASH_INIT 0xcbf29ce484222325ULL
uint64_t sim_hash(uint64_t h, const void *data, size_t len);

/** Token count of `len` bytes of text: 0 if empty, else ceil(len / 4). */
long sim_tokens(size_t len);

/** The word for position i of a completion seeded by `seed`. */
const char *sim_word(uint64_t seed, size_t i);

/** A deterministic pseudo-random sequence step (splitmix64). */
uint64_t sim_mix(uint64_t *state);

/**
 * Bounded, checked formatting for messages and ids: always NUL-terminates, marks truncated
 * output with a trailing "..." and falls back to a fixed text if formatting itself fails.
 * Returns 0, or -1 if the output was truncated or could not be formatted.
 */
int sim_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Base64 (standard alphabet, padded) of `len` bytes; returns a malloc'd string or NULL. */
char *sim_base64(const unsigned char *data, size_t len);

/** The seed of an answer: a hash of the model name, a newline and the last user text. */
uint64_t sim_text_seed(const char *model, const char *text, size_t len);

/**
 * Piece i of an n-token answer into `buf`: the word, a space unless it is the last piece,
 * and in JSON mode `{"answer":"` before the first and `"}` after the last. An empty string
 * if it does not fit.
 */
void sim_text_piece(uint64_t seed, size_t i, size_t n, bool json_mode, char *buf, size_t len);

/** An answer's text split into its stream pieces (one per output token). */
typedef struct sim_words_t {
    char *text;       /* the whole answer, NUL-terminated; owned */
    size_t *end;      /* end[i] is the offset just past piece i; owned */
    size_t n;         /* pieces, after a stop sequence cut the text */
    const char *stop; /* the stop sequence that cut it (borrowed from the request) or NULL */
} sim_words_t;

/**
 * Builds an n-token answer and cuts it before the earliest occurrence of any string in the
 * JSON array `stops` (may be NULL); a piece the cut goes through is shortened, pieces after
 * it are dropped. Returns 0 or -1 (out of memory; `w` is then empty).
 */
int sim_words_make(sim_words_t *w, uint64_t seed, size_t n, bool json_mode, const json_t *stops);

/** Piece i of `w` as a JSON string, or NULL (out of memory). */
json_t *sim_words_piece(const sim_words_t *w, size_t i);

/** Frees the storage of `w`. */
void sim_words_free(sim_words_t *w);

/** The canned arguments of a simulated tool call: `{"location":"Paris"}` if the JSON schema
 * `schema` has a `location` property, otherwise `{}`. */
const char *sim_text_tool_args(const json_t *schema);

/* ---- sim_openai.c / sim_openai_embed.c: OpenAI wire format ---- */

/** POST /v1/chat/completions; r->body is a JSON object. */
void sim_openai_chat(sim_req_t *r);

/** POST /v1/completions; r->body is a JSON object. */
void sim_openai_completions(sim_req_t *r);

/** POST /v1/embeddings; r->body is a JSON object. */
void sim_openai_embeddings(sim_req_t *r);

/** GET /v1/models and GET /v1/models/{id}. */
void sim_openai_models(sim_req_t *r, const char *id);

/** The usage object shared by chat and completions. */
json_t *sim_openai_usage(long prompt, long completion, long cached);

/** A deterministic unit vector of `dims` values for the input hash `h` (embeddings). */
void sim_embed_vector(uint64_t h, float *vec, size_t dims);

/* ---- sim_anthropic.c: Anthropic Messages API ---- */

/** POST /v1/messages; r->body is a JSON object. */
void sim_anthropic_messages(sim_req_t *r);

/** POST /v1/messages/count_tokens; r->body is a JSON object. */
void sim_anthropic_count_tokens(sim_req_t *r);

/** GET /v1/models and /v1/models/{id} for a client that sends anthropic-version. */
void sim_anthropic_models(sim_req_t *r, const char *id);

/**
 * Sends `{"type":"error","error":{"type",...,"message"},"request_id"}` with the error type
 * Anthropic uses for `status` (429 adds retry-after: 1). Faults still apply, as for OpenAI.
 */
void sim_anthropic_error(sim_req_t *r, int status, const char *message);

/**
 * The x-api-key check and the anthropic-version check. Returns 0 if the request may go on,
 * or -1 after sending the 401 or 400.
 */
int sim_anthropic_check(sim_req_t *r);

/* ---- sim_gemini.c / sim_gemini_embed.c: Google Gemini API ---- */

/** POST .../models/{model}:generateContent and :streamGenerateContent. */
void sim_gemini_generate(sim_req_t *r);
void sim_gemini_stream(sim_req_t *r);

/** POST .../models/{model}:countTokens. */
void sim_gemini_count_tokens(sim_req_t *r);

/** POST .../models/{model}:embedContent and :batchEmbedContents. */
void sim_gemini_embed(sim_req_t *r);
void sim_gemini_batch_embed(sim_req_t *r);

/** GET /v1beta/models and /v1beta/models/{model}. */
void sim_gemini_models(sim_req_t *r, const char *id);

/**
 * Sends `{"error":{"code","message","status"}}` with Google's status name for `code`
 * (429 adds a RetryInfo detail). Faults still apply.
 */
void sim_gemini_error(sim_req_t *r, int code, const char *message);

/**
 * The API key check (x-goog-api-key, else ?key=). Returns 0 if the request may go on, or -1
 * after sending Google's answer: 403 PERMISSION_DENIED without a key, 400 INVALID_ARGUMENT
 * (reason API_KEY_INVALID) with a wrong one.
 */
int sim_gemini_check(sim_req_t *r);

/**
 * A request field by its JSON name or its proto (snake_case) name: Google accepts both
 * `generationConfig` and `generation_config`.
 */
const json_t *sim_gemini_get(const json_t *obj, const char *camel, const char *snake);

/* ---- sim_bedrock.c / sim_bedrock_auth.c: AWS Bedrock Converse ---- */

/** POST /model/{modelId}/converse and /converse-stream; r->model is the model id. */
void sim_bedrock_converse(sim_req_t *r);
void sim_bedrock_converse_stream(sim_req_t *r);

/**
 * Sends Bedrock's error: `{"message": ...}` with x-amzn-ErrorType for `status` (400
 * ValidationException, 429 ThrottlingException, ...). Faults still apply.
 */
void sim_bedrock_error(sim_req_t *r, int status, const char *message);

/** Sends `{"message": ...}` with this x-amzn-ErrorType (403s of the auth check). */
void sim_bedrock_error_typed(sim_req_t *r, int status, const char *type, const char *message);

/**
 * The credential check: a SigV4 signature verified with --aws-secret-access-key, or
 * `Authorization: Bearer` with --api-key. Returns 0 if the request may go on, or -1 after
 * sending AWS's 403.
 */
int sim_bedrock_check(sim_req_t *r);

#endif /* TG_SIM_H */
