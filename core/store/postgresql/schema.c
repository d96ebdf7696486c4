/* The schema, made and migrated by herald itself. Each migration is a
 * version applied once, in order, and recorded in schema_migrations in
 * the same transaction; that transaction first takes an advisory lock,
 * so herald processes starting at once on an empty database wait for
 * each other, and the later ones find the work done. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <string.h>

#include "store/content.h"
#include "util/clock.h"
#include "util/error.h"

/* As in the SQLite store: a notification's content never changes once
 * stored, its delivery state changes on every attempt, so they live in
 * separate tables. JSON columns are `json`, which keeps the text as it
 * came (jsonb would reorder keys and respace it, and readers answer
 * what was posted); `labels->>'name'` reads them all the same.
 * Columns sorted or compared as byte strings (dedup keys, label values in
 * a TOP) use the "C" collation, as SQLite compares, whatever the
 * database's locale. deliveries.claimed_by and lease_until_ms are the
 * replica holding a pending notification and until when (claims.c). */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE messages ("
    "  id BIGSERIAL PRIMARY KEY," /* never reused */
    "  receiver TEXT NOT NULL, status TEXT NOT NULL, alert_count BIGINT NOT NULL,"
    "  format INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,"
    "  mentions TEXT NOT NULL, payload BYTEA, group_key TEXT NOT NULL,"
    "  dedup_key TEXT COLLATE \"C\" NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE INDEX messages_by_dedup ON messages(dedup_key, created_ms);"
    "CREATE TABLE deliveries ("
    "  id BIGINT PRIMARY KEY," /* the message's id */
    "  state TEXT NOT NULL,"   /* pending | requeued | delivered | dead | dropped */
    "  attempts BIGINT NOT NULL DEFAULT 0, next_attempt_ms BIGINT NOT NULL,"
    "  last_error TEXT, finished_ms BIGINT,"
    "  claimed_by TEXT, lease_until_ms BIGINT);"
    "CREATE INDEX deliveries_by_state ON deliveries(state);"
    "CREATE VIEW notifications AS"
    "  SELECT m.id, m.receiver, m.status, m.alert_count, m.format, m.title, m.text, m.mentions,"
    "         m.payload, m.group_key, m.dedup_key, m.created_ms, d.state, d.attempts,"
    "         d.next_attempt_ms, d.last_error, d.finished_ms"
    "  FROM messages m JOIN deliveries d ON d.id = m.id;"
    "CREATE TABLE history ("
    "  id BIGSERIAL PRIMARY KEY, notification_id BIGINT NOT NULL,"
    "  fingerprint TEXT NOT NULL, alertname TEXT NOT NULL, instance TEXT NOT NULL,"
    "  severity TEXT NOT NULL, status TEXT NOT NULL, starts_at DOUBLE PRECISION,"
    "  ends_at DOUBLE PRECISION, receiver TEXT NOT NULL, labels JSON NOT NULL,"
    "  annotations JSON NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE INDEX history_by_time ON history(created_ms);"
    "CREATE INDEX history_by_notification ON history(notification_id);"
    "CREATE TABLE target_sends (target TEXT NOT NULL, sent_ms BIGINT NOT NULL);"
    "CREATE INDEX target_sends_by_time ON target_sends(sent_ms);"
    "CREATE TABLE target_pauses (target TEXT PRIMARY KEY, until_ms BIGINT NOT NULL);"
    "CREATE TABLE alert_state ("
    "  fingerprint TEXT COLLATE \"C\" PRIMARY KEY, alertname TEXT NOT NULL,"
    "  labels JSON NOT NULL, annotations JSON NOT NULL, status TEXT NOT NULL,"
    "  starts_at DOUBLE PRECISION, ends_at DOUBLE PRECISION, source TEXT NOT NULL,"
    "  first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL,"
    "  resolved_ms BIGINT, expires_ms BIGINT, webhook_seen_ms BIGINT);"
    "CREATE INDEX alert_state_by_end ON alert_state(status, source, ends_at);"
    "CREATE TABLE alert_notified ("
    "  fingerprint TEXT COLLATE \"C\" NOT NULL, receiver TEXT COLLATE \"C\" NOT NULL,"
    "  status TEXT NOT NULL, starts_at DOUBLE PRECISION, notified_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (fingerprint, receiver));"
    "CREATE VIEW history_results AS"
    "  SELECT h.*, CASE d.state WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead'"
    "                 WHEN 'dropped' THEN 'dropped' ELSE 'pending' END AS result"
    "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;"
    /* each attempt's outcome, and an operator's drop */
    "CREATE TABLE attempts ("
    "  id BIGSERIAL PRIMARY KEY, notification_id BIGINT NOT NULL, at_ms BIGINT NOT NULL,"
    "  outcome TEXT NOT NULL," /* delivered | retry | dead | dropped */
    "  detail TEXT, actor TEXT);"
    "CREATE INDEX attempts_by_notification ON attempts(notification_id);"
    /* what operators asked of the running daemon, taken by its writer */
    "CREATE TABLE queue_requests ("
    "  id BIGSERIAL PRIMARY KEY, action TEXT NOT NULL, notification_id BIGINT,"
    "  receiver TEXT, requested_ms BIGINT NOT NULL);",
    /* 2: what replicas claim every second, and renew */
    "CREATE INDEX deliveries_claimable ON deliveries(id, lease_until_ms)"
    "  WHERE state IN ('pending', 'requeued');"
    "CREATE INDEX deliveries_by_claim ON deliveries(claimed_by) WHERE state = 'pending';",
    /* 3: the replicas serving from this database, each writing its
     * heartbeat (times from the database's clock, which all share) */
    "CREATE TABLE replicas ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY, version TEXT NOT NULL,"
    "  config_digest TEXT NOT NULL, started_ms BIGINT NOT NULL, heartbeat_ms BIGINT NOT NULL);",
    /* 4: the alerts as a storm's digest names them (notification/rendered.h) */
    "ALTER TABLE messages ADD COLUMN entries TEXT;",
    /* 5: silences (alert/silence.h), shared by every replica; a silenced
     * alert's history row (no notification, receiver '') and its state
     * name the silence. The view is made again: h.* was expanded when it
     * was made. */
    "CREATE TABLE silences ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY, matchers TEXT NOT NULL, starts_ms BIGINT NOT NULL,"
    "  ends_ms BIGINT NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,"
    "  created_ms BIGINT NOT NULL);"
    "CREATE INDEX silences_by_end ON silences(ends_ms);"
    "ALTER TABLE history ADD COLUMN silenced_by TEXT;"
    "ALTER TABLE alert_state ADD COLUMN silenced_by TEXT;"
    "DROP VIEW history_results;"
    "CREATE VIEW history_results AS"
    "  SELECT h.*, CASE WHEN h.silenced_by IS NOT NULL THEN 'silenced'"
    "                 WHEN d.state IN ('delivered', 'dead', 'dropped') THEN d.state"
    "                 ELSE 'pending' END AS result"
    "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;",
    /* 6: acknowledgements (store_acknowledge): who acknowledged an
     * alert's firing, cleared as it resolves; escalations
     * (pipeline/escalate.h), as in the SQLite store (its schema.c) */
    "ALTER TABLE alert_state ADD COLUMN ack_by TEXT;"
    "ALTER TABLE alert_state ADD COLUMN ack_ms BIGINT;"
    "ALTER TABLE alert_state ADD COLUMN ack_comment TEXT;"
    "CREATE TABLE escalations ("
    "  notification_id BIGINT PRIMARY KEY, fingerprint TEXT COLLATE \"C\" NOT NULL,"
    "  starts_at DOUBLE PRECISION NOT NULL, receiver TEXT COLLATE \"C\" NOT NULL,"
    "  from_receiver TEXT NOT NULL, due_ms BIGINT NOT NULL,"
    "  state TEXT NOT NULL," /* waiting | sent | cancelled */
    "  done_ms BIGINT, reason TEXT);"
    "CREATE INDEX escalations_by_due ON escalations(state, due_ms);"
    "CREATE INDEX escalations_by_alert ON escalations(fingerprint, receiver);",
    /* 7: action links (action/token.h): the keys that sign them, shared by
     * every replica (hex, newest signs), and the links used, kept until
     * they expire */
    "CREATE TABLE action_keys ("
    "  id BIGINT PRIMARY KEY, secret TEXT NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE TABLE action_uses ("
    "  nonce TEXT COLLATE \"C\" PRIMARY KEY, used_by TEXT NOT NULL, used_ms BIGINT NOT NULL,"
    "  expires_ms BIGINT NOT NULL);",
    /* 8: each alert's labels and annotations once a day
     * (store/content.h), named by every history row of the day; the
     * rows' own move there, and the view reads them there */
    "CREATE TABLE alert_content ("
    "  day BIGINT NOT NULL, id BIGINT NOT NULL, labels JSON NOT NULL,"
    "  annotations JSON NOT NULL, PRIMARY KEY (day, id));"
    "ALTER TABLE history ADD COLUMN content_id BIGINT;"
    "UPDATE history SET content_id = " PG_CONTENT_ID("labels", "annotations") ";"
    "INSERT INTO alert_content(day, id, labels, annotations)"
    "  SELECT DISTINCT ON (" STORE_CONTENT_DAY_SQL("created_ms") ", content_id)"
    "    " STORE_CONTENT_DAY_SQL("created_ms") ", content_id, labels, annotations"
    "  FROM history;"
    "DROP VIEW history_results;"
    "ALTER TABLE history DROP COLUMN labels, DROP COLUMN annotations,"
    "  ALTER COLUMN content_id SET NOT NULL;"
    "CREATE VIEW history_results AS"
    "  SELECT h.*, c.labels, c.annotations,"
    "         CASE WHEN h.silenced_by IS NOT NULL THEN 'silenced'"
    "              WHEN d.state IN ('delivered', 'dead', 'dropped') THEN d.state"
    "              ELSE 'pending' END AS result"
    "  FROM history h JOIN alert_content c"
    "    ON c.day = " STORE_CONTENT_DAY_SQL("h.created_ms") " AND c.id = h.content_id"
    "  LEFT JOIN deliveries d ON d.id = h.notification_id;",
    /* 9: the expiry's question (alerts.c) is firing alerts posted to
     * /api/v2/alerts; an index of those alone is all it reads, and an
     * upsert that changes an alert's status or source no longer moves an
     * entry of every other alert's index (as the SQLite store's schema.c) */
    "DROP INDEX IF EXISTS alert_state_by_end;"
    "CREATE INDEX alert_state_firing_from_api ON alert_state(ends_at)"
    "  WHERE status = 'firing' AND source = 'alerts';",
};

#define MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int pg_schema_latest(void)
{
    return MIGRATIONS;
}

static int current_version(PGconn *db, char *why, size_t why_cap)
{
    PGresult *r = pg_run(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL);
    if (!pg_ok(r)) {
        if (strcmp(pg_sqlstate(r), "42P01") == 0) { /* undefined_table: none made yet */
            PQclear(r);
            return 0;
        }
        return pg_failed(db, r, why, why_cap);
    }
    int version = (int)pg_int(r, 0, 0);
    PQclear(r);
    return version;
}

int pg_schema_version(PGconn *db, char *why, size_t why_cap)
{
    return current_version(db, why, why_cap);
}

static int migrate_locked(PGconn *db, char *why, size_t why_cap)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", PG_LOCK_MIGRATE);
    if (pg_exec(db, sql, why, why_cap) ||
        pg_exec(db,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
                why, why_cap))
        return -1;
    int version = current_version(db, why, why_cap);
    if (version < 0)
        return -1;
    if (version > MIGRATIONS)
        return fail(why, why_cap, "the database's schema is version %d, newer than this herald "
                                  "knows (%d): run a newer herald",
                    version, MIGRATIONS);
    for (int v = version + 1; v <= MIGRATIONS; v++) {
        pg_params p = PG_PARAMS_INIT;
        pp_int(&p, v);
        pp_int(&p, wall_ms());
        char failed[256];
        if (pg_exec(db, migrations[v - 1], failed, sizeof failed))
            return fail(why, why_cap, "schema migration %d failed: %s", v, failed);
        if (pg_command(db, "INSERT INTO schema_migrations(version, applied_ms) VALUES($1, $2)",
                       &p, why, why_cap))
            return -1;
    }
    return 0;
}

int pg_migrate(PGconn *db, char *why, size_t why_cap)
{
    if (pg_exec(db, "BEGIN", why, why_cap))
        return -1;
    if (migrate_locked(db, why, why_cap)) {
        char ignored[64];
        pg_exec(db, "ROLLBACK", ignored, sizeof ignored);
        return -1;
    }
    return pg_exec(db, "COMMIT", why, why_cap);
}
