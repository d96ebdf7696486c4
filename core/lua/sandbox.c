/* Sandboxed Lua states: a reduced standard library, text-only chunks, a
 * memory cap enforced by the allocator and a deadline enforced by an
 * instruction-count hook.
 *
 * The hook only runs between Lua instructions, so library functions whose
 * loops memory does not bound check the deadline themselves (pattern.h,
 * libguard.h). */
#include "lua/sandbox.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/isolate.h"
#include "lua/libguard.h"
#include "lua/pattern.h"
#include "lua/template.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

/* How often the deadline is checked: a clock read per 1000 instructions
 * costs well under 1% and stops a loop within microseconds of the
 * deadline. */
#define HOOK_INSTRUCTIONS 1000
#define LIMIT_MESSAGE_CAP 256

typedef struct sandbox_ctx {
    size_t used;      /* bytes currently allocated by the state */
    size_t cap;
    unsigned timeout_ms;
    lua_State *running; /* the thread inside sandbox_call, else NULL */
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 outside sandbox_call */
    bool timed_out;
    /* "file:line: ..." captured where the limit was hit, because neither
     * a memory error nor the unwinding after a timeout keeps a position. */
    char timeout_message[LIMIT_MESSAGE_CAP];
    char memory_message[LIMIT_MESSAGE_CAP];
} sandbox_ctx;

static void deadline_hook(lua_State *L, lua_Debug *ar);

static sandbox_ctx *context_of(lua_State *L)
{
    void *ctx;
    lua_getallocf(L, &ctx);
    return ctx;
}

static int64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* "file:line: what" for the innermost Lua function on L's stack (C
 * functions such as string.rep have no line; their caller does). Reads the
 * stack only, allocating nothing, so the allocator may call it. */
static void describe_position(lua_State *L, const char *what, char *out, size_t cap)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            snprintf(out, cap, "%s:%d: %s", ar.short_src, ar.currentline, what);
            return;
        }
    }
    snprintf(out, cap, "%s", what);
}

static void format_memory_message(const sandbox_ctx *ctx, char *out, size_t cap)
{
    snprintf(out, cap, "memory limit of %zu bytes exceeded", ctx->cap);
}

/* Lua's allocator contract: ptr == NULL means a new block (osize then
 * encodes the object type, not a size); nsize == 0 means free. Shrinking
 * must never fail. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sandbox_ctx *ctx = ud;
    size_t old_size = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        ctx->used -= old_size;
        return NULL;
    }
    if (nsize > old_size && nsize - old_size > ctx->cap - ctx->used) {
        if (ctx->running) {
            char what[LIMIT_MESSAGE_CAP];
            format_memory_message(ctx, what, sizeof what);
            describe_position(ctx->running, what, ctx->memory_message, sizeof ctx->memory_message);
        }
        return NULL;
    }
    void *block = realloc(ptr, nsize);
    if (!block)
        return nsize <= old_size ? ptr : NULL;
    ctx->used = ctx->used - old_size + nsize;
    return block;
}

/* Set once when herald stops: every running call ends as if its deadline
 * had passed, so no call outlives shutdown_timeout. */
static atomic_bool stopping;

void sandbox_stop_all(void) { atomic_store(&stopping, true); }

void sandbox_check_deadline(lua_State *L)
{
    sandbox_ctx *ctx = context_of(L);
    if (!ctx->deadline_ns ||
        (monotonic_ns() < ctx->deadline_ns && !atomic_load_explicit(&stopping, memory_order_relaxed)))
        return;
    /* From now on the hook fires on every instruction, so Lua code that
     * catches the error with pcall cannot keep running. */
    if (!ctx->timed_out) {
        ctx->timed_out = true;
        char what[64];
        if (atomic_load(&stopping))
            snprintf(what, sizeof what, "stopped: herald is shutting down");
        else
            snprintf(what, sizeof what, "timeout after %u ms", ctx->timeout_ms);
        describe_position(L, what, ctx->timeout_message, sizeof ctx->timeout_message);
        lua_sethook(L, deadline_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, ctx->timeout_message);
    lua_error(L);
}

/* Installed on every state for its whole life: outside sandbox_call it
 * returns at once. */
static void deadline_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    sandbox_check_deadline(L);
}

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
    sandbox_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->cap = limits && limits->memory_bytes ? limits->memory_bytes : SANDBOX_DEFAULT_MEMORY_BYTES;
    ctx->timeout_ms = limits && limits->timeout_ms ? limits->timeout_ms : SANDBOX_DEFAULT_TIMEOUT_MS;
    lua_State *L = lua_newstate(sandbox_alloc, ctx);
    if (!L) {
        free(ctx);
        return NULL;
    }
    lua_atpanic(L, sandbox_panic);
    lua_pushcfunction(L, sandbox_setup);
    lua_pushlightuserdata(L, (void *)(uintptr_t)zone);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_msg(HERALD_LOG_ERROR, "lua", "cannot set up a sandbox within %zu bytes", ctx->cap);
        lua_close(L);
        free(ctx);
        return NULL;
    }
    lua_sethook(L, deadline_hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    return L;
}

void sandbox_close(lua_State *L)
{
    if (!L)
        return;
    sandbox_ctx *ctx = context_of(L);
    lua_close(L);
    free(ctx);
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
        char what[LIMIT_MESSAGE_CAP];
        format_memory_message(context_of(L), what, sizeof what);
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

int sandbox_call(lua_State *L, int nargs, int nresults, char *err, size_t err_cap)
{
    sandbox_ctx *ctx = context_of(L);
    /* A nested call (C code called from Lua calling back in) keeps the
     * outer deadline if that one is sooner. */
    lua_State *outer_running = ctx->running;
    int64_t outer_deadline = ctx->deadline_ns;
    bool outer_timed_out = ctx->timed_out;
    int64_t deadline = monotonic_ns() + (int64_t)ctx->timeout_ms * 1000000;
    if (outer_deadline && outer_deadline < deadline)
        deadline = outer_deadline;
    ctx->running = L;
    ctx->deadline_ns = deadline;
    ctx->timed_out = false;
    ctx->memory_message[0] = '\0';

    int status = lua_pcall(L, nargs, nresults, 0);

    bool timed_out = ctx->timed_out;
    ctx->running = outer_running;
    ctx->deadline_ns = outer_deadline;
    ctx->timed_out = outer_timed_out;
    lua_sethook(L, deadline_hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    if (status == LUA_OK)
        return 0;

    if (timed_out) {
        fail(err, err_cap, "%s", ctx->timeout_message);
    } else if (status == LUA_ERRMEM) {
        if (ctx->memory_message[0])
            fail(err, err_cap, "%s", ctx->memory_message);
        else
            format_memory_message(ctx, err, err_cap);
    } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        fail(err, err_cap, "%s", lua_tostring(L, -1));
    } else {
        fail(err, err_cap, "(error object is a %s value)", luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    /* Hand back what the aborted call left behind now rather than when the
     * next call runs into the cap. No finalizers can run (see
     * guarded_setmetatable), so this executes no Lua code. */
    if (timed_out || status == LUA_ERRMEM)
        lua_gc(L, LUA_GCCOLLECT);
    return -1;
}

typedef struct protected_fn {
    int (*fn)(lua_State *L, void *ctx);
    void *ctx;
} protected_fn;

static int run_protected(lua_State *L)
{
    const protected_fn *p = lua_touserdata(L, 1);
    lua_remove(L, 1);
    return p->fn(L, p->ctx);
}

int sandbox_run(lua_State *L, int (*fn)(lua_State *L, void *ctx), void *ctx, int nargs,
                int nresults, char *err, size_t err_cap)
{
    protected_fn p = {fn, ctx};
    /* A light C function and a light userdata: pushing them allocates
     * nothing, so nothing here can fail outside the protected call. */
    lua_pushcfunction(L, run_protected);
    lua_insert(L, -(nargs + 1));
    lua_pushlightuserdata(L, &p);
    lua_insert(L, -(nargs + 1));
    return sandbox_call(L, nargs + 1, nresults, err, err_cap);
}

int sandbox_rawfield(lua_State *L, int table, const char *key)
{
    table = lua_absindex(L, table);
    lua_pushstring(L, key);
    return lua_rawget(L, table);
}

size_t sandbox_memory_used(lua_State *L) { return context_of(L)->used; }

size_t sandbox_memory_limit(lua_State *L) { return context_of(L)->cap; }
