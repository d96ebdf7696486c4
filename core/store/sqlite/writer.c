#include "store/sqlite/private.h"

#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

#define REQUEUE_POLL_MS 1000
#define RETENTION_SWEEP_MS (10 * 60 * 1000)

static void *writer_main(void *arg)
{
    sqlite_store *s = arg;
    int64_t next_poll = 0, next_sweep = wall_ms() + RETENTION_SWEEP_MS;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping && wall_ms() < next_poll) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->work, &s->lock, &until);
        }
        job *jobs = s->head;
        s->head = s->tail = NULL;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);

        if (jobs) {
            int failed = sqlite_write_batch(s, jobs);
            sqlite_checkpoint_after_write(s);
            /* Commits are answered (a refusal makes the sender retry), and
             * so are sends and pauses (the message goes anyway); delivery
             * results are written again until the disk takes them, or a
             * restart would resend or lose track of them, and are
             * answered once written (or given up at stop). */
            job *again = NULL, *last = NULL;
            size_t kept = 0;
            int dead_written = 0;
            for (job *j = jobs, *next; j; j = next) {
                next = j->next;
                dead_written |= !failed && j->kind == JOB_DEAD;
                if (!failed || stopping || j->kind == JOB_COMMIT || j->kind == JOB_SEND ||
                    j->kind == JOB_PAUSE || j->kind == JOB_CLEAR_PAUSE) {
                    if (j->done)
                        j->done(j->done_ctx, j->failed, j->error);
                } else {
                    j->failed = 0;
                    j->next = NULL;
                    if (last)
                        last->next = j;
                    else
                        again = j;
                    last = j;
                    kept++;
                    continue;
                }
                free(j->text);
                free(j);
            }
            if (again) {
                if (!s->disk_full) /* that episode is logged once */
                    log_warn("store", "keeping %zu delivery result%s to write again in a second",
                             kept, kept == 1 ? "" : "s");
                pthread_mutex_lock(&s->lock);
                last->next = s->head; /* first in the next batch */
                s->head = again;
                if (!s->tail)
                    s->tail = last;
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&s->work, &s->lock, &until);
                pthread_mutex_unlock(&s->lock);
            }
            if (dead_written)
                sqlite_count_dead_letters(s, 1);
        }
        int64_t now = wall_ms();
        if (now >= next_poll && !stopping) {
            if (s->disk_full) /* gives the WAL's file back as soon as it can */
                sqlite_checkpoint(s, CHECKPOINT_TRUNCATE);
            sqlite_take_requeued(s); /* first: a request may name one of them */
            sqlite_take_requests(s);
            sqlite_count_dead_letters(s, 0);
            next_poll = now + REQUEUE_POLL_MS;
        }
        if (now >= next_sweep && !stopping) {
            sqlite_sweep_retention(s);
            sqlite_state_sweep(s);
            sqlite_count_dead_letters(s, 1);
            sqlite_sweep_targets(s);
            next_sweep = now + RETENTION_SWEEP_MS;
        }
        if (stopping && !jobs)
            return NULL;
    }
}

int sqlite_start(store *base, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
                 size_t err_cap)
{
    sqlite_store *s = (sqlite_store *)base;
    s->requeued = requeued;
    s->requeued_ctx = ctx;
    sqlite_sweep_retention(s); /* then every RETENTION_SWEEP_MS on the writer */
    sqlite_state_sweep(s);
    sqlite_count_dead_letters(s, 1);
    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    if (rc != 0)
        return fail_errno(err, err_cap, rc, "cannot start the store's writer");
    s->started = 1;
    return 0;
}

static void hand_over(store *base, job *j)
{
    sqlite_store *s = (sqlite_store *)base;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
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

void sqlite_commit(store *s, notification **items, size_t n, const alert_report *seen,
                   store_committed_fn done, void *ctx)
{
    job *j = new_job(JOB_COMMIT, 0, NULL, done, ctx);
    j->items = items;
    j->n = n;
    j->seen = seen;
    hand_over(s, j);
}

static void mark(store *s, job_kind kind, const notification *n, int64_t at_ms, const char *text,
                 store_committed_fn done, void *ctx)
{
    job *j = new_job(kind, at_ms, text, done, ctx);
    j->id = n->id;
    j->attempts = n->attempts;
    j->attempted = n->attempted;
    j->outcome_ms = wall_ms();
    hand_over(s, j);
}

void sqlite_mark_delivered(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, JOB_DELIVERED, n, wall_ms(), NULL, done, ctx);
}

void sqlite_mark_retry(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, JOB_RETRY, n, n->next_attempt_ms, n->last_error, done, ctx);
}

void sqlite_mark_dead(store *s, const notification *n, const char *reason,
                      store_committed_fn done, void *ctx)
{
    mark(s, JOB_DEAD, n, wall_ms(), reason, done, ctx);
}

void sqlite_record_send(store *s, const char *target, int64_t at_ms, store_committed_fn done,
                        void *ctx)
{
    hand_over(s, new_job(JOB_SEND, at_ms, target, done, ctx));
}

void sqlite_record_pause(store *s, const char *target, int64_t until_ms)
{
    hand_over(s, new_job(JOB_PAUSE, until_ms, target, NULL, NULL));
}

void sqlite_clear_pause(store *s, const char *target)
{
    hand_over(s, new_job(JOB_CLEAR_PAUSE, 0, target, NULL, NULL));
}

void sqlite_writer_stop(sqlite_store *s)
{
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->writer, NULL);
        s->started = 0;
    }
    /* What no writer will take (it never started, or the job came after
     * it stopped) is answered, so nobody waits for it forever. */
    for (job *j = s->head, *next; j; j = next) {
        next = j->next;
        if (j->done)
            j->done(j->done_ctx, 1, "store: closed");
        free(j->text);
        free(j);
    }
    s->head = NULL;
}
