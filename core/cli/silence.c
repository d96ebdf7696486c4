/* silence: add, list and expire silences in the configured store. A
 * running herald applies a change within a second (SILENCE_REFRESH_MS),
 * every replica on a shared store alike. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/reading.h"
#include "cli/table.h"
#include "cli/timefmt.h"
#include "http/api.h"
#include "util/clock.h"

static void silences_table(const silence_rows *rows, const tz_zone *zone, int64_t now_ms,
                           strbuf *out)
{
    static const table_column columns[] = {
        {"ID", 0, 0},      {"MATCHERS", 60, 0},   {"STATE", 0, 0}, {"STARTS", 0, 0},
        {"ENDS", 0, 0},    {"CREATED BY", 20, 0}, {"COMMENT", 40, 0},
    };
    table t = TABLE_INIT(columns);
    for (size_t i = 0; i < rows->len; i++) {
        const silence *s = &rows->items[i];
        char starts[LOCAL_TIME_SIZE], ends[LOCAL_TIME_SIZE];
        format_local_time(zone, s->starts_ms, starts, sizeof starts);
        format_local_time(zone, s->ends_ms, ends, sizeof ends);
        table_add_row(&t, (const char *[]){s->id, s->matchers,
                                           silence_active(s, now_ms) ? "active" : "expired",
                                           starts, ends, s->created_by,
                                           s->comment[0] ? s->comment : "-"});
    }
    table_print(&t, out);
    table_free(&t);
}

static int add(const cli *c, reading *rd, strbuf *out, char *err, size_t err_cap)
{
    silence s;
    int64_t now = wall_ms();
    if (silence_make(c->args[1], c->duration, c->until, c->author ? c->author : reading_unix_user(),
                     c->comment, now, &silence_cli_words, &s, err, err_cap))
        return -1;
    int rc = store_silence_add(rd->store, &s, err, err_cap);
    if (rc == 0 && c->json) {
        api_silence_json(&s, now, out);
    } else if (rc == 0) {
        char ends[LOCAL_TIME_SIZE];
        format_local_time(rd->zone, s.ends_ms, ends, sizeof ends);
        /* the id alone on the first line, for scripts: id=$(herald silence add … | head -1) */
        sb_printf(out, "%s\nsilenced %s until %s\n", s.id, s.matchers, ends);
    }
    silence_free(&s);
    return rc;
}

static int expire(const cli *c, reading *rd, strbuf *out, char *err, size_t err_cap)
{
    const char *id = c->args[1];
    int rc = store_silence_expire(rd->store, id, wall_ms(), err, err_cap);
    if (rc == 1)
        snprintf(err, err_cap, "no silence with id \"%s\" (herald silence list --all lists them)",
                 id);
    else if (rc == 2)
        snprintf(err, err_cap, "silence %s has already ended", id);
    else if (rc == 0)
        sb_printf(out, "expired silence %s\n", id);
    return rc ? -1 : 0;
}

int cmd_silence(const cli *c)
{
    const char *action = c->args[0];
    char prefix[32];
    snprintf(prefix, sizeof prefix, "silence %s: ", action);
    reading rd;
    if (reading_open(c, prefix, &rd))
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    char err[640];
    int rc;
    if (strcmp(action, "add") == 0) {
        rc = add(c, &rd, &out, err, sizeof err);
    } else if (strcmp(action, "expire") == 0) {
        rc = expire(c, &rd, &out, err, sizeof err);
    } else {
        silence_rows rows;
        int64_t now = wall_ms();
        rc = store_silences(rd.store, c->all, now, &rows, err, sizeof err);
        if (rc == 0) {
            if (c->json)
                api_silences_json(&rows, now, &out);
            else if (rows.len)
                silences_table(&rows, rd.zone, now, &out);
            else
                sb_puts(&out, c->all ? "no silences\n"
                                     : "no active silences (--all lists ended ones too)\n");
            silence_rows_free(&rows);
        }
    }
    return reading_finish(&rd, c, rc, &out, prefix, err);
}
