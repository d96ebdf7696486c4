/* Isolation between calls in one sandboxed state: nothing a call of a
 * route script or template changes is seen by a later call, by the same
 * chunk or another.
 *
 * Read-only tables. The library tables (string, table, math, utf8, os,
 * herald) and the string metatable are read-only proxies: reading,
 * ipairs, pairs and # work as on the table itself; a write, rawset
 * included, raises "attempt to modify read-only table 'string' (field
 * 'upper')". next and rawget see an empty table.
 *
 * Chunk environments. Each route script and template runs in an
 * environment of its own (its _ENV, also its _G), whose reads fall back to
 * the sandbox globals:
 *   - globals the chunk assigns while it loads are its own, read by every
 *     later call of that chunk and by no other chunk;
 *   - globals assigned during a call last until that call returns; the
 *     next call starts from the load-time globals again.
 * A chunk's module-level locals, and the contents of tables it keeps in
 * them or in load-time globals, are its own state and persist.
 */
#ifndef HERALD_ISOLATE_H
#define HERALD_ISOLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

/* Replaces the library tables among the globals by read-only proxies,
 * protects the string metatable and installs a rawset that refuses
 * read-only tables. sandbox_new calls it once the globals are complete.
 * Raises a Lua error on allocation failure: call it in protected mode. */
void isolate_freeze_libraries(lua_State *L);

/* Gives the loaded chunk on top of the stack an environment of its own
 * (its first upvalue, _ENV) and pushes that environment below the chunk.
 * Returns 0, or -1 with err (the memory cap) and the stack unchanged. */
int isolate_env_new(lua_State *L, char *err, size_t err_cap);
/* Called once the chunk has run: later global assignments are per call.
 * Allocates nothing, so it cannot fail. */
void isolate_env_seal(lua_State *L, int env);
/* Called after every call into the chunk, failed ones included: forgets
 * the globals that call assigned. Allocates nothing. */
void isolate_env_reset(lua_State *L, int env);

/* Pushes the environment (_ENV upvalue) of the innermost Lua function on
 * the call stack that has one and returns true; pushes nothing and returns
 * false when there is none (a C caller). herald.compile gives a text
 * template the environment of the chunk that compiles it. */
bool isolate_push_caller_env(lua_State *L);

#endif
