#include "util/process_stats.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/error.h"

/* /proc/self/stat is one short line; /proc/stat grows with the CPUs. */
#define PROC_STAT_MAX (64 * 1024)

int process_stats_parse_stat(const char *stat, long ticks_per_second, long page_size,
                             double boot_time, process_stats *out, char *err, size_t err_cap)
{
    /* The command's closing parenthesis is the last one in the line:
     * field 3 (state) follows it; 14 and 15 are utime and stime, 22 the
     * start time (ticks after boot), 24 the resident pages. */
    const char *p = strrchr(stat, ')');
    if (!p)
        return fail(err, err_cap, "/proc/self/stat: no command name in parentheses");
    unsigned long long utime, stime, starttime;
    long long rss;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d"
                      " %*d %*d %llu %*u %lld", &utime, &stime, &starttime, &rss) != 4)
        return fail(err, err_cap, "/proc/self/stat: fields 3 to 24 are not the numbers expected");
    out->cpu_seconds = (double)(utime + stime) / (double)ticks_per_second;
    out->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page_size : 0;
    out->start_time_seconds = boot_time + (double)starttime / (double)ticks_per_second;
    return 0;
}

int process_stats_parse_boot_time(const char *proc_stat, double *boot_time, char *err,
                                  size_t err_cap)
{
    for (const char *line = proc_stat; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, "btime ", 6) == 0) {
            *boot_time = strtod(line + 6, NULL);
            return 0;
        }
    }
    return fail(err, err_cap, "/proc/stat: no btime line");
}

/* The file's text, NUL-terminated, in buf (cut at cap - 1 bytes). */
static int read_text(const char *path, char *buf, size_t cap, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail_errno(err, err_cap, errno, "cannot open %s", path);
    size_t len = fread(buf, 1, cap - 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed)
        return fail(err, err_cap, "cannot read %s", path);
    buf[len] = '\0';
    return 0;
}

/* Entries of /proc/self/fd, the directory's own descriptor included, as
 * the Prometheus client libraries count them. */
static int count_open_fds(uint64_t *count, char *err, size_t err_cap)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return fail_errno(err, err_cap, errno, "cannot open /proc/self/fd");
    *count = 0;
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.')
            (*count)++;
    closedir(dir);
    return 0;
}

int process_stats_read(process_stats *out, char *err, size_t err_cap)
{
    char *text = xmalloc(PROC_STAT_MAX);
    double boot_time = 0;
    int rc = read_text("/proc/stat", text, PROC_STAT_MAX, err, err_cap) ||
                     process_stats_parse_boot_time(text, &boot_time, err, err_cap) ||
                     read_text("/proc/self/stat", text, PROC_STAT_MAX, err, err_cap) ||
                     process_stats_parse_stat(text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
                                              boot_time, out, err, err_cap) ||
                     count_open_fds(&out->open_fds, err, err_cap)
                 ? -1
                 : 0;
    free(text);
    if (rc)
        return -1;
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return fail_errno(err, err_cap, errno, "cannot read the open files limit");
    out->max_fds = (uint64_t)limit.rlim_cur;
    return 0;
}

void process_stats_render(const process_stats *st, strbuf *out)
{
    sb_printf(out, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                   "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
              st->cpu_seconds);
    sb_printf(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
              (unsigned long long)st->resident_bytes);
    sb_printf(out, "# HELP process_open_fds Number of open file descriptors.\n"
                   "# TYPE process_open_fds gauge\nprocess_open_fds %llu\n",
              (unsigned long long)st->open_fds);
    sb_printf(out, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                   "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
              (unsigned long long)st->max_fds);
    sb_printf(out, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
              st->start_time_seconds);
}
