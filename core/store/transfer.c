#include "store/transfer.h"

#include <stdio.h>
#include <string.h>

#include "store/backend.h"
#include "util/dsn.h"
#include "util/error.h"

/* The columns both schemas have under these names. */
const store_table_def store_tables[STORE_TABLE_COUNT] = {
    [STORE_TABLE_MESSAGES] = {"messages", "notifications", 13,
                              {"id", "receiver", "status", "alert_count", "format", "title",
                               "text", "mentions", "payload", "group_key", "dedup_key",
                               "created_ms", "entries"}},
    [STORE_TABLE_DELIVERIES] = {"deliveries", "delivery states", 6,
                                {"id", "state", "attempts", "next_attempt_ms", "last_error",
                                 "finished_ms"}},
    [STORE_TABLE_HISTORY] = {"history", "history rows", 14,
                             {"id", "notification_id", "fingerprint", "alertname", "instance",
                              "severity", "status", "starts_at", "ends_at", "receiver", "labels",
                              "annotations", "created_ms", "silenced_by"}},
    [STORE_TABLE_ATTEMPTS] = {"attempts", "attempts", 6,
                              {"id", "notification_id", "at_ms", "outcome", "detail", "actor"}},
    [STORE_TABLE_ALERT_STATE] = {"alert_state", "alert states", 17,
                                 {"fingerprint", "alertname", "labels", "annotations", "status",
                                  "starts_at", "ends_at", "source", "first_seen_ms",
                                  "last_seen_ms", "resolved_ms", "expires_ms",
                                  "webhook_seen_ms", "silenced_by", "ack_by", "ack_ms",
                                  "ack_comment"}},
    [STORE_TABLE_ALERT_NOTIFIED] = {"alert_notified", "receivers told", 5,
                                    {"fingerprint", "receiver", "status", "starts_at",
                                     "notified_ms"}},
    [STORE_TABLE_TARGET_SENDS] = {"target_sends", "robot sends", 2, {"target", "sent_ms"}},
    [STORE_TABLE_TARGET_PAUSES] = {"target_pauses", "robot pauses", 2, {"target", "until_ms"}},
    [STORE_TABLE_SILENCES] = {"silences", "silences", 7,
                              {"id", "matchers", "starts_ms", "ends_ms", "created_by", "comment",
                               "created_ms"}},
    [STORE_TABLE_ESCALATIONS] = {"escalations", "escalations", 9,
                                 {"notification_id", "fingerprint", "starts_at", "receiver",
                                  "from_receiver", "due_ms", "state", "done_ms", "reason"}},
    [STORE_TABLE_ACTION_KEYS] = {"action_keys", "action link keys", 3,
                                 {"id", "secret", "created_ms"}},
    [STORE_TABLE_ACTION_USES] = {"action_uses", "action links used", 4,
                                 {"nonce", "used_by", "used_ms", "expires_ms"}},
};

/* The destination is opened at the first row (or after an empty
 * export): a source that is missing, or still served, is refused before
 * anything touches the database. */
typedef struct copying {
    const store_backend *to;
    const store_location *where;
    store_import *import;
    store_copy_counts *counts;
} copying;

/* deliveries' second column, in store_tables */
#define DELIVERY_STATE_COLUMN 1

static void count_state(store_copy_counts *c, const store_cell *state)
{
    const char *s = state->kind == STORE_CELL_TEXT ? state->bytes : "";
    if (strcmp(s, "pending") == 0)
        c->pending++;
    else if (strcmp(s, "requeued") == 0)
        c->requeued++;
    else if (strcmp(s, "dead") == 0)
        c->dead++;
    else if (strcmp(s, "dropped") == 0)
        c->dropped++;
    else if (strcmp(s, "delivered") == 0)
        c->delivered++;
}

static int copy_row(void *ctx, const store_row *row, char *err, size_t err_cap)
{
    copying *c = ctx;
    if (!c->import && !(c->import = c->to->import_begin(c->where, err, err_cap)))
        return -1;
    if (c->to->import_row(c->import, row, err, err_cap))
        return -1;
    c->counts->rows[row->table]++;
    if (row->table == STORE_TABLE_DELIVERIES)
        count_state(c->counts, &row->cells[DELIVERY_STATE_COLUMN]);
    return 0;
}

int store_copy(const store_location *from, const store_location *to, store_copy_counts *counts,
               char *err, size_t err_cap)
{
    memset(counts, 0, sizeof *counts);
    const store_backend *source = store_backend_for(from), *destination = store_backend_for(to);
    if (!source->export_rows || !destination->import_begin)
        return fail(err, err_cap, "copying from %s to %s is not supported",
                    from->dsn ? "PostgreSQL" : "SQLite", to->dsn ? "PostgreSQL" : "SQLite");
    copying c = {destination, to, NULL, counts};
    int rc = source->export_rows(from, copy_row, &c, err, err_cap);
    if (rc == 0 && !c.import && !(c.import = destination->import_begin(to, err, err_cap)))
        rc = -1;
    if (rc == 0)
        return destination->import_end(c.import, 1, err, err_cap);
    char ignored[64];
    if (c.import)
        destination->import_end(c.import, 0, ignored, sizeof ignored);
    memset(counts, 0, sizeof *counts);
    return -1;
}

void store_copy_summary(const store_copy_counts *c, strbuf *out)
{
    sb_printf(out,
              "%ld notifications (%ld pending, %ld requeued, %ld dead, %ld dropped, "
              "%ld delivered)",
              c->rows[STORE_TABLE_MESSAGES], c->pending, c->requeued, c->dead, c->dropped,
              c->delivered);
    for (int t = STORE_TABLE_HISTORY; t < STORE_TABLE_COUNT; t++)
        sb_printf(out, ", %ld %s", c->rows[t], store_tables[t].what);
}

void store_location_describe(const store_location *where, char *out, size_t cap)
{
    if (where->dsn)
        pg_dsn_describe(where->dsn, out, cap);
    else
        snprintf(out, cap, "%s", where->data_dir);
}
