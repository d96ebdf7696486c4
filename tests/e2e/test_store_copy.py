"""herald store copy (README.md, "Moving from SQLite to PostgreSQL"): a
stopped herald's SQLite store into an empty PostgreSQL database, in one
transaction, so that a herald started on PostgreSQL with the same
receivers goes on where the SQLite one stopped:

  1. pending notifications (their robot's 130101 pause kept, another's
     connection refused) are delivered once their receivers answer; the
     dead letter is listed with its reason and can be retried; history,
     history top, alerts and the queue answer the same as before; new
     notifications get new ids;
  2. refused, copying nothing, with a clear message: a source herald still
     serving, a destination already holding notifications, a failure half
     way (rolled back), a DSN that does not connect or parse (never shown),
     a data_dir that does not exist or has no store.

Every wait polls an observable event (the mock, the API, the store)."""

import json
import re
import sqlite3
import zlib

import harness
import test_reliability as reliability
from harness import DT_SECRET, T1

T3, T3_SECRET = "T3", "SECe2etestsecretT3copy0f4c1d92b7aa"
T4, T4_SECRET = "T4", "SECe2etestsecretT4copy0f4c1d92b7bb"
WRONG_SECRET = "SECwrongwrongwrong0123456789abcd"
EXTRA = {"delivery": {"retry_initial": "1h", "retry_max_delay": "1h"}, "shutdown_timeout": "2s"}


def robot(url, secret_env):
    return {"channel": "dingtalk", "url": url, "secret": harness.lua_env(secret_env),
            "template": "dingtalk"}


def receivers(mock, tmp_path, hook_url):
    return {"ops": robot(mock.url(T1), "DT_SECRET"),
            "hook": robot(hook_url, "T4_SECRET"),
            "bad": robot(mock.url(T3), "T3_SECRET"),
            "console": reliability.console(tmp_path)}


def post(h, name, receiver, status="firing"):
    alert = reliability.alert(name, fingerprint="%016x" % zlib.crc32(name.encode()),
                              status=status)
    reliability.post_ok(h, [alert], path="/webhook/" + receiver)


def queue_row(h, name):
    status, rows = harness.api_get(h, "queue")
    assert status == 200, rows
    return next((r for r in rows if name in r["title"]), None)


def cli_json(h, *argv):
    rc, out, err = harness.herald_cli(h, *argv, "-o", "json")
    assert rc == 0, (argv, rc, out, err)
    return json.loads(out)


def answers(h):
    """What the reading commands say of the store, from the store alone."""
    return {"queue": cli_json(h, "queue", "list"),
            "dead": cli_json(h, "queue", "list", "--dead"),
            "history": cli_json(h, "history"),
            "top": cli_json(h, "history", "top"),
            "alerts": cli_json(h, "alerts")}


def sqlite_ids(data_dir):
    db = sqlite3.connect("file:%s/herald.db?mode=ro" % data_dir, uri=True)
    try:
        return [i for (i,) in db.execute("SELECT id FROM messages ORDER BY id")]
    finally:
        db.close()


def copy(h, *argv):
    r = h.command("store", "copy", *argv)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def filled_sqlite_herald(herald_factory, mock, tmp_path):
    """A SQLite herald with two notifications behind a robot's 130101
    pause, one retrying (connection refused), a dead letter, delivered
    ones and a resolved alert; stopped. Returns it and its data_dir."""
    mock.add_signed(T3, T3_SECRET)
    data_dir = tmp_path / "sqlite-data"
    refused = "http://127.0.0.1:%d/robot/send?access_token=%s" % (harness.free_port(), T4)
    h = herald_factory(receivers(mock, tmp_path, refused), "console",
                       env={"DT_SECRET": DT_SECRET, "T3_SECRET": WRONG_SECRET,
                            "T4_SECRET": T4_SECRET},
                       extra=dict(EXTRA, data_dir=str(data_dir)))
    h.secrets.append(WRONG_SECRET)
    mock.fail_next(T1, 1, 130101)
    post(h, "CopyPaused1", "ops")
    harness.wait_until(lambda: (queue_row(h, "CopyPaused1") or {}).get("attempts") == 1,
                       timeout=15, message="CopyPaused1 waiting after a 130101")
    post(h, "CopyPaused2", "ops")
    post(h, "CopyRefused", "hook")
    harness.wait_until(lambda: (queue_row(h, "CopyRefused") or {}).get("attempts") == 1,
                       timeout=15, message="CopyRefused waiting after a refused connection")
    post(h, "CopyDead", "bad")
    harness.wait_until(lambda: harness.api_get(h, "deadletters")[1], timeout=15,
                       message="CopyDead a dead letter")
    post(h, "CopyResolved", "console")
    post(h, "CopyResolved", "console", status="resolved")
    reliability.dispatched_so_far(h, tmp_path)
    h.stop()
    return h, data_dir


def test_a_copied_store_goes_on_on_postgresql(mock_dingtalk, herald_factory, pg_herald_factory,
                                              postgres, tmp_path):
    mock_dingtalk.add_signed(T4, T4_SECRET)
    sqlite, data_dir = filled_sqlite_herald(herald_factory, mock_dingtalk, tmp_path)
    before = answers(sqlite)
    assert len(before["queue"]) == 3 and len(before["dead"]) == 1, before
    copied_ids = sqlite_ids(data_dir)
    rc, out, err = harness.herald_cli(sqlite, "silence", "add", 'alertname="CopySilenced"',
                                      "--duration", "1h", "--author", "ops")
    assert rc == 0, (out, err)
    silence_id = out.splitlines()[0]

    pg = pg_herald_factory(receivers(mock_dingtalk, tmp_path, mock_dingtalk.url(T4)), "console",
                           env={"DT_SECRET": DT_SECRET, "T3_SECRET": T3_SECRET,
                                "T4_SECRET": T4_SECRET},
                           extra=EXTRA, start=False)
    rc, out, err = copy(pg, "--from", data_dir, "--to-env", "HERALD_PG_DSN")
    assert rc == 0, (out, err)
    assert harness.Postgres.PASSWORD not in out + err
    assert re.search(r"copied %s into postgresql://127\.0\.0\.1:%d/%s: 7 notifications \(3 "
                     r"pending, 0 requeued, 1 dead, 0 dropped, 3 delivered\), 7 history rows, "
                     r"6 attempts, 6 alert states, 6 receivers told, 3 robot sends, "
                     r"1 robot pauses, 1 silences, 0 escalations, 0 action link keys, 0 action links used$"
                     % (re.escape(str(data_dir)), postgres.port, pg.database),
                     out.strip()), out
    # what the reading commands answer, before anything runs on PostgreSQL
    assert answers(pg) == before
    silences = cli_json(pg, "silence", "list")
    assert [(s["id"], s["createdBy"]) for s in silences] == [(silence_id, "ops")], silences

    pg.start()
    assert re.search(r"1 target paused by their service", pg.log()), pg.log_tail()
    mock_dingtalk.wait_for(lambda m: m.accepted(T4), timeout=15)
    assert "CopyRefused" in harness.message_text(mock_dingtalk.messages(T4)[0])
    # the robot's pause holds: nothing goes to it until it is unpaused
    reliability.dispatched_so_far(pg, tmp_path)
    assert mock_dingtalk.accepted(T1) == []
    assert [r["id"] for r in harness.api_get(pg, "queue")[1]] == \
        [r["id"] for r in before["queue"] if "CopyRefused" not in r["title"]]

    status, dead = harness.api_get(pg, "deadletters")
    assert status == 200 and [(d["id"], d["last_error"]) for d in dead] == \
        [(d["id"], d["last_error"]) for d in before["dead"]], dead
    assert "sign not match" in dead[0]["last_error"], dead
    rc, out, err = harness.herald_cli(pg, "queue", "retry", str(dead[0]["id"]))
    assert rc == 0, (out, err)
    mock_dingtalk.wait_for(lambda m: m.accepted(T3), timeout=15)
    assert "CopyDead" in harness.message_text(mock_dingtalk.messages(T3)[0])

    rc, out, err = harness.herald_cli(pg, "queue", "unpause", "ops")
    assert rc == 0, (out, err)
    mock_dingtalk.wait_for(lambda m: len(m.accepted(T1)) == 2, timeout=15)
    assert sorted(reliability.names_in(mock_dingtalk, r"CopyPaused\d", T1)) == \
        ["CopyPaused1", "CopyPaused2"]

    # new notifications take ids after the copied ones
    post(pg, "AfterCopy", "console")
    harness.wait_outbox_empty(pg)
    history = cli_json(pg, "history")
    assert {r["result"] for r in history} == {"delivered"}, history
    ids = [int(i) for i in postgres.psql("SELECT id FROM messages ORDER BY id",
                                         pg.database).split()]
    assert ids[:len(copied_ids)] == copied_ids and len(ids) == len(copied_ids) + 2, ids
    # the 130101 and the wrong secret, both before the copy
    assert len(mock_dingtalk.rejected()) == 2, reliability.rejections(mock_dingtalk)


def one_notification_store(herald_factory, tmp_path, name="CopyOne"):
    """A SQLite herald that delivered one alert to the console, running."""
    h = herald_factory({"console": reliability.console(tmp_path)}, "console",
                       extra={"data_dir": str(tmp_path / ("data-" + name))})
    post(h, name, "console")
    harness.wait_until(lambda: harness.read_json_lines(tmp_path / "console.jsonl"), timeout=10,
                       message="%s delivered" % name)
    harness.wait_outbox_empty(h)
    return h, tmp_path / ("data-" + name)


def count(postgres, database, table):
    return int(postgres.psql("SELECT count(*) FROM %s" % table, database))


def copied_labels(postgres, database, source="history_results"):
    return postgres.psql("SELECT labels->>'alertname', annotations->>'summary'"
                         " FROM %s" % source, database)


def test_history_and_state_keep_their_labels_from_a_store_of_either_schema(herald_factory,
                                                                           postgres, tmp_path):
    """A store whose labels and annotations are stored once a day
    (alert_content) and one made before, each history row and alert
    state with its own: the copy's rows read back with theirs, the
    history's stored once a day."""
    h, data_dir = one_notification_store(herald_factory, tmp_path, name="CopyLabels")
    h.stop()
    db = sqlite3.connect(str(data_dir / "herald.db"))
    try:
        # the same alert the day before, stored under that day
        db.executescript(
            "CREATE TEMP TABLE earlier AS SELECT * FROM history;"
            "UPDATE earlier SET id = id + 1000, created_ms = created_ms - 86400000;"
            "INSERT INTO history SELECT * FROM earlier;"
            "INSERT INTO alert_content SELECT day - 1, id, labels, annotations"
            "  FROM alert_content;")
    finally:
        db.close()
    database = postgres.create_database("copy_labels")
    rc, out, err = copy(h, "--from", data_dir, "--to", postgres.dsn(database))
    assert rc == 0 and "2 history rows" in out, (out, err)
    assert copied_labels(postgres, database) == "\n".join(["CopyLabels|CopyLabels is broken"] * 2)
    assert copied_labels(postgres, database, "alert_state") == "CopyLabels|CopyLabels is broken"
    assert postgres.psql("SELECT count(*), count(DISTINCT id) FROM alert_content",
                         database) == "2|1"

    db = sqlite3.connect(str(data_dir / "herald.db"))
    try:
        db.executescript(
            "ALTER TABLE alert_state ADD COLUMN labels TEXT;"
            "ALTER TABLE alert_state ADD COLUMN annotations TEXT;"
            "UPDATE alert_state SET (labels, annotations) = (SELECT labels, annotations"
            "  FROM alert_content WHERE day = last_seen_ms / 86400000 AND id = content_id);"
            "DROP VIEW alert_state_labelled;"
            "ALTER TABLE alert_state DROP COLUMN content_id;"
            "ALTER TABLE history ADD COLUMN labels TEXT;"
            "ALTER TABLE history ADD COLUMN annotations TEXT;"
            "UPDATE history SET (labels, annotations) = (SELECT labels, annotations"
            "  FROM alert_content WHERE day = created_ms / 86400000 AND id = content_id);"
            "DROP VIEW history_results;"
            "ALTER TABLE history DROP COLUMN content_id; DROP TABLE alert_content;"
            "CREATE VIEW history_results AS"
            "  SELECT h.*, CASE WHEN h.silenced_by IS NOT NULL THEN 'silenced'"
            "                 WHEN d.state IN ('delivered', 'dead', 'dropped') THEN d.state"
            "                 ELSE 'pending' END AS result"
            "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;")
    finally:
        db.close()
    older = postgres.create_database("copy_labels_older")
    rc, out, err = copy(h, "--from", data_dir, "--to", postgres.dsn(older))
    assert rc == 0 and "2 history rows" in out, (out, err)
    assert copied_labels(postgres, older) == "\n".join(["CopyLabels|CopyLabels is broken"] * 2)
    assert copied_labels(postgres, older, "alert_state") == "CopyLabels|CopyLabels is broken"
    assert postgres.psql("SELECT count(*), count(DISTINCT id) FROM alert_content",
                         older) == "2|1"


def test_a_running_source_or_a_non_empty_destination_is_refused(herald_factory, postgres,
                                                                 tmp_path):
    h, data_dir = one_notification_store(herald_factory, tmp_path)
    database = postgres.create_database("copy_refusals")
    h.env["TO"] = postgres.dsn(database)
    rc, out, err = copy(h, "--from", data_dir, "--to-env", "TO")
    assert rc == 1 and out == "", (out, err)
    assert "herald store copy: --from: data_dir: %s is in use by another herald serve (pid %d):" \
        " stop it before copying its store" % (data_dir, h.proc.pid) in err, err
    assert err.rstrip().endswith("nothing was copied"), err
    # refused before the database was touched
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                         database) == "0"

    h.stop()
    rc, out, err = copy(h, "--from", data_dir, "--to-env", "TO")
    assert rc == 0 and "1 notifications (0 pending, 0 requeued, 0 dead, 0 dropped, " \
        "1 delivered), 1 history rows" in out, (out, err)
    rc, out, err = copy(h, "--from", data_dir, "--to-env", "TO")
    assert rc == 1 and out == "", (out, err)
    assert "--to: postgresql://127.0.0.1:%d/%s: the database is not empty (1 notifications, " \
        "1 history rows, 1 alert states): copy into a database no herald has served" \
        % (postgres.port, database) in err, err
    assert count(postgres, database, "messages") == 1
    assert harness.Postgres.PASSWORD not in out + err


def test_a_failure_half_way_copies_nothing(herald_factory, postgres, tmp_path):
    """The receivers told come after the notifications: one already there
    fails the copy when they are written, and the notifications written
    before it are rolled back."""
    h, data_dir = one_notification_store(herald_factory, tmp_path)
    h.stop()
    database = postgres.create_database("copy_half_way")
    rc, out, err = copy(h, "--from", data_dir, "--to", postgres.dsn(database))
    assert rc == 0, (out, err)
    postgres.psql("DELETE FROM messages; DELETE FROM deliveries; DELETE FROM history;"
                  " DELETE FROM attempts; DELETE FROM alert_state", database)
    rc, out, err = copy(h, "--from", data_dir, "--to", postgres.dsn(database))
    assert rc == 1 and out == "", (out, err)
    assert "writing alert_notified: ERROR:  duplicate key value violates unique constraint" \
        in err, err
    assert err.rstrip().endswith("nothing was copied"), err
    assert harness.Postgres.PASSWORD not in out + err
    for table in ("messages", "deliveries", "history", "attempts", "alert_state"):
        assert count(postgres, database, table) == 0, table


def test_a_bad_dsn_or_data_dir_is_refused_and_the_dsn_never_shown(herald_factory, postgres,
                                                                  tmp_path):
    h, data_dir = one_notification_store(herald_factory, tmp_path)
    h.stop()
    secret = "NeverShownPassw0rd"
    unreachable = "host=127.0.0.1 port=%d user=herald password=%s dbname=x sslmode=disable" % (
        harness.free_port(), secret)
    wrong_password = postgres.uri("postgres", password=secret)
    for dsn, said in ((unreachable, "--to: store: cannot connect to PostgreSQL: connection to "
                                    "server at \"127.0.0.1\""),
                      (wrong_password, "password authentication failed for user \"herald\""),
                      ("host='unterminated password=%s" % secret,
                       "not a libpq connection string")):
        for argv, env in ((["--to", dsn], {}), (["--to-env", "TO"], {"TO": dsn})):
            h.env.update(env)
            rc, out, err = copy(h, "--from", data_dir, *argv)
            assert rc == 1 and out == "", (dsn, out, err)
            assert said in err and secret not in err, (dsn, err)

    h.env["TO"] = postgres.dsn(postgres.create_database("copy_bad_source"))
    empty = tmp_path / "empty"
    empty.mkdir()
    for source, said in ((tmp_path / "nowhere", "--from: %s: No such file or directory"
                          % (tmp_path / "nowhere")),
                         (empty, "--from: %s/herald.db: no store yet" % empty),
                         (tmp_path / "console.jsonl", "--from: %s: not a directory"
                          % (tmp_path / "console.jsonl"))):
        rc, out, err = copy(h, "--from", source, "--to-env", "TO")
        assert rc == 1 and said in err, (source, out, err)

    rc, out, err = copy(h, "--from", data_dir, "--to-env", "UNSET")
    assert rc == 1 and "--to-env: the environment variable UNSET is not set" in err, err
    for argv, said in ((["--to-env", "TO"], "--from DATA_DIR is required"),
                       (["--from", data_dir], "give the destination by --to-env NAME or --to DSN"),
                       (["--from", data_dir, "--to", "x", "--to-env", "TO"],
                        "give the destination by --to-env NAME or --to DSN")):
        rc, out, err = copy(h, *argv)
        assert rc == 2 and said in err, (argv, err)
    r = h.command("store", "move", "--from", data_dir, "--to-env", "TO")
    assert r.returncode == 2 and "the only subcommand is copy" in r.stderr.decode()


def test_an_empty_store_copies_into_a_migrated_database(herald_factory, postgres, tmp_path):
    """Nothing to copy still leaves the schema made: herald starts on it."""
    h = herald_factory({"console": reliability.console(tmp_path)}, "console",
                       extra={"data_dir": str(tmp_path / "data-empty")})
    h.stop()
    database = postgres.create_database("copy_empty")
    rc, out, err = copy(h, "--from", tmp_path / "data-empty", "--to", postgres.dsn(database))
    assert rc == 0 and "0 notifications (0 pending" in out and "0 robot pauses" in out, (out, err)
    assert postgres.psql("SELECT max(version) FROM schema_migrations", database) != ""


def test_a_store_from_before_digest_entries_copies_and_serves(herald_factory, postgres,
                                                              tmp_path):
    """A store an older herald wrote has messages without their digest
    entries: it copies (the entries as NULL), and a herald started on it
    adds the column and delivers what was pending."""
    data_dir = tmp_path / "data-old"
    h = herald_factory({"console": reliability.console(tmp_path)}, "console",
                       extra={"data_dir": str(data_dir)})
    post(h, "BeforeEntries", "console")
    harness.wait_outbox_empty(h)
    h.stop()
    db = sqlite3.connect(str(data_dir / "herald.db"))
    try:
        db.execute("ALTER TABLE messages DROP COLUMN entries")
        db.commit()
    finally:
        db.close()
    database = postgres.create_database("copy_old")
    rc, out, err = copy(h, "--from", data_dir, "--to", postgres.dsn(database))
    assert rc == 0 and "1 notifications (0 pending" in out, (out, err)
    assert postgres.psql("SELECT count(*) FROM messages WHERE entries IS NULL", database) == "1"
    h.start()
    post(h, "AfterEntries", "console")
    harness.wait_until(lambda: "AfterEntries" in json.dumps(
                           harness.read_json_lines(tmp_path / "console.jsonl")),
                       timeout=15, message="AfterEntries delivered")
    db = sqlite3.connect("file:%s/herald.db?mode=ro" % data_dir, uri=True)
    try:
        entries = [e for (e,) in db.execute("SELECT entries FROM messages ORDER BY id")]
    finally:
        db.close()
    assert entries[0] is None and "AfterEntries" in entries[1], entries
