#include "util/memory.h"

#include <stdlib.h> /* defines __GLIBC__ where glibc is the C library */

#ifdef __GLIBC__
#include <malloc.h>
#endif

void memory_map_large_blocks(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, MEMORY_MAPPED_BYTES);
#endif
}

void memory_give_back(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
