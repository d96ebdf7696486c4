/* Label matchers as Alertmanager and amtool write them, to pick alerts:
 *   alertname="HostDown", instance=~"10\.0\..*", severity!=info
 * Separated by commas, optionally in braces; a value is quoted (with \"
 * and \\) or runs to the next comma; =~ and !~ take a POSIX extended
 * regular expression that must match the whole value. A label an alert
 * lacks has the empty value, as in Prometheus. */
#ifndef HERALD_MATCHER_H
#define HERALD_MATCHER_H

#include <regex.h>
#include <stddef.h>

#include "alert/alert.h"

typedef enum matcher_op { MATCH_EQUAL, MATCH_NOT_EQUAL, MATCH_REGEX, MATCH_NOT_REGEX } matcher_op;

typedef struct matcher {
    char *name;
    matcher_op op;
    char *value;
    regex_t regex;          /* MATCH_REGEX and MATCH_NOT_REGEX */
} matcher;

typedef struct matcher_set {
    matcher *items;
    size_t len;
} matcher_set;

/* Adds the matchers in text to set: 0, or -1 with err naming what is wrong
 * (set unchanged then). */
int matchers_parse(const char *text, matcher_set *set, char *err, size_t err_cap);
void matchers_free(matcher_set *set);
/* Whether labels (a JSON object of strings) satisfy every matcher. */
int matchers_match_json(const matcher_set *set, const char *labels_json);
/* The same for an alert's labels. */
int matchers_match_labels(const matcher_set *set, const labelset *labels);
/* Whether the matcher is satisfied by a label that is absent (or empty). */
int matcher_matches_empty(const matcher *m);

#endif
