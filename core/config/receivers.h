/* The receivers table, private to config/: each receiver's channel, the
 * core's keys (template, split, mentions, transport, rate) and the
 * channel's own options, then the instance the channel configures. */
#ifndef HERALD_CONFIG_RECEIVERS_H
#define HERALD_CONFIG_RECEIVERS_H

#include "config/conf.h"
#include "config/reader.h"

/* Reads the receivers table at the top of the stack into conf->receivers,
 * sorted by name. The plugins and template names must be loaded. */
int read_receivers(conf_reader *rd);
void receiver_free(receiver *r);

#endif
