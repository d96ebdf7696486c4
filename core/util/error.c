#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fail(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
    return -1;
}

int fail_errno(char *err, size_t err_cap, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < err_cap) {
        char why[ERRNO_TEXT_SIZE];
        snprintf(err + n, err_cap - (size_t)n, ": %s", errno_text(errnum, why, sizeof why));
    }
    return -1;
}

const char *errno_text(int errnum, char *buf, size_t cap)
{
    /* The GNU strerror_r (the build defines _GNU_SOURCE) may return a
     * static string instead of filling buf. */
    const char *text = strerror_r(errnum, buf, cap);
    if (text != buf)
        snprintf(buf, cap, "%s", text);
    return buf;
}
