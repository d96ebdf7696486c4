/* A message as a template made it: what a notification carries and a
 * channel formats. */
#ifndef HERALD_RENDERED_H
#define HERALD_RENDERED_H

#include <stddef.h>

#include "alert/mention.h"
#include "herald/plugin.h"

typedef struct rendered {
    herald_format format;
    char *title;
    char *text;            /* for NATIVE: the channel body as JSON */
    mention_set mentions;
} rendered;

void rendered_free(rendered *r);
/* A view in the plugin ABI's terms; `msg` borrows from its arguments. */
void rendered_as_message(const rendered *r, const char *receiver, const char *status,
                         size_t alert_count, herald_message *msg);
/* "text", "markdown", "html" or "native". */
const char *format_name(herald_format format);

#endif
