/* What the daemon hands a store's writer thread, and the queue the writer
 * waits on: the same for every backend, whose writer only writes the
 * jobs (group commit: everything waiting in one transaction). Only the
 * store and its backends include this. */
#ifndef HERALD_STORE_JOBS_H
#define HERALD_STORE_JOBS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef enum job_kind {
    JOB_COMMIT,
    JOB_DELIVERED,
    JOB_RETRY,
    JOB_DEAD,
    JOB_DROPPED,
    JOB_SEND,
    JOB_PAUSE,
    JOB_CLEAR_PAUSE
} job_kind;

typedef struct job {
    job_kind kind;
    /* JOB_COMMIT */
    notification **items;
    size_t n;
    const alert_report *seen;
    store_committed_fn done;
    void *done_ctx;
    int failed;
    char error[256];
    /* marks, sends and pauses */
    uint64_t id;
    unsigned attempts;
    int64_t at_ms;
    char *text;               /* last error, dead-letter reason or target */
    send_admission *admission; /* JOB_SEND: asked and answered (the caller's) */
    struct job *next;
    /* marks: the mark ends an attempt, recorded in attempts at outcome_ms */
    int attempted;
    int64_t outcome_ms;
} job;

typedef struct job_queue {
    pthread_mutex_t lock;
    pthread_cond_t work;      /* jobs arrived, or stop */
    job *head, *tail;
    int stopping;
} job_queue;

void job_queue_init(job_queue *q);
void job_queue_destroy(job_queue *q);
/* Appends the job and wakes the writer. */
void job_queue_add(job_queue *q, job *j);
/* Stops the writer thread (when *started), which finishes what it took,
 * then answers every job still queued as failed ("store: closed": no
 * writer will take it, and nobody may wait for it forever). */
void job_queue_stop(job_queue *q, pthread_t writer, int *started);
void job_free(job *j);
/* After the writer wrote a batch (failed: it was rolled back): commits are
 * answered (a refusal makes the sender retry), and so are sends and
 * pauses (the message goes anyway); delivery results that failed go back
 * first in the queue, to be written until the store takes them (or a
 * restart would resend or lose track of them), unless stopping. Returns
 * how many went back; *dead_written: dead letters were written. */
size_t job_queue_answer(job_queue *q, job *jobs, int failed, int stopping, int *dead_written);

#endif
