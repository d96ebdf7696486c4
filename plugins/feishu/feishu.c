/* Feishu / Lark custom bot (飞书自定义机器人): an interactive card or a text
 * message, optionally signed. Wire facts: docs CHANNELS.md, Feishu section. */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feishu refuses a request body over 20 KB; 20000 bytes stays clear of
 * either reading of "KB". */
#define MAX_BODY_BYTES 20000
#define TRUNCATION_MARKER "\n\n…（内容过长，已截断）"
/* 11232 says "frequency limited" without saying for how long; the limits
 * are 5 a second and 100 a minute, so 10 s lets the short window pass
 * without giving up on a minute that may already have room. */
#define RATE_LIMITED_RETRY_MS 10000
#define CODE_OK 0
#define CODE_RATE_LIMITED 11232
/* How much of an unexpected response body a verdict quotes. */
#define BODY_QUOTE_BYTES 160
/* The path every custom bot webhook URL carries before its token. */
#define HOOK_PATH "/open-apis/bot/v2/hook/"

typedef struct bot {
    const herald_host *host;
    char *url;
    char *secret; /* NULL: the bot does not check signatures */
    int card;     /* 1: msg_type "interactive", 0: msg_type "text" */
} bot;

static char *copy_string(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, text, len);
    return copy;
}

static void bot_destroy(void *instance)
{
    bot *b = instance;
    if (!b)
        return;
    free(b->url);
    free(b->secret);
    free(b);
}

/* ---- configuration ----------------------------------------------------- */

enum { OPTION_URL, OPTION_SECRET, OPTION_MSGTYPE };

static int is_token_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-' || c == '_';
}

/* http(s)://host[:port]/open-apis/bot/v2/hook/TOKEN, nothing after the
 * token: open.feishu.cn, open.larksuite.com, or a test server. */
static int is_hook_url(const char *url)
{
    const char *rest;
    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else
        return 0;
    size_t host_len = strcspn(rest, "/?#");
    if (host_len == 0 || strncmp(rest + host_len, HOOK_PATH, strlen(HOOK_PATH)) != 0)
        return 0;
    const char *token = rest + host_len + strlen(HOOK_PATH);
    if (!*token)
        return 0;
    for (const char *c = token; *c; c++)
        if (!is_token_char(*c))
            return 0;
    return 1;
}

static void *bot_configure(const herald_host *host, const char *receiver,
                           const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, classify_http)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no classify_http (plugin ABI 1.6)");
        return NULL;
    }
    const herald_option_value *url = &values[OPTION_URL];
    const herald_option_value *secret = &values[OPTION_SECRET];
    const herald_option_value *msgtype = &values[OPTION_MSGTYPE];
    if (!url->present || !url->string || !is_hook_url(url->string)) {
        snprintf(err, err_cap,
                 "url: must be an http(s) URL ending in " HOOK_PATH "<token>, "
                 "e.g. https://open.feishu.cn" HOOK_PATH "…");
        return NULL;
    }
    if (secret->present && (!secret->string || !*secret->string)) {
        snprintf(err, err_cap, "secret: must not be empty (leave it out when the bot does "
                               "not sign)");
        return NULL;
    }
    int card = 1;
    if (msgtype->present && msgtype->string) {
        if (strcmp(msgtype->string, "text") == 0) {
            card = 0;
        } else if (strcmp(msgtype->string, "interactive") != 0) {
            snprintf(err, err_cap, "msgtype: must be \"interactive\" or \"text\"");
            return NULL;
        }
    }
    bot *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    b->host = host;
    b->card = card;
    b->url = copy_string(url->string);
    if (secret->present)
        b->secret = copy_string(secret->string);
    if (!b->url || (secret->present && !b->secret)) {
        bot_destroy(b);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return b;
}

/* ---- signing ------------------------------------------------------------ */

typedef struct signature {
    long long timestamp; /* seconds */
    char sign[64];       /* base64 of 32 bytes: 44 characters */
} signature;

/* Feishu's scheme: HMAC-SHA256 keyed with "timestamp\nsecret" over an
 * empty message (the key carries everything), base64. */
static void sign_now(const bot *b, signature *out)
{
    const herald_host *host = b->host;
    out->timestamp = (long long)(host->now_ms() / 1000);
    herald_buf *key = host->buf_new();
    host->buf_printf(key, "%lld\n%s", out->timestamp, b->secret);
    unsigned char mac[32];
    host->hmac_sha256(host->buf_data(key), host->buf_len(key), "", 0, mac);
    host->buf_free(key);
    host->base64_encode(mac, sizeof mac, out->sign, sizeof out->sign);
}

/* `"timestamp":"…","sign":"…"` with no braces, for the start of a body. */
static void append_signature(const herald_host *host, herald_buf *body, const signature *sig)
{
    host->buf_printf(body, "\"timestamp\":\"%lld\",\"sign\":\"%s\"", sig->timestamp, sig->sign);
}

/* ---- mentions ----------------------------------------------------------- */

/* Open ids (ou_…), user ids and union ids are all letters, digits, '_' and
 * '-'; anything else would break out of the <at> tag's attribute. */
static int is_user_id(const char *id)
{
    if (!*id)
        return 0;
    for (const char *c = id; *c; c++)
        if (!is_token_char(*c))
            return 0;
    return 1;
}

static int contains(const char *haystack, size_t len, const char *needle)
{
    size_t needle_len = strlen(needle);
    for (size_t i = 0; i + needle_len <= len; i++)
        if (memcmp(haystack + i, needle, needle_len) == 0)
            return 1;
    return 0;
}

/* A card's markdown writes <at id=X></at>, a text message
 * <at user_id="X"></at>. */
static void format_at(const bot *b, const char *id, char *out, size_t cap)
{
    if (b->card)
        snprintf(out, cap, "<at id=%s></at>", id);
    else
        snprintf(out, cap, "<at user_id=\"%s\"></at>", id);
}

/* Appends the <at> tag of each user id (and of "all") that `content` does
 * not carry yet, space separated: Feishu notifies only the people whose tag
 * is in the content. */
static void append_mention_line(const bot *b, const herald_message *msg, const char *content,
                                size_t content_len, herald_buf *line)
{
    const herald_host *host = b->host;
    char tag[128];
    for (size_t i = 0; i <= msg->mentions.user_ids_len; i++) {
        const char *id;
        if (i < msg->mentions.user_ids_len)
            id = msg->mentions.user_ids[i];
        else if (msg->mentions.all)
            id = "all";
        else
            break;
        if (!is_user_id(id) || strlen(id) > 64)
            continue;
        format_at(b, id, tag, sizeof tag);
        if (contains(content, content_len, tag) ||
            contains(host->buf_data(line), host->buf_len(line), tag))
            continue;
        host->buf_printf(line, "%s%s", host->buf_len(line) ? " " : "", tag);
    }
}

/* Mobiles cannot be mentioned by a custom bot and malformed user ids cannot
 * be written into a tag: say so rather than drop them silently. */
static void warn_unmentionable(const bot *b, const herald_message *msg)
{
    size_t bad_ids = 0;
    for (size_t i = 0; i < msg->mentions.user_ids_len; i++)
        if (!is_user_id(msg->mentions.user_ids[i]) || strlen(msg->mentions.user_ids[i]) > 64)
            bad_ids++;
    if (msg->mentions.mobiles_len)
        b->host->log(HERALD_LOG_WARN, msg->receiver,
                     "feishu: %zu mobile mention(s) left out: a Feishu custom bot can only "
                     "mention user ids (ou_…) or all",
                     msg->mentions.mobiles_len);
    if (bad_ids)
        b->host->log(HERALD_LOG_WARN, msg->receiver,
                     "feishu: %zu user id(s) left out: not letters, digits, '_' or '-'",
                     bad_ids);
}

/* ---- bodies ------------------------------------------------------------- */

typedef struct content {
    const char *text;
    size_t text_len; /* how much of text is kept */
    int truncated;
} content;

/* Title line (text messages only), kept text, marker and mention line as
 * one JSON string. Mentions are looked for in the kept text only: one that
 * was cut off has to come back. */
static void append_content(const bot *b, const herald_message *msg, herald_buf *body,
                           const content *c)
{
    const herald_host *host = b->host;
    herald_buf *joined = host->buf_new();
    /* A text message has no header, so its title would be lost. */
    if (!b->card && msg->title && *msg->title)
        host->buf_printf(joined, "%s\n", msg->title);
    host->buf_append(joined, c->text, c->text_len);
    if (c->truncated)
        host->buf_append(joined, TRUNCATION_MARKER, strlen(TRUNCATION_MARKER));
    herald_buf *mentions = host->buf_new();
    append_mention_line(b, msg, host->buf_data(joined), host->buf_len(joined), mentions);
    if (host->buf_len(mentions)) {
        if (host->buf_len(joined))
            host->buf_append(joined, "\n\n", 2);
        host->buf_append(joined, host->buf_data(mentions), host->buf_len(mentions));
    }
    host->buf_json_string(body, host->buf_data(joined), host->buf_len(joined));
    host->buf_free(mentions);
    host->buf_free(joined);
}

static herald_buf *serialize(const bot *b, const herald_message *msg, const signature *sig,
                             const content *c)
{
    const herald_host *host = b->host;
    herald_buf *body = host->buf_new();
    host->buf_append(body, "{", 1);
    if (sig) {
        append_signature(host, body, sig);
        host->buf_append(body, ",", 1);
    }
    if (b->card) {
        const char *title = msg->title && *msg->title ? msg->title : "herald";
        const char *colour = msg->status && strcmp(msg->status, "resolved") == 0 ? "green" : "red";
        host->buf_printf(body, "\"msg_type\":\"interactive\",\"card\":{\"header\":{\"title\":"
                               "{\"tag\":\"plain_text\",\"content\":");
        host->buf_json_string(body, title, strlen(title));
        host->buf_printf(body, "},\"template\":\"%s\"},\"elements\":[{\"tag\":\"markdown\","
                               "\"content\":",
                         colour);
        append_content(b, msg, body, c);
        host->buf_printf(body, "}]}}");
    } else {
        host->buf_printf(body, "\"msg_type\":\"text\",\"content\":{\"text\":");
        append_content(b, msg, body, c);
        host->buf_printf(body, "}}");
    }
    return body;
}

static int fits(const bot *b, const herald_message *msg, const signature *sig, const content *c)
{
    herald_buf *body = serialize(b, msg, sig, c);
    int ok = b->host->buf_len(body) <= MAX_BODY_BYTES;
    b->host->buf_free(body);
    return ok;
}

/* Builds the body within MAX_BODY_BYTES, cutting the text (never the
 * title, the marker or the mentions) as little as needed. Sizes are
 * measured on real serializations, since escaping and the mention line
 * depend on where the cut falls. */
static herald_buf *build_body(const bot *b, const herald_message *msg, const signature *sig,
                              char *err, size_t err_cap)
{
    const herald_host *host = b->host;
    size_t text_len = strlen(msg->text);
    content c = {msg->text, text_len, 0};

    herald_buf *body = serialize(b, msg, sig, &c);
    if (host->buf_len(body) <= MAX_BODY_BYTES)
        return body;
    host->buf_free(body);
    c.truncated = 1;
    c.text_len = 0;
    if (!fits(b, msg, sig, &c)) {
        snprintf(err, err_cap, "message does not fit in %d bytes even with its text cut to nothing",
                 MAX_BODY_BYTES);
        return NULL;
    }
    /* Binary search for the longest cut that fits: `fitting` always fits,
     * `too_long` never does (the whole text did not). */
    size_t fitting = 0, too_long = text_len;
    while (too_long - fitting > 1) {
        size_t mid = fitting + (too_long - fitting) / 2;
        c.text_len = host->text_prefix(msg->text, text_len, mid);
        if (fits(b, msg, sig, &c))
            fitting = mid;
        else
            too_long = mid;
    }
    c.text_len = host->text_prefix(msg->text, text_len, fitting);
    return serialize(b, msg, sig, &c);
}

/* A NATIVE body is the template's own JSON object. It is sent as built,
 * with the signature fields put in front when the bot signs. */
static herald_buf *native_body(const bot *b, const herald_message *msg, const signature *sig,
                               char *err, size_t err_cap)
{
    const herald_host *host = b->host;
    size_t len = strlen(msg->text);
    if (host->json_lookup(msg->text, len, "", NULL, 0) != HERALD_JSON_OBJECT) {
        snprintf(err, err_cap, "native body is not a JSON object");
        return NULL;
    }
    if (host->json_lookup(msg->text, len, "msg_type", NULL, 0) != HERALD_JSON_STRING) {
        snprintf(err, err_cap, "native body lacks a msg_type string; Feishu would refuse it "
                               "(19002)");
        return NULL;
    }
    herald_buf *body = host->buf_new();
    if (sig) {
        if (host->json_lookup(msg->text, len, "timestamp", NULL, 0) != HERALD_JSON_ABSENT ||
            host->json_lookup(msg->text, len, "sign", NULL, 0) != HERALD_JSON_ABSENT) {
            snprintf(err, err_cap, "native body carries timestamp or sign; leave them out, "
                                   "the channel signs");
            host->buf_free(body);
            return NULL;
        }
        const char *open = strchr(msg->text, '{'); /* an object: there is one */
        host->buf_append(body, msg->text, (size_t)(open + 1 - msg->text));
        append_signature(host, body, sig);
        /* msg_type is there, so the object has members and takes a comma. */
        host->buf_append(body, ",", 1);
        host->buf_append(body, open + 1, strlen(open + 1));
    } else {
        host->buf_append(body, msg->text, len);
    }
    if (host->buf_len(body) > MAX_BODY_BYTES) {
        snprintf(err, err_cap, "native body is %zu bytes; Feishu accepts at most %d",
                 host->buf_len(body), MAX_BODY_BYTES);
        host->buf_free(body);
        return NULL;
    }
    return body;
}

/* ---- request ------------------------------------------------------------ */

static void set_urls(const bot *b, herald_request *req)
{
    const herald_host *host = b->host;
    host->request_set_url(req, b->url);
    /* Logs keep everything up to the hook path, never the token. */
    const char *token = strstr(b->url, HOOK_PATH) + strlen(HOOK_PATH);
    herald_buf *log_url = host->buf_new();
    host->buf_append(log_url, b->url, (size_t)(token - b->url));
    host->buf_printf(log_url, "…");
    host->request_set_log_url(req, host->buf_data(log_url));
    host->buf_free(log_url);
}

static int bot_prepare(void *instance, const herald_message *msg, herald_request *req,
                       char *err, size_t err_cap)
{
    const bot *b = instance;
    const herald_host *host = b->host;
    if (!msg->text) {
        snprintf(err, err_cap, "message has no text");
        return -1;
    }
    signature sig;
    if (b->secret)
        sign_now(b, &sig);
    const signature *signed_with = b->secret ? &sig : NULL;
    herald_buf *body;
    if (msg->format == HERALD_FORMAT_NATIVE) {
        body = native_body(b, msg, signed_with, err, err_cap);
    } else if (msg->format == HERALD_FORMAT_TEXT || msg->format == HERALD_FORMAT_MARKDOWN) {
        warn_unmentionable(b, msg);
        body = build_body(b, msg, signed_with, err, err_cap);
    } else {
        snprintf(err, err_cap, "feishu takes text, markdown or native messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    if (!body)
        return -1;
    host->request_set_body(req, host->buf_data(body), host->buf_len(body));
    host->buf_free(body);
    set_urls(b, req);
    host->request_add_header(req, "Content-Type", "application/json; charset=utf-8");
    return 0;
}

/* ---- verdicts ----------------------------------------------------------- */

static void classify_code(const bot *b, const herald_response *resp, long code,
                          const char *message, herald_verdict *out)
{
    const herald_host *host = b->host;
    char head[64];
    snprintf(head, sizeof head, "code %ld: ", code);
    if (code == CODE_OK) {
        host->verdict(out, HERALD_OK, 0, "ok", "", 0);
    } else if (code == CODE_RATE_LIMITED) {
        long wait_ms = host->retry_after_ms(resp);
        host->verdict(out, HERALD_RETRY, wait_ms ? wait_ms : RATE_LIMITED_RETRY_MS, head,
                      message, strlen(message));
    } else {
        /* 19021 sign or timestamp, 19022 IP, 19024 keywords, 19001 token,
         * 19002 parameters, 9499 bad request, 19036 too large: resending the
         * same message cannot help. */
        host->verdict(out, HERALD_FAIL, 0, head, message, strlen(message));
    }
}

/* Finds the service's code: {"code":N,"msg":…}, or the older
 * {"StatusCode":N,"StatusMessage":…}. Returns 0 when there is none. */
static int read_code(const bot *b, const herald_response *resp, long *code, char *message,
                     size_t message_cap)
{
    static const char *const shapes[][2] = {{"code", "msg"}, {"StatusCode", "StatusMessage"}};
    const char *body = resp->body ? resp->body : "";
    char number[32];
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (b->host->json_lookup(body, resp->body_len, shapes[i][0], number, sizeof number) !=
            HERALD_JSON_NUMBER)
            continue;
        *code = strtol(number, NULL, 10);
        if (b->host->json_lookup(body, resp->body_len, shapes[i][1], message, message_cap) !=
            HERALD_JSON_STRING)
            message[0] = '\0';
        return 1;
    }
    return 0;
}

static void bot_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const bot *b = instance;
    const herald_host *host = b->host;
    const char *body = resp->body ? resp->body : "";
    size_t quote_len = host->utf8_prefix(body, resp->body_len, BODY_QUOTE_BYTES);
    int decided = host->classify_http(resp, BODY_QUOTE_BYTES, out);
    if (decided && out->kind == HERALD_RETRY) /* whatever code the body carries */
        return;
    long code;
    char message[sizeof out->reason];
    int has_code = read_code(b, resp, &code, message, sizeof message);
    /* Feishu answers some refusals (9499, 19021) with HTTP 400 and a code:
     * the code says more than the status. A 4xx claiming success is not
     * one. */
    if (has_code && (resp->status == 200 || code != CODE_OK)) {
        classify_code(b, resp, code, message, out);
    } else if (!decided && resp->status != 200) {
        /* The bot API answers with 200; another 2xx came from elsewhere. */
        char head[32];
        snprintf(head, sizeof head, "HTTP %ld: ", resp->status);
        host->verdict(out, HERALD_FAIL, 0, head, body, quote_len);
    } else if (!decided) {
        host->verdict(out, HERALD_FAIL, 0, "unexpected response: ", body, quote_len);
    }
}

/* ---- descriptors -------------------------------------------------------- */

static const herald_option_spec options[] = {
    [OPTION_URL] = {"url", HERALD_OPTION_STRING, 1, 1,
                    "bot webhook URL, https://open.feishu.cn/open-apis/bot/v2/hook/… "
                    "(Lark: open.larksuite.com)"},
    [OPTION_SECRET] = {"secret", HERALD_OPTION_STRING, 0, 1,
                       "signing secret (签名校验); leave out when the bot does not sign"},
    [OPTION_MSGTYPE] = {"msgtype", HERALD_OPTION_STRING, 0, 0,
                        "\"interactive\" (a card, the default) or \"text\""},
};

/* The URL (with its token) names the bot, so receivers that share a bot
 * share its limit. */
static void bot_target_key(void *instance, size_t index, char *out, size_t cap)
{
    (void)index;
    const bot *b = instance;
    snprintf(out, cap, "feishu %s", b->url);
}

static const herald_channel channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "feishu",
    .description = "Feishu / Lark custom bot (飞书自定义机器人), card or text",
    .max_body_bytes = MAX_BODY_BYTES,
    .rate_per_minute = 100,
    .rate_per_second = 5,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE,
    .default_template = "feishu",
    .options = options,
    .options_len = sizeof options / sizeof options[0],
    .configure = bot_configure,
    .prepare = bot_prepare,
    .classify = bot_classify,
    .destroy = bot_destroy,
    .target_key = bot_target_key,
};

static const herald_channel *const channels[] = {&channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "feishu",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
