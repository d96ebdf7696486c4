/* Giving memory back to the system after an exceptional request.
 *
 * A request of many alerts builds a JSON tree, alert records and Lua
 * strings of many small blocks; once they are freed, malloc keeps the
 * pages for later (in every HTTP thread's arena) and the process stays as
 * large as that one request made it. Exceptional sizes are rare, so after
 * one the free pages are returned at once: the cost (a walk of the free
 * blocks) is paid only then, never on an ordinary request. */
#ifndef HERALD_MEMORY_H
#define HERALD_MEMORY_H

#include <stddef.h>

/* A request body, or a notification's message and payload, this large
 * or larger is exceptional: 1 MiB, the default max_body. */
#define MEMORY_EXCEPTIONAL_BYTES ((size_t)1024 * 1024)

/* glibc's initial threshold for mapping a block on its own. */
#define MEMORY_MAPPED_BYTES (128 * 1024)

/* Has every block of MEMORY_MAPPED_BYTES or more mapped on its own and
 * unmapped when freed. glibc's default threshold rises to the size of
 * each mapped block freed, so after the first large request body every
 * later one came from the thread's arena, whose pages stay resident:
 * 64 clients posting 250-alert requests (170 KiB each) peaked 4 MiB
 * higher. Called once, before the threads start. */
void memory_map_large_blocks(void);

/* Returns the free pages of every malloc arena to the system (glibc's
 * malloc_trim; nothing elsewhere). */
void memory_give_back(void);

#endif
