/*
 * Unit tests for shared/tg_config_admin.c: the admin_http: section compiles with its listen
 * address and token; a token is always required, only from the environment or an owner-only
 * file, at least 16 characters; every mistake is reported as file:line:col without ever echoing
 * the token; the admin port is not a client port.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/tg_config_fixture.h"

#define BASE                                                                                       \
    "listen: 127.0.0.1:8080\n"                                                                     \
    "providers: {p: {kind: openai, base_url: \"http://127.0.0.1:9/v1\"}}\n"                        \
    "models: {m: {provider: p, price: {input: 1, output: 1}}}\n"

#define TOKEN "0123456789abcdef0123456789abcdef"

START_TEST(token_from_the_environment)
{
    char err[512];
    tg_config_t *cf;

    setenv("TG_TEST_ADMIN_TOKEN", TOKEN, 1);
    cf = load(BASE "admin_http:\n  listen: 127.0.0.1:9091\n  token: ${TG_TEST_ADMIN_TOKEN}\n", err,
              sizeof(err));
    ck_assert_msg(cf != NULL, "%s", err);
    ck_assert_str_eq(cf->admin_http.listen, "127.0.0.1:9091");
    ck_assert_str_eq(cf->admin_http.token, TOKEN);
    tg_config_unref(cf);
    /* without the section there is no listener */
    cf = load(BASE, err, sizeof(err));
    ck_assert_ptr_nonnull(cf);
    ck_assert_ptr_null(cf->admin_http.listen);
    ck_assert_ptr_null(cf->admin_http.token);
    tg_config_unref(cf);
}
END_TEST

START_TEST(mistakes_are_reported_where_they_are)
{
    setenv("TG_TEST_ADMIN_TOKEN", TOKEN, 1);
    setenv("TG_TEST_SHORT_TOKEN", "hunter2hunter2", 1);
    setenv("TG_TEST_SPACE_TOKEN", "0123456789abcdef 0123", 1);
    unsetenv("TG_TEST_UNSET_TOKEN");
    /* always a token: there is no insecure mode */
    expect_error(BASE "admin_http:\n  listen: 127.0.0.1:9091\n",
                 "t.yaml:5:3: admin_http needs token (${ENV_VAR}) or token_file");
    expect_error(BASE "admin_http:\n  token: ${TG_TEST_ADMIN_TOKEN}\n",
                 "t.yaml:5:3: admin_http needs listen");
    expect_error(BASE "admin_http:\n  listen: 127.0.0.1:9091\n  token: " TOKEN "\n",
                 "t.yaml:6:10: admin_http.token must reference the environment");
    expect_error(BASE "admin_http:\n  listen: 127.0.0.1:9091\n  token: ${TG_TEST_UNSET_TOKEN}\n",
                 "t.yaml:6:10: environment variable TG_TEST_UNSET_TOKEN is not set");
    expect_error(BASE "admin_http:\n  listen: 127.0.0.1:9091\n  token: ${TG_TEST_SHORT_TOKEN}\n",
                 "t.yaml:6:10: the admin_http token is shorter than 16 characters");
    expect_error(BASE "admin_http:\n  listen: 127.0.0.1:9091\n  token: ${TG_TEST_SPACE_TOKEN}\n",
                 "t.yaml:6:10: the admin_http token contains a space");
    expect_error(BASE "admin_http:\n  listen: 127.0.0.1:9091\n  token: ${TG_TEST_ADMIN_TOKEN}\n"
                      "  token_file: x\n",
                 "t.yaml:7:15: admin_http takes token or token_file, not both");
    expect_error(BASE "admin_http:\n  listen: localhost\n  token: ${TG_TEST_ADMIN_TOKEN}\n",
                 "t.yaml:5:11: admin_http.listen must be HOST:PORT or PORT");
    expect_error(BASE "admin_http:\n  listen: 9091\n  token: ${TG_TEST_ADMIN_TOKEN}\n  tls: on\n",
                 "t.yaml:7:3: unknown key \"tls\" in admin_http");
    expect_error(BASE "admin_http:\n  listen: 0.0.0.0:8080\n  token: ${TG_TEST_ADMIN_TOKEN}\n",
                 "t.yaml:5:11: admin_http.listen must not use the port of a client listener");
    expect_error(BASE "admin_http: 9091\n", "t.yaml:4:13: admin_http must be a mapping");
}
END_TEST

START_TEST(errors_never_echo_the_token)
{
    char err[512];

    setenv("TG_TEST_SHORT_TOKEN", "hunter2hunter2", 1);
    ck_assert_ptr_null(load(BASE "admin_http:\n  listen: 9091\n  token: hunter2hunter2-literal\n",
                            err, sizeof(err)));
    ck_assert_ptr_null(strstr(err, "hunter2"));
    ck_assert_ptr_null(load(BASE "admin_http:\n  listen: 9091\n  token: ${TG_TEST_SHORT_TOKEN}\n",
                            err, sizeof(err)));
    ck_assert_ptr_null(strstr(err, "hunter2"));
}
END_TEST

/* Write text to dir/name with mode; returns the path in buf. */
static const char *put(char *buf, size_t size, const char *dir, const char *name, const char *text,
                       mode_t mode)
{
    FILE *f;

    snprintf(buf, size, "%s/%s", dir, name);
    ck_assert_ptr_nonnull(f = fopen(buf, "w"));
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(buf, mode), 0);
    return buf;
}

START_TEST(token_file_must_be_owner_only)
{
    char dir[] = "/tmp/tg-admin-cfg-XXXXXX", main_path[300], tok[300], err[512];
    tg_config_t *cf;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    put(tok, sizeof(tok), dir, "admin.token", TOKEN "\n", 0644);
    put(main_path, sizeof(main_path), dir, "main.yaml",
        BASE "admin_http:\n  listen: 9091\n  token_file: admin.token\n", 0644);
    ck_assert_ptr_null(cf = tg_config_load_file(main_path, err, sizeof(err)));
    ck_assert_msg(strstr(err, "main.yaml:6:15: admin_http.token_file") != NULL &&
                      strstr(err, "may be read by others (mode 644): chmod 600 it") != NULL,
                  "%s", err);
    ck_assert_int_eq(chmod(tok, 0600), 0);
    cf = tg_config_load_file(main_path, err, sizeof(err));
    ck_assert_msg(cf != NULL, "%s", err);
    ck_assert_str_eq(cf->admin_http.token, TOKEN); /* trimmed */
    tg_config_unref(cf);
    put(tok, sizeof(tok), dir, "admin.token", "\n", 0600);
    ck_assert_ptr_null(tg_config_load_file(main_path, err, sizeof(err)));
    ck_assert_msg(strstr(err, "admin_http.token_file admin.token is empty") != NULL, "%s", err);
    unlink(tok);
    unlink(main_path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tg_config_admin");
    TCase *tc = tcase_create("admin_http");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, token_from_the_environment);
    tcase_add_test(tc, mistakes_are_reported_where_they_are);
    tcase_add_test(tc, errors_never_echo_the_token);
    tcase_add_test(tc, token_file_must_be_owner_only);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
