/* What the API's query parameters and the CLI's options ask of the store,
 * checked here and nowhere else: the store's read functions take only
 * what these build. Every text given is checked, used or not, so a typo
 * is an error rather than a silently wider answer. A message names the
 * parameter the way its asker spells it: "limit: ..." in an API answer,
 * "--limit: ..." on the command line. */
#ifndef HERALD_STORE_QUERY_H
#define HERALD_STORE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef enum query_style { QUERY_API, QUERY_CLI } query_style;

/* The texts as given; NULL when absent. */
typedef struct query_args {
    const char *alertname;
    const char *receiver;
    const char *status;        /* firing | resolved */
    const char *by;            /* a label name, or receiver */
    const char *since;         /* "24h" ago, an RFC 3339 time or epoch milliseconds */
    const char *until;
    const char *limit;         /* 1 to 10000 */
    const char *filter;        /* label matchers (alert/matcher.h) */
} query_args;

/* A queue listing's limit (NULL: 100 rows). */
int query_queue(const char *limit_text, query_style style, int *limit, char *err,
                size_t err_cap);
/* History rows: 100 when no limit is given, no time bound without since
 * and until. */
int query_history(const query_args *args, query_style style, int64_t now_ms, history_filter *f,
                  char *err, size_t err_cap);
/* History top: by alertname, over the last 24 hours, unless given; 10
 * rows for the API and 100 for the CLI when no limit is given (as each
 * always answered). The result's `by` is args->by's text (or a
 * constant): it lives as long as args does. */
int query_top(const query_args *args, query_style style, int64_t now_ms, history_top *q,
              char *err, size_t err_cap);

/* The alert state's current view: every alert (firing and recently
 * resolved) unless status says, 1000 rows unless limit says. Free the
 * filter with alert_filter_free. */
int query_alerts(const query_args *args, query_style style, alert_filter *f, char *err,
                 size_t err_cap);
void alert_filter_free(alert_filter *f);

#endif
