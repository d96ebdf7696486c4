#include "pipeline/script.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/isolate.h"
#include "lua/sandbox.h"
#include "util/error.h"

/* Runs a chunk, in an environment of its own, that must return a
 * function; leaves the environment and the function pushed. */
static int load_function(lua_State *L, const source_file *src, const char *what, char *err,
                         size_t err_cap)
{
    if (sandbox_load(L, src->path, src->text, src->len, err, err_cap))
        return -1;
    if (isolate_env_new(L, err, err_cap)) {
        lua_pop(L, 1);
        return -1;
    }
    if (sandbox_call(L, 0, 1, err, err_cap)) {
        lua_pop(L, 1);
        return -1;
    }
    isolate_env_seal(L, -2);
    if (!lua_isfunction(L, -1)) {
        int rc = fail(err, err_cap, "%s: the %s must return a function, it returned %s",
                      src->path, what, luaL_typename(L, -1));
        lua_pop(L, 2);
        return rc;
    }
    return 0;
}

int script_try_template(const generation *g, const source_file *src, char *err, size_t err_cap)
{
    lua_State *L = sandbox_new(&g->conf.lua, g->conf.zone);
    if (!L)
        return fail(err, err_cap, "cannot create a Lua state");
    int rc = load_function(L, src, "template", err, err_cap);
    sandbox_close(L);
    return rc;
}

int script_open(script_state *s, generation *g, char *err, size_t err_cap)
{
    memset(s, 0, sizeof *s);
    s->route_ref = s->route_env_ref = s->templates_ref = s->template_envs_ref = LUA_NOREF;
    s->L = sandbox_new(&g->conf.lua, g->conf.zone);
    if (!s->L)
        return fail(err, err_cap, "cannot create a Lua state");
    s->gen = generation_ref(g);
    lua_State *L = s->L;
    if (load_function(L, &g->route, "route script", err, err_cap))
        goto fail;
    s->route_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->route_env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L); /* render functions */
    lua_newtable(L); /* environments */
    for (size_t i = 0; i < g->templates_len; i++) {
        if (load_function(L, &g->templates[i], "template", err, err_cap)) {
            lua_pop(L, 2);
            goto fail;
        }
        lua_setfield(L, -4, g->templates[i].name);
        lua_setfield(L, -2, g->templates[i].name);
    }
    s->template_envs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->templates_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
fail:
    script_close(s);
    return -1;
}

void script_end_call(script_state *s, const char *template_name)
{
    lua_State *L = s->L;
    if (template_name) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, s->template_envs_ref);
        lua_getfield(L, -1, template_name);
        lua_remove(L, -2);
    } else {
        lua_rawgeti(L, LUA_REGISTRYINDEX, s->route_env_ref);
    }
    if (lua_istable(L, -1))
        isolate_env_reset(L, -1);
    lua_pop(L, 1);
}

void script_close(script_state *s)
{
    if (s->L)
        sandbox_close(s->L);
    if (s->gen)
        generation_unref(s->gen);
    memset(s, 0, sizeof *s);
}

void script_collect_garbage(script_state *s)
{
    if (s->L)
        lua_gc(s->L, LUA_GCCOLLECT);
}

/* t[name] = value on the fresh table at the top. lua_pushstring and
 * lua_setfield would first look each C string up in Lua's cache of API
 * strings by its address, which never hits for labels parsed anew per
 * request: that miss was a tenth of pushing an alert. */
static void set_string(lua_State *L, const char *name, const char *value)
{
    lua_pushlstring(L, name, strlen(name));
    lua_pushlstring(L, value, strlen(value));
    lua_rawset(L, -3);
}

void script_push_labelset(lua_State *L, const labelset *set)
{
    lua_createtable(L, 0, (int)set->len);
    script_set_fields(L, set);
}

void script_push_alert(lua_State *L, const alert *a)
{
    lua_createtable(L, 0, 7);
    lua_pushstring(L, alert_status_name(a->status));
    lua_setfield(L, -2, "status");
    script_push_labelset(L, &a->labels);
    lua_setfield(L, -2, "labels");
    script_push_labelset(L, &a->annotations);
    lua_setfield(L, -2, "annotations");
    if (a->starts_at) {
        lua_pushnumber(L, a->starts_at);
        lua_setfield(L, -2, "startsAt");
    }
    if (a->ends_at) {
        lua_pushnumber(L, a->ends_at);
        lua_setfield(L, -2, "endsAt");
    }
    set_string(L, "generatorURL", a->generator_url ? a->generator_url : "");
    set_string(L, "fingerprint", a->fingerprint);
    script_set_fields(L, &a->grafana);
    if (a->values_len) {
        lua_createtable(L, 0, (int)a->values_len);
        for (size_t i = 0; i < a->values_len; i++) {
            lua_pushnumber(L, a->values[i].value);
            lua_setfield(L, -2, a->values[i].name);
        }
        lua_setfield(L, -2, "values");
    }
}

/* As set_string does, with the lengths the labels keep. */
void script_set_fields(lua_State *L, const labelset *fields)
{
    for (size_t i = 0; i < fields->len; i++) {
        const label *l = &fields->items[i];
        lua_pushlstring(L, l->name, l->name_len);
        lua_pushlstring(L, l->value, l->value_len);
        lua_rawset(L, -3);
    }
}
