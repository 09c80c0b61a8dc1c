/*
 * The admin_http: section: where the master serves the admin HTTP API and Prometheus' /metrics,
 * and the bearer token that guards both. The token is a secret like a provider key: it comes
 * from the environment (${VAR}) or a file readable by its owner only, is never echoed in an
 * error, and is wiped when the configuration is freed. There is no way to run without one.
 */
#include "shared/tg_config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TG_ADMIN_TOKEN_MIN 16

/* token: must be one ${VAR} reference, set and long enough. */
static int tg_admin_token_env(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *v, const char *s, char **out)
{
    int refs;

    if (s[0] != '$' || s[1] != '{' || s[strlen(s) - 1] != '}' || strchr(s + 2, '$') != NULL)
        return tg_cerr(c, d, v,
                       "admin_http.token must reference the environment, like "
                       "${TOLLGATE_ADMIN_TOKEN} (or use token_file); secrets are never written in "
                       "config files");
    if ((*out = tg_expand_env(c, d, v, s, &refs)) == NULL)
        return -1;
    if (**out == '\0')
        return tg_cerr(c, d, v, "admin_http.token: %s is empty", s);
    return 0;
}

/* token_file: a one-line file that only its owner may read (checked when read from disk). */
static int tg_admin_token_file(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *v, const char *s,
                               char **out)
{
    char path[4096];
    struct stat st;

    if (c->cf->source.from_disk && tg_rel_path(d, s, path, sizeof(path)) == 0 &&
        stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        return tg_cerr(c, d, v,
                       "admin_http.token_file %s may be read by others (mode %03o): chmod 600 it",
                       path, (unsigned)(st.st_mode & 0777));
    if (tg_read_key_file(c, d, v, s, "admin_http.token_file", out) == -1)
        return -1;
    if (*out == NULL)
        return tg_cerr(c, d, v, "admin_http.token_file %s is empty", s);
    return 0;
}

int tg_parse_admin_http(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n)
{
    tg_config_t *cf = c->cf;
    yaml_node_t *token_node = NULL;

    if (tg_expect_map(c, d, n, "admin_http") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        const char *k = tg_key(d, p);
        yaml_node_t *v = tg_node(d, p->value);
        const char *s = tg_scalar(c, d, v, k);

        if (s == NULL)
            return -1;
        if (strcmp(k, "listen") == 0) {
            if (!tg_listen_ok(s))
                return tg_cerr(c, d, v, "admin_http.listen must be HOST:PORT or PORT, not \"%s\"",
                               s);
            free(cf->admin_http.listen);
            cf->admin_http.listen = tg_xstrdup(s);
            c->admin_http_node = v;
            c->admin_http_doc = d;
        } else if (strcmp(k, "token") == 0 || strcmp(k, "token_file") == 0) {
            int rc;
            if (token_node != NULL)
                return tg_cerr(c, d, v, "admin_http takes token or token_file, not both");
            token_node = v;
            rc = k[5] == '\0' ? tg_admin_token_env(c, d, v, s, &cf->admin_http.token)
                              : tg_admin_token_file(c, d, v, s, &cf->admin_http.token);
            if (rc == -1)
                return -1;
            for (const char *q = cf->admin_http.token; *q; q++)
                if ((unsigned char)*q <= 0x20 || *q == 0x7f)
                    return tg_cerr(c, d, v,
                                   "the admin_http token contains a space or a "
                                   "control character");
            if (strlen(cf->admin_http.token) < TG_ADMIN_TOKEN_MIN)
                return tg_cerr(c, d, v,
                               "the admin_http token is shorter than %d characters (make one "
                               "with: openssl rand -hex 32)",
                               TG_ADMIN_TOKEN_MIN);
        } else {
            return tg_cerr(c, d, tg_node(d, p->key), "unknown key \"%s\" in admin_http", k);
        }
    }
    if (cf->admin_http.listen == NULL)
        return tg_cerr(c, d, n, "admin_http needs listen (HOST:PORT)");
    if (cf->admin_http.token == NULL)
        return tg_cerr(c, d, n,
                       "admin_http needs token (${ENV_VAR}) or token_file: the admin API and "
                       "/metrics are never served without one");
    return 0;
}

/* The port of a listen address (validated: HOST:PORT or PORT). */
static long tg_port_of(const char *s)
{
    const char *colon = strrchr(s, ':');

    return strtol(colon != NULL ? colon + 1 : s, NULL, 10);
}

int tg_check_admin_http(tg_cctx_t *c)
{
    tg_config_t *cf = c->cf;

    if (cf->admin_http.listen == NULL)
        return 0;
    for (size_t i = 0; i < cf->nlisten; i++)
        if (tg_port_of(cf->listen[i]) == tg_port_of(cf->admin_http.listen))
            return tg_cerr(c, c->admin_http_doc, c->admin_http_node,
                           "admin_http.listen must not use the port of a client listener (%s)",
                           cf->listen[i]);
    return 0;
}
