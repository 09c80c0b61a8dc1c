/*
 * Unit tests for shared/tg_evstream.c, AWS's binary event-stream framing. The decoder must read
 * AWS's published test vectors (aws-c-event-stream and the JS SDK's eventstream marshaller),
 * refuse their corrupted variants, deliver the same messages for any split of the bytes (one at a
 * time included), and stop for good at a bad CRC or an oversized frame; the encoder must write
 * the published bytes exactly and round-trip every header type.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_evstream.h"

/* ---- published vectors --------------------------------------------------------------------- */

static const unsigned char empty_message[] = {0, 0,   0,  16,  0,   0,   0,   0,
                                              5, 194, 72, 235, 125, 152, 200, 255};
static const unsigned char int32_header[] = {
    0,   0,   0,   45, 0,   0,   0,   16,  65,  196, 36,  184, 10,  101, 118,
    101, 110, 116, 45, 116, 121, 112, 101, 4,   0,   0,   160, 12,  123, 39,
    102, 111, 111, 39, 58,  39,  98,  97,  114, 39,  125, 54,  244, 128, 160};
static const unsigned char payload_no_headers[] = {0,   0,  0,   29, 0,   0,   0,   0,  253, 82,
                                                   140, 90, 123, 39, 102, 111, 111, 39, 58,  39,
                                                   98,  97, 114, 39, 125, 195, 101, 57, 54};
static const unsigned char payload_one_str_header[] = {
    0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
    116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
    105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
    111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177};
/* the same frames, corrupted (from the same published fixture) */
static const unsigned char corrupted_headers[] = {
    0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
    116, 101, 110, 116, 43,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
    105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
    111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177};
static const unsigned char corrupted_header_len[] = {
    0,   0,   0,   61,  0,   0,   1,   32,  7,   253, 131, 150, 12,  99,  111, 110,
    116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
    105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
    111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177};
static const unsigned char corrupted_length[] = {1,   0,  0,   29, 0,   0,   0,   0,  253, 82,
                                                 140, 90, 123, 39, 102, 111, 111, 39, 58,  39,
                                                 98,  97, 114, 39, 125, 195, 101, 57, 54};
static const unsigned char corrupted_payload[] = {0,   0,  0,   29, 0,   0,   0,   0,  253, 82,
                                                  140, 90, 123, 39, 102, 111, 111, 39, 58,  39,
                                                  98,  97, 114, 39, 141, 195, 101, 57, 54};

#define FOOBAR "{'foo':'bar'}"

/* ---- a callback that records messages ------------------------------------------------------ */

typedef struct {
    int n;
    char payload[8][512];
    size_t plen[8];
    char event_type[8][64], message_type[8][32], exception_type[8][64];
    unsigned char headers[8][512];
    size_t hlen[8];
    int stop_at; /* return -1 for message number stop_at (1-based); 0: never */
} rec_t;

static int rec_cb(void *arg, const tg_evmsg_t *m)
{
    rec_t *r = arg;

    ck_assert_int_lt(r->n, 8);
    ck_assert_uint_lt(m->payload_len, sizeof(r->payload[0]));
    ck_assert_uint_lt(m->headers_len, sizeof(r->headers[0]));
    memcpy(r->payload[r->n], m->payload, m->payload_len);
    r->plen[r->n] = m->payload_len;
    memcpy(r->headers[r->n], m->headers, m->headers_len);
    r->hlen[r->n] = m->headers_len;
    strcpy(r->event_type[r->n], m->event_type);
    strcpy(r->message_type[r->n], m->message_type);
    strcpy(r->exception_type[r->n], m->exception_type);
    r->n++;
    return r->stop_at == r->n ? -1 : 0;
}

/* Feed all of p at once into a fresh decoder; returns feed's rc. */
static int decode(const void *p, size_t len, rec_t *r)
{
    tg_evstream_t d;
    int rc;

    memset(r, 0, sizeof(*r));
    tg_evstream_init(&d, 0);
    rc = tg_evstream_feed(&d, p, len, rec_cb, r);
    tg_evstream_free(&d);
    return rc;
}

/* ---- CRC32 ---------------------------------------------------------------------------------- */

START_TEST(crc32_check_value)
{
    /* the CRC-32 catalogue's check value, and zlib's results for the empty and split input */
    ck_assert_uint_eq(tg_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(tg_crc32(0, "", 0), 0);
    ck_assert_uint_eq(tg_crc32(tg_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    /* the published prelude CRCs */
    ck_assert_uint_eq(tg_crc32(0, empty_message, 8), 0x05c248ebu);
    ck_assert_uint_eq(tg_crc32(0, payload_one_str_header, 8), 0x07fd8396u);
}
END_TEST

/* ---- decoding the published vectors -------------------------------------------------------- */

START_TEST(published_empty_message)
{
    rec_t r;

    ck_assert_int_eq(decode(empty_message, sizeof(empty_message), &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.plen[0], 0);
    ck_assert_uint_eq(r.hlen[0], 0);
    ck_assert_str_eq(r.event_type[0], "");
}
END_TEST

START_TEST(published_payload_no_headers)
{
    rec_t r;

    ck_assert_int_eq(decode(payload_no_headers, sizeof(payload_no_headers), &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.plen[0], strlen(FOOBAR));
    ck_assert_int_eq(memcmp(r.payload[0], FOOBAR, strlen(FOOBAR)), 0);
}
END_TEST

START_TEST(published_string_header)
{
    rec_t r;
    tg_evheader_t h;
    size_t off = 0;

    ck_assert_int_eq(decode(payload_one_str_header, sizeof(payload_one_str_header), &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(memcmp(r.payload[0], FOOBAR, strlen(FOOBAR)), 0);
    ck_assert_int_eq(tg_evstream_header_next(r.headers[0], r.hlen[0], &off, &h), 1);
    ck_assert_int_eq(h.type, TG_EVH_STRING);
    ck_assert_uint_eq(h.name_len, 12);
    ck_assert_int_eq(memcmp(h.name, "content-type", 12), 0);
    ck_assert_uint_eq(h.value_len, 16);
    ck_assert_int_eq(memcmp(h.value, "application/json", 16), 0);
    ck_assert_int_eq(tg_evstream_header_next(r.headers[0], r.hlen[0], &off, &h), 0);
}
END_TEST

START_TEST(published_int32_header)
{
    rec_t r;
    tg_evheader_t h;
    size_t off = 0;

    ck_assert_int_eq(decode(int32_header, sizeof(int32_header), &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(tg_evstream_header_next(r.headers[0], r.hlen[0], &off, &h), 1);
    ck_assert_int_eq(h.type, TG_EVH_INT);
    ck_assert_int_eq(memcmp(h.name, "event-type", 10), 0);
    ck_assert_int_eq(h.num, 0xa00c);
    /* an int-typed :event-type-like header is not a string: nothing routes on it */
    ck_assert_str_eq(r.event_type[0], "");
}
END_TEST

START_TEST(published_corruptions_are_refused)
{
    static const struct {
        const unsigned char *p;
        size_t len;
    } bad[] = {
        {corrupted_headers, sizeof(corrupted_headers)},
        {corrupted_header_len, sizeof(corrupted_header_len)},
        {corrupted_length, sizeof(corrupted_length)},
        {corrupted_payload, sizeof(corrupted_payload)},
    };
    rec_t r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode(bad[i].p, bad[i].len, &r) == -2, "corruption %zu accepted", i);
        ck_assert_int_eq(r.n, 0);
    }
}
END_TEST

/* ---- the encoder ---------------------------------------------------------------------------- */

START_TEST(encoder_writes_the_published_bytes)
{
    tg_evheader_t ct = {"content-type", 12, TG_EVH_STRING, 0, "application/json", 16};
    tg_evheader_t et = {"event-type", 10, TG_EVH_INT, 0xa00c, NULL, 0};
    tg_buf_t b = {0};

    ck_assert_int_eq(tg_evstream_encode(&b, NULL, 0, NULL, 0), 0);
    ck_assert_uint_eq(b.len, sizeof(empty_message));
    ck_assert_int_eq(memcmp(b.data, empty_message, b.len), 0);
    tg_buf_reset(&b);
    ck_assert_int_eq(tg_evstream_encode(&b, NULL, 0, FOOBAR, strlen(FOOBAR)), 0);
    ck_assert_int_eq(memcmp(b.data, payload_no_headers, sizeof(payload_no_headers)), 0);
    tg_buf_reset(&b);
    ck_assert_int_eq(tg_evstream_encode(&b, &ct, 1, FOOBAR, strlen(FOOBAR)), 0);
    ck_assert_uint_eq(b.len, sizeof(payload_one_str_header));
    ck_assert_int_eq(memcmp(b.data, payload_one_str_header, b.len), 0);
    tg_buf_reset(&b);
    ck_assert_int_eq(tg_evstream_encode(&b, &et, 1, FOOBAR, strlen(FOOBAR)), 0);
    ck_assert_uint_eq(b.len, sizeof(int32_header));
    ck_assert_int_eq(memcmp(b.data, int32_header, b.len), 0);
    tg_buf_free(&b);
}
END_TEST

START_TEST(every_header_type_round_trips)
{
    static const unsigned char uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tg_evheader_t in[] = {
        {"t", 1, TG_EVH_TRUE, 1, NULL, 0},
        {"f", 1, TG_EVH_FALSE, 0, NULL, 0},
        {"byte", 4, TG_EVH_BYTE, -7, NULL, 0},
        {"short", 5, TG_EVH_SHORT, -30000, NULL, 0},
        {"int", 3, TG_EVH_INT, -2000000000, NULL, 0},
        {"long", 4, TG_EVH_LONG, -9000000000000000000LL, NULL, 0},
        {"bytes", 5, TG_EVH_BYTES, 0, "\0\1\2", 3},
        {":event-type", 11, TG_EVH_STRING, 0, "messageStop", 11},
        {"ts", 2, TG_EVH_TIMESTAMP, 1440938160000LL, NULL, 0},
        {"id", 2, TG_EVH_UUID, 0, uuid, 16},
    };
    size_t n = sizeof(in) / sizeof(in[0]), off = 0, i = 0;
    tg_evheader_t h;
    tg_buf_t b = {0};
    rec_t r;
    int rc;

    ck_assert_int_eq(tg_evstream_encode(&b, in, n, "{}", 2), 0);
    ck_assert_int_eq(decode(b.data, b.len, &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.event_type[0], "messageStop");
    while ((rc = tg_evstream_header_next(r.headers[0], r.hlen[0], &off, &h)) == 1) {
        ck_assert_uint_lt(i, n);
        ck_assert_uint_eq(h.name_len, in[i].name_len);
        ck_assert_int_eq(memcmp(h.name, in[i].name, h.name_len), 0);
        ck_assert_int_eq(h.type, in[i].type);
        ck_assert_msg(h.num == in[i].num, "%s: %lld", in[i].name, (long long)h.num);
        ck_assert_uint_eq(h.value_len, in[i].value_len);
        if (h.value_len > 0)
            ck_assert_int_eq(memcmp(h.value, in[i].value, h.value_len), 0);
        i++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(i, n);
    tg_buf_free(&b);
}
END_TEST

START_TEST(encoder_refuses_impossible_headers)
{
    char big[300];
    tg_evheader_t h = {big, sizeof(big), TG_EVH_STRING, 0, "x", 1};
    tg_evheader_t u = {"id", 2, TG_EVH_UUID, 0, "short", 5};
    tg_evheader_t t = {"x", 1, 10, 0, NULL, 0};
    tg_buf_t b = {0};

    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(tg_evstream_encode(&b, &h, 1, NULL, 0), -1);
    ck_assert_int_eq(tg_evstream_encode(&b, &u, 1, NULL, 0), -1);
    ck_assert_int_eq(tg_evstream_encode(&b, &t, 1, NULL, 0), -1);
    ck_assert_uint_eq(b.len, 0); /* nothing half-written is left behind */
    tg_buf_free(&b);
}
END_TEST

/* ---- streams of messages -------------------------------------------------------------------- */

/* Three Bedrock-shaped messages: two events and an exception. */
static void bedrock_stream(tg_buf_t *b)
{
    tg_evheader_t ev[] = {
        {":event-type", 11, TG_EVH_STRING, 0, "contentBlockDelta", 17},
        {":content-type", 13, TG_EVH_STRING, 0, "application/json", 16},
        {":message-type", 13, TG_EVH_STRING, 0, "event", 5},
    };
    tg_evheader_t ex[] = {
        {":exception-type", 15, TG_EVH_STRING, 0, "throttlingException", 19},
        {":content-type", 13, TG_EVH_STRING, 0, "application/json", 16},
        {":message-type", 13, TG_EVH_STRING, 0, "exception", 9},
    };
    const char *p1 = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"},\"p\":\"abcd\"}";
    const char *p2 = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\" world\"},\"p\":\"ab\"}";
    const char *p3 = "{\"message\":\"Too many requests, please wait before trying again.\"}";

    ck_assert_int_eq(tg_evstream_encode(b, ev, 3, p1, strlen(p1)), 0);
    ck_assert_int_eq(tg_evstream_encode(b, ev, 3, p2, strlen(p2)), 0);
    ck_assert_int_eq(tg_evstream_encode(b, ex, 3, p3, strlen(p3)), 0);
}

static void assert_same(const rec_t *a, const rec_t *b)
{
    ck_assert_int_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        ck_assert_uint_eq(a->plen[i], b->plen[i]);
        ck_assert_int_eq(memcmp(a->payload[i], b->payload[i], a->plen[i]), 0);
        ck_assert_str_eq(a->event_type[i], b->event_type[i]);
        ck_assert_str_eq(a->message_type[i], b->message_type[i]);
        ck_assert_str_eq(a->exception_type[i], b->exception_type[i]);
    }
}

START_TEST(routing_headers_are_read)
{
    tg_buf_t b = {0};
    rec_t r;

    bedrock_stream(&b);
    ck_assert_int_eq(decode(b.data, b.len, &r), 0);
    ck_assert_int_eq(r.n, 3);
    ck_assert_str_eq(r.event_type[0], "contentBlockDelta");
    ck_assert_str_eq(r.message_type[0], "event");
    ck_assert_str_eq(r.exception_type[0], "");
    ck_assert_str_eq(r.event_type[2], "");
    ck_assert_str_eq(r.message_type[2], "exception");
    ck_assert_str_eq(r.exception_type[2], "throttlingException");
    ck_assert_int_eq(memcmp(r.payload[1], "{\"contentBlockIndex\":0", 22), 0);
    tg_buf_free(&b);
}
END_TEST

START_TEST(one_byte_at_a_time_equals_one_feed)
{
    tg_buf_t b = {0};
    rec_t whole, bytes;
    tg_evstream_t d;

    bedrock_stream(&b);
    ck_assert_int_eq(decode(b.data, b.len, &whole), 0);
    memset(&bytes, 0, sizeof(bytes));
    tg_evstream_init(&d, 0);
    for (size_t i = 0; i < b.len; i++)
        ck_assert_int_eq(tg_evstream_feed(&d, b.data + i, 1, rec_cb, &bytes), 0);
    ck_assert_uint_eq(tg_evstream_pending(&d), 0);
    assert_same(&whole, &bytes);
    tg_evstream_free(&d);
    tg_buf_free(&b);
}
END_TEST

START_TEST(every_split_point_equals_one_feed)
{
    tg_buf_t b = {0};
    rec_t whole, split;

    bedrock_stream(&b);
    ck_assert_int_eq(decode(b.data, b.len, &whole), 0);
    for (size_t cut = 0; cut <= b.len; cut++) {
        tg_evstream_t d;

        memset(&split, 0, sizeof(split));
        tg_evstream_init(&d, 0);
        ck_assert_int_eq(tg_evstream_feed(&d, b.data, cut, rec_cb, &split), 0);
        ck_assert_int_eq(tg_evstream_feed(&d, b.data + cut, b.len - cut, rec_cb, &split), 0);
        assert_same(&whole, &split);
        tg_evstream_free(&d);
    }
    tg_buf_free(&b);
}
END_TEST

START_TEST(a_bad_crc_stops_the_stream_for_good)
{
    tg_buf_t b = {0};
    tg_evstream_t d;
    rec_t r;
    size_t first;

    bedrock_stream(&b);
    first = ((size_t)(unsigned char)b.data[2] << 8) | (unsigned char)b.data[3];
    b.data[first + 20] ^= 1; /* a payload byte of the second message */
    memset(&r, 0, sizeof(r));
    tg_evstream_init(&d, 0);
    ck_assert_int_eq(tg_evstream_feed(&d, b.data, b.len, rec_cb, &r), -2);
    ck_assert_int_eq(r.n, 1); /* the first message was whole and sound */
    ck_assert_int_eq(tg_evstream_feed(&d, b.data, first, rec_cb, &r), -2);
    ck_assert_int_eq(r.n, 1);
    tg_evstream_free(&d);
    tg_buf_free(&b);
}
END_TEST

START_TEST(oversized_messages_fail_at_the_prelude)
{
    tg_buf_t b = {0};
    tg_evstream_t d;
    char payload[100];
    rec_t r;

    memset(payload, 'x', sizeof(payload));
    ck_assert_int_eq(tg_evstream_encode(&b, NULL, 0, payload, sizeof(payload)), 0);
    memset(&r, 0, sizeof(r));
    tg_evstream_init(&d, 64);
    /* refused as soon as the prelude says so, not after buffering the rest */
    ck_assert_int_eq(tg_evstream_feed(&d, b.data, 12, rec_cb, &r), -2);
    ck_assert_int_eq(r.n, 0);
    tg_evstream_free(&d);
    tg_evstream_init(&d, 16 + sizeof(payload));
    ck_assert_int_eq(tg_evstream_feed(&d, b.data, b.len, rec_cb, &r), 0);
    ck_assert_int_eq(r.n, 1);
    tg_evstream_free(&d);
    tg_buf_free(&b);
}
END_TEST

/* A header block whose value runs past its end, with both CRCs correct: still refused. */
START_TEST(malformed_headers_with_good_crcs_are_refused)
{
    unsigned char m[32] = {0, 0, 0, 24, 0, 0, 0, 4};
    uint32_t crc = tg_crc32(0, m, 8);
    rec_t r;

    for (int i = 0; i < 4; i++)
        m[8 + i] = (unsigned char)(crc >> (24 - 8 * i));
    m[12] = 1;   /* name length 1 */
    m[13] = 'x'; /* the name */
    m[14] = 7;   /* a string ... */
    m[15] = 9;   /* ... whose 2-byte length runs past the 4-byte block */
    for (int i = 16; i < 20; i++)
        m[i] = 'p';
    crc = tg_crc32(0, m, 20);
    for (int i = 0; i < 4; i++)
        m[20 + i] = (unsigned char)(crc >> (24 - 8 * i));
    ck_assert_int_eq(decode(m, 24, &r), -2);
    ck_assert_int_eq(r.n, 0);
    m[14] = 42; /* an unknown type */
    crc = tg_crc32(0, m, 20);
    for (int i = 0; i < 4; i++)
        m[20 + i] = (unsigned char)(crc >> (24 - 8 * i));
    ck_assert_int_eq(decode(m, 24, &r), -2);
}
END_TEST

START_TEST(callback_stop_ends_feed)
{
    tg_buf_t b = {0};
    rec_t r;
    tg_evstream_t d;

    bedrock_stream(&b);
    memset(&r, 0, sizeof(r));
    r.stop_at = 2;
    tg_evstream_init(&d, 0);
    ck_assert_int_eq(tg_evstream_feed(&d, b.data, b.len, rec_cb, &r), -1);
    ck_assert_int_eq(r.n, 2);
    tg_evstream_free(&d);
    tg_buf_free(&b);
}
END_TEST

static Suite *tg_evstream_suite(void)
{
    Suite *s = suite_create("tg_evstream");
    TCase *tc = tcase_create("published");

    tcase_add_test(tc, crc32_check_value);
    tcase_add_test(tc, published_empty_message);
    tcase_add_test(tc, published_payload_no_headers);
    tcase_add_test(tc, published_string_header);
    tcase_add_test(tc, published_int32_header);
    tcase_add_test(tc, published_corruptions_are_refused);
    tcase_add_test(tc, encoder_writes_the_published_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_header_type_round_trips);
    tcase_add_test(tc, encoder_refuses_impossible_headers);
    tcase_add_test(tc, routing_headers_are_read);
    tcase_add_test(tc, one_byte_at_a_time_equals_one_feed);
    tcase_add_test(tc, every_split_point_equals_one_feed);
    tcase_add_test(tc, a_bad_crc_stops_the_stream_for_good);
    tcase_add_test(tc, oversized_messages_fail_at_the_prelude);
    tcase_add_test(tc, malformed_headers_with_good_crcs_are_refused);
    tcase_add_test(tc, callback_stop_ends_feed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_evstream_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
