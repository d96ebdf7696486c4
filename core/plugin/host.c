#include "plugin/host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

/* ---- clock, crypto and encodings --------------------------------------- */

/* One clock for now_ms and for the services that read time themselves
 * (Retry-After dates), so that a test fixing it fixes both. */
static int64_t (*clock_ms)(void) = wall_ms;

void host_set_clock(int64_t (*now_ms)(void)) { clock_ms = now_ms ? now_ms : wall_ms; }

static int64_t host_now_ms(void) { return clock_ms(); }

/* Encoders write through this so that every one of them has snprintf's
 * contract: output truncated to cap - 1 bytes and NUL-terminated, the
 * return value the full length. */
typedef struct bounded_out {
    char *out;
    size_t cap;
    size_t len;
} bounded_out;

static void bounded_putc(bounded_out *bo, char c)
{
    if (bo->len + 1 < bo->cap)
        bo->out[bo->len] = c;
    bo->len++;
}

static size_t bounded_finish(bounded_out *bo)
{
    if (bo->cap > 0)
        bo->out[bo->len < bo->cap ? bo->len : bo->cap - 1] = '\0';
    return bo->len;
}

static size_t host_base64_encode(const void *data, size_t len, char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    bounded_out bo = {out, cap, 0};
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t group = (uint32_t)in[i] << 16;
        if (left > 1)
            group |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            group |= in[i + 2];
        bounded_putc(&bo, alphabet[(group >> 18) & 63]);
        bounded_putc(&bo, alphabet[(group >> 12) & 63]);
        bounded_putc(&bo, left > 1 ? alphabet[(group >> 6) & 63] : '=');
        bounded_putc(&bo, left > 2 ? alphabet[group & 63] : '=');
    }
    return bounded_finish(&bo);
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static size_t host_url_encode(const char *text, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    bounded_out bo = {out, cap, 0};
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (is_unreserved(*p)) {
            bounded_putc(&bo, (char)*p);
        } else {
            bounded_putc(&bo, '%');
            bounded_putc(&bo, hex[*p >> 4]);
            bounded_putc(&bo, hex[*p & 15]);
        }
    }
    return bounded_finish(&bo);
}

/* Where a markdown link or image starting at text[open] ('[') ends, or 0
 * when it is not one. Links never span lines, which also bounds the scan. */
static size_t markdown_link_end(const char *text, size_t len, size_t open)
{
    size_t i = open + 1;
    while (i < len && text[i] != ']' && text[i] != '\n')
        i++;
    if (i + 1 >= len || text[i] != ']' || text[i + 1] != '(')
        return 0;
    for (i += 2; i < len && text[i] != '\n'; i++)
        if (text[i] == ')')
            return i + 1;
    return 0;
}

static size_t host_text_prefix(const char *text, size_t len, size_t max_bytes)
{
    size_t cut = utf8_prefix(text, len, max_bytes);
    for (size_t i = 0; i < cut; i++) {
        if (text[i] != '[')
            continue;
        size_t end = markdown_link_end(text, len, i);
        if (end > cut)
            return i > 0 && text[i - 1] == '!' ? i - 1 : i;
        if (end)
            i = end - 1;
    }
    return cut;
}

/* ---- buffers ----------------------------------------------------------- */

static herald_buf *host_buf_new(void) { return xcalloc(1, sizeof(herald_buf)); }

static void host_buf_free(herald_buf *buf)
{
    if (!buf)
        return;
    sb_free(&buf->sb);
    free(buf);
}

static void host_buf_append(herald_buf *buf, const void *data, size_t len)
{
    sb_append(&buf->sb, data, len);
}

static void host_buf_printf(herald_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&buf->sb, fmt, ap);
    va_end(ap);
}

static void host_buf_json_string(herald_buf *buf, const char *text, size_t len)
{
    sb_json_string(&buf->sb, text, len);
}

static const char *host_buf_data(const herald_buf *buf) { return sb_str(&buf->sb); }

static size_t host_buf_len(const herald_buf *buf) { return buf->sb.len; }

/* ---- requests and responses -------------------------------------------- */

void request_init(herald_request *req) { memset(req, 0, sizeof *req); }

void request_free(herald_request *req)
{
    free(req->url);
    free(req->log_url);
    for (size_t i = 0; i < req->headers_len; i++)
        free(req->headers[i]);
    free(req->headers);
    sb_free(&req->body);
    free(req->method);
    free(req->user);
    free(req->password);
    free(req->mail_from);
    for (size_t i = 0; i < req->recipients_len; i++)
        free(req->recipients[i]);
    free(req->recipients);
    request_init(req);
}

static void host_request_set_url(herald_request *req, const char *url)
{
    free(req->url);
    req->url = xstrdup(url);
}

static void host_request_set_log_url(herald_request *req, const char *url)
{
    free(req->log_url);
    req->log_url = xstrdup(url);
}

static void host_request_add_header(herald_request *req, const char *name, const char *value)
{
    strbuf line = STRBUF_INIT;
    sb_printf(&line, "%s: %s", name, value);
    /* A line break would let a value smuggle in headers of its own. */
    for (size_t i = 0; i < line.len; i++)
        if (line.data[i] == '\r' || line.data[i] == '\n')
            line.data[i] = ' ';
    req->headers = xrealloc(req->headers, (req->headers_len + 1) * sizeof *req->headers);
    req->headers[req->headers_len++] = sb_take(&line);
}

static void host_request_set_body(herald_request *req, const void *body, size_t len)
{
    sb_reset(&req->body);
    sb_append(&req->body, body, len);
}

static void replace(char **field, const char *value)
{
    free(*field);
    *field = value ? xstrdup(value) : NULL;
}

static void host_request_set_method(herald_request *req, const char *method)
{
    replace(&req->method, method);
}

static void host_request_set_auth(herald_request *req, const char *user, const char *password)
{
    replace(&req->user, user);
    replace(&req->password, password);
}

static void host_request_set_mail_from(herald_request *req, const char *address)
{
    replace(&req->mail_from, address);
}

static void host_request_add_mail_recipient(herald_request *req, const char *address)
{
    req->recipients = xrealloc(req->recipients, (req->recipients_len + 1) * sizeof *req->recipients);
    req->recipients[req->recipients_len++] = xstrdup(address);
}

static void host_request_set_tls(herald_request *req, herald_tls tls) { req->tls = tls; }

/* Copies url with the password of any user:password@ and every query and
 * fragment value replaced by "…", keeping the names so a log still shows
 * which parameters were sent. */
static char *redact_url(const char *url)
{
    static const char hidden[] = "…";
    strbuf out = STRBUF_INIT;
    const char *authority = strstr(url, "://");
    const char *rest = url;
    if (authority) {
        authority += 3;
        size_t authority_len = strcspn(authority, "/?#");
        const char *at = memchr(authority, '@', authority_len);
        const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
        if (colon) {
            sb_append(&out, url, (size_t)(colon + 1 - url));
            sb_puts(&out, hidden);
            rest = at;
        }
    }
    size_t path_len = strcspn(rest, "?#");
    sb_append(&out, rest, path_len);
    const char *p = rest + path_len;
    if (*p == '?') {
        sb_putc(&out, '?');
        p++;
        for (;;) {
            size_t param_len = strcspn(p, "&#");
            const char *equals = memchr(p, '=', param_len);
            const char *value = equals ? equals + 1 : p;
            sb_append(&out, p, (size_t)(value - p));
            if (value < p + param_len)
                sb_puts(&out, hidden);
            p += param_len;
            if (*p != '&')
                break;
            sb_putc(&out, '&');
            p++;
        }
    }
    if (*p == '#') {
        sb_putc(&out, '#');
        if (p[1])
            sb_puts(&out, hidden);
    }
    return sb_take(&out);
}

char *request_redacted_url(const herald_request *req)
{
    if (req->log_url)
        return xstrdup(req->log_url);
    return redact_url(req->url ? req->url : "");
}

void response_free(host_response *resp)
{
    free((char *)resp->pub.body);
    for (size_t i = 0; i < resp->headers_len; i++)
        free(resp->headers[i]);
    free(resp->headers);
    memset(resp, 0, sizeof *resp);
}

static const char *host_response_header(const herald_response *resp, const char *name)
{
    /* Every herald_response handed to a plugin is the head of a
     * host_response, so the header lines are right behind it. */
    const host_response *full = (const host_response *)resp;
    size_t name_len = strlen(name);
    for (size_t i = 0; i < full->headers_len; i++) {
        const char *line = full->headers[i];
        if (strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
            continue;
        const char *value = line + name_len + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        return value;
    }
    return NULL;
}

/* ---- verdicts ---------------------------------------------------------- */

/* A Retry-After beyond this is not believed; it is cut to it. */
#define RETRY_AFTER_MAX_SECONDS 86400

/* Copies len bytes, control characters as spaces: a reason is one log line. */
static void copy_one_line(char *out, const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
}

static void host_verdict(herald_verdict *out, herald_verdict_kind kind, long retry_after_ms,
                         const char *prefix, const char *text, size_t text_len)
{
    out->kind = kind;
    out->retry_after_ms = retry_after_ms;
    size_t room = sizeof out->reason - 1;
    size_t used = utf8_prefix(prefix, strlen(prefix), room);
    copy_one_line(out->reason, prefix, used);
    size_t take = utf8_prefix(text, text_len, room - used);
    copy_one_line(out->reason + used, text, take);
    out->reason[used + take] = '\0';
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7, the form senders must
 * use) to epoch ms, or -1. */
static int64_t parse_http_date(const char *text)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char month[4];
    struct tm tm = {0};
    if (sscanf(text, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &tm.tm_mday, month, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *found = strstr(months, month);
    if (!found || (found - months) % 3 != 0 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_mon = (int)(found - months) / 3;
    tm.tm_year -= 1900;
    return (int64_t)timegm(&tm) * 1000;
}

static long host_retry_after_ms(const herald_response *resp)
{
    const char *value = host_response_header(resp, "Retry-After");
    if (!value)
        return 0;
    char *end;
    long seconds = strtol(value, &end, 10);
    if (end != value) {
        while (*end == ' ')
            end++;
        if (*end || seconds < 0)
            return 0;
    } else {
        int64_t at = parse_http_date(value);
        if (at < 0)
            return 0;
        int64_t wait_ms = at - clock_ms();
        if (wait_ms <= 0)
            return 0;
        /* Whole seconds, rounded up: the date's own precision. */
        seconds = (long)((wait_ms + 999) / 1000);
    }
    if (seconds > RETRY_AFTER_MAX_SECONDS)
        seconds = RETRY_AFTER_MAX_SECONDS;
    return seconds * 1000;
}

static int host_classify_http(const herald_response *resp, size_t quote_bytes, herald_verdict *out)
{
    long status = resp->status;
    if (status >= 200 && status <= 299)
        return 0;
    int transient = status == 429 || (status >= 500 && status <= 599);
    const char *body = resp->body ? resp->body : "";
    size_t body_len = resp->body ? resp->body_len : 0;
    char head[32];
    snprintf(head, sizeof head, "HTTP %ld: ", status);
    host_verdict(out, transient ? HERALD_RETRY : HERALD_FAIL,
                 transient ? host_retry_after_ms(resp) : 0, head, body,
                 utf8_prefix(body, body_len, quote_bytes));
    return 1;
}

/* ---- the table --------------------------------------------------------- */

static const herald_host table = {
    .abi = HERALD_ABI_HEADER_INIT(herald_host),
    .log = log_msg,
    .now_ms = host_now_ms,
    .hmac_sha256 = hmac_sha256,
    .base64_encode = host_base64_encode,
    .url_encode = host_url_encode,
    .utf8_prefix = utf8_prefix,
    .buf_new = host_buf_new,
    .buf_free = host_buf_free,
    .buf_append = host_buf_append,
    .buf_printf = host_buf_printf,
    .buf_json_string = host_buf_json_string,
    .buf_data = host_buf_data,
    .buf_len = host_buf_len,
    .request_set_url = host_request_set_url,
    .request_set_log_url = host_request_set_log_url,
    .request_add_header = host_request_add_header,
    .request_set_body = host_request_set_body,
    .response_header = host_response_header,
    .json_lookup = json_lookup,
    .request_set_method = host_request_set_method,
    .request_set_auth = host_request_set_auth,
    .request_set_mail_from = host_request_set_mail_from,
    .request_add_mail_recipient = host_request_add_mail_recipient,
    .request_set_tls = host_request_set_tls,
    .text_prefix = host_text_prefix,
    .verdict = host_verdict,
    .retry_after_ms = host_retry_after_ms,
    .classify_http = host_classify_http,
};

const herald_host *host_table(void) { return &table; }
