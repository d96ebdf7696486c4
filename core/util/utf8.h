/* UTF-8: herald never cuts a character in two, nor passes on bytes that
 * are not text. */
#ifndef HERALD_UTF8_H
#define HERALD_UTF8_H

#include <stddef.h>

/* Largest length <= max_bytes that does not split a UTF-8 sequence. */
size_t utf8_prefix(const char *text, size_t len, size_t max_bytes);
/* How much of a text a message quotes with "%.*s": at most max_bytes, not
 * cutting a character in two (a cut one makes the message, or a log line,
 * not text: journalctl shows such a line as a blob). */
int utf8_quote_len(const char *text, size_t max_bytes);
/* How many bytes from the start are well-formed UTF-8 (RFC 3629: no
 * overlong forms, surrogates or code points past U+10FFFF); len when all. */
size_t utf8_valid_length(const char *text, size_t len);

#endif
