#include "store/backend.h"

#include <stdlib.h>

#include "util/clock.h"
#include "util/strbuf.h"

void job_queue_init(job_queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    q->head = q->tail = NULL;
    q->stopping = 0;
}

void job_queue_destroy(job_queue *q)
{
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->lock);
}

void job_queue_add(job_queue *q, job *j)
{
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
}

void job_free(job *j)
{
    free(j->text);
    free(j);
}

void job_queue_stop(job_queue *q, pthread_t writer, int *started)
{
    if (*started) {
        pthread_mutex_lock(&q->lock);
        q->stopping = 1;
        pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->lock);
        pthread_join(writer, NULL);
        *started = 0;
    }
    for (job *j = q->head, *next; j; j = next) {
        next = j->next;
        if (j->done)
            j->done(j->done_ctx, 1, "store: closed");
        job_free(j);
    }
    q->head = q->tail = NULL;
}

size_t job_queue_answer(job_queue *q, job *jobs, int failed, int stopping, int *dead_written)
{
    job *again = NULL, *last = NULL;
    size_t kept = 0;
    *dead_written = 0;
    for (job *j = jobs, *next; j; j = next) {
        next = j->next;
        *dead_written |= !failed && j->kind == JOB_DEAD;
        if (!failed || stopping || j->kind == JOB_COMMIT || j->kind == JOB_SEND ||
            j->kind == JOB_PAUSE || j->kind == JOB_CLEAR_PAUSE) {
            if (j->done)
                j->done(j->done_ctx, j->failed, j->error);
            job_free(j);
            continue;
        }
        j->failed = 0;
        j->next = NULL;
        if (last)
            last->next = j;
        else
            again = j;
        last = j;
        kept++;
    }
    if (again) {
        pthread_mutex_lock(&q->lock);
        last->next = q->head; /* first in the next batch */
        q->head = again;
        if (!q->tail)
            q->tail = last;
        pthread_mutex_unlock(&q->lock);
    }
    return kept;
}

static job *new_job(job_kind kind, int64_t at_ms, const char *text, store_committed_fn done,
                    void *ctx)
{
    job *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->at_ms = at_ms;
    j->text = text ? xstrdup(text) : NULL;
    j->done = done;
    j->done_ctx = ctx;
    return j;
}

/* ---- the store's operations that only hand its writer a job --------------- */

void store_commit(store *s, notification **items, size_t n, const alert_report *seen,
                  store_committed_fn done, void *ctx)
{
    job *j = new_job(JOB_COMMIT, 0, NULL, done, ctx);
    j->items = items;
    j->n = n;
    j->seen = seen;
    job_queue_add(&s->jobs, j);
}

static void mark(store *s, job_kind kind, const notification *n, int64_t at_ms, const char *text,
                 store_committed_fn done, void *ctx)
{
    job *j = new_job(kind, at_ms, text, done, ctx);
    j->id = n->id;
    j->attempts = n->attempts;
    j->attempted = n->attempted;
    j->outcome_ms = wall_ms();
    job_queue_add(&s->jobs, j);
}

void store_mark_delivered(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, JOB_DELIVERED, n, wall_ms(), NULL, done, ctx);
}

void store_mark_retry(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, JOB_RETRY, n, n->next_attempt_ms, n->last_error, done, ctx);
}

void store_mark_dead(store *s, const notification *n, const char *reason,
                     store_committed_fn done, void *ctx)
{
    mark(s, JOB_DEAD, n, wall_ms(), reason, done, ctx);
}

void store_mark_dropped(store *s, const notification *n, const char *reason,
                        store_committed_fn done, void *ctx)
{
    mark(s, JOB_DROPPED, n, wall_ms(), reason, done, ctx);
}

void store_admit_send(store *s, const char *target, int64_t at_ms, send_admission *admission,
                      store_committed_fn done, void *ctx)
{
    job *j = new_job(JOB_SEND, at_ms, target, done, ctx);
    j->admission = admission;
    job_queue_add(&s->jobs, j);
}

void store_record_pause(store *s, const char *target, int64_t until_ms)
{
    job_queue_add(&s->jobs, new_job(JOB_PAUSE, until_ms, target, NULL, NULL));
}

void store_clear_pause(store *s, const char *target)
{
    job_queue_add(&s->jobs, new_job(JOB_CLEAR_PAUSE, 0, target, NULL, NULL));
}
