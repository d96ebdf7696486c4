/* The link names what its page acts on: the fingerprints of the alerts
 * (of a group: those firing, or all when none is) and equality matchers
 * (an alert's labels, or the group's labels), signed, so the page needs
 * nothing from the message and nobody can widen what a link silences. */
#include "lua/action_helper.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "action/links.h"
#include "util/clock.h"
#include "util/strbuf.h"
#include "util/units.h"

#define RECEIVER_KEY "herald.action.receiver"

void action_helper_set_receiver(lua_State *L, const char *receiver)
{
    lua_pushstring(L, receiver);
    lua_setfield(L, LUA_REGISTRYINDEX, RECEIVER_KEY);
}

/* The string pairs of the table at idx, read raw (a metatable cannot run
 * code under the helper). */
static void read_labels(lua_State *L, int idx, labelset *out)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        return;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
            labelset_set(out, lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static void add_fingerprint(action_token *t, const char *fp)
{
    t->fingerprints = xrealloc(t->fingerprints, (t->fingerprints_len + 1) * sizeof(char *));
    t->fingerprints[t->fingerprints_len++] = xstrdup(fp);
}

/* An alert of a group's list at idx: its fingerprint, when it is one of
 * those wanted (firing ones, or any). */
static void take_alerts(lua_State *L, int list, action_token *t, int firing_only)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n && t->fingerprints_len < ACTION_MAX_FINGERPRINTS; i++) {
        lua_rawgeti(L, list, i);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "status");
            int firing = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "firing") == 0;
            lua_getfield(L, -2, "fingerprint");
            if (lua_type(L, -1) == LUA_TSTRING && (firing || !firing_only))
                add_fingerprint(t, lua_tostring(L, -1));
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
}

static void describe_group(lua_State *L, action_token *t)
{
    lua_getfield(L, 1, "alerts");
    int list = lua_gettop(L);
    take_alerts(L, list, t, 1);
    if (!t->fingerprints_len)
        take_alerts(L, list, t, 0);
    lua_getfield(L, 1, "groupLabels");
    read_labels(L, -1, &t->matchers);
    if (!t->matchers.len) {
        lua_getfield(L, 1, "commonLabels");
        read_labels(L, -1, &t->matchers);
        lua_pop(L, 1);
    }
    lua_getfield(L, 1, "receiver");
    t->receiver = xstrdup(lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 3);
}

static void describe_alert(lua_State *L, action_token *t)
{
    lua_getfield(L, 1, "fingerprint");
    if (lua_type(L, -1) == LUA_TSTRING)
        add_fingerprint(t, lua_tostring(L, -1));
    lua_getfield(L, 1, "labels");
    read_labels(L, -1, &t->matchers);
    lua_getfield(L, LUA_REGISTRYINDEX, RECEIVER_KEY);
    t->receiver = xstrdup(lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 3);
}

static int duration_arg(lua_State *L, int arg, int64_t *out)
{
    const char *text = luaL_checkstring(L, arg);
    if (parse_duration_ms(text, out) || *out < 60000 || *out > 365LL * 86400 * 1000)
        return luaL_argerror(L, arg, "expected a duration from 1m to 365d, such as \"2h\"");
    return 0;
}

static int helper_action_url(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    action_kind kind;
    if (action_kind_parse(luaL_checkstring(L, 2), &kind))
        return luaL_argerror(L, 2, "expected \"silence\" or \"ack\"");
    int64_t duration = 0, valid_for = 0;
    if (kind == ACTION_SILENCE)
        duration_arg(L, 3, &duration);
    if (!lua_isnoneornil(L, 4))
        duration_arg(L, 4, &valid_for);
    if (valid_for > ACTION_MAX_TTL_MS)
        return luaL_argerror(L, 4, "a link is valid for at most 30d");
    if (!action_links_on())
        return 0; /* nil: links are off, so nothing is read to sign */
    lua_getfield(L, 1, "alerts");
    int is_group = lua_istable(L, -1);
    lua_pop(L, 1);
    action_token t = {.kind = kind, .duration_ms = duration};
    if (is_group)
        describe_group(L, &t);
    else
        describe_alert(L, &t);
    char *url = t.fingerprints_len || t.matchers.len ? action_links_make(&t, wall_ms(), valid_for)
                                                     : NULL;
    action_token_free(&t);
    if (!url)
        return 0; /* nil: links are off */
    lua_pushstring(L, url);
    free(url);
    return 1;
}

void action_helper_open(lua_State *L)
{
    lua_pushcfunction(L, helper_action_url);
    lua_setfield(L, -2, "action_url");
}
