#include "http/server_internal.h"

#include <stdlib.h>

void thread_script_free(void *state)
{
    script_state *s = state;
    script_close(s);
    free(s);
}

script_state *thread_script(http_server *srv, generation *g, char *err, size_t err_cap)
{
    script_state *s = pthread_getspecific(srv->script_key);
    if (s && s->gen == g)
        return s;
    if (!s) {
        s = xcalloc(1, sizeof *s);
        pthread_setspecific(srv->script_key, s);
    } else {
        script_close(s);
    }
    return script_open(s, g, err, err_cap) ? NULL : s;
}
