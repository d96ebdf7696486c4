/* Slabs are SLAB_BYTES long and aligned to that, so a block's slab is its
 * address rounded down, and a free needs no size and no header per block.
 * Each slab serves one size class and keeps its own free list, so a slab
 * whose blocks are all free is known at once and can go. Blocks are carved
 * from a slab only as they are needed, so a slab's pages become resident
 * no sooner than malloc's would. Slabs are mapped, not malloc'd: aligned
 * blocks from malloc left gaps in its heap that raised resident memory
 * more than the pool saved, and an unmapped slab is given back at once.
 *
 * Under AddressSanitizer the blocks not handed out are poisoned, so a use
 * after free inside Lua's objects is still caught. */
#include "lua/pool.h"

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif

/* The leak checker scans the heap, not mapped memory: a slab is made a
 * root region, or a malloc'd block that only Lua objects in the slab
 * point to (a long string, a table's array) would be reported leaked
 * while its state is open. */
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define POISON(start, len) ASAN_POISON_MEMORY_REGION(start, len)
#define UNPOISON(start, len) ASAN_UNPOISON_MEMORY_REGION(start, len)
#define SCAN_FOR_LEAKS(start, len) __lsan_register_root_region(start, len)
#define STOP_SCANNING(start, len) __lsan_unregister_root_region(start, len)
#else
#define POISON(start, len) ((void)(start), (void)(len))
#define UNPOISON(start, len) ((void)(start), (void)(len))
#define SCAN_FOR_LEAKS(start, len) ((void)(start), (void)(len))
#define STOP_SCANNING(start, len) ((void)(start), (void)(len))
#endif

#define GRANULE 16
#define SLAB_BYTES ((size_t)64 << 10)

static_assert(GRANULE % alignof(max_align_t) == 0, "blocks must be aligned for any type");
static_assert(POOL_MAX_BLOCK % GRANULE == 0, "classes are whole granules");

typedef struct free_block {
    struct free_block *next;
} free_block;

struct pool_slab {
    pool_slab *prev, *next; /* in its class's with_room list, or the empty list */
    free_block *free;
    char *fresh;            /* blocks from here on were never handed out */
    unsigned live;          /* blocks handed out */
    unsigned block_size;
    int listed;             /* in its class's with_room list */
};

#define HEADER_BYTES ((sizeof(pool_slab) + GRANULE - 1) / GRANULE * GRANULE)

static unsigned class_of(size_t size) { return (unsigned)((size - 1) / GRANULE); }

static pool_slab *slab_of(const void *block)
{
    return (pool_slab *)((uintptr_t)block & ~(uintptr_t)(SLAB_BYTES - 1));
}

static int has_room(const pool_slab *s)
{
    return s->free || s->fresh + s->block_size <= (const char *)s + SLAB_BYTES;
}

static void list(lua_pool *pool, pool_slab *s)
{
    pool_slab **head = &pool->with_room[class_of(s->block_size)];
    s->prev = NULL;
    s->next = *head;
    if (s->next)
        s->next->prev = s;
    *head = s;
    s->listed = 1;
}

static void unlist(lua_pool *pool, pool_slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        pool->with_room[class_of(s->block_size)] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->listed = 0;
}

static void free_slab(pool_slab *s)
{
    UNPOISON(s, SLAB_BYTES);
    STOP_SCANNING(s, SLAB_BYTES);
    munmap(s, SLAB_BYTES);
}

/* Maps twice the size and unmaps what lies outside the aligned slab. */
static pool_slab *map_slab(void)
{
    char *area = mmap(NULL, 2 * SLAB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (area == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)area + SLAB_BYTES - 1) & ~(uintptr_t)(SLAB_BYTES - 1));
    if (start > area)
        munmap(area, (size_t)(start - area));
    munmap(start + SLAB_BYTES, (size_t)(area + SLAB_BYTES - start));
    SCAN_FOR_LEAKS(start, SLAB_BYTES);
    return (pool_slab *)start;
}

static pool_slab *new_slab(lua_pool *pool, unsigned class_index)
{
    pool_slab *s = pool->empty;
    if (s) {
        pool->empty = s->next;
        pool->empty_len--;
    } else {
        s = map_slab();
        if (!s)
            return NULL;
        POISON((char *)s + HEADER_BYTES, SLAB_BYTES - HEADER_BYTES);
    }
    s->free = NULL;
    s->fresh = (char *)s + HEADER_BYTES;
    s->live = 0;
    s->block_size = (class_index + 1) * GRANULE;
    list(pool, s);
    return s;
}

void *pool_alloc(lua_pool *pool, size_t size)
{
    assert(size > 0 && size <= POOL_MAX_BLOCK);
    unsigned class_index = class_of(size);
    pool_slab *s = pool->with_room[class_index];
    if (!s && !(s = new_slab(pool, class_index)))
        return NULL;
    char *block;
    if (s->free) {
        block = (char *)s->free;
        UNPOISON(block, sizeof(free_block));
        s->free = s->free->next;
        POISON(block, s->block_size);
    } else {
        block = s->fresh;
        s->fresh += s->block_size;
    }
    s->live++;
    if (!has_room(s))
        unlist(pool, s);
    UNPOISON(block, size);
    return block;
}

void pool_free(lua_pool *pool, void *block)
{
    pool_slab *s = slab_of(block);
    UNPOISON(block, sizeof(free_block));
    free_block *f = block;
    f->next = s->free;
    s->free = f;
    POISON(block, s->block_size);
    if (--s->live) {
        if (!s->listed)
            list(pool, s);
        return;
    }
    if (s->listed)
        unlist(pool, s);
    if (pool->empty_len < POOL_EMPTY_KEPT) {
        s->next = pool->empty;
        pool->empty = s;
        pool->empty_len++;
    } else {
        free_slab(s);
    }
}

int pool_resize_in_place(void *block, size_t size)
{
    size_t block_size = slab_of(block)->block_size;
    if (block_size != (class_of(size) + 1) * GRANULE)
        return 0;
    UNPOISON(block, size);
    POISON((char *)block + size, block_size - size);
    return 1;
}

void pool_destroy(lua_pool *pool)
{
    for (unsigned i = 0; i < POOL_CLASSES; i++)
        assert(!pool->with_room[i]); /* Lua frees every block before its state */
    while (pool->empty) {
        pool_slab *next = pool->empty->next;
        free_slab(pool->empty);
        pool->empty = next;
    }
    pool->empty_len = 0;
}
