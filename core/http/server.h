/* The HTTP surface: ingest endpoints, health, readiness, reload, metrics.
 * libmicrohttpd runs an internal polling thread pool (epoll); each pool
 * thread owns one Lua state, rebuilt when a new generation is installed. */
#ifndef HERALD_HTTP_H
#define HERALD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "delivery/outbox.h"
#include "store/store.h"

typedef struct http_server http_server;

/* Rebuilds and installs a generation; returns 0, RELOAD_BUSY when
 * another reload is running (the HTTP thread does not wait for it), or -1
 * with err set. */
#define RELOAD_BUSY 1
typedef int (*reload_fn)(void *ctx, char *err, size_t err_cap);

/* where: the store the /api/v1/ endpoints read. */
http_server *http_start(const char *listen, unsigned threads, outbox *box, const store_location *where,
                        reload_fn reload, void *reload_ctx, char *err, size_t err_cap);
/* Whether it serves HTTPS (the configuration's tls at start). */
int http_is_tls(const http_server *s);
/* From now on ingest and /-/ready answer 503 (so senders retry and load
 * balancers move away) while the server keeps listening; waits until the
 * ingest requests already past that check are answered. */
void http_stop_accepting(http_server *s);
/* Finishes requests in progress, joins the threads and frees the server. */
void http_stop(http_server *s);

#endif
