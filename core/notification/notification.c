#include "notification/notification.h"

#include <stdatomic.h>
#include <stddef.h>
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

/* A record's text, shared by the request's alert report and every
 * notification of the alert, each on a thread of its own: copying it for
 * each was a malloc, a copy and a free on another thread per alert. Its
 * text is never written once made. */
typedef struct record_block {
    atomic_size_t holders;
    char text[];
} record_block;

static record_block *block_of(const alert_record *r)
{
    return (record_block *)(void *)(r->text - offsetof(record_block, text));
}

static void records_free(alert_record *records, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        record_block *b = block_of(&records[i]);
        /* the last holder frees it, after every other holder's reads */
        if (atomic_fetch_sub_explicit(&b->holders, 1, memory_order_acq_rel) == 1)
            free(b);
        free(records[i].silenced_by);
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

int64_t alert_content_id(const char *labels_json, size_t labels_len,
                         const char *annotations_json, size_t annotations_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    static const char separator = '\0';
    /* the NUL keeps {"a":"b"}+{} and {"a":"b"}{}+"" apart */
    if (!ctx || !EVP_DigestInit_ex(ctx, hash_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, labels_json, labels_len) ||
        !EVP_DigestUpdate(ctx, &separator, 1) ||
        !EVP_DigestUpdate(ctx, annotations_json, annotations_len) ||
        !EVP_DigestFinal_ex(ctx, digest, &digest_len))
        abort();
    EVP_MD_CTX_free(ctx);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | digest[i];
    return (int64_t)(id & INT64_MAX);
}

static int compare_fingerprints(const void *a, const void *b)
{
    return strcmp(((const alert_record *)a)->fingerprint, ((const alert_record *)b)->fingerprint);
}

static void label_value(strbuf *block, const labelset *labels, const char *name)
{
    const char *v = labelset_get(labels, name);
    if (v)
        sb_puts(block, v);
    sb_putc(block, '\0');
}

/* What a label set takes as JSON when nothing in it needs escaping. */
static size_t json_size(const labelset *set)
{
    size_t size = 2;
    for (size_t i = 0; i < set->len; i++)
        size += set->items[i].name_len + set->items[i].value_len + 6;
    return size;
}

static void record_fill(alert_record *r, const alert *a)
{
    memcpy(r->fingerprint, a->fingerprint, sizeof r->fingerprint);
    r->status = a->status;
    r->starts_at = a->starts_at;
    r->ends_at = a->ends_at;
    strbuf block = STRBUF_INIT;
    /* the three label values are in the labels' size; grown from 64
     * bytes, the block was four reallocs */
    static const char holders_room[offsetof(record_block, text)];
    sb_reserve(&block, sizeof holders_room + 2 * json_size(&a->labels) +
                           json_size(&a->annotations));
    sb_append(&block, holders_room, sizeof holders_room); /* set once the block is taken */
    size_t at[5];
    at[0] = block.len;
    label_value(&block, &a->labels, "alertname");
    at[1] = block.len;
    label_value(&block, &a->labels, "instance");
    at[2] = block.len;
    label_value(&block, &a->labels, "severity");
    at[3] = block.len;
    labelset_to_json(&a->labels, &block);
    sb_putc(&block, '\0');
    at[4] = block.len;
    labelset_to_json(&a->annotations, &block);
    r->content_id = alert_content_id(block.data + at[3], at[4] - 1 - at[3], block.data + at[4],
                                     block.len - at[4]);
    char *start = sb_take(&block);
    record_block *b = (record_block *)(void *)start;
    atomic_init(&b->holders, 1);
    r->text = b->text;
    r->alertname = start + at[0];
    r->instance = start + at[1];
    r->severity = start + at[2];
    r->labels_json = start + at[3];
    r->annotations_json = start + at[4];
}

/* The same record, its text shared. */
static void record_copy(alert_record *to, const alert_record *from)
{
    *to = *from;
    atomic_fetch_add_explicit(&block_of(from)->holders, 1, memory_order_relaxed);
    to->silenced_by = from->silenced_by ? xstrdup(from->silenced_by) : NULL;
}

void alert_report_fill(alert_report *rep, alert_batch *batch, int64_t now_ms)
{
    rep->alerts = xcalloc(batch->len ? batch->len : 1, sizeof *rep->alerts);
    rep->len = batch->len;
    for (size_t i = 0; i < batch->len; i++) {
        record_fill(&rep->alerts[i], &batch->alerts[i]);
        batch->alerts[i].record = &rep->alerts[i];
    }
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
    for (size_t i = 0; i < len; i++) {
        if (alerts[i]->record)
            record_copy(&n->alerts[i], alerts[i]->record);
        else
            record_fill(&n->alerts[i], alerts[i]);
    }
    /* The key hashes the sorted fingerprints, so alert order is irrelevant. */
    alert_record *sorted = xcalloc(len ? len : 1, sizeof *sorted);
    memcpy(sorted, n->alerts, len * sizeof *sorted);
    qsort(sorted, len, sizeof *sorted, compare_fingerprints);
    /* Appended, not formatted: sb_printf was 1.5% of ingesting a request. */
    strbuf stream = STRBUF_INIT, state = STRBUF_INIT;
    sb_puts(&stream, n->receiver);
    sb_putc(&stream, '\0');
    sb_puts(&stream, n->group_key);
    sb_puts(&state, n->status);
    /* Each alert's own status too: {A firing, B resolved} is news after
     * {A firing, B firing} although the group is still firing. */
    for (size_t i = 0; i < len; i++) {
        sb_putc(&stream, '\0');
        sb_puts(&stream, sorted[i].fingerprint);
        sb_putc(&state, '\0');
        sb_puts(&state, alert_status_name(sorted[i].status));
    }
    free(sorted);
    /* the second digest's first digit overwrites the first one's NUL */
    sha256_hex128(stream.data, stream.len, n->dedup_key);
    sha256_hex128(state.data, state.len, n->dedup_key + DEDUP_STREAM_HEX);
    sb_free(&stream);
    sb_free(&state);
}
