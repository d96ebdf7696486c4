/* The email channel's two alternatives of one text: HTML from text or
 * markdown, plain text from HTML. */
#include "html_text.h"

#include <string.h>

/* The longest character reference worth keeping whole ("&#x10FFFF;"). */
#define ENTITY_MAX 10

static const char HTML_HEAD[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\"></head>\n"
    "<body style=\"font-family: sans-serif; font-size: 14px;\">\n";
static const char HTML_TAIL[] = "\n</body></html>\n";

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
size_t html_prefix(const herald_host *host, const char *html, size_t len, size_t max)
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

void html_alternative(const herald_host *host, herald_buf *out, const char *text, size_t len,
                      herald_format format)
{
    int document = format == HERALD_FORMAT_HTML && contains_nocase(text, len, "<html");
    if (!document)
        host->buf_append(out, HTML_HEAD, strlen(HTML_HEAD));
    if (format == HERALD_FORMAT_HTML)
        host->buf_append(out, text, len);
    else
        append_html_from_text(host, out, text, len, format == HERALD_FORMAT_MARKDOWN);
    if (!document)
        host->buf_append(out, HTML_TAIL, strlen(HTML_TAIL));
}

void plain_alternative(const herald_host *host, herald_buf *out, const char *text, size_t len,
                       herald_format format)
{
    if (format == HERALD_FORMAT_HTML)
        append_text_from_html(host, out, text, len);
    else
        host->buf_append(out, text, len);
}
