/* bare_server: the smallest libmicrohttpd server that does what herald's
 * HTTP layer does for one ingest request (read the POST body, answer 200
 * with a small JSON body), with herald's threading model: an internal
 * polling thread, epoll, a thread pool of 4. tests/bench/run uses it twice:
 *
 *   - as the baseline herald's ingest rate is divided by (same machine,
 *     same run, so the ratio holds on a noisy machine);
 *   - as the fast mock channel herald delivers to: it counts the POSTs it
 *     answered, and GET /count returns that number.
 *
 * Usage: bare_server [--port N] [--max-seconds S]
 *
 * Binds 127.0.0.1 only. --port 0 (the default) takes a free port; the port
 * is printed as "port N" on standard output once the server is serving.
 * It stops on SIGTERM or SIGINT, and by itself after --max-seconds
 * (default 300), printing "posts N" as it goes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "bench_server.h"

static const char ok_body[] = "{\"errcode\":0,\"errmsg\":\"ok\"}";

static atomic_ullong posts;       /* POST requests answered 200 */
static atomic_ullong body_bytes;  /* POST body bytes read */

/* The first call for a request sees *con_cls == NULL; later ones (body
 * chunks, then the final call) see this marker. */
static int request_marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        *con_cls = &request_marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        atomic_fetch_add(&body_bytes, (unsigned long long)*upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        atomic_fetch_add(&posts, 1);
        return answer(conn, MHD_HTTP_OK, "application/json", ok_body, sizeof ok_body - 1);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, "/count") == 0) {
        char text[64];
        int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)atomic_load(&posts));
        return answer(conn, MHD_HTTP_OK, "text/plain", text, (size_t)n);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, "/-/ready") == 0)
        return answer(conn, MHD_HTTP_OK, "text/plain", "Ready.\n", 7);
    return answer(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
}

static void usage(void)
{
    fprintf(stderr, "usage: bare_server [--port N] [--max-seconds S]\n");
}

int main(int argc, char **argv)
{
    unsigned long port = 0, max_seconds = 300;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            if (parse_number(argv[++i], 65535, &port)) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
            if (parse_number(argv[++i], 86400, &max_seconds) || max_seconds == 0) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }

    /* Block the stop signals before any thread starts, so only sigtimedwait
     * below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "bare_server: cannot serve on 127.0.0.1:%lu: %s\n", port, strerror(errno));
        return 1;
    }
    announce_port(daemon, port);
    int sig = wait_for_stop(&stop, max_seconds);
    MHD_stop_daemon(daemon);
    printf("posts %llu bytes %llu (%s)\n", (unsigned long long)atomic_load(&posts),
           (unsigned long long)atomic_load(&body_bytes),
           sig < 0 ? "time limit reached" : "stopped by signal");
    return 0;
}
