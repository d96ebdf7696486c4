/* A message as a template made it: what a notification carries and a
 * channel formats. */
#ifndef HERALD_RENDERED_H
#define HERALD_RENDERED_H

#include <stddef.h>

#include "alert/mention.h"
#include "herald/plugin.h"

/* One alert as a storm's digest names it: messages merged into a digest
 * show their entries grouped by `group` (the alert's name and state) with
 * each `item` (what tells the alert from the others) listed, and each
 * `detail` (its summary) where the room allows. */
typedef struct digest_entry {
    char *group;           /* owns the block the other two are in */
    char *item;
    char *detail;          /* "" when none */
    size_t size;           /* of the block: the three in order, each with its NUL */
} digest_entry;

typedef struct rendered {
    herald_format format;
    char *title;
    char *text;            /* for NATIVE: the channel body as JSON */
    mention_set mentions;
    digest_entry *entries; /* one per alert, for digests (rendered_add_entry) */
    size_t entries_len, entries_cap;
} rendered;

void rendered_free(rendered *r);
void rendered_add_entry(rendered *r, const char *group, const char *item, const char *detail);
/* The entries as stored: a JSON array of [group, item, detail]; NULL when
 * there are none. */
char *rendered_entries_to_json(const rendered *r);
/* Adds the entries of stored JSON (NULL or malformed: none). */
void rendered_entries_from_json(rendered *r, const char *json);
/* A view in the plugin ABI's terms; `msg` borrows from its arguments. */
void rendered_as_message(const rendered *r, const char *receiver, const char *status,
                         size_t alert_count, herald_message *msg);
/* "text", "markdown", "html" or "native". */
const char *format_name(herald_format format);

#endif
