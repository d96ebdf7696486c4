#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int current_level = HERALD_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(herald_log_level level) { atomic_store(&current_level, (int)level); }

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* Appends text to line (cap bytes, length *len) with control characters
 * escaped: a log line is one line, and a label or an error text from a
 * request cannot forge the next one. */
static void append_escaped(char *line, size_t cap, size_t *len, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p && *len + 5 < cap; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            line[(*len)++] = (char)*p;
        } else if (*p == '\n') {
            line[(*len)++] = '\\';
            line[(*len)++] = 'n';
        } else {
            *len += (size_t)snprintf(line + *len, cap - *len, "\\x%02x", *p);
        }
    }
    line[*len] = '\0';
}

void log_msg(herald_log_level level, const char *who, const char *fmt, ...)
{
    if ((int)level < HERALD_LOG_DEBUG || (int)level > HERALD_LOG_ERROR)
        level = HERALD_LOG_ERROR; /* a plugin's level we do not know */
    if ((int)level < atomic_load(&current_level))
        return;
    char line[4096], text[4096];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, now.tv_nsec / 1000000, level_names[level]);
    size_t len = n > 0 ? (size_t)n : 0;
    append_escaped(line, sizeof line, &len, who ? who : "herald");
    append_escaped(line, sizeof line, &len, ": ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    append_escaped(line, sizeof line, &len, text);
    /* One fputs per line keeps lines from different threads whole. */
    line[len++] = '\n';
    line[len] = '\0';
    fputs(line, stderr);
}
