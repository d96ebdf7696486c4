/* The digest entries of a rendered message (notification/rendered.h):
 * one per alert, naming it by alert name and state (the group) and by
 * what tells it from the others (the item), with its summary. A template
 * may return them itself (`digest = { {group=, item=, detail=}, … }`), or
 * only its words for the two states (`digest = { firing = "故障",
 * resolved = "恢复" }`); herald makes them otherwise, in English. */
#ifndef HERALD_ENTRIES_H
#define HERALD_ENTRIES_H

#include <lua.h>

#include "pipeline/render.h"

/* Reads the `digest` field of the template's result (the table at the
 * top of L's stack) into out: 0, or -1 with why in err. */
int entries_read(lua_State *L, const char *where, const render_input *in, rendered *out,
                 char *err, size_t err_cap);
/* Herald's own entries for the message's alerts, with these words for
 * the states. */
void entries_default(const render_input *in, const char *firing, const char *resolved,
                     rendered *out);

#endif
