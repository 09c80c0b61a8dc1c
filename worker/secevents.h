/*
 * Security events for the audit trail, aggregated so that an attack cannot flood it: failed
 * authentications per minute per key prefix and client address, and exhausted budgets per
 * minute per key or tenant. Each worker counts in memory and appends one audit entry per group
 * when the minute is over.
 */
#ifndef TG_WORKER_SECEVENTS_H
#define TG_WORKER_SECEVENTS_H

struct event_base;

/** Start the once-a-few-seconds flush timer. */
int tg_secevents_init(struct event_base *base);

/** Flush what is counted and stop the timer (worker exit). */
void tg_secevents_shutdown(void);

/** Count one failed authentication. prefix: "tg_<id>" or a short description; never a secret. */
void tg_secevent_auth_failure(const char *prefix, const char *client, const char *reason);

/** Count one request refused because a budget is exhausted. */
void tg_secevent_budget(const char *scope, const char *id, const char *window);

#endif
