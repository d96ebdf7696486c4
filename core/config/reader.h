/* The typed reader of the configuration's Lua table, private to config/.
 *
 * The file runs in the sandbox with one extra global, env(name [,
 * default]); the globals it sets form the table the readers below walk.
 * Each reader checks one value's type and range and, on failure, returns
 * -1 with "FILE: KEY.PATH: what was expected" in err. A value's text is
 * never shown: it may be a secret. */
#ifndef HERALD_CONFIG_READER_H
#define HERALD_CONFIG_READER_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "config/conf.h"
#include "config/env_file.h"
#include "herald/plugin.h"
#include "lua/tz.h"
#include "util/strbuf.h"

/* Enough for any key path a message names ("receivers.NAME.OPTION"). */
#define KEY_PATH_CAP 320

typedef struct conf_reader {
    lua_State *L;
    config *conf;
    char *err;
    size_t err_cap;
    tz_zone *utc;      /* the sandbox's zone while the file runs */
    strbuf unset_env;  /* names env() was asked for but the environment lacks */
    char hint[512];
    int settings_ref;  /* registry reference to the table the file's globals fill */
    env_file env;      /* the env_file env() read; path NULL while none */
    int env_before_file; /* env() ran while env_file was not set */
} conf_reader;

/* Runs conf->path in a sandbox, leaving the table of what it set on top of
 * the reader's stack. Returns 0, or -1 with err set (a Lua error names the
 * file and line). reader_close is due either way. */
int reader_open(conf_reader *rd, config *conf, char *err, size_t err_cap);
/* Reads the env_file the file set (a path relative to the configuration's
 * folder), once per load. Returns 0 (also without one), or -1 with err. */
int reader_env_file(conf_reader *rd, const char *path);
void reader_close(conf_reader *rd);

/* err = "FILE: KEY_PATH: message" ("FILE: message" without a key path);
 * returns -1. */
int fail_at(conf_reader *rd, const char *key_path, const char *fmt, ...) HERALD_PRINTF(3, 4);
/* " (unset environment variables: A, B)" when env() found some unset, for
 * messages about a missing value. */
const char *unset_env_hint(conf_reader *rd);
/* "table.key", or "key" at the top level (table_path NULL). */
void key_path(char *out, size_t cap, const char *table_path, const char *key);

/* The value at the top of the stack, named `path` in messages. nil leaves
 * *out as it is (unless required, for a string). */
int take_string(conf_reader *rd, const char *path, int required, char **out);
int take_integer(conf_reader *rd, const char *path, long long min, long long max,
                 long long *out);
int take_boolean(conf_reader *rd, const char *path, int *out);
/* A sequence of strings, appended to items. */
int take_string_list(conf_reader *rd, const char *path, char ***items, size_t *len);
int expect_table(conf_reader *rd, const char *path);
/* Every key of the table at the top must be one of `known`. */
int check_keys(conf_reader *rd, const char *path, const char *const *known, size_t n);

/* The same for key of the table at the top, named "table_path.key". */
int read_table_string(conf_reader *rd, const char *table_path, const char *key, int required,
                      char **out);
int read_table_integer(conf_reader *rd, const char *table_path, const char *key, long long min,
                       long long max, long long *out);
int read_table_boolean(conf_reader *rd, const char *table_path, const char *key, int *out);
int read_table_string_list(conf_reader *rd, const char *table_path, const char *key,
                           char ***items, size_t *len);
/* A duration ("10s", or seconds) into *ms, or with is_size a size
 * ("1MiB", or bytes) into *bytes. */
int read_table_quantity(conf_reader *rd, const char *table_path, const char *key, int is_size,
                        int64_t *ms, size_t *bytes);

#endif
