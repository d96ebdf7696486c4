/* history and history top: the alert history as tables by default, the
 * API's JSON with -o json. */
#include "cli/cli.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/reading.h"
#include "cli/table.h"
#include "cli/timefmt.h"
#include "http/api.h"
#include "store/query.h"
#include "util/clock.h"

/* How long the alert had lasted at that notification: until it ended
 * for a resolved alert, until the notification for a firing one. */
static void format_lasted(const history_row *h, char *out, size_t cap)
{
    int64_t starts_ms = (int64_t)llround(h->starts_at * 1000);
    /* a firing alert's endsAt, from Prometheus, is a time to come */
    int64_t until_ms = h->ends_at && strcmp(h->status, "resolved") == 0
                           ? (int64_t)llround(h->ends_at * 1000)
                           : h->created_ms;
    format_duration(until_ms - starts_ms, out, cap);
}

static void history_table(const history_rows *rows, const tz_zone *zone, strbuf *out)
{
    static const table_column columns[] = {
        {"TIME", 0, 0},     {"STATUS", 0, 0},   {"ALERTNAME", 32, 0}, {"INSTANCE", 28, 0},
        {"SEVERITY", 12, 0}, {"RECEIVER", 20, 0}, {"LASTED", 0, 1},    {"RESULT", 0, 0},
    };
    table t = TABLE_INIT(columns);
    for (size_t i = 0; i < rows->len; i++) {
        const history_row *h = &rows->items[i];
        char when[LOCAL_TIME_SIZE], lasted[DURATION_SIZE];
        format_local_time(zone, h->created_ms, when, sizeof when);
        format_lasted(h, lasted, sizeof lasted);
        table_add_row(&t, (const char *[]){when, h->status, h->alertname, h->instance,
                                           h->severity, h->receiver[0] ? h->receiver : "-", lasted,
                                           h->result});
    }
    table_print(&t, out);
    table_free(&t);
}

static void top_table(const char *by, const top_rows *rows, strbuf *out)
{
    char *header = xstrdup(by);
    for (char *p = header; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const table_column columns[] = {{header, 60, 0}, {"COUNT", 0, 1}};
    table t = TABLE_INIT(columns);
    for (size_t i = 0; i < rows->len; i++) {
        char count[24];
        snprintf(count, sizeof count, "%lld", (long long)rows->items[i].count);
        table_add_row(&t, (const char *[]){rows->items[i].value, count});
    }
    table_print(&t, out);
    table_free(&t);
    free(header);
}

static int read_history(const reading *rd, const history_filter *f, int json, strbuf *out,
                        char *err, size_t err_cap)
{
    history_rows rows;
    if (store_history(rd->store, f, &rows, err, err_cap))
        return -1;
    if (json)
        api_history_json(&rows, out);
    else
        history_table(&rows, rd->zone, out);
    history_rows_free(&rows);
    return 0;
}

static int read_top(const reading *rd, const history_top *q, int json, strbuf *out, char *err,
                    size_t err_cap)
{
    top_rows rows;
    if (store_history_top(rd->store, q, &rows, err, err_cap))
        return -1;
    if (json)
        api_top_json(q->by, &rows, out);
    else
        top_table(q->by, &rows, out);
    top_rows_free(&rows);
    return 0;
}

int cmd_history(const cli *c)
{
    query_args args = {.alertname = c->alertname, .receiver = c->receiver, .status = c->status,
                       .by = c->by, .since = c->since, .until = c->until, .limit = c->limit};
    int top = c->args_len > 0;
    history_filter f;
    history_top counted;
    char err[512];
    if (top ? query_top(&args, QUERY_CLI, wall_ms(), &counted, err, sizeof err)
            : query_history(&args, QUERY_CLI, wall_ms(), &f, err, sizeof err))
        return usage_error(c->command, "%s", err);
    reading rd;
    if (reading_open(c, "history: ", &rd))
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    int rc = top ? read_top(&rd, &counted, c->json, &out, err, sizeof err)
                 : read_history(&rd, &f, c->json, &out, err, sizeof err);
    return reading_finish(&rd, c, rc, &out, "history: ", err);
}
