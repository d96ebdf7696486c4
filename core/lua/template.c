/* The `herald` helper table every sandboxed state gets: time, truncate,
 * md_escape, sorted, compile (core/lua/template_compiler.c) and
 * action_url. */
#include "lua/template.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua/action_helper.h"
#include "lua/isolate.h"
#include "lua/sandbox.h"
#include "lua/template_output.h"
#include "lua/tz.h"
#include "util/error.h"
#include "util/strbuf.h"

#define DEFAULT_TIME_FORMAT "%Y-%m-%d %H:%M:%S"
#define DEFAULT_TRUNCATE_MARK "\xe2\x80\xa6" /* … */
/* Beyond ±10^13 s (300,000 years) an epoch is a bug, not a date. */
#define MAX_EPOCH 1e13
#define MAX_TIME_OUTPUT 65536

/* herald.time(epoch [, fmt]): nil gives "" so absent endsAt prints
 * nothing; fractions of a second are dropped. */
static int helper_time(lua_State *L)
{
    const tz_zone *zone = lua_touserdata(L, lua_upvalueindex(1));
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "");
        return 1;
    }
    int is_number;
    lua_Number epoch = lua_tonumberx(L, 1, &is_number);
    if (!is_number)
        return luaL_argerror(L, 1, "epoch seconds expected");
    if (!(epoch >= -MAX_EPOCH && epoch <= MAX_EPOCH))
        return luaL_argerror(L, 1, "epoch out of range");
    const char *fmt = luaL_optstring(L, 2, DEFAULT_TIME_FORMAT);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    /* strftime cannot say how much room it needs; grow until it fits. An
     * empty result for a non-empty format is taken as "too small" until the
     * cap, which only formats like "%p" in some locales hit. */
    for (size_t cap = 256; fmt[0] && cap <= MAX_TIME_OUTPUT; cap *= 4) {
        char *room = luaL_prepbuffsize(&buffer, cap);
        size_t written = tz_format(zone, (int64_t)floor(epoch), fmt, room, cap);
        if (written) {
            luaL_addsize(&buffer, written);
            break;
        }
    }
    luaL_pushresult(&buffer);
    return 1;
}

/* herald.truncate(s, n [, mark]): at most n bytes including the mark; the
 * cut never splits a UTF-8 sequence (it may split a grapheme cluster such
 * as a flag or a ZWJ emoji). When even the mark does not fit, s is cut to n
 * bytes without it. */
static int helper_truncate(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t len, mark_len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer limit = luaL_checkinteger(L, 2);
    const char *mark = luaL_optlstring(L, 3, DEFAULT_TRUNCATE_MARK, &mark_len);
    luaL_argcheck(L, limit >= 0, 2, "must not be negative");
    if ((lua_Unsigned)limit >= len) {
        lua_pushlstring(L, s, len);
        return 1;
    }
    if (mark_len > (size_t)limit)
        mark_len = 0;
    size_t keep = (size_t)limit - mark_len;
    /* s[keep] is the first byte dropped; a continuation byte there means
     * the kept part would end inside a sequence (at most 3 bytes back). */
    for (int step = 0; step < 3 && keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80; step++)
        keep--;
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    luaL_addlstring(&buffer, s, keep);
    luaL_addlstring(&buffer, mark, mark_len);
    luaL_pushresult(&buffer);
    return 1;
}

/* herald.md_escape(s): backslash-escapes what CommonMark would otherwise
 * read as markup, and nothing more, so text stays readable in renderers
 * that show backslashes:
 *   anywhere:         \ ` * _ [ ] <   (emphasis, code, links, HTML)
 *   at a line start:  # > + - =       (headings, quotes, lists, rules)
 *                     the "." or ")" of "1. " / "1) "  (ordered lists)
 * Characters that only matter next to an escaped one ( ! ( ) ) and those
 * CommonMark never treats specially ( { } . | ) are left alone. */
static bool escaped_anywhere(unsigned char c)
{
    return c == '\\' || c == '`' || c == '*' || c == '_' || c == '[' || c == ']' || c == '<';
}

static bool block_mark(unsigned char c)
{
    return c == '#' || c == '>' || c == '+' || c == '-' || c == '=';
}

/* At a line's first digit s[i]: where its digits end when a "." or ")"
 * there makes them an ordered list's number (followed by a space or the
 * end), else 0. */
static size_t list_marker_end(const char *s, size_t len, size_t i)
{
    size_t end = i;
    while (end < len && isdigit((unsigned char)s[end]))
        end++;
    bool marker = end < len && (s[end] == '.' || s[end] == ')') &&
                  (end + 1 == len || isspace((unsigned char)s[end + 1]));
    return marker ? end : 0;
}

/* Whether s needs no escape at all, the common case (an address or a
 * time starts with digits that make no list): it is then returned as it
 * is, without a copy. */
static bool plain_markdown(const char *s, size_t len)
{
    bool line_start = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (escaped_anywhere(c) || (line_start && block_mark(c)) ||
            (line_start && isdigit(c) && list_marker_end(s, len, i)))
            return false;
        line_start = c == '\n' || (line_start && (c == ' ' || c == '\t'));
    }
    return true;
}

static int helper_md_escape(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (plain_markdown(s, len)) {
        lua_settop(L, 1);
        return 1;
    }
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    bool line_start = true; /* only indentation seen on this line so far */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n' || (line_start && (c == ' ' || c == '\t'))) {
            line_start = c == '\n' || line_start;
            luaL_addchar(&buffer, c);
            continue;
        }
        if (line_start && block_mark((unsigned char)c)) {
            luaL_addchar(&buffer, '\\');
        } else if (line_start && isdigit((unsigned char)c)) {
            size_t end = list_marker_end(s, len, i);
            if (end) {
                luaL_addlstring(&buffer, s + i, end - i);
                luaL_addchar(&buffer, '\\');
                i = end;
                c = s[i];
            }
        } else if (escaped_anywhere((unsigned char)c)) {
            luaL_addchar(&buffer, '\\');
        }
        line_start = false;
        luaL_addchar(&buffer, c);
    }
    luaL_pushresult(&buffer);
    return 1;
}

typedef struct sort_key {
    int rank; /* 0 numbers, 1 strings, 2 anything else */
    lua_Number number;
    const char *bytes;
    size_t len;
    lua_Integer position; /* in the collected key list: a stable tiebreak */
} sort_key;

static int compare_keys(const void *left, const void *right)
{
    const sort_key *a = left, *b = right;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (a->rank == 0 && a->number != b->number)
        return a->number < b->number ? -1 : 1;
    if (a->rank == 1) {
        int order = memcmp(a->bytes, b->bytes, a->len < b->len ? a->len : b->len);
        if (order)
            return order;
        if (a->len != b->len)
            return a->len < b->len ? -1 : 1;
    }
    return a->position < b->position ? -1 : a->position > b->position;
}

/* Upvalues: 1 sorted keys, 2 the table, 3 position reached. Keys whose
 * value was removed meanwhile are skipped. */
static int sorted_next(lua_State *L)
{
    for (lua_Integer i = lua_tointeger(L, lua_upvalueindex(3)) + 1;; i++) {
        if (lua_rawgeti(L, lua_upvalueindex(1), i) == LUA_TNIL)
            return 0;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) {
            lua_pushinteger(L, i);
            lua_replace(L, lua_upvalueindex(3));
            return 2;
        }
        lua_pop(L, 2);
    }
}

/* herald.sorted(t): for k, v in herald.sorted(t) visits numeric keys in
 * numeric order, then string keys in byte order (not the locale's), then
 * any other keys. */
static int helper_sorted(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: keys in traversal order, anchoring the strings */
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 2, ++count);
    }
    sort_key *keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys + 1, 0); /* 3 */
    for (lua_Integer i = 0; i < count; i++) {
        int type = lua_rawgeti(L, 2, i + 1);
        sort_key *key = &keys[i];
        *key = (sort_key){2, 0, NULL, 0, i};
        if (type == LUA_TNUMBER) {
            key->rank = 0;
            key->number = lua_tonumber(L, -1);
        } else if (type == LUA_TSTRING) {
            key->rank = 1;
            key->bytes = lua_tolstring(L, -1, &key->len);
        }
        lua_pop(L, 1);
    }
    qsort(keys, (size_t)count, sizeof *keys, compare_keys);
    lua_createtable(L, (int)count, 0); /* 4: keys in sorted order */
    for (lua_Integer i = 0; i < count; i++) {
        lua_rawgeti(L, 2, keys[i].position + 1);
        lua_rawseti(L, 4, i + 1);
    }
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, sorted_next, 3);
    return 1;
}

/* herald.compile(text [, name]): name (default "template") is what error
 * messages show. Raises "name:line: message" on a template or Lua syntax
 * error. */
static int helper_compile(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "template");
    const char *chunkname = lua_pushfstring(L, "@%s", name);
    char err[512];
    char *lua;
    if (template_to_lua(name, text, len, &lua, err, sizeof err) != 0) {
        lua_pushstring(L, err);
        return lua_error(L);
    }
    int status = luaL_loadbufferx(L, lua, strlen(lua), chunkname, "t");
    free(lua);
    if (status != LUA_OK)
        return lua_error(L);
    /* The text reads globals where the code compiling it does: a
     * template's own globals, never the shared ones. */
    if (isolate_push_caller_env(L))
        lua_setupvalue(L, -2, 1);
    template_output_push_functions(L);
    lua_call(L, 4, 1);
    return 1;
}

void template_open_helpers(lua_State *L, const tz_zone *zone)
{
    static const luaL_Reg helpers[] = {
        {"truncate", helper_truncate}, {"md_escape", helper_md_escape},
        {"sorted", helper_sorted},     {"compile", helper_compile},
        {NULL, NULL},
    };
    luaL_newlib(L, helpers);
    lua_pushlightuserdata(L, (void *)(uintptr_t)zone);
    lua_pushcclosure(L, helper_time, 1);
    lua_setfield(L, -2, "time");
    action_helper_open(L);
    lua_setglobal(L, "herald");
}
