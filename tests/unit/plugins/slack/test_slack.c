/* slack.so: exact requests for given messages, markdown to mrkdwn, section
 * splitting and truncation, verdicts for Slack's answers, configuration
 * errors. No network. */
#include <cjson/cJSON.h>

#include "plugin_fixture.h"

#define HOOK_URL "https://hooks.slack.com/services/T000/B000/slacksecret5e2a80"
#define LOG_URL "https://hooks.slack.com/services/…"
#define MARKER "\n\n…（内容过长，已截断）"

static const herald_channel *channel(void) { return fixture_channel(SLACK_SO, "slack"); }

static void *configure(const char *url, char *err, size_t err_cap)
{
    herald_option_value values[1] = {{.present = 1, .string = url}};
    return channel()->configure(&fixture_host, "ops", values, err, err_cap);
}

static void *slack_hook(void)
{
    char err[256];
    return configure(HOOK_URL, err, sizeof err);
}

/* prepare() into a fresh request; returns its result. */
static int prepare(void *hook, const herald_message *msg, herald_request *req, char *err,
                   size_t err_cap)
{
    request_init(req);
    err[0] = '\0';
    return channel()->prepare(hook, msg, req, err, err_cap);
}

/* Length in UTF-16 code units, how Slack counts characters. */
static size_t utf16_len(const char *s)
{
    size_t units = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            units += *p >= 0xF0 ? 2 : 1;
    }
    return units;
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

/* The texts of the section blocks of a body, joined with "\n" (how they
 * were split), the number of sections, and the longest one in UTF-16. */
typedef struct sections {
    strbuf joined;
    size_t count;
    size_t longest;
    int has_header;
    char *fallback;
} sections;

static sections sections_of(const char *body)
{
    sections s = {STRBUF_INIT, 0, 0, 0, NULL};
    cJSON *json = cJSON_Parse(body);
    const cJSON *text = cJSON_GetObjectItem(json, "text");
    s.fallback = cJSON_IsString(text) ? xstrdup(text->valuestring) : NULL;
    const cJSON *block;
    cJSON_ArrayForEach(block, cJSON_GetObjectItem(json, "blocks"))
    {
        const char *type = cJSON_GetObjectItem(block, "type")->valuestring;
        if (strcmp(type, "header") == 0) {
            s.has_header = 1;
            continue;
        }
        const char *t = cJSON_GetObjectItem(cJSON_GetObjectItem(block, "text"), "text")->valuestring;
        if (s.count++)
            sb_puts(&s.joined, "\n");
        sb_puts(&s.joined, t);
        if (utf16_len(t) > s.longest)
            s.longest = utf16_len(t);
    }
    cJSON_Delete(json);
    return s;
}

static void sections_free(sections *s)
{
    sb_free(&s->joined);
    free(s->fallback);
}

static const char *const users[] = {"U123", "S456"};

TEST(markdown_exact_request)
{
    void *hook = slack_hook();
    CHECK(hook != NULL);
    herald_message msg = fixture_message(
        HERALD_FORMAT_MARKDOWN, "[FIRING:1] HighCPU & <db1>",
        "**HighCPU** on `db1` is *hot*\n- load > 9.5 & rising\n"
        "[dashboard](https://grafana.example.com/d/1?a=1&b=2)\nnode\\_exporter 5 * 3");
    msg.mentions.user_ids = users;
    msg.mentions.user_ids_len = 2;
    msg.mentions.all = 1;
    herald_request req;
    char err[256];
    CHECK_INT(prepare(hook, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, HOOK_URL);
    CHECK_STR(req.log_url, LOG_URL);
    CHECK_INT(req.headers_len, 1);
    CHECK_STR(req.headers[0], "Content-Type: application/json; charset=utf-8");
    CHECK_STR(sb_str(&req.body),
              "{\"text\":\"[FIRING:1] HighCPU &amp; &lt;db1&gt;\\n<!channel> <@U123> "
              "<!subteam^S456>\",\"blocks\":["
              "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\","
              "\"text\":\"[FIRING:1] HighCPU & <db1>\",\"emoji\":true}},"
              "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":"
              "\"*HighCPU* on `db1` is _hot_\\n• load &gt; 9.5 &amp; rising\\n"
              "<https://grafana.example.com/d/1?a=1&amp;b=2|dashboard>\\n"
              "node_exporter 5 * 3\"}},"
              "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":"
              "\"<!channel> <@U123> <!subteam^S456>\"}}]}");
    request_free(&req);
    channel()->destroy(hook);
}

TEST(text_is_escaped_not_converted)
{
    void *hook = slack_hook();
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "磁盘满 **/data** <90%> & \"x\"");
    herald_request req;
    char err[256];
    CHECK_INT(prepare(hook, &msg, &req, err, sizeof err), 0);
    /* Without a title the preview is the text itself. */
    CHECK_STR(sb_str(&req.body),
              "{\"text\":\"磁盘满 **/data** &lt;90%&gt; &amp; \\\"x\\\"\",\"blocks\":["
              "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":"
              "\"磁盘满 **/data** &lt;90%&gt; &amp; \\\"x\\\"\"}}]}");
    request_free(&req);
    channel()->destroy(hook);
}

/* mrkdwn of a markdown text, through a full prepare. */
static char *converted(void *hook, const char *markdown)
{
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "t", markdown);
    herald_request req;
    char err[256];
    if (prepare(hook, &msg, &req, err, sizeof err) != 0) {
        request_free(&req);
        return xstrdup(err);
    }
    sections s = sections_of(sb_str(&req.body));
    char *out = xstrdup(sb_str(&s.joined));
    sections_free(&s);
    request_free(&req);
    return out;
}

static const struct {
    const char *markdown;
    const char *mrkdwn;
} conversions[] = {
    {"## Disk **full** on db1", "*Disk full on db1*"},
    {"> quoted *x*\n>next", "> quoted _x_\n> next"},
    {"---\nafter", "──────────\nafter"},
    {"  * nested item", "  • nested item"},
    {"`a **b** <c>`", "`a **b** &lt;c&gt;`"},
    {"```sh\nrm -rf <dir> && ls\n```", "```\nrm -rf &lt;dir&gt; &amp;&amp; ls\n```"},
    {"![chart](https://x.io/c.png)", "<https://x.io/c.png|chart>"},
    {"[a|b](https://x.io/?q=a|b)", "<https://x.io/?q=a%7Cb|a|b>"},
    {"[](https://x.io/)", "<https://x.io/>"},
    {"[\\[1\\] label](https://x.io/)", "<https://x.io/|[1] label>"},
    {"unclosed **bold and [link](", "unclosed **bold and [link]("},
    {"~~gone~~ and __bold__", "~gone~ and *bold*"},
    {"**a *b* c**", "*a _b_ c*"},
    {"\\# not a heading \\* \\\\", "# not a heading * \\"},
    {"a*b", "a*b"},
    {"trailing blank lines\n\n \n", "trailing blank lines"},
};

TEST(markdown_conversions)
{
    void *hook = slack_hook();
    for (size_t i = 0; i < sizeof conversions / sizeof conversions[0]; i++) {
        char *got = converted(hook, conversions[i].markdown);
        int same = strcmp(got, conversions[i].mrkdwn) == 0;
        if (!same)
            printf("    %s -> \"%s\", expected \"%s\"\n", conversions[i].markdown, got,
                   conversions[i].mrkdwn);
        free(got);
        CHECK(same);
    }
    channel()->destroy(hook);
}

TEST(long_title_cut_for_header)
{
    void *hook = slack_hook();
    strbuf title = STRBUF_INIT;
    repeat(&title, "告警🔥", 7 * 60); /* 60 × 3 UTF-16 units = 180 */
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, title.data, "x");
    herald_request req;
    char err[256];
    CHECK_INT(prepare(hook, &msg, &req, err, sizeof err), 0);
    cJSON *json = cJSON_Parse(sb_str(&req.body));
    const char *header = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "blocks"), 0), "text"),
        "text")->valuestring;
    size_t units = utf16_len(header);
    int ends_with_ellipsis = strcmp(header + strlen(header) - strlen("…"), "…") == 0;
    int prefix = strncmp(header, title.data, strlen(header) - strlen("…")) == 0;
    cJSON_Delete(json);
    sb_free(&title);
    request_free(&req);
    channel()->destroy(hook);
    CHECK(units <= 150 && units >= 148);
    CHECK(ends_with_ellipsis);
    CHECK(prefix);
}

/* 9000 characters of links and text become several sections, each at most
 * 3000 characters, cut at line breaks and never inside a link. */
TEST(long_text_split_into_sections)
{
    void *hook = slack_hook();
    strbuf text = STRBUF_INIT;
    strbuf expected = STRBUF_INIT;
    for (int i = 0; i < 120; i++) {
        sb_printf(&text, "- [主机 %03d](https://grafana.example.com/d/%03d?a=1&b=2) 负载过高 "
                         "load 9.5\n", i, i);
        sb_printf(&expected, "• <https://grafana.example.com/d/%03d?a=1&amp;b=2|主机 %03d> "
                             "负载过高 load 9.5\n", i, i);
    }
    strbuf line = STRBUF_INIT;
    repeat(&line, "[x](https://x.io/) ", 4000); /* one line longer than a section */
    sb_puts(&text, line.data);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "t", text.data);
    herald_request req;
    char err[256];
    CHECK_INT(prepare(hook, &msg, &req, err, sizeof err), 0);
    sections s = sections_of(sb_str(&req.body));
    cJSON *json = cJSON_Parse(sb_str(&req.body));
    int links_whole = 1;
    const cJSON *block;
    cJSON_ArrayForEach(block, cJSON_GetObjectItem(json, "blocks"))
    {
        const char *t = cJSON_GetObjectItem(cJSON_GetObjectItem(block, "text"), "text")->valuestring;
        size_t opens = 0, closes = 0;
        for (const char *p = t; *p; p++) {
            opens += *p == '<';
            closes += *p == '>';
        }
        links_whole &= opens == closes;
    }
    cJSON_Delete(json);
    size_t count = s.count, longest = s.longest;
    /* Section breaks replace a newline or sit between two links. */
    int starts_right = strncmp(s.joined.data, expected.data, expected.len - 1) == 0;
    sections_free(&s);
    sb_free(&text);
    sb_free(&expected);
    sb_free(&line);
    request_free(&req);
    channel()->destroy(hook);
    CHECK(count >= 4);
    CHECK(longest <= 3000);
    CHECK(links_whole);
    CHECK(starts_right);
}

/* 120 KB of Chinese markdown with the natural cut inside a long link: the
 * body stays under 40000 bytes, the cut falls before the link, the marker
 * and the mentions survive. */
TEST(long_markdown_truncated_under_limit)
{
    void *hook = slack_hook();
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘使用率过高，", 36000);
    size_t before_link = text.len;
    sb_puts(&text, "[详情](https://grafana.example.com/d/");
    repeat(&text, "x", text.len + 6000);
    sb_puts(&text, ")\n");
    repeat(&text, "告警恢复", 120000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "磁盘告警", text.data);
    msg.mentions.user_ids = users;
    msg.mentions.user_ids_len = 1;
    herald_request req;
    char err[256];
    int rc = prepare(hook, &msg, &req, err, sizeof err);
    size_t body_len = req.body.len;
    int valid = is_valid_utf8((const unsigned char *)req.body.data, body_len);
    sections s = sections_of(sb_str(&req.body));
    strbuf expected = STRBUF_INIT;
    sb_append(&expected, text.data, before_link);
    sb_puts(&expected, MARKER);
    /* Sections were cut where the text had no newline, so joining them
     * with "\n" adds one per break: compare without newlines. */
    strbuf got = STRBUF_INIT;
    for (const char *p = s.joined.data; p && *p; p++)
        if (*p != '\n')
            sb_append(&got, p, 1);
    strbuf want = STRBUF_INIT;
    for (const char *p = expected.data; *p; p++)
        if (*p != '\n')
            sb_append(&want, p, 1);
    sb_puts(&want, "<@U123>");
    int same = strcmp(sb_str(&got), sb_str(&want)) == 0;
    size_t longest = s.longest;
    int header = s.has_header;
    int fallback_mentions = s.fallback && strcmp(s.fallback, "磁盘告警\n<@U123>") == 0;
    sections_free(&s);
    sb_free(&expected);
    sb_free(&got);
    sb_free(&want);
    sb_free(&text);
    request_free(&req);
    channel()->destroy(hook);
    CHECK_INT(rc, 0);
    CHECK(body_len < 40000);
    CHECK(body_len > before_link);
    CHECK(valid);
    CHECK(longest <= 3000);
    CHECK(header);
    CHECK(fallback_mentions);
    CHECK(same);
}

TEST(long_text_without_title_keeps_preview_short)
{
    void *hook = slack_hook();
    strbuf text = STRBUF_INIT;
    repeat(&text, "🔥告警", 100000);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", text.data);
    herald_request req;
    char err[256];
    int rc = prepare(hook, &msg, &req, err, sizeof err);
    sections s = sections_of(sb_str(&req.body));
    size_t fallback_units = s.fallback ? utf16_len(s.fallback) : 99999;
    int marker = strstr(sb_str(&s.joined), MARKER) != NULL;
    size_t longest = s.longest, body_len = req.body.len;
    sections_free(&s);
    sb_free(&text);
    request_free(&req);
    channel()->destroy(hook);
    CHECK_INT(rc, 0);
    CHECK(body_len < 40000);
    CHECK(body_len > 40000 - 100);
    CHECK(fallback_units <= 3000);
    CHECK(longest <= 3000);
    CHECK(marker);
}

TEST(native_body_sent_as_is)
{
    void *hook = slack_hook();
    const char *native = "{\"text\":\"hi\",\"blocks\":[{\"type\":\"divider\"}]}";
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", native);
    herald_request req;
    char err[256];
    CHECK_INT(prepare(hook, &msg, &req, err, sizeof err), 0);
    CHECK_STR(sb_str(&req.body), native);
    CHECK_STR(req.url, HOOK_URL);
    request_free(&req);

    herald_message broken = fixture_message(HERALD_FORMAT_NATIVE, "", "[1]");
    CHECK_INT(prepare(hook, &broken, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not a JSON object");
    request_free(&req);

    strbuf big = STRBUF_INIT;
    sb_puts(&big, "{\"text\":\"");
    repeat(&big, "x", 40000);
    sb_puts(&big, "\"}");
    herald_message huge = fixture_message(HERALD_FORMAT_NATIVE, "", big.data);
    int rc = prepare(hook, &huge, &req, err, sizeof err);
    sb_free(&big);
    request_free(&req);
    channel()->destroy(hook);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(err, "under 40000");
}

TEST(unusable_messages_refused)
{
    void *hook = slack_hook();
    herald_request req;
    char err[256];
    herald_message html = fixture_message(HERALD_FORMAT_HTML, "", "<b>x</b>");
    CHECK_INT(prepare(hook, &html, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not format");
    request_free(&req);
    herald_message empty = fixture_message(HERALD_FORMAT_MARKDOWN, "", "\n \n");
    CHECK_INT(prepare(hook, &empty, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "neither title nor text");
    request_free(&req);
    channel()->destroy(hook);
}

static void check_verdict(herald_verdict v, herald_verdict_kind kind, long retry_ms,
                          const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, retry_ms);
    CHECK_STR(v.reason, reason);
}

TEST(classify_answers)
{
    void *hook = slack_hook();
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, hook, 200, "ok", NULL), HERALD_OK, 0, "ok");
    check_verdict(fixture_classify(ch, hook, 200, "ok\n", NULL), HERALD_OK, 0, "ok");
    static const struct {
        long status;
        const char *body;
    } permanent[] = {
        {400, "invalid_payload"}, {400, "no_text"},          {400, "invalid_blocks"},
        {404, "channel_not_found"}, {410, "channel_is_archived"}, {403, "invalid_token"},
        {404, "no_active_hooks"}, {404, "no_service"},        {403, "action_prohibited"},
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
        char reason[128];
        snprintf(reason, sizeof reason, "HTTP %ld: %s", permanent[i].status, permanent[i].body);
        check_verdict(fixture_classify(ch, hook, permanent[i].status, permanent[i].body, NULL),
                      HERALD_FAIL, 0, reason);
    }
    check_verdict(fixture_classify(ch, hook, 429, "rate_limited", "Retry-After: 30"),
                  HERALD_RETRY, 30000, "HTTP 429: rate_limited");
    check_verdict(fixture_classify(ch, hook, 429, "rate_limited", NULL), HERALD_RETRY, 0,
                  "HTTP 429: rate_limited");
    check_verdict(fixture_classify(ch, hook, 500, "internal_error", NULL), HERALD_RETRY, 0,
                  "HTTP 500: internal_error");
    check_verdict(fixture_classify(ch, hook, 503, "<html>\nbusy</html>", "retry-after: 5"),
                  HERALD_RETRY, 5000, "HTTP 503: <html> busy</html>");
    check_verdict(fixture_classify(ch, hook, 200, "<html>portal</html>", NULL), HERALD_FAIL, 0,
                  "unexpected response: <html>portal</html>");
    check_verdict(fixture_classify(ch, hook, 302, "", NULL), HERALD_FAIL, 0, "HTTP 302: ");
    ch->destroy(hook);
}

TEST(configure_errors_name_the_key)
{
    char err[256] = "";
    static const char *const bad[] = {
        "",
        "hooks.slack.com/services/T/B/X",
        "ftp://hooks.slack.com/services/T/B/X",
        "https://hooks.slack.com/services/",
        "https://hooks.slack.com/workflows/T/A/1",
        "https://hooks.slack.com/services/T/B/X Y",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(configure(bad[i], err, sizeof err) == NULL);
        CHECK_STR(err, "url: must be an incoming webhook URL, https://hooks.slack.com/services/…");
    }
    void *hook = configure("http://127.0.0.1:9/services/T1/B1/abc", err, sizeof err);
    CHECK(hook != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "", "x");
    herald_request req;
    CHECK_INT(prepare(hook, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.log_url, "http://127.0.0.1:9/services/…");
    request_free(&req);
    channel()->destroy(hook);
}

TEST(descriptors)
{
    const herald_channel *ch = channel();
    CHECK_INT(ch->formats, HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE);
    CHECK_INT(ch->options_len, 1);
    CHECK_STR(ch->options[0].name, "url");
    CHECK(ch->options[0].required && ch->options[0].secret);
    CHECK_INT(ch->max_body_bytes, 40000);
    CHECK_INT(ch->rate_per_minute, 60);
    CHECK_STR(ch->default_template, "slack");
}

RUN_TESTS(CASE(markdown_exact_request), CASE(text_is_escaped_not_converted),
          CASE(markdown_conversions), CASE(long_title_cut_for_header),
          CASE(long_text_split_into_sections), CASE(long_markdown_truncated_under_limit),
          CASE(long_text_without_title_keeps_preview_short), CASE(native_body_sent_as_is),
          CASE(unusable_messages_refused), CASE(classify_answers),
          CASE(configure_errors_name_the_key), CASE(descriptors))
