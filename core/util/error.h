/* How herald reports a failure, everywhere in the core.
 *
 * A function that can fail takes `char *err, size_t err_cap` last and
 * returns 0 on success or -1 with a one-line message in err that names
 * what was wrong (the file, the key, the field) and why. An outcome that
 * is not a failure, such as "no such id", is a positive value the
 * function's header names. A NULL pointer return means failure with err
 * set in the same way. Every failing path writes err; callers never see
 * -1 with err unset.
 *
 * strerror() shares one buffer between threads; errno is described with
 * fail_errno() or errno_text(), which do not. */
#ifndef HERALD_ERROR_H
#define HERALD_ERROR_H

#include <stddef.h>

#include "herald/plugin.h"

/* Fills err with the formatted message and returns -1, so a failing path
 * reads `return fail(err, err_cap, "...", ...)`. */
int fail(char *err, size_t err_cap, const char *fmt, ...) HERALD_PRINTF(3, 4);

/* The same, with ": <errnum described>" appended. */
int fail_errno(char *err, size_t err_cap, int errnum, const char *fmt, ...) HERALD_PRINTF(4, 5);

/* errnum described in buf (thread-safe); returns buf. */
const char *errno_text(int errnum, char *buf, size_t cap);

/* Large enough for any errno_text. */
#define ERRNO_TEXT_SIZE 128

#endif
