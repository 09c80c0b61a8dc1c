/*
 * The configuration compiler's internals, shared by its parts (tg_config.c: the file, includes,
 * providers and models; tg_config_routes.c: routes). Not for use outside shared/tg_config*.c,
 * except by YAML readers that report errors the same way (tg_calc_profile.c: cost profiles).
 */
#ifndef TG_CONFIG_INT_H
#define TG_CONFIG_INT_H

#include <stdint.h>
#include <yaml.h>

#include "shared/tg_config.h"
#include "shared/tg_validate.h"

#define TG_CONFIG_MAX_DOCS 16

typedef struct {
    yaml_document_t doc;
    const char *file;
    int loaded;
} tg_cdoc_t;

/* A named definition (a model, a route) kept until everything it may refer to is known. */
typedef struct {
    tg_cdoc_t *d;
    yaml_node_t *key;
    yaml_node_t *val;
} tg_cdef_t;

typedef struct {
    tg_cdef_t *v;
    size_t n, cap;
} tg_cdefs_t;

typedef struct {
    tg_config_t *cf;
    char *err;
    size_t errlen;
    tg_cdoc_t docs[TG_CONFIG_MAX_DOCS];
    size_t ndocs;
    tg_cdefs_t models; /* resolved once every provider is known */
    tg_cdefs_t routes; /* resolved once every model is known */
    yaml_node_t *baseline_node; /* the top-level baseline, checked once models are known */
    tg_cdoc_t *baseline_doc;
    yaml_node_t *admin_http_node; /* admin_http's listen, checked against listen at the end */
    tg_cdoc_t *admin_http_doc;
} tg_cctx_t;

#define TG_FOREACH_PAIR(d, map, p)                                                                 \
    for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start; p < (map)->data.mapping.pairs.top; \
         p++)

/** Write "file:line:col: message" for node n into the context's error; returns -1. */
int tg_cerr(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Allocation that cannot fail (aborts): configurations are small and compiled off the hot path. */
char *tg_xstrdup(const char *s);
void *tg_xcalloc(size_t n, size_t size);

yaml_node_t *tg_node(tg_cdoc_t *d, int id);
int tg_is_null(yaml_node_t *n);
/** A scalar's text, or NULL after an error naming what. */
const char *tg_scalar(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what);
int tg_cint(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int64_t min,
            int64_t max, int64_t *out);
int tg_cduration(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int64_t *out);
int tg_cbool(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int *out);
/** n must be a mapping with string keys and no duplicates. 0 or -1. */
int tg_expect_map(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what);
const char *tg_key(tg_cdoc_t *d, yaml_node_pair_t *p);
/** Names that appear in headers, JSON and logs: 1-128 of A-Z a-z 0-9 . _ : / @ + - */
int tg_name_ok(const char *s);

/**
 * Binary search of n sorted entries of size bytes whose first member is their name (char *):
 * models, routes. NULL when absent.
 */
const void *tg_find_named(const void *base, size_t n, size_t size, const char *name, size_t len);

/** Remember the entries of mapping n (models:, routes:; what names them) in defs. 0 or -1. */
int tg_collect_defs(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                    tg_cdefs_t *defs);

/** Compile the collected routes into c->cf (models must be compiled and sorted). 0 or -1. */
int tg_compile_routes(tg_cctx_t *c);
/**
 * A route's or a rule's `validate:` mapping, compiled into *out (the caller owns it and frees
 * it with tg_validators_free()). 0 or -1.
 */
int tg_parse_validate(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_validators_t **out);
/** The breaker section (circuit breaker settings for every target). 0 or -1. */
int tg_parse_breaker(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n);

/** Free a configuration's routes. */
void tg_routes_free(tg_config_t *cf);

/** Names that appear in headers, JSON and logs are checked by tg_name_ok; addresses by this:
 * HOST:PORT, [V6]:PORT or PORT with a port of 1-65535. */
int tg_listen_ok(const char *s);

/**
 * Expand ${VAR} and ${VAR:-default} references in s (errors reported at n). Returns the
 * malloc'd text, with *refs the number of references, or NULL after an error.
 */
char *tg_expand_env(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *s, int *refs);

/** s as a path relative to the file of d (absolute paths stay). 0, or -1 when too long. */
int tg_rel_path(tg_cdoc_t *d, const char *s, char *path, size_t size);

/**
 * A one-line secret from the file named s (relative to d's file), kept in the configuration
 * source so workers compile the same bytes. *out is NULL (with a warning) for an empty file.
 * key names the setting in errors. 0 or -1 (reported).
 */
int tg_read_key_file(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *v, const char *s, const char *key,
                     char **out);

/** admin_http: (tg_config_admin.c). 0 or -1 (reported). */
int tg_parse_admin_http(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n);

/** Checks of admin_http that need the whole file (its port is not a client port). 0 or -1. */
int tg_check_admin_http(tg_cctx_t *c);

/** Wipe and free a secret (NULL is ignored). */
void tg_free_secret(char *s);

#endif
