/* Wall-clock milliseconds since the epoch: the time herald stores and
 * compares with what Alertmanager and the services send; and a monotonic
 * clock for deadlines. */
#ifndef HERALD_CLOCK_H
#define HERALD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds of CLOCK_MONOTONIC: for deadlines, which a change of the
 * wall clock must not move. */
static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
