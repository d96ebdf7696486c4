#include "notification.h"

#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

void notification_free(notification *n)
{
    if (!n)
        return;
    free(n->receiver);
    free(n->status);
    free(n->last_error);
    free(n->payload);
    rendered_free(&n->content);
    free(n);
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
