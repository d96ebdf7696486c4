#include "store/repeat.h"

#include <string.h>

/* The state keeps the earliest start of a firing (an earlier one learnt
 * later lowers it, a new firing raises it): a start told at or after it
 * is the same firing. Without a state, the alert's own start. */
static int same_firing(const told_alert *t, const alert_record *a)
{
    return t->starts_at >= (t->has_state_start ? t->state_starts_at : a->starts_at);
}

/* Prometheus goes on sending resolved alerts for 15 minutes, told or not,
 * where Alertmanager only resolves what it notified. */
static int no_news(const notification *n, const alert_record *a, const told_alert *t,
                   int64_t since_ms)
{
    if (!t->found)
        return a->status == ALERT_RESOLVED && n->source && strcmp(n->source, "alerts") == 0;
    return strcmp(t->status, alert_status_name(a->status)) == 0 && same_firing(t, a) &&
           t->notified_ms > since_ms;
}

/* Someone is on it: the receiver that was told need not be reminded. */
static int acknowledged(const told_alert *t, const alert_record *a)
{
    return t->found && t->acknowledged && a->status == ALERT_FIRING &&
           strcmp(t->status, "firing") == 0 && same_firing(t, a);
}

int store_is_repeat(const notification *n, last_told_fn last_told, void *ctx, int *repeat)
{
    *repeat = n->alerts_len > 0;
    for (size_t i = 0; i < n->alerts_len && *repeat; i++) {
        told_alert t = {0};
        if (last_told(ctx, n, &n->alerts[i], &t))
            return -1;
        *repeat = acknowledged(&t, &n->alerts[i]) ||
                  (n->repeat_interval_ms > 0 &&
                   no_news(n, &n->alerts[i], &t, n->created_ms - n->repeat_interval_ms));
    }
    return 0;
}
