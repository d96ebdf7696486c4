#include "util/thread_name.h"

#include <pthread.h>
#include <string.h>

void thread_name(const char *name)
{
    char kept[16];
    size_t len = strnlen(name, sizeof kept - 1);
    memcpy(kept, name, len);
    kept[len] = '\0';
    pthread_setname_np(pthread_self(), kept); /* a name is a courtesy: failing changes nothing */
}
