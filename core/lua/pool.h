/* A small-block pool for one Lua state's allocator (lua/limits.c): most of
 * what Lua allocates (strings, tables, their slots, closures) is a block of
 * a few dozen bytes, and a render frees hundreds of them at once in a
 * collection, which overflowed malloc's per-thread caches into its slower
 * paths. Blocks of up to POOL_MAX_BLOCK bytes come from slabs of one size
 * class each; an empty slab goes back to malloc (but for a few kept for
 * the next request), so a state's memory still shrinks after an
 * exceptional request. Like its state, a pool is used by one thread at a
 * time. */
#ifndef HERALD_LUA_POOL_H
#define HERALD_LUA_POOL_H

#include <stddef.h>

/* Blocks up to this size come from the pool; larger ones from malloc. */
#define POOL_MAX_BLOCK 256
#define POOL_CLASSES (POOL_MAX_BLOCK / 16)
/* Empty slabs kept for the next request rather than unmapped and mapped
 * again (and their pages faulted in again): 1 MiB a state. Rendering a
 * 250-alert request empties dozens of slabs, and with only two kept each
 * request unmapped the rest, every unmap a TLB flush on both processors:
 * about a quarter of its ingest CPU. */
#define POOL_EMPTY_KEPT 16

typedef struct pool_slab pool_slab;

typedef struct lua_pool {
    pool_slab *with_room[POOL_CLASSES]; /* per size class: slabs with a free block */
    pool_slab *empty;                   /* empty slabs kept for reuse */
    size_t empty_len;
} lua_pool;

#define LUA_POOL_INIT {{NULL}, NULL, 0}

/* A block of 1..POOL_MAX_BLOCK bytes, aligned for any type (max_align_t);
 * NULL when malloc has no memory for a new slab. */
void *pool_alloc(lua_pool *pool, size_t size);
/* Gives back a block pool_alloc returned, of any size it had since. */
void pool_free(lua_pool *pool, void *block);
/* Resizes the block to `size` bytes (1..POOL_MAX_BLOCK) where it is, and
 * returns 1, when that is the size class a new block would have; else 0. */
int pool_resize_in_place(void *block, size_t size);
/* Frees the slabs kept empty; every block must have been freed. */
void pool_destroy(lua_pool *pool);

#endif
