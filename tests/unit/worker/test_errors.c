/*
 * Unit tests for worker/errors.c: how failed transfers and upstream error statuses become the
 * client's status, OpenAI error type and code, and whether a retry or fallback may help. The
 * rule under test: client mistakes pass through with the upstream's body; gateway problems
 * (credentials, outages, timeouts) become 502/503/504 without the upstream's body. Also the
 * same errors in Anthropic's vocabulary, for /v1/messages.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "worker/errors.h"

typedef struct {
    long in;
    int status;
    const char *type;
    const char *code; /* NULL: no code */
    int retryable;
    int pass_body;
} want_t;

static void assert_map(const tg_errmap_t *m, const want_t *w, const char *what)
{
    ck_assert_msg(m->status == w->status, "%s %ld: status %d, want %d", what, w->in, m->status,
                  w->status);
    ck_assert_msg(m->type != NULL && strcmp(m->type, w->type) == 0, "%s %ld: type %s, want %s",
                  what, w->in, m->type ? m->type : "(null)", w->type);
    if (w->code == NULL)
        ck_assert_msg(m->code == NULL, "%s %ld: code %s, want none", what, w->in, m->code);
    else
        ck_assert_msg(m->code != NULL && strcmp(m->code, w->code) == 0, "%s %ld: code %s, want %s",
                      what, w->in, m->code ? m->code : "(null)", w->code);
    ck_assert_msg(m->retryable == w->retryable, "%s %ld: retryable %d, want %d", what, w->in,
                  m->retryable, w->retryable);
    ck_assert_msg(m->pass_body == w->pass_body, "%s %ld: pass_body %d, want %d", what, w->in,
                  m->pass_body, w->pass_body);
}

START_TEST(xfer_results)
{
    /*
     * No usable HTTP answer: never the upstream's body; unreachable and other failures are 502,
     * every kind of timeout 504; all may succeed elsewhere except an over-large response, which
     * would be just as large again.
     */
    static const want_t want[] = {
        {TG_XFER_CONNECT, 502, "server_error", "upstream_unreachable", 1, 0},
        {TG_XFER_TIMEOUT, 504, "server_error", "upstream_timeout", 1, 0},
        {TG_XFER_FIRST_BYTE_TIMEOUT, 504, "server_error", "upstream_timeout", 1, 0},
        {TG_XFER_IDLE_TIMEOUT, 504, "server_error", "upstream_timeout", 1, 0},
        {TG_XFER_TOO_LARGE, 502, "server_error", "upstream_response_too_large", 0, 0},
        {TG_XFER_ABORTED, 502, "server_error", "upstream_error", 1, 0},
        {TG_XFER_FAILED, 502, "server_error", "upstream_error", 1, 0},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        tg_errmap_t m;

        memset(&m, 0x5a, sizeof(m)); /* every field must be written */
        tg_map_xfer_error((tg_xfer_result_t)want[i].in, &m);
        assert_map(&m, &want[i], "xfer result");
    }
}
END_TEST

START_TEST(upstream_statuses)
{
    static const want_t want[] = {
        /* the request's own faults: same status, upstream explanation shown, no retry */
        {400, 400, "invalid_request_error", NULL, 0, 1},
        {404, 404, "invalid_request_error", "upstream_not_found", 0, 1},
        {409, 409, "invalid_request_error", NULL, 0, 1},
        {413, 413, "invalid_request_error", NULL, 0, 1},
        {422, 422, "invalid_request_error", NULL, 0, 1},
        /* rate limits pass through (with Retry-After-style advice in the body) and may retry */
        {429, 429, "rate_limit_error", "rate_limit_exceeded", 1, 1},
        /*
         * the gateway's credentials: a gateway problem, body hidden (it may echo the key);
         * another provider's credentials may work, so a fallback may try it
         */
        {401, 502, "server_error", "upstream_auth_failed", 1, 0},
        {403, 502, "server_error", "upstream_auth_failed", 1, 0},
        /* an upstream request or gateway timeout is our timeout */
        {408, 504, "server_error", "upstream_timeout", 1, 0},
        {504, 504, "server_error", "upstream_timeout", 1, 0},
        /* outages */
        {500, 502, "server_error", "upstream_error", 1, 0},
        {502, 502, "server_error", "upstream_error", 1, 0},
        {503, 503, "server_error", "upstream_overloaded", 1, 0},
        {529, 503, "server_error", "upstream_overloaded", 1, 0}, /* Anthropic "overloaded" */
        {599, 502, "server_error", "upstream_error", 1, 0},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        tg_errmap_t m;

        memset(&m, 0x5a, sizeof(m));
        tg_map_upstream_status(want[i].in, &m);
        assert_map(&m, &want[i], "upstream status");
    }
}
END_TEST

START_TEST(client_status_is_an_error_status)
{
    /* Whatever the upstream says, the client gets a 4xx or 5xx status and a type. */
    for (long st = 400; st < 600; st++) {
        tg_errmap_t m;

        tg_map_upstream_status(st, &m);
        if (m.status < 400 || m.status > 599 || m.type == NULL)
            ck_abort_msg("status %ld maps to %d/%s", st, m.status, m.type ? m.type : "(null)");
        /* a body is shown only for client errors */
        if (m.pass_body && m.status >= 500)
            ck_abort_msg("status %ld: upstream body shown with a 5xx", st);
    }
}
END_TEST

START_TEST(anthropic_types)
{
    /*
     * Anthropic's error types follow the status as Anthropic documents them; codes refine what
     * a status cannot say; inside a stream (status 0) the OpenAI type is what is left.
     */
    static const struct {
        int status;
        const char *type, *code, *want;
    } cases[] = {
        {400, "invalid_request_error", NULL, "invalid_request_error"},
        {401, "invalid_request_error", "invalid_api_key", "authentication_error"},
        {403, "invalid_request_error", "model_not_allowed", "permission_error"},
        {403, "permission_error", "tenant_disabled", "permission_error"},
        {404, "invalid_request_error", "model_not_found", "not_found_error"},
        {405, "invalid_request_error", "method_not_allowed", "invalid_request_error"},
        {408, "invalid_request_error", NULL, "invalid_request_error"},
        {413, "invalid_request_error", "request_too_large", "request_too_large"},
        {422, "invalid_request_error", NULL, "invalid_request_error"},
        {429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error"},
        {429, "insufficient_quota", "insufficient_quota", "billing_error"},
        {500, "server_error", NULL, "api_error"},
        {502, "server_error", "upstream_unreachable", "api_error"},
        {502, "server_error", "upstream_auth_failed", "api_error"},
        {503, "server_error", "upstream_overloaded", "overloaded_error"},
        {503, "server_error", "store_unavailable", "api_error"},
        {504, "server_error", "upstream_timeout", "timeout_error"},
        {529, NULL, NULL, "overloaded_error"},
        {0, "server_error", "upstream_timeout", "timeout_error"},
        {0, "server_error", "upstream_error", "api_error"},
        {0, "invalid_request_error", NULL, "invalid_request_error"},
        {0, "rate_limit_error", NULL, "rate_limit_error"},
        {0, NULL, NULL, "api_error"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = tg_anthropic_error_type(cases[i].status, cases[i].type, cases[i].code);
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "%d %s %s: %s, want %s", cases[i].status,
                      cases[i].type ? cases[i].type : "-", cases[i].code ? cases[i].code : "-",
                      got, cases[i].want);
    }
}
END_TEST

START_TEST(dialect_of_path)
{
    /* /v1/messages and everything below it speak Anthropic; nothing else does. */
    ck_assert_int_eq(tg_dialect_of_path("/v1/messages"), TG_DIALECT_ANTHROPIC);
    ck_assert_int_eq(tg_dialect_of_path("/v1/messages/count_tokens"), TG_DIALECT_ANTHROPIC);
    ck_assert_int_eq(tg_dialect_of_path("/v1/messages?beta=true"), TG_DIALECT_ANTHROPIC);
    ck_assert_int_eq(tg_dialect_of_path("/v1/messagesx"), TG_DIALECT_OPENAI);
    ck_assert_int_eq(tg_dialect_of_path("/v1/chat/completions"), TG_DIALECT_OPENAI);
    ck_assert_int_eq(tg_dialect_of_path("/v2/messages"), TG_DIALECT_OPENAI);
    ck_assert_int_eq(tg_dialect_of_path(""), TG_DIALECT_OPENAI);
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("worker_errors");
    TCase *tc = tcase_create("map");

    tcase_add_test(tc, xfer_results);
    tcase_add_test(tc, upstream_statuses);
    tcase_add_test(tc, client_status_is_an_error_status);
    suite_add_tcase(s, tc);
    tc = tcase_create("anthropic");
    tcase_add_test(tc, anthropic_types);
    tcase_add_test(tc, dialect_of_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(errors_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
