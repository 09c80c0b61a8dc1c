/*
 * tollgate-loadgen: the load generator behind bench/run for everything wrk cannot do. One thread,
 * epoll, non-blocking keep-alive HTTP/1.1 connections, responses parsed with http-parser. Modes:
 * an open-loop fixed rate whose latencies are taken from each request's *scheduled* send time
 * (so a stalled server is charged for the requests it delayed: no coordinated omission), a
 * closed loop of exactly N requests (for callgrind), concurrent SSE streams (time to first
 * event, events and HTTP chunks per stream), and N idle keep-alive connections held open.
 * Results are printed as "name value" lines on stdout, for scripts. See docs/benchmarks.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

/* ------------------------------------------------------------------------------ histogram */

/*
 * Log-linear histogram of nanosecond values, HdrHistogram's layout with 7 bits of sub-bucket
 * precision: exact below 128 ns, then 64 buckets per power of two (relative error < 1.6 %),
 * up to 2^63 ns. Percentiles report the highest value of the bucket they fall in.
 */
#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_HALF (H_SUB / 2)
#define H_BUCKETS (H_SUB + 57 * H_HALF)

typedef struct {
    uint64_t counts[H_BUCKETS];
    uint64_t total;
    uint64_t max;
    double sum;
} hist_t;

static size_t hist_index(uint64_t v)
{
    if (v < H_SUB)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - (H_SUB_BITS - 1);
    return H_SUB + (size_t)(shift - 1) * H_HALF + (size_t)((v >> shift) - H_HALF);
}

static uint64_t hist_bucket_top(size_t i)
{
    if (i < H_SUB)
        return i;
    size_t shift = (i - H_SUB) / H_HALF + 1;
    uint64_t sub = (i - H_SUB) % H_HALF + H_HALF;
    return ((sub + 1) << shift) - 1;
}

static void hist_add(hist_t *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
}

/* The value at percentile p (0-100]: 0 when the histogram is empty. */
static uint64_t hist_pct(const hist_t *h, double p)
{
    if (h->total == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < H_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t top = hist_bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

static void hist_print(const char *name, const hist_t *h)
{
    static const struct {
        const char *label;
        double p;
    } pcts[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    printf("%s_count %" PRIu64 "\n", name, h->total);
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
        printf("%s_%s_us %.1f\n", name, pcts[i].label, (double)hist_pct(h, pcts[i].p) / 1e3);
    printf("%s_max_us %.1f\n", name, (double)h->max / 1e3);
    printf("%s_mean_us %.1f\n", name, h->total ? h->sum / (double)h->total / 1e3 : 0.0);
}

/* ------------------------------------------------------------------------------- options */

enum mode { MODE_RATE, MODE_COUNT, MODE_STREAM, MODE_IDLE };

static struct {
    enum mode mode;
    double rate;       /* rate: requests per second */
    double duration;   /* rate: seconds of schedule */
    int connections;   /* every mode */
    uint64_t requests; /* count: total requests */
    int per_conn;      /* stream: streams per connection, one after the other */
    double ramp;       /* stream: first requests spread over this many seconds */
    int concurrency;   /* idle: connections being set up at once */
    bool no_request;   /* idle: connect only */
    double hold;       /* idle: seconds to hold (0: until SIGTERM / SIGINT) */
    double max_time;   /* hard limit on the whole run */
    const char *url;
    const char *method;
    char *body;
    char *headers; /* extra header lines, each ending in \r\n */
    size_t headers_len;
} opt = {.rate = 1000,
         .duration = 10,
         .connections = 32,
         .requests = 10000,
         .per_conn = 1,
         .ramp = 1,
         .concurrency = 256,
         .max_time = 0};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tollgate-loadgen MODE [options] URL\n"
            "modes:\n"
            "  rate    open loop: --rate R req/s for --duration S over --connections K;\n"
            "          latency from each request's scheduled send time\n"
            "  count   closed loop: exactly --requests N over --connections K\n"
            "  stream  --connections K concurrent SSE streams (--per-conn N each, started over\n"
            "          --ramp S seconds); time to first event, events and chunks per stream\n"
            "  idle    open --connections N keep-alive connections (--concurrency C at a time),\n"
            "          one request each (or --no-request), print 'ready', hold them until\n"
            "          SIGTERM or --hold S\n"
            "options: -H 'Name: value' (repeatable), --body JSON, --body-file FILE, --method M,\n"
            "         --max-time S (hard limit on the run)\n");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

static int add_header(const char *h)
{
    size_t n = strlen(h);
    char *nb = realloc(opt.headers, opt.headers_len + n + 3);
    if (nb == NULL)
        return -1;
    opt.headers = nb;
    memcpy(opt.headers + opt.headers_len, h, n);
    memcpy(opt.headers + opt.headers_len + n, "\r\n", 3);
    opt.headers_len += n + 2;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "rate") == 0)
        opt.mode = MODE_RATE;
    else if (strcmp(argv[1], "count") == 0)
        opt.mode = MODE_COUNT;
    else if (strcmp(argv[1], "stream") == 0)
        opt.mode = MODE_STREAM;
    else if (strcmp(argv[1], "idle") == 0)
        opt.mode = MODE_IDLE;
    else
        return -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL()                                                                                      \
    do {                                                                                           \
        if (v == NULL)                                                                             \
            return -1;                                                                             \
        i++;                                                                                       \
    } while (0)
        if (strcmp(a, "--rate") == 0) {
            VAL();
            opt.rate = atof(v);
        } else if (strcmp(a, "--duration") == 0) {
            VAL();
            opt.duration = atof(v);
        } else if (strcmp(a, "--connections") == 0 || strcmp(a, "-c") == 0) {
            VAL();
            opt.connections = atoi(v);
        } else if (strcmp(a, "--requests") == 0 || strcmp(a, "-n") == 0) {
            VAL();
            opt.requests = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--per-conn") == 0) {
            VAL();
            opt.per_conn = atoi(v);
        } else if (strcmp(a, "--ramp") == 0) {
            VAL();
            opt.ramp = atof(v);
        } else if (strcmp(a, "--concurrency") == 0) {
            VAL();
            opt.concurrency = atoi(v);
        } else if (strcmp(a, "--hold") == 0) {
            VAL();
            opt.hold = atof(v);
        } else if (strcmp(a, "--max-time") == 0) {
            VAL();
            opt.max_time = atof(v);
        } else if (strcmp(a, "--no-request") == 0) {
            opt.no_request = true;
        } else if (strcmp(a, "--method") == 0) {
            VAL();
            opt.method = v;
        } else if (strcmp(a, "--body") == 0) {
            VAL();
            free(opt.body);
            opt.body = strdup(v);
        } else if (strcmp(a, "--body-file") == 0) {
            VAL();
            free(opt.body);
            opt.body = read_file(v);
            if (opt.body == NULL) {
                fprintf(stderr, "loadgen: cannot read %s: %s\n", v, strerror(errno));
                return -1;
            }
        } else if (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) {
            VAL();
            if (add_header(v) < 0)
                return -1;
        } else if (a[0] == '-') {
            return -1;
        } else {
            opt.url = a;
        }
#undef VAL
    }
    if (opt.url == NULL || opt.connections < 1 || opt.rate <= 0 || opt.duration <= 0 ||
        opt.per_conn < 1 || opt.concurrency < 1 || opt.requests < 1)
        return -1;
    return 0;
}

/* --------------------------------------------------------------------------------- state */

enum cstate { C_NONE, C_CONNECTING, C_IDLE, C_BUSY };

typedef struct conn {
    int fd;
    int idx;
    enum cstate state;
    http_parser parser;
    size_t woff;   /* bytes of the request written so far */
    bool want_out; /* EPOLLOUT registered */
    bool complete; /* the parser finished a response */
    bool keepalive;
    uint64_t t_sched; /* when the request was due */
    uint64_t t_sent;  /* when its first byte was written */
    uint64_t t_first; /* stream: first event seen */
    int status;
    int streams_left; /* stream: streams still to run on this connection */
    int dsm;          /* "data:" matcher: chars matched at a line start, -1 mid-line */
    uint64_t events;  /* stream: SSE events in the current response */
    uint64_t chunk_events;
    uint64_t read_events; /* events completed within the current read() */
    struct conn *next_free;
} conn_t;

static struct {
    int ep;
    int tfd;
    struct addrinfo *addr;
    char *req;
    size_t req_len;
    conn_t *conns;
    conn_t *free_list;
    uint64_t t0;
    uint64_t deadline;
    volatile sig_atomic_t stop;
    /* schedule */
    uint64_t scheduled; /* requests due so far (rate) or started (stream/count) */
    uint64_t total;     /* requests to run */
    uint64_t *queue;    /* rate: due times waiting for a free connection (FIFO) */
    uint64_t qhead, qtail;
    uint64_t sent, done, ok, non2xx, errors, reconnects, closed_by_peer, connect_errors;
    int established, ready_conns, setting_up;
    /* results */
    hist_t lat, lag, ttft, stream_time;
    uint64_t events_total, events_min, events_max, chunks_coalesced, reads_coalesced;
    uint64_t t_first_sent, t_last_done;
} g;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    g.stop = 1;
}

/* ---------------------------------------------------------------------- http-parser hooks */

static int hp_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->status = (int)p->status_code;
    c->keepalive = http_should_keep_alive(p) != 0;
    return 0;
}

/* Counts SSE events: a line that starts with "data:". */
static int hp_body(http_parser *p, const char *at, size_t len)
{
    static const char pat[] = "data:";
    conn_t *c = p->data;
    if (opt.mode != MODE_STREAM)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = at[i];
        if (ch == '\n') {
            c->dsm = 0;
        } else if (c->dsm >= 0) {
            if (ch == pat[c->dsm]) {
                if (++c->dsm == 5) {
                    c->dsm = -1;
                    c->events++;
                    c->chunk_events++;
                    c->read_events++;
                    if (c->events == 1)
                        c->t_first = now_ns();
                }
            } else {
                c->dsm = -1;
            }
        }
    }
    return 0;
}

static int hp_chunk_header(http_parser *p)
{
    conn_t *c = p->data;
    c->chunk_events = 0;
    return 0;
}

/* An HTTP chunk that carries more than one event merged events the upstream sent apart. */
static int hp_chunk_complete(http_parser *p)
{
    conn_t *c = p->data;
    if (c->chunk_events > 1)
        g.chunks_coalesced += c->chunk_events - 1;
    c->chunk_events = 0;
    return 0;
}

static int hp_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->complete = true;
    return 0;
}

static http_parser_settings hp_settings = {
    .on_headers_complete = hp_headers_complete,
    .on_body = hp_body,
    .on_chunk_header = hp_chunk_header,
    .on_chunk_complete = hp_chunk_complete,
    .on_message_complete = hp_message_complete,
};

/* ------------------------------------------------------------------------- connections */

static int ep_set(conn_t *c, bool out, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(g.ep, op, c->fd, &ev) < 0) {
        fprintf(stderr, "loadgen: epoll_ctl(): %s\n", strerror(errno));
        return -1;
    }
    c->want_out = out;
    return 0;
}

static int conn_open(conn_t *c)
{
    c->fd = socket(g.addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fprintf(stderr, "loadgen: socket(): %s\n", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, g.addr->ai_addr, g.addr->ai_addrlen) < 0 && errno != EINPROGRESS) {
        fprintf(stderr, "loadgen: connect(): %s\n", strerror(errno));
        close(c->fd);
        c->fd = -1;
        g.connect_errors++;
        return -1;
    }
    c->state = C_CONNECTING;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->woff = 0;
    c->complete = false;
    return ep_set(c, true, EPOLL_CTL_ADD);
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_NONE;
}

static void free_push(conn_t *c)
{
    c->state = C_IDLE;
    c->next_free = g.free_list;
    g.free_list = c;
}

static conn_t *free_pop(void)
{
    conn_t *c = g.free_list;
    if (c != NULL)
        g.free_list = c->next_free;
    return c;
}

/* Writes what is left of the request; registers for EPOLLOUT while some is left. */
static int conn_flush(conn_t *c)
{
    while (c->woff < g.req_len) {
        ssize_t n = write(c->fd, g.req + c->woff, g.req_len - c->woff);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return c->want_out ? 0 : ep_set(c, true, EPOLL_CTL_MOD);
            return -1;
        }
        c->woff += (size_t)n;
    }
    return c->want_out ? ep_set(c, false, EPOLL_CTL_MOD) : 0;
}

static void conn_failed(conn_t *c);

/* Starts one request on an idle connection; due is when it was scheduled. */
static void conn_send(conn_t *c, uint64_t due)
{
    c->state = C_BUSY;
    c->t_sched = due;
    c->t_sent = now_ns();
    if (g.t_first_sent == 0)
        g.t_first_sent = c->t_sent;
    c->woff = 0;
    c->complete = false;
    c->status = 0;
    c->events = 0;
    c->chunk_events = 0;
    c->dsm = 0;
    c->t_first = 0;
    g.sent++;
    if (opt.mode == MODE_RATE)
        hist_add(&g.lag, c->t_sent - due);
    if (conn_flush(c) < 0)
        conn_failed(c);
}

/* Hands a due request to a free connection, or queues it (rate mode). */
static void dispatch(uint64_t due)
{
    conn_t *c = free_pop();
    if (c != NULL)
        conn_send(c, due);
    else
        g.queue[g.qtail++] = due;
}

/* The connection is idle again: give it the oldest queued request, or put it on the list. */
static void conn_idle(conn_t *c)
{
    uint64_t t = now_ns();
    switch (opt.mode) {
    case MODE_RATE:
        if (g.qhead < g.qtail) {
            conn_send(c, g.queue[g.qhead++]);
            return;
        }
        free_push(c);
        return;
    case MODE_COUNT:
        if (g.scheduled < g.total) {
            g.scheduled++;
            conn_send(c, t);
            return;
        }
        free_push(c);
        return;
    case MODE_STREAM:
        if (c->streams_left > 0 && c->t_sched != 0) {
            c->streams_left--;
            conn_send(c, t);
            return;
        }
        free_push(c);
        return;
    case MODE_IDLE:
        free_push(c);
        return;
    }
}

/* A connection closed or broke: a request in flight on it is an error; reconnect if needed. */
static void conn_failed(conn_t *c)
{
    bool was_busy = c->state == C_BUSY;
    bool was_connecting = c->state == C_CONNECTING;
    conn_close(c);
    if (was_busy) {
        g.errors++;
        g.done++;
    }
    if (was_connecting)
        g.connect_errors++;
    if (opt.mode == MODE_IDLE) {
        if (was_busy || was_connecting)
            g.setting_up--;
        else
            g.closed_by_peer++;
        return;
    }
    if (g.stop || now_ns() > g.deadline)
        return;
    g.reconnects++;
    if (g.reconnects > (uint64_t)opt.connections * 100 + 1000) {
        fprintf(stderr, "loadgen: too many reconnects, giving up\n");
        g.stop = 1;
        return;
    }
    if (conn_open(c) < 0)
        g.stop = 1;
}

static void response_done(conn_t *c)
{
    uint64_t t = now_ns();
    g.done++;
    g.t_last_done = t;
    if (c->status >= 200 && c->status < 300)
        g.ok++;
    else
        g.non2xx++;
    switch (opt.mode) {
    case MODE_RATE:
    case MODE_COUNT:
        hist_add(&g.lat, t - c->t_sched);
        break;
    case MODE_STREAM:
        if (c->t_first != 0)
            hist_add(&g.ttft, c->t_first - c->t_sent);
        hist_add(&g.stream_time, t - c->t_sent);
        g.events_total += c->events;
        if (g.events_min == 0 || c->events < g.events_min)
            g.events_min = c->events;
        if (c->events > g.events_max)
            g.events_max = c->events;
        break;
    case MODE_IDLE:
        g.ready_conns++;
        g.setting_up--;
        break;
    }
    if (!c->keepalive) {
        c->state = C_IDLE;
        conn_failed(c);
        return;
    }
    conn_idle(c);
}

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        fprintf(stderr, "loadgen: connect(): %s\n", strerror(err ? err : errno));
        conn_failed(c);
        return;
    }
    g.established++;
    if (ep_set(c, false, EPOLL_CTL_MOD) < 0) {
        conn_failed(c);
        return;
    }
    switch (opt.mode) {
    case MODE_IDLE:
        if (opt.no_request) {
            g.ready_conns++;
            g.setting_up--;
            free_push(c);
        } else {
            conn_send(c, now_ns());
        }
        return;
    case MODE_STREAM:
        free_push(c); /* the start timer takes it from the list */
        return;
    default:
        conn_idle(c);
        return;
    }
}

static void on_readable(conn_t *c)
{
    static char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_failed(c);
            return;
        }
        if (n == 0) {
            if (c->state == C_BUSY) {
                http_parser_execute(&c->parser, &hp_settings, NULL, 0);
                if (c->complete) {
                    c->keepalive = false;
                    response_done(c);
                    return;
                }
            }
            conn_failed(c);
            return;
        }
        if (c->state != C_BUSY) {
            /* bytes nobody asked for: the server is broken */
            conn_failed(c);
            return;
        }
        c->read_events = 0;
        size_t used = http_parser_execute(&c->parser, &hp_settings, buf, (size_t)n);
        if (c->read_events > 1)
            g.reads_coalesced += c->read_events - 1;
        if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != (size_t)n) {
            fprintf(stderr, "loadgen: bad response: %s\n",
                    http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
            conn_failed(c);
            return;
        }
        if (c->complete) {
            c->complete = false;
            response_done(c);
            return;
        }
    }
}

/* ---------------------------------------------------------------------------- schedule */

static void arm_timer(uint64_t at)
{
    struct itimerspec its = {0};
    if (at != 0) {
        its.it_value.tv_sec = (time_t)(at / 1000000000u);
        its.it_value.tv_nsec = (long)(at % 1000000000u);
    }
    timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Due time of request i. */
static uint64_t due_time(uint64_t i)
{
    switch (opt.mode) {
    case MODE_RATE:
        return g.t0 + (uint64_t)((double)i * 1e9 / opt.rate);
    case MODE_STREAM:
        return g.t0 + (uint64_t)((double)i * opt.ramp * 1e9 / (double)opt.connections);
    default:
        return g.t0;
    }
}

/* Starts everything that is due; re-arms the timer for the next one. */
static void on_timer(void)
{
    uint64_t expirations;
    if (read(g.tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        return;
    uint64_t t = now_ns();
    if (opt.mode == MODE_RATE) {
        while (g.scheduled < g.total && due_time(g.scheduled) <= t)
            dispatch(due_time(g.scheduled++));
    } else if (opt.mode == MODE_STREAM) {
        while (g.scheduled < (uint64_t)opt.connections && due_time(g.scheduled) <= t) {
            conn_t *c = &g.conns[g.scheduled++];
            if (c->state != C_IDLE) {
                g.errors++; /* never connected */
                continue;
            }
            /* take it off the free list */
            conn_t **pp = &g.free_list;
            while (*pp != NULL && *pp != c)
                pp = &(*pp)->next_free;
            if (*pp == c)
                *pp = c->next_free;
            c->streams_left = opt.per_conn - 1;
            conn_send(c, t);
        }
        if (g.scheduled >= (uint64_t)opt.connections)
            return;
    }
    arm_timer(g.scheduled < g.total ? due_time(g.scheduled) : 0);
}

static bool finished(void)
{
    switch (opt.mode) {
    case MODE_RATE:
    case MODE_COUNT:
    case MODE_STREAM:
        return g.done >= g.total;
    case MODE_IDLE:
        return false; /* ends on a signal or --hold */
    }
    return true;
}

/* idle mode: open connections while fewer than --concurrency are being set up. */
static void idle_open_more(void)
{
    while (g.setting_up < opt.concurrency && g.scheduled < (uint64_t)opt.connections) {
        conn_t *c = &g.conns[g.scheduled++];
        g.setting_up++;
        if (conn_open(c) < 0)
            g.setting_up--;
    }
}

/* -------------------------------------------------------------------------------- main */

static int build_request(void)
{
    const char *u = opt.url;
    if (strncmp(u, "http://", 7) != 0) {
        fprintf(stderr, "loadgen: only http:// URLs\n");
        return -1;
    }
    u += 7;
    const char *slash = strchr(u, '/');
    const char *path = slash ? slash : "/";
    size_t hostlen = slash ? (size_t)(slash - u) : strlen(u);
    char host[256];
    if (hostlen == 0 || hostlen >= sizeof host)
        return -1;
    memcpy(host, u, hostlen);
    host[hostlen] = '\0';
    char *colon = strrchr(host, ':');
    const char *port = "80";
    char name[256];
    snprintf(name, sizeof name, "%s", host);
    if (colon != NULL) {
        name[colon - host] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(name, port, &hints, &g.addr);
    if (rc != 0) {
        fprintf(stderr, "loadgen: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    const char *method = opt.method ? opt.method : (opt.body ? "POST" : "GET");
    size_t blen = opt.body ? strlen(opt.body) : 0;
    size_t cap = strlen(method) + strlen(path) + hostlen + opt.headers_len + blen + 256;
    g.req = malloc(cap);
    if (g.req == NULL)
        return -1;
    int n;
    if (opt.body)
        n = snprintf(g.req, cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, host, opt.headers ? opt.headers : "", blen, opt.body);
    else
        n = snprintf(g.req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path, host,
                     opt.headers ? opt.headers : "");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    g.req_len = (size_t)n;
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void report(void)
{
    double secs = 0;
    if (g.t_last_done > g.t_first_sent && g.t_first_sent != 0)
        secs = (double)(g.t_last_done - g.t_first_sent) / 1e9;
    static const char *names[] = {"rate", "count", "stream", "idle"};
    printf("mode %s\n", names[opt.mode]);
    printf("connections %d\n", opt.connections);
    printf("sent %" PRIu64 "\n", g.sent);
    printf("completed %" PRIu64 "\n", g.ok + g.non2xx);
    printf("ok %" PRIu64 "\n", g.ok);
    printf("non2xx %" PRIu64 "\n", g.non2xx);
    printf("errors %" PRIu64 "\n", g.errors);
    printf("connect_errors %" PRIu64 "\n", g.connect_errors);
    printf("reconnects %" PRIu64 "\n", g.reconnects);
    printf("elapsed_s %.3f\n", secs);
    printf("achieved_rps %.1f\n", secs > 0 ? (double)(g.ok + g.non2xx) / secs : 0.0);
    switch (opt.mode) {
    case MODE_RATE:
        printf("target_rps %.1f\n", opt.rate);
        printf("unsent %" PRIu64 "\n", g.total - g.scheduled + (g.qtail - g.qhead));
        hist_print("latency", &g.lat);
        hist_print("send_lag", &g.lag);
        break;
    case MODE_COUNT:
        hist_print("latency", &g.lat);
        break;
    case MODE_STREAM:
        hist_print("ttft", &g.ttft);
        hist_print("stream_time", &g.stream_time);
        printf("streams %" PRIu64 "\n", g.stream_time.total);
        printf("events_total %" PRIu64 "\n", g.events_total);
        printf("events_min %" PRIu64 "\n", g.events_min);
        printf("events_max %" PRIu64 "\n", g.events_max);
        printf("chunks_coalesced %" PRIu64 "\n", g.chunks_coalesced);
        printf("reads_coalesced %" PRIu64 "\n", g.reads_coalesced);
        break;
    case MODE_IDLE: {
        int open = 0;
        for (int i = 0; i < opt.connections; i++)
            open += g.conns[i].fd >= 0;
        printf("ready_conns %d\n", g.ready_conns);
        printf("closed_by_peer %" PRIu64 "\n", g.closed_by_peer);
        printf("still_open %d\n", open);
        break;
    }
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    if (build_request() < 0)
        return 2;
    raise_nofile();
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake at the scheduled nanosecond, not 50 us late */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.ep < 0 || g.tfd < 0) {
        fprintf(stderr, "loadgen: epoll/timerfd: %s\n", strerror(errno));
        return 1;
    }
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &tev);

    g.conns = calloc((size_t)opt.connections, sizeof *g.conns);
    if (g.conns == NULL)
        return 1;
    for (int i = 0; i < opt.connections; i++) {
        g.conns[i].fd = -1;
        g.conns[i].idx = i;
    }
    switch (opt.mode) {
    case MODE_RATE:
        g.total = (uint64_t)llround(opt.rate * opt.duration);
        g.queue = malloc((size_t)g.total * sizeof *g.queue + 1);
        if (g.queue == NULL)
            return 1;
        break;
    case MODE_COUNT:
        g.total = opt.requests;
        break;
    case MODE_STREAM:
        g.total = (uint64_t)opt.connections * (uint64_t)opt.per_conn;
        break;
    case MODE_IDLE:
        g.total = (uint64_t)opt.connections;
        break;
    }
    double limit = opt.max_time;
    if (limit <= 0)
        limit = opt.mode == MODE_RATE ? opt.duration + 30 : (opt.mode == MODE_IDLE ? 3600 : 600);

    uint64_t start = now_ns();
    g.deadline = start + (uint64_t)(limit * 1e9);
    if (opt.mode == MODE_IDLE) {
        idle_open_more();
    } else {
        for (int i = 0; i < opt.connections; i++)
            if (conn_open(&g.conns[i]) < 0)
                return 1;
    }

    bool started = opt.mode == MODE_COUNT || opt.mode == MODE_IDLE;
    bool ready_printed = false;
    uint64_t hold_until = 0;
    struct epoll_event evs[256];
    while (!g.stop) {
        uint64_t t = now_ns();
        if (t > g.deadline) {
            fprintf(stderr, "loadgen: --max-time reached\n");
            break;
        }
        if (!started && g.established >= opt.connections) {
            /* every connection is up: the schedule starts 10 ms from now */
            started = true;
            g.t0 = t + 10000000u;
            arm_timer(g.t0);
        }
        if (!started && t > start + 10000000000u) {
            fprintf(stderr, "loadgen: only %d of %d connections after 10 s\n", g.established,
                    opt.connections);
            break;
        }
        if (opt.mode == MODE_IDLE) {
            idle_open_more();
            if (!ready_printed && g.scheduled >= (uint64_t)opt.connections && g.setting_up == 0) {
                ready_printed = true;
                printf("ready %d\n", g.ready_conns);
                fflush(stdout);
                if (opt.hold > 0)
                    hold_until = now_ns() + (uint64_t)(opt.hold * 1e9);
            }
            if (hold_until != 0 && t >= hold_until)
                break;
        } else if (started && finished()) {
            break;
        }
        int n = epoll_wait(g.ep, evs, sizeof evs / sizeof evs[0], 100);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "loadgen: epoll_wait(): %s\n", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                on_timer();
                continue;
            }
            if (c->fd < 0)
                continue;
            uint32_t e = evs[i].events;
            if (c->state == C_CONNECTING) {
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_connected(c);
                continue;
            }
            if (e & EPOLLOUT) {
                if (conn_flush(c) < 0) {
                    conn_failed(c);
                    continue;
                }
            }
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                on_readable(c);
        }
    }
    report();
    for (int i = 0; i < opt.connections; i++)
        conn_close(&g.conns[i]);
    freeaddrinfo(g.addr);
    free(g.conns);
    free(g.queue);
    free(g.req);
    free(opt.body);
    free(opt.headers);
    return (g.errors || g.connect_errors) && opt.mode != MODE_IDLE ? 3 : 0;
}
