/* What requests in progress may hold: their bodies add up to at most
 * max_body bytes at once (one request alone is always let in, whatever
 * it holds).
 *
 * A request's memory is mostly a multiple of its body, held from its
 * first byte until its answer: the body, the parsed JSON tree, the alerts
 * and their records, the rendered messages waiting for the group commit,
 * about 9 times the body in all. Without a bound, 64 clients posting
 * 250-alert payloads at once held them all and peaked near 90 MiB; with
 * it, the rest wait unread, their bytes in the kernel's socket buffers,
 * until what is in progress is answered.
 *
 * A request claims its whole Content-Length (max_body when it has none)
 * before its body is read, so the requests let in always finish and free
 * their claims: none can wait for another's unread bytes. */
#include "http/server_internal.h"

#include <stdlib.h>

#include "util/error.h"

struct body_budget {
    pthread_mutex_t lock; /* everything below */
    size_t in_use;
    size_t waiting;
    int stopping;
    request_ctx *first, *last; /* waiting, oldest first (request_ctx.next_waiting) */
};

body_budget *body_budget_new(void)
{
    body_budget *b = xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void body_budget_free(body_budget *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Whether ctx's claim fits beside what is in progress. The caller holds
 * the lock. A reload may have lowered max_body below what is in use:
 * then nothing fits until that is answered. */
static int fits(const body_budget *b, const request_ctx *ctx)
{
    return b->stopping || b->in_use == 0 ||
           (b->in_use <= ctx->budget_limit && ctx->body_claim <= ctx->budget_limit - b->in_use);
}

static int grant(body_budget *b, request_ctx *ctx)
{
    if (!fits(b, ctx))
        return 0;
    b->in_use += ctx->body_claim;
    ctx->budget = BODY_ADMITTED;
    return 1;
}

int body_budget_admit(body_budget *b, struct MHD_Connection *conn, request_ctx *ctx)
{
    pthread_mutex_lock(&b->lock);
    int admitted = !b->first && grant(b, ctx);
    pthread_mutex_unlock(&b->lock);
    if (admitted)
        return 1;
    /* Suspended before it is queued: body_budget_release may resume it the
     * moment it is. */
    ctx->conn = conn;
    MHD_suspend_connection(conn);
    pthread_mutex_lock(&b->lock);
    admitted = !b->first && grant(b, ctx);
    if (!admitted) {
        ctx->budget = BODY_WAITING;
        ctx->next_waiting = NULL;
        b->waiting++;
        if (b->last)
            b->last->next_waiting = ctx;
        else
            b->first = ctx;
        b->last = ctx;
    }
    pthread_mutex_unlock(&b->lock);
    if (admitted)
        MHD_resume_connection(conn);
    return 0;
}

/* Takes from the front of the queue every request that now fits; the
 * caller resumes them once the lock is let go (libmicrohttpd takes locks
 * of its own there). */
static request_ctx *take_admitted(body_budget *b)
{
    request_ctx *taken = NULL, **tail = &taken;
    while (b->first && grant(b, b->first)) {
        request_ctx *ctx = b->first;
        b->first = ctx->next_waiting;
        if (!b->first)
            b->last = NULL;
        ctx->next_waiting = NULL;
        b->waiting--;
        *tail = ctx;
        tail = &ctx->next_waiting;
    }
    return taken;
}

static void resume_all(request_ctx *taken)
{
    while (taken) {
        request_ctx *next = taken->next_waiting;
        MHD_resume_connection(taken->conn);
        taken = next;
    }
}

void body_budget_release(body_budget *b, request_ctx *ctx)
{
    pthread_mutex_lock(&b->lock);
    if (ctx->budget == BODY_ADMITTED)
        b->in_use -= ctx->body_claim;
    else if (ctx->budget == BODY_WAITING) {
        /* closed while waiting: it leaves the queue */
        request_ctx **at = &b->first, *prev = NULL;
        while (*at && *at != ctx) {
            prev = *at;
            at = &(*at)->next_waiting;
        }
        if (*at) {
            *at = ctx->next_waiting;
            if (b->last == ctx)
                b->last = prev;
            b->waiting--;
        }
    }
    ctx->budget = BODY_NOT_CLAIMED;
    request_ctx *taken = take_admitted(b);
    pthread_mutex_unlock(&b->lock);
    resume_all(taken);
}

void body_budget_stop(body_budget *b)
{
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    request_ctx *taken = take_admitted(b);
    pthread_mutex_unlock(&b->lock);
    resume_all(taken);
}

void body_budget_levels(body_budget *b, size_t *in_use, size_t *waiting)
{
    pthread_mutex_lock(&b->lock);
    *in_use = b->in_use;
    *waiting = b->waiting;
    pthread_mutex_unlock(&b->lock);
}
