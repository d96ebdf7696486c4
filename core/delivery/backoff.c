#include "delivery/backoff.h"

#include <stdlib.h>
#include <unistd.h>

#include "util/clock.h"

int64_t retry_delay_ms(unsigned attempt, int64_t initial_ms, int64_t max_delay_ms)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)wall_ms() ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&seed;
    int64_t delay = initial_ms;
    for (unsigned i = 1; i < attempt && delay < max_delay_ms; i++)
        delay *= 2;
    if (delay > max_delay_ms)
        delay = max_delay_ms;
    /* Jitter spreads retries of many notifications that failed together. */
    int64_t half = delay / 2;
    return half + (half > 0 ? (int64_t)(rand_r(&seed) % (half + 1)) : 0);
}
