/* Turning request bodies into alert batches. Every rejection names the
 * offending field, e.g. "alerts[2].labels.severity: expected a string". */
#ifndef HERALD_INGEST_H
#define HERALD_INGEST_H

#include <stddef.h>

#include "alert/alert.h"

/* Alertmanager webhook (version 4) and Grafana's superset of it. Unknown
 * fields are ignored. Returns 0, or -1 with a message in err. */
int ingest_alertmanager(const char *body, size_t len, alert_batch *out, char *err,
                        size_t err_cap);

/* A Prometheus-style alert list (POST /api/v2/alerts). An alert without
 * endsAt, or whose endsAt is after `now`, is firing. */
int ingest_prometheus(const char *body, size_t len, double now, alert_batch *out,
                      char *err, size_t err_cap);

/* Either of the above, told apart by the top-level JSON type. */
int ingest_any(const char *body, size_t len, double now, alert_batch *out, char *err,
               size_t err_cap);

#endif
