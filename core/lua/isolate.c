/* Read-only library tables and per-chunk environments (see isolate.h).
 *
 * A read-only table is an empty proxy whose metatable reads from the real
 * table (__index), refuses writes (__newindex) and lists the real table's
 * contents (__pairs) through an iterator that never hands the real table
 * out. Being empty, the proxy gets every write through __newindex; rawset,
 * the one way around it, is replaced. Scripts cannot reach the metatable
 * (__metatable is set), so the real tables stay out of their hands.
 *
 * A chunk's environment E reads through to a table M that starts as a
 * copy of the sandbox globals and receives the chunk's load-time globals:
 *     E (this call's globals) -> M (sandbox and load-time globals)
 * While the chunk loads, E's __newindex sends assignments to M; sealing
 * removes it, so later assignments land in E, which is emptied after every
 * call. E is made once per chunk and reused, so a call allocates nothing
 * for its environment unless it assigns globals. */
#include "lua/isolate.h"

#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/sandbox.h"

/* Its address is the key, in a read-only proxy's metatable, of the table's
 * name; no script can make that key. */
static const char read_only_name_key = 0;

/* Pushes the metatable of the read-only proxy at idx and returns true, or
 * pushes nothing and returns false when idx holds anything else. */
static bool push_read_only_meta(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    lua_pushlightuserdata(L, (void *)&read_only_name_key);
    bool marked = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 1);
    if (!marked)
        lua_pop(L, 1);
    return marked;
}

/* __newindex of a read-only proxy, and rawset on one: (table, key, value). */
static int refuse_write(lua_State *L)
{
    push_read_only_meta(L, 1);
    lua_pushlightuserdata(L, (void *)&read_only_name_key);
    lua_rawget(L, -2);
    const char *name = lua_tostring(L, -1);
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "attempt to modify read-only table '%s' (field '%s')", name,
                          lua_tostring(L, 2));
    return luaL_error(L, "attempt to modify read-only table '%s'", name);
}

/* The iterator pairs returns for a read-only proxy: next over the real
 * table, taking and returning the proxy as its state. */
static int read_only_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_type(L, 1) != LUA_TTABLE || !push_read_only_meta(L, 1))
        return luaL_argerror(L, 1, "read-only table expected");
    lua_getfield(L, 3, "__index");
    lua_pushvalue(L, 2);
    if (lua_next(L, 4))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int read_only_pairs(lua_State *L)
{
    lua_pushcfunction(L, read_only_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Pushes a read-only proxy of the table at idx; `name` is what a refused
 * write names. */
static void push_read_only(lua_State *L, int idx, const char *name)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, refuse_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, read_only_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushlightuserdata(L, (void *)&read_only_name_key);
    lua_pushstring(L, name);
    lua_rawset(L, -3);
    lua_setmetatable(L, -2);
}

/* The base library's rawset, except that it refuses read-only tables:
 * a raw write into the empty proxy would shadow the real table's field. */
static int guarded_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (push_read_only_meta(L, 1)) {
        lua_pop(L, 1);
        return refuse_write(L);
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

void isolate_freeze_libraries(lua_State *L)
{
    static const char *const libraries[] = {
        LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME, LUA_OSLIBNAME, "herald",
    };
    lua_pushglobaltable(L);
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        lua_getfield(L, -1, libraries[i]);
        push_read_only(L, -1, libraries[i]);
        lua_setfield(L, -3, libraries[i]);
        lua_pop(L, 1);
    }
    /* ("x"):upper() goes through the string metatable's __index, which
     * becomes the proxy too; getmetatable("") gives a read-only view of
     * the metatable, so neither it nor the real string table is reachable. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getfield(L, -3, LUA_STRLIBNAME);
    lua_setfield(L, -2, "__index");
    push_read_only(L, -1, "string metatable");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_pushcfunction(L, guarded_rawset);
    lua_setfield(L, -2, "rawset");
    lua_pop(L, 1);
}

/* The chunk is at 1; returns its new environment. */
static int make_env(lua_State *L, void *unused)
{
    (void)unused;
    lua_newtable(L);           /* 2: E, the running call's globals */
    lua_createtable(L, 0, 3);  /* 3: E's metatable */
    lua_newtable(L);           /* 4: M, the load-time globals */
    /* M starts as a copy of the sandbox globals, which no script can
     * change, so a global read takes one step from E instead of two. */
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, 5)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 4);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, 2);       /* _G is the chunk's own environment */
    lua_setfield(L, 4, "_G");
    lua_pushvalue(L, 4);
    lua_setfield(L, 3, "__index");
    lua_setfield(L, 3, "__newindex"); /* until isolate_env_seal */
    lua_pushboolean(L, 0);
    lua_setfield(L, 3, "__metatable");
    lua_setmetatable(L, 2);
    lua_pushvalue(L, 2);
    lua_setupvalue(L, 1, 1); /* a main chunk's one upvalue is its _ENV */
    return 1;
}

int isolate_env_new(lua_State *L, char *err, size_t err_cap)
{
    lua_pushvalue(L, -1);
    if (sandbox_run(L, make_env, NULL, 1, 1, err, err_cap))
        return -1;
    lua_insert(L, -2);
    return 0;
}

void isolate_env_seal(lua_State *L, int env)
{
    env = lua_absindex(L, env);
    lua_getmetatable(L, env);
    lua_pushnil(L);
    lua_setfield(L, -2, "__newindex");
    lua_pop(L, 1);
    isolate_env_reset(L, env);
}

/* Clearing fields during a traversal is allowed; the table keeps its size
 * for the next call. */
void isolate_env_reset(lua_State *L, int env)
{
    env = lua_absindex(L, env);
    lua_pushnil(L);
    while (lua_next(L, env)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, env);
    }
}

bool isolate_push_caller_env(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "fu", &ar);
        for (int i = 1; i <= ar.nups; i++) {
            const char *name = lua_getupvalue(L, -1, i);
            if (strcmp(name, "_ENV") == 0 && lua_istable(L, -1)) {
                lua_remove(L, -2);
                return true;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return false;
}
