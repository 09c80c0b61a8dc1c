/*
 * Unit tests for worker/http.c's output path, over real loopback sockets and the worker's event
 * loop run in steps: answers are written directly at the end of the loop turn, and whatever the
 * kernel does not take is left to the bufferevent. What must hold: bytes arrive complete and in
 * order (pipelined answers, 100 Continue), streams keep their chunk framing and their
 * backpressure (on_drain), Connection: close, a drain and the keep-alive timeout close only
 * after the last byte whichever path wrote it, the send timeout still applies, and a client that
 * resets or leaves is closed cleanly.
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/tg_config_fixture.h"
#include "worker/http.h"

#define CONF                                                                                       \
    "listen: 127.0.0.1:8080\n"                                                                     \
    "providers: {p: {kind: openai, base_url: \"http://127.0.0.1:9/v1\"}}\n"                        \
    "models: {m: {provider: p, price: {input: 1, output: 1}}}\n"

#define SMALL_BUF 4096 /* socket buffers that force partial writes */
#define CHUNK 1000     /* bytes per stream chunk */

static struct event_base *base;
static tg_config_t *cf;
static struct {
    int requests;      /* handler calls */
    int aborts;        /* on_abort calls */
    int drains;        /* on_drain calls */
    int chunks, total; /* stream progress */
    tg_req_t *deferred;
} seen;

/* ---- the handler ------------------------------------------------------------------------ */

/* The byte at position i of answer number seed: a misplaced or repeated byte shows. */
static char pattern(size_t i, int seed)
{
    return "0123456789abcdefghijklmnopqrstuv"[(i / 7 + (size_t)seed) % 32];
}

static void on_abort(tg_req_t *r)
{
    seen.aborts++;
    seen.deferred = NULL;
}

/* Write chunks until the client is behind (tg_resp_busy) or all are out. */
static void produce(tg_req_t *r)
{
    char buf[CHUNK];

    while (seen.chunks < seen.total && !tg_resp_busy(r)) {
        memset(buf, pattern((size_t)seen.chunks, 0), sizeof(buf));
        tg_resp_chunk(r, buf, sizeof(buf));
        seen.chunks++;
    }
    if (seen.chunks == seen.total)
        tg_resp_end(r);
}

static void on_drain(tg_req_t *r)
{
    seen.drains++;
    produce(r);
}

/* GET /big/N/SEED: N bytes of pattern SEED; /stream/N: N chunks; /defer: no answer yet. */
static void handler(tg_req_t *r)
{
    seen.requests++;
    if (strncmp(r->path, "/big/", 5) == 0) {
        char *end;
        size_t n = strtoul(r->path + 5, &end, 10);
        int seed = atoi(end + 1);
        char *body = malloc(n);

        ck_assert_ptr_nonnull(body);
        for (size_t i = 0; i < n; i++)
            body[i] = pattern(i, seed);
        tg_resp_send(r, 200, "text/plain", body, n);
        free(body);
    } else if (strncmp(r->path, "/stream/", 8) == 0) {
        seen.total = atoi(r->path + 8);
        seen.chunks = 0;
        r->on_drain = on_drain;
        tg_resp_start(r, 200, "text/event-stream");
        produce(r);
    } else if (strcmp(r->path, "/defer") == 0) {
        r->on_abort = on_abort;
        seen.deferred = r;
    } else {
        tg_resp_send(r, 200, "text/plain", r->body.len ? r->body.data : "ok",
                     r->body.len ? r->body.len : 2);
    }
}

/* ---- the server and a client ------------------------------------------------------------ */

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(base);
}

/* Run the worker's loop for about ms milliseconds. */
static void spin(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *t = evtimer_new(base, exit_cb, NULL);

    evtimer_add(t, &tv);
    event_base_dispatch(base);
    event_free(t);
}

/* Listen on a loopback port (send buffer sndbuf if > 0) and return the port. */
static int serve(const char *extra_conf, int sndbuf)
{
    char text[1024], err[512];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    snprintf(text, sizeof(text), "%s%s", CONF, extra_conf);
    cf = load(text, err, sizeof(err));
    ck_assert_msg(cf != NULL, "%s", err);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    ck_assert_int_ne(fd, -1);
    if (sndbuf > 0) /* inherited by accepted connections */
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    tg_http_set_config(cf);
    ck_assert_int_eq(tg_http_listen(base, fd, handler), 0);
    memset(&seen, 0, sizeof(seen));
    return ntohs(sa.sin_port);
}

static void teardown(void)
{
    tg_http_close_all();
    tg_config_unref(cf);
    event_base_free(base);
}

/* A connected client (receive buffer rcvbuf if > 0), accepted by the server. */
static int client(int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ne(fd, -1);
    if (rcvbuf > 0)
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    spin(5);
    ck_assert_int_eq(tg_http_connections(), 1);
    return fd;
}

static void send_all(int fd, const char *s)
{
    ck_assert_int_eq(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* Close with a reset (SO_LINGER 0) instead of a FIN. */
static void reset(int fd)
{
    struct linger lg = {1, 0};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd);
}

typedef struct {
    char *data;
    size_t len, cap;
    int eof;
} inbuf_t;

/*
 * Read what is there (at most step bytes per loop step, the loop running in between) until want
 * bytes have arrived, the server closes, nothing more came for 200 ms, or ms pass.
 */
static void read_some(int fd, inbuf_t *in, size_t want, size_t step, int ms)
{
    for (int t = 0, idle = 0; t < ms && idle < 200 && in->len < want && !in->eof; t += 2) {
        ssize_t n;

        spin(2);
        if (in->len + step > in->cap) {
            in->cap = (in->len + step) * 2;
            in->data = realloc(in->data, in->cap);
            ck_assert_ptr_nonnull(in->data);
        }
        n = recv(fd, in->data + in->len, step, MSG_DONTWAIT);
        if (n == 0)
            in->eof = 1;
        else if (n > 0)
            in->len += (size_t)n, idle = 0;
        else if (errno == EAGAIN)
            idle += 2;
        else
            ck_abort_msg("recv: %s", strerror(errno));
    }
}

/* The head of the response at *off: its status; *off moves to the body, *clen its length or -1. */
static int head(const inbuf_t *in, size_t *off, long *clen, int *chunked)
{
    const char *p = in->data + *off, *end;
    const char *cl;
    int status;

    end = memmem(p, in->len - *off, "\r\n\r\n", 4);
    ck_assert_msg(end != NULL, "no complete head at %zu of %zu", *off, in->len);
    ck_assert_int_eq(sscanf(p, "HTTP/1.1 %d", &status), 1);
    cl = memmem(p, (size_t)(end - p), "Content-Length: ", 16);
    *clen = cl != NULL ? strtol(cl + 16, NULL, 10) : -1;
    *chunked = memmem(p, (size_t)(end - p), "Transfer-Encoding: chunked", 26) != NULL;
    *off = (size_t)(end + 4 - in->data);
    return status;
}

/* Check a Content-Length answer of pattern seed (or "ok" for seed < 0) at *off, move past it. */
static void expect_answer(const inbuf_t *in, size_t *off, size_t n, int seed)
{
    long clen;
    int chunked;

    ck_assert_int_eq(head(in, off, &clen, &chunked), 200);
    ck_assert_int_eq(clen, (long)n);
    ck_assert_uint_ge(in->len - *off, n);
    for (size_t i = 0; i < n; i++) {
        char want = seed < 0 ? "ok"[i] : pattern(i, seed);
        ck_assert_msg(in->data[*off + i] == want, "answer %d: byte %zu differs", seed, i);
    }
    *off += n;
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(pipelined_answers_through_partial_writes)
{
    int port = serve("", SMALL_BUF), fd = client(port, SMALL_BUF);
    inbuf_t in = {0};
    size_t off = 0;

    /* a large answer the kernel cannot take at once, then a small one and a 100 Continue
       produced while the first is still being written, then another large one */
    send_all(fd, "GET /big/200000/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /small HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 "Content-Length: 2\r\n\r\nok"
                 "GET /big/60000/2 HTTP/1.1\r\nHost: x\r\n\r\n");
    read_some(fd, &in, (size_t)-1, 4096, 20000);
    ck_assert_int_eq(seen.requests, 4);
    expect_answer(&in, &off, 200000, 1);
    expect_answer(&in, &off, 2, -1);
    ck_assert_msg(in.len - off > 25 &&
                      memcmp(in.data + off, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0,
                  "100 Continue after the answers before it");
    off += 25;
    expect_answer(&in, &off, 2, -1);
    expect_answer(&in, &off, 60000, 2);
    ck_assert_uint_eq(off, in.len);

    /* the remainder is out: the next answer goes out directly again, on the same connection */
    send_all(fd, "GET /big/5000/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    read_some(fd, &in, in.len + 5000 + 100, 65536, 5000);
    expect_answer(&in, &off, 5000, 3);
    ck_assert_int_eq(tg_http_connections(), 1);
    close(fd);
    free(in.data);
    teardown();
}
END_TEST

START_TEST(connection_close_after_the_last_byte)
{
    int port = serve("", SMALL_BUF);
    const char *req[2] = {"GET /big/200000/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"};
    size_t n[2] = {200000, 2};

    /* a large answer (its end written by the bufferevent) and a small one (written directly) */
    for (int i = 0; i < 2; i++) {
        int fd = client(port, i == 0 ? SMALL_BUF : 0);
        inbuf_t in = {0};
        size_t off = 0;

        send_all(fd, req[i]);
        read_some(fd, &in, (size_t)-1, 4096, 20000);
        ck_assert_msg(in.eof, "the server closes after a Connection: close answer");
        expect_answer(&in, &off, n[i], i == 0 ? 4 : -1);
        ck_assert_uint_eq(off, in.len);
        ck_assert_int_eq(tg_http_connections(), 0);
        close(fd);
        free(in.data);
    }
    teardown();
}
END_TEST

/* A stream of total chunks read by a client with receive buffer rcvbuf, step bytes at a time. */
static void stream(int sndbuf, int rcvbuf, size_t step)
{
    int port = serve("", sndbuf), fd = client(port, rcvbuf);
    inbuf_t in = {0};
    size_t off = 0, want;
    long clen;
    int chunked, total = 400; /* 400 KB: over the 256 KB high-water mark */
    char req[64];

    snprintf(req, sizeof(req), "GET /stream/%d HTTP/1.1\r\nHost: x\r\n\r\n", total);
    send_all(fd, req);
    want = (size_t)total * (CHUNK + 7) + 5; /* "3e8\r\n" ... "\r\n" per chunk, "0\r\n\r\n" */
    read_some(fd, &in, (size_t)-1, step, 30000);
    ck_assert_int_eq(seen.chunks, total);
    ck_assert_msg(seen.drains > 0, "the producer went on after the client caught up");
    ck_assert_int_eq(head(&in, &off, &clen, &chunked), 200);
    ck_assert(chunked);
    ck_assert_uint_eq(in.len - off, want);
    /* one HTTP chunk per tg_resp_chunk, in order: never merged or split */
    for (int i = 0; i < total; i++) {
        ck_assert_msg(memcmp(in.data + off, "3e8\r\n", 5) == 0, "chunk %d framing", i);
        off += 5;
        for (size_t j = 0; j < CHUNK; j++)
            ck_assert_msg(in.data[off + j] == pattern((size_t)i, 0), "chunk %d byte %zu", i, j);
        off += CHUNK;
        ck_assert(memcmp(in.data + off, "\r\n", 2) == 0);
        off += 2;
    }
    ck_assert(memcmp(in.data + off, "0\r\n\r\n", 5) == 0);
    close(fd);
    free(in.data);
    teardown();
}

START_TEST(stream_backpressure_slow_reader)
{
    stream(SMALL_BUF, SMALL_BUF, 4096); /* the bufferevent writes most of it */
}
END_TEST

START_TEST(stream_backpressure_fast_reader)
{
    stream(0, 0, 1 << 20); /* direct writes take most of it */
}
END_TEST

/* Read a 200,000-byte answer slowly from a client with a small buffer; call mid() midway. */
static void slow_answer(const char *conf, void (*mid)(void), int seed)
{
    int port = serve(conf, SMALL_BUF), fd = client(port, SMALL_BUF);
    inbuf_t in = {0};
    size_t off = 0;
    char req[64];

    snprintf(req, sizeof(req), "GET /big/200000/%d HTTP/1.1\r\nHost: x\r\n\r\n", seed);
    send_all(fd, req);
    read_some(fd, &in, 20000, 1024, 5000);
    if (mid != NULL)
        mid();
    read_some(fd, &in, (size_t)-1, 1024, 20000); /* ~200 loop steps: over 400 ms */
    expect_answer(&in, &off, 200000, seed);
    ck_assert_uint_eq(off, in.len);
    ck_assert_msg(in.eof, "closed after the answer");
    ck_assert_int_eq(tg_http_connections(), 0);
    close(fd);
    free(in.data);
    teardown();
}

START_TEST(keepalive_timeout_waits_for_the_answer_to_go_out)
{
    slow_answer("http: {keepalive_timeout: 100ms}\n", NULL, 7);
}
END_TEST

START_TEST(drain_closes_after_the_answer_goes_out)
{
    slow_answer("", tg_http_drain, 8);
}
END_TEST

START_TEST(send_timeout_drops_a_client_that_stops_reading)
{
    int port = serve("http: {send_timeout: 200ms}\n", SMALL_BUF), fd = client(port, SMALL_BUF);

    send_all(fd, "GET /big/2000000/5 HTTP/1.1\r\nHost: x\r\n\r\n");
    spin(100);
    ck_assert_int_eq(seen.requests, 1);
    ck_assert_int_eq(tg_http_connections(), 1); /* the rest waits for the socket */
    spin(400);
    ck_assert_int_eq(tg_http_connections(), 0);
    close(fd);
    teardown();
}
END_TEST

START_TEST(client_reset_before_the_direct_write)
{
    int port = serve("", 0), fd = client(port, 0);

    /* the request and the reset are both in the kernel before the worker reads: it reads the
       request, answers it, and its direct write of the answer fails */
    send_all(fd, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n");
    reset(fd);
    spin(20);
    ck_assert_int_eq(seen.requests, 1);
    ck_assert_int_eq(tg_http_connections(), 0);
    teardown();
}
END_TEST

START_TEST(client_reset_in_the_middle_of_an_answer)
{
    int port = serve("", SMALL_BUF), fd = client(port, SMALL_BUF);
    inbuf_t in = {0};

    send_all(fd, "GET /big/2000000/6 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /small HTTP/1.1\r\nHost: x\r\n\r\n");
    read_some(fd, &in, 20000, 4096, 5000);
    ck_assert_uint_ge(in.len, 20000);
    reset(fd);
    spin(50);
    ck_assert_int_eq(tg_http_connections(), 0);
    free(in.data);
    teardown();
}
END_TEST

START_TEST(client_leaves_before_the_answer)
{
    int port = serve("", 0), fd = client(port, 0);

    send_all(fd, "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n");
    spin(10);
    ck_assert_ptr_nonnull(seen.deferred);
    close(fd);
    spin(10);
    ck_assert_int_eq(seen.aborts, 1);
    ck_assert_int_eq(tg_http_connections(), 0);
    teardown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("output");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pipelined_answers_through_partial_writes);
    tcase_add_test(tc, connection_close_after_the_last_byte);
    tcase_add_test(tc, stream_backpressure_slow_reader);
    tcase_add_test(tc, stream_backpressure_fast_reader);
    tcase_add_test(tc, keepalive_timeout_waits_for_the_answer_to_go_out);
    tcase_add_test(tc, drain_closes_after_the_answer_goes_out);
    tcase_add_test(tc, send_timeout_drops_a_client_that_stops_reading);
    tcase_add_test(tc, client_reset_before_the_direct_write);
    tcase_add_test(tc, client_reset_in_the_middle_of_an_answer);
    tcase_add_test(tc, client_leaves_before_the_answer);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
