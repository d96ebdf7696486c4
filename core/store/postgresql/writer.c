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

#define REQUEUE_POLL_MS 1000
#define CLAIMS_PER_ROUND 500
#define RETENTION_SWEEP_MS (10 * 60 * 1000)

static void wait_until(pg_store *s, int64_t ms_from_now)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms_from_now / 1000;
    until.tv_nsec += (ms_from_now % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->work, &s->lock, &until);
}

/* Commits are answered (a refusal makes the sender retry), and so are
 * sends and pauses (the message goes anyway); delivery results are
 * written again until the database takes them, or a restart would resend
 * or lose track of them, and are answered once written (or given up at
 * stop). Returns whether dead letters were written. */
static int answer(pg_store *s, pg_job *jobs, int failed, int stopping)
{
    pg_job *again = NULL, *last = NULL;
    size_t kept = 0;
    int dead_written = 0;
    for (pg_job *j = jobs, *next; j; j = next) {
        next = j->next;
        dead_written |= !failed && j->kind == PG_JOB_DEAD;
        if (!failed || stopping || j->kind == PG_JOB_COMMIT || j->kind == PG_JOB_SEND ||
            j->kind == PG_JOB_PAUSE || j->kind == PG_JOB_CLEAR_PAUSE) {
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
        if (!s->unreachable) /* that episode is logged once */
            log_warn("store", "keeping %zu delivery result%s to write again in a second", kept,
                     kept == 1 ? "" : "s");
        pthread_mutex_lock(&s->lock);
        last->next = s->head; /* first in the next batch */
        s->head = again;
        if (!s->tail)
            s->tail = last;
        wait_until(s, 1000);
        pthread_mutex_unlock(&s->lock);
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
    pg_store *s = arg;
    int64_t next_poll = 0, next_sweep = wall_ms() + RETENTION_SWEEP_MS;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping && wall_ms() < next_poll)
            wait_until(s, 200);
        pg_job *jobs = s->head;
        s->head = s->tail = NULL;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);

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

static void hand_over(store *base, pg_job *j)
{
    pg_store *s = (pg_store *)base;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

static pg_job *new_job(pg_job_kind kind, int64_t at_ms, const char *text, store_committed_fn done,
                       void *ctx)
{
    pg_job *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->at_ms = at_ms;
    j->text = text ? xstrdup(text) : NULL;
    j->done = done;
    j->done_ctx = ctx;
    return j;
}

void pg_commit(store *s, notification **items, size_t n, const alert_report *seen,
               store_committed_fn done, void *ctx)
{
    pg_job *j = new_job(PG_JOB_COMMIT, 0, NULL, done, ctx);
    j->items = items;
    j->n = n;
    j->seen = seen;
    hand_over(s, j);
}

static void mark(store *s, pg_job_kind kind, const notification *n, int64_t at_ms,
                 const char *text, store_committed_fn done, void *ctx)
{
    pg_job *j = new_job(kind, at_ms, text, done, ctx);
    j->id = n->id;
    j->attempts = n->attempts;
    j->attempted = n->attempted;
    j->outcome_ms = wall_ms();
    hand_over(s, j);
}

void pg_mark_delivered(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, PG_JOB_DELIVERED, n, wall_ms(), NULL, done, ctx);
}

void pg_mark_retry(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, PG_JOB_RETRY, n, n->next_attempt_ms, n->last_error, done, ctx);
}

void pg_mark_dead(store *s, const notification *n, const char *reason, store_committed_fn done,
                  void *ctx)
{
    mark(s, PG_JOB_DEAD, n, wall_ms(), reason, done, ctx);
}

void pg_record_send(store *s, const char *target, int64_t at_ms, store_committed_fn done,
                    void *ctx)
{
    hand_over(s, new_job(PG_JOB_SEND, at_ms, target, done, ctx));
}

void pg_record_pause(store *s, const char *target, int64_t until_ms)
{
    hand_over(s, new_job(PG_JOB_PAUSE, until_ms, target, NULL, NULL));
}

void pg_clear_pause(store *s, const char *target)
{
    hand_over(s, new_job(PG_JOB_CLEAR_PAUSE, 0, target, NULL, NULL));
}

void pg_writer_stop(pg_store *s)
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
    for (pg_job *j = s->head, *next; j; j = next) {
        next = j->next;
        if (j->done)
            j->done(j->done_ctx, 1, "store: closed");
        free(j->text);
        free(j);
    }
    s->head = NULL;
}
