"""Acknowledgement and escalation (README.md, "Acknowledging an alert",
"Escalation"). An acknowledged alert gets no repeats and no escalation
until it resolves or fires anew; `herald alerts ack` and
POST /api/v1/alerts/<fingerprint>/ack acknowledge.

Receivers write JSON lines into files in tmp_path (the console channel),
so what was delivered is counted exactly. A non-event (no repeat, no
escalation) is asserted once a later event proves its time has passed:
a control alert delivered after it, or escalated with the same delay."""

import itertools
import json

import harness

_databases = itertools.count()


def console(tmp_path, name, **extra):
    return {"channel": "console", "path": str(tmp_path / ("%s.jsonl" % name)), **extra}


def delivered(tmp_path, name="ops"):
    return harness.read_json_lines(tmp_path / ("%s.jsonl" % name))


def texts(tmp_path, name="ops"):
    return [m["text"] for m in delivered(tmp_path, name)]




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
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
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
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "control")])
    sent = wait_texts(tmp_path, "ops", 3, "the control alert")
    harness.wait_outbox_empty(h)
    sent = texts(tmp_path, "ops")
    assert len(sent) == 3 and "control" in sent[2], sent

    # acknowledged again: refused, the first acknowledgement kept
    status, answer = ack(h, fingerprint, "bob")
    assert status == 409 and "already acknowledged" in answer["error"], answer
    assert alert_state(h, "db1")["acknowledged"]["by"] == "alice"

    # the resolution goes out and clears it; firing anew is news again
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1", "resolved")])
    wait_texts(tmp_path, "ops", 4, "the resolution")
    state = alert_state(h, "db1")
    assert state["status"] == "resolved" and state["acknowledged"] is None, state
    status, answer = ack(h, fingerprint)
    assert status == 409 and "not firing" in answer["error"], answer
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1", started_min_ago=0)])
    sent = wait_texts(tmp_path, "ops", 5, "the new firing")
    assert "db1" in sent[4], sent
    assert alert_state(h, "db1")["acknowledged"] is None


def test_api_ack_errors(herald_factory, tmp_path):
    h = herald_factory({"ops": console(tmp_path, "ops")}, default_receiver="ops")
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
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
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1"), harness.prometheus_alert("HostDown", "db2")])
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


# ---- escalation ----------------------------------------------------------------

# ops is told at once; oncall after 3 s unless acknowledged, silenced or
# resolved; alerts named Chain go on to manager after 6 s.
ROUTE = """
return function(alert, default_receiver, receivers, request)
  local escalate = { after = "3s", to = "oncall" }
  if alert.labels.alertname == "Chain" then
    escalate = { { after = "3s", to = "oncall" }, { after = "6s", to = "manager" } }
  end
  return { { receiver = "ops", escalate = escalate } }
end
"""


def start_escalating(herald_factory, tmp_path, route=ROUTE):
    route_path = tmp_path / "route.lua"
    route_path.write_text(route, encoding="utf-8")
    return herald_factory({name: console(tmp_path, name)
                           for name in ("ops", "oncall", "manager")},
                          default_receiver="ops", extra={"route": str(route_path)})


def escalations(h):
    m = harness.metrics(h.base_url)
    return m["herald_escalations_total"], m["herald_escalations_cancelled_total"]


def wait_escalations(h, sent, cancelled):
    harness.wait_until(lambda: escalations(h) == (sent, cancelled), timeout=30,
                       message="escalations sent, cancelled == %d, %d" % (sent, cancelled))


def test_unacknowledged_alert_is_escalated_after_the_delay(herald_factory, tmp_path):
    h = start_escalating(herald_factory, tmp_path)
    posted = harness.now_seconds().timestamp()
    answer = harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
    assert answer["notifications"] == 1, answer
    assert len(wait_texts(tmp_path, "ops", 1, "ops told")) == 1
    # posted again while it fires: still one escalation
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
    sent = wait_texts(tmp_path, "oncall", 1, "oncall told after the delay")
    assert harness.now_seconds().timestamp() - posted >= 3
    assert "escalated from ops after 3s" in sent[0] and "db1" in sent[0], sent
    wait_escalations(h, 1, 0)
    state = alert_state(h, "db1")
    assert state["escalated"]["to"] == "oncall", state
    assert {r["receiver"] for r in state["receivers"]} == {"ops", "oncall"}, state
    rows = [r for r in harness.api_get(h, "history")[1] if r["receiver"] == "oncall"]
    assert len(rows) == 1 and rows[0]["instance"] == "db1", rows
    rc, out, err = harness.herald_cli(h, "alerts")
    assert rc == 0 and "to oncall at " in out, (out, err)
    harness.wait_outbox_empty(h)
    assert len(texts(tmp_path, "oncall")) == 1
    assert texts(tmp_path, "manager") == []


def test_a_chain_escalates_step_by_step(herald_factory, tmp_path):
    h = start_escalating(herald_factory, tmp_path)
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("Chain", "db1")])
    oncall = wait_texts(tmp_path, "oncall", 1, "oncall told")
    manager = wait_texts(tmp_path, "manager", 1, "manager told")
    assert "escalated from ops after 3s" in oncall[0], oncall
    assert "escalated from oncall after 6s" in manager[0], manager
    wait_escalations(h, 2, 0)
    assert alert_state(h, "db1")["escalated"]["to"] == "manager"


def test_acknowledged_or_resolved_before_the_delay_is_not_escalated(herald_factory, tmp_path):
    h = start_escalating(herald_factory, tmp_path)
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "acked"), harness.prometheus_alert("HostDown", "resolved"),
                    harness.prometheus_alert("HostDown", "control")])
    wait_texts(tmp_path, "ops", 1, "ops told")
    status, answer = ack(h, alert_state(h, "acked")["fingerprint"], "alice")
    assert status == 200, answer
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "resolved", "resolved")])
    # the control alert, escalated with the same delay, proves the time passed
    sent = wait_texts(tmp_path, "oncall", 1, "the control alert escalated")
    wait_escalations(h, 1, 2)
    harness.wait_outbox_empty(h)
    sent = texts(tmp_path, "oncall")
    assert len(sent) == 1 and "control" in sent[0], sent
    assert alert_state(h, "acked")["escalated"] is None
    assert alert_state(h, "resolved")["escalated"] is None
    log = h.log()
    assert "cancelled: acknowledged by alice" in log and "cancelled: the alert resolved" in log


def test_a_restart_in_between_neither_loses_nor_repeats_it(herald_factory, tmp_path):
    h = start_escalating(herald_factory, tmp_path)
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
    wait_texts(tmp_path, "ops", 1, "ops told")
    h.stop()
    h.start()
    sent = wait_texts(tmp_path, "oncall", 1, "oncall told after the restart")
    assert "escalated from ops after 3s" in sent[0], sent
    # posted again after the restart: the escalation of this firing is made
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "db1")])
    harness.post_prometheus_alerts(h, [harness.prometheus_alert("HostDown", "control")])
    wait_texts(tmp_path, "oncall", 2, "the control alert escalated")
    harness.wait_outbox_empty(h)
    sent = texts(tmp_path, "oncall")
    assert len(sent) == 2 and "db1" in sent[0] and "control" in sent[1], sent


def test_two_replicas_escalate_once(herald_factory, postgres, tmp_path):
    database = postgres.create_database("escalation_%d" % next(_databases))
    route_path = tmp_path / "route.lua"
    route_path.write_text(ROUTE, encoding="utf-8")
    env = {"HERALD_PG_DSN": postgres.dsn(database)}
    extra = {"shutdown_timeout": "2s", "route": str(route_path),
             "store": {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN")}}
    receivers = {name: console(tmp_path, name) for name in ("ops", "oncall", "manager")}
    first, second = [herald_factory(receivers, "ops", env=env, extra=extra) for _ in range(2)]
    harness.post_prometheus_alerts(first, [harness.prometheus_alert("HostDown", "db1"), harness.prometheus_alert("HostDown", "acked")])
    # Prometheus posts to both: the same firing, one escalation
    harness.post_prometheus_alerts(second, [harness.prometheus_alert("HostDown", "db1"), harness.prometheus_alert("HostDown", "acked")])
    status, answer = ack(second, alert_state(first, "acked")["fingerprint"], "alice")
    assert status == 200, answer
    wait_texts(tmp_path, "oncall", 1, "oncall told by one replica")
    harness.post_prometheus_alerts(second, [harness.prometheus_alert("HostDown", "control")])
    wait_texts(tmp_path, "oncall", 2, "the control alert escalated")
    harness.wait_outbox_empty(first)
    harness.wait_outbox_empty(second)
    sent = texts(tmp_path, "oncall")
    assert len(sent) == 2 and "db1" in sent[0] and "control" in sent[1], sent
    totals = [sum(x) for x in zip(escalations(first), escalations(second))]
    assert totals == [2, 1], totals
