/* herald.action_url(alert_or_group, action [, duration [, valid_for]]):
 * a signed link to herald's action page (action/links.h), or nil when
 * the configuration sets no external_url or the store has no key yet. */
#ifndef HERALD_ACTION_HELPER_H
#define HERALD_ACTION_HELPER_H

#include <lua.h>

/* Adds action_url to the table on top of the stack. */
void action_helper_open(lua_State *L);
/* The receiver the template being called renders for: a link made from
 * an alert names it (a group's data names it itself). Raises on
 * allocation failure, so call it in protected mode. */
void action_helper_set_receiver(lua_State *L, const char *receiver);

#endif
