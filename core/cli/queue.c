/* queue and history: the store, read (and dead letters edited) while
 * herald serves or not. Lists print as a table, the rest as the API's
 * JSON. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/conf.h"
#include "http/api.h"
#include "store/query.h"
#include "store/store.h"
#include "util/clock.h"

static char *configured_data_dir(const cli *c)
{
    char *dir = NULL;
    char err[1024];
    if (config_data_dir(c->config, &dir, err, sizeof err))
        fprintf(stderr, "herald: %s\n", err);
    return dir;
}

/* The store in dir, opened for reading; NULL having said why
 * ("herald: <prefix><why>"). Frees dir. */
static store_reader *open_store(char *dir, const char *prefix)
{
    char err[1024];
    store_reader *r = store_reader_open(&(store_location){dir}, err, sizeof err);
    if (!r)
        fprintf(stderr, "herald: %s%s\n", prefix, err);
    free(dir);
    return r;
}

/* "-" for no time. */
static void format_ms(int64_t ms, char *out, size_t cap)
{
    if (!ms) {
        snprintf(out, cap, "-");
        return;
    }
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&seconds, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void print_queue_table(const queue_rows *rows, int dead)
{
    printf("%-8s %-16s %-9s %6s %8s  %-19s  %s\n", "ID", "RECEIVER", "STATUS", "ALERTS", "ATTEMPTS",
           dead ? "GAVE UP" : "NEXT ATTEMPT", dead ? "REASON" : "LAST ERROR");
    for (size_t i = 0; i < rows->len; i++) {
        const queue_row *row = &rows->items[i];
        char when[32];
        format_ms(dead ? row->finished_ms : row->next_attempt_ms, when, sizeof when);
        printf("%-8ld %-16s %-9s %6ld %8ld  %-19s  %s\n", (long)row->id, row->receiver,
               row->status, (long)row->alert_count, (long)row->attempts, when,
               row->last_error ? row->last_error : "");
    }
    if (rows->len == 0)
        printf("(none)\n");
}

static int list(store_reader *r, int dead, int limit, char *err, size_t err_cap)
{
    queue_rows rows;
    int rc = store_list(r, dead ? QUEUE_DEAD : QUEUE_PENDING, limit, &rows, err, err_cap);
    if (rc == 0) {
        print_queue_table(&rows, dead);
        queue_rows_free(&rows);
    }
    return rc;
}

static int show(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    notification_detail d;
    int rc = store_show(r, id, &d, err, err_cap);
    if (rc == 0) {
        strbuf json = STRBUF_INIT;
        api_notification_json(&d, &json);
        printf("%s\n", sb_str(&json));
        sb_free(&json);
        notification_detail_free(&d);
    }
    return rc;
}

/* show, retry or drop: the outcome, with "no such ..." in err for 1. */
static int act_on(store_reader *r, const char *action, unsigned long long id, char *err,
                  size_t err_cap)
{
    int rc = strcmp(action, "show") == 0    ? show(r, id, err, err_cap)
             : strcmp(action, "retry") == 0 ? store_requeue(r, id, err, err_cap)
                                            : store_drop(r, id, err, err_cap);
    if (rc == 1)
        snprintf(err, err_cap, "%s %llu: no such %s", action, id,
                 strcmp(action, "show") == 0 ? "notification" : "dead letter");
    else if (rc == 0 && strcmp(action, "show") != 0)
        printf("%s %llu: %s\n", action, id,
               strcmp(action, "retry") == 0
                   ? "requeued; the running herald delivers it within a second (or at its next start)"
                   : "dropped");
    return rc;
}

int cmd_queue(const cli *c)
{
    int limit;
    char err[512];
    if (query_queue(c->limit, QUERY_CLI, &limit, err, sizeof err))
        return usage_error(c->command, "%s", err);
    char *data_dir = configured_data_dir(c);
    if (!data_dir)
        return EXIT_INVALID;
    const char *action = c->args[0];
    int listing = strcmp(action, "list") == 0;
    unsigned long long id = 0;
    if (!listing) {
        char *end;
        id = strtoull(c->args[1], &end, 10);
        if (*end || end == c->args[1]) {
            free(data_dir);
            return usage_error(c->command, "\"%s\" is not a notification id", c->args[1]);
        }
        if (strcmp(action, "show") != 0 && strcmp(action, "retry") != 0 &&
            strcmp(action, "drop") != 0) {
            free(data_dir);
            return usage_error(c->command, "unknown action \"%s\"", action);
        }
    }
    store_reader *r = open_store(data_dir, "queue ");
    if (!r)
        return EXIT_INVALID;
    int rc = listing ? list(r, c->dead, limit, err, sizeof err)
                     : act_on(r, action, id, err, sizeof err);
    if (rc)
        fprintf(stderr, "herald: queue %s\n", err);
    store_reader_close(r);
    return rc ? EXIT_INVALID : 0;
}

static int read_history_json(store_reader *r, const history_filter *f, strbuf *json, char *err,
                              size_t err_cap)
{
    history_rows rows;
    if (store_history(r, f, &rows, err, err_cap))
        return -1;
    api_history_json(&rows, json);
    history_rows_free(&rows);
    return 0;
}

static int read_top_json(store_reader *r, const history_top *q, strbuf *json, char *err,
                          size_t err_cap)
{
    top_rows rows;
    if (store_history_top(r, q, &rows, err, err_cap))
        return -1;
    api_top_json(q->by, &rows, json);
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
    char *data_dir = configured_data_dir(c);
    if (!data_dir)
        return EXIT_INVALID;
    store_reader *r = open_store(data_dir, "history: ");
    if (!r)
        return EXIT_INVALID;
    strbuf json = STRBUF_INIT;
    int rc = top ? read_top_json(r, &counted, &json, err, sizeof err)
                 : read_history_json(r, &f, &json, err, sizeof err);
    if (rc == 0)
        printf("%s\n", sb_str(&json));
    else
        fprintf(stderr, "herald: history: %s\n", err);
    sb_free(&json);
    store_reader_close(r);
    return rc ? EXIT_INVALID : 0;
}
