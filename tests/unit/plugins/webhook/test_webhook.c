/* webhook.so: exact requests for template bodies and forwarded payloads,
 * methods, headers and basic auth, redacted log URLs, verdicts for canned
 * responses (Retry-After in both forms), configuration errors that never
 * show a header value. No network. */
#include "plugin_fixture.h"

#define HOOK_URL "https://hooks.example.com/services/T000/B000/hooksecret7c41d9"

static const herald_channel *channel(void) { return fixture_channel(WEBHOOK_SO, "webhook"); }

typedef struct options {
    const char *url;
    const char *method;
    const char *const *headers;
    size_t headers_len; /* headers are left out when NULL */
    const char *body;
    const char *username;
    const char *password;
} options;

static void *configure(const options *o, char *err, size_t err_cap)
{
    herald_option_value values[6] = {
        {.present = 1, .string = o->url},
        {.present = o->method != NULL, .string = o->method},
        {.present = o->headers != NULL, .list = o->headers, .list_len = o->headers_len},
        {.present = o->body != NULL, .string = o->body},
        {.present = o->username != NULL, .string = o->username},
        {.present = o->password != NULL, .string = o->password},
    };
    return channel()->configure(&fixture_host, "ops", values, err, err_cap);
}

static void *forwarder(const options *o)
{
    char err[256] = "";
    void *f = configure(o, err, sizeof err);
    if (!f)
        printf("    configure: %s\n", err);
    return f;
}

typedef struct prepared {
    int rc;
    char err[256];
    herald_request req;
} prepared;

static void prepare(void *instance, const herald_message *msg, prepared *out)
{
    request_init(&out->req);
    out->err[0] = '\0';
    out->rc = channel()->prepare(instance, msg, &out->req, out->err, sizeof out->err);
}

static const char NATIVE_BODY[] =
    "{\"status\":\"firing\",\"receiver\":\"ops\",\"title\":\"[故障] HostDown\","
    "\"alerts\":[{\"labels\":{\"alertname\":\"HostDown\"}}]}";

TEST(template_body_exact_request)
{
    void *f = forwarder(&(options){.url = HOOK_URL});
    CHECK(f != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", NATIVE_BODY);
    prepared p;
    prepare(f, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.url, HOOK_URL);
    CHECK_STR(p.req.log_url, "https://hooks.example.com/…");
    CHECK_STR(p.req.method, "POST");
    CHECK_INT(p.req.headers_len, 1);
    CHECK_STR(p.req.headers[0], "Content-Type: application/json");
    CHECK(p.req.user == NULL);
    CHECK_STR(sb_str(&p.req.body), NATIVE_BODY);
    request_free(&p.req);
    channel()->destroy(f);
}

/* The payload goes out byte for byte: odd spacing, key order, escapes and
 * the trailing newline stay as they arrived. */
TEST(payload_forwarded_byte_for_byte)
{
    void *f = forwarder(&(options){.url = "http://127.0.0.1:9093/api/hook", .body = "payload"});
    CHECK(f != NULL);
    const char payload[] = "{ \"receiver\" : \"a\\\\.b\",\n \"alerts\":[],\"z\":\"\\u4e2d\"}\n";
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"ignored\":true}");
    msg.payload = payload;
    msg.payload_len = sizeof payload - 1;
    prepared p;
    prepare(f, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_INT(p.req.body.len, sizeof payload - 1);
    CHECK(memcmp(p.req.body.data, payload, sizeof payload - 1) == 0);
    CHECK_INT(p.req.headers_len, 1);
    CHECK_STR(p.req.headers[0], "Content-Type: application/json");
    CHECK_STR(p.req.log_url, "http://127.0.0.1:9093/…");
    request_free(&p.req);

    /* Whatever the template made, text included, the payload is sent. */
    herald_message text = fixture_message(HERALD_FORMAT_TEXT, "t", "plain words");
    text.payload = payload;
    text.payload_len = sizeof payload - 1;
    prepare(f, &text, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(sb_str(&p.req.body), payload);
    CHECK_STR(p.req.headers[0], "Content-Type: application/json");
    request_free(&p.req);

    herald_message none = fixture_message(HERALD_FORMAT_NATIVE, "", "{}");
    prepare(f, &none, &p);
    CHECK_INT(p.rc, -1);
    CHECK_STR(p.err, "body = \"payload\" but the message carries no payload");
    request_free(&p.req);
    channel()->destroy(f);
}

TEST(put_with_headers_and_basic_auth)
{
    static const char *const headers[] = {"X-Api-Key: k-123 ", "content-type:application/vnd.x+json",
                                          "X-Empty-Looking:\t0"};
    void *f = forwarder(&(options){.url = "http://h:8080/x?token=abc", .method = "put",
                                   .headers = headers, .headers_len = 3,
                                   .username = "herald", .password = "pa:ss"});
    CHECK(f != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", "[1,2]");
    prepared p;
    prepare(f, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.method, "PUT");
    CHECK_INT(p.req.headers_len, 3);
    CHECK_STR(p.req.headers[0], "X-Api-Key: k-123");
    CHECK_STR(p.req.headers[1], "content-type: application/vnd.x+json");
    CHECK_STR(p.req.headers[2], "X-Empty-Looking: 0");
    CHECK_STR(p.req.user, "herald");
    CHECK_STR(p.req.password, "pa:ss");
    CHECK_STR(p.req.log_url, "http://h:8080/…");
    CHECK_STR(sb_str(&p.req.body), "[1,2]");
    request_free(&p.req);
    channel()->destroy(f);

    f = forwarder(&(options){.url = "http://h/", .method = "PATCH", .username = "token-only"});
    CHECK(f != NULL);
    prepare(f, &msg, &p);
    CHECK_STR(p.req.method, "PATCH");
    CHECK_STR(p.req.user, "token-only");
    CHECK_STR(p.req.password, "");
    CHECK_STR(p.req.log_url, "http://h");
    request_free(&p.req);
    channel()->destroy(f);
}

TEST(text_formats_carry_their_content_type)
{
    void *f = forwarder(&(options){.url = "http://user:pw@h:1/"});
    static const struct {
        herald_format format;
        const char *type;
    } cases[] = {{HERALD_FORMAT_TEXT, "Content-Type: text/plain; charset=utf-8"},
                 {HERALD_FORMAT_MARKDOWN, "Content-Type: text/markdown; charset=utf-8"},
                 {HERALD_FORMAT_HTML, "Content-Type: text/html; charset=utf-8"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        herald_message msg = fixture_message(cases[i].format, "t", "告警 <b>x</b>");
        prepared p;
        prepare(f, &msg, &p);
        CHECK_INT(p.rc, 0);
        CHECK_STR(p.req.headers[0], cases[i].type);
        CHECK_STR(sb_str(&p.req.body), "告警 <b>x</b>");
        CHECK_STR(p.req.log_url, "http://h:1");
        request_free(&p.req);
    }
    channel()->destroy(f);
}

/* ---- verdicts ---------------------------------------------------------- */

static void check_verdict(herald_verdict v, herald_verdict_kind kind, long retry_ms,
                          const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, retry_ms);
    CHECK_STR(v.reason, reason);
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

TEST(classify_statuses)
{
    void *f = forwarder(&(options){.url = HOOK_URL});
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, f, 200, "ok", NULL), HERALD_OK, 0, "HTTP 200");
    check_verdict(fixture_classify(ch, f, 202, "", NULL), HERALD_OK, 0, "HTTP 202");
    check_verdict(fixture_classify(ch, f, 204, "", NULL), HERALD_OK, 0, "HTTP 204");
    check_verdict(fixture_classify(ch, f, 429, "slow down", "Retry-After: 30"), HERALD_RETRY,
                  30000, "HTTP 429: slow down");
    check_verdict(fixture_classify(ch, f, 429, "", NULL), HERALD_RETRY, 0, "HTTP 429");
    /* The fixed clock is Tue, 14 Nov 2023 22:13:20 GMT. */
    check_verdict(fixture_classify(ch, f, 503, "busy", "retry-after: Tue, 14 Nov 2023 22:14:20 GMT"),
                  HERALD_RETRY, 60000, "HTTP 503: busy");
    check_verdict(fixture_classify(ch, f, 503, "busy", "Retry-After: Mon, 13 Nov 2023 22:14:20 GMT"),
                  HERALD_RETRY, 0, "HTTP 503: busy");
    check_verdict(fixture_classify(ch, f, 503, "busy", "Retry-After: soon"), HERALD_RETRY, 0,
                  "HTTP 503: busy");
    check_verdict(fixture_classify(ch, f, 500, "<html>\noops</html>", NULL), HERALD_RETRY, 0,
                  "HTTP 500: <html> oops</html>");
    check_verdict(fixture_classify(ch, f, 502, "bad gateway", "Retry-After: 999999"),
                  HERALD_RETRY, 86400000, "HTTP 502: bad gateway");
    check_verdict(fixture_classify(ch, f, 400, "{\"error\":\"bad alert\"}", NULL), HERALD_FAIL, 0,
                  "HTTP 400: {\"error\":\"bad alert\"}");
    check_verdict(fixture_classify(ch, f, 401, "unauthorized", NULL), HERALD_FAIL, 0,
                  "HTTP 401: unauthorized");
    check_verdict(fixture_classify(ch, f, 404, "", NULL), HERALD_FAIL, 0, "HTTP 404");
    check_verdict(fixture_classify(ch, f, 408, "timeout", NULL), HERALD_FAIL, 0,
                  "HTTP 408: timeout");
    check_verdict(fixture_classify(ch, f, 301, "moved", "Location: https://elsewhere/"),
                  HERALD_FAIL, 0, "HTTP 301: moved");

    /* Only the start of a long body, cut at a character boundary. */
    strbuf body = STRBUF_INIT;
    repeat(&body, "参数错误", 3000);
    herald_verdict v = fixture_classify(ch, f, 422, body.data, NULL);
    sb_free(&body);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK(strncmp(v.reason, "HTTP 422: 参数错误", strlen("HTTP 422: 参数错误")) == 0);
    CHECK(strlen(v.reason) <= strlen("HTTP 422: ") + 160);
    CHECK(strlen(v.reason) > strlen("HTTP 422: ") + 150);
    CHECK(is_valid_utf8((const unsigned char *)v.reason, strlen(v.reason)));
    ch->destroy(f);
}

/* ---- configuration ----------------------------------------------------- */

static void check_configure_error(const options *o, const char *expected)
{
    char err[256] = "";
    void *f = configure(o, err, sizeof err);
    if (f)
        channel()->destroy(f);
    CHECK(f == NULL);
    CHECK_STR(err, expected);
}

TEST(configure_errors_name_the_key_never_a_value)
{
    check_configure_error(&(options){.url = "ftp://h/x"}, "url: must be an http:// or https:// URL");
    check_configure_error(&(options){.url = "https:///x"},
                          "url: must name a host, e.g. https://example.com/hook");
    check_configure_error(&(options){.url = "https://u:p@/x"},
                          "url: must name a host, e.g. https://example.com/hook");
    check_configure_error(&(options){.url = "http://h/a b"},
                          "url: must not contain spaces or control characters");
    check_configure_error(&(options){.url = HOOK_URL, .method = "GET"},
                          "method: must be \"POST\" (the default), \"PUT\" or \"PATCH\"");
    check_configure_error(&(options){.url = HOOK_URL, .body = "raw"},
                          "body: must be \"template\" (the default) or \"payload\"");

    static const char *const no_colon[] = {"X-Ok: 1", "Authorization Bearer SECRETVALUE"};
    check_configure_error(&(options){.url = HOOK_URL, .headers = no_colon, .headers_len = 2},
                          "headers: line 2: expected \"Name: value\" with a name of letters, "
                          "digits or -");
    static const char *const bad_name[] = {"X Token: SECRETVALUE"};
    check_configure_error(&(options){.url = HOOK_URL, .headers = bad_name, .headers_len = 1},
                          "headers: line 1: expected \"Name: value\" with a name of letters, "
                          "digits or -");
    static const char *const no_name[] = {": SECRETVALUE"};
    check_configure_error(&(options){.url = HOOK_URL, .headers = no_name, .headers_len = 1},
                          "headers: line 1: expected \"Name: value\" with a name of letters, "
                          "digits or -");
    static const char *const two_lines[] = {"Authorization: Bearer SECRET\r\nX-Evil: 1"};
    check_configure_error(&(options){.url = HOOK_URL, .headers = two_lines, .headers_len = 1},
                          "headers: line 1 (Authorization): the value must be one line");
    static const char *const empty[] = {"X-Token:  "};
    check_configure_error(&(options){.url = HOOK_URL, .headers = empty, .headers_len = 1},
                          "headers: line 1 (X-Token): the value must not be empty");
    static const char *const managed[] = {"Content-Length: 5"};
    check_configure_error(&(options){.url = HOOK_URL, .headers = managed, .headers_len = 1},
                          "headers: line 1: Content-Length is set by herald from the request");

    check_configure_error(&(options){.url = HOOK_URL, .password = "SECRETVALUE"},
                          "password: needs username as well");
    check_configure_error(&(options){.url = HOOK_URL, .username = ""},
                          "username: must not be empty");
    check_configure_error(&(options){.url = HOOK_URL, .username = "a:b", .password = "c"},
                          "username: must not contain ':' (basic auth joins user:password)");
}

TEST(descriptor)
{
    const herald_channel *ch = channel();
    CHECK_STR(ch->name, "webhook");
    CHECK_INT(ch->formats, HERALD_FORMAT_NATIVE | HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN |
                               HERALD_FORMAT_HTML);
    CHECK_INT(ch->max_body_bytes, 0);
    CHECK_INT(ch->rate_per_minute, 0);
    CHECK_STR(ch->default_template, "webhook");
    CHECK_INT(ch->needs_payload, 1);
    static const struct {
        const char *name;
        herald_option_type type;
        int required, secret;
    } expected[] = {
        {"url", HERALD_OPTION_STRING, 1, 1},          {"method", HERALD_OPTION_STRING, 0, 0},
        {"headers", HERALD_OPTION_STRING_LIST, 0, 1}, {"body", HERALD_OPTION_STRING, 0, 0},
        {"username", HERALD_OPTION_STRING, 0, 0},     {"password", HERALD_OPTION_STRING, 0, 1},
    };
    CHECK_INT(ch->options_len, sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < ch->options_len; i++) {
        CHECK_STR(ch->options[i].name, expected[i].name);
        CHECK_INT(ch->options[i].type, expected[i].type);
        CHECK_INT(ch->options[i].required, expected[i].required);
        CHECK_INT(ch->options[i].secret, expected[i].secret);
    }
}

RUN_TESTS(CASE(template_body_exact_request), CASE(payload_forwarded_byte_for_byte),
          CASE(put_with_headers_and_basic_auth), CASE(text_formats_carry_their_content_type),
          CASE(classify_statuses),
          CASE(configure_errors_name_the_key_never_a_value), CASE(descriptor))
