/* A rendered message for one receiver: the unit the outbox stores and the
 * dispatcher delivers. It owns all its strings. */
#ifndef HERALD_NOTIFICATION_H
#define HERALD_NOTIFICATION_H

#include <stddef.h>
#include <stdint.h>

#include "herald/plugin.h"
#include "render.h"

typedef struct notification {
    uint64_t id;
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
    struct notification *next; /* outbox bookkeeping */
} notification;

void notification_free(notification *n);
void notification_set_error(notification *n, const char *error);
/* A view of the notification in the plugin ABI's terms; `msg` borrows
 * from `n` and must not outlive it. */
void notification_as_message(const notification *n, herald_message *msg);

#endif
