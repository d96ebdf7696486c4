/* The small-block pool behind each Lua state's allocator (lua/pool.h). */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "lua/pool.h"

#define BLOCKS 20000

static size_t size_of(size_t i) { return 1 + (i * 7919) % POOL_MAX_BLOCK; }

static int holds_its_pattern(const unsigned char *block, size_t i)
{
    for (size_t b = 0; b < size_of(i); b++)
        if (block[b] != (unsigned char)i)
            return 0;
    return 1;
}

/* Every block is aligned for any type, and none overlaps another: each
 * keeps what was written to it while the others are written, freed and
 * handed out again. */
TEST(blocks_are_aligned_and_apart)
{
    static unsigned char *blocks[BLOCKS];
    lua_pool pool = LUA_POOL_INIT;
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = pool_alloc(&pool, size_of(i));
        CHECK(blocks[i] != NULL);
        CHECK((uintptr_t)blocks[i] % alignof(max_align_t) == 0);
        memset(blocks[i], (int)(i & 0xff), size_of(i));
    }
    for (size_t i = 0; i < BLOCKS; i += 3)
        pool_free(&pool, blocks[i]);
    for (size_t i = 0; i < BLOCKS; i += 3) {
        blocks[i] = pool_alloc(&pool, size_of(i));
        memset(blocks[i], (int)(i & 0xff), size_of(i));
    }
    for (size_t i = 0; i < BLOCKS; i++)
        if (!holds_its_pattern(blocks[i], i))
            FAIL_AT("block %zu was overwritten", i);
    for (size_t i = 0; i < BLOCKS; i++)
        pool_free(&pool, blocks[i]);
    pool_destroy(&pool);
}

/* Once all its blocks are free a slab goes, but for the few kept for
 * reuse: the pool does not keep what an exceptional request needed. */
TEST(empty_slabs_are_given_back)
{
    static void *blocks[BLOCKS];
    lua_pool pool = LUA_POOL_INIT;
    for (size_t i = 0; i < BLOCKS; i++) /* some 80 slabs */
        blocks[i] = pool_alloc(&pool, POOL_MAX_BLOCK);
    for (size_t i = 0; i < BLOCKS; i++)
        pool_free(&pool, blocks[i]);
    for (size_t c = 0; c < POOL_CLASSES; c++)
        CHECK(pool.with_room[c] == NULL);
    CHECK_INT(pool.empty_len, POOL_EMPTY_KEPT);
    pool_destroy(&pool);
    CHECK(pool.empty == NULL);
}

/* A block stays where it is for a size of its own class only. */
TEST(resizing_in_place_keeps_the_class)
{
    lua_pool pool = LUA_POOL_INIT;
    char *block = pool_alloc(&pool, 20);
    memcpy(block, "0123456789abcdefghi", 20);
    CHECK_INT(pool_resize_in_place(block, 32), 1);
    CHECK_INT(pool_resize_in_place(block, 17), 1);
    CHECK(memcmp(block, "0123456789abcdefg", 17) == 0);
    CHECK_INT(pool_resize_in_place(block, 33), 0);
    CHECK_INT(pool_resize_in_place(block, 16), 0);
    pool_free(&pool, block);
    pool_destroy(&pool);
}

RUN_TESTS(CASE(blocks_are_aligned_and_apart), CASE(empty_slabs_are_given_back),
          CASE(resizing_in_place_keeps_the_class))
