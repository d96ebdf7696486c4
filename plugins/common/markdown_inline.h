/* Markdown syntax (inline spans, links, headings, rules, entities) shared by
 * the channels that translate it (slack, telegram). It is compiled into each
 * of their modules: a helper of theirs, not a host service, so the plugin
 * ABI does not grow for it. */
#ifndef HERALD_MARKDOWN_INLINE_H
#define HERALD_MARKDOWN_INLINE_H

#include <stddef.h>

#include "herald/plugin.h"

typedef enum md_span_kind { MD_SPAN_BOLD, MD_SPAN_ITALIC, MD_SPAN_STRIKE } md_span_kind;

typedef struct md_span {
    md_span_kind kind;
    size_t len; /* of the markdown delimiter */
} md_span;

/* Nesting of **, * and ~~ spans tracked on one line. */
#define MD_MAX_SPANS 8

/* The spans open on one line, innermost last. */
typedef struct md_spans {
    md_span_kind open[MD_MAX_SPANS];
    size_t depth;
} md_spans;

/* The emphasis delimiter (**, __, ~~ or a single *) at line[i]: 1 and *tok
 * set, or 0. */
int md_span_at(const char *line, size_t len, size_t i, md_span *tok);

/* Whether the same delimiter closes later on the line, right after a
 * non-space (backslash escapes and code spans skipped). */
int md_closes_later(const char *line, size_t len, size_t from, const md_span *open);

/* Writes the delimiter tok found at line[i]: the closing mark of the
 * innermost span when it is that span's, else the opening mark when it
 * opens a span that closes later on the line, else the delimiter as text.
 * Bold is dropped in a heading (bold as a whole). marks are indexed by
 * md_span_kind. */
void md_span_write(const herald_host *host, herald_buf *out, md_spans *spans, const char *line,
                   size_t len, size_t i, const md_span *tok, int in_heading,
                   const char *const open_marks[], const char *const close_marks[]);

/* [label](url) or ![alt](url) at line[i]: sets the parts and returns the
 * length, or 0 when it is not one. */
size_t md_link_at(const char *line, size_t len, size_t i, size_t *label, size_t *label_len,
                  size_t *url, size_t *url_len);

/* The index of the first byte from i that is not a space or a tab. */
size_t md_skip_spaces(const char *line, size_t len, size_t i);

/* Whether the line is a rule: ---, *** or ___ alone. */
int md_is_rule(const char *line, size_t len);

/* Where the text of a "# " to "###### " heading starts, or 0 when the line
 * is not a heading. */
size_t md_heading_text(const char *line, size_t len);

/* ASCII punctuation: what a markdown backslash escapes. */
int md_is_punct(char c);

/* Appends text with &, < and > (and " when quote is set) written as
 * entities, which both Slack mrkdwn and Telegram HTML require. */
void md_append_entities(const herald_host *host, herald_buf *out, const char *text, size_t len,
                        int quote);

/* The same after resolving markdown backslash escapes: for link labels and
 * code, where no formatting applies. */
void md_append_unescaped(const herald_host *host, herald_buf *out, const char *text, size_t len,
                         int quote);

#endif
