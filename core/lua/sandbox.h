/* Sandboxed Lua states for the configuration, route scripts and templates.
 *
 * A sandboxed state has base (without load, loadfile, dofile, require,
 * collectgarbage, warn; setmetatable refuses __gc, since a finalizer would
 * run outside any deadline), string (without dump), table, math, utf8 and
 * an os table holding only time, date and clock. Chunks are text only.
 * Every call made through sandbox_call has a deadline: a watchdog thread
 * sets the count hook on a call past it, and from then on every
 * instruction raises, so pcall cannot swallow the timeout (lua/watchdog.h;
 * a call is stopped at most a quarter of a second after its deadline).
 * The state's allocator refuses to grow past a memory cap. Either limit
 * leaves the state usable for the next call. The hook cannot interrupt a
 * single C call, so every library function whose work memory does not
 * bound checks the deadline itself: the pattern functions (find, match,
 * gmatch, gsub) are herald's own, with a step budget (lua/pattern.h), and
 * string.rep and the table functions are guarded (lua/libguard.h, which
 * lists the audit of every exposed function). So every call ends at its
 * deadline or soon after, whatever library function it runs. States are
 * not thread-safe: one per thread.
 *
 * The global table `herald` holds the template helpers:
 *   herald.time(epoch [, fmt])      format in the configured zone,
 *                                   default "%Y-%m-%d %H:%M:%S"
 *   herald.truncate(s, n [, mark])  UTF-8-safe cut to at most n bytes,
 *                                   mark (default "…") included in the n
 *   herald.md_escape(s)             escape markdown specials
 *   herald.sorted(t)                iterator over t in key order
 *   herald.compile(text [, name])   compile a {{ expr }} / {% code %} text
 *                                   template into function(data) -> string
 * and `print` writes to the log. The library tables and `herald` are
 * read-only (lua/isolate.h).
 */
#ifndef HERALD_SANDBOX_H
#define HERALD_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "lua/tz.h"

typedef struct sandbox_limits {
    unsigned timeout_ms;   /* per sandbox_call; default 100 */
    size_t memory_bytes;   /* per state; default 32 MiB */
} sandbox_limits;

/* The fuzz tree lowers it (meson.build), so that a fuzzed input that
 * loops costs little. */
#ifndef SANDBOX_DEFAULT_TIMEOUT_MS
#define SANDBOX_DEFAULT_TIMEOUT_MS 100u
#endif
#define SANDBOX_DEFAULT_MEMORY_BYTES ((size_t)32 << 20)

/* `zone` is borrowed and must outlive the state (NULL: UTC). limits may be
 * NULL, and zero fields take the defaults. Returns NULL only if the state
 * cannot be created at all (e.g. a cap too small for the libraries). */
lua_State *sandbox_new(const sandbox_limits *limits, const tz_zone *zone);
void sandbox_close(lua_State *L);

/* Compiles a text chunk and pushes it as a function. `chunkname` is what
 * error messages show (use the file path; a leading '@' or '=' is kept as
 * Lua's own convention, and Lua shortens names over 59 bytes with "...").
 * Bytecode is refused. Returns 0, or -1 with "file:line: message" in err
 * and nothing pushed. */
int sandbox_load(lua_State *L, const char *chunkname, const char *src, size_t len,
                 char *err, size_t err_cap);
/* Reads a file and does sandbox_load on it (chunkname = path). */
int sandbox_load_file(lua_State *L, const char *path, char *err, size_t err_cap);

/* lua_pcall under the deadline and memory cap. Returns 0, or -1 with
 * "file:line: message" in err (a deadline gives "...: timeout after N ms",
 * the cap "...: memory limit of N bytes exceeded") and the stack as
 * lua_pcall leaves it minus the error object. */
int sandbox_call(lua_State *L, int nargs, int nresults, char *err, size_t err_cap);

/* Runs fn(L, ctx) as a call under sandbox_call's limits, with the nargs
 * values on top of the stack as its arguments (at 1..nargs): a Lua error
 * inside it (the memory cap while C code builds a script's arguments or
 * reads its results) is -1 with err, not an abort. fn returns how many
 * values it pushed; nresults of them stay on the stack. */
int sandbox_run(lua_State *L, int (*fn)(lua_State *L, void *ctx), void *ctx, int nargs,
                int nresults, char *err, size_t err_cap);

/* Pushes table[key] without metamethods (reading what a script returned
 * runs none of its code) and returns the value's type. */
int sandbox_rawfield(lua_State *L, int table, const char *key);

/* Raises the running call's timeout error (as the hook does, so that pcall
 * cannot swallow it) once its deadline has passed or sandbox_stop_all was
 * called; returns at once outside sandbox_call. For C functions whose
 * loops the hook cannot interrupt: call it every few thousand steps. */
void sandbox_check_deadline(lua_State *L);

/* Makes every running and later call in every state fail at its next
 * deadline check with "stopped: herald is shutting down", so stopping
 * never waits for a long lua.timeout. Async-signal-safe; cannot be undone. */
void sandbox_stop_all(void);

/* Bytes the state currently holds, and its cap. */
size_t sandbox_memory_used(lua_State *L);
size_t sandbox_memory_limit(lua_State *L);

#endif
