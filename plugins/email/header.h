/* Writing the header fields of an RFC 5322 message. */
#ifndef HERALD_EMAIL_HEADER_H
#define HERALD_EMAIL_HEADER_H

#include <herald/plugin.h>

#include <stddef.h>

#include "mailer.h"

/* Builds one header field into buf, folding between tokens so that lines
 * stay short (the unfolded value keeps a single space at each fold). */
typedef struct header_writer {
    const herald_host *host;
    herald_buf *buf;
    size_t line_len;
    int fresh; /* nothing after "Name:" yet: never fold there */
} header_writer;

/* "Name:"; the value follows with header_text, then header_end. */
void header_start(header_writer *w, const char *name);
/* Unstructured text (the subject), as words or encoded words. */
void header_text(header_writer *w, const char *text, size_t len);
void header_end(header_writer *w);
/* A whole address field: "To: a@example.com, \"Ops, Team\" <ops@example.com>". */
void header_addresses(header_writer *w, const char *name, const address *list, size_t len);
/* The Date field for now_ms. */
void append_date(const herald_host *host, herald_buf *buf, int64_t now_ms);

#endif
