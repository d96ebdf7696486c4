/* Digests: when messages for one target queue up behind its rate limit,
 * herald sends them merged, instead of late one by one or not at all. */
#ifndef HERALD_DIGEST_H
#define HERALD_DIGEST_H

#include <stddef.h>

#include "notification/notification.h"
#include "notification/rendered.h"

/* How many of items[0..n) (from the first) one digest of at most
 * text_budget bytes of text can hold; at least 1. Notifications whose
 * alerts have digest entries (notification/rendered.h) go in the compact
 * form, which names every alert; others (stored before entries existed)
 * merge their texts, each cut to item_cap bytes (0: whole). A native body
 * or HTML is never merged: it goes alone.
 * text_budget 0: no limit. */
size_t digest_fit(notification *const *items, size_t n, size_t text_budget, size_t item_cap);

/* The bytes each item's text may keep so that `items` queued messages fit
 * in `messages` digests of text_budget bytes (their separators and the
 * digest's own lines counted); 0 when any length fits. */
size_t digest_item_cap(size_t text_budget, size_t items, size_t messages);

/* Merges items[0..n) into one message, the mentions united. In the
 * compact form: the alerts grouped by their entries' group (name and
 * state), in order of first appearance, each group headed by its count
 * and listing its alerts' items, one line each with the detail when all
 * the details fit text_budget, else as one comma-separated list; the
 * title counts the alerts and names the groups that fit. Otherwise the
 * texts in order (each cut to item_cap bytes with a marker, 0: whole),
 * separated, under a title saying how many groups and alerts it holds and
 * naming as many of their titles as fit. `more` alerts that wait for a
 * later message are announced at the end ("+N …"). */
void digest_build(notification *const *items, size_t n, size_t more, size_t item_cap,
                  size_t text_budget, rendered *out);

/* The alerts items[0..n) carry together. */
size_t digest_alert_count(notification *const *items, size_t n);

/* The smallest share of a digest one message is cut to: its first lines. */
#define DIGEST_MIN_ITEM_BYTES 160

#endif
