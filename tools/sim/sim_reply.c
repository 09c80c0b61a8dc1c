/*
 * The response engine of tollgate-sim. Handlers hand it a finished answer (a JSON body or a
 * list of pre-rendered stream events) and the engine delivers it while applying the timing
 * faults: latency, time to first token, tokens-per-second pacing, abrupt resets and stalls.
 * Every delayed response is a job tied to its connection, so a client that goes away
 * mid-delay or mid-stream frees the job (the connection close callback) instead of leaking it.
 */
#include "tools/sim/sim.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

/* How often waiting jobs check that their client is still there. */
#define SIM_SWEEP_US 200000

/* How long a reset waits, at most, for already written chunks to leave the socket. */
#define SIM_RESET_POLL_US 2000
#define SIM_RESET_MAX_POLLS 100

typedef enum sim_job_state_t {
    SIM_JOB_LATENCY, /* timer: waiting before the response starts */
    SIM_JOB_NEXT,    /* timer: waiting before the next stream event (ttft or pacing) */
    SIM_JOB_WRITING, /* an event is in the output buffer; sim_job_drained continues */
    SIM_JOB_RESET,   /* timer: about to reset the connection */
    SIM_JOB_STALLED, /* nothing more will happen until the client leaves */
} sim_job_state_t;

struct sim_job_t {
    sim_t *sim;
    struct evhttp_request *req; /* owned by evhttp unless detached, see sim_job_closed */
    struct evhttp_connection *evcon;
    struct event *timer;
    struct evbuffer *out; /* full body (non-stream) or scratch for one event */
    sim_fault_t fault;
    sim_events_t ev;
    size_t sent; /* stream events written so far */
    int status;
    int reset_polls;
    bool stream;
    sim_job_state_t state;
    sim_job_t *prev;
    sim_job_t *next;
};

static void sim_job_ready(sim_job_t *job);
static void sim_job_send_next(sim_job_t *job);

int sim_events_add_raw(sim_events_t *ev, const char *text, unsigned flags)
{
    return sim_events_add_bytes(ev, text, strlen(text), flags);
}

int sim_events_add_bytes(sim_events_t *ev, const void *data, size_t len, unsigned flags)
{
    char *copy;

    if (ev->n == ev->cap) {
        size_t cap = ev->cap == 0 ? 32 : ev->cap * 2;
        char **t = realloc(ev->text, cap * sizeof(*t));

        if (t == NULL) {
            return -1;
        }
        ev->text = t;
        size_t *l = realloc(ev->len, cap * sizeof(*l));
        if (l == NULL) {
            return -1;
        }
        ev->len = l;
        unsigned *f = realloc(ev->flags, cap * sizeof(*f));
        if (f == NULL) {
            return -1;
        }
        ev->flags = f;
        ev->cap = cap;
    }
    if ((copy = malloc(len + 1)) == NULL) {
        return -1;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    ev->text[ev->n] = copy;
    ev->len[ev->n] = len;
    ev->flags[ev->n] = flags;
    ev->n++;
    return 0;
}

int sim_events_add_frame(sim_events_t *ev, const char *prefix, const json_t *obj,
                         const char *suffix, unsigned flags)
{
    char *body = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    char *framed = NULL;
    size_t len;
    int rc = -1;

    if (body == NULL) {
        return -1;
    }
    len = strlen(prefix) + strlen(body) + strlen(suffix) + 1;
    framed = malloc(len);
    if (framed == NULL) {
        goto done;
    }
    int n = snprintf(framed, len, "%s%s%s", prefix, body, suffix);
    if (n < 0 || (size_t)n >= len) {
        goto done;
    }
    rc = sim_events_add_raw(ev, framed, flags);

done:
    free(framed);
    free(body);
    return rc;
}

int sim_events_add_json(sim_events_t *ev, const json_t *obj, unsigned flags)
{
    return sim_events_add_frame(ev, "data: ", obj, "\n\n", flags);
}

void sim_events_truncate(sim_events_t *ev, size_t n)
{
    while (ev->n > n) {
        free(ev->text[--ev->n]);
    }
}

void sim_events_clear(sim_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->text[i]);
    }
    free(ev->text);
    free(ev->len);
    free(ev->flags);
    memset(ev, 0, sizeof(*ev));
}

/* Unlinks and frees a job. Never touches job->req: by now evhttp owns it (or it is gone). */
static void sim_job_free(sim_job_t *job)
{
    sim_t *sim = job->sim;

    if (job->prev != NULL) {
        job->prev->next = job->next;
    } else {
        sim->jobs = job->next;
    }
    if (job->next != NULL) {
        job->next->prev = job->prev;
    }
    if (job->stream) {
        sim->active_streams--;
    }
    if (job->timer != NULL) {
        event_free(job->timer);
    }
    if (job->out != NULL) {
        evbuffer_free(job->out);
    }
    sim_events_clear(&job->ev);
    free(job);
}

/* Detaches from the connection before the job is done with it, so no late close callback
 * sees a freed job. */
static void sim_job_done(sim_job_t *job)
{
    evhttp_connection_set_closecb(job->evcon, NULL, NULL);
    sim_job_free(job);
}

/* evhttp_connection_set_closecb: the client went away (or the server is shutting down). If
 * evhttp detached the unfinished request from the dying connection, the request is ours to
 * free; otherwise the connection frees it right after this callback. */
static void sim_job_closed(struct evhttp_connection *evcon, void *arg)
{
    sim_job_t *job = arg;

    if (job->req != NULL && evhttp_request_get_connection(job->req) == NULL) {
        evhttp_request_free(job->req);
    }
    job->req = NULL;
    sim_job_free(job);
}

static void sim_job_arm(sim_job_t *job, sim_job_state_t state, long usec)
{
    struct timeval tv = {.tv_sec = usec / 1000000, .tv_usec = usec % 1000000};

    job->state = state;
    /* The loop's cached time can be a little stale; a delay must never come out short. */
    event_base_update_cache_time(job->sim->base);
    if (evtimer_add(job->timer, &tv) != 0) {
        fprintf(stderr, "tollgate-sim: evtimer_add() failed; stalling the response\n");
        job->state = SIM_JOB_STALLED;
    }
}

/* Sends RST rather than FIN: SO_LINGER 0 alone is not enough because evhttp shuts the write
 * side down (a FIN) before closing. connect(AF_UNSPEC) makes Linux abort the connection with
 * an RST at once; evhttp's later shutdown/close then act on an already dead socket. */
static void sim_job_reset(sim_job_t *job)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(job->evcon);
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    struct evhttp_connection *evcon = job->evcon;
    int outq = 0;

    if (fd >= 0 && ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0 &&
        job->reset_polls++ < SIM_RESET_MAX_POLLS) {
        sim_job_arm(job, SIM_JOB_RESET, SIM_RESET_POLL_US);
        return;
    }
    if (fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        struct sockaddr sa = {.sa_family = AF_UNSPEC};

        if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) {
            perror("tollgate-sim: setsockopt(SO_LINGER)");
        }
        if (connect(fd, &sa, sizeof(sa)) != 0) {
            perror("tollgate-sim: connect(AF_UNSPEC)");
        }
    }
    sim_job_done(job);
    evhttp_connection_free(evcon);
}

/* Waits for the written event to leave our buffer before deciding what comes next, so each
 * event is its own write and a reset never cuts an event in half. */
static void sim_job_drained(struct evhttp_connection *evcon, void *arg)
{
    sim_job_t *job = arg;
    long tps = job->fault.tps;

    if (job->state != SIM_JOB_WRITING) {
        return;
    }
    if (job->fault.reset_after != SIM_UNSET && (long)job->sent >= job->fault.reset_after) {
        sim_job_arm(job, SIM_JOB_RESET, 0);
        return;
    }
    if (job->fault.stall_after != SIM_UNSET && (long)job->sent >= job->fault.stall_after) {
        job->state = SIM_JOB_STALLED;
        return;
    }
    if (job->sent == job->ev.n) {
        struct evhttp_request *req = job->req;

        sim_job_done(job);
        evhttp_send_reply_end(req);
        return;
    }
    if (tps > 0 && (job->ev.flags[job->sent] & SIM_EV_PACED) != 0) {
        sim_job_arm(job, SIM_JOB_NEXT, 1000000L / tps);
        return;
    }
    sim_job_send_next(job);
}

static void sim_job_send_next(sim_job_t *job)
{
    size_t i = job->sent;

    if (evbuffer_add(job->out, job->ev.text[i], job->ev.len[i]) != 0) {
        fprintf(stderr, "tollgate-sim: evbuffer_add() failed; resetting the stream\n");
        sim_job_arm(job, SIM_JOB_RESET, 0);
        return;
    }
    job->sent++;
    job->state = SIM_JOB_WRITING;
    evhttp_send_reply_chunk_with_cb(job->req, job->out, sim_job_drained, job);
}

static void sim_job_timer(evutil_socket_t fd, short what, void *arg)
{
    sim_job_t *job = arg;

    switch (job->state) {
    case SIM_JOB_LATENCY:
        sim_job_ready(job);
        break;
    case SIM_JOB_NEXT:
        sim_job_send_next(job);
        break;
    case SIM_JOB_RESET:
        sim_job_reset(job);
        break;
    case SIM_JOB_WRITING:
    case SIM_JOB_STALLED:
        break;
    }
}

/* The response may start now (latency has passed). */
static void sim_job_ready(sim_job_t *job)
{
    const sim_fault_t *f = &job->fault;

    if (f->reset_after == 0) {
        /* From a timer, never from inside evhttp's request callback, which still uses the
         * connection after we return. */
        sim_job_arm(job, SIM_JOB_RESET, 0);
        return;
    }
    if (f->stall > 0 || (!job->stream && f->stall_after == 0)) {
        job->state = SIM_JOB_STALLED;
        return;
    }
    if (!job->stream) {
        struct evhttp_request *req = job->req;
        struct evbuffer *out = job->out;
        int status = job->status;

        job->out = NULL;
        sim_job_done(job);
        evhttp_send_reply(req, status, sim_http_reason(status), out);
        evbuffer_free(out);
        return;
    }
    evhttp_send_reply_start(job->req, 200, "OK");
    if (f->stall_after == 0) {
        job->state = SIM_JOB_STALLED;
        return;
    }
    if (f->ttft_ms > 0) {
        sim_job_arm(job, SIM_JOB_NEXT, f->ttft_ms * 1000L);
        return;
    }
    sim_job_send_next(job);
}

/* evhttp only watches a connection for EOF once the response has started, so a client that
 * leaves during latency or a stall would hold its job (and count as an active stream) until
 * shutdown. Peeking at the socket finds such clients; the sweep runs only while jobs exist. */
static void sim_job_sweep(evutil_socket_t unused, short what, void *arg)
{
    sim_t *sim = arg;
    sim_job_t *next;
    struct timeval tv = {.tv_sec = 0, .tv_usec = SIM_SWEEP_US};

    for (sim_job_t *job = sim->jobs; job != NULL; job = next) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(job->evcon);
        evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
        char c;
        ssize_t n;

        next = job->next;
        if (fd < 0 || job->state == SIM_JOB_WRITING) {
            continue;
        }
        n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            struct evhttp_connection *evcon = job->evcon;

            sim_job_done(job);
            evhttp_connection_free(evcon);
        }
    }
    if (sim->jobs != NULL && evtimer_add(sim->sweep, &tv) != 0) {
        fprintf(stderr, "tollgate-sim: evtimer_add() failed for the client sweep\n");
    }
}

static void sim_job_sweep_arm(sim_t *sim)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = SIM_SWEEP_US};

    if (sim->sweep == NULL && (sim->sweep = evtimer_new(sim->base, sim_job_sweep, sim)) == NULL) {
        fprintf(stderr, "tollgate-sim: evtimer_new() failed for the client sweep\n");
        return;
    }
    if (!evtimer_pending(sim->sweep, NULL) && evtimer_add(sim->sweep, &tv) != 0) {
        fprintf(stderr, "tollgate-sim: evtimer_add() failed for the client sweep\n");
    }
}

static sim_job_t *sim_job_new(sim_req_t *r, bool stream)
{
    sim_t *sim = r->sim;
    sim_job_t *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        return NULL;
    }
    job->sim = sim;
    job->req = r->req;
    job->evcon = evhttp_request_get_connection(r->req);
    job->fault = r->fault;
    job->stream = stream;
    job->timer = evtimer_new(sim->base, sim_job_timer, job);
    job->out = evbuffer_new();
    if (job->evcon == NULL || job->timer == NULL || job->out == NULL) {
        if (job->timer != NULL) {
            event_free(job->timer);
        }
        if (job->out != NULL) {
            evbuffer_free(job->out);
        }
        free(job);
        return NULL;
    }
    job->next = sim->jobs;
    if (sim->jobs != NULL) {
        sim->jobs->prev = job;
    }
    sim->jobs = job;
    if (stream) {
        sim->active_streams++;
    }
    evhttp_connection_set_closecb(job->evcon, sim_job_closed, job);
    sim_job_sweep_arm(sim);
    return job;
}

static void sim_job_start(sim_job_t *job)
{
    if (job->fault.latency_ms > 0) {
        sim_job_arm(job, SIM_JOB_LATENCY, job->fault.latency_ms * 1000L);
        return;
    }
    sim_job_ready(job);
}

/* evbuffer_add_reference cleanup for bodies produced by json_dumps(). */
static void sim_reply_free_text(const void *data, size_t len, void *extra)
{
    free((void *)data);
}

static void sim_reply_headers(sim_req_t *r, const char *ctype)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "x-request-id", r->rid);
}

static void sim_reply_note(sim_req_t *r, char *buf, size_t len)
{
    const sim_fault_t *f = &r->fault;
    char latency[32] = "";
    char reset[32] = "";

    if (f->latency_ms > 0) {
        sim_fmt(latency, sizeof(latency), " latency_ms=%ld", f->latency_ms);
    }
    if (f->reset_after != SIM_UNSET) {
        sim_fmt(reset, sizeof(reset), " reset_after=%ld", f->reset_after);
    }
    sim_fmt(buf, len, "%s%s%s%s", r->stream ? " stream" : "", latency, reset,
            f->stall > 0 || f->stall_after != SIM_UNSET ? " stall" : "");
}

void sim_reply_json(sim_req_t *r, int status, json_t *obj, const char *extra_header,
                    const char *extra_value)
{
    const sim_fault_t *f = &r->fault;
    struct evbuffer *out = evbuffer_new();
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    char note[96];
    sim_job_t *job;

    json_decref(obj);
    if (out == NULL || text == NULL ||
        evbuffer_add_reference(out, text, strlen(text), sim_reply_free_text, NULL) != 0) {
        free(text);
        if (out != NULL) {
            evbuffer_free(out);
        }
        fprintf(stderr, "tollgate-sim: %s: out of memory building the response\n", r->rid);
        evhttp_send_error(r->req, 500, "Internal Server Error");
        return;
    }
    r->stream = false;
    sim_reply_headers(r, "application/json");
    if (extra_header != NULL && extra_value != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), extra_header, extra_value);
    }
    sim_reply_note(r, note, sizeof(note));
    sim_http_log(r, status, note);
    if (f->latency_ms <= 0 && f->reset_after != 0 && f->stall <= 0 && f->stall_after != 0) {
        evhttp_send_reply(r->req, status, sim_http_reason(status), out);
        evbuffer_free(out);
        return;
    }
    job = sim_job_new(r, false);
    if (job == NULL) {
        evhttp_send_reply(r->req, status, sim_http_reason(status), out);
        evbuffer_free(out);
        return;
    }
    evbuffer_free(job->out);
    job->out = out;
    job->status = status;
    sim_job_start(job);
}

void sim_reply_text(sim_req_t *r, int status, const char *text)
{
    struct evbuffer *out = evbuffer_new();

    sim_http_log(r, status, NULL);
    sim_reply_headers(r, "text/plain");
    if (out == NULL || evbuffer_add(out, text, strlen(text)) != 0) {
        if (out != NULL) {
            evbuffer_free(out);
        }
        evhttp_send_error(r->req, 500, "Internal Server Error");
        return;
    }
    evhttp_send_reply(r->req, status, sim_http_reason(status), out);
    evbuffer_free(out);
}

void sim_reply_stream(sim_req_t *r, sim_events_t *ev)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    char note[96];
    sim_job_t *job;

    r->stream = true;
    sim_reply_note(r, note, sizeof(note));
    sim_http_log(r, 200, note);
    job = sim_job_new(r, true);
    if (job == NULL) {
        sim_events_clear(ev);
        fprintf(stderr, "tollgate-sim: %s: out of memory starting a stream\n", r->rid);
        evhttp_send_error(r->req, 500, "Internal Server Error");
        return;
    }
    job->ev = *ev;
    memset(ev, 0, sizeof(*ev));
    job->status = 200;
    sim_reply_headers(r, r->ctype != NULL ? r->ctype : "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    sim_job_start(job);
}

void sim_reply_shutdown(sim_t *sim)
{
    while (sim->jobs != NULL) {
        sim_job_free(sim->jobs);
    }
    if (sim->sweep != NULL) {
        event_free(sim->sweep);
        sim->sweep = NULL;
    }
}
