/* Text templates ({{ expr }} / {% code %}) compiled to Lua, and the
 * `herald` helper table every sandboxed state gets. */
#ifndef HERALD_TEMPLATE_H
#define HERALD_TEMPLATE_H

#include <stddef.h>

#include <lua.h>

#include "lua/tz.h"

/* Text template compiler, exposed for tests and `herald check`: turns
 * template text into Lua source of a chunk that returns function(data).
 * Returns 0, or -1 with "name:line: message" in err. The caller frees
 * *lua_out. Syntax and limits are described at the top of
 * template_compiler.c. */
int template_to_lua(const char *name, const char *text, size_t len, char **lua_out,
                    char *err, size_t err_cap);

/* Sets the global `herald` table (see above); herald.time formats in
 * `zone` (NULL: UTC), which must outlive the state. sandbox_new calls it. Raises a Lua
 * error on allocation failure, so call it in protected mode. */
void template_open_helpers(lua_State *L, const tz_zone *zone);

#endif
