#include "config/reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/sandbox.h"
#include "util/error.h"
#include "util/units.h"

int fail_at(conf_reader *rd, const char *key_path, const char *fmt, ...)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s: ", rd->conf->path);
    if (key_path)
        sb_printf(&sb, "%s: ", key_path);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    fail(rd->err, rd->err_cap, "%s", sb_str(&sb));
    sb_free(&sb);
    return -1;
}

/* Describes the value at idx for error messages, never showing its text
 * (it may be a secret). */
static const char *describe(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return "nil";
    case LUA_TBOOLEAN: return "a boolean";
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? "an integer" : "a number";
    case LUA_TSTRING: return "a string";
    case LUA_TTABLE: return "a table";
    case LUA_TFUNCTION: return "a function";
    default: return lua_typename(L, lua_type(L, idx));
    }
}

const char *unset_env_hint(conf_reader *rd)
{
    if (!rd->unset_env.len)
        return "";
    snprintf(rd->hint, sizeof rd->hint, " (unset environment variables: %s)",
             sb_str(&rd->unset_env));
    return rd->hint;
}

void key_path(char *out, size_t cap, const char *table_path, const char *key)
{
    snprintf(out, cap, "%s%s%s", table_path ? table_path : "", table_path ? "." : "", key);
}

/* ---- the value at the top of the stack --------------------------------- */

int take_string(conf_reader *rd, const char *path, int required, char **out)
{
    lua_State *L = rd->L;
    if (lua_isnil(L, -1)) {
        if (required)
            return fail_at(rd, path, "missing: expected a string%s", unset_env_hint(rd));
        return 0;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        return fail_at(rd, path, "expected a string, got %s", describe(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
        return fail_at(rd, path, "must not contain NUL bytes");
    free(*out);
    *out = xstrdup(s);
    return 0;
}

int take_integer(conf_reader *rd, const char *path, long long min, long long max,
                 long long *out)
{
    lua_State *L = rd->L;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_isinteger(L, -1))
        return fail_at(rd, path, "expected an integer, got %s", describe(L, -1));
    long long v = lua_tointeger(L, -1);
    if (v < min || v > max)
        return fail_at(rd, path, "expected an integer from %lld to %lld, got %lld", min, max, v);
    *out = v;
    return 0;
}

int take_boolean(conf_reader *rd, const char *path, int *out)
{
    lua_State *L = rd->L;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_isboolean(L, -1))
        return fail_at(rd, path, "expected true or false, got %s", describe(L, -1));
    *out = lua_toboolean(L, -1);
    return 0;
}

/* Durations and sizes accept a string with a unit or a plain number. */
static int take_quantity(conf_reader *rd, const char *path, int is_size, int64_t *ms,
                         size_t *bytes)
{
    lua_State *L = rd->L;
    if (lua_isnil(L, -1))
        return 0;
    const char *expected = is_size ? "a size such as \"1MiB\" or a number of bytes"
                                   : "a duration such as \"10s\", \"5m\", \"24h\" or seconds";
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        return fail_at(rd, path, "expected %s, got %s", expected, describe(L, -1));
    char text[64];
    snprintf(text, sizeof text, "%s", lua_tostring(L, -1));
    int bad = is_size ? parse_size_bytes(text, bytes) : parse_duration_ms(text, ms);
    if (bad)
        return fail_at(rd, path, "expected %s, got \"%s\"", expected, text);
    return 0;
}

int take_string_list(conf_reader *rd, const char *path, char ***items, size_t *len)
{
    lua_State *L = rd->L;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_istable(L, -1))
        return fail_at(rd, path, "expected a list of strings, got %s", describe(L, -1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n) {
            lua_pop(L, 2);
            return fail_at(rd, path, "expected a list of strings, found a non-list key");
        }
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            char item[KEY_PATH_CAP];
            snprintf(item, sizeof item, "%s[%lld]", path, (long long)i);
            int rc = fail_at(rd, item, "expected a string, got %s", describe(L, -1));
            lua_pop(L, 1);
            return rc;
        }
        *items = xrealloc(*items, (*len + 1) * sizeof **items);
        (*items)[(*len)++] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return 0;
}

int expect_table(conf_reader *rd, const char *path)
{
    if (!lua_istable(rd->L, -1))
        return fail_at(rd, path, "expected a table, got %s", describe(rd->L, -1));
    return 0;
}

int check_keys(conf_reader *rd, const char *path, const char *const *known, size_t n)
{
    lua_State *L = rd->L;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        int named = lua_type(L, -1) == LUA_TSTRING;
        int ok = 0;
        for (size_t i = 0; named && i < n && !ok; i++)
            ok = strcmp(lua_tostring(L, -1), known[i]) == 0;
        if (ok)
            continue;
        strbuf names = STRBUF_INIT;
        for (size_t i = 0; i < n; i++)
            sb_printf(&names, "%s%s", i ? ", " : "", known[i]);
        char key[KEY_PATH_CAP];
        if (named)
            key_path(key, sizeof key, path, lua_tostring(L, -1));
        else
            snprintf(key, sizeof key, "%s", path ? path : "(top level)");
        int rc = named ? fail_at(rd, key, "unknown key (expected one of: %s)", sb_str(&names))
                       : fail_at(rd, key, "has a non-string key (expected one of: %s)",
                                 sb_str(&names));
        sb_free(&names);
        lua_pop(L, 1);
        return rc;
    }
    return 0;
}

/* ---- a key of the table at the top of the stack ------------------------ */

/* Pushes table[key] and names it in path. */
static void push_field(conf_reader *rd, const char *table_path, const char *key, char *path)
{
    key_path(path, KEY_PATH_CAP, table_path, key);
    lua_getfield(rd->L, -1, key);
}

int read_table_string(conf_reader *rd, const char *table_path, const char *key, int required,
                      char **out)
{
    char path[KEY_PATH_CAP];
    push_field(rd, table_path, key, path);
    int rc = take_string(rd, path, required, out);
    lua_pop(rd->L, 1);
    return rc;
}

int read_table_integer(conf_reader *rd, const char *table_path, const char *key, long long min,
                       long long max, long long *out)
{
    char path[KEY_PATH_CAP];
    push_field(rd, table_path, key, path);
    int rc = take_integer(rd, path, min, max, out);
    lua_pop(rd->L, 1);
    return rc;
}

int read_table_boolean(conf_reader *rd, const char *table_path, const char *key, int *out)
{
    char path[KEY_PATH_CAP];
    push_field(rd, table_path, key, path);
    int rc = take_boolean(rd, path, out);
    lua_pop(rd->L, 1);
    return rc;
}

int read_table_string_list(conf_reader *rd, const char *table_path, const char *key,
                           char ***items, size_t *len)
{
    char path[KEY_PATH_CAP];
    push_field(rd, table_path, key, path);
    int rc = take_string_list(rd, path, items, len);
    lua_pop(rd->L, 1);
    return rc;
}

int read_table_quantity(conf_reader *rd, const char *table_path, const char *key, int is_size,
                        int64_t *ms, size_t *bytes)
{
    char path[KEY_PATH_CAP];
    push_field(rd, table_path, key, path);
    int rc = take_quantity(rd, path, is_size, ms, bytes);
    lua_pop(rd->L, 1);
    return rc;
}

/* ---- running the file --------------------------------------------------- */

int reader_env_file(conf_reader *rd, const char *path)
{
    strbuf full = STRBUF_INIT;
    if (path[0] != '/')
        sb_printf(&full, "%s/", rd->conf->dir);
    sb_puts(&full, path);
    int rc = 0;
    if (rd->env.path && strcmp(rd->env.path, sb_str(&full)) != 0)
        rc = fail_at(rd, "env_file", "changed after env() read %s: set it once, at the top",
                     rd->env.path);
    else if (!rd->env.path && rd->env_before_file)
        rc = fail_at(rd, "env_file", "set after an env() call: set it at the top of the file, "
                     "before the first env()");
    else if (!rd->env.path) {
        char why[512];
        if (env_file_read(sb_str(&full), &rd->env, why, sizeof why))
            rc = fail_at(rd, "env_file", "%s", why);
    }
    sb_free(&full);
    return rc;
}

/* env(name [, default]): the env_file's value, else the variable, else
 * the default, else nil, and the name is kept for the hint of a "missing"
 * message. */
static int lua_env(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    conf_reader *rd = lua_touserdata(L, lua_upvalueindex(1));
    const char *value = NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rd->settings_ref);
    lua_pushliteral(L, "env_file");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (reader_env_file(rd, lua_tostring(L, -1))) {
            lua_pushstring(L, rd->err); /* names the file and key already */
            return lua_error(L);
        }
        value = env_file_get(&rd->env, name);
    } else {
        rd->env_before_file = 1;
    }
    lua_pop(L, 2);
    if (!value)
        value = getenv(name);
    if (value) {
        lua_pushstring(L, value);
        return 1;
    }
    if (!lua_isnoneornil(L, 2)) {
        lua_pushvalue(L, 2);
        return 1;
    }
    sb_printf(&rd->unset_env, "%s%s", rd->unset_env.len ? ", " : "", name);
    lua_pushnil(L);
    return 1;
}

int reader_open(conf_reader *rd, config *conf, char *err, size_t err_cap)
{
    *rd = (conf_reader){.conf = conf, .err = err, .err_cap = err_cap, .unset_env = STRBUF_INIT,
                        .settings_ref = LUA_NOREF};
    rd->utc = tz_load("UTC", err, err_cap);
    if (!rd->utc)
        return -1;
    lua_State *L = rd->L = sandbox_new(&conf->lua, rd->utc);
    if (!L)
        return fail(err, err_cap, "%s: cannot create a Lua state", conf->path);
    /* Globals the file sets land in `settings`; reads fall back to the
     * sandbox's globals, which is where env() lives. */
    lua_pushlightuserdata(L, rd);
    lua_pushcclosure(L, lua_env, 1);
    lua_setglobal(L, "env");
    if (sandbox_load_file(L, conf->path, err, err_cap))
        return -1;
    lua_newtable(L); /* settings */
    lua_newtable(L); /* its metatable */
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    rd->settings_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* env() reads env_file there */
    lua_pushvalue(L, -1);
    lua_setupvalue(L, -3, 1); /* _ENV of the chunk */
    lua_insert(L, -2);        /* settings below the chunk */
    return sandbox_call(L, 0, 0, err, err_cap);
}

void reader_close(conf_reader *rd)
{
    if (rd->L)
        sandbox_close(rd->L);
    tz_free(rd->utc);
    sb_free(&rd->unset_env);
    env_file_free(&rd->env);
    memset(rd, 0, sizeof *rd);
}
