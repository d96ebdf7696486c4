/* The daemon's action links: the store's signing key (made at the first
 * start) and external_url, handed to action/links.h for templates. */
#ifndef HERALD_DAEMON_ACTION_KEYS_H
#define HERALD_DAEMON_ACTION_KEYS_H

#include "config/conf.h"
#include "store/store.h"

/* At start and at every reload; a store that cannot answer leaves links
 * off (logged) until the next reload. */
void daemon_action_links(const store_location *where, const config *c);

#endif
