#include "pipeline/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "lua/action_helper.h"
#include "lua/sandbox.h"
#include "pipeline/entries.h"
#include "util/error.h"
#include "util/strbuf.h"

const char *render_status(const alert *const *alerts, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (alerts[i]->status == ALERT_FIRING)
            return "firing";
    return "resolved";
}

static void push_string_list(lua_State *L, char *const *items, size_t len)
{
    lua_createtable(L, (int)len, 0);
    for (size_t i = 0; i < len; i++) {
        lua_pushstring(L, items[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_mentions(lua_State *L, const mention_set *m)
{
    lua_createtable(L, 0, 3);
    push_string_list(L, m->mobiles, m->mobiles_len);
    lua_setfield(L, -2, "mobiles");
    push_string_list(L, m->user_ids, m->user_ids_len);
    lua_setfield(L, -2, "user_ids");
    lua_pushboolean(L, m->all);
    lua_setfield(L, -2, "all");
}

static void push_template_data(lua_State *L, const render_input *in)
{
    action_helper_set_receiver(L, in->receiver->name);
    lua_createtable(L, 0, 14);
    lua_pushstring(L, in->receiver->name);
    lua_setfield(L, -2, "receiver");
    lua_pushstring(L, render_status(in->alerts, in->len));
    lua_setfield(L, -2, "status");

    lua_createtable(L, (int)in->len, 0); /* alerts */
    lua_newtable(L);                     /* firing */
    lua_newtable(L);                     /* resolved */
    lua_Integer nf = 0, nr = 0;
    for (size_t i = 0; i < in->len; i++) {
        script_push_alert(L, in->alerts[i]);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -5, (lua_Integer)i + 1);
        if (in->alerts[i]->status == ALERT_FIRING)
            lua_rawseti(L, -3, ++nf);
        else
            lua_rawseti(L, -2, ++nr);
    }
    lua_setfield(L, -4, "resolved");
    lua_setfield(L, -3, "firing");
    lua_setfield(L, -2, "alerts");

    /* Common labels of this message's alerts: the same as Alertmanager's
     * for a whole group, and still right when the route split a group. */
    alert *copies = xcalloc(in->len ? in->len : 1, sizeof *copies);
    for (size_t i = 0; i < in->len; i++)
        copies[i] = *in->alerts[i];
    labelset common = {0}, common_annotations = {0};
    labelset_common(&common, copies, in->len, 0);
    labelset_common(&common_annotations, copies, in->len, 1);
    free(copies);
    script_push_labelset(L, &common);
    lua_setfield(L, -2, "commonLabels");
    script_push_labelset(L, &common_annotations);
    lua_setfield(L, -2, "commonAnnotations");
    labelset_free(&common);
    labelset_free(&common_annotations);

    script_push_labelset(L, &in->batch->group_labels);
    lua_setfield(L, -2, "groupLabels");
    lua_pushstring(L, in->batch->external_url ? in->batch->external_url : "");
    lua_setfield(L, -2, "externalURL");
    lua_pushstring(L, in->batch->group_key ? in->batch->group_key : "");
    lua_setfield(L, -2, "groupKey");
    lua_pushinteger(L, in->batch->truncated_alerts);
    lua_setfield(L, -2, "truncatedAlerts");
    script_set_fields(L, &in->batch->grafana);
    push_mentions(L, in->mentions);
    lua_setfield(L, -2, "mentions");
    if (in->parts > 1) {
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)in->part);
        lua_setfield(L, -2, "index");
        lua_pushinteger(L, (lua_Integer)in->parts);
        lua_setfield(L, -2, "count");
        lua_setfield(L, -2, "part");
    }
    if (in->escalated_from) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, in->escalated_from);
        lua_setfield(L, -2, "from");
        lua_pushstring(L, in->escalated_after);
        lua_setfield(L, -2, "after");
        lua_pushstring(L, in->receiver->name);
        lua_setfield(L, -2, "to");
        lua_setfield(L, -2, "escalation");
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lua_pushnumber(L, (double)now.tv_sec + now.tv_nsec / 1e9);
    lua_setfield(L, -2, "now");
}

/* Serialises a Lua value as JSON: sequences become arrays, other tables
 * objects with string keys. */
static int to_json(lua_State *L, int idx, strbuf *out, int depth, char *why, size_t why_cap)
{
    idx = lua_absindex(L, idx);
    if (depth > 32)
        return fail(why, why_cap, "nested deeper than 32 levels");
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        sb_puts(out, "null");
        return 0;
    case LUA_TBOOLEAN:
        sb_puts(out, lua_toboolean(L, idx) ? "true" : "false");
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            sb_printf(out, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double v = lua_tonumber(L, idx);
            if (!isfinite(v))
                return fail(why, why_cap, "a number that is not finite");
            sb_printf(out, "%.17g", v);
        }
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        sb_json_string(out, s, len);
        return 0;
    }
    case LUA_TTABLE:
        break;
    default:
        return fail(why, why_cap, "a %s cannot be sent", luaL_typename(L, idx));
    }
    size_t n = lua_rawlen(L, idx), keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        keys++;
        lua_pop(L, 1);
    }
    if (n > 0 && keys == n) {
        sb_putc(out, '[');
        for (size_t i = 1; i <= n; i++) {
            if (i > 1)
                sb_putc(out, ',');
            lua_rawgeti(L, idx, (lua_Integer)i);
            int rc = to_json(L, -1, out, depth + 1, why, why_cap);
            lua_pop(L, 1);
            if (rc)
                return -1;
        }
        sb_putc(out, ']');
        return 0;
    }
    sb_putc(out, '{');
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return fail(why, why_cap, "a table mixes list items and named fields");
        }
        if (!first)
            sb_putc(out, ',');
        first = 0;
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen);
        sb_json_string(out, k, klen);
        sb_putc(out, ':');
        if (to_json(L, -1, out, depth + 1, why, why_cap)) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    sb_putc(out, '}');
    return 0;
}

static int read_mention_override(lua_State *L, mention_set *m)
{
    static const struct {
        const char *key;
        void (*add)(mention_set *, const char *);
    } lists[] = {{"mobiles", mention_set_add_mobile}, {"user_ids", mention_set_add_user_id}};
    for (size_t l = 0; l < 2; l++) {
        sandbox_rawfield(L, -1, lists[l].key);
        if (lua_istable(L, -1)) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
                    lua_pop(L, 2);
                    return -1;
                }
                lists[l].add(m, lua_tostring(L, -1));
                lua_pop(L, 1);
            }
        } else if (!lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return -1;
        }
        lua_pop(L, 1);
    }
    sandbox_rawfield(L, -1, "all");
    m->all = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return 0;
}

/* Turns the table a template returned (at the top) into a message. */
static int read_result(lua_State *L, const char *where, const render_input *in, rendered *out,
                       strbuf *json, char *err, size_t err_cap)
{
    if (!lua_istable(L, -1))
        return fail(err, err_cap, "%s: the render function must return a table, it returned %s",
                    where, luaL_typename(L, -1));
    sandbox_rawfield(L, -1, "body");
    if (!lua_isnil(L, -1)) {
        char why[128] = "";
        int rc = lua_istable(L, -1) ? to_json(L, -1, json, 0, why, sizeof why) : -1;
        lua_pop(L, 1);
        if (rc)
            return fail(err, err_cap, "%s: result.body: %s", where,
                        why[0] ? why : "expected a table (the channel's native body)");
        out->format = HERALD_FORMAT_NATIVE;
        out->text = sb_take(json);
        out->title = xstrdup("");
        mention_set_merge(&out->mentions, in->mentions);
        return 0;
    }
    lua_pop(L, 1);

    sandbox_rawfield(L, -1, "format");
    const char *format = lua_isnil(L, -1) ? "markdown" : lua_tostring(L, -1);
    if (format && strcmp(format, "markdown") == 0)
        out->format = HERALD_FORMAT_MARKDOWN;
    else if (format && strcmp(format, "text") == 0)
        out->format = HERALD_FORMAT_TEXT;
    else if (format && strcmp(format, "html") == 0)
        out->format = HERALD_FORMAT_HTML;
    else {
        lua_pop(L, 1);
        return fail(err, err_cap, "%s: result.format: expected \"markdown\", \"text\" or \"html\"",
                    where);
    }
    lua_pop(L, 1);

    sandbox_rawfield(L, -1, "text");
    if (lua_type(L, -1) != LUA_TSTRING) {
        int rc = fail(err, err_cap, "%s: result.text: expected a string, got %s", where,
                      luaL_typename(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    out->text = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);

    sandbox_rawfield(L, -1, "title");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
        int rc = fail(err, err_cap, "%s: result.title: expected a string, got %s", where,
                      luaL_typename(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    out->title = xstrdup(lua_isnil(L, -1) ? "" : lua_tostring(L, -1));
    lua_pop(L, 1);

    sandbox_rawfield(L, -1, "mentions");
    int rc = 0;
    if (lua_istable(L, -1))
        rc = read_mention_override(L, &out->mentions);
    else if (lua_isnil(L, -1))
        mention_set_merge(&out->mentions, in->mentions);
    else
        rc = -1;
    lua_pop(L, 1);
    if (rc)
        return fail(err, err_cap, "%s: result.mentions: expected {mobiles = {...}, user_ids = {...}, all = bool}",
                    where);
    return entries_read(L, where, in, out, err, err_cap);
}

/* Pushing the data, the template's call and reading its result are one
 * protected call (sandbox_run): a Lua error in any of them, the memory cap
 * as much as the template's own, is an error of this render, not an abort
 * of the process. What they allocate outside Lua is the caller's to free. */
typedef struct template_call {
    const char *where;
    const render_input *in;
    rendered *out;
    strbuf json;
    char *err;
    size_t err_cap;
    int rc;
} template_call;

/* Called with the template's function on the stack. */
static int run_template(lua_State *L, void *ctx)
{
    template_call *c = ctx;
    push_template_data(L, c->in);
    lua_call(L, 1, 1);
    c->rc = read_result(L, c->where, c->in, c->out, &c->json, c->err, c->err_cap);
    return 0;
}

int render_template(script_state *s, const render_input *in, rendered *out, char *err,
                    size_t err_cap)
{
    memset(out, 0, sizeof *out);
    lua_State *L = s->L;
    int top = lua_gettop(L);
    const source_file *src = generation_template(s->gen, in->receiver->template_name);
    const char *where = src ? src->path : in->receiver->template_name;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->templates_ref);
    lua_getfield(L, -1, in->receiver->template_name);
    if (!lua_isfunction(L, -1)) {
        lua_settop(L, top);
        return fail(err, err_cap, "template \"%s\" is not loaded", in->receiver->template_name);
    }
    template_call call = {where, in, out, STRBUF_INIT, err, err_cap, 0};
    int rc = sandbox_run(L, run_template, &call, 1, 0, err, err_cap) ? -1 : call.rc;
    sb_free(&call.json);
    lua_settop(L, top);
    script_end_call(s, in->receiver->template_name);
    if (rc) {
        rendered_free(out);
    } else if (in->parts > 1) {
        strbuf title = STRBUF_INIT;
        sb_printf(&title, "%s (%zu/%zu)", out->title ? out->title : "", in->part, in->parts);
        free(out->title);
        out->title = sb_take(&title);
    }
    return rc;
}

void render_fallback(const render_input *in, const tz_zone *zone, rendered *out)
{
    memset(out, 0, sizeof *out);
    const char *status = render_status(in->alerts, in->len);
    const char *name = in->len ? labelset_get(&in->alerts[0]->labels, "alertname") : NULL;
    strbuf title = STRBUF_INIT, text = STRBUF_INIT;
    sb_printf(&title, "[%s:%zu] %s", strcmp(status, "firing") == 0 ? "FIRING" : "RESOLVED",
              in->len, name ? name : "alert");
    if (in->parts > 1)
        sb_printf(&title, " (%zu/%zu)", in->part, in->parts);
    sb_printf(&text, "%s\n", sb_str(&title));
    if (in->escalated_from)
        sb_printf(&text, "escalated from %s after %s\n", in->escalated_from,
                  in->escalated_after);
    for (size_t i = 0; i < in->len; i++) {
        const alert *a = in->alerts[i];
        sb_printf(&text, "\n[%s]", alert_status_name(a->status));
        for (size_t l = 0; l < a->labels.len; l++)
            sb_printf(&text, " %s=%s", a->labels.items[l].name, a->labels.items[l].value);
        const char *summary = labelset_get(&a->annotations, "summary");
        if (summary)
            sb_printf(&text, "\n%s", summary);
        char when[64];
        tz_format(zone, (int64_t)a->starts_at, "%Y-%m-%d %H:%M:%S %Z", when, sizeof when);
        sb_printf(&text, "\nstarts: %s", when);
        if (a->status == ALERT_RESOLVED && a->ends_at) {
            tz_format(zone, (int64_t)a->ends_at, "%Y-%m-%d %H:%M:%S %Z", when, sizeof when);
            sb_printf(&text, "\nends: %s", when);
        }
        if (a->generator_url && a->generator_url[0])
            sb_printf(&text, "\nsource: %s", a->generator_url);
        sb_putc(&text, '\n');
    }
    out->format = HERALD_FORMAT_TEXT;
    entries_default(in, "firing", "resolved", out);
    out->title = sb_take(&title);
    out->text = sb_take(&text);
    mention_set_merge(&out->mentions, in->mentions);
}
