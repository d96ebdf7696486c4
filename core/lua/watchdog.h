/* What stops a Lua call that runs past its deadline, without a check on
 * every instruction.
 *
 * Lua's count hook, set for a whole call, makes the interpreter go
 * through its hook machinery at each instruction: 9% of the instructions
 * of ingesting a request. Instead a thread of its own looks at the calls
 * running on every thread a few times per deadline, and to one past its
 * deadline it sends a signal, whose handler sets the count hook on that
 * call's state (lua_sethook is safe in a signal handler, and only
 * there, outside the state's own thread). The hook then raises the
 * timeout where the script is.
 *
 * Under ThreadSanitizer, which holds a signal back until its thread calls
 * into the C library (a Lua loop that calls nothing never does), the
 * count hook stays on for every call instead: WATCHDOG_SIGNALS is 0
 * there. Private to lua/ (limits.c). */
#ifndef HERALD_LUA_WATCHDOG_H
#define HERALD_LUA_WATCHDOG_H

#include <stdint.h>

#include <lua.h>

#if defined(__SANITIZE_THREAD__)
#define WATCHDOG_SIGNALS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WATCHDOG_SIGNALS 0
#endif
#endif
#ifndef WATCHDOG_SIGNALS
#define WATCHDOG_SIGNALS 1
#endif

/* The call a thread was running when another began inside it. */
typedef struct watchdog_call {
    lua_State *L;
    lua_Hook hook;
    int64_t deadline_ns;
} watchdog_call;

/* Around each call: L runs until deadline_ns (CLOCK_MONOTONIC), and past
 * it gets `hook` with a count of 1; *outer keeps the call it runs inside
 * of, if any, for watchdog_call_ends. */
void watchdog_call_begins(lua_State *L, lua_Hook hook, int64_t deadline_ns,
                          watchdog_call *outer);
void watchdog_call_ends(const watchdog_call *outer);

/* Every call running now, and every one after, is past its deadline:
 * herald is stopping. */
void watchdog_stop_all(void);

#endif
