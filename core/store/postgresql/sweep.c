#include "store/postgresql/private.h"

#include "store/content.h"
#include "util/clock.h"
#include "util/log.h"

void pg_sweep_retention(pg_store *s)
{
    if (s->settings.retention_ms <= 0)
        return;
    char why[256];
    int64_t cutoff = wall_ms() - s->settings.retention_ms;
    pg_params p = PG_PARAMS_INIT, day = PG_PARAMS_INIT;
    pp_int(&p, cutoff);
    pp_int(&day, store_content_day(cutoff));
    /* One transaction: a `herald queue retry` between the deletes would
     * requeue a notification whose message is already gone. */
    int rc = pg_exec(s->db, "BEGIN", why, sizeof why) ||
             pg_command(s->db, "DELETE FROM history WHERE created_ms < $1::bigint", &p, why,
                        sizeof why) ||
             /* A day wholly before the cutoff: only rows now deleted
              * named its content (store/content.h). No lock against the
              * replicas' writers: the rows they store are of today, no
              * day before a cutoff's. */
             pg_command(s->db, "DELETE FROM alert_content WHERE day < $1::bigint", &day, why,
                        sizeof why) ||
             pg_command(s->db, "DELETE FROM silences WHERE ends_ms < $1::bigint", &p, why,
                        sizeof why) ||
             pg_command(s->db,
                        "WITH gone AS (DELETE FROM deliveries"
                        "  WHERE state IN ('delivered', 'dead', 'dropped')"
                        "  AND finished_ms < $1::bigint RETURNING id),"
                        " attempts_gone AS (DELETE FROM attempts"
                        "  WHERE notification_id IN (SELECT id FROM gone))"
                        " DELETE FROM messages WHERE id IN (SELECT id FROM gone)",
                        &p, why, sizeof why) ||
             pg_exec(s->db, "COMMIT", why, sizeof why);
    if (rc) {
        char ignored[64];
        pg_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "retention sweep failed: %s", why);
    }
}

/* Sends and pauses matter for a rate window or a penalty: minutes; an
 * operator's unpause is kept as long, for replicas that start meanwhile
 * (requests.c). */
void pg_sweep_targets(pg_store *s)
{
    char why[256];
    int64_t now = wall_ms();
    pg_params sent = PG_PARAMS_INIT, paused = PG_PARAMS_INIT;
    pp_int(&sent, now - TARGET_SENDS_KEPT_MS);
    pp_int(&paused, now);
    if (pg_command(s->db, "DELETE FROM target_sends WHERE sent_ms < $1::bigint", &sent, why,
                   sizeof why) ||
        pg_command(s->db, "DELETE FROM target_pauses WHERE until_ms < $1::bigint", &paused, why,
                   sizeof why) ||
        pg_command(s->db,
                   "DELETE FROM queue_requests WHERE action = 'unpause'"
                   " AND requested_ms < $1::bigint",
                   &sent, why, sizeof why))
        log_warn("store", "sweeping old target sends failed: %s", why);
}
