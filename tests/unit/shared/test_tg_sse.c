/*
 * Unit tests for shared/tg_sse.c, the incremental Server-Sent Events parser. Upstream bytes
 * arrive in arbitrary pieces, so the central property is that any split of a stream yields the
 * same events, each carrying the exact bytes it was framed in (relays forward those verbatim).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_sse.h"

/* ---- a callback that records every event ----------------------------------------------- */

typedef struct {
    char *event;
    char *data;
    size_t datalen;
    char *raw;
    size_t rawlen;
} rec_event_t;

typedef struct {
    rec_event_t *ev;
    size_t n, cap;
    size_t stop_at; /* return -1 from the callback for event number stop_at (1-based); 0: never */
    int contract_broken; /* set when event was NULL or data not NUL-terminated */
} rec_t;

static char *dupmem(const char *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s == NULL)
        abort(); /* not ck_assert: this runs tens of thousands of times per test */
    if (len > 0)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static int rec_cb(void *arg, const char *event, const char *data, size_t datalen, const char *raw,
                  size_t rawlen)
{
    rec_t *r = arg;

    /* the contract: event is never NULL ("" when absent) and data is NUL-terminated */
    if (event == NULL || data == NULL || data[datalen] != '\0') {
        r->contract_broken = 1;
        return -1;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
        if (r->ev == NULL)
            abort();
    }
    r->ev[r->n].event = dupmem(event, strlen(event));
    r->ev[r->n].data = dupmem(data, datalen);
    r->ev[r->n].datalen = datalen;
    r->ev[r->n].raw = dupmem(raw, rawlen);
    r->ev[r->n].rawlen = rawlen;
    r->n++;
    return r->stop_at != 0 && r->n == r->stop_at ? -1 : 0;
}

static void rec_free(rec_t *r)
{
    if (r->contract_broken)
        ck_abort_msg("callback got a NULL event/data or unterminated data");
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].event);
        free(r->ev[i].data);
        free(r->ev[i].raw);
    }
    free(r->ev);
    memset(r, 0, sizeof(*r));
}

/* 1 when both recordings hold the same events (name, data, raw bytes); else 0 and why. */
static int rec_same(const rec_t *a, const rec_t *b, char *why, size_t whylen)
{
    if (a->n != b->n) {
        snprintf(why, whylen, "%zu events, expected %zu", b->n, a->n);
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->ev[i].event, b->ev[i].event) != 0) {
            snprintf(why, whylen, "event %zu: name \"%s\", expected \"%s\"", i, b->ev[i].event,
                     a->ev[i].event);
            return 0;
        }
        if (a->ev[i].datalen != b->ev[i].datalen ||
            memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].datalen) != 0) {
            snprintf(why, whylen, "event %zu: data differs", i);
            return 0;
        }
        if (a->ev[i].rawlen != b->ev[i].rawlen ||
            memcmp(a->ev[i].raw, b->ev[i].raw, a->ev[i].rawlen) != 0) {
            snprintf(why, whylen, "event %zu: raw bytes differ (%zu vs %zu bytes)", i,
                     b->ev[i].rawlen, a->ev[i].rawlen);
            return 0;
        }
    }
    return 1;
}

static void rec_assert_same(const rec_t *a, const rec_t *b, const char *how)
{
    char why[128];

    if (!rec_same(a, b, why, sizeof(why)))
        ck_abort_msg("%s: %s", how, why);
}

/* Feed text in one call and record the events; asserts the feed succeeds. */
static void feed_all(const char *text, size_t len, rec_t *r, size_t *pending)
{
    tg_sse_t p;

    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, text, len, rec_cb, r), 0);
    if (pending != NULL)
        *pending = tg_sse_pending(&p);
    tg_sse_free(&p);
}

#define FEED_STR(s, r, pend) feed_all((s), strlen(s), (r), (pend))

/* A stream that exercises every framing rule; it ends with a complete event. */
static const char mixed_stream[] =
    ": welcome comment\n"
    "\n"                                                       /* comment-only block: no event */
    "data: {\"a\":1}\n\n"                                      /* LF */
    "event: delta\r\ndata: line one\r\ndata: line two\r\n\r\n" /* CRLF, multi-line */
    "data: cr only\r\r"                                        /* CR */
    "id: 7\nretry: 100\ndata:no space\ndata:  two spaces\n\n"  /* unknown fields, spaces */
    ": ping\r\n\r\n"                                           /* comment-only block, CRLF */
    "event: message_stop\ndata: [DONE]\n\r\n"                  /* mixed LF then CRLF blank line */
    "data: x\r\n\r\n"
    "data\n\n" /* field without colon: empty data */
    "data: tail\n\n";

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(single_event_lf)
{
    /* "data: hello\n\n" is one unnamed event with data "hello" framed in all 13 bytes. */
    rec_t r = {0};
    size_t pending;

    FEED_STR("data: hello\n\n", &r, &pending);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.ev[0].event, "");
    ck_assert_str_eq(r.ev[0].data, "hello");
    ck_assert_uint_eq(r.ev[0].datalen, 5);
    ck_assert_uint_eq(r.ev[0].rawlen, 13);
    ck_assert_mem_eq(r.ev[0].raw, "data: hello\n\n", 13);
    ck_assert_uint_eq(pending, 0);
    rec_free(&r);
}
END_TEST

START_TEST(mixed_stream_events_are_as_specified)
{
    /* Decoding the mixed stream in one feed gives exactly these events. */
    static const struct {
        const char *event, *data;
    } want[] = {
        {"", "{\"a\":1}"},
        {"delta", "line one\nline two"},
        {"", "cr only"},
        {"", "no space\n two spaces"},
        {"message_stop", "[DONE]"},
        {"", "x"},
        {"", ""},
        {"", "tail"},
    };
    rec_t r = {0};
    size_t pending;

    FEED_STR(mixed_stream, &r, &pending);
    ck_assert_uint_eq(r.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < r.n; i++) {
        ck_assert_str_eq(r.ev[i].event, want[i].event);
        ck_assert_str_eq(r.ev[i].data, want[i].data);
    }
    ck_assert_uint_eq(pending, 0);
    rec_free(&r);
}
END_TEST

START_TEST(one_byte_at_a_time_equals_one_feed)
{
    /* Feeding one byte per call must produce the same events, names, data and raw bytes. */
    rec_t whole = {0}, bytes = {0};
    size_t len = strlen(mixed_stream);
    tg_sse_t p;

    FEED_STR(mixed_stream, &whole, NULL);
    tg_sse_init(&p);
    for (size_t i = 0; i < len; i++)
        ck_assert_int_eq(tg_sse_feed(&p, mixed_stream + i, 1, rec_cb, &bytes), 0);
    ck_assert_uint_eq(tg_sse_pending(&p), 0);
    tg_sse_free(&p);
    rec_assert_same(&whole, &bytes, "byte at a time");
    rec_free(&whole);
    rec_free(&bytes);
}
END_TEST

/* Feed mixed_stream in pieces ending at the given cuts; 1 when it gives the events in want. */
static int split_matches(const rec_t *want, const size_t *cuts, size_t ncuts, char *why,
                         size_t whylen)
{
    size_t len = strlen(mixed_stream), from = 0;
    rec_t got = {0};
    tg_sse_t p;
    int ok = 1;

    tg_sse_init(&p);
    for (size_t k = 0; k <= ncuts && ok; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        if (tg_sse_feed(&p, mixed_stream + from, to - from, rec_cb, &got) != 0) {
            snprintf(why, whylen, "feed of [%zu,%zu) failed", from, to);
            ok = 0;
        }
        from = to;
    }
    if (ok && tg_sse_pending(&p) != 0) {
        snprintf(why, whylen, "%zu bytes left pending", tg_sse_pending(&p));
        ok = 0;
    }
    if (ok)
        ok = rec_same(want, &got, why, whylen);
    tg_sse_free(&p);
    rec_free(&got);
    return ok;
}

START_TEST(every_split_point_equals_one_feed)
{
    /*
     * For every boundary i, feeding [0,i) then [i,len) must equal one feed; likewise for every
     * pair of boundaries i < j (three pieces). Pieces are never empty (see zero_length_feed).
     */
    rec_t whole = {0};
    size_t len = strlen(mixed_stream);
    char why[128];

    FEED_STR(mixed_stream, &whole, NULL);
    for (size_t i = 1; i < len; i++) {
        size_t cuts[1] = {i};
        if (!split_matches(&whole, cuts, 1, why, sizeof(why)))
            ck_abort_msg("split at %zu: %s", i, why);
    }
    for (size_t i = 1; i < len; i++) {
        for (size_t j = i + 1; j < len; j++) {
            size_t cuts[2] = {i, j};
            if (!split_matches(&whole, cuts, 2, why, sizeof(why)))
                ck_abort_msg("split at %zu and %zu: %s", i, j, why);
        }
    }
    rec_free(&whole);
}
END_TEST

START_TEST(zero_length_feed)
{
    /*
     * Feeding zero bytes is a no-op that returns 0, also on a fresh parser that has not
     * allocated its buffer yet (an upstream write callback may deliver an empty piece).
     */
    tg_sse_t p;
    rec_t r = {0};

    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, "", 0, rec_cb, &r), 0);
    ck_assert_uint_eq(tg_sse_pending(&p), 0);
    ck_assert_int_eq(tg_sse_feed(&p, "data: a\n\n", 9, rec_cb, &r), 0);
    ck_assert_int_eq(tg_sse_feed(&p, "", 0, rec_cb, &r), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.ev[0].data, "a");
    ck_assert_uint_eq(tg_sse_pending(&p), 0);
    tg_sse_free(&p);
    rec_free(&r);
}
END_TEST

START_TEST(raw_bytes_tile_the_stream)
{
    /*
     * Raw bytes are the exact framing: concatenating the raw bytes of every event (plus the
     * comment-only blocks, which produce none) reproduces the input.
     */
    static const char stream[] = "data: a\n\n"
                                 "event: e\r\ndata: b\r\n\r\n"
                                 "data: c\r\r"
                                 "data: d\n\r\n";
    rec_t r = {0};
    size_t off = 0;

    FEED_STR(stream, &r, NULL);
    ck_assert_uint_eq(r.n, 4);
    for (size_t i = 0; i < r.n; i++) {
        ck_assert_mem_eq(r.ev[i].raw, stream + off, r.ev[i].rawlen);
        off += r.ev[i].rawlen;
    }
    ck_assert_uint_eq(off, strlen(stream));
    ck_assert_uint_eq(r.ev[0].rawlen, 9);
    ck_assert_uint_eq(r.ev[1].rawlen, 21);
    ck_assert_uint_eq(r.ev[2].rawlen, 9);
    ck_assert_uint_eq(r.ev[3].rawlen, 10);
    rec_free(&r);
}
END_TEST

START_TEST(line_endings_lf_crlf_cr_are_equivalent)
{
    /* The same two events written with LF, CRLF or CR line endings decode identically. */
    static const char *const streams[] = {
        "event: a\ndata: 1\ndata: 2\n\ndata: 3\n\n",
        "event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n",
        "event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r:\n", /* trailing bytes release the CR wait */
    };

    for (size_t s = 0; s < 3; s++) {
        rec_t r = {0};

        FEED_STR(streams[s], &r, NULL);
        ck_assert_msg(r.n == 2, "stream %zu: %zu events", s, r.n);
        ck_assert_str_eq(r.ev[0].event, "a");
        ck_assert_str_eq(r.ev[0].data, "1\n2");
        ck_assert_str_eq(r.ev[1].event, "");
        ck_assert_str_eq(r.ev[1].data, "3");
        rec_free(&r);
    }
}
END_TEST

START_TEST(cr_at_end_waits_for_possible_lf)
{
    /*
     * After "\r\r" the parser cannot know yet whether an LF follows (which would belong to this
     * event's framing), so it holds the event; the next byte decides the raw length.
     */
    tg_sse_t p;
    rec_t r = {0};

    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, "data: a\r\r", 9, rec_cb, &r), 0);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_uint_eq(tg_sse_pending(&p), 9);
    ck_assert_int_eq(tg_sse_feed(&p, "\n", 1, rec_cb, &r), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.ev[0].data, "a");
    ck_assert_uint_eq(r.ev[0].rawlen, 10);
    ck_assert_uint_eq(tg_sse_pending(&p), 0);

    ck_assert_int_eq(tg_sse_feed(&p, "data: b\r\r", 9, rec_cb, &r), 0);
    ck_assert_int_eq(tg_sse_feed(&p, "d", 1, rec_cb, &r), 0);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_str_eq(r.ev[1].data, "b");
    ck_assert_uint_eq(r.ev[1].rawlen, 9);
    ck_assert_uint_eq(tg_sse_pending(&p), 1);
    tg_sse_free(&p);
    rec_free(&r);
}
END_TEST

START_TEST(multi_line_data_joined_with_lf)
{
    /* data lines join with "\n"; one space after the colon is dropped, a second one kept. */
    rec_t r = {0};

    FEED_STR("data: first\ndata:second\ndata:  third\ndata\ndata: \n\n", &r, NULL);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.ev[0].datalen, strlen("first\nsecond\n third\n\n"));
    ck_assert_str_eq(r.ev[0].data, "first\nsecond\n third\n\n");
    rec_free(&r);
}
END_TEST

START_TEST(event_names)
{
    /* "event:" names the event; a later event line wins; names do not leak into the next event. */
    rec_t r = {0};

    FEED_STR("event: content_block_delta\ndata: {}\n\n"
             "event: one\nevent: two\ndata: x\n\n"
             "data: y\n\n",
             &r, NULL);
    ck_assert_uint_eq(r.n, 3);
    ck_assert_str_eq(r.ev[0].event, "content_block_delta");
    ck_assert_str_eq(r.ev[0].data, "{}");
    ck_assert_str_eq(r.ev[1].event, "two");
    ck_assert_str_eq(r.ev[2].event, "");
    ck_assert_str_eq(r.ev[2].data, "y");
    rec_free(&r);
}
END_TEST

START_TEST(comments_and_unknown_fields_ignored)
{
    /* ":" lines, unknown fields and wrongly-cased field names contribute nothing to the event. */
    rec_t r = {0};

    FEED_STR(": comment\ndata: a\n: data: not data\nid: 1\nData: B\nretry: 5\ndata: c\n\n", &r,
             NULL);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.ev[0].event, "");
    ck_assert_str_eq(r.ev[0].data, "a\nc");
    rec_free(&r);
}
END_TEST

START_TEST(comment_only_block_produces_no_event)
{
    /* Keep-alive comments form a block of their own that is consumed without a callback. */
    rec_t r = {0};
    size_t pending;

    FEED_STR(": keep-alive\n\n:ping\r\n\r\n: x\r\r", &r, &pending);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_uint_eq(pending, 5); /* the final "\r\r" block waits for a possible LF */
    FEED_STR(": keep-alive\n\n\n\n: again\n\n", &r, &pending);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_uint_eq(pending, 0);
    rec_free(&r);
}
END_TEST

START_TEST(incomplete_event_is_held)
{
    /* Bytes without a blank line are held (pending) and no callback happens. */
    tg_sse_t p;
    rec_t r = {0};

    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, "data: partial\n", 14, rec_cb, &r), 0);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_uint_eq(tg_sse_pending(&p), 14);
    ck_assert_int_eq(tg_sse_feed(&p, "", 0, rec_cb, &r), 0);
    ck_assert_uint_eq(tg_sse_pending(&p), 14);
    ck_assert_int_eq(tg_sse_feed(&p, "\ndata: next", 11, rec_cb, &r), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.ev[0].data, "partial");
    ck_assert_uint_eq(tg_sse_pending(&p), 10);
    tg_sse_free(&p); /* freeing with pending bytes must not leak */
    rec_free(&r);
}
END_TEST

START_TEST(callback_stop_ends_feed)
{
    /* A callback returning -1 makes tg_sse_feed return -1 and no further event is delivered. */
    tg_sse_t p;
    rec_t r = {.stop_at = 1};

    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, rec_cb, &r), -1);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.ev[0].data, "1");
    tg_sse_free(&p);
    rec_free(&r);

    r = (rec_t){.stop_at = 2};
    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, rec_cb, &r), -1);
    ck_assert_uint_eq(r.n, 2);
    tg_sse_free(&p);
    rec_free(&r);
}
END_TEST

START_TEST(oversize_incomplete_event_fails)
{
    /* More than TG_SSE_MAX_EVENT bytes without an event end must be refused with -1. */
    size_t len = TG_SSE_MAX_EVENT + 16;
    char *big = malloc(len);
    tg_sse_t p;
    rec_t r = {0};

    ck_assert_ptr_nonnull(big);
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', len - 6);
    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, big, len, rec_cb, &r), -1);
    ck_assert_uint_eq(r.n, 0);
    tg_sse_free(&p);

    /* the same bytes in 64 KiB pieces fail too, once the held bytes pass the limit */
    tg_sse_init(&p);
    {
        int rc = 0;
        size_t off = 0;
        while (off < len && rc == 0) {
            size_t n = len - off < 65536 ? len - off : 65536;
            rc = tg_sse_feed(&p, big + off, n, rec_cb, &r);
            off += n;
        }
        ck_assert_int_eq(rc, -1);
    }
    ck_assert_uint_eq(r.n, 0);
    tg_sse_free(&p);
    free(big);
}
END_TEST

START_TEST(event_at_limit_is_accepted)
{
    /* An event of exactly TG_SSE_MAX_EVENT bytes, fed in pieces, is still delivered. */
    size_t len = TG_SSE_MAX_EVENT;
    char *big = malloc(len);
    tg_sse_t p;
    rec_t r = {0};
    size_t off = 0;

    ck_assert_ptr_nonnull(big);
    memcpy(big, "data: ", 6);
    memset(big + 6, 'y', len - 8);
    memcpy(big + len - 2, "\n\n", 2);
    tg_sse_init(&p);
    while (off < len) {
        size_t n = len - off < 100000 ? len - off : 100000;
        ck_assert_int_eq(tg_sse_feed(&p, big + off, n, rec_cb, &r), 0);
        off += n;
    }
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.ev[0].datalen, len - 8);
    ck_assert_uint_eq(r.ev[0].rawlen, len);
    tg_sse_free(&p);
    rec_free(&r);
    free(big);
}
END_TEST

START_TEST(oversize_complete_event_fails)
{
    /*
     * The header promises -1 when "one event exceeded TG_SSE_MAX_EVENT", regardless of how the
     * bytes were split: a complete event larger than the limit must not be delivered even when
     * it arrives in one piece (or when its last piece completes it).
     */
    size_t len = TG_SSE_MAX_EVENT + 1024;
    char *big = malloc(len);
    tg_sse_t p;
    rec_t r = {0};

    ck_assert_ptr_nonnull(big);
    memcpy(big, "data: ", 6);
    memset(big + 6, 'z', len - 8);
    memcpy(big + len - 2, "\n\n", 2);
    tg_sse_init(&p);
    ck_assert_int_eq(tg_sse_feed(&p, big, len, rec_cb, &r), -1);
    ck_assert_uint_eq(r.n, 0);
    tg_sse_free(&p);
    rec_free(&r);
    free(big);
}
END_TEST

static Suite *tg_sse_suite(void)
{
    Suite *s = suite_create("tg_sse");
    TCase *tc = tcase_create("framing");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, single_event_lf);
    tcase_add_test(tc, mixed_stream_events_are_as_specified);
    tcase_add_test(tc, one_byte_at_a_time_equals_one_feed);
    tcase_add_test(tc, every_split_point_equals_one_feed);
    tcase_add_test(tc, raw_bytes_tile_the_stream);
    tcase_add_test(tc, line_endings_lf_crlf_cr_are_equivalent);
    tcase_add_test(tc, cr_at_end_waits_for_possible_lf);
    tcase_add_test(tc, incomplete_event_is_held);
    tcase_add_test(tc, zero_length_feed);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_add_test(tc, multi_line_data_joined_with_lf);
    tcase_add_test(tc, event_names);
    tcase_add_test(tc, comments_and_unknown_fields_ignored);
    tcase_add_test(tc, comment_only_block_produces_no_event);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, callback_stop_ends_feed);
    tcase_add_test(tc, oversize_incomplete_event_fails);
    tcase_add_test(tc, event_at_limit_is_accepted);
    tcase_add_test(tc, oversize_complete_event_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_sse_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
