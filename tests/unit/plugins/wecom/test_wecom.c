/* wecom.so: exact requests for given messages and msgtypes, content limits
 * with Chinese text, verdicts for canned responses, configuration errors.
 * No network. */
#include <cjson/cJSON.h>

#include "plugin_fixture.h"

#define ROBOT_URL "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7e2d-4bc4-97a0-0ec2b1fa5aaa"
#define LOG_URL "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"
#define MARKER "\n\n…（内容过长，已截断）"

static const herald_channel *channel(void) { return fixture_channel(WECOM_SO, "wecom"); }

/* msgtype NULL: the option is left out. */
static void *configure(const char *url, const char *msgtype, char *err, size_t err_cap)
{
    herald_option_value values[2] = {{.present = 1, .string = url},
                                     {.present = msgtype != NULL, .string = msgtype}};
    return channel()->configure(&fixture_host, "ops", values, err, err_cap);
}

static void *robot(const char *msgtype)
{
    char err[256] = "";
    void *r = configure(ROBOT_URL, msgtype, err, sizeof err);
    if (!r)
        printf("    configure: %s\n", err);
    return r;
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

/* The <msgtype>.content of a serialized body, or NULL. */
static char *content_of(const char *body)
{
    cJSON *json = cJSON_Parse(body);
    const cJSON *msgtype = cJSON_GetObjectItem(json, "msgtype");
    const cJSON *inner =
        cJSON_GetObjectItem(json, cJSON_IsString(msgtype) ? msgtype->valuestring : "");
    const cJSON *content = cJSON_GetObjectItem(inner, "content");
    char *copy = cJSON_IsString(content) ? xstrdup(content->valuestring) : NULL;
    cJSON_Delete(json);
    return copy;
}

static int ends_with(const char *text, const char *tail)
{
    size_t len = strlen(text), tail_len = strlen(tail);
    return len >= tail_len && strcmp(text + len - tail_len, tail) == 0;
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

static const char *const one_mobile[] = {"13800000000"};
static const char *const two_users[] = {"lisi", "wangwu"};

#define SAMPLE_MARKDOWN                                                                    \
    "### <font color=\"warning\">🚨 [故障] HighCPU</font>\n"                              \
    "**告警主机**：db1\\_prod\n"                                                          \
    "**告警详情**：<font color=\"comment\">load 9.5</font>\n"                              \
    "[查看详情](https://grafana.example.com/d/1?a=b)"

TEST(markdown_exact_request)
{
    void *r = robot(NULL); /* markdown is the default */
    CHECK(r != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "[FIRING:1] HighCPU",
                                         SAMPLE_MARKDOWN);
    msg.mentions.user_ids = two_users;
    msg.mentions.user_ids_len = 2;
    msg.mentions.mobiles = one_mobile;
    msg.mentions.mobiles_len = 1;
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.url, ROBOT_URL);
    CHECK_STR(p.req.log_url, LOG_URL);
    CHECK_INT(p.req.headers_len, 1);
    CHECK_STR(p.req.headers[0], "Content-Type: application/json; charset=utf-8");
    /* Markdown can notify user ids only, through <@id> in the content. */
    CHECK_STR(sb_str(&p.req.body),
              "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":"
              "\"### <font color=\\\"warning\\\">🚨 [故障] HighCPU</font>\\n"
              "**告警主机**：db1\\\\_prod\\n"
              "**告警详情**：<font color=\\\"comment\\\">load 9.5</font>\\n"
              "[查看详情](https://grafana.example.com/d/1?a=b)"
              "\\n\\n<@lisi> <@wangwu>\"}}");
    request_free(&p.req);
    channel()->destroy(r);
}

TEST(markdown_mention_not_repeated)
{
    void *r = robot("markdown");
    static const char *const users[] = {"lisi", "wangwu", "wangwu", ""};
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", "值班 <@lisi> 请处理");
    msg.mentions.user_ids = users;
    msg.mentions.user_ids_len = 4;
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    char *content = content_of(sb_str(&p.req.body));
    CHECK_STR(content, "值班 <@lisi> 请处理\n\n<@wangwu>");
    free(content);
    request_free(&p.req);
    /* A text that ends its last line still gets exactly one blank line. */
    herald_message ended = fixture_message(HERALD_FORMAT_MARKDOWN, "", "告警\n");
    ended.mentions = msg.mentions;
    prepare(r, &ended, &p);
    content = content_of(sb_str(&p.req.body));
    CHECK_STR(content, "告警\n\n<@lisi> <@wangwu>");
    free(content);
    request_free(&p.req);
    channel()->destroy(r);
}

TEST(text_msgtype_flattens_markdown_and_lists_mentions)
{
    void *r = robot("text");
    CHECK(r != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "t", SAMPLE_MARKDOWN
                                         "\n#### ![图](https://img.example.com/a.png) \\[x\\]");
    msg.mentions.user_ids = two_users;
    msg.mentions.user_ids_len = 2;
    msg.mentions.mobiles = one_mobile;
    msg.mentions.mobiles_len = 1;
    msg.mentions.all = 1;
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.url, ROBOT_URL);
    CHECK_STR(sb_str(&p.req.body),
              "{\"msgtype\":\"text\",\"text\":{\"content\":"
              "\"🚨 [故障] HighCPU\\n"
              "告警主机：db1_prod\\n"
              "告警详情：load 9.5\\n"
              "查看详情 (https://grafana.example.com/d/1?a=b)\\n"
              "图 (https://img.example.com/a.png) [x]\","
              "\"mentioned_list\":[\"lisi\",\"wangwu\",\"@all\"],"
              "\"mentioned_mobile_list\":[\"13800000000\"]}}");
    request_free(&p.req);
    channel()->destroy(r);
}

TEST(text_message_sent_as_written)
{
    void *r = robot("text");
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "告警: **磁盘** 满 \"/data\"\n# 1");
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(sb_str(&p.req.body), "{\"msgtype\":\"text\",\"text\":{\"content\":"
                                   "\"告警: **磁盘** 满 \\\"/data\\\"\\n# 1\"}}");
    request_free(&p.req);

    /* A text message through a markdown robot goes out as markdown. */
    void *md = robot("markdown");
    prepare(md, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(sb_str(&p.req.body), "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":"
                                   "\"告警: **磁盘** 满 \\\"/data\\\"\\n# 1\"}}");
    request_free(&p.req);
    channel()->destroy(md);
    channel()->destroy(r);
}

TEST(markdown_v2_drops_font_tags_and_mentions)
{
    void *r = robot("markdown_v2");
    CHECK(r != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", SAMPLE_MARKDOWN
                                         "\n<fontish> <font>x</font> <font color=\"info\"");
    msg.mentions.user_ids = two_users;
    msg.mentions.user_ids_len = 1;
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(sb_str(&p.req.body),
              "{\"msgtype\":\"markdown_v2\",\"markdown_v2\":{\"content\":"
              "\"### 🚨 [故障] HighCPU\\n"
              "**告警主机**：db1\\\\_prod\\n"
              "**告警详情**：load 9.5\\n"
              "[查看详情](https://grafana.example.com/d/1?a=b)\\n"
              "<fontish> x <font color=\\\"info\\\"\"}}");
    request_free(&p.req);
    channel()->destroy(r);
}

TEST(native_body_passes_through)
{
    void *r = robot(NULL);
    const char *native = "{\"msgtype\":\"news\",\"news\":{\"articles\":[{\"title\":\"告警\","
                         "\"url\":\"https://example.com\"}]}}";
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", native);
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(sb_str(&p.req.body), native);
    CHECK_STR(p.req.url, ROBOT_URL);
    CHECK_STR(p.req.log_url, LOG_URL);
    request_free(&p.req);

    herald_message broken = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"msgtype\":");
    prepare(r, &broken, &p);
    CHECK_INT(p.rc, -1);
    CHECK_STR(p.err, "native body is not a JSON object");
    request_free(&p.req);

    herald_message untyped = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"text\":{}}");
    prepare(r, &untyped, &p);
    CHECK_INT(p.rc, -1);
    CHECK_STR(p.err, "native body has no msgtype");
    request_free(&p.req);
    channel()->destroy(r);
}

TEST(native_content_limits_checked)
{
    void *r = robot(NULL);
    for (int over = 0; over < 2; over++) {
        strbuf body = STRBUF_INIT;
        sb_puts(&body, "{\"msgtype\":\"text\",\"text\":{\"content\":\"");
        size_t start = body.len;
        repeat(&body, "磁", start + 2046);
        sb_puts(&body, over ? "abc" : "ab"); /* 2048 bytes, then 2049 */
        sb_puts(&body, "\"}}");
        herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", body.data);
        prepared p;
        prepare(r, &msg, &p);
        sb_free(&body);
        request_free(&p.req);
        CHECK_INT(p.rc, over ? -1 : 0);
        if (over)
            CHECK_STR(p.err, "native text content is over 2048 bytes; WeCom refuses it (40058)");
    }
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "{\"msgtype\":\"markdown_v2\",\"markdown_v2\":{\"content\":\"");
    repeat(&body, "x", body.len + 4097);
    sb_puts(&body, "\"}}");
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", body.data);
    prepared p;
    prepare(r, &msg, &p);
    sb_free(&body);
    request_free(&p.req);
    CHECK_INT(p.rc, -1);
    CHECK_CONTAINS(p.err, "markdown_v2 content is over 4096 bytes");
    channel()->destroy(r);
}

TEST(html_and_empty_refused)
{
    void *r = robot(NULL);
    herald_message html = fixture_message(HERALD_FORMAT_HTML, "", "<b>x</b>");
    prepared p;
    prepare(r, &html, &p);
    CHECK_INT(p.rc, -1);
    CHECK_CONTAINS(p.err, "not format");
    request_free(&p.req);
    herald_message empty = fixture_message(HERALD_FORMAT_MARKDOWN, "", "");
    prepare(r, &empty, &p);
    CHECK_INT(p.rc, -1);
    CHECK_CONTAINS(p.err, "empty");
    request_free(&p.req);
    channel()->destroy(r);
}

/* 20 KB of Chinese markdown: the content is cut to 4096 bytes or just under,
 * as valid UTF-8, with the marker and then the mention. */
TEST(long_markdown_truncated_to_4096_content_bytes)
{
    void *r = robot("markdown");
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘使用率过高🔥\n", 20000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", text.data);
    msg.mentions.user_ids = two_users;
    msg.mentions.user_ids_len = 1;
    prepared p;
    prepare(r, &msg, &p);
    char *content = content_of(sb_str(&p.req.body));
    int valid = is_valid_utf8((const unsigned char *)p.req.body.data, p.req.body.len);
    int kept_start = content && strncmp(content, text.data, 1000) == 0;
    sb_free(&text);
    request_free(&p.req);
    channel()->destroy(r);
    CHECK_INT(p.rc, 0);
    CHECK(content != NULL);
    size_t len = strlen(content);
    int tail = ends_with(content, MARKER "\n\n<@lisi>");
    free(content);
    CHECK(valid);
    CHECK(kept_start);
    CHECK(tail);
    CHECK(len <= 4096);
    CHECK(len > 4096 - 4); /* the longest character is 4 bytes */
}

/* A cut never splits a markdown link: it moves back before it. */
TEST(markdown_cut_moves_before_a_link)
{
    void *r = robot("markdown");
    strbuf text = STRBUF_INIT;
    repeat(&text, "告警", 3900);
    size_t before_link = text.len;
    sb_puts(&text, "[详情](https://grafana.example.com/d/");
    repeat(&text, "x", text.len + 600);
    sb_puts(&text, ")\n尾部");
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", text.data);
    prepared p;
    prepare(r, &msg, &p);
    char *content = content_of(sb_str(&p.req.body));
    strbuf expected = STRBUF_INIT;
    sb_append(&expected, text.data, before_link);
    sb_puts(&expected, MARKER);
    int same = content && strcmp(content, sb_str(&expected)) == 0;
    free(content);
    sb_free(&expected);
    sb_free(&text);
    request_free(&p.req);
    channel()->destroy(r);
    CHECK_INT(p.rc, 0);
    CHECK(same);
}

/* text allows 2048 content bytes; the mentions travel in lists, not in the
 * content, so they cost nothing there. */
TEST(long_text_truncated_to_2048_content_bytes)
{
    void *r = robot("text");
    strbuf text = STRBUF_INIT;
    repeat(&text, "**主机** 磁盘满\n", 9000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", text.data);
    msg.mentions.mobiles = one_mobile;
    msg.mentions.mobiles_len = 1;
    prepared p;
    prepare(r, &msg, &p);
    char *content = content_of(sb_str(&p.req.body));
    int valid = is_valid_utf8((const unsigned char *)p.req.body.data, p.req.body.len);
    int mobiles_listed =
        strstr(sb_str(&p.req.body), "\"mentioned_mobile_list\":[\"13800000000\"]") != NULL;
    sb_free(&text);
    request_free(&p.req);
    channel()->destroy(r);
    CHECK_INT(p.rc, 0);
    CHECK(content != NULL);
    size_t len = strlen(content);
    int starts_flat = strncmp(content, "主机 磁盘满\n主机 磁盘满\n", strlen("主机 磁盘满\n主机 磁盘满\n")) == 0;
    int tail = ends_with(content, MARKER);
    int no_markup = strstr(content, "**") == NULL;
    free(content);
    CHECK(valid);
    CHECK(starts_flat);
    CHECK(tail);
    CHECK(no_markup);
    CHECK(mobiles_listed);
    CHECK(len <= 2048);
    CHECK(len > 2048 - 4);
}

TEST(content_at_the_limit_is_not_cut)
{
    void *r = robot("text");
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁", 2046);
    sb_puts(&text, "ab");
    CHECK_INT(text.len, 2048);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", text.data);
    prepared p;
    prepare(r, &msg, &p);
    char *content = content_of(sb_str(&p.req.body));
    int same = content && strcmp(content, text.data) == 0;
    free(content);
    sb_free(&text);
    request_free(&p.req);
    channel()->destroy(r);
    CHECK_INT(p.rc, 0);
    CHECK(same);
}

static void check_verdict(herald_verdict v, herald_verdict_kind kind, long retry_ms,
                          const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, retry_ms);
    CHECK_STR(v.reason, reason);
}

TEST(classify_errcodes)
{
    void *r = robot(NULL);
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, r, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", NULL),
                  HERALD_OK, 0, "ok");
    check_verdict(fixture_classify(ch, r, 200,
                                   "{\"errcode\":45009,\"errmsg\":\"api freq out of limit, "
                                   "hint: [1700000000_1_abc]\"}",
                                   NULL),
                  HERALD_RETRY, 60000,
                  "errcode 45009: api freq out of limit, hint: [1700000000_1_abc]");
    check_verdict(fixture_classify(ch, r, 200,
                                   "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}", NULL),
                  HERALD_FAIL, 0, "errcode 93000: invalid webhook url");
    check_verdict(fixture_classify(ch, r, 200,
                                   "{\"errcode\":40058,\"errmsg\":\"markdown.content exceed max "
                                   "length 4096\"}",
                                   NULL),
                  HERALD_FAIL, 0, "errcode 40058: markdown.content exceed max length 4096");
    check_verdict(fixture_classify(ch, r, 200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}",
                                   NULL),
                  HERALD_RETRY, 0, "errcode -1: system busy");
    check_verdict(fixture_classify(ch, r, 200, "{\"errcode\":40008,\"errmsg\":\"invalid "
                                               "message type\"}",
                                   NULL),
                  HERALD_FAIL, 0, "errcode 40008: invalid message type");
    check_verdict(fixture_classify(ch, r, 200, "{\"errcode\":301002}", NULL), HERALD_FAIL, 0,
                  "errcode 301002: ");
    ch->destroy(r);
}

TEST(classify_http_statuses)
{
    void *r = robot(NULL);
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, r, 429, "too many", "retry-after: 30"), HERALD_RETRY,
                  30000, "HTTP 429: too many");
    check_verdict(fixture_classify(ch, r, 429, "", NULL), HERALD_RETRY, 0, "HTTP 429: ");
    check_verdict(fixture_classify(ch, r, 500, "<html>oops</html>", NULL), HERALD_RETRY, 0,
                  "HTTP 500: <html>oops</html>");
    check_verdict(fixture_classify(ch, r, 503, "busy", "Retry-After: 7"), HERALD_RETRY, 7000,
                  "HTTP 503: busy");
    check_verdict(fixture_classify(ch, r, 502, "", "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT"),
                  HERALD_RETRY, 0, "HTTP 502: ");
    check_verdict(fixture_classify(ch, r, 404, "not found\nat all", NULL), HERALD_FAIL, 0,
                  "HTTP 404: not found at all");
    check_verdict(fixture_classify(ch, r, 200, "<html>gateway</html>", NULL), HERALD_FAIL, 0,
                  "unexpected response: <html>gateway</html>");
    check_verdict(fixture_classify(ch, r, 200, "{\"errcode\":\"0\"}", NULL), HERALD_FAIL, 0,
                  "unexpected response: {\"errcode\":\"0\"}");
    ch->destroy(r);
}

TEST(classify_reason_stays_valid_utf8)
{
    void *r = robot(NULL);
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "{\"errcode\":40058,\"errmsg\":\"");
    repeat(&body, "内容过长", 1000);
    sb_puts(&body, "\"}");
    herald_verdict v = fixture_classify(channel(), r, 200, body.data, NULL);
    sb_free(&body);
    channel()->destroy(r);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK(strlen(v.reason) > 240);
    CHECK(is_valid_utf8((const unsigned char *)v.reason, strlen(v.reason)));
    CHECK(strncmp(v.reason, "errcode 40058: 内容", strlen("errcode 40058: 内容")) == 0);
}

TEST(configure_errors_name_the_key)
{
    char err[256] = "";
    CHECK(configure("ftp://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", NULL, err,
                    sizeof err) == NULL);
    CHECK_STR(err, "url: must be an http(s) URL with key=…");
    err[0] = '\0';
    CHECK(configure("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", NULL, err, sizeof err) ==
          NULL);
    CHECK_STR(err, "url: must be an http(s) URL with key=…");
    err[0] = '\0';
    CHECK(configure("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=", NULL, err,
                    sizeof err) == NULL);
    CHECK_STR(err, "url: must be an http(s) URL with key=…");
    err[0] = '\0';
    CHECK(configure("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?monkey=1", NULL, err,
                    sizeof err) == NULL);
    CHECK_STR(err, "url: must be an http(s) URL with key=…");
    CHECK(configure(ROBOT_URL, "news", err, sizeof err) == NULL);
    CHECK_STR(err, "msgtype: must be \"markdown\", \"text\" or \"markdown_v2\"");
    CHECK(configure(ROBOT_URL, "", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "msgtype: ");
    /* key= may come after other parameters; the log URL drops them all. */
    void *r = configure("http://127.0.0.1:9/send?debug=1&key=abc", "text", err, sizeof err);
    CHECK(r != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "x");
    prepared p;
    prepare(r, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.url, "http://127.0.0.1:9/send?debug=1&key=abc");
    CHECK_STR(p.req.log_url, "http://127.0.0.1:9/send?key=…");
    request_free(&p.req);
    channel()->destroy(r);
}

TEST(descriptors)
{
    const herald_channel *ch = channel();
    CHECK(ch != NULL);
    CHECK_INT(ch->formats, HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE);
    CHECK_INT(ch->options_len, 2);
    CHECK_STR(ch->options[0].name, "url");
    CHECK(ch->options[0].required && ch->options[0].secret);
    CHECK_STR(ch->options[1].name, "msgtype");
    CHECK(!ch->options[1].required && !ch->options[1].secret);
    CHECK_INT(ch->rate_per_minute, 20);
    CHECK_INT(ch->max_body_bytes, 16384);
    CHECK_STR(ch->default_template, "wecom");
}

RUN_TESTS(CASE(markdown_exact_request), CASE(markdown_mention_not_repeated),
          CASE(text_msgtype_flattens_markdown_and_lists_mentions),
          CASE(text_message_sent_as_written), CASE(markdown_v2_drops_font_tags_and_mentions),
          CASE(native_body_passes_through), CASE(native_content_limits_checked),
          CASE(html_and_empty_refused), CASE(long_markdown_truncated_to_4096_content_bytes),
          CASE(markdown_cut_moves_before_a_link), CASE(long_text_truncated_to_2048_content_bytes),
          CASE(content_at_the_limit_is_not_cut), CASE(classify_errcodes),
          CASE(classify_http_statuses), CASE(classify_reason_stays_valid_utf8),
          CASE(configure_errors_name_the_key), CASE(descriptors))
