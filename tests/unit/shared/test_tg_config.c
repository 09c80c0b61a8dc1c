/*
 * Unit tests for shared/tg_config.c: compiling YAML sources (in memory and from disk) into a
 * configuration, the defaults, environment expansion, include resolution, and the exact
 * "file:line:col: message" of every validation error an operator is likely to meet. Leaks and
 * bad frees on every success and failure path are caught by the ASan build.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/tg_config.h"

#define MIB (1024 * 1024)

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *text;
} srcfile_t;

/* Compile in-memory files (files[0] is the main file). */
static tg_config_t *load_files(const srcfile_t *files, size_t n, char *err, size_t errlen)
{
    tg_config_file_t f[8];
    tg_config_source_t src = {.files = f, .nfiles = n, .from_disk = 0};

    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        f[i].path = (char *)files[i].path;
        f[i].data = (char *)files[i].text;
        f[i].len = strlen(files[i].text);
    }
    return tg_config_load_source(&src, err, errlen);
}

static tg_config_t *load_text(const char *text, char *err, size_t errlen)
{
    srcfile_t f = {"main.yaml", text};

    return load_files(&f, 1, err, errlen);
}

/* Loading must fail with an error that starts with prefix. */
static void expect_files_error(const srcfile_t *files, size_t n, const char *prefix)
{
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;

    memset(err, 'X', sizeof(err));
    cf = load_files(files, n, err, sizeof(err));
    if (cf != NULL) {
        tg_config_unref(cf);
        ck_abort_msg("config must be rejected with \"%s...\"", prefix);
    }
    ck_assert_msg(memchr(err, '\0', sizeof(err)) != NULL, "error must be NUL-terminated");
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                  "error was \"%s\", expected it to start with \"%s\"", err, prefix);
}

static void expect_error(const char *text, const char *prefix)
{
    srcfile_t f = {"main.yaml", text};

    expect_files_error(&f, 1, prefix);
}

/* The smallest valid configuration; error tests append to or edit it. Lines 1-9. */
#define BASE                                                                                       \
    "listen: 8080\n"                                                                               \
    "providers:\n"                                                                                 \
    "  openai:\n"                                                                                  \
    "    kind: openai\n"                                                                           \
    "    base_url: http://127.0.0.1:9090/v1\n"                                                     \
    "models:\n"                                                                                    \
    "  m1:\n"                                                                                      \
    "    provider: openai\n"                                                                       \
    "    price: {input: 1, output: 2}\n"

/* A realistic main file and include, as the master would load them. */
static const char full_main[] = "# Tollgate test configuration\n"
                                "listen:\n"
                                "  - 127.0.0.1:8080\n"
                                "  - \"[::1]:8081\"\n"
                                "providers:\n"
                                "  openai:\n"
                                "    kind: openai\n"
                                "    base_url: https://api.openai.com/v1/\n"
                                "    api_key: ${TG_TEST_OPENAI_KEY}\n"
                                "    headers:\n"
                                "      OpenAI-Organization: ${TG_TEST_ORG_UNSET:-org-default}\n"
                                "      X-Trace: \"pre-${TG_TEST_TRACE}-post\"\n"
                                "models:\n"
                                "  gpt-4o:\n"
                                "    provider: openai\n"
                                "    price: {input: 2.50, output: 10.00, cached_input: 1.25, cache_write: 3.125}\n"
                                "    context_window: 128000\n"
                                "    max_output_tokens: 16384\n"
                                "    capabilities: [tools, vision, json]\n"
                                "  alpha:\n"
                                "    provider: openai\n"
                                "    upstream_model: alpha-2024-05-13\n"
                                "    price:\n"
                                "      input: 0.075\n"
                                "      output: 0.3\n"
                                "include: catalog.yaml\n";

/* Its include uses a provider of its own and one from the main file. */
static const char full_catalog[] = "providers:\n"
                                   "  local:\n"
                                   "    kind: openai\n"
                                   "    base_url: http://127.0.0.1:9090/v1\n"
                                   "models:\n"
                                   "  zeta: {provider: local, price: {input: 0, output: 0}}\n"
                                   "  beta:\n"
                                   "    provider: openai\n"
                                   "    price: {input: 10, output: 30}\n"
                                   "    capabilities: [reasoning, embeddings]\n";

static tg_config_t *load_full(char *err, size_t errlen)
{
    srcfile_t files[] = {{"/etc/tollgate/main.yaml", full_main},
                         {"/etc/tollgate/catalog.yaml", full_catalog}};

    setenv("TG_TEST_OPENAI_KEY", "sk-test-123", 1);
    setenv("TG_TEST_TRACE", "abc", 1);
    unsetenv("TG_TEST_ORG_UNSET");
    return load_files(files, 2, err, errlen);
}

static const tg_model_t *find(const tg_config_t *cf, const char *name)
{
    return tg_config_model(cf, name, strlen(name));
}

/* ---- a valid configuration ------------------------------------------------------------ */

START_TEST(full_config_loads)
{
    /* The realistic config with an include compiles; providers and listeners are as written. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_full(err, sizeof(err));

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_str_eq(cf->path, "/etc/tollgate/main.yaml");
    ck_assert_uint_eq(cf->nlisten, 2);
    ck_assert_str_eq(cf->listen[0], "127.0.0.1:8080");
    ck_assert_str_eq(cf->listen[1], "[::1]:8081");
    ck_assert_uint_eq(cf->nproviders, 2);
    ck_assert_str_eq(cf->providers[0].name, "openai");
    ck_assert_int_eq(cf->providers[0].kind, TG_PROVIDER_OPENAI);
    /* trailing slashes are dropped so paths can be appended */
    ck_assert_str_eq(cf->providers[0].base_url, "https://api.openai.com/v1");
    ck_assert_str_eq(cf->providers[1].name, "local");
    ck_assert_ptr_null(cf->providers[1].api_key);
    ck_assert_uint_eq(cf->nmodels, 4);
    ck_assert_uint_eq(cf->source.nfiles, 2);
    ck_assert_int_eq(cf->refs, 1);
    tg_config_unref(cf);
}
END_TEST

START_TEST(models_sorted_and_found)
{
    /* Models from main file and include are sorted by name and found by binary search. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_full(err, sizeof(err));
    static const char *const order[] = {"alpha", "beta", "gpt-4o", "zeta"};

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_uint_eq(cf->nmodels, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(cf->models[i].name, order[i]);
        ck_assert_ptr_eq(find(cf, order[i]), &cf->models[i]);
    }
    ck_assert_ptr_eq(find(cf, "zeta")->provider, &cf->providers[1]);
    ck_assert_ptr_eq(find(cf, "beta")->provider, &cf->providers[0]);
    ck_assert_ptr_null(find(cf, "gpt-4"));
    ck_assert_ptr_null(find(cf, "gpt-4o-mini"));
    ck_assert_ptr_null(find(cf, "GPT-4o"));
    ck_assert_ptr_null(find(cf, ""));
    ck_assert_ptr_null(find(cf, "aaa"));
    ck_assert_ptr_null(find(cf, "zzz"));
    /* the name is length-delimited: a longer buffer with the right length still matches */
    ck_assert_ptr_eq(tg_config_model(cf, "gpt-4o-mini", 6), find(cf, "gpt-4o"));
    ck_assert_ptr_eq(tg_config_model(cf, "alphabet", 5), find(cf, "alpha"));
    ck_assert_ptr_null(tg_config_model(cf, "alphabet", 4));
    tg_config_unref(cf);
}
END_TEST

START_TEST(model_lookup_with_embedded_nul)
{
    /*
     * tg_config_model takes (name, len): a name whose len bytes contain a NUL equals no model
     * and must not be compared past the configured name's end (ASan reports an overread).
     */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_full(err, sizeof(err));
    static const char name[] = "gpt-4o\0-with-a-nul";

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_ptr_null(tg_config_model(cf, name, sizeof(name) - 1));
    tg_config_unref(cf);
}
END_TEST

START_TEST(model_fields)
{
    /* Prices are pico-dollars per token (2.50 -> 2500000); unset fields take their defaults. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_full(err, sizeof(err));
    const tg_model_t *m;

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    m = find(cf, "gpt-4o");
    ck_assert_int_eq(m->price.input, 2500000);
    ck_assert_int_eq(m->price.output, 10000000);
    ck_assert_int_eq(m->price.cached, 1250000);
    ck_assert_int_eq(m->price.cache_write, 3125000);
    ck_assert_str_eq(m->upstream_model, "gpt-4o"); /* defaults to the public name */
    ck_assert_int_eq(m->context_window, 128000);
    ck_assert_int_eq(m->max_output_tokens, 16384);
    ck_assert_uint_eq(m->caps, TG_CAP_TOOLS | TG_CAP_VISION | TG_CAP_JSON);

    m = find(cf, "alpha");
    ck_assert_int_eq(m->price.input, 75000);
    ck_assert_int_eq(m->price.output, 300000);
    ck_assert_int_eq(m->price.cached, -1); /* no cached price: same as input */
    ck_assert_int_eq(m->price.cache_write, -1);
    ck_assert_str_eq(m->upstream_model, "alpha-2024-05-13");
    ck_assert_int_eq(m->context_window, 128000);
    ck_assert_int_eq(m->max_output_tokens, 4096);
    ck_assert_uint_eq(m->caps, 0);

    m = find(cf, "zeta");
    ck_assert_int_eq(m->price.input, 0);
    ck_assert_int_eq(m->price.output, 0);
    m = find(cf, "beta");
    ck_assert_int_eq(m->price.input, 10000000);
    ck_assert_int_eq(m->price.output, 30000000);
    ck_assert_uint_eq(m->caps, TG_CAP_REASONING | TG_CAP_EMBEDDINGS);
    tg_config_unref(cf);
}
END_TEST

START_TEST(defaults)
{
    /* Everything not written takes the documented default. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_text(BASE, err, sizeof(err));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_int_eq(cf->workers, ncpu > 0 ? ncpu : 1);
    ck_assert_uint_eq(cf->nlisten, 1);
    ck_assert_str_eq(cf->listen[0], "8080");
    ck_assert_ptr_null(cf->pid_file);
    ck_assert_ptr_null(cf->admin_socket);
    ck_assert_str_eq(cf->error_log, "stderr");
    ck_assert_ptr_null(cf->access_log);
    ck_assert_int_eq(cf->shutdown_timeout_ms, 30000);
    ck_assert_uint_eq(cf->http.max_body_size, 8 * MIB);
    ck_assert_uint_eq(cf->http.max_header_size, 16 * 1024);
    ck_assert_int_eq(cf->http.header_timeout_ms, 10000);
    ck_assert_int_eq(cf->http.body_timeout_ms, 30000);
    ck_assert_int_eq(cf->http.keepalive_timeout_ms, 75000);
    ck_assert_int_eq(cf->http.send_timeout_ms, 60000);
    ck_assert_int_eq(cf->http.max_connections, 10000);
    ck_assert_int_eq(cf->upstream.connect_timeout_ms, 5000);
    ck_assert_int_eq(cf->upstream.first_byte_timeout_ms, 120000);
    ck_assert_int_eq(cf->upstream.stream_idle_timeout_ms, 60000);
    ck_assert_int_eq(cf->upstream.total_timeout_ms, 600000);
    ck_assert_uint_eq(cf->upstream.max_response_size, 64 * MIB);
    ck_assert_int_eq(cf->upstream.verify_tls, 1);
    ck_assert_ptr_null(cf->providers[0].api_key);
    ck_assert_uint_eq(cf->providers[0].nheaders, 0);
    ck_assert_int_eq(cf->store.meter_writemap, 0);
    ck_assert_int_eq(cf->store.sync_interval_ms, 1000);
    tg_config_unref(cf);
}
END_TEST

START_TEST(store_meter_writemap_parsed)
{
    /* store.meter_writemap is a boolean, off unless written */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_text(BASE "store: {path: /tmp/x, meter_writemap: on}\n", err,
                                sizeof(err));

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_int_eq(cf->store.meter_writemap, 1);
    tg_config_unref(cf);
    cf = load_text(BASE "store: {path: /tmp/x, meter_writemap: maybe}\n", err, sizeof(err));
    ck_assert_ptr_null(cf);
    ck_assert_msg(strstr(err, "meter_writemap") != NULL, "%s", err);
}
END_TEST

START_TEST(settings_override_defaults)
{
    /* Every main-file setting, when written, replaces its default. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_text(BASE "workers: 3\n"
                                     "pid_file: /run/tg.pid\n"
                                     "admin_socket: /run/tg.sock\n"
                                     "shutdown_timeout: 5s\n"
                                     "log: {level: debug, error_log: /var/log/e, access_log: /a}\n"
                                     "http:\n"
                                     "  max_body_size: 1m\n"
                                     "  max_header_size: 32k\n"
                                     "  header_timeout: 500ms\n"
                                     "  body_timeout: 2m\n"
                                     "  keepalive_timeout: 0\n"
                                     "  send_timeout: 1h\n"
                                     "  max_connections: 7\n"
                                     "upstream:\n"
                                     "  connect_timeout: 1s\n"
                                     "  first_byte_timeout: 30s\n"
                                     "  stream_idle_timeout: 15\n"
                                     "  total_timeout: 1d\n"
                                     "  max_response_size: 1g\n"
                                     "  verify_tls: false\n",
                                err, sizeof(err));

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_int_eq(cf->workers, 3);
    ck_assert_str_eq(cf->pid_file, "/run/tg.pid");
    ck_assert_str_eq(cf->admin_socket, "/run/tg.sock");
    ck_assert_int_eq(cf->shutdown_timeout_ms, 5000);
    ck_assert_int_eq(cf->log_level, 0 /* TG_LOG_DEBUG */);
    ck_assert_str_eq(cf->error_log, "/var/log/e");
    ck_assert_str_eq(cf->access_log, "/a");
    ck_assert_uint_eq(cf->http.max_body_size, MIB);
    ck_assert_uint_eq(cf->http.max_header_size, 32 * 1024);
    ck_assert_int_eq(cf->http.header_timeout_ms, 500);
    ck_assert_int_eq(cf->http.body_timeout_ms, 120000);
    ck_assert_int_eq(cf->http.keepalive_timeout_ms, 0);
    ck_assert_int_eq(cf->http.send_timeout_ms, 3600000);
    ck_assert_int_eq(cf->http.max_connections, 7);
    ck_assert_int_eq(cf->upstream.connect_timeout_ms, 1000);
    ck_assert_int_eq(cf->upstream.first_byte_timeout_ms, 30000);
    ck_assert_int_eq(cf->upstream.stream_idle_timeout_ms, 15000);
    ck_assert_int_eq(cf->upstream.total_timeout_ms, 86400000);
    ck_assert_uint_eq(cf->upstream.max_response_size, 1024 * MIB);
    ck_assert_int_eq(cf->upstream.verify_tls, 0);
    tg_config_unref(cf);
}
END_TEST

START_TEST(ref_and_unref)
{
    /* A reference keeps the config alive; the last unref frees everything (ASan checks). */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_full(err, sizeof(err));

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_ptr_eq(tg_config_ref(cf), cf);
    ck_assert_int_eq(cf->refs, 2);
    tg_config_unref(cf);
    ck_assert_int_eq(cf->refs, 1);
    ck_assert_str_eq(find(cf, "gpt-4o")->name, "gpt-4o"); /* still usable */
    tg_config_unref(cf);
    tg_config_unref(NULL); /* ignored */
}
END_TEST

START_TEST(sha256_covers_every_source_file)
{
    /* The digest is stable for the same bytes and changes when any file (include too) does. */
    char err[TG_CONFIG_ERR_MAX], h1[65], h2[65], h3[65];
    tg_config_t *a = load_full(err, sizeof(err)), *b, *c;
    srcfile_t changed[] = {{"/etc/tollgate/main.yaml", full_main},
                           {"/etc/tollgate/catalog.yaml", NULL}};
    char catalog[sizeof(full_catalog) + 16];

    ck_assert_msg(a != NULL, "load failed: %s", err);
    b = load_full(err, sizeof(err));
    ck_assert_msg(b != NULL, "load failed: %s", err);
    snprintf(catalog, sizeof(catalog), "%s# comment\n", full_catalog);
    changed[1].text = catalog;
    c = load_files(changed, 2, err, sizeof(err));
    ck_assert_msg(c != NULL, "load failed: %s", err);
    tg_config_sha256_hex(a, h1);
    tg_config_sha256_hex(b, h2);
    tg_config_sha256_hex(c, h3);
    ck_assert_uint_eq(strlen(h1), 64);
    ck_assert_uint_eq(strspn(h1, "0123456789abcdef"), 64);
    ck_assert_str_eq(h1, h2);
    ck_assert_str_ne(h1, h3);
    tg_config_unref(a);
    tg_config_unref(b);
    tg_config_unref(c);
}
END_TEST

START_TEST(workers_auto)
{
    /* "workers: auto" means one per online CPU. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_text(BASE "workers: auto\n", err, sizeof(err));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_int_eq(cf->workers, ncpu > 0 ? ncpu : 1);
    tg_config_unref(cf);
}
END_TEST

/* ---- environment -------------------------------------------------------------------------- */

START_TEST(env_expansion)
{
    /* ${VAR} takes the value; ${VAR:-default} takes the default when VAR is unset or empty. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_full(err, sizeof(err));
    const tg_provider_t *p;

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    p = &cf->providers[0];
    ck_assert_str_eq(p->api_key, "sk-test-123");
    ck_assert_uint_eq(p->nheaders, 2);
    ck_assert_str_eq(p->headers[0].name, "OpenAI-Organization");
    ck_assert_str_eq(p->headers[0].value, "org-default");
    ck_assert_str_eq(p->headers[1].name, "X-Trace");
    ck_assert_str_eq(p->headers[1].value, "pre-abc-post");
    tg_config_unref(cf);

    /* a set variable wins over the default; an empty one does not */
    setenv("TG_TEST_A", "from-env", 1);
    setenv("TG_TEST_EMPTY", "", 1);
    unsetenv("TG_TEST_UNSET");
    cf = load_text("listen: 8080\n"
                   "providers:\n"
                   "  openai:\n"
                   "    kind: openai\n"
                   "    base_url: http://127.0.0.1:9090/v1\n"
                   "    api_key: ${TG_TEST_A:-fallback}\n"
                   "    headers: {X-A: \"${TG_TEST_EMPTY:-dflt}\", X-B: \"${TG_TEST_UNSET:-}\","
                   " X-C: \"${TG_TEST_A}${TG_TEST_A}\"}\n",
                   err, sizeof(err));
    ck_assert_msg(cf != NULL, "load failed: %s", err);
    p = &cf->providers[0];
    ck_assert_str_eq(p->api_key, "from-env");
    ck_assert_str_eq(p->headers[0].value, "dflt");
    ck_assert_str_eq(p->headers[1].value, "");
    ck_assert_str_eq(p->headers[2].value, "from-envfrom-env");
    tg_config_unref(cf);
}
END_TEST

START_TEST(env_empty_api_key_means_none)
{
    /* api_key: ${UNSET:-} is allowed and leaves the provider without a key (NULL). */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;

    unsetenv("TG_TEST_UNSET");
    cf = load_text(
        "listen: 8080\n"
        "providers:\n"
        "  local: {kind: openai, base_url: \"http://h\", api_key: \"${TG_TEST_UNSET:-}\"}\n",
        err, sizeof(err));
    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_ptr_null(cf->providers[0].api_key);
    tg_config_unref(cf);
}
END_TEST

START_TEST(env_errors)
{
    /* Unset variables without default, and malformed references, are errors at the value. */
    unsetenv("TG_TEST_UNSET");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    api_key: ${TG_TEST_UNSET}\n",
                 "main.yaml:6:14: environment variable TG_TEST_UNSET is not set");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    headers:\n"
                 "      X-Org: ${TG_TEST_UNSET}\n",
                 "main.yaml:7:14: environment variable TG_TEST_UNSET is not set");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    api_key: ${TG_TEST_UNSET\n",
                 "main.yaml:6:14: api_key must reference the environment");
    /* a literal secret with a reference appended is still a literal secret */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    api_key: sk-live-123${TG_TEST_UNSET:-}\n",
                 "main.yaml:6:14: api_key must reference the environment");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    api_key: ${BAD-NAME}\n",
                 "main.yaml:6:14: bad environment variable name \"BAD-NAME\"");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    api_key: ${}\n",
                 "main.yaml:6:14: bad environment reference");
}
END_TEST

/* ---- validation errors, each with its exact position ---------------------------------- */

START_TEST(error_yaml_syntax)
{
    /* libyaml's own complaint, at the position libyaml reports. */
    expect_error("listen: 8080\nworkers: 2: 3\n",
                 "main.yaml:2:11: mapping values are not allowed in this context");
    expect_error("listen: 8080\nproviders: {openai: {kind: openai\n",
                 "main.yaml:3:1: did not find expected ',' or '}'");
}
END_TEST

START_TEST(error_unknown_top_level_key)
{
    expect_error(BASE "listen_address: 1.2.3.4\n",
                 "main.yaml:10:1: unknown key \"listen_address\"");
}
END_TEST

START_TEST(error_unknown_provider_key)
{
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    organization: org-1\n"
                 "    base_url: http://127.0.0.1:9090/v1\n",
                 "main.yaml:5:5: unknown key \"organization\" in provider \"openai\"");
}
END_TEST

START_TEST(error_literal_api_key)
{
    /* Secrets are never written in config files: a literal key is refused at its value. */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://127.0.0.1:9090/v1\n"
                 "    api_key: sk-proj-abcdef0123456789\n",
                 "main.yaml:6:14: api_key must reference the environment");
}
END_TEST

START_TEST(error_unsafe_names)
{
    /* names end up in response headers and JSON: a quote or line break would break them */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  \"open ai\": {kind: openai, base_url: \"http://h\"}\n",
                 "main.yaml:3:3: provider name \"open ai\" must be 1-128 of");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  \"gpt\\r\\nX-Evil: 1\":\n"
                 "    provider: openai\n"
                 "    price: {input: 1, output: 2}\n",
                 "main.yaml:5:3: model name");
    /* names people use are fine */
    {
        char err[TG_CONFIG_ERR_MAX];
        tg_config_t *cf = load_text("listen: 8080\n"
                                    "providers:\n"
                                    "  together.ai: {kind: openai, base_url: \"http://h\"}\n"
                                    "models:\n"
                                    "  meta-llama/Llama-3.3-70B-Instruct-Turbo:\n"
                                    "    provider: together.ai\n"
                                    "    price: {input: 0.88, output: 0.88}\n",
                                    err, sizeof(err));
        ck_assert_msg(cf != NULL, "rejected: %s", err);
        tg_config_unref(cf);
    }
}
END_TEST

START_TEST(error_api_key_control_character)
{
    /* a line break in a key would inject headers upstream; the message never shows the key */
    char err[TG_CONFIG_ERR_MAX];
    static const char text[] = "listen: 8080\n"
                               "providers:\n"
                               "  openai:\n"
                               "    kind: openai\n"
                               "    base_url: http://127.0.0.1:9090/v1\n"
                               "    api_key: ${TG_TEST_CRLF_KEY}\n";

    setenv("TG_TEST_CRLF_KEY", "sk-secret\r\nX-Evil: 1", 1);
    ck_assert_ptr_null(load_text(text, err, sizeof(err)));
    ck_assert_msg(strncmp(err, "main.yaml:6:14: the API key from ${TG_TEST_CRLF_KEY} contains a "
                               "control character", 80) == 0, "error was \"%s\"", err);
    ck_assert_ptr_null(strstr(err, "sk-secret"));
    unsetenv("TG_TEST_CRLF_KEY");
}
END_TEST

START_TEST(error_undefined_provider)
{
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  m1:\n"
                 "    provider: azure\n"
                 "    price: {input: 1, output: 2}\n",
                 "main.yaml:6:15: model \"m1\" names provider \"azure\", which is not defined");
}
END_TEST

START_TEST(error_duplicate_key)
{
    /* Duplicate keys would silently drop a setting: refused at the second occurrence. */
    expect_error(BASE "listen: 9090\n",
                 "main.yaml:10:1: duplicate key \"listen\" in the top level");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://a\n"
                 "    base_url: http://b\n",
                 "main.yaml:6:5: duplicate key \"base_url\" in a provider");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  m1: {provider: openai, price: {input: 1, input: 2, output: 2}}\n",
                 "main.yaml:5:44: duplicate key \"input\" in price");
}
END_TEST

START_TEST(error_bad_duration)
{
    expect_error(BASE "shutdown_timeout: 5x\n",
                 "main.yaml:10:19: shutdown_timeout must be a duration like 500ms, 30s, 5m or 1h,"
                 " not \"5x\"");
    expect_error(BASE "http:\n  header_timeout: -1s\n",
                 "main.yaml:11:19: header_timeout must be a duration");
    expect_error(BASE "upstream:\n  total_timeout: 1.5s\n",
                 "main.yaml:11:18: total_timeout must be a duration");
}
END_TEST

START_TEST(error_bad_size)
{
    expect_error(BASE "http:\n  max_body_size: 8q\n",
                 "main.yaml:11:18: max_body_size must be a size like 8m, 16k or 1024, not \"8q\"");
    expect_error(BASE "http:\n  max_body_size: 0\n",
                 "main.yaml:11:18: max_body_size must be a size");
    expect_error(BASE "upstream:\n  max_response_size: 1.5m\n",
                 "main.yaml:11:22: max_response_size must be a size");
}
END_TEST

START_TEST(error_price_seven_decimals)
{
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  m1:\n"
                 "    provider: openai\n"
                 "    price: {input: 1.1234567, output: 2}\n",
                 "main.yaml:7:20: price must be USD per 1M tokens with at most 6 decimals, not"
                 " \"1.1234567\"");
}
END_TEST

START_TEST(error_missing_price)
{
    /* A model without a price cannot be billed: refused (at the model's mapping). */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  m1:\n"
                 "    provider: openai\n"
                 "    context_window: 1000\n",
                 "main.yaml:6:5: model \"m1\" needs a price (USD per 1M tokens)");
    /* half a price is no price either */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  m1: {provider: openai, price: {input: 1}}\n",
                 "main.yaml:5:33: price needs input and output");
}
END_TEST

START_TEST(error_model_defined_twice_across_files)
{
    /* The later definition is refused and the message names where the first one is. */
    static const char main_first[] = "listen: 8080\n"
                                     "providers:\n"
                                     "  openai: {kind: openai, base_url: \"http://h\"}\n"
                                     "models:\n"
                                     "  m1: {provider: openai, price: {input: 1, output: 2}}\n"
                                     "include: inc.yaml\n";
    static const char inc_first[] = "include: inc.yaml\n"
                                    "listen: 8080\n"
                                    "providers:\n"
                                    "  openai: {kind: openai, base_url: \"http://h\"}\n"
                                    "models:\n"
                                    "  m1: {provider: openai, price: {input: 1, output: 2}}\n";
    static const char inc[] = "models:\n"
                              "  m0: {provider: openai, price: {input: 1, output: 2}}\n"
                              "  m1: {provider: openai, price: {input: 3, output: 4}}\n";
    srcfile_t a[] = {{"/cfg/main.yaml", main_first}, {"/cfg/inc.yaml", inc}};
    srcfile_t b[] = {{"/cfg/main.yaml", inc_first}, {"/cfg/inc.yaml", inc}};

    expect_files_error(a, 2, "/cfg/inc.yaml:3:3: model \"m1\" is also defined at /cfg/main.yaml:5");
    expect_files_error(b, 2, "/cfg/main.yaml:6:3: model \"m1\" is also defined at /cfg/inc.yaml:3");
}
END_TEST

START_TEST(error_forbidden_key_in_include)
{
    /* An include may add providers and models, never process settings such as listen. */
    srcfile_t f[] = {{"/cfg/main.yaml", BASE "include: inc.yaml\n"},
                     {"/cfg/inc.yaml", "models: {}\nlisten: 9090\n"}};

    expect_files_error(f, 2,
                       "/cfg/inc.yaml:2:1: \"listen\" is not allowed in an included file (only"
                       " providers, models, routes, include)");
    f[1].text = "workers: 2\n";
    expect_files_error(f, 2, "/cfg/inc.yaml:1:1: \"workers\" is not allowed in an included file");
}
END_TEST

START_TEST(error_missing_include_in_memory)
{
    /*
     * tg_config_load_source reports "the same errors as tg_config_load_file", which are
     * "file:line:col: reason": an include that is not part of the source is named at the
     * include entry of the file that includes it.
     */
    srcfile_t f[] = {{"/cfg/main.yaml", BASE "include: [inc.yaml, missing.yaml]\n"},
                     {"/cfg/inc.yaml", "models: {}\n"}};

    expect_files_error(f, 2, "/cfg/main.yaml:10:21: ");
}
END_TEST

START_TEST(error_include_twice)
{
    srcfile_t f[] = {{"/cfg/main.yaml", BASE "include: [inc.yaml, inc.yaml]\n"},
                     {"/cfg/inc.yaml", "models: {}\n"}};

    expect_files_error(f, 2, "/cfg/main.yaml:10:21: \"/cfg/inc.yaml\" is included twice");
    /* an include cycle is the same mistake */
    f[0].text = BASE "include: inc.yaml\n";
    f[1].text = "include: main.yaml\n";
    expect_files_error(f, 2, "/cfg/inc.yaml:1:10: \"/cfg/main.yaml\" is included twice");
}
END_TEST

START_TEST(error_listen)
{
    expect_error("listen: nope\n", "main.yaml:1:9: listen address must be HOST:PORT or PORT, not"
                                   " \"nope\"");
    expect_error("listen: [8080, \"127.0.0.1:99999\"]\n",
                 "main.yaml:1:16: listen address must be HOST:PORT or PORT");
    expect_error("listen: \":80\"\n", "main.yaml:1:9: listen address must be HOST:PORT or PORT");
    expect_error("listen: 0\n", "main.yaml:1:9: listen address must be HOST:PORT or PORT");
    expect_error("listen: []\n", "main.yaml:1:9: listen needs at least one address");
    expect_error("workers: 2\n", "main.yaml:1:1: listen is required");
}
END_TEST

START_TEST(error_other_values)
{
    /* A selection of other mistakes, each named at the offending node. */
    expect_error(BASE "workers: 0\n", "main.yaml:10:10: workers must be an integer from 1 to 256");
    expect_error(BASE "log: {level: loud}\n", "main.yaml:10:14: log level must be debug");
    expect_error(BASE "upstream: {verify_tls: maybe}\n",
                 "main.yaml:10:24: verify_tls must be true or false, not \"maybe\"");
    expect_error(BASE "http: {max_header_size: 512}\n",
                 "main.yaml:10:7: http.max_header_size must be between 1k and 1m");
    expect_error(BASE "upstream: {first_byte_timeout: 10m, total_timeout: 5m}\n",
                 "main.yaml:1:1: upstream.first_byte_timeout exceeds total_timeout");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: vertex, base_url: \"http://h\"}\n",
                 "main.yaml:3:18: unknown provider kind \"vertex\" (supported: openai, anthropic, "
                 "azure, gemini, bedrock)");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"ftp://h\"}\n",
                 "main.yaml:3:36: base_url must start with http:// or https://");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai}\n",
                 "main.yaml:3:11: provider \"openai\" needs a base_url");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {base_url: \"http://h\"}\n",
                 "main.yaml:3:11: provider \"openai\" needs a kind (openai, anthropic, azure, gemini "
                 "or bedrock)");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\", headers: {\"Bad Name\": x}}\n",
                 "main.yaml:3:58: bad header name \"Bad Name\"");
    expect_error(
        "listen: 8080\n"
        "providers:\n"
        "  openai: {kind: openai, base_url: \"http://h\"}\n"
        "models:\n"
        "  m1: {provider: openai, price: {input: 1, output: 2}, capabilities: [telepathy]}\n",
        "main.yaml:5:71: unknown capability \"telepathy\"");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "models:\n"
                 "  m1: {price: {input: 1, output: 2}}\n",
                 "main.yaml:5:7: model \"m1\" needs a provider");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n"
                 "  openai: {kind: openai, base_url: \"http://h\"}\n",
                 "main.yaml:4:3: duplicate key \"openai\" in providers");
    expect_error("- a\n- b\n", "main.yaml:1:1: the top level must be a mapping");
    expect_error("", "main.yaml:1:1: the top level must be a mapping");
}
END_TEST

START_TEST(error_provider_defined_twice_across_files)
{
    srcfile_t f[] = {
        {"/cfg/main.yaml", BASE "include: inc.yaml\n"},
        {"/cfg/inc.yaml", "providers:\n  openai: {kind: openai, base_url: \"http://h\"}\n"}};

    expect_files_error(f, 2, "/cfg/inc.yaml:2:3: provider \"openai\" is defined twice");
}
END_TEST

START_TEST(error_buffer_too_small_is_truncated)
{
    /* A short error buffer gets a truncated, NUL-terminated message and nothing more. */
    char err[24];
    tg_config_t *cf;

    memset(err, 'X', sizeof(err));
    cf = load_text("listen: nope\n", err, 16);
    ck_assert_ptr_null(cf);
    ck_assert_uint_eq(strlen(err), 15);
    ck_assert_mem_eq(err, "main.yaml:1:9: ", 15);
    ck_assert_int_eq(err[16], 'X');
}
END_TEST

START_TEST(empty_source_rejected)
{
    char err[TG_CONFIG_ERR_MAX];
    tg_config_source_t src = {0};

    ck_assert_ptr_null(tg_config_load_source(&src, err, sizeof(err)));
    ck_assert_str_eq(err, "empty configuration source");
}
END_TEST

/* ---- includes resolved relative to the including file --------------------------------- */

START_TEST(include_paths_relative_to_including_file)
{
    /* "sub/a.yaml" from /cfg/main.yaml is /cfg/sub/a.yaml; "b.yaml" from there is /cfg/sub/b.yaml;
     * absolute paths are taken as they are. */
    srcfile_t f[] = {
        {"/cfg/main.yaml", BASE "include: [sub/a.yaml, /abs/c.yaml]\n"},
        {"/cfg/sub/a.yaml", "include: b.yaml\nmodels: {ma: {provider: openai, price: {input: 1,"
                            " output: 1}}}\n"},
        {"/cfg/sub/b.yaml", "models: {mb: {provider: openai, price: {input: 2, output: 2}}}\n"},
        {"/abs/c.yaml", "models: {mc: {provider: openai, price: {input: 3, output: 3}}}\n"},
        /* decoys at the paths a cwd-relative or main-relative lookup would use */
        {"/cfg/b.yaml", "listen: 1\n"},
        {"sub/a.yaml", "listen: 1\n"},
    };
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf = load_files(f, 6, err, sizeof(err));

    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_int_eq(find(cf, "mb")->price.input, 2000000);
    ck_assert_int_eq(find(cf, "ma")->price.input, 1000000);
    ck_assert_int_eq(find(cf, "mc")->price.input, 3000000);
    ck_assert_uint_eq(cf->nmodels, 4);
    tg_config_unref(cf);

    /* a main file given without a directory resolves includes as given */
    {
        srcfile_t g[] = {{"main.yaml", BASE "include: inc.yaml\n"},
                         {"inc.yaml", "models: {m2: {provider: openai, price: {input: 1,"
                                      " output: 1}}}\n"}};
        cf = load_files(g, 2, err, sizeof(err));
        ck_assert_msg(cf != NULL, "load failed: %s", err);
        ck_assert_ptr_nonnull(find(cf, "m2"));
        tg_config_unref(cf);
    }
}
END_TEST

/* ---- from disk ------------------------------------------------------------------------- */

typedef struct {
    char dir[256];
    char sub[300];
    char paths[4][400];
    size_t npaths;
} tmpcfg_t;

/* Write text to a new file made with mkstemps from template (which ends in XXXXXX.yaml). */
static const char *tmp_write(tmpcfg_t *t, const char *dir, const char *prefix, const char *text)
{
    char *path = t->paths[t->npaths];
    size_t len = strlen(text);
    int fd;

    ck_assert_uint_lt(t->npaths, 4);
    snprintf(path, sizeof(t->paths[0]), "%s/%sXXXXXX.yaml", dir, prefix);
    fd = mkstemps(path, 5);
    ck_assert_msg(fd != -1, "mkstemps(%s): %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    t->npaths++;
    return path;
}

static void tmp_setup(tmpcfg_t *t)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s/tg-config-test-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->sub, sizeof(t->sub), "%s/sub", t->dir);
    ck_assert_int_eq(mkdir(t->sub, 0700), 0);
}

static void tmp_cleanup(tmpcfg_t *t)
{
    for (size_t i = 0; i < t->npaths; i++)
        unlink(t->paths[i]);
    rmdir(t->sub);
    rmdir(t->dir);
}

static const char *base_name(const char *path)
{
    return strrchr(path, '/') + 1;
}

START_TEST(load_file_with_includes)
{
    /*
     * main.yaml includes sub/<inc>, which includes <more> from its own directory (sub/). The
     * process's working directory plays no part (the test runs from /).
     */
    tmpcfg_t t;
    char text[1024], err[TG_CONFIG_ERR_MAX];
    const char *more, *inc, *main_path;
    tg_config_t *cf;

    tmp_setup(&t);
    more = tmp_write(&t, t.sub, "more-",
                     "models: {deep: {provider: openai, price: {input: 0.5, output: 1.5}}}\n");
    snprintf(text, sizeof(text),
             "include: %s\nmodels: {mid: {provider: openai, price: {input: 1, output: 2}}}\n",
             base_name(more));
    inc = tmp_write(&t, t.sub, "inc-", text);
    snprintf(text, sizeof(text), BASE "include: sub/%s\n", base_name(inc));
    main_path = tmp_write(&t, t.dir, "main-", text);

    ck_assert_int_eq(chdir("/"), 0);
    cf = tg_config_load_file(main_path, err, sizeof(err));
    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_str_eq(cf->path, main_path);
    ck_assert_uint_eq(cf->nmodels, 3);
    ck_assert_int_eq(find(cf, "deep")->price.input, 500000);
    ck_assert_int_eq(find(cf, "deep")->price.output, 1500000);
    ck_assert_int_eq(find(cf, "mid")->price.output, 2000000);
    ck_assert_ptr_nonnull(find(cf, "m1"));
    /* the source keeps every file read, main first, so workers can compile the same bytes */
    ck_assert_uint_eq(cf->source.nfiles, 3);
    ck_assert_str_eq(cf->source.files[0].path, main_path);
    ck_assert_mem_eq(cf->source.files[0].data, text, strlen(text));
    ck_assert_uint_eq(cf->source.files[0].len, strlen(text));

    /* ... and recompiling that source in memory gives the same configuration */
    {
        char err2[TG_CONFIG_ERR_MAX], h1[65], h2[65];
        tg_config_t *again = tg_config_load_source(&cf->source, err2, sizeof(err2));

        ck_assert_msg(again != NULL, "reload from source failed: %s", err2);
        ck_assert_uint_eq(again->nmodels, 3);
        tg_config_sha256_hex(cf, h1);
        tg_config_sha256_hex(again, h2);
        ck_assert_str_eq(h1, h2);
        tg_config_unref(again);
    }
    tg_config_unref(cf);
    tmp_cleanup(&t);
}
END_TEST

START_TEST(load_file_missing_include)
{
    /* A missing include is reported at the include entry, with the resolved path and errno. */
    tmpcfg_t t;
    char text[1024], err[TG_CONFIG_ERR_MAX], want[1024];
    const char *main_path;
    tg_config_t *cf;

    tmp_setup(&t);
    snprintf(text, sizeof(text), BASE "include:\n  - nowhere.yaml\n");
    main_path = tmp_write(&t, t.dir, "main-", text);
    cf = tg_config_load_file(main_path, err, sizeof(err));
    ck_assert_ptr_null(cf);
    snprintf(want, sizeof(want), "%s:11:5: include %s/nowhere.yaml: cannot open: %s", main_path,
             t.dir, strerror(ENOENT));
    ck_assert_str_eq(err, want);
    tmp_cleanup(&t);
}
END_TEST

START_TEST(load_file_error_in_include)
{
    /* Errors inside an included file name that file and the position in it. */
    tmpcfg_t t;
    char text[1024], err[TG_CONFIG_ERR_MAX], want[512];
    const char *inc, *main_path;
    tg_config_t *cf;

    tmp_setup(&t);
    inc = tmp_write(&t, t.sub, "inc-", "models:\n  bad: {provider: openai, price: [1, 2]}\n");
    snprintf(text, sizeof(text), BASE "include: sub/%s\n", base_name(inc));
    main_path = tmp_write(&t, t.dir, "main-", text);
    cf = tg_config_load_file(main_path, err, sizeof(err));
    ck_assert_ptr_null(cf);
    snprintf(want, sizeof(want), "%s:2:34: price must be a mapping", inc);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error was \"%s\", expected \"%s\"", err,
                  want);
    tmp_cleanup(&t);
}
END_TEST

START_TEST(load_file_missing_main)
{
    /* A main file that cannot be opened fails with its path and the reason. */
    char err[TG_CONFIG_ERR_MAX];

    ck_assert_ptr_null(tg_config_load_file("/nonexistent/tollgate.yaml", err, sizeof(err)));
    ck_assert_msg(strstr(err, "/nonexistent/tollgate.yaml") != NULL, "error was \"%s\"", err);
    ck_assert_msg(strstr(err, strerror(ENOENT)) != NULL, "error was \"%s\"", err);
}
END_TEST

START_TEST(shipped_demo_config_loads)
{
    /* etc/demo.yaml with the shipped catalog must compile, with GPT-4o at its list price. */
    const char *srcdir = getenv("TG_SOURCE_DIR");
    char path[1024], err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;
    const tg_model_t *m;

    if (srcdir == NULL)
        return; /* not run under ctest */
    snprintf(path, sizeof(path), "%s/etc/demo.yaml", srcdir);
    cf = tg_config_load_file(path, err, sizeof(err));
    ck_assert_msg(cf != NULL, "demo config rejected: %s", err);
    ck_assert_uint_gt(cf->nmodels, 1);
    m = find(cf, "gpt-4o");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->price.input, 2500000);
    ck_assert_int_eq(m->price.output, 10000000);
    for (size_t i = 1; i < cf->nmodels; i++)
        ck_assert_msg(strcmp(cf->models[i - 1].name, cf->models[i].name) < 0,
                      "models must be sorted and unique: %s, %s", cf->models[i - 1].name,
                      cf->models[i].name);
    tg_config_unref(cf);
}
END_TEST

/* ---- tg_parse_duration_ms / tg_parse_size ------------------------------------------------- */

START_TEST(parse_duration)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"0", 0},
        {"30", 30000},
        {"30s", 30000},
        {"500ms", 500},
        {"0ms", 0},
        {"2m", 120000},
        {"1h", 3600000},
        {"1d", 86400000},
        {"007s", 7000},
        {"90m", 5400000},
        {"1000000d", 86400000000000LL},
    };
    static const char *const bad[] = {
        "",
        "5x",
        "-1",
        "+5",
        " 5s",
        "5 s",
        "5S",
        "1.5s",
        "s",
        "ms",
        "5sm",
        "5mss",
        "5msx",
        "0x10",
        "5s ",
        "1e3",
        "1h30m",
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775807d",
        "9223372036854775807ms",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(tg_parse_duration_ms(ok[i].s) == ok[i].ms, "\"%s\" must be %lld ms, got %lld",
                      ok[i].s, (long long)ok[i].ms, (long long)tg_parse_duration_ms(ok[i].s));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(tg_parse_duration_ms(bad[i]) == -1, "\"%s\" must be invalid, got %lld",
                      bad[i], (long long)tg_parse_duration_ms(bad[i]));
    ck_assert_int_eq(tg_parse_duration_ms(NULL), -1);
}
END_TEST

START_TEST(parse_size)
{
    static const struct {
        const char *s;
        int64_t bytes;
    } ok[] = {
        {"0", 0},         {"1024", 1024},       {"16k", 16384},        {"16K", 16384},
        {"16kb", 16384},  {"16KB", 16384},      {"8m", 8 * MIB},       {"8M", 8 * MIB},
        {"8mb", 8 * MIB}, {"1g", 1073741824LL}, {"1GB", 1073741824LL}, {"64g", 64LL * 1073741824LL},
    };
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        "8q",
        "8 m",
        "8mib",
        "8mbx",
        "1.5m",
        "m",
        " 8m",
        "8m ",
        "8b",
        "kb",
        "0x10",
        "8bk",
        "8kk",
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775807g",
        "9007199254740993k",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(tg_parse_size(ok[i].s) == ok[i].bytes, "\"%s\" must be %lld bytes, got %lld",
                      ok[i].s, (long long)ok[i].bytes, (long long)tg_parse_size(ok[i].s));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(tg_parse_size(bad[i]) == -1, "\"%s\" must be invalid, got %lld", bad[i],
                      (long long)tg_parse_size(bad[i]));
    ck_assert_int_eq(tg_parse_size(NULL), -1);
}
END_TEST

/* ---- kind bedrock ------------------------------------------------------------------------- */

#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

START_TEST(bedrock_sigv4_provider)
{
    /* region given: the base_url defaults to the region's endpoint; the secret comes from the
     * environment, the token from a file that becomes part of the source */
    srcfile_t f[] = {{"dir/main.yaml", "listen: 8080\n"
                                       "providers:\n"
                                       "  aws:\n"
                                       "    kind: bedrock\n"
                                       "    region: eu-west-3\n"
                                       "    aws_access_key_id: AKIDEXAMPLE\n"
                                       "    aws_secret_access_key: ${TG_TEST_AWS_SECRET}\n"
                                       "    aws_session_token_file: token.txt\n"},
                     {"dir/token.txt", "  session-token-1\n"}};
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;
    tg_provider_t *p;

    setenv("TG_TEST_AWS_SECRET", AWS_SECRET, 1);
    cf = load_files(f, 2, err, sizeof(err));
    ck_assert_msg(cf != NULL, "load failed: %s", err);
    p = &cf->providers[0];
    ck_assert_int_eq(p->kind, TG_PROVIDER_BEDROCK);
    ck_assert_str_eq(tg_provider_kind_name(p->kind), "bedrock");
    ck_assert_str_eq(p->region, "eu-west-3");
    ck_assert_str_eq(p->base_url, "https://bedrock-runtime.eu-west-3.amazonaws.com");
    ck_assert_str_eq(p->aws_access_key_id, "AKIDEXAMPLE");
    ck_assert_str_eq(p->aws_secret_access_key, AWS_SECRET);
    ck_assert_str_eq(p->aws_session_token, "session-token-1");
    ck_assert_int_eq(p->aws_key_source, TG_KEY_FROM_ENV);
    ck_assert_ptr_null(p->api_key);
    ck_assert_int_eq(tg_provider_sigv4(p), 1);
    tg_config_unref(cf);
    unsetenv("TG_TEST_AWS_SECRET");
}
END_TEST

START_TEST(bedrock_region_from_base_url_and_api_key)
{
    /* a Bedrock API key alone (Authorization: Bearer); the region read from the endpoint */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;

    setenv("TG_TEST_BR_KEY", "ABSK-key", 1);
    cf = load_text("listen: 8080\n"
                   "providers:\n"
                   "  aws:\n"
                   "    kind: bedrock\n"
                   "    base_url: https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/\n"
                   "    api_key: ${TG_TEST_BR_KEY}\n",
                   err, sizeof(err));
    ck_assert_msg(cf != NULL, "load failed: %s", err);
    ck_assert_str_eq(cf->providers[0].region, "us-gov-west-1");
    ck_assert_str_eq(cf->providers[0].base_url,
                     "https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com");
    ck_assert_str_eq(cf->providers[0].api_key, "ABSK-key");
    ck_assert_int_eq(tg_provider_sigv4(&cf->providers[0]), 0);
    tg_config_unref(cf);
    unsetenv("TG_TEST_BR_KEY");
}
END_TEST

START_TEST(bedrock_errors)
{
    setenv("TG_TEST_AWS_SECRET", AWS_SECRET, 1);
    /* a local endpoint says nothing about the region */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws:\n"
                 "    kind: bedrock\n"
                 "    base_url: http://127.0.0.1:9090\n"
                 "    aws_access_key_id: AKIDEXAMPLE\n"
                 "    aws_secret_access_key: ${TG_TEST_AWS_SECRET}\n",
                 "main.yaml:4:5: provider \"aws\" (bedrock) needs a region");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws: {kind: bedrock, region: US_EAST_1, api_key: \"${TG_TEST_AWS_SECRET}\"}\n",
                 "main.yaml:3:32: region must look like us-east-1");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws: {kind: bedrock, region: us-east-1}\n",
                 "main.yaml:3:8: provider \"aws\" (bedrock) needs aws_access_key_id and "
                 "aws_secret_access_key (SigV4), or api_key");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws:\n"
                 "    kind: bedrock\n"
                 "    region: us-east-1\n"
                 "    aws_access_key_id: AKIDEXAMPLE\n",
                 "main.yaml:4:5: provider \"aws\" (bedrock) needs both aws_access_key_id and "
                 "aws_secret_access_key");
    /* the secret, like every secret, is never literal */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws:\n"
                 "    kind: bedrock\n"
                 "    region: us-east-1\n"
                 "    aws_access_key_id: AKIDEXAMPLE\n"
                 "    aws_secret_access_key: " AWS_SECRET "\n",
                 "main.yaml:7:28: aws_secret_access_key must reference the environment");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws:\n"
                 "    kind: bedrock\n"
                 "    region: us-east-1\n"
                 "    aws_access_key_id: akid-lower\n"
                 "    aws_secret_access_key: ${TG_TEST_AWS_SECRET}\n",
                 "main.yaml:6:24: aws_access_key_id must look like AKIAIOSFODNN7EXAMPLE");
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  aws:\n"
                 "    kind: bedrock\n"
                 "    region: us-east-1\n"
                 "    aws_access_key_id: AKIDEXAMPLE\n"
                 "    aws_secret_access_key: ${TG_TEST_AWS_SECRET}\n"
                 "    aws_secret_access_key_file: secret.txt\n",
                 "main.yaml:8:33: give aws_secret_access_key or aws_secret_access_key_file, not "
                 "both");
    /* AWS keys on another kind are a mistake, named at the key */
    expect_error("listen: 8080\n"
                 "providers:\n"
                 "  openai:\n"
                 "    kind: openai\n"
                 "    base_url: http://h\n"
                 "    region: us-east-1\n",
                 "main.yaml:6:5: provider \"openai\": region and aws_* keys are only for kind "
                 "bedrock");
    unsetenv("TG_TEST_AWS_SECRET");
}
END_TEST

START_TEST(bedrock_secret_control_character_is_not_shown)
{
    char err[TG_CONFIG_ERR_MAX];

    setenv("TG_TEST_AWS_SECRET", "wJalr\r\nX-Evil: 1", 1);
    ck_assert_ptr_null(load_text("listen: 8080\n"
                                 "providers:\n"
                                 "  aws:\n"
                                 "    kind: bedrock\n"
                                 "    region: us-east-1\n"
                                 "    aws_access_key_id: AKIDEXAMPLE\n"
                                 "    aws_secret_access_key: ${TG_TEST_AWS_SECRET}\n",
                                 err, sizeof(err)));
    ck_assert_msg(strstr(err, "main.yaml:7:28: the aws_secret_access_key from "
                              "${TG_TEST_AWS_SECRET} contains a control character") == err,
                  "error was \"%s\"", err);
    ck_assert_ptr_null(strstr(err, "wJalr"));
    unsetenv("TG_TEST_AWS_SECRET");
}
END_TEST

START_TEST(bedrock_key_rotation)
{
    /* SigV4: a bare secret replaces the secret; ID:SECRET[:TOKEN] replaces the credentials; a
     * malformed one changes nothing. An API-key provider rotates its API key. */
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;
    tg_provider_t *p, *q;

    setenv("TG_TEST_AWS_SECRET", AWS_SECRET, 1);
    cf = load_text("listen: 8080\n"
                   "providers:\n"
                   "  aws:\n"
                   "    kind: bedrock\n"
                   "    region: us-east-1\n"
                   "    aws_access_key_id: AKIDEXAMPLE\n"
                   "    aws_secret_access_key: ${TG_TEST_AWS_SECRET}\n"
                   "    aws_session_token: ${TG_TEST_AWS_SECRET}\n"
                   "  keyed: {kind: bedrock, region: us-west-2, api_key: \"${TG_TEST_AWS_SECRET}\"}\n",
                   err, sizeof(err));
    ck_assert_msg(cf != NULL, "load failed: %s", err);
    p = &cf->providers[0];
    q = &cf->providers[1];
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", "new-secret"), 0);
    ck_assert_str_eq(p->aws_access_key_id, "AKIDEXAMPLE");
    ck_assert_str_eq(p->aws_secret_access_key, "new-secret");
    ck_assert_str_eq(p->aws_session_token, AWS_SECRET);
    ck_assert_int_eq(p->aws_key_source, TG_KEY_ROTATED);
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", "AKIANEW:s2:tok2"), 0);
    ck_assert_str_eq(p->aws_access_key_id, "AKIANEW");
    ck_assert_str_eq(p->aws_secret_access_key, "s2");
    ck_assert_str_eq(p->aws_session_token, "tok2");
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", "AKIAOTHER:s3"), 0);
    ck_assert_str_eq(p->aws_access_key_id, "AKIAOTHER");
    ck_assert_ptr_null(p->aws_session_token); /* a long-term key pair has none */
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", ""), -1);
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", "lower:s4"), -1);
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", "AKIA:s4:t:x"), -1);
    ck_assert_int_eq(tg_config_set_provider_key(cf, "aws", ":s4"), -1);
    ck_assert_str_eq(p->aws_secret_access_key, "s3");
    ck_assert_int_eq(tg_config_set_provider_key(cf, "keyed", "ABSK-rotated"), 0);
    ck_assert_str_eq(q->api_key, "ABSK-rotated");
    ck_assert_int_eq(q->key_source, TG_KEY_ROTATED);
    tg_config_unref(cf);
    unsetenv("TG_TEST_AWS_SECRET");
}
END_TEST

static Suite *tg_config_suite(void)
{
    Suite *s = suite_create("tg_config");
    TCase *tc = tcase_create("valid");

    tcase_add_test(tc, full_config_loads);
    tcase_add_test(tc, models_sorted_and_found);
    tcase_add_test(tc, model_lookup_with_embedded_nul);
    tcase_add_test(tc, model_fields);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, settings_override_defaults);
    tcase_add_test(tc, store_meter_writemap_parsed);
    tcase_add_test(tc, ref_and_unref);
    tcase_add_test(tc, sha256_covers_every_source_file);
    tcase_add_test(tc, workers_auto);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_test(tc, env_expansion);
    tcase_add_test(tc, env_empty_api_key_means_none);
    tcase_add_test(tc, env_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, error_yaml_syntax);
    tcase_add_test(tc, error_unknown_top_level_key);
    tcase_add_test(tc, error_unknown_provider_key);
    tcase_add_test(tc, error_literal_api_key);
    tcase_add_test(tc, error_undefined_provider);
    tcase_add_test(tc, error_unsafe_names);
    tcase_add_test(tc, error_api_key_control_character);
    tcase_add_test(tc, error_duplicate_key);
    tcase_add_test(tc, error_bad_duration);
    tcase_add_test(tc, error_bad_size);
    tcase_add_test(tc, error_price_seven_decimals);
    tcase_add_test(tc, error_missing_price);
    tcase_add_test(tc, error_model_defined_twice_across_files);
    tcase_add_test(tc, error_forbidden_key_in_include);
    tcase_add_test(tc, error_missing_include_in_memory);
    tcase_add_test(tc, error_include_twice);
    tcase_add_test(tc, error_listen);
    tcase_add_test(tc, error_other_values);
    tcase_add_test(tc, error_provider_defined_twice_across_files);
    tcase_add_test(tc, error_buffer_too_small_is_truncated);
    tcase_add_test(tc, empty_source_rejected);
    suite_add_tcase(s, tc);

    tc = tcase_create("bedrock");
    tcase_add_test(tc, bedrock_sigv4_provider);
    tcase_add_test(tc, bedrock_region_from_base_url_and_api_key);
    tcase_add_test(tc, bedrock_errors);
    tcase_add_test(tc, bedrock_secret_control_character_is_not_shown);
    tcase_add_test(tc, bedrock_key_rotation);
    suite_add_tcase(s, tc);

    tc = tcase_create("includes");
    tcase_add_test(tc, include_paths_relative_to_including_file);
    tcase_add_test(tc, load_file_with_includes);
    tcase_add_test(tc, load_file_missing_include);
    tcase_add_test(tc, load_file_error_in_include);
    tcase_add_test(tc, load_file_missing_main);
    tcase_add_test(tc, shipped_demo_config_loads);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, parse_duration);
    tcase_add_test(tc, parse_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
