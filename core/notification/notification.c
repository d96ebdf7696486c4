#include "notification/notification.h"

#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

void notification_free(notification *n)
{
    if (!n)
        return;
    free(n->receiver);
    free(n->status);
    free(n->last_error);
    free(n->payload);
    free(n->group_key);
    free(n->escalated_from);
    notification_forget_alerts(n);
    rendered_free(&n->content);
    free(n);
}

static void records_free(alert_record *records, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        alert_record *a = &records[i];
        free(a->alertname);
        free(a->instance);
        free(a->severity);
        free(a->labels_json);
        free(a->annotations_json);
        free(a->silenced_by);
    }
    free(records);
}

void notification_forget_alerts(notification *n)
{
    records_free(n->alerts, n->alerts_len);
    n->alerts = NULL;
    n->alerts_len = 0;
}

void notification_set_error(notification *n, const char *error)
{
    free(n->last_error);
    n->last_error = xstrdup(error);
}

void notification_as_message(const notification *n, herald_message *msg)
{
    rendered_as_message(&n->content, n->receiver, n->status, n->alert_count, msg);
    msg->payload = n->payload;
    msg->payload_len = n->payload_len;
}

static char *label_or_empty(const labelset *labels, const char *name)
{
    const char *v = labelset_get(labels, name);
    return xstrdup(v ? v : "");
}

static int compare_fingerprints(const void *a, const void *b)
{
    return strcmp(((const alert_record *)a)->fingerprint, ((const alert_record *)b)->fingerprint);
}

static void record_fill(alert_record *r, const alert *a)
{
    memcpy(r->fingerprint, a->fingerprint, sizeof r->fingerprint);
    r->alertname = label_or_empty(&a->labels, "alertname");
    r->instance = label_or_empty(&a->labels, "instance");
    r->severity = label_or_empty(&a->labels, "severity");
    r->status = a->status;
    r->starts_at = a->starts_at;
    r->ends_at = a->ends_at;
    strbuf json = STRBUF_INIT;
    labelset_to_json(&a->labels, &json);
    r->labels_json = sb_take(&json);
    labelset_to_json(&a->annotations, &json);
    r->annotations_json = sb_take(&json);
}

void alert_report_fill(alert_report *rep, const alert_batch *batch, int64_t now_ms)
{
    rep->alerts = xcalloc(batch->len ? batch->len : 1, sizeof *rep->alerts);
    rep->len = batch->len;
    for (size_t i = 0; i < batch->len; i++)
        record_fill(&rep->alerts[i], &batch->alerts[i]);
    rep->source = batch->endpoint ? batch->endpoint : "webhook";
    rep->seen_ms = now_ms;
}

void alert_report_free(alert_report *rep)
{
    records_free(rep->alerts, rep->len);
    memset(rep, 0, sizeof *rep);
}

void notification_describe(notification *n, const char *group_key, const alert *const *alerts,
                           size_t len)
{
    n->group_key = xstrdup(group_key ? group_key : "");
    n->alerts = xcalloc(len ? len : 1, sizeof *n->alerts);
    n->alerts_len = len;
    for (size_t i = 0; i < len; i++)
        record_fill(&n->alerts[i], alerts[i]);
    /* The key hashes the sorted fingerprints, so alert order is irrelevant. */
    alert_record *sorted = xcalloc(len ? len : 1, sizeof *sorted);
    memcpy(sorted, n->alerts, len * sizeof *sorted);
    qsort(sorted, len, sizeof *sorted, compare_fingerprints);
    strbuf stream = STRBUF_INIT, state = STRBUF_INIT;
    sb_printf(&stream, "%s%c%s", n->receiver, 0, n->group_key);
    sb_puts(&state, n->status);
    /* Each alert's own status too: {A firing, B resolved} is news after
     * {A firing, B firing} although the group is still firing. */
    for (size_t i = 0; i < len; i++) {
        sb_printf(&stream, "%c%s", 0, sorted[i].fingerprint);
        sb_printf(&state, "%c%s", 0, alert_status_name(sorted[i].status));
    }
    free(sorted);
    /* the second digest's first digit overwrites the first one's NUL */
    sha256_hex128(stream.data, stream.len, n->dedup_key);
    sha256_hex128(state.data, state.len, n->dedup_key + DEDUP_STREAM_HEX);
    sb_free(&stream);
    sb_free(&state);
}
