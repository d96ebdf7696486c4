/* herald's ingest side alone, on one thread: a payload parsed, its
 * alerts' records made, routed and rendered, REQUESTS times, with no
 * server or delivery around it. It prints the CPU each request took. The
 * whole benchmark cannot tell a change of a few percent in this part from
 * the machine's drift; run two builds' pipeline_cpu in turn, several
 * times each, and compare their medians (README.md).
 *
 *   pipeline_cpu CONFIG PAYLOAD REQUESTS [DATA_DIR]
 *
 * Routes to the configuration's default_receiver, as POST /webhook. With
 * DATA_DIR it also stores what each request made in a SQLite store there,
 * as the daemon does: GROUP requests to a transaction, as its group
 * commit takes them under load, then each stored notification marked
 * delivered. The CPU is then the process's, the store's writer thread
 * included. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/ingest.h"
#include "notification/notification.h"
#include "pipeline/check.h"
#include "pipeline/pipeline.h"
#include "pipeline/script.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strbuf.h"

static double process_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A request's work, as an ingest worker does it, and what it made. */
typedef struct request_work {
    alert_batch batch;
    alert_report seen;
    pipeline_output out;
} request_work;

static int work(script_state *s, const receiver *to, const strbuf *payload, request_work *w,
                char *err, size_t err_cap)
{
    int64_t now = wall_ms();
    memset(w, 0, sizeof *w);
    if (ingest_any(payload->data, payload->len, (double)now / 1000, &w->batch, err, err_cap))
        return -1;
    alert_report_fill(&w->seen, &w->batch, now);
    pipeline_stats stats = {0};
    pipeline_run(s, &w->batch, to, &w->out, &stats);
    return 0;
}

static void work_free(request_work *w)
{
    pipeline_output_free(&w->out);
    alert_report_free(&w->seen);
    alert_batch_free(&w->batch);
}

/* The store's answers a group waits for. */
typedef struct answers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t waiting;
    int failed;
} answers;

static void answered(void *ctx, int failed, const char *error)
{
    answers *a = ctx;
    pthread_mutex_lock(&a->lock);
    if (failed && !a->failed) {
        a->failed = 1;
        fprintf(stderr, "pipeline_cpu: store: %s\n", error);
    }
    a->waiting--;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static int wait_answers(answers *a)
{
    pthread_mutex_lock(&a->lock);
    while (a->waiting)
        pthread_cond_wait(&a->cond, &a->lock);
    int failed = a->failed;
    pthread_mutex_unlock(&a->lock);
    return failed ? -1 : 0;
}

/* len requests' work stored in one transaction, then their stored
 * notifications marked delivered. */
static int store_group(store *st, request_work *group, size_t len, answers *a)
{
    a->waiting = len;
    for (size_t i = 0; i < len; i++)
        store_commit(st, group[i].out.items, group[i].out.len, &group[i].seen, answered, a);
    if (wait_answers(a))
        return -1;
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < group[i].out.len; k++) {
            if (!group[i].out.items[k]->id)
                continue;
            pthread_mutex_lock(&a->lock);
            a->waiting++;
            pthread_mutex_unlock(&a->lock);
            store_mark_delivered(st, group[i].out.items[k], answered, a);
        }
    return wait_answers(a);
}

#define GROUP 16

/* REQUESTS requests, stored when st is not NULL; the notifications the
 * last one made, -1 when herald refuses the payload (err says why), or -2
 * when the store failed (answered said why). */
static long run(script_state *s, const receiver *to, const strbuf *payload, long requests,
                store *st, char *err, size_t err_cap)
{
    request_work group[GROUP];
    answers a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    long made = 0;
    for (long done = 0; done < requests && made >= 0;) {
        size_t len = 0;
        while (len < GROUP && done + (long)len < requests &&
               work(s, to, payload, &group[len], err, err_cap) == 0)
            made = (long)group[len++].out.len;
        if (len < GROUP && done + (long)len < requests)
            made = -1; /* a payload herald refuses */
        else if (st && store_group(st, group, len, &a))
            made = -2;
        for (size_t i = 0; i < len; i++)
            work_free(&group[i]);
        done += (long)len;
    }
    return made;
}

int main(int argc, char **argv)
{
    long requests = argc == 4 || argc == 5 ? strtol(argv[3], NULL, 10) : 0;
    if (requests <= 0) {
        fprintf(stderr, "usage: pipeline_cpu CONFIG PAYLOAD REQUESTS [DATA_DIR] (REQUESTS > 0)\n");
        return 2;
    }
    char err[1024];
    strbuf payload = STRBUF_INIT;
    if (sb_read_file(&payload, argv[2])) {
        fprintf(stderr, "pipeline_cpu: %s: %s\n", argv[2], strerror(errno));
        sb_free(&payload);
        return 1;
    }
    generation *g = generation_build(argv[1], NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "pipeline_cpu: %s\n", err);
        sb_free(&payload);
        return 1;
    }
    script_state s;
    int rc = script_open(&s, g, err, sizeof err);
    const receiver *to = config_receiver(&g->conf, g->conf.default_receiver);
    generation_unref(g); /* the script state holds it */
    if (rc) {
        fprintf(stderr, "pipeline_cpu: %s\n", err);
        sb_free(&payload);
        return 1;
    }
    store *st = NULL;
    if (argc == 5) {
        /* as tests/bench/run's herald: every post stored and sent again */
        store_settings settings = {.retention_ms = 7LL * 86400000,
                                   .resolved_retention_ms = 3600000};
        st = store_open(&(store_location){argv[4], NULL}, &settings, err, sizeof err);
        if (!st || store_start(st, NULL, NULL, err, sizeof err)) {
            fprintf(stderr, "pipeline_cpu: %s: %s\n", argv[4], err);
            if (st)
                store_close(st);
            script_close(&s);
            sb_free(&payload);
            return 1;
        }
    }
    double started = process_cpu_seconds();
    long made = run(&s, to, &payload, requests, st, err, sizeof err);
    double cpu = process_cpu_seconds() - started;
    if (st)
        store_close(st);
    if (made == -1)
        fprintf(stderr, "pipeline_cpu: %s: %s\n", argv[2], err);
    else if (made >= 0)
        printf("%ld requests, %.2f us CPU per request, %ld notifications each\n", requests,
               cpu * 1e6 / (double)requests, made);
    script_close(&s);
    sb_free(&payload);
    return made < 0 ? 1 : 0;
}
