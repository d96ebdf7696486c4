/* The templates and the route script, found along a search path: the
 * configuration's own folder first, then what an installed herald ships
 * (config/layout.h). An operator's file overrides the shipped one of the
 * same name, and an upgrade that replaces the shipped files leaves the
 * operator's untouched. Private to config/. */
#ifndef HERALD_CONFIG_SEARCH_PATH_H
#define HERALD_CONFIG_SEARCH_PATH_H

#include "config/reader.h"

/* Fills template_names and template_paths, sorted by name: every *.lua of
 * the templates folder, then those of the shipped folder not already
 * found. The templates folder must exist when the file sets it, or when
 * nothing is shipped. */
int find_templates(conf_reader *rd);
/* Resolves route: the configured file, else (when it does not exist) the
 * shipped script of the same name. */
int find_route(conf_reader *rd);

#endif
