/* The threads that parse, route and render ingest requests. libmicrohttpd's
 * threads only read requests and write answers: a request whose body is
 * read is suspended and handed here, so however long route scripts and
 * templates run, the probes and every other connection are still served. */
#include "http/server_internal.h"

#include <stdlib.h>

#include "util/error.h"
#include "util/thread_name.h"

struct ingest_workers {
    http_server *srv;
    ingest_work_fn run;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    request_ctx *head, *tail; /* FIFO through request_ctx.next_queued */
    int stopping;
    pthread_t *threads;
    unsigned count;
};

static void *work(void *arg)
{
    thread_name("ingest");
    ingest_workers *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->ready, &w->lock);
        request_ctx *ctx = w->head;
        if (!ctx)
            break; /* stopping, and nothing is left */
        w->head = ctx->next_queued;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        w->run(w->srv, ctx);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

ingest_workers *ingest_workers_start(http_server *srv, ingest_work_fn run, unsigned count,
                                     char *err, size_t err_cap)
{
    ingest_workers *w = xcalloc(1, sizeof *w);
    w->srv = srv;
    w->run = run;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->ready, NULL);
    w->threads = xcalloc(count, sizeof *w->threads);
    for (; w->count < count; w->count++) {
        int rc = pthread_create(&w->threads[w->count], NULL, work, w);
        if (rc) {
            fail_errno(err, err_cap, rc, "cannot start ingest thread %u", w->count + 1);
            ingest_workers_stop(w);
            return NULL;
        }
    }
    return w;
}

void ingest_workers_submit(ingest_workers *w, request_ctx *ctx)
{
    ctx->next_queued = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next_queued = ctx;
    else
        w->head = ctx;
    w->tail = ctx;
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->lock);
}

void ingest_workers_stop(ingest_workers *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->ready);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->count; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->ready);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
