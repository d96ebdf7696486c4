/* The limits of a sandboxed state, private to lua/: the memory cap its
 * allocator enforces and the deadline of the call running in it, which
 * the count hook (set by the watchdog, watchdog.h) and the library
 * functions that loop (pattern.c, libguard.c) check. sandbox_call,
 * sandbox_run, sandbox_check_deadline, sandbox_stop_all and
 * sandbox_memory_* (sandbox.h) are defined here. */
#ifndef HERALD_LUA_LIMITS_H
#define HERALD_LUA_LIMITS_H

#include <stddef.h>

#include <lua.h>

#include "lua/sandbox.h"

/* A bare state whose allocator enforces limits->memory_bytes (defaults
 * for NULL or zero fields); NULL when it cannot be made. */
lua_State *limits_new_state(const sandbox_limits *limits);
/* Starts the deadline checks, once the state is set up. */
void limits_arm(lua_State *L);
/* The count hook: raises the timeout once the call's deadline has
 * passed (or herald is stopping). */
void limits_deadline_hook(lua_State *L, lua_Debug *ar);
/* Closes the state and frees its limits. */
void limits_close_state(lua_State *L);
/* "memory limit of N bytes exceeded". */
void limits_memory_message(lua_State *L, char *out, size_t cap);

#endif
