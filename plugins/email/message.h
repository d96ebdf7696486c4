/* The email channel's RFC 5322 message for one herald message. */
#ifndef HERALD_EMAIL_MESSAGE_H
#define HERALD_EMAIL_MESSAGE_H

#include <herald/plugin.h>

#include <stddef.h>

#include "mailer.h"

/* Postfix's default message_size_limit is 10240000 bytes; staying under it
 * keeps the common relays happy. */
#define MAX_MESSAGE_BYTES 10000000

/* The whole message, its text cut as little as needed to stay within
 * MAX_MESSAGE_BYTES; NULL with err when even no text does not fit. */
herald_buf *build_message(const mailer *m, const herald_message *msg, char *err, size_t err_cap);

#endif
