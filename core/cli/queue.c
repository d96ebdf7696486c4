/* queue and history: the store, read (and dead letters edited) while
 * herald serves or not. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/conf.h"
#include "http/api.h"
#include "store/store.h"
#include "util/json.h"
#include "util/units.h"

static char *configured_data_dir(const cli *c)
{
    char *dir = NULL;
    char err[1024];
    if (config_data_dir(c->config, &dir, err, sizeof err))
        fprintf(stderr, "herald: %s\n", err);
    return dir;
}

static void format_ms(const cJSON *item, char *out, size_t cap)
{
    if (!cJSON_IsNumber(item)) {
        snprintf(out, cap, "-");
        return;
    }
    time_t seconds = (time_t)(item->valuedouble / 1000);
    struct tm tm;
    localtime_r(&seconds, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *text_of(const cJSON *row, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static long number_of(const cJSON *row, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(item) ? (long)item->valuedouble : 0;
}

static void print_queue_table(const char *json, int dead)
{
    cJSON *rows = json_parse(json, strlen(json));
    printf("%-8s %-16s %-9s %6s %8s  %-19s  %s\n", "ID", "RECEIVER", "STATUS", "ALERTS", "ATTEMPTS",
           dead ? "GAVE UP" : "NEXT ATTEMPT", dead ? "REASON" : "LAST ERROR");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        char when[32];
        format_ms(cJSON_GetObjectItemCaseSensitive(row, dead ? "finished_ms" : "next_attempt_ms"), when,
                  sizeof when);
        printf("%-8ld %-16s %-9s %6ld %8ld  %-19s  %s\n", number_of(row, "id"), text_of(row, "receiver"),
               text_of(row, "status"), number_of(row, "alerts"), number_of(row, "attempts"), when,
               text_of(row, "last_error"));
    }
    if (cJSON_GetArraySize(rows) == 0)
        printf("(none)\n");
    cJSON_Delete(rows);
}

int cmd_queue(const cli *c)
{
    int limit = 100;
    if (c->limit && parse_limit(c->limit, &limit))
        return usage_error(c->command, "%s", "--limit: expected a number from 1 to 10000");
    char *data_dir = configured_data_dir(c);
    if (!data_dir)
        return EXIT_INVALID;
    const char *action = c->args[0];
    strbuf out = STRBUF_INIT;
    char err[512];
    int rc;
    if (strcmp(action, "list") == 0) {
        rc = store_list(data_dir, c->dead ? QUEUE_DEAD : QUEUE_PENDING, limit, &out, err,
                        sizeof err);
        if (rc == 0)
            print_queue_table(sb_str(&out), c->dead);
    } else {
        char *end;
        unsigned long long id = strtoull(c->args[1], &end, 10);
        if (*end || end == c->args[1]) {
            free(data_dir);
            return usage_error(c->command, "\"%s\" is not a notification id", c->args[1]);
        }
        if (strcmp(action, "show") == 0)
            rc = store_show(data_dir, id, &out, err, sizeof err);
        else if (strcmp(action, "retry") == 0)
            rc = store_requeue(data_dir, id, err, sizeof err);
        else if (strcmp(action, "drop") == 0)
            rc = store_drop(data_dir, id, err, sizeof err);
        else {
            free(data_dir);
            return usage_error(c->command, "unknown action \"%s\"", action);
        }
        if (rc == 1)
            snprintf(err, sizeof err, "%s %llu: no such %s", action, id,
                     strcmp(action, "show") == 0 ? "notification" : "dead letter");
        else if (rc == 0 && strcmp(action, "show") == 0)
            printf("%s\n", sb_str(&out));
        else if (rc == 0)
            printf("%s %llu: %s\n", action, id,
                   strcmp(action, "retry") == 0
                       ? "requeued; the running herald delivers it within a second (or at its next start)"
                       : "dropped");
    }
    if (rc)
        fprintf(stderr, "herald: queue %s\n", err);
    sb_free(&out);
    free(data_dir);
    return rc ? EXIT_INVALID : 0;
}

int cmd_history(const cli *c)
{
    history_filter f = {.alertname = c->alertname, .receiver = c->receiver, .status = c->status,
                        .limit = 100};
    if (c->limit && parse_limit(c->limit, &f.limit))
        return usage_error(c->command, "%s", "--limit: expected a number from 1 to 10000");
    if (c->status && strcmp(c->status, "firing") != 0 && strcmp(c->status, "resolved") != 0)
        return usage_error(c->command, "%s", "--status: expected firing or resolved");
    if (c->by && strcmp(c->by, "alertname") != 0 && strcmp(c->by, "instance") != 0 &&
        strcmp(c->by, "severity") != 0 && strcmp(c->by, "receiver") != 0)
        return usage_error(c->command, "%s",
                           "--by: expected alertname, instance, severity or receiver");
    int64_t now = (int64_t)time(NULL) * 1000;
    if ((c->since && parse_time_ms(c->since, now, &f.since_ms)) ||
        (c->until && parse_time_ms(c->until, now, &f.until_ms)))
        return usage_error(c->command, "%s", "--since/--until: expected a duration with its unit "
                                             "such as 24h, an RFC 3339 time or epoch milliseconds");
    char *data_dir = configured_data_dir(c);
    if (!data_dir)
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    char err[512];
    int rc;
    if (c->args_len) {
        if (!c->since)
            f.since_ms = now - 24LL * 3600 * 1000;
        rc = store_history_top(data_dir, c->by ? c->by : "alertname", f.since_ms, f.limit, &out, err,
                               sizeof err);
    } else {
        rc = store_history(data_dir, &f, &out, err, sizeof err);
    }
    if (rc == 0)
        printf("%s\n", sb_str(&out));
    else
        fprintf(stderr, "herald: history: %s\n", err);
    sb_free(&out);
    free(data_dir);
    return rc ? EXIT_INVALID : 0;
}
