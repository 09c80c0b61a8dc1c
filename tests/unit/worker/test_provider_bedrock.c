/*
 * Unit tests for worker/provider_bedrock*.c, written from AWS's Converse API reference: OpenAI
 * chat requests become Converse bodies (system, alternating turns, toolUse/toolResult blocks,
 * images, inferenceConfig, toolConfig) at /model/<escaped id>/converse(-stream), signed with
 * SigV4 over exactly the host, path, date and body that are sent (with a fixed clock); Converse
 * answers, ConverseStream events and Bedrock errors come back in OpenAI's shapes with usage.
 * Fixtures are compared as JSON values; in fixtures, ' stands for ".
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shared/tg_sigv4.h"
#include "tests/unit/worker/provider_fixture.h"
#include "worker/provider.h"
#include "worker/provider_bedrock.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define MODEL_ID "anthropic.claude-3-haiku-20240307-v1:0"
#define HOST "bedrock-runtime.us-east-1.amazonaws.com"

static tg_provider_t prov;
static tg_model_t model;

/* tg_bedrock_set_clock: 2015-08-30T12:36:00Z, the date of AWS's SigV4 examples */
static time_t fixed_now(void)
{
    return (time_t)1440938160;
}

static void setup(void)
{
    memset(&prov, 0, sizeof(prov));
    prov.name = "aws";
    prov.kind = TG_PROVIDER_BEDROCK;
    prov.base_url = "https://" HOST;
    prov.region = "us-east-1";
    prov.aws_access_key_id = AKID;
    prov.aws_secret_access_key = SECRET;
    memset(&model, 0, sizeof(model));
    model.name = "haiku";
    model.upstream_model = MODEL_ID;
    model.provider = &prov;
    model.max_output_tokens = 0;
    tg_bedrock_set_clock(fixed_now);
}

static void teardown(void)
{
    fx_teardown(&prov);
    tg_bedrock_set_clock(NULL);
}

static const tg_adapter_t *adapter(void)
{
    return tg_adapter_for(TG_PROVIDER_BEDROCK);
}

/* Run prepare on an OpenAI request fixture; returns its rc. */
static int prepare(int stream, const char *openai, tg_buf_t *body, tg_xfer_t *x, tg_buf_t *url)
{
    memset(url, 0, sizeof(*url));
    memset(x, 0, sizeof(*x));
    return fx_prepare(&model, TG_EP_CHAT, stream, openai, body, x, url);
}

static void release(tg_buf_t *body, tg_xfer_t *x, tg_buf_t *url)
{
    free(x->owned);
    tg_buf_free(body);
    tg_buf_free(url);
}

/* Translate an OpenAI request and compare the Converse body with the golden one. */
static void assert_request(const char *openai, const char *converse, const char *what)
{
    tg_buf_t body, url;
    tg_xfer_t x;
    json_t *got;

    ck_assert_msg(prepare(0, openai, &body, &x, &url) == 0, "%s: prepare failed: %s", what,
                  x.errbuf);
    got = json_loadb(body.data, body.len, 0, NULL);
    ck_assert_msg(got != NULL, "%s: body is not JSON: %s", what, body.data);
    assert_json(got, converse, what);
    release(&body, &x, &url);
}

/* prepare must refuse this request as one Bedrock cannot serve (-2), saying why. */
static void assert_refused(const char *openai, const char *what)
{
    tg_buf_t body, url;
    tg_xfer_t x;

    ck_assert_msg(prepare(0, openai, &body, &x, &url) == -2, "%s: accepted", what);
    ck_assert_msg(x.errbuf[0] != '\0', "%s: refused without a reason", what);
    release(&body, &x, &url);
}

/* The value of header name in a CRLF head (NULL if absent), copied into buf. */
static const char *header(const char *head, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    const char *l = head, *end;

    while ((end = strstr(l, "\r\n")) != NULL) {
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            snprintf(buf, size, "%.*s", (int)(end - l - n - 2), l + n + 2);
            return buf;
        }
        l = end + 2;
    }
    return NULL;
}

/* The chat.completion(.chunk) id must be Bedrock's generated one; it is removed for comparison. */
static void take_id(json_t *doc)
{
    const char *id = json_string_value(json_object_get(doc, "id"));

    ck_assert_msg(id != NULL && strncmp(id, "chatcmpl-bedrock-", 17) == 0, "id %s", id);
    json_object_del(doc, "id");
}

/* ---- adapter -------------------------------------------------------------------------------- */

START_TEST(adapter_lookup)
{
    const tg_adapter_t *a = adapter();

    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->kind, "bedrock");
    ck_assert_uint_eq(a->endpoints, 1u << TG_EP_CHAT);
    ck_assert_int_eq(a->framing, TG_FRAMING_EVSTREAM);
    ck_assert_ptr_nonnull(a->error);
    ck_assert_ptr_nonnull(a->stream_free);
    ck_assert_int_eq(tg_adapter_for(TG_PROVIDER_GEMINI)->framing, TG_FRAMING_SSE);
}
END_TEST

/* ---- URLs and the signed head --------------------------------------------------------------- */

#define LINE1                                                                                      \
    "POST /model/anthropic.claude-3-haiku-20240307-v1%3A0/converse HTTP/1.1\r\nHost: " HOST "\r\n"

START_TEST(url_escapes_the_model_id)
{
    tg_buf_t body, url;
    tg_xfer_t x;

    ck_assert_int_eq(
        prepare(0, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_str_eq(url.data, "https://" HOST
                               ":443/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    ck_assert_str_eq(x.h1_origin, "https://" HOST ":443");
    ck_assert_int_eq(strncmp(x.h1_head, LINE1, strlen(LINE1)), 0);
    release(&body, &x, &url);
    /* an inference profile ARN: ':' and '/' are escaped inside the one path segment */
    model.upstream_model = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                           "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    ck_assert_int_eq(
        prepare(1, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_str_eq(url.data, "https://" HOST ":443/model/"
                               "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
                               "%2Fus.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream");
    release(&body, &x, &url);
}
END_TEST

/*
 * The head carries X-Amz-Date from the clock and an Authorization that is the SigV4 signature of
 * exactly what is sent: the request line's path, the Host line, the Content-Type line, the date
 * and the body. Recomputed here from those sent bytes.
 */
START_TEST(head_is_signed_over_what_is_sent)
{
    tg_buf_t body, url, want = {0};
    tg_xfer_t x;
    char date[64], host[128], ctype[64], authz[512], path[256], hash[65];
    const char *sp;
    tg_sigv4_key_t k;

    memset(&k, 0, sizeof(k));
    ck_assert_int_eq(
        prepare(1, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_ptr_nonnull(header(x.h1_head, "X-Amz-Date", date, sizeof(date)));
    ck_assert_str_eq(date, "20150830T123600Z");
    ck_assert_ptr_nonnull(header(x.h1_head, "Host", host, sizeof(host)));
    ck_assert_ptr_nonnull(header(x.h1_head, "Content-Type", ctype, sizeof(ctype)));
    ck_assert_ptr_nonnull(header(x.h1_head, "Authorization", authz, sizeof(authz)));
    ck_assert_ptr_null(header(x.h1_head, "X-Amz-Security-Token", path, sizeof(path)));
    ck_assert_str_eq(header(x.h1_head, "Accept", path, sizeof(path)),
                     "application/vnd.amazon.eventstream");
    sp = strchr(x.h1_head + 5, ' ');
    snprintf(path, sizeof(path), "%.*s", (int)(sp - x.h1_head - 5), x.h1_head + 5);
    tg_sigv4_sha256_hex(body.data, body.len, hash);
    {
        tg_sigv4_header_t h[] = {{"host", host}, {"content-type", ctype}, {"x-amz-date", date}};
        tg_sigv4_request_t r = {"POST", path, NULL, h, 3, hash};

        ck_assert_int_eq(tg_sigv4_derive(&k, SECRET, "20150830", "us-east-1", "bedrock"), 0);
        ck_assert_int_eq(tg_sigv4_authorization(&k, AKID, "us-east-1", "bedrock", date, &r, &want),
                         0);
    }
    ck_assert_str_eq(authz, want.data);
    ck_assert_ptr_nonnull(strstr(authz,
                                 "Credential=" AKID "/20150830/us-east-1/bedrock/aws4_request, "
                                 "SignedHeaders=content-type;host;x-amz-date, Signature="));
    ck_assert_ptr_null(strstr(x.h1_head, SECRET)); /* the secret itself never travels */
    tg_buf_free(&want);
    release(&body, &x, &url);
}
END_TEST

START_TEST(session_token_is_sent_and_signed)
{
    tg_buf_t body, url;
    tg_xfer_t x;
    char v[512];

    prov.aws_session_token = "FQoGZXIvYXdzEXAMPLE";
    ck_assert_int_eq(
        prepare(0, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_str_eq(header(x.h1_head, "X-Amz-Security-Token", v, sizeof(v)),
                     "FQoGZXIvYXdzEXAMPLE");
    ck_assert_ptr_nonnull(
        strstr(header(x.h1_head, "Authorization", v, sizeof(v)),
               "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));
    release(&body, &x, &url);
}
END_TEST

START_TEST(api_key_is_a_bearer_token_and_sigv4_wins)
{
    tg_buf_t body, url;
    tg_xfer_t x;
    char v[512];

    prov.api_key = "ABSKbedrock-api-key";
    ck_assert_int_eq(
        prepare(0, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_int_eq(
        strncmp(header(x.h1_head, "Authorization", v, sizeof(v)), "AWS4-HMAC-SHA256 ", 17), 0);
    release(&body, &x, &url);
    prov.aws_access_key_id = NULL;
    prov.aws_secret_access_key = NULL;
    ck_assert_int_eq(
        prepare(0, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_str_eq(header(x.h1_head, "Authorization", v, sizeof(v)),
                     "Bearer ABSKbedrock-api-key");
    ck_assert_ptr_null(header(x.h1_head, "X-Amz-Date", v, sizeof(v)));
    release(&body, &x, &url);
}
END_TEST

START_TEST(http2_providers_get_curl_headers)
{
    tg_buf_t body, url;
    tg_xfer_t x;
    int host = 0, auth = 0, date = 0;

    prov.http2 = 1;
    ck_assert_int_eq(
        prepare(0, "{'model':'m','messages':[{'role':'user','content':'Hi'}]}", &body, &x, &url),
        0);
    ck_assert_ptr_null(x.h1_origin);
    ck_assert_ptr_null(x.owned);
    for (struct curl_slist *l = x.headers; l != NULL; l = l->next) {
        host += strcmp(l->data, "Host: " HOST) == 0;
        auth += strncmp(l->data, "Authorization: AWS4-HMAC-SHA256 Credential=", 43) == 0;
        date += strcmp(l->data, "X-Amz-Date: 20150830T123600Z") == 0;
    }
    ck_assert_int_eq(host + auth + date, 3);
    curl_slist_free_all(x.headers);
    release(&body, &x, &url);
}
END_TEST

/* ---- requests (OpenAI -> Converse) ---------------------------------------------------------- */

START_TEST(request_basic)
{
    model.max_output_tokens = 4096;
    assert_request("{'model':'m','messages':[{'role':'system','content':'Be brief.'},"
                   "{'role':'developer','content':[{'type':'text','text':'No emoji.'}]},"
                   "{'role':'user','content':'Hello'}],'temperature':0.7,'top_p':0.9,"
                   "'stop':['END'],'seed':7,'user':'u1','stream_options':{'include_usage':true},"
                   "'sim':{'tokens':3}}",
                   "{'messages':[{'role':'user','content':[{'text':'Hello'}]}],"
                   "'system':[{'text':'Be brief.'},{'text':'No emoji.'}],"
                   "'inferenceConfig':{'maxTokens':4096,'temperature':0.7,'topP':0.9,"
                   "'stopSequences':['END']}}",
                   "system, defaults, unknown fields dropped");
    assert_request("{'model':'m','messages':[{'role':'user','content':'Hello'}],"
                   "'max_completion_tokens':50,'max_tokens':10,'stop':'x'}",
                   "{'messages':[{'role':'user','content':[{'text':'Hello'}]}],"
                   "'inferenceConfig':{'maxTokens':50,'stopSequences':['x']}}",
                   "max_completion_tokens wins");
}
END_TEST

START_TEST(request_turns_merge)
{
    assert_request(
        "{'model':'m','messages':[{'role':'user','content':'One'},"
        "{'role':'user','content':[{'type':'text','text':'Two'},{'type':'text','text':''}]},"
        "{'role':'assistant','content':''},{'role':'user','content':'Three'},"
        "{'role':'assistant','content':[{'type':'text','text':'Ok'},"
        "{'type':'refusal','refusal':'no'}]},{'role':'assistant','content':'Sure'}]}",
        "{'messages':[{'role':'user','content':[{'text':'One'},{'text':'Two'},"
        "{'text':'Three'}]},{'role':'assistant','content':[{'text':'Ok'},"
        "{'text':'Sure'}]}]}",
        "same-role turns merged, empty ones dropped");
}
END_TEST

START_TEST(request_tools_and_choices)
{
    static const char tools[] =
        "'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather',"
        "'parameters':{'type':'object','properties':{'location':{'type':'string'}}}}},"
        "{'type':'function','function':{'name':'now'}}]";
    static const char specs[] =
        "'tools':[{'toolSpec':{'name':'get_weather','description':'Weather','inputSchema':"
        "{'json':{'type':'object','properties':{'location':{'type':'string'}}}}}},"
        "{'toolSpec':{'name':'now','inputSchema':{'json':{'type':'object','properties':{}}}}}]";
    static const struct {
        const char *choice, *config;
    } v[] = {
        {"", ",'toolConfig':{%s,'toolChoice':{'auto':{}}}"},
        {",'tool_choice':'auto'", ",'toolConfig':{%s,'toolChoice':{'auto':{}}}"},
        {",'tool_choice':'required'", ",'toolConfig':{%s,'toolChoice':{'any':{}}}"},
        {",'tool_choice':{'type':'function','function':{'name':'now'}}",
         ",'toolConfig':{%s,'toolChoice':{'tool':{'name':'now'}}}"},
        {",'tool_choice':'none'", ""},
    };
    char in[2048], want[2048], config[1024];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(in, sizeof(in), "{'model':'m','messages':[{'role':'user','content':'Hi'}],%s%s}",
                 tools, v[i].choice);
        snprintf(config, sizeof(config), v[i].config, specs);
        snprintf(want, sizeof(want), "{'messages':[{'role':'user','content':[{'text':'Hi'}]}]%s}",
                 config);
        assert_request(in, want, v[i].choice);
    }
    /* none with tool blocks in the conversation: Converse requires the tools, without a choice */
    snprintf(in, sizeof(in),
             "{'model':'m','tool_choice':'none',%s,'messages':[{'role':'user','content':'Hi'},"
             "{'role':'assistant','tool_calls':[{'id':'t1','type':'function','function':"
             "{'name':'now','arguments':''}}]},{'role':'tool','tool_call_id':'t1',"
             "'content':'noon'}]}",
             tools);
    snprintf(want, sizeof(want),
             "{'messages':[{'role':'user','content':[{'text':'Hi'}]},{'role':'assistant',"
             "'content':[{'toolUse':{'toolUseId':'t1','name':'now','input':{}}}]},"
             "{'role':'user','content':[{'toolResult':{'toolUseId':'t1','content':"
             "[{'text':'noon'}]}}]}],'toolConfig':{%s}}",
             specs);
    assert_request(in, want, "none with tool history");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],"
                   "'tools':[{'type':'function','function':{'name':'a'}}],'tool_choice':'maybe'}",
                   "bad tool_choice");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],"
                   "'tools':[{'type':'code_interpreter'}]}",
                   "non-function tool");
}
END_TEST

START_TEST(request_tool_calls_and_results)
{
    assert_request(
        "{'model':'m','messages':[{'role':'user','content':'Weather in Paris?'},"
        "{'role':'assistant','content':'Checking.','tool_calls':["
        "{'id':'tooluse_a','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'location\\':\\'Paris\\'}'}},"
        "{'id':'tooluse_b','type':'function','function':{'name':'now','arguments':' '}}]},"
        "{'role':'tool','tool_call_id':'tooluse_a','content':'{\\'temp\\':21}'},"
        "{'role':'user','content':'Thanks'},"
        "{'role':'tool','tool_call_id':'tooluse_b','content':[{'type':'text','text':'noon'}]}]}",
        "{'messages':[{'role':'user','content':[{'text':'Weather in Paris?'}]},"
        "{'role':'assistant','content':[{'text':'Checking.'},"
        "{'toolUse':{'toolUseId':'tooluse_a','name':'get_weather','input':{'location':'Paris'}}},"
        "{'toolUse':{'toolUseId':'tooluse_b','name':'now','input':{}}}]},"
        "{'role':'user','content':[{'toolResult':{'toolUseId':'tooluse_a','content':"
        "[{'json':{'temp':21}}]}},{'toolResult':{'toolUseId':'tooluse_b','content':"
        "[{'text':'noon'}]}},{'text':'Thanks'}]}]}",
        "tool calls, results first in their user turn");
    assert_request("{'model':'m','messages':[{'role':'user','content':'Go'},"
                   "{'role':'assistant','tool_calls':[{'id':'t1','type':'function','function':"
                   "{'name':'f','arguments':'{}'}}]},{'role':'tool','tool_call_id':'t1',"
                   "'content':''}]}",
                   "{'messages':[{'role':'user','content':[{'text':'Go'}]},{'role':'assistant',"
                   "'content':[{'toolUse':{'toolUseId':'t1','name':'f','input':{}}}]},"
                   "{'role':'user','content':[{'toolResult':{'toolUseId':'t1','content':"
                   "[{'json':{}}]}}]}]}",
                   "an empty tool result is not a blank text block");
    assert_refused("{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c',"
                   "'type':'function','function':{'name':'f','arguments':'[1]'}}]}]}",
                   "arguments not an object");
    assert_refused("{'model':'m','messages':[{'role':'assistant','tool_calls':[{"
                   "'type':'function','function':{'name':'f','arguments':'{}'}}]}]}",
                   "a call without an id");
    assert_refused("{'model':'m','messages':[{'role':'tool','content':'x'}]}", "no tool_call_id");
}
END_TEST

START_TEST(request_images)
{
    assert_request(
        "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'What?'},"
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0K'}},"
        "{'type':'image_url','image_url':{'url':'data:image/jpeg;base64,/9j/4AAQ','detail':'low'}},"
        "{'type':'image_url','image_url':'data:image/webp;base64,UklGRg=='}]}]}",
        "{'messages':[{'role':'user','content':[{'text':'What?'},"
        "{'image':{'format':'png','source':{'bytes':'iVBORw0K'}}},"
        "{'image':{'format':'jpeg','source':{'bytes':'/9j/4AAQ'}}},"
        "{'image':{'format':'webp','source':{'bytes':'UklGRg=='}}}]}]}",
        "images");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
                   "'image_url':{'url':'https://example.com/a.png'}}]}]}",
                   "http image");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
                   "'image_url':{'url':'data:image/bmp;base64,Qk0='}}]}]}",
                   "bmp image");
    assert_refused("{'model':'m','messages':[{'role':'system','content':[{'type':'image_url',"
                   "'image_url':{'url':'data:image/png;base64,iVBO'}}]},"
                   "{'role':'user','content':'Hi'}]}",
                   "image in system");
}
END_TEST

START_TEST(request_response_format_is_an_instruction)
{
    tg_buf_t body, url;
    tg_xfer_t x;
    json_t *got, *sys;

    ck_assert_int_eq(prepare(0,
                             "{'model':'m','messages':[{'role':'system','content':'Be brief.'},"
                             "{'role':'user','content':'Hi'}],'response_format':{'type':"
                             "'json_schema','json_schema':{'name':'pt','schema':{'type':"
                             "'object'}}}}",
                             &body, &x, &url),
                     0);
    got = json_loadb(body.data, body.len, 0, NULL);
    sys = json_object_get(got, "system");
    ck_assert_uint_eq(json_array_size(sys), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sys, 0), "text")),
                     "Be brief.");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(sys, 1), "text")),
                                 "conforms to this JSON Schema (pt):\n{\"type\":\"object\"}"));
    ck_assert_ptr_null(json_object_get(got, "response_format"));
    json_decref(got);
    release(&body, &x, &url);
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],"
                   "'response_format':{'type':'yaml'}}",
                   "unknown response_format");
}
END_TEST

START_TEST(request_refusals)
{
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],'n':2}", "n > 1");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],"
                   "'functions':[{'name':'f'}]}",
                   "legacy functions");
    assert_refused("{'model':'m','messages':[{'role':'wizard','content':'Hi'}]}", "role");
    assert_refused("{'model':'m','messages':[{'role':'system','content':'Hi'}]}", "no turns");
    assert_refused("{'model':'m','messages':[{'role':'user','content':'Hi'}],'stop':3}", "stop");
    assert_refused("{'model':'m'}", "no messages");
}
END_TEST

/* ---- answers (Converse -> OpenAI) ----------------------------------------------------------- */

/* Translate a Converse answer; returns the OpenAI body with created and id checked and removed. */
static json_t *run_response(const char *converse, tg_usage_t *usage)
{
    char *in = dq(converse);
    tg_buf_t out = {0};
    json_t *doc;

    ck_assert_int_eq(adapter()->response(&model, TG_EP_CHAT, in, strlen(in), usage, &out), 0);
    doc = json_loadb(out.data, out.len, 0, NULL);
    ck_assert_msg(doc != NULL, "response is not JSON: %s", out.data);
    fx_take_created(doc);
    take_id(doc);
    free(in);
    tg_buf_free(&out);
    return doc;
}

START_TEST(response_text_with_cache_usage)
{
    tg_usage_t u;

    assert_json(
        run_response("{'output':{'message':{'role':'assistant','content':[{'reasoningContent':"
                     "{'reasoningText':{'text':'hmm','signature':'s'}}},{'text':'Hello'},"
                     "{'text':' there'}]}},'stopReason':'end_turn','usage':{'inputTokens':12,"
                     "'outputTokens':5,'totalTokens':37,'cacheReadInputTokens':15,"
                     "'cacheWriteInputTokens':5},'metrics':{'latencyMs':321}}",
                     &u),
        "{'object':'chat.completion','model':'" MODEL_ID "','choices':[{'index':0,"
        "'message':{'role':'assistant','content':'Hello there','refusal':null},"
        "'logprobs':null,'finish_reason':'stop'}],'usage':{'prompt_tokens':32,"
        "'completion_tokens':5,'total_tokens':37,'prompt_tokens_details':{'cached_tokens':15,"
        "'cache_write_tokens':5}}}",
        "text, reasoning dropped, cache reads and writes");
    ck_assert_int_eq(u.reported, 1);
    ck_assert_int_eq(u.prompt, 32);
    ck_assert_int_eq(u.cached, 15);
    ck_assert_int_eq(u.cache_write, 5);
    ck_assert_int_eq(u.completion, 5);
}
END_TEST

START_TEST(response_tool_use)
{
    tg_usage_t u;

    assert_json(
        run_response("{'output':{'message':{'role':'assistant','content':[{'text':'Let me check.'},"
                     "{'toolUse':{'toolUseId':'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q','name':"
                     "'get_weather','input':{'location':'Paris','days':2.5}}}]}},"
                     "'stopReason':'tool_use','usage':{'inputTokens':30,'outputTokens':20,"
                     "'totalTokens':50}}",
                     &u),
        "{'object':'chat.completion','model':'" MODEL_ID "','choices':[{'index':0,"
        "'message':{'role':'assistant','content':'Let me check.','refusal':null,'tool_calls':"
        "[{'id':'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q','type':'function','function':{'name':"
        "'get_weather','arguments':'{\\'location\\':\\'Paris\\',\\'days\\':2.5}'}}]},"
        "'logprobs':null,'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':30,"
        "'completion_tokens':20,'total_tokens':50,'prompt_tokens_details':{'cached_tokens':0}}}",
        "tool use");
}
END_TEST

START_TEST(response_stop_reasons)
{
    static const struct {
        const char *stop, *finish;
    } v[] = {{"end_turn", "stop"},
             {"stop_sequence", "stop"},
             {"max_tokens", "length"},
             {"guardrail_intervened", "content_filter"},
             {"content_filtered", "content_filter"},
             {"tool_use", "stop"}};
    char in[512];
    tg_usage_t u;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        json_t *doc;

        snprintf(in, sizeof(in),
                 "{'output':{'message':{'role':'assistant','content':[{'text':'x'}]}},"
                 "'stopReason':'%s'}",
                 v[i].stop);
        doc = run_response(in, &u);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(doc, "choices"), 0), "finish_reason")),
                         v[i].finish);
        ck_assert_ptr_null(json_object_get(doc, "usage"));
        ck_assert_int_eq(u.reported, 0);
        json_decref(doc);
    }
}
END_TEST

START_TEST(response_unreadable)
{
    tg_buf_t out = {0};
    tg_usage_t u;

    ck_assert_int_eq(adapter()->response(&model, TG_EP_CHAT, "{\"output\":{}}", 13, &u, &out), -2);
    ck_assert_int_eq(adapter()->response(&model, TG_EP_CHAT, "nope", 4, &u, &out), -2);
    ck_assert_uint_eq(out.len, 0);
    tg_buf_free(&out);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------------- */

static void assert_error(const char *type, long status, const char *body, const char *want)
{
    tg_xfer_t x;
    tg_buf_t out = {0};
    char *b = dq(body);

    memset(&x, 0, sizeof(x));
    x.status = status;
    snprintf(x.error_type, sizeof(x.error_type), "%s", type);
    ck_assert_int_eq(adapter()->error(&x, b, strlen(b), &out), 0);
    assert_json(json_loadb(out.data, out.len, 0, NULL), want, type);
    free(b);
    tg_buf_free(&out);
}

START_TEST(errors_map_to_openai_shapes)
{
    tg_buf_t out = {0};

    assert_error("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", 429,
                 "{'message':'Too many requests, please wait before trying again.'}",
                 "{'error':{'message':'Too many requests, please wait before trying again.',"
                 "'type':'rate_limit_error','param':null,'code':'rate_limit_exceeded'}}");
    assert_error("ValidationException", 400,
                 "{'message':'The provided model identifier is invalid.'}",
                 "{'error':{'message':'The provided model identifier is invalid.',"
                 "'type':'invalid_request_error','param':null,'code':null}}");
    assert_error("ResourceNotFoundException", 404, "{'message':'Model not found.'}",
                 "{'error':{'message':'Model not found.','type':'invalid_request_error',"
                 "'param':null,'code':'upstream_not_found'}}");
    assert_error("ModelErrorException", 424,
                 "{'message':'The model failed.','originalStatusCode':500,'resourceName':'x'}",
                 "{'error':{'message':'The model failed.','type':'server_error','param':null,"
                 "'code':'upstream_model_error'}}");
    assert_error("ModelNotReadyException", 429, "{'message':'Not ready.'}",
                 "{'error':{'message':'Not ready.','type':'rate_limit_error','param':null,"
                 "'code':'upstream_model_not_ready'}}");
    assert_error("InvalidSignatureException", 403,
                 "{'message':'The request signature we calculated does not match the signature you "
                 "provided.'}",
                 "{'error':{'message':'The request signature we calculated does not match the "
                 "signature you provided.','type':'server_error','param':null,"
                 "'code':'upstream_auth_failed'}}");
    /* no header: the body's __type, then the status */
    assert_error(
        "", 400, "{'__type':'com.amazon.coral.validate#ValidationException','message':'m'}",
        "{'error':{'message':'m','type':'invalid_request_error','param':null,'code':null}}");
    assert_error("", 429, "{'message':'slow down'}",
                 "{'error':{'message':'slow down','type':'rate_limit_error','param':null,"
                 "'code':'rate_limit_exceeded'}}");
    /* not Bedrock's shape */
    ck_assert_int_eq(adapter()->error(NULL, "{\"error\":{\"message\":\"x\"}}", 25, &out), -1);
    ck_assert_int_eq(adapter()->error(NULL, "<html>", 6, &out), -1);
    tg_buf_free(&out);
}
END_TEST

/* ---- streams (ConverseStream -> OpenAI chunks) ---------------------------------------------- */

typedef struct {
    tg_event_action_t action;
    json_t *events;
} ev_t;

/* Feed one ConverseStream event (its :event-type and JSON payload) to the adapter. */
static ev_t feed(tg_stream_state_t *st, const char *name, const char *data)
{
    char *d = dq(data);
    tg_buf_t out = {0};
    ev_t r;
    size_t i;
    json_t *e;

    r.action = adapter()->event(st, name, d, strlen(d), d, strlen(d), &out);
    r.events = fx_split_sse(&out);
    json_array_foreach(r.events, i, e)
    {
        if (json_is_object(e) && json_object_get(e, "id") != NULL)
            take_id(e);
    }
    if (r.action == TG_EVENT_DROP)
        ck_assert_uint_eq(out.len, 0);
    free(d);
    tg_buf_free(&out);
    return r;
}

static void feed_expect(tg_stream_state_t *st, const char *name, const char *data,
                        tg_event_action_t action, const char *want)
{
    ev_t r = feed(st, name, data);

    ck_assert_msg(r.action == action, "%s: action %d, want %d", name, r.action, action);
    assert_json(r.events, want, name);
}

static void feed_dropped(tg_stream_state_t *st, const char *name, const char *data)
{
    feed_expect(st, name, data, TG_EVENT_DROP, "[]");
}

#define CHUNK(delta, finish)                                                                       \
    "{'object':'chat.completion.chunk','model':'" MODEL_ID                                         \
    "','choices':[{'index':0,'delta':" delta ",'finish_reason':" finish "}]}"
#define USAGE                                                                                      \
    "{'prompt_tokens':25,'completion_tokens':4,'total_tokens':29,'prompt_tokens_details':"         \
    "{'cached_tokens':5}}"

START_TEST(stream_text_with_usage)
{
    tg_stream_state_t st = {0};

    st.client_wants_usage = 1;
    st.model = MODEL_ID;
    feed_expect(&st, "messageStart", "{'p':'abcdefghijk','role':'assistant'}", TG_EVENT_FORWARD,
                "[" CHUNK("{'role':'assistant','content':''}", "null") "]");
    feed_expect(&st, "contentBlockDelta",
                "{'contentBlockIndex':0,'delta':{'text':'Hel'},'p':'abcd'}", TG_EVENT_FORWARD,
                "[" CHUNK("{'content':'Hel'}", "null") "]");
    feed_dropped(&st, "contentBlockDelta",
                 "{'contentBlockIndex':0,'delta':{'reasoningContent':{'text':'hmm'}},'p':'a'}");
    feed_expect(&st, "contentBlockDelta",
                "{'contentBlockIndex':0,'delta':{'text':'lo \\'q\\''},'p':'ab'}", TG_EVENT_FORWARD,
                "[" CHUNK("{'content':'lo \\'q\\''}", "null") "]");
    feed_dropped(&st, "contentBlockStop", "{'contentBlockIndex':0,'p':'abcdef'}");
    feed_expect(&st, "messageStop", "{'p':'abc','stopReason':'max_tokens'}", TG_EVENT_FORWARD,
                "[" CHUNK("{}", "'length'") "]");
    ck_assert_int_eq(st.usage.reported, 0);
    feed_expect(&st, "metadata",
                "{'metrics':{'latencyMs':412},'p':'ab','usage':{'inputTokens':20,'outputTokens':4,"
                "'totalTokens':29,'cacheReadInputTokens':5}}",
                TG_EVENT_DONE,
                "[{'object':'chat.completion.chunk','model':'" MODEL_ID "','choices':[],"
                "'usage':" USAGE "},'[DONE]']");
    ck_assert_int_eq(st.usage.reported, 1);
    ck_assert_int_eq(st.usage.prompt, 25);
    ck_assert_int_eq(st.usage.cached, 5);
    ck_assert_int_eq(st.usage.completion, 4);
    ck_assert_int_eq(st.content_bytes, 9);
    adapter()->stream_free(&st);
    ck_assert_ptr_null(st.priv);
}
END_TEST

START_TEST(stream_tool_use_without_usage_chunk)
{
    tg_stream_state_t st = {0};

    st.model = MODEL_ID;
    feed_expect(&st, "messageStart", "{'role':'assistant'}", TG_EVENT_FORWARD,
                "[" CHUNK("{'role':'assistant','content':''}", "null") "]");
    feed_expect(&st, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':'Checking.'}}",
                TG_EVENT_FORWARD, "[" CHUNK("{'content':'Checking.'}", "null") "]");
    feed_dropped(&st, "contentBlockStop", "{'contentBlockIndex':0}");
    feed_expect(&st, "contentBlockStart",
                "{'contentBlockIndex':1,'start':{'toolUse':{'toolUseId':'tooluse_1','name':"
                "'get_weather'}}}",
                TG_EVENT_FORWARD,
                "[" CHUNK("{'tool_calls':[{'index':0,'id':'tooluse_1','type':'function',"
                          "'function':{'name':'get_weather','arguments':''}}]}",
                          "null") "]");
    feed_expect(
        &st, "contentBlockDelta",
        "{'contentBlockIndex':1,'delta':{'toolUse':{'input':'{\\'loca'}}}", TG_EVENT_FORWARD,
        "[" CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'{\\'loca'}}]}", "null") "]");
    feed_expect(&st, "contentBlockDelta",
                "{'contentBlockIndex':1,'delta':{'toolUse':{'input':'tion\\':\\'Paris\\'}'}}}",
                TG_EVENT_FORWARD,
                "[" CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':"
                          "'tion\\':\\'Paris\\'}'}}]}",
                          "null") "]");
    feed_dropped(&st, "contentBlockStop", "{'contentBlockIndex':1}");
    feed_expect(&st, "messageStop", "{'stopReason':'tool_use'}", TG_EVENT_FORWARD,
                "[" CHUNK("{}", "'tool_calls'") "]");
    /* the client did not ask for usage: only [DONE], but usage is still metered */
    feed_expect(&st, "metadata",
                "{'usage':{'inputTokens':40,'outputTokens':18,'totalTokens':58},"
                "'metrics':{'latencyMs':100}}",
                TG_EVENT_DONE, "['[DONE]']");
    ck_assert_int_eq(st.usage.prompt, 40);
    ck_assert_int_eq(st.usage.completion, 18);
    adapter()->stream_free(&st);
}
END_TEST

START_TEST(stream_exception_ends_the_stream)
{
    tg_stream_state_t st = {0};

    st.model = MODEL_ID;
    feed_expect(&st, "messageStart", "{'role':'assistant'}", TG_EVENT_FORWARD,
                "[" CHUNK("{'role':'assistant','content':''}", "null") "]");
    feed_expect(&st, "throttlingException",
                "{'message':'Too many tokens, please wait before trying again.'}", TG_EVENT_FORWARD,
                "[{'error':{'message':'Too many tokens, please wait before trying again.',"
                "'type':'rate_limit_error','param':null,'code':'rate_limit_exceeded'}}]");
    /* nothing after an exception */
    feed_dropped(&st, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':'late'}}");
    adapter()->stream_free(&st);
    memset(&st, 0, sizeof(st));
    feed_expect(&st, "modelStreamErrorException",
                "{'message':'The model failed.','originalStatusCode':500}", TG_EVENT_FORWARD,
                "[{'error':{'message':'The model failed.','type':'server_error','param':null,"
                "'code':'upstream_model_error'}}]");
    adapter()->stream_free(&st);
}
END_TEST

START_TEST(stream_unknown_events_are_dropped)
{
    tg_stream_state_t st = {0};

    feed_dropped(&st, "someFutureEvent", "{'x':1}");
    feed_dropped(&st, "", "{}");
    feed_dropped(&st, "contentBlockDelta", "not json");
    feed_expect(&st, "messageStart", "{'role':'assistant'}", TG_EVENT_FORWARD,
                "[{'object':'chat.completion.chunk','model':'','choices':[{'index':0,'delta':"
                "{'role':'assistant','content':''},'finish_reason':null}]}]");
    adapter()->stream_free(&st);
}
END_TEST

static Suite *provider_bedrock_suite(void)
{
    Suite *s = suite_create("provider_bedrock");
    TCase *tc = tcase_create("requests");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, adapter_lookup);
    tcase_add_test(tc, url_escapes_the_model_id);
    tcase_add_test(tc, head_is_signed_over_what_is_sent);
    tcase_add_test(tc, session_token_is_sent_and_signed);
    tcase_add_test(tc, api_key_is_a_bearer_token_and_sigv4_wins);
    tcase_add_test(tc, http2_providers_get_curl_headers);
    tcase_add_test(tc, request_basic);
    tcase_add_test(tc, request_turns_merge);
    tcase_add_test(tc, request_tools_and_choices);
    tcase_add_test(tc, request_tool_calls_and_results);
    tcase_add_test(tc, request_images);
    tcase_add_test(tc, request_response_format_is_an_instruction);
    tcase_add_test(tc, request_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("answers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, response_text_with_cache_usage);
    tcase_add_test(tc, response_tool_use);
    tcase_add_test(tc, response_stop_reasons);
    tcase_add_test(tc, response_unreadable);
    tcase_add_test(tc, errors_map_to_openai_shapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("streams");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stream_text_with_usage);
    tcase_add_test(tc, stream_tool_use_without_usage_chunk);
    tcase_add_test(tc, stream_exception_ends_the_stream);
    tcase_add_test(tc, stream_unknown_events_are_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(provider_bedrock_suite());
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
