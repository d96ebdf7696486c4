/* Helpers shared by the Lua unit tests: run a snippet in a sandbox and get
 * its single result as text, or "ERROR: <message>" so a failed CHECK_STR
 * shows what went wrong. */
#ifndef HERALD_LUA_TEST_UTIL_H
#define HERALD_LUA_TEST_UTIL_H

#include <stdio.h>

#include <lua.h>

#include "lua/sandbox.h"

#define RESULT_CAP 16384

/* Loads `code` as chunk "test.lua", calls it and returns tostring of its
 * first result. The returned buffer is reused by the next call. */
static const char *eval(lua_State *L, const char *code)
{
    static char result[RESULT_CAP];
    char err[512];
    if (sandbox_load(L, "test.lua", code, strlen(code), err, sizeof err) != 0 ||
        sandbox_call(L, 0, 1, err, sizeof err) != 0) {
        snprintf(result, sizeof result, "ERROR: %s", err);
        return result;
    }
    const char *text = lua_tostring(L, -1);
    snprintf(result, sizeof result, "%s", text ? text : lua_typename(L, lua_type(L, -1)));
    lua_pop(L, 1);
    return result;
}

#endif
