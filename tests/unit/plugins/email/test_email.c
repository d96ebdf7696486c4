/* email.so: exact RFC 5322 messages and SMTP envelopes for given messages
 * (fixed clock), the derived alternatives, header encoding and folding,
 * truncation at the size limit with Chinese text, verdicts for SMTP replies,
 * configuration errors. No network. The expected base64 and digests were
 * computed independently (Python's base64 and hmac modules). */
#include "plugin_fixture.h"

#define MAX_MESSAGE 10000000
#define MARKER "…（内容过长，已截断）"
/* HMAC-SHA256(key "herald message id", "1700000000000\nops\nfiring\n<title>\n<text>")
 * for the sample below is 7a3706ac29388e65e52e62ad9e775889 b67cb1a44a0c89e919ef7dc7
 * 39845613: Message-ID takes the first 32 hex digits, the boundary the next 24. */
#define SAMPLE_DIGEST_HEAD "7a3706ac29388e65e52e62ad9e775889"
#define SAMPLE_BOUNDARY "=_herald_b67cb1a44a0c89e919ef7dc7"

static const herald_channel *channel(void) { return fixture_channel(EMAIL_SO, "email"); }

typedef struct options {
    const char *url;
    const char *from;
    const char *const *to;
    size_t to_len;
    const char *const *cc;
    size_t cc_len; /* cc is left out when NULL */
    const char *username;
    const char *password;
    const char *tls;
    const char *subject_prefix;
} options;

static const char *const ONE_TO[] = {"ops@example.com"};

static void *configure(const options *o, char *err, size_t err_cap)
{
    herald_option_value values[8] = {
        {.present = 1, .string = o->url},
        {.present = 1, .string = o->from},
        {.present = 1, .list = o->to, .list_len = o->to_len},
        {.present = o->cc != NULL, .list = o->cc, .list_len = o->cc_len},
        {.present = o->username != NULL, .string = o->username},
        {.present = o->password != NULL, .string = o->password},
        {.present = o->tls != NULL, .string = o->tls},
        {.present = o->subject_prefix != NULL, .string = o->subject_prefix},
    };
    return channel()->configure(&fixture_host, "ops", values, err, err_cap);
}

static options default_options(void)
{
    options o = {.url = "smtp://127.0.0.1:2525", .from = "herald <alerts@example.com>",
                 .to = ONE_TO, .to_len = 1};
    return o;
}

static void *mailer(const options *o)
{
    char err[256] = "";
    void *m = configure(o, err, sizeof err);
    if (!m)
        printf("    configure: %s\n", err);
    return m;
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

/* Every line ends in CRLF, none is longer than `max` characters. */
static int lines_ok(const char *text, size_t len, size_t max)
{
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            if (i == 0 || text[i - 1] != '\r')
                return 0;
            line = 0;
        } else if (text[i] != '\r' && ++line > max) {
            return 0;
        }
    }
    return len >= 2 && text[len - 2] == '\r' && text[len - 1] == '\n';
}

static int base64_value(char c)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *found = c ? strchr(alphabet, c) : NULL;
    return found ? (int)(found - alphabet) : -1;
}

/* Decodes base64, skipping line breaks; stops at the first other character. */
static void base64_decode(const char *text, size_t len, strbuf *out)
{
    unsigned bits = 0;
    int nbits = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r' || text[i] == '\n')
            continue;
        int v = base64_value(text[i]);
        if (v < 0)
            break;
        bits = (bits << 6) | (unsigned)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            sb_putc(out, (char)((bits >> nbits) & 0xFF));
        }
    }
}

/* The decoded content of the part with Content-Type text/<subtype>. */
static char *decoded_part(const char *message, const char *subtype)
{
    char needle[64];
    snprintf(needle, sizeof needle, "Content-Type: text/%s; charset=UTF-8\r\n", subtype);
    const char *part = strstr(message, needle);
    if (!part)
        return NULL;
    const char *data = strstr(part, "\r\n\r\n");
    if (!data)
        return NULL;
    data += 4;
    const char *end = strstr(data, "\r\n--");
    strbuf out = STRBUF_INIT;
    base64_decode(data, end ? (size_t)(end - data) : strlen(data), &out);
    return sb_take(&out);
}

/* The unfolded value of header `name`. */
static char *header_value(const char *message, const char *name)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\r\n%s: ", name);
    const char *start;
    if (strncmp(message, needle + 2, strlen(needle + 2)) == 0)
        start = message + strlen(needle + 2);
    else if ((start = strstr(message, needle)))
        start += strlen(needle);
    else
        return NULL;
    strbuf out = STRBUF_INIT;
    for (const char *p = start; *p; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            if (p[2] != ' ' && p[2] != '\t')
                break;
            p += 1; /* unfold: CRLF goes, the whitespace stays */
            continue;
        }
        sb_putc(&out, *p);
    }
    return sb_take(&out);
}

/* Decodes a header value made of RFC 2047 B words separated by spaces
 * (which disappear between words, RFC 2047 6.2). */
static char *decode_words(const char *value)
{
    strbuf out = STRBUF_INIT;
    const char *p = value;
    while (*p) {
        while (*p == ' ')
            p++;
        if (strncmp(p, "=?UTF-8?B?", 10) != 0)
            break;
        const char *end = strstr(p + 10, "?=");
        if (!end)
            break;
        base64_decode(p + 10, (size_t)(end - p - 10), &out);
        p = end + 2;
    }
    return sb_take(&out);
}

static void repeat(strbuf *sb, const char *unit, size_t bytes)
{
    while (sb->len + strlen(unit) <= bytes)
        sb_puts(sb, unit);
}

/* ---- exact messages ------------------------------------------------------ */

static const char SAMPLE_TEXT[] =
    "**HostDown** on `db1` \\<b\\>\n[详情](https://grafana.example.com/d/1?a=1&b=2)\n### 告警";

TEST(markdown_exact_message_and_envelope)
{
    static const char *const to[] = {"ops@example.com", "张三 <zhangsan@example.com>"};
    static const char *const cc[] = {"Ops, Team <team@example.com>"};
    options o = default_options();
    o.to = to;
    o.to_len = 2;
    o.cc = cc;
    o.cc_len = 1;
    o.username = "alerts";
    o.password = "s3cret";
    o.tls = "starttls";
    o.subject_prefix = "[prod] ";
    void *m = mailer(&o);
    CHECK(m != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "[故障] HostDown", SAMPLE_TEXT);
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.url, "smtp://127.0.0.1:2525");
    CHECK_STR(p.req.log_url, "smtp://127.0.0.1:2525");
    CHECK_STR(p.req.mail_from, "alerts@example.com");
    CHECK_INT(p.req.recipients_len, 3);
    CHECK_STR(p.req.recipients[0], "ops@example.com");
    CHECK_STR(p.req.recipients[1], "zhangsan@example.com");
    CHECK_STR(p.req.recipients[2], "team@example.com");
    CHECK_STR(p.req.user, "alerts");
    CHECK_STR(p.req.password, "s3cret");
    CHECK_INT(p.req.tls, HERALD_TLS_REQUIRED);
    CHECK_INT(p.req.headers_len, 0);
    CHECK_STR(sb_str(&p.req.body),
              "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
              "From: herald <alerts@example.com>\r\n"
              "To: ops@example.com, =?UTF-8?B?5byg5LiJ?= <zhangsan@example.com>\r\n"
              "Cc: \"Ops, Team\" <team@example.com>\r\n"
              "Subject: =?UTF-8?B?W3Byb2RdIFvmlYXpmpxdIEhvc3REb3du?=\r\n"
              "Message-ID: <1700000000000." SAMPLE_DIGEST_HEAD "@example.com>\r\n"
              "Auto-Submitted: auto-generated\r\n"
              "MIME-Version: 1.0\r\n"
              "Content-Type: multipart/alternative;\r\n"
              " boundary=\"" SAMPLE_BOUNDARY "\"\r\n"
              "\r\n"
              "--" SAMPLE_BOUNDARY "\r\n"
              "Content-Type: text/plain; charset=UTF-8\r\n"
              "Content-Transfer-Encoding: base64\r\n"
              "\r\n"
              "KipIb3N0RG93bioqIG9uIGBkYjFgIFw8Ylw+DQpb6K+m5oOFXShodHRwczovL2dyYWZhbmEuZXhh\r\n"
              "bXBsZS5jb20vZC8xP2E9MSZiPTIpDQojIyMg5ZGK6K2m\r\n"
              "--" SAMPLE_BOUNDARY "\r\n"
              "Content-Type: text/html; charset=UTF-8\r\n"
              "Content-Transfer-Encoding: base64\r\n"
              "\r\n"
              "PCFET0NUWVBFIGh0bWw+DQo8aHRtbD48aGVhZD48bWV0YSBjaGFyc2V0PSJVVEYtOCI+PC9oZWFk\r\n"
              "Pg0KPGJvZHkgc3R5bGU9ImZvbnQtZmFtaWx5OiBzYW5zLXNlcmlmOyBmb250LXNpemU6IDE0cHg7\r\n"
              "Ij4NCjxiPkhvc3REb3duPC9iPiBvbiA8Y29kZT5kYjE8L2NvZGU+ICZsdDtiJmd0Ozxicj4NCjxh\r\n"
              "IGhyZWY9Imh0dHBzOi8vZ3JhZmFuYS5leGFtcGxlLmNvbS9kLzE/YT0xJmFtcDtiPTIiPuivpuaD\r\n"
              "hTwvYT48YnI+DQo8Yj7lkYroraY8L2I+DQo8L2JvZHk+PC9odG1sPg0K\r\n"
              "--" SAMPLE_BOUNDARY "--\r\n");
    request_free(&p.req);
    channel()->destroy(m);
}

TEST(defaults_bare_sender_and_opportunistic_tls)
{
    options o = default_options();
    o.url = "smtps://mail.example.com:465";
    o.from = "alerts@example.com";
    void *m = mailer(&o);
    CHECK(m != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "Disk full", "x");
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_STR(p.req.url, "smtps://mail.example.com:465");
    CHECK_STR(p.req.mail_from, "alerts@example.com");
    CHECK_INT(p.req.tls, HERALD_TLS_DEFAULT);
    CHECK(p.req.user == NULL);
    CHECK_CONTAINS(sb_str(&p.req.body), "\r\nFrom: alerts@example.com\r\nTo: ops@example.com\r\n"
                                        "Subject: Disk full\r\nMessage-ID: <1700000000000.");
    CHECK(strstr(sb_str(&p.req.body), "\r\nCc:") == NULL);
    CHECK(lines_ok(p.req.body.data, p.req.body.len, 78));
    request_free(&p.req);
    channel()->destroy(m);

    /* with a password and no tls option, STARTTLS is required */
    o = default_options();
    o.username = "alerts";
    o.password = "s3cret";
    m = mailer(&o);
    CHECK(m != NULL);
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_INT(p.req.tls, HERALD_TLS_REQUIRED);
    request_free(&p.req);
    channel()->destroy(m);
}

TEST(text_format_html_alternative_escapes)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1, .tls = "none"});
    herald_message msg =
        fixture_message(HERALD_FORMAT_TEXT, "t", "a < b & \"c\"\n**not bold** [x](http://y)");
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK_INT(p.req.tls, HERALD_TLS_NONE);
    char *plain = decoded_part(sb_str(&p.req.body), "plain");
    char *html = decoded_part(sb_str(&p.req.body), "html");
    request_free(&p.req);
    channel()->destroy(m);
    int plain_ok = plain && strcmp(plain, "a < b & \"c\"\r\n**not bold** [x](http://y)") == 0;
    int html_ok = html && strstr(html, "<body style=\"font-family: sans-serif; font-size: 14px;\">"
                                       "\r\na &lt; b &amp; &quot;c&quot;<br>\r\n"
                                       "**not bold** [x](http://y)\r\n</body></html>\r\n");
    free(plain);
    free(html);
    CHECK(plain_ok);
    CHECK(html_ok);
}

TEST(markdown_links_only_to_web_or_mail)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    herald_message msg = fixture_message(
        HERALD_FORMAT_MARKDOWN, "t",
        "[bad](javascript:alert(1)) [mail](mailto:x@example.com) **open `c`");
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    char *html = decoded_part(sb_str(&p.req.body), "html");
    request_free(&p.req);
    channel()->destroy(m);
    int ok = html && strstr(html, "[bad](javascript:alert(1)) "
                                  "<a href=\"mailto:x@example.com\">mail</a> **open <code>c</code>");
    free(html);
    CHECK(ok);
}

static const char TABLE_HTML[] =
    "<h2 style=\"color:#c00\">🚨 [故障] HostDown</h2>\n"
    "<table>\n"
    "  <tr><th>告警名称</th><td>HostDown</td></tr>\n"
    "  <tr><th>告警摘要</th><td>主机 &lt;db1&gt; 无法访问 &amp; 磁盘&#28385;&#x4E86;</td></tr>\n"
    "  <tr><th>详情</th><td><a href=\"http://prom:9090/graph?g0.expr=up&amp;g0.tab=1\">查看</a>"
    "</td></tr>\n"
    "</table>\n<p>来自&nbsp;herald</p>";

TEST(html_fragment_wrapped_and_plain_part_stripped)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    herald_message msg = fixture_message(HERALD_FORMAT_HTML, "[故障] HostDown", TABLE_HTML);
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    char *plain = decoded_part(sb_str(&p.req.body), "plain");
    char *html = decoded_part(sb_str(&p.req.body), "html");
    CHECK(lines_ok(p.req.body.data, p.req.body.len, 78));
    request_free(&p.req);
    channel()->destroy(m);
    int plain_ok = plain && strcmp(plain, "🚨 [故障] HostDown\r\n"
                                          "告警名称\tHostDown\r\n"
                                          "告警摘要\t主机 <db1> 无法访问 & 磁盘满了\r\n"
                                          "详情\t查看 (http://prom:9090/graph?g0.expr=up&g0.tab=1)\r\n"
                                          "来自 herald") == 0;
    if (!plain_ok)
        printf("    plain: %s\n", plain ? plain : "(none)");
    int html_ok = html && strncmp(html, "<!DOCTYPE html>\r\n", 17) == 0 &&
                  strstr(html, "<td>HostDown</td>") &&
                  strstr(html, "</p>\r\n</body></html>\r\n");
    free(plain);
    free(html);
    CHECK(plain_ok);
    CHECK(html_ok);
}

TEST(html_document_kept_as_is_head_and_style_not_in_plain)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    const char *doc = "<html><head><title>T</title><style>td { color: red }</style></head>"
                      "<body><p>正文</p><script>x()</script><br/>尾</body></html>";
    herald_message msg = fixture_message(HERALD_FORMAT_HTML, "t", doc);
    prepared p;
    prepare(m, &msg, &p);
    char *plain = decoded_part(sb_str(&p.req.body), "plain");
    char *html = decoded_part(sb_str(&p.req.body), "html");
    request_free(&p.req);
    channel()->destroy(m);
    /* <br> after a paragraph adds an empty line, as it does on screen. */
    int plain_ok = plain && strcmp(plain, "正文\r\n\r\n尾") == 0;
    if (!plain_ok)
        printf("    plain: %s\n", plain ? plain : "(none)");
    int html_ok = html && strcmp(html, doc) == 0;
    free(plain);
    free(html);
    CHECK(plain_ok);
    CHECK(html_ok);
}

/* ---- headers ----------------------------------------------------------- */

TEST(long_chinese_subject_folded_into_encoded_words)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    strbuf title = STRBUF_INIT;
    repeat(&title, "数据库主机磁盘使用率超过百分之九十🔥 ", 400);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, title.data, "x");
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    const char *body = sb_str(&p.req.body);
    /* RFC 2047: lines with encoded words at most 76, words at most 75. */
    CHECK(lines_ok(body, p.req.body.len, 76));
    char *value = header_value(body, "Subject");
    CHECK(value != NULL);
    int words = 0, word_too_long = 0;
    for (const char *w = strstr(value, "=?UTF-8?B?"); w; w = strstr(w, "=?UTF-8?B?")) {
        const char *end = strstr(w + 10, "?=");
        if (!end)
            break;
        if (end + 2 - w > 75)
            word_too_long = 1;
        words++;
        w = end + 2;
    }
    char *decoded = decode_words(value);
    /* The trailing space goes: whitespace runs become one space, trimmed. */
    title.data[--title.len] = '\0';
    int same = decoded && strcmp(decoded, title.data) == 0;
    free(value);
    free(decoded);
    sb_free(&title);
    request_free(&p.req);
    channel()->destroy(m);
    CHECK(words > 5);
    CHECK(!word_too_long);
    CHECK(same);
}

TEST(ascii_subject_folded_at_spaces_and_whitespace_collapsed)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1, .subject_prefix = "[prod] "});
    herald_message msg = fixture_message(
        HERALD_FORMAT_TEXT,
        "[FIRING:3] HighCPU\non db1 db2 db3 and a long tail of words that will not fit on one "
        "line of a mail header",
        "x");
    prepared p;
    prepare(m, &msg, &p);
    const char *body = sb_str(&p.req.body);
    CHECK_CONTAINS(body, "Subject: [prod] [FIRING:3] HighCPU on db1 db2 db3 and a long tail of words\r\n"
                         " that will not fit on one line of a mail header\r\n");
    CHECK(lines_ok(body, p.req.body.len, 76));
    request_free(&p.req);

    /* "=?" would read as an encoded word: the subject is encoded instead. */
    herald_message tricky = fixture_message(HERALD_FORMAT_TEXT, "a =?x?= b", "x");
    prepare(m, &tricky, &p);
    char *value = header_value(sb_str(&p.req.body), "Subject");
    char *decoded = value ? decode_words(value) : NULL;
    int ok = decoded && strcmp(decoded, "[prod] a =?x?= b") == 0;
    free(value);
    free(decoded);
    request_free(&p.req);

    herald_message untitled = fixture_message(HERALD_FORMAT_TEXT, "", "x");
    prepare(m, &untitled, &p);
    CHECK_CONTAINS(sb_str(&p.req.body), "\r\nSubject: [prod] herald notification\r\n");
    request_free(&p.req);
    channel()->destroy(m);
    CHECK(ok);
}

TEST(many_recipients_folded_between_addresses)
{
    static const char *const to[] = {"first.person@example.com", "second.person@example.com",
                                     "\"Third \\\"3\\\" Person\" <third@example.com>",
                                     "fourth.person@example.com"};
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = to,
                                .to_len = 4});
    CHECK(m != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "t", "x");
    prepared p;
    prepare(m, &msg, &p);
    CHECK_CONTAINS(sb_str(&p.req.body),
                   "\r\nTo: first.person@example.com, second.person@example.com,\r\n"
                   " \"Third \\\"3\\\" Person\" <third@example.com>, fourth.person@example.com\r\n");
    CHECK_INT(p.req.recipients_len, 4);
    CHECK_STR(p.req.recipients[2], "third@example.com");
    request_free(&p.req);
    channel()->destroy(m);
}

static int64_t later_now_ms(void) { return FIXED_NOW_MS + 1; }

TEST(message_id_differs_by_content_and_time)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@mail.example.org", .to = ONE_TO,
                                .to_len = 1});
    herald_message one = fixture_message(HERALD_FORMAT_TEXT, "t", "one");
    herald_message two = fixture_message(HERALD_FORMAT_TEXT, "t", "two");
    prepared a, b, c, d;
    prepare(m, &one, &a);
    prepare(m, &two, &b);
    prepare(m, &one, &c);
    fixture_host.now_ms = later_now_ms;
    prepare(m, &one, &d);
    fixture_host.now_ms = fixture_now_ms;
    char *id_a = header_value(sb_str(&a.req.body), "Message-ID");
    char *id_b = header_value(sb_str(&b.req.body), "Message-ID");
    char *id_c = header_value(sb_str(&c.req.body), "Message-ID");
    char *id_d = header_value(sb_str(&d.req.body), "Message-ID");
    int distinct = id_a && id_b && id_d && strcmp(id_a, id_b) != 0 && strcmp(id_a, id_d) != 0;
    int stable = id_a && id_c && strcmp(id_a, id_c) == 0;
    int domain = id_a && strlen(id_a) > 20 && strncmp(id_a, "<1700000000000.", 15) == 0 &&
                 strcmp(id_a + strlen(id_a) - 18, "@mail.example.org>") == 0;
    int date = strstr(sb_str(&d.req.body), "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n") != NULL;
    free(id_a);
    free(id_b);
    free(id_c);
    free(id_d);
    request_free(&a.req);
    request_free(&b.req);
    request_free(&c.req);
    request_free(&d.req);
    channel()->destroy(m);
    CHECK(distinct);
    CHECK(stable);
    CHECK(domain);
    CHECK(date);
}

TEST(native_refused)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"a\":1}");
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, -1);
    CHECK_CONTAINS(p.err, "not format");
    request_free(&p.req);
    channel()->destroy(m);
}

/* ---- truncation -------------------------------------------------------- */

/* A Chinese markdown text so long that its message would be about 27 MB. */
TEST(oversize_markdown_truncated_under_limit)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    strbuf text = STRBUF_INIT;
    repeat(&text, "磁盘使用率过高🔥 [详情](https://grafana.example.com/d/1)\n", 10 * 1000 * 1000);
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "磁盘告警", text.data);
    prepared p;
    prepare(m, &msg, &p);
    size_t len = p.req.body.len;
    int lines = lines_ok(p.req.body.data, len, 78);
    char *plain = decoded_part(sb_str(&p.req.body), "plain");
    char *html = decoded_part(sb_str(&p.req.body), "html");
    request_free(&p.req);
    channel()->destroy(m);
    CHECK_INT(p.rc, 0);
    CHECK(len <= MAX_MESSAGE);
    CHECK(len > MAX_MESSAGE - 400); /* cut as little as needed */
    CHECK(lines);
    CHECK(plain && html);
    size_t plain_len = strlen(plain);
    int plain_utf8 = is_valid_utf8((const unsigned char *)plain, plain_len);
    const char *tail = "\r\n\r\n" MARKER;
    int plain_marked = plain_len > strlen(tail) &&
                       strcmp(plain + plain_len - strlen(tail), tail) == 0;
    /* The cut keeps whole lines' links: the last kept line before the marker
     * ends at a character boundary outside the link. */
    const char *before = plain + plain_len - strlen(tail);
    int link_whole = before[-1] == ')' || before[-1] == '\n' || before[-1] == ' ' ||
                     (unsigned char)before[-1] >= 0x80;
    int html_marked = strstr(html, MARKER "\r\n</body></html>\r\n") != NULL;
    free(plain);
    free(html);
    sb_free(&text);
    CHECK(plain_utf8);
    CHECK(plain_marked);
    CHECK(link_whole);
    CHECK(html_marked);
}

TEST(oversize_html_cut_outside_tags)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    strbuf text = STRBUF_INIT;
    repeat(&text, "<tr><td style=\"padding:4px\">告警名称</td><td>数据库&amp;主机</td></tr>\n",
           10 * 1000 * 1000);
    herald_message msg = fixture_message(HERALD_FORMAT_HTML, "t", text.data);
    prepared p;
    prepare(m, &msg, &p);
    CHECK_INT(p.rc, 0);
    CHECK(p.req.body.len <= MAX_MESSAGE);
    char *html = decoded_part(sb_str(&p.req.body), "html");
    char *plain = decoded_part(sb_str(&p.req.body), "plain");
    request_free(&p.req);
    channel()->destroy(m);
    sb_free(&text);
    const char *marker_at = html ? strstr(html, "\r\n<p>" MARKER "</p>") : NULL;
    /* Just before the marker: the end of a tag or a character reference,
     * or text, never the inside of a tag. */
    int outside = marker_at && marker_at > html &&
                  (marker_at[-1] == '>' || (unsigned char)marker_at[-1] >= 0x80 ||
                   marker_at[-1] == ';' || marker_at[-1] == '\n');
    int plain_marked = plain && strstr(plain, MARKER) != NULL &&
                       is_valid_utf8((const unsigned char *)plain, strlen(plain));
    free(html);
    free(plain);
    CHECK(outside);
    CHECK(plain_marked);
}

/* ---- verdicts ---------------------------------------------------------- */

static void check_verdict(herald_verdict v, herald_verdict_kind kind, const char *reason)
{
    CHECK_INT(v.kind, kind);
    CHECK_INT(v.retry_after_ms, 0);
    CHECK_STR(v.reason, reason);
}

TEST(classify_smtp_replies)
{
    void *m = mailer(&(options){.url = "smtp://h:25", .from = "a@example.com", .to = ONE_TO,
                                .to_len = 1});
    const herald_channel *ch = channel();
    check_verdict(fixture_classify(ch, m, 250, "", NULL), HERALD_OK, "SMTP 250");
    check_verdict(fixture_classify(ch, m, 421, "Weird server reply", NULL), HERALD_RETRY,
                  "SMTP 421: Weird server reply");
    check_verdict(fixture_classify(ch, m, 451, "Weird server reply", NULL), HERALD_RETRY,
                  "SMTP 451: Weird server reply");
    check_verdict(fixture_classify(ch, m, 452, "RCPT failed: 452", NULL), HERALD_RETRY,
                  "SMTP 452: RCPT failed: 452");
    check_verdict(fixture_classify(ch, m, 550, "RCPT failed: 550", NULL), HERALD_FAIL,
                  "SMTP 550: RCPT failed: 550");
    check_verdict(fixture_classify(ch, m, 552, "Weird server reply", NULL), HERALD_FAIL,
                  "SMTP 552: Weird server reply");
    check_verdict(fixture_classify(ch, m, 535, "Login denied", NULL), HERALD_FAIL,
                  "SMTP 535: Login denied");
    check_verdict(fixture_classify(ch, m, 530, "STARTTLS\nrequired", NULL), HERALD_FAIL,
                  "SMTP 530: STARTTLS required");
    /* The server's own reply line: its code is not repeated. */
    check_verdict(fixture_classify(ch, m, 550, "550 5.1.1 no such user", NULL), HERALD_FAIL,
                  "SMTP 550: 5.1.1 no such user");
    check_verdict(fixture_classify(ch, m, 451, "451-4.3.0 try later", NULL), HERALD_RETRY,
                  "SMTP 451: 4.3.0 try later");
    check_verdict(fixture_classify(ch, m, 554, "550 mismatched", NULL), HERALD_FAIL,
                  "SMTP 554: 550 mismatched");
    strbuf long_text = STRBUF_INIT;
    repeat(&long_text, "收件人不存在", 3000);
    herald_verdict v = fixture_classify(ch, m, 550, long_text.data, NULL);
    sb_free(&long_text);
    CHECK_INT(v.kind, HERALD_FAIL);
    CHECK(strncmp(v.reason, "SMTP 550: 收件人", strlen("SMTP 550: 收件人")) == 0);
    CHECK(is_valid_utf8((const unsigned char *)v.reason, strlen(v.reason)));
    ch->destroy(m);
}

/* ---- configuration ----------------------------------------------------- */

static void check_configure_error(const options *o, const char *expected)
{
    char err[256] = "";
    void *m = configure(o, err, sizeof err);
    if (m)
        channel()->destroy(m);
    CHECK(m == NULL);
    CHECK_STR(err, expected);
}

TEST(configure_errors_name_the_key)
{
    options o = default_options();
    o.url = "http://mail.example.com";
    check_configure_error(&o, "url: must start with smtp:// (port 587, STARTTLS) or smtps:// "
                              "(port 465)");
    o.url = "smtp://user:pw@mail.example.com:587";
    check_configure_error(&o, "url: must not carry credentials; use username and password");
    o.url = "smtp://:25";
    check_configure_error(&o, "url: must name a host, e.g. smtp://mail.example.com:587");

    o = default_options();
    o.from = "herald";
    check_configure_error(&o, "from: \"herald\" is not an e-mail address (expected name@domain "
                              "or Name <name@domain>)");
    o.from = "x <a@b@c>";
    check_configure_error(&o, "from: \"x <a@b@c>\" is not an e-mail address (expected "
                              "name@domain or Name <name@domain>)");
    o.from = "x\r\nBcc: evil@example.com <a@b.c>";
    check_configure_error(&o, "from: \"…\" is not an e-mail address (expected name@domain or "
                              "Name <name@domain>)");

    static const char *const bad_to[] = {"ok@example.com", "nobody"};
    o = default_options();
    o.to = bad_to;
    o.to_len = 2;
    check_configure_error(&o, "to: item 2 \"nobody\" is not an e-mail address (expected "
                              "name@domain or Name <name@domain>)");
    o.to_len = 0;
    check_configure_error(&o, "to: must list at least one address");

    o = default_options();
    o.cc = bad_to + 1;
    o.cc_len = 1;
    check_configure_error(&o, "cc: item 1 \"nobody\" is not an e-mail address (expected "
                              "name@domain or Name <name@domain>)");

    o = default_options();
    o.password = "pw";
    check_configure_error(&o, "password: needs username as well");
    o = default_options();
    o.username = "u";
    check_configure_error(&o, "username: needs password as well");

    o = default_options();
    o.username = "u";
    o.password = "p\r\nw";
    check_configure_error(&o, "password: must not contain control characters");

    o = default_options();
    o.tls = "yes";
    check_configure_error(&o, "tls: must be \"starttls\" (required), \"opportunistic\" (the "
                              "default) or \"none\"");
    o.url = "smtps://mail.example.com:465";
    o.tls = "none";
    check_configure_error(&o, "tls: \"none\" contradicts an smtps:// url, which is always TLS");

    /* a password never goes out where STARTTLS is only tried */
    o = default_options();
    o.username = "u";
    o.password = "p";
    o.tls = "opportunistic";
    check_configure_error(&o, "tls: \"opportunistic\" would send the password in clear to a "
                              "server without STARTTLS; use \"starttls\" (or \"none\" for a "
                              "relay on this host)");

    o = default_options();
    o.subject_prefix = "[a]\n";
    check_configure_error(&o, "subject_prefix: must be one line without control characters");
}

/* An address too long to quote whole is cut where a character starts:
 * 告 begins two bytes before the quote's 80 and would be cut in two. */
TEST(a_long_address_is_quoted_up_to_a_character)
{
    static const char words[] = "on-call rota ";
    char text[79];
    for (size_t k = 0; k < sizeof text - 1; k++)
        text[k] = words[k % (sizeof words - 1)];
    text[sizeof text - 1] = '\0';
    char address[96], expected[192];
    snprintf(address, sizeof address, "%s告警", text);
    options o = default_options();
    o.from = address;
    snprintf(expected, sizeof expected, "from: \"%s\" is not an e-mail address (expected "
             "name@domain or Name <name@domain>)", text);
    check_configure_error(&o, expected);
    const char *to[] = {address};
    o = default_options();
    o.to = to;
    o.to_len = 1;
    snprintf(expected, sizeof expected, "to: item 1 \"%s\" is not an e-mail address (expected "
             "name@domain or Name <name@domain>)", text);
    check_configure_error(&o, expected);
}

TEST(descriptor)
{
    const herald_channel *ch = channel();
    CHECK_STR(ch->name, "email");
    CHECK_INT(ch->formats, HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_HTML);
    CHECK_INT(ch->max_body_bytes, MAX_MESSAGE);
    CHECK_INT(ch->rate_per_minute, 0);
    CHECK_STR(ch->default_template, "email");
    CHECK_INT(ch->needs_payload, 0);
    static const struct {
        const char *name;
        herald_option_type type;
        int required, secret;
    } expected[] = {
        {"url", HERALD_OPTION_STRING, 1, 0},       {"from", HERALD_OPTION_STRING, 1, 0},
        {"to", HERALD_OPTION_STRING_LIST, 1, 0},   {"cc", HERALD_OPTION_STRING_LIST, 0, 0},
        {"username", HERALD_OPTION_STRING, 0, 0},  {"password", HERALD_OPTION_STRING, 0, 1},
        {"tls", HERALD_OPTION_STRING, 0, 0},       {"subject_prefix", HERALD_OPTION_STRING, 0, 0},
    };
    CHECK_INT(ch->options_len, sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < ch->options_len; i++) {
        CHECK_STR(ch->options[i].name, expected[i].name);
        CHECK_INT(ch->options[i].type, expected[i].type);
        CHECK_INT(ch->options[i].required, expected[i].required);
        CHECK_INT(ch->options[i].secret, expected[i].secret);
    }
}

RUN_TESTS(CASE(markdown_exact_message_and_envelope), CASE(defaults_bare_sender_and_opportunistic_tls),
          CASE(text_format_html_alternative_escapes), CASE(markdown_links_only_to_web_or_mail),
          CASE(html_fragment_wrapped_and_plain_part_stripped),
          CASE(html_document_kept_as_is_head_and_style_not_in_plain),
          CASE(long_chinese_subject_folded_into_encoded_words),
          CASE(ascii_subject_folded_at_spaces_and_whitespace_collapsed),
          CASE(many_recipients_folded_between_addresses), CASE(message_id_differs_by_content_and_time),
          CASE(native_refused), CASE(oversize_markdown_truncated_under_limit),
          CASE(oversize_html_cut_outside_tags), CASE(classify_smtp_replies),
          CASE(configure_errors_name_the_key),
          CASE(a_long_address_is_quoted_up_to_a_character), CASE(descriptor))
