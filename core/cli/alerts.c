/* alerts: what is firing now, from the alert state, as a table by default
 * and the API's JSON with -o json. */
#include "cli/cli.h"

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
#include "util/json.h"

/* The labels that tell alerts of one name apart: all but alertname, as
 * "instance=10.0.0.1:9100 severity=critical". */
static void key_labels(const char *labels_json, strbuf *out)
{
    cJSON *labels = json_parse(labels_json, strlen(labels_json));
    const cJSON *label;
    cJSON_ArrayForEach(label, labels)
    {
        if (!cJSON_IsString(label) || strcmp(label->string, "alertname") == 0)
            continue;
        sb_printf(out, "%s%s=%s", out->len ? " " : "", label->string, label->valuestring);
    }
    cJSON_Delete(labels);
}

/* Since its start: until now for a firing alert, until it resolved for a
 * resolved one. */
static void format_lasting(const alert_state_row *a, int64_t now_ms, char *out, size_t cap)
{
    int64_t starts_ms = (int64_t)llround(a->starts_at * 1000);
    format_duration((a->resolved_ms ? a->resolved_ms : now_ms) - starts_ms, out, cap);
}

static void alerts_table(const alert_state_rows *rows, const tz_zone *zone, strbuf *out)
{
    static const table_column columns[] = {
        {"ALERTNAME", 32, 0}, {"LABELS", 60, 0},   {"STATUS", 0, 0},        {"SINCE", 0, 0},
        {"DURATION", 0, 1},   {"RECEIVERS", 40, 0}, {"LAST NOTIFIED", 0, 0},
        {"SILENCED BY", 0, 0}, {"ACKNOWLEDGED", 40, 0},
    };
    table t = TABLE_INIT(columns);
    int64_t now = wall_ms();
    for (size_t i = 0; i < rows->len; i++) {
        const alert_state_row *a = &rows->items[i];
        strbuf labels = STRBUF_INIT, receivers = STRBUF_INIT;
        key_labels(a->labels_json, &labels);
        int64_t last_ms = 0;
        for (size_t k = 0; k < a->receivers_len; k++) {
            sb_printf(&receivers, "%s%s", k ? "," : "", a->receivers[k].receiver);
            if (a->receivers[k].notified_ms > last_ms)
                last_ms = a->receivers[k].notified_ms;
        }
        char since[LOCAL_TIME_SIZE], lasting[DURATION_SIZE], last[LOCAL_TIME_SIZE] = "-",
            acked_at[LOCAL_TIME_SIZE];
        strbuf acked = STRBUF_INIT;
        if (a->acknowledged_by) {
            format_local_time(zone, a->acknowledged_ms, acked_at, sizeof acked_at);
            sb_printf(&acked, "%s at %s", a->acknowledged_by, acked_at);
        }
        format_local_time(zone, (int64_t)llround(a->starts_at * 1000), since, sizeof since);
        format_lasting(a, now, lasting, sizeof lasting);
        if (last_ms)
            format_local_time(zone, last_ms, last, sizeof last);
        table_add_row(&t, (const char *[]){a->alertname, sb_str(&labels), a->status, since,
                                           lasting, receivers.len ? sb_str(&receivers) : "-",
                                           last, a->silenced_by ? a->silenced_by : "-",
                                           acked.len ? sb_str(&acked) : "-"});
        sb_free(&acked);
        sb_free(&labels);
        sb_free(&receivers);
    }
    table_print(&t, out);
    table_free(&t);
}

/* alerts ack FINGERPRINT: what the API's POST .../ack does. */
static int acknowledge(const cli *c)
{
    const char *fingerprint = c->args[1];
    reading rd;
    if (reading_open(c, "alerts ack: ", &rd))
        return EXIT_INVALID;
    const char *by = c->author ? c->author : reading_unix_user();
    char err[512];
    strbuf out = STRBUF_INIT;
    int rc = store_acknowledge(rd.store, fingerprint, by, c->comment, wall_ms(), err, sizeof err);
    if (rc == ACK_UNKNOWN)
        snprintf(err, sizeof err, "no alert with fingerprint \"%s\" (herald alerts -o json lists them)",
                 fingerprint);
    else if (rc == ACK_NOT_FIRING)
        snprintf(err, sizeof err, "alert %s is not firing: it has resolved", fingerprint);
    else if (rc == ACK_ALREADY)
        snprintf(err, sizeof err, "alert %s is already acknowledged in this firing", fingerprint);
    else if (rc == ACK_DONE)
        sb_printf(&out, "acknowledged alert %s as %s\n", fingerprint, by);
    return reading_finish(&rd, c, rc ? -1 : 0, &out, "alerts ack: ", err);
}

int cmd_alerts(const cli *c)
{
    if (c->args_len)
        return acknowledge(c);
    query_args args = {.filter = c->filter, .receiver = c->receiver, .status = c->status,
                       .limit = c->limit};
    alert_filter f;
    char err[512];
    if (query_alerts(&args, QUERY_CLI, &f, err, sizeof err))
        return usage_error(c->command, "%s", err);
    reading rd;
    if (reading_open(c, "alerts: ", &rd)) {
        alert_filter_free(&f);
        return EXIT_INVALID;
    }
    strbuf out = STRBUF_INIT;
    alert_state_rows rows;
    int rc = store_alerts(rd.store, &f, wall_ms(), &rows, err, sizeof err);
    alert_filter_free(&f);
    if (rc == 0) {
        if (c->json)
            api_alerts_json(&rows, &out);
        else
            alerts_table(&rows, rd.zone, &out);
        alert_state_rows_free(&rows);
    }
    return reading_finish(&rd, c, rc, &out, "alerts: ", err);
}
