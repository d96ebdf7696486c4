#include "lua/limits.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/pool.h"
#include "lua/watchdog.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/strbuf.h"

/* How often the count hook checks the deadline, where it is on (see
 * watchdog.h): a clock read per 1000 instructions stops a loop within
 * microseconds of the deadline. */
#define HOOK_INSTRUCTIONS 1000
#define LIMIT_MESSAGE_CAP 256

typedef struct sandbox_ctx {
    size_t used;      /* bytes currently allocated by the state */
    size_t cap;
    lua_pool pool;    /* the blocks of up to POOL_MAX_BLOCK bytes */
    unsigned timeout_ms;
    lua_State *running; /* the thread inside sandbox_call, else NULL */
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 outside sandbox_call */
    bool timed_out;
    /* "file:line: ..." captured where the limit was hit, because neither
     * a memory error nor the unwinding after a timeout keeps a position. */
    char timeout_message[LIMIT_MESSAGE_CAP];
    char memory_message[LIMIT_MESSAGE_CAP];
} sandbox_ctx;

static sandbox_ctx *context_of(lua_State *L)
{
    void *ctx;
    lua_getallocf(L, &ctx);
    return ctx;
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

/* A block's size says where it lives: up to POOL_MAX_BLOCK bytes in the
 * pool, else malloc's. */
static void free_block(lua_pool *pool, void *block, size_t size)
{
    if (size <= POOL_MAX_BLOCK)
        pool_free(pool, block);
    else
        free(block);
}

/* NULL when there is no memory; ptr is then unchanged. */
static void *resize_block(lua_pool *pool, void *ptr, size_t old_size, size_t nsize)
{
    bool was_pooled = ptr && old_size <= POOL_MAX_BLOCK, pooled = nsize <= POOL_MAX_BLOCK;
    if (ptr && !was_pooled && !pooled)
        return realloc(ptr, nsize);
    if (was_pooled && pooled && pool_resize_in_place(ptr, nsize))
        return ptr;
    void *block = pooled ? pool_alloc(pool, nsize) : malloc(nsize);
    if (block && ptr) {
        memcpy(block, ptr, old_size < nsize ? old_size : nsize);
        free_block(pool, ptr, old_size);
    }
    return block;
}

/* Lua's allocator contract: ptr == NULL means a new block (osize then
 * encodes the object type, not a size); nsize == 0 means free. Shrinking
 * must never fail. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sandbox_ctx *ctx = ud;
    size_t old_size = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr)
            free_block(&ctx->pool, ptr, old_size);
        ctx->used -= old_size;
        return NULL;
    }
    if (nsize > old_size && nsize - old_size > ctx->cap - ctx->used) {
        if (ctx->running) {
            /* room left for the position in front: "source:line: " */
            char what[LIMIT_MESSAGE_CAP - LUA_IDSIZE - 16];
            format_memory_message(ctx, what, sizeof what);
            describe_position(ctx->running, what, ctx->memory_message, sizeof ctx->memory_message);
        }
        return NULL;
    }
    void *block = resize_block(&ctx->pool, ptr, old_size, nsize);
    if (!block) {
        if (nsize > old_size)
            return NULL;
        /* A shrunk block keeps its place, but a malloc block cannot stay
         * under a size that says it is the pool's. */
        if (old_size > POOL_MAX_BLOCK && nsize <= POOL_MAX_BLOCK) {
            fputs("herald: out of memory\n", stderr);
            abort();
        }
        return ptr;
    }
    ctx->used = ctx->used - old_size + nsize;
    return block;
}

/* Set once when herald stops: every running call ends as if its deadline
 * had passed, so no call outlives shutdown_timeout. */
static atomic_bool stopping;

void sandbox_stop_all(void)
{
    atomic_store(&stopping, true);
    watchdog_stop_all();
}

void sandbox_check_deadline(lua_State *L)
{
    sandbox_ctx *ctx = context_of(L);
    if (!ctx->deadline_ns ||
        (mono_ns() < ctx->deadline_ns && !atomic_load_explicit(&stopping, memory_order_relaxed)))
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
        lua_sethook(L, limits_deadline_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, ctx->timeout_message);
    lua_error(L);
}

void limits_deadline_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    sandbox_check_deadline(L);
    /* Within the deadline still: the watchdog's signal came as the call
     * it was meant for ended. The hook goes until the next signal. */
    if (WATCHDOG_SIGNALS)
        lua_sethook(L, NULL, 0, 0);
}

lua_State *limits_new_state(const sandbox_limits *limits)
{
    sandbox_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->cap = limits && limits->memory_bytes ? limits->memory_bytes : SANDBOX_DEFAULT_MEMORY_BYTES;
    ctx->timeout_ms = limits && limits->timeout_ms ? limits->timeout_ms : SANDBOX_DEFAULT_TIMEOUT_MS;
    lua_State *L = lua_newstate(sandbox_alloc, ctx);
    if (!L) {
        free(ctx);
        return NULL;
    }
    /* A request's tables and strings die young; the compiled scripts and
     * templates live as long as the state, and the incremental collector
     * traversed them at every cycle. Generational, routing and rendering
     * the benchmark's 5 alerts took about 2% less CPU. */
    lua_gc(L, LUA_GCGEN, 0, 0);
    return L;
}

void limits_arm(lua_State *L)
{
    if (!WATCHDOG_SIGNALS)
        lua_sethook(L, limits_deadline_hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
}

void limits_close_state(lua_State *L)
{
    sandbox_ctx *ctx = context_of(L);
    lua_close(L);
    pool_destroy(&ctx->pool);
    free(ctx);
}

void limits_memory_message(lua_State *L, char *out, size_t cap)
{
    format_memory_message(context_of(L), out, cap);
}

int sandbox_call(lua_State *L, int nargs, int nresults, char *err, size_t err_cap)
{
    sandbox_ctx *ctx = context_of(L);
    /* A nested call (C code called from Lua calling back in) keeps the
     * outer deadline if that one is sooner. */
    lua_State *outer_running = ctx->running;
    int64_t outer_deadline = ctx->deadline_ns;
    bool outer_timed_out = ctx->timed_out;
    int64_t deadline = mono_ns() + (int64_t)ctx->timeout_ms * 1000000;
    if (outer_deadline && outer_deadline < deadline)
        deadline = outer_deadline;
    ctx->running = L;
    ctx->deadline_ns = deadline;
    ctx->timed_out = false;
    ctx->memory_message[0] = '\0';

    watchdog_call outer_call;
    watchdog_call_begins(L, limits_deadline_hook, deadline, &outer_call);
    int status = lua_pcall(L, nargs, nresults, 0);
    watchdog_call_ends(&outer_call);

    bool timed_out = ctx->timed_out;
    ctx->running = outer_running;
    ctx->deadline_ns = outer_deadline;
    ctx->timed_out = outer_timed_out;
    /* An outer call goes on checking its deadline with the count hook:
     * the deadline may have passed in this call, and the watchdog does
     * not signal it twice. The outermost call leaves no hook behind when
     * the watchdog keeps the deadlines. */
    if (outer_deadline || !WATCHDOG_SIGNALS)
        lua_sethook(L, limits_deadline_hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    else
        lua_sethook(L, NULL, 0, 0);
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

size_t sandbox_memory_used(lua_State *L) { return context_of(L)->used; }

size_t sandbox_memory_limit(lua_State *L) { return context_of(L)->cap; }
