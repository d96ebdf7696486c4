/* Process-wide logging to stderr: one line per event, with a level and a
 * prefix naming who speaks. Secrets must be redacted by the caller. */
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

#include "herald/plugin.h"

void log_set_level(herald_log_level level);
/* Parses "debug", "info", "warn" or "error"; returns -1 when unknown. */
int log_level_parse(const char *name);
void log_msg(herald_log_level level, const char *who, const char *fmt, ...)
    HERALD_PRINTF(3, 4);

#define log_debug(who, ...) log_msg(HERALD_LOG_DEBUG, who, __VA_ARGS__)
#define log_info(who, ...) log_msg(HERALD_LOG_INFO, who, __VA_ARGS__)
#define log_warn(who, ...) log_msg(HERALD_LOG_WARN, who, __VA_ARGS__)
#define log_error(who, ...) log_msg(HERALD_LOG_ERROR, who, __VA_ARGS__)

#endif
