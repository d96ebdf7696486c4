#include "delivery/held.h"

#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

held_queue *held_for(held_queue **list, const char *receiver)
{
    for (held_queue *q = *list; q; q = q->next)
        if (strcmp(q->receiver, receiver) == 0)
            return q;
    held_queue *q = xcalloc(1, sizeof *q);
    q->receiver = xstrdup(receiver);
    q->next = *list;
    *list = q;
    return q;
}

static void held_insert(held_queue *q, size_t at, notification *n)
{
    q->items = xrealloc(q->items, (q->len + 1) * sizeof *q->items);
    memmove(q->items + at + 1, q->items + at, (q->len - at) * sizeof *q->items);
    q->items[at] = n;
    q->len++;
}

void held_append(held_queue *q, notification *n) { held_insert(q, q->len, n); }

void held_put_back(held_queue *q, notification *n)
{
    size_t at = 0;
    while (at < q->len && q->items[at]->id < n->id)
        at++;
    held_insert(q, at, n);
}

long held_find(const held_queue *q, const notification *n)
{
    for (size_t i = 0; i < q->len; i++)
        if (q->items[i] == n)
            return (long)i;
    return -1;
}

void held_remove_at(held_queue *q, size_t at)
{
    memmove(q->items + at, q->items + at + 1, (q->len - at - 1) * sizeof *q->items);
    q->len--;
}

void held_remove_front(held_queue *q, size_t n)
{
    memmove(q->items, q->items + n, (q->len - n) * sizeof *q->items);
    q->len -= n;
}

void held_expire(held_queue *q, int64_t max_age_ms, int64_t now,
                 void (*expired)(void *ctx, notification *n), void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < q->len; i++) {
        notification *n = q->items[i];
        int64_t aged_from = n->created_ms > q->quiet_ended_ms ? n->created_ms : q->quiet_ended_ms;
        if (now - aged_from <= max_age_ms)
            q->items[kept++] = n;
        else
            expired(ctx, n);
    }
    q->len = kept;
}

void held_free_all(held_queue **list)
{
    while (*list) {
        held_queue *q = *list;
        *list = q->next;
        free(q->receiver);
        free(q->quiet_note);
        free(q->items);
        free(q);
    }
}
