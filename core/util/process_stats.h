/* The standard process metrics (process_cpu_seconds_total and the rest,
 * as every Prometheus client library exports them), read from /proc. */
#ifndef HERALD_PROCESS_STATS_H
#define HERALD_PROCESS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

typedef struct process_stats {
    double cpu_seconds;         /* user and system */
    uint64_t resident_bytes;
    uint64_t open_fds;
    uint64_t max_fds;           /* the soft limit */
    double start_time_seconds;  /* since the epoch */
} process_stats;

/* The fields /proc/<pid>/stat holds (cpu, resident memory, start time),
 * given the clock ticks per second, the page size and the boot time
 * (seconds since the epoch). The command name in parentheses may hold
 * anything, spaces and parentheses included. */
int process_stats_parse_stat(const char *stat, long ticks_per_second, long page_size,
                             double boot_time, process_stats *out, char *err, size_t err_cap);
/* The boot time from the text of /proc/stat (its "btime" line). */
int process_stats_parse_boot_time(const char *proc_stat, double *boot_time, char *err,
                                  size_t err_cap);

/* This process's, from /proc/self and /proc/stat. */
int process_stats_read(process_stats *out, char *err, size_t err_cap);

/* Appends the five families in the text format. */
void process_stats_render(const process_stats *st, strbuf *out);

#endif
