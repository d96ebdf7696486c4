/* The host services table plugins build requests with. */
#include <stdlib.h>

#include "harness.h"
#include "plugin/host.h"
#include "response_fixture.h"
#include "util/utf8.h"

TEST(dingtalk_sign_vector)
{
    const herald_host *host = host_table();
    const char *secret = "SECtestsecret0123456789";
    const char *to_sign = "1700000000000\nSECtestsecret0123456789";
    unsigned char mac[32];
    host->hmac_sha256(secret, strlen(secret), to_sign, strlen(to_sign), mac);
    char base64[64];
    CHECK_INT(host->base64_encode(mac, sizeof mac, base64, sizeof base64), 44);
    CHECK_STR(base64, "zrLWzK97t62y5CpqN8Ok9UIdPvX+jL1PNoW8nKT5a9k=");
    char encoded[160];
    CHECK_INT(host->url_encode(base64, encoded, sizeof encoded), 48);
    CHECK_STR(encoded, "zrLWzK97t62y5CpqN8Ok9UIdPvX%2BjL1PNoW8nKT5a9k%3D");
}

TEST(hmac_rfc4231_case2)
{
    const herald_host *host = host_table();
    unsigned char mac[32];
    host->hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    static const unsigned char expected[32] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    CHECK(memcmp(mac, expected, 32) == 0);
    /* an empty key and empty data, given as NULL */
    host->hmac_sha256(NULL, 0, NULL, 0, mac);
    static const unsigned char empty[32] = {
        0xb6, 0x13, 0x67, 0x9a, 0x08, 0x14, 0xd9, 0xec, 0x77, 0x2f, 0x95,
        0xd7, 0x78, 0xc3, 0x5f, 0xc5, 0xff, 0x16, 0x97, 0xc4, 0x93, 0x71,
        0x56, 0x53, 0xc6, 0xc7, 0x12, 0x14, 0x42, 0x92, 0xc5, 0xad};
    CHECK(memcmp(mac, empty, 32) == 0);
}

TEST(base64_known_inputs)
{
    const herald_host *host = host_table();
    /* RFC 4648 section 10 */
    static const char *const vectors[][2] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
        {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char out[16];
        size_t n = host->base64_encode(vectors[i][0], strlen(vectors[i][0]), out, sizeof out);
        CHECK_INT(n, strlen(vectors[i][1]));
        CHECK_STR(out, vectors[i][1]);
    }
    unsigned char binary[] = {0xff, 0xfe, 0x00, 0x3e, 0x3f};
    char out[16];
    host->base64_encode(binary, sizeof binary, out, sizeof out);
    CHECK_STR(out, "//4APj8=");
}

TEST(encoders_report_needed_length_like_snprintf)
{
    const herald_host *host = host_table();
    char small[5];
    CHECK_INT(host->base64_encode("foobar", 6, small, sizeof small), 8);
    CHECK_STR(small, "Zm9v");
    CHECK_INT(host->url_encode("a b", small, 3), 5);
    CHECK_STR(small, "a%");
    CHECK_INT(host->url_encode("a b", NULL, 0), 5);
}

TEST(url_encode_reserved_and_utf8)
{
    const herald_host *host = host_table();
    char out[128];
    host->url_encode("AZaz09-._~", out, sizeof out);
    CHECK_STR(out, "AZaz09-._~");
    host->url_encode(":/?#[]@!$&'()*+,;= %", out, sizeof out);
    CHECK_STR(out, "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%20%25");
    host->url_encode("告警", out, sizeof out);
    CHECK_STR(out, "%E5%91%8A%E8%AD%A6");
}

TEST(utf8_prefix_never_splits_a_character)
{
    const herald_host *host = host_table();
    const char *chinese = "告警恢复"; /* 3 bytes each */
    size_t len = strlen(chinese);
    CHECK_INT(host->utf8_prefix(chinese, len, 100), len);
    CHECK_INT(host->utf8_prefix(chinese, len, 12), 12);
    CHECK_INT(host->utf8_prefix(chinese, len, 11), 9);
    CHECK_INT(host->utf8_prefix(chinese, len, 10), 9);
    CHECK_INT(host->utf8_prefix(chinese, len, 9), 9);
    CHECK_INT(host->utf8_prefix(chinese, len, 2), 0);

    const char *emoji = "a🔥b"; /* 1 + 4 + 1 bytes */
    len = strlen(emoji);
    for (size_t max = 1; max <= 4; max++)
        CHECK_INT(host->utf8_prefix(emoji, len, max), 1);
    CHECK_INT(host->utf8_prefix(emoji, len, 5), 5);
    CHECK_INT(utf8_prefix(emoji, len, 0), 0);
}

TEST(buf_json_string_escapes)
{
    const herald_host *host = host_table();
    herald_buf *buf = host->buf_new();
    const char text[] = "say \"hi\"\\ \n\t\r\b\f\x01 告警 🔥";
    host->buf_json_string(buf, text, sizeof text - 1);
    CHECK_STR(host->buf_data(buf),
              "\"say \\\"hi\\\"\\\\ \\n\\t\\r\\b\\f\\u0001 告警 🔥\"");
    CHECK_INT(host->buf_len(buf), strlen(host->buf_data(buf)));
    host->buf_free(buf);
}

TEST(buf_printf_and_append)
{
    const herald_host *host = host_table();
    herald_buf *buf = host->buf_new();
    CHECK_STR(host->buf_data(buf), "");
    host->buf_printf(buf, "%d-%s", 42, "x");
    host->buf_append(buf, "yz", 1);
    CHECK_STR(host->buf_data(buf), "42-xy");
    CHECK_INT(host->buf_len(buf), 5);
    host->buf_free(buf);
}

TEST(request_redacted_url_hides_query_values)
{
    const herald_host *host = host_table();
    herald_request req;
    request_init(&req);
    host->request_set_url(&req,
                          "https://oapi.dingtalk.com/robot/send?access_token=abc123&flag&x=");
    char *redacted = request_redacted_url(&req);
    CHECK_STR(redacted, "https://oapi.dingtalk.com/robot/send?access_token=…&…&x=");
    free(redacted);

    host->request_set_url(&req, "https://bot:hunter2@example.com/hook?k=v#frag");
    redacted = request_redacted_url(&req);
    CHECK_STR(redacted, "https://bot:…@example.com/hook?k=…#…");
    free(redacted);

    host->request_set_url(&req, "file:///var/log/herald.jsonl");
    redacted = request_redacted_url(&req);
    CHECK_STR(redacted, "file:///var/log/herald.jsonl");
    free(redacted);

    host->request_set_log_url(&req, "https://example.com/hook?token=…");
    redacted = request_redacted_url(&req);
    CHECK_STR(redacted, "https://example.com/hook?token=…");
    free(redacted);
    request_free(&req);
}

TEST(request_setters_copy)
{
    const herald_host *host = host_table();
    herald_request req;
    request_init(&req);
    char name[] = "Content-Type";
    char value[] = "application/json";
    host->request_add_header(&req, name, value);
    host->request_add_header(&req, "X-Evil", "a\r\nInjected: yes");
    name[0] = value[0] = '?';
    CHECK_INT(req.headers_len, 2);
    CHECK_STR(req.headers[0], "Content-Type: application/json");
    CHECK_STR(req.headers[1], "X-Evil: a  Injected: yes");
    host->request_set_body(&req, "first", 5);
    host->request_set_body(&req, "{}", 2);
    CHECK_STR(sb_str(&req.body), "{}");
    CHECK_INT(req.body.len, 2);
    request_free(&req);
}

TEST(response_header_is_case_insensitive)
{
    const herald_host *host = host_table();
    host_response resp = {0};
    resp.pub.status = 429;
    resp.pub.body = xstrdup("slow down");
    resp.pub.body_len = 9;
    resp.headers_len = 2;
    resp.headers = xcalloc(2, sizeof *resp.headers);
    resp.headers[0] = xstrdup("Content-Type: text/plain");
    resp.headers[1] = xstrdup("retry-after:   30");
    const herald_response *pub = &resp.pub;
    CHECK_STR(host->response_header(pub, "Retry-After"), "30");
    CHECK_STR(host->response_header(pub, "CONTENT-TYPE"), "text/plain");
    CHECK(host->response_header(pub, "Content") == NULL);
    CHECK(host->response_header(pub, "X-Missing") == NULL);
    response_free(&resp);
    CHECK(resp.headers == NULL);
}

TEST(now_ms_is_wall_time)
{
    const herald_host *host = host_table();
    int64_t now = host->now_ms();
    CHECK(now > 1700000000000LL);
    CHECK(host->abi.major == HERALD_ABI_MAJOR && host->abi.size == sizeof(herald_host));
}

TEST(json_lookup_reads_responses)
{
    const herald_host *host = host_table();
    const char *reply = "{\"errcode\":130101,\"errmsg\":\"send too fast\",\"ok\":false,"
                        "\"parameters\":{\"retry_after\":34,\"list\":[1, 2]},\"none\":null}";
    size_t len = strlen(reply);
    char out[64];
    CHECK_INT(host->json_lookup(reply, len, "errcode", out, sizeof out), HERALD_JSON_NUMBER);
    CHECK_STR(out, "130101");
    CHECK_INT(host->json_lookup(reply, len, "errmsg", out, sizeof out), HERALD_JSON_STRING);
    CHECK_STR(out, "send too fast");
    CHECK_INT(host->json_lookup(reply, len, "parameters.retry_after", out, sizeof out),
              HERALD_JSON_NUMBER);
    CHECK_STR(out, "34");
    CHECK_INT(host->json_lookup(reply, len, "parameters.list", out, sizeof out), HERALD_JSON_ARRAY);
    CHECK_STR(out, "[1,2]");
    CHECK_INT(host->json_lookup(reply, len, "ok", out, sizeof out), HERALD_JSON_BOOLEAN);
    CHECK_STR(out, "false");
    CHECK_INT(host->json_lookup(reply, len, "none", NULL, 0), HERALD_JSON_NULL);
    CHECK_INT(host->json_lookup(reply, len, "", NULL, 0), HERALD_JSON_OBJECT);
    CHECK_INT(host->json_lookup(reply, len, "missing", out, sizeof out), HERALD_JSON_ABSENT);
    CHECK_STR(out, "");
    CHECK_INT(host->json_lookup(reply, len, "errcode.deeper", out, sizeof out), HERALD_JSON_ABSENT);
    CHECK_INT(host->json_lookup("ok", 2, "", out, sizeof out), HERALD_JSON_ABSENT);
    /* the first value is read, whatever a proxy put after it */
    CHECK_INT(host->json_lookup("{\"errcode\":0}\n<html>", 20, "errcode", out, sizeof out),
              HERALD_JSON_NUMBER);
    CHECK_STR(out, "0");
    /* Cut to the buffer, never overflowing it. */
    char small[5];
    CHECK_INT(host->json_lookup(reply, len, "errmsg", small, sizeof small), HERALD_JSON_STRING);
    CHECK_STR(small, "send");
}

TEST(text_prefix_keeps_characters_and_links_whole)
{
    const herald_host *host = host_table();
    const char *text = "see [runbook](http://runbooks.example.com/x) now";
    size_t len = strlen(text);
    CHECK_INT(host->text_prefix(text, len, len), len);         /* fits */
    CHECK_INT(host->text_prefix(text, len, 20), 4);            /* inside the URL: before '[' */
    CHECK_INT(host->text_prefix(text, len, 6), 4);             /* inside the label */
    CHECK_INT(host->text_prefix(text, len, 46), 46);           /* after the link */
    const char *image = "ab![i](http://x/y.png)";
    CHECK_INT(host->text_prefix(image, strlen(image), 10), 2); /* before "![" */
    const char *brackets = "[not a link] and more";
    CHECK_INT(host->text_prefix(brackets, strlen(brackets), 5), 5);
    const char *chinese = "告警[详情](http://x)"; /* 告警 is 6 bytes */
    CHECK_INT(host->text_prefix(chinese, strlen(chinese), 5), 3);
    CHECK_INT(host->text_prefix(chinese, strlen(chinese), 12), 6);
}

TEST(verdict_is_one_line_cut_at_a_character)
{
    const herald_host *host = host_table();
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict)};
    host->verdict(&v, HERALD_RETRY, 1500, "HTTP 503: ", "busy\r\nfor\ta bit", 15);
    CHECK_INT(v.kind, HERALD_RETRY);
    CHECK_INT(v.retry_after_ms, 1500);
    CHECK_STR(v.reason, "HTTP 503: busy  for a bit");
    /* Only text_len bytes count, NUL bytes included; the prefix is one line
     * too. */
    host->verdict(&v, HERALD_FAIL, 0, "code\n1: ", "a\0bcdef", 4);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK_INT(v.retry_after_ms, 0);
    CHECK_STR(v.reason, "code 1: a bc");
    host->verdict(&v, HERALD_OK, 0, "ok", "", 0);
    CHECK_INT(v.kind, HERALD_OK);
    CHECK_STR(v.reason, "ok");

    /* 252 bytes of prefix leave room for 3 more: one "é" (2 bytes), not
     * half of the next. */
    char prefix[253];
    memset(prefix, 'p', 252);
    prefix[252] = '\0';
    host->verdict(&v, HERALD_FAIL, 0, prefix, "ééé", strlen("ééé"));
    CHECK_INT(strlen(v.reason), 254);
    CHECK_STR(v.reason + 252, "é");
    /* A prefix longer than the reason is cut like the text. */
    char long_prefix[300];
    memset(long_prefix, 'x', sizeof long_prefix - 3);
    memcpy(long_prefix + sizeof long_prefix - 3, "\xc3\xa9", 3); /* "é" + NUL */
    host->verdict(&v, HERALD_FAIL, 0, long_prefix, "tail", 4);
    CHECK_INT(strlen(v.reason), sizeof v.reason - 1);
    CHECK(v.reason[sizeof v.reason - 2] == 'x');
}

static herald_verdict untouched_verdict(void)
{
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict),
                        .kind = HERALD_RETRY,
                        .retry_after_ms = 5,
                        .reason = "untouched"};
    return v;
}

static int classify_http(long status, const char *body, const char *header, size_t quote_bytes,
                         herald_verdict *out)
{
    host_response resp = fixture_response(status, body, header);
    int decided = host_table()->classify_http(&resp.pub, quote_bytes, out);
    response_free(&resp);
    return decided;
}

static long retry_after(const char *header)
{
    herald_verdict v = untouched_verdict();
    classify_http(503, "", header, 0, &v);
    return v.retry_after_ms;
}

#define FIXED_NOW_MS 1700000000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */

static int64_t fixed_now_ms(void) { return FIXED_NOW_MS; }
static int64_t fixed_now_plus_half_second_ms(void) { return FIXED_NOW_MS + 500; }

TEST(retry_after_ms_reads_seconds_and_dates)
{
    const herald_host *host = host_table();
    host_response bare = {0};
    CHECK_INT(host->retry_after_ms(&bare.pub), 0);
    CHECK_INT(retry_after(NULL), 0);
    CHECK_INT(retry_after("Retry-After: 30"), 30000);
    CHECK_INT(retry_after("retry-after: 0"), 0);
    CHECK_INT(retry_after("Retry-After: 30  "), 30000);
    CHECK_INT(retry_after("Retry-After: 30s"), 0);
    CHECK_INT(retry_after("Retry-After: -5"), 0);
    CHECK_INT(retry_after("Retry-After: soon"), 0);
    CHECK_INT(retry_after("Retry-After: 86400"), 86400000);
    CHECK_INT(retry_after("Retry-After: 999999"), 86400000); /* capped at a day */
    CHECK_INT(retry_after("Retry-After: 99999999999999999999"), 86400000);

    /* Dates count from the host's clock; read with it fixed, checked after
     * it is put back, so a failed check cannot leave it fixed. */
    host_set_clock(fixed_now_ms);
    int64_t fixed = host->now_ms();
    long minute_later = retry_after("Retry-After: Tue, 14 Nov 2023 22:14:20 GMT");
    long day_before = retry_after("Retry-After: Mon, 13 Nov 2023 22:14:20 GMT");
    long week_later = retry_after("Retry-After: Tue, 21 Nov 2023 22:13:20 GMT");
    long leap_day = retry_after("Retry-After: Thu, 29 Feb 2024 00:00:00 GMT");
    long no_time = retry_after("Retry-After: Tue, 14 Nov 2023");
    long bad_month = retry_after("Retry-After: Tue, 14 Nox 2023 22:14:20 GMT");
    long bad_hour = retry_after("Retry-After: Tue, 14 Nov 2023 24:14:20 GMT");
    host_set_clock(fixed_now_plus_half_second_ms);
    long half_second = retry_after("Retry-After: Tue, 14 Nov 2023 22:13:21 GMT");
    host_set_clock(NULL);
    int64_t wall = host->now_ms();
    long past_now = retry_after("Retry-After: Tue, 14 Nov 2023 22:14:20 GMT");

    CHECK_INT(fixed, FIXED_NOW_MS);
    CHECK_INT(minute_later, 60000);
    CHECK_INT(day_before, 0);
    CHECK_INT(week_later, 86400000);
    CHECK_INT(no_time, 0);
    CHECK_INT(bad_month, 0);
    CHECK_INT(bad_hour, 0);
    CHECK_INT(half_second, 1000); /* whole seconds, rounded up */
    CHECK(wall > FIXED_NOW_MS);
    CHECK_INT(past_now, 0);
    /* 2024-02-29 00:00 is 106 days, 1 h 46 min 40 s later: capped. */
    CHECK_INT(leap_day, 86400000);
}

TEST(classify_http_decides_everything_but_2xx)
{
    herald_verdict v = untouched_verdict();
    CHECK_INT(classify_http(200, "{\"ok\":true}", NULL, 160, &v), 0);
    CHECK_INT(classify_http(204, "", "Retry-After: 30", 160, &v), 0);
    CHECK_INT(classify_http(299, "?", NULL, 160, &v), 0);
    CHECK_INT(v.kind, HERALD_RETRY);
    CHECK_INT(v.retry_after_ms, 5);
    CHECK_STR(v.reason, "untouched");

    static const struct {
        long status;
        const char *body, *header;
        size_t quote_bytes;
        herald_verdict_kind kind;
        long retry_after_ms;
        const char *reason;
    } cases[] = {
        {429, "slow down", "Retry-After: 30", 160, HERALD_RETRY, 30000, "HTTP 429: slow down"},
        {503, "", NULL, 160, HERALD_RETRY, 0, "HTTP 503: "},
        {500, "<html>\noops</html>", "Retry-After: 7", 160, HERALD_RETRY, 7000,
         "HTTP 500: <html> oops</html>"},
        {599, "x", NULL, 160, HERALD_RETRY, 0, "HTTP 599: x"},
        /* Permanent: a Retry-After does not make these worth another try. */
        {404, "not found\nat all", "Retry-After: 30", 160, HERALD_FAIL, 0,
         "HTTP 404: not found at all"},
        {301, "moved", NULL, 160, HERALD_FAIL, 0, "HTTP 301: moved"},
        {199, "", NULL, 160, HERALD_FAIL, 0, "HTTP 199: "},
        {600, "", NULL, 160, HERALD_FAIL, 0, "HTTP 600: "},
        /* The quote is the body's first quote_bytes, never half a character. */
        {400, "告警告警", NULL, 7, HERALD_FAIL, 0, "HTTP 400: 告警"},
        {400, "unknown topic", NULL, 7, HERALD_FAIL, 0, "HTTP 400: unknown"},
        {400, "unknown topic", NULL, 0, HERALD_FAIL, 0, "HTTP 400: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v = untouched_verdict();
        CHECK_INT(classify_http(cases[i].status, cases[i].body, cases[i].header,
                                cases[i].quote_bytes, &v),
                  1);
        CHECK_INT(v.kind, cases[i].kind);
        CHECK_INT(v.retry_after_ms, cases[i].retry_after_ms);
        CHECK_STR(v.reason, cases[i].reason);
    }
}

RUN_TESTS(CASE(dingtalk_sign_vector), CASE(hmac_rfc4231_case2), CASE(base64_known_inputs),
          CASE(encoders_report_needed_length_like_snprintf), CASE(url_encode_reserved_and_utf8),
          CASE(utf8_prefix_never_splits_a_character), CASE(buf_json_string_escapes),
          CASE(buf_printf_and_append), CASE(request_redacted_url_hides_query_values),
          CASE(request_setters_copy), CASE(response_header_is_case_insensitive),
          CASE(now_ms_is_wall_time), CASE(json_lookup_reads_responses),
          CASE(text_prefix_keeps_characters_and_links_whole),
          CASE(verdict_is_one_line_cut_at_a_character),
          CASE(retry_after_ms_reads_seconds_and_dates),
          CASE(classify_http_decides_everything_but_2xx))
