/* What templates sign action links with: herald's external_url and the
 * store's newest key, set by the daemon and read by every ingest
 * worker's Lua state. The key is copied under a lock and never leaves
 * this file but as a signature, so a thread's Lua state can sign but
 * cannot read or change it. */
#ifndef HERALD_ACTION_LINKS_H
#define HERALD_ACTION_LINKS_H

#include <stdbool.h>

#include "action/token.h"

/* NULL or "": links are off (templates show none). */
void action_links_set_url(const char *external_url);
/* The key that signs from now on (NULL: none, links are off). */
void action_links_set_key(const action_key *key);
/* Whether links are made (an external_url and a key): templates ask on
 * every message, and mostly they are not. */
bool action_links_on(void);
/* The link to herald's page for t, expiring ttl_ms from now_ms, with a
 * fresh nonce; NULL when links are off. The caller frees it. */
char *action_links_make(action_token *t, int64_t now_ms, int64_t ttl_ms);
/* Forgets the URL and wipes the key (at exit). */
void action_links_reset(void);

#endif
