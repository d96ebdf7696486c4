/* feishu.so: exact requests for given messages, verdicts for canned
 * responses, configuration errors. No network. */
#include <cjson/cJSON.h>

#include "plugin_fixture.h"

#define HOOK_URL "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
#define LOG_URL "https://open.feishu.cn/open-apis/bot/v2/hook/…"
#define SECRET "feishutestsecret"
/* CHANNELS.md: secret feishutestsecret at 1700000000 s (the fixture's
 * clock, FIXED_NOW_MS / 1000). */
#define VECTOR_SIGN "x/Zu40sfBTIz1QUNQHKO5U23lgSzndtkCSSxk0gTol4="
#define SIGNATURE "\"timestamp\":\"1700000000\",\"sign\":\"" VECTOR_SIGN "\""
#define MARKER "\n\n…（内容过长，已截断）"

static const herald_channel *channel(void) { return fixture_channel(FEISHU_SO, "feishu"); }

static int64_t one_second_later_ms(void) { return FIXED_NOW_MS + 1000; }

/* NULL for an option that is left out. */
static void *configure_on(const herald_host *host, const char *url, const char *secret,
                          const char *msgtype, char *err, size_t err_cap)
{
    herald_option_value values[3] = {{.present = url != NULL, .string = url},
                                     {.present = secret != NULL, .string = secret},
                                     {.present = msgtype != NULL, .string = msgtype}};
    return channel()->configure(host, "ops", values, err, err_cap);
}

static void *configure(const char *url, const char *secret, const char *msgtype, char *err,
                       size_t err_cap)
{
    channel(); /* loads the plugin and fills fixture_host */
    return configure_on(&fixture_host, url, secret, msgtype, err, err_cap);
}

static void *bot(const char *secret, const char *msgtype)
{
    char err[256] = "";
    void *instance = configure(HOOK_URL, secret, msgtype, err, sizeof err);
    if (!instance)
        printf("    configure failed: %s\n", err);
    return instance;
}

/* Prepares msg on a fresh request; returns prepare's result. */
static int prepare(void *instance, const herald_message *msg, herald_request *req, char *err,
                   size_t err_cap)
{
    request_init(req);
    err[0] = '\0';
    return channel()->prepare(instance, msg, req, err, err_cap);
}

/* The card's markdown content or the text message's text. */
static char *content_of(const char *body)
{
    cJSON *json = cJSON_Parse(body);
    const cJSON *text = cJSON_GetObjectItem(cJSON_GetObjectItem(json, "content"), "text");
    if (!text) {
        const cJSON *elements = cJSON_GetObjectItem(cJSON_GetObjectItem(json, "card"), "elements");
        text = cJSON_GetObjectItem(cJSON_GetArrayItem(elements, 0), "content");
    }
    char *copy = cJSON_IsString(text) ? xstrdup(text->valuestring) : NULL;
    cJSON_Delete(json);
    return copy;
}

static const char *const one_user[] = {"ou_7d8a6e6df7621556ce0d21922b676706"};

TEST(signed_card_exact_request)
{
    void *b = bot(SECRET, NULL);
    CHECK(b != NULL);
    herald_message msg = fixture_message(
        HERALD_FORMAT_MARKDOWN, "[故障] HighCPU",
        "**HighCPU** on `db1`\n[详情](https://grafana.example.com/d/1)");
    msg.mentions.user_ids = one_user;
    msg.mentions.user_ids_len = 1;
    msg.mentions.all = 1;
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, HOOK_URL);
    CHECK_STR(req.log_url, LOG_URL);
    CHECK_INT(req.headers_len, 1);
    CHECK_STR(req.headers[0], "Content-Type: application/json; charset=utf-8");
    CHECK_STR(sb_str(&req.body),
              "{" SIGNATURE ",\"msg_type\":\"interactive\",\"card\":{\"header\":{\"title\":"
              "{\"tag\":\"plain_text\",\"content\":\"[故障] HighCPU\"},\"template\":\"red\"},"
              "\"elements\":[{\"tag\":\"markdown\",\"content\":\"**HighCPU** on `db1`\\n"
              "[详情](https://grafana.example.com/d/1)\\n\\n"
              "<at id=ou_7d8a6e6df7621556ce0d21922b676706></at> <at id=all></at>\"}]}}");
    request_free(&req);
    channel()->destroy(b);
}

TEST(resolved_unsigned_card_is_green_without_signature)
{
    void *b = bot(NULL, "interactive");
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", "已恢复 \"db1\"");
    msg.status = "resolved";
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body),
              "{\"msg_type\":\"interactive\",\"card\":{\"header\":{\"title\":"
              "{\"tag\":\"plain_text\",\"content\":\"herald\"},\"template\":\"green\"},"
              "\"elements\":[{\"tag\":\"markdown\",\"content\":\"已恢复 \\\"db1\\\"\"}]}}");
    request_free(&req);
    channel()->destroy(b);
}

TEST(signed_text_exact_request)
{
    void *b = bot(SECRET, "text");
    herald_message msg =
        fixture_message(HERALD_FORMAT_TEXT, "[故障] 磁盘满", "/data 使用率 99%");
    msg.mentions.user_ids = one_user;
    msg.mentions.user_ids_len = 1;
    msg.mentions.all = 1;
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, HOOK_URL);
    CHECK_STR(sb_str(&req.body),
              "{" SIGNATURE ",\"msg_type\":\"text\",\"content\":{\"text\":\"[故障] 磁盘满\\n"
              "/data 使用率 99%\\n\\n<at user_id=\\\"ou_7d8a6e6df7621556ce0d21922b676706\\\">"
              "</at> <at user_id=\\\"all\\\"></at>\"}}");
    request_free(&req);
    channel()->destroy(b);
}

TEST(signature_follows_the_clock)
{
    void *b = bot(SECRET, "text");
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "x");
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), 0);
    CHECK_CONTAINS(sb_str(&req.body), "\"sign\":\"" VECTOR_SIGN "\"");
    request_free(&req);
    /* Another second, another signature: the timestamp is really signed. */
    herald_host later = fixture_host;
    later.now_ms = one_second_later_ms;
    void *b2 = configure_on(&later, HOOK_URL, SECRET, "text", err, sizeof err);
    CHECK(b2 != NULL);
    CHECK_INT(prepare(b2, &msg, &req, err, sizeof err), 0);
    CHECK_CONTAINS(sb_str(&req.body), "\"timestamp\":\"1700000001\"");
    int same_sign = strstr(sb_str(&req.body), VECTOR_SIGN) != NULL;
    request_free(&req);
    channel()->destroy(b2);
    channel()->destroy(b);
    CHECK(!same_sign);
}

TEST(mentions_once_mobiles_and_bad_ids_left_out)
{
    void *b = bot(NULL, NULL);
    static const char *const users[] = {"ou_a", "ou_b", "ou_a", "bad\"id", "", "ou_c"};
    static const char *const mobiles[] = {"13800000000"};
    herald_message msg =
        fixture_message(HERALD_FORMAT_MARKDOWN, "t", "on call: <at id=ou_b></at> and ou_c");
    msg.mentions.user_ids = users;
    msg.mentions.user_ids_len = 6;
    msg.mentions.mobiles = mobiles;
    msg.mentions.mobiles_len = 1;
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), 0);
    char *content = content_of(sb_str(&req.body));
    /* ou_c in plain words is not a mention, so it still gets its tag. */
    CHECK_STR(content,
              "on call: <at id=ou_b></at> and ou_c\n\n<at id=ou_a></at> <at id=ou_c></at>");
    free(content);
    CHECK(strstr(sb_str(&req.body), "13800000000") == NULL);
    request_free(&req);
    channel()->destroy(b);
}

TEST(native_body_signed_in_front)
{
    void *b = bot(SECRET, NULL);
    const char *native = "{\"msg_type\":\"post\",\"content\":{\"post\":{\"zh_cn\":{\"title\":"
                         "\"告警\",\"content\":[[{\"tag\":\"text\",\"text\":\"x\"}]]}}}}";
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", native);
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), "{" SIGNATURE "," "\"msg_type\":\"post\",\"content\":{\"post\":"
                                 "{\"zh_cn\":{\"title\":\"告警\",\"content\":[[{\"tag\":\"text\","
                                 "\"text\":\"x\"}]]}}}}");
    CHECK_STR(req.url, HOOK_URL);
    request_free(&req);
    channel()->destroy(b);

    void *unsigned_bot = bot(NULL, NULL);
    CHECK_INT(prepare(unsigned_bot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), native);
    request_free(&req);
    channel()->destroy(unsigned_bot);
}

TEST(native_body_refused_when_wrong)
{
    void *b = bot(SECRET, NULL);
    herald_request req;
    char err[256];
    herald_message broken = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"msg_type\":");
    CHECK_INT(prepare(b, &broken, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not a JSON object");
    request_free(&req);

    herald_message no_type = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"card\":{}}");
    CHECK_INT(prepare(b, &no_type, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "msg_type");
    request_free(&req);

    herald_message presigned = fixture_message(
        HERALD_FORMAT_NATIVE, "",
        "{\"msg_type\":\"text\",\"sign\":\"x\",\"content\":{\"text\":\"x\"}}");
    CHECK_INT(prepare(b, &presigned, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "timestamp or sign");
    request_free(&req);

    strbuf big = STRBUF_INIT;
    sb_puts(&big, "{\"msg_type\":\"text\",\"content\":{\"text\":\"");
    while (big.len < 19950)
        sb_puts(&big, "告警");
    sb_puts(&big, "\"}}");
    herald_message too_big = fixture_message(HERALD_FORMAT_NATIVE, "", big.data);
    int rc = prepare(b, &too_big, &req, err, sizeof err);
    sb_free(&big);
    request_free(&req);
    channel()->destroy(b);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(err, "at most 20000");
}

TEST(html_refused)
{
    void *b = bot(NULL, NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_HTML, "", "<b>x</b>");
    herald_request req;
    char err[256];
    CHECK_INT(prepare(b, &msg, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not format");
    request_free(&req);
    channel()->destroy(b);
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

/* 60 KB of Chinese: the cut lands as close to the limit as UTF-8 allows,
 * with the marker and the mentions after it. */
TEST(long_card_truncated_close_to_limit)
{
    void *b = bot(SECRET, NULL);
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘使用率过高🔥\n", 60000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "磁盘告警", text.data);
    msg.mentions.user_ids = one_user;
    msg.mentions.user_ids_len = 1;
    herald_request req;
    char err[256];
    int rc = prepare(b, &msg, &req, err, sizeof err);
    size_t body_len = req.body.len;
    int valid = is_valid_utf8((const unsigned char *)req.body.data, body_len);
    int signed_body = strstr(sb_str(&req.body), SIGNATURE) != NULL;
    char *content = content_of(sb_str(&req.body));
    sb_free(&text);
    request_free(&req);
    channel()->destroy(b);
    CHECK_INT(rc, 0);
    CHECK(body_len <= 20000);
    CHECK(body_len > 20000 - 10);
    CHECK(valid);
    CHECK(signed_body);
    CHECK(content != NULL);
    const char *tail = MARKER "\n\n<at id=ou_7d8a6e6df7621556ce0d21922b676706></at>";
    size_t len = strlen(content);
    int starts_ok = strncmp(content, "磁盘使用率过高🔥\n", strlen("磁盘使用率过高🔥\n")) == 0;
    int tail_ok = len > strlen(tail) && strcmp(content + len - strlen(tail), tail) == 0;
    free(content);
    CHECK(starts_ok);
    CHECK(tail_ok);
}

/* A text message whose natural cut falls inside a link is cut before it. */
TEST(long_text_truncated_outside_links)
{
    void *b = bot(NULL, "text");
    strbuf text = STRBUF_INIT;
    repeat(&text, "告警", 19900);
    size_t before_link = text.len;
    sb_puts(&text, "[详情](https://grafana.example.com/d/");
    repeat(&text, "x", text.len + 3000);
    sb_puts(&text, ")\n");
    repeat(&text, "恢复", 40000);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "标题", text.data);
    herald_request req;
    char err[256];
    int rc = prepare(b, &msg, &req, err, sizeof err);
    size_t body_len = req.body.len;
    char *content = content_of(sb_str(&req.body));
    strbuf expected = STRBUF_INIT;
    sb_puts(&expected, "标题\n");
    sb_append(&expected, text.data, before_link);
    sb_puts(&expected, MARKER);
    int same = content && strcmp(content, sb_str(&expected)) == 0;
    free(content);
    sb_free(&expected);
    sb_free(&text);
    request_free(&req);
    channel()->destroy(b);
    CHECK_INT(rc, 0);
    CHECK(body_len <= 20000);
    CHECK(same);
}

TEST(title_too_long_to_fit_is_an_error)
{
    void *b = bot(NULL, NULL);
    strbuf title = STRBUF_INIT;
    repeat(&title, "标题", 21000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, title.data, "x");
    herald_request req;
    char err[256];
    int rc = prepare(b, &msg, &req, err, sizeof err);
    sb_free(&title);
    request_free(&req);
    channel()->destroy(b);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(err, "does not fit in 20000 bytes");
}

static void check_verdict(herald_verdict v, herald_verdict_kind kind, long retry_ms,
                          const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, retry_ms);
    CHECK_STR(v.reason, reason);
}

TEST(classify_codes)
{
    void *b = bot(SECRET, NULL);
    const herald_channel *ch = channel();
    static const struct {
        long code;
        const char *msg;
        herald_verdict_kind kind;
        long retry_ms;
    } cases[] = {
        {11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]", HERALD_RETRY,
         10000},
        {19021, "sign match fail or timestamp is not within one hour from current time",
         HERALD_FAIL, 0},
        {19022, "Ip Not Allowed", HERALD_FAIL, 0},
        {19024, "Key Words Not Found", HERALD_FAIL, 0},
        {9499, "Bad Request", HERALD_FAIL, 0},
        {19001, "param invalid: incoming webhook access token invalid", HERALD_FAIL, 0},
        {19002, "params error, msg_type need", HERALD_FAIL, 0},
        {19036, "The message exceeds the size limit", HERALD_FAIL, 0},
        {123456, "something new", HERALD_FAIL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256], reason[256];
        snprintf(body, sizeof body, "{\"code\":%ld,\"data\":{},\"msg\":\"%s\"}", cases[i].code,
                 cases[i].msg);
        snprintf(reason, sizeof reason, "code %ld: %s", cases[i].code, cases[i].msg);
        herald_verdict v = fixture_classify(ch, b, 200, body, NULL);
        if (v.kind != cases[i].kind)
            printf("    code %ld\n", cases[i].code);
        check_verdict(v, cases[i].kind, cases[i].retry_ms, reason);
    }
    check_verdict(
        fixture_classify(ch, b, 200, "{\"code\":0,\"data\":{},\"msg\":\"success\"}", NULL),
        HERALD_OK, 0, "ok");
    check_verdict(
        fixture_classify(ch, b, 200,
                         "{\"Extra\":null,\"StatusCode\":0,\"StatusMessage\":\"success\"}", NULL),
        HERALD_OK, 0, "ok");
    check_verdict(
        fixture_classify(ch, b, 200,
                         "{\"StatusCode\":19021,\"StatusMessage\":\"sign match fail\"}", NULL),
        HERALD_FAIL, 0, "code 19021: sign match fail");
    /* Retry-After, when sent with 11232, says better than our guess. */
    check_verdict(fixture_classify(ch, b, 200, "{\"code\":11232,\"msg\":\"frequency limited\"}",
                                   "Retry-After: 3"),
                  HERALD_RETRY, 3000, "code 11232: frequency limited");
    /* Refusals that come with HTTP 400 are judged by their code. */
    check_verdict(fixture_classify(ch, b, 400,
                                   "{\"code\":9499,\"msg\":\"Bad Request\",\"data\":{}}", NULL),
                  HERALD_FAIL, 0, "code 9499: Bad Request");
    check_verdict(fixture_classify(ch, b, 400, "{\"code\":11232,\"msg\":\"frequency limited\"}",
                                   NULL),
                  HERALD_RETRY, 10000, "code 11232: frequency limited");
    ch->destroy(b);
}

TEST(classify_http_statuses)
{
    void *b = bot(NULL, NULL);
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, b, 429, "too many", "retry-after: 30"), HERALD_RETRY,
                  30000, "HTTP 429: too many");
    check_verdict(fixture_classify(ch, b, 429, "", NULL), HERALD_RETRY, 0, "HTTP 429: ");
    check_verdict(fixture_classify(ch, b, 500, "<html>oops</html>", NULL), HERALD_RETRY, 0,
                  "HTTP 500: <html>oops</html>");
    check_verdict(fixture_classify(ch, b, 503, "{\"code\":19021,\"msg\":\"x\"}", "Retry-After: 7"),
                  HERALD_RETRY, 7000, "HTTP 503: {\"code\":19021,\"msg\":\"x\"}");
    check_verdict(fixture_classify(ch, b, 404, "not found\nat all", NULL), HERALD_FAIL, 0,
                  "HTTP 404: not found at all");
    check_verdict(fixture_classify(ch, b, 400, "{\"code\":0,\"msg\":\"success\"}", NULL),
                  HERALD_FAIL, 0, "HTTP 400: {\"code\":0,\"msg\":\"success\"}");
    check_verdict(fixture_classify(ch, b, 200, "<html>gateway</html>", NULL), HERALD_FAIL, 0,
                  "unexpected response: <html>gateway</html>");
    check_verdict(fixture_classify(ch, b, 200, "{\"code\":\"0\"}", NULL), HERALD_FAIL, 0,
                  "unexpected response: {\"code\":\"0\"}");
    ch->destroy(b);
}

TEST(classify_reason_stays_valid_utf8)
{
    void *b = bot(NULL, NULL);
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "{\"code\":19024,\"msg\":\"");
    repeat(&body, "关键词不匹配", 1000);
    sb_puts(&body, "\"}");
    herald_verdict v = fixture_classify(channel(), b, 200, body.data, NULL);
    sb_free(&body);
    channel()->destroy(b);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK(strlen(v.reason) > 240);
    CHECK(is_valid_utf8((const unsigned char *)v.reason, strlen(v.reason)));
    CHECK(strncmp(v.reason, "code 19024: 关键词", strlen("code 19024: 关键词")) == 0);
}

TEST(configure_errors_name_the_key)
{
    static const char *const bad_urls[] = {
        "ftp://open.feishu.cn/open-apis/bot/v2/hook/abc",
        "https://open.feishu.cn/open-apis/bot/v2/hook/",
        "https://open.feishu.cn/open-apis/bot/v2/abc",
        "https:///open-apis/bot/v2/hook/abc",
        "https://open.feishu.cn/open-apis/bot/v2/hook/abc?x=1",
        "open.feishu.cn/open-apis/bot/v2/hook/abc",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        err[0] = '\0';
        void *b = configure(bad_urls[i], NULL, NULL, err, sizeof err);
        if (b)
            printf("    accepted %s\n", bad_urls[i]);
        CHECK(b == NULL);
        CHECK(strncmp(err, "url: must be an http(s) URL ending in /open-apis/bot/v2/hook/<token>",
                      strlen("url: must be an http(s) URL ending in "
                             "/open-apis/bot/v2/hook/<token>")) == 0);
    }
    CHECK(configure(HOOK_URL, "", NULL, err, sizeof err) == NULL);
    CHECK(strncmp(err, "secret: must not be empty", strlen("secret: must not be empty")) == 0);
    CHECK(configure(HOOK_URL, NULL, "markdown", err, sizeof err) == NULL);
    CHECK_STR(err, "msgtype: must be \"interactive\" or \"text\"");
    /* Lark and a test server are fine too. */
    void *lark = configure("https://open.larksuite.com/open-apis/bot/v2/hook/abc-123", SECRET,
                           "text", err, sizeof err);
    CHECK(lark != NULL);
    channel()->destroy(lark);
    void *local = configure("http://127.0.0.1:8080/open-apis/bot/v2/hook/T1", NULL, NULL, err,
                            sizeof err);
    CHECK(local != NULL);
    channel()->destroy(local);
}

TEST(descriptors)
{
    const herald_channel *ch = channel();
    CHECK_STR(ch->name, "feishu");
    CHECK_INT(ch->formats, HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE);
    CHECK_INT(ch->max_body_bytes, 20000);
    CHECK_INT(ch->rate_per_minute, 100);
    CHECK_STR(ch->default_template, "feishu");
    CHECK_INT(ch->options_len, 3);
    CHECK_STR(ch->options[0].name, "url");
    CHECK(ch->options[0].required && ch->options[0].secret);
    CHECK_STR(ch->options[1].name, "secret");
    CHECK(!ch->options[1].required && ch->options[1].secret);
    CHECK_STR(ch->options[2].name, "msgtype");
    CHECK(!ch->options[2].required && !ch->options[2].secret);
}

RUN_TESTS(CASE(signed_card_exact_request), CASE(resolved_unsigned_card_is_green_without_signature),
          CASE(signed_text_exact_request), CASE(signature_follows_the_clock),
          CASE(mentions_once_mobiles_and_bad_ids_left_out), CASE(native_body_signed_in_front),
          CASE(native_body_refused_when_wrong), CASE(html_refused),
          CASE(long_card_truncated_close_to_limit), CASE(long_text_truncated_outside_links),
          CASE(title_too_long_to_fit_is_an_error), CASE(classify_codes),
          CASE(classify_http_statuses), CASE(classify_reason_stays_valid_utf8),
          CASE(configure_errors_name_the_key), CASE(descriptors))
