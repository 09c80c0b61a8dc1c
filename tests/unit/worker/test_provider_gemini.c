/*
 * Unit tests for worker/provider_gemini.c: OpenAI chat requests become Gemini
 * GenerateContentRequests (systemInstruction, user/model turns merged, tools, function calls and
 * responses, images, generationConfig), GenerateContentResponses become chat.completions with
 * the right usage and finish_reason, and SSE events become OpenAI chunks ending in [DONE].
 * Fixtures are compared as JSON values; in fixtures, ' stands for ".
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/worker/provider_fixture.h"
#include "worker/provider.h"
#include "worker/provider_common.h"

/* ---- fixtures and helpers ------------------------------------------------------------------ */

static tg_provider_t prov;
static tg_model_t model;

static void setup(void)
{
    memset(&prov, 0, sizeof(prov));
    prov.name = "google";
    prov.kind = TG_PROVIDER_GEMINI;
    prov.base_url = "https://generativelanguage.googleapis.com/v1beta";
    prov.api_key = "AIza-test-key";
    memset(&model, 0, sizeof(model));
    model.name = "gemini";
    model.upstream_model = "gemini-2.5-flash";
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

/* Translate a Gemini answer; returns the OpenAI body (created removed). */
static json_t *run_response(const char *anthropic, tg_usage_t *usage)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_GEMINI);
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

/* Feed one Gemini SSE event (a label and the data fixture) to the adapter. */
static ev_t feed(tg_stream_state_t *st, const char *name, const char *data)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_GEMINI);
    char *d = dq(data), raw[8192];
    int n = snprintf(raw, sizeof(raw), "data: %s\r\n\r\n", d);
    tg_buf_t out = {0};
    ev_t r;

    (void)name; /* a label for failures: Gemini events have no event: line */
    ck_assert(n > 0 && (size_t)n < sizeof(raw));
    r.action = a->event(st, NULL, d, strlen(d), raw, (size_t)n, &out);
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
    tg_adapter_for(TG_PROVIDER_GEMINI)->stream_free(st);
    ck_assert_ptr_null(st->priv);
}

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-r1','object':'chat.completion.chunk','model':'gemini-2.5-flash-001',"         \
    "'choices':[{'index':0,'delta':" delta ",'finish_reason':" finish "}]}"
#define USAGE_CHUNK(usage)                                                                         \
    "{'id':'chatcmpl-r1','object':'chat.completion.chunk','model':'gemini-2.5-flash-001',"         \
    "'choices':[],'usage':" usage "}"
#define EV(parts, extra)                                                                           \
    "{'candidates':[{'content':{'parts':" parts ",'role':'model'}" extra ",'index':0}],"           \
    "'modelVersion':'gemini-2.5-flash-001','responseId':'r1'"

/* ---- adapter and request heads ------------------------------------------------------------ */

START_TEST(adapter_lookup)
{
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_GEMINI);

    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->kind, "gemini");
    ck_assert_uint_eq(a->endpoints, 1u << TG_EP_CHAT | 1u << TG_EP_EMBEDDINGS);
    ck_assert_ptr_nonnull(a->prepare);
    ck_assert_ptr_nonnull(a->response);
    ck_assert_ptr_nonnull(a->event);
    ck_assert_ptr_nonnull(a->stream_free);
    ck_assert_ptr_nonnull(a->error);
}
END_TEST

START_TEST(h1_heads)
{
    /* POST <base path>/models/<model>:method with x-goog-api-key; the key never in the URL */
    static const char req[] = "{'model':'gemini-2.5-flash','messages':[{'role':'user',"
                              "'content':'Hi'}]}";
    tg_buf_t body, url = {0};
    tg_xfer_t x;

    for (int stream = 0; stream < 2; stream++) {
        char *h;
        memset(&x, 0, sizeof(x));
        ck_assert_int_eq(prepare(stream, req, &body, &x, &url), 0);
        ck_assert_str_eq(url.data, stream
                                       ? "https://generativelanguage.googleapis.com/v1beta/models/"
                                         "gemini-2.5-flash:streamGenerateContent?alt=sse"
                                       : "https://generativelanguage.googleapis.com/v1beta/models/"
                                         "gemini-2.5-flash:generateContent");
        ck_assert_ptr_null(strstr(url.data, "key="));
        ck_assert_str_eq(x.h1_origin, "https://generativelanguage.googleapis.com:443");
        ck_assert_ptr_nonnull(x.owned);
        ck_assert_ptr_eq(x.owned, x.h1_head);
        h = strndup(x.h1_head, x.h1_head_len);
        ck_assert_msg(strncmp(h,
                              stream ? "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent"
                                       "?alt=sse HTTP/1.1\r\nHost: "
                                       "generativelanguage.googleapis.com\r\n"
                                     : "POST /v1beta/models/gemini-2.5-flash:generateContent "
                                       "HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n",
                              60) == 0,
                      "head: %s", h);
        ck_assert_ptr_nonnull(strstr(h, "\r\nx-goog-api-key: AIza-test-key\r\n"));
        ck_assert_ptr_nonnull(strstr(h, "\r\nContent-Type: application/json\r\n"));
        ck_assert_ptr_nonnull(strstr(h, stream ? "\r\nAccept: text/event-stream\r\n"
                                               : "\r\nAccept: application/json\r\n"));
        ck_assert_ptr_null(strstr(h, "Authorization"));
        ck_assert_ptr_null(strstr(h, "key=AIza"));
        ck_assert_ptr_null(strstr(h, "\r\n\r\n"));
        free(h);
        free(x.owned);
        tg_buf_free(&body);
        tg_buf_reset(&url);
    }
    tg_buf_free(&url);
}
END_TEST

START_TEST(h1_port_and_path)
{
    static const char req[] = "{'model':'m','messages':[{'role':'user','content':'Hi'}]}";
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    char *h;

    prov.base_url = "http://127.0.0.1:9090/v1beta/";
    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(0, req, &body, &x, &url), 0);
    ck_assert_str_eq(x.h1_origin, "http://127.0.0.1:9090");
    h = strndup(x.h1_head, x.h1_head_len);
    ck_assert_msg(strncmp(h,
                          "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\n"
                          "Host: 127.0.0.1:9090\r\n",
                          84) == 0,
                  "head: %s", h);
    free(h);
    free(x.owned);
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

START_TEST(h2_headers)
{
    static const char req[] = "{'model':'m','messages':[{'role':'user','content':'Hi'}]}";
    tg_buf_t body, url = {0};
    tg_xfer_t x;
    int key = 0, accept = 0;

    prov.http2 = 1;
    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(prepare(1, req, &body, &x, &url), 0);
    ck_assert_ptr_null(x.h1_head);
    for (const struct curl_slist *l = x.headers; l != NULL; l = l->next) {
        key += strcmp(l->data, "x-goog-api-key: AIza-test-key") == 0;
        accept += strcmp(l->data, "Accept: text/event-stream") == 0;
    }
    ck_assert_int_eq(key, 1);
    ck_assert_int_eq(accept, 1);
    curl_slist_free_all(x.headers);
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

START_TEST(other_endpoints_refused)
{
    tg_buf_t body = {0}, url = {0};
    tg_xfer_t x;

    memset(&x, 0, sizeof(x));
    tg_buf_append(&body, "{}", 2);
    ck_assert_int_eq(
        tg_adapter_for(TG_PROVIDER_GEMINI)->prepare(&model, TG_EP_COMPLETIONS, 0, &x, &url, &body),
        -1);
    tg_buf_free(&body);
    tg_buf_free(&url);
}
END_TEST

/* ---- embeddings ---------------------------------------------------------------------------- */

/* Prepare an OpenAI embeddings request; returns prepare's result, the body and the URL. */
static int prepare_embed(const char *openai, tg_buf_t *body, tg_xfer_t *x, tg_buf_t *url)
{
    memset(url, 0, sizeof(*url));
    memset(x, 0, sizeof(*x));
    return fx_prepare(&model, TG_EP_EMBEDDINGS, 0, openai, body, x, url);
}

START_TEST(embed_request)
{
    /*
     * Gemini API reference, models.batchEmbedContents: one EmbedContentRequest per input, each
     * naming the model as models/<id>; dimensions → outputDimensionality. One string is a
     * batch of one. The SDK's default encoding_format base64 is remembered for the answer.
     */
    static const struct {
        const char *openai, *gemini;
        unsigned aflags;
    } cases[] = {
        {"{'model':'g','input':'hello'}",
         "{'requests':[{'model':'models/gemini-2.5-flash','content':{'parts':[{'text':'hello'}]}}]}",
         0},
        {"{'model':'g','input':['a','b'],'dimensions':256,'encoding_format':'base64',"
         "'user':'u1'}",
         "{'requests':[{'model':'models/gemini-2.5-flash','content':{'parts':[{'text':'a'}]},"
         "'outputDimensionality':256},{'model':'models/gemini-2.5-flash','content':{'parts':"
         "[{'text':'b'}]},'outputDimensionality':256}]}",
         TG_XFER_F_EMBED_BASE64},
        {"{'model':'g','input':'x','encoding_format':'float'}",
         "{'requests':[{'model':'models/gemini-2.5-flash','content':{'parts':[{'text':'x'}]}}]}",
         0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_buf_t body, url;
        tg_xfer_t x;
        json_t *got;

        ck_assert_int_eq(prepare_embed(cases[i].openai, &body, &x, &url), 0);
        ck_assert_str_eq(url.data, "https://generativelanguage.googleapis.com/v1beta/models/"
                                   "gemini-2.5-flash:batchEmbedContents");
        ck_assert_ptr_nonnull(strstr(x.h1_head, "POST /v1beta/models/gemini-2.5-flash:"
                                                "batchEmbedContents HTTP/1.1\r\n"));
        ck_assert_ptr_nonnull(strstr(x.h1_head, "x-goog-api-key: AIza-test-key\r\n"));
        ck_assert_uint_eq(x.aflags, cases[i].aflags);
        got = json_loadb(body.data, body.len, 0, NULL);
        ck_assert_ptr_nonnull(got);
        assert_json(got, cases[i].gemini, cases[i].openai);
        free(x.owned);
        tg_buf_free(&body);
        tg_buf_free(&url);
    }
}
END_TEST

START_TEST(embed_request_refused)
{
    /* Gemini embeds text: token ids, empty lists and unknown encodings are refused (-2). */
    static const char *const bad[] = {
        "{'model':'g','input':[[1,2,3]]}",
        "{'model':'g','input':[1,2,3]}",
        "{'model':'g','input':[]}",
        "{'model':'g','input':'x','encoding_format':'int8'}",
        "{'model':'g','input':'x','dimensions':0}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tg_buf_t body, url;
        tg_xfer_t x;

        ck_assert_msg(prepare_embed(bad[i], &body, &x, &url) == -2, "accepted: %s", bad[i]);
        ck_assert_msg(x.errbuf[0] != '\0', "no reason: %s", bad[i]);
        tg_buf_free(&body);
        tg_buf_free(&url);
    }
}
END_TEST

START_TEST(embed_response)
{
    /*
     * BatchEmbedContentsResponse {embeddings: [{values}]} becomes OpenAI's list in order. The
     * Gemini API reports no tokens: usage is left to the gateway's estimate (-1), the list
     * carries none. When usageMetadata.promptTokenCount is present (Vertex) it is the usage.
     */
    const tg_adapter_t *a = tg_adapter_for(TG_PROVIDER_GEMINI);
    char *in = dq("{'embeddings':[{'values':[0.5,-0.25]},{'values':[1,0]}]}");
    char *in2 = dq("{'embeddings':[{'values':[0.5]}],'usageMetadata':{'promptTokenCount':7}}");
    tg_buf_t out = {0};
    tg_usage_t u;
    json_t *doc;

    ck_assert_int_eq(a->response(&model, TG_EP_EMBEDDINGS, in, strlen(in), &u, &out), -1);
    ck_assert_int_eq(u.reported, 0);
    assert_json(json_loadb(out.data, out.len, 0, NULL),
                "{'object':'list','model':'gemini-2.5-flash','data':[{'object':'embedding',"
                "'index':0,'embedding':[0.5,-0.25]},{'object':'embedding','index':1,"
                "'embedding':[1,0]}]}",
                "embeddings");
    /* base64: little-endian float32s (0.5 = 00 00 00 3f, -0.25 = 00 00 80 be) */
    ck_assert_int_eq(tg_provider_embeddings_base64(&out), 0);
    assert_json(json_loadb(out.data, out.len, 0, NULL),
                "{'object':'list','model':'gemini-2.5-flash','data':[{'object':'embedding',"
                "'index':0,'embedding':'AAAAPwAAgL4='},{'object':'embedding','index':1,"
                "'embedding':'AACAPwAAAAA='}]}",
                "base64");
    tg_buf_reset(&out);
    ck_assert_int_eq(a->response(&model, TG_EP_EMBEDDINGS, in2, strlen(in2), &u, &out), 0);
    ck_assert_int_eq(u.reported, 1);
    ck_assert_int_eq(u.prompt, 7);
    doc = json_loadb(out.data, out.len, 0, NULL);
    assert_json(json_incref(json_object_get(doc, "usage")), "{'prompt_tokens':7,'total_tokens':7}",
                "usage");
    json_decref(doc);
    tg_buf_reset(&out);
    ck_assert_int_eq(a->response(&model, TG_EP_EMBEDDINGS, "{}", 2, &u, &out), -2);
    free(in);
    free(in2);
    tg_buf_free(&out);
}
END_TEST

/* ---- requests ------------------------------------------------------------------------------ */

START_TEST(request_basic)
{
    assert_request(0,
                   "{'model':'gemini-2.5-flash','messages':["
                   "{'role':'system','content':'Be terse.'},"
                   "{'role':'developer','content':[{'type':'text','text':'No emoji.'}]},"
                   "{'role':'user','content':'Hi'},{'role':'user','content':'there'},"
                   "{'role':'assistant','content':'Hello'},{'role':'user','content':'Bye'}],"
                   "'max_tokens':100,'temperature':0.7,'top_p':0.9,'stop':['END','']}",
                   "{'systemInstruction':{'parts':[{'text':'Be terse.'},{'text':'No emoji.'}]},"
                   "'contents':[{'role':'user','parts':[{'text':'Hi'},{'text':'there'}]},"
                   "{'role':'model','parts':[{'text':'Hello'}]},"
                   "{'role':'user','parts':[{'text':'Bye'}]}],"
                   "'generationConfig':{'maxOutputTokens':100,'temperature':0.7,'topP':0.9,"
                   "'stopSequences':['END']}}",
                   "basic");
    /* max_completion_tokens wins; without either the model's default is used */
    assert_request(1,
                   "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':5,"
                   "'max_completion_tokens':7,'stop':'X','stream':true,"
                   "'stream_options':{'include_usage':true},'seed':3,'user':'u'}",
                   "{'contents':[{'role':'user','parts':[{'text':'Hi'}]}],"
                   "'generationConfig':{'maxOutputTokens':7,'stopSequences':['X']}}",
                   "max_completion_tokens");
    assert_request(0, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}",
                   "{'contents':[{'role':'user','parts':[{'text':'Hi'}]}],"
                   "'generationConfig':{'maxOutputTokens':8192}}",
                   "model default");
}
END_TEST

START_TEST(request_tools)
{
    static const char tools[] =
        "'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather',"
        "'parameters':{'type':'object','properties':{'location':{'type':'string'}}}}},"
        "{'type':'function','function':{'name':'now'}}]";
    static const char decls[] =
        "'tools':[{'functionDeclarations':[{'name':'get_weather','description':'Weather',"
        "'parameters':{'type':'object','properties':{'location':{'type':'string'}}}},"
        "{'name':'now'}]}]";
    char in[2048], want[2048];
    static const struct {
        const char *choice, *config;
    } v[] = {
        {"", ""},
        {",'tool_choice':'auto'", ",'toolConfig':{'functionCallingConfig':{'mode':'AUTO'}}"},
        {",'tool_choice':'required'", ",'toolConfig':{'functionCallingConfig':{'mode':'ANY'}}"},
        {",'tool_choice':'none'", ",'toolConfig':{'functionCallingConfig':{'mode':'NONE'}}"},
        {",'tool_choice':{'type':'function','function':{'name':'now'}}",
         ",'toolConfig':{'functionCallingConfig':{'mode':'ANY','allowedFunctionNames':['now']}}"},
    };

    prov.base_url = "https://x/v1beta";
    model.max_output_tokens = 0;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(in, sizeof(in), "{'model':'m','messages':[{'role':'user','content':'Hi'}],%s%s}",
                 tools, v[i].choice);
        snprintf(want, sizeof(want), "{'contents':[{'role':'user','parts':[{'text':'Hi'}]}],%s%s}",
                 decls, v[i].config);
        assert_request(0, in, want, v[i].choice);
    }
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],"
                   "'tools':[{'type':'function','function':{'name':'a'}}],'tool_choice':'maybe'}",
                   "bad tool_choice");
}
END_TEST

START_TEST(request_tool_calls_and_results)
{
    model.max_output_tokens = 0;
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':'Weather in Paris?'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "{'id':'call_a','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'location\\':\\'Paris\\'}'}},"
        "{'id':'call_b','type':'function','function':{'name':'now','arguments':''}}]},"
        "{'role':'tool','tool_call_id':'call_a','content':'{\\'temp\\':21}'},"
        "{'role':'tool','tool_call_id':'call_b','content':'noon'},"
        "{'role':'user','content':'Thanks'}]}",
        "{'contents':[{'role':'user','parts':[{'text':'Weather in Paris?'}]},"
        "{'role':'model','parts':[{'functionCall':{'name':'get_weather','args':{'location':'Paris'}"
        "}},"
        "{'functionCall':{'name':'now','args':{}}}]},"
        "{'role':'user','parts':[{'functionResponse':{'name':'get_weather','response':{'temp':21}}}"
        ","
        "{'functionResponse':{'name':'now','response':{'content':'noon'}}},{'text':'Thanks'}]}]}",
        "tool calls and results");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'},"
                   "{'role':'tool','tool_call_id':'nope','content':'x'}]}",
                   "unknown tool_call_id");
    assert_refused("{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c',"
                   "'type':'function','function':{'name':'f','arguments':'[1]'}}]}]}",
                   "arguments not an object");
}
END_TEST

START_TEST(request_images_and_formats)
{
    model.max_output_tokens = 0;
    assert_request(
        0,
        "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':"
        "'What is this?'},{'type':'image_url','image_url':{'url':"
        "'data:image/png;base64,iVBORw0K'}}]}],'response_format':{'type':'json_object'}}",
        "{'contents':[{'role':'user','parts':[{'text':'What is this?'},"
        "{'inlineData':{'mimeType':'image/png','data':'iVBORw0K'}}]}],"
        "'generationConfig':{'responseMimeType':'application/json'}}",
        "image and json_object");
    assert_request(0,
                   "{'model':'m','messages':[{'role':'user','content':'Hi'}],'response_format':"
                   "{'type':'json_schema','json_schema':{'name':'a','schema':{'type':'object'}}}}",
                   "{'contents':[{'role':'user','parts':[{'text':'Hi'}]}],"
                   "'generationConfig':{'responseMimeType':'application/json',"
                   "'responseJsonSchema':{'type':'object'}}}",
                   "json_schema");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
                   "'image_url':{'url':'https://example.com/a.png'}}]}]}",
                   "http image");
}
END_TEST

START_TEST(request_refusals)
{
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],'n':2}", "n > 1");
    assert_refused("{'model':'m','messages':[{'role':'wizard','content':'Hi'}]}", "role");
    assert_refused("{'model':'m','messages':[{'role':'system','content':'Hi'}]}", "no contents");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],'stop':3}", "stop");
    assert_refused("{'model':'m'}", "no messages");
}
END_TEST

/* ---- answers ------------------------------------------------------------------------------- */

START_TEST(response_text)
{
    tg_usage_t u;
    json_t *doc = run_response(
        "{'candidates':[{'content':{'parts':[{'text':'Hello '},{'text':'world'}],'role':'model'},"
        "'finishReason':'STOP','index':0}],'usageMetadata':{'promptTokenCount':10,"
        "'candidatesTokenCount':2,'totalTokenCount':12,'cachedContentTokenCount':4},"
        "'modelVersion':'gemini-2.5-flash-001','responseId':'r1'}",
        &u);

    assert_json(doc,
                "{'id':'chatcmpl-r1','object':'chat.completion','model':'gemini-2.5-flash-001',"
                "'choices':[{'index':0,'message':{'role':'assistant','content':'Hello world',"
                "'refusal':null},'logprobs':null,'finish_reason':'stop'}],"
                "'usage':{'prompt_tokens':10,'completion_tokens':2,'total_tokens':12,"
                "'prompt_tokens_details':{'cached_tokens':4},"
                "'completion_tokens_details':{'reasoning_tokens':0}}}",
                "text");
    ck_assert_int_eq(u.reported, 1);
    ck_assert_int_eq(u.prompt, 10);
    ck_assert_int_eq(u.completion, 2);
    ck_assert_int_eq(u.cached, 4);
}
END_TEST

START_TEST(response_function_call)
{
    tg_usage_t u;
    json_t *doc = run_response(
        "{'candidates':[{'content':{'parts':[{'functionCall':{'name':'get_weather','args':"
        "{'location':'Paris'}}},{'functionCall':{'name':'now','args':{}}}],'role':'model'},"
        "'finishReason':'STOP','index':0}],'usageMetadata':{'promptTokenCount':20},"
        "'modelVersion':'g','responseId':'r2'}",
        &u);

    assert_json(doc,
                "{'id':'chatcmpl-r2','object':'chat.completion','model':'g',"
                "'choices':[{'index':0,'message':{'role':'assistant','content':null,"
                "'refusal':null,'tool_calls':["
                "{'id':'call_0','type':'function','function':{'name':'get_weather',"
                "'arguments':'{\\'location\\':\\'Paris\\'}'}},"
                "{'id':'call_1','type':'function','function':{'name':'now','arguments':'{}'}}]},"
                "'logprobs':null,'finish_reason':'tool_calls'}],"
                "'usage':{'prompt_tokens':20,'completion_tokens':0,'total_tokens':20,"
                "'prompt_tokens_details':{'cached_tokens':0},"
                "'completion_tokens_details':{'reasoning_tokens':0}}}",
                "function call");
    ck_assert_int_eq(u.completion, 0);
}
END_TEST

START_TEST(response_finish_reasons)
{
    static const struct {
        const char *gemini, *openai;
    } v[] = {{"STOP", "stop"},
             {"MAX_TOKENS", "length"},
             {"SAFETY", "content_filter"},
             {"RECITATION", "content_filter"},
             {"BLOCKLIST", "content_filter"},
             {"PROHIBITED_CONTENT", "content_filter"},
             {"OTHER", "stop"}};
    char in[512];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        tg_usage_t u;
        json_t *doc;
        snprintf(in, sizeof(in),
                 "{'candidates':[{'content':{'parts':[{'text':'x'}],'role':'model'},"
                 "'finishReason':'%s','index':0}],'responseId':'r'}",
                 v[i].gemini);
        doc = run_response(in, &u);
        ck_assert_int_eq(u.reported, 0);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(doc, "choices"), 0), "finish_reason")),
                         v[i].openai);
        json_decref(doc);
    }
}
END_TEST

START_TEST(response_invalid)
{
    tg_usage_t u;
    tg_buf_t out = {0};

    ck_assert_int_eq(
        tg_adapter_for(TG_PROVIDER_GEMINI)->response(&model, TG_EP_CHAT, "nope", 4, &u, &out), -2);
    ck_assert_uint_eq(out.len, 0);
    tg_buf_free(&out);
}
END_TEST

START_TEST(error_mapping)
{
    static const struct {
        const char *in, *want;
    } v[] = {
        {"{'error':{'code':429,'message':'Quota','status':'RESOURCE_EXHAUSTED'}}",
         "{'error':{'message':'Quota','type':'rate_limit_error','param':null,"
         "'code':'rate_limit_exceeded'}}"},
        {"{'error':{'code':400,'message':'Bad','status':'INVALID_ARGUMENT'}}",
         "{'error':{'message':'Bad','type':'invalid_request_error','param':null,'code':null}}"},
        {"{'error':{'code':400,'message':'API key not valid. Please pass a valid API key.',"
         "'status':'INVALID_ARGUMENT'}}",
         "{'error':{'message':'API key not valid. Please pass a valid API key.',"
         "'type':'server_error','param':null,'code':'upstream_auth_failed'}}"},
        {"[{'error':{'code':404,'message':'No model','status':'NOT_FOUND'}}]",
         "{'error':{'message':'No model','type':'invalid_request_error','param':null,"
         "'code':'upstream_not_found'}}"},
        {"{'error':{'code':503,'message':'Busy','status':'UNAVAILABLE'}}",
         "{'error':{'message':'Busy','type':'server_error','param':null,"
         "'code':'upstream_overloaded'}}"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *in = dq(v[i].in);
        tg_buf_t out = {0};
        ck_assert_int_eq(tg_adapter_for(TG_PROVIDER_GEMINI)->error(NULL, in, strlen(in), &out), 0);
        assert_json(json_loadb(out.data, out.len, 0, NULL), v[i].want, v[i].in);
        tg_buf_free(&out);
        free(in);
    }
    {
        tg_buf_t out = {0};
        ck_assert_int_eq(tg_adapter_for(TG_PROVIDER_GEMINI)->error(NULL, "{\"x\":1}", 7, &out), -1);
        tg_buf_free(&out);
    }
}
END_TEST

/* ---- streams ------------------------------------------------------------------------------- */

START_TEST(stream_text_usage_not_summed)
{
    tg_stream_state_t st = {0};

    st.client_wants_usage = 1;
    feed_expect(&st, "first",
                EV("[{'text':'Hello'}]", "") ",'usageMetadata':{'promptTokenCount':10,"
                                             "'candidatesTokenCount':1,'totalTokenCount':11}}",
                TG_EVENT_FORWARD,
                "[" CHUNK("{'role':'assistant','content':''}",
                          "null") "," CHUNK("{'content':'Hello'}", "null") "]");
    ck_assert_int_eq(st.usage.completion, 1);
    feed_expect(&st, "second",
                EV("[{'text':' world'}]", "") ",'usageMetadata':{'promptTokenCount':10,"
                                              "'candidatesTokenCount':2,'totalTokenCount':12}}",
                TG_EVENT_FORWARD, "[" CHUNK("{'content':' world'}", "null") "]");
    ck_assert_int_eq(st.usage.completion, 2); /* the latest, not 1 + 2 */
    feed_expect(&st, "last",
                EV("[{'text':'!'}]",
                   ",'finishReason':'STOP'") ",'usageMetadata':{'promptTokenCount':10,'"
                                             "candidatesTokenCount':3,"
                                             "'totalTokenCount':13,'cachedContentTokenCount':2}}",
                TG_EVENT_DONE,
                "[" CHUNK("{'content':'!'}", "null") "," CHUNK("{}", "'stop'") "," USAGE_CHUNK(
                    "{'prompt_tokens':10,'completion_tokens':3,'total_tokens':13,"
                    "'prompt_tokens_details':{'cached_tokens':2},"
                    "'completion_tokens_details':{'reasoning_tokens':0}}") ",'[DONE]']");
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 10);
    ck_assert_int_eq(st.usage.completion, 3);
    ck_assert_int_eq(st.usage.cached, 2);
    stream_free(&st);
}
END_TEST

START_TEST(stream_no_usage_chunk_unless_asked)
{
    tg_stream_state_t st = {0};

    feed_expect(
        &st, "only",
        EV("[{'text':'Hi'}]", ",'finishReason':'MAX_TOKENS'") ",'usageMetadata':{'promptTokenCount'"
                                                              ":4,'candidatesTokenCount':1}}",
        TG_EVENT_DONE,
        "[" CHUNK("{'role':'assistant','content':''}", "null") "," CHUNK(
            "{'content':'Hi'}", "null") "," CHUNK("{}", "'length'") ",'[DONE]']");
    ck_assert_int_eq(st.usage.completion, 1);
    stream_free(&st);
}
END_TEST

START_TEST(stream_function_call)
{
    tg_stream_state_t st = {0};

    feed_expect(&st, "call",
                EV("[{'functionCall':{'name':'get_weather','args':{'location':'Paris'}}}]",
                   ",'finishReason':'STOP'") ",'usageMetadata':{'promptTokenCount':9,"
                                             "'candidatesTokenCount':14}}",
                TG_EVENT_DONE,
                "[" CHUNK("{'role':'assistant','content':''}", "null") "," CHUNK(
                    "{'tool_calls':[{'index':0,'id':'call_0','type':'function','function':"
                    "{'name':'get_weather','arguments':'{\\'location\\':\\'Paris\\'}'}}]}",
                    "null") "," CHUNK("{}", "'tool_calls'") ",'[DONE]']");
    stream_free(&st);
}
END_TEST

START_TEST(stream_safety)
{
    tg_stream_state_t st = {0};

    st.client_wants_usage = 1;
    feed_expect(
        &st, "blocked",
        "{'candidates':[{'finishReason':'SAFETY','index':0,'safetyRatings':[]}],"
        "'usageMetadata':{'promptTokenCount':7},'modelVersion':'gemini-2.5-flash-001',"
        "'responseId':'r1'}",
        TG_EVENT_DONE,
        "[" CHUNK("{'role':'assistant','content':''}", "null") "," CHUNK(
            "{}", "'content_filter'") "," USAGE_CHUNK("{'prompt_tokens':7,'completion_tokens':0,'"
                                                      "total_tokens':7,"
                                                      "'prompt_tokens_details':{'cached_tokens':0},"
                                                      "'completion_tokens_details':{'reasoning_"
                                                      "tokens':0}}") ",'[DONE]']");
    stream_free(&st);
}
END_TEST

START_TEST(stream_error_and_garbage)
{
    tg_stream_state_t st = {0};

    feed_dropped(&st, "garbage", "not json");
    feed_expect(&st, "error", "{'error':{'code':503,'message':'Busy','status':'UNAVAILABLE'}}",
                TG_EVENT_FORWARD,
                "[{'error':{'message':'Busy','type':'server_error','param':null,"
                "'code':'upstream_overloaded'}}]");
    stream_free(&st);
    stream_free(&st); /* twice, and on a stream that saw nothing */
}
END_TEST

static Suite *provider_gemini_suite(void)
{
    Suite *s = suite_create("provider_gemini");
    TCase *tc = tcase_create("heads");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, adapter_lookup);
    tcase_add_test(tc, h1_heads);
    tcase_add_test(tc, h1_port_and_path);
    tcase_add_test(tc, h2_headers);
    tcase_add_test(tc, other_endpoints_refused);
    tcase_add_test(tc, embed_request);
    tcase_add_test(tc, embed_request_refused);
    tcase_add_test(tc, embed_response);
    suite_add_tcase(s, tc);
    tc = tcase_create("requests");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, request_basic);
    tcase_add_test(tc, request_tools);
    tcase_add_test(tc, request_tool_calls_and_results);
    tcase_add_test(tc, request_images_and_formats);
    tcase_add_test(tc, request_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("answers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, response_text);
    tcase_add_test(tc, response_function_call);
    tcase_add_test(tc, response_finish_reasons);
    tcase_add_test(tc, response_invalid);
    tcase_add_test(tc, error_mapping);
    suite_add_tcase(s, tc);
    tc = tcase_create("streams");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stream_text_usage_not_summed);
    tcase_add_test(tc, stream_no_usage_chunk_unless_asked);
    tcase_add_test(tc, stream_function_call);
    tcase_add_test(tc, stream_safety);
    tcase_add_test(tc, stream_error_and_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(provider_gemini_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
