/* The process's file-descriptor limit (RLIMIT_NOFILE). */
#ifndef HERALD_FDLIMIT_H
#define HERALD_FDLIMIT_H

#include <stddef.h>

/* Raises the soft limit to the hard limit, which an unprivileged process
 * may do (the soft limit is often 1,024 while the hard one is far above),
 * and returns the soft limit now in force. */
size_t fd_limit_raise(void);

#endif
