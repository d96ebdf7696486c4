/* The console channel: one JSON line per message, to standard output or
 * appended to a file. For trying routes and templates without a robot. */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


typedef struct console {
    const herald_host *host;
    char *url; /* file:// URL the core appends each line to */
} console;

static void console_destroy(void *instance)
{
    console *c = instance;
    if (!c)
        return;
    free(c->url);
    free(c);
}

static void *console_configure(const herald_host *host, const char *receiver,
                               const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, json_lookup)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no json_lookup (plugin ABI 1.1)");
        return NULL;
    }
    const char *path = values[0].present && values[0].string ? values[0].string : "-";
    if (strcmp(path, "-") != 0 && path[0] != '/') {
        snprintf(err, err_cap, "path: must be absolute or \"-\"");
        return NULL;
    }
    const char *target = strcmp(path, "-") == 0 ? "/dev/stdout" : path;
    console *c = calloc(1, sizeof *c);
    size_t url_size = strlen("file://") + strlen(target) + 1;
    char *url = malloc(url_size);
    if (!c || !url) {
        free(c);
        free(url);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    snprintf(url, url_size, "file://%s", target);
    c->host = host;
    c->url = url;
    return c;
}

static const char *format_name(herald_format format)
{
    switch (format) {
    case HERALD_FORMAT_TEXT: return "text";
    case HERALD_FORMAT_MARKDOWN: return "markdown";
    case HERALD_FORMAT_HTML: return "html";
    case HERALD_FORMAT_NATIVE: return "native";
    }
    return "unknown";
}

static void append_string(const herald_host *host, herald_buf *body, const char *text)
{
    host->buf_json_string(body, text ? text : "", text ? strlen(text) : 0);
}

static void append_list(const herald_host *host, herald_buf *body, const char *const *items,
                        size_t len)
{
    host->buf_append(body, "[", 1);
    for (size_t i = 0; i < len; i++) {
        if (i)
            host->buf_append(body, ",", 1);
        append_string(host, body, items[i]);
    }
    host->buf_append(body, "]", 1);
}

/* Appends a JSON text with the whitespace between tokens removed, so a
 * pretty-printed native body still fits on one line. Raw line breaks cannot
 * occur inside JSON strings, so nothing else changes. */
static void append_compact_json(const herald_host *host, herald_buf *body, const char *json)
{
    int in_string = 0;
    const char *run = json;
    for (const char *p = json; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_string = 0;
        } else if (*p == '"') {
            in_string = 1;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            host->buf_append(body, run, (size_t)(p - run));
            run = p + 1;
        }
    }
    host->buf_append(body, run, strlen(run));
}

static void append_time(const herald_host *host, herald_buf *body)
{
    long long ms = (long long)host->now_ms();
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    host->buf_printf(body, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ\"", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

static int console_prepare(void *instance, const herald_message *msg, herald_request *req,
                           char *err, size_t err_cap)
{
    const console *c = instance;
    const herald_host *host = c->host;
    if (msg->format == HERALD_FORMAT_NATIVE) {
        const char *text = msg->text ? msg->text : "";
        if (host->json_lookup(text, strlen(text), "", NULL, 0) == HERALD_JSON_ABSENT) {
            snprintf(err, err_cap, "native body is not valid JSON");
            return -1;
        }
    }
    herald_buf *body = host->buf_new();
    host->buf_printf(body, "{\"time\":");
    append_time(host, body);
    host->buf_printf(body, ",\"receiver\":");
    append_string(host, body, msg->receiver);
    host->buf_printf(body, ",\"status\":");
    append_string(host, body, msg->status);
    host->buf_printf(body, ",\"alerts\":%zu,\"format\":\"%s\",\"title\":", msg->alert_count,
                     format_name(msg->format));
    append_string(host, body, msg->title);
    if (msg->format == HERALD_FORMAT_NATIVE) {
        host->buf_printf(body, ",\"body\":");
        append_compact_json(host, body, msg->text);
    } else {
        host->buf_printf(body, ",\"text\":");
        append_string(host, body, msg->text);
    }
    host->buf_printf(body, ",\"mentions\":{\"mobiles\":");
    append_list(host, body, msg->mentions.mobiles, msg->mentions.mobiles_len);
    host->buf_printf(body, ",\"user_ids\":");
    append_list(host, body, msg->mentions.user_ids, msg->mentions.user_ids_len);
    host->buf_printf(body, ",\"all\":%s}}", msg->mentions.all ? "true" : "false");

    host->request_set_url(req, c->url);
    host->request_set_body(req, host->buf_data(body), host->buf_len(body));
    host->buf_free(body);
    return 0;
}

/* The core reports file errors itself; a completed write is success. */
static void console_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    (void)instance;
    (void)resp;
    out->kind = HERALD_OK;
    out->retry_after_ms = 0;
    snprintf(out->reason, sizeof out->reason, "written");
}

static const herald_option_spec options[] = {
    {"path", HERALD_OPTION_STRING, 0, 0,
     "absolute file to append JSON lines to; \"-\" or unset: standard output"},
};

static const herald_channel channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "console",
    .description = "one JSON line per message, to standard output or a file",
    .max_body_bytes = 0,
    .rate_per_minute = 0,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_HTML |
               HERALD_FORMAT_NATIVE,
    .default_template = "console",
    .options = options,
    .options_len = sizeof options / sizeof options[0],
    .configure = console_configure,
    .prepare = console_prepare,
    .classify = console_classify,
    .destroy = console_destroy,
};

static const herald_channel *const channels[] = {&channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "console",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = 1,
};


HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
