/* Whether a notification is news to its receiver, decided once for every
 * backend: a backend only reads what the receiver was last told of each
 * alert. */
#ifndef HERALD_STORE_REPEAT_H
#define HERALD_STORE_REPEAT_H

#include <stdint.h>

#include "notification/notification.h"

/* What a receiver was last told of one alert, and the alert state's start
 * of its firing. */
typedef struct told_alert {
    int found;                 /* 0: never told */
    const char *status;
    double starts_at;          /* the start it was told */
    int has_state_start;
    double state_starts_at;    /* the state's (earliest) start of this firing */
    int64_t notified_ms;
    int acknowledged;          /* the state's firing was acknowledged */
} told_alert;

/* Reads what n's receiver was last told of alert a into *out (strings
 * valid until the next call): 0, or -1 when the store failed. */
typedef int (*last_told_fn)(void *ctx, const notification *n, const alert_record *a,
                            told_alert *out);

/* Sets *repeat when n carries no news: every alert was told to its
 * receiver firing in this firing and has been acknowledged since
 * (whatever the repeat interval), or, within its repeat interval, was
 * told to its receiver in the same state (status, and the same firing)
 * since then, or is a resolution from Prometheus's direct path its
 * receiver was never told of firing. 0, or -1 when a read failed. */
int store_is_repeat(const notification *n, last_told_fn last_told, void *ctx, int *repeat);

#endif
