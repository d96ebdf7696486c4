/* Markdown to Telegram's HTML subset: <b> <i> <s> <code> <pre>
 * <blockquote> <a href> and the entities &lt; &gt; &amp; &quot;. */
#ifndef HERALD_TELEGRAM_MARKDOWN_HTML_H
#define HERALD_TELEGRAM_MARKDOWN_HTML_H

#include <herald/plugin.h>

#include <stddef.h>

/* Appends `text` (len bytes of markdown) converted, line by line. Every
 * tag is closed on its line or at the end, so any prefix of the markdown
 * converts to balanced HTML. */
void convert_markdown(const herald_host *host, herald_buf *out, const char *text, size_t len);

#endif
