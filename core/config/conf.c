#include "config/conf.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/paths.h"
#include "config/reader.h"
#include "config/receivers.h"
#include "config/sections.h"
#include "util/dsn.h"
#include "util/error.h"
#include "util/strbuf.h"

static void start_config(config *c, const char *path, const char *base_dir)
{
    memset(c, 0, sizeof *c);
    set_defaults(c);
    c->path = xstrdup(path);
    char *copy = xstrdup(path);
    c->dir = xstrdup(base_dir ? base_dir : dirname(copy));
    free(copy);
}

int config_load(const char *path, config *out, char *err, size_t err_cap)
{
    return config_load_in(path, NULL, out, err, err_cap);
}

int config_load_in(const char *path, const char *base_dir, config *out, char *err, size_t err_cap)
{
    start_config(out, path, base_dir);
    conf_reader rd;
    int rc = reader_open(&rd, out, err, err_cap) || read_settings(&rd) ? -1 : 0;
    reader_close(&rd);
    if (rc)
        config_free(out);
    return rc;
}

int config_store_view(const char *path, char **data_dir, char **dsn, tz_zone **zone, char *err,
                      size_t err_cap)
{
    config c;
    start_config(&c, path, NULL);
    conf_reader rd;
    char why[512] = "";
    int rc = reader_open(&rd, &c, err, err_cap) ||
                     read_table_string(&rd, NULL, "data_dir", 0, &c.data_dir) ||
                     (dsn && read_store_section(&rd)) ||
                     (zone && read_table_string(&rd, NULL, "timezone", 0, &c.timezone))
                 ? -1
                 : 0;
    if (rc == 0 && zone && !(c.zone = tz_load(c.timezone, why, sizeof why)))
        rc = fail_at(&rd, "timezone", "%s", why);
    if (rc == 0) {
        resolve_data_dir(&c);
        *data_dir = xstrdup(c.data_dir);
        if (dsn) {
            *dsn = c.store_dsn;
            c.store_dsn = NULL;
        }
        if (zone) {
            *zone = c.zone;
            c.zone = NULL;
        }
    }
    reader_close(&rd);
    config_free(&c);
    return rc;
}

int config_data_dir(const char *path, char **data_dir, char *err, size_t err_cap)
{
    return config_store_view(path, data_dir, NULL, NULL, err, err_cap);
}

int config_defines_receiver(const char *path, const char *name, char *err, size_t err_cap)
{
    config c;
    start_config(&c, path, NULL);
    conf_reader rd;
    int rc = reader_open(&rd, &c, err, err_cap) ? -1 : 1;
    if (rc == 1) {
        lua_getfield(rd.L, -1, "receivers");
        if (lua_istable(rd.L, -1) && lua_getfield(rd.L, -1, name) == LUA_TTABLE)
            rc = 0;
        else
            fail(err, err_cap, "%s defines no receiver \"%s\"", path, name);
    }
    reader_close(&rd);
    config_free(&c);
    return rc;
}

void config_free(config *c)
{
    for (size_t i = 0; i < c->receivers_len; i++)
        receiver_free(&c->receivers[i]);
    free(c->receivers);
    for (size_t i = 0; i < c->time_intervals_len; i++)
        time_interval_free(&c->time_intervals[i]);
    free(c->time_intervals);
    strings_free(c->template_names, c->template_names_len);
    strings_free(c->template_paths, c->template_names_len);
    free(c->shipped_templates_dir);
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
    if (c->store_dsn)
        OPENSSL_cleanse(c->store_dsn, strlen(c->store_dsn));
    free(c->store_dsn);
    free(c->external_url);
    free(c->alertmanager_url);
    if (c->alertmanager_authorization)
        OPENSSL_cleanse(c->alertmanager_authorization, strlen(c->alertmanager_authorization));
    free(c->alertmanager_authorization);
    memset(c, 0, sizeof *c);
}

void config_store_describe(const config *c, char *out, size_t cap)
{
    if (c->store_dsn)
        pg_dsn_describe(c->store_dsn, out, cap);
    else
        snprintf(out, cap, "%s", c->data_dir);
}
