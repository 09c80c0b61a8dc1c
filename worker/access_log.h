/*
 * The access log: one JSON object per line per request, with the key facts an operator needs
 * (request id, route taken, tokens, cost, timings, status) and never a secret or prompt text.
 */
#ifndef TG_WORKER_ACCESS_LOG_H
#define TG_WORKER_ACCESS_LOG_H

#include "worker/http.h"

struct event_base;

/**
 * Open the access log (path, "stdout", "stderr") or turn it off (NULL); lines are flushed at
 * the end of each turn of base's loop. Returns 0 or -1.
 */
int tg_access_log_open(struct event_base *base, const char *path);

/** Write the line for a finished (or aborted) request. */
void tg_access_log(const tg_req_t *req);

/**
 * Write the lines pending for this loop turn now. The HTTP layer calls it before it writes the
 * turn's answers, so that a client holding an answer finds its request's line in the log.
 */
void tg_access_log_flush(void);

/** Flush and close the log. */
void tg_access_log_close(void);

/** Flush, close and free the flush event (at worker exit). */
void tg_access_log_shutdown(void);

/** Append s to buf as a JSON string body (no quotes), escaping as needed; returns new length. */
size_t tg_json_escape(char *buf, size_t size, size_t len, const char *s);

#endif
