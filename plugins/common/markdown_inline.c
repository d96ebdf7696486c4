/* Markdown inline syntax, read the same way by every channel that
 * translates it (slack to mrkdwn, telegram to HTML). */
#include "markdown_inline.h"

#include <string.h>

/* A single * is italic only when it touches a word on the right (checked
 * by md_closes_later), so "5 * 3" stays arithmetic. */
int md_span_at(const char *line, size_t len, size_t i, md_span *tok)
{
    if (i + 1 < len && ((line[i] == '*' && line[i + 1] == '*') ||
                        (line[i] == '_' && line[i + 1] == '_'))) {
        *tok = (md_span){MD_SPAN_BOLD, 2};
        return 1;
    }
    if (i + 1 < len && line[i] == '~' && line[i + 1] == '~') {
        *tok = (md_span){MD_SPAN_STRIKE, 2};
        return 1;
    }
    if (line[i] == '*') {
        *tok = (md_span){MD_SPAN_ITALIC, 1};
        return 1;
    }
    return 0;
}

int md_closes_later(const char *line, size_t len, size_t from, const md_span *open)
{
    for (size_t i = from; i < len; i++) {
        md_span tok;
        if (line[i] == '\\') {
            i++;
        } else if (line[i] == '`') {
            const char *close = memchr(line + i + 1, '`', len - i - 1);
            if (!close)
                return 0;
            i = (size_t)(close - line);
        } else if (md_span_at(line, len, i, &tok)) {
            if (tok.kind == open->kind && tok.len == open->len && i > from &&
                line[i - 1] != ' ')
                return 1;
            i += tok.len - 1;
        }
    }
    return 0;
}

void md_span_write(const herald_host *host, herald_buf *out, md_spans *spans, const char *line,
                   size_t len, size_t i, const md_span *tok, int in_heading,
                   const char *const open_marks[], const char *const close_marks[])
{
    if (tok->kind == MD_SPAN_BOLD && in_heading)
        return;
    if (spans->depth && spans->open[spans->depth - 1] == tok->kind) {
        host->buf_printf(out, "%s", close_marks[tok->kind]);
        spans->depth--;
    } else if (spans->depth < MD_MAX_SPANS && i + tok->len < len && line[i + tok->len] != ' ' &&
               md_closes_later(line, len, i + tok->len, tok)) {
        host->buf_printf(out, "%s", open_marks[tok->kind]);
        spans->open[spans->depth++] = tok->kind;
    } else {
        host->buf_append(out, line + i, tok->len);
    }
}

size_t md_link_at(const char *line, size_t len, size_t i, size_t *label, size_t *label_len,
                  size_t *url, size_t *url_len)
{
    size_t open = line[i] == '!' ? i + 1 : i;
    if (open >= len || line[open] != '[')
        return 0;
    size_t close = open + 1;
    while (close < len && line[close] != ']') {
        if (line[close] == '\\')
            close++;
        close++;
    }
    if (close + 1 >= len || line[close + 1] != '(')
        return 0;
    const char *end = memchr(line + close + 2, ')', len - close - 2);
    if (!end)
        return 0;
    *label = open + 1;
    *label_len = close - open - 1;
    *url = close + 2;
    *url_len = (size_t)(end - line) - *url;
    return (size_t)(end - line) + 1 - i;
}

int md_is_punct(char c)
{
    return c > ' ' && c < 0x7F && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

void md_append_entities(const herald_host *host, herald_buf *out, const char *text, size_t len,
                        int quote)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *entity = text[i] == '&'             ? "&amp;"
                             : text[i] == '<'           ? "&lt;"
                             : text[i] == '>'           ? "&gt;"
                             : quote && text[i] == '"' ? "&quot;"
                                                        : NULL;
        if (!entity)
            continue;
        host->buf_append(out, text + start, i - start);
        host->buf_append(out, entity, strlen(entity));
        start = i + 1;
    }
    host->buf_append(out, text + start, len - start);
}

void md_append_unescaped(const herald_host *host, herald_buf *out, const char *text, size_t len,
                         int quote)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\\' && i + 1 < len && md_is_punct(text[i + 1]))
            i++;
        md_append_entities(host, out, text + i, 1, quote);
    }
}

size_t md_skip_spaces(const char *line, size_t len, size_t i)
{
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i;
}

int md_is_rule(const char *line, size_t len)
{
    size_t count = 0;
    char mark = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == ' ')
            continue;
        if ((line[i] != '-' && line[i] != '*' && line[i] != '_') || (mark && line[i] != mark))
            return 0;
        mark = line[i];
        count++;
    }
    return count >= 3;
}

size_t md_heading_text(const char *line, size_t len)
{
    size_t indent = md_skip_spaces(line, len, 0);
    size_t hashes = 0;
    while (indent + hashes < len && line[indent + hashes] == '#')
        hashes++;
    if (hashes < 1 || hashes > 6 || indent + hashes >= len || line[indent + hashes] != ' ')
        return 0;
    return md_skip_spaces(line, len, indent + hashes);
}
