#include "pipeline/entries.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lua/sandbox.h"
#include "util/error.h"
#include "util/strbuf.h"

/* By the length the label keeps, then its bytes: labels are compared
 * here for every alert of every message. */
static int is_named(const label *l, const char *name)
{
    size_t len = strlen(name);
    return l->name_len == len && memcmp(l->name, name, len) == 0;
}

/* Labels that name an alert's kind and urgency, not which alert it is. */
static int is_kind_label(const label *l)
{
    return is_named(l, "alertname") || is_named(l, "severity");
}

/* Whether `name` has another value (or none) in some alert of the
 * message: a label that tells its alerts apart. */
static int differs(const render_input *in, const char *name)
{
    const char *first = labelset_get(&in->alerts[0]->labels, name);
    for (size_t i = 0; i < in->len; i++) {
        const char *value = labelset_get(&in->alerts[i]->labels, name);
        if (!value || !first || strcmp(value, first) != 0)
            return 1;
    }
    return 0;
}

/* The labels that tell the message's alerts apart, found once per
 * message: asking for each alert anew cost n squared lookups, most of a
 * 250-alert message's render. */
typedef struct telling_labels {
    const label **labels; /* the first label of each name asked about */
    int *differ;
    size_t len;
} telling_labels;

static int tells_apart(const render_input *in, telling_labels *t, const label *l)
{
    for (size_t i = 0; i < t->len; i++)
        if (t->labels[i]->name_len == l->name_len &&
            memcmp(t->labels[i]->name, l->name, l->name_len) == 0)
            return t->differ[i];
    t->labels = xrealloc(t->labels, (t->len + 1) * sizeof *t->labels);
    t->differ = xrealloc(t->differ, (t->len + 1) * sizeof *t->differ);
    t->labels[t->len] = l;
    return t->differ[t->len++] = differs(in, l->name);
}

/* The instance, then the values of the labels that differ within the
 * message; with no instance and nothing differing (an alert alone), its
 * labels but its name and severity, as name=value. */
static void identity(const render_input *in, telling_labels *t, const alert *a, strbuf *out)
{
    const char *instance = labelset_get(&a->labels, "instance");
    if (instance)
        sb_puts(out, instance);
    for (size_t i = 0; i < a->labels.len; i++) {
        const label *l = &a->labels.items[i];
        if (is_kind_label(l) || is_named(l, "instance") || !tells_apart(in, t, l))
            continue;
        if (out->len)
            sb_putc(out, ' ');
        sb_puts(out, l->value);
    }
    if (out->len)
        return;
    for (size_t i = 0; i < a->labels.len; i++)
        if (!is_kind_label(&a->labels.items[i]))
            sb_printf(out, "%s%s=%s", out->len ? " " : "", a->labels.items[i].name,
                      a->labels.items[i].value);
    if (!out->len)
        sb_puts(out, a->fingerprint);
}

void entries_default(const render_input *in, const char *firing, const char *resolved,
                     rendered *out)
{
    telling_labels telling = {NULL, NULL, 0};
    strbuf group = STRBUF_INIT, item = STRBUF_INIT;
    for (size_t i = 0; i < in->len; i++) {
        const alert *a = in->alerts[i];
        const char *name = labelset_get(&a->labels, "alertname");
        sb_reset(&group);
        sb_reset(&item);
        sb_puts(&group, name ? name : "?");
        sb_putc(&group, ' ');
        sb_puts(&group, a->status == ALERT_FIRING ? firing : resolved);
        identity(in, &telling, a, &item);
        rendered_add_entry(out, sb_str(&group), sb_str(&item),
                           labelset_get(&a->annotations, "summary"));
    }
    sb_free(&group);
    sb_free(&item);
    free(telling.labels);
    free(telling.differ);
}

/* A string field of the table at the top, or NULL (not a string). */
static const char *string_field(lua_State *L, const char *name)
{
    sandbox_rawfield(L, -1, name);
    const char *value = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the string stays: the table holds it */
    return value;
}

/* The detail of the entry at the top: a string, or none; 0 if it is
 * something else. */
static int detail_field(lua_State *L, const char **detail)
{
    sandbox_rawfield(L, -1, "detail");
    int type = lua_type(L, -1);
    *detail = type == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return type == LUA_TSTRING || type == LUA_TNIL;
}

static int read_list(lua_State *L, const char *where, rendered *out, char *err, size_t err_cap)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *group = lua_istable(L, -1) ? string_field(L, "group") : NULL;
        const char *item = group ? string_field(L, "item") : NULL;
        const char *detail = NULL;
        if (!item || !detail_field(L, &detail)) {
            lua_pop(L, 1);
            return fail(err, err_cap, "%s: result.digest[%lld]: expected {group = string, item = "
                        "string, detail = string or nil}", where, (long long)i);
        }
        rendered_add_entry(out, group, item, detail);
        lua_pop(L, 1);
    }
    return 0;
}

int entries_read(lua_State *L, const char *where, const render_input *in, rendered *out,
                 char *err, size_t err_cap)
{
    sandbox_rawfield(L, -1, "digest");
    int rc = 0;
    if (lua_isnil(L, -1)) {
        entries_default(in, "firing", "resolved", out);
    } else if (!lua_istable(L, -1)) {
        rc = fail(err, err_cap, "%s: result.digest: expected a table, got %s", where,
                  luaL_typename(L, -1));
    } else if (lua_rawlen(L, -1) > 0) {
        rc = read_list(L, where, out, err, err_cap);
    } else {
        const char *firing = string_field(L, "firing"), *resolved = string_field(L, "resolved");
        if (firing && resolved)
            entries_default(in, firing, resolved, out);
        else
            rc = fail(err, err_cap, "%s: result.digest: expected a list of {group, item, detail} "
                      "or {firing = string, resolved = string}", where);
    }
    lua_pop(L, 1);
    return rc;
}
