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

/* Returns the free pages of every malloc arena to the system (glibc's
 * malloc_trim; nothing elsewhere). */
void memory_give_back(void);

#endif
