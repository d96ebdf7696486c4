/* Telegram bots: sendMessage with the message converted to Telegram's HTML
 * subset. Wire facts: /work/shared/CHANNELS.md, "Telegram bot". */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markdown_html.h"
#include "markdown_inline.h"

/* Telegram refuses a text over 4096 characters after entity parsing
 * ("Bad Request: message is too long"). */
#define MAX_TEXT_CHARS 4096
#define TRUNCATION_MARKER "\n\n…（内容过长，已截断）"
#define DEFAULT_API_URL "https://api.telegram.org"
/* How much of an unexpected response body a verdict quotes. */
#define BODY_QUOTE_BYTES 160

typedef struct bot {
    const herald_host *host;
    char *url;      /* …/bot<token>/sendMessage */
    char *log_url;  /* the same without the token */
    char *chat_id;  /* as JSON: a number, or a quoted @channelname */
} bot;

static void bot_destroy(void *instance)
{
    bot *b = instance;
    if (!b)
        return;
    free(b->url);
    free(b->log_url);
    free(b->chat_id);
    free(b);
}

static const char *option_string(const herald_option_value *value)
{
    return value->present && value->string ? value->string : "";
}

static int all_of(const char *text, size_t len, const char *allowed_punct)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr(allowed_punct, c))))
            return 0;
    }
    return 1;
}

static int is_digits(const char *text, size_t len)
{
    if (!len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return 0;
    return 1;
}

/* 123456789:AAH… — the bot id, a colon and the secret part. */
static int is_token(const char *token)
{
    const char *colon = strchr(token, ':');
    return colon && is_digits(token, (size_t)(colon - token)) && colon[1] &&
           all_of(colon + 1, strlen(colon + 1), "_-");
}

/* -1001234567890 (groups are negative), or @channelname for public
 * channels: 5 to 32 letters, digits and underscores. */
static int is_chat_id(const char *chat_id)
{
    size_t len = strlen(chat_id);
    if (chat_id[0] == '@')
        return len >= 6 && len <= 33 && all_of(chat_id + 1, len - 1, "_");
    const char *digits = chat_id[0] == '-' ? chat_id + 1 : chat_id;
    return strlen(digits) <= 19 && is_digits(digits, strlen(digits));
}

static int is_api_url(const char *url)
{
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    return scheme && url[scheme] && url[scheme] != '/' && !strpbrk(url, " \t\r\n?#");
}

static char *joined(const char *a, const char *b, const char *c)
{
    size_t size = strlen(a) + strlen(b) + strlen(c) + 1;
    char *out = malloc(size);
    if (out)
        snprintf(out, size, "%s%s%s", a, b, c);
    return out;
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
    const char *token = option_string(&values[0]);
    const char *chat_id = option_string(&values[1]);
    const char *api_url = values[2].present ? option_string(&values[2]) : DEFAULT_API_URL;
    if (!is_token(token)) {
        snprintf(err, err_cap, "token: must be a bot token from @BotFather, 123456789:AA…");
        return NULL;
    }
    if (!is_chat_id(chat_id)) {
        snprintf(err, err_cap,
                 "chat_id: must be a numeric chat id (-1001234567890) or a public @channelname");
        return NULL;
    }
    if (!is_api_url(api_url)) {
        snprintf(err, err_cap, "api_url: must be an http(s) URL such as " DEFAULT_API_URL);
        return NULL;
    }
    bot *b = calloc(1, sizeof *b);
    char *base = malloc(strlen(api_url) + 1);
    if (!b || !base) {
        free(b);
        free(base);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    memcpy(base, api_url, strlen(api_url) + 1);
    for (size_t len = strlen(base); len && base[len - 1] == '/'; len--)
        base[len - 1] = '\0';
    char *bot_path = joined("/bot", token, "/sendMessage");
    b->host = host;
    b->url = bot_path ? joined(base, bot_path, "") : NULL;
    b->log_url = joined(base, "/bot…/sendMessage", "");
    b->chat_id = chat_id[0] == '@' ? joined("\"", chat_id, "\"") : joined(chat_id, "", "");
    free(bot_path);
    free(base);
    if (!b->url || !b->log_url || !b->chat_id) {
        bot_destroy(b);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return b;
}

/* ---- text -------------------------------------------------------------- */

static size_t utf8_char_len(unsigned char lead)
{
    if (lead >= 0xF0)
        return 4;
    if (lead >= 0xE0)
        return 3;
    if (lead >= 0xC0)
        return 2;
    return 1;
}

/* The length Telegram checks: the text after entity parsing, i.e. without
 * tags and with each entity one character, in UTF-16 code units (an emoji
 * outside the BMP counts twice), the unit of all Telegram text offsets. */
static size_t visible_units(const char *html, size_t len)
{
    size_t units = 0;
    for (size_t i = 0; i < len;) {
        if (html[i] == '<' || html[i] == '&') {
            const char *end = memchr(html + i, html[i] == '<' ? '>' : ';', len - i);
            units += html[i] == '&';
            i = end ? (size_t)(end - html) + 1 : len;
            continue;
        }
        size_t n = utf8_char_len((unsigned char)html[i]);
        units += n == 4 ? 2 : 1;
        i += n;
    }
    return units;
}

typedef struct content {
    size_t text_len; /* how much of the message text is kept */
    int truncated;
} content;

/* "<a href="tg://user?id=42">@42</a> @oncall": numeric ids link to the
 * user, usernames are written as @name (Telegram links those itself). */
static void append_mentions(const herald_host *host, herald_buf *out, const herald_mentions *m)
{
    size_t written = 0;
    for (size_t i = 0; i < m->user_ids_len; i++) {
        const char *id = m->user_ids[i];
        size_t len = strlen(id);
        if (!len)
            continue;
        if (written++)
            host->buf_append(out, " ", 1);
        if (is_digits(id, len)) {
            host->buf_printf(out, "<a href=\"tg://user?id=%s\">@%s</a>", id, id);
        } else {
            if (id[0] != '@')
                host->buf_append(out, "@", 1);
            md_append_entities(host, out, id, len, 1);
        }
    }
}

/* The message text as Telegram HTML: bold title, text, marker, mentions. */
static herald_buf *render_text(const herald_host *host, const herald_message *msg,
                               const content *c)
{
    herald_buf *out = host->buf_new();
    const char *title = msg->title ? msg->title : "";
    if (*title) {
        host->buf_printf(out, "<b>");
        md_append_entities(host, out, title, strlen(title), 1);
        host->buf_printf(out, "</b>");
    }
    if (c->text_len || c->truncated) {
        if (host->buf_len(out))
            host->buf_append(out, "\n\n", 2);
        if (msg->format == HERALD_FORMAT_MARKDOWN)
            convert_markdown(host, out, msg->text, c->text_len);
        else
            md_append_entities(host, out, msg->text, c->text_len, 1);
        if (c->truncated)
            host->buf_printf(out, TRUNCATION_MARKER);
    }
    herald_buf *mentions = host->buf_new();
    append_mentions(host, mentions, &msg->mentions);
    if (host->buf_len(mentions)) {
        if (host->buf_len(out))
            host->buf_append(out, "\n\n", 2);
        host->buf_append(out, host->buf_data(mentions), host->buf_len(mentions));
    }
    host->buf_free(mentions);
    return out;
}

/* Trailing blank lines and spaces (templates often end with one, cuts
 * often fall after one) would only push the marker or the mentions down. */
static size_t trimmed_len(const char *text, size_t len)
{
    while (len && strchr(" \t\r\n", text[len - 1]))
        len--;
    return len;
}

static int fits(const herald_host *host, const herald_message *msg, const content *c)
{
    herald_buf *text = render_text(host, msg, c);
    int ok = visible_units(host->buf_data(text), host->buf_len(text)) <= MAX_TEXT_CHARS;
    host->buf_free(text);
    return ok;
}

/* The HTML text within Telegram's limit, cutting the message text (never
 * the title, the marker or the mentions) as little as needed. */
static herald_buf *build_text(const herald_host *host, const herald_message *msg, char *err,
                              size_t err_cap)
{
    size_t text_len = trimmed_len(msg->text, strlen(msg->text));
    content c = {text_len, 0};
    if (fits(host, msg, &c))
        return render_text(host, msg, &c);
    c.truncated = 1;
    c.text_len = 0;
    if (!fits(host, msg, &c)) {
        snprintf(err, err_cap,
                 "message does not fit in %d characters even with its text cut to nothing",
                 MAX_TEXT_CHARS);
        return NULL;
    }
    /* Binary search for the longest cut that fits: `fitting` always fits,
     * `too_long` never does (the whole text did not). */
    size_t fitting = 0, too_long = text_len;
    while (too_long - fitting > 1) {
        size_t mid = fitting + (too_long - fitting) / 2;
        c.text_len = trimmed_len(msg->text, host->text_prefix(msg->text, text_len, mid));
        if (fits(host, msg, &c))
            fitting = mid;
        else
            too_long = mid;
    }
    c.text_len = trimmed_len(msg->text, host->text_prefix(msg->text, text_len, fitting));
    return render_text(host, msg, &c);
}

/* A native body is a sendMessage object from the template; it gets the
 * receiver's chat_id unless it names one itself. */
static herald_buf *native_body(const bot *b, const herald_message *msg, char *err,
                               size_t err_cap)
{
    const herald_host *host = b->host;
    size_t len = strlen(msg->text);
    if (host->json_lookup(msg->text, len, "", NULL, 0) != HERALD_JSON_OBJECT) {
        snprintf(err, err_cap, "native body is not a JSON object");
        return NULL;
    }
    herald_buf *body = host->buf_new();
    if (host->json_lookup(msg->text, len, "chat_id", NULL, 0) != HERALD_JSON_ABSENT) {
        host->buf_append(body, msg->text, len);
        return body;
    }
    const char *brace = strchr(msg->text, '{');
    size_t after = (size_t)(brace - msg->text) + 1;
    size_t next = after;
    while (next < len && strchr(" \t\r\n", msg->text[next]))
        next++;
    host->buf_append(body, msg->text, after);
    host->buf_printf(body, "\"chat_id\":%s%s", b->chat_id, msg->text[next] == '}' ? "" : ",");
    host->buf_append(body, msg->text + after, len - after);
    return body;
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
    herald_buf *body = NULL;
    if (msg->format == HERALD_FORMAT_NATIVE) {
        body = native_body(b, msg, err, err_cap);
    } else if (msg->format == HERALD_FORMAT_TEXT || msg->format == HERALD_FORMAT_MARKDOWN) {
        herald_buf *text = build_text(host, msg, err, err_cap);
        if (text && visible_units(host->buf_data(text), host->buf_len(text)) == 0) {
            snprintf(err, err_cap, "message has neither title nor text nor mentions");
        } else if (text) {
            body = host->buf_new();
            host->buf_printf(body, "{\"chat_id\":%s,\"text\":", b->chat_id);
            host->buf_json_string(body, host->buf_data(text), host->buf_len(text));
            host->buf_printf(body, ",\"parse_mode\":\"HTML\",\"disable_web_page_preview\":true}");
        }
        host->buf_free(text);
    } else {
        snprintf(err, err_cap, "telegram takes text, markdown or native messages, not format %u",
                 (unsigned)msg->format);
    }
    if (!body)
        return -1;
    host->request_set_body(req, host->buf_data(body), host->buf_len(body));
    host->buf_free(body);
    host->request_set_url(req, b->url);
    host->request_set_log_url(req, b->log_url);
    host->request_add_header(req, "Content-Type", "application/json; charset=utf-8");
    return 0;
}

/* ---- verdicts ---------------------------------------------------------- */

/* Telegram's parameters.retry_after, in seconds, as milliseconds; 0 when
 * unreadable or over a day (then the core's backoff decides). */
static long seconds_to_ms(const char *value)
{
    char *end;
    long seconds = strtol(value, &end, 10);
    if (end == value || seconds < 0 || seconds > 86400)
        return 0;
    return seconds * 1000;
}

static void classify_error(const bot *b, const herald_response *resp, const char *body,
                           herald_verdict *out)
{
    const herald_host *host = b->host;
    char code_text[32], description[sizeof out->reason], value[64];
    long code = resp->status;
    if (host->json_lookup(body, resp->body_len, "error_code", code_text, sizeof code_text) ==
        HERALD_JSON_NUMBER)
        code = strtol(code_text, NULL, 10);
    if (host->json_lookup(body, resp->body_len, "description", description,
                          sizeof description) != HERALD_JSON_STRING)
        description[0] = '\0';
    char head[96];
    snprintf(head, sizeof head, "error_code %ld: ", code);
    if (code == 429) {
        long wait_ms = 0;
        if (host->json_lookup(body, resp->body_len, "parameters.retry_after", value,
                              sizeof value) == HERALD_JSON_NUMBER)
            wait_ms = seconds_to_ms(value);
        else
            wait_ms = host->retry_after_ms(resp);
        host->verdict(out, HERALD_RETRY, wait_ms, head, description, strlen(description));
    } else if (code >= 500 && code <= 599) {
        host->verdict(out, HERALD_RETRY, 0, head, description, strlen(description));
    } else if (host->json_lookup(body, resp->body_len, "parameters.migrate_to_chat_id", value,
                                 sizeof value) == HERALD_JSON_NUMBER) {
        /* The group became a supergroup with a new id: only the
         * configuration can follow it. */
        snprintf(head, sizeof head, "error_code %ld: set chat_id to %s; ", code, value);
        host->verdict(out, HERALD_FAIL, 0, head, description, strlen(description));
    } else {
        /* 400 chat not found / can't parse entities / message is too long,
         * 401 Unauthorized, 403 bot was blocked or kicked, 404 Not Found
         * (malformed token): the same request cannot succeed later. */
        host->verdict(out, HERALD_FAIL, 0, head, description, strlen(description));
    }
}

static void bot_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const bot *b = instance;
    const herald_host *host = b->host;
    const char *body = resp->body ? resp->body : "";
    char ok[8];
    herald_json_type type = host->json_lookup(body, resp->body_len, "ok", ok, sizeof ok);
    int says_ok = type == HERALD_JSON_BOOLEAN && strcmp(ok, "true") == 0;
    /* The Bot API says ok only with a 2xx; "ok" under another status came
     * from something else, and only the status can be trusted. */
    if (says_ok && resp->status >= 200 && resp->status <= 299) {
        host->verdict(out, HERALD_OK, 0, "ok", "", 0);
    } else if (type == HERALD_JSON_BOOLEAN && !says_ok) {
        classify_error(b, resp, body, out);
    } else if (!host->classify_http(resp, BODY_QUOTE_BYTES, out)) {
        /* Not the Bot API talking (a proxy, a gateway), so only the status
         * says anything, and a 2xx says nothing about the message. */
        host->verdict(out, HERALD_FAIL, 0, "unexpected response: ", body,
                      host->utf8_prefix(body, resp->body_len, BODY_QUOTE_BYTES));
    }
}

/* ---- descriptor -------------------------------------------------------- */

static const herald_option_spec bot_options[] = {
    {"token", HERALD_OPTION_STRING, 1, 1, "bot token from @BotFather, 123456789:AA…"},
    {"chat_id", HERALD_OPTION_STRING, 1, 0,
     "numeric chat id (groups are negative: -100…) or @channelname"},
    {"api_url", HERALD_OPTION_STRING, 0, 0,
     "Bot API server, default " DEFAULT_API_URL " (a self-hosted server or a test mock)"},
};

/* Bot and chat name the target: one group allows 20 messages a minute,
 * whichever receiver sends them. */
static void bot_target_key(void *instance, size_t index, char *out, size_t cap)
{
    (void)index;
    const bot *b = instance;
    snprintf(out, cap, "telegram %s %s", b->url, b->chat_id);
}

/* A digest must stay within the 4096 characters prepare allows: bytes
 * never undercount characters, and the rest is room for the title, the
 * mentions and the cut marker. */
static size_t bot_text_budget(void *instance)
{
    (void)instance;
    return MAX_TEXT_CHARS - 512;
}

static const herald_channel telegram_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "telegram",
    .description = "Telegram bot sendMessage (HTML)",
    /* The limit is 4096 characters of text, enforced in prepare; Telegram
     * sets none on the body bytes. */
    .max_body_bytes = 0,
    /* Telegram allows 20 messages a minute into one group. */
    .rate_per_minute = 20,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE,
    .default_template = "telegram",
    .options = bot_options,
    .options_len = sizeof bot_options / sizeof bot_options[0],
    .configure = bot_configure,
    .prepare = bot_prepare,
    .classify = bot_classify,
    .destroy = bot_destroy,
    .target_key = bot_target_key,
    .text_budget = bot_text_budget,
};

static const herald_channel *const channels[] = {&telegram_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "telegram",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
