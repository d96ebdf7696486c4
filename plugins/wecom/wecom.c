/* WeCom group robot (企业微信群机器人). Wire facts: docs CHANNELS.md,
 * WeCom section. One receiver option picks the WeCom message type; the
 * message's text is fitted to that type's content limit and mention rules. */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode_reply.h"

/* WeCom limits the content, not the body: text 2048 bytes, markdown and
 * markdown_v2 4096 (UTF-8 bytes, errcode 40058 beyond). */
#define TEXT_CONTENT_BYTES 2048
#define MARKDOWN_CONTENT_BYTES 4096
/* herald's own bound on the whole body: 4096 content bytes escaped plus
 * mention lists stay far below it; only a runaway native body reaches it. */
#define MAX_BODY_BYTES 16384
#define TRUNCATION_MARKER "\n\n…（内容过长，已截断）"
/* 45009 "api freq out of limit": the robot's minute is used up. */
#define THROTTLED_RETRY_MS 60000

typedef enum wecom_msgtype {
    MSGTYPE_MARKDOWN,
    MSGTYPE_MARKDOWN_V2,
    MSGTYPE_TEXT,
} wecom_msgtype;

static const char *const msgtype_names[] = {"markdown", "markdown_v2", "text"};

typedef struct robot {
    const herald_host *host;
    char *receiver;
    char *url;
    char *log_url; /* the URL without the key */
    wecom_msgtype msgtype;
} robot;

static char *copy_string(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, text, len);
    return copy;
}

static void robot_destroy(void *instance)
{
    robot *r = instance;
    if (!r)
        return;
    free(r->receiver);
    free(r->url);
    free(r->log_url);
    free(r);
}

/* ---- configuration ----------------------------------------------------- */

static const char *option_string(const herald_option_value *value)
{
    return value->present && value->string ? value->string : "";
}

/* An http(s) URL whose query carries a non-empty key=. */
static int is_robot_url(const char *url)
{
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return 0;
    const char *query = strchr(url, '?');
    for (const char *p = query; p; p = strchr(p + 1, '&'))
        if (strncmp(p + 1, "key=", 4) == 0 && p[5] && p[5] != '&' && p[5] != '#')
            return 1;
    return 0;
}

/* "https://host/path?key=…": what logs may show. */
static char *redacted_url(const char *url)
{
    size_t base = strcspn(url, "?#");
    static const char suffix[] = "?key=…";
    char *out = malloc(base + sizeof suffix);
    if (out) {
        memcpy(out, url, base);
        memcpy(out + base, suffix, sizeof suffix);
    }
    return out;
}

static void *robot_configure(const herald_host *host, const char *receiver,
                             const herald_option_value *values, char *err, size_t err_cap)
{
    if (!HERALD_HAS_FIELD(herald_host, host, classify_http)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no classify_http (plugin ABI 1.6)");
        return NULL;
    }
    const char *url = option_string(&values[0]);
    if (!is_robot_url(url)) {
        snprintf(err, err_cap, "url: must be an http(s) URL with key=…");
        return NULL;
    }
    wecom_msgtype msgtype = MSGTYPE_MARKDOWN;
    if (values[1].present) {
        const char *name = option_string(&values[1]);
        size_t i = 0;
        while (i < sizeof msgtype_names / sizeof msgtype_names[0] &&
               strcmp(name, msgtype_names[i]) != 0)
            i++;
        if (i == sizeof msgtype_names / sizeof msgtype_names[0]) {
            snprintf(err, err_cap, "msgtype: must be \"markdown\", \"text\" or \"markdown_v2\"");
            return NULL;
        }
        msgtype = (wecom_msgtype)i;
    }
    robot *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    r->host = host;
    r->msgtype = msgtype;
    r->receiver = copy_string(receiver ? receiver : "wecom");
    r->url = copy_string(url);
    r->log_url = redacted_url(url);
    if (!r->receiver || !r->url || !r->log_url) {
        robot_destroy(r);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return r;
}

/* ---- flattening -------------------------------------------------------- */

/* markdown_v2 shows <font> tags literally and text shows all markup
 * literally, so a markdown message is reduced to what the type renders. */
typedef enum flatten_level {
    KEEP_FONT_TAGS,  /* markdown: everything is understood */
    DROP_FONT_TAGS,  /* markdown_v2: standard markdown, no colours */
    PLAIN_TEXT,      /* text: no markup at all */
} flatten_level;

static int is_ascii_punct(char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

/* Length of a <font …> or </font> tag at text[i], 0 if there is none. */
static size_t font_tag_length(const char *text, size_t len, size_t i)
{
    static const char close[] = "</font>";
    if (len - i >= sizeof close - 1 && memcmp(text + i, close, sizeof close - 1) == 0)
        return sizeof close - 1;
    if (len - i < 6 || memcmp(text + i, "<font", 5) != 0 ||
        (text[i + 5] != ' ' && text[i + 5] != '>'))
        return 0;
    for (size_t end = i + 5; end < len && text[end] != '\n'; end++)
        if (text[end] == '>')
            return end + 1 - i;
    return 0;
}

typedef struct link_span {
    size_t label;     /* first byte of the label */
    size_t label_end; /* the ']' */
    size_t end;       /* just after the ')' */
} link_span;

/* Whether "[label](url)" or "![label](url)" starts at text[i]. */
static int find_link(const char *text, size_t len, size_t i, link_span *link)
{
    size_t open = text[i] == '!' ? i + 1 : i;
    if (open >= len || text[open] != '[')
        return 0;
    size_t close = open + 1;
    while (close < len && text[close] != ']' && text[close] != '\n')
        close++;
    if (close + 1 >= len || text[close] != ']' || text[close + 1] != '(')
        return 0;
    size_t end = close + 2;
    while (end < len && text[end] != ')' && text[end] != ' ' && text[end] != '\n')
        end++;
    if (end >= len || text[end] != ')' || end == close + 2)
        return 0;
    link->label = open + 1;
    link->label_end = close;
    link->end = end + 1;
    return 1;
}

/* `in_label`: the range is a link's label, which holds no links and does
 * not start a line. */
static void flatten_range(const herald_host *host, herald_buf *out, const char *text,
                          size_t start, size_t end, flatten_level level, int in_label)
{
    int line_start = !in_label;
    for (size_t i = start; i < end;) {
        char c = text[i];
        size_t skip;
        link_span link;
        if (level == PLAIN_TEXT && c == '\\' && i + 1 < end && is_ascii_punct(text[i + 1])) {
            host->buf_append(out, text + i + 1, 1);
            i += 2;
        } else if (c == '<' && (skip = font_tag_length(text, end, i)) > 0) {
            i += skip;
            continue; /* a tag at a line start leaves the line start */
        } else if (level == PLAIN_TEXT && c == '*' && i + 1 < end && text[i + 1] == '*') {
            i += 2;
            continue;
        } else if (level == PLAIN_TEXT && line_start && c == '#') {
            size_t hashes = 0;
            while (i + hashes < end && text[i + hashes] == '#')
                hashes++;
            if (hashes <= 6 && i + hashes < end && text[i + hashes] == ' ') {
                i += hashes + 1; /* a heading's marks and their space */
            } else {
                host->buf_append(out, text + i, hashes);
                i += hashes;
            }
        } else if (level == PLAIN_TEXT && !in_label && (c == '[' || c == '!') &&
                   find_link(text, end, i, &link)) {
            flatten_range(host, out, text, link.label, link.label_end, level, 1);
            host->buf_append(out, " (", 2);
            host->buf_append(out, text + link.label_end + 2, link.end - link.label_end - 3);
            host->buf_append(out, ")", 1);
            i = link.end;
        } else {
            host->buf_append(out, text + i, 1);
            i++;
        }
        line_start = c == '\n';
    }
}

/* The text as the robot's msgtype shows it: a text message is already
 * plain, and markdown keeps all its markup. */
static herald_buf *displayed_text(const robot *r, const herald_message *msg)
{
    const herald_host *host = r->host;
    herald_buf *out = host->buf_new();
    size_t len = strlen(msg->text);
    flatten_level level = r->msgtype == MSGTYPE_TEXT        ? PLAIN_TEXT
                          : r->msgtype == MSGTYPE_MARKDOWN_V2 ? DROP_FONT_TAGS
                                                              : KEEP_FONT_TAGS;
    if (msg->format == HERALD_FORMAT_MARKDOWN && level != KEEP_FONT_TAGS)
        flatten_range(host, out, msg->text, 0, len, level, 0);
    else
        host->buf_append(out, msg->text, len);
    return out;
}

/* ---- content and body -------------------------------------------------- */

static int contains(const char *haystack, size_t len, const char *needle, size_t needle_len)
{
    for (size_t i = 0; i + needle_len <= len; i++)
        if (memcmp(haystack + i, needle, needle_len) == 0)
            return 1;
    return 0;
}

/* Markdown notifies a user only through "<@userid>" in the content. */
static void append_markdown_mentions(const herald_host *host, const herald_message *msg,
                                     herald_buf *content)
{
    herald_buf *line = host->buf_new();
    for (size_t i = 0; i < msg->mentions.user_ids_len; i++) {
        const char *id = msg->mentions.user_ids[i];
        if (!*id)
            continue;
        herald_buf *tag = host->buf_new();
        host->buf_printf(tag, "<@%s>", id);
        if (!contains(host->buf_data(content), host->buf_len(content), host->buf_data(tag),
                      host->buf_len(tag)) &&
            !contains(host->buf_data(line), host->buf_len(line), host->buf_data(tag),
                      host->buf_len(tag))) {
            if (host->buf_len(line))
                host->buf_append(line, " ", 1);
            host->buf_append(line, host->buf_data(tag), host->buf_len(tag));
        }
        host->buf_free(tag);
    }
    if (host->buf_len(line)) {
        /* One blank line before the mentions, whatever the text ends with. */
        const char *data = host->buf_data(content);
        size_t len = host->buf_len(content);
        size_t newlines = 0;
        while (newlines < len && newlines < 2 && data[len - 1 - newlines] == '\n')
            newlines++;
        if (len)
            host->buf_append(content, "\n\n", 2 - newlines);
        host->buf_append(content, host->buf_data(line), host->buf_len(line));
    }
    host->buf_free(line);
}

/* The content for a cut of the displayed text: kept text, marker when cut,
 * and the markdown mention line (never cut: a cut mention notifies nobody). */
static herald_buf *content_for(const robot *r, const herald_message *msg, const char *text,
                               size_t kept, int truncated)
{
    const herald_host *host = r->host;
    herald_buf *content = host->buf_new();
    host->buf_append(content, text, kept);
    if (truncated)
        host->buf_append(content, TRUNCATION_MARKER, strlen(TRUNCATION_MARKER));
    if (r->msgtype == MSGTYPE_MARKDOWN)
        append_markdown_mentions(host, msg, content);
    return content;
}

static size_t content_limit(wecom_msgtype msgtype)
{
    return msgtype == MSGTYPE_TEXT ? TEXT_CONTENT_BYTES : MARKDOWN_CONTENT_BYTES;
}

/* The longest content within the msgtype's limit, cutting the text (never
 * the marker or the mentions) as little as needed. Sizes are measured, not
 * predicted, since the mention line depends on where the cut falls. */
static herald_buf *fitted_content(const robot *r, const herald_message *msg, const char *text,
                                  size_t text_len, char *err, size_t err_cap)
{
    const herald_host *host = r->host;
    size_t limit = content_limit(r->msgtype);
    herald_buf *content = content_for(r, msg, text, text_len, 0);
    if (host->buf_len(content) <= limit)
        return content;
    host->buf_free(content);
    content = content_for(r, msg, text, 0, 1);
    int fits_at_all = host->buf_len(content) <= limit;
    host->buf_free(content);
    if (!fits_at_all) {
        snprintf(err, err_cap,
                 "%s content does not fit in %zu bytes even with its text cut to nothing",
                 msgtype_names[r->msgtype], limit);
        return NULL;
    }
    /* `fitting` always fits, `too_long` never does (the whole text did not). */
    size_t fitting = 0, too_long = text_len;
    while (too_long - fitting > 1) {
        size_t mid = fitting + (too_long - fitting) / 2;
        content = content_for(r, msg, text, host->text_prefix(text, text_len, mid), 1);
        if (host->buf_len(content) <= limit)
            fitting = mid;
        else
            too_long = mid;
        host->buf_free(content);
    }
    return content_for(r, msg, text, host->text_prefix(text, text_len, fitting), 1);
}

static void append_json_list(const herald_host *host, herald_buf *body, const char *name,
                             const char *const *items, size_t len, int all)
{
    if (len == 0 && !all)
        return;
    host->buf_printf(body, ",\"%s\":[", name);
    size_t written = 0;
    for (size_t i = 0; i < len; i++) {
        if (!*items[i])
            continue;
        if (written++)
            host->buf_append(body, ",", 1);
        host->buf_json_string(body, items[i], strlen(items[i]));
    }
    if (all)
        host->buf_printf(body, "%s\"@all\"", written ? "," : "");
    host->buf_append(body, "]", 1);
}

/* Markdown notifies user ids only and markdown_v2 nobody: say which
 * mentions are lost and how many, without the numbers or ids themselves. */
static void warn_lost_mentions(const robot *r, const herald_message *msg)
{
    const herald_host *host = r->host;
    size_t users = r->msgtype == MSGTYPE_MARKDOWN_V2 ? msg->mentions.user_ids_len : 0;
    herald_buf *lost = host->buf_new();
    if (msg->mentions.mobiles_len)
        host->buf_printf(lost, "%zu mobile number(s)", msg->mentions.mobiles_len);
    if (users)
        host->buf_printf(lost, "%s%zu user id(s)", host->buf_len(lost) ? ", " : "", users);
    if (msg->mentions.all)
        host->buf_printf(lost, "%s@all", host->buf_len(lost) ? ", " : "");
    if (host->buf_len(lost))
        host->log(HERALD_LOG_WARN, r->receiver,
                  "wecom %s cannot mention %s; not notified (msgtype = \"text\" can)",
                  msgtype_names[r->msgtype], host->buf_data(lost));
    host->buf_free(lost);
}

static herald_buf *build_body(const robot *r, const herald_message *msg, char *err,
                              size_t err_cap)
{
    const herald_host *host = r->host;
    herald_buf *text = displayed_text(r, msg);
    herald_buf *content = fitted_content(r, msg, host->buf_data(text), host->buf_len(text),
                                         err, err_cap);
    host->buf_free(text);
    if (!content)
        return NULL;
    if (host->buf_len(content) == 0) {
        host->buf_free(content);
        snprintf(err, err_cap, "message is empty; WeCom refuses an empty content");
        return NULL;
    }
    const char *type = msgtype_names[r->msgtype];
    herald_buf *body = host->buf_new();
    host->buf_printf(body, "{\"msgtype\":\"%s\",\"%s\":{\"content\":", type, type);
    host->buf_json_string(body, host->buf_data(content), host->buf_len(content));
    host->buf_free(content);
    if (r->msgtype == MSGTYPE_TEXT) {
        append_json_list(host, body, "mentioned_list", msg->mentions.user_ids,
                         msg->mentions.user_ids_len, msg->mentions.all);
        append_json_list(host, body, "mentioned_mobile_list", msg->mentions.mobiles,
                         msg->mentions.mobiles_len, 0);
    } else {
        warn_lost_mentions(r, msg);
    }
    host->buf_append(body, "}}", 2);
    if (host->buf_len(body) > MAX_BODY_BYTES) {
        snprintf(err, err_cap, "body is %zu bytes with its mentions; herald sends at most %d",
                 host->buf_len(body), MAX_BODY_BYTES);
        host->buf_free(body);
        return NULL;
    }
    return body;
}

/* A NATIVE body is sent as the template built it; it can only be checked,
 * including the content limit of the types that have one. */
static int check_native(const robot *r, const herald_message *msg, char *err, size_t err_cap)
{
    const herald_host *host = r->host;
    size_t len = strlen(msg->text);
    if (host->json_lookup(msg->text, len, "", NULL, 0) != HERALD_JSON_OBJECT) {
        snprintf(err, err_cap, "native body is not a JSON object");
        return -1;
    }
    if (len > MAX_BODY_BYTES) {
        snprintf(err, err_cap, "native body is %zu bytes; herald sends at most %d", len,
                 MAX_BODY_BYTES);
        return -1;
    }
    char type[32];
    if (host->json_lookup(msg->text, len, "msgtype", type, sizeof type) != HERALD_JSON_STRING) {
        snprintf(err, err_cap, "native body has no msgtype");
        return -1;
    }
    for (size_t i = 0; i < sizeof msgtype_names / sizeof msgtype_names[0]; i++) {
        if (strcmp(type, msgtype_names[i]) != 0)
            continue;
        size_t limit = content_limit((wecom_msgtype)i);
        char path[64];
        snprintf(path, sizeof path, "%s.content", type);
        char *content = malloc(limit + 2);
        if (!content) {
            snprintf(err, err_cap, "out of memory");
            return -1;
        }
        herald_json_type found = host->json_lookup(msg->text, len, path, content, limit + 2);
        size_t content_len = strlen(content);
        free(content);
        if (found == HERALD_JSON_STRING && content_len > limit) {
            snprintf(err, err_cap, "native %s content is over %zu bytes; WeCom refuses it (40058)",
                     type, limit);
            return -1;
        }
    }
    return 0;
}

static int robot_prepare(void *instance, const herald_message *msg, herald_request *req,
                         char *err, size_t err_cap)
{
    const robot *r = instance;
    const herald_host *host = r->host;
    if (!msg->text) {
        snprintf(err, err_cap, "message has no text");
        return -1;
    }
    if (msg->format == HERALD_FORMAT_NATIVE) {
        if (check_native(r, msg, err, err_cap) != 0)
            return -1;
        host->request_set_body(req, msg->text, strlen(msg->text));
    } else if (msg->format == HERALD_FORMAT_TEXT || msg->format == HERALD_FORMAT_MARKDOWN) {
        herald_buf *body = build_body(r, msg, err, err_cap);
        if (!body)
            return -1;
        host->request_set_body(req, host->buf_data(body), host->buf_len(body));
        host->buf_free(body);
    } else {
        snprintf(err, err_cap, "wecom takes text, markdown or native messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    host->request_set_url(req, r->url);
    host->request_set_log_url(req, r->log_url);
    host->request_add_header(req, "Content-Type", "application/json; charset=utf-8");
    return 0;
}

/* ---- verdicts ---------------------------------------------------------- */

static void classify_errcode(const robot *r, long errcode, const char *errmsg,
                             herald_verdict *out)
{
    const herald_host *host = r->host;
    char head[64];
    snprintf(head, sizeof head, "errcode %ld: ", errcode);
    switch (errcode) {
    case 0:
        host->verdict(out, HERALD_OK, 0, "ok", "", 0);
        return;
    case 45009: /* api freq out of limit: over 20 a minute */
        host->verdict(out, HERALD_RETRY, THROTTLED_RETRY_MS, head, errmsg, strlen(errmsg));
        return;
    case -1: /* WeCom's global "system busy, try again later" */
        host->verdict(out, HERALD_RETRY, 0, head, errmsg, strlen(errmsg));
        return;
    default:
        /* 93000 invalid webhook url, 40058 invalid parameter or content too
         * long, and anything else: resending the same body cannot help. */
        host->verdict(out, HERALD_FAIL, 0, head, errmsg, strlen(errmsg));
    }
}

static void robot_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const robot *r = instance;
    long errcode;
    char errmsg[sizeof out->reason];
    if (errcode_reply_read(r->host, resp, &errcode, errmsg, sizeof errmsg, out))
        classify_errcode(r, errcode, errmsg, out);
}

/* ---- descriptors ------------------------------------------------------- */

static const herald_option_spec robot_options[] = {
    {"url", HERALD_OPTION_STRING, 1, 1,
     "robot webhook URL, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"},
    {"msgtype", HERALD_OPTION_STRING, 0, 0,
     "\"markdown\" (default), \"text\" (can @ mobiles and @all) or \"markdown_v2\""},
};

/* The URL (with its key) names the robot, so receivers that share a robot
 * share its limit of 20 a minute. */
static void robot_target_key(void *instance, size_t index, char *out, size_t cap)
{
    (void)index;
    const robot *r = instance;
    snprintf(out, cap, "wecom %s", r->url);
}

/* A digest must fit the content limit of the robot's msgtype, less room
 * for the mention line and the cut marker, or prepare would cut alerts
 * off the end of it. */
static size_t robot_text_budget(void *instance)
{
    const robot *r = instance;
    return content_limit(r->msgtype) - 256;
}

static const herald_channel robot_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "wecom",
    .description = "WeCom group robot (企业微信群机器人)",
    .max_body_bytes = MAX_BODY_BYTES,
    .rate_per_minute = 20,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE,
    .default_template = "wecom",
    .options = robot_options,
    .options_len = sizeof robot_options / sizeof robot_options[0],
    .configure = robot_configure,
    .prepare = robot_prepare,
    .classify = robot_classify,
    .destroy = robot_destroy,
    .target_key = robot_target_key,
    .text_budget = robot_text_budget,
};

static const herald_channel *const channels[] = {&robot_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "wecom",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};


HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
