#include "util/fdlimit.h"

#include <sys/resource.h>

size_t fd_limit_raise(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 1024; /* the usual default: assume no more */
    if (lim.rlim_cur < lim.rlim_max) {
        struct rlimit raised = {lim.rlim_max, lim.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            lim.rlim_cur = lim.rlim_max;
    }
    return lim.rlim_cur == RLIM_INFINITY ? (size_t)1 << 20 : (size_t)lim.rlim_cur;
}
