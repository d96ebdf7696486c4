#include "config/quiet_hours.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "util/strbuf.h"

static const char *const field_keys[INTERVAL_FIELDS] = {
    [INTERVAL_TIMES] = "times",   [INTERVAL_WEEKDAYS] = "weekdays",
    [INTERVAL_DAYS_OF_MONTH] = "days_of_month", [INTERVAL_MONTHS] = "months",
    [INTERVAL_YEARS] = "years",
};

static int strcmp_indirect(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "path[i]": one item of a list, cut short (never in practice) to fit. */
static void item_path(char *out, size_t cap, const char *path, size_t i)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s[%zu]", path, i);
    snprintf(out, cap, "%s", sb_str(&sb));
    sb_free(&sb);
}

/* The table at the top must be a list (keys 1..n); its length. */
static int expect_list(conf_reader *rd, const char *path, const char *of, size_t *len)
{
    lua_State *L = rd->L;
    if (!lua_istable(L, -1))
        return fail_at(rd, path, "expected a list of %s, got %s", of, luaL_typename(L, -1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return fail_at(rd, path, "expected a list of %s, found a non-list key", of);
        }
    }
    *len = (size_t)n;
    return 0;
}

/* times = { { start_time = "HH:MM", end_time = "HH:MM" }, ... } */
static int read_times(conf_reader *rd, const char *path, interval_entry *e)
{
    lua_State *L = rd->L;
    size_t n;
    if (expect_list(rd, path, "{ start_time, end_time } tables", &n))
        return -1;
    static const char *const keys[] = {"start_time", "end_time"};
    for (size_t i = 1; i <= n; i++) {
        char item[KEY_PATH_CAP], key[KEY_PATH_CAP], why[256];
        item_path(item, sizeof item, path, i);
        lua_rawgeti(L, -1, (lua_Integer)i);
        char *start = NULL, *end = NULL;
        interval_range r = {0, 0};
        int rc = expect_table(rd, item) || check_keys(rd, item, keys, 2) ||
                 read_table_string(rd, item, "start_time", 1, &start) ||
                 read_table_string(rd, item, "end_time", 1, &end);
        if (!rc && interval_parse_time(start, 0, &r.lo, why, sizeof why)) {
            key_path(key, sizeof key, item, "start_time");
            rc = fail_at(rd, key, "%s", why);
        }
        if (!rc && interval_parse_time(end, 1, &r.hi, why, sizeof why)) {
            key_path(key, sizeof key, item, "end_time");
            rc = fail_at(rd, key, "%s", why);
        }
        if (!rc && r.lo >= r.hi)
            rc = fail_at(rd, item, "start_time %s is not before end_time %s (an interval "
                         "past midnight is two: to \"24:00\" and from \"00:00\")", start, end);
        free(start);
        free(end);
        lua_pop(L, 1);
        if (rc)
            return -1;
        interval_entry_add(e, INTERVAL_TIMES, r);
    }
    return 0;
}

static int read_ranges(conf_reader *rd, const char *path, interval_field field, interval_entry *e)
{
    char **items = NULL;
    size_t len = 0;
    int rc = take_string_list(rd, path, &items, &len);
    for (size_t i = 0; i < len && !rc; i++) {
        interval_range r;
        char why[256], item[KEY_PATH_CAP];
        if (interval_parse_range(field, items[i], &r, why, sizeof why) == 0) {
            interval_entry_add(e, field, r);
            continue;
        }
        item_path(item, sizeof item, path, i + 1);
        rc = fail_at(rd, item, "%s", why);
    }
    strings_free(items, len);
    return rc ? -1 : 0;
}

/* One entry of a named interval, at the top of the stack. */
static int read_entry(conf_reader *rd, const char *path, interval_entry *e)
{
    static const char *const keys[] = {"times", "weekdays", "days_of_month", "months", "years",
                                       "location"};
    if (expect_table(rd, path) || check_keys(rd, path, keys, 6))
        return -1;
    for (int f = 0; f < INTERVAL_FIELDS; f++) {
        char key[KEY_PATH_CAP];
        key_path(key, sizeof key, path, field_keys[f]);
        lua_getfield(rd->L, -1, field_keys[f]);
        int rc = lua_isnil(rd->L, -1) ? 0
                 : f == INTERVAL_TIMES ? read_times(rd, key, e)
                                       : read_ranges(rd, key, (interval_field)f, e);
        lua_pop(rd->L, 1);
        if (rc)
            return -1;
    }
    char *location = NULL;
    if (read_table_string(rd, path, "location", 0, &location))
        return -1;
    if (!location)
        return 0;
    char why[512] = "", key[KEY_PATH_CAP];
    e->location = tz_load(location, why, sizeof why);
    free(location);
    key_path(key, sizeof key, path, "location");
    return e->location ? 0 : fail_at(rd, key, "%s", why);
}

/* The named interval's list of entries, at the top of the stack. */
static int read_interval(conf_reader *rd, const char *path, time_interval *t)
{
    size_t n;
    if (expect_list(rd, path, "interval tables ({ weekdays = ..., times = ... })", &n))
        return -1;
    if (n == 0)
        return fail_at(rd, path, "must list at least one interval ({} matches always: "
                                 "write { {} } to mean that)");
    t->entries = xcalloc(n, sizeof *t->entries);
    for (size_t i = 1; i <= n; i++) {
        char item[KEY_PATH_CAP];
        item_path(item, sizeof item, path, i);
        lua_rawgeti(rd->L, -1, (lua_Integer)i);
        int rc = read_entry(rd, item, &t->entries[t->len++]);
        lua_pop(rd->L, 1);
        if (rc)
            return -1;
    }
    return 0;
}

int read_time_intervals(conf_reader *rd)
{
    lua_State *L = rd->L;
    config *c = rd->conf;
    if (lua_isnil(L, -1))
        return 0;
    if (expect_table(rd, "time_intervals"))
        return -1;
    char **names = NULL;
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            strings_free(names, n);
            return fail_at(rd, "time_intervals", "interval names must be strings");
        }
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(lua_tostring(L, -1));
    }
    if (n > 1)
        qsort(names, n, sizeof *names, strcmp_indirect);
    c->time_intervals = xcalloc(n ? n : 1, sizeof *c->time_intervals);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        time_interval *t = &c->time_intervals[c->time_intervals_len++];
        t->name = names[i];
        names[i] = NULL;
        char path[KEY_PATH_CAP];
        key_path(path, sizeof path, "time_intervals", t->name);
        lua_getfield(L, -1, t->name);
        rc = read_interval(rd, path, t);
        lua_pop(L, 1);
    }
    strings_free(names, n);
    return rc;
}

static const time_interval *find_interval(const config *c, const char *name)
{
    for (size_t i = 0; i < c->time_intervals_len; i++)
        if (strcmp(c->time_intervals[i].name, name) == 0)
            return &c->time_intervals[i];
    return NULL;
}

/* A list of interval names into pointers to the configuration's. */
static int read_interval_names(conf_reader *rd, const char *path, const char *key,
                               const time_interval ***out, size_t *out_len)
{
    char **names = NULL;
    size_t len = 0;
    if (read_table_string_list(rd, path, key, &names, &len))
        return -1;
    int rc = 0;
    *out = xcalloc(len ? len : 1, sizeof **out);
    for (size_t i = 0; i < len && !rc; i++) {
        const time_interval *t = find_interval(rd->conf, names[i]);
        if (t) {
            (*out)[(*out_len)++] = t;
            continue;
        }
        strbuf known = STRBUF_INIT;
        for (size_t k = 0; k < rd->conf->time_intervals_len; k++)
            sb_printf(&known, "%s%s", k ? ", " : "", rd->conf->time_intervals[k].name);
        char item[KEY_PATH_CAP];
        char list[KEY_PATH_CAP];
        key_path(list, sizeof list, path, key);
        item_path(item, sizeof item, list, i + 1);
        rc = fail_at(rd, item, "no time interval \"%s\" in time_intervals (have: %s)", names[i],
                     known.len ? sb_str(&known) : "none");
        sb_free(&known);
    }
    strings_free(names, len);
    return rc ? -1 : 0;
}

int read_receiver_quiet_hours(conf_reader *rd, const char *path, quiet_hours *q)
{
    char *muted = NULL;
    if (read_interval_names(rd, path, "mute_time_intervals", &q->mute, &q->mute_len) ||
        read_interval_names(rd, path, "active_time_intervals", &q->active, &q->active_len) ||
        read_table_string(rd, path, "muted", 0, &muted))
        return -1;
    int known = !muted || strcmp(muted, "hold") == 0 || strcmp(muted, "drop") == 0;
    q->drop = muted && strcmp(muted, "drop") == 0;
    free(muted);
    char key[KEY_PATH_CAP];
    key_path(key, sizeof key, path, "muted");
    if (!known)
        return fail_at(rd, key, "expected \"hold\" or \"drop\"");
    if (q->drop && !quiet_hours_set(q))
        return fail_at(rd, key, "\"drop\" needs mute_time_intervals or active_time_intervals");
    return 0;
}

void quiet_hours_free(quiet_hours *q)
{
    free(q->mute);
    free(q->active);
}
