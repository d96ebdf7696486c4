/* The webhook channel: a generic HTTP forwarder. It sends the template's
 * body, or the request body the alerts arrived in, to any URL, so herald can
 * feed systems it has no plugin for (another Alertmanager included). */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* How much of an unexpected response body a verdict quotes. */
#define BODY_QUOTE_BYTES 160

typedef enum body_source {
    BODY_TEMPLATE, /* the template's native JSON body, or its text */
    BODY_PAYLOAD,  /* the original request body, byte for byte */
} body_source;

typedef struct header_line {
    char *name;
    char *value;
} header_line;

typedef struct forwarder {
    const herald_host *host;
    char *url;
    char *log_url;
    char *method;
    header_line *headers;
    size_t headers_len;
    int has_content_type; /* a configured header sets Content-Type */
    body_source body;
    char *username;
    char *password;
} forwarder;

enum { OPT_URL, OPT_METHOD, OPT_HEADERS, OPT_BODY, OPT_USERNAME, OPT_PASSWORD, OPT_COUNT };

/* ---- configuration ----------------------------------------------------- */

static char *copy_bytes(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

static char *copy_string(const char *text) { return copy_bytes(text, strlen(text)); }

static void forwarder_destroy(void *instance)
{
    forwarder *f = instance;
    if (!f)
        return;
    free(f->url);
    free(f->log_url);
    free(f->method);
    for (size_t i = 0; i < f->headers_len; i++) {
        free(f->headers[i].name);
        free(f->headers[i].value);
    }
    free(f->headers);
    free(f->username);
    free(f->password);
    free(f);
}

static const char *option_string(const herald_option_value *value)
{
    return value->present && value->string ? value->string : "";
}

static int has_control_char(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 1;
    return 0;
}

static int equals_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* The URL without what may carry a token: scheme, host and port stay, a
 * path or query becomes "…" (hook URLs often hide the token in the path). */
static char *redacted_url(const char *url)
{
    const char *authority = strstr(url, "://") + 3;
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = memchr(authority, '@', authority_len);
    const char *host = at ? at + 1 : authority;
    size_t host_len = authority_len - (size_t)(host - authority);
    size_t scheme_len = (size_t)(authority - url);
    int has_rest = authority[authority_len] && strcmp(authority + authority_len, "/") != 0;
    size_t size = scheme_len + host_len + sizeof "/…";
    char *out = malloc(size);
    if (out)
        snprintf(out, size, "%.*s%.*s%s", (int)scheme_len, url, (int)host_len, host,
                 has_rest ? "/…" : "");
    return out;
}

static const char *check_url(const char *url)
{
    const char *rest;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return "url: must be an http:// or https:// URL";
    size_t authority = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', authority);
    const char *host = at ? at + 1 : rest;
    if (host == rest + authority || *host == ':')
        return "url: must name a host, e.g. https://example.com/hook";
    if (has_control_char(url) || strchr(url, ' ') || strchr(url, '\t'))
        return "url: must not contain spaces or control characters";
    return NULL;
}

/* RFC 9110 5.6.2: a header name is a token. */
static int is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Headers curl computes from the request itself; a configured one would
 * contradict the body or the connection. */
static int is_managed_header(const char *name)
{
    return equals_nocase(name, "Content-Length") || equals_nocase(name, "Transfer-Encoding") ||
           equals_nocase(name, "Host") || equals_nocase(name, "Connection");
}

/* Parses "Name: value" lines. Errors name the line by number and the
 * header by name, never by value: values often are tokens. */
static int parse_headers(forwarder *f, const herald_option_value *value, char *err,
                         size_t err_cap)
{
    if (!value->present || value->list_len == 0)
        return 0;
    f->headers = calloc(value->list_len, sizeof *f->headers);
    if (!f->headers) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < value->list_len; i++) {
        const char *line = value->list[i];
        const char *colon = strchr(line, ':');
        size_t name_len = colon ? (size_t)(colon - line) : 0;
        int token = name_len > 0;
        for (size_t k = 0; k < name_len; k++)
            if (!is_token_char((unsigned char)line[k]))
                token = 0;
        if (!colon || !token) {
            snprintf(err, err_cap,
                     "headers: line %zu: expected \"Name: value\" with a name of letters, "
                     "digits or -",
                     i + 1);
            return -1;
        }
        if (has_control_char(colon + 1)) {
            snprintf(err, err_cap, "headers: line %zu (%.*s): the value must be one line", i + 1,
                     (int)(name_len > 64 ? 64 : name_len), line);
            return -1;
        }
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t v_len = strlen(v);
        while (v_len && (v[v_len - 1] == ' ' || v[v_len - 1] == '\t'))
            v_len--;
        if (v_len == 0) {
            /* curl reads "Name:" with nothing after it as "remove Name". */
            snprintf(err, err_cap, "headers: line %zu (%.*s): the value must not be empty", i + 1,
                     (int)(name_len > 64 ? 64 : name_len), line);
            return -1;
        }
        header_line *h = &f->headers[f->headers_len];
        h->name = copy_bytes(line, name_len);
        h->value = copy_bytes(v, v_len);
        if (!h->name || !h->value) {
            free(h->name);
            free(h->value);
            snprintf(err, err_cap, "out of memory");
            return -1;
        }
        f->headers_len++;
        if (is_managed_header(h->name)) {
            snprintf(err, err_cap, "headers: line %zu: %s is set by herald from the request",
                     i + 1, h->name);
            return -1;
        }
        if (equals_nocase(h->name, "Content-Type"))
            f->has_content_type = 1;
    }
    return 0;
}

static const char *parse_method(const char *text, char *out, size_t cap)
{
    static const char *const methods[] = {"POST", "PUT", "PATCH"};
    if (!*text)
        text = "POST";
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (equals_nocase(text, methods[i])) {
            snprintf(out, cap, "%s", methods[i]);
            return NULL;
        }
    return "method: must be \"POST\" (the default), \"PUT\" or \"PATCH\"";
}

static int forwarder_needs_payload(void *instance)
{
    return ((const forwarder *)instance)->body == BODY_PAYLOAD;
}

static void *forwarder_configure(const herald_host *host, const char *receiver,
                                 const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, classify_http)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no classify_http (plugin ABI 1.6)");
        return NULL;
    }
    const char *url = option_string(&values[OPT_URL]);
    char method[8];
    const char *problem = check_url(url);
    if (!problem)
        problem = parse_method(option_string(&values[OPT_METHOD]), method, sizeof method);
    const char *body = option_string(&values[OPT_BODY]);
    if (!problem && *body && strcmp(body, "template") != 0 && strcmp(body, "payload") != 0)
        problem = "body: must be \"template\" (the default) or \"payload\"";
    if (!problem && values[OPT_PASSWORD].present && !values[OPT_USERNAME].present)
        problem = "password: needs username as well";
    if (!problem && values[OPT_USERNAME].present && !*option_string(&values[OPT_USERNAME]))
        problem = "username: must not be empty";
    if (!problem && strchr(option_string(&values[OPT_USERNAME]), ':'))
        problem = "username: must not contain ':' (basic auth joins user:password)";
    if (problem) {
        snprintf(err, err_cap, "%s", problem);
        return NULL;
    }
    forwarder *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    f->host = host;
    f->body = strcmp(body, "payload") == 0 ? BODY_PAYLOAD : BODY_TEMPLATE;
    if (parse_headers(f, &values[OPT_HEADERS], err, err_cap) != 0) {
        forwarder_destroy(f);
        return NULL;
    }
    f->url = copy_string(url);
    f->log_url = redacted_url(url);
    f->method = copy_string(method);
    if (values[OPT_USERNAME].present) {
        f->username = copy_string(option_string(&values[OPT_USERNAME]));
        f->password = copy_string(option_string(&values[OPT_PASSWORD]));
    }
    if (!f->url || !f->log_url || !f->method ||
        (values[OPT_USERNAME].present && (!f->username || !f->password))) {
        forwarder_destroy(f);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return f;
}

/* ---- request ----------------------------------------------------------- */

/* The Content-Type that says what the body is, unless a header overrides it. */
static const char *content_type(const forwarder *f, const herald_message *msg)
{
    if (f->body == BODY_PAYLOAD)
        return "application/json";
    switch (msg->format) {
    case HERALD_FORMAT_TEXT: return "text/plain; charset=utf-8";
    case HERALD_FORMAT_MARKDOWN: return "text/markdown; charset=utf-8";
    case HERALD_FORMAT_HTML: return "text/html; charset=utf-8";
    case HERALD_FORMAT_NATIVE: break;
    }
    return "application/json";
}

static int forwarder_prepare(void *instance, const herald_message *msg, herald_request *req,
                             char *err, size_t err_cap)
{
    const forwarder *f = instance;
    const herald_host *host = f->host;
    if (f->body == BODY_PAYLOAD) {
        if (!HERALD_HAS_FIELD(herald_message, msg, payload_len) || !msg->payload) {
            snprintf(err, err_cap, "body = \"payload\" but the message carries no payload");
            return -1;
        }
        host->request_set_body(req, msg->payload, msg->payload_len);
    } else {
        if (!msg->text) {
            snprintf(err, err_cap, "message has no text");
            return -1;
        }
        host->request_set_body(req, msg->text, strlen(msg->text));
    }
    host->request_set_url(req, f->url);
    host->request_set_log_url(req, f->log_url);
    host->request_set_method(req, f->method);
    if (!f->has_content_type)
        host->request_add_header(req, "Content-Type", content_type(f, msg));
    for (size_t i = 0; i < f->headers_len; i++)
        host->request_add_header(req, f->headers[i].name, f->headers[i].value);
    if (f->username)
        host->request_set_auth(req, f->username, f->password);
    return 0;
}

/* ---- verdicts ---------------------------------------------------------- */

static void forwarder_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const forwarder *f = instance;
    const herald_host *host = f->host;
    char status[32];
    snprintf(status, sizeof status, "HTTP %ld", resp->status);
    /* 4xx: the target refuses this request; 3xx: herald does not follow
     * redirects, so the URL needs fixing. Sending again cannot help. */
    if (!host->classify_http(resp, BODY_QUOTE_BYTES, out))
        host->verdict(out, HERALD_OK, 0, status, "", 0);
    else if (resp->body_len == 0) /* nothing to quote: "HTTP 404", not "HTTP 404: " */
        host->verdict(out, out->kind, out->retry_after_ms, status, "", 0);
}

/* ---- descriptor -------------------------------------------------------- */

static const herald_option_spec options[OPT_COUNT] = {
    [OPT_URL] = {"url", HERALD_OPTION_STRING, 1, 1,
                 "target URL, http(s)://…; secret, as such URLs often carry a token"},
    [OPT_METHOD] = {"method", HERALD_OPTION_STRING, 0, 0, "\"POST\" (default), \"PUT\" or \"PATCH\""},
    [OPT_HEADERS] = {"headers", HERALD_OPTION_STRING_LIST, 0, 1,
                     "extra request headers, \"Name: value\" each; secret"},
    [OPT_BODY] = {"body", HERALD_OPTION_STRING, 0, 0,
                  "\"template\" (default: the template's body) or \"payload\" (the request "
                  "as it arrived)"},
    [OPT_USERNAME] = {"username", HERALD_OPTION_STRING, 0, 0, "basic auth user"},
    [OPT_PASSWORD] = {"password", HERALD_OPTION_STRING, 0, 1, "basic auth password"},
};

static const herald_channel webhook_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "webhook",
    .description = "any HTTP endpoint: the template's JSON body or the original payload",
    .max_body_bytes = 0,
    .rate_per_minute = 0,
    .formats =
        HERALD_FORMAT_NATIVE | HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_HTML,
    .default_template = "webhook",
    .options = options,
    .options_len = OPT_COUNT,
    .configure = forwarder_configure,
    .prepare = forwarder_prepare,
    .classify = forwarder_classify,
    .destroy = forwarder_destroy,
    .needs_payload = 1,
    .instance_needs_payload = forwarder_needs_payload,
};

static const herald_channel *const channels[] = {&webhook_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "webhook",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
