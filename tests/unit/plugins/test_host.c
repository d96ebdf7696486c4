/* The host services table plugins build requests with. */
#include <stdlib.h>

#include "harness.h"
#include "host.h"

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

RUN_TESTS(CASE(dingtalk_sign_vector), CASE(hmac_rfc4231_case2), CASE(base64_known_inputs),
          CASE(encoders_report_needed_length_like_snprintf), CASE(url_encode_reserved_and_utf8),
          CASE(utf8_prefix_never_splits_a_character), CASE(buf_json_string_escapes),
          CASE(buf_printf_and_append), CASE(request_redacted_url_hides_query_values),
          CASE(request_setters_copy), CASE(response_header_is_case_insensitive),
          CASE(now_ms_is_wall_time), CASE(json_lookup_reads_responses),
          CASE(text_prefix_keeps_characters_and_links_whole))
