/* Names the calling thread, as `top -H`, `ps -L` and perf show it: an
 * operator sees which part of herald spends the CPU (the store's writer,
 * the dispatcher, the ingest workers). */
#ifndef HERALD_THREAD_NAME_H
#define HERALD_THREAD_NAME_H

/* At most 15 bytes are kept: the kernel's limit. */
void thread_name(const char *name);

#endif
