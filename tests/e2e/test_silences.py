"""Silences inside herald (README.md, "Silences"): alerts posted directly
(Prometheus, Grafana, scripts) that an active silence matches are recorded
in the alert state and the history as silenced, and delivered to nobody;
an expired silence lets the next post through. Silences are made with
`herald silence add|list|expire` or /api/v1/silences.

Receivers write JSON lines into files in tmp_path (the console channel),
so what was delivered is counted exactly."""

import itertools
import json
import os
import sqlite3

import pytest

import harness

_databases = itertools.count()


def console(tmp_path, name):
    return {"channel": "console", "path": str(tmp_path / ("%s.jsonl" % name)),
            "repeat_interval": "4h"}


def start(herald_factory, tmp_path):
    return herald_factory({"oncall": console(tmp_path, "oncall")}, default_receiver="oncall")


def delivered(tmp_path, name="oncall"):
    path = tmp_path / ("%s.jsonl" % name)
    return harness.read_json_lines(path) if path.exists() else []




def api(h, method, path, body=None):
    status, data = harness.http(method, h.base_url + "/api/v1/" + path,
                                None if body is None else json.dumps(body).encode(),
                                headers={"Content-Type": "application/json"} if body else None)
    return status, json.loads(data) if data else None


def cli(h, *args):
    return harness.herald_cli(h, "silence", *args)


def active_silences(h):
    return harness.metrics(h.base_url)["herald_silences_active"]


def wait_active(h, count):
    """The daemon reads silences the CLI made within a second: its gauge
    says when it has."""
    harness.wait_until(lambda: active_silences(h) == count, timeout=10,
                       message="herald_silences_active == %d" % count)


def history(h, **query):
    q = "&".join("%s=%s" % kv for kv in query.items())
    status, rows = harness.api_get(h, "history" + ("?" + q if q else ""))
    assert status == 200, rows
    return rows


def test_cli_silence_holds_back_a_direct_alert_until_expired(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    rc, out, err = cli(h, "add", 'alertname="HostDown", instance=~"10.0.0.*"',
                       "--duration", "2h", "--comment", "maintenance of rack 3",
                       "--author", "alice")
    assert rc == 0, err
    silence_id = out.splitlines()[0]
    assert len(silence_id) == 36 and silence_id.count("-") == 4, out
    wait_active(h, 1)

    rc, out, err = cli(h, "list")
    assert rc == 0, err
    assert silence_id in out and "alice" in out and "maintenance of rack 3" in out, out
    assert "active" in out and "MATCHERS" in out, out

    answer = harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "10.0.0.7"),
                             harness.prometheus_alert("HostDown", "10.9.0.1")])
    assert answer["silenced"] == 1 and answer["alerts"] == 2 and answer["notifications"] == 1
    harness.wait_outbox_empty(h)
    sent = delivered(tmp_path)
    assert len(sent) == 1 and "10.9.0.1" in sent[0]["text"] and "10.0.0.7" not in sent[0]["text"]

    # recorded: history says silenced (and by which), the alert state too
    rows = [r for r in history(h) if r["instance"] == "10.0.0.7"]
    assert len(rows) == 1, rows
    assert rows[0]["result"] == "silenced" and rows[0]["silenced_by"] == silence_id, rows
    assert rows[0]["receiver"] == "" and rows[0]["notification"] == 0, rows
    status, alerts = harness.api_get(h, "alerts?filter=instance%3D%2210.0.0.7%22")
    assert status == 200 and len(alerts) == 1, alerts
    assert alerts[0]["status"] == "firing" and alerts[0]["silenced_by"] == silence_id, alerts
    assert alerts[0]["receivers"] == [], alerts
    rc, out, err = harness.herald_cli(h, "alerts")
    assert rc == 0, err
    silenced_line = [line for line in out.splitlines() if "10.0.0.7" in line]
    assert len(silenced_line) == 1 and silence_id in silenced_line[0], out
    assert "SILENCED BY" in out.splitlines()[0], out
    rc, out, err = harness.herald_cli(h, "history")
    assert rc == 0 and "silenced" in out, out
    assert harness.metrics(h.base_url)["herald_alerts_silenced_total"] == 1

    # Prometheus posts it again each evaluation: held back, no second history row
    assert harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "10.0.0.7")])["silenced"] == 1
    assert len([r for r in history(h) if r["instance"] == "10.0.0.7"]) == 1
    # its resolution is held back too
    assert harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "10.0.0.7", "resolved")])["silenced"] == 1
    rows = [r for r in history(h) if r["instance"] == "10.0.0.7"]
    assert [r["status"] for r in rows] == ["resolved", "firing"], rows
    assert {r["result"] for r in rows} == {"silenced"}, rows

    rc, out, err = cli(h, "expire", silence_id)
    assert rc == 0 and "expired silence %s" % silence_id in out, (out, err)
    wait_active(h, 0)
    answer = harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "10.0.0.7")])
    assert answer["silenced"] == 0 and answer["notifications"] == 1, answer
    harness.wait_outbox_empty(h)
    sent = delivered(tmp_path)
    assert len(sent) == 2 and "10.0.0.7" in sent[1]["text"], sent
    # the delivery's result is recorded just after the send
    harness.wait_until(lambda: [r["result"] for r in history(h)
                                if r["instance"] == "10.0.0.7"][0] == "delivered",
                       timeout=10, message="the history row delivered")
    rows = [r for r in history(h) if r["instance"] == "10.0.0.7"]
    assert rows[0]["silenced_by"] is None and len(rows) == 3, rows
    status, alerts = harness.api_get(h, "alerts?filter=instance%3D%2210.0.0.7%22")
    assert alerts[0]["silenced_by"] is None and alerts[0]["receivers"], alerts

    # expired: not listed unless --all, and expiring it again says so
    rc, out, err = cli(h, "list")
    assert rc == 0 and silence_id not in out, out
    rc, out, err = cli(h, "list", "--all", "-o", "json")
    assert rc == 0, err
    listed = json.loads(out)
    assert [s["id"] for s in listed] == [silence_id] and listed[0]["state"] == "expired", listed
    rc, out, err = cli(h, "expire", silence_id)
    assert rc == 1 and "has already ended" in err, err


def test_api_silence_applies_at_once_and_delete_expires_it(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    status, answer = api(h, "POST", "silences",
                         {"matchers": '{alertname="DiskFull", mountpoint=~"/data.*"}',
                          "duration": "30m", "createdBy": "bob", "comment": "resizing"})
    assert status == 200, answer
    silence = answer["silence"]
    assert silence["state"] == "active" and silence["createdBy"] == "bob", silence
    assert harness.api_time_ms(silence["endsAt"]) - harness.api_time_ms(silence["startsAt"]) \
        == 30 * 60 * 1000, silence

    # no wait: the API's own herald reads the silences again before answering
    disk = {"labels": {"alertname": "DiskFull", "mountpoint": "/data1", "instance": "db1"},
            "startsAt": harness.rfc3339(harness.now_seconds())}
    assert harness.post_prometheus_alerts(h, [disk])["silenced"] == 1
    # the Alertmanager webhook path is matched alike
    payload = harness.am_payload([disk])
    status, data = harness.http("POST", h.base_url + "/webhook", json.dumps(payload).encode())
    assert status == 200 and json.loads(data)["silenced"] == 1, data
    harness.wait_outbox_empty(h)
    assert delivered(tmp_path) == []

    status, listed = api(h, "GET", "silences")
    assert status == 200 and [s["id"] for s in listed] == [silence["id"]], listed

    status, answer = api(h, "DELETE", "silences/" + silence["id"])
    assert status == 200 and answer["action"] == "expired", answer
    status, answer = api(h, "DELETE", "silences/" + silence["id"])
    assert status == 409 and "already ended" in answer["error"], answer
    status, answer = api(h, "DELETE", "silences/no-such-id")
    assert status == 404 and "no silence" in answer["error"], answer
    status, listed = api(h, "GET", "silences")
    assert status == 200 and listed == [], listed
    status, listed = api(h, "GET", "silences?all=true")
    assert status == 200 and listed[0]["state"] == "expired", listed

    assert harness.post_prometheus_alerts(h, [disk])["notifications"] == 1
    harness.wait_outbox_empty(h)
    assert len(delivered(tmp_path)) == 1


BAD_SILENCES = [
    ({"duration": "2h", "createdBy": "x"}, "matchers: missing"),
    ({"matchers": "alertname=~", "duration": "2h", "createdBy": "x"}, "would silence"),
    ({"matchers": 'job=~".*"', "duration": "2h", "createdBy": "x"}, "would silence"),
    ({"matchers": "alertname=\"A", "duration": "2h", "createdBy": "x"}, "no closing quote"),
    ({"matchers": "alertname=~\"(\"", "duration": "2h", "createdBy": "x"},
     "bad regular expression"),
    ({"matchers": "alertname=A", "createdBy": "x"}, "give how long it lasts (duration"),
    ({"matchers": "alertname=A", "duration": "2h", "endsAt": "2030-01-01T00:00:00Z",
      "createdBy": "x"}, "not both"),
    ({"matchers": "alertname=A", "duration": "soon", "createdBy": "x"}, "duration: expected"),
    ({"matchers": "alertname=A", "endsAt": "2001-01-01T00:00:00Z", "createdBy": "x"},
     "endsAt: 2001-01-01T00:00:00Z has already passed"),
    ({"matchers": "alertname=A", "duration": "2h"}, "createdBy"),
    ({"matchers": 5, "duration": "2h", "createdBy": "x"}, "matchers: expected a string"),
    ([], "expected a JSON object"),
    ({"matchers": "alertname=A", "duration": "2h", "createdBy": "x",
      "startsAt": "2030-01-01T00:00:00Z"}, "startsAt: not a field of a silence"),
]


def test_api_refuses_a_bad_silence_naming_what_is_wrong(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    for body, field in BAD_SILENCES:
        status, answer = api(h, "POST", "silences", body)
        assert status == 400 and field in answer["error"], (body, status, answer)
    status, answer = api(h, "PUT", "silences")
    assert status == 405, answer
    status, answer = api(h, "GET", "silences?all=maybe")
    assert status == 400 and "all: expected true or false" in answer["error"], answer
    status, listed = api(h, "GET", "silences?all=true")
    assert status == 200 and listed == [], listed


def test_cli_refuses_bad_input_naming_what_is_wrong(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    cases = [
        (["add", "alertname=HostDown"], 1, "give how long it lasts (--duration"),
        (["add", "alertname=HostDown", "--duration", "2x"], 1, "--duration: expected"),
        (["add", "alertname=HostDown", "--until", "tomorrow"], 1, "--until: expected an RFC 3339"),
        (["add", "severity!=critical", "--duration", "1h"], 1, "would silence"),
        (["add", "", "--duration", "1h"], 1, "no matcher given"),
        (["add", "instance=~\"10.0.0.*", "--duration", "1h"], 1, "no closing quote"),
        (["expire", "00000000-0000-4000-8000-000000000000"], 1, "no silence with id"),
        (["add"], 2, "expected add and the matchers"),
        (["list", "--duration", "1h"], 2, "only for silence add"),
        (["expire", "x", "--all"], 2, "--all is only for silence list"),
    ]
    for args, code, needle in cases:
        rc, out, err = cli(h, *args)
        assert rc == code and needle in err, (args, rc, out, err)
    rc, out, err = cli(h, "list", "--all")
    assert rc == 0 and "no silences" in out, (out, err)


@pytest.mark.concurrency
def test_a_silence_added_through_one_replica_holds_back_alerts_on_another(
        herald_factory, postgres, tmp_path):
    # the process's id too: parallel test processes may share the server
    database = postgres.create_database("silences_%d_%d" % (os.getpid(), next(_databases)))
    env = {"HERALD_PG_DSN": postgres.dsn(database)}
    extra = {"shutdown_timeout": "2s",
             "store": {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN")}}
    first, second = [herald_factory({"oncall": console(tmp_path, "oncall-%d" % i)}, "oncall",
                                    env=env, extra=extra) for i in range(2)]
    rc, out, err = cli(first, "add", 'alertname="HostDown"', "--duration", "1h")
    assert rc == 0, err
    silence_id = out.splitlines()[0]
    wait_active(second, 1)
    assert harness.post_prometheus_alerts(second, [harness.prometheus_alert("HostDown", "10.0.0.1")])["silenced"] == 1
    rows = history(second)
    assert [(r["result"], r["silenced_by"]) for r in rows] == [("silenced", silence_id)], rows
    # the author defaulted to the Unix user; the other replica lists it
    status, listed = api(second, "GET", "silences")
    assert status == 200 and listed[0]["id"] == silence_id and listed[0]["createdBy"], listed

    status, answer = api(second, "DELETE", "silences/" + silence_id)
    assert status == 200, answer
    wait_active(first, 0)
    assert harness.post_prometheus_alerts(first, [harness.prometheus_alert("HostDown", "10.0.0.1")])["notifications"] == 1
    harness.wait_outbox_empty(first)
    assert len(delivered(tmp_path, "oncall-0")) == 1
    assert delivered(tmp_path, "oncall-1") == []


def test_a_sqlite_store_made_before_silences_is_upgraded(herald_factory, tmp_path):
    """A store an older herald made (no silences table, no silenced_by
    columns, the history's view without 'silenced') takes silences at the
    next start, its rows kept."""
    h = start(herald_factory, tmp_path)
    assert harness.post_prometheus_alerts(h, [harness.prometheus_alert("Before", "10.1.0.1")])["notifications"] == 1
    harness.wait_outbox_empty(h)
    h.stop()
    db = sqlite3.connect(str(h.workdir / "data" / "herald.db"))
    db.executescript(
        "DROP VIEW history_results; DROP TABLE silences;"
        "ALTER TABLE history DROP COLUMN silenced_by;"
        "ALTER TABLE alert_state DROP COLUMN silenced_by;"
        "CREATE VIEW history_results AS"
        "  SELECT h.*, CASE d.state WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead'"
        "                 WHEN 'dropped' THEN 'dropped' ELSE 'pending' END AS result"
        "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;")
    db.close()

    h.start()
    status, answer = api(h, "POST", "silences",
                         {"matchers": "alertname=After", "duration": "1h", "createdBy": "x"})
    assert status == 200, answer
    assert harness.post_prometheus_alerts(h, [harness.prometheus_alert("After", "10.1.0.2")])["silenced"] == 1
    assert [(r["alertname"], r["result"]) for r in history(h)] == \
        [("After", "silenced"), ("Before", "delivered")]


@pytest.mark.concurrency
def test_silences_change_while_alerts_pour_in(herald_factory, tmp_path):
    """Ingest workers match against the silences while the API adds and
    expires them: every alert is either delivered or silenced, once."""
    import threading
    h = start(herald_factory, tmp_path)
    total = 120
    stop = threading.Event()
    changes = []

    def churn():
        while not stop.is_set() and len(changes) < 40:
            status, answer = api(h, "POST", "silences",
                                 {"matchers": 'alertname="Pour", lane=~"[0-4]"',
                                  "duration": "1h", "createdBy": "churn"})
            assert status == 200, answer
            status, _ = api(h, "DELETE", "silences/" + answer["silence"]["id"])
            changes.append(status)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    answers = harness.post_concurrently(total, lambda i: harness.post_prometheus_alerts(
        h, [{"labels": {"alertname": "Pour", "lane": str(i % 10), "n": str(i)},
             "startsAt": harness.rfc3339(harness.now_seconds())}]), threads=4)
    stop.set()
    churner.join(timeout=60)
    assert changes and set(changes) == {200}, changes
    silenced = sum(a["silenced"] for a in answers)
    notified = sum(a["notifications"] for a in answers)
    assert silenced + notified == total, answers
    harness.wait_outbox_empty(h)
    assert len(delivered(tmp_path)) == notified
    assert harness.metrics(h.base_url)["herald_alerts_silenced_total"] == silenced
    assert len([r for r in history(h, limit=1000) if r["result"] == "silenced"]) == silenced
