/* The last configuration that served, kept in data_dir/last-good: the
 * configuration file, the route script and the templates of the newest
 * generation that started or reloaded. When the files on disk do not load
 * at start, herald serves that copy (loudly) instead of staying down in a
 * restart loop, until a reload of good files replaces it.
 *
 * The copy is read with relative paths resolved against the original
 * configuration's folder, so data_dir, env_file, TLS files and plugins are
 * the live ones; only the configuration text, route and templates are the
 * saved ones. Plugins' options are part of the configuration text. */
#ifndef HERALD_LAST_GOOD_H
#define HERALD_LAST_GOOD_H

#include <stddef.h>

#include "config/generation.h"

/* Saves g's files under its data_dir/last-good, replacing the previous
 * copy whole; a failure is logged, not fatal. */
void last_good_save(const generation *g);

/* The saved copy for config_path's data_dir, built and checked, with its
 * stale_note saying why it serves (`why_not_files`: the error of the
 * files on disk). NULL with err saying why there is none to serve. */
generation *last_good_build(const char *config_path, const char *why_not_files, char *err,
                            size_t err_cap);

#endif
