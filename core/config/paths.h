/* The files and folders the configuration names, private to config/:
 * relative paths resolve against the configuration's folder, and each is
 * checked now, so `herald check` and a reload name a wrong one before a
 * start fails. */
#ifndef HERALD_CONFIG_PATHS_H
#define HERALD_CONFIG_PATHS_H

#include "config/conf.h"
#include "config/reader.h"

/* Makes *path absolute and canonical; it must be a folder (want_dir) or a
 * regular file. `key` names it in messages. */
int resolve_path(conf_reader *rd, const char *key, char **path, int want_dir);
/* Absolute, with its parent made canonical: the store creates the folder
 * itself, so it need not exist yet. */
void resolve_data_dir(config *c);
/* data_dir must be a writable folder, or creatable in one. */
int check_data_dir(conf_reader *rd);
/* Replaces *path by dir/path unless it is absolute. */
void make_absolute(const char *dir, char **path);

#endif
