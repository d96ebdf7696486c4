/* The units an operator writes in the configuration, the CLI and API
 * queries, and the times Alertmanager sends. */
#ifndef HERALD_UNITS_H
#define HERALD_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "1500ms", "10s", "5m", "24h", "7d", or a bare number of seconds. */
int parse_duration_ms(const char *text, int64_t *out);
/* "1MiB", "512KiB", "1048576", "2MB". */
int parse_size_bytes(const char *text, size_t *out);

/* Parses RFC 3339 ("2026-11-21T05:22:46.39Z", "+08:00" offsets). The
 * zero time 0001-01-01T00:00:00Z gives 0. Returns 0 or -1. */
int parse_rfc3339(const char *text, double *epoch);

/* Epoch milliseconds as the API writes every time: RFC 3339 in UTC with
 * milliseconds, "2026-11-21T05:22:46.390Z". out holds RFC3339_MS_SIZE. */
#define RFC3339_MS_SIZE 32
void format_rfc3339_ms(int64_t epoch_ms, char *out, size_t cap);

/* "24h" (that long ago: a duration needs its unit), an RFC 3339 time, or
 * epoch milliseconds; 0 on success, -1 when it is none of these. */
int parse_time_ms(const char *text, int64_t now_ms, int64_t *out);

#endif
