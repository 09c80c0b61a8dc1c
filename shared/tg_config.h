/*
 * The configuration: YAML files (the main file plus its includes) compiled into one immutable,
 * reference-counted object. The master loads and validates it; workers receive the same source
 * text over their channel and compile it themselves, so every process runs the exact bytes the
 * master validated. Errors are reported as "file:line:col: reason".
 */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_money.h"

#define TG_CONFIG_ERR_MAX 512

typedef enum { TG_PROVIDER_OPENAI = 1, TG_PROVIDER_ANTHROPIC, TG_PROVIDER_AZURE,
               TG_PROVIDER_GEMINI, TG_PROVIDER_BEDROCK } tg_provider_kind_t;

enum {
    TG_CAP_TOOLS = 1 << 0,
    TG_CAP_VISION = 1 << 1,
    TG_CAP_JSON = 1 << 2,
    TG_CAP_REASONING = 1 << 3,
    TG_CAP_EMBEDDINGS = 1 << 4,
};

/** A header sent with every request to one provider. */
typedef struct {
    char *name;
    char *value;
} tg_header_t;

/** An upstream API endpoint and its credentials. */
typedef struct {
    char *name;
    tg_provider_kind_t kind;
    char *base_url;     /* without trailing slash, e.g. https://api.openai.com/v1 */
    char *api_key;      /* secret, resolved from the environment; NULL when none. Never log. */
    tg_header_t *headers;
    size_t nheaders;
    int http2; /* use libcurl's full HTTP stack (HTTP/2 when offered) instead of the h1 pool */
    char *api_version; /* kind azure: the api-version query parameter */
    enum {
        TG_KEY_NONE = 0,
        TG_KEY_FROM_ENV,
        TG_KEY_FROM_FILE,
        TG_KEY_ROTATED, /* replaced live with tollgatectl providers rotate-key */
    } key_source;       /* of api_key */
    /* kind bedrock: the region and SigV4 credentials (the secret and token: never log) */
    char *region;
    char *aws_access_key_id;
    char *aws_secret_access_key;
    char *aws_session_token; /* temporary credentials only; NULL otherwise */
    int aws_key_source;      /* TG_KEY_* of aws_secret_access_key */
    void *ext; /* per-process data built lazily from this provider (e.g. curl header lists) */
} tg_provider_t;

/** A public model name and where and at what price it is served. */
typedef struct {
    char *name;
    char *upstream_model;
    tg_provider_t *provider; /* mutable only for its per-process ext cache */
    tg_price_t price;
    int64_t context_window;
    int64_t max_output_tokens;
    unsigned caps;
} tg_model_t;

/** One source file of a configuration, kept so workers can compile the same bytes. */
typedef struct {
    char *path;
    char *data;
    size_t len;
} tg_config_file_t;

typedef struct {
    tg_config_file_t *files;
    size_t nfiles;
    int from_disk; /* 1: missing includes are read from disk; 0: only what is here */
} tg_config_source_t;

typedef struct tg_route_s tg_route_t; /* shared/tg_route.h */

/** When a target's circuit breaker opens and closes (shared/tg_health.h). */
typedef struct {
    int failures;          /* consecutive failures that open the breaker; 0: never by count */
    double error_rate;     /* failure share over a window that opens it; 0: never by rate */
    int min_requests;      /* ... once the window has at least this many answers */
    int64_t window_ms;     /* the error-rate window */
    int64_t cooldown_ms;   /* open -> half-open */
    int64_t probe_ms;      /* a half-open probe's lease */
} tg_breaker_conf_t;


typedef struct tg_config_s {
    int refs;
    unsigned generation;
    char *path;
    unsigned char sha256[32]; /* over all source files, in order */
    tg_config_source_t source;

    char **listen;
    size_t nlisten;
    int workers;
    char *pid_file;
    char *admin_socket; /* unix socket path for tollgatectl; NULL: none */
    char *error_log;
    char *access_log; /* NULL: off */
    int log_level;
    int64_t shutdown_timeout_ms;

    struct {
        size_t max_body_size;
        size_t max_header_size;
        int64_t header_timeout_ms;
        int64_t body_timeout_ms;
        int64_t keepalive_timeout_ms;
        int64_t send_timeout_ms;
        int max_connections;
    } http;

    struct {
        int64_t connect_timeout_ms;
        int64_t first_byte_timeout_ms;
        int64_t stream_idle_timeout_ms;
        int64_t total_timeout_ms;
        size_t max_response_size;
        int verify_tls;
    } upstream;

    struct {
        char *path;              /* NULL: no store (no virtual keys, limits or metering) */
        char *pepper_file;       /* default <path>/pepper */
        size_t control_map_size;
        size_t meter_map_size;
        int meter_writemap; /* MDB_WRITEMAP on the meter environment (default off) */
        int64_t sync_interval_ms;
        int64_t event_retention_ms;
    } store;

    int auth_keys; /* 1: every /v1 request needs a virtual key ("auth: keys") */

    struct {
        char *listen; /* HOST:PORT of the admin HTTP API and /metrics (master/admin_http.c) */
        char *token;  /* its bearer token: a secret (never logged, wiped on free) */
    } admin_http;     /* listen NULL: no admin HTTP listener */

    tg_provider_t *providers;
    size_t nproviders;
    tg_model_t *models; /* sorted by name */
    size_t nmodels;
    tg_route_t *routes; /* sorted by name */
    size_t nroutes;
    tg_breaker_conf_t breaker;
    const tg_model_t *baseline; /* what traffic off any route with a baseline is compared with */
    char *baseline_name;        /* (resolved once the models are known) */
} tg_config_t;

/**
 * Load and validate the configuration whose main file is path, reading it and its includes from
 * disk. On failure returns NULL and writes "file:line:col: reason" into err.
 */
tg_config_t *tg_config_load_file(const char *path, char *err, size_t errlen);

/**
 * Compile a configuration from source files already in memory (files[0] is the main file).
 * Takes ownership of nothing; copies what it keeps. Same errors as tg_config_load_file.
 */
tg_config_t *tg_config_load_source(const tg_config_source_t *src, char *err, size_t errlen);

/** Take a reference. */
tg_config_t *tg_config_ref(tg_config_t *cf);

/** Drop a reference; frees (and wipes secrets) when it was the last. NULL is ignored. */
void tg_config_unref(tg_config_t *cf);

/** Find a model by public name (binary search); NULL when not configured. */
const tg_model_t *tg_config_model(const tg_config_t *cf, const char *name, size_t len);

/** Parse "30s", "500ms", "2m", "1h", "1d" or bare seconds into milliseconds; -1 when invalid. */
int64_t tg_parse_duration_ms(const char *s);

/** Parse "8m", "16k", "1g" or bare bytes; returns -1 when invalid. */
int64_t tg_parse_size(const char *s);

/**
 * Replace a provider's API key in place (wiping the old one). Only for a configuration no
 * request is using (the master's); workers compile a fresh copy first. For a bedrock provider
 * that signs with SigV4, key is "ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]" (all replaced) or a bare
 * secret access key. Returns 0, or -1 when there is no such provider or the key holds a control
 * character or is malformed.
 */
int tg_config_set_provider_key(tg_config_t *cf, const char *provider, const char *key);

/**
 * Remember a live-rotated key for provider in this process: every configuration compiled from
 * now on (reloads included) uses it instead of the configured one, until the process ends.
 * Forked workers inherit the list. Returns 0, or -1 (out of memory, control character).
 */
int tg_config_override_key(const char *provider, const char *key);

/** Forget every remembered key (wiping them). */
void tg_config_overrides_clear(void);

/** Register how to free tg_provider_t.ext when a configuration is freed (once per process). */
void tg_config_set_ext_free(void (*fn)(void *ext));

/** 1 when p signs its requests with AWS SigV4 (kind bedrock with an access key pair). */
int tg_provider_sigv4(const tg_provider_t *p);

/** The configuration name of a provider kind ("openai", ..., "bedrock"). */
const char *tg_provider_kind_name(tg_provider_kind_t kind);

/** Hex SHA-256 of the configuration's source (65 bytes incl. NUL). */
void tg_config_sha256_hex(const tg_config_t *cf, char out[65]);

#endif
