/*
 * Unit tests for worker/provider_openai.c: reading OpenAI usage objects, and the stream event
 * hook — the terminator is recognised, the usage-only chunk the gateway asked for is hidden from
 * clients that did not ask for it (but still metered), and generated text is counted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/provider.h"

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    tg_event_action_t action;
    tg_buf_t out;
} ev_result_t;

/* Run the adapter's event hook on one "data:" event, framed as upstream would frame it. */
static ev_result_t run_event(tg_stream_state_t *st, const char *data)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_OPENAI);
    ev_result_t r = {0};
    char raw[4096];
    int n = snprintf(raw, sizeof(raw), "data: %s\n\n", data);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(a->event);
    ck_assert(n > 0 && (size_t)n < sizeof(raw));
    r.action = a->event(st, "", data, strlen(data), raw, (size_t)n, &r.out);
    return r;
}

static void assert_forwarded_raw(ev_result_t *r, const char *data)
{
    char raw[4096];
    int n = snprintf(raw, sizeof(raw), "data: %s\n\n", data);

    ck_assert_int_eq(r->action, TG_EVENT_FORWARD);
    ck_assert_uint_eq(r->out.len, (size_t)n);
    ck_assert_mem_eq(r->out.data, raw, (size_t)n);
}

static const char usage_chunk[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":16,\"total_tokens\":26,"
    "\"prompt_tokens_details\":{\"cached_tokens\":4},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":3}}}";

/* ---- tg_openai_usage -------------------------------------------------------------------- */

START_TEST(usage_full_object)
{
    /* Every count is read, details included, and the usage is marked as reported. */
    json_t *u =
        json_pack("{s:i,s:i,s:i,s:{s:i},s:{s:i}}", "prompt_tokens", 1200, "completion_tokens", 300,
                  "total_tokens", 1500, "prompt_tokens_details", "cached_tokens", 1024,
                  "completion_tokens_details", "reasoning_tokens", 128);
    tg_usage_t usage;

    memset(&usage, 0x5a, sizeof(usage));
    ck_assert_int_eq(tg_openai_usage(u, &usage), 0);
    ck_assert_int_eq(usage.prompt, 1200);
    ck_assert_int_eq(usage.completion, 300);
    ck_assert_int_eq(usage.cached, 1024);
    ck_assert_int_eq(usage.reasoning, 128);
    ck_assert_int_eq(usage.reported, 1);
    json_decref(u);
}
END_TEST

START_TEST(usage_without_details)
{
    /* Missing detail objects (or null ones) mean zero cached and reasoning tokens. */
    json_t *u = json_pack("{s:i,s:i,s:n}", "prompt_tokens", 10, "completion_tokens", 16,
                          "prompt_tokens_details");
    tg_usage_t usage;

    memset(&usage, 0x5a, sizeof(usage));
    ck_assert_int_eq(tg_openai_usage(u, &usage), 0);
    ck_assert_int_eq(usage.prompt, 10);
    ck_assert_int_eq(usage.completion, 16);
    ck_assert_int_eq(usage.cached, 0);
    ck_assert_int_eq(usage.reasoning, 0);
    ck_assert_int_eq(usage.reported, 1);
    json_decref(u);

    /* embeddings report only prompt tokens */
    u = json_pack("{s:i,s:i}", "prompt_tokens", 8, "total_tokens", 8);
    ck_assert_int_eq(tg_openai_usage(u, &usage), 0);
    ck_assert_int_eq(usage.prompt, 8);
    ck_assert_int_eq(usage.completion, 0);
    json_decref(u);
}
END_TEST

START_TEST(usage_absent)
{
    /* No usage object (missing, null, or not an object): -1. */
    json_t *null = json_null(), *arr = json_array(), *num = json_integer(5);
    tg_usage_t usage = {0};

    ck_assert_int_eq(tg_openai_usage(NULL, &usage), -1);
    ck_assert_int_eq(tg_openai_usage(null, &usage), -1);
    ck_assert_int_eq(tg_openai_usage(arr, &usage), -1);
    ck_assert_int_eq(tg_openai_usage(num, &usage), -1);
    ck_assert_int_eq(usage.reported, 0);
    json_decref(null);
    json_decref(arr);
    json_decref(num);
}
END_TEST

/* ---- the stream event hook ------------------------------------------------------------- */

START_TEST(adapter_lookup)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_OPENAI);

    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->kind, "openai");
    ck_assert_ptr_nonnull(a->prepare);
    ck_assert_ptr_nonnull(a->response);
    ck_assert_ptr_nonnull(a->event);
    ck_assert_ptr_null(tg_adapter_for((tg_provider_kind_t)0));
}
END_TEST

START_TEST(done_terminates)
{
    /* "[DONE]" is the stream's terminator, passed on byte for byte. */
    tg_stream_state_t st = {0};
    ev_result_t r = run_event(&st, "[DONE]");

    ck_assert_int_eq(r.action, TG_EVENT_DONE);
    ck_assert_uint_eq(r.out.len, strlen("data: [DONE]\n\n"));
    ck_assert_mem_eq(r.out.data, "data: [DONE]\n\n", r.out.len);
    ck_assert_int_eq(st.usage.reported, 0);
    tg_buf_free(&r.out);

    /* "[DONE]" inside a larger payload is not the terminator */
    r = run_event(&st, "[DONE] ");
    ck_assert_int_ne(r.action, TG_EVENT_DONE);
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(usage_chunk_dropped_unless_client_wants_usage)
{
    /*
     * The gateway always asks for usage; the usage-only chunk (choices: []) reaches the client
     * only when the client asked for it. Either way the usage is recorded for metering.
     */
    tg_stream_state_t st = {.client_wants_usage = 0};
    ev_result_t r = run_event(&st, usage_chunk);

    ck_assert_int_eq(r.action, TG_EVENT_DROP);
    ck_assert_uint_eq(r.out.len, 0);
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 10);
    ck_assert_int_eq(st.usage.completion, 16);
    ck_assert_int_eq(st.usage.cached, 4);
    ck_assert_int_eq(st.usage.reasoning, 3);
    tg_buf_free(&r.out);

    st = (tg_stream_state_t){.client_wants_usage = 1};
    r = run_event(&st, usage_chunk);
    assert_forwarded_raw(&r, usage_chunk);
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 10);
    ck_assert_int_eq(st.usage.completion, 16);
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(usage_chunk_with_spaces)
{
    /* Providers that pretty-print JSON ("usage": {...}) are metered the same way. */
    static const char chunk[] = "{\"id\": \"x\", \"choices\": [], \"usage\": {\"prompt_tokens\": 7,"
                                " \"completion_tokens\": 2}}";
    tg_stream_state_t st = {0};
    ev_result_t r = run_event(&st, chunk);

    ck_assert_int_eq(r.action, TG_EVENT_DROP);
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 7);
    ck_assert_int_eq(st.usage.completion, 2);
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(usage_on_content_chunk_is_never_dropped)
{
    /* A chunk that carries both text and usage must reach the client (text is never lost). */
    static const char chunk[] = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],"
                                "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}";
    tg_stream_state_t st = {0};
    ev_result_t r = run_event(&st, chunk);

    assert_forwarded_raw(&r, chunk);
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 3);
    ck_assert_int_eq(st.content_bytes, 2);
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(null_usage_is_not_usage)
{
    /* With include_usage, every chunk carries "usage":null; those are ordinary chunks. */
    static const char chunk[] =
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}],\"usage\":null}";
    tg_stream_state_t st = {0};
    ev_result_t r = run_event(&st, chunk);

    assert_forwarded_raw(&r, chunk);
    ck_assert_int_eq(st.usage.reported, 0);
    tg_buf_free(&r.out);

    /* a malformed chunk that only looks like it has usage is forwarded untouched */
    r = run_event(&st, "{\"choices\":[],\"usage\":{broken");
    assert_forwarded_raw(&r, "{\"choices\":[],\"usage\":{broken");
    ck_assert_int_eq(st.usage.reported, 0);
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(content_bytes_counted)
{
    /* Generated text is counted across chunks (to estimate usage if none is reported). */
    static const char c1[] =
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}";
    static const char c2[] = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}";
    static const char c3[] = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\", world\"}},"
                             "{\"index\":1,\"delta\":{\"content\":\"abc\"}}]}";
    static const char c4[] = "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
                             "\"stop\"}]}";
    tg_stream_state_t st = {0};
    ev_result_t r;

    r = run_event(&st, c1);
    assert_forwarded_raw(&r, c1);
    ck_assert_int_eq(st.content_bytes, 0);
    tg_buf_free(&r.out);
    r = run_event(&st, c2);
    assert_forwarded_raw(&r, c2);
    ck_assert_int_eq(st.content_bytes, 5);
    tg_buf_free(&r.out);
    r = run_event(&st, c3);
    ck_assert_int_eq(st.content_bytes, 5 + 7 + 3); /* every choice counts */
    tg_buf_free(&r.out);
    r = run_event(&st, c4);
    assert_forwarded_raw(&r, c4);
    ck_assert_int_eq(st.content_bytes, 15);
    ck_assert_int_eq(st.usage.reported, 0);
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(content_with_escaped_quote)
{
    /* An escaped quote does not end the text: all of say "hi" (8 bytes) is counted. */
    static const char c[] = "{\"choices\":[{\"delta\":{\"content\":\"say \\\"hi\\\"\"}}]}";
    tg_stream_state_t st = {0};
    ev_result_t r = run_event(&st, c);

    ck_assert_int_ge(st.content_bytes, 8);
    ck_assert_int_le(st.content_bytes, 10); /* counted as decoded or as escaped bytes */
    tg_buf_free(&r.out);
}
END_TEST

START_TEST(content_with_spaces_counted)
{
    /*
     * Like usage, content must be found in pretty-printed JSON ("content": "..."), which
     * OpenAI-compatible servers written in Python emit; otherwise a stream without reported
     * usage is estimated at zero output tokens.
     */
    static const char c[] = "{\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Hello\"}}]}";
    tg_stream_state_t st = {0};
    ev_result_t r = run_event(&st, c);

    assert_forwarded_raw(&r, c);
    ck_assert_int_eq(st.content_bytes, 5);
    tg_buf_free(&r.out);
}
END_TEST

static Suite *provider_openai_suite(void)
{
    Suite *s = suite_create("provider_openai");
    TCase *tc = tcase_create("usage");

    tcase_add_test(tc, usage_full_object);
    tcase_add_test(tc, usage_without_details);
    tcase_add_test(tc, usage_absent);
    suite_add_tcase(s, tc);

    tc = tcase_create("event");
    tcase_add_test(tc, adapter_lookup);
    tcase_add_test(tc, done_terminates);
    tcase_add_test(tc, usage_chunk_dropped_unless_client_wants_usage);
    tcase_add_test(tc, usage_chunk_with_spaces);
    tcase_add_test(tc, usage_on_content_chunk_is_never_dropped);
    tcase_add_test(tc, null_usage_is_not_usage);
    tcase_add_test(tc, content_bytes_counted);
    tcase_add_test(tc, content_with_escaped_quote);
    tcase_add_test(tc, content_with_spaces_counted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(provider_openai_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
