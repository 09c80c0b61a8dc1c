/*
 * Unit tests for shared/tg_channel.c, the framed msgpack messages between master and workers.
 * What is written must read back identically (config files byte for byte, NULs included);
 * a reader must wait for whole frames and must refuse frames it cannot trust.
 */
#include <arpa/inet.h>
#include <check.h>
#include <event2/buffer.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_channel.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Two files, one with binary content: NUL bytes, high bytes, CR/LF. */
static const char file_a[] = "listen: 8080\ninclude: models.yaml\n";
static const char file_b[] = {'m', 0, 'x', '\xff', '\xfe', '\r', '\n', 0, 0, 'z'};

static tg_config_file_t files[] = {
    {"/etc/tollgate/main.yaml", (char *)file_a, sizeof(file_a) - 1},
    {"/etc/tollgate/models.yaml", (char *)file_b, sizeof(file_b)},
    {"/etc/tollgate/empty.yaml", (char *)"", 0},
};

static tg_msg_t config_msg(void)
{
    tg_msg_t m = {.type = TG_MSG_CONFIG, .generation = 42};

    m.source.files = files;
    m.source.nfiles = 3;
    return m;
}

static struct evbuffer *new_buf(void)
{
    struct evbuffer *b = evbuffer_new();

    ck_assert_ptr_nonnull(b);
    return b;
}

/* Append a frame with the given msgpack body (as produced by the packer in sb). */
static void add_frame(struct evbuffer *b, const void *body, size_t len)
{
    uint32_t be = htonl((uint32_t)len);

    ck_assert_int_eq(evbuffer_add(b, &be, 4), 0);
    ck_assert_int_eq(evbuffer_add(b, body, len), 0);
}

/* ---- round trips ------------------------------------------------------------------------ */

START_TEST(config_round_trip)
{
    /* A CONFIG message reads back with the same generation, paths and exact file bytes. */
    struct evbuffer *b = new_buf();
    tg_msg_t out = config_msg(), in;

    ck_assert_int_eq(tg_msg_write(b, &out), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_CONFIG);
    ck_assert_uint_eq(in.generation, 42);
    ck_assert_uint_eq(in.source.nfiles, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(in.source.files[i].path, files[i].path);
        ck_assert_uint_eq(in.source.files[i].len, files[i].len);
        ck_assert_mem_eq(in.source.files[i].data, files[i].data, files[i].len);
        /* received data is NUL-terminated too, so it can be handed to text parsers */
        ck_assert_int_eq(in.source.files[i].data[files[i].len], '\0');
    }
    ck_assert_ptr_null(in.text);
    ck_assert_uint_eq(evbuffer_get_length(b), 0);
    tg_msg_clear(&in);
    ck_assert_ptr_null(in.source.files);
    ck_assert_uint_eq(in.source.nfiles, 0);
    evbuffer_free(b);
}
END_TEST

START_TEST(config_with_no_files_round_trip)
{
    struct evbuffer *b = new_buf();
    tg_msg_t out = {.type = TG_MSG_CONFIG, .generation = 1}, in;

    ck_assert_int_eq(tg_msg_write(b, &out), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_CONFIG);
    ck_assert_uint_eq(in.source.nfiles, 0);
    tg_msg_clear(&in);
    evbuffer_free(b);
}
END_TEST

START_TEST(config_ack_round_trip)
{
    /* CONFIG_ACK carries the refusal reason as text; a successful ack carries none. */
    struct evbuffer *b = new_buf();
    tg_msg_t refused = {.type = TG_MSG_CONFIG_ACK,
                        .generation = 7,
                        .text = (char *)"main.yaml:3:5: unknown key \"x\" \xc3\xa9"};
    tg_msg_t ok = {.type = TG_MSG_CONFIG_ACK, .generation = 8}, in;

    ck_assert_int_eq(tg_msg_write(b, &refused), 0);
    ck_assert_int_eq(tg_msg_write(b, &ok), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_CONFIG_ACK);
    ck_assert_uint_eq(in.generation, 7);
    ck_assert_str_eq(in.text, refused.text);
    ck_assert_uint_eq(in.source.nfiles, 0);
    tg_msg_clear(&in);
    ck_assert_ptr_null(in.text);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_CONFIG_ACK);
    ck_assert_uint_eq(in.generation, 8);
    ck_assert_ptr_null(in.text);
    tg_msg_clear(&in);
    ck_assert_uint_eq(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}
END_TEST

START_TEST(quit_and_ready_round_trip)
{
    /* QUIT's generation is a deadline in ms: all 64 bits must survive. */
    struct evbuffer *b = new_buf();
    tg_msg_t quit = {.type = TG_MSG_QUIT, .generation = UINT64_MAX - 5};
    tg_msg_t ready = {.type = TG_MSG_READY, .generation = 0}, in;

    ck_assert_int_eq(tg_msg_write(b, &quit), 0);
    ck_assert_int_eq(tg_msg_write(b, &ready), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_QUIT);
    ck_assert_uint_eq(in.generation, UINT64_MAX - 5);
    ck_assert_ptr_null(in.text);
    tg_msg_clear(&in);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_READY);
    ck_assert_uint_eq(in.generation, 0);
    tg_msg_clear(&in);
    evbuffer_free(b);
}
END_TEST

START_TEST(frame_layout)
{
    /* A frame is a 4-byte big-endian length followed by exactly that many bytes of msgpack. */
    struct evbuffer *b = new_buf();
    tg_msg_t quit = {.type = TG_MSG_QUIT, .generation = 3};
    unsigned char *p;
    size_t len;

    ck_assert_int_eq(tg_msg_write(b, &quit), 0);
    len = evbuffer_get_length(b);
    ck_assert_uint_gt(len, 4);
    p = evbuffer_pullup(b, -1);
    ck_assert_uint_eq(((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]),
                      len - 4);
    ck_assert_int_eq(p[4], 0x94); /* msgpack fixarray of 4 */
    ck_assert_int_eq(p[5], TG_CHANNEL_VERSION);
    evbuffer_free(b);
}
END_TEST

/* ---- partial and consecutive frames ---------------------------------------------------- */

START_TEST(partial_frame_waits)
{
    /* Until every byte of a frame is there, read returns 0 and consumes nothing. */
    struct evbuffer *whole = new_buf(), *b = new_buf();
    tg_msg_t out = config_msg(), in;
    unsigned char *bytes;
    size_t len;

    ck_assert_int_eq(tg_msg_write(whole, &out), 0);
    len = evbuffer_get_length(whole);
    bytes = evbuffer_pullup(whole, -1);
    ck_assert_int_eq(tg_msg_read(b, &in), 0); /* empty */
    for (size_t i = 0; i + 1 < len; i++) {
        ck_assert_int_eq(evbuffer_add(b, bytes + i, 1), 0);
        if (tg_msg_read(b, &in) != 0)
            ck_abort_msg("read must wait with %zu of %zu bytes", i + 1, len);
        if (evbuffer_get_length(b) != i + 1)
            ck_abort_msg("a partial read must not consume bytes (%zu of %zu)", i + 1, len);
    }
    ck_assert_int_eq(evbuffer_add(b, bytes + len - 1, 1), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_CONFIG);
    ck_assert_uint_eq(in.source.nfiles, 3);
    ck_assert_mem_eq(in.source.files[1].data, file_b, sizeof(file_b));
    ck_assert_uint_eq(evbuffer_get_length(b), 0);
    tg_msg_clear(&in);
    evbuffer_free(whole);
    evbuffer_free(b);
}
END_TEST

START_TEST(back_to_back_frames)
{
    /* Two frames in one buffer read as two messages, in order; then there is nothing. */
    struct evbuffer *b = new_buf();
    tg_msg_t cfg = config_msg();
    tg_msg_t quit = {.type = TG_MSG_QUIT, .generation = 5000}, in;

    ck_assert_int_eq(tg_msg_write(b, &cfg), 0);
    ck_assert_int_eq(tg_msg_write(b, &quit), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_CONFIG);
    ck_assert_uint_eq(in.generation, 42);
    tg_msg_clear(&in);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_QUIT);
    ck_assert_uint_eq(in.generation, 5000);
    tg_msg_clear(&in);
    ck_assert_int_eq(tg_msg_read(b, &in), 0);
    evbuffer_free(b);
}
END_TEST

START_TEST(frame_then_partial_frame)
{
    /* A complete frame followed by part of the next: the first reads, the second waits. */
    struct evbuffer *b = new_buf(), *second = new_buf();
    tg_msg_t quit = {.type = TG_MSG_QUIT, .generation = 1}, in;
    tg_msg_t ack = {.type = TG_MSG_CONFIG_ACK, .generation = 2, .text = (char *)"refused"};

    ck_assert_int_eq(tg_msg_write(b, &quit), 0);
    ck_assert_int_eq(tg_msg_write(second, &ack), 0);
    ck_assert_int_eq(evbuffer_remove_buffer(second, b, 6), 6);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_int_eq(in.type, TG_MSG_QUIT);
    tg_msg_clear(&in);
    ck_assert_int_eq(tg_msg_read(b, &in), 0);
    ck_assert_uint_eq(evbuffer_get_length(b), 6);
    evbuffer_add_buffer(b, second);
    ck_assert_int_eq(tg_msg_read(b, &in), 1);
    ck_assert_str_eq(in.text, "refused");
    tg_msg_clear(&in);
    evbuffer_free(b);
    evbuffer_free(second);
}
END_TEST

/* ---- frames that must be refused -------------------------------------------------------- */

/* Pack [version, type, generation, payload] with payload nil. */
static void pack_header(msgpack_packer *pk, uint64_t version, uint64_t type, uint64_t gen)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint64(pk, version);
    msgpack_pack_uint64(pk, type);
    msgpack_pack_uint64(pk, gen);
}

static int read_packed(msgpack_sbuffer *sb)
{
    struct evbuffer *b = new_buf();
    tg_msg_t in;
    int rc;

    add_frame(b, sb->data, sb->size);
    rc = tg_msg_read(b, &in);
    if (rc == 1)
        tg_msg_clear(&in);
    /* a refused message leaves nothing owned behind */
    ck_assert_ptr_null(in.text);
    ck_assert_ptr_null(in.source.files);
    evbuffer_free(b);
    return rc;
}

START_TEST(wrong_version_refused)
{
    /* A frame of another protocol version must never be misread: -1. */
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_header(&pk, TG_CHANNEL_VERSION + 1, TG_MSG_QUIT, 0);
    msgpack_pack_nil(&pk);
    ck_assert_int_eq(read_packed(&sb), -1);

    /* the same frame with the right version is fine (the test builds frames correctly) */
    msgpack_sbuffer_clear(&sb);
    pack_header(&pk, TG_CHANNEL_VERSION, TG_MSG_QUIT, 0);
    msgpack_pack_nil(&pk);
    ck_assert_int_eq(read_packed(&sb), 1);

    msgpack_sbuffer_clear(&sb);
    pack_header(&pk, 0, TG_MSG_QUIT, 0);
    msgpack_pack_nil(&pk);
    ck_assert_int_eq(read_packed(&sb), -1);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(malformed_structure_refused)
{
    /* Wrong shapes: not an array, wrong arity, wrong element types, bad CONFIG payloads. */
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    msgpack_pack_map(&pk, 0); /* not an array */
    ck_assert_int_eq(read_packed(&sb), -1);

    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 3); /* three elements */
    msgpack_pack_uint8(&pk, TG_CHANNEL_VERSION);
    msgpack_pack_uint8(&pk, TG_MSG_QUIT);
    msgpack_pack_uint8(&pk, 0);
    ck_assert_int_eq(read_packed(&sb), -1);

    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 4); /* version as a string */
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "1", 1);
    msgpack_pack_uint8(&pk, TG_MSG_QUIT);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_nil(&pk);
    ck_assert_int_eq(read_packed(&sb), -1);

    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 4); /* negative generation */
    msgpack_pack_uint8(&pk, TG_CHANNEL_VERSION);
    msgpack_pack_uint8(&pk, TG_MSG_QUIT);
    msgpack_pack_int64(&pk, -1);
    msgpack_pack_nil(&pk);
    ck_assert_int_eq(read_packed(&sb), -1);

    msgpack_sbuffer_clear(&sb);
    pack_header(&pk, TG_CHANNEL_VERSION, TG_MSG_CONFIG, 1); /* CONFIG without a file list */
    msgpack_pack_nil(&pk);
    ck_assert_int_eq(read_packed(&sb), -1);

    msgpack_sbuffer_clear(&sb);
    pack_header(&pk, TG_CHANNEL_VERSION, TG_MSG_CONFIG, 1); /* a file that is not [path, data] */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "a", 1);
    ck_assert_int_eq(read_packed(&sb), -1);

    msgpack_sbuffer_clear(&sb);
    pack_header(&pk, TG_CHANNEL_VERSION, TG_MSG_CONFIG, 1); /* second file's data not a string */
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "a", 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "x", 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "b", 1);
    msgpack_pack_uint8(&pk, 7);
    ck_assert_int_eq(read_packed(&sb), -1); /* and the first file must not leak (ASan) */

    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(garbage_refused)
{
    /* Bytes that are not msgpack at all, or a truncated body inside a complete frame: -1. */
    static const unsigned char garbage[] = {0xc1, 0xc1, 0xc1, 0xc1, 0xc1};
    static const unsigned char truncated[] = {0x94, 0x01, 0x03}; /* array of 4 with 2 items */
    struct evbuffer *b = new_buf();
    tg_msg_t in;

    add_frame(b, garbage, sizeof(garbage));
    ck_assert_int_eq(tg_msg_read(b, &in), -1);
    evbuffer_drain(b, evbuffer_get_length(b));

    add_frame(b, truncated, sizeof(truncated));
    ck_assert_int_eq(tg_msg_read(b, &in), -1);
    evbuffer_drain(b, evbuffer_get_length(b));

    add_frame(b, "", 0); /* an empty frame */
    ck_assert_int_eq(tg_msg_read(b, &in), -1);
    evbuffer_free(b);
}
END_TEST

START_TEST(oversize_length_refused)
{
    /* A length above TG_CHANNEL_MAX_FRAME is refused at once, without waiting for the bytes. */
    struct evbuffer *b = new_buf();
    uint32_t be = htonl(TG_CHANNEL_MAX_FRAME + 1);
    tg_msg_t in;

    ck_assert_int_eq(evbuffer_add(b, &be, 4), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), -1);
    be = htonl(0xffffffffu);
    evbuffer_drain(b, 4);
    ck_assert_int_eq(evbuffer_add(b, &be, 4), 0);
    ck_assert_int_eq(tg_msg_read(b, &in), -1);
    evbuffer_free(b);
}
END_TEST

static Suite *tg_channel_suite(void)
{
    Suite *s = suite_create("tg_channel");
    TCase *tc = tcase_create("round_trip");

    tcase_add_test(tc, config_round_trip);
    tcase_add_test(tc, config_with_no_files_round_trip);
    tcase_add_test(tc, config_ack_round_trip);
    tcase_add_test(tc, quit_and_ready_round_trip);
    tcase_add_test(tc, frame_layout);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_add_test(tc, partial_frame_waits);
    tcase_add_test(tc, back_to_back_frames);
    tcase_add_test(tc, frame_then_partial_frame);
    suite_add_tcase(s, tc);

    tc = tcase_create("refused");
    tcase_add_test(tc, wrong_version_refused);
    tcase_add_test(tc, malformed_structure_refused);
    tcase_add_test(tc, garbage_refused);
    tcase_add_test(tc, oversize_length_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_channel_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
