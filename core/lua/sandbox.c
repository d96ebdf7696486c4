/* Sandboxed Lua states: a reduced standard library, text-only chunks, a
 * memory cap enforced by the allocator and a deadline enforced by the
 * count hook that the watchdog sets on a call past it (watchdog.h).
 *
 * The hook only runs between Lua instructions, so library functions whose
 * loops memory does not bound check the deadline themselves (pattern.h,
 * libguard.h). */
#include "lua/sandbox.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/isolate.h"
#include "lua/libguard.h"
#include "lua/limits.h"
#include "lua/pattern.h"
#include "lua/template.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

static int sandbox_print(lua_State *L)
{
    int count = lua_gettop(L);
    luaL_Buffer line;
    luaL_buffinit(L, &line);
    for (int i = 1; i <= count; i++) {
        if (i > 1)
            luaL_addchar(&line, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&line);
    }
    luaL_pushresult(&line);
    log_msg(HERALD_LOG_INFO, "lua", "%s", lua_tostring(L, -1));
    return 0;
}

/* A __gc metamethod would run whenever the collector decides, outside
 * any deadline (in sandbox_load, in lua_close), so an endless finalizer
 * could hang the router. Finalizers are only armed by setmetatable with
 * __gc already present, so this setmetatable, otherwise the base
 * library's, refuses that. */
static int guarded_setmetatable(lua_State *L)
{
    int type = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (type == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        bool has_gc = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (has_gc)
            return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int sandbox_setup(lua_State *L)
{
    const tz_zone *zone = lua_touserdata(L, 1);
    static const luaL_Reg libraries[] = {
        {LUA_GNAME, luaopen_base},         {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
    };
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        luaL_requiref(L, libraries[i].name, libraries[i].func, 1);
        lua_pop(L, 1);
    }
    /* require is never defined without the package library; it is listed
     * so the guarantee does not depend on that. warn would write to
     * stderr past the log. */
    static const char *const removed_globals[] = {
        "load", "loadfile", "dofile", "require", "collectgarbage", "warn",
    };
    for (size_t i = 0; i < sizeof removed_globals / sizeof removed_globals[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed_globals[i]);
    }
    /* The string table is also the string metatable's __index, so this
     * removes ("").dump as well. */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    pattern_install(L, -1);
    lua_pop(L, 1);
    libguard_install(L);

    /* A fresh os table with the harmless functions; the real library is
     * dropped from the loaded-modules registry so nothing can reach
     * os.execute, os.exit, os.remove or os.getenv. */
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_createtable(L, 0, 3);
    static const char *const os_kept[] = {"time", "date", "clock"};
    for (size_t i = 0; i < sizeof os_kept / sizeof os_kept[0]; i++) {
        lua_getfield(L, -2, os_kept[i]);
        lua_setfield(L, -2, os_kept[i]);
    }
    lua_setglobal(L, LUA_OSLIBNAME);
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    lua_setfield(L, -2, LUA_OSLIBNAME);
    lua_pop(L, 1);

    lua_pushcfunction(L, guarded_setmetatable);
    lua_setglobal(L, "setmetatable");
    lua_pushcfunction(L, sandbox_print);
    lua_setglobal(L, "print");
    template_open_helpers(L, zone);
    isolate_freeze_libraries(L);
    return 0;
}

/* Reached only by a Lua error outside any protected call, a bug in the
 * calling C code; the log line says what before Lua aborts. */
static int sandbox_panic(lua_State *L)
{
    const char *message = lua_tostring(L, -1);
    log_msg(HERALD_LOG_ERROR, "lua", "unprotected Lua error: %s", message ? message : "?");
    return 0;
}

lua_State *sandbox_new(const sandbox_limits *limits, const tz_zone *zone)
{
    lua_State *L = limits_new_state(limits);
    if (!L)
        return NULL;
    lua_atpanic(L, sandbox_panic);
    lua_pushcfunction(L, sandbox_setup);
    lua_pushlightuserdata(L, (void *)(uintptr_t)zone);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_msg(HERALD_LOG_ERROR, "lua", "cannot set up a sandbox within %zu bytes",
                sandbox_memory_limit(L));
        limits_close_state(L);
        return NULL;
    }
    limits_arm(L);
    return L;
}

void sandbox_close(lua_State *L)
{
    if (L)
        limits_close_state(L);
}

/* "@path" makes Lua show the bare path in messages; "=name" and "@name"
 * given by the caller are kept. */
static const char *display_name(const char *chunkname)
{
    return chunkname[0] == '@' || chunkname[0] == '=' ? chunkname + 1 : chunkname;
}

/* Lua cuts chunk names to LUA_IDSIZE with a leading "...", losing the
 * part that says which file it is. A long path is shown by its last two
 * components instead ("templates/dingtalk.lua"), which always fit. */
static const char *short_chunk_name(const char *path)
{
    if (strlen(path) + 2 <= LUA_IDSIZE)
        return path;
    const char *last = strrchr(path, '/');
    if (!last)
        return path;
    const char *second = last;
    while (second > path && second[-1] != '/')
        second--;
    return second;
}

int sandbox_load(lua_State *L, const char *chunkname, const char *src, size_t len,
                 char *err, size_t err_cap)
{
    if (len > 0 && src[0] == LUA_SIGNATURE[0])
        return fail(err, err_cap, "%s: precompiled (bytecode) chunks are not allowed; use Lua source",
                    display_name(chunkname));
    strbuf name = STRBUF_INIT;
    if (chunkname[0] != '@' && chunkname[0] != '=')
        sb_putc(&name, '@');
    sb_puts(&name, short_chunk_name(chunkname));
    int status = luaL_loadbufferx(L, src, len, sb_str(&name), "t");
    sb_free(&name);
    if (status == LUA_OK)
        return 0;
    if (status == LUA_ERRMEM) {
        char what[128];
        limits_memory_message(L, what, sizeof what);
        fail(err, err_cap, "%s: %s", display_name(chunkname), what);
    } else {
        fail(err, err_cap, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return -1;
}

int sandbox_load_file(lua_State *L, const char *path, char *err, size_t err_cap)
{
    strbuf source = STRBUF_INIT;
    int result = -1;
    if (sb_read_file(&source, path))
        fail_errno(err, err_cap, errno, "%s: cannot read", path);
    else
        result = sandbox_load(L, path, sb_str(&source), source.len, err, err_cap);
    sb_free(&source);
    return result;
}

int sandbox_rawfield(lua_State *L, int table, const char *key)
{
    table = lua_absindex(L, table);
    lua_pushstring(L, key);
    return lua_rawget(L, table);
}

