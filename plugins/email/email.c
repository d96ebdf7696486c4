/* The email channel: builds the SMTP envelope and an RFC 5322 message
 * (multipart/alternative, text/plain + text/html, UTF-8, base64) that the
 * core's dispatcher sends through libcurl. Wire facts: CHANNELS.md, Email. */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* Postfix's default message_size_limit is 10240000 bytes; staying under it
 * keeps the common relays happy. */
#define MAX_MESSAGE_BYTES 10000000
#define TRUNCATION_MARKER_TEXT "\n\n…（内容过长，已截断）"
#define TRUNCATION_MARKER_HTML "\n<p>…（内容过长，已截断）</p>\n"
/* RFC 5322 2.1.1 asks for lines within 78 characters; 76, the RFC 2047
 * limit for lines holding encoded words, suits both kinds of line. */
#define HEADER_FOLD_AT 76
/* RFC 2047 2: a line holding encoded words is at most 76 characters, an
 * encoded word at most 75. */
#define ENCODED_LINE_MAX 76
#define ENCODED_WORD_MAX 75
#define ENCODED_WORD_OVERHEAD 12 /* "=?UTF-8?B?" + "?=" */
/* RFC 2045 6.8: base64 lines carry at most 76 characters. */
#define BASE64_LINE 76
/* The longest character reference worth keeping whole ("&#x10FFFF;"). */
#define ENTITY_MAX 10
#define SUBJECT_FALLBACK "herald notification"
/* How much of curl's error text a verdict quotes. */
#define REPLY_QUOTE_BYTES 200

typedef struct address {
    char *display; /* NULL when the option gave a bare address */
    char *addr;    /* addr-spec, the envelope form */
} address;

typedef struct address_list {
    address *items;
    size_t len;
} address_list;

typedef struct mailer {
    const herald_host *host;
    char *url;
    address from;
    const char *from_domain; /* points into from.addr, for Message-ID */
    address_list to;
    address_list cc;
    char *username;
    char *password;
    herald_tls tls;
    char *subject_prefix;
} mailer;

enum {
    OPT_URL,
    OPT_FROM,
    OPT_TO,
    OPT_CC,
    OPT_USERNAME,
    OPT_PASSWORD,
    OPT_TLS,
    OPT_SUBJECT_PREFIX,
    OPT_COUNT
};

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

static void address_list_free(address_list *list)
{
    for (size_t i = 0; i < list->len; i++) {
        free(list->items[i].display);
        free(list->items[i].addr);
    }
    free(list->items);
}

static void mailer_destroy(void *instance)
{
    mailer *m = instance;
    if (!m)
        return;
    free(m->url);
    free(m->from.display);
    free(m->from.addr);
    address_list_free(&m->to);
    address_list_free(&m->cc);
    free(m->username);
    free(m->password);
    free(m->subject_prefix);
    free(m);
}

static const char *option_string(const herald_option_value *value)
{
    return value->present && value->string ? value->string : "";
}

static int has_control_char(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* smtp://host[:port][/path] or smtps://…; credentials belong in username
 * and password, where they are kept secret. */
static const char *check_url(const char *url)
{
    const char *rest;
    if (strncmp(url, "smtp://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "smtps://", 8) == 0)
        rest = url + 8;
    else
        return "url: must start with smtp:// (port 587, STARTTLS) or smtps:// (port 465)";
    size_t authority = strcspn(rest, "/?#");
    if (authority == 0 || rest[0] == ':')
        return "url: must name a host, e.g. smtp://mail.example.com:587";
    if (memchr(rest, '@', authority))
        return "url: must not carry credentials; use username and password";
    if (has_control_char(url) || strchr(url, ' '))
        return "url: must not contain spaces or control characters";
    return NULL;
}

/* Characters RFC 5321 allows unquoted in an address; anything else would
 * need quoting rules no alert address needs. */
static int is_addr_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("<>()[]\\,;:\"", c);
}

static int is_addr_spec(const char *addr, size_t len)
{
    const char *at = memchr(addr, '@', len);
    if (!at || at == addr || at == addr + len - 1 || memchr(at + 1, '@', len - (size_t)(at + 1 - addr)))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_addr_char((unsigned char)addr[i]))
            return 0;
    return 1;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* "alerts@example.com", "herald <alerts@example.com>" or
 * "\"Ops, Team\" <ops@example.com>". Returns 0, or -1 when the text is not
 * an address (the caller names the option). */
static int parse_address(const char *text, address *out)
{
    const char *start = text, *end = text + strlen(text);
    while (start < end && is_space(*start))
        start++;
    while (end > start && is_space(end[-1]))
        end--;
    const char *addr = start, *addr_end = end;
    const char *display = NULL, *display_end = NULL;
    if (end > start && end[-1] == '>') {
        const char *open = end - 1;
        while (open > start && *open != '<')
            open--;
        if (*open != '<')
            return -1;
        addr = open + 1;
        addr_end = end - 1;
        display = start;
        display_end = open;
        while (display_end > display && is_space(display_end[-1]))
            display_end--;
        if (display_end - display >= 2 && *display == '"' && display_end[-1] == '"') {
            display++;
            display_end--;
        }
    }
    if (!is_addr_spec(addr, (size_t)(addr_end - addr)))
        return -1;
    out->addr = copy_bytes(addr, (size_t)(addr_end - addr));
    out->display = NULL;
    if (display && display_end > display) {
        /* Unquote: "\"" and "\\" stand for themselves. */
        out->display = malloc((size_t)(display_end - display) + 1);
        if (out->display) {
            size_t n = 0;
            for (const char *p = display; p < display_end; p++) {
                if (*p == '\\' && p + 1 < display_end)
                    p++;
                out->display[n++] = *p;
            }
            out->display[n] = '\0';
        }
    }
    if (!out->addr || (display && display_end > display && !out->display)) {
        free(out->addr);
        free(out->display);
        return -1;
    }
    return 0;
}

static int parse_address_list(const herald_option_value *value, const char *name,
                              address_list *out, char *err, size_t err_cap)
{
    if (!value->present)
        return 0;
    out->items = calloc(value->list_len ? value->list_len : 1, sizeof *out->items);
    if (!out->items) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < value->list_len; i++) {
        const char *item = value->list[i];
        if (has_control_char(item) || parse_address(item, &out->items[i]) != 0) {
            snprintf(err, err_cap,
                     "%s: item %zu \"%.80s\" is not an e-mail address "
                     "(expected name@domain or Name <name@domain>)",
                     name, i + 1, has_control_char(item) ? "…" : item);
            return -1;
        }
        out->len++;
    }
    return 0;
}

static int parse_tls(const char *text, herald_tls *out)
{
    if (!*text || strcmp(text, "opportunistic") == 0)
        *out = HERALD_TLS_DEFAULT;
    else if (strcmp(text, "starttls") == 0)
        *out = HERALD_TLS_REQUIRED;
    else if (strcmp(text, "none") == 0)
        *out = HERALD_TLS_NONE;
    else
        return -1;
    return 0;
}

static const char *check_options(const herald_option_value *values, herald_tls *tls)
{
    const char *url = option_string(&values[OPT_URL]);
    const char *problem = check_url(url);
    if (problem)
        return problem;
    if (values[OPT_TO].present && values[OPT_TO].list_len == 0)
        return "to: must list at least one address";
    if (values[OPT_PASSWORD].present && !values[OPT_USERNAME].present)
        return "password: needs username as well";
    if (values[OPT_USERNAME].present && !values[OPT_PASSWORD].present)
        return "username: needs password as well";
    if (values[OPT_USERNAME].present && !*option_string(&values[OPT_USERNAME]))
        return "username: must not be empty";
    if (has_control_char(option_string(&values[OPT_USERNAME])))
        return "username: must not contain control characters";
    if (has_control_char(option_string(&values[OPT_PASSWORD])))
        return "password: must not contain control characters";
    if (parse_tls(option_string(&values[OPT_TLS]), tls) != 0)
        return "tls: must be \"starttls\" (required), \"opportunistic\" (the default) or \"none\"";
    if (*tls == HERALD_TLS_NONE && strncmp(url, "smtps://", 8) == 0)
        return "tls: \"none\" contradicts an smtps:// url, which is always TLS";
    /* With "opportunistic", a server that offers no STARTTLS (or a man in
     * the middle who strips it) would be sent the password in clear. */
    if (values[OPT_USERNAME].present && *tls == HERALD_TLS_DEFAULT) {
        if (values[OPT_TLS].present && *option_string(&values[OPT_TLS]))
            return "tls: \"opportunistic\" would send the password in clear to a server "
                   "without STARTTLS; use \"starttls\" (or \"none\" for a relay on this host)";
        *tls = HERALD_TLS_REQUIRED;
    }
    if (has_control_char(option_string(&values[OPT_SUBJECT_PREFIX])))
        return "subject_prefix: must be one line without control characters";
    return NULL;
}

static void *mailer_configure(const herald_host *host, const char *receiver,
                              const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    if (!HERALD_HAS_FIELD(herald_host, host, verdict)) {
        snprintf(err, err_cap,
                 "this herald is too old: its host table has no verdict (plugin ABI 1.6)");
        return NULL;
    }
    herald_tls tls = HERALD_TLS_DEFAULT;
    const char *problem = check_options(values, &tls);
    if (problem) {
        snprintf(err, err_cap, "%s", problem);
        return NULL;
    }
    mailer *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    m->host = host;
    m->tls = tls;
    const char *from = option_string(&values[OPT_FROM]);
    if (has_control_char(from) || parse_address(from, &m->from) != 0) {
        snprintf(err, err_cap,
                 "from: \"%.80s\" is not an e-mail address "
                 "(expected name@domain or Name <name@domain>)",
                 has_control_char(from) ? "…" : from);
        mailer_destroy(m);
        return NULL;
    }
    m->from_domain = strchr(m->from.addr, '@') + 1;
    if (parse_address_list(&values[OPT_TO], "to", &m->to, err, err_cap) != 0 ||
        parse_address_list(&values[OPT_CC], "cc", &m->cc, err, err_cap) != 0) {
        mailer_destroy(m);
        return NULL;
    }
    m->url = copy_string(option_string(&values[OPT_URL]));
    m->subject_prefix = copy_string(option_string(&values[OPT_SUBJECT_PREFIX]));
    if (values[OPT_USERNAME].present) {
        m->username = copy_string(option_string(&values[OPT_USERNAME]));
        m->password = copy_string(option_string(&values[OPT_PASSWORD]));
    }
    if (!m->url || !m->subject_prefix ||
        (values[OPT_USERNAME].present && (!m->username || !m->password))) {
        mailer_destroy(m);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return m;
}

/* ---- headers ----------------------------------------------------------- */

/* Builds one header field, folding between tokens so that lines stay short
 * (the unfolded value keeps a single space at each fold). */
typedef struct header_writer {
    const herald_host *host;
    herald_buf *buf;
    size_t line_len;
    int fresh; /* nothing after "Name:" yet: never fold there */
} header_writer;

static void header_start(header_writer *w, const char *name)
{
    w->host->buf_printf(w->buf, "%s:", name);
    w->line_len = strlen(name) + 1;
    w->fresh = 1;
}

/* Appends " token", on a new continuation line when the current one would
 * grow past `limit`. */
static void header_token(header_writer *w, const char *token, size_t len, size_t limit)
{
    if (!w->fresh && w->line_len + 1 + len > limit) {
        w->host->buf_append(w->buf, "\r\n", 2);
        w->line_len = 0;
    }
    w->host->buf_append(w->buf, " ", 1);
    w->host->buf_append(w->buf, token, len);
    w->line_len += 1 + len;
    w->fresh = 0;
}

static void header_end(header_writer *w) { w->host->buf_append(w->buf, "\r\n", 2); }

/* Writes `text` as RFC 2047 encoded words, cut at character boundaries.
 * Each word is sized to what is left of its line, so that no line holding
 * encoded words exceeds 76 characters. */
static void header_encoded_words(header_writer *w, const char *text, size_t len)
{
    const herald_host *host = w->host;
    size_t done = 0;
    while (done < len) {
        /* The widest word the current line still takes; a new line when that
         * cannot hold one 4-byte character (8 base64 characters). */
        size_t room = w->fresh || w->line_len + 1 < ENCODED_LINE_MAX
                          ? ENCODED_LINE_MAX - w->line_len - 1
                          : 0;
        if (room > ENCODED_WORD_MAX)
            room = ENCODED_WORD_MAX;
        if (room < ENCODED_WORD_OVERHEAD + 8 && !w->fresh) {
            host->buf_append(w->buf, "\r\n", 2);
            w->line_len = 0;
            room = ENCODED_WORD_MAX;
        }
        size_t raw_max = (room - ENCODED_WORD_OVERHEAD) / 4 * 3;
        size_t take = host->utf8_prefix(text + done, len - done, raw_max);
        if (take == 0) /* not UTF-8 at all: carry the byte rather than stall */
            take = 1;
        char word[ENCODED_WORD_MAX + 1];
        memcpy(word, "=?UTF-8?B?", 10);
        size_t b64 = host->base64_encode(text + done, take, word + 10, sizeof word - 10);
        memcpy(word + 10 + b64, "?=", 3);
        header_token(w, word, 10 + b64 + 2, SIZE_MAX);
        done += take;
    }
}

static int is_plain_ascii(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

/* Unstructured text (the subject): words as they are when they are plain
 * ASCII and short enough to fold between, else encoded words. "=?" would be
 * read as an encoded word, so it forces encoding too. */
static void header_text(header_writer *w, const char *text, size_t len)
{
    int encode = !is_plain_ascii(text, len);
    for (size_t i = 0; i + 1 < len && !encode; i++)
        if (text[i] == '=' && text[i + 1] == '?')
            encode = 1;
    size_t word_start = 0;
    for (size_t i = 0; i <= len && !encode; i++)
        if (i == len || text[i] == ' ') {
            if (i - word_start > HEADER_FOLD_AT - 10)
                encode = 1;
            word_start = i + 1;
        }
    if (encode) {
        header_encoded_words(w, text, len);
        return;
    }
    word_start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || text[i] == ' ') {
            header_token(w, text + word_start, i - word_start, HEADER_FOLD_AT);
            word_start = i + 1;
        }
}

/* atext of RFC 5322 3.2.3, the characters a display name may use unquoted. */
static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static void header_address(header_writer *w, const address *a, int comma)
{
    const herald_host *host = w->host;
    herald_buf *token = host->buf_new();
    if (a->display) {
        size_t len = strlen(a->display);
        if (!is_plain_ascii(a->display, len) || strstr(a->display, "=?")) {
            header_encoded_words(w, a->display, len);
        } else {
            int atoms = 1;
            for (size_t i = 0; i < len; i++)
                if (!is_atext((unsigned char)a->display[i]) && a->display[i] != ' ')
                    atoms = 0;
            if (atoms && len && a->display[0] != ' ' && a->display[len - 1] != ' ') {
                host->buf_append(token, a->display, len);
            } else {
                host->buf_append(token, "\"", 1);
                for (size_t i = 0; i < len; i++) {
                    if (a->display[i] == '"' || a->display[i] == '\\')
                        host->buf_append(token, "\\", 1);
                    host->buf_append(token, a->display + i, 1);
                }
                host->buf_append(token, "\"", 1);
            }
            header_token(w, host->buf_data(token), host->buf_len(token), HEADER_FOLD_AT);
            host->buf_free(token);
            token = host->buf_new();
        }
        host->buf_printf(token, "<%s>", a->addr);
    } else {
        host->buf_printf(token, "%s", a->addr);
    }
    if (comma)
        host->buf_append(token, ",", 1);
    header_token(w, host->buf_data(token), host->buf_len(token), HEADER_FOLD_AT);
    host->buf_free(token);
}

static void header_addresses(header_writer *w, const char *name, const address *list,
                             size_t len)
{
    header_start(w, name);
    for (size_t i = 0; i < len; i++)
        header_address(w, &list[i], i + 1 < len);
    header_end(w);
}

/* "Tue, 14 Nov 2023 22:13:20 +0000" (RFC 5322 3.3), in UTC and without
 * strftime, whose names follow the locale. */
static void append_date(const herald_host *host, herald_buf *buf, int64_t now_ms)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t seconds = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&seconds, &tm)) {
        seconds = 0;
        gmtime_r(&seconds, &tm);
    }
    host->buf_printf(buf, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                     tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
}

/* ---- bodies ------------------------------------------------------------ */

static void append_html_escaped(const herald_host *host, herald_buf *out, const char *text,
                                size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (text[i]) {
        case '&': host->buf_append(out, "&amp;", 5); break;
        case '<': host->buf_append(out, "&lt;", 4); break;
        case '>': host->buf_append(out, "&gt;", 4); break;
        case '"': host->buf_append(out, "&quot;", 6); break;
        case '\'': host->buf_append(out, "&#39;", 5); break;
        default: host->buf_append(out, text + i, 1);
        }
    }
}

static const char *find_in_line(const char *from, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = from; p + n <= end && *p != '\n'; p++)
        if (memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static int is_link_target(const char *url, size_t len)
{
    return (len > 7 && strncmp(url, "http://", 7) == 0) ||
           (len > 8 && strncmp(url, "https://", 8) == 0) ||
           (len > 7 && strncmp(url, "mailto:", 7) == 0);
}

/* Text or markdown to the HTML alternative: escaped, line breaks kept, and
 * for markdown the constructs alert templates use (bold, links, inline
 * code, headings, backslash escapes) turned into tags. Anything else shows
 * as written, which is how the plain part shows it too. */
static void append_html_from_text(const herald_host *host, herald_buf *out, const char *text,
                                  size_t len, int markdown)
{
    const char *p = text, *end = text + len;
    int bold = 0, heading = 0, line_start = 1;
    while (p < end) {
        if (markdown && line_start && *p == '#') {
            const char *q = p;
            while (q < end && *q == '#' && q - p < 6)
                q++;
            if (q < end && *q == ' ') {
                host->buf_printf(out, "<b>");
                heading = 1;
                p = q + 1;
                line_start = 0;
                continue;
            }
        }
        line_start = 0;
        if (*p == '\n') {
            if (heading)
                host->buf_printf(out, "</b>");
            if (bold)
                host->buf_printf(out, "</b>");
            heading = bold = 0;
            host->buf_printf(out, "<br>\n");
            line_start = 1;
            p++;
        } else if (!markdown || *p == '\r') {
            append_html_escaped(host, out, p, 1);
            p++;
        } else if (*p == '\\' && p + 1 < end && p[1] && strchr("\\`*_[]<>#+-=.)!{}()|", p[1])) {
            append_html_escaped(host, out, p + 1, 1);
            p += 2;
        } else if (p + 1 < end && p[0] == '*' && p[1] == '*' &&
                   (bold || find_in_line(p + 2, end, "**"))) {
            host->buf_printf(out, bold ? "</b>" : "<b>");
            bold = !bold;
            p += 2;
        } else if (*p == '`' && find_in_line(p + 1, end, "`")) {
            const char *close = find_in_line(p + 1, end, "`");
            host->buf_printf(out, "<code>");
            append_html_escaped(host, out, p + 1, (size_t)(close - p - 1));
            host->buf_printf(out, "</code>");
            p = close + 1;
        } else if (*p == '[') {
            const char *mid = find_in_line(p + 1, end, "](");
            const char *close = mid ? find_in_line(mid + 2, end, ")") : NULL;
            if (close && is_link_target(mid + 2, (size_t)(close - mid - 2))) {
                host->buf_printf(out, "<a href=\"");
                append_html_escaped(host, out, mid + 2, (size_t)(close - mid - 2));
                host->buf_printf(out, "\">");
                append_html_escaped(host, out, p + 1, (size_t)(mid - p - 1));
                host->buf_printf(out, "</a>");
                p = close + 1;
            } else {
                append_html_escaped(host, out, p, 1);
                p++;
            }
        } else {
            append_html_escaped(host, out, p, 1);
            p++;
        }
    }
    if (heading)
        host->buf_printf(out, "</b>");
    if (bold)
        host->buf_printf(out, "</b>");
}

static const char HTML_HEAD[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\"></head>\n"
    "<body style=\"font-family: sans-serif; font-size: 14px;\">\n";
static const char HTML_TAIL[] = "\n</body></html>\n";

static int starts_with_nocase(const char *text, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[i])
            return 0;
    }
    return 1;
}

static int contains_nocase(const char *text, size_t len, const char *needle)
{
    for (size_t i = 0; i < len; i++)
        if (starts_with_nocase(text + i, len - i, needle))
            return 1;
    return 0;
}

static void append_utf8(const herald_host *host, herald_buf *out, unsigned long cp)
{
    char bytes[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        bytes[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        bytes[0] = (char)(0xC0 | (cp >> 6));
        bytes[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        bytes[0] = (char)(0xE0 | (cp >> 12));
        bytes[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bytes[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | (cp >> 18));
        bytes[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        bytes[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bytes[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    host->buf_append(out, bytes, n);
}

/* Decodes the character reference at p (just after '&'); returns how many
 * bytes it used, or 0 when it is none we know (the '&' then stays). */
static size_t append_entity(const herald_host *host, herald_buf *out, const char *p,
                            const char *end)
{
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"amp;", "&"},  {"lt;", "<"},     {"gt;", ">"},
                 {"quot;", "\""}, {"apos;", "'"},   {"nbsp;", " "}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (starts_with_nocase(p, (size_t)(end - p), named[i].name)) {
            host->buf_printf(out, "%s", named[i].text);
            return strlen(named[i].name);
        }
    if (p < end && *p == '#') {
        const char *q = p + 1;
        int hex = q < end && (*q == 'x' || *q == 'X');
        if (hex)
            q++;
        unsigned long cp = 0;
        const char *digits = q;
        while (q < end && q - digits < 8) {
            char c = *q;
            int v = c >= '0' && c <= '9'               ? c - '0'
                    : hex && c >= 'a' && c <= 'f'      ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F'      ? c - 'A' + 10
                                                       : -1;
            if (v < 0)
                break;
            cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            q++;
        }
        if (q > digits && q < end && *q == ';') {
            append_utf8(host, out, cp);
            return (size_t)(q + 1 - p);
        }
    }
    return 0;
}

/* The value of attribute `name` inside a tag's text, or NULL. */
static const char *tag_attribute(const char *tag, size_t len, const char *name,
                                 size_t *value_len)
{
    size_t n = strlen(name);
    for (size_t i = 1; i + n + 1 < len; i++) {
        if ((tag[i - 1] == ' ' || tag[i - 1] == '\t' || tag[i - 1] == '\n') &&
            starts_with_nocase(tag + i, len - i, name) && tag[i + n] == '=') {
            const char *v = tag + i + n + 1;
            const char *end = tag + len;
            char quote = v < end && (*v == '"' || *v == '\'') ? *v : 0;
            if (quote)
                v++;
            const char *stop = v;
            while (stop < end && (quote ? *stop != quote : *stop != ' ' && *stop != '>'))
                stop++;
            *value_len = (size_t)(stop - v);
            return v;
        }
    }
    return NULL;
}

/* Block tags: the text after them starts on a new line. */
static int is_block_tag(const char *name, size_t len)
{
    static const char *const tags[] = {"p", "/p", "div", "/div", "tr", "/tr", "li", "/li",
                                       "h1", "h2", "h3", "h4", "h5", "h6", "/h1", "/h2",
                                       "/h3", "/h4", "/h5", "/h6", "hr", "table", "/table",
                                       "ul", "/ul", "ol", "/ol", "blockquote", "/blockquote",
                                       "pre", "/pre"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (strlen(tags[i]) == len && starts_with_nocase(name, len, tags[i]))
            return 1;
    return 0;
}

/* Tidies the stripped text: no blanks at line ends or starts, at most one
 * empty line in a row, none at the start or end. */
static void append_tidy_lines(const herald_host *host, herald_buf *out, const char *text,
                              size_t len)
{
    int pending_newlines = 0, any = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *a = p, *b = line_end;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (a < b) {
            if (any)
                host->buf_append(out, "\n\n", pending_newlines > 1 ? 2 : 1);
            host->buf_append(out, a, (size_t)(b - a));
            any = 1;
            pending_newlines = 0;
        }
        pending_newlines++;
        p = eol ? eol + 1 : end;
    }
}

/* HTML to the plain-text alternative: tags dropped (head, style and script
 * with their content), block tags and <br> as line breaks, table cells separated by
 * tabs, links followed by their target, character references decoded. */
static void append_text_from_html(const herald_host *host, herald_buf *out, const char *html,
                                  size_t len)
{
    herald_buf *raw = host->buf_new();
    const char *p = html, *end = html + len;
    const char *skip_until = NULL; /* closing tag of a skipped element */
    const char *href = NULL;
    size_t href_len = 0;
    size_t link_text_start = 0;
    int space_pending = 0;
    while (p < end) {
        if (*p == '<') {
            const char *close = memchr(p, '>', (size_t)(end - p));
            if (!close)
                break; /* a cut-off tag: drop it */
            const char *name = p + 1;
            size_t name_len = strcspn(name, " \t\r\n/>");
            if (name_len == 0 && *name == '/')
                name_len = 1 + strcspn(name + 1, " \t\r\n>");
            if (skip_until) {
                if (name[0] == '/' && starts_with_nocase(name + 1, (size_t)(close - name - 1),
                                                         skip_until))
                    skip_until = NULL;
            } else if (starts_with_nocase(name, name_len, "head") && name_len == 4) {
                skip_until = "head";
            } else if (starts_with_nocase(name, name_len, "style") && name_len == 5) {
                skip_until = "style";
            } else if (starts_with_nocase(name, name_len, "script") && name_len == 6) {
                skip_until = "script";
            } else if (name_len == 2 && starts_with_nocase(name, 2, "br")) {
                host->buf_append(raw, "\n", 1);
                space_pending = 0;
            } else if (is_block_tag(name, name_len)) {
                /* Adjacent blocks share one break; only <br> adds more. */
                if (host->buf_len(raw) && host->buf_data(raw)[host->buf_len(raw) - 1] != '\n')
                    host->buf_append(raw, "\n", 1);
                space_pending = 0;
            } else if ((name_len == 2 && (starts_with_nocase(name, 2, "td") ||
                                          starts_with_nocase(name, 2, "th")))) {
                if (host->buf_len(raw) && host->buf_data(raw)[host->buf_len(raw) - 1] != '\n')
                    host->buf_append(raw, "\t", 1);
                space_pending = 0;
            } else if (name_len == 1 && (name[0] == 'a' || name[0] == 'A')) {
                href = tag_attribute(p, (size_t)(close - p), "href", &href_len);
                link_text_start = host->buf_len(raw);
            } else if (name_len == 2 && name[0] == '/' && (name[1] == 'a' || name[1] == 'A') &&
                       href) {
                const char *link_text = host->buf_data(raw) + link_text_start;
                size_t link_text_len = host->buf_len(raw) - link_text_start;
                if (href_len && !(link_text_len == href_len &&
                                  memcmp(link_text, href, href_len) == 0)) {
                    host->buf_append(raw, " (", 2);
                    const char *h = href, *h_end = href + href_len;
                    while (h < h_end) {
                        size_t used = *h == '&' ? append_entity(host, raw, h + 1, h_end) : 0;
                        if (used)
                            h += 1 + used;
                        else
                            host->buf_append(raw, h++, 1);
                    }
                    host->buf_append(raw, ")", 1);
                }
                href = NULL;
            }
            p = close + 1;
            continue;
        }
        if (skip_until) {
            p++;
            continue;
        }
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            space_pending = 1;
            p++;
            continue;
        }
        if (space_pending && host->buf_len(raw)) {
            char last = host->buf_data(raw)[host->buf_len(raw) - 1];
            if (last != '\n' && last != '\t')
                host->buf_append(raw, " ", 1);
        }
        space_pending = 0;
        size_t used = *p == '&' ? append_entity(host, raw, p + 1, end) : 0;
        if (used) {
            p += 1 + used;
        } else {
            host->buf_append(raw, p, 1);
            p++;
        }
    }
    append_tidy_lines(host, out, host->buf_data(raw), host->buf_len(raw));
    host->buf_free(raw);
}

/* A text cut for HTML: also never inside a tag or a character reference,
 * where the marker would become part of the markup. */
static size_t html_prefix(const herald_host *host, const char *html, size_t len, size_t max)
{
    size_t cut = host->utf8_prefix(html, len, max);
    for (size_t i = cut; i > 0 && html[i - 1] != '>'; i--)
        if (html[i - 1] == '<')
            return i - 1;
    /* Character references are short: "&" further back was plain text. */
    for (size_t i = cut; i > 0 && cut - i < ENTITY_MAX && html[i - 1] != ';'; i--)
        if (html[i - 1] == '&')
            return i - 1;
    return cut;
}

/* Text in canonical form (RFC 2045 6.8): every line break CRLF before it is
 * base64-encoded. */
static herald_buf *canonical_lines(const herald_host *host, const char *text, size_t len)
{
    herald_buf *out = host->buf_new();
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            host->buf_append(out, "\r", 1);
        host->buf_append(out, text + i, 1);
    }
    return out;
}

static void append_base64_lines(const herald_host *host, herald_buf *out, const char *data,
                                size_t len)
{
    /* 57 input bytes make exactly one 76-character line. */
    const size_t chunk = BASE64_LINE / 4 * 3;
    char line[BASE64_LINE + 1];
    for (size_t done = 0; done < len; done += chunk) {
        size_t take = len - done < chunk ? len - done : chunk;
        size_t n = host->base64_encode(data + done, take, line, sizeof line);
        host->buf_append(out, line, n);
        host->buf_append(out, "\r\n", 2);
    }
}

static void append_part(const herald_host *host, herald_buf *out, const char *boundary,
                        const char *subtype, const char *data, size_t len)
{
    host->buf_printf(out,
                     "--%s\r\nContent-Type: text/%s; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n",
                     boundary, subtype);
    herald_buf *canonical = canonical_lines(host, data, len);
    append_base64_lines(host, out, host->buf_data(canonical), host->buf_len(canonical));
    host->buf_free(canonical);
}

/* ---- the message ------------------------------------------------------- */

typedef struct content {
    int64_t now_ms; /* read once, so every trial serialization has one size */
    const char *text;
    size_t text_len; /* how much of the text is kept */
    int truncated;
} content;

static void to_hex(const unsigned char *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

/* A digest of the message and the time: distinct messages get distinct
 * Message-IDs and boundaries, and the same input gives the same bytes,
 * which keeps prepare free of global state and testable. */
static void message_digest(const mailer *m, const herald_message *msg, int64_t now_ms,
                           unsigned char digest[32])
{
    const herald_host *host = m->host;
    herald_buf *data = host->buf_new();
    host->buf_printf(data, "%lld\n%s\n%s\n%s\n", (long long)now_ms,
                     msg->receiver ? msg->receiver : "", msg->status ? msg->status : "",
                     msg->title ? msg->title : "");
    host->buf_append(data, msg->text, strlen(msg->text));
    static const char key[] = "herald message id";
    host->hmac_sha256(key, sizeof key - 1, host->buf_data(data), host->buf_len(data), digest);
    host->buf_free(data);
}

/* The subject: prefix and title with every run of whitespace (line breaks
 * included) made one space. */
static herald_buf *subject_of(const mailer *m, const herald_message *msg)
{
    const herald_host *host = m->host;
    herald_buf *joined = host->buf_new();
    host->buf_printf(joined, "%s%s", m->subject_prefix,
                     msg->title && *msg->title ? msg->title : SUBJECT_FALLBACK);
    herald_buf *subject = host->buf_new();
    const char *s = host->buf_data(joined);
    int space = 0;
    for (; *s; s++) {
        if (*s == ' ' || (unsigned char)*s < 0x20 || *s == 0x7f) {
            space = 1;
            continue;
        }
        if (space && host->buf_len(subject))
            host->buf_append(subject, " ", 1);
        space = 0;
        host->buf_append(subject, s, 1);
    }
    host->buf_free(joined);
    return subject;
}

static void append_headers(const mailer *m, const herald_message *msg, herald_buf *out,
                           int64_t now_ms, const char *digest_hex, const char *boundary)
{
    const herald_host *host = m->host;
    header_writer w = {host, out, 0, 1};
    append_date(host, out, now_ms);
    header_addresses(&w, "From", &m->from, 1);
    header_addresses(&w, "To", m->to.items, m->to.len);
    if (m->cc.len)
        header_addresses(&w, "Cc", m->cc.items, m->cc.len);
    herald_buf *subject = subject_of(m, msg);
    header_start(&w, "Subject");
    header_text(&w, host->buf_data(subject), host->buf_len(subject));
    header_end(&w);
    host->buf_free(subject);
    host->buf_printf(out, "Message-ID: <%lld.%.32s@%s>\r\n", (long long)now_ms, digest_hex,
                     m->from_domain);
    /* RFC 3834: vacation responders must not answer alert mail. */
    host->buf_printf(out, "Auto-Submitted: auto-generated\r\n");
    host->buf_printf(out,
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
                     boundary);
}

static herald_buf *serialize(const mailer *m, const herald_message *msg, const content *c)
{
    const herald_host *host = m->host;
    int64_t now_ms = c->now_ms;
    unsigned char digest[32];
    message_digest(m, msg, now_ms, digest);
    char digest_hex[65];
    to_hex(digest, sizeof digest, digest_hex);
    /* "=_" never occurs in base64 text, so the boundary cannot either. */
    char boundary[48];
    snprintf(boundary, sizeof boundary, "=_herald_%.24s", digest_hex + 32);

    herald_buf *text = host->buf_new();
    host->buf_append(text, c->text, c->text_len);
    if (c->truncated) {
        const char *marker =
            msg->format == HERALD_FORMAT_HTML ? TRUNCATION_MARKER_HTML : TRUNCATION_MARKER_TEXT;
        host->buf_append(text, marker, strlen(marker));
    }
    herald_buf *plain = host->buf_new();
    herald_buf *html = host->buf_new();
    if (msg->format == HERALD_FORMAT_HTML) {
        append_text_from_html(host, plain, host->buf_data(text), host->buf_len(text));
        int document = contains_nocase(host->buf_data(text), host->buf_len(text), "<html");
        if (!document)
            host->buf_append(html, HTML_HEAD, strlen(HTML_HEAD));
        host->buf_append(html, host->buf_data(text), host->buf_len(text));
        if (!document)
            host->buf_append(html, HTML_TAIL, strlen(HTML_TAIL));
    } else {
        host->buf_append(plain, host->buf_data(text), host->buf_len(text));
        host->buf_append(html, HTML_HEAD, strlen(HTML_HEAD));
        append_html_from_text(host, html, host->buf_data(text), host->buf_len(text),
                              msg->format == HERALD_FORMAT_MARKDOWN);
        host->buf_append(html, HTML_TAIL, strlen(HTML_TAIL));
    }

    herald_buf *out = host->buf_new();
    append_headers(m, msg, out, now_ms, digest_hex, boundary);
    append_part(host, out, boundary, "plain", host->buf_data(plain), host->buf_len(plain));
    append_part(host, out, boundary, "html", host->buf_data(html), host->buf_len(html));
    host->buf_printf(out, "--%s--\r\n", boundary);
    host->buf_free(text);
    host->buf_free(plain);
    host->buf_free(html);
    return out;
}

static size_t cut_text(const mailer *m, const herald_message *msg, size_t max)
{
    size_t len = strlen(msg->text);
    return msg->format == HERALD_FORMAT_HTML ? html_prefix(m->host, msg->text, len, max)
                                             : m->host->text_prefix(msg->text, len, max);
}

static size_t message_size(const mailer *m, const herald_message *msg, const content *c)
{
    herald_buf *body = serialize(m, msg, c);
    size_t size = m->host->buf_len(body);
    m->host->buf_free(body);
    return size;
}

/* The search for the longest cut that fits: `fitting` always fits,
 * `too_long` never does; sizes are those of the message at each. */
typedef struct bracket {
    size_t fitting, fitting_size;
    size_t too_long, too_long_size;
} bracket;

static void probe(const mailer *m, const herald_message *msg, content *c, bracket *b,
                  size_t at)
{
    if (at <= b->fitting || at >= b->too_long)
        return;
    c->text_len = cut_text(m, msg, at);
    size_t size = message_size(m, msg, c);
    if (size <= MAX_MESSAGE_BYTES) {
        b->fitting = at;
        b->fitting_size = size;
    } else {
        b->too_long = at;
        b->too_long_size = size;
    }
}

/* The whole message at most MAX_MESSAGE_BYTES, cutting the text as little
 * as needed; measured on real serializations, since both alternatives and
 * their base64 grow with the text. Each trial serializes megabytes, so the
 * search interpolates (the size grows almost linearly with the cut) and
 * probes both sides of the estimate, falling back to halving when that
 * does not narrow the bracket enough. */
static herald_buf *build_message(const mailer *m, const herald_message *msg, char *err,
                                 size_t err_cap)
{
    const herald_host *host = m->host;
    size_t text_len = strlen(msg->text);
    content c = {host->now_ms(), msg->text, text_len, 0};
    herald_buf *body = serialize(m, msg, &c);
    if (host->buf_len(body) <= MAX_MESSAGE_BYTES)
        return body;
    bracket b = {0, 0, text_len, host->buf_len(body)};
    host->buf_free(body);
    c.truncated = 1;
    c.text_len = 0;
    b.fitting_size = message_size(m, msg, &c);
    if (b.fitting_size > MAX_MESSAGE_BYTES) {
        snprintf(err, err_cap, "message does not fit in %d bytes even with its text cut to nothing",
                 MAX_MESSAGE_BYTES);
        return NULL;
    }
    while (b.too_long - b.fitting > 1) {
        size_t span = b.too_long - b.fitting;
        double share = (double)(MAX_MESSAGE_BYTES - b.fitting_size) /
                       (double)(b.too_long_size - b.fitting_size);
        size_t estimate = b.fitting + (size_t)(share * (double)span);
        size_t margin = span / 64 + 1;
        probe(m, msg, &c, &b, estimate);
        if (b.fitting == estimate)
            probe(m, msg, &c, &b, estimate + margin);
        else
            probe(m, msg, &c, &b, estimate > margin ? estimate - margin : 0);
        if (b.too_long - b.fitting > span / 2)
            probe(m, msg, &c, &b, b.fitting + (b.too_long - b.fitting) / 2);
    }
    c.text_len = cut_text(m, msg, b.fitting);
    return serialize(m, msg, &c);
}

static int mailer_prepare(void *instance, const herald_message *msg, herald_request *req,
                          char *err, size_t err_cap)
{
    const mailer *m = instance;
    const herald_host *host = m->host;
    if (!msg->text) {
        snprintf(err, err_cap, "message has no text");
        return -1;
    }
    if (msg->format != HERALD_FORMAT_TEXT && msg->format != HERALD_FORMAT_MARKDOWN &&
        msg->format != HERALD_FORMAT_HTML) {
        snprintf(err, err_cap, "email takes text, markdown or html messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    herald_buf *message = build_message(m, msg, err, err_cap);
    if (!message)
        return -1;
    host->request_set_url(req, m->url);
    host->request_set_log_url(req, m->url);
    host->request_set_tls(req, m->tls);
    host->request_set_mail_from(req, m->from.addr);
    for (size_t i = 0; i < m->to.len; i++)
        host->request_add_mail_recipient(req, m->to.items[i].addr);
    for (size_t i = 0; i < m->cc.len; i++)
        host->request_add_mail_recipient(req, m->cc.items[i].addr);
    if (m->username)
        host->request_set_auth(req, m->username, m->password);
    host->request_set_body(req, host->buf_data(message), host->buf_len(message));
    host->buf_free(message);
    return 0;
}

/* ---- verdicts ---------------------------------------------------------- */

/* SMTP reply classes (RFC 5321 4.2.1): 2xx done, 4xx transient (greylisting,
 * a full mailbox, 421 closing), 5xx permanent (unknown user, 530/535 auth,
 * 552 too big). The core reaches classify for refusals with curl's error
 * text as the body ("RCPT failed: 550"), or the server's reply line when it
 * has one, and for completed sends with the last reply code. */
static void mailer_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const mailer *m = instance;
    const char *text = resp->body ? resp->body : "";
    size_t text_len = resp->body_len;
    /* A server reply line ("550 5.1.1 no such user") repeats the code the
     * reason starts with anyway. */
    char code[8];
    int code_len = snprintf(code, sizeof code, "%ld", resp->status);
    if (code_len == 3 && text_len > 4 && memcmp(text, code, 3) == 0 &&
        (text[3] == ' ' || text[3] == '-')) {
        text += 4;
        text_len -= 4;
    }
    size_t quote = m->host->utf8_prefix(text, text_len,
                                        text_len < REPLY_QUOTE_BYTES ? text_len : REPLY_QUOTE_BYTES);
    herald_verdict_kind kind = HERALD_OK;
    if (resp->status >= 400 && resp->status <= 499)
        kind = HERALD_RETRY;
    else if (resp->status >= 500)
        kind = HERALD_FAIL;
    char head[32];
    snprintf(head, sizeof head, "SMTP %ld%s", resp->status, quote ? ": " : "");
    m->host->verdict(out, kind, 0, head, text, quote);
}

/* ---- descriptor -------------------------------------------------------- */

static const herald_option_spec options[OPT_COUNT] = {
    [OPT_URL] = {"url", HERALD_OPTION_STRING, 1, 0,
                 "mail server, smtp://host:587 (STARTTLS) or smtps://host:465"},
    [OPT_FROM] = {"from", HERALD_OPTION_STRING, 1, 0,
                  "sender, \"herald <alerts@example.com>\" or a bare address"},
    [OPT_TO] = {"to", HERALD_OPTION_STRING_LIST, 1, 0, "recipients"},
    [OPT_CC] = {"cc", HERALD_OPTION_STRING_LIST, 0, 0, "copy recipients"},
    [OPT_USERNAME] = {"username", HERALD_OPTION_STRING, 0, 0, "SMTP AUTH user"},
    [OPT_PASSWORD] = {"password", HERALD_OPTION_STRING, 0, 1, "SMTP AUTH password"},
    [OPT_TLS] = {"tls", HERALD_OPTION_STRING, 0, 0,
                 "\"opportunistic\" (default: STARTTLS when offered), \"starttls\" "
                 "(required) or \"none\""},
    [OPT_SUBJECT_PREFIX] = {"subject_prefix", HERALD_OPTION_STRING, 0, 0,
                            "text put before every subject, e.g. \"[prod] \""},
};

static const herald_channel email_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "email",
    .description = "e-mail through an SMTP server (HTML with a plain-text alternative)",
    .max_body_bytes = MAX_MESSAGE_BYTES,
    .rate_per_minute = 0,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_HTML,
    .default_template = "email",
    .options = options,
    .options_len = OPT_COUNT,
    .configure = mailer_configure,
    .prepare = mailer_prepare,
    .classify = mailer_classify,
    .destroy = mailer_destroy,
};

static const herald_channel *const channels[] = {&email_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "email",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
