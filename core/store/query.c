#include "store/query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/units.h"

typedef enum param { PARAM_LIMIT, PARAM_STATUS, PARAM_SINCE, PARAM_UNTIL } param;

#define TIME_EXPECTED(quote)                                                                      \
    "expected a duration with its unit such as " quote "24h" quote                               \
    ", an RFC 3339 time or epoch milliseconds"

/* The API quotes values as JSON does; the CLI names both time options in
 * one message. */
static const char *const expected[][2] = {
    [PARAM_LIMIT] = {"limit: expected a number from 1 to 10000",
                     "--limit: expected a number from 1 to 10000"},
    [PARAM_STATUS] = {"status: expected \"firing\" or \"resolved\"",
                      "--status: expected firing or resolved"},
    [PARAM_SINCE] = {"since: " TIME_EXPECTED("\""), "--since/--until: " TIME_EXPECTED("")},
    [PARAM_UNTIL] = {"until: " TIME_EXPECTED("\""), "--since/--until: " TIME_EXPECTED("")},
};

static int refuse(param p, const char *given, query_style style, char *err, size_t err_cap)
{
    return fail(err, err_cap, "%s, got \"%s\"", expected[p][style == QUERY_CLI], given);
}

/* What every query may carry, checked whether or not this one uses it. */
typedef struct checked {
    int limit;
    int64_t since_ms;
    int64_t until_ms;
} checked;

static int parse_limit(const char *text, int *limit)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > 10000)
        return -1;
    *limit = (int)v;
    return 0;
}

/* ASCII whatever the locale. */
static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Prometheus's rule for a label name: [a-zA-Z_][a-zA-Z0-9_]*. */
static int is_label_name(const char *text)
{
    if (!is_name_start(*text))
        return 0;
    for (const char *p = text + 1; *p; p++)
        if (!is_name_start(*p) && !(*p >= '0' && *p <= '9'))
            return 0;
    return 1;
}

/* Any label name, or receiver; not "count", which each answered row
 * already has as the number. */
static int check_by(const char *by, query_style style, char *err, size_t err_cap)
{
    int cli = style == QUERY_CLI;
    if (!is_label_name(by))
        return fail(err, err_cap,
                    cli ? "--by: expected a label name (letters, digits and _, not starting with "
                          "a digit) or receiver, got \"%s\""
                        : "by: expected a label name (letters, digits and \"_\", not starting "
                          "with a digit) or \"receiver\", got \"%s\"",
                    by);
    if (strcmp(by, "count") == 0)
        return fail(err, err_cap, "%s",
                    cli ? "--by: a label named count cannot be counted: each row's number is "
                          "named count"
                        : "by: a label named \"count\" cannot be counted: each row's number is "
                          "named \"count\"");
    return 0;
}

static int check(const query_args *a, query_style style, int64_t now_ms, checked *c, char *err,
                 size_t err_cap)
{
    *c = (checked){0};
    if (a->limit && parse_limit(a->limit, &c->limit))
        return refuse(PARAM_LIMIT, a->limit, style, err, err_cap);
    if (a->status && strcmp(a->status, "firing") != 0 && strcmp(a->status, "resolved") != 0)
        return refuse(PARAM_STATUS, a->status, style, err, err_cap);
    if (a->by && check_by(a->by, style, err, err_cap))
        return -1;
    if (a->since && parse_time_ms(a->since, now_ms, &c->since_ms))
        return refuse(PARAM_SINCE, a->since, style, err, err_cap);
    if (a->until && parse_time_ms(a->until, now_ms, &c->until_ms))
        return refuse(PARAM_UNTIL, a->until, style, err, err_cap);
    return 0;
}

int query_queue(const char *limit_text, query_style style, int *limit, char *err,
                size_t err_cap)
{
    *limit = 100;
    if (limit_text && parse_limit(limit_text, limit))
        return refuse(PARAM_LIMIT, limit_text, style, err, err_cap);
    return 0;
}

int query_history(const query_args *args, query_style style, int64_t now_ms, history_filter *f,
                  char *err, size_t err_cap)
{
    checked c;
    if (check(args, style, now_ms, &c, err, err_cap))
        return -1;
    *f = (history_filter){.alertname = args->alertname,
                          .receiver = args->receiver,
                          .status = args->status,
                          .since_ms = c.since_ms,
                          .until_ms = c.until_ms,
                          .limit = args->limit ? c.limit : 100};
    return 0;
}

int query_top(const query_args *args, query_style style, int64_t now_ms, history_top *q,
              char *err, size_t err_cap)
{
    checked c;
    if (check(args, style, now_ms, &c, err, err_cap))
        return -1;
    *q = (history_top){.by = args->by ? args->by : "alertname",
                       .since_ms = args->since ? c.since_ms : now_ms - 24LL * 3600 * 1000,
                       .limit = args->limit ? c.limit : style == QUERY_CLI ? 100 : 10};
    return 0;
}

int query_alerts(const query_args *args, query_style style, alert_filter *f, char *err,
                 size_t err_cap)
{
    checked c;
    *f = (alert_filter){0};
    if (check(args, style, 0, &c, err, err_cap))
        return -1;
    char why[256];
    if (args->filter && matchers_parse(args->filter, &f->matchers, why, sizeof why))
        return fail(err, err_cap, "%s: %s", style == QUERY_CLI ? "--filter" : "filter", why);
    f->receiver = args->receiver;
    f->status = args->status;
    f->limit = args->limit ? c.limit : 1000;
    return 0;
}

void alert_filter_free(alert_filter *f)
{
    matchers_free(&f->matchers);
}
