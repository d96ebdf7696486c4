/* Lua 5.4 pattern matching with a step budget: string.find, string.match,
 * string.gmatch and string.gsub for the sandbox.
 *
 * Lua's own pattern functions backtrack inside one C call, so the
 * sandbox's count hook never runs while they do; a pattern such
 * as ".-.-.-.-b" over a long subject takes exponential time. These take the
 * same arguments, return the same results and raise the same errors as
 * Lua 5.4's, and every few thousand matching steps they call
 * sandbox_check_deadline, which raises the call's timeout error once its
 * deadline has passed (or herald is stopping). Outside sandbox_call they
 * run without a time limit, like Lua's.
 *
 * They are herald's own implementation of the documented semantics (the
 * unit test compares them with Lua's over many patterns), not a copy of
 * lstrlib.c.
 */
#ifndef HERALD_PATTERN_H
#define HERALD_PATTERN_H

#include <lua.h>

/* Sets find, match, gmatch and gsub in the (writable) table at idx. */
void pattern_install(lua_State *L, int idx);

#endif
