/* The self-check every generation passes before it serves: the same
 * checks as `herald check`. */
#ifndef HERALD_CHECK_H
#define HERALD_CHECK_H

#include <stddef.h>

#include "config/generation.h"
#include "util/strbuf.h"

/* Loads the configuration, plugins, route script and templates
 * (generation_load), routes the built-in firing and resolved samples, and
 * renders them with every receiver's template and has its channel prepare
 * them. On success returns a numbered generation with one reference and,
 * if report is non-NULL, appends a human summary to it. On failure returns
 * NULL with err naming the file and the problem. */
generation *generation_build(const char *config_path, strbuf *report, char *err, size_t err_cap);
/* The same, relative paths resolved against base_dir (config_load_in). */
generation *generation_build_in(const char *config_path, const char *base_dir, strbuf *report,
                                char *err, size_t err_cap);

#endif
