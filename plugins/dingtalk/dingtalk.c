/* DingTalk custom robots (钉钉自定义机器人): the signed robot ("加签") and
 * the keyword robot. Wire facts: docs CHANNELS.md, DingTalk section. */
#include <herald/plugin.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode_reply.h"

/* DingTalk rejects a body of 20000 bytes or more (errcode 460101). */
#define MAX_BODY_BYTES 20000
#define TRUNCATION_MARKER "\n\n…（内容过长，已截断）"
/* Too fast: DingTalk blocks a robot for a while, so wait a full minute. */
/* 130101: the robot sent more than 20 in a minute and DingTalk blocks it
 * for 10 minutes; 410100: throttled, for an unknown while. */
#define BLOCKED_RETRY_MS 600000
#define THROTTLED_RETRY_MS 60000
/* The text one message can carry: the limit less the JSON around it and a
 * line of mentions. */
#define TEXT_BUDGET_BYTES 18000

typedef struct robot {
    const herald_host *host;
    char *receiver;
    char **urls;    /* one per robot the receiver spreads its messages over */
    char **secrets; /* signed robots only, one per url */
    size_t len;
    char *keyword;  /* keyword robots only */
} robot;

static char *copy_string(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, text, len);
    return copy;
}

static void free_strings(char **items, size_t len)
{
    for (size_t i = 0; items && i < len; i++)
        free(items[i]);
    free(items);
}

static void robot_destroy(void *instance)
{
    robot *r = instance;
    if (!r)
        return;
    free(r->receiver);
    free_strings(r->urls, r->len);
    free_strings(r->secrets, r->len);
    free(r->keyword);
    free(r);
}

static int is_robot_url(const char *url)
{
    return (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
           strstr(url, "access_token=") != NULL;
}

/* The single option (`url`) or the list (`urls`), exactly one of them;
 * returns a copied list, or NULL with err naming the option. */
static char **one_or_many(const herald_option_value *one, const herald_option_value *many,
                          const char *one_name, const char *many_name, size_t *len, char *err,
                          size_t err_cap)
{
    if (!one->present && !many->present) {
        snprintf(err, err_cap, "%s: missing: set %s, or %s (a list, one per robot)", one_name,
                 one_name, many_name);
        return NULL;
    }
    if (one->present && many->present) {
        snprintf(err, err_cap, "%s: set %s or %s, not both", one_name, one_name, many_name);
        return NULL;
    }
    size_t n = one->present ? 1 : many->list_len;
    if (n == 0) {
        snprintf(err, err_cap, "%s: must list at least one", many_name);
        return NULL;
    }
    char **items = calloc(n, sizeof *items);
    for (size_t i = 0; items && i < n; i++) {
        items[i] = copy_string(one->present ? one->string : many->list[i]);
        if (!items[i]) {
            free_strings(items, n);
            items = NULL;
        }
    }
    if (!items)
        snprintf(err, err_cap, "out of memory");
    *len = n;
    return items;
}

/* Option order: url, urls, then secret/secrets (signed) or keyword. */
static void *robot_configure(const herald_host *host, const char *receiver,
                             const herald_option_value *values, int is_signed, char *err,
                             size_t err_cap)
{
    if (!HERALD_HAS_FIELD(herald_host, host, classify_http)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no classify_http (plugin ABI 1.6)");
        return NULL;
    }
    robot *r = calloc(1, sizeof *r);
    if (!r || !(r->receiver = copy_string(receiver ? receiver : ""))) {
        snprintf(err, err_cap, "out of memory");
        robot_destroy(r);
        return NULL;
    }
    r->host = host;
    r->urls = one_or_many(&values[0], &values[1], "url", "urls", &r->len, err, err_cap);
    if (!r->urls)
        goto fail;
    for (size_t i = 0; i < r->len; i++)
        if (!is_robot_url(r->urls[i])) {
            snprintf(err, err_cap, "%s: must be an http(s) URL with access_token=…",
                     values[0].present ? "url" : "urls");
            goto fail;
        }
    if (is_signed) {
        size_t secrets = 0;
        r->secrets = one_or_many(&values[2], &values[3], "secret", "secrets", &secrets, err, err_cap);
        if (!r->secrets)
            goto fail;
        if (secrets != r->len) {
            snprintf(err, err_cap, "secrets: needs one secret per url (%zu urls, %zu secrets)", r->len,
                     secrets);
            free_strings(r->secrets, secrets);
            r->secrets = NULL;
            goto fail;
        }
        for (size_t i = 0; i < r->len; i++)
            if (!r->secrets[i][0]) {
                snprintf(err, err_cap, "%s: must not be empty", values[2].present ? "secret" : "secrets");
                goto fail;
            }
    } else {
        if (!values[2].string || !values[2].string[0]) {
            snprintf(err, err_cap, "keyword: must not be empty");
            goto fail;
        }
        if (!(r->keyword = copy_string(values[2].string))) {
            snprintf(err, err_cap, "out of memory");
            goto fail;
        }
    }
    return r;
fail:
    robot_destroy(r);
    return NULL;
}

static void *signed_configure(const herald_host *host, const char *receiver,
                              const herald_option_value *values, char *err, size_t err_cap)
{
    return robot_configure(host, receiver, values, 1, err, err_cap);
}

static void *keyword_configure(const herald_host *host, const char *receiver,
                               const herald_option_value *values, char *err, size_t err_cap)
{
    return robot_configure(host, receiver, values, 0, err, err_cap);
}

static size_t robot_targets(void *instance) { return ((const robot *)instance)->len; }

/* The URL (with its token) names the robot, so receivers that share a
 * robot share its limit. */
static void robot_target_key(void *instance, size_t index, char *out, size_t cap)
{
    const robot *r = instance;
    snprintf(out, cap, "dingtalk %s", r->urls[index < r->len ? index : 0]);
}

static size_t robot_text_budget(void *instance)
{
    (void)instance;
    return TEXT_BUDGET_BYTES;
}

/* ---- content ----------------------------------------------------------- */

/* Appends a whole C string. */
static void put(const herald_host *host, herald_buf *buf, const char *text)
{
    host->buf_append(buf, text, strlen(text));
}

static int is_id_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_' || c == '-';
}

/* Whether "@id" occurs in text as a whole mention: "@138000000001" does
 * not mention 13800000000. */
static int has_mention(const char *text, size_t len, const char *id)
{
    size_t id_len = strlen(id);
    for (const char *at = memchr(text, '@', len); at;
         at = memchr(at + 1, '@', len - (size_t)(at + 1 - text))) {
        size_t rest = len - (size_t)(at + 1 - text);
        if (rest >= id_len && memcmp(at + 1, id, id_len) == 0 &&
            (rest == id_len || !is_id_char(at[1 + id_len])))
            return 1;
    }
    return 0;
}

static void add_mentions(const herald_host *host, herald_buf *line, const char *text,
                         size_t text_len, const char *const *ids, size_t ids_len)
{
    for (size_t i = 0; i < ids_len; i++) {
        if (!*ids[i] || has_mention(text, text_len, ids[i]) ||
            has_mention(host->buf_data(line), host->buf_len(line), ids[i]))
            continue;
        host->buf_printf(line, "%s@%s", host->buf_len(line) ? " " : "", ids[i]);
    }
}

/* "@13800000000 @lisi" for every mobile or user id the content does not
 * mention yet: DingTalk only notifies a person whose @ is in the content. */
static herald_buf *mention_line(const herald_host *host, const herald_message *msg,
                                const char *content, size_t content_len)
{
    herald_buf *line = host->buf_new();
    add_mentions(host, line, content, content_len, msg->mentions.mobiles,
                 msg->mentions.mobiles_len);
    add_mentions(host, line, content, content_len, msg->mentions.user_ids,
                 msg->mentions.user_ids_len);
    return line;
}

static void append_json_list(const herald_host *host, herald_buf *body,
                             const char *const *items, size_t len)
{
    host->buf_append(body, "[", 1);
    for (size_t i = 0; i < len; i++) {
        if (i)
            host->buf_append(body, ",", 1);
        host->buf_json_string(body, items[i], strlen(items[i]));
    }
    host->buf_append(body, "]", 1);
}

typedef struct content {
    const char *keyword; /* keyword robot: must appear in the content */
    const char *text;
    size_t text_len;     /* how much of text is kept */
    int truncated;
} content;

static int contains(const char *haystack, size_t len, const char *needle)
{
    size_t needle_len = strlen(needle);
    for (size_t i = 0; i + needle_len <= len; i++)
        if (memcmp(haystack + i, needle, needle_len) == 0)
            return 1;
    return 0;
}

static int keyword_shown(const herald_message *msg, const content *c)
{
    return contains(c->text, c->text_len, c->keyword) ||
           (msg->format == HERALD_FORMAT_MARKDOWN && msg->title &&
            strstr(msg->title, c->keyword));
}

/* Appends keyword prefix, kept text, marker and mention line as one JSON
 * string. Keyword and mentions are looked for in the kept text only: one
 * that was cut off has to come back. The keyword goes first because a cut
 * takes the tail. The text alone, as most messages are, is escaped where
 * it lies rather than copied first. */
static void append_content(const herald_host *host, const herald_message *msg,
                           herald_buf *body, const content *c)
{
    herald_buf *joined = NULL;
    const char *kept = c->text;
    size_t kept_len = c->text_len;
    int prefix = c->keyword && !keyword_shown(msg, c);
    if (prefix || c->truncated) {
        joined = host->buf_new();
        if (prefix)
            host->buf_printf(joined, "%s\n\n", c->keyword);
        host->buf_append(joined, c->text, c->text_len);
        if (c->truncated)
            put(host, joined, TRUNCATION_MARKER);
        kept = host->buf_data(joined);
        kept_len = host->buf_len(joined);
    }
    herald_buf *mentions = mention_line(host, msg, kept, kept_len);
    if (host->buf_len(mentions)) {
        if (!joined) {
            joined = host->buf_new();
            host->buf_append(joined, kept, kept_len);
        }
        if (host->buf_len(joined))
            host->buf_append(joined, "\n\n", 2);
        host->buf_append(joined, host->buf_data(mentions), host->buf_len(mentions));
        kept = host->buf_data(joined);
        kept_len = host->buf_len(joined);
    }
    host->buf_json_string(body, kept, kept_len);
    host->buf_free(mentions);
    if (joined)
        host->buf_free(joined);
}

static herald_buf *serialize(const herald_host *host, const herald_message *msg,
                             const content *c)
{
    herald_buf *body = host->buf_new();
    if (msg->format == HERALD_FORMAT_MARKDOWN) {
        const char *title = msg->title && *msg->title ? msg->title : "herald";
        put(host, body, "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":");
        host->buf_json_string(body, title, strlen(title));
        put(host, body, ",\"text\":");
    } else {
        put(host, body, "{\"msgtype\":\"text\",\"text\":{\"content\":");
    }
    append_content(host, msg, body, c);
    put(host, body, "},\"at\":{\"atMobiles\":");
    append_json_list(host, body, msg->mentions.mobiles, msg->mentions.mobiles_len);
    put(host, body, ",\"atUserIds\":");
    append_json_list(host, body, msg->mentions.user_ids, msg->mentions.user_ids_len);
    put(host, body, msg->mentions.all ? ",\"isAtAll\":true}}" : ",\"isAtAll\":false}}");
    return body;
}

static int fits(const herald_host *host, const herald_message *msg, const content *c)
{
    herald_buf *body = serialize(host, msg, c);
    int ok = host->buf_len(body) < MAX_BODY_BYTES;
    host->buf_free(body);
    return ok;
}

/* Builds a text or markdown body strictly under MAX_BODY_BYTES, cutting the
 * text (never the keyword prefix, the marker or the mentions) as little as
 * needed. The size is measured on real serializations rather than predicted,
 * since escaping, the keyword prefix and the mention line all depend on
 * where the cut falls. */
static herald_buf *build_body(const robot *r, const herald_message *msg, char *err,
                              size_t err_cap)
{
    const herald_host *host = r->host;
    size_t text_len = strlen(msg->text);
    content c = {r->keyword, msg->text, text_len, 0};

    herald_buf *body = serialize(host, msg, &c);
    if (host->buf_len(body) >= MAX_BODY_BYTES) {
        host->buf_free(body);
        body = NULL;
        c.truncated = 1;
        c.text_len = 0;
        if (!fits(host, msg, &c)) {
            snprintf(err, err_cap,
                     "message does not fit in %d bytes even with its text cut to nothing",
                     MAX_BODY_BYTES);
        } else {
            /* Binary search for the longest cut that fits: `fitting` always
             * fits, `too_long` never does (the whole text did not). */
            size_t fitting = 0, too_long = text_len;
            while (too_long - fitting > 1) {
                size_t mid = fitting + (too_long - fitting) / 2;
                c.text_len = host->text_prefix(msg->text, text_len, mid);
                if (fits(host, msg, &c))
                    fitting = mid;
                else
                    too_long = mid;
            }
            c.text_len = host->text_prefix(msg->text, text_len, fitting);
            body = serialize(host, msg, &c);
        }
    }
    return body;
}

/* A NATIVE body is sent as the template built it; it can only be checked. */
static int check_native(const robot *r, const herald_message *msg, char *err, size_t err_cap)
{
    size_t len = strlen(msg->text);
    if (r->host->json_lookup(msg->text, len, "", NULL, 0) != HERALD_JSON_OBJECT) {
        snprintf(err, err_cap, "native body is not a JSON object");
        return -1;
    }
    if (len >= MAX_BODY_BYTES) {
        snprintf(err, err_cap, "native body is %zu bytes; DingTalk accepts under %d", len,
                 MAX_BODY_BYTES);
        return -1;
    }
    if (r->keyword && !strstr(msg->text, r->keyword)) {
        snprintf(err, err_cap,
                 "native body lacks the keyword \"%s\"; DingTalk would refuse it (310000)",
                 r->keyword);
        return -1;
    }
    return 0;
}

/* ---- request ----------------------------------------------------------- */

/* The robot a message goes to: the core's pick among the receiver's robots
 * (a core older than that field always sends through the first). */
static size_t robot_index(const robot *r, const herald_message *msg)
{
    int has_target = HERALD_HAS_FIELD(herald_message, msg, target);
    return has_target && msg->target < r->len ? msg->target : 0;
}

static void set_urls(const robot *r, size_t index, herald_request *req)
{
    const herald_host *host = r->host;
    const char *robot_url = r->urls[index];
    const char *secret = r->secrets ? r->secrets[index] : NULL;
    herald_buf *url = host->buf_new();
    herald_buf *log_url = host->buf_new();
    put(host, url, robot_url);
    /* Logs keep the endpoint and the timestamp, never the token or sign. */
    host->buf_append(log_url, robot_url, strcspn(robot_url, "?"));
    put(host, log_url, "?access_token=…");
    if (secret) {
        long long ts = (long long)host->now_ms();
        char to_sign[32];
        int to_sign_len = snprintf(to_sign, sizeof to_sign, "%lld\n", ts);
        herald_buf *data = host->buf_new();
        host->buf_append(data, to_sign, (size_t)to_sign_len);
        put(host, data, secret);
        unsigned char mac[32];
        host->hmac_sha256(secret, strlen(secret), host->buf_data(data),
                          host->buf_len(data), mac);
        host->buf_free(data);
        char base64[64];
        host->base64_encode(mac, sizeof mac, base64, sizeof base64);
        char sign[3 * sizeof base64];
        host->url_encode(base64, sign, sizeof sign);
        host->buf_printf(url, "%stimestamp=%lld&sign=%s", strchr(robot_url, '?') ? "&" : "?", ts,
                         sign);
        host->buf_printf(log_url, "&timestamp=%lld&sign=…", ts);
    }
    /* After the whole URL, so the note never reads as part of its query. */
    if (r->len > 1)
        host->buf_printf(log_url, " (robot %zu of %zu)", index + 1, r->len);
    host->request_set_url(req, host->buf_data(url));
    host->request_set_log_url(req, host->buf_data(log_url));
    host->buf_free(url);
    host->buf_free(log_url);
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
        snprintf(err, err_cap, "dingtalk takes text, markdown or native messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    set_urls(r, robot_index(r, msg), req);
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
    case 130101: /* sending too fast: over 20 a minute */
        host->verdict(out, HERALD_RETRY, BLOCKED_RETRY_MS, head, errmsg, strlen(errmsg));
        return;
    case 410100: /* throttled */
        host->verdict(out, HERALD_RETRY, THROTTLED_RETRY_MS, head, errmsg, strlen(errmsg));
        return;
    default:
        /* 310000 keyword/sign/IP, 300001/300005 token, 460101/101002 too
         * long, 400013/400102/400105 group, robot or msgtype: resending the
         * same message cannot help. */
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

static const herald_option_spec signed_options[] = {
    {"url", HERALD_OPTION_STRING, 0, 1,
     "robot webhook URL, https://oapi.dingtalk.com/robot/send?access_token=…"},
    {"urls", HERALD_OPTION_STRING_LIST, 0, 1,
     "several robots of one group to spread messages over (instead of url)"},
    {"secret", HERALD_OPTION_STRING, 0, 1, "signing secret (加签), usually SEC…"},
    {"secrets", HERALD_OPTION_STRING_LIST, 0, 1, "one signing secret per entry of urls"},
};

static const herald_option_spec keyword_options[] = {
    {"url", HERALD_OPTION_STRING, 0, 1,
     "robot webhook URL, https://oapi.dingtalk.com/robot/send?access_token=…"},
    {"urls", HERALD_OPTION_STRING_LIST, 0, 1,
     "several robots of one group to spread messages over (instead of url)"},
    {"keyword", HERALD_OPTION_STRING, 1, 0, "one of the robot's security keywords"},
};

#define ROBOT_FORMATS (HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE)

static const herald_channel signed_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "dingtalk",
    .description = "DingTalk custom robot with signing (加签)",
    .max_body_bytes = MAX_BODY_BYTES,
    .rate_per_minute = 20,
    .formats = ROBOT_FORMATS,
    .default_template = "dingtalk",
    .options = signed_options,
    .options_len = sizeof signed_options / sizeof signed_options[0],
    .configure = signed_configure,
    .prepare = robot_prepare,
    .classify = robot_classify,
    .destroy = robot_destroy,
    .targets = robot_targets,
    .target_key = robot_target_key,
    .text_budget = robot_text_budget,
};

static const herald_channel keyword_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "dingtalk_keyword",
    .description = "DingTalk custom robot secured by a keyword",
    .max_body_bytes = MAX_BODY_BYTES,
    .rate_per_minute = 20,
    .formats = ROBOT_FORMATS,
    .default_template = "dingtalk",
    .options = keyword_options,
    .options_len = sizeof keyword_options / sizeof keyword_options[0],
    .configure = keyword_configure,
    .prepare = robot_prepare,
    .classify = robot_classify,
    .destroy = robot_destroy,
    .targets = robot_targets,
    .target_key = robot_target_key,
    .text_budget = robot_text_budget,
};

static const herald_channel *const channels[] = {&signed_channel, &keyword_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "dingtalk",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};


HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
