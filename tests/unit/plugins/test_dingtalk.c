/* dingtalk.so: exact requests for given messages, verdicts for canned
 * responses, configuration errors. No network. */
#include <cjson/cJSON.h>

#include "plugin_fixture.h"

#define ROBOT_URL "https://oapi.dingtalk.com/robot/send?access_token=tok123"
#define SECRET "SECtestsecret0123456789"
#define SIGNED_URL ROBOT_URL "&timestamp=1700000000000&sign=zrLWzK97t62y5CpqN8Ok9UIdPvX%2BjL1PNoW8nKT5a9k%3D"
#define MARKER "\n\n…（内容过长，已截断）"

static const herald_channel *channel(const char *name)
{
    return fixture_channel(DINGTALK_SO, name);
}

static void *configure(const char *channel_name, const char *url, const char *extra, char *err,
                       size_t err_cap)
{
    /* In spec order: url, urls, then secret (signed) or keyword. */
    herald_option_value values[4] = {{.present = url != NULL, .string = url},
                                     {0},
                                     {.present = 1, .string = extra},
                                     {0}};
    return channel(channel_name)->configure(&fixture_host, "ops", values, err, err_cap);
}

static void *signed_robot(void)
{
    char err[256];
    return configure("dingtalk", ROBOT_URL, SECRET, err, sizeof err);
}

static void *keyword_robot(void)
{
    char err[256];
    return configure("dingtalk_keyword", ROBOT_URL, "告警", err, sizeof err);
}

/* The "text" (markdown) or "content" (text) of a serialized body. */
static char *content_of(const char *body)
{
    cJSON *json = cJSON_Parse(body);
    const cJSON *msgtype = cJSON_GetObjectItem(json, "msgtype");
    const char *type = cJSON_IsString(msgtype) ? msgtype->valuestring : "";
    const cJSON *inner = cJSON_GetObjectItem(json, type);
    const cJSON *text =
        cJSON_GetObjectItem(inner, strcmp(type, "markdown") == 0 ? "text" : "content");
    char *copy = cJSON_IsString(text) ? xstrdup(text->valuestring) : NULL;
    cJSON_Delete(json);
    return copy;
}

static const char *const two_mobiles[] = {"13800000000", "13900000000"};
static const char *const one_user[] = {"lisi"};

TEST(signed_markdown_exact_request)
{
    void *robot = signed_robot();
    CHECK(robot != NULL);
    herald_message msg = fixture_message(
        HERALD_FORMAT_MARKDOWN, "[FIRING:1] HighCPU",
        "**HighCPU** on `db1`\n> load 9.5\n[dashboard](https://grafana.example.com/d/1)");
    msg.mentions.mobiles = two_mobiles;
    msg.mentions.mobiles_len = 1;
    msg.mentions.user_ids = one_user;
    msg.mentions.user_ids_len = 1;
    herald_request req;
    request_init(&req);
    char err[256] = "";
    int rc = channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err);
    CHECK_INT(rc, 0);
    CHECK_STR(req.url, SIGNED_URL);
    CHECK_STR(req.log_url, "https://oapi.dingtalk.com/robot/send?access_token=…"
                           "&timestamp=1700000000000&sign=…");
    CHECK_INT(req.headers_len, 1);
    CHECK_STR(req.headers[0], "Content-Type: application/json; charset=utf-8");
    CHECK_STR(sb_str(&req.body),
              "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":\"[FIRING:1] HighCPU\","
              "\"text\":\"**HighCPU** on `db1`\\n> load 9.5\\n"
              "[dashboard](https://grafana.example.com/d/1)\\n\\n@13800000000 @lisi\"},"
              "\"at\":{\"atMobiles\":[\"13800000000\"],\"atUserIds\":[\"lisi\"],"
              "\"isAtAll\":false}}");
    request_free(&req);
    channel("dingtalk")->destroy(robot);
}

TEST(signed_text_exact_request)
{
    void *robot = signed_robot();
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "ignored", "告警: 磁盘满 \"/data\"");
    msg.mentions.all = 1;
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, SIGNED_URL);
    CHECK_STR(sb_str(&req.body),
              "{\"msgtype\":\"text\",\"text\":{\"content\":\"告警: 磁盘满 \\\"/data\\\"\"},"
              "\"at\":{\"atMobiles\":[],\"atUserIds\":[],\"isAtAll\":true}}");
    request_free(&req);
    channel("dingtalk")->destroy(robot);
}

TEST(markdown_without_title_is_titled_herald)
{
    void *robot = signed_robot();
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", "x");
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err), 0);
    CHECK_CONTAINS(sb_str(&req.body), "\"markdown\":{\"title\":\"herald\",\"text\":\"x\"}");
    request_free(&req);
    channel("dingtalk")->destroy(robot);
}

TEST(mentions_appended_once)
{
    void *robot = signed_robot();
    static const char *const mobiles[] = {"13800000000", "13900000000", "13900000000"};
    static const char *const users[] = {"lisi", "wangwu"};
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "",
                                         "on call: @13800000000 and @wangwu2");
    msg.mentions.mobiles = mobiles;
    msg.mentions.mobiles_len = 3;
    msg.mentions.user_ids = users;
    msg.mentions.user_ids_len = 2;
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err), 0);
    char *content = content_of(sb_str(&req.body));
    /* @wangwu2 is somebody else, so wangwu still needs his own @. */
    CHECK_STR(content, "on call: @13800000000 and @wangwu2\n\n@13900000000 @lisi @wangwu");
    free(content);
    CHECK_CONTAINS(sb_str(&req.body),
                   "\"atMobiles\":[\"13800000000\",\"13900000000\",\"13900000000\"],"
                   "\"atUserIds\":[\"lisi\",\"wangwu\"]");
    request_free(&req);
    channel("dingtalk")->destroy(robot);
}

TEST(keyword_prefixed_when_missing)
{
    void *robot = keyword_robot();
    CHECK(robot != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "disk full on db1");
    msg.mentions.mobiles = two_mobiles;
    msg.mentions.mobiles_len = 1;
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk_keyword")->prepare(robot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, ROBOT_URL);
    CHECK_STR(req.log_url, "https://oapi.dingtalk.com/robot/send?access_token=…");
    CHECK_STR(sb_str(&req.body),
              "{\"msgtype\":\"text\",\"text\":{\"content\":\"告警\\n\\ndisk full on db1"
              "\\n\\n@13800000000\"},\"at\":{\"atMobiles\":[\"13800000000\"],"
              "\"atUserIds\":[],\"isAtAll\":false}}");
    request_free(&req);
    channel("dingtalk_keyword")->destroy(robot);
}

TEST(keyword_not_duplicated_when_present)
{
    void *robot = keyword_robot();
    const herald_channel *ch = channel("dingtalk_keyword");
    char err[256] = "";
    herald_request req;

    herald_message in_text = fixture_message(HERALD_FORMAT_TEXT, "", "磁盘告警: db1");
    request_init(&req);
    CHECK_INT(ch->prepare(robot, &in_text, &req, err, sizeof err), 0);
    char *content = content_of(sb_str(&req.body));
    CHECK_STR(content, "磁盘告警: db1");
    free(content);
    request_free(&req);

    herald_message in_title = fixture_message(HERALD_FORMAT_MARKDOWN, "告警 db1", "disk full");
    request_init(&req);
    CHECK_INT(ch->prepare(robot, &in_title, &req, err, sizeof err), 0);
    content = content_of(sb_str(&req.body));
    CHECK_STR(content, "disk full");
    free(content);
    request_free(&req);
    ch->destroy(robot);
}

TEST(native_body_sent_as_is_and_signed)
{
    void *robot = signed_robot();
    const char *native = "{\"msgtype\":\"link\",\"link\":{\"title\":\"告警\",\"text\":\"x\","
                         "\"messageUrl\":\"https://example.com\"}}";
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", native);
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), native);
    CHECK_STR(req.url, SIGNED_URL);
    request_free(&req);

    herald_message broken = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"msgtype\":");
    request_init(&req);
    CHECK_INT(channel("dingtalk")->prepare(robot, &broken, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not a JSON object");
    request_free(&req);
    channel("dingtalk")->destroy(robot);
}

TEST(native_keyword_checked_on_raw_text)
{
    void *robot = keyword_robot();
    const herald_channel *ch = channel("dingtalk_keyword");
    herald_request req;
    char err[256] = "";
    herald_message with = fixture_message(HERALD_FORMAT_NATIVE, "",
                                          "{\"msgtype\":\"text\",\"text\":{\"content\":\"告警\"}}");
    request_init(&req);
    CHECK_INT(ch->prepare(robot, &with, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), with.text);
    request_free(&req);

    herald_message without = fixture_message(HERALD_FORMAT_NATIVE, "",
                                             "{\"msgtype\":\"text\",\"text\":{\"content\":\"x\"}}");
    request_init(&req);
    CHECK_INT(ch->prepare(robot, &without, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "keyword \"告警\"");
    request_free(&req);
    ch->destroy(robot);
}

TEST(html_refused)
{
    void *robot = signed_robot();
    herald_message msg = fixture_message(HERALD_FORMAT_HTML, "", "<b>x</b>");
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not format");
    request_free(&req);
    channel("dingtalk")->destroy(robot);
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

/* 60 KB of Chinese markdown whose natural cut point lies inside a long
 * link, with the only @ of the on-call mobile at the very end. */
TEST(long_markdown_truncated_outside_links)
{
    void *robot = signed_robot();
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘", 18960);
    size_t before_link = text.len;
    sb_puts(&text, "[详情](https://grafana.example.com/d/");
    repeat(&text, "x", text.len + 3000);
    sb_puts(&text, ")\n");
    repeat(&text, "告警恢复", 60000);
    sb_puts(&text, "\n@13800000000");
    CHECK(text.len > 60000);

    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "磁盘告警", text.data);
    msg.mentions.mobiles = two_mobiles;
    msg.mentions.mobiles_len = 1;
    herald_request req;
    request_init(&req);
    char err[256] = "";
    CHECK_INT(channel("dingtalk")->prepare(robot, &msg, &req, err, sizeof err), 0);
    CHECK(req.body.len < 20000);
    CHECK(is_valid_utf8((const unsigned char *)req.body.data, req.body.len));
    char *content = content_of(sb_str(&req.body));
    CHECK(content != NULL);
    strbuf expected = STRBUF_INIT;
    sb_append(&expected, text.data, before_link);
    sb_puts(&expected, MARKER "\n\n@13800000000");
    int same = strcmp(content, sb_str(&expected)) == 0;
    free(content);
    sb_free(&expected);
    sb_free(&text);
    request_free(&req);
    channel("dingtalk")->destroy(robot);
    CHECK(same);
}

/* Without links the cut lands as close to the limit as UTF-8 allows. */
TEST(long_text_truncated_close_to_limit)
{
    void *robot = keyword_robot();
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘使用率过高🔥\n", 60000);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", text.data);
    msg.mentions.mobiles = two_mobiles;
    msg.mentions.mobiles_len = 2;
    herald_request req;
    request_init(&req);
    char err[256] = "";
    int rc = channel("dingtalk_keyword")->prepare(robot, &msg, &req, err, sizeof err);
    size_t body_len = req.body.len;
    int valid = is_valid_utf8((const unsigned char *)req.body.data, body_len);
    char *content = content_of(sb_str(&req.body));
    sb_free(&text);
    request_free(&req);
    channel("dingtalk_keyword")->destroy(robot);
    CHECK_INT(rc, 0);
    CHECK(body_len < 20000);
    CHECK(body_len > 20000 - 10);
    CHECK(valid);
    CHECK(content != NULL);
    int keyword_first = strncmp(content, "告警\n\n磁盘", strlen("告警\n\n磁盘")) == 0;
    const char *tail = MARKER "\n\n@13800000000 @13900000000";
    size_t len = strlen(content);
    int tail_ok = len > strlen(tail) && strcmp(content + len - strlen(tail), tail) == 0;
    free(content);
    CHECK(keyword_first);
    CHECK(tail_ok);
}

/* The keyword only at the end of a long text is cut off with the tail, so
 * it has to come back as the prefix. */
TEST(keyword_cut_off_comes_back_first)
{
    void *robot = keyword_robot();
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘", 30000);
    sb_puts(&text, " 告警");
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", text.data);
    herald_request req;
    request_init(&req);
    char err[256] = "";
    int rc = channel("dingtalk_keyword")->prepare(robot, &msg, &req, err, sizeof err);
    char *content = content_of(sb_str(&req.body));
    size_t body_len = req.body.len;
    sb_free(&text);
    request_free(&req);
    channel("dingtalk_keyword")->destroy(robot);
    CHECK_INT(rc, 0);
    CHECK(body_len < 20000);
    int keyword_first = content && strncmp(content, "告警\n\n磁盘", strlen("告警\n\n磁盘")) == 0;
    free(content);
    CHECK(keyword_first);
}

static void check_verdict(herald_verdict v, herald_verdict_kind kind, long retry_ms,
                          const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, retry_ms);
    CHECK_STR(v.reason, reason);
}

#define ERRCODE_BODY(code, msg) "{\"errcode\":" #code ",\"errmsg\":\"" msg "\"}"

TEST(classify_errcodes)
{
    void *robot = signed_robot();
    const herald_channel *ch = channel("dingtalk");
    static const struct {
        long errcode;
        herald_verdict_kind kind;
        long retry_ms;
    } cases[] = {
        {0, HERALD_OK, 0},
        {130101, HERALD_RETRY, 600000},
        {410100, HERALD_RETRY, 60000},
        {310000, HERALD_FAIL, 0},
        {300001, HERALD_FAIL, 0},
        {300005, HERALD_FAIL, 0},
        {460101, HERALD_FAIL, 0},
        {101002, HERALD_FAIL, 0},
        {400013, HERALD_FAIL, 0},
        {400102, HERALD_FAIL, 0},
        {400105, HERALD_FAIL, 0},
        {123456, HERALD_FAIL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[128], reason[128];
        snprintf(body, sizeof body, "{\"errcode\":%ld,\"errmsg\":\"message %ld\"}",
                 cases[i].errcode, cases[i].errcode);
        if (cases[i].errcode == 0)
            snprintf(reason, sizeof reason, "ok");
        else
            snprintf(reason, sizeof reason, "errcode %ld: message %ld", cases[i].errcode,
                     cases[i].errcode);
        herald_verdict v = fixture_classify(ch, robot, 200, body, NULL);
        if (v.kind != cases[i].kind)
            printf("    errcode %ld\n", cases[i].errcode);
        check_verdict(v, cases[i].kind, cases[i].retry_ms, reason);
    }
    check_verdict(fixture_classify(ch, robot, 200,
                                   ERRCODE_BODY(310000, "keywords not in content"), NULL),
                  HERALD_FAIL, 0, "errcode 310000: keywords not in content");
    ch->destroy(robot);
}

TEST(classify_http_statuses)
{
    void *robot = signed_robot();
    const herald_channel *ch = channel("dingtalk");
    check_verdict(fixture_classify(ch, robot, 429, "too many", "retry-after: 30"), HERALD_RETRY,
                  30000, "HTTP 429: too many");
    check_verdict(fixture_classify(ch, robot, 429, "", NULL), HERALD_RETRY, 0, "HTTP 429: ");
    check_verdict(fixture_classify(ch, robot, 500, "<html>oops</html>", NULL), HERALD_RETRY, 0,
                  "HTTP 500: <html>oops</html>");
    check_verdict(fixture_classify(ch, robot, 503, "busy", "Retry-After: 7"), HERALD_RETRY,
                  7000, "HTTP 503: busy");
    check_verdict(fixture_classify(ch, robot, 404, "not found\nat all", NULL), HERALD_FAIL, 0,
                  "HTTP 404: not found at all");
    check_verdict(fixture_classify(ch, robot, 200, "<html>gateway</html>", NULL), HERALD_FAIL, 0,
                  "unexpected response: <html>gateway</html>");
    check_verdict(fixture_classify(ch, robot, 200, "{\"ok\":true}", NULL), HERALD_FAIL, 0,
                  "unexpected response: {\"ok\":true}");
    ch->destroy(robot);
}

TEST(classify_reason_stays_valid_utf8)
{
    void *robot = signed_robot();
    const herald_channel *ch = channel("dingtalk");
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "{\"errcode\":310000,\"errmsg\":\"");
    repeat(&body, "关键词不匹配", 1000);
    sb_puts(&body, "\"}");
    herald_verdict v = fixture_classify(ch, robot, 200, body.data, NULL);
    sb_free(&body);
    ch->destroy(robot);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK(strlen(v.reason) > 240);
    CHECK(is_valid_utf8((const unsigned char *)v.reason, strlen(v.reason)));
    CHECK(strncmp(v.reason, "errcode 310000: 关键词", strlen("errcode 310000: 关键词")) == 0);
}

TEST(configure_errors_name_the_key)
{
    char err[256] = "";
    CHECK(configure("dingtalk", "ftp://x/?access_token=1", SECRET, err, sizeof err) == NULL);
    CHECK_STR(err, "url: must be an http(s) URL with access_token=…");
    err[0] = '\0';
    CHECK(configure("dingtalk", "https://oapi.dingtalk.com/robot/send", SECRET, err,
                    sizeof err) == NULL);
    CHECK_CONTAINS(err, "url: ");
    CHECK(configure("dingtalk", ROBOT_URL, "", err, sizeof err) == NULL);
    CHECK_STR(err, "secret: must not be empty");
    CHECK(configure("dingtalk_keyword", ROBOT_URL, "", err, sizeof err) == NULL);
    CHECK_STR(err, "keyword: must not be empty");
    CHECK(configure("dingtalk_keyword", "oapi.dingtalk.com?access_token=1", "k", err,
                    sizeof err) == NULL);
    CHECK_CONTAINS(err, "url: ");
    /* A secret without the usual SEC prefix is still accepted. */
    void *robot = configure("dingtalk", "http://127.0.0.1/send?access_token=1", "plain", err,
                            sizeof err);
    CHECK(robot != NULL);
    channel("dingtalk")->destroy(robot);
}

TEST(descriptors)
{
    const herald_channel *ch = channel("dingtalk");
    CHECK_INT(ch->formats,
              HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE);
    /* url or urls, secret or secrets: configure requires one of each. */
    CHECK_INT(ch->options_len, 4);
    static const char *const names[] = {"url", "urls", "secret", "secrets"};
    for (size_t i = 0; i < 4; i++) {
        CHECK_STR(ch->options[i].name, names[i]);
        CHECK(!ch->options[i].required && ch->options[i].secret);
    }
    CHECK_INT(ch->options[1].type, HERALD_OPTION_STRING_LIST);
    const herald_channel *kw = channel("dingtalk_keyword");
    CHECK_INT(kw->options_len, 3);
    CHECK_STR(kw->options[2].name, "keyword");
    CHECK(kw->options[2].required && !kw->options[2].secret);
    CHECK_INT(kw->max_body_bytes, 20000);
    CHECK_INT(kw->rate_per_minute, 20);
    CHECK_STR(kw->default_template, "dingtalk");
}

/* Two robots of one group: the core picks one per message (msg.target),
 * each signs with its own secret and has its own rate-limit key. */
TEST(several_robots_spread_messages)
{
    static const char *const urls[] = {"https://oapi.dingtalk.com/robot/send?access_token=one",
                                       "https://oapi.dingtalk.com/robot/send?access_token=two"};
    static const char *const secrets[] = {"SECone", "SECtwo"};
    herald_option_value values[4] = {{0},
                                     {.present = 1, .list = urls, .list_len = 2},
                                     {0},
                                     {.present = 1, .list = secrets, .list_len = 2}};
    char err[256] = "";
    const herald_channel *ch = channel("dingtalk");
    void *robot = ch->configure(&fixture_host, "ops", values, err, sizeof err);
    if (!robot)
        FAIL_AT("%s", err);
    CHECK_INT(ch->targets(robot), 2);
    char key0[256], key1[256];
    ch->target_key(robot, 0, key0, sizeof key0);
    ch->target_key(robot, 1, key1, sizeof key1);
    CHECK(strcmp(key0, key1) != 0);
    CHECK(ch->text_budget(robot) < 20000);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "t", "hello");
    char first_sign[128] = "";
    for (size_t i = 0; i < 2; i++) {
        msg.target = i;
        herald_request req;
        request_init(&req);
        CHECK_INT(ch->prepare(robot, &msg, &req, err, sizeof err), 0);
        CHECK_CONTAINS(req.url, i ? "access_token=two&timestamp=" : "access_token=one&timestamp=");
        /* The robot's number follows the whole redacted URL, never inside it. */
        const char *note = strstr(req.log_url, " (robot ");
        CHECK(note != NULL);
        CHECK_STR(note, i ? " (robot 2 of 2)" : " (robot 1 of 2)");
        const char *sign = strstr(req.log_url, "&sign=…");
        CHECK(sign != NULL && sign < note);
        CHECK_CONTAINS(req.url, "&sign=");
        /* Different secrets, same timestamp: different signatures. */
        if (i == 0)
            snprintf(first_sign, sizeof first_sign, "%s", strstr(req.url, "&sign="));
        else
            CHECK(strcmp(first_sign, strstr(req.url, "&sign=")) != 0);
        request_free(&req);
    }
    ch->destroy(robot);

    /* One secret per url; url and urls are exclusive. */
    values[3].list_len = 1;
    CHECK(ch->configure(&fixture_host, "ops", values, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "secrets: needs one secret per url (2 urls, 1 secrets)");
    values[0] = (herald_option_value){.present = 1, .string = urls[0]};
    CHECK(ch->configure(&fixture_host, "ops", values, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "url: set url or urls, not both");
}

TEST(blocked_robot_waits_out_the_ten_minutes)
{
    void *robot = signed_robot();
    herald_verdict v = {0};
    herald_response resp = {.status = 200,
                            .body = "{\"errcode\":130101,\"errmsg\":\"send too fast\"}"};
    resp.body_len = strlen(resp.body);
    host_response full = {.pub = resp};
    channel("dingtalk")->classify(robot, &full.pub, &v);
    CHECK_INT(v.kind, HERALD_RETRY);
    CHECK_INT(v.retry_after_ms, 600000);
    channel("dingtalk")->destroy(robot);
}

RUN_TESTS(CASE(several_robots_spread_messages), CASE(blocked_robot_waits_out_the_ten_minutes),
          CASE(signed_markdown_exact_request), CASE(signed_text_exact_request),
          CASE(markdown_without_title_is_titled_herald), CASE(mentions_appended_once),
          CASE(keyword_prefixed_when_missing), CASE(keyword_not_duplicated_when_present),
          CASE(native_body_sent_as_is_and_signed), CASE(native_keyword_checked_on_raw_text),
          CASE(html_refused), CASE(long_markdown_truncated_outside_links),
          CASE(long_text_truncated_close_to_limit), CASE(keyword_cut_off_comes_back_first), CASE(classify_errcodes),
          CASE(classify_http_statuses), CASE(classify_reason_stays_valid_utf8),
          CASE(configure_errors_name_the_key), CASE(descriptors))
