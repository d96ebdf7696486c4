/* Alerts as herald sees them after ingest, whatever format they came in. */
#ifndef HERALD_ALERT_H
#define HERALD_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* Owned by its set: one block, name then value (labelset_set), or in
 * the set's strings (labelset_fill). */
typedef struct label {
    char *name;
    char *value;
    size_t name_len, value_len; /* pushing labels into Lua and writing their JSON need them */
} label;

/* Kept sorted by name, so iteration order is stable everywhere. */
typedef struct labelset {
    label *items;
    size_t len, cap;
    char *strings; /* the names and values labelset_fill read, NULL: none */
    size_t strings_size;
} labelset;

typedef enum alert_status { ALERT_FIRING = 0, ALERT_RESOLVED = 1 } alert_status;

/* A number Grafana evaluated for an alert: "values": {"B": 22.5}. */
typedef struct alert_value {
    char *name;
    double value;
} alert_value;

typedef struct alert {
    alert_status status;
    labelset labels;
    labelset annotations;
    double starts_at;       /* epoch seconds; 0 when unknown */
    double ends_at;         /* epoch seconds; 0 for Alertmanager's zero time */
    char *generator_url;    /* "" when absent */
    char fingerprint[17];   /* 16 hex digits */
    /* Grafana's extras (empty from other senders): those of valueString,
     * silenceURL, dashboardURL, panelURL and imageURL it gave, and its values. */
    labelset grafana;
    alert_value *values;
    size_t values_len;
    /* What the request's alert state keeps of it, once made
     * (notification/notification.h): its notifications copy that, rather
     * than describe it again. Not owned. */
    const struct alert_record *record;
} alert;

typedef struct alert_batch {
    char *am_receiver;      /* Alertmanager's receiver, regex quoting removed */
    alert_status status;
    alert *alerts;
    size_t len;
    labelset group_labels;
    labelset common_labels;
    labelset common_annotations;
    char *external_url;
    char *group_key;
    long truncated_alerts;
    labelset grafana;       /* Grafana's title, message and state, those given */
    const char *source;     /* the request body, borrowed; NULL when unknown */
    /* The endpoint it came in on ("webhook", "dingtalk", "alerts"), static;
     * NULL when not from HTTP. */
    const char *endpoint;
    size_t source_len;
} alert_batch;

const char *alert_status_name(alert_status status);

/* Adds or replaces; keeps the set sorted. Copies both strings. */
void labelset_set(labelset *set, const char *name, const char *value);
/* An empty set takes n labels of distinct names at once, pairs[2i] the
 * name and pairs[2i + 1] the value of each, in any order: their texts in
 * one block, where labelset_set makes one per label (an alert's labels
 * and annotations were a third of a request's allocations). */
void labelset_fill(labelset *set, const char *const *pairs, size_t n);
const char *labelset_get(const labelset *set, const char *name);
void labelset_free(labelset *set);
/* Labels every alert of the batch shares with the same value. */
void labelset_common(labelset *out, const alert *alerts, size_t len, int annotations);

/* Alertmanager-compatible fingerprint: FNV-1a 64 over the sorted labels. */
void alert_fingerprint(const labelset *labels, char out[17]);

/* Appends the set as a JSON object. */
void labelset_to_json(const labelset *set, strbuf *out);

void alert_free(alert *a);
void alert_batch_free(alert_batch *batch);

#endif
