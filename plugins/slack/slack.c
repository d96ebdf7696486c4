/* Slack incoming webhooks: a message becomes {"text": …, "blocks": […]}
 * with a header block for the title and mrkdwn sections for the text.
 * Wire facts: /work/shared/CHANNELS.md, "Slack incoming webhook". */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markdown_inline.h"

/* Slack documents no hard body limit; past about 40 KB payloads start to be
 * refused, so herald stays under it. */
#define MAX_BODY_BYTES 40000
/* Slack's limits on block text, in characters. */
#define SECTION_MAX_CHARS 3000
#define HEADER_MAX_CHARS 150
#define FALLBACK_MAX_CHARS 4000
#define MAX_BLOCKS 50
#define TRUNCATION_MARKER "\n\n…（内容过长，已截断）"
#define ELLIPSIS "…"
/* How much of an unexpected response body a verdict quotes. */
#define BODY_QUOTE_BYTES 160

typedef struct hook {
    const herald_host *host;
    char *url;
    char *log_url; /* the URL up to /services/, the rest (the token) elided */
} hook;

static char *copy_string(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, text, len);
    return copy;
}

static void hook_destroy(void *instance)
{
    hook *h = instance;
    if (!h)
        return;
    free(h->url);
    free(h->log_url);
    free(h);
}

#define SERVICES_PATH "/services/"

static void *hook_configure(const herald_host *host, const char *receiver,
                            const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, classify_http)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no classify_http (plugin ABI 1.6)");
        return NULL;
    }
    const char *url = values[0].present && values[0].string ? values[0].string : "";
    const char *scheme_end = strstr(url, "://");
    const char *services = strstr(url, SERVICES_PATH);
    int http = strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0;
    /* The path after /services/ is the hook's secret: T…/B…/token. */
    if (!http || !services || services <= scheme_end + 3 ||
        !services[strlen(SERVICES_PATH)] || strpbrk(url, " \t\r\n")) {
        snprintf(err, err_cap,
                 "url: must be an incoming webhook URL, https://hooks.slack.com/services/…");
        return NULL;
    }
    hook *h = calloc(1, sizeof *h);
    size_t prefix = (size_t)(services - url) + strlen(SERVICES_PATH);
    char *log_url = malloc(prefix + sizeof ELLIPSIS);
    if (!h || !log_url || !(h->url = copy_string(url))) {
        hook_destroy(h);
        free(log_url);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    memcpy(log_url, url, prefix);
    memcpy(log_url + prefix, ELLIPSIS, sizeof ELLIPSIS);
    h->host = host;
    h->log_url = log_url;
    return h;
}

/* ---- characters -------------------------------------------------------- */

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

/* Slack counts text in JavaScript characters (UTF-16 code units): a
 * character outside the BMP, an emoji say, counts twice. */
static size_t char_units(size_t byte_len) { return byte_len == 4 ? 2 : 1; }

static size_t text_units(const char *text, size_t len)
{
    size_t units = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char_len((unsigned char)text[i]);
        units += char_units(n);
        i += n;
    }
    return units;
}

/* Bytes of the longest prefix of text within max_units. */
static size_t units_prefix(const char *text, size_t len, size_t max_units)
{
    size_t units = 0, i = 0;
    while (i < len) {
        size_t n = utf8_char_len((unsigned char)text[i]);
        if (i + n > len || units + char_units(n) > max_units)
            break;
        units += char_units(n);
        i += n;
    }
    return i;
}

/* ---- markdown to mrkdwn ------------------------------------------------ */

/* Slack mrkdwn: *bold*, _italic_, ~strike~, `code`, ```pre```, > quote,
 * <url|label> links; &, < and > must be written as entities. */

/* mrkdwn's mark for each md_span_kind: *bold*, _italic_, ~strike~. */
static const char *const mrkdwn_mark[] = {"*", "_", "~"};

static void append_link(const herald_host *host, herald_buf *out, const char *url,
                        size_t url_len, const char *label, size_t label_len)
{
    host->buf_append(out, "<", 1);
    for (size_t i = 0; i < url_len; i++) {
        /* | would end the URL part of <url|label>. */
        if (url[i] == '|')
            host->buf_append(out, "%7C", 3);
        else
            md_append_entities(host, out, url + i, 1, 0);
    }
    if (label_len) {
        host->buf_append(out, "|", 1);
        md_append_unescaped(host, out, label, label_len, 0);
    }
    host->buf_append(out, ">", 1);
}

/* One line of markdown inline syntax. In a heading, which is bold as a
 * whole, bold delimiters are dropped: Slack does not nest *…*. */
static void convert_inline(const herald_host *host, herald_buf *out, const char *line,
                           size_t len, int in_heading)
{
    md_spans spans = {.depth = 0};
    for (size_t i = 0; i < len;) {
        md_span tok;
        size_t label, label_len, url, url_len, link_len;
        if (line[i] == '\\' && i + 1 < len && md_is_punct(line[i + 1])) {
            md_append_entities(host, out, line + i + 1, 1, 0);
            i += 2;
        } else if (line[i] == '`' && memchr(line + i + 1, '`', len - i - 1)) {
            size_t end = (size_t)((const char *)memchr(line + i + 1, '`', len - i - 1) - line);
            host->buf_append(out, "`", 1);
            md_append_entities(host, out, line + i + 1, end - i - 1, 0);
            host->buf_append(out, "`", 1);
            i = end + 1;
        } else if ((link_len = md_link_at(line, len, i, &label, &label_len, &url, &url_len))) {
            append_link(host, out, line + url, url_len, line + label, label_len);
            i += link_len;
        } else if (md_span_at(line, len, i, &tok)) {
            md_span_write(host, out, &spans, line, len, i, &tok, in_heading, mrkdwn_mark,
                          mrkdwn_mark);
            i += tok.len;
        } else {
            md_append_entities(host, out, line + i, 1, 0);
            i++;
        }
    }
}

static void convert_line(const herald_host *host, herald_buf *out, const char *line, size_t len)
{
    size_t indent = md_skip_spaces(line, len, 0);
    size_t heading = md_heading_text(line, len);
    if (heading) {
        host->buf_append(out, "*", 1);
        convert_inline(host, out, line + heading, len - heading, 1);
        host->buf_append(out, "*", 1);
    } else if (md_is_rule(line, len)) {
        host->buf_printf(out, "──────────");
    } else if (indent < len && line[indent] == '>') {
        size_t start = md_skip_spaces(line, len, indent + 1);
        host->buf_append(out, "> ", 2);
        convert_inline(host, out, line + start, len - start, 0);
    } else if (indent + 1 < len && (line[indent] == '-' || line[indent] == '*' ||
                                    line[indent] == '+') && line[indent + 1] == ' ') {
        host->buf_append(out, line, indent);
        host->buf_printf(out, "• ");
        size_t start = md_skip_spaces(line, len, indent + 2);
        convert_inline(host, out, line + start, len - start, 0);
    } else {
        convert_inline(host, out, line, len, 0);
    }
}

/* Markdown to mrkdwn, line by line; fenced code is kept (without its
 * language tag) and only escaped. */
static void convert_markdown(const herald_host *host, herald_buf *out, const char *text,
                             size_t len)
{
    int in_fence = 0;
    for (size_t start = 0; start <= len;) {
        const char *newline = memchr(text + start, '\n', len - start);
        size_t end = newline ? (size_t)(newline - text) : len;
        const char *line = text + start;
        size_t line_len = end - start;
        size_t indent = md_skip_spaces(line, line_len, 0);
        if (line_len - indent >= 3 && memcmp(line + indent, "```", 3) == 0) {
            host->buf_append(out, "```", 3);
            in_fence = !in_fence;
        } else if (in_fence) {
            md_append_entities(host, out, line, line_len, 0);
        } else {
            convert_line(host, out, line, line_len);
        }
        if (!newline)
            break;
        host->buf_append(out, "\n", 1);
        start = end + 1;
    }
}

/* ---- body -------------------------------------------------------------- */

typedef struct content {
    size_t text_len; /* how much of the message text is kept */
    int truncated;
} content;

/* Where the next section ends: at most SECTION_MAX_CHARS, preferably at a
 * line break in the second half, never inside a <…> link or mention or an
 * &…; entity. Sets *next to where the section after it starts. */
static size_t section_end(const char *text, size_t len, size_t *next)
{
    size_t i = 0, units = 0, last_safe = 0, last_newline = 0;
    int have_newline = 0, in_link = 0, in_entity = 0;
    while (i < len) {
        size_t n = utf8_char_len((unsigned char)text[i]);
        if (units + char_units(n) > SECTION_MAX_CHARS)
            break;
        if (!in_link && !in_entity)
            last_safe = i;
        if (text[i] == '\n' && !in_link) {
            last_newline = i;
            have_newline = 1;
        }
        if (text[i] == '<')
            in_link = 1;
        else if (text[i] == '>')
            in_link = 0;
        else if (text[i] == '&' && !in_link)
            in_entity = 1;
        else if (text[i] == ';')
            in_entity = 0;
        units += char_units(n);
        i += n;
    }
    if (i >= len) {
        *next = len;
        return len;
    }
    if (have_newline && last_newline >= i / 2) {
        *next = last_newline + 1;
        return last_newline;
    }
    /* A single link longer than a section cannot be kept whole. */
    size_t cut = last_safe ? last_safe : i;
    *next = cut;
    return cut;
}

static int is_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t')
            return 0;
    return 1;
}


/* "<!channel> <@U123> <!subteam^S456>": user ids start with U or W, user
 * group ids with S. */
static void append_mentions(const herald_host *host, herald_buf *out, const herald_mentions *m)
{
    if (m->all)
        host->buf_printf(out, "<!channel>");
    for (size_t i = 0; i < m->user_ids_len; i++) {
        const char *id = m->user_ids[i];
        if (!*id)
            continue;
        if (host->buf_len(out))
            host->buf_append(out, " ", 1);
        host->buf_printf(out, "%s", id[0] == 'S' ? "<!subteam^" : "<@");
        md_append_entities(host, out, id, strlen(id), 0);
        host->buf_append(out, ">", 1);
    }
}

/* The title cut to what a header block holds, with … when cut. */
static size_t header_title_len(const char *title, size_t len)
{
    if (text_units(title, len) <= HEADER_MAX_CHARS)
        return len;
    return units_prefix(title, len, HEADER_MAX_CHARS - 1);
}

typedef struct serialized {
    herald_buf *body;
    size_t blocks;
    size_t fallback_units;
} serialized;

/* Starts the next element of "blocks". */
static void open_block(const herald_host *host, serialized *s)
{
    if (s->blocks++)
        host->buf_append(s->body, ",", 1);
}

static void append_section(const herald_host *host, serialized *s, const char *mrkdwn,
                           size_t len)
{
    open_block(host, s);
    host->buf_printf(s->body, "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":");
    host->buf_json_string(s->body, mrkdwn, len);
    host->buf_printf(s->body, "}}");
}

static serialized serialize(const herald_host *host, const herald_message *msg,
                            const content *c)
{
    serialized s = {host->buf_new(), 0, 0};
    const char *title = msg->title ? msg->title : "";
    size_t title_len = header_title_len(title, strlen(title));
    int title_cut = title_len < strlen(title);

    herald_buf *mrkdwn = host->buf_new();
    if (msg->format == HERALD_FORMAT_MARKDOWN)
        convert_markdown(host, mrkdwn, msg->text, c->text_len);
    else
        md_append_entities(host, mrkdwn, msg->text, c->text_len, 0);
    if (c->truncated)
        host->buf_printf(mrkdwn, TRUNCATION_MARKER);
    herald_buf *mentions = host->buf_new();
    append_mentions(host, mentions, &msg->mentions);
    const char *text = host->buf_data(mrkdwn);
    size_t text_len = host->buf_len(mrkdwn);

    /* The notification preview: the title, else the start of the text; the
     * mentions go there too so that they notify. */
    herald_buf *fallback = host->buf_new();
    if (title_len) {
        md_append_entities(host, fallback, title, title_len, 0);
    } else {
        size_t next, first = section_end(text, text_len, &next);
        host->buf_append(fallback, text, first);
    }
    if (title_cut)
        host->buf_printf(fallback, ELLIPSIS);
    if (host->buf_len(mentions)) {
        if (host->buf_len(fallback))
            host->buf_append(fallback, "\n", 1);
        host->buf_append(fallback, host->buf_data(mentions), host->buf_len(mentions));
    }
    s.fallback_units = text_units(host->buf_data(fallback), host->buf_len(fallback));

    host->buf_printf(s.body, "{\"text\":");
    host->buf_json_string(s.body, host->buf_data(fallback), host->buf_len(fallback));
    host->buf_printf(s.body, ",\"blocks\":[");
    if (title_len) {
        open_block(host, &s);
        host->buf_printf(s.body, "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":");
        herald_buf *header = host->buf_new();
        host->buf_append(header, title, title_len);
        if (title_cut)
            host->buf_printf(header, ELLIPSIS);
        host->buf_json_string(s.body, host->buf_data(header), host->buf_len(header));
        host->buf_free(header);
        host->buf_printf(s.body, ",\"emoji\":true}}");
    }
    for (size_t start = 0; start < text_len;) {
        size_t next, end = section_end(text + start, text_len - start, &next);
        if (!is_blank(text + start, end))
            append_section(host, &s, text + start, end);
        start += next; /* section_end always moves on */
    }
    if (host->buf_len(mentions))
        append_section(host, &s, host->buf_data(mentions), host->buf_len(mentions));
    host->buf_printf(s.body, "]}");
    host->buf_free(fallback);
    host->buf_free(mentions);
    host->buf_free(mrkdwn);
    return s;
}

/* Trailing blank lines and spaces (templates often end with one, cuts
 * often fall after one) would only push the marker or the mentions down. */
static size_t trimmed_len(const char *text, size_t len)
{
    while (len && strchr(" \t\r\n", text[len - 1]))
        len--;
    return len;
}

static int fits(const serialized *s, const herald_host *host)
{
    return host->buf_len(s->body) < MAX_BODY_BYTES && s->blocks <= MAX_BLOCKS &&
           s->fallback_units <= FALLBACK_MAX_CHARS;
}

static int cut_fits(const herald_host *host, const herald_message *msg, const content *c)
{
    serialized s = serialize(host, msg, c);
    int ok = fits(&s, host);
    host->buf_free(s.body);
    return ok;
}

/* Builds a body within every limit, cutting the text (never the title,
 * the marker or the mentions) as little as needed. Sizes are measured on
 * real serializations: escaping and section breaks depend on the cut. */
static herald_buf *build_body(const hook *h, const herald_message *msg, char *err,
                              size_t err_cap)
{
    const herald_host *host = h->host;
    size_t text_len = trimmed_len(msg->text, strlen(msg->text));
    content c = {text_len, 0};
    serialized s = serialize(host, msg, &c);
    if (s.blocks == 0) {
        host->buf_free(s.body);
        snprintf(err, err_cap, "message has neither title nor text nor mentions");
        return NULL;
    }
    if (fits(&s, host))
        return s.body;
    host->buf_free(s.body);
    c.truncated = 1;
    c.text_len = 0;
    if (!cut_fits(host, msg, &c)) {
        snprintf(err, err_cap,
                 "message does not fit Slack's limits (%d bytes, %d blocks, %d characters of "
                 "text) even with its text cut to nothing",
                 MAX_BODY_BYTES, MAX_BLOCKS, FALLBACK_MAX_CHARS);
        return NULL;
    }
    /* Binary search for the longest cut that fits: `fitting` always fits,
     * `too_long` never does (the whole text did not). */
    size_t fitting = 0, too_long = text_len;
    while (too_long - fitting > 1) {
        size_t mid = fitting + (too_long - fitting) / 2;
        c.text_len = trimmed_len(msg->text, host->text_prefix(msg->text, text_len, mid));
        if (cut_fits(host, msg, &c))
            fitting = mid;
        else
            too_long = mid;
    }
    c.text_len = trimmed_len(msg->text, host->text_prefix(msg->text, text_len, fitting));
    s = serialize(host, msg, &c);
    return s.body;
}

static int hook_prepare(void *instance, const herald_message *msg, herald_request *req,
                        char *err, size_t err_cap)
{
    const hook *h = instance;
    const herald_host *host = h->host;
    if (!msg->text) {
        snprintf(err, err_cap, "message has no text");
        return -1;
    }
    if (msg->format == HERALD_FORMAT_NATIVE) {
        size_t len = strlen(msg->text);
        if (host->json_lookup(msg->text, len, "", NULL, 0) != HERALD_JSON_OBJECT) {
            snprintf(err, err_cap, "native body is not a JSON object");
            return -1;
        }
        if (len >= MAX_BODY_BYTES) {
            snprintf(err, err_cap, "native body is %zu bytes; herald sends Slack under %d", len,
                     MAX_BODY_BYTES);
            return -1;
        }
        host->request_set_body(req, msg->text, len);
    } else if (msg->format == HERALD_FORMAT_TEXT || msg->format == HERALD_FORMAT_MARKDOWN) {
        herald_buf *body = build_body(h, msg, err, err_cap);
        if (!body)
            return -1;
        host->request_set_body(req, host->buf_data(body), host->buf_len(body));
        host->buf_free(body);
    } else {
        snprintf(err, err_cap, "slack takes text, markdown or native messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    host->request_set_url(req, h->url);
    host->request_set_log_url(req, h->log_url);
    host->request_add_header(req, "Content-Type", "application/json; charset=utf-8");
    return 0;
}

/* ---- verdicts ---------------------------------------------------------- */

static void hook_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const hook *h = instance;
    const herald_host *host = h->host;
    const char *body = resp->body ? resp->body : "";
    size_t len = resp->body_len;
    /* Slack answers in plain text; trailing whitespace is not part of it. */
    while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
        len--;
    size_t quote_len = host->utf8_prefix(body, len, BODY_QUOTE_BYTES);
    if (resp->status == 200 && len == 2 && memcmp(body, "ok", 2) == 0) {
        host->verdict(out, HERALD_OK, 0, "ok", "", 0);
        return;
    }
    /* quote_len keeps that whitespace out of an HTTP reason too. 4xx
     * (invalid_payload, no_text, invalid_blocks, channel_not_found,
     * channel_is_archived, invalid_token, no_active_hooks, no_service,
     * action_prohibited…) fail: the same request cannot succeed later. */
    if (!host->classify_http(resp, quote_len, out))
        /* Not Slack's "ok": something else answered, maybe after posting. */
        host->verdict(out, HERALD_FAIL, 0, "unexpected response: ", body, quote_len);
}

/* ---- descriptor -------------------------------------------------------- */

static const herald_option_spec hook_options[] = {
    {"url", HERALD_OPTION_STRING, 1, 1,
     "incoming webhook URL, https://hooks.slack.com/services/T…/B…/…"},
};

/* The webhook URL names the channel it posts to, so receivers that share
 * it share its limit. */
static void hook_target_key(void *instance, size_t index, char *out, size_t cap)
{
    (void)index;
    const hook *h = instance;
    snprintf(out, cap, "slack %s", h->url);
}

static const herald_channel slack_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "slack",
    .description = "Slack incoming webhook (header and mrkdwn section blocks)",
    .max_body_bytes = MAX_BODY_BYTES,
    .rate_per_minute = 60,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_NATIVE,
    .default_template = "slack",
    .options = hook_options,
    .options_len = sizeof hook_options / sizeof hook_options[0],
    .configure = hook_configure,
    .prepare = hook_prepare,
    .classify = hook_classify,
    .destroy = hook_destroy,
    .target_key = hook_target_key,
};

static const herald_channel *const channels[] = {&slack_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "slack",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
