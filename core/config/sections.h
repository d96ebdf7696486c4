/* The configuration's keys, private to config/: their defaults, the top
 * level and the sections lua, delivery, auth and tls. */
#ifndef HERALD_CONFIG_SECTIONS_H
#define HERALD_CONFIG_SECTIONS_H

#include "config/conf.h"
#include "config/reader.h"

void set_defaults(config *c);
/* Reads and checks the whole table at the top of the stack, loads the
 * plugins and configures the receivers. */
int read_settings(conf_reader *rd);
/* store = { backend = "sqlite" | "postgresql", dsn = ... }: the DSN,
 * checked, into the configuration. */
int read_store_section(conf_reader *rd);

#endif
