/* The dispatcher's parts share these: the dispatcher, one transfer, and
 * what each part offers the others. Callers use delivery/dispatch.h.
 *
 *   dispatch.c   the thread's loop, start and stop
 *   send.c       which held notifications go now, alone or as a digest
 *   transfer.c   one request's notifications, handles and answer buffers
 *   transport.c  sending it: file://, HTTP or SMTP, and the answer's verdict
 *   settle.c     what a verdict does: delivered, retried, or given up
 *   requests.c   an operator's send-now, drop and unpause
 *   quiet.c      quiet hours: what a muted receiver holds or drops
 *   call_run.c   herald's own requests (delivery/call.h)
 *   held.c, batch.c, backoff.c, digest.c: the pure parts, tested alone */
#ifndef HERALD_DISPATCH_INTERNAL_H
#define HERALD_DISPATCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config/generation.h"
#include "delivery/dispatch.h"
#include "delivery/easy_pool.h"
#include "delivery/held.h"
#include "plugin/host.h"
#include "util/strbuf.h"

typedef struct transfer {
    struct dispatcher *d;
    notification **items;          /* one notification, or the several of a digest */
    size_t len;
    generation *gen;
    const receiver *r;
    char target_key[512];
    int sent;                      /* recorded with the rate limiter */
    send_admission admission;      /* to a rate-limited target: the store's answer */
    int admission_failed;          /* the store could not answer: the message goes */
    herald_request req;
    struct curl_slist *headers;
    struct curl_slist *recipients; /* SMTP RCPT TO, alive until the transfer ends */
    size_t upload_offset;          /* SMTP: how much of the body curl has read */
    int is_mail;
    CURL *easy;
    strbuf body;                   /* the answer, capped */
    strbuf response_headers;       /* its header lines, each ended by a NUL, capped */
    int64_t started_ms;
    char curl_error[CURL_ERROR_SIZE];
    struct transfer *prev, *next; /* the dispatcher's list of active (or recorded) transfers */
} transfer;

struct dispatcher {
    outbox *box;
    CURLM *multi;
    pthread_t thread;
    atomic_int stopping;
    int64_t drain_deadline_ms;
    unsigned open_requests;        /* active transfers */
    unsigned in_flight;            /* the notifications they carry */
    transfer *active;
    held_queue *held;
    rate_limits *limits;
    /* Sends to rate-limited targets go once they are on disk: the store's
     * writer hands their transfers back through `recorded`. */
    unsigned recording;            /* handed to the store, not back yet */
    pthread_mutex_t recorded_lock;
    transfer *recorded;
    http_call *calls;              /* herald's own requests in flight */
    easy_pool easy;                /* the transfers' and calls' handles */
};

/* ---- send.c ---- */

/* Sends what held notifications their targets' limits allow now: one by
 * one while the free slots suffice, as digests once more wait than the
 * slots left in the window (less a reserve). Returns when to look again
 * (-1: no need). */
int64_t send_held(dispatcher *d, int64_t now);
/* Transfers whose sends the store admitted (and has on disk) start; a
 * refused one's notifications wait again for the window's next slot;
 * past the drain deadline they are put back instead. */
void launch_recorded(dispatcher *d, int past_deadline);

/* ---- transfer.c ---- */

/* A transfer of items (which it takes) to the receiver's target number
 * `target`, with an empty request for the channel to prepare. */
transfer *transfer_new(dispatcher *d, generation *g, const receiver *r, size_t target,
                       notification **items, size_t len);
void transfer_free(transfer *t);

/* ---- transport.c ---- */

/* Delivers to a file at once, or starts the transfer on the multi
 * handle; a transfer that cannot start is settled for a retry. */
void transfer_launch(dispatcher *d, transfer *t);
/* A transfer curl finished: the channel classifies the answer, and the
 * verdict is settled. */
void transfer_finish(dispatcher *d, CURL *e, CURLcode result);
/* Takes an active transfer off the multi handle (at the drain deadline). */
void transfer_abandon(dispatcher *d, transfer *t);

/* ---- settle.c ---- */

void settle(dispatcher *d, transfer *t, const herald_verdict *v);
/* A verdict of the dispatcher's own (a file written, a transport error). */
void settle_now(dispatcher *d, transfer *t, herald_verdict_kind kind, const char *reason);
/* A dead letter, counted for its receiver. */
void give_up(dispatcher *d, notification *n, const char *reason);
/* What was taken but not sent goes back to the outbox (and stays in the
 * store for the next start); frees t. */
void put_back(dispatcher *d, transfer *t);

/* ---- quiet.c ---- */

/* The receiver's quiet hours at `now`: while it is muted, q's
 * notifications are held (each recorded once as waiting until the end)
 * or, with muted = "drop", dropped; returns when the mute ends (looked at
 * again then, or at the next generation), 0 when it is not muted. */
int64_t quiet_hold(dispatcher *d, held_queue *q, const generation *g, const receiver *r,
                   int64_t now);
/* How many at the front of q were held through quiet hours that ended:
 * they go together, as digests. */
size_t quiet_released(const held_queue *q);

/* ---- requests.c ---- */

/* Applies what operators asked since the last call. */
void apply_requests(dispatcher *d);

/* ---- call_run.c ---- */

/* Starts the calls queued since the last look. */
void launch_calls(dispatcher *d);
/* 1 when e was a call's (now answered), 0 when it is a transfer's. */
int finish_call(dispatcher *d, CURL *e, CURLcode result);
/* Stopping: calls in flight end unanswered. */
void abandon_calls(dispatcher *d);

#endif
