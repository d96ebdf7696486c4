/* How long a failed delivery waits before its next attempt. */
#ifndef HERALD_BACKOFF_H
#define HERALD_BACKOFF_H

#include <stdint.h>

/* Delay before retry number `attempt` (1-based): initial * 2^(attempt-1)
 * capped at max_delay, then jittered to between half and all of it. */
int64_t retry_delay_ms(unsigned attempt, int64_t initial_ms, int64_t max_delay_ms);

#endif
