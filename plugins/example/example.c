/* example_text: a complete herald channel that POSTs the message as plain
 * text to a URL (ntfy, a chat bridge, a script behind a web server...).
 *
 * It is the SDK's worked example, built out of tree by its own Makefile
 * against the installed header (`pkg-config --cflags herald-plugin`), so it
 * includes nothing but <herald/plugin.h> and libc. Walkthrough: README.md
 * next to this file and plugins/README.md, "Build and test it".
 *
 * Request:  POST <url>
 *           Content-Type: text/plain; charset=utf-8
 *
 *           <prefix><title>
 *
 *           <text>[ marker if cut]
 *
 *           @13800000000 @lisi            (only when someone is mentioned)
 *
 * Verdicts: 2xx delivered; 429 and 5xx retried (after Retry-After, in
 * seconds or as a date, when the server sends it); anything else fails with
 * the status and the start of the server's answer.
 */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole body stays within this many bytes; the text is what gets cut. */
#define MAX_BODY_BYTES 4096
#define TRUNCATION_MARKER "\n\n[... truncated]"
/* How much of an unexpected response body a verdict quotes. */
#define BODY_QUOTE_BYTES 120

/* One configured receiver. Everything is copied in configure(): the option
 * values are only borrowed for that call. */
typedef struct text_hook {
    const herald_host *host; /* valid as long as the instance */
    char *url;               /* secret: whoever has it can post */
    char *log_url;           /* what logs show instead */
    char *prefix;            /* "" when unset */
} text_hook;

static char *copy_string(const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = malloc(size);
    if (copy)
        memcpy(copy, text, size);
    return copy;
}

static void text_hook_destroy(void *instance)
{
    text_hook *t = instance;
    if (!t)
        return;
    free(t->url);
    free(t->log_url);
    free(t->prefix);
    free(t);
}

/* "https://ntfy.example.com/…": scheme and host only. The URL is secret
 * (the topic or token is often in the path), so logs never show more. */
static char *make_log_url(const char *url)
{
    const char *host = strstr(url, "://") + 3;
    size_t head = (size_t)(host - url) + strcspn(host, "/?#");
    char *log_url = malloc(head + sizeof "/…");
    if (log_url) {
        memcpy(log_url, url, head);
        memcpy(log_url + head, "/…", sizeof "/…");
    }
    return log_url;
}

/* Options arrive checked for presence and type, in the order of `options`
 * below; configure only checks what they mean. An error names the key. */
static void *text_hook_configure(const herald_host *host, const char *receiver,
                                 const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, classify_http)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no classify_http (plugin ABI 1.6)");
        return NULL;
    }
    const char *url = values[0].present && values[0].string ? values[0].string : "";
    const char *prefix = values[1].present && values[1].string ? values[1].string : "";
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, err_cap, "url: must start with http:// or https://");
        return NULL;
    }
    if (strlen(prefix) > MAX_BODY_BYTES / 4) {
        snprintf(err, err_cap, "prefix: must be at most %d bytes", MAX_BODY_BYTES / 4);
        return NULL;
    }
    text_hook *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    t->host = host;
    t->url = copy_string(url);
    t->log_url = make_log_url(url);
    t->prefix = copy_string(prefix);
    if (!t->url || !t->log_url || !t->prefix) {
        text_hook_destroy(t);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return t;
}

/* "@13800000000 @lisi" for everyone the message mentions; "" for nobody. */
static herald_buf *mention_line(const herald_host *host, const herald_mentions *m)
{
    herald_buf *line = host->buf_new();
    const char *const *lists[] = {m->mobiles, m->user_ids};
    size_t lens[] = {m->mobiles_len, m->user_ids_len};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < lens[l]; i++)
            if (lists[l][i] && *lists[l][i])
                host->buf_printf(line, "%s@%s", host->buf_len(line) ? " " : "", lists[l][i]);
    if (m->all)
        host->buf_printf(line, "%s@all", host->buf_len(line) ? " " : "");
    return line;
}

/* Builds the body within MAX_BODY_BYTES. Only the text is cut, at a point
 * host->text_prefix chooses (never inside a UTF-8 character or a markdown
 * link), and a marker says so. Returns NULL with err when even the parts
 * that are never cut do not fit. */
static herald_buf *build_body(const text_hook *t, const herald_message *msg, char *err,
                              size_t err_cap)
{
    const herald_host *host = t->host;
    const char *title = msg->title ? msg->title : "";
    const char *text = msg->text ? msg->text : "";
    size_t text_len = strlen(text);

    herald_buf *head = host->buf_new(); /* prefix and title, never cut */
    host->buf_printf(head, "%s%s", t->prefix, title);
    if (host->buf_len(head) && text_len)
        host->buf_append(head, "\n\n", 2);
    herald_buf *mentions = mention_line(host, &msg->mentions);
    size_t tail_len = host->buf_len(mentions) ? 2 + host->buf_len(mentions) : 0;

    size_t fixed = host->buf_len(head) + tail_len;
    size_t keep = text_len;
    int cut = 0;
    if (fixed + text_len > MAX_BODY_BYTES) {
        size_t room = fixed + strlen(TRUNCATION_MARKER) <= MAX_BODY_BYTES
                          ? MAX_BODY_BYTES - fixed - strlen(TRUNCATION_MARKER)
                          : 0;
        if (room == 0) {
            snprintf(err, err_cap, "prefix, title and mentions alone exceed %d bytes",
                     MAX_BODY_BYTES);
            host->buf_free(head);
            host->buf_free(mentions);
            return NULL;
        }
        keep = host->text_prefix(text, text_len, room);
        cut = 1;
    }

    herald_buf *body = host->buf_new();
    host->buf_append(body, host->buf_data(head), host->buf_len(head));
    host->buf_append(body, text, keep);
    if (cut)
        host->buf_append(body, TRUNCATION_MARKER, strlen(TRUNCATION_MARKER));
    if (tail_len) {
        host->buf_append(body, "\n\n", 2);
        host->buf_append(body, host->buf_data(mentions), host->buf_len(mentions));
    }
    host->buf_free(head);
    host->buf_free(mentions);
    return body;
}

/* Per delivery attempt: message in, request out. No I/O here: the core
 * sends the request, and it copies everything handed to it. */
static int text_hook_prepare(void *instance, const herald_message *msg, herald_request *req,
                             char *err, size_t err_cap)
{
    const text_hook *t = instance;
    const herald_host *host = t->host;
    if (msg->format != HERALD_FORMAT_TEXT && msg->format != HERALD_FORMAT_MARKDOWN) {
        snprintf(err, err_cap, "example_text takes text or markdown messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    herald_buf *body = build_body(t, msg, err, err_cap);
    if (!body)
        return -1; /* dead-lettered: resending the same message cannot help */
    host->request_set_url(req, t->url);
    host->request_set_log_url(req, t->log_url);
    host->request_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    host->request_set_body(req, host->buf_data(body), host->buf_len(body));
    host->buf_free(body);
    return 0;
}

/* Per completed exchange: response in, verdict out. Connection errors and
 * timeouts never get here; the core retries those itself. The host judges
 * the status: 429 and 5xx are retried (after Retry-After when the server
 * sends it), anything else but 2xx fails, with the reason
 * "HTTP 404: <start of the body>" on one line. */
static void text_hook_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const text_hook *t = instance;
    if (t->host->classify_http(resp, BODY_QUOTE_BYTES, out))
        return;
    char reason[32];
    snprintf(reason, sizeof reason, "HTTP %ld", resp->status);
    t->host->verdict(out, HERALD_OK, 0, reason, "", 0);
}

static const herald_option_spec options[] = {
    {"url", HERALD_OPTION_STRING, 1, 1, "http(s) URL to POST the text to"},
    {"prefix", HERALD_OPTION_STRING, 0, 0, "put before the title, e.g. \"[prod] \""},
};

static const herald_channel channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "example_text",
    .description = "plain text POSTed to a URL (the SDK example)",
    .max_body_bytes = MAX_BODY_BYTES,
    .rate_per_minute = 0,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN,
    .default_template = "console",
    .options = options,
    .options_len = sizeof options / sizeof options[0],
    .configure = text_hook_configure,
    .prepare = text_hook_prepare,
    .classify = text_hook_classify,
    .destroy = text_hook_destroy,
};

static const herald_channel *const channels[] = {&channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "example",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

/* The one exported symbol; the header declares it with default visibility,
 * everything else here is hidden by -fvisibility=hidden. */
HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
