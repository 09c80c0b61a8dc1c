/*
 * Unit tests for master/admin_http.c's token check: only "Bearer <token>" with exactly the
 * configured token passes — not a prefix of it, not a longer string, not another scheme, not an
 * empty token — whatever the spacing and the case of "Bearer".
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "master/admin_http.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

static unsigned char want[32];

static void setup(void)
{
    unsigned int n = sizeof(want);

    ck_assert_int_eq(EVP_Digest(TOKEN, strlen(TOKEN), want, &n, EVP_sha256(), NULL), 1);
}

static int ok(const char *header)
{
    return tg_admin_http_token_ok(want, header, strlen(header));
}

START_TEST(the_right_token_passes)
{
    ck_assert_int_eq(ok("Bearer " TOKEN), 1);
    ck_assert_int_eq(ok("bearer " TOKEN), 1);
    ck_assert_int_eq(ok("BEARER\t " TOKEN "  "), 1);
}
END_TEST

START_TEST(anything_else_fails)
{
    ck_assert_int_eq(ok(""), 0);
    ck_assert_int_eq(ok("Bearer"), 0);
    ck_assert_int_eq(ok("Bearer "), 0);
    ck_assert_int_eq(ok("Bearer    "), 0);
    ck_assert_int_eq(ok(TOKEN), 0);                                     /* no scheme */
    ck_assert_int_eq(ok("Basic " TOKEN), 0);                            /* another scheme */
    ck_assert_int_eq(ok("Bearer" TOKEN), 0);                            /* no space */
    ck_assert_int_eq(ok("Bearer 0123456789abcdef"), 0);                 /* a prefix */
    ck_assert_int_eq(ok("Bearer " TOKEN "0"), 0);                       /* longer */
    ck_assert_int_eq(ok("Bearer " TOKEN " x"), 0);                      /* trailing junk */
    ck_assert_int_eq(ok("Bearer 0123456789abcdef0123456789abcdeF"), 0); /* case matters */
    /* the length given is what counts, not a NUL */
    ck_assert_int_eq(tg_admin_http_token_ok(want, "Bearer " TOKEN, 7 + 31), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin_http");
    TCase *tc = tcase_create("token");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, the_right_token_passes);
    tcase_add_test(tc, anything_else_fails);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
