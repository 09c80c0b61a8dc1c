/*
 * Unit tests for shared/tg_sigv4.c against AWS's published Signature Version 4 test suite
 * (aws-sig-v4-test-suite: credentials AKIDEXAMPLE, 20150830T123600Z, us-east-1, service
 * "service"): for each vector the canonical request, the hash in the string to sign and the
 * signature must be the published ones, byte for byte. Also AWS's documented signing-key
 * derivation example and the double encoding of Bedrock model ids in the canonical path.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE "20150830T123600Z"
#define SCOPE "20150830/us-east-1/service/aws4_request"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HOST                                                                                       \
    {                                                                                              \
        "Host", "example.amazonaws.com"                                                            \
    }
#define XDATE                                                                                      \
    {                                                                                              \
        "X-Amz-Date", DATE                                                                         \
    }
#define STS_TOKEN                                                                                  \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP" \
    "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYw"  \
    "T7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKml" \
    "zm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

/* One published vector: the request and what AWS says it signs to. */
typedef struct {
    const char *name;
    const char *method, *path, *query, *body;
    tg_sigv4_header_t headers[6];
    size_t nheaders;
    const char *creq;     /* the published canonical request, or NULL when not asserted */
    const char *sts_hash; /* the last line of the published string to sign, or NULL */
    const char *signed_headers;
    const char *signature; /* the published signature */
} vector_t;

static const vector_t vectors[] = {
    {"get-vanilla",
     "GET",
     "/",
     NULL,
     "",
     {HOST, XDATE},
     2,
     "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     "Param2=value2&Param1=value1",
     "",
     {HOST, XDATE},
     2,
     "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:"
     "20150830T123600Z\n\nhost;x-amz-date\n" EMPTY,
     "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
     "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-empty-query-key",
     "GET",
     "/",
     "Param1=value1",
     "",
     {HOST, XDATE},
     2,
     NULL,
     NULL,
     "host;x-amz-date",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-utf8-query",
     "GET",
     "/",
     "\xe1\x88\xb4=bar",
     "",
     {HOST, XDATE},
     2,
     "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
     "host;x-amz-date\n" EMPTY,
     "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
     "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-utf8",
     "GET",
     "/\xe1\x88\xb4",
     NULL,
     "",
     {HOST, XDATE},
     2,
     "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
     "host;x-amz-date\n" EMPTY,
     "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
     "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-unreserved",
     "GET",
     "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     NULL,
     "",
     {HOST, XDATE},
     2,
     NULL,
     "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
     "host;x-amz-date",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-header-value-trim",
     "GET",
     "/",
     NULL,
     "",
     {HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\"  "}, XDATE},
     4,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" EMPTY,
     "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     NULL,
     "",
     {HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}, XDATE},
     5,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"post-vanilla",
     "POST",
     "/",
     NULL,
     "",
     {XDATE, HOST},
     2,
     "POST\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY,
     "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-header-value-case",
     "POST",
     "/",
     NULL,
     "",
     {HOST, {"My-Header1", "VALUE1"}, XDATE},
     3,
     NULL,
     "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
     "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-x-www-form-urlencoded",
     "POST",
     "/",
     NULL,
     "Param1=value1",
     {{"Content-Type", "application/x-www-form-urlencoded"}, HOST, XDATE},
     3,
     "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
     "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
     "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-sts-header-before",
     "POST",
     "/",
     NULL,
     "",
     {HOST, XDATE, {"X-Amz-Security-Token", STS_TOKEN}},
     3,
     "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
     "x-amz-security-token:" STS_TOKEN "\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY,
     "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
     "host;x-amz-date;x-amz-security-token",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
};

#define NVECTORS (sizeof(vectors) / sizeof(vectors[0]))

static tg_sigv4_request_t request_of(const vector_t *v, char hash[65])
{
    tg_sigv4_request_t r = {v->method, v->path, v->query, v->headers, v->nheaders, hash};

    tg_sigv4_sha256_hex(v->body, strlen(v->body), hash);
    return r;
}

START_TEST(canonical_requests_are_the_published_ones)
{
    const vector_t *v = &vectors[_i];
    char hash[65];
    tg_sigv4_request_t r = request_of(v, hash);
    tg_buf_t creq = {0}, sh = {0};

    ck_assert_int_eq(tg_sigv4_canonical(&r, &creq, &sh), 0);
    if (v->creq != NULL)
        ck_assert_msg(strcmp(creq.data, v->creq) == 0, "%s:\n got  [%s]\n want [%s]", v->name,
                      creq.data, v->creq);
    ck_assert_str_eq(sh.data, v->signed_headers);
    tg_buf_free(&creq);
    tg_buf_free(&sh);
}
END_TEST

START_TEST(strings_to_sign_are_the_published_ones)
{
    const vector_t *v = &vectors[_i];
    char hash[65];
    tg_sigv4_request_t r = request_of(v, hash);
    tg_buf_t creq = {0}, sh = {0}, sts = {0};
    char want[256];

    if (v->sts_hash == NULL)
        return; /* only the signature of this vector is asserted */
    snprintf(want, sizeof(want), "AWS4-HMAC-SHA256\n" DATE "\n" SCOPE "\n%s", v->sts_hash);
    ck_assert_int_eq(tg_sigv4_canonical(&r, &creq, &sh), 0);
    ck_assert_int_eq(
        tg_sigv4_string_to_sign(DATE, "us-east-1", "service", creq.data, creq.len, &sts), 0);
    ck_assert_msg(strcmp(sts.data, want) == 0, "%s: got [%s]", v->name, sts.data);
    tg_buf_free(&creq);
    tg_buf_free(&sh);
    tg_buf_free(&sts);
}
END_TEST

START_TEST(authorization_headers_are_the_published_ones)
{
    const vector_t *v = &vectors[_i];
    char hash[65], want[512];
    tg_sigv4_request_t r = request_of(v, hash);
    tg_sigv4_key_t k;
    tg_buf_t out = {0};

    memset(&k, 0, sizeof(k));
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE ", SignedHeaders=%s, Signature=%s",
             v->signed_headers, v->signature);
    ck_assert_int_eq(tg_sigv4_derive(&k, SECRET, "20150830", "us-east-1", "service"), 0);
    ck_assert_int_eq(tg_sigv4_authorization(&k, AKID, "us-east-1", "service", DATE, &r, &out), 0);
    ck_assert_msg(strcmp(out.data, want) == 0, "%s:\n got  %s\n want %s", v->name, out.data, want);
    tg_buf_free(&out);
}
END_TEST

/* AWS's documented example of deriving a signing key (secret, 20120215, us-east-1, iam). */
START_TEST(derived_signing_key_is_the_documented_one)
{
    tg_sigv4_key_t k;
    char hex[65];

    memset(&k, 0, sizeof(k));
    ck_assert_int_eq(tg_sigv4_derive(&k, SECRET, "20120215", "us-east-1", "iam"), 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", k.key[i]);
    ck_assert_str_eq(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    ck_assert_str_eq(k.date, "20120215");
}
END_TEST

/* The key is kept for its day, re-derived for another, and refused for the wrong day. */
START_TEST(signing_key_is_per_day)
{
    tg_sigv4_key_t k;
    unsigned char first[32];
    const tg_sigv4_header_t h[] = {HOST, XDATE};
    tg_sigv4_request_t r = {"GET", "/", NULL, h, 2, EMPTY};
    tg_buf_t out = {0};

    memset(&k, 0, sizeof(k));
    ck_assert_int_eq(tg_sigv4_derive(&k, SECRET, "20150830", "us-east-1", "service"), 0);
    memcpy(first, k.key, 32);
    /* the same day: the cached key stays (even if asked with another secret by mistake) */
    ck_assert_int_eq(tg_sigv4_derive(&k, "other", "20150830", "us-east-1", "service"), 0);
    ck_assert_int_eq(memcmp(first, k.key, 32), 0);
    ck_assert_int_eq(tg_sigv4_derive(&k, SECRET, "20150831", "us-east-1", "service"), 0);
    ck_assert_int_ne(memcmp(first, k.key, 32), 0);
    /* a key of 20150831 cannot sign a request dated 20150830 */
    ck_assert_int_eq(tg_sigv4_authorization(&k, AKID, "us-east-1", "service", DATE, &r, &out), -1);
    ck_assert_int_eq(tg_sigv4_derive(&k, SECRET, "2015083", "us-east-1", "service"), -1);
    tg_buf_free(&out);
}
END_TEST

/*
 * Services other than S3 sign the path encoded once more: a Bedrock model id's ':' goes on the
 * wire as %3A and into the canonical request as %253A.
 */
START_TEST(bedrock_model_path_is_double_encoded)
{
    const tg_sigv4_header_t h[] = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"},
                                   {"x-amz-date", DATE}};
    tg_sigv4_request_t r = {
        "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", NULL, h, 2, EMPTY};
    tg_buf_t creq = {0}, sh = {0};

    ck_assert_int_eq(tg_sigv4_canonical(&r, &creq, &sh), 0);
    ck_assert_ptr_nonnull(
        strstr(creq.data, "\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n"));
    tg_buf_free(&creq);
    tg_buf_free(&sh);
}
END_TEST

START_TEST(line_breaks_and_too_many_headers_are_refused)
{
    tg_sigv4_header_t h[TG_SIGV4_MAX_HEADERS + 1];
    tg_sigv4_request_t r = {"GET", "/", NULL, h, 1, EMPTY};
    tg_buf_t creq = {0}, sh = {0};

    h[0] = (tg_sigv4_header_t){"x-a", "one\r\nx-b: two"};
    ck_assert_int_eq(tg_sigv4_canonical(&r, &creq, &sh), -1);
    for (size_t i = 0; i < TG_SIGV4_MAX_HEADERS + 1; i++)
        h[i] = (tg_sigv4_header_t){"x-a", "v"};
    r.nheaders = TG_SIGV4_MAX_HEADERS + 1;
    ck_assert_int_eq(tg_sigv4_canonical(&r, &creq, &sh), -1);
    r.nheaders = TG_SIGV4_MAX_HEADERS;
    ck_assert_int_eq(tg_sigv4_canonical(&r, &creq, &sh), 0);
    tg_buf_free(&creq);
    tg_buf_free(&sh);
}
END_TEST

START_TEST(amz_date_format)
{
    char d[17];

    tg_sigv4_amz_date((time_t)1440938160, d); /* 2015-08-30 12:36:00 UTC */
    ck_assert_str_eq(d, DATE);
}
END_TEST

static Suite *tg_sigv4_suite(void)
{
    Suite *s = suite_create("tg_sigv4");
    TCase *tc = tcase_create("aws-sig-v4-test-suite");

    tcase_add_loop_test(tc, canonical_requests_are_the_published_ones, 0, NVECTORS);
    tcase_add_loop_test(tc, strings_to_sign_are_the_published_ones, 0, NVECTORS);
    tcase_add_loop_test(tc, authorization_headers_are_the_published_ones, 0, NVECTORS);
    tcase_add_test(tc, derived_signing_key_is_the_documented_one);
    suite_add_tcase(s, tc);

    tc = tcase_create("properties");
    tcase_add_test(tc, signing_key_is_per_day);
    tcase_add_test(tc, bedrock_model_path_is_double_encoded);
    tcase_add_test(tc, line_breaks_and_too_many_headers_are_refused);
    tcase_add_test(tc, amz_date_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_sigv4_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
