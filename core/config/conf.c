#include "config/conf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <openssl/crypto.h>

#include "config/listen.h"
#include "http/tls.h"
#include "plugin/host.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/units.h"

#ifndef HERALD_PLUGIN_INSTALL_DIR
#error "the build defines HERALD_PLUGIN_INSTALL_DIR"
#endif

/* ---- helpers ---------------------------------------------------------- */

static int strcmp_indirect(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}


char *default_plugin_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        strbuf candidate = STRBUF_INIT;
        sb_printf(&candidate, "%s/plugins", dirname(exe));
        struct stat st;
        if (stat(sb_str(&candidate), &st) == 0 && S_ISDIR(st.st_mode))
            return sb_take(&candidate);
        sb_free(&candidate);
    }
    return xstrdup(HERALD_PLUGIN_INSTALL_DIR);
}

/* ---- reading the Lua table --------------------------------------------- */

typedef struct loader {
    lua_State *L;
    config *conf;
    char *err;
    size_t err_cap;
    strbuf unset_env;  /* names env() was asked for but the environment lacks */
    char hint[512];
} loader;

static int fail_at(loader *ld, const char *key_path, const char *fmt, ...) HERALD_PRINTF(3, 4);
static int fail_at(loader *ld, const char *key_path, const char *fmt, ...)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s: ", ld->conf->path);
    if (key_path)
        sb_printf(&sb, "%s: ", key_path);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    snprintf(ld->err, ld->err_cap, "%s", sb_str(&sb));
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

/* " (unset environment variables: A, B)" when env() found some unset. */
static const char *unset_env_hint(loader *ld)
{
    if (!ld->unset_env.len)
        return "";
    snprintf(ld->hint, sizeof ld->hint, " (unset environment variables: %s)", sb_str(&ld->unset_env));
    return ld->hint;
}

/* Expects a string at the top of the stack (nil allowed unless required). */
static int take_string(loader *ld, const char *path, int required, char **out)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1)) {
        if (required)
            return fail_at(ld, path, "missing: expected a string%s", unset_env_hint(ld));
        return 0;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        return fail_at(ld, path, "expected a string, got %s", describe(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
        return fail_at(ld, path, "must not contain NUL bytes");
    free(*out);
    *out = xstrdup(s);
    return 0;
}

static int take_integer(loader *ld, const char *path, long long min, long long max,
                        long long *out)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_isinteger(L, -1))
        return fail_at(ld, path, "expected an integer, got %s", describe(L, -1));
    long long v = lua_tointeger(L, -1);
    if (v < min || v > max)
        return fail_at(ld, path, "expected an integer from %lld to %lld, got %lld", min, max, v);
    *out = v;
    return 0;
}

static int read_integer_field(loader *ld, const char *path, const char *key, long long min,
                              long long max, long long *out)
{
    lua_getfield(ld->L, -1, key);
    int rc = take_integer(ld, path, min, max, out);
    lua_pop(ld->L, 1);
    return rc;
}

static int take_boolean(loader *ld, const char *path, int *out)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_isboolean(L, -1))
        return fail_at(ld, path, "expected true or false, got %s", describe(L, -1));
    *out = lua_toboolean(L, -1);
    return 0;
}

/* Durations and sizes accept a string with a unit or a plain number. */
static int take_quantity(loader *ld, const char *path, int is_size, int64_t *ms, size_t *bytes)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1))
        return 0;
    const char *expected = is_size ? "a size such as \"1MiB\" or a number of bytes"
                                   : "a duration such as \"10s\", \"5m\", \"24h\" or seconds";
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        return fail_at(ld, path, "expected %s, got %s", expected, describe(L, -1));
    char text[64];
    snprintf(text, sizeof text, "%s", lua_tostring(L, -1));
    int bad = is_size ? parse_size_bytes(text, bytes) : parse_duration_ms(text, ms);
    if (bad)
        return fail_at(ld, path, "expected %s, got \"%s\"", expected, text);
    return 0;
}

/* A sequence of strings, appended to items. */
static int take_string_list(loader *ld, const char *path, char ***items, size_t *len)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_istable(L, -1))
        return fail_at(ld, path, "expected a list of strings, got %s", describe(L, -1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n) {
            lua_pop(L, 2);
            return fail_at(ld, path, "expected a list of strings, found a non-list key");
        }
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%lld]", path, (long long)i);
            int rc = fail_at(ld, sub, "expected a string, got %s", describe(L, -1));
            lua_pop(L, 1);
            return rc;
        }
        *items = xrealloc(*items, (*len + 1) * sizeof **items);
        (*items)[(*len)++] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return 0;
}

/* Checks that every key of the table at the top is one of `known`. */
static int check_keys(loader *ld, const char *path, const char *const *known, size_t n)
{
    lua_State *L = ld->L;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (size_t i = 0; i < n && !ok; i++)
                ok = strcmp(lua_tostring(L, -1), known[i]) == 0;
        if (!ok) {
            strbuf names = STRBUF_INIT;
            for (size_t i = 0; i < n; i++)
                sb_printf(&names, "%s%s", i ? ", " : "", known[i]);
            char key[128];
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(key, sizeof key, "%s%s%s", path ? path : "", path ? "." : "",
                         lua_tostring(L, -1));
            else
                snprintf(key, sizeof key, "%s", path ? path : "(top level)");
            int rc = lua_type(L, -1) == LUA_TSTRING
                         ? fail_at(ld, key, "unknown key (expected one of: %s)", sb_str(&names))
                         : fail_at(ld, key, "has a non-string key (expected one of: %s)",
                                   sb_str(&names));
            sb_free(&names);
            lua_pop(L, 1);
            return rc;
        }
    }
    return 0;
}

static int expect_table(loader *ld, const char *path)
{
    if (!lua_istable(ld->L, -1))
        return fail_at(ld, path, "expected a table, got %s", describe(ld->L, -1));
    return 0;
}

/* Makes a config-relative path absolute and checks that it exists. */
static int resolve_path(loader *ld, const char *key, char **path, int want_dir)
{
    if ((*path)[0] != '/') {
        strbuf sb = STRBUF_INIT;
        sb_printf(&sb, "%s/%s", ld->conf->dir, *path);
        free(*path);
        *path = sb_take(&sb);
    }
    struct stat st;
    if (stat(*path, &st) != 0)
        return fail_at(ld, key, "%s: %s", *path, strerror(errno));
    if (want_dir && !S_ISDIR(st.st_mode))
        return fail_at(ld, key, "%s: expected a directory", *path);
    if (!want_dir && !S_ISREG(st.st_mode))
        return fail_at(ld, key, "%s: expected a file", *path);
    char *canonical = realpath(*path, NULL);
    if (canonical) {
        free(*path);
        *path = canonical;
    }
    return 0;
}

/* ---- env() ------------------------------------------------------------- */

static int lua_env(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *value = getenv(name);
    if (value) {
        lua_pushstring(L, value);
        return 1;
    }
    if (!lua_isnoneornil(L, 2)) {
        lua_pushvalue(L, 2);
        return 1;
    }
    loader *ld = lua_touserdata(L, lua_upvalueindex(1));
    sb_printf(&ld->unset_env, "%s%s", ld->unset_env.len ? ", " : "", name);
    lua_pushnil(L);
    return 1;
}

/* ---- sections ---------------------------------------------------------- */

static int read_mentions(loader *ld, const char *path, mention_set *m)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1))
        return 0;
    static const char *const keys[] = {"mobiles", "user_ids", "all"};
    if (expect_table(ld, path) || check_keys(ld, path, keys, 3))
        return -1;
    char sub[512];
    static const char *const lists[] = {"mobiles", "user_ids"};
    char **(*items[2]) = {&m->mobiles, &m->user_ids};
    size_t *lens[2] = {&m->mobiles_len, &m->user_ids_len};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, -1, lists[i]);
        snprintf(sub, sizeof sub, "%s.%s", path, lists[i]);
        int rc = take_string_list(ld, sub, items[i], lens[i]);
        lua_pop(L, 1);
        if (rc)
            return rc;
    }
    lua_getfield(L, -1, "all");
    snprintf(sub, sizeof sub, "%s.all", path);
    int rc = take_boolean(ld, sub, &m->all);
    lua_pop(L, 1);
    return rc;
}

static const char *const receiver_core_keys[] = {"channel", "template", "split", "mentions",
                                                 "proxy", "ca_file", "tls_verify",
                                                 "rate_per_minute", "rate_per_second"};
#define RECEIVER_CORE_KEYS 9

static const char *option_type_name(herald_option_type type)
{
    switch (type) {
    case HERALD_OPTION_STRING: return "a string";
    case HERALD_OPTION_INTEGER: return "an integer";
    case HERALD_OPTION_BOOLEAN: return "true or false";
    case HERALD_OPTION_STRING_LIST: return "a list of strings";
    }
    return "?";
}

static int read_channel_option(loader *ld, const char *path, const herald_option_spec *spec,
                               herald_option_value *value)
{
    lua_State *L = ld->L;
    if (lua_isnil(L, -1)) {
        if (spec->required)
            return fail_at(ld, path, "missing: expected %s%s", option_type_name(spec->type),
                           unset_env_hint(ld));
        return 0;
    }
    value->present = 1;
    switch (spec->type) {
    case HERALD_OPTION_STRING: {
        char *s = NULL;
        if (take_string(ld, path, 1, &s))
            return -1;
        value->string = s;
        return 0;
    }
    case HERALD_OPTION_INTEGER:
        return take_integer(ld, path, LLONG_MIN, LLONG_MAX, &value->integer);
    case HERALD_OPTION_BOOLEAN:
        return take_boolean(ld, path, &value->boolean);
    case HERALD_OPTION_STRING_LIST: {
        char **items = NULL;
        size_t len = 0;
        int rc = take_string_list(ld, path, &items, &len);
        value->list = (const char *const *)items;
        value->list_len = len;
        return rc;
    }
    }
    return fail_at(ld, path, "option has an unknown type in its plugin");
}

static int has_template(const config *c, const char *name)
{
    return strings_contain(c->template_names, c->template_names_len, name);
}

static int read_transport_options(loader *ld, const char *path, receiver *r)
{
    lua_State *L = ld->L;
    char sub[300];
    r->tls_verify = 1;
    lua_getfield(L, -1, "proxy");
    snprintf(sub, sizeof sub, "%s.proxy", path);
    int rc = take_string(ld, sub, 0, &r->proxy);
    lua_pop(L, 1);
    if (rc)
        return -1;
    lua_getfield(L, -1, "ca_file");
    snprintf(sub, sizeof sub, "%s.ca_file", path);
    rc = take_string(ld, sub, 0, &r->ca_file);
    lua_pop(L, 1);
    if (rc || (r->ca_file && resolve_path(ld, sub, &r->ca_file, 0)))
        return -1;
    lua_getfield(L, -1, "tls_verify");
    snprintf(sub, sizeof sub, "%s.tls_verify", path);
    rc = take_boolean(ld, sub, &r->tls_verify);
    lua_pop(L, 1);
    if (rc)
        return -1;
    if (!r->tls_verify)
        log_warn(r->name, "tls_verify = false: certificates of this receiver's servers are not checked");
    return 0;
}

static int read_receiver(loader *ld, receiver *r)
{
    lua_State *L = ld->L;
    char path[256], sub[300];
    snprintf(path, sizeof path, "receivers.%s", r->name);
    if (expect_table(ld, path))
        return -1;

    lua_getfield(L, -1, "channel");
    snprintf(sub, sizeof sub, "%s.channel", path);
    int rc = take_string(ld, sub, 1, &r->channel_name);
    lua_pop(L, 1);
    if (rc)
        return -1;
    r->channel = plugins_find_channel(&ld->conf->plugins, r->channel_name, NULL);
    if (!r->channel) {
        strbuf names = STRBUF_INIT;
        for (size_t p = 0; p < ld->conf->plugins.len; p++) {
            const herald_plugin *pl = ld->conf->plugins.items[p].plugin;
            for (size_t c = 0; c < pl->channels_len; c++)
                sb_printf(&names, "%s%s", names.len ? ", " : "", pl->channels[c]->name);
        }
        rc = fail_at(ld, sub, "unknown channel \"%s\" (plugins in %s provide: %s)",
                     r->channel_name, ld->conf->plugin_dir, names.len ? sb_str(&names) : "none");
        sb_free(&names);
        return rc;
    }

    /* Known keys: the core's and the channel's own. */
    const herald_channel *ch = r->channel;
    size_t nkeys = RECEIVER_CORE_KEYS + ch->options_len;
    const char **keys = xcalloc(nkeys, sizeof *keys);
    for (size_t i = 0; i < RECEIVER_CORE_KEYS; i++)
        keys[i] = receiver_core_keys[i];
    for (size_t i = 0; i < ch->options_len; i++)
        keys[RECEIVER_CORE_KEYS + i] = ch->options[i].name;
    rc = check_keys(ld, path, keys, nkeys);
    free(keys);
    if (rc)
        return -1;

    lua_getfield(L, -1, "template");
    snprintf(sub, sizeof sub, "%s.template", path);
    rc = take_string(ld, sub, 0, &r->template_name);
    lua_pop(L, 1);
    if (rc)
        return -1;
    if (!r->template_name)
        r->template_name = xstrdup(ch->default_template ? ch->default_template : "");
    if (!has_template(ld->conf, r->template_name)) {
        strbuf names = STRBUF_INIT;
        for (size_t i = 0; i < ld->conf->template_names_len; i++)
            sb_printf(&names, "%s%s", i ? ", " : "", ld->conf->template_names[i]);
        rc = fail_at(ld, sub, "no template \"%s\" in %s (have: %s)", r->template_name,
                     ld->conf->templates_dir, names.len ? sb_str(&names) : "none");
        sb_free(&names);
        return rc;
    }

    lua_getfield(L, -1, "split");
    snprintf(sub, sizeof sub, "%s.split", path);
    char *split = NULL;
    rc = take_string(ld, sub, 0, &split);
    lua_pop(L, 1);
    if (rc)
        return -1;
    if (split && strcmp(split, "alert") != 0 && strcmp(split, "group") != 0) {
        free(split);
        return fail_at(ld, sub, "expected \"group\" or \"alert\"");
    }
    r->split_per_alert = split && strcmp(split, "alert") == 0;
    free(split);

    lua_getfield(L, -1, "mentions");
    snprintf(sub, sizeof sub, "%s.mentions", path);
    rc = read_mentions(ld, sub, &r->mentions);
    lua_pop(L, 1);
    if (rc)
        return -1;

    if (read_transport_options(ld, path, r))
        return -1;

    long long per_minute = ch->rate_per_minute, per_second = channel_rate_per_second(ch);
    char second_path[sizeof sub];
    snprintf(sub, sizeof sub, "%s.rate_per_minute", path);
    snprintf(second_path, sizeof second_path, "%s.rate_per_second", path);
    if (read_integer_field(ld, sub, "rate_per_minute", 0, 100000, &per_minute) ||
        read_integer_field(ld, second_path, "rate_per_second", 0, 10000, &per_second))
        return -1;
    r->rate = (rate_spec){(unsigned)per_minute, (unsigned)per_second};

    r->values = xcalloc(ch->options_len ? ch->options_len : 1, sizeof *r->values);
    for (size_t i = 0; i < ch->options_len; i++) {
        lua_getfield(L, -1, ch->options[i].name);
        snprintf(sub, sizeof sub, "%s.%s", path, ch->options[i].name);
        rc = read_channel_option(ld, sub, &ch->options[i], &r->values[i]);
        lua_pop(L, 1);
        if (rc)
            return -1;
    }

    char perr[512] = "";
    r->instance = ch->configure(host_table(), r->name, r->values, perr, sizeof perr);
    if (r->instance && r->split_per_alert && channel_needs_payload(ch, r->instance))
        return fail_at(ld, NULL, "%s.split: \"alert\" cannot go with a receiver that forwards the "
                       "original request body: it would send the whole request once per alert",
                       path);
    if (r->instance)
        return 0;
    /* Channels name the option first ("url: must be …"): join it to the path. */
    for (size_t i = 0; i < ch->options_len; i++) {
        size_t n = strlen(ch->options[i].name);
        if (strncmp(perr, ch->options[i].name, n) == 0 && perr[n] == ':')
            return fail_at(ld, NULL, "%s.%s%s", path, perr, unset_env_hint(ld));
    }
    return fail_at(ld, path, "%s%s", perr[0] ? perr : "rejected by its channel", unset_env_hint(ld));
}

static int read_receivers(loader *ld)
{
    lua_State *L = ld->L;
    config *c = ld->conf;
    if (lua_isnil(L, -1))
        return fail_at(ld, "receivers", "missing: expected a table of receivers");
    if (expect_table(ld, "receivers"))
        return -1;
    /* Sorted names make check output and errors deterministic. */
    char **names = NULL;
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            strings_free(names, n);
            return fail_at(ld, "receivers", "receiver names must be strings");
        }
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(lua_tostring(L, -1));
    }
    qsort(names, n, sizeof *names, strcmp_indirect);
    if (n == 0) {
        free(names);
        return fail_at(ld, "receivers", "must define at least one receiver");
    }
    c->receivers = xcalloc(n, sizeof *c->receivers);
    for (size_t i = 0; i < n; i++) {
        receiver *r = &c->receivers[c->receivers_len++];
        r->name = names[i];
        names[i] = NULL;
        lua_getfield(L, -1, r->name);
        int rc = read_receiver(ld, r);
        lua_pop(L, 1);
        if (rc) {
            strings_free(names, n);
            return -1;
        }
    }
    strings_free(names, n);
    return 0;
}

static int read_template_names(loader *ld)
{
    config *c = ld->conf;
    DIR *d = opendir(c->templates_dir);
    if (!d)
        return fail_at(ld, "templates", "%s: %s", c->templates_dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0 && e->d_name[0] != '.') {
            c->template_names = xrealloc(c->template_names,
                                         (c->template_names_len + 1) * sizeof(char *));
            c->template_names[c->template_names_len++] = xstrndup(e->d_name, len - 4);
        }
    }
    closedir(d);
    qsort(c->template_names, c->template_names_len, sizeof(char *),
          strcmp_indirect);
    return 0;
}

static const char *const top_keys[] = {
    "listen", "timezone", "route", "templates", "plugin_dir", "default_receiver",
    "receivers", "log_level", "max_body", "http_threads", "queue_capacity",
    "shutdown_timeout", "lua", "delivery", "data_dir", "dedup_window", "retention", "auth",
    "tls",
};

/* "table.key", or "key" at the top level (table NULL), for messages. */
static void key_path(char *out, size_t cap, const char *table_path, const char *key)
{
    snprintf(out, cap, "%s%s%s", table_path ? table_path : "", table_path ? "." : "", key);
}

/* Reads key of the table on top of the stack. */
static int read_table_string(loader *ld, const char *table_path, const char *key, int required,
                             char **out)
{
    char path[128];
    key_path(path, sizeof path, table_path, key);
    lua_getfield(ld->L, -1, key);
    int rc = take_string(ld, path, required, out);
    lua_pop(ld->L, 1);
    return rc;
}

static int read_string_field(loader *ld, const char *key, int required, char **out)
{
    return read_table_string(ld, NULL, key, required, out);
}

static int read_quantity_field(loader *ld, const char *table_path, const char *key, int is_size,
                               int64_t *ms, size_t *bytes)
{
    char path[128];
    key_path(path, sizeof path, table_path, key);
    lua_getfield(ld->L, -1, key);
    int rc = take_quantity(ld, path, is_size, ms, bytes);
    lua_pop(ld->L, 1);
    return rc;
}

static int read_lua_section(loader *ld)
{
    lua_State *L = ld->L;
    config *c = ld->conf;
    lua_getfield(L, -1, "lua");
    int rc = 0;
    if (!lua_isnil(L, -1)) {
        static const char *const keys[] = {"timeout", "memory"};
        int64_t timeout = c->lua.timeout_ms;
        rc = expect_table(ld, "lua") || check_keys(ld, "lua", keys, 2) ||
             read_quantity_field(ld, "lua", "timeout", 0, &timeout, NULL) ||
             read_quantity_field(ld, "lua", "memory", 1, NULL, &c->lua.memory_bytes);
        if (!rc && (timeout < 1 || timeout > 60000))
            rc = fail_at(ld, "lua.timeout", "expected from 1ms to 60s");
        if (!rc && c->lua.memory_bytes < ((size_t)1 << 20))
            rc = fail_at(ld, "lua.memory", "expected at least 1MiB");
        c->lua.timeout_ms = (unsigned)timeout;
    }
    lua_pop(L, 1);
    return rc ? -1 : 0;
}

static int read_delivery_section(loader *ld)
{
    lua_State *L = ld->L;
    delivery_settings *d = &ld->conf->delivery;
    lua_getfield(L, -1, "delivery");
    int rc = 0;
    if (!lua_isnil(L, -1)) {
        static const char *const keys[] = {"timeout", "retry_initial", "retry_max_delay",
                                           "max_age", "max_in_flight", "max_unrecorded"};
        long long in_flight = d->max_in_flight, unrecorded = d->max_unrecorded;
        rc = expect_table(ld, "delivery") || check_keys(ld, "delivery", keys, 6) ||
             read_quantity_field(ld, "delivery", "timeout", 0, &d->request_timeout_ms, NULL) ||
             read_quantity_field(ld, "delivery", "retry_initial", 0, &d->retry_initial_ms, NULL) ||
             read_quantity_field(ld, "delivery", "retry_max_delay", 0, &d->retry_max_delay_ms,
                                 NULL) ||
             read_quantity_field(ld, "delivery", "max_age", 0, &d->max_age_ms, NULL) ||
             read_integer_field(ld, "delivery.max_in_flight", "max_in_flight", 1, 1024,
                                &in_flight) ||
             read_integer_field(ld, "delivery.max_unrecorded", "max_unrecorded", 1, 65536,
                                &unrecorded);
        d->max_in_flight = (unsigned)in_flight;
        d->max_unrecorded = (unsigned)unrecorded;
        if (!rc && d->request_timeout_ms < 100)
            rc = fail_at(ld, "delivery.timeout", "expected at least 100ms");
        if (!rc && d->retry_initial_ms < 10)
            rc = fail_at(ld, "delivery.retry_initial", "expected at least 10ms");
        if (!rc && d->retry_max_delay_ms < d->retry_initial_ms)
            rc = fail_at(ld, "delivery.retry_max_delay", "must not be below retry_initial");
    }
    lua_pop(L, 1);
    return rc ? -1 : 0;
}

/* A secret read for a moment: taken, checked non-empty, then wiped. */
static int take_secret(loader *ld, const char *table, const char *key, int required, char **out)
{
    int rc = read_table_string(ld, table, key, required, out);
    if (!rc && *out && !**out) {
        char path[128];
        key_path(path, sizeof path, table, key);
        rc = fail_at(ld, path, "must not be empty");
    }
    return rc;
}

static void wipe(char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

static int read_auth_section(loader *ld)
{
    lua_State *L = ld->L;
    lua_getfield(L, -1, "auth");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    static const char *const keys[] = {"bearer_token", "username", "password"};
    char *token = NULL, *username = NULL, *password = NULL;
    int rc = expect_table(ld, "auth") || check_keys(ld, "auth", keys, 3) ||
             take_secret(ld, "auth", "bearer_token", 0, &token) ||
             take_secret(ld, "auth", "username", 0, &username) ||
             take_secret(ld, "auth", "password", username != NULL, &password);
    if (!rc && password && !username)
        rc = fail_at(ld, "auth.username", "missing: a password needs its username");
    if (!rc && username && strchr(username, ':'))
        rc = fail_at(ld, "auth.username", "must not contain ':' (Basic authentication "
                                          "separates it from the password with one)");
    if (!rc && !token && !username)
        rc = fail_at(ld, "auth", "expected bearer_token, or username and password%s",
                     unset_env_hint(ld));
    if (!rc && token)
        auth_set_bearer(&ld->conf->auth, token);
    if (!rc && username)
        auth_set_basic(&ld->conf->auth, username, password);
    wipe(token);
    wipe(username);
    wipe(password);
    lua_pop(L, 1);
    return rc ? -1 : 0;
}

/* tls = { cert_file = ..., key_file = ... }, relative to the
 * configuration's folder. The files are read and checked here, so that
 * `herald check` and a reload name a wrong one before a start fails. */
static int read_tls_section(loader *ld)
{
    lua_State *L = ld->L;
    config *c = ld->conf;
    lua_getfield(L, -1, "tls");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    static const char *const keys[] = {"cert_file", "key_file"};
    int rc = expect_table(ld, "tls") || check_keys(ld, "tls", keys, 2) ||
             read_table_string(ld, "tls", "cert_file", 1, &c->tls_cert_file) ||
             read_table_string(ld, "tls", "key_file", 1, &c->tls_key_file);
    lua_pop(L, 1);
    if (rc || resolve_path(ld, "tls.cert_file", &c->tls_cert_file, 0) ||
        resolve_path(ld, "tls.key_file", &c->tls_key_file, 0))
        return -1;
    tls_pair pair;
    char why[1024];
    if (tls_read(c->tls_cert_file, c->tls_key_file, &pair, why, sizeof why))
        return fail_at(ld, NULL, "%s", why);
    snprintf(c->tls_summary, sizeof c->tls_summary, "%s, valid until %s", pair.subject,
             pair.not_after);
    if (pair.days_left < 0)
        log_warn("tls", "the certificate in %s expired on %s: clients will refuse it",
                 c->tls_cert_file, pair.not_after);
    else if (pair.days_left < TLS_EXPIRY_WARNING_DAYS)
        log_warn("tls", "the certificate in %s expires in %d day%s (%s)", c->tls_cert_file,
                 pair.days_left, pair.days_left == 1 ? "" : "s", pair.not_after);
    tls_pair_free(&pair);
    return 0;
}

static void set_defaults(config *c)
{
    c->listen = xstrdup("127.0.0.1:8060");
    c->timezone = xstrdup("Local");
    c->route_path = xstrdup("../scripts/route.lua");
    c->templates_dir = xstrdup("../templates");
    c->max_body_bytes = (size_t)1 << 20;
    c->http_threads = 4;
    c->queue_capacity = 10000;
    c->shutdown_timeout_ms = 10000;
    c->data_dir = xstrdup("data");
    c->dedup_window_ms = 5 * 60 * 1000;
    c->retention_ms = 30LL * 86400 * 1000;
    c->log_level = HERALD_LOG_INFO;
    c->lua.timeout_ms = SANDBOX_DEFAULT_TIMEOUT_MS;
    c->lua.memory_bytes = SANDBOX_DEFAULT_MEMORY_BYTES;
    c->delivery.request_timeout_ms = 10000;
    c->delivery.retry_initial_ms = 1000;
    c->delivery.retry_max_delay_ms = 300000;
    c->delivery.max_age_ms = 24LL * 3600 * 1000;
    c->delivery.max_in_flight = 64;
    c->delivery.max_unrecorded = 256;
}

/* The store creates data_dir at start: it must be a writable folder, or
 * creatable in one, or `herald check` would pass what serve refuses. */
static int unwritable_data_dir(const char *data_dir, char *why, size_t cap)
{
    struct stat st;
    if (stat(data_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            snprintf(why, cap, "%s: not a directory", data_dir);
        else if (access(data_dir, W_OK | X_OK) != 0)
            snprintf(why, cap, "%s: not writable by this user (%s)", data_dir, strerror(errno));
        else
            return 0;
        return -1;
    }
    if (errno != ENOENT) {
        snprintf(why, cap, "%s: %s", data_dir, strerror(errno));
        return -1;
    }
    char *copy = xstrdup(data_dir);
    const char *parent = dirname(copy);
    int rc = 0;
    if (access(parent, W_OK | X_OK) != 0) {
        snprintf(why, cap, "%s: cannot be created: %s: %s", data_dir, parent, strerror(errno));
        rc = -1;
    }
    free(copy);
    return rc;
}

static void resolve_data_dir(config *c)
{
    /* The store creates data_dir itself, so only its parent can be made
     * canonical here ("conf/../data" reads better as "/srv/herald/data"). */
    if (c->data_dir[0] != '/') {
        strbuf dir = STRBUF_INIT;
        sb_printf(&dir, "%s/%s", c->dir, c->data_dir);
        free(c->data_dir);
        c->data_dir = sb_take(&dir);
    }
    char *copy = xstrdup(c->data_dir);
    char *parent = realpath(dirname(copy), NULL);
    free(copy);
    if (parent) {
        copy = xstrdup(c->data_dir);
        strbuf dir = STRBUF_INIT;
        sb_printf(&dir, "%s/%s", strcmp(parent, "/") ? parent : "", basename(copy));
        free(copy);
        free(parent);
        free(c->data_dir);
        c->data_dir = sb_take(&dir);
    }
}

static int read_top_level(loader *ld)
{
    lua_State *L = ld->L;
    config *c = ld->conf;
    if (check_keys(ld, NULL, top_keys, sizeof top_keys / sizeof top_keys[0]))
        return -1;
    char *log_level = NULL;
    long long threads = c->http_threads, capacity = (long long)c->queue_capacity;
    if (read_string_field(ld, "listen", 0, &c->listen) ||
        read_string_field(ld, "timezone", 0, &c->timezone) ||
        read_string_field(ld, "route", 0, &c->route_path) ||
        read_string_field(ld, "templates", 0, &c->templates_dir) ||
        read_string_field(ld, "plugin_dir", 0, &c->plugin_dir) ||
        read_string_field(ld, "default_receiver", 1, &c->default_receiver) ||
        read_string_field(ld, "log_level", 0, &log_level) ||
        read_string_field(ld, "data_dir", 0, &c->data_dir) ||
        read_quantity_field(ld, NULL, "dedup_window", 0, &c->dedup_window_ms, NULL) ||
        read_quantity_field(ld, NULL, "retention", 0, &c->retention_ms, NULL) ||
        read_quantity_field(ld, NULL, "max_body", 1, NULL, &c->max_body_bytes) ||
        read_quantity_field(ld, NULL, "shutdown_timeout", 0, &c->shutdown_timeout_ms, NULL) ||
        read_integer_field(ld, "http_threads", "http_threads", 1, 256, &threads) ||
        read_integer_field(ld, "queue_capacity", "queue_capacity", 1, 10000000, &capacity) ||
        read_lua_section(ld) || read_delivery_section(ld) || read_auth_section(ld)) {
        free(log_level);
        return -1;
    }
    c->http_threads = (unsigned)threads;
    c->queue_capacity = (size_t)capacity;
    if (log_level) {
        c->log_level = log_level_parse(log_level);
        free(log_level);
        if (c->log_level < 0)
            return fail_at(ld, "log_level", "expected \"debug\", \"info\", \"warn\" or \"error\"");
    }
    if (c->max_body_bytes < 1024 || c->max_body_bytes > ((size_t)1 << 30))
        return fail_at(ld, "max_body", "expected from 1KiB to 1GiB");
    char tzerr[256];
    c->zone = tz_load(c->timezone, tzerr, sizeof tzerr);
    if (!c->zone)
        return fail_at(ld, "timezone", "%s", tzerr);
    if (!c->plugin_dir)
        c->plugin_dir = default_plugin_dir();
    resolve_data_dir(c);
    struct sockaddr_storage addr;
    char why[512];
    if (listen_parse(c->listen, &addr, why, sizeof why))
        return fail_at(ld, "listen", "%s", why);
    if (unwritable_data_dir(c->data_dir, why, sizeof why))
        return fail_at(ld, "data_dir", "%s", why);
    if (resolve_path(ld, "route", &c->route_path, 0) ||
        resolve_path(ld, "templates", &c->templates_dir, 1) ||
        resolve_path(ld, "plugin_dir", &c->plugin_dir, 1) || read_template_names(ld) ||
        read_tls_section(ld))
        return -1;
    char perr[512];
    if (plugins_load_dir(&c->plugins, c->plugin_dir, perr, sizeof perr))
        return fail_at(ld, "plugin_dir", "%s", perr);
    lua_getfield(L, -1, "receivers");
    int rc = read_receivers(ld);
    lua_pop(L, 1);
    if (rc)
        return -1;
    if (!config_receiver(c, c->default_receiver))
        return fail_at(ld, "default_receiver", "no receiver named \"%s\"", c->default_receiver);
    return 0;
}

/* Runs the configuration file in a sandbox and leaves the table of what it
 * set on the stack of the returned state (NULL with err on failure). */
static lua_State *run_config(loader *ld, tz_zone **utc, char *err, size_t err_cap)
{
    const char *path = ld->conf->path;
    *utc = tz_load("UTC", err, err_cap);
    lua_State *L = *utc ? sandbox_new(&ld->conf->lua, *utc) : NULL;
    if (!L) {
        if (*utc)
            snprintf(err, err_cap, "%s: cannot create a Lua state", path);
        return NULL;
    }
    /* Globals the file sets land in `settings`; reads fall back to the
     * sandbox's globals, which is where env() lives. */
    lua_pushlightuserdata(L, ld);
    lua_pushcclosure(L, lua_env, 1);
    lua_setglobal(L, "env");
    if (sandbox_load_file(L, path, err, err_cap))
        goto fail;
    lua_newtable(L); /* settings */
    lua_newtable(L); /* its metatable */
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setupvalue(L, -3, 1); /* _ENV of the chunk */
    lua_insert(L, -2);        /* settings below the chunk */
    if (sandbox_call(L, 0, 0, err, err_cap))
        goto fail;
    return L;
fail:
    sandbox_close(L);
    return NULL;
}

static void start_config(config *c, const char *path)
{
    memset(c, 0, sizeof *c);
    set_defaults(c);
    c->path = xstrdup(path);
    char *copy = xstrdup(path);
    c->dir = xstrdup(dirname(copy));
    free(copy);
}


int config_load(const char *path, config *out, char *err, size_t err_cap)
{
    start_config(out, path);
    loader ld = {.conf = out, .err = err, .err_cap = err_cap, .unset_env = STRBUF_INIT};
    tz_zone *utc = NULL;
    ld.L = run_config(&ld, &utc, err, err_cap);
    int rc = ld.L ? read_top_level(&ld) : -1;
    if (ld.L)
        sandbox_close(ld.L);
    tz_free(utc);
    sb_free(&ld.unset_env);
    if (rc)
        config_free(out);
    return rc;
}

int config_data_dir(const char *path, char **data_dir, char *err, size_t err_cap)
{
    config c;
    start_config(&c, path);
    loader ld = {.conf = &c, .err = err, .err_cap = err_cap, .unset_env = STRBUF_INIT};
    tz_zone *utc = NULL;
    ld.L = run_config(&ld, &utc, err, err_cap);
    int rc = ld.L ? read_string_field(&ld, "data_dir", 0, &c.data_dir) : -1;
    if (rc == 0) {
        resolve_data_dir(&c);
        *data_dir = xstrdup(c.data_dir);
    }
    if (ld.L)
        sandbox_close(ld.L);
    tz_free(utc);
    sb_free(&ld.unset_env);
    config_free(&c);
    return rc;
}

static void free_receiver(receiver *r)
{
    if (r->instance)
        r->channel->destroy(r->instance);
    if (r->values) {
        for (size_t i = 0; i < r->channel->options_len; i++) {
            free((char *)r->values[i].string);
            strings_free((char **)r->values[i].list, r->values[i].list_len);
        }
        free(r->values);
    }
    mention_set_free(&r->mentions);
    free(r->proxy);
    free(r->ca_file);
    free(r->name);
    free(r->channel_name);
    free(r->template_name);
}

void config_free(config *c)
{
    for (size_t i = 0; i < c->receivers_len; i++)
        free_receiver(&c->receivers[i]);
    free(c->receivers);
    strings_free(c->template_names, c->template_names_len);
    plugins_free(&c->plugins);
    tz_free(c->zone);
    free(c->path);
    free(c->dir);
    free(c->listen);
    free(c->timezone);
    free(c->route_path);
    free(c->templates_dir);
    free(c->plugin_dir);
    free(c->default_receiver);
    free(c->data_dir);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    memset(c, 0, sizeof *c);
}

const receiver *config_receiver(const config *c, const char *name)
{
    for (size_t i = 0; i < c->receivers_len; i++)
        if (strcmp(c->receivers[i].name, name) == 0)
            return &c->receivers[i];
    return NULL;
}
