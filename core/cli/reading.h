/* What queue and history share: the configured store, opened for
 * reading while herald serves or not, and the zone their tables show
 * times in. */
#ifndef HERALD_CLI_READING_H
#define HERALD_CLI_READING_H

#include "cli/cli.h"
#include "lua/tz.h"
#include "store/store.h"
#include "util/strbuf.h"

typedef struct reading {
    store_reader *store;
    tz_zone *zone;
} reading;

/* 0, or EXIT_INVALID having said why ("herald: <prefix><why>"). */
int reading_open(const cli *c, const char *prefix, reading *out);
void reading_close(reading *r);
/* The end of a command that read: prints what it made (with -o json, the
 * API's answer and a newline) when rc is 0, else "herald: <prefix><err>";
 * frees out, closes r and returns the exit status. */
int reading_finish(reading *r, const cli *c, int rc, strbuf *out, const char *prefix,
                   const char *err);
/* Who runs the command, as the Unix user: the default author of what
 * it changes (a silence, an acknowledgement). */
const char *reading_unix_user(void);

#endif
