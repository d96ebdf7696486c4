/* herald serve: the daemon's life. It starts (store, recovery of what the
 * last run left, dispatcher, HTTP), reloads on SIGHUP or POST /-/reload,
 * and stops on SIGTERM or SIGINT, finishing deliveries in flight. */
#ifndef HERALD_DAEMON_H
#define HERALD_DAEMON_H

#include "config/generation.h"

/* Serves until a stop signal; takes over g (checked, as built by
 * generation_build). listen_override is --listen, or NULL. SIGHUP, SIGTERM
 * and SIGINT must be blocked in every thread before the call. Returns the
 * exit status, having said why on stderr when it is not 0. */
int daemon_serve(const char *config_path, const char *listen_override, generation *g);

#endif
