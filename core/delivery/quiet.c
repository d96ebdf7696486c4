#include "delivery/dispatch_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/metrics.h"

/* "quiet hours (night): held until 2026-12-03 08:00 CST", what the queue
 * shows (found 0: the end is further than the lookup goes), or for a
 * receiver that drops "quiet hours (night): dropped". */
static char *quiet_note(const config *c, const receiver *r, const char *why, int64_t until_ms,
                        int found)
{
    strbuf sb = STRBUF_INIT;
    int outside = 1;
    for (size_t i = 0; i < r->quiet.mute_len; i++)
        outside &= r->quiet.mute[i]->name != why;
    sb_printf(&sb, "quiet hours (%s%s): ", outside ? "outside " : "", why);
    if (r->quiet.drop) {
        sb_puts(&sb, "dropped (muted = \"drop\")");
        return sb_take(&sb);
    }
    char when[64] = "";
    tz_format(c->zone, until_ms / 1000, "%Y-%m-%d %H:%M %Z", when, sizeof when);
    sb_printf(&sb, "held %s %s", found ? "until" : "at least until", when);
    return sb_take(&sb);
}

/* Looks at the receiver's hours again (a new generation, or the last
 * answer ran out): sets q->quiet_until, 0 when not muted. */
static void evaluate(held_queue *q, const generation *g, const receiver *r, int64_t now)
{
    const char *why = NULL;
    int was_muted = q->quiet_until != 0;
    q->quiet_generation = g->number;
    if (!quiet_hours_set(&r->quiet) || !quiet_hours_muted(&r->quiet, now / 1000, &why)) {
        q->quiet_until = 0;
        if (was_muted) {
            q->quiet_ended_ms = now;
            log_info(r->name, "quiet hours ended: %zu held notification%s go now", q->len,
                     q->len == 1 ? "" : "s");
        }
        return;
    }
    int found;
    int64_t end_s = quiet_hours_next_change(&r->quiet, now / 1000, &found);
    int64_t until = end_s * 1000;
    free(q->quiet_note);
    q->quiet_note = quiet_note(&g->conf, r, why, until, found);
    if (until != q->quiet_until)
        log_info(r->name, "%s", q->quiet_note);
    q->quiet_until = until;
}

int64_t quiet_hold(dispatcher *d, held_queue *q, const generation *g, const receiver *r,
                   int64_t now)
{
    if (!q->quiet_until && !quiet_hours_set(&r->quiet))
        return 0;
    if (q->quiet_generation != g->number || !q->quiet_until || now >= q->quiet_until)
        evaluate(q, g, r, now);
    if (!q->quiet_until)
        return 0;
    for (size_t i = 0; i < q->len; i++) {
        notification *n = q->items[i];
        if (r->quiet.drop) {
            metrics_count(METRIC_QUIET_HOURS_DROPPED);
            outbox_dropped(d->box, n, q->quiet_note);
            continue;
        }
        if (n->quiet_until_ms == q->quiet_until)
            continue;
        if (!n->quiet_until_ms)
            metrics_count(METRIC_QUIET_HOURS_HELD);
        /* On disk, the queue shows it waiting until the end; a restart
         * looks at the hours again. */
        n->quiet_until_ms = q->quiet_until;
        n->next_attempt_ms = q->quiet_until;
        notification_set_error(n, q->quiet_note);
        outbox_note_retry(d->box, n);
    }
    if (r->quiet.drop)
        q->len = 0;
    return q->quiet_until;
}

size_t quiet_released(const held_queue *q)
{
    size_t n = 0;
    while (n < q->len && q->items[n]->quiet_until_ms && !q->items[n]->send_now)
        n++;
    return n;
}
