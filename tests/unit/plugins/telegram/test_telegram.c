/* telegram.so: exact requests for given messages, markdown to Telegram
 * HTML, truncation at 4096 characters, verdicts for the Bot API's answers,
 * configuration errors. No network. */
#include <cjson/cJSON.h>

#include "plugin_fixture.h"

#define TOKEN "123456:ABC-def_ghi"
#define CHAT "-1001234567890"
#define SEND_URL "https://api.telegram.org/bot" TOKEN "/sendMessage"
#define LOG_URL "https://api.telegram.org/bot…/sendMessage"
#define MARKER "\n\n…（内容过长，已截断）"

static const herald_channel *channel(void)
{
    return fixture_channel(TELEGRAM_SO, "telegram");
}

static void *configure(const char *token, const char *chat_id, const char *api_url, char *err,
                       size_t err_cap)
{
    herald_option_value values[3] = {{.present = 1, .string = token},
                                     {.present = 1, .string = chat_id},
                                     {.present = api_url != NULL, .string = api_url}};
    return channel()->configure(&fixture_host, "ops", values, err, err_cap);
}

static void *group_bot(void)
{
    char err[256];
    return configure(TOKEN, CHAT, NULL, err, sizeof err);
}

static int prepare(void *bot, const herald_message *msg, herald_request *req, char *err,
                   size_t err_cap)
{
    request_init(req);
    err[0] = '\0';
    return channel()->prepare(bot, msg, req, err, err_cap);
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

/* The "text" field of a sendMessage body (caller frees). */
static char *text_of(const char *body)
{
    cJSON *json = cJSON_Parse(body);
    const cJSON *text = cJSON_GetObjectItem(json, "text");
    char *copy = cJSON_IsString(text) ? xstrdup(text->valuestring) : NULL;
    cJSON_Delete(json);
    return copy;
}

/* What Telegram counts: tags dropped, an entity one character, UTF-16
 * code units. Also checks that every tag is closed in order. */
static size_t visible_units(const char *html, int *balanced)
{
    size_t units = 0;
    char stack[32][16];
    size_t depth = 0;
    *balanced = 1;
    for (const char *p = html; *p;) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (!end) {
                *balanced = 0;
                return units;
            }
            int closing = p[1] == '/';
            const char *name = p + 1 + closing;
            size_t len = strcspn(name, " >");
            if (len >= sizeof stack[0]) {
                *balanced = 0;
            } else if (closing) {
                if (!depth || strncmp(stack[depth - 1], name, len) != 0 ||
                    stack[depth - 1][len])
                    *balanced = 0;
                else
                    depth--;
            } else if (depth < 32) {
                memcpy(stack[depth], name, len);
                stack[depth++][len] = '\0';
            }
            p = end + 1;
        } else if (*p == '&') {
            const char *end = strchr(p, ';');
            units++;
            p = end ? end + 1 : p + strlen(p);
        } else {
            unsigned char c = (unsigned char)*p;
            size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            units += n == 4 ? 2 : 1;
            p += n;
        }
    }
    if (depth)
        *balanced = 0;
    return units;
}

static const char *const people[] = {"42", "oncall", "@lead"};

TEST(markdown_exact_request)
{
    void *bot = group_bot();
    CHECK(bot != NULL);
    herald_message msg = fixture_message(
        HERALD_FORMAT_MARKDOWN, "[FIRING:1] HighCPU & <db1>",
        "**HighCPU** on `db1` is *hot*\n- load > 9.5 & rising\n"
        "[dash \"board\"](https://grafana.example.com/d/1?a=1&b=\"2\")\n> quoted\n"
        "node\\_exporter 5 * 3");
    msg.mentions.user_ids = people;
    msg.mentions.user_ids_len = 3;
    msg.mentions.all = 1; /* Telegram has no @all: nothing to add */
    herald_request req;
    char err[256];
    CHECK_INT(prepare(bot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, SEND_URL);
    CHECK_STR(req.log_url, LOG_URL);
    CHECK_INT(req.headers_len, 1);
    CHECK_STR(req.headers[0], "Content-Type: application/json; charset=utf-8");
    CHECK_STR(sb_str(&req.body),
              "{\"chat_id\":-1001234567890,\"text\":\"<b>[FIRING:1] HighCPU &amp; &lt;db1&gt;</b>"
              "\\n\\n<b>HighCPU</b> on <code>db1</code> is <i>hot</i>\\n"
              "• load &gt; 9.5 &amp; rising\\n"
              "<a href=\\\"https://grafana.example.com/d/1?a=1&amp;b=&quot;2&quot;\\\">"
              "dash &quot;board&quot;</a>\\n<blockquote>quoted</blockquote>\\n"
              "node_exporter 5 * 3\\n\\n<a href=\\\"tg://user?id=42\\\">@42</a> @oncall @lead\","
              "\"parse_mode\":\"HTML\",\"disable_web_page_preview\":true}");
    request_free(&req);
    channel()->destroy(bot);
}

TEST(text_to_channel_escaped)
{
    char err[256];
    void *bot = configure(TOKEN, "@herald_alerts", "http://127.0.0.1:8081/", err, sizeof err);
    CHECK(bot != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "磁盘满 **/data** <90%> & x");
    herald_request req;
    CHECK_INT(prepare(bot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, "http://127.0.0.1:8081/bot" TOKEN "/sendMessage");
    CHECK_STR(req.log_url, "http://127.0.0.1:8081/bot…/sendMessage");
    CHECK_STR(sb_str(&req.body),
              "{\"chat_id\":\"@herald_alerts\",\"text\":\"磁盘满 **/data** &lt;90%&gt; &amp; x\","
              "\"parse_mode\":\"HTML\",\"disable_web_page_preview\":true}");
    request_free(&req);
    channel()->destroy(bot);
}

static char *converted(void *bot, const char *markdown)
{
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "", markdown);
    herald_request req;
    char err[256];
    char *out = prepare(bot, &msg, &req, err, sizeof err) == 0 ? text_of(sb_str(&req.body))
                                                               : xstrdup(err);
    request_free(&req);
    return out;
}

static const struct {
    const char *markdown;
    const char *html;
} conversions[] = {
    {"## Disk **full** on db1", "<b>Disk full on db1</b>"},
    {"a\n> one\n>two\nb", "a\n<blockquote>one\ntwo</blockquote>\nb"},
    {"> last", "<blockquote>last</blockquote>"},
    {"---\nafter", "──────────\nafter"},
    {"  * nested", "  • nested"},
    {"`a **b** <c>`", "<code>a **b** &lt;c&gt;</code>"},
    {"run:\n```sh\nrm -rf <dir> && ls\n\n```\ndone", "run:\n<pre>rm -rf &lt;dir&gt; &amp;&amp; ls\n</pre>\ndone"},
    {"```\nunclosed <pre>", "<pre>unclosed &lt;pre&gt;</pre>"},
    {"> q\n```\ncode", "<blockquote>q</blockquote>\n<pre>code</pre>"},
    {"![chart](https://x.io/c.png)", "<a href=\"https://x.io/c.png\">chart</a>"},
    {"[](https://x.io/)", "<a href=\"https://x.io/\">https://x.io/</a>"},
    {"unclosed **bold and [link](", "unclosed **bold and [link]("},
    {"~~gone~~ and __bold__", "<s>gone</s> and <b>bold</b>"},
    {"**a *b* c**", "<b>a <i>b</i> c</b>"},
    /* crossed spans: the inner one wins, the HTML stays balanced */
    {"**a ~~b** c~~", "<b>a <s>b** c</s></b>"},
    {"\\# not a heading \\* \\\\ \\<", "# not a heading * \\ &lt;"},
    {"a*b & 5 * 3", "a*b &amp; 5 * 3"},
    {"trailing blank lines\n\n \n", "trailing blank lines"},
};

TEST(markdown_conversions)
{
    void *bot = group_bot();
    for (size_t i = 0; i < sizeof conversions / sizeof conversions[0]; i++) {
        char *got = converted(bot, conversions[i].markdown);
        int balanced;
        visible_units(got, &balanced);
        int same = strcmp(got, conversions[i].html) == 0;
        if (!same || !balanced)
            printf("    %s -> \"%s\", expected \"%s\"\n", conversions[i].markdown, got,
                   conversions[i].html);
        free(got);
        CHECK(same);
        CHECK(balanced);
    }
    channel()->destroy(bot);
}

/* Chinese markdown full of tags and entities, then a link whose label
 * crosses the limit (URLs do not count, labels do): the text ends up
 * within 4096 characters as Telegram counts them, balanced, cut before the
 * link, with the marker and the mention. */
TEST(long_markdown_truncated_at_4096_characters)
{
    void *bot = group_bot();
    strbuf text = STRBUF_INIT;
    for (int i = 0; text.len < 6000; i++)
        sb_printf(&text, "- **主机 %d** 负载 > 90%% & 磁盘🔥\n", i);
    size_t before_link = text.len;
    sb_puts(&text, "[");
    repeat(&text, "详情", text.len + 6000);
    sb_puts(&text, "](https://grafana.example.com/d/1)\n");
    repeat(&text, "告警恢复", 30000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "磁盘告警", text.data);
    msg.mentions.user_ids = people;
    msg.mentions.user_ids_len = 1;
    herald_request req;
    char err[256];
    int rc = prepare(bot, &msg, &req, err, sizeof err);
    int valid = is_valid_utf8((const unsigned char *)req.body.data, req.body.len);
    char *got = text_of(sb_str(&req.body));
    int balanced = 0;
    size_t units = got ? visible_units(got, &balanced) : 0;
    /* The expected text: the same prefix converted on its own. */
    strbuf prefix = STRBUF_INIT;
    sb_append(&prefix, text.data, before_link);
    herald_message alone = fixture_message(HERALD_FORMAT_MARKDOWN, "磁盘告警", prefix.data);
    herald_request alone_req;
    prepare(bot, &alone, &alone_req, err, sizeof err);
    char *alone_text = text_of(sb_str(&alone_req.body));
    strbuf expected = STRBUF_INIT;
    sb_puts(&expected, alone_text);
    sb_puts(&expected, MARKER "\n\n<a href=\"tg://user?id=42\">@42</a>");
    int same = got && strcmp(got, expected.data) == 0;
    if (!same)
        printf("    got %zu bytes, expected %zu: ...%s\n", got ? strlen(got) : 0, expected.len,
               got ? got + (strlen(got) > 200 ? strlen(got) - 200 : 0) : "(null)");
    free(got);
    free(alone_text);
    sb_free(&prefix);
    sb_free(&expected);
    sb_free(&text);
    request_free(&req);
    request_free(&alone_req);
    channel()->destroy(bot);
    CHECK_INT(rc, 0);
    CHECK(valid);
    CHECK(balanced);
    CHECK(units <= 4096);
    CHECK(same);
}

/* Without links the cut lands on the limit: 4096 characters exactly or
 * one short (an emoji counts two). Bytes do not matter. */
TEST(long_text_truncated_close_to_limit)
{
    void *bot = group_bot();
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘使用率过高🔥<&>\n", 60000);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "告警", text.data);
    herald_request req;
    char err[256];
    int rc = prepare(bot, &msg, &req, err, sizeof err);
    char *got = text_of(sb_str(&req.body));
    int balanced = 0;
    size_t units = got ? visible_units(got, &balanced) : 0;
    size_t len = got ? strlen(got) : 0;
    int marker_last = len > strlen(MARKER) && strcmp(got + len - strlen(MARKER), MARKER) == 0;
    int starts = got && strncmp(got, "<b>告警</b>\n\n磁盘", strlen("<b>告警</b>\n\n磁盘")) == 0;
    free(got);
    sb_free(&text);
    request_free(&req);
    channel()->destroy(bot);
    CHECK_INT(rc, 0);
    CHECK(balanced);
    CHECK(units <= 4096 && units >= 4095);
    CHECK(len > 4096); /* measured in characters, not bytes */
    CHECK(marker_last);
    CHECK(starts);
}

TEST(native_body_gets_chat_id)
{
    void *bot = group_bot();
    herald_request req;
    char err[256];
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "",
                                         "{\"text\":\"<b>x</b>\",\"parse_mode\":\"HTML\"}");
    CHECK_INT(prepare(bot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body),
              "{\"chat_id\":-1001234567890,\"text\":\"<b>x</b>\",\"parse_mode\":\"HTML\"}");
    CHECK_STR(req.url, SEND_URL);
    request_free(&req);

    herald_message own = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"chat_id\":7,\"text\":\"x\"}");
    CHECK_INT(prepare(bot, &own, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), own.text);
    request_free(&req);

    herald_message empty = fixture_message(HERALD_FORMAT_NATIVE, "", " { } ");
    CHECK_INT(prepare(bot, &empty, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), " {\"chat_id\":-1001234567890 } ");
    request_free(&req);

    herald_message broken = fixture_message(HERALD_FORMAT_NATIVE, "", "\"text\"");
    CHECK_INT(prepare(bot, &broken, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not a JSON object");
    request_free(&req);
    channel()->destroy(bot);
}

TEST(unusable_messages_refused)
{
    void *bot = group_bot();
    herald_request req;
    char err[256];
    herald_message html = fixture_message(HERALD_FORMAT_HTML, "", "<b>x</b>");
    CHECK_INT(prepare(bot, &html, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not format");
    request_free(&req);
    herald_message empty = fixture_message(HERALD_FORMAT_MARKDOWN, "", "");
    CHECK_INT(prepare(bot, &empty, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "neither title nor text");
    request_free(&req);
    strbuf title = STRBUF_INIT;
    repeat(&title, "标题", 20000);
    herald_message huge_title = fixture_message(HERALD_FORMAT_TEXT, title.data, "x");
    int rc = prepare(bot, &huge_title, &req, err, sizeof err);
    sb_free(&title);
    request_free(&req);
    channel()->destroy(bot);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(err, "4096 characters");
}

static void check_verdict(herald_verdict v, herald_verdict_kind kind, long retry_ms,
                          const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, retry_ms);
    CHECK_STR(v.reason, reason);
}

#define API_ERROR(code, text) \
    "{\"ok\":false,\"error_code\":" #code ",\"description\":\"" text "\"}"

TEST(classify_answers)
{
    void *bot = group_bot();
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, bot, 200,
                                   "{\"ok\":true,\"result\":{\"message_id\":5,\"text\":\"x\"}}",
                                   NULL),
                  HERALD_OK, 0, "ok");
    check_verdict(
        fixture_classify(ch, bot, 429,
                         "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: "
                         "retry after 34\",\"parameters\":{\"retry_after\":34}}",
                         "Retry-After: 34"),
        HERALD_RETRY, 34000, "error_code 429: Too Many Requests: retry after 34");
    check_verdict(fixture_classify(ch, bot, 429, API_ERROR(429, "Too Many Requests"),
                                   "Retry-After: 3"),
                  HERALD_RETRY, 3000, "error_code 429: Too Many Requests");
    check_verdict(fixture_classify(ch, bot, 500, API_ERROR(500, "Internal Server Error"), NULL),
                  HERALD_RETRY, 0, "error_code 500: Internal Server Error");
    check_verdict(fixture_classify(ch, bot, 502, API_ERROR(502, "Bad Gateway"), NULL),
                  HERALD_RETRY, 0, "error_code 502: Bad Gateway");
    static const struct {
        long code;
        const char *description;
    } permanent[] = {
        {400, "Bad Request: chat not found"},
        {400, "Bad Request: message is too long"},
        {400, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag b"},
        {401, "Unauthorized"},
        {403, "Forbidden: bot was kicked from the group chat"},
        {404, "Not Found"},
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
        char body[256], reason[256];
        snprintf(body, sizeof body, "{\"ok\":false,\"error_code\":%ld,\"description\":\"%s\"}",
                 permanent[i].code, permanent[i].description);
        snprintf(reason, sizeof reason, "error_code %ld: %s", permanent[i].code,
                 permanent[i].description);
        check_verdict(fixture_classify(ch, bot, permanent[i].code, body, NULL), HERALD_FAIL, 0,
                      reason);
    }
    check_verdict(fixture_classify(ch, bot, 400,
                                   "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
                                   "group chat was upgraded to a supergroup chat\",\"parameters\":"
                                   "{\"migrate_to_chat_id\":-1009876543210}}",
                                   NULL),
                  HERALD_FAIL, 0,
                  "error_code 400: set chat_id to -1009876543210; Bad Request: group chat was "
                  "upgraded to a supergroup chat");
    /* Not JSON: a proxy or gateway answered; only the status counts. */
    check_verdict(fixture_classify(ch, bot, 502, "<html>\nbad gateway</html>", NULL),
                  HERALD_RETRY, 0, "HTTP 502: <html> bad gateway</html>");
    check_verdict(fixture_classify(ch, bot, 429, "slow down", "Retry-After: 9"), HERALD_RETRY,
                  9000, "HTTP 429: slow down");
    check_verdict(fixture_classify(ch, bot, 404, "404 page not found", NULL), HERALD_FAIL, 0,
                  "HTTP 404: 404 page not found");
    check_verdict(fixture_classify(ch, bot, 200, "<html>portal</html>", NULL), HERALD_FAIL, 0,
                  "unexpected response: <html>portal</html>");
    ch->destroy(bot);
}

/* Found by tests/fuzz/fuzz_classify_telegram: a body saying ok under an
 * error status counted as delivered. */
TEST(ok_body_under_an_error_status_is_not_delivered)
{
    void *bot = group_bot();
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, bot, 502, "{\"ok\":true}", NULL), HERALD_RETRY, 0,
                  "HTTP 502: {\"ok\":true}");
    check_verdict(fixture_classify(ch, bot, 403, "{\"ok\":true}", NULL), HERALD_FAIL, 0,
                  "HTTP 403: {\"ok\":true}");
    ch->destroy(bot);
}

TEST(classify_reason_stays_valid_utf8)
{
    void *bot = group_bot();
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "{\"ok\":false,\"error_code\":400,\"description\":\"");
    repeat(&body, "聊天不存在", 1000);
    sb_puts(&body, "\"}");
    herald_verdict v = fixture_classify(channel(), bot, 400, body.data, NULL);
    sb_free(&body);
    channel()->destroy(bot);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK(strlen(v.reason) > 240);
    CHECK(is_valid_utf8((const unsigned char *)v.reason, strlen(v.reason)));
}

TEST(configure_errors_name_the_key)
{
    char err[256];
    static const char *const bad_tokens[] = {"", "123456", ":abc", "12a:abc", "123:", "123:a/b",
                                             "123:a b"};
    for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++) {
        err[0] = '\0';
        CHECK(configure(bad_tokens[i], CHAT, NULL, err, sizeof err) == NULL);
        CHECK_STR(err, "token: must be a bot token from @BotFather, 123456789:AA…");
    }
    static const char *const bad_chats[] = {"", "-", "12x", "@abc", "@with space", "herald",
                                            "12345678901234567890"};
    for (size_t i = 0; i < sizeof bad_chats / sizeof bad_chats[0]; i++) {
        err[0] = '\0';
        CHECK(configure(TOKEN, bad_chats[i], NULL, err, sizeof err) == NULL);
        CHECK_CONTAINS(err, "chat_id: must be a numeric chat id");
    }
    static const char *const bad_urls[] = {"", "api.telegram.org", "ftp://x", "https://",
                                           "https://x/?a=1"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        err[0] = '\0';
        CHECK(configure(TOKEN, CHAT, bad_urls[i], err, sizeof err) == NULL);
        CHECK_CONTAINS(err, "api_url: must be an http(s) URL");
    }
    void *bot = configure(TOKEN, "12345", "https://tg.example.com/api", err, sizeof err);
    CHECK(bot != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "x");
    herald_request req;
    CHECK_INT(prepare(bot, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, "https://tg.example.com/api/bot" TOKEN "/sendMessage");
    CHECK_CONTAINS(sb_str(&req.body), "{\"chat_id\":12345,");
    request_free(&req);
    channel()->destroy(bot);
}

TEST(descriptors)
{
    const herald_channel *ch = channel();
    CHECK_INT(ch->formats, HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE);
    CHECK_INT(ch->options_len, 3);
    CHECK_STR(ch->options[0].name, "token");
    CHECK(ch->options[0].required && ch->options[0].secret);
    CHECK_STR(ch->options[1].name, "chat_id");
    CHECK(ch->options[1].required && !ch->options[1].secret);
    CHECK_STR(ch->options[2].name, "api_url");
    CHECK(!ch->options[2].required && !ch->options[2].secret);
    CHECK_INT(ch->rate_per_minute, 20);
    CHECK_STR(ch->default_template, "telegram");
}

RUN_TESTS(CASE(markdown_exact_request), CASE(text_to_channel_escaped),
          CASE(markdown_conversions), CASE(long_markdown_truncated_at_4096_characters),
          CASE(long_text_truncated_close_to_limit), CASE(native_body_gets_chat_id),
          CASE(unusable_messages_refused), CASE(classify_answers),
          CASE(ok_body_under_an_error_status_is_not_delivered),
          CASE(classify_reason_stays_valid_utf8), CASE(configure_errors_name_the_key),
          CASE(descriptors))
