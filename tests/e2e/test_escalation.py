"""Acknowledgement and escalation (README.md, "Acknowledging an alert",
"Escalation"). An acknowledged alert gets no repeats and no escalation
until it resolves or fires anew; `herald alerts ack` and
POST /api/v1/alerts/<fingerprint>/ack acknowledge.

Receivers write JSON lines into files in tmp_path (the console channel),
so what was delivered is counted exactly. A non-event (no repeat, no
escalation) is asserted once a later event proves its time has passed:
a control alert delivered after it, or escalated with the same delay."""

import datetime
import json

import harness


def console(tmp_path, name, **extra):
    return {"channel": "console", "path": str(tmp_path / ("%s.jsonl" % name)), **extra}


def delivered(tmp_path, name="ops"):
    return harness.read_json_lines(tmp_path / ("%s.jsonl" % name))


def texts(tmp_path, name="ops"):
    return [m["text"] for m in delivered(tmp_path, name)]


def prom_alert(name, instance, status="firing", started_min_ago=1):
    now = harness.now_seconds()
    alert = {"labels": {"alertname": name, "instance": instance, "severity": "critical"},
             "annotations": {"summary": "%s on %s" % (name, instance)},
             "startsAt": harness.rfc3339(now - datetime.timedelta(minutes=started_min_ago))}
    if status == "resolved":
        alert["endsAt"] = harness.rfc3339(now - datetime.timedelta(seconds=1))
    return alert


def post_alerts(h, alerts):
    status, data = harness.http("POST", h.base_url + "/api/v2/alerts",
                                json.dumps(alerts).encode())
    assert status == 200, data
    return json.loads(data)


def api(h, method, path, body=None, raw=None):
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    status, answer = harness.http(method, h.base_url + "/api/v1/" + path, data,
                                  headers={"Content-Type": "application/json"})
    return status, json.loads(answer) if answer else None


def alert_state(h, instance):
    status, rows = harness.api_get(h, "alerts?filter=instance%%3D%%22%s%%22" % instance)
    assert status == 200 and len(rows) == 1, rows
    return rows[0]


def ack(h, fingerprint, by="alice", comment=None):
    body = {"by": by}
    if comment is not None:
        body["comment"] = comment
    return api(h, "POST", "alerts/%s/ack" % fingerprint, body)


def wait_texts(tmp_path, name, count, what):
    harness.wait_until(lambda: len(texts(tmp_path, name)) >= count, timeout=20,
                       message=what)
    return texts(tmp_path, name)


# ---- acknowledgement ----------------------------------------------------------


def test_api_ack_stops_repeats_until_the_alert_resolves(herald_factory, tmp_path):
    # repeat_interval 0s: every post is sent again, until acknowledged
    h = herald_factory({"ops": console(tmp_path, "ops")}, default_receiver="ops")
    post_alerts(h, [prom_alert("HostDown", "db1")])
    post_alerts(h, [prom_alert("HostDown", "db1")])
    assert len(wait_texts(tmp_path, "ops", 2, "two sends before the ack")) == 2
    fingerprint = alert_state(h, "db1")["fingerprint"]

    status, answer = ack(h, fingerprint, "alice", "on it, replacing the disk")
    assert status == 200, answer
    assert answer == {"status": "success", "fingerprint": fingerprint,
                      "action": "acknowledged", "by": "alice"}, answer
    state = alert_state(h, "db1")
    assert state["acknowledged"]["by"] == "alice", state
    assert state["acknowledged"]["comment"] == "on it, replacing the disk", state
    assert abs(harness.api_time_ms(state["acknowledged"]["at"])
               - harness.now_seconds().timestamp() * 1000) < 60000, state
    assert harness.metrics(h.base_url)["herald_alerts_acknowledged_total"] == 1

    # posted again: held back; a control alert posted after it goes out
    post_alerts(h, [prom_alert("HostDown", "db1")])
    post_alerts(h, [prom_alert("HostDown", "control")])
    sent = wait_texts(tmp_path, "ops", 3, "the control alert")
    harness.wait_outbox_empty(h)
    sent = texts(tmp_path, "ops")
    assert len(sent) == 3 and "control" in sent[2], sent

    # acknowledged again: refused, the first acknowledgement kept
    status, answer = ack(h, fingerprint, "bob")
    assert status == 409 and "already acknowledged" in answer["error"], answer
    assert alert_state(h, "db1")["acknowledged"]["by"] == "alice"

    # the resolution goes out and clears it; firing anew is news again
    post_alerts(h, [prom_alert("HostDown", "db1", "resolved")])
    wait_texts(tmp_path, "ops", 4, "the resolution")
    state = alert_state(h, "db1")
    assert state["status"] == "resolved" and state["acknowledged"] is None, state
    status, answer = ack(h, fingerprint)
    assert status == 409 and "not firing" in answer["error"], answer
    post_alerts(h, [prom_alert("HostDown", "db1", started_min_ago=0)])
    sent = wait_texts(tmp_path, "ops", 5, "the new firing")
    assert "db1" in sent[4], sent
    assert alert_state(h, "db1")["acknowledged"] is None


def test_api_ack_errors(herald_factory, tmp_path):
    h = herald_factory({"ops": console(tmp_path, "ops")}, default_receiver="ops")
    post_alerts(h, [prom_alert("HostDown", "db1")])
    fingerprint = alert_state(h, "db1")["fingerprint"]

    status, answer = ack(h, "0123456789abcdef")
    assert status == 404 and "no alert with that fingerprint" in answer["error"], answer
    for body, message in [(None, "JSON object"), (b"[1]", "JSON object"),
                          (b"{}", "by:"), (b'{"by": ""}', "by:"),
                          (b'{"by": "x", "comment": 3}', "comment:")]:
        status, answer = api(h, "POST", "alerts/%s/ack" % fingerprint, raw=body or b"")
        assert status == 400 and message in answer["error"], (body, answer)
    status, _ = api(h, "GET", "alerts/%s/ack" % fingerprint)
    assert status == 405
    assert alert_state(h, "db1")["acknowledged"] is None
    assert harness.metrics(h.base_url)["herald_alerts_acknowledged_total"] == 0


def test_cli_ack_and_the_alerts_table(herald_factory, tmp_path):
    h = herald_factory({"ops": console(tmp_path, "ops")}, default_receiver="ops")
    post_alerts(h, [prom_alert("HostDown", "db1"), prom_alert("HostDown", "db2")])
    fingerprint = alert_state(h, "db1")["fingerprint"]

    rc, out, err = harness.herald_cli(h, "alerts", "ack", fingerprint, "--author", "carol",
                                      "--comment", "looking")
    assert rc == 0 and "acknowledged alert %s as carol" % fingerprint in out, (out, err)
    state = alert_state(h, "db1")
    assert state["acknowledged"]["by"] == "carol" and state["acknowledged"]["comment"] == "looking"
    assert alert_state(h, "db2")["acknowledged"] is None

    rc, out, err = harness.herald_cli(h, "alerts")
    assert rc == 0, err
    assert "ACKNOWLEDGED" in out.splitlines()[0], out
    [line] = [x for x in out.splitlines() if "db1" in x]
    assert "carol at " in line, out
    [line] = [x for x in out.splitlines() if "db2" in x]
    assert "carol" not in line, out

    rc, out, err = harness.herald_cli(h, "alerts", "ack", fingerprint)
    assert rc == 1 and "already acknowledged" in err, (out, err)
    rc, out, err = harness.herald_cli(h, "alerts", "ack", "0123456789abcdef")
    assert rc == 1 and "no alert with fingerprint" in err, (out, err)
    rc, out, err = harness.herald_cli(h, "alerts", "ack")
    assert rc == 2 and "ack and a fingerprint" in err, err
    rc, out, err = harness.herald_cli(h, "alerts", "ack", fingerprint, "--status", "firing")
    assert rc == 2 and "alerts ack takes" in err, err
