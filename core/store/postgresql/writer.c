/* The writer thread: one connection, one transaction for everything
 * waiting (group commit), the callbacks answered as the SQLite store's
 * writer answers them. */
#include "store/postgresql/private.h"

#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/thread_name.h"

#define CLAIMS_PER_ROUND 500

static void wait_until(pg_store *s, int64_t ms_from_now)
{
    struct timespec until = wall_deadline(ms_from_now);
    pthread_cond_timedwait(&s->base.jobs.work, &s->base.jobs.lock, &until);
}

/* Answers the batch (store/jobs.h), waiting a second before a delivery
 * result that failed is written again. Returns whether dead letters were
 * written. */
static int answer(pg_store *s, job *jobs, int failed, int stopping)
{
    int dead_written;
    size_t kept = job_queue_answer(&s->base.jobs, jobs, failed, stopping, &dead_written);
    if (kept) {
        if (!s->unreachable) /* that episode is logged once */
            log_warn("store", "keeping %zu delivery result%s to write again in a second", kept,
                     kept == 1 ? "" : "s");
        pthread_mutex_lock(&s->base.jobs.lock);
        wait_until(s, 1000);
        pthread_mutex_unlock(&s->base.jobs.lock);
    }
    return dead_written;
}

static void pass_claimed(void *ctx, notification *n)
{
    pg_store *s = ctx;
    log_info(n->receiver, "notification %llu taken for delivery (requeued, or left by a "
             "replica that stopped)", (unsigned long long)n->id);
    s->requeued(s->requeued_ctx, n);
}

/* Requeued dead letters and what other replicas left: to the daemon. */
static void claim_free(pg_store *s)
{
    char why[256];
    if (pg_claim_free(s, CLAIMS_PER_ROUND, pass_claimed, s, why, sizeof why) < 0 &&
        PQstatus(s->db) == CONNECTION_OK) /* a lost one is logged once */
        log_error("store", "cannot take free notifications: %s", why);
}

static void *writer_main(void *arg)
{
    thread_name("store-writer");
    pg_store *s = arg;
    int64_t next_poll = 0, next_sweep = wall_ms() + RETENTION_SWEEP_MS;
    for (;;) {
        pthread_mutex_lock(&s->base.jobs.lock);
        while (!s->base.jobs.head && !s->base.jobs.stopping && wall_ms() < next_poll)
            wait_until(s, 200);
        job *jobs = s->base.jobs.head;
        s->base.jobs.head = s->base.jobs.tail = NULL;
        int stopping = s->base.jobs.stopping;
        pthread_mutex_unlock(&s->base.jobs.lock);

        if (jobs) {
            int failed = pg_write_batch(s, jobs);
            if (answer(s, jobs, failed, stopping))
                pg_count_dead_letters(s);
        }
        int64_t now = wall_ms();
        char why[256];
        if (now >= next_poll && !stopping) {
            if (pg_writer_connection(s, why, sizeof why) == 0) {
                pg_renew_leases(s);
                pg_release_escalations(s); /* first: those due are claimed below */
                claim_free(s); /* first: a request may name one of them */
                pg_take_requests(s);
                pg_count_dead_letters(s);
            }
            next_poll = now + REQUEUE_POLL_MS;
        }
        if (now >= next_sweep && !stopping && pg_writer_connection(s, why, sizeof why) == 0) {
            pg_sweep_retention(s);
            pg_state_sweep(s);
            pg_count_dead_letters(s);
            pg_sweep_targets(s);
            next_sweep = now + RETENTION_SWEEP_MS;
        }
        if (stopping && !jobs) {
            pg_release_claims(s);
            return NULL;
        }
    }
}

int pg_start(store *base, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
             size_t err_cap)
{
    pg_store *s = (pg_store *)base;
    s->requeued = requeued;
    s->requeued_ctx = ctx;
    pg_sweep_retention(s); /* then every RETENTION_SWEEP_MS on the writer */
    pg_state_sweep(s);
    pg_count_dead_letters(s);
    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    if (rc != 0)
        return fail_errno(err, err_cap, rc, "cannot start the store's writer");
    s->started = 1;
    return pg_heartbeat_start(s, err, err_cap);
}
