/*
 * Unit tests for worker/provider_anthropic.c and provider_anthropic_stream.c: OpenAI chat
 * requests become Anthropic Messages requests (system hoisted, turns alternating, tools, tool
 * results, images, max_tokens), Anthropic messages become chat.completions with the right usage,
 * and Anthropic stream events become OpenAI chunks ending in [DONE]. Golden fixtures follow
 * Anthropic's API reference; they are compared as JSON values, not bytes. In fixtures, ' stands
 * for " so they stay readable.
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/worker/provider_fixture.h"
#include "worker/provider.h"

/* ---- fixtures and helpers ------------------------------------------------------------------ */

static tg_provider_t prov;
static tg_model_t model;

static void setup(void)
{
    memset(&prov, 0, sizeof(prov));
    prov.name = "claude-direct";
    prov.kind = TG_PROVIDER_ANTHROPIC;
    prov.base_url = "https://api.anthropic.com/v1";
    prov.api_key = "sk-ant-test-key";
    memset(&model, 0, sizeof(model));
    model.name = "claude";
    model.upstream_model = "claude-sonnet-4-5";
    model.provider = &prov;
    model.max_output_tokens = 8192;
}

static void teardown(void)
{
    fx_teardown(&prov);
}

/* Run prepare on an OpenAI request fixture; returns its rc, the body in *body. */
static int prepare(int stream, const char *openai, tg_buf_t *body, tg_xfer_t *x, tg_buf_t *url)
{
    return fx_prepare(&model, TG_EP_CHAT, stream, openai, body, x, url);
}

/* Translate an OpenAI request and compare the upstream body with the golden one. */
static void assert_request(int stream, const char *openai, const char *want, const char *what)
{
    fx_assert_request(&model, stream, openai, want, what);
}

/* prepare must refuse this request as one the provider cannot serve (-2), saying why. */
static void assert_refused(const char *openai, const char *what)
{
    tg_buf_t body, url = {0};
    tg_xfer_t x;

    memset(&x, 0, sizeof(x));
    ck_assert_msg(prepare(0, openai, &body, &x, &url) == -2, "%s: accepted", what);
    ck_assert_msg(x.errbuf[0] != '\0', "%s: refused without a reason", what);
    tg_buf_free(&body);
    tg_buf_free(&url);
}

/* Translate an Anthropic message; returns the OpenAI body (created removed). */
static json_t *run_response(const char *anthropic, tg_usage_t *usage)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_ANTHROPIC);
    char *in = dq(anthropic);
    tg_buf_t out = {0};
    json_t *doc;

    ck_assert_int_eq(a->response(&model, TG_EP_CHAT, in, strlen(in), usage, &out), 0);
    doc = json_loadb(out.data, out.len, 0, NULL);
    ck_assert_msg(doc != NULL, "response is not JSON: %s", out.data);
    fx_take_created(doc);
    free(in);
    tg_buf_free(&out);
    return doc;
}

/* ---- stream helpers ---- */

typedef struct {
    tg_event_action_t action;
    json_t *events; /* the client's "data:" payloads, parsed; [DONE] as the string "[DONE]" */
} ev_t;

/* Feed one Anthropic event (name and data fixture) to the adapter. */
static ev_t feed(tg_stream_state_t *st, const char *name, const char *data)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_ANTHROPIC);
    char *d = dq(data), raw[8192];
    int n = snprintf(raw, sizeof(raw), "event: %s\ndata: %s\n\n", name, d);
    tg_buf_t out = {0};
    ev_t r;

    ck_assert(n > 0 && (size_t)n < sizeof(raw));
    r.action = a->event(st, name, d, strlen(d), raw, (size_t)n, &out);
    r.events = fx_split_sse(&out);
    if (r.action == TG_EVENT_DROP)
        ck_assert_uint_eq(out.len, 0);
    free(d);
    tg_buf_free(&out);
    return r;
}

/* Feed an event that must send nothing. */
static void feed_dropped(tg_stream_state_t *st, const char *name, const char *data)
{
    ev_t r = feed(st, name, data);

    ck_assert_msg(r.action == TG_EVENT_DROP, "%s: not dropped", name);
    ck_assert_uint_eq(json_array_size(r.events), 0);
    json_decref(r.events);
}

/* Feed an event that must send exactly these payloads (a JSON array fixture). */
static void feed_expect(tg_stream_state_t *st, const char *name, const char *data,
                        tg_event_action_t action, const char *want)
{
    ev_t r = feed(st, name, data);

    ck_assert_msg(r.action == action, "%s: action %d, want %d", name, r.action, action);
    assert_json(r.events, want, name);
}

static void stream_free(tg_stream_state_t *st)
{
    tg_adapter_for(TG_PROVIDER_ANTHROPIC)->stream_free(st);
    ck_assert_ptr_null(st->priv);
}

/* Chunk fixtures: every chunk carries the message's id and model. */
#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-msg_01','object':'chat.completion.chunk','model':'claude-sonnet-4-5',"        \
    "'choices':[{'index':0,'delta':" delta ",'finish_reason':" finish "}]}"

#define MESSAGE_START(usage)                                                                       \
    "{'type':'message_start','message':{'id':'msg_01','type':'message','role':'assistant',"        \
    "'content':[],'model':'claude-sonnet-4-5','stop_reason':null,'stop_sequence':null,"            \
    "'usage':" usage "}}"

/* ---- adapter and request heads ------------------------------------------------------------ */

START_TEST(adapter_lookup)
{
    /* The anthropic kind has its own adapter with every hook, stream_free included. */
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_ANTHROPIC);

    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->kind, "anthropic");
    ck_assert_ptr_nonnull(a->prepare);
    ck_assert_ptr_nonnull(a->response);
    ck_assert_ptr_nonnull(a->event);
    ck_assert_ptr_nonnull(a->stream_free);
}
END_TEST

START_TEST(h1_heads)
{
    /*
     * The HTTP/1.1 pool path: POST <base path>/messages with x-api-key, anthropic-version,
     * content-type, and an Accept matching the mode; the URL is <base_url>/messages.
     */
    static const char req[] = "{'model':'claude-sonnet-4-5','messages':[{'role':'user',"
                              "'content':'Hi'}]}";
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    char *head;

    for (int stream = 0; stream < 2; stream++) {
        memset(&x, 0, sizeof(x));
        ck_assert_int_eq(prepare(stream, req, &body, &x, &url), 0);
        ck_assert_str_eq(url.data, "https://api.anthropic.com/v1/messages");
        ck_assert_str_eq(x.h1_origin, "https://api.anthropic.com:443");
        ck_assert_ptr_null(x.curlu);
        ck_assert_ptr_null(x.shared_headers);
        head = strndup(x.h1_head, x.h1_head_len);
        ck_assert_msg(
            strncmp(head, "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n", 53) == 0,
            "head: %s", head);
        ck_assert_ptr_nonnull(strstr(head, "\r\nx-api-key: sk-ant-test-key\r\n"));
        ck_assert_ptr_nonnull(strstr(head, "\r\nanthropic-version: 2023-06-01\r\n"));
        ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Type: application/json\r\n"));
        ck_assert_ptr_nonnull(strstr(head, stream ? "\r\nAccept: text/event-stream\r\n"
                                                  : "\r\nAccept: application/json\r\n"));
        ck_assert_ptr_null(strstr(head, "Authorization"));
        ck_assert(x.h1_head_len >= 2 && memcmp(head + x.h1_head_len - 2, "\r\n", 2) == 0);
        ck_assert_ptr_null(strstr(head, "\r\n\r\n")); /* Content-Length and the end follow */
        free(head);
        tg_buf_free(&body);
        tg_buf_reset(&url);
    }
    tg_buf_free(&url);
}
END_TEST

START_TEST(h2_headers)
{
    /* With http2 the curl path is used: the shared header list and the parsed URL. */
    static const char req[] = "{'model':'m','messages':[{'role':'user','content':'Hi'}]}";
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    int seen_key = 0, seen_version = 0, seen_accept = 0;

    prov.http2 = 1;
    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(1, req, &body, &x, &url), 0);
    ck_assert_ptr_nonnull(x.curlu);
    ck_assert_ptr_nonnull(x.shared_headers);
    ck_assert_ptr_null(x.h1_head);
    for (const struct curl_slist *l = x.shared_headers; l != NULL; l = l->next) {
        seen_key += strcmp(l->data, "x-api-key: sk-ant-test-key") == 0;
        seen_version += strcmp(l->data, "anthropic-version: 2023-06-01") == 0;
        seen_accept += strcmp(l->data, "Accept: text/event-stream") == 0;
    }
    ck_assert_int_eq(seen_key, 1);
    ck_assert_int_eq(seen_version, 1);
    ck_assert_int_eq(seen_accept, 1);
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

START_TEST(configured_headers_win)
{
    /*
     * A provider's own anthropic-version replaces the default (never two of them); extra
     * headers such as anthropic-beta are sent; without an api_key there is no x-api-key.
     */
    static const char req[] = "{'model':'m','messages':[{'role':'user','content':'Hi'}]}";
    tg_header_t h[] = {{"anthropic-version", "2099-01-01"}, {"anthropic-beta", "x-1"}};
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    char *head;

    prov.headers = h;
    prov.nheaders = 2;
    prov.api_key = NULL;
    prov.base_url = "http://127.0.0.1:8080/anthropic/v1/";
    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(0, req, &body, &x, &url), 0);
    head = strndup(x.h1_head, x.h1_head_len);
    ck_assert_msg(
        strncmp(head, "POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", 60) == 0,
        "head: %s", head);
    ck_assert_str_eq(x.h1_origin, "http://127.0.0.1:8080");
    ck_assert_ptr_nonnull(strstr(head, "\r\nanthropic-version: 2099-01-01\r\n"));
    ck_assert_ptr_null(strstr(head, "2023-06-01"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nanthropic-beta: x-1\r\n"));
    ck_assert_ptr_null(strstr(head, "x-api-key"));
    free(head);
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

START_TEST(other_endpoints_refused)
{
    /* Anthropic has no completions or embeddings: prepare refuses them and leaves body alone. */
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_ANTHROPIC);
    tg_buf_t body = {0}, url = {0};
    tg_xfer_t x;

    memset(&x, 0, sizeof(x));
    tg_buf_append(&body, "{\"model\":\"m\",\"prompt\":\"x\"}", 26);
    ck_assert_int_eq(a->prepare(&model, TG_EP_COMPLETIONS, 0, &x, &url, &body), -1);
    ck_assert_int_eq(a->prepare(&model, TG_EP_EMBEDDINGS, 0, &x, &url, &body), -1);
    ck_assert_str_eq(body.data, "{\"model\":\"m\",\"prompt\":\"x\"}");
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

/* ---- request translation ------------------------------------------------------------------- */

START_TEST(request_basic)
{
    /*
     * System and developer messages join into the top-level system; max_tokens defaults to the
     * model's max_output_tokens; sampling fields map; OpenAI-only fields are dropped; stream
     * sets stream:true.
     */
    assert_request(
        1,
        "{'model':'claude-sonnet-4-5','stream':true,'stream_options':{'include_usage':true},"
        "'messages':[{'role':'system','content':'You are terse.'},"
        "{'role':'developer','content':[{'type':'text','text':'Answer in English.'}]},"
        "{'role':'user','content':'Hello','name':'ann'}],"
        "'temperature':0.7,'top_p':0.9,'stop':'END','user':'user-42','seed':7,"
        "'presence_penalty':0.5,'frequency_penalty':0.1,'logprobs':false,'n':1,"
        "'logit_bias':{'50256':-100},'service_tier':'auto','store':false}",
        "{'model':'claude-sonnet-4-5','system':'You are terse.\\n\\nAnswer in English.',"
        "'messages':[{'role':'user','content':'Hello'}],'max_tokens':8192,"
        "'temperature':0.7,'top_p':0.9,'stop_sequences':['END'],"
        "'metadata':{'user_id':'user-42'},'stream':true}",
        "basic");
    /* without stream, no stream key at all */
    assert_request(0, "{'model':'claude-sonnet-4-5','messages':[{'role':'user','content':'Hi'}]}",
                   "{'model':'claude-sonnet-4-5','messages':[{'role':'user','content':'Hi'}],"
                   "'max_tokens':8192}",
                   "no stream");
}
END_TEST

START_TEST(request_numbers_keep_their_spelling)
{
    /* Reals are written as short as exactness allows: 0.7 stays 0.7, not 0.69999999999999996. */
    tg_buf_t body, url = {0};
    tg_xfer_t x;

    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(0,
                             "{'model':'m','temperature':0.7,'top_p':0.95,"
                             "'messages':[{'role':'user','content':'Hi'}]}",
                             &body, &x, &url),
                     0);
    ck_assert_msg(strstr(body.data, "\"temperature\":0.7,") != NULL, "%s", body.data);
    ck_assert_msg(strstr(body.data, "\"top_p\":0.95") != NULL, "%s", body.data);
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

START_TEST(request_unknown_fields_pass)
{
    /*
     * Fields that are not OpenAI's pass through unchanged (Anthropic's own, such as thinking
     * and top_k, and the simulator's sim object); a client's Anthropic-native field never
     * overrides one the translation produced.
     */
    assert_request(0,
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'top_k':5,"
                   "'thinking':{'type':'enabled','budget_tokens':2048},'sim':{'status':529},"
                   "'stop_sequences':['X'],'max_tokens':4000}",
                   "{'model':'m','max_tokens':4000,'messages':[{'role':'user','content':'x'}],"
                   "'top_k':5,'thinking':{'type':'enabled','budget_tokens':2048},"
                   "'sim':{'status':529},'stop_sequences':['X']}",
                   "pass through");
    assert_request(0,
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'stop':'Y',"
                   "'stop_sequences':['X']}",
                   "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':'x'}],"
                   "'stop_sequences':['Y']}",
                   "ours win");
}
END_TEST

START_TEST(request_alternation_merge)
{
    /*
     * Consecutive messages of one role merge into one turn (as content blocks, in order); an
     * assistant message with no content makes no turn, so the users around it merge too.
     */
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':'One'},"
        "{'role':'user','content':[{'type':'text','text':'Two'}]},"
        "{'role':'assistant','content':'A1'},{'role':'assistant','content':'A2'},"
        "{'role':'user','content':'Three'},{'role':'assistant','content':''},"
        "{'role':'user','content':'Four'}]}",
        "{'model':'m','max_tokens':8192,'messages':["
        "{'role':'user','content':[{'type':'text','text':'One'},{'type':'text','text':'Two'}]},"
        "{'role':'assistant','content':[{'type':'text','text':'A1'},{'type':'text','text':'A2'}]},"
        "{'role':'user','content':[{'type':'text','text':'Three'},{'type':'text','text':'Four'}]}"
        "]}",
        "alternation");
    /* a system message in the middle still goes to system, and does not split the users */
    assert_request(0,
                   "{'model':'m','messages':[{'role':'user','content':'a'},"
                   "{'role':'system','content':'S'},{'role':'user','content':'b'}]}",
                   "{'model':'m','max_tokens':8192,'system':'S','messages':["
                   "{'role':'user','content':[{'type':'text','text':'a'},"
                   "{'type':'text','text':'b'}]}]}",
                   "system in the middle");
}
END_TEST

START_TEST(request_max_tokens)
{
    /* max_completion_tokens wins over max_tokens, which wins over the model's default. */
    assert_request(0, "{'model':'m','max_tokens':100,'messages':[{'role':'user','content':'x'}]}",
                   "{'model':'m','max_tokens':100,'messages':[{'role':'user','content':'x'}]}",
                   "max_tokens");
    assert_request(0,
                   "{'model':'m','max_tokens':100,'max_completion_tokens':200,"
                   "'messages':[{'role':'user','content':'x'}]}",
                   "{'model':'m','max_tokens':200,'messages':[{'role':'user','content':'x'}]}",
                   "max_completion_tokens");
    model.max_output_tokens = 0; /* a model without a known limit: Anthropic still needs one */
    assert_request(0, "{'model':'m','messages':[{'role':'user','content':'x'}]}",
                   "{'model':'m','max_tokens':4096,'messages':[{'role':'user','content':'x'}]}",
                   "fallback");
}
END_TEST

START_TEST(request_stop)
{
    /* stop as a string or an array becomes stop_sequences (empty strings dropped). */
    assert_request(
        0, "{'model':'m','stop':['###','','END'],'messages':[{'role':'user','content':'x'}]}",
        "{'model':'m','max_tokens':8192,'stop_sequences':['###','END'],"
        "'messages':[{'role':'user','content':'x'}]}",
        "stop array");
    assert_request(0, "{'model':'m','stop':null,'messages':[{'role':'user','content':'x'}]}",
                   "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':'x'}]}",
                   "stop null");
    assert_refused("{'model':'m','stop':[1],'messages':[{'role':'user','content':'x'}]}",
                   "stop of numbers");
}
END_TEST

START_TEST(request_tools)
{
    /* Function tools become name/description/input_schema; a tool without parameters gets an
     * empty object schema. tool_choice auto maps, parallel_tool_calls false disables parallel. */
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':'Weather?'}],"
        "'tools':[{'type':'function','function':{'name':'get_weather','description':'Get it',"
        "'parameters':{'type':'object','properties':{'city':{'type':'string'}},"
        "'required':['city']},'strict':true}},"
        "{'type':'function','function':{'name':'now'}}],"
        "'tool_choice':'auto','parallel_tool_calls':false}",
        "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':'Weather?'}],"
        "'tools':[{'name':'get_weather','description':'Get it','input_schema':{'type':'object',"
        "'properties':{'city':{'type':'string'}},'required':['city']}},"
        "{'name':'now','input_schema':{'type':'object','properties':{}}}],"
        "'tool_choice':{'type':'auto','disable_parallel_tool_use':true}}",
        "tools");
}
END_TEST

START_TEST(request_tool_choice_variants)
{
    /* required -> any, a named function -> tool, none -> none, absent -> Anthropic's default. */
#define TOOLS "'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object'}}}]"
#define ATOOLS "'tools':[{'name':'f','input_schema':{'type':'object'}}]"
#define MSGS "'messages':[{'role':'user','content':'x'}]"
    assert_request(0, "{'model':'m'," MSGS "," TOOLS ",'tool_choice':'required'}",
                   "{'model':'m','max_tokens':8192," MSGS "," ATOOLS
                   ",'tool_choice':{'type':'any'}}",
                   "required");
    assert_request(0,
                   "{'model':'m'," MSGS "," TOOLS
                   ",'tool_choice':{'type':'function','function':{'name':'f'}}}",
                   "{'model':'m','max_tokens':8192," MSGS "," ATOOLS
                   ",'tool_choice':{'type':'tool','name':'f'}}",
                   "named");
    assert_request(0, "{'model':'m'," MSGS "," TOOLS ",'tool_choice':'none'}",
                   "{'model':'m','max_tokens':8192," MSGS "," ATOOLS
                   ",'tool_choice':{'type':'none'}}",
                   "none");
    assert_request(0, "{'model':'m'," MSGS "," TOOLS "}",
                   "{'model':'m','max_tokens':8192," MSGS "," ATOOLS "}", "absent");
    /* no tools: no tool_choice, whatever the client sent */
    assert_request(0, "{'model':'m'," MSGS ",'tools':[],'tool_choice':'auto'}",
                   "{'model':'m','max_tokens':8192," MSGS "}", "no tools");
    assert_refused("{'model':'m'," MSGS "," TOOLS ",'tool_choice':'sometimes'}", "bad choice");
    assert_refused("{'model':'m'," MSGS ",'tools':[{'type':'web_search'}]}", "non-function tool");
#undef TOOLS
#undef ATOOLS
#undef MSGS
}
END_TEST

START_TEST(request_tool_calls_and_results)
{
    /*
     * An assistant's tool_calls become tool_use blocks with the arguments parsed; tool messages
     * become tool_result blocks in one user turn, before the user's next text in that turn.
     */
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "{'id':'toolu_1','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'city\\': \\'Paris\\', \\'days\\': 2}'}},"
        "{'id':'toolu_2','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'city\\':\\'Rome\\'}'}},"
        "{'id':'toolu_3','type':'function','function':{'name':'now','arguments':''}}]},"
        "{'role':'tool','tool_call_id':'toolu_1','content':'18C'},"
        "{'role':'tool','tool_call_id':'toolu_2','content':[{'type':'text','text':'21C'}]},"
        "{'role':'tool','tool_call_id':'toolu_3','content':''},"
        "{'role':'user','content':'Thanks'}]}",
        "{'model':'m','max_tokens':8192,'messages':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':["
        "{'type':'tool_use','id':'toolu_1','name':'get_weather',"
        "'input':{'city':'Paris','days':2}},"
        "{'type':'tool_use','id':'toolu_2','name':'get_weather','input':{'city':'Rome'}},"
        "{'type':'tool_use','id':'toolu_3','name':'now','input':{}}]},"
        "{'role':'user','content':["
        "{'type':'tool_result','tool_use_id':'toolu_1','content':'18C'},"
        "{'type':'tool_result','tool_use_id':'toolu_2','content':[{'type':'text','text':'21C'}]},"
        "{'type':'tool_result','tool_use_id':'toolu_3'},"
        "{'type':'text','text':'Thanks'}]}]}",
        "tool round trip");
    /* text before the calls stays first; a user text before a tool result goes after it */
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':'Let me check.','tool_calls':[{'id':'t1','type':'function',"
        "'function':{'name':'f','arguments':'{}'}}]},"
        "{'role':'user','content':'hurry'},{'role':'tool','tool_call_id':'t1','content':'ok'}]}",
        "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':[{'type':'text','text':'Let me check.'},"
        "{'type':'tool_use','id':'t1','name':'f','input':{}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':'ok'},"
        "{'type':'text','text':'hurry'}]}]}",
        "tool result first");
    assert_refused("{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'t',"
                   "'type':'function','function':{'name':'f','arguments':'not json'}}]}]}",
                   "arguments not JSON");
    assert_refused("{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'t',"
                   "'type':'function','function':{'name':'f','arguments':'[1]'}}]}]}",
                   "arguments not an object");
    assert_refused("{'model':'m','messages':[{'role':'tool','content':'x'}]}", "no tool_call_id");
}
END_TEST

START_TEST(request_images)
{
    /* data: URLs become base64 sources with their media type; http(s) URLs become url sources. */
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':["
        "{'type':'text','text':'What is in these?'},"
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo=',"
        "'detail':'high'}},"
        "{'type':'image_url','image_url':{'url':'https://example.com/cat.jpg'}}]}]}",
        "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':["
        "{'type':'text','text':'What is in these?'},"
        "{'type':'image','source':{'type':'base64','media_type':'image/png',"
        "'data':'iVBORw0KGgo='}},"
        "{'type':'image','source':{'type':'url','url':'https://example.com/cat.jpg'}}]}]}",
        "images");
    /* a PDF file part becomes a document block */
    assert_request(0,
                   "{'model':'m','messages':[{'role':'user','content':[{'type':'file','file':{"
                   "'filename':'a.pdf','file_data':'data:application/pdf;base64,JVBERi0='}}]}]}",
                   "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':["
                   "{'type':'document','source':{'type':'base64','media_type':'application/pdf',"
                   "'data':'JVBERi0='}}]}]}",
                   "pdf");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
                   "'image_url':{'url':'data:image/png,rawbytes'}}]}]}",
                   "data URL not base64");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
                   "'image_url':{'url':'ftp://example.com/a.png'}}]}]}",
                   "ftp URL");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'input_audio',"
                   "'input_audio':{'data':'AAA','format':'wav'}}]}]}",
                   "audio");
}
END_TEST

START_TEST(request_cache_control)
{
    /* cache_control on parts (an Anthropic extension) is kept; system then stays as blocks. */
    assert_request(0,
                   "{'model':'m','messages':[{'role':'system','content':[{'type':'text',"
                   "'text':'Long manual','cache_control':{'type':'ephemeral'}}]},"
                   "{'role':'user','content':'q'}]}",
                   "{'model':'m','max_tokens':8192,'system':[{'type':'text','text':'Long manual',"
                   "'cache_control':{'type':'ephemeral'}}],"
                   "'messages':[{'role':'user','content':'q'}]}",
                   "cache_control");
}
END_TEST

START_TEST(request_response_format)
{
    /* JSON mode is asked for in the system prompt: Anthropic has no response_format. */
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    json_t *doc;
    const char *sys;

    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(0,
                             "{'model':'m','response_format':{'type':'json_object'},"
                             "'messages':[{'role':'system','content':'Be brief.'},"
                             "{'role':'user','content':'x'}]}",
                             &body, &x, &url),
                     0);
    doc = json_loads(body.data, 0, NULL);
    sys = json_string_value(json_object_get(doc, "system"));
    ck_assert_ptr_nonnull(sys);
    ck_assert_msg(strncmp(sys, "Be brief.\n\n", 11) == 0, "%s", sys);
    ck_assert_ptr_nonnull(strstr(sys, "JSON object"));
    ck_assert_ptr_null(json_object_get(doc, "response_format"));
    json_decref(doc);
    tg_buf_free(&body);
    tg_buf_reset(&url);

    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(0,
                             "{'model':'m','response_format':{'type':'json_schema','json_schema':"
                             "{'name':'point','schema':{'type':'object','properties':{'x':"
                             "{'type':'number'}}}}},'messages':[{'role':'user','content':'x'}]}",
                             &body, &x, &url),
                     0);
    doc = json_loads(body.data, 0, NULL);
    sys = json_string_value(json_object_get(doc, "system"));
    ck_assert_ptr_nonnull(sys);
    ck_assert_ptr_nonnull(strstr(sys, "(point)"));
    ck_assert_ptr_nonnull(
        strstr(sys, "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"}}}"));
    json_decref(doc);
    tg_buf_free(&body);
    tg_buf_free(&url);

    /* text is the default: nothing added */
    assert_request(0,
                   "{'model':'m','response_format':{'type':'text'},"
                   "'messages':[{'role':'user','content':'x'}]}",
                   "{'model':'m','max_tokens':8192,'messages':[{'role':'user','content':'x'}]}",
                   "text format");
}
END_TEST

START_TEST(request_refusals)
{
    /* What cannot be translated faithfully is refused, not silently changed. */
    assert_refused("{'model':'m','n':2,'messages':[{'role':'user','content':'x'}]}", "n > 1");
    assert_refused("{'model':'m','functions':[{'name':'f'}],'messages':[{'role':'user',"
                   "'content':'x'}]}",
                   "legacy functions");
    assert_refused("{'model':'m','messages':[{'role':'function','name':'f','content':'x'}]}",
                   "function role");
    assert_refused("{'model':'m','messages':[{'role':'user','content':42}]}", "content number");
    assert_refused("{'model':'m','messages':{}}", "messages not an array");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'x'}],"
                   "'response_format':{'type':'yaml'}}",
                   "unknown response_format");
}
END_TEST

/* ---- response translation ------------------------------------------------------------------ */

START_TEST(response_text)
{
    /* A text answer: content joined, end_turn -> stop, usage mapped and reported. */
    tg_usage_t u;
    json_t *doc = run_response(
        "{'id':'msg_013Zva2CMHLNnXjNJJKqJ2EF','type':'message','role':'assistant',"
        "'model':'claude-sonnet-4-5-20250929','content':[{'type':'text','text':'Hi! My name '},"
        "{'type':'text','text':'is Claude.'}],'stop_reason':'end_turn','stop_sequence':null,"
        "'usage':{'input_tokens':10,'output_tokens':25}}",
        &u);

    assert_json(doc,
                "{'id':'chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF','object':'chat.completion',"
                "'model':'claude-sonnet-4-5-20250929','choices':[{'index':0,'message':{"
                "'role':'assistant','content':'Hi! My name is Claude.','refusal':null},"
                "'logprobs':null,'finish_reason':'stop'}],'usage':{'prompt_tokens':10,"
                "'completion_tokens':25,'total_tokens':35,"
                "'prompt_tokens_details':{'cached_tokens':0}}}",
                "text");
    ck_assert_int_eq(u.reported, 1);
    ck_assert_int_eq(u.prompt, 10);
    ck_assert_int_eq(u.completion, 25);
    ck_assert_int_eq(u.cached, 0);
}
END_TEST

START_TEST(response_tool_use)
{
    /* tool_use blocks become tool_calls with the input as a JSON string; tool_use -> tool_calls */
    tg_usage_t u;
    json_t *doc = run_response(
        "{'id':'msg_02','type':'message','role':'assistant','model':'claude-sonnet-4-5',"
        "'content':[{'type':'text','text':'Checking.'},{'type':'tool_use','id':'toolu_01A',"
        "'name':'get_weather','input':{'city':'Paris','unit':'c','days':2}}],"
        "'stop_reason':'tool_use','stop_sequence':null,"
        "'usage':{'input_tokens':400,'output_tokens':60}}",
        &u);
    json_t *calls = json_object_get(
        json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message"),
        "tool_calls");
    json_t *fn = json_object_get(json_array_get(calls, 0), "function");
    json_t *args = json_loads(json_string_value(json_object_get(fn, "arguments")), 0, NULL);

    /* arguments is a string holding the input; compared as JSON, then replaced for the rest */
    assert_json(args, "{'city':'Paris','unit':'c','days':2}", "arguments");
    json_object_set_new(fn, "arguments", json_string("ARGS"));
    assert_json(doc,
                "{'id':'chatcmpl-msg_02','object':'chat.completion','model':'claude-sonnet-4-5',"
                "'choices':[{'index':0,'message':{'role':'assistant','content':'Checking.',"
                "'refusal':null,'tool_calls':[{'id':'toolu_01A','type':'function',"
                "'function':{'name':'get_weather','arguments':'ARGS'}}]},'logprobs':null,"
                "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':400,"
                "'completion_tokens':60,'total_tokens':460,"
                "'prompt_tokens_details':{'cached_tokens':0}}}",
                "tool_use");

    /* only a tool call: content is null */
    doc = run_response("{'id':'msg_03','type':'message','role':'assistant','model':'c',"
                       "'content':[{'type':'tool_use','id':'t','name':'now','input':{}}],"
                       "'stop_reason':'tool_use','usage':{'input_tokens':1,'output_tokens':2}}",
                       &u);
    ck_assert(json_is_null(json_object_get(
        json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message"),
        "content")));
    json_decref(doc);
}
END_TEST

START_TEST(response_cache_usage)
{
    /*
     * Cache reads and writes are prompt tokens in OpenAI's terms: prompt = input + reads +
     * writes, cached = reads. The gateway's usage says the same.
     */
    tg_usage_t u;
    json_t *doc = run_response("{'id':'msg_04','type':'message','role':'assistant','model':'c',"
                               "'content':[{'type':'text','text':'ok'}],'stop_reason':'end_turn',"
                               "'usage':{'input_tokens':50,'cache_creation_input_tokens':1000,"
                               "'cache_read_input_tokens':2000,'output_tokens':7}}",
                               &u);

    assert_json(json_incref(json_object_get(doc, "usage")),
                "{'prompt_tokens':3050,'completion_tokens':7,'total_tokens':3057,"
                "'prompt_tokens_details':{'cached_tokens':2000,'cache_write_tokens':1000}}",
                "usage");
    ck_assert_int_eq(u.reported, 1);
    ck_assert_int_eq(u.prompt, 3050);
    ck_assert_int_eq(u.completion, 7);
    ck_assert_int_eq(u.cached, 2000);
    ck_assert_int_eq(u.cache_write, 1000);
    ck_assert_int_eq(u.reasoning, 0);
    json_decref(doc);
}
END_TEST

START_TEST(response_stop_reasons)
{
    /* Each Anthropic stop_reason maps to OpenAI's finish_reason. */
    static const char *const map[][2] = {
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"max_tokens", "length"},
        {"tool_use", "tool_calls"},
        {"pause_turn", "stop"},
        {"refusal", "content_filter"},
        {"model_context_window_exceeded", "length"},
    };
    char body[512];
    tg_usage_t u;

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *doc, *fr;

        snprintf(body, sizeof(body),
                 "{'id':'m','type':'message','role':'assistant','model':'c','content':[],"
                 "'stop_reason':'%s','usage':{'input_tokens':1,'output_tokens':1}}",
                 map[i][0]);
        doc = run_response(body, &u);
        fr = json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "finish_reason");
        ck_assert_msg(json_is_string(fr) && strcmp(json_string_value(fr), map[i][1]) == 0,
                      "%s -> %s, want %s", map[i][0], json_string_value(fr), map[i][1]);
        json_decref(doc);
    }
}
END_TEST

START_TEST(response_invalid)
{
    /* A body that is not an Anthropic message: -1, nothing written, no usage claimed. */
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_ANTHROPIC);
    static const char *const bad[] = {"", "not json", "[]", "{\"type\":\"message\"}"};
    tg_buf_t out = {0};
    tg_usage_t u;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&u, 0x5a, sizeof(u));
        ck_assert_int_eq(a->response(&model, TG_EP_CHAT, bad[i], strlen(bad[i]), &u, &out), -2);
        ck_assert_uint_eq(out.len, 0);
        ck_assert_int_eq(u.reported, 0);
    }
    tg_buf_free(&out);
}
END_TEST

/* ---- stream translation -------------------------------------------------------------------- */

START_TEST(stream_text)
{
    /*
     * The documented text stream: role chunk, content chunks, finish chunk, [DONE] last (as
     * TG_EVENT_DONE); ping and block boundaries send nothing; usage is reported for metering.
     */
    tg_stream_state_t st = {0};

    feed_expect(&st, "message_start", MESSAGE_START("{'input_tokens':25,'output_tokens':1}"),
                TG_EVENT_FORWARD, "[" CHUNK("{'role':'assistant','content':''}", "null") "]");
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 25);
    feed_dropped(&st, "content_block_start",
                 "{'type':'content_block_start','index':0,'content_block':{'type':'text',"
                 "'text':''}}");
    feed_dropped(&st, "ping", "{'type':'ping'}");
    feed_expect(&st, "content_block_delta",
                "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta',"
                "'text':'Hello'}}",
                TG_EVENT_FORWARD, "[" CHUNK("{'content':'Hello'}", "null") "]");
    feed_expect(&st, "content_block_delta",
                "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta',"
                "'text':'!\\n\\'quoted\\' \\\\ tab\\t'}}",
                TG_EVENT_FORWARD,
                "[" CHUNK("{'content':'!\\n\\'quoted\\' \\\\ tab\\t'}", "null") "]");
    feed_dropped(&st, "content_block_stop", "{'type':'content_block_stop','index':0}");
    feed_expect(&st, "message_delta",
                "{'type':'message_delta','delta':{'stop_reason':'end_turn','stop_sequence':null},"
                "'usage':{'output_tokens':15}}",
                TG_EVENT_FORWARD, "[" CHUNK("{}", "'stop'") "]");
    feed_expect(&st, "message_stop", "{'type':'message_stop'}", TG_EVENT_DONE, "['[DONE]']");
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 25);
    ck_assert_int_eq(st.usage.completion, 15);
    ck_assert_int_eq(st.content_bytes, 5 + 17); /* decoded bytes */
    stream_free(&st);
}
END_TEST

START_TEST(stream_tool_calls)
{
    /*
     * tool_use blocks open tool calls numbered from 0 whatever their block index; each
     * input_json_delta fragment goes to its call's arguments; the fragments join into the
     * input; tool_use -> tool_calls.
     */
    tg_stream_state_t st = {0};
    const char *frags[] = {"{\\'city\\': \\'Pa", "ris\\'", ", \\'days\\': 2}"};
    tg_buf_t args[2] = {{0}};

    feed_expect(&st, "message_start", MESSAGE_START("{'input_tokens':472,'output_tokens':2}"),
                TG_EVENT_FORWARD, "[" CHUNK("{'role':'assistant','content':''}", "null") "]");
    feed_dropped(&st, "content_block_start",
                 "{'type':'content_block_start','index':0,'content_block':{'type':'text',"
                 "'text':''}}");
    feed_expect(&st, "content_block_delta",
                "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta',"
                "'text':'Let me check.'}}",
                TG_EVENT_FORWARD, "[" CHUNK("{'content':'Let me check.'}", "null") "]");
    feed_dropped(&st, "content_block_stop", "{'type':'content_block_stop','index':0}");
    for (int call = 0; call < 2; call++) {
        char data[512], want[1024];
        int block = call + 1;

        snprintf(data, sizeof(data),
                 "{'type':'content_block_start','index':%d,'content_block':{'type':'tool_use',"
                 "'id':'toolu_%d','name':'get_weather','input':{}}}",
                 block, call);
        snprintf(want, sizeof(want),
                 "[" CHUNK("{'tool_calls':[{'index':%d,'id':'toolu_%d','type':'function',"
                           "'function':{'name':'get_weather','arguments':''}}]}",
                           "null") "]",
                 call, call);
        feed_expect(&st, "content_block_start", data, TG_EVENT_FORWARD, want);
        /* an empty first fragment sends nothing */
        snprintf(data, sizeof(data),
                 "{'type':'content_block_delta','index':%d,'delta':{'type':'input_json_delta',"
                 "'partial_json':''}}",
                 block);
        feed_dropped(&st, "content_block_delta", data);
        for (size_t f = 0; f < 3; f++) {
            ev_t r;
            json_t *tc;

            snprintf(data, sizeof(data),
                     "{'type':'content_block_delta','index':%d,'delta':{'type':"
                     "'input_json_delta','partial_json':'%s'}}",
                     block, frags[f]);
            r = feed(&st, "content_block_delta", data);
            ck_assert_int_eq(r.action, TG_EVENT_FORWARD);
            ck_assert_uint_eq(json_array_size(r.events), 1);
            tc = json_array_get(
                json_object_get(
                    json_object_get(
                        json_array_get(json_object_get(json_array_get(r.events, 0), "choices"), 0),
                        "delta"),
                    "tool_calls"),
                0);
            ck_assert_int_eq(json_integer_value(json_object_get(tc, "index")), call);
            ck_assert_uint_eq(json_object_size(tc), 2); /* index and function only */
            tg_buf_append(
                &args[call],
                json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
                strlen(json_string_value(
                    json_object_get(json_object_get(tc, "function"), "arguments"))));
            json_decref(r.events);
        }
        snprintf(data, sizeof(data), "{'type':'content_block_stop','index':%d}", block);
        feed_dropped(&st, "content_block_stop", data);
    }
    for (int call = 0; call < 2; call++) {
        json_t *input = json_loadb(args[call].data, args[call].len, 0, NULL);
        assert_json(input, "{'city':'Paris','days':2}", "joined arguments");
        tg_buf_free(&args[call]);
    }
    feed_expect(&st, "message_delta",
                "{'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},"
                "'usage':{'output_tokens':89}}",
                TG_EVENT_FORWARD, "[" CHUNK("{}", "'tool_calls'") "]");
    feed_expect(&st, "message_stop", "{'type':'message_stop'}", TG_EVENT_DONE, "['[DONE]']");
    ck_assert_int_eq(st.usage.prompt, 472);
    ck_assert_int_eq(st.usage.completion, 89);
    stream_free(&st);
}
END_TEST

START_TEST(stream_usage_cumulative)
{
    /*
     * message_delta usage is cumulative: two of them must not be summed (the last wins), cache
     * counts from message_start count as prompt tokens, and only one finish chunk is sent.
     */
    tg_stream_state_t st = {0};

    json_decref(feed(&st, "message_start",
                     MESSAGE_START("{'input_tokens':10,'cache_read_input_tokens':300,"
                                   "'cache_creation_input_tokens':40,'output_tokens':1}"))
                    .events);
    ck_assert_int_eq(st.usage.prompt, 350);
    ck_assert_int_eq(st.usage.cached, 300);
    ck_assert_int_eq(st.usage.cache_write, 40);
    feed_expect(&st, "message_delta",
                "{'type':'message_delta','delta':{'stop_reason':'max_tokens','stop_sequence':"
                "null},'usage':{'output_tokens':10}}",
                TG_EVENT_FORWARD, "[" CHUNK("{}", "'length'") "]");
    ck_assert_int_eq(st.usage.completion, 10);
    feed_dropped(&st, "message_delta",
                 "{'type':'message_delta','delta':{'stop_reason':'max_tokens','stop_sequence':"
                 "null},'usage':{'output_tokens':25}}");
    ck_assert_int_eq(st.usage.completion, 25); /* not 35 */
    ck_assert_int_eq(st.usage.prompt, 350);
    /* a message_delta that restates input counts replaces them too (never adds) */
    feed_dropped(&st, "message_delta",
                 "{'type':'message_delta','delta':{},'usage':{'input_tokens':10,"
                 "'cache_read_input_tokens':300,'cache_creation_input_tokens':40,"
                 "'output_tokens':25}}");
    ck_assert_int_eq(st.usage.prompt, 350);
    ck_assert_int_eq(st.usage.completion, 25);
    ck_assert_int_eq(st.usage.cached, 300);
    ck_assert_int_eq(st.usage.reported, 1);
    stream_free(&st);
}
END_TEST

START_TEST(stream_usage_chunk_only_when_asked)
{
    /*
     * message_stop sends the OpenAI usage chunk (choices: []) only when the client asked for
     * usage, and [DONE] is always the last event.
     */
    for (int wants = 0; wants < 2; wants++) {
        tg_stream_state_t st = {.client_wants_usage = wants};

        json_decref(feed(&st, "message_start",
                         MESSAGE_START("{'input_tokens':5,'cache_read_input_tokens':2,"
                                       "'output_tokens':1}"))
                        .events);
        json_decref(feed(&st, "message_delta",
                         "{'type':'message_delta','delta':{'stop_reason':'end_turn'},"
                         "'usage':{'output_tokens':3}}")
                        .events);
        if (wants)
            feed_expect(&st, "message_stop", "{'type':'message_stop'}", TG_EVENT_DONE,
                        "[{'id':'chatcmpl-msg_01','object':'chat.completion.chunk',"
                        "'model':'claude-sonnet-4-5','choices':[],'usage':{'prompt_tokens':7,"
                        "'completion_tokens':3,'total_tokens':10,"
                        "'prompt_tokens_details':{'cached_tokens':2}}},'[DONE]']");
        else
            feed_expect(&st, "message_stop", "{'type':'message_stop'}", TG_EVENT_DONE,
                        "['[DONE]']");
        ck_assert_int_eq(st.usage.prompt, 7);
        ck_assert_int_eq(st.usage.completion, 3);
        stream_free(&st);
    }
}
END_TEST

START_TEST(stream_error_event)
{
    /* An error event becomes an OpenAI-style error event; it does not end the stream itself. */
    tg_stream_state_t st = {0};

    json_decref(
        feed(&st, "message_start", MESSAGE_START("{'input_tokens':5,'output_tokens':1}")).events);
    feed_expect(&st, "error",
                "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}",
                TG_EVENT_FORWARD,
                "[{'error':{'message':'Overloaded','type':'server_error','param':null,"
                "'code':'upstream_overloaded'}}]");
    feed_expect(&st, "error",
                "{'type':'error','error':{'type':'invalid_request_error','message':'bad'}}",
                TG_EVENT_FORWARD,
                "[{'error':{'message':'bad','type':'invalid_request_error','param':null,"
                "'code':null}}]");
    /* an error event whose data is not JSON still tells the client something went wrong */
    feed_expect(&st, "error", "Internal error", TG_EVENT_FORWARD,
                "[{'error':{'message':'The provider reported an error.','type':'server_error',"
                "'param':null,'code':'upstream_error'}}]");
    stream_free(&st);
}
END_TEST

START_TEST(stream_partial_usage_on_abort)
{
    /*
     * Before message_delta, usage is the exact prompt and at least the output seen so far, so
     * a client that leaves mid-stream is not billed one output token for a long answer.
     */
    tg_stream_state_t st = {0};
    char data[512];

    json_decref(
        feed(&st, "message_start", MESSAGE_START("{'input_tokens':12,'output_tokens':1}")).events);
    ck_assert_int_eq(st.usage.completion, 1);
    snprintf(data, sizeof(data),
             "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'%s'}}",
             "0123456789012345678901234567890123456789"); /* 40 bytes: about 10 tokens */
    json_decref(feed(&st, "content_block_delta", data).events);
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 12);
    ck_assert_int_eq(st.usage.completion, 10);
    stream_free(&st);
}
END_TEST

START_TEST(stream_robustness)
{
    /*
     * Unknown event types, thinking deltas and malformed data send nothing; deltas for blocks
     * never started send nothing; a stream lacking message_start still yields valid chunks.
     */
    tg_stream_state_t st = {0};
    ev_t r;

    feed_dropped(&st, "future_event", "{'type':'future_event','x':1}");
    feed_dropped(&st, "content_block_delta", "{not json");
    feed_dropped(&st, "content_block_delta",
                 "{'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta',"
                 "'thinking':'hmm'}}");
    feed_dropped(&st, "content_block_delta",
                 "{'type':'content_block_delta','index':0,'delta':{'type':'signature_delta',"
                 "'signature':'abc'}}");
    feed_dropped(&st, "content_block_delta",
                 "{'type':'content_block_delta','index':7,'delta':{'type':'input_json_delta',"
                 "'partial_json':'{}'}}");
    feed_dropped(&st, "content_block_start",
                 "{'type':'content_block_start','index':99999999,'content_block':"
                 "{'type':'tool_use','id':'t','name':'f','input':{}}}");
    r = feed(&st, "content_block_delta",
             "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'x'}}");
    ck_assert_int_eq(r.action, TG_EVENT_FORWARD);
    assert_json(r.events,
                "[{'id':'chatcmpl-','object':'chat.completion.chunk','model':'',"
                "'choices':[{'index':0,'delta':{'content':'x'},'finish_reason':null}]}]",
                "no message_start");
    ck_assert_int_eq(st.usage.reported, 0); /* nothing reported: the proxy estimates */
    stream_free(&st);
    /* stream_free on a stream that never saw an event */
    st = (tg_stream_state_t){0};
    stream_free(&st);
}
END_TEST

static Suite *provider_anthropic_suite(void)
{
    Suite *s = suite_create("provider_anthropic");
    TCase *tc = tcase_create("prepare");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, adapter_lookup);
    tcase_add_test(tc, h1_heads);
    tcase_add_test(tc, h2_headers);
    tcase_add_test(tc, configured_headers_win);
    tcase_add_test(tc, other_endpoints_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("request");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, request_basic);
    tcase_add_test(tc, request_numbers_keep_their_spelling);
    tcase_add_test(tc, request_unknown_fields_pass);
    tcase_add_test(tc, request_alternation_merge);
    tcase_add_test(tc, request_max_tokens);
    tcase_add_test(tc, request_stop);
    tcase_add_test(tc, request_tools);
    tcase_add_test(tc, request_tool_choice_variants);
    tcase_add_test(tc, request_tool_calls_and_results);
    tcase_add_test(tc, request_images);
    tcase_add_test(tc, request_cache_control);
    tcase_add_test(tc, request_response_format);
    tcase_add_test(tc, request_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, response_text);
    tcase_add_test(tc, response_tool_use);
    tcase_add_test(tc, response_cache_usage);
    tcase_add_test(tc, response_stop_reasons);
    tcase_add_test(tc, response_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stream_text);
    tcase_add_test(tc, stream_tool_calls);
    tcase_add_test(tc, stream_usage_cumulative);
    tcase_add_test(tc, stream_usage_chunk_only_when_asked);
    tcase_add_test(tc, stream_error_event);
    tcase_add_test(tc, stream_partial_usage_on_abort);
    tcase_add_test(tc, stream_robustness);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(provider_anthropic_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
