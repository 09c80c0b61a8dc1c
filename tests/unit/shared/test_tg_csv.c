/*
 * Unit tests for shared/tg_csv.c, the RFC 4180 reader behind tollgate-route-eval. What must
 * hold: quoted fields keep commas, quotes ("" escapes) and line breaks, unescaped in place;
 * CRLF, LF and CR all end records; record line numbers stay right across multi-line fields;
 * malformed input is reported with the line of its record, never read past the buffer.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_csv.h"

#define MAXF 64

/* Parse text (copied, since fields are unescaped in place) into "field|field\n" records. */
typedef struct {
    char out[1024];
    size_t lines[MAXF]; /* record_line of each record */
    size_t nrec;
    tg_csv_rc_t last;
    const char *error;
    size_t error_line;
} parsed_t;

static void parse(const char *text, size_t len, parsed_t *r)
{
    char *buf = malloc(len + 1);
    tg_csv_t csv;
    size_t o = 0;

    ck_assert_ptr_nonnull(buf);
    memcpy(buf, text, len);
    memset(r, 0, sizeof(*r));
    tg_csv_init(&csv, buf, len);
    for (;;) {
        char *f;
        size_t flen;
        tg_csv_rc_t rc = tg_csv_next(&csv, &f, &flen);

        r->last = rc;
        if (rc == TG_CSV_EOF || rc == TG_CSV_ERROR) {
            r->error = csv.error;
            r->error_line = csv.record_line;
            break;
        }
        ck_assert(o + flen + 2 < sizeof(r->out));
        memcpy(r->out + o, f, flen);
        o += flen;
        r->out[o++] = rc == TG_CSV_LAST ? '\n' : '|';
        if (rc == TG_CSV_LAST) {
            ck_assert(r->nrec < MAXF);
            r->lines[r->nrec++] = csv.record_line;
        }
    }
    r->out[o] = '\0';
    /* Once finished, it stays finished. */
    {
        char *f;
        size_t flen;

        ck_assert_int_eq(tg_csv_next(&csv, &f, &flen), r->last);
    }
    free(buf);
}

#define PARSE(lit, r) parse((lit), sizeof(lit) - 1, (r))

START_TEST(plain_records)
{
    parsed_t r;

    PARSE("prompt,weak,strong\nhi,True,False\n", &r);
    ck_assert_str_eq(r.out, "prompt|weak|strong\nhi|True|False\n");
    ck_assert_int_eq(r.last, TG_CSV_EOF);
    ck_assert_uint_eq(r.nrec, 2);
    ck_assert_uint_eq(r.lines[1], 2);
}
END_TEST

START_TEST(quoted_fields_keep_commas_quotes_and_newlines)
{
    parsed_t r;

    PARSE("\"a, b\",\"say \"\"hi\"\"\",\"line1\nline2\r\nline3\"\nnext,\"\",x\n", &r);
    ck_assert_str_eq(r.out, "a, b|say \"hi\"|line1\nline2\r\nline3\nnext||x\n");
    ck_assert_uint_eq(r.nrec, 2);
    ck_assert_uint_eq(r.lines[0], 1);
    ck_assert_uint_eq(r.lines[1], 4); /* the first record spans lines 1 to 3 */
}
END_TEST

START_TEST(line_endings)
{
    parsed_t r;

    PARSE("a,b\r\nc,d\re,f\ng,h", &r);
    ck_assert_str_eq(r.out, "a|b\nc|d\ne|f\ng|h\n");
    ck_assert_uint_eq(r.lines[3], 4);
    /* No final line break: the last record still ends; one break does not add a record. */
    PARSE("a\n", &r);
    ck_assert_uint_eq(r.nrec, 1);
    /* A blank line is a record with one empty field (callers skip those). */
    PARSE("a\n\nb\n", &r);
    ck_assert_str_eq(r.out, "a\n\nb\n");
}
END_TEST

START_TEST(empty_fields_and_trailing_comma)
{
    parsed_t r;

    PARSE(",a,,\n\"\",\"\"", &r);
    ck_assert_str_eq(r.out, "|a||\n|\n");
    PARSE("", &r);
    ck_assert_str_eq(r.out, "");
    ck_assert_int_eq(r.last, TG_CSV_EOF);
}
END_TEST

START_TEST(bom_is_skipped)
{
    parsed_t r;

    PARSE("\xEF\xBB\xBFprompt,x\n", &r);
    ck_assert_str_eq(r.out, "prompt|x\n");
}
END_TEST

START_TEST(bare_quote_in_plain_field_is_data)
{
    parsed_t r;

    PARSE("5\" tall,ok\n", &r);
    ck_assert_str_eq(r.out, "5\" tall|ok\n");
}
END_TEST

START_TEST(unterminated_quote_is_an_error_at_its_record)
{
    parsed_t r;

    PARSE("a,b\nc,\"never\nclosed,\n", &r);
    ck_assert_int_eq(r.last, TG_CSV_ERROR);
    ck_assert_str_eq(r.error, "quoted field never closes");
    ck_assert_uint_eq(r.error_line, 2);
    ck_assert_str_eq(r.out, "a|b\nc|");
}
END_TEST

START_TEST(junk_after_closing_quote_is_an_error)
{
    parsed_t r;

    PARSE("ok\n\"x\"y,z\n", &r);
    ck_assert_int_eq(r.last, TG_CSV_ERROR);
    ck_assert_str_eq(r.error, "unexpected character after a closing quote");
    ck_assert_uint_eq(r.error_line, 2);
    /* A quote that closes right at the end of the data is fine. */
    PARSE("\"x\"", &r);
    ck_assert_str_eq(r.out, "x\n");
}
END_TEST

START_TEST(skip_record_moves_to_the_next_record)
{
    char text[] = "a,\"b,\nc\",d\ne,f\n";
    tg_csv_t csv;
    char *f;
    size_t len;

    tg_csv_init(&csv, text, strlen(text));
    ck_assert_int_eq(tg_csv_next(&csv, &f, &len), TG_CSV_FIELD);
    ck_assert_int_eq(tg_csv_skip_record(&csv), TG_CSV_LAST);
    ck_assert_int_eq(tg_csv_next(&csv, &f, &len), TG_CSV_FIELD);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(f[0], 'e');
    ck_assert_uint_eq(csv.record_line, 3);
    /* At a record boundary it has nothing to skip. */
    ck_assert_int_eq(tg_csv_next(&csv, &f, &len), TG_CSV_LAST);
    ck_assert_int_eq(tg_csv_skip_record(&csv), TG_CSV_LAST);
    ck_assert_int_eq(tg_csv_next(&csv, &f, &len), TG_CSV_EOF);
}
END_TEST

static Suite *tg_csv_suite(void)
{
    Suite *s = suite_create("tg_csv");
    TCase *tc = tcase_create("read");

    tcase_add_test(tc, plain_records);
    tcase_add_test(tc, quoted_fields_keep_commas_quotes_and_newlines);
    tcase_add_test(tc, line_endings);
    tcase_add_test(tc, empty_fields_and_trailing_comma);
    tcase_add_test(tc, bom_is_skipped);
    tcase_add_test(tc, bare_quote_in_plain_field_is_data);
    tcase_add_test(tc, skip_record_moves_to_the_next_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, unterminated_quote_is_an_error_at_its_record);
    tcase_add_test(tc, junk_after_closing_quote_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_csv_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
