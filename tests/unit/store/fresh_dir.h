/* Each case of a store test runs in a data_dir of its own, `dir`, made
 * before it and removed after it: WCASE(name) in RUN_TESTS for a
 * TEST(name) declared with WRAP(name). */
#ifndef HERALD_TEST_FRESH_DIR_H
#define HERALD_TEST_FRESH_DIR_H

#include <stdlib.h>

#include "testutil.h"

static char *dir;

static inline void with_dir(void (*fn)(void))
{
    dir = test_tmpdir();
    fn();
    test_rmtree(dir);
    free(dir);
    dir = NULL;
}

#define WRAP(name) \
    static void wrapped_##name(void) { with_dir(test_##name); }
#define WCASE(name) {#name, wrapped_##name}

#endif
