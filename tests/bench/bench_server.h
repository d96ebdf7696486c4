/* What the benchmark's own servers (bare_server.c, floor_relay.c) share:
 * an answer from a buffer and a number from the command line. */
#ifndef HERALD_BENCH_SERVER_H
#define HERALD_BENCH_SERVER_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <microhttpd.h>

static inline enum MHD_Result answer(struct MHD_Connection *conn, unsigned status,
                                     const char *type, const char *text, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A decimal number no larger than max: 0, or -1. */
static inline int parse_number(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || end == text || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "port N" on stdout, the port bound (the run reads it: port 0 asks
 * the kernel for a free one). */
static inline void announce_port(struct MHD_Daemon *daemon, unsigned long port)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("port %u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);
}

/* Until one of `stop` arrives or max_seconds pass (a run that lost track
 * of its server still ends): the signal, or -1 at the time limit. */
static inline int wait_for_stop(const sigset_t *stop, unsigned long max_seconds)
{
    struct timespec until = {(time_t)max_seconds, 0};
    return sigtimedwait(stop, NULL, &until);
}

#endif
