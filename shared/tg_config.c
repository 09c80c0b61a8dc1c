/*
 * YAML configuration compiler. libyaml's document API gives every node its position, so each
 * validation error names file:line:col. Includes may add providers and models (the shipped
 * price catalog is one). Compilation is all-or-nothing: a config either validates completely or
 * is rejected and the caller keeps running on the previous one.
 */
#include "shared/tg_config.h"
#include "shared/tg_config_int.h"
#include "shared/tg_log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define TG_CONFIG_MAX_FILE (16 * 1024 * 1024)

void tg_free_secret(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int tg_cerr(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int off;

    off = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", d->file, n ? n->start_mark.line + 1 : 1,
                   n ? n->start_mark.column + 1 : 1);
    if (off < 0 || (size_t)off >= c->errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(c->err + off, c->errlen - (size_t)off, fmt, ap);
    va_end(ap);
    return -1;
}

char *tg_xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        tg_log(TG_LOG_CRIT, errno, "strdup() failed");
        abort();
    }
    return p;
}

void *tg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (p == NULL) {
        tg_log(TG_LOG_CRIT, errno, "calloc() failed");
        abort();
    }
    return p;
}

/* ---- scalars ---------------------------------------------------------------------------- */

yaml_node_t *tg_node(tg_cdoc_t *d, int id)
{
    return yaml_document_get_node(&d->doc, id);
}

int tg_is_null(yaml_node_t *n)
{
    const char *v;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    v = (const char *)n->data.scalar.value;
    return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

const char *tg_scalar(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        tg_cerr(c, d, n, "%s must be a scalar value", what);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

int tg_cint(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int64_t min,
            int64_t max, int64_t *out)
{
    const char *s = tg_scalar(c, d, n, what);
    char *end;
    long long v;

    if (s == NULL)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return tg_cerr(c, d, n, "%s must be an integer from %lld to %lld, not \"%s\"", what,
                       (long long)min, (long long)max, s);
    *out = v;
    return 0;
}

int tg_cduration(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int64_t *out)
{
    const char *s = tg_scalar(c, d, n, what);
    int64_t v;

    if (s == NULL)
        return -1;
    v = tg_parse_duration_ms(s);
    if (v < 0)
        return tg_cerr(c, d, n, "%s must be a duration like 500ms, 30s, 5m or 1h, not \"%s\"",
                       what, s);
    *out = v;
    return 0;
}

static int tg_csize(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, size_t *out)
{
    const char *s = tg_scalar(c, d, n, what);
    int64_t v;

    if (s == NULL)
        return -1;
    v = tg_parse_size(s);
    if (v <= 0)
        return tg_cerr(c, d, n, "%s must be a size like 8m, 16k or 1024, not \"%s\"", what, s);
    *out = (size_t)v;
    return 0;
}

int tg_cbool(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what, int *out)
{
    const char *s = tg_scalar(c, d, n, what);

    if (s == NULL)
        return -1;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
        *out = 0;
    else
        return tg_cerr(c, d, n, "%s must be true or false, not \"%s\"", what, s);
    return 0;
}

int64_t tg_parse_duration_ms(const char *s)
{
    char *end;
    long long v;
    int64_t mul;

    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || v < 0)
        return -1;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (strcmp(end, "d") == 0)
        mul = 86400000;
    else
        return -1;
    if (v > INT64_MAX / mul / 2)
        return -1;
    return (int64_t)v * mul;
}

int64_t tg_parse_size(const char *s)
{
    char *end;
    long long v;
    int64_t mul = 1;

    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || v < 0)
        return -1;
    switch (tolower((unsigned char)*end)) {
    case '\0':
        break;
    case 'k':
        mul = 1024;
        break;
    case 'm':
        mul = 1024 * 1024;
        break;
    case 'g':
        mul = 1024 * 1024 * 1024;
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0' && !(tolower((unsigned char)end[1]) == 'b' && end[2] == 0))
        return -1;
    if (v > INT64_MAX / mul / 2)
        return -1;
    return (int64_t)v * mul;
}

/*
 * Expand ${VAR} and ${VAR:-default} references. Secrets are only ever written this way, so
 * the text of the config file itself never holds one.
 */
char *tg_expand_env(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *s, int *refs)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = tg_xcalloc(1, cap);

    *refs = 0;
    while (*s) {
        const char *close, *def, *val;
        char name[128];
        size_t nlen, vlen;

        if (s[0] != '$' || s[1] != '{') {
            if (len + 1 >= cap)
                out = realloc(out, cap *= 2);
            out[len++] = *s++;
            continue;
        }
        close = strchr(s, '}');
        if (close == NULL) {
            free(out);
            tg_cerr(c, d, n, "unterminated ${ in \"%s\"", s);
            return NULL;
        }
        def = strstr(s, ":-");
        if (def != NULL && def > close)
            def = NULL;
        nlen = (size_t)((def ? def : close) - (s + 2));
        if (nlen == 0 || nlen >= sizeof(name)) {
            free(out);
            tg_cerr(c, d, n, "bad environment reference");
            return NULL;
        }
        memcpy(name, s + 2, nlen);
        name[nlen] = '\0';
        for (size_t i = 0; i < nlen; i++) {
            if (!(isalnum((unsigned char)name[i]) || name[i] == '_')) {
                free(out);
                tg_cerr(c, d, n, "bad environment variable name \"%s\"", name);
                return NULL;
            }
        }
        val = getenv(name);
        if (val == NULL || *val == '\0') {
            if (def == NULL) {
                free(out);
                tg_cerr(c, d, n,
                        "environment variable %s is not set (write ${%s:-} to allow that)", name,
                        name);
                return NULL;
            }
            val = def + 2;
            vlen = (size_t)(close - val);
        } else {
            vlen = strlen(val);
        }
        while (len + vlen + 1 >= cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, val, vlen);
        len += vlen;
        s = close + 1;
        (*refs)++;
    }
    out[len] = '\0';
    return out;
}

/* ---- documents --------------------------------------------------------------------------- */

static tg_config_file_t *tg_source_find(tg_config_source_t *src, const char *path)
{
    for (size_t i = 0; i < src->nfiles; i++)
        if (strcmp(src->files[i].path, path) == 0)
            return &src->files[i];
    return NULL;
}

static int tg_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == -1 || st.st_size > TG_CONFIG_MAX_FILE) {
        snprintf(err, errlen, "%s: cannot read or larger than 16 MiB", path);
        close(fd);
        return -1;
    }
    *data = tg_xcalloc(1, (size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        n = read(fd, *data + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return 0;
}

static tg_config_file_t *tg_source_add(tg_config_source_t *src, const char *path, char *data,
                                       size_t len)
{
    tg_config_file_t *f;

    src->files = realloc(src->files, (src->nfiles + 1) * sizeof(*src->files));
    if (src->files == NULL)
        abort();
    f = &src->files[src->nfiles++];
    f->path = tg_xstrdup(path);
    f->data = data;
    f->len = len;
    return f;
}

static tg_cdoc_t *tg_doc_load(tg_cctx_t *c, const char *path)
{
    tg_config_source_t *src = &c->cf->source;
    tg_config_file_t *f = tg_source_find(src, path);
    yaml_parser_t parser;
    tg_cdoc_t *d;
    char *data;
    size_t len;

    if (f == NULL) {
        if (!src->from_disk) {
            snprintf(c->err, c->errlen, "%s: not part of the configuration source", path);
            return NULL;
        }
        if (tg_read_file(path, &data, &len, c->err, c->errlen) == -1)
            return NULL;
        f = tg_source_add(src, path, data, len);
    }
    if (c->ndocs == TG_CONFIG_MAX_DOCS) {
        snprintf(c->err, c->errlen, "%s: too many included files", path);
        return NULL;
    }
    d = &c->docs[c->ndocs];
    d->file = f->path;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)f->data, f->len);
    if (!yaml_parser_load(&parser, &d->doc)) {
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s%s%s", f->path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_parser_delete(&parser);
    d->loaded = 1;
    c->ndocs++;
    if (yaml_document_get_root_node(&d->doc) == NULL ||
        yaml_document_get_root_node(&d->doc)->type != YAML_MAPPING_NODE) {
        tg_cerr(c, d, yaml_document_get_root_node(&d->doc), "the top level must be a mapping");
        return NULL;
    }
    return d;
}

int tg_expect_map(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_MAPPING_NODE)
        return tg_cerr(c, d, n, "%s must be a mapping", what);
    /* duplicate keys are almost always a mistake that would silently drop a setting */
    TG_FOREACH_PAIR(d, n, p)
    {
        yaml_node_t *k = tg_node(d, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return tg_cerr(c, d, k, "keys of %s must be strings", what);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = tg_node(d, q->key);
            if (strcmp((char *)k->data.scalar.value, (char *)k2->data.scalar.value) == 0)
                return tg_cerr(c, d, k, "duplicate key \"%s\" in %s", k->data.scalar.value, what);
        }
    }
    return 0;
}

const char *tg_key(tg_cdoc_t *d, yaml_node_pair_t *p)
{
    return (const char *)tg_node(d, p->key)->data.scalar.value;
}

/* ---- sections ---------------------------------------------------------------------------- */

int tg_listen_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long port;

    errno = 0;
    port = strtol(colon ? colon + 1 : s, &end, 10);
    return !(errno || *end != '\0' || end == (colon ? colon + 1 : s) || port < 1 || port > 65535 ||
             (colon && colon == s));
}

static int tg_parse_listen(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;
    yaml_node_item_t *it;
    size_t count;

    if (n->type == YAML_SCALAR_NODE) {
        count = 1;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    } else {
        return tg_cerr(c, d, n, "listen must be an address or a list of addresses");
    }
    if (count == 0)
        return tg_cerr(c, d, n, "listen needs at least one address");
    cf->listen = tg_xcalloc(count, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *a = n->type == YAML_SCALAR_NODE
                             ? n
                             : tg_node(d, *(it = n->data.sequence.items.start + i));
        const char *s = tg_scalar(c, d, a, "a listen address");

        if (s == NULL)
            return -1;
        if (!tg_listen_ok(s))
            return tg_cerr(c, d, a, "listen address must be HOST:PORT or PORT, not \"%s\"", s);
        cf->listen[cf->nlisten++] = tg_xstrdup(s);
    }
    return 0;
}

static int tg_parse_log(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;

    if (tg_expect_map(c, d, n, "log") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        const char *s = tg_scalar(c, d, v, k);

        if (s == NULL)
            return -1;
        if (strcmp(k, "level") == 0) {
            if ((cf->log_level = tg_log_level_parse(s)) < 0)
                return tg_cerr(c, d, v, "log level must be debug, info, warn or error");
        } else if (strcmp(k, "error_log") == 0) {
            free(cf->error_log);
            cf->error_log = tg_xstrdup(s);
        } else if (strcmp(k, "access_log") == 0) {
            free(cf->access_log);
            cf->access_log = (strcmp(s, "off") == 0 || tg_is_null(v)) ? NULL : tg_xstrdup(s);
        } else {
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in log", k);
        }
    }
    return 0;
}

static int tg_parse_http(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;
    int64_t v64;

    if (tg_expect_map(c, d, n, "http") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        int rc;

        if (strcmp(k, "max_body_size") == 0)
            rc = tg_csize(c, d, v, k, &cf->http.max_body_size);
        else if (strcmp(k, "max_header_size") == 0)
            rc = tg_csize(c, d, v, k, &cf->http.max_header_size);
        else if (strcmp(k, "header_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->http.header_timeout_ms);
        else if (strcmp(k, "body_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->http.body_timeout_ms);
        else if (strcmp(k, "keepalive_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->http.keepalive_timeout_ms);
        else if (strcmp(k, "send_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->http.send_timeout_ms);
        else if (strcmp(k, "max_connections") == 0) {
            rc = tg_cint(c, d, v, k, 1, 1000000, &v64);
            cf->http.max_connections = (int)v64;
        } else
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in http", k);
        if (rc == -1)
            return -1;
    }
    if (cf->http.max_header_size < 1024 || cf->http.max_header_size > 1024 * 1024)
        return tg_cerr(c, d, n, "http.max_header_size must be between 1k and 1m");
    return 0;
}

static int tg_parse_upstream(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;

    if (tg_expect_map(c, d, n, "upstream") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        int rc;

        if (strcmp(k, "connect_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->upstream.connect_timeout_ms);
        else if (strcmp(k, "first_byte_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->upstream.first_byte_timeout_ms);
        else if (strcmp(k, "stream_idle_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->upstream.stream_idle_timeout_ms);
        else if (strcmp(k, "total_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->upstream.total_timeout_ms);
        else if (strcmp(k, "max_response_size") == 0)
            rc = tg_csize(c, d, v, k, &cf->upstream.max_response_size);
        else if (strcmp(k, "verify_tls") == 0)
            rc = tg_cbool(c, d, v, k, &cf->upstream.verify_tls);
        else
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in upstream", k);
        if (rc == -1)
            return -1;
    }
    return 0;
}

/*
 * Provider and model names appear in response headers, JSON error bodies and logs: keep them
 * to characters that need no escaping anywhere.
 */
int tg_name_ok(const char *s)
{
    size_t n = 0;

    for (; *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._:/@+-", *s) != NULL))
            return 0;
    return n > 0 && n <= 128;
}

static int tg_parse_store(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;

    if (tg_expect_map(c, d, n, "store") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        const char *s;
        int rc = 0;

        if (strcmp(k, "path") == 0 || strcmp(k, "pepper_file") == 0) {
            char **dst = k[0] == 'p' && k[1] == 'a' ? &cf->store.path : &cf->store.pepper_file;
            if ((s = tg_scalar(c, d, v, k)) == NULL)
                return -1;
            if (*s == '\0')
                return tg_cerr(c, d, v, "store.%s must not be empty", k);
            free(*dst);
            *dst = tg_xstrdup(s);
        } else if (strcmp(k, "control_map_size") == 0)
            rc = tg_csize(c, d, v, k, &cf->store.control_map_size);
        else if (strcmp(k, "meter_map_size") == 0)
            rc = tg_csize(c, d, v, k, &cf->store.meter_map_size);
        else if (strcmp(k, "meter_writemap") == 0)
            rc = tg_cbool(c, d, v, k, &cf->store.meter_writemap);
        else if (strcmp(k, "sync_interval") == 0)
            rc = tg_cduration(c, d, v, k, &cf->store.sync_interval_ms);
        else if (strcmp(k, "event_retention") == 0)
            rc = tg_cduration(c, d, v, k, &cf->store.event_retention_ms);
        else
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in store", k);
        if (rc == -1)
            return -1;
    }
    if (cf->store.path == NULL)
        return tg_cerr(c, d, n, "store needs a path (a directory)");
    if (cf->store.sync_interval_ms < 10)
        return tg_cerr(c, d, n, "store.sync_interval must be at least 10ms");
    return 0;
}

/*
 * api_key_file (and the other *_file secrets, named by key): the file is read like an include
 * (relative to the including file) and becomes part of the configuration source, so workers
 * compile exactly the key the master validated and a reload re-reads it. Surrounding whitespace
 * is trimmed; the key must be one line.
 */
int tg_rel_path(tg_cdoc_t *d, const char *s, char *path, size_t size)
{
    const char *slash = strrchr(d->file, '/');
    int n;

    if (s[0] == '/' || slash == NULL)
        n = snprintf(path, size, "%s", s);
    else
        n = snprintf(path, size, "%.*s/%s", (int)(slash - d->file), d->file, s);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int tg_read_key_file(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *v, const char *s, const char *key,
                     char **out)
{
    tg_config_source_t *src = &c->cf->source;
    tg_config_file_t *f;
    char path[4096], *data;
    size_t len, a = 0, b;

    if (tg_rel_path(d, s, path, sizeof(path)) == -1)
        return tg_cerr(c, d, v, "%s path too long", key);
    if ((f = tg_source_find(src, path)) == NULL) {
        char err[256];
        if (!src->from_disk)
            return tg_cerr(c, d, v, "%s %s is not part of the configuration source", key,
                           path);
        if (tg_read_file(path, &data, &len, err, sizeof(err)) == -1)
            return tg_cerr(c, d, v, "%s %s", key, err);
        f = tg_source_add(src, path, data, len);
    }
    b = f->len;
    while (a < b && (f->data[a] == ' ' || f->data[a] == '\t' || f->data[a] == '\n' ||
                     f->data[a] == '\r'))
        a++;
    while (b > a && (f->data[b - 1] == ' ' || f->data[b - 1] == '\t' ||
                     f->data[b - 1] == '\n' || f->data[b - 1] == '\r'))
        b--;
    for (size_t i = a; i < b; i++)
        if ((unsigned char)f->data[i] < 0x20 || f->data[i] == 0x7f)
            return tg_cerr(c, d, v, "%s %s must hold one line (the key)", key, path);
    if (a == b) {
        tg_log(TG_LOG_WARN, 0, "%s:%zu:%zu: %s %s is empty", d->file, v->start_mark.line + 1,
               v->start_mark.column + 1, key, path);
        *out = NULL;
        return 0;
    }
    *out = strndup(f->data + a, b - a);
    return *out != NULL ? 0 : -1;
}

/*
 * A secret value: api_key, aws_secret_access_key, aws_session_token. It must reference the
 * environment (${VAR}): secrets never live in config files. An empty value means none (with a
 * warning). Errors say where, never what: the value is a secret.
 */
static int tg_read_secret(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *v, const char *s,
                          const char *key, const char *provider, char **out)
{
    int refs;

    if (s[0] != '$' || s[1] != '{' || s[strlen(s) - 1] != '}' || strchr(s + 2, '$') != NULL)
        return tg_cerr(c, d, v,
                       "%s must reference the environment, like ${OPENAI_API_KEY};"
                       " secrets are never written in config files",
                       key);
    if ((*out = tg_expand_env(c, d, v, s, &refs)) == NULL)
        return -1;
    for (const char *q = *out; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return tg_cerr(c, d, v, "the %s from %s contains a control character",
                           strcmp(key, "api_key") == 0 ? "API key" : key, s);
    if (**out == '\0') {
        free(*out);
        *out = NULL;
        tg_log(TG_LOG_WARN, 0, "%s:%zu:%zu: provider \"%s\" has no %s (%s is empty)", d->file,
               v->start_mark.line + 1, v->start_mark.column + 1, provider,
               strcmp(key, "api_key") == 0 ? "API key" : key, s);
    }
    return 0;
}

/* The secrets a provider may have, each as KEY (from the environment) or KEY_file. */
static const struct {
    const char *key;
    size_t off; /* of the char * in tg_provider_t */
} tg_secrets[] = {
    {"api_key", offsetof(tg_provider_t, api_key)},
    {"aws_secret_access_key", offsetof(tg_provider_t, aws_secret_access_key)},
    {"aws_session_token", offsetof(tg_provider_t, aws_session_token)},
};

/*
 * A provider key naming a secret (KEY or KEY_file). Returns 1 when k is not one, else 0 or -1
 * (reported).
 */
static int tg_parse_secret(tg_cctx_t *c, tg_cdoc_t *d, tg_provider_t *pv, const char *k,
                           yaml_node_t *v, const char *s)
{
    for (size_t i = 0; i < sizeof(tg_secrets) / sizeof(tg_secrets[0]); i++) {
        size_t klen = strlen(tg_secrets[i].key);
        char **dst = (char **)(void *)((char *)pv + tg_secrets[i].off);
        int file, rc, src;

        if (strncmp(k, tg_secrets[i].key, klen) != 0 ||
            (k[klen] != '\0' && strcmp(k + klen, "_file") != 0))
            continue;
        file = k[klen] != '\0';
        if (!file && tg_is_null(v))
            return 0;
        if (*dst != NULL)
            return tg_cerr(c, d, v, "give %s or %s_file, not both", tg_secrets[i].key,
                           tg_secrets[i].key);
        rc = file ? tg_read_key_file(c, d, v, s, k, dst)
                  : tg_read_secret(c, d, v, s, k, pv->name, dst);
        src = *dst == NULL ? TG_KEY_NONE : file ? TG_KEY_FROM_FILE : TG_KEY_FROM_ENV;
        if (dst == &pv->api_key)
            pv->key_source = src;
        else if (dst == &pv->aws_secret_access_key)
            pv->aws_key_source = src;
        return rc;
    }
    return 1;
}

/* Bedrock's region from its endpoint, bedrock-runtime[-fips].<region>.amazonaws.com[.cn]. */
static char *tg_bedrock_region_of(const char *base_url)
{
    const char *h = strstr(base_url, "://"), *dot;

    if (h == NULL)
        return NULL;
    h += 3;
    if (strncmp(h, "bedrock-runtime.", 16) == 0)
        h += 16;
    else if (strncmp(h, "bedrock-runtime-fips.", 21) == 0)
        h += 21;
    else
        return NULL;
    if ((dot = strchr(h, '.')) == NULL || strncmp(dot, ".amazonaws.com", 14) != 0 || dot == h)
        return NULL;
    return strndup(h, (size_t)(dot - h));
}

static int tg_region_ok(const char *r)
{
    size_t n = strlen(r);

    return n > 0 && n <= 32 && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/*
 * Kind bedrock: the region (given, or read from base_url), the default base_url, and the
 * credentials: an access key pair for SigV4, or an api_key, or both (SigV4 wins).
 */
static int tg_check_bedrock(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_provider_t *pv,
                            int has_creds)
{
    const char *name = pv->name;

    if (pv->region == NULL && pv->base_url != NULL)
        pv->region = tg_bedrock_region_of(pv->base_url);
    if (pv->region == NULL)
        return tg_cerr(c, d, n,
                       "provider \"%s\" (bedrock) needs a region (or a base_url like "
                       "https://bedrock-runtime.us-east-1.amazonaws.com)",
                       name);
    if (pv->base_url == NULL) {
        size_t len = strlen(pv->region) + 48;
        pv->base_url = tg_xcalloc(1, len);
        snprintf(pv->base_url, len, "https://bedrock-runtime.%s.amazonaws.com", pv->region);
    }
    if ((pv->aws_access_key_id == NULL) != (pv->aws_secret_access_key == NULL))
        return tg_cerr(c, d, n,
                       "provider \"%s\" (bedrock) needs both aws_access_key_id and "
                       "aws_secret_access_key",
                       name);
    if (pv->aws_session_token != NULL && pv->aws_secret_access_key == NULL)
        return tg_cerr(c, d, n,
                       "provider \"%s\" (bedrock): aws_session_token needs an access key pair",
                       name);
    if (!has_creds)
        return tg_cerr(c, d, n,
                       "provider \"%s\" (bedrock) needs aws_access_key_id and "
                       "aws_secret_access_key (SigV4), or api_key (a Bedrock API key)",
                       name);
    return 0;
}

static int tg_parse_provider(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *kn, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;
    tg_provider_t *pv;
    const char *name = (const char *)kn->data.scalar.value;
    yaml_node_t *url_node = NULL, *aws_node = NULL; /* aws_node: the first bedrock-only key */
    int has_creds = 0;

    if (!tg_name_ok(name))
        return tg_cerr(c, d, kn,
                       "provider name \"%s\" must be 1-128 of A-Z a-z 0-9 . _ : / @ + -", name);
    for (size_t i = 0; i < cf->nproviders; i++)
        if (strcmp(cf->providers[i].name, name) == 0)
            return tg_cerr(c, d, kn, "provider \"%s\" is defined twice", name);
    if (tg_expect_map(c, d, n, "a provider") == -1)
        return -1;
    cf->providers = realloc(cf->providers, (cf->nproviders + 1) * sizeof(*cf->providers));
    if (cf->providers == NULL)
        abort();
    pv = &cf->providers[cf->nproviders++];
    memset(pv, 0, sizeof(*pv));
    pv->name = tg_xstrdup(name);
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        const char *s;
        int refs, rc;

        if (strcmp(k, "http2") == 0) {
            if (tg_cbool(c, d, v, "http2", &pv->http2) == -1)
                return -1;
            continue;
        }
        if (strcmp(k, "headers") == 0) {
            if (tg_expect_map(c, d, v, "headers") == -1)
                return -1;
            pv->headers = tg_xcalloc((size_t)(v->data.mapping.pairs.top -
                                              v->data.mapping.pairs.start),
                                     sizeof(tg_header_t));
            TG_FOREACH_PAIR(d, v, hp)
            {
                yaml_node_t *hv = tg_node(d, hp->value);
                const char *hs = tg_scalar(c, d, hv, "a header value");
                const char *hn = tg_key(d, hp);
                char *exp;

                if (hs == NULL)
                    return -1;
                for (const char *q = hn; *q; q++)
                    if (!(isalnum((unsigned char)*q) || *q == '-' || *q == '_'))
                        return tg_cerr(c, d, tg_node(d, hp->key), "bad header name \"%s\"", hn);
                if ((exp = tg_expand_env(c, d, hv, hs, &refs)) == NULL)
                    return -1;
                if (strpbrk(exp, "\r\n") != NULL) {
                    free(exp);
                    return tg_cerr(c, d, hv, "header value contains a line break");
                }
                pv->headers[pv->nheaders].name = tg_xstrdup(hn);
                pv->headers[pv->nheaders++].value = exp;
            }
            continue;
        }
        if ((s = tg_scalar(c, d, v, k)) == NULL)
            return -1;
        if (strcmp(k, "kind") == 0) {
            if (strcmp(s, "openai") == 0)
                pv->kind = TG_PROVIDER_OPENAI;
            else if (strcmp(s, "anthropic") == 0)
                pv->kind = TG_PROVIDER_ANTHROPIC;
            else if (strcmp(s, "azure") == 0)
                pv->kind = TG_PROVIDER_AZURE;
            else if (strcmp(s, "gemini") == 0)
                pv->kind = TG_PROVIDER_GEMINI;
            else if (strcmp(s, "bedrock") == 0)
                pv->kind = TG_PROVIDER_BEDROCK;
            else
                return tg_cerr(c, d, v,
                               "unknown provider kind \"%s\" (supported: openai, anthropic, "
                               "azure, gemini, bedrock)",
                               s);
        } else if (strcmp(k, "api_version") == 0) {
            if (*s == '\0' || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(s))
                return tg_cerr(c, d, v, "api_version must look like 2024-10-21");
            free(pv->api_version);
            pv->api_version = tg_xstrdup(s);
        } else if (strcmp(k, "base_url") == 0) {
            size_t len = strlen(s);
            if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
                return tg_cerr(c, d, v, "base_url must start with http:// or https://");
            while (len > 0 && s[len - 1] == '/')
                len--;
            pv->base_url = strndup(s, len);
            url_node = v;
        } else if (strcmp(k, "region") == 0) {
            if (!tg_region_ok(s))
                return tg_cerr(c, d, v, "region must look like us-east-1");
            free(pv->region);
            pv->region = tg_xstrdup(s);
            aws_node = aws_node != NULL ? aws_node : tg_node(d, p->key);
        } else if (strcmp(k, "aws_access_key_id") == 0) {
            /* not a secret (it names the key, as in AWS's own logs): literal or ${VAR} */
            free(pv->aws_access_key_id);
            if ((pv->aws_access_key_id = tg_expand_env(c, d, v, s, &refs)) == NULL)
                return -1;
            if (*pv->aws_access_key_id == '\0') {
                free(pv->aws_access_key_id);
                pv->aws_access_key_id = NULL;
            } else if (strspn(pv->aws_access_key_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
                       strlen(pv->aws_access_key_id)) {
                return tg_cerr(c, d, v, "aws_access_key_id must look like AKIAIOSFODNN7EXAMPLE");
            }
            has_creds = 1;
            aws_node = aws_node != NULL ? aws_node : tg_node(d, p->key);
        } else if ((rc = tg_parse_secret(c, d, pv, k, v, s)) != 1) {
            if (rc == -1)
                return -1;
            has_creds = 1;
            if (strncmp(k, "aws_", 4) == 0 && aws_node == NULL)
                aws_node = tg_node(d, p->key);
        } else {
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in provider \"%s\"", k,
                           name);
        }
    }
    if (pv->kind == 0)
        return tg_cerr(c, d, n,
                       "provider \"%s\" needs a kind (openai, anthropic, azure, gemini or bedrock)",
                       name);
    if (pv->kind == TG_PROVIDER_AZURE && pv->api_version == NULL)
        pv->api_version = tg_xstrdup("2024-10-21");
    if (pv->kind != TG_PROVIDER_BEDROCK && aws_node != NULL)
        return tg_cerr(c, d, aws_node,
                       "provider \"%s\": region and aws_* keys are only for kind bedrock", name);
    if (pv->kind == TG_PROVIDER_BEDROCK && tg_check_bedrock(c, d, n, pv, has_creds) == -1)
        return -1;
    if (pv->base_url == NULL)
        return tg_cerr(c, d, url_node ? url_node : n, "provider \"%s\" needs a base_url", name);
    return 0;
}

static int tg_parse_price(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_model_t *m)
{
    int have_in = 0, have_out = 0;

    if (tg_expect_map(c, d, n, "price") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        const char *s = tg_scalar(c, d, v, k);
        int64_t *dst;

        if (s == NULL)
            return -1;
        if (strcmp(k, "input") == 0) {
            dst = &m->price.input;
            have_in = 1;
        } else if (strcmp(k, "output") == 0) {
            dst = &m->price.output;
            have_out = 1;
        } else if (strcmp(k, "cached_input") == 0) {
            dst = &m->price.cached;
        } else if (strcmp(k, "cache_write") == 0) {
            dst = &m->price.cache_write;
        } else {
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in price (input, output, cached_input, "
                           "cache_write)",
                           k);
        }
        if (tg_price_parse(s, dst) == -1)
            return tg_cerr(c, d, v,
                           "price must be USD per 1M tokens with at most 6 decimals, not \"%s\"",
                           s);
    }
    if (!have_in || !have_out)
        return tg_cerr(c, d, n, "price needs input and output (USD per 1M tokens)");
    return 0;
}

static int tg_parse_model(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *kn, yaml_node_t *n,
                          tg_model_t *m)
{
    tg_config_t *cf = c->cf;
    const char *name = (const char *)kn->data.scalar.value;
    int have_price = 0;

    if (tg_expect_map(c, d, n, "a model") == -1)
        return -1;
    m->name = tg_xstrdup(name);
    if (!tg_name_ok(name))
        return tg_cerr(c, d, kn, "model name \"%s\" must be 1-128 of A-Z a-z 0-9 . _ : / @ + -",
                       name);
    m->price.cached = -1;
    m->price.cache_write = -1;
    m->context_window = 128000;
    m->max_output_tokens = 4096;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        const char *s;

        if (strcmp(k, "price") == 0) {
            if (tg_parse_price(c, d, v, m) == -1)
                return -1;
            have_price = 1;
        } else if (strcmp(k, "capabilities") == 0) {
            if (v->type != YAML_SEQUENCE_NODE)
                return tg_cerr(c, d, v, "capabilities must be a list");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                yaml_node_t *cn = tg_node(d, *it);
                if ((s = tg_scalar(c, d, cn, "a capability")) == NULL)
                    return -1;
                if (strcmp(s, "tools") == 0)
                    m->caps |= TG_CAP_TOOLS;
                else if (strcmp(s, "vision") == 0)
                    m->caps |= TG_CAP_VISION;
                else if (strcmp(s, "json") == 0)
                    m->caps |= TG_CAP_JSON;
                else if (strcmp(s, "reasoning") == 0)
                    m->caps |= TG_CAP_REASONING;
                else if (strcmp(s, "embeddings") == 0)
                    m->caps |= TG_CAP_EMBEDDINGS;
                else
                    return tg_cerr(c, d, cn,
                                   "unknown capability \"%s\" (tools, vision, json, reasoning,"
                                   " embeddings)",
                                   s);
            }
        } else if (strcmp(k, "provider") == 0) {
            if ((s = tg_scalar(c, d, v, k)) == NULL)
                return -1;
            for (size_t i = 0; i < cf->nproviders; i++)
                if (strcmp(cf->providers[i].name, s) == 0)
                    m->provider = &cf->providers[i];
            if (m->provider == NULL)
                return tg_cerr(c, d, v, "model \"%s\" names provider \"%s\", which is not defined",
                               name, s);
        } else if (strcmp(k, "upstream_model") == 0) {
            if ((s = tg_scalar(c, d, v, k)) == NULL)
                return -1;
            if (*s == '\0' || strpbrk(s, "\"\\\r\n") != NULL)
                return tg_cerr(c, d, v, "upstream_model must be a plain model id");
            m->upstream_model = tg_xstrdup(s);
        } else if (strcmp(k, "context_window") == 0) {
            if (tg_cint(c, d, v, k, 1, 100000000, &m->context_window) == -1)
                return -1;
        } else if (strcmp(k, "max_output_tokens") == 0) {
            if (tg_cint(c, d, v, k, 1, 100000000, &m->max_output_tokens) == -1)
                return -1;
        } else {
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in model \"%s\"", k,
                           name);
        }
    }
    if (m->provider == NULL)
        return tg_cerr(c, d, n, "model \"%s\" needs a provider", name);
    if (!have_price)
        return tg_cerr(c, d, n, "model \"%s\" needs a price (USD per 1M tokens)", name);
    if (m->upstream_model == NULL)
        m->upstream_model = tg_xstrdup(name);
    return 0;
}

int tg_collect_defs(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                    tg_cdefs_t *defs)
{
    if (tg_expect_map(c, d, n, what) == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        yaml_node_t *k = tg_node(d, p->key);
        for (size_t i = 0; i < defs->n; i++)
            if (strcmp((char *)defs->v[i].key->data.scalar.value,
                       (char *)k->data.scalar.value) == 0)
                return tg_cerr(c, d, k, "%.*s \"%s\" is also defined at %s:%zu",
                               (int)strlen(what) - 1, what, k->data.scalar.value,
                               defs->v[i].d->file, defs->v[i].key->start_mark.line + 1);
        if (defs->n == defs->cap) {
            defs->cap = defs->cap ? defs->cap * 2 : 64;
            defs->v = realloc(defs->v, defs->cap * sizeof(*defs->v));
            if (defs->v == NULL)
                abort();
        }
        defs->v[defs->n].d = d;
        defs->v[defs->n].key = k;
        defs->v[defs->n++].val = tg_node(d, p->value);
    }
    return 0;
}

static int tg_parse_providers(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    if (tg_expect_map(c, d, n, "providers") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        if (tg_parse_provider(c, d, tg_node(d, p->key), tg_node(d, p->value)) == -1)
            return -1;
    }
    return 0;
}

static int tg_parse_doc(tg_cctx_t *c, tg_cdoc_t *d, int main_file);

static int tg_parse_include(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    size_t count = n->type == YAML_SEQUENCE_NODE
                       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                       : 1;

    if (n->type != YAML_SEQUENCE_NODE && n->type != YAML_SCALAR_NODE)
        return tg_cerr(c, d, n, "include must be a file name or a list of them");
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *f = n->type == YAML_SCALAR_NODE
                             ? n
                             : tg_node(d, n->data.sequence.items.start[i]);
        const char *s = tg_scalar(c, d, f, "an include");
        const char *slash = strrchr(d->file, '/');
        char path[4096];
        tg_cdoc_t *inc;
        int len;

        if (s == NULL)
            return -1;
        if (s[0] == '/' || slash == NULL)
            len = snprintf(path, sizeof(path), "%s", s);
        else
            len = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - d->file), d->file, s);
        if (len < 0 || (size_t)len >= sizeof(path))
            return tg_cerr(c, d, f, "include path too long");
        for (size_t j = 0; j < c->ndocs; j++)
            if (strcmp(c->docs[j].file, path) == 0)
                return tg_cerr(c, d, f, "\"%s\" is included twice", path);
        if ((inc = tg_doc_load(c, path)) == NULL) {
            /* a file that could not be read is the include line's fault: point at it */
            if (strstr(c->err, ": cannot open") != NULL ||
                strstr(c->err, ": not part of the configuration source") != NULL ||
                strstr(c->err, ": cannot read") != NULL) {
                char why[TG_CONFIG_ERR_MAX];
                snprintf(why, sizeof(why), "%s", c->err);
                return tg_cerr(c, d, f, "include %s", why);
            }
            return -1;
        }
        if (tg_parse_doc(c, inc, 0) == -1)
            return -1;
    }
    return 0;
}

static int tg_parse_doc(tg_cctx_t *c, tg_cdoc_t *d, int main_file)
{
    tg_config_t *cf = c->cf;
    yaml_node_t *root = yaml_document_get_root_node(&d->doc);
    int64_t v64;

    if (tg_expect_map(c, d, root, "the top level") == -1)
        return -1;
    TG_FOREACH_PAIR(d, root, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        int rc;

        if (strcmp(k, "providers") == 0)
            rc = tg_parse_providers(c, d, v);
        else if (strcmp(k, "models") == 0)
            rc = tg_collect_defs(c, d, v, "models", &c->models);
        else if (strcmp(k, "routes") == 0)
            rc = tg_collect_defs(c, d, v, "routes", &c->routes);
        else if (strcmp(k, "include") == 0)
            rc = tg_parse_include(c, d, v);
        else if (!main_file)
            return tg_cerr(c, d, tg_node(d, p->key),
                           "\"%s\" is not allowed in an included file (only providers, models,"
                           " routes, include)",
                           k);
        else if (strcmp(k, "listen") == 0)
            rc = tg_parse_listen(c, d, v);
        else if (strcmp(k, "workers") == 0) {
            const char *s = tg_scalar(c, d, v, k);
            if (s == NULL)
                return -1;
            if (strcmp(s, "auto") == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                cf->workers = n > 0 ? (int)n : 1;
                rc = 0;
            } else {
                rc = tg_cint(c, d, v, k, 1, 256, &v64);
                cf->workers = (int)v64;
            }
        } else if (strcmp(k, "pid_file") == 0) {
            const char *s = tg_scalar(c, d, v, k);
            if (s == NULL)
                return -1;
            free(cf->pid_file);
            cf->pid_file = tg_is_null(v) ? NULL : tg_xstrdup(s);
            rc = 0;
        } else if (strcmp(k, "admin_socket") == 0) {
            const char *s = tg_scalar(c, d, v, k);
            if (s == NULL)
                return -1;
            free(cf->admin_socket);
            cf->admin_socket = tg_is_null(v) ? NULL : tg_xstrdup(s);
            rc = 0;
        } else if (strcmp(k, "store") == 0) {
            rc = tg_parse_store(c, d, v);
        } else if (strcmp(k, "auth") == 0) {
            const char *s = tg_scalar(c, d, v, k);
            if (s == NULL)
                return -1;
            if (strcmp(s, "keys") == 0)
                cf->auth_keys = 1;
            else if (strcmp(s, "off") == 0 || strcmp(s, "false") == 0)
                cf->auth_keys = 0;
            else
                return tg_cerr(c, d, v, "auth must be keys or off, not \"%s\"", s);
            rc = 0;
        } else if (strcmp(k, "shutdown_timeout") == 0)
            rc = tg_cduration(c, d, v, k, &cf->shutdown_timeout_ms);
        else if (strcmp(k, "log") == 0)
            rc = tg_parse_log(c, d, v);
        else if (strcmp(k, "http") == 0)
            rc = tg_parse_http(c, d, v);
        else if (strcmp(k, "upstream") == 0)
            rc = tg_parse_upstream(c, d, v);
        else if (strcmp(k, "breaker") == 0)
            rc = tg_parse_breaker(c, d, v);
        else if (strcmp(k, "admin_http") == 0)
            rc = tg_parse_admin_http(c, d, v);
        else if (strcmp(k, "baseline") == 0) {
            const char *s = tg_scalar(c, d, v, k);
            if (s == NULL)
                return -1;
            free(cf->baseline_name);
            cf->baseline_name = tg_xstrdup(s);
            c->baseline_node = v;
            c->baseline_doc = d;
            rc = 0;
        }
        else
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\"", k);
        if (rc == -1)
            return -1;
    }
    if (main_file && cf->nlisten == 0)
        return tg_cerr(c, d, root, "listen is required");
    if (main_file && cf->auth_keys && cf->store.path == NULL)
        return tg_cerr(c, d, root, "auth: keys needs a store (store: {path: DIR})");
    if (main_file && cf->store.path != NULL && cf->store.pepper_file == NULL) {
        size_t n = strlen(cf->store.path) + 8;
        cf->store.pepper_file = tg_xcalloc(1, n);
        snprintf(cf->store.pepper_file, n, "%s/pepper", cf->store.path);
    }
    return 0;
}

static int tg_model_cmp(const void *a, const void *b)
{
    return strcmp(((const tg_model_t *)a)->name, ((const tg_model_t *)b)->name);
}

static void tg_config_defaults(tg_config_t *cf)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    cf->refs = 1;
    cf->workers = n > 0 ? (int)n : 1;
    cf->log_level = TG_LOG_INFO;
    cf->error_log = tg_xstrdup("stderr");
    cf->shutdown_timeout_ms = 30000;
    cf->breaker.failures = 5;
    cf->breaker.error_rate = 0.5;
    cf->breaker.min_requests = 20;
    cf->breaker.window_ms = 60000;
    cf->breaker.cooldown_ms = 30000;
    cf->breaker.probe_ms = 30000;
    cf->http.max_body_size = 8 * 1024 * 1024;
    cf->http.max_header_size = 16 * 1024;
    cf->http.header_timeout_ms = 10000;
    cf->http.body_timeout_ms = 30000;
    cf->http.keepalive_timeout_ms = 75000;
    cf->http.send_timeout_ms = 60000;
    cf->http.max_connections = 10000;
    cf->upstream.connect_timeout_ms = 5000;
    cf->upstream.first_byte_timeout_ms = 120000;
    cf->upstream.stream_idle_timeout_ms = 60000;
    cf->upstream.total_timeout_ms = 600000;
    cf->upstream.max_response_size = 64 * 1024 * 1024;
    cf->upstream.verify_tls = 1;
    cf->store.control_map_size = 256 * 1024 * 1024;
    cf->store.meter_map_size = (size_t)4 * 1024 * 1024 * 1024;
    cf->store.meter_writemap = 0;
    cf->store.sync_interval_ms = 1000;
    cf->store.event_retention_ms = (int64_t)30 * 86400000;
}

/* Replace *dst (a secret) with len bytes of src, or with none when len is 0. */
static void tg_replace_secret(char **dst, const char *src, size_t len)
{
    tg_free_secret(*dst);
    *dst = len > 0 ? strndup(src, len) : NULL;
    if (len > 0 && *dst == NULL)
        abort(); /* as tg_xstrdup: a config half-rotated is worse than none */
}

/*
 * A SigV4 provider's new credentials: ACCESS_KEY_ID:SECRET[:SESSION_TOKEN] replaces them all (a
 * new IAM key pair, or fresh temporary credentials); a bare SECRET replaces the secret only.
 * Neither part of an AWS key ever holds a ':'. Returns 0 or -1 (malformed).
 */
static int tg_rotate_aws(tg_provider_t *p, const char *key)
{
    const char *c1 = strchr(key, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    size_t idlen = c1 != NULL ? (size_t)(c1 - key) : 0;
    const char *secret = c1 != NULL ? c1 + 1 : key;
    size_t slen = c2 != NULL ? (size_t)(c2 - secret) : strlen(secret);

    if (slen == 0 || (c1 != NULL && (idlen == 0 ||
                                     strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != idlen)))
        return -1;
    if (c2 != NULL && strchr(c2 + 1, ':') != NULL)
        return -1;
    if (c1 != NULL) {
        free(p->aws_access_key_id);
        p->aws_access_key_id = strndup(key, idlen);
        if (p->aws_access_key_id == NULL)
            abort();
        tg_replace_secret(&p->aws_session_token, c2 != NULL ? c2 + 1 : "",
                          c2 != NULL ? strlen(c2 + 1) : 0);
    }
    tg_replace_secret(&p->aws_secret_access_key, secret, slen);
    p->aws_key_source = TG_KEY_ROTATED;
    return 0;
}

int tg_config_set_provider_key(tg_config_t *cf, const char *provider, const char *key)
{
    for (const char *q = key; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return -1;
    for (size_t i = 0; i < cf->nproviders; i++) {
        tg_provider_t *p = &cf->providers[i];
        if (strcmp(p->name, provider) != 0)
            continue;
        if (tg_provider_sigv4(p))
            return tg_rotate_aws(p, key);
        tg_replace_secret(&p->api_key, key, strlen(key));
        p->key_source = *key != '\0' ? TG_KEY_ROTATED : TG_KEY_NONE;
        return 0;
    }
    return -1;
}

int tg_provider_sigv4(const tg_provider_t *p)
{
    return p->kind == TG_PROVIDER_BEDROCK && p->aws_access_key_id != NULL &&
           p->aws_secret_access_key != NULL;
}

const char *tg_provider_kind_name(tg_provider_kind_t kind)
{
    static const char *const names[] = {"", "openai", "anthropic", "azure", "gemini", "bedrock"};

    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "";
}

/* Live-rotated provider keys, applied to every compiled configuration (see tg_config.h). */
static struct tg_override_s {
    char *provider;
    char *key;
    struct tg_override_s *next;
} *tg_overrides;

int tg_config_override_key(const char *provider, const char *key)
{
    struct tg_override_s *o;

    for (const char *q = key; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return -1;
    for (o = tg_overrides; o != NULL; o = o->next)
        if (strcmp(o->provider, provider) == 0)
            break;
    if (o == NULL) {
        if ((o = calloc(1, sizeof(*o))) == NULL || (o->provider = strdup(provider)) == NULL) {
            free(o);
            return -1;
        }
        o->next = tg_overrides;
        tg_overrides = o;
    } else {
        explicit_bzero(o->key, strlen(o->key));
        free(o->key);
    }
    o->key = tg_xstrdup(key);
    return 0;
}

void tg_config_overrides_clear(void)
{
    while (tg_overrides != NULL) {
        struct tg_override_s *o = tg_overrides;
        tg_overrides = o->next;
        explicit_bzero(o->key, strlen(o->key));
        free(o->key);
        free(o->provider);
        free(o);
    }
}

static tg_config_t *tg_config_compile(tg_config_t *cf, char *err, size_t errlen)
{
    tg_cctx_t c;
    tg_cdoc_t *d;
    EVP_MD_CTX *md;
    unsigned int mdlen;

    memset(&c, 0, sizeof(c));
    c.cf = cf;
    c.err = err;
    c.errlen = errlen;
    err[0] = '\0';
    tg_config_defaults(cf);
    cf->path = tg_xstrdup(cf->source.files[0].path);
    if ((d = tg_doc_load(&c, cf->path)) == NULL)
        goto fail;
    if (tg_parse_doc(&c, d, 1) == -1 || tg_check_admin_http(&c) == -1)
        goto fail;
    cf->models = tg_xcalloc(c.models.n, sizeof(tg_model_t));
    for (size_t i = 0; i < c.models.n; i++) {
        tg_cdef_t *def = &c.models.v[i];

        if (tg_parse_model(&c, def->d, def->key, def->val, &cf->models[i]) == -1) {
            cf->nmodels = i + 1;
            goto fail;
        }
        cf->nmodels = i + 1;
    }
    qsort(cf->models, cf->nmodels, sizeof(tg_model_t), tg_model_cmp);
    if (tg_compile_routes(&c) == -1)
        goto fail;
    if (cf->baseline_name != NULL &&
        (cf->baseline = tg_config_model(cf, cf->baseline_name, strlen(cf->baseline_name))) ==
            NULL) {
        tg_cerr(&c, c.baseline_doc, c.baseline_node, "baseline \"%s\" is not a configured model",
                cf->baseline_name);
        goto fail;
    }
    for (struct tg_override_s *o = tg_overrides; o != NULL; o = o->next)
        tg_config_set_provider_key(cf, o->provider, o->key); /* a provider may be gone: fine */
    if (cf->upstream.first_byte_timeout_ms > cf->upstream.total_timeout_ms) {
        snprintf(err, errlen, "%s:1:1: upstream.first_byte_timeout exceeds total_timeout",
                 cf->path);
        goto fail;
    }

    md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < cf->source.nfiles; i++)
        EVP_DigestUpdate(md, cf->source.files[i].data, cf->source.files[i].len);
    EVP_DigestFinal_ex(md, cf->sha256, &mdlen);
    EVP_MD_CTX_free(md);

    for (size_t i = 0; i < c.ndocs; i++)
        yaml_document_delete(&c.docs[i].doc);
    free(c.models.v);
    free(c.routes.v);
    return cf;

fail:
    for (size_t i = 0; i < c.ndocs; i++)
        yaml_document_delete(&c.docs[i].doc);
    free(c.models.v);
    free(c.routes.v);
    tg_config_unref(cf);
    return NULL;
}

tg_config_t *tg_config_load_file(const char *path, char *err, size_t errlen)
{
    tg_config_t *cf = tg_xcalloc(1, sizeof(*cf));
    char *data;
    size_t len;

    cf->refs = 1;
    cf->source.from_disk = 1;
    if (tg_read_file(path, &data, &len, err, errlen) == -1) {
        free(cf);
        return NULL;
    }
    tg_source_add(&cf->source, path, data, len);
    return tg_config_compile(cf, err, errlen);
}

tg_config_t *tg_config_load_source(const tg_config_source_t *src, char *err, size_t errlen)
{
    tg_config_t *cf;

    if (src->nfiles == 0) {
        snprintf(err, errlen, "empty configuration source");
        return NULL;
    }
    cf = tg_xcalloc(1, sizeof(*cf));
    cf->refs = 1;
    for (size_t i = 0; i < src->nfiles; i++) {
        char *data = tg_xcalloc(1, src->files[i].len + 1);
        memcpy(data, src->files[i].data, src->files[i].len);
        tg_source_add(&cf->source, src->files[i].path, data, src->files[i].len);
    }
    cf->source.from_disk = 0;
    return tg_config_compile(cf, err, errlen);
}

static void (*tg_config_ext_free)(void *ext);

void tg_config_set_ext_free(void (*fn)(void *ext))
{
    tg_config_ext_free = fn;
}

tg_config_t *tg_config_ref(tg_config_t *cf)
{
    cf->refs++;
    return cf;
}


void tg_config_unref(tg_config_t *cf)
{
    if (cf == NULL || --cf->refs > 0)
        return;
    for (size_t i = 0; i < cf->source.nfiles; i++) {
        free(cf->source.files[i].path);
        free(cf->source.files[i].data);
    }
    free(cf->source.files);
    for (size_t i = 0; i < cf->nlisten; i++)
        free(cf->listen[i]);
    free(cf->listen);
    for (size_t i = 0; i < cf->nproviders; i++) {
        tg_provider_t *p = &cf->providers[i];
        if (p->ext != NULL && tg_config_ext_free != NULL)
            tg_config_ext_free(p->ext);
        free(p->name);
        free(p->base_url);
        free(p->api_version);
        free(p->region);
        free(p->aws_access_key_id);
        tg_free_secret(p->api_key);
        tg_free_secret(p->aws_secret_access_key);
        tg_free_secret(p->aws_session_token);
        for (size_t j = 0; j < p->nheaders; j++) {
            free(p->headers[j].name);
            tg_free_secret(p->headers[j].value);
        }
        free(p->headers);
    }
    free(cf->providers);
    tg_routes_free(cf);
    for (size_t i = 0; i < cf->nmodels; i++) {
        free(cf->models[i].name);
        free(cf->models[i].upstream_model);
    }
    free(cf->models);
    free(cf->path);
    free(cf->baseline_name);
    free(cf->pid_file);
    free(cf->admin_socket);
    free(cf->admin_http.listen);
    tg_free_secret(cf->admin_http.token);
    free(cf->store.path);
    free(cf->store.pepper_file);
    free(cf->error_log);
    free(cf->access_log);
    free(cf);
}

const tg_model_t *tg_config_model(const tg_config_t *cf, const char *name, size_t len)
{
    return tg_find_named(cf->models, cf->nmodels, sizeof(tg_model_t), name, len);
}

const void *tg_find_named(const void *base, size_t n, size_t size, const char *name, size_t len)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const void *e = (const char *)base + mid * size;
        const char *mn = *(char *const *)e;
        size_t mlen = strlen(mn);
        int r = memcmp(mn, name, mlen < len ? mlen : len);
        if (r == 0)
            r = mlen == len ? 0 : (mlen < len ? -1 : 1);
        if (r == 0)
            return e;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void tg_config_sha256_hex(const tg_config_t *cf, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + i * 2, 3, "%02x", cf->sha256[i]);
}
