/* Markdown to Telegram's HTML subset, for the telegram channel. Every tag
 * written here is closed on the same line (spans) or at the end (pre,
 * blockquote), so any prefix of the markdown converts to balanced HTML. */
#include "markdown_html.h"

#include <string.h>

#include "markdown_inline.h"

static const char *const span_open[] = {"<b>", "<i>", "<s>"};
static const char *const span_close[] = {"</b>", "</i>", "</s>"};

/* One line of markdown inline syntax. Spans still open at the end of the
 * line are closed there. In a heading, already bold, ** is dropped. */
static void convert_inline(const herald_host *host, herald_buf *out, const char *line,
                           size_t len, int in_heading)
{
    md_spans spans = {.depth = 0};
    for (size_t i = 0; i < len;) {
        md_span tok;
        size_t label, label_len, url, url_len, link_len;
        if (line[i] == '\\' && i + 1 < len && md_is_punct(line[i + 1])) {
            md_append_entities(host, out, line + i + 1, 1, 1);
            i += 2;
        } else if (line[i] == '`' && memchr(line + i + 1, '`', len - i - 1)) {
            size_t end = (size_t)((const char *)memchr(line + i + 1, '`', len - i - 1) - line);
            host->buf_printf(out, "<code>");
            md_append_entities(host, out, line + i + 1, end - i - 1, 1);
            host->buf_printf(out, "</code>");
            i = end + 1;
        } else if ((link_len = md_link_at(line, len, i, &label, &label_len, &url, &url_len))) {
            host->buf_printf(out, "<a href=\"");
            md_append_entities(host, out, line + url, url_len, 1);
            host->buf_printf(out, "\">");
            if (label_len)
                md_append_unescaped(host, out, line + label, label_len, 1);
            else
                md_append_entities(host, out, line + url, url_len, 1);
            host->buf_printf(out, "</a>");
            i += link_len;
        } else if (md_span_at(line, len, i, &tok)) {
            md_span_write(host, out, &spans, line, len, i, &tok, in_heading, span_open, span_close);
            i += tok.len;
        } else {
            md_append_entities(host, out, line + i, 1, 1);
            i++;
        }
    }
    while (spans.depth)
        host->buf_printf(out, "%s", span_close[spans.open[--spans.depth]]);
}

static void convert_line(const herald_host *host, herald_buf *out, const char *line, size_t len)
{
    size_t indent = md_skip_spaces(line, len, 0);
    size_t heading = md_heading_text(line, len);
    if (heading) {
        host->buf_printf(out, "<b>");
        convert_inline(host, out, line + heading, len - heading, 1);
        host->buf_printf(out, "</b>");
    } else if (md_is_rule(line, len)) {
        host->buf_printf(out, "──────────");
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

static int is_quote(const char *line, size_t len)
{
    size_t indent = md_skip_spaces(line, len, 0);
    return indent < len && line[indent] == '>';
}

static int is_fence(const char *line, size_t len)
{
    size_t indent = md_skip_spaces(line, len, 0);
    return len - indent >= 3 && memcmp(line + indent, "```", 3) == 0;
}

/* Markdown to Telegram HTML, line by line: fenced code becomes <pre>
 * (language tag dropped), runs of > lines one <blockquote>. Block tags are
 * placed so that no newline hangs just inside them. */
void convert_markdown(const herald_host *host, herald_buf *out, const char *text, size_t len)
{
    int in_fence = 0, in_quote = 0, first = 1, fresh_fence = 0;
    for (size_t start = 0; start <= len;) {
        const char *newline = memchr(text + start, '\n', len - start);
        size_t end = newline ? (size_t)(newline - text) : len;
        const char *line = text + start;
        size_t line_len = end - start;
        if (is_fence(line, line_len)) {
            if (in_fence) {
                host->buf_printf(out, "</pre>");
            } else {
                if (in_quote)
                    host->buf_printf(out, "</blockquote>");
                in_quote = 0;
                if (!first)
                    host->buf_append(out, "\n", 1);
                host->buf_printf(out, "<pre>");
                fresh_fence = 1;
            }
            in_fence = !in_fence;
        } else if (in_fence) {
            if (!fresh_fence)
                host->buf_append(out, "\n", 1);
            fresh_fence = 0;
            md_append_entities(host, out, line, line_len, 1);
        } else {
            int quote = is_quote(line, line_len);
            if (in_quote && !quote)
                host->buf_printf(out, "</blockquote>");
            if (!first)
                host->buf_append(out, "\n", 1);
            if (quote) {
                if (!in_quote)
                    host->buf_printf(out, "<blockquote>");
                size_t from = md_skip_spaces(line, line_len, md_skip_spaces(line, line_len, 0) + 1);
                convert_inline(host, out, line + from, line_len - from, 0);
            } else {
                convert_line(host, out, line, line_len);
            }
            in_quote = quote;
        }
        first = 0;
        if (!newline)
            break;
        start = end + 1;
    }
    if (in_fence)
        host->buf_printf(out, "</pre>");
    if (in_quote)
        host->buf_printf(out, "</blockquote>");
}
