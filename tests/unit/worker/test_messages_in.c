/*
 * Unit tests for worker/messages_in.c: Anthropic Messages requests become canonical OpenAI chat
 * requests (system as a message, blocks as parts, tool_use as tool_calls, tool_result as tool
 * messages placed before the rest of their turn, tools and tool_choice, sampling fields, stream
 * with usage), and invalid requests are refused with Anthropic's kind of explanation. Golden
 * fixtures follow Anthropic's and OpenAI's API references; in fixtures ' stands for ".
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tg_json_fixture.h"
#include "worker/messages.h"

/* Translate an Anthropic request for a target of this kind; returns rc, the body or the reason. */
static int translate(const char *anthropic, tg_provider_kind_t kind, int count, tg_buf_t *out,
                     char *why, size_t whysize)
{
    json_t *in = J(anthropic);
    int rc;

    memset(out, 0, sizeof(*out));
    rc = tg_messages_request(in, kind, count, out, why, whysize);
    json_decref(in);
    return rc;
}

/* The canonical request for an Anthropic one must equal the golden one. */
static void assert_canonical_kind(const char *anthropic, tg_provider_kind_t kind, int count,
                                  const char *openai, const char *what)
{
    tg_buf_t out;
    char why[512];
    json_t *got;

    ck_assert_msg(translate(anthropic, kind, count, &out, why, sizeof(why)) == 0, "%s: %s", what,
                  why);
    got = json_loadb(out.data, out.len, 0, NULL);
    ck_assert_msg(got != NULL, "%s: not JSON: %s", what, out.data);
    assert_json(got, openai, what);
    tg_buf_free(&out);
}

static void assert_canonical(const char *anthropic, const char *openai, const char *what)
{
    assert_canonical_kind(anthropic, TG_PROVIDER_OPENAI, 0, openai, what);
}

/* The request must be refused with a reason that contains want. */
static void assert_invalid(const char *anthropic, const char *want)
{
    tg_buf_t out;
    char why[512];

    ck_assert_msg(translate(anthropic, TG_PROVIDER_OPENAI, 0, &out, why, sizeof(why)) == -1,
                  "accepted: %s", anthropic);
    ck_assert_msg(strstr(why, want) != NULL, "reason '%s' lacks '%s' for %s", why, want, anthropic);
    tg_buf_free(&out);
}

#define HEAD "'model':'m','max_tokens':64,"
#define USER_HI "{'role':'user','content':'Hi'}"

START_TEST(request_basic)
{
    /* The quick-start request: model kept (the proxy maps it), max_tokens, a system string. */
    assert_canonical("{'model':'claude','max_tokens':1024,'system':'Be terse.',"
                     "'messages':[{'role':'user','content':'Hello'}]}",
                     "{'model':'claude','max_tokens':1024,'messages':["
                     "{'role':'system','content':'Be terse.'},"
                     "{'role':'user','content':'Hello'}]}",
                     "basic");
}
END_TEST

START_TEST(request_numbers_keep_their_spelling)
{
    /* Reals are written as short as exactness allows: 0.7 stays 0.7. */
    tg_buf_t out;
    char why[256];

    ck_assert_int_eq(translate("{" HEAD "'temperature':0.7,'top_p':0.95,'messages':[" USER_HI "]}",
                               TG_PROVIDER_OPENAI, 0, &out, why, sizeof(why)),
                     0);
    ck_assert_msg(strstr(out.data, "\"temperature\":0.7,") != NULL, "%s", out.data);
    ck_assert_msg(strstr(out.data, "\"top_p\":0.95") != NULL, "%s", out.data);
    tg_buf_free(&out);
}
END_TEST

START_TEST(request_system_blocks)
{
    /* Plain system blocks join with a blank line; cache_control keeps them as parts. */
    assert_canonical(
        "{" HEAD "'system':[{'type':'text','text':'A'},{'type':'text','text':'B'}],"
        "'messages':[" USER_HI "]}",
        "{'model':'m','max_tokens':64,'messages':[{'role':'system','content':'A\\n\\nB'},"
        "{'role':'user','content':'Hi'}]}",
        "plain system blocks");
    assert_canonical("{" HEAD
                     "'system':[{'type':'text','text':'Long context','cache_control':{'type':"
                     "'ephemeral'}},{'type':'text','text':'Rules'}],'messages':[" USER_HI "]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'system','content':["
                     "{'type':'text','text':'Long context','cache_control':{'type':'ephemeral'}},"
                     "{'type':'text','text':'Rules'}]},{'role':'user','content':'Hi'}]}",
                     "cached system blocks");
    assert_canonical("{" HEAD "'system':'','messages':[" USER_HI "]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}]}",
                     "empty system");
}
END_TEST

START_TEST(request_user_blocks)
{
    /*
     * One plain text block is a string; several blocks are parts; base64 images become data:
     * URLs, url images stay URLs, a base64 PDF becomes a file part, a text document a text
     * part; cache_control stays on its part.
     */
    assert_canonical("{" HEAD
                     "'messages':[{'role':'user','content':[{'type':'text','text':'Hi'}]}]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}]}",
                     "one text block");
    assert_canonical(
        "{" HEAD "'messages':[{'role':'user','content':["
        "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0K'}},"
        "{'type':'image','source':{'type':'url','url':'https://x.test/cat.jpg'},"
        "'cache_control':{'type':'ephemeral'}},"
        "{'type':'document','source':{'type':'base64','media_type':'application/pdf',"
        "'data':'JVBERi0x'},'title':'spec.pdf'},"
        "{'type':'document','source':{'type':'text','media_type':'text/plain','data':'notes'}},"
        "{'type':'text','text':'Compare them.'}]}]}",
        "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':["
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0K'}},"
        "{'type':'image_url','image_url':{'url':'https://x.test/cat.jpg'},"
        "'cache_control':{'type':'ephemeral'}},"
        "{'type':'file','file':{'filename':'spec.pdf',"
        "'file_data':'data:application/pdf;base64,JVBERi0x'}},"
        "{'type':'text','text':'notes'},"
        "{'type':'text','text':'Compare them.'}]}]}",
        "media blocks");
}
END_TEST

START_TEST(request_tool_round_trip)
{
    /*
     * An assistant turn's text and tool_use blocks become one message with content and
     * tool_calls (arguments: the input's JSON text); thinking is dropped. The next user turn's
     * tool_result blocks become tool messages, in order and before the turn's other content;
     * is_error is said in the text; text blocks of a result join on lines.
     */
    assert_canonical(
        "{" HEAD "'messages':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':["
        "{'type':'thinking','thinking':'hmm','signature':'sig'},"
        "{'type':'text','text':'Checking.'},"
        "{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{'city':'Paris'}},"
        "{'type':'tool_use','id':'toolu_2','name':'get_weather','input':{}}]},"
        "{'role':'user','content':["
        "{'type':'tool_result','tool_use_id':'toolu_1','content':'21C'},"
        "{'type':'text','text':'Also wind?'},"
        "{'type':'tool_result','tool_use_id':'toolu_2','is_error':true,"
        "'content':[{'type':'text','text':'timeout'},{'type':'text','text':'retry later'}]}]}]}",
        "{'model':'m','max_tokens':64,'messages':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':'Checking.','tool_calls':["
        "{'id':'toolu_1','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'city\\':\\'Paris\\'}'}},"
        "{'id':'toolu_2','type':'function','function':{'name':'get_weather','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'toolu_1','content':'21C'},"
        "{'role':'tool','tool_call_id':'toolu_2','content':'Error: timeout\\nretry later'},"
        "{'role':'user','content':'Also wind?'}]}",
        "tool round trip");
    /* tool_use only: content null; a result with an image keeps parts; no content is "" */
    assert_canonical(
        "{" HEAD "'messages':[" USER_HI ","
        "{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'shot','input':{}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':["
        "{'type':'text','text':'here'},{'type':'image','source':{'type':'base64',"
        "'media_type':'image/jpeg','data':'/9j/'}}]}]},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'t2','name':'ping','input':{}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t2'}]}]}",
        "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'t1','type':'function',"
        "'function':{'name':'shot','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'t1','content':[{'type':'text','text':'here'},"
        "{'type':'image_url','image_url':{'url':'data:image/jpeg;base64,/9j/'}}]},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'t2','type':'function',"
        "'function':{'name':'ping','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'t2','content':''}]}",
        "tool results with media and without content");
    /* a turn of thinking only disappears; string content of either role stays a string */
    assert_canonical(
        "{" HEAD "'messages':[" USER_HI ",{'role':'assistant','content':["
        "{'type':'redacted_thinking','data':'x'}]},{'role':'assistant','content':'Ok'}]}",
        "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'},"
        "{'role':'assistant','content':'Ok'}]}",
        "thinking-only turn");
}
END_TEST

START_TEST(request_sampling)
{
    /* stop_sequences -> stop; temperature and top_p kept; top_k only for anthropic targets. */
    const char *in = "{" HEAD "'stop_sequences':['END','\\n\\n'],'temperature':0,'top_p':1,"
                     "'top_k':40,'messages':[" USER_HI "]}";

    assert_canonical(in,
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}],"
                     "'stop':['END','\\n\\n'],'temperature':0,'top_p':1}",
                     "openai target");
    assert_canonical_kind(
        in, TG_PROVIDER_ANTHROPIC, 0,
        "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}],"
        "'stop':['END','\\n\\n'],'temperature':0,'top_p':1,'top_k':40}",
        "anthropic target");
    assert_canonical("{" HEAD "'stop_sequences':[],'messages':[" USER_HI "]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}]}",
                     "no stop sequences");
}
END_TEST

START_TEST(request_tools)
{
    /* Client tools become function tools (cache_control kept); every tool_choice form. */
    static const struct {
        const char *choice, *want;
    } choices[] = {
        {"{'type':'auto'}", "'tool_choice':'auto'"},
        {"{'type':'any'}", "'tool_choice':'required'"},
        {"{'type':'none'}", "'tool_choice':'none'"},
        {"{'type':'tool','name':'get_weather'}",
         "'tool_choice':{'type':'function','function':{'name':'get_weather'}}"},
        {"{'type':'auto','disable_parallel_tool_use':true}",
         "'tool_choice':'auto','parallel_tool_calls':false"},
        {"{'type':'any','disable_parallel_tool_use':false}", "'tool_choice':'required'"},
    };
    const char *tools = "'tools':[{'name':'get_weather','description':'Weather',"
                        "'input_schema':{'type':'object','properties':{'city':{'type':'string'}}},"
                        "'cache_control':{'type':'ephemeral'}},"
                        "{'type':'custom','name':'noop','input_schema':{'type':'object'}}]";
    const char *want = "'tools':[{'type':'function','function':{'name':'get_weather',"
                       "'description':'Weather','parameters':{'type':'object','properties':"
                       "{'city':{'type':'string'}}}},'cache_control':{'type':'ephemeral'}},"
                       "{'type':'function','function':{'name':'noop','parameters':"
                       "{'type':'object'}}}]";
    char in[2048], out[2048];

    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        snprintf(in, sizeof(in), "{" HEAD "%s,'tool_choice':%s,'messages':[" USER_HI "]}", tools,
                 choices[i].choice);
        snprintf(out, sizeof(out),
                 "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}],%s,%s}",
                 want, choices[i].want);
        assert_canonical(in, out, choices[i].choice);
    }
    /* tool_choice without tools means nothing, as in the Anthropic adapter */
    assert_canonical("{" HEAD "'tools':[],'tool_choice':{'type':'any'},'messages':[" USER_HI "]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}]}",
                     "no tools");
}
END_TEST

START_TEST(request_metadata_stream_and_extras)
{
    /*
     * metadata.user_id -> user; stream asks for usage (message_delta needs it); Anthropic-only
     * fields are dropped; fields Anthropic does not define pass through, as on chat completions.
     */
    assert_canonical("{" HEAD "'metadata':{'user_id':'u-42'},'stream':true,"
                     "'thinking':{'type':'enabled','budget_tokens':2048},'service_tier':'auto',"
                     "'response_format':{'type':'json_object'},'sim':{'tokens':3},"
                     "'messages':[" USER_HI "]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}],"
                     "'user':'u-42','stream':true,'stream_options':{'include_usage':true},"
                     "'response_format':{'type':'json_object'},'sim':{'tokens':3}}",
                     "metadata, stream, extras");
    assert_canonical("{" HEAD "'metadata':{'user_id':null},'stream':false,'messages':[" USER_HI
                     "]}",
                     "{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Hi'}]}",
                     "no user, no stream");
}
END_TEST

START_TEST(request_count_tokens)
{
    /* count_tokens: no max_tokens needed, none sent, and never a stream. */
    assert_canonical_kind("{'model':'m','system':'S','stream':true,'messages':[" USER_HI "]}",
                          TG_PROVIDER_OPENAI, 1,
                          "{'model':'m','messages':[{'role':'system','content':'S'},"
                          "{'role':'user','content':'Hi'}]}",
                          "count");
}
END_TEST

START_TEST(request_invalid)
{
    /* What Anthropic refuses with 400 invalid_request_error is refused, naming the field. */
    static const struct {
        const char *in, *why;
    } cases[] = {
        {"{'max_tokens':5,'messages':[" USER_HI "]}", "model: Field required"},
        {"{'model':'','max_tokens':5,'messages':[" USER_HI "]}", "model: Field required"},
        {"{'model':'m','messages':[" USER_HI "]}", "max_tokens: Field required"},
        {"{'model':'m','max_tokens':0,'messages':[" USER_HI "]}",
         "max_tokens: Input should be greater than or equal to 1"},
        {"{'model':'m','max_tokens':'5','messages':[" USER_HI "]}",
         "max_tokens: Input should be a valid integer"},
        {"{'model':'m','max_tokens':1.5,'messages':[" USER_HI "]}",
         "max_tokens: Input should be a valid integer"},
        {"{" HEAD "'x':1}", "messages: Field required"},
        {"{" HEAD "'messages':{}}", "messages: Input should be a valid list"},
        {"{" HEAD "'messages':[]}", "messages: at least one message is required"},
        {"{" HEAD "'messages':[{'role':'system','content':'x'}]}",
         "messages.0.role: Unexpected role \"system\""},
        {"{" HEAD "'messages':[{'role':'tool','content':'x'}]}",
         "messages.0.role: Input should be 'user' or 'assistant'"},
        {"{" HEAD "'messages':['hi']}", "messages.0: Input should be a valid dictionary"},
        {"{" HEAD "'messages':[{'role':'user','content':5}]}", "messages.0.content"},
        {"{" HEAD "'messages':[{'role':'user','content':[]}]}", "non-empty content"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'audio'}]}]}",
         "messages.0.content.0: content blocks of type 'audio' are not supported"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'text':'x'}]}]}",
         "messages.0.content.0.type: Field required"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'text'}]}]}",
         "messages.0.content.0.text: Field required"},
        {"{" HEAD "'messages':[" USER_HI ",{'role':'assistant','content':[{'type':"
         "'image','source':{'type':'url','url':'https://x'}}]}]}",
         "messages.1.content.0: content blocks of type 'image' are not allowed in "
         "assistant messages"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'tool_use','id':'a',"
         "'name':'b','input':{}}]}]}",
         "tool_use blocks belong in assistant messages"},
        {"{" HEAD "'messages':[" USER_HI ",{'role':'assistant','content':[{'type':"
         "'tool_use','id':'a','name':'b','input':[]}]}]}",
         "messages.1.content.0.input: Input should be a valid dictionary"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'tool_result'}]}]}",
         "messages.0.content.0.tool_use_id: Field required"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'tool_result',"
         "'tool_use_id':'a','content':[{'type':'document'}]}]}]}",
         "tool results may hold text and image blocks only"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'image','source':"
         "{'type':'file','file_id':'file_1'}}]}]}",
         "only base64 and url image sources are supported"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'image','source':"
         "{'type':'base64','data':'x'}}]}]}",
         "a base64 source needs media_type and data"},
        {"{" HEAD "'messages':[{'role':'user','content':[{'type':'document','source':"
         "{'type':'url','url':'https://x/a.pdf'}}]}]}",
         "only base64 PDF and plain text document sources are supported"},
        {"{" HEAD "'system':[{'type':'image'}],'messages':[" USER_HI "]}",
         "system.0.type: system blocks must be text blocks"},
        {"{" HEAD "'system':5,'messages':[" USER_HI "]}", "system: Input should be"},
        {"{" HEAD "'tools':[{'type':'web_search_20250305','name':'web_search'}],"
         "'messages':[" USER_HI "]}",
         "tools.0.type: server tools ('web_search_20250305') are not supported"},
        {"{" HEAD "'tools':[{'name':'x'}],'messages':[" USER_HI "]}",
         "tools.0: a tool needs a name and an input_schema object"},
        {"{" HEAD "'tools':{},'messages':[" USER_HI "]}", "tools: Input should be a valid list"},
        {"{" HEAD "'tools':[{'name':'x','input_schema':{}}],'tool_choice':{'type':"
         "'tool'},'messages':[" USER_HI "]}",
         "tool_choice: type must be auto, any, none, or tool with a name"},
        {"{" HEAD "'stop_sequences':'END','messages':[" USER_HI "]}",
         "stop_sequences: Input should be a valid list"},
        {"{" HEAD "'stop_sequences':[1],'messages':[" USER_HI "]}",
         "stop_sequences.0: Input should be a valid string"},
        {"{" HEAD "'temperature':'hot','messages':[" USER_HI "]}",
         "temperature: Input should be a valid number"},
        {"{" HEAD "'top_k':0.5,'messages':[" USER_HI "]}", "top_k: Input should be a valid number"},
        {"{" HEAD "'stream':'yes','messages':[" USER_HI "]}",
         "stream: Input should be a valid boolean"},
        {"{" HEAD "'metadata':'u','messages':[" USER_HI "]}",
         "metadata: Input should be a valid dictionary"},
        {"{" HEAD "'metadata':{'user_id':5},'messages':[" USER_HI "]}",
         "metadata.user_id: Input should be a valid string"},
        {"{" HEAD "'n':2,'messages':[" USER_HI "]}", "n: Extra inputs are not permitted"},
        {"{" HEAD "'stream_options':{},'messages':[" USER_HI "]}",
         "stream_options: Extra inputs are not permitted"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_invalid(cases[i].in, cases[i].why);
}
END_TEST

static Suite *messages_in_suite(void)
{
    Suite *s = suite_create("messages_in");
    TCase *tc = tcase_create("request");

    tcase_add_test(tc, request_basic);
    tcase_add_test(tc, request_numbers_keep_their_spelling);
    tcase_add_test(tc, request_system_blocks);
    tcase_add_test(tc, request_user_blocks);
    tcase_add_test(tc, request_tool_round_trip);
    tcase_add_test(tc, request_sampling);
    tcase_add_test(tc, request_tools);
    tcase_add_test(tc, request_metadata_stream_and_extras);
    tcase_add_test(tc, request_count_tokens);
    tcase_add_test(tc, request_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(messages_in_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
