/* Silences: label matchers (Alertmanager's syntax, alert/matcher.h) and a
 * time window during which the alerts they match are recorded but not
 * delivered. For alerts that do not pass through Alertmanager (Prometheus
 * posting directly, Grafana, scripts); Alertmanager's own silences act
 * before herald hears of an alert.
 *
 * A silence is stored (store.h) and read back as text; what ingest
 * matches against is a silence_set, compiled once from the stored rows. */
#ifndef HERALD_SILENCE_H
#define HERALD_SILENCE_H

#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"
#include "alert/matcher.h"

/* "8-4-4-4-12" hex digits and the NUL: a random (version 4) UUID, so
 * replicas sharing a store never give two silences one id. */
#define SILENCE_ID_SIZE 37

typedef struct silence {
    char *id;
    char *matchers;            /* as given */
    int64_t starts_ms;
    int64_t ends_ms;           /* expired early: the time it was expired */
    char *created_by;
    char *comment;             /* "" when none */
    int64_t created_ms;
} silence;

typedef struct silence_rows {
    silence *items;
    size_t len;
} silence_rows;

void silence_free(silence *s);
void silence_rows_free(silence_rows *rows);

/* Whether the silence mutes alerts at now_ms: starts_ms <= now < ends_ms. */
int silence_active(const silence *s, int64_t now_ms);

/* Parses the matchers of a new silence into set: 0, or -1 with err. A
 * set every matcher of which matches the empty value (`job=~".*"`,
 * `severity!="critical"` alone) would silence alerts that lack the labels
 * too, nearly everything: refused, as Alertmanager refuses it. */
int silence_matchers_parse(const char *text, matcher_set *set, char *err, size_t err_cap);

/* What the options are called where a silence is made: the CLI's
 * --duration, --until and --author, the API's duration, endsAt and
 * createdBy. Errors name them. */
typedef struct silence_words {
    const char *duration, *until, *author;
} silence_words;

extern const silence_words silence_cli_words;
extern const silence_words silence_api_words;

/* When a silence starting at now_ms ends: from a duration ("2h", "30m",
 * "1d") or an RFC 3339 time, exactly one of them given, at most a year
 * ahead. 0, or -1 with err naming which and why. */
int silence_end(const char *duration, const char *until, int64_t now_ms, const silence_words *w,
                int64_t *ends_ms, char *err, size_t err_cap);

/* A new silence from its parts (as `herald silence add` and the API take
 * them): matchers checked, the window from now_ms, a fresh id. author
 * must be non-empty; comment may be NULL. 0, or -1 with err. */
int silence_make(const char *matchers, const char *duration, const char *until,
                 const char *author, const char *comment, int64_t now_ms,
                 const silence_words *w, silence *out, char *err, size_t err_cap);

/* A new silence from POST /api/v1/silences' body: {"matchers": "...",
 * "duration": "2h" or "endsAt": "<RFC 3339>", "createdBy": "...",
 * "comment": "..."}. 0, or -1 with err naming the field. */
int silence_from_json(const char *body, size_t len, int64_t now_ms, silence *out, char *err,
                      size_t err_cap);

/* The silences ingest matches against, compiled. */
typedef struct silence_rule {
    char *id;
    int64_t starts_ms, ends_ms;
    matcher_set matchers;
} silence_rule;

typedef struct silence_set {
    silence_rule *items;
    size_t len;
} silence_set;

/* The rows' silences compiled; one whose matchers no longer parse (made
 * by another version) is left out, with a warning logged. */
void silence_set_build(const silence_rows *rows, silence_set *out);
void silence_set_free(silence_set *set);
/* The id of the first silence active at now_ms whose matchers the
 * labels satisfy, or NULL. */
const char *silence_set_match(const silence_set *set, const labelset *labels, int64_t now_ms);

#endif
