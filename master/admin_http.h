/*
 * The admin HTTP listener (admin_http: in the configuration): the admin commands as a JSON API
 * under /admin/v1/ and Prometheus' /metrics, served by the master, behind a bearer token.
 * docs/analytics.md describes the API; docs/architecture.md why it looks the way it does.
 */
#ifndef TG_MASTER_ADMIN_HTTP_H
#define TG_MASTER_ADMIN_HTTP_H

#include <stddef.h>

#include "shared/tg_config.h"

struct event_base;

/**
 * Bind cf's admin_http.listen if it differs from the address being served (the socket is held
 * until tg_admin_http_apply). Nothing is bound when the address is unchanged or there is none.
 * Returns 0, or -1 with "listen ADDR: reason" in err (the running listener is untouched).
 */
int tg_admin_http_prepare(const tg_config_t *cf, char *err, size_t errlen);

/**
 * Serve cf's admin_http from now on: its token at once, the socket tg_admin_http_prepare bound
 * (the old listener is closed), or nothing when cf has no admin_http.
 */
void tg_admin_http_apply(struct event_base *base, const tg_config_t *cf);

/** prepare + apply at start-up; -1 (logged) when the address cannot be bound. */
int tg_admin_http_start(struct event_base *base, const tg_config_t *cf);

/** Close the listener and every connection, and forget the token. */
void tg_admin_http_stop(void);

/**
 * In a freshly forked worker: close the listener's and the connections' descriptors (without
 * touching the master's event structures), so that a worker never holds an admin connection
 * or the admin port open.
 */
void tg_admin_http_forked(void);

/**
 * 1 when header (an Authorization value of len bytes) is "Bearer <token>" for the token whose
 * SHA-256 is want, else 0. Digests are compared with CRYPTO_memcmp: the time taken does not
 * depend on how much of a guess is right, nor on its length.
 */
int tg_admin_http_token_ok(const unsigned char want[32], const char *header, size_t len);

#endif
