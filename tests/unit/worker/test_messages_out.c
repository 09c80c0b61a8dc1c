/*
 * Unit tests for worker/messages_out.c: canonical chat.completions become Anthropic messages
 * (text and tool_use blocks, stop reasons, usage with cache reads split out of input_tokens),
 * and canonical chunk streams become Anthropic's event sequence — message_start, blocks opened,
 * filled and closed with increasing indexes (text, tool calls, text after tool calls),
 * message_delta with the stop reason and the billed usage, message_stop — and errors inside a
 * stream become Anthropic's error event. In fixtures ' stands for ".
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tg_json_fixture.h"
#include "worker/messages.h"

/* ---- whole answers -------------------------------------------------------------------------- */

static const tg_usage_t usage_10_5 = {.prompt = 10, .completion = 5, .reported = 1};

/* Translate a chat.completion fixture; must succeed. Returns the message. */
static json_t *answer(const char *openai, const tg_usage_t *u)
{
    char *in = dq(openai);
    tg_buf_t out = {0};
    json_t *msg;

    ck_assert_int_eq(tg_messages_answer(in, strlen(in), "msg_1", "claude", u, &out), 0);
    msg = json_loadb(out.data, out.len, 0, NULL);
    ck_assert_msg(msg != NULL, "not JSON: %s", out.data);
    free(in);
    tg_buf_free(&out);
    return msg;
}

#define COMPLETION(message, finish)                                                                \
    "{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'gpt-4o-2024',"             \
    "'choices':[{'index':0,'message':" message ",'logprobs':null,'finish_reason':" finish "}],"    \
    "'usage':{'prompt_tokens':999,'completion_tokens':999,'total_tokens':1998}}"

#define MESSAGE(content, stop, usage)                                                              \
    "{'id':'msg_1','type':'message','role':'assistant','model':'claude','content':" content        \
    ",'stop_reason':" stop ",'stop_sequence':null,'usage':" usage "}"

#define USAGE_10_5                                                                                 \
    "{'input_tokens':10,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"              \
    "'output_tokens':5}"

START_TEST(message_id)
{
    /* msg_ + the request id, without a generated id's req_ prefix. */
    char id[TG_MESSAGES_ID_MAX];

    tg_messages_id("req_0123abcd", id, sizeof(id));
    ck_assert_str_eq(id, "msg_0123abcd");
    tg_messages_id("client-trace-7", id, sizeof(id));
    ck_assert_str_eq(id, "msg_client-trace-7");
}
END_TEST

START_TEST(answer_text)
{
    /*
     * The documented message shape; the model is the client's, the usage the billed one (not
     * the answer's own), stop -> end_turn.
     */
    assert_json(
        answer(COMPLETION("{'role':'assistant','content':'Hello!','refusal':null}", "'stop'"),
               &usage_10_5),
        MESSAGE("[{'type':'text','text':'Hello!'}]", "'end_turn'", USAGE_10_5), "text answer");
}
END_TEST

START_TEST(answer_cached_usage)
{
    /*
     * Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens (and
     * the canonical usage) includes them.
     */
    tg_usage_t u = {
        .prompt = 1200, .completion = 40, .cached = 1000, .cache_write = 150, .reported = 1};

    assert_json(answer(COMPLETION("{'role':'assistant','content':'x'}", "'stop'"), &u),
                MESSAGE("[{'type':'text','text':'x'}]", "'end_turn'",
                        "{'input_tokens':50,'cache_creation_input_tokens':150,"
                        "'cache_read_input_tokens':1000,'output_tokens':40}"),
                "cached usage");
}
END_TEST

START_TEST(answer_tool_calls)
{
    /*
     * Text, then each tool call as a tool_use block with its arguments parsed into input;
     * arguments that are not a JSON object become {}; tool_calls -> tool_use.
     */
    assert_json(
        answer(COMPLETION("{'role':'assistant','content':'Let me check.','tool_calls':["
                          "{'id':'call_1','type':'function','function':{'name':'get_weather',"
                          "'arguments':'{\\'city\\': \\'Paris\\', \\'days\\': 2}'}},"
                          "{'id':'call_2','type':'function','function':{'name':'now',"
                          "'arguments':''}},"
                          "{'id':'call_3','type':'function','function':{'name':'bad',"
                          "'arguments':'{not json'}}]}",
                          "'tool_calls'"),
               &usage_10_5),
        MESSAGE("[{'type':'text','text':'Let me check.'},"
                "{'type':'tool_use','id':'call_1','name':'get_weather','input':{'city':'Paris',"
                "'days':2}},"
                "{'type':'tool_use','id':'call_2','name':'now','input':{}},"
                "{'type':'tool_use','id':'call_3','name':'bad','input':{}}]",
                "'tool_use'", USAGE_10_5),
        "tool calls");
}
END_TEST

START_TEST(answer_stop_reasons)
{
    /* finish_reason -> stop_reason; a provider that says stop after tool calls means tool_use. */
    static const struct {
        const char *finish, *stop;
        int tools;
    } cases[] = {
        {"'stop'", "'end_turn'", 0},
        {"'length'", "'max_tokens'", 0},
        {"'tool_calls'", "'tool_use'", 1},
        {"'content_filter'", "'refusal'", 0},
        {"null", "'end_turn'", 0},
        {"'stop'", "'tool_use'", 1},
        {"'function_call'", "'tool_use'", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[1024], want[64];
        json_t *msg;

        snprintf(in, sizeof(in), COMPLETION("{'role':'assistant','content':'x'%s}", "%s"),
                 cases[i].tools ? ",'tool_calls':[{'id':'c','type':'function','function':"
                                  "{'name':'f','arguments':'{}'}}]"
                                : "",
                 cases[i].finish);
        msg = answer(in, &usage_10_5);
        snprintf(want, sizeof(want), "%s", cases[i].stop);
        assert_json(json_incref(json_object_get(msg, "stop_reason")), want, cases[i].finish);
        json_decref(msg);
    }
}
END_TEST

START_TEST(answer_refusal_and_empty)
{
    /* A refusal's text is the content; an empty answer has no blocks. */
    assert_json(answer(COMPLETION("{'role':'assistant','content':null,'refusal':'I cannot.'}",
                                  "'content_filter'"),
                       &usage_10_5),
                MESSAGE("[{'type':'text','text':'I cannot.'}]", "'refusal'", USAGE_10_5),
                "refusal");
    assert_json(answer(COMPLETION("{'role':'assistant','content':''}", "'length'"), &usage_10_5),
                MESSAGE("[]", "'max_tokens'", USAGE_10_5), "empty");
}
END_TEST

START_TEST(answer_invalid)
{
    /* Bodies that are not chat.completions cannot be translated: -1, nothing written. */
    static const char *bad[] = {"", "not json", "{}", "{\"choices\":[]}",
                                "{\"choices\":[{\"message\":\"x\"}]}"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tg_buf_t out = {0};

        ck_assert_int_eq(
            tg_messages_answer(bad[i], strlen(bad[i]), "msg_1", "m", &usage_10_5, &out), -1);
        ck_assert_uint_eq(out.len, 0);
        tg_buf_free(&out);
    }
}
END_TEST

/* ---- streams -------------------------------------------------------------------------------- */

/*
 * Split Anthropic SSE bytes into a JSON array of the events' data. Every event must be exactly
 * "event: <type>\ndata: <json>\n\n" with the event name equal to data.type, as the SDKs rely on.
 */
static json_t *split_events(const tg_buf_t *out)
{
    json_t *list = json_array();
    const char *p = out->data, *end = out->data + out->len;

    while (p != NULL && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop;
        json_t *v;

        ck_assert_msg(strncmp(p, "event: ", 7) == 0 && nl != NULL, "no event line: %s", p);
        ck_assert_msg(strncmp(nl + 1, "data: ", 6) == 0, "no data line: %s", p);
        stop = strstr(nl + 7, "\n\n");
        ck_assert_msg(stop != NULL, "unterminated event: %s", p);
        v = json_loadb(nl + 7, (size_t)(stop - nl - 7), 0, NULL);
        ck_assert_msg(v != NULL, "data is not JSON: %.*s", (int)(stop - nl - 7), nl + 7);
        ck_assert_msg((size_t)(nl - p - 7) ==
                              strlen(json_string_value(json_object_get(v, "type"))) &&
                          memcmp(p + 7, json_string_value(json_object_get(v, "type")),
                                 (size_t)(nl - p - 7)) == 0,
                      "event name is not the data's type: %.*s", (int)(nl - p), p);
        json_array_append_new(list, v);
        p = stop + 2;
    }
    return list;
}

/* Feed canonical data payloads (each becomes "data: <payload>\n\n"); returns the events. */
static json_t *feed(tg_messages_stream_t *s, const char *payload, const tg_usage_t *u)
{
    tg_buf_t in = {0}, out = {0};
    char *d = dq(payload);
    json_t *events;

    ck_assert_int_eq(tg_buf_append(&in, "data: ", 6), 0);
    ck_assert_int_eq(tg_buf_append(&in, d, strlen(d)), 0);
    ck_assert_int_eq(tg_buf_append(&in, "\n\n", 2), 0);
    ck_assert_int_eq(tg_messages_stream_feed(s, in.data, in.len, u, &out), 0);
    events = split_events(&out);
    free(d);
    tg_buf_free(&in);
    tg_buf_free(&out);
    return events;
}

static void feed_expect(tg_messages_stream_t *s, const char *payload, const tg_usage_t *u,
                        const char *want)
{
    assert_json(feed(s, payload, u), want, payload);
}

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o',"            \
    "'choices':[{'index':0,'delta':" delta ",'logprobs':null,'finish_reason':" finish "}]}"

#define USAGE_CHUNK                                                                                \
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o',"            \
    "'choices':[],'usage':{'prompt_tokens':999,'completion_tokens':999,'total_tokens':1998}}"

#define START(usage)                                                                               \
    "{'type':'message_start','message':{'id':'msg_1','type':'message','role':'assistant',"         \
    "'model':'claude','content':[],'stop_reason':null,'stop_sequence':null,'usage':" usage "}}"

#define ZERO_USAGE                                                                                 \
    "{'input_tokens':0,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"               \
    "'output_tokens':0}"

#define TEXT_START(i)                                                                              \
    "{'type':'content_block_start','index':" #i ",'content_block':{'type':'text','text':''}}"
#define TEXT_DELTA(i, t)                                                                           \
    "{'type':'content_block_delta','index':" #i ",'delta':{'type':'text_delta','text':'" t "'}}"
#define TOOL_START(i, id, name)                                                                    \
    "{'type':'content_block_start','index':" #i ",'content_block':{'type':'tool_use','id':'" id    \
    "','name':'" name "','input':{}}}"
#define JSON_DELTA(i, j)                                                                           \
    "{'type':'content_block_delta','index':" #i ",'delta':{'type':'input_json_delta',"             \
    "'partial_json':'" j "'}}"
#define STOP(i) "{'type':'content_block_stop','index':" #i "}"
#define MESSAGE_DELTA(stop, usage)                                                                 \
    "{'type':'message_delta','delta':{'stop_reason':'" stop "','stop_sequence':null},"             \
    "'usage':" usage "}"
#define MESSAGE_STOP "{'type':'message_stop'}"

static tg_messages_stream_t *new_stream(void)
{
    tg_messages_stream_t *s = tg_messages_stream_new("msg_1", "claude");

    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(stream_text)
{
    /*
     * The role chunk starts the message (usage unknown yet: zeros); text opens block 0 and
     * streams as text_delta; the finish chunk and the usage chunk send nothing; [DONE] closes
     * the block and sends message_delta with the billed usage, then message_stop.
     */
    tg_messages_stream_t *s = new_stream();
    tg_usage_t none = {0}, billed = {.prompt = 25, .completion = 15, .reported = 1};

    feed_expect(s, CHUNK("{'role':'assistant','content':''}", "null"), &none,
                "[" START(ZERO_USAGE) "]");
    feed_expect(s, CHUNK("{'content':'Hello'}", "null"), &none,
                "[" TEXT_START(0) "," TEXT_DELTA(0, "Hello") "]");
    feed_expect(s, CHUNK("{'content':' \\'world\\'\\n'}", "null"), &none,
                "[" TEXT_DELTA(0, " \\'world\\'\\n") "]");
    feed_expect(s, CHUNK("{}", "'stop'"), &none, "[]");
    feed_expect(s, USAGE_CHUNK, &none, "[]");
    ck_assert_int_eq(tg_messages_stream_ended(s), 0);
    feed_expect(s, "[DONE]", &billed,
                "[" STOP(0) "," MESSAGE_DELTA(
                    "end_turn", "{'input_tokens':25,'cache_creation_input_tokens':0,"
                                "'cache_read_input_tokens':0,'output_tokens':15}") "," MESSAGE_STOP
                                                                                   "]");
    ck_assert_int_eq(tg_messages_stream_ended(s), 1);
    /* anything after the end is ignored */
    feed_expect(s, CHUNK("{'content':'late'}", "null"), &none, "[]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_known_usage_at_start)
{
    /* When the provider reported usage before the first chunk, message_start carries it. */
    tg_messages_stream_t *s = new_stream();
    tg_usage_t known = {
        .prompt = 472, .completion = 1, .cached = 400, .cache_write = 2, .reported = 1};

    feed_expect(s, CHUNK("{'role':'assistant','content':''}", "null"), &known,
                "[" START("{'input_tokens':70,'cache_creation_input_tokens':2,"
                          "'cache_read_input_tokens':400,'output_tokens':1}") "]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_tool_calls)
{
    /*
     * Text, then two tool calls one after the other: each call opens the next block (closing
     * the previous one) with its id and name and input {}; argument fragments are
     * input_json_delta events of its block; tool_calls -> tool_use.
     */
    tg_messages_stream_t *s = new_stream();
    tg_usage_t billed = {.prompt = 472, .completion = 89, .reported = 1};

    feed_expect(s, CHUNK("{'role':'assistant','content':'Checking.'}", "null"), NULL,
                "[" START(ZERO_USAGE) "," TEXT_START(0) "," TEXT_DELTA(0, "Checking.") "]");
    feed_expect(s,
                CHUNK("{'tool_calls':[{'index':0,'id':'call_a','type':'function','function':"
                      "{'name':'get_weather','arguments':''}}]}",
                      "null"),
                NULL, "[" STOP(0) "," TOOL_START(1, "call_a", "get_weather") "]");
    feed_expect(s, CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'{\\'ci'}}]}", "null"),
                NULL, "[" JSON_DELTA(1, "{\\'ci") "]");
    feed_expect(
        s,
        CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'ty\\':\\'Paris\\'}'}}]}", "null"),
        NULL, "[" JSON_DELTA(1, "ty\\':\\'Paris\\'}") "]");
    /* the second call arrives whole in one chunk, as some providers send it */
    feed_expect(s,
                CHUNK("{'tool_calls':[{'index':1,'id':'call_b','type':'function','function':"
                      "{'name':'get_time','arguments':'{}'}}]}",
                      "null"),
                NULL,
                "[" STOP(1) "," TOOL_START(2, "call_b", "get_time") "," JSON_DELTA(2, "{}") "]");
    feed_expect(s, CHUNK("{}", "'tool_calls'"), NULL, "[]");
    feed_expect(s, "[DONE]", &billed,
                "[" STOP(2) "," MESSAGE_DELTA(
                    "tool_use", "{'input_tokens':472,'cache_creation_input_tokens':0,"
                                "'cache_read_input_tokens':0,'output_tokens':89}") "," MESSAGE_STOP
                                                                                   "]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_interleaved_and_text_after_tools)
{
    /*
     * Two calls in one chunk, then a fragment for the first (interleaved by index): it goes to
     * the first call's block by index, never to a new block. Text after the calls opens a new
     * text block. A provider that says stop after tool calls means tool_use. A call without an
     * id gets one.
     */
    tg_messages_stream_t *s = new_stream();
    tg_usage_t billed = {.prompt = 10, .completion = 20, .reported = 1};

    feed_expect(s, CHUNK("{'role':'assistant','content':null}", "null"), NULL,
                "[" START(ZERO_USAGE) "]");
    feed_expect(s,
                CHUNK("{'tool_calls':[{'index':0,'id':'c0','function':{'name':'a','arguments':"
                      "'{\\'x\\''}},{'index':1,'function':{'name':'b','arguments':'{}'}}]}",
                      "null"),
                NULL,
                "[" TOOL_START(0, "c0", "a") "," JSON_DELTA(0, "{\\'x\\'") "," STOP(
                    0) "," TOOL_START(1, "toolu_msg_1_1", "b") "," JSON_DELTA(1, "{}") "]");
    feed_expect(s, CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':':1}'}}]}", "null"),
                NULL, "[" JSON_DELTA(0, ":1}") "]");
    feed_expect(s, CHUNK("{'content':'Done.'}", "null"), NULL,
                "[" STOP(1) "," TEXT_START(2) "," TEXT_DELTA(2, "Done.") "]");
    feed_expect(s, CHUNK("{}", "'stop'"), NULL, "[]");
    feed_expect(s, "[DONE]", &billed,
                "[" STOP(2) "," MESSAGE_DELTA(
                    "tool_use", "{'input_tokens':10,'cache_creation_input_tokens':0,"
                                "'cache_read_input_tokens':0,'output_tokens':20}") "," MESSAGE_STOP
                                                                                   "]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_chunk_shapes)
{
    /*
     * Chunks however a provider writes them: spaced JSON, escapes and non-ASCII text (copied
     * as written), several choices (only index 0 counts), content and a finish in one chunk, a
     * chunk without choices, a chunk that is not JSON (ignored).
     */
    tg_messages_stream_t *s = new_stream();

    feed_expect(s, "{ 'choices' : [ { 'index' : 0 , 'delta' : { 'role' : 'assistant' } } ] }", NULL,
                "[" START(ZERO_USAGE) "]");
    feed_expect(s,
                "{ 'id':'x', 'choices' : [\t {'delta': {'content': 'caf\\u00e9 \\'x\\' "
                "\xe2\x82\xac'}, 'index': 0, 'logprobs': null} ] }",
                NULL, "[" TEXT_START(0) "," TEXT_DELTA(0, "caf\\u00e9 \\'x\\' \\u20ac") "]");
    feed_expect(s,
                "{'choices':[{'index':1,'delta':{'content':'other'}},{'index':0,'delta':"
                "{'content':'mine'}}]}",
                NULL, "[" TEXT_DELTA(0, "mine") "]");
    feed_expect(s, "{'choices':[{'index':0,'delta':{'content':'!'},'finish_reason':'length'}]}",
                NULL, "[" TEXT_DELTA(0, "!") "]");
    feed_expect(s, "{'id':'x','object':'chat.completion.chunk'}", NULL, "[]");
    feed_expect(s, "not json at all", NULL, "[]");
    feed_expect(s, "[DONE]", NULL,
                "[" STOP(0) "," MESSAGE_DELTA("max_tokens", ZERO_USAGE) "," MESSAGE_STOP "]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_stop_reasons_and_refusal)
{
    /* length -> max_tokens; a refusal delta is text; content_filter -> refusal. */
    tg_messages_stream_t *s = new_stream();
    /* estimated usage is reported all the same */
    tg_usage_t billed = {.prompt = 1, .completion = 2, .reported = 0};
    json_t *ev;

    json_decref(feed(s, CHUNK("{'role':'assistant','content':''}", "null"), NULL));
    json_decref(feed(s, CHUNK("{'content':'a'}", "'length'"), NULL));
    ev = feed(s, "[DONE]", &billed);
    assert_json(json_incref(json_object_get(json_object_get(json_array_get(ev, 1), "delta"),
                                            "stop_reason")),
                "'max_tokens'", "length");
    json_decref(ev);
    tg_messages_stream_free(s);

    s = new_stream();
    json_decref(feed(s, CHUNK("{'role':'assistant','content':''}", "null"), NULL));
    feed_expect(s, CHUNK("{'refusal':'No.'}", "'content_filter'"), NULL,
                "[" TEXT_START(0) "," TEXT_DELTA(0, "No.") "]");
    feed_expect(s, "[DONE]", &billed,
                "[" STOP(0) "," MESSAGE_DELTA(
                    "refusal", "{'input_tokens':1,'cache_creation_input_tokens':0,"
                               "'cache_read_input_tokens':0,'output_tokens':2}") "," MESSAGE_STOP
                                                                                 "]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_error)
{
    /*
     * An error event mid-stream becomes Anthropic's error event with the mapped type; the
     * translation ends there (no message_delta, nothing after it).
     */
    tg_messages_stream_t *s = new_stream();

    json_decref(feed(s, CHUNK("{'role':'assistant','content':'Hi'}", "null"), NULL));
    feed_expect(s,
                "{'error':{'message':'Provider \\'p\\' failed mid-stream: idle timeout',"
                "'type':'server_error','param':null,'code':'upstream_timeout'}}",
                NULL,
                "[{'type':'error','error':{'type':'timeout_error','message':"
                "'Provider \\'p\\' failed mid-stream: idle timeout'}}]");
    ck_assert_int_eq(tg_messages_stream_ended(s), 1);
    feed_expect(s, "[DONE]", NULL, "[]");
    tg_messages_stream_free(s);

    /* an error before any chunk: no message_start, just the error */
    s = new_stream();
    feed_expect(s,
                "{'error':{'message':'Overloaded','type':'server_error','code':"
                "'upstream_overloaded'}}",
                NULL,
                "[{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}]");
    tg_messages_stream_free(s);
}
END_TEST

START_TEST(stream_done_alone)
{
    /* A stream with nothing but its terminator is still a whole message. */
    tg_messages_stream_t *s = new_stream();
    tg_usage_t billed = {.prompt = 3, .completion = 0, .reported = 1};
#define USAGE_3                                                                                    \
    "{'input_tokens':3,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"               \
    "'output_tokens':0}"

    feed_expect(s, "[DONE]", &billed,
                "[" START(USAGE_3) "," MESSAGE_DELTA("end_turn", USAGE_3) "," MESSAGE_STOP "]");
    tg_messages_stream_free(s);
    tg_messages_stream_free(NULL);
}
END_TEST

START_TEST(stream_any_split)
{
    /*
     * The proxy hands over whatever an adapter wrote (several events at once, e.g. the usage
     * chunk with [DONE]); split at every byte, the same events come out.
     */
    char *text = dq("data: " CHUNK(
        "{'role':'assistant','content':''}",
        "null") "\n\n"
                "data: " CHUNK("{'content':'ab'}",
                               "null") "\n\n"
                                       "data: " CHUNK("{}", "'stop'") "\n\n"
                                                                      "data: " USAGE_CHUNK "\n\n"
                                                                      "data: [DONE]\n\n");
    size_t len = strlen(text);
    tg_usage_t billed = {.prompt = 7, .completion = 1, .reported = 1};
    json_t *whole = NULL;

    for (size_t cut = 0; cut <= len; cut += 7) {
        tg_messages_stream_t *s = new_stream();
        tg_buf_t out = {0};
        json_t *ev;

        ck_assert_int_eq(tg_messages_stream_feed(s, text, cut, &billed, &out), 0);
        ck_assert_int_eq(tg_messages_stream_feed(s, text + cut, len - cut, &billed, &out), 0);
        ev = split_events(&out);
        ck_assert_uint_eq(json_array_size(ev), 6);
        if (whole == NULL)
            whole = json_incref(ev);
        ck_assert_msg(json_equal(ev, whole), "split at %zu differs", cut);
        json_decref(ev);
        tg_buf_free(&out);
        tg_messages_stream_free(s);
    }
    json_decref(whole);
    free(text);
}
END_TEST

static Suite *messages_out_suite(void)
{
    Suite *s = suite_create("messages_out");
    TCase *tc = tcase_create("answer");

    tcase_add_test(tc, message_id);
    tcase_add_test(tc, answer_text);
    tcase_add_test(tc, answer_cached_usage);
    tcase_add_test(tc, answer_tool_calls);
    tcase_add_test(tc, answer_stop_reasons);
    tcase_add_test(tc, answer_refusal_and_empty);
    tcase_add_test(tc, answer_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_test(tc, stream_text);
    tcase_add_test(tc, stream_known_usage_at_start);
    tcase_add_test(tc, stream_tool_calls);
    tcase_add_test(tc, stream_interleaved_and_text_after_tools);
    tcase_add_test(tc, stream_chunk_shapes);
    tcase_add_test(tc, stream_stop_reasons_and_refusal);
    tcase_add_test(tc, stream_error);
    tcase_add_test(tc, stream_done_alone);
    tcase_add_test(tc, stream_any_split);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(messages_out_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
