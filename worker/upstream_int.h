/*
 * What the two upstream transports share privately: curl's multi handle (both connect through
 * it), the transfer lifecycle, and the tag that tells a transfer from a pooled connection in
 * CURLINFO_PRIVATE.
 */
#ifndef TG_WORKER_UPSTREAM_INT_H
#define TG_WORKER_UPSTREAM_INT_H

#include <curl/curl.h>
#include <event2/event.h>

#include "worker/upstream.h"

enum { TG_KIND_XFER = 1, TG_KIND_H1CONN = 2 };

/** The worker's curl multi handle. */
CURLM *tg_upstream_multi(void);

/** End a transfer: stop its transport, call on_done, free it. */
void tg_xfer_finish(tg_xfer_t *x, tg_xfer_result_t r);

/** (Re)arm the first-byte / idle timer, bounded by the total deadline. */
void tg_xfer_arm(tg_xfer_t *x, int64_t ms);

/** Start an HTTP/1.1 pool transfer (x->h1_origin set). Same contract as tg_xfer_post. */
int tg_h1_post(tg_xfer_t *x, char *body, size_t len, const tg_config_t *cf);

/** A pooled connection's connect phase finished (called from the multi's done queue). */
void tg_h1_connected(void *conn, CURLcode result);

/** Detach a transfer from its connection: reuse it if the answer completed, else close it. */
void tg_h1_detach(tg_xfer_t *x);

/** Resume reading for a paused pool transfer. */
void tg_h1_resume(tg_xfer_t *x);

/** Close every pooled connection (worker exit). */
void tg_h1_shutdown(void);

/** Map a curl result code to a transfer result. */
tg_xfer_result_t tg_xfer_result_of(CURLcode code);

#endif
