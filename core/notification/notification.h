/* A rendered message for one receiver: the unit the outbox stores and the
 * dispatcher delivers. It owns all its strings. */
#ifndef HERALD_NOTIFICATION_H
#define HERALD_NOTIFICATION_H

#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"
#include "herald/plugin.h"
#include "notification/rendered.h"
#include "util/hash.h"

/* What the alert history keeps of one alert of a notification. Its five
 * strings share one block (`text`), made once per request and shared by
 * every copy of the record: the last copy freed frees it. */
typedef struct alert_record {
    char fingerprint[17];
    char *text;             /* the strings below; never written once made */
    const char *alertname;  /* "" when the label is absent */
    const char *instance;
    const char *severity;
    alert_status status;
    double starts_at;
    double ends_at;
    const char *labels_json;
    const char *annotations_json;
    /* alert_content_id of the two: the stores keep labels and annotations
     * once, under it (store/content.h), for the state and every history
     * row alike, so it is hashed once, as the record is made. */
    int64_t content_id;
    /* The silence that holds it back (alert state only); NULL: none. */
    char *silenced_by;
} alert_record;

/* Every alert of one request, routed or not, as the alert state keeps
 * it: what herald knows is firing now. */
typedef struct alert_report {
    alert_record *alerts;
    size_t len;
    /* The endpoint it came in on ("alerts" is Prometheus posting
     * directly, whose alerts resolve when their endsAt passes), static. */
    const char *source;
    int64_t seen_ms;
} alert_report;

/* Why the store did not take a notification (its id stays 0). */
typedef enum held_back {
    HELD_NOT = 0,
    HELD_DUPLICATE,    /* the same as the last of its stream, within dedup_window */
    HELD_REPEAT,       /* its receiver was told of it all, within repeat_interval */
    HELD_ESCALATION    /* an escalation: stored to wait for its time, not sent now */
} held_back;

/* The first 63 bits of SHA-256 of labels, a NUL and annotations (a
 * non-negative 64-bit integer). The PostgreSQL store computes the same
 * in SQL where it must (postgresql/private.h PG_CONTENT_ID). */
int64_t alert_content_id(const char *labels_json, size_t labels_len,
                         const char *annotations_json, size_t annotations_len);

#define DEDUP_STREAM_HEX (SHA256_HEX128_SIZE - 1)

typedef struct notification {
    uint64_t id;            /* the store's row id */
    char *receiver;
    char *status;
    size_t alert_count;
    rendered content;
    char *payload;          /* the request body, kept for channels that forward it */
    size_t payload_len;
    int64_t created_ms;
    int64_t next_attempt_ms;
    unsigned attempts;
    char *last_error;
    char *group_key;
    /* Two halves of 32 hex digits (128 bits of SHA-256 each): the stream
     * (receiver, group and its alerts' fingerprints), then its state (the
     * status and each alert's). A notification is a duplicate when the last
     * one of its stream has the same state: what two unclustered
     * Alertmanager replicas send, but not the same alert firing again after
     * it resolved. */
    char dedup_key[2 * DEDUP_STREAM_HEX + 1];
    alert_record *alerts;
    size_t alerts_len;
    /* The receiver's repeat_interval: the same alerts in the same state
     * are not sent to it again sooner (0: every time). */
    int64_t repeat_interval_ms;
    /* The endpoint its alerts came in on (alert_batch.endpoint), static;
     * NULL when it was read back from the store. */
    const char *source;
    held_back held;
    /* An escalation of its one alert (pipeline/escalate.h): the store
     * keeps it until then, and sends it only if the alert still fires,
     * unacknowledged and unsilenced; 0: an ordinary notification. */
    int64_t escalate_at_ms;
    char *escalated_from;   /* the receiver it escalates from */
    int send_alone;         /* a digest with it was refused: it goes by itself */
    int attempted;          /* sent since its last outcome was handed to the store */
    int send_now;           /* an operator asked: the next attempt goes past the target's pause */
    int dropped;            /* an operator dropped it while in flight: nothing follows */
    int64_t quiet_until_ms; /* held by its receiver's quiet hours until then (0: not) */
    struct notification *next; /* outbox bookkeeping */
    /* The outbox's list of every notification it holds, queued or in
     * flight, for the age of the oldest. */
    struct notification *live_prev, *live_next;
} notification;

void notification_free(notification *n);
/* Frees the alert records once the store has them: delivery never reads them. */
void notification_forget_alerts(notification *n);
/* Fills alerts and dedup_key from the alerts the notification carries. */
void notification_describe(notification *n, const char *group_key, const alert *const *alerts,
                           size_t len);
/* The report of all the batch's alerts, seen at now_ms; free with
 * alert_report_free, after the batch's notifications are described (each
 * alert's `record` points into it). */
void alert_report_fill(alert_report *rep, alert_batch *batch, int64_t now_ms);
void alert_report_free(alert_report *rep);
void notification_set_error(notification *n, const char *error);
/* A view of the notification in the plugin ABI's terms; `msg` borrows
 * from `n` and must not outlive it. */
void notification_as_message(const notification *n, herald_message *msg);

#endif
