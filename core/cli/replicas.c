/* replicas: the heralds serving from the configured store, as their
 * heartbeats left them, as a table by default and the API's JSON with
 * -o json. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/reading.h"
#include "cli/table.h"
#include "cli/timefmt.h"
#include "http/api.h"
#include "util/clock.h"

static void replicas_table(const replica_rows *rows, const tz_zone *zone, strbuf *out)
{
    static const table_column columns[] = {
        {"ID", 48, 0},      {"VERSION", 0, 0}, {"CONFIG DIGEST", 0, 0},
        {"STARTED", 0, 0},  {"LAST HEARTBEAT", 0, 1}, {"STATE", 0, 0},
    };
    table t = TABLE_INIT(columns);
    int64_t now = wall_ms();
    for (size_t i = 0; i < rows->len; i++) {
        const replica_row *r = &rows->items[i];
        char started[LOCAL_TIME_SIZE], ago[DURATION_SIZE + 8];
        format_local_time(zone, r->started_ms, started, sizeof started);
        format_duration(now > r->heartbeat_ms ? now - r->heartbeat_ms : 0, ago, sizeof ago);
        snprintf(ago + strlen(ago), sizeof ago - strlen(ago), " ago");
        table_add_row(&t, (const char *[]){r->id, r->version, r->config_digest, started, ago,
                                           r->live ? "live" : "gone"});
    }
    table_print(&t, out);
    table_free(&t);
    if (replica_configs_differ(rows))
        sb_puts(out, "warning: the live replicas serve different configurations\n");
}

int cmd_replicas(const cli *c)
{
    reading rd;
    if (reading_open(c, "replicas: ", &rd))
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    replica_rows rows;
    char err[512];
    int rc = store_replicas(rd.store, &rows, err, sizeof err);
    if (rc == 0) {
        if (c->json)
            api_replicas_json(&rows, &out);
        else if (rows.len)
            replicas_table(&rows, rd.zone, &out);
        else
            sb_puts(&out, "no replica heartbeats in this store: a store in data_dir serves one "
                          "herald, which GET /api/v1/replicas shows\n");
        replica_rows_free(&rows);
    }
    return reading_finish(&rd, c, rc, &out, "replicas: ", err);
}
