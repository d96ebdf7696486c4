"""The PostgreSQL store for one herald (README.md, "PostgreSQL store (one
herald)"): `store = { backend = "postgresql", dsn = env("HERALD_PG_DSN") }`.

The tests start their own PostgreSQL (the `postgres` fixture,
harness.Postgres) and give each herald a new database. Where the SQLite
store has a test of what herald answers, the same test runs here on
PostgreSQL: the answers must be the same."""

import json
import threading
import time

import pytest

import harness
import test_alert_state as alert_state
import test_queue_ops as queue_ops
import test_reliability as reliability


def console(tmp_path, name="console", **spec):
    return dict({"channel": "console", "path": str(tmp_path / ("%s.jsonl" % name))}, **spec)


def console_lines(tmp_path, name="console"):
    return harness.read_json_lines(tmp_path / ("%s.jsonl" % name))


def pg_config(postgres, tmp_path, dsn, name="herald"):
    """A Herald (not started) whose config puts the store at `dsn`."""
    h = harness.Herald(tmp_path / name, env={"HERALD_PG_DSN": dsn})
    h.write_config({"console": console(tmp_path)}, "console",
                   {"store": {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN")}})
    return h


def raw_output(h, result=None):
    """Everything herald printed, unredacted: its log and a command's."""
    text = harness._tail(h.log_path, limit=10 ** 7)
    if result is not None:
        text += result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    return text


# ----- delivery and reading back ---------------------------------------------
def test_accepts_and_delivers_to_the_console_and_reads_back(pg_herald_factory, postgres,
                                                            tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    reliability.post_ok(h, [reliability.alert("PgFirst", severity="page")])
    harness.wait_until(lambda: console_lines(tmp_path), timeout=10, message="the console line")
    [line] = console_lines(tmp_path)
    assert "PgFirst" in line["title"], line
    harness.wait_outbox_empty(h)

    def delivered():
        status, rows = harness.api_get(h, "history")
        return status == 200 and len(rows) == 1 and rows[0]["result"] == "delivered" and rows
    [row] = harness.wait_until(delivered, timeout=10, message="history says delivered")
    assert row["alertname"] == "PgFirst" and row["labels"]["severity"] == "page", row
    assert postgres.psql("SELECT state FROM deliveries", h.database) == "delivered"
    assert harness.api_get(h, "queue") == (200, [])
    status, alerts = harness.api_get(h, "alerts")
    assert status == 200 and [a["labels"]["alertname"] for a in alerts] == ["PgFirst"], alerts
    rc, out, err = harness.herald_cli(h, "history")
    assert rc == 0 and "PgFirst" in out, (rc, out, err)
    rc, out, err = harness.herald_cli(h, "alerts")
    assert rc == 0 and "PgFirst" in out, (rc, out, err)
    rc, out, err = harness.herald_cli(h, "queue", "list")
    assert rc == 0 and "(none)" in out, (rc, out, err)


# The SQLite store's own tests of what herald answers, on PostgreSQL.
def test_history_api_filters_top_and_cli(mock_dingtalk, pg_herald_factory):
    reliability.test_history_api_filters_top_and_cli(mock_dingtalk, pg_herald_factory)


def test_dead_letter_then_cli_retry_and_drop(mock_dingtalk, pg_herald_factory):
    reliability.test_wrong_secret_dead_letter_then_cli_retry_and_drop(mock_dingtalk,
                                                                      pg_herald_factory)


def test_alerts_api_and_cli_show_what_is_firing(pg_herald_factory, tmp_path):
    alert_state.test_alerts_api_and_cli_show_what_is_firing(pg_herald_factory, tmp_path)


def test_direct_alert_resolves_once_when_its_endsat_passes(pg_herald_factory, tmp_path):
    alert_state.test_direct_alert_resolves_once_when_its_endsat_passes(pg_herald_factory,
                                                                      tmp_path)


@pytest.mark.concurrency
def test_send_now_beats_a_130101_pause_and_show_lists_the_attempts(mock_dingtalk,
                                                                   pg_herald_factory):
    queue_ops.test_send_now_beats_a_130101_pause_and_show_lists_the_attempts(mock_dingtalk,
                                                                             pg_herald_factory)


def test_drop_of_a_waiting_message_never_delivers_it(mock_dingtalk, pg_herald_factory):
    queue_ops.test_drop_of_a_waiting_message_never_delivers_it(mock_dingtalk, pg_herald_factory)


@pytest.mark.concurrency
def test_a_drop_while_in_flight_stays_dropped_when_the_answer_comes(pg_herald_factory):
    queue_ops.test_a_drop_while_in_flight_stays_dropped_when_the_answer_comes(pg_herald_factory)


def test_unpause_resumes_a_paused_robot(mock_dingtalk, pg_herald_factory):
    queue_ops.test_unpause_resumes_a_paused_robot(mock_dingtalk, pg_herald_factory)


def test_what_does_not_exist_is_refused(mock_dingtalk, pg_herald_factory):
    queue_ops.test_what_does_not_exist_is_refused(mock_dingtalk, pg_herald_factory)


@pytest.mark.parametrize("window,messages,second_duplicates", [("1m", 1, 1), ("0s", 2, 0)])
def test_dedup_window(mock_dingtalk, pg_herald_factory, window, messages, second_duplicates):
    reliability.test_dedup_window(mock_dingtalk, pg_herald_factory, window, messages,
                                  second_duplicates)


def test_dedup_lets_a_flapping_alert_through(mock_dingtalk, pg_herald_factory):
    reliability.test_dedup_lets_a_flapping_alert_through(mock_dingtalk, pg_herald_factory)


def test_repeat_interval_holds_back_a_repeat(pg_herald_factory, tmp_path):
    """The same alert in the same state, posted again within the receiver's
    repeat_interval: stored and sent once."""
    h = pg_herald_factory({"oncall": console(tmp_path, "oncall", repeat_interval="4h"),
                           "console": console(tmp_path)}, "oncall")
    firing = reliability.alert("PgRepeat", fingerprint="%016x" % 0x5e)
    # one start for both posts: am_payload's default start is "now", which
    # a second post a second later would move
    firing["startsAt"] = harness.rfc3339(harness.now_seconds())
    assert reliability.post_ok(h, [firing])["notifications"] == 1
    assert reliability.post_ok(h, [firing])["notifications"] == 0
    harness.wait_until(lambda: console_lines(tmp_path, "oncall"), timeout=10,
                       message="the first one sent")
    # everything posted before it met its dispatch decision
    reliability.dispatched_so_far(h, tmp_path)
    assert len(console_lines(tmp_path, "oncall")) == 1
    rows = json.loads(harness.herald_cli(h, "history", "-o", "json")[1])
    assert [r["alertname"] for r in rows].count("PgRepeat") == 1, rows


def test_alert_state_reminder_after_the_repeat_interval(pg_herald_factory, tmp_path):
    alert_state.test_reminder_after_the_repeat_interval(pg_herald_factory, tmp_path)


def test_direct_path_sends_once_per_state_like_alertmanager(pg_herald_factory, tmp_path):
    alert_state.test_direct_path_sends_once_per_state_like_alertmanager(pg_herald_factory,
                                                                        tmp_path)


def test_same_alert_through_alertmanager_and_directly_is_sent_once(pg_herald_factory, tmp_path):
    alert_state.test_same_alert_through_alertmanager_and_directly_is_sent_once(
        pg_herald_factory, tmp_path)


def test_two_prometheus_replicas_are_one_alert(pg_herald_factory, tmp_path):
    alert_state.test_two_prometheus_replicas_are_one_alert(pg_herald_factory, tmp_path)


# ----- restarts ----------------------------------------------------------------
@pytest.mark.concurrency
def test_a_restart_resumes_undelivered_notifications(mock_dingtalk, pg_herald_factory):
    reliability.test_sigterm_keeps_queued_notifications_for_the_next_start(mock_dingtalk,
                                                                          pg_herald_factory)


def test_a_crash_keeps_the_rate_window(mock_dingtalk, pg_herald_factory, tmp_path):
    reliability.test_a_crash_keeps_the_rate_window(mock_dingtalk, pg_herald_factory, tmp_path)


@pytest.mark.concurrency
def test_a_database_outage_answers_503_and_recovers_without_a_restart(herald_factory, tmp_path):
    """The server stops: ingest answers 503 (Alertmanager retries), the
    loss is logged once; it comes back: herald connects again by itself
    and stores and delivers what is posted then."""
    server = harness.Postgres().start()
    try:
        database = server.create_database("herald_outage")
        h = herald_factory({"console": console(tmp_path)}, "console",
                           env={"HERALD_PG_DSN": server.dsn(database)},
                           extra={"store": {"backend": "postgresql",
                                            "dsn": harness.lua_env("HERALD_PG_DSN")}})
        reliability.post_ok(h, [reliability.alert("BeforeOutage")])
        harness.wait_until(lambda: len(console_lines(tmp_path)) == 1, timeout=10,
                           message="the first alert delivered")
        harness.wait_outbox_empty(h)

        server.stop_server()
        status, answer = reliability.post(h, [reliability.alert("DuringOutage")])
        assert status == 503, (status, answer)
        assert reliability.post(h, [reliability.alert("DuringOutage")])[0] == 503
        assert h.log().count("lost the connection to postgresql://127.0.0.1:%d/%s"
                             % (server.port, database)) == 1, h.log_tail()

        server.start_server()
        harness.wait_until(lambda: reliability.post(h, [reliability.alert("AfterOutage")])[0]
                           == 200, timeout=30, interval=0.5, message="ingest answers 200 again")
        harness.wait_until(lambda: any("AfterOutage" in line["title"]
                                       for line in console_lines(tmp_path)),
                           timeout=10, message="the alert posted after the outage delivered")
        assert "connected to postgresql://" in h.log(), h.log_tail()
        assert not any("DuringOutage" in line["title"] for line in console_lines(tmp_path))
        harness.wait_outbox_empty(h)
        h.stop()
    finally:
        server.stop()


# ----- the DSN is a secret ----------------------------------------------------
def test_the_password_never_shows(pg_herald_factory, postgres, tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    reliability.post_ok(h, [reliability.alert("PgSecret")])
    harness.wait_until(lambda: console_lines(tmp_path), timeout=10, message="the console line")
    check = h.command("check", "-c", h.config_path)
    assert check.returncode == 0, check.stderr
    assert postgres.PASSWORD not in raw_output(h, check)
    assert "postgresql://127.0.0.1:%d/%s" % (postgres.port, h.database) in raw_output(h), \
        "the log names the server and database"

    # a wrong password: a clear error, the password still hidden, in
    # every form a DSN may carry it
    wrong = "WrongPass-ab12cd34"
    for dsn in (postgres.dsn(h.database, password=wrong),
                postgres.uri(h.database, password=wrong),
                postgres.dsn(h.database, password="'%s'" % wrong)):
        bad = pg_config(postgres, tmp_path, dsn, name="wrong-%d" % len(dsn))
        for argv in (("check",), ("serve", "--listen", "127.0.0.1:%d" % harness.free_port()),
                     ("history",)):
            r = bad.command(argv[0], "-c", bad.config_path, *argv[1:], timeout=20)
            text = raw_output(bad, r)
            assert r.returncode != 0, (argv, text)
            assert "password authentication failed" in text, (argv, text)
            assert wrong not in text and postgres.PASSWORD not in text, (argv, text)
            assert harness.sanitizer_markers(text) == [], text

    # a DSN libpq cannot parse: its message would quote it
    bad = pg_config(postgres, tmp_path, "host=127.0.0.1 password=%s oops" % wrong, name="parse")
    r = bad.command("check", "-c", bad.config_path)
    text = raw_output(bad, r)
    assert r.returncode != 0 and "store.dsn: not a libpq connection string" in text, text
    assert wrong not in text, text
    assert harness.sanitizer_markers(text) == [], text


def test_a_missing_dsn_names_the_key_and_the_variable(tmp_path):
    h = harness.Herald(tmp_path / "h")
    h.write_config({"console": console(tmp_path)}, "console",
                   {"store": {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN")}})
    r = h.command("check", "-c", h.config_path)
    err = r.stderr.decode()
    assert r.returncode != 0 and "store.dsn: missing" in err and "HERALD_PG_DSN" in err, err
    h.write_config({"console": console(tmp_path)}, "console", {"store": {"backend": "mysql"}})
    r = h.command("check", "-c", h.config_path)
    err = r.stderr.decode()
    assert r.returncode != 0 and "store.backend: expected" in err, err


# ----- each alert's labels and annotations stored once a day --------------------
# alert_content_id (core/notification/notification.h) in SQL, as the store computes it
CONTENT_ID = ("(('x' || encode(substring(sha256(convert_to(labels::text, 'UTF8') || '\\x00'::bytea"
              " || convert_to(annotations::text, 'UTF8')) from 1 for 8), 'hex'))::bit(64)::bigint"
              " & 9223372036854775807)")


def history_rows(h, count):
    def rows():
        status, got = harness.api_get(h, "history")
        return status == 200 and len(got) == count and got
    return harness.wait_until(rows, timeout=10, message="%d history rows" % count)


DAY_MS = 86400 * 1000


def test_an_alert_posted_again_stores_its_labels_once(pg_herald_factory, postgres, tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    once = reliability.alert("PgOnce", severity="page")
    reliability.post_ok(h, [once])
    reliability.post_ok(h, [dict(once, status="resolved")])
    reliability.post_ok(h, [reliability.alert("PgOther")])
    rows = history_rows(h, 3)
    assert [r["labels"]["alertname"] for r in rows] == ["PgOther", "PgOnce", "PgOnce"], rows
    assert [r["annotations"]["summary"] for r in rows[1:]] == ["PgOnce is broken"] * 2, rows
    assert rows[1]["labels"]["severity"] == "page" and rows[1]["status"] == "resolved", rows
    assert postgres.psql("SELECT count(*) FROM alert_content", h.database) == "2"
    # the writer's id (C) is the SQL's of the same text
    assert postgres.psql("SELECT count(*) FROM alert_content WHERE id <> %s" % CONTENT_ID,
                         h.database) == "0"
    assert postgres.psql("SELECT count(*) FROM alert_content WHERE day <> %d"
                         % (int(time.time() * 1000) // DAY_MS), h.database) == "0"


def test_content_is_kept_by_day_and_swept_with_its_days(pg_herald_factory, postgres, tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console", extra={"retention": "1d"})
    alert = reliability.alert("PgDays")
    reliability.post_ok(h, [alert])
    history_rows(h, 1)
    # the row and its content as if stored three days ago
    postgres.psql("UPDATE history SET created_ms = created_ms - 3 * %d;"
                  "UPDATE alert_content SET day = day - 3" % DAY_MS, h.database)
    reliability.post_ok(h, [dict(alert, status="resolved")])
    rows = history_rows(h, 2)
    assert [r["labels"]["alertname"] for r in rows] == ["PgDays"] * 2, rows
    assert [r["annotations"]["summary"] for r in rows] == ["PgDays is broken"] * 2, rows
    assert postgres.psql("SELECT count(*), count(DISTINCT id) FROM alert_content",
                         h.database) == "2|1"
    # the retention sweep at start: the days before the cutoff's go, today's stays
    h.stop()
    h.start()
    rows = history_rows(h, 1)
    assert rows[0]["status"] == "resolved" and rows[0]["labels"]["alertname"] == "PgDays", rows
    assert postgres.psql("SELECT count(*), min(day) = (SELECT created_ms / %d FROM history)"
                         " FROM alert_content" % DAY_MS, h.database) == "1|t"


def test_history_stored_before_migration_8_keeps_its_labels(pg_herald_factory, postgres,
                                                            tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    h.stop()
    # the schema as migration 7 left it, and rows each with their own
    # labels, one of them the day before
    now = int(time.time() * 1000)
    row = ("INSERT INTO history(notification_id, fingerprint, alertname, instance, severity,"
           " status, starts_at, receiver, labels, annotations, created_ms, silenced_by)"
           " VALUES(0, 'f', 'Old', '%s', 'page', 'firing', 1.5, '%s',"
           " '{\"alertname\":\"Old\",\"instance\":\"%s\"}', '{\"summary\":\"%s\"}', %d, %s);")
    postgres.psql(
        "DROP VIEW history_results; DROP TABLE alert_content;"
        "ALTER TABLE history DROP COLUMN content_id, ADD COLUMN labels JSON NOT NULL,"
        " ADD COLUMN annotations JSON NOT NULL;"
        "CREATE VIEW history_results AS"
        "  SELECT h.*, CASE WHEN h.silenced_by IS NOT NULL THEN 'silenced'"
        "                 WHEN d.state IN ('delivered', 'dead', 'dropped') THEN d.state"
        "                 ELSE 'pending' END AS result"
        "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;"
        "DROP INDEX alert_state_firing_from_api;"
        "CREATE INDEX alert_state_by_end ON alert_state(status, source, ends_at);"
        "DELETE FROM schema_migrations WHERE version >= 8;"
        + row % ("h1", "ops", "h1", "one", now, "NULL")
        + row % ("h1", "wms", "h1", "one", now - DAY_MS, "NULL")
        + row % ("h2", "", "h2", "two", now, "'sil-1'"), h.database)
    h.start()
    rows = history_rows(h, 3)
    assert [(r["receiver"], r["labels"], r["annotations"]) for r in rows] == [
        ("", {"alertname": "Old", "instance": "h2"}, {"summary": "two"}),
        ("wms", {"alertname": "Old", "instance": "h1"}, {"summary": "one"}),
        ("ops", {"alertname": "Old", "instance": "h1"}, {"summary": "one"})], rows
    assert rows[0]["result"] == "silenced", rows
    assert postgres.psql("SELECT count(*) FROM alert_content", h.database) == "3"
    assert postgres.psql("SELECT count(*) FROM information_schema.columns WHERE"
                         " table_name = 'history' AND column_name = 'labels'", h.database) == "0"
    reliability.post_ok(h, [reliability.alert("PgAfter")])
    rows = history_rows(h, 4)
    assert rows[0]["labels"]["alertname"] == "PgAfter", rows
    assert postgres.psql("SELECT count(*) FROM alert_content WHERE id <> %s" % CONTENT_ID,
                         h.database) == "0"


def alert_state_indexes(h):
    return postgres_indexes(h, "alert_state")


def postgres_indexes(h, table):
    return h.postgres.psql("SELECT indexname || ': ' || indexdef FROM pg_indexes"
                           " WHERE tablename = '%s' AND indexname <> '%s_pkey'"
                           " ORDER BY indexname" % (table, table), h.database).splitlines()


def test_the_expiry_reads_a_partial_index_and_an_older_schema_moves_to_it(
        pg_herald_factory, postgres, tmp_path):
    """Migration 9: the index of every alert's state (status, source,
    ends_at) gives way to one of the firing alerts posted directly, all
    the expiry asks of; the expiry itself is test_direct_alert_resolves_*."""
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    h.postgres = postgres
    [index] = alert_state_indexes(h)
    assert index.startswith("alert_state_firing_from_api: ") and index.endswith(
        "(ends_at) WHERE ((status = 'firing'::text) AND (source = 'alerts'::text))"), index
    h.stop()
    # the schema as migration 8 left it, with a firing alert in it
    postgres.psql("DROP INDEX alert_state_firing_from_api;"
                  "CREATE INDEX alert_state_by_end ON alert_state(status, source, ends_at);"
                  "DELETE FROM schema_migrations WHERE version = 9;", h.database)
    h.start()
    [index] = alert_state_indexes(h)
    assert index.startswith("alert_state_firing_from_api: "), index
    assert postgres.psql("SELECT max(version) FROM schema_migrations", h.database) == "9"


# ----- check and migrations ------------------------------------------------------
def test_check_prints_the_server_and_schema_versions(postgres, tmp_path):
    database = postgres.create_database("herald_check")
    h = pg_config(postgres, tmp_path, postgres.dsn(database))
    server = postgres.psql("SHOW server_version")
    r = h.command("check", "-c", h.config_path)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "PostgreSQL %s" % server in out and "no schema yet" in out, out
    h.start()
    try:
        r = h.command("check", "-c", h.config_path)
        out = r.stdout.decode()
        assert r.returncode == 0, r.stderr
        latest = postgres.psql("SELECT max(version) FROM schema_migrations", database)
        assert int(latest) >= 3, latest  # 3: the replicas table
        assert "PostgreSQL %s, schema version %s of %s" % (server, latest, latest) in out, out
    finally:
        h.stop()
    assert h.problems() == [], h.log_tail()


def test_two_heralds_migrating_one_empty_database_at_once(postgres, tmp_path):
    """Both create and migrate the schema at the same moment: neither fails
    on the other's half-made schema, and both serve, as replicas."""
    database = postgres.create_database("herald_race")
    hs = [pg_config(postgres, tmp_path, postgres.dsn(database), name="race%d" % i)
          for i in range(2)]
    results = [None, None]

    def run(i):
        h = hs[i]
        h._spawn([str(harness.herald_binary()), "serve", "-c", str(h.config_path)],
                 harness.clean_env(h.env))
        try:
            h.wait_ready(h.base_url + "/-/ready", 20)
            results[i] = "ready"
        except harness.HarnessError as e:
            results[i] = str(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert results == ["ready", "ready"], results
        for h in hs:
            assert "migration" not in h.log() and "already exists" not in h.log(), h.log()
        # every migration applied once, in order
        versions = postgres.psql("SELECT version FROM schema_migrations ORDER BY version",
                                 database).split()
        assert versions == [str(v) for v in range(1, len(versions) + 1)], versions
        assert len(versions) >= 3, versions
    finally:
        for h in hs:
            h.stop()
    for h in hs:
        assert not any("Sanitizer" in p or "runtime error" in p for p in h.problems()), \
            h.log_tail()


def test_a_reader_before_the_first_serve_says_so(postgres, tmp_path):
    database = postgres.create_database("herald_empty")
    h = pg_config(postgres, tmp_path, postgres.dsn(database))
    rc, out, err = harness.herald_cli(h, "queue", "list")
    assert rc != 0 and "no store yet in this database" in err, (rc, out, err)
    # and it made nothing
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                         database) == "0"
