/* The sandbox: what is absent, what errors look like, and the time and
 * memory limits, including that a state stays usable after hitting one. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lualib.h>

#include "harness.h"
#include "lua_test_util.h"
#include "lua/sandbox.h"
#include "lua/watchdog.h"
#include "util/strbuf.h"

static lua_State *new_sandbox(unsigned timeout_ms, size_t memory_bytes)
{
    sandbox_limits limits = {timeout_ms, memory_bytes};
    return sandbox_new(&limits, NULL);
}

TEST(dangerous_names_absent)
{
    lua_State *L = new_sandbox(0, 0);
    CHECK(L != NULL);
    static const char *const absent[] = {
        "io",          "package",        "debug",      "require",   "load",
        "loadfile",    "dofile",         "collectgarbage", "warn", "string.dump",
        "os.execute",  "os.exit",        "os.getenv",  "os.remove", "os.rename",
        "os.tmpname",  "coroutine",      "(\"\").dump",
    };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        char code[128];
        snprintf(code, sizeof code, "return type(%s)", absent[i]);
        const char *result = eval(L, code);
        if (strcmp(result, "nil") != 0) {
            sandbox_close(L);
            FAIL_AT("%s is %s, expected nil", absent[i], result);
        }
    }
    CHECK_STR(eval(L, "return type(os.time) .. type(os.date) .. type(os.clock)"),
              "functionfunctionfunction");
    CHECK_STR(eval(L, "return type(string.format) .. type(table.concat) .. type(math.floor) .. type(utf8.len)"),
              "functionfunctionfunctionfunction");
    sandbox_close(L);
}

TEST(string_metatable_reaches_nothing_dangerous)
{
    lua_State *L = new_sandbox(0, 0);
    CHECK(L != NULL);
    /* The string metatable's __index is the sandbox's own string table;
     * everything reachable from it is a string function. */
    CHECK_STR(eval(L, "local index = getmetatable('').__index\n"
                      "if index ~= string then return 'other table' end\n"
                      "for name, value in pairs(index) do\n"
                      "  if name == 'dump' then return 'dump present' end\n"
                      "  if type(value) ~= 'function' then return name end\n"
                      "end\n"
                      "return 'clean'"),
              "clean");
    CHECK_STR(eval(L, "return tostring(('x').dump)"), "nil");
    sandbox_close(L);
}

static int collect_bytecode(lua_State *unused, const void *bytes, size_t size, void *buffer)
{
    (void)unused;
    sb_append(buffer, bytes, size);
    return 0;
}

TEST(bytecode_refused)
{
    /* Bytecode made by an ordinary, unsandboxed state. */
    lua_State *plain = luaL_newstate();
    strbuf bytecode = STRBUF_INIT;
    CHECK(luaL_loadstring(plain, "return 42") == LUA_OK);
    lua_dump(plain, collect_bytecode, &bytecode, 0);
    lua_close(plain);

    lua_State *L = new_sandbox(0, 0);
    char err[256] = "";
    int loaded = sandbox_load(L, "evil.luac", bytecode.data, bytecode.len, err, sizeof err);
    sb_free(&bytecode);
    sandbox_close(L);
    CHECK_INT(loaded, -1);
    CHECK_CONTAINS(err, "evil.luac: precompiled (bytecode) chunks are not allowed");
}

TEST(errors_name_file_and_line)
{
    lua_State *L = new_sandbox(0, 0);
    char err[256] = "";
    const char *code = "local t = nil\nreturn t.x\n";
    CHECK_INT(sandbox_load(L, "templates/x.lua", code, strlen(code), err, sizeof err), 0);
    CHECK_INT(sandbox_call(L, 0, 1, err, sizeof err), -1);
    CHECK_CONTAINS(err, "templates/x.lua:2: attempt to index a nil value");
    CHECK_INT(lua_gettop(L), 0);

    const char *broken = "local x = 1\nlocal = 2\n";
    CHECK_INT(sandbox_load(L, "templates/y.lua", broken, strlen(broken), err, sizeof err), -1);
    CHECK_CONTAINS(err, "templates/y.lua:2:");
    CHECK(strstr(err, "[string") == NULL);

    CHECK_STR(eval(L, "error({})"), "ERROR: (error object is a table value)");
    CHECK_STR(eval(L, "\n\nerror('boom')"), "ERROR: test.lua:3: boom");
    CHECK_INT(sandbox_load_file(L, "/nonexistent/route.lua", err, sizeof err), -1);
    CHECK_CONTAINS(err, "/nonexistent/route.lua: cannot read: No such file or directory");
    sandbox_close(L);
}

TEST(load_file_uses_path_as_chunkname)
{
    char path[] = "/tmp/herald-sandbox-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *file = fdopen(fd, "w");
    fputs("return function()\n  return nil .. 'x'\nend\n", file);
    fclose(file);
    lua_State *L = new_sandbox(0, 0);
    char err[256] = "", expected[128];
    int loaded = sandbox_load_file(L, path, err, sizeof err);
    int called = loaded == 0 ? sandbox_call(L, 0, 1, err, sizeof err) : -1;
    int ran = called == 0 ? sandbox_call(L, 0, 0, err, sizeof err) : 0;
    remove(path);
    sandbox_close(L);
    CHECK_INT(loaded, 0);
    CHECK_INT(called, 0);
    CHECK_INT(ran, -1);
    snprintf(expected, sizeof expected, "%s:2: attempt to concatenate a nil value", path);
    CHECK_CONTAINS(err, expected);
}

TEST(print_and_os_work)
{
    lua_State *L = new_sandbox(0, 0);
    CHECK_STR(eval(L, "print('from lua', 1, nil, true) return 'printed'"), "printed");
    CHECK_STR(eval(L, "return os.date('!%Y', 0)"), "1970");
    CHECK_STR(eval(L, "return math.type(os.time())"), "integer");
    sandbox_close(L);
}

TEST(finalizers_refused)
{
    lua_State *L = new_sandbox(0, 0);
    CHECK_CONTAINS(eval(L, "setmetatable({}, {__gc = function() while true do end end})"),
                   "__gc metamethods are not allowed");
    CHECK_STR(eval(L, "return getmetatable(setmetatable({}, {__index = {a = 1}})).__index.a"), "1");
    CHECK_CONTAINS(eval(L, "local t = setmetatable({}, {__metatable = 'locked'}) setmetatable(t, {})"),
                   "cannot change a protected metatable");
    sandbox_close(L);
}

TEST(infinite_loop_times_out)
{
    /* No bound on how late it stops: on a loaded machine any bound fails
     * now and then. That it stops at all is the point. */
    lua_State *L = new_sandbox(50, 0);
    CHECK_STR(eval(L, "local n = 0\nwhile true do n = n + 1 end"),
              "ERROR: test.lua:2: timeout after 50 ms");
    CHECK_STR(eval(L, "return 'still usable'"), "still usable");
    sandbox_close(L);
}

TEST(timeout_cannot_be_caught)
{
    lua_State *L = new_sandbox(50, 0);
    CHECK_CONTAINS(eval(L, "local function spin() while true do end end\n"
                           "while true do pcall(spin) end"),
                   "timeout after 50 ms");
    CHECK_CONTAINS(eval(L, "local function spin() while true do end end\n"
                           "while true do xpcall(spin, function(e) return e end) end"),
                   "timeout after 50 ms");
    CHECK_STR(eval(L, "return 1 + 1"), "2");
    sandbox_close(L);
}

/* The watchdog's signal, sent to this thread now. */
static int nudge(lua_State *L)
{
    (void)L;
    raise(SIGRTMIN);
    return 0;
}

static int hooked(lua_State *L)
{
    lua_pushboolean(L, lua_gethook(L) != NULL);
    return 1;
}

/* A signal that comes within the deadline (meant for a call that just
 * ended) leaves the call running to its end, and its hook goes again;
 * one with no call running does nothing. ThreadSanitizer builds keep the
 * count hook instead of signals (watchdog.h). */
TEST(a_watchdog_signal_within_the_deadline_changes_nothing)
{
    if (!WATCHDOG_SIGNALS)
        return;
    lua_State *L = new_sandbox(60000, 0);
    static const char code[] = "local nudge, hooked = ...\n"
                               "local n = 0\n"
                               "for i = 1, 1000 do n = n + i end\n"
                               "local before = hooked()\n"
                               "nudge()\n"
                               "for i = 1, 100000 do n = n + 1 end\n"
                               "return string.format('%d %s %s', n, before, hooked())";
    char err[512];
    CHECK_INT(sandbox_load(L, "test.lua", code, strlen(code), err, sizeof err), 0);
    lua_pushcfunction(L, nudge);
    lua_pushcfunction(L, hooked);
    if (sandbox_call(L, 2, 1, err, sizeof err) != 0)
        FAIL_AT("%s", err);
    else
        CHECK_STR(lua_tostring(L, -1), "600500 false false");
    lua_settop(L, 0);
    raise(SIGRTMIN);
    CHECK_STR(eval(L, "return 'still usable'"), "still usable");
    sandbox_close(L);
}

TEST(memory_cap_stops_huge_string)
{
    lua_State *L = new_sandbox(1000, (size_t)8 << 20);
    CHECK_STR(eval(L, "local s = string.rep('x', 1e9)\nreturn #s"),
              "ERROR: test.lua:1: memory limit of 8388608 bytes exceeded");
    CHECK_STR(eval(L, "return #string.rep('x', 1000)"), "1000");
    sandbox_close(L);
}

TEST(memory_cap_stops_growing_table)
{
    lua_State *L = new_sandbox(5000, (size_t)8 << 20);
    size_t baseline = sandbox_memory_used(L);
    CHECK_STR(eval(L, "local t = {}\nfor i = 1, 1e9 do\n  t[i] = {i}\nend"),
              "ERROR: test.lua:3: memory limit of 8388608 bytes exceeded");
    CHECK(sandbox_memory_used(L) <= ((size_t)8 << 20));
    /* The garbage of the aborted call is gone, not just unreachable. */
    if (sandbox_memory_used(L) > baseline + 64 * 1024)
        FAIL_AT("%zu bytes held after the failed call, %zu before", sandbox_memory_used(L),
                baseline);
    CHECK_CONTAINS(eval(L, "local s = 'xx'\nwhile true do s = s .. s end"),
                   "memory limit of 8388608 bytes exceeded");
    CHECK_STR(eval(L, "local t = {} for i = 1, 1000 do t[i] = i end return #t"), "1000");
    sandbox_close(L);
}

TEST(memory_error_caught_by_pcall_is_ordinary)
{
    lua_State *L = new_sandbox(1000, (size_t)8 << 20);
    CHECK_STR(eval(L, "local ok, e = pcall(string.rep, 'x', 1e9) return tostring(ok) .. ' ' .. e"),
              "false not enough memory");
    sandbox_close(L);
}

TEST(memory_accounting_returns_to_baseline)
{
    lua_State *L = new_sandbox(0, 0);
    size_t before = sandbox_memory_used(L);
    CHECK(before > 0);
    CHECK_STR(eval(L, "local t = {} for i = 1, 10000 do t[i] = tostring(i) end return #t"), "10000");
    CHECK(sandbox_memory_used(L) > before);
    /* Each full cycle halves the string table Lua grew for the 10000
     * strings; a few cycles bring it back to its starting size. */
    for (int cycle = 0; cycle < 8; cycle++)
        lua_gc(L, LUA_GCCOLLECT);
    if (sandbox_memory_used(L) > before + 4096)
        FAIL_AT("%zu bytes used after collecting, %zu before", sandbox_memory_used(L), before);
    sandbox_close(L);
}

/* Short-lived tables many times the cap are collected as the call runs,
 * by the generational collector (lua_gc answers the mode it replaces). */
TEST(garbage_is_collected_generationally)
{
    lua_State *L = new_sandbox(5000, (size_t)8 << 20);
    CHECK_STR(eval(L, "local n = 0 for i = 1, 200000 do local t = {i, tostring(i)} n = n + #t end"
                      " return n"),
              "400000");
    CHECK_INT(lua_gc(L, LUA_GCGEN, 0, 0), LUA_GCGEN);
    sandbox_close(L);
}

TEST(tiny_cap_fails_cleanly)
{
    sandbox_limits limits = {0, 1024};
    CHECK(sandbox_new(&limits, NULL) == NULL);
}

RUN_TESTS(CASE(dangerous_names_absent), CASE(string_metatable_reaches_nothing_dangerous),
          CASE(bytecode_refused), CASE(errors_name_file_and_line),
          CASE(load_file_uses_path_as_chunkname), CASE(print_and_os_work),
          CASE(finalizers_refused), CASE(infinite_loop_times_out), CASE(timeout_cannot_be_caught),
          CASE(a_watchdog_signal_within_the_deadline_changes_nothing),
          CASE(memory_cap_stops_huge_string), CASE(memory_cap_stops_growing_table),
          CASE(memory_error_caught_by_pcall_is_ordinary),
          CASE(memory_accounting_returns_to_baseline),
          CASE(garbage_is_collected_generationally), CASE(tiny_cap_fails_cleanly))
