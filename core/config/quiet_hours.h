/* The configuration's quiet hours, private to config/: the named
 * time_intervals at the top level, and each receiver's
 * mute_time_intervals, active_time_intervals and muted. */
#ifndef HERALD_CONFIG_QUIET_HOURS_H
#define HERALD_CONFIG_QUIET_HOURS_H

#include "config/conf.h"
#include "config/reader.h"

/* The time_intervals table at the top of the stack (nil: none) into
 * conf->time_intervals, sorted by name. Before the receivers, which
 * point into it. */
int read_time_intervals(conf_reader *rd);
/* The receiver's keys, from its table at the top of the stack (named
 * `path`); every name must be one of conf->time_intervals. */
int read_receiver_quiet_hours(conf_reader *rd, const char *path, quiet_hours *q);
void quiet_hours_free(quiet_hours *q);

#endif
