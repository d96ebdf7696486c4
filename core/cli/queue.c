/* queue: the outbox and dead letters, read and changed while herald
 * serves or not. list and show print tables by default and the API's
 * JSON with -o json. */
#include "cli/cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/reading.h"
#include "cli/table.h"
#include "cli/timefmt.h"
#include "config/conf.h"
#include "http/api.h"
#include "store/query.h"
#include "util/clock.h"
#include "util/json.h"

/* "due", or "in 3m12s". */
static void format_next_attempt(int64_t next_ms, int64_t now_ms, char *out, size_t cap)
{
    char wait[DURATION_SIZE];
    if (next_ms <= now_ms) {
        snprintf(out, cap, "due");
        return;
    }
    format_duration(next_ms - now_ms, wait, sizeof wait);
    snprintf(out, cap, "in %s", wait);
}

static void queue_table(const queue_rows *rows, int dead, const tz_zone *zone, strbuf *out)
{
    static const table_column columns[] = {
        {"ID", 0, 1},       {"CREATED", 0, 0}, {"RECEIVER", 20, 0}, {"STATUS", 0, 0},
        {"ALERTS", 0, 1},   {"ATTEMPTS", 0, 1}, {"NEXT ATTEMPT", 0, 0}, {"TITLE", 40, 0},
        {"LAST ERROR", 60, 0},
    };
    static const table_column dead_columns[] = {
        {"ID", 0, 1},     {"CREATED", 0, 0},  {"RECEIVER", 20, 0}, {"STATUS", 0, 0},
        {"ALERTS", 0, 1}, {"ATTEMPTS", 0, 1}, {"GAVE UP", 0, 0},   {"TITLE", 40, 0},
        {"REASON", 60, 0},
    };
    table t = TABLE_INIT(columns);
    if (dead)
        t.columns = dead_columns;
    int64_t now = wall_ms();
    for (size_t i = 0; i < rows->len; i++) {
        const queue_row *row = &rows->items[i];
        char id[24], created[LOCAL_TIME_SIZE], alerts[24], attempts[24], when[LOCAL_TIME_SIZE];
        snprintf(id, sizeof id, "%llu", (unsigned long long)row->id);
        format_local_time(zone, row->created_ms, created, sizeof created);
        snprintf(alerts, sizeof alerts, "%lld", (long long)row->alert_count);
        snprintf(attempts, sizeof attempts, "%lld", (long long)row->attempts);
        if (dead)
            format_local_time(zone, row->finished_ms, when, sizeof when);
        else
            format_next_attempt(row->next_attempt_ms, now, when, sizeof when);
        table_add_row(&t, (const char *[]){id, created, row->receiver, row->status, alerts,
                                           attempts, when, row->title, row->last_error});
    }
    table_print(&t, out);
    if (rows->len == 0)
        sb_puts(out, "(none)\n");
    table_free(&t);
}

static int list(const reading *rd, int dead, int limit, int json, strbuf *out, char *err,
                size_t err_cap)
{
    queue_rows rows;
    if (store_list(rd->store, dead ? QUEUE_DEAD : QUEUE_PENDING, limit, &rows, err, err_cap))
        return -1;
    if (json)
        api_queue_json(&rows, out);
    else
        queue_table(&rows, dead, rd->zone, out);
    queue_rows_free(&rows);
    return 0;
}

/* {"a":"b","c":"d"} as Prometheus writes a label set: {a="b", c="d"}. */
static void labels_text(const char *labels_json, strbuf *out)
{
    cJSON *labels = json_parse(labels_json, strlen(labels_json));
    const cJSON *label;
    sb_putc(out, '{');
    cJSON_ArrayForEach(label, labels)
    {
        if (cJSON_IsString(label))
            sb_printf(out, "%s%s=\"%s\"", label == labels->child ? "" : ", ", label->string,
                      label->valuestring);
    }
    sb_putc(out, '}');
    cJSON_Delete(labels);
}

/* {"mobiles":[...],"user_ids":[...],"all":b} as "13800000000, @all"; "-"
 * for nobody. */
static void mentions_text(const char *mentions_json, strbuf *out)
{
    cJSON *mentions = json_parse(mentions_json, strlen(mentions_json));
    const char *const lists[] = {"mobiles", "user_ids"};
    size_t start = out->len;
    for (size_t i = 0; i < 2; i++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(mentions, lists[i]))
        {
            if (cJSON_IsString(item))
                sb_printf(out, "%s%s", out->len > start ? ", " : "", item->valuestring);
        }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mentions, "all")))
        sb_printf(out, "%s@all", out->len > start ? ", " : "");
    if (out->len == start)
        sb_putc(out, '-');
    cJSON_Delete(mentions);
}

/* What came of each attempt, oldest first, and who dropped it. */
static void attempts_table(const notification_detail *d, const tz_zone *zone, strbuf *out)
{
    static const table_column columns[] = {
        {"ATTEMPTED", 0, 0}, {"OUTCOME", 0, 0}, {"DETAIL", 80, 0}, {"BY", 30, 0}};
    table t = TABLE_INIT(columns);
    for (size_t i = 0; i < d->attempts_len; i++) {
        const attempt_row *a = &d->attempts[i];
        char at[LOCAL_TIME_SIZE];
        format_local_time(zone, a->at_ms, at, sizeof at);
        table_add_row(&t, (const char *[]){at, a->outcome, a->detail ? a->detail : "-",
                                           a->actor ? a->actor : "-"});
    }
    table_print(&t, out);
    if (d->attempts_len == 0)
        sb_puts(out, "(no attempt yet)\n");
    table_free(&t);
}

/* One notification as "key: value" lines, its text indented, what came
 * of its attempts and its alerts, as tables. */
static void notification_text(const notification_detail *d, const tz_zone *zone, strbuf *out)
{
    const queue_row *row = &d->summary;
    char created[LOCAL_TIME_SIZE], next[LOCAL_TIME_SIZE], finished[LOCAL_TIME_SIZE],
        age[DURATION_SIZE];
    format_local_time(zone, row->created_ms, created, sizeof created);
    format_local_time(zone, row->finished_ms ? 0 : row->next_attempt_ms, next, sizeof next);
    format_local_time(zone, row->finished_ms, finished, sizeof finished);
    format_duration(wall_ms() - row->created_ms, age, sizeof age);
    strbuf mentions = STRBUF_INIT;
    mentions_text(d->mentions_json ? d->mentions_json : "{}", &mentions);
    sb_printf(out,
              "id:            %llu\n"
           "receiver:      %s\n"
           "title:         %s\n"
           "status:        %s\n"
           "state:         %s\n"
           "alerts:        %lld\n"
           "mentions:      %s\n"
           "created:       %s (%s ago)\n"
           "attempts:      %lld\n"
           "next attempt:  %s\n"
           "finished:      %s\n"
           "last error:    %s\n"
           "text:\n",
           (unsigned long long)row->id, row->receiver, row->title ? row->title : "", row->status,
           row->state, (long long)row->alert_count, sb_str(&mentions), created, age,
           (long long)row->attempts, next, finished, row->last_error ? row->last_error : "-");
    sb_free(&mentions);
    for (const char *line = d->text ? d->text : ""; *line;) {
        size_t len = strcspn(line, "\n");
        sb_printf(out, "%s%.*s\n", len ? "    " : "", (int)len, line);
        line += len + (line[len] == '\n');
    }
    sb_putc(out, '\n');
    attempts_table(d, zone, out);
    static const table_column columns[] = {
        {"FINGERPRINT", 0, 0}, {"ALERTNAME", 40, 0}, {"STATUS", 0, 0}, {"LABELS", 100, 0}};
    table t = TABLE_INIT(columns);
    strbuf labels = STRBUF_INIT;
    for (size_t i = 0; i < d->alerts_len; i++) {
        const alert_row *a = &d->alerts[i];
        sb_reset(&labels);
        labels_text(a->labels_json ? a->labels_json : "{}", &labels);
        table_add_row(&t, (const char *[]){a->fingerprint, a->alertname, a->status,
                                           sb_str(&labels)});
    }
    sb_putc(out, '\n');
    table_print(&t, out);
    sb_free(&labels);
    table_free(&t);
}

static int show(const reading *rd, uint64_t id, int json, strbuf *out, char *err,
                size_t err_cap)
{
    notification_detail d;
    int rc = store_show(rd->store, id, &d, err, err_cap);
    if (rc)
        return rc;
    if (json)
        api_notification_json(&d, out);
    else
        notification_text(&d, rd->zone, out);
    notification_detail_free(&d);
    return 0;
}

/* Who drops a notification, as its attempts keep it. */
static void operator_name(char *out, size_t cap)
{
    const struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(out, cap, "%s (herald queue)", pw->pw_name);
    else
        snprintf(out, cap, "uid %ld (herald queue)", (long)geteuid());
}

/* retry, send-now or drop: the outcome, with "no such ..." in err for 1. */
static int change(const reading *rd, const char *action, unsigned long long id,
                  const char *reason, strbuf *out, char *err, size_t err_cap)
{
    int rc;
    const char *done, *missing;
    if (strcmp(action, "retry") == 0) {
        rc = store_requeue(rd->store, id, err, err_cap);
        done = "requeued; the running herald delivers it within a second (or at its next start)";
        missing = "dead letter";
    } else if (strcmp(action, "send-now") == 0) {
        rc = store_send_now(rd->store, id, err, err_cap);
        done = "the running herald attempts it within a second (or at its next start)";
        missing = "waiting notification";
    } else {
        char actor[256];
        operator_name(actor, sizeof actor);
        rc = store_drop_pending(rd->store, id, reason, actor, err, err_cap);
        done = "dropped; it will not be delivered";
        if (rc == 1) {
            rc = store_drop(rd->store, id, err, err_cap);
            done = "dead letter forgotten";
        }
        missing = "waiting notification or dead letter";
    }
    if (rc == 1)
        snprintf(err, err_cap, "%s %llu: no such %s", action, id, missing);
    else if (rc == 0)
        sb_printf(out, "%s %llu: %s\n", action, id, done);
    return rc;
}

static int unpause(const cli *c, const reading *rd, const char *receiver, strbuf *out,
                   char *err, size_t err_cap)
{
    char why[512];
    int rc = config_defines_receiver(c->config, receiver, why, sizeof why);
    if (rc == 0)
        rc = store_unpause(rd->store, receiver, why, sizeof why);
    if (rc)
        snprintf(err, err_cap, "unpause %s: %s", receiver, why);
    else
        sb_printf(out, "unpause %s: the running herald clears the pauses of its robots and "
                  "sends to them within a second (or at its next start)\n", receiver);
    return rc;
}

static const char *const id_actions[] = {"show", "retry", "send-now", "drop"};

int cmd_queue(const cli *c)
{
    int limit;
    char err[1024];
    if (query_queue(c->limit, QUERY_CLI, &limit, err, sizeof err))
        return usage_error(c->command, "%s", err);
    const char *action = c->args[0];
    int listing = strcmp(action, "list") == 0, unpausing = strcmp(action, "unpause") == 0;
    unsigned long long id = 0;
    if (!listing && !unpausing) {
        size_t known = 0;
        while (known < sizeof id_actions / sizeof *id_actions &&
               strcmp(action, id_actions[known]) != 0)
            known++;
        if (known == sizeof id_actions / sizeof *id_actions)
            return usage_error(c->command, "unknown action \"%s\"", action);
        char *end;
        id = strtoull(c->args[1], &end, 10);
        if (*end || end == c->args[1])
            return usage_error(c->command, "\"%s\" is not a notification id", c->args[1]);
    }
    if (c->reason && !c->reason[0])
        return usage_error(c->command, "%s", "--reason: give a reason, or leave the option out");
    reading rd;
    if (reading_open(c, "queue ", &rd))
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    int rc = listing     ? list(&rd, c->dead, limit, c->json, &out, err, sizeof err)
             : unpausing ? unpause(c, &rd, c->args[1], &out, err, sizeof err)
             : strcmp(action, "show") == 0
                 ? show(&rd, id, c->json, &out, err, sizeof err)
                 : change(&rd, action, id, c->reason, &out, err, sizeof err);
    if (rc == 1 && strcmp(action, "show") == 0)
        snprintf(err, sizeof err, "show %llu: no such notification", id);
    return reading_finish(&rd, c, rc, &out, "queue ", err);
}
