#include "store/sqlite/private.h"

#include <stdio.h>

#include "store/content.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strbuf.h"

void sqlite_sweep_retention(sqlite_store *s)
{
    if (s->settings.retention_ms <= 0)
        return;
    char why[256];
    long long cutoff = (long long)(wall_ms() - s->settings.retention_ms);
    strbuf sql = STRBUF_INIT;
    /* One transaction: a `herald queue retry` between the two deletes
     * would requeue a notification whose message is already gone. */
    sb_printf(&sql,
              "BEGIN IMMEDIATE;"
              "DELETE FROM history WHERE created_ms < %lld;"
              /* a day wholly before the cutoff: only rows just deleted
               * named its content (store/content.h) */
              "DELETE FROM alert_content WHERE day < %lld;"
              "DELETE FROM silences WHERE ends_ms < %lld;"
              "DELETE FROM attempts WHERE notification_id IN (SELECT id FROM deliveries"
              "  WHERE state IN ('delivered', 'dead', 'dropped') AND finished_ms < %lld);"
              "DELETE FROM messages WHERE id IN (SELECT id FROM deliveries"
              "  WHERE state IN ('delivered', 'dead', 'dropped') AND finished_ms < %lld);"
              "DELETE FROM deliveries WHERE state IN ('delivered', 'dead', 'dropped')"
              "  AND finished_ms < %lld;"
              "COMMIT;",
              cutoff, (long long)store_content_day(cutoff), cutoff, cutoff, cutoff, cutoff);
    if (sqlite_exec(s->db, sb_str(&sql), why, sizeof why)) {
        char ignored[64];
        sqlite_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "retention sweep failed: %s", why);
    }
    sqlite_content_forget(s);
    sb_free(&sql);
}

/* Sends and pauses matter for a rate window or a penalty: minutes. */
void sqlite_sweep_targets(sqlite_store *s)
{
    char why[256], sql[256];
    long long now = (long long)wall_ms();
    snprintf(sql, sizeof sql,
             "DELETE FROM target_sends WHERE sent_ms < %lld;"
             "DELETE FROM target_pauses WHERE until_ms < %lld;",
             now - TARGET_SENDS_KEPT_MS, now);
    if (sqlite_exec(s->db, sql, why, sizeof why))
        log_warn("store", "sweeping old target sends failed: %s", why);
}
