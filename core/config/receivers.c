#include "config/receivers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "config/paths.h"
#include "config/quiet_hours.h"
#include "plugin/host.h"
#include "util/log.h"
#include "util/strbuf.h"

static const char *const receiver_core_keys[] = {"channel", "template", "split", "mentions",
                                                 "proxy", "ca_file", "tls_verify",
                                                 "rate_per_minute", "rate_per_second",
                                                 "repeat_interval", "mute_time_intervals",
                                                 "active_time_intervals", "muted"};
#define RECEIVER_CORE_KEYS (sizeof receiver_core_keys / sizeof receiver_core_keys[0])

static int strcmp_indirect(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The mentions table at the top of the stack, if any. */
static int read_mentions(conf_reader *rd, const char *path, mention_set *m)
{
    if (lua_isnil(rd->L, -1))
        return 0;
    static const char *const keys[] = {"mobiles", "user_ids", "all"};
    return expect_table(rd, path) || check_keys(rd, path, keys, 3) ||
                   read_table_string_list(rd, path, "mobiles", &m->mobiles, &m->mobiles_len) ||
                   read_table_string_list(rd, path, "user_ids", &m->user_ids,
                                          &m->user_ids_len) ||
                   read_table_boolean(rd, path, "all", &m->all)
               ? -1
               : 0;
}

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

/* One of the channel's own options, at the top of the stack. */
static int read_channel_option(conf_reader *rd, const char *path, const herald_option_spec *spec,
                               herald_option_value *value)
{
    if (lua_isnil(rd->L, -1)) {
        if (spec->required)
            return fail_at(rd, path, "missing: expected %s%s", option_type_name(spec->type),
                           unset_env_hint(rd));
        return 0;
    }
    value->present = 1;
    switch (spec->type) {
    case HERALD_OPTION_STRING: {
        char *s = NULL;
        if (take_string(rd, path, 1, &s))
            return -1;
        value->string = s;
        return 0;
    }
    case HERALD_OPTION_INTEGER:
        return take_integer(rd, path, LLONG_MIN, LLONG_MAX, &value->integer);
    case HERALD_OPTION_BOOLEAN:
        return take_boolean(rd, path, &value->boolean);
    case HERALD_OPTION_STRING_LIST: {
        char **items = NULL;
        size_t len = 0;
        int rc = take_string_list(rd, path, &items, &len);
        value->list = (const char *const *)items;
        value->list_len = len;
        return rc;
    }
    }
    return fail_at(rd, path, "option has an unknown type in its plugin");
}

static int read_channel(conf_reader *rd, const char *path, receiver *r)
{
    const config *c = rd->conf;
    if (read_table_string(rd, path, "channel", 1, &r->channel_name))
        return -1;
    r->channel = plugins_find_channel(&c->plugins, r->channel_name, NULL);
    if (r->channel)
        return 0;
    strbuf names = STRBUF_INIT;
    for (size_t p = 0; p < c->plugins.len; p++) {
        const herald_plugin *pl = c->plugins.items[p].plugin;
        for (size_t i = 0; i < pl->channels_len; i++)
            sb_printf(&names, "%s%s", names.len ? ", " : "", pl->channels[i]->name);
    }
    char key[KEY_PATH_CAP];
    key_path(key, sizeof key, path, "channel");
    int rc = fail_at(rd, key, "unknown channel \"%s\" (plugins in %s provide: %s)",
                     r->channel_name, c->plugin_dir, names.len ? sb_str(&names) : "none");
    sb_free(&names);
    return rc;
}

/* Known keys: the core's and the channel's own. */
static int check_receiver_keys(conf_reader *rd, const char *path, const herald_channel *ch)
{
    size_t n = RECEIVER_CORE_KEYS + ch->options_len;
    const char **keys = xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < RECEIVER_CORE_KEYS; i++)
        keys[i] = receiver_core_keys[i];
    for (size_t i = 0; i < ch->options_len; i++)
        keys[RECEIVER_CORE_KEYS + i] = ch->options[i].name;
    int rc = check_keys(rd, path, keys, n);
    free(keys);
    return rc;
}

/* The receiver's template, else its channel's default; either must be in
 * the templates folder. */
static int read_template(conf_reader *rd, const char *path, receiver *r)
{
    const config *c = rd->conf;
    if (read_table_string(rd, path, "template", 0, &r->template_name))
        return -1;
    if (!r->template_name)
        r->template_name =
            xstrdup(r->channel->default_template ? r->channel->default_template : "");
    if (strings_contain(c->template_names, c->template_names_len, r->template_name))
        return 0;
    strbuf names = STRBUF_INIT;
    for (size_t i = 0; i < c->template_names_len; i++)
        sb_printf(&names, "%s%s", i ? ", " : "", c->template_names[i]);
    char key[KEY_PATH_CAP];
    key_path(key, sizeof key, path, "template");
    int rc = fail_at(rd, key, "no template \"%s\" in %s%s%s (have: %s)", r->template_name,
                     c->templates_dir, c->shipped_templates_dir ? " or " : "",
                     c->shipped_templates_dir ? c->shipped_templates_dir : "",
                     names.len ? sb_str(&names) : "none");
    sb_free(&names);
    return rc;
}

static int read_split(conf_reader *rd, const char *path, receiver *r)
{
    char *split = NULL;
    if (read_table_string(rd, path, "split", 0, &split))
        return -1;
    int known = !split || strcmp(split, "alert") == 0 || strcmp(split, "group") == 0;
    r->split_per_alert = split && strcmp(split, "alert") == 0;
    free(split);
    if (known)
        return 0;
    char key[KEY_PATH_CAP];
    key_path(key, sizeof key, path, "split");
    return fail_at(rd, key, "expected \"group\" or \"alert\"");
}

/* proxy, ca_file and tls_verify: served by the core for every channel. */
static int read_transport_options(conf_reader *rd, const char *path, receiver *r)
{
    char ca_key[KEY_PATH_CAP];
    key_path(ca_key, sizeof ca_key, path, "ca_file");
    r->tls_verify = 1;
    if (read_table_string(rd, path, "proxy", 0, &r->proxy) ||
        read_table_string(rd, path, "ca_file", 0, &r->ca_file) ||
        (r->ca_file && resolve_path(rd, ca_key, &r->ca_file, 0)) ||
        read_table_boolean(rd, path, "tls_verify", &r->tls_verify))
        return -1;
    if (!r->tls_verify)
        log_warn(r->name, "tls_verify = false: certificates of this receiver's servers are not checked");
    return 0;
}

/* Limits per target; the channel's own limits unless the receiver sets them. */
static int read_rate(conf_reader *rd, const char *path, receiver *r)
{
    long long per_minute = r->channel->rate_per_minute;
    long long per_second = channel_rate_per_second(r->channel);
    if (read_table_integer(rd, path, "rate_per_minute", 0, 100000, &per_minute) ||
        read_table_integer(rd, path, "rate_per_second", 0, 10000, &per_second))
        return -1;
    r->rate = (rate_spec){(unsigned)per_minute, (unsigned)per_second};
    return 0;
}

/* Alertmanager's default, so the direct path repeats as Alertmanager does. */
#define DEFAULT_REPEAT_INTERVAL_MS (4LL * 3600 * 1000)

static int read_repeat_interval(conf_reader *rd, const char *path, receiver *r)
{
    r->repeat_interval_ms = DEFAULT_REPEAT_INTERVAL_MS;
    return read_table_quantity(rd, path, "repeat_interval", 0, &r->repeat_interval_ms, NULL);
}

static int read_channel_options(conf_reader *rd, const char *path, receiver *r)
{
    const herald_channel *ch = r->channel;
    r->values = xcalloc(ch->options_len ? ch->options_len : 1, sizeof *r->values);
    for (size_t i = 0; i < ch->options_len; i++) {
        char key[KEY_PATH_CAP];
        key_path(key, sizeof key, path, ch->options[i].name);
        lua_getfield(rd->L, -1, ch->options[i].name);
        int rc = read_channel_option(rd, key, &ch->options[i], &r->values[i]);
        lua_pop(rd->L, 1);
        if (rc)
            return -1;
    }
    return 0;
}

/* Has the channel make its instance from the options read. */
static int configure(conf_reader *rd, const char *path, receiver *r)
{
    const herald_channel *ch = r->channel;
    char perr[512] = "";
    r->instance = ch->configure(host_table(), r->name, r->values, perr, sizeof perr);
    if (r->instance && r->split_per_alert && channel_needs_payload(ch, r->instance))
        return fail_at(rd, NULL, "%s.split: \"alert\" cannot go with a receiver that forwards the "
                       "original request body: it would send the whole request once per alert",
                       path);
    if (r->instance) {
        r->text_budget = channel_text_budget(ch, r->instance);
        return 0;
    }
    /* Channels name the option first ("url: must be …"): join it to the path. */
    for (size_t i = 0; i < ch->options_len; i++) {
        size_t n = strlen(ch->options[i].name);
        if (strncmp(perr, ch->options[i].name, n) == 0 && perr[n] == ':')
            return fail_at(rd, NULL, "%s.%s%s", path, perr, unset_env_hint(rd));
    }
    return fail_at(rd, path, "%s%s", perr[0] ? perr : "rejected by its channel", unset_env_hint(rd));
}

/* The receiver's table, at the top of the stack. */
static int read_receiver(conf_reader *rd, receiver *r)
{
    char path[KEY_PATH_CAP], mentions[KEY_PATH_CAP];
    key_path(path, sizeof path, "receivers", r->name);
    key_path(mentions, sizeof mentions, path, "mentions");
    if (expect_table(rd, path) || read_channel(rd, path, r) ||
        check_receiver_keys(rd, path, r->channel) || read_template(rd, path, r) ||
        read_split(rd, path, r))
        return -1;
    lua_getfield(rd->L, -1, "mentions");
    int rc = read_mentions(rd, mentions, &r->mentions);
    lua_pop(rd->L, 1);
    if (rc || read_transport_options(rd, path, r) || read_rate(rd, path, r) ||
        read_repeat_interval(rd, path, r) || read_receiver_quiet_hours(rd, path, &r->quiet) ||
        read_channel_options(rd, path, r))
        return -1;
    return configure(rd, path, r);
}

/* The receivers' names, sorted: check output and errors come out the same
 * every time. */
static int read_names(conf_reader *rd, char ***names, size_t *len)
{
    lua_State *L = rd->L;
    *names = NULL;
    *len = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            strings_free(*names, *len);
            return fail_at(rd, "receivers", "receiver names must be strings");
        }
        *names = xrealloc(*names, (*len + 1) * sizeof **names);
        (*names)[(*len)++] = xstrdup(lua_tostring(L, -1));
    }
    /* qsort takes no NULL, even for no names (receivers = {}) */
    if (*len > 1)
        qsort(*names, *len, sizeof **names, strcmp_indirect);
    return 0;
}

int read_receivers(conf_reader *rd)
{
    lua_State *L = rd->L;
    config *c = rd->conf;
    if (lua_isnil(L, -1))
        return fail_at(rd, "receivers", "missing: expected a table of receivers");
    char **names;
    size_t n;
    if (expect_table(rd, "receivers") || read_names(rd, &names, &n))
        return -1;
    if (n == 0)
        return fail_at(rd, "receivers", "must define at least one receiver");
    c->receivers = xcalloc(n, sizeof *c->receivers);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        receiver *r = &c->receivers[c->receivers_len++];
        r->name = names[i];
        names[i] = NULL;
        lua_getfield(L, -1, r->name);
        rc = read_receiver(rd, r);
        lua_pop(L, 1);
    }
    strings_free(names, n);
    return rc;
}

void receiver_free(receiver *r)
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
    quiet_hours_free(&r->quiet);
    free(r->proxy);
    free(r->ca_file);
    free(r->name);
    free(r->channel_name);
    free(r->template_name);
}

const receiver *config_receiver(const config *c, const char *name)
{
    for (size_t i = 0; i < c->receivers_len; i++)
        if (strcmp(c->receivers[i].name, name) == 0)
            return &c->receivers[i];
    return NULL;
}
