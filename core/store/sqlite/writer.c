#include "store/sqlite/private.h"

#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/thread_name.h"

static void *writer_main(void *arg)
{
    thread_name("store-writer");
    sqlite_store *s = arg;
    int64_t next_poll = 0, next_sweep = wall_ms() + RETENTION_SWEEP_MS;
    for (;;) {
        pthread_mutex_lock(&s->base.jobs.lock);
        while (!s->base.jobs.head && !s->base.jobs.stopping && wall_ms() < next_poll) {
            struct timespec until = wall_deadline(200);
            pthread_cond_timedwait(&s->base.jobs.work, &s->base.jobs.lock, &until);
        }
        job *jobs = s->base.jobs.head;
        s->base.jobs.head = s->base.jobs.tail = NULL;
        int stopping = s->base.jobs.stopping;
        pthread_mutex_unlock(&s->base.jobs.lock);

        if (jobs) {
            int failed = sqlite_write_batch(s, jobs);
            int dead_written;
            size_t kept = job_queue_answer(&s->base.jobs, jobs, failed, stopping, &dead_written);
            /* After the answers: the commit made them durable, and a
             * checkpoint's write and fsync need not hold them back. */
            sqlite_checkpoint_after_write(s);
            if (kept) {
                if (!s->disk_full) /* that episode is logged once */
                    log_warn("store", "keeping %zu delivery result%s to write again in a second",
                             kept, kept == 1 ? "" : "s");
                pthread_mutex_lock(&s->base.jobs.lock);
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&s->base.jobs.work, &s->base.jobs.lock, &until);
                pthread_mutex_unlock(&s->base.jobs.lock);
            }
            if (dead_written)
                sqlite_count_dead_letters(s, 1);
        }
        int64_t now = wall_ms();
        if (now >= next_poll && !stopping) {
            if (s->disk_full) /* gives the WAL's file back as soon as it can */
                sqlite_checkpoint(s, CHECKPOINT_TRUNCATE);
            sqlite_release_escalations(s); /* first: those due are taken below */
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
