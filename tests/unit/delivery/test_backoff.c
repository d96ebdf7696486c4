/* The delay before a retry: doubling from the initial delay, capped, and
 * jittered so that notifications that failed together do not retry
 * together. */
#include "harness.h"

#include <stdint.h>

#include "delivery/backoff.h"

TEST(retry_delay_grows_caps_and_jitters)
{
    for (int i = 0; i < 200; i++) {
        int64_t d1 = retry_delay_ms(1, 1000, 60000);
        int64_t d3 = retry_delay_ms(3, 1000, 60000);
        int64_t d20 = retry_delay_ms(20, 1000, 60000);
        CHECK(d1 >= 500 && d1 <= 1000);
        CHECK(d3 >= 2000 && d3 <= 4000);
        CHECK(d20 >= 30000 && d20 <= 60000);
    }
    /* Jitter: not every delay is the same. */
    int64_t first = retry_delay_ms(5, 1000, 60000);
    int differs = 0;
    for (int i = 0; i < 50 && !differs; i++)
        differs = retry_delay_ms(5, 1000, 60000) != first;
    CHECK(differs);
}

RUN_TESTS(CASE(retry_delay_grows_caps_and_jitters))
