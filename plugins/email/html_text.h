/* The email channel's text conversions: each message goes out as
 * multipart/alternative, a plain-text and an HTML part of one text. */
#ifndef HERALD_EMAIL_HTML_TEXT_H
#define HERALD_EMAIL_HTML_TEXT_H

#include <herald/plugin.h>

#include <stddef.h>

/* The text/html part of `text` (len bytes, in `format`): HTML as written,
 * made a document unless it is one; text escaped and markdown's bold,
 * links, inline code and headings turned into tags. */
void html_alternative(const herald_host *host, herald_buf *out, const char *text, size_t len,
                      herald_format format);
/* The text/plain part: HTML with its tags dropped and its character
 * references decoded; text and markdown as they are. */
void plain_alternative(const herald_host *host, herald_buf *out, const char *text, size_t len,
                       herald_format format);
/* A cut of HTML for at most max bytes: like utf8_prefix, and never inside
 * a tag or a character reference, where the marker would become part of
 * the markup. */
size_t html_prefix(const herald_host *host, const char *html, size_t len, size_t max);

#endif
