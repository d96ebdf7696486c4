"""The alert state (README.md, "What is firing now"): one row per alert,
updated with every request; a receiver's repeat_interval holds back alerts
it was told of in the same state; Prometheus's direct path resolves an
alert whose endsAt passed; GET /api/v1/alerts and `herald alerts`.

Receivers write JSON lines into files in tmp_path (the console channel),
so what was sent is counted exactly."""

import datetime
import json
import re

import pytest

import harness

HOUR = datetime.timedelta(hours=1)


def console(tmp_path, name, **spec):
    return dict({"channel": "console", "path": str(tmp_path / ("%s.jsonl" % name))}, **spec)


def start(herald_factory, tmp_path, extra=None, **receivers):
    if not receivers:
        receivers = {"oncall": console(tmp_path, "oncall", repeat_interval="4h")}
    return herald_factory(receivers, default_receiver=next(iter(receivers)), extra=extra)


def post(h, path, body):
    status, data = harness.http("POST", h.base_url + path, json.dumps(body).encode())
    assert status == 200, data
    return json.loads(data)


def lines(tmp_path, name):
    return harness.read_json_lines(tmp_path / ("%s.jsonl" % name))


def prom_alert(name, starts, ends, **labels):
    return {"labels": dict({"alertname": name}, **labels),
            "annotations": {"summary": "%s on %s" % (name, labels.get("instance", "?"))},
            "startsAt": harness.rfc3339(starts), "endsAt": harness.rfc3339(ends)}


def api_alerts(h, query=""):
    status, data = harness.http("GET", h.base_url + "/api/v1/alerts" + query)
    assert status == 200, data
    return json.loads(data)


@pytest.mark.concurrency
def test_direct_path_sends_once_per_state_like_alertmanager(herald_factory, tmp_path):
    """Prometheus re-sends every firing alert each cycle: one message when it
    starts firing, none for the re-sends, one when it resolves, one when it
    fires anew; a receiver with repeat_interval 0s is told every time."""
    h = start(herald_factory, tmp_path,
              oncall=console(tmp_path, "oncall", repeat_interval="4h"),
              audit=console(tmp_path, "audit", repeat_interval="0s"),
              extra={"route": str(write_route(tmp_path))})
    now = harness.now_seconds()
    firing = prom_alert("DiskFull", now - HOUR, now + HOUR, instance="db-1:9100")
    answers = [post(h, "/api/v2/alerts", [firing]) for _ in range(3)]
    # both receivers each time, but oncall only the first time
    assert [a["notifications"] for a in answers] == [2, 1, 1], answers
    assert [a["repeats"] for a in answers] == [0, 1, 1], answers
    assert all(a["duplicates"] == 0 for a in answers), answers
    resolved = dict(firing, endsAt=harness.rfc3339(now - datetime.timedelta(seconds=5)))
    answers = [post(h, "/api/v2/alerts", [resolved]) for _ in range(2)]
    assert [a["notifications"] for a in answers] == [2, 1], answers
    refired = prom_alert("DiskFull", now, now + HOUR, instance="db-1:9100")
    assert post(h, "/api/v2/alerts", [refired])["notifications"] == 2
    harness.wait_outbox_empty(h)
    told = [(l["status"]) for l in lines(tmp_path, "oncall")]
    assert told == ["firing", "resolved", "firing"], told
    assert len(lines(tmp_path, "audit")) == 6


def write_route(tmp_path):
    route = tmp_path / "both.lua"
    route.write_text('return function(alert, default_receiver, receivers)\n'
                     '  return { "oncall", "audit" }\nend\n', encoding="utf-8")
    return route


def test_new_alert_in_a_group_sends_the_group_at_once(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    now = harness.now_seconds()
    a = {"labels": {"alertname": "HostDown", "instance": "10.0.0.1"}, "startsAt": harness.rfc3339(now)}
    b = {"labels": {"alertname": "HostDown", "instance": "10.0.0.2"}, "startsAt": harness.rfc3339(now)}
    assert post(h, "/webhook", harness.am_payload([a]))["notifications"] == 1
    assert post(h, "/webhook", harness.am_payload([a]))["repeats"] == 1
    assert post(h, "/webhook", harness.am_payload([a, b]))["notifications"] == 1
    harness.wait_outbox_empty(h)
    sent = lines(tmp_path, "oncall")
    assert len(sent) == 2 and "10.0.0.2" in sent[1]["text"] and "10.0.0.1" in sent[1]["text"]


def test_same_alert_through_alertmanager_and_directly_is_sent_once(herald_factory, tmp_path):
    """Both paths at once: the second copy (same fingerprint, same status,
    same receiver) within the repeat interval is held back."""
    h = start(herald_factory, tmp_path)
    now = harness.now_seconds()
    labels = {"alertname": "HostDown", "instance": "10.0.0.7:9100", "severity": "critical"}
    via_am = harness.am_payload([{"labels": labels, "startsAt": harness.rfc3339(now - HOUR)}])
    # as Alertmanager computes it from the labels, which herald does when absent
    del via_am["alerts"][0]["fingerprint"]
    assert post(h, "/webhook", via_am)["notifications"] == 1
    direct = post(h, "/api/v2/alerts", [dict(prom_alert("HostDown", now - HOUR, now + HOUR,
                                                        **labels), labels=labels)])
    assert direct["notifications"] == 0 and direct["repeats"] == 1, direct
    harness.wait_outbox_empty(h)
    assert harness.metrics(h.base_url)["herald_notifications_repeated_total"] == 1
    assert len(lines(tmp_path, "oncall")) == 1


def test_reminder_after_the_repeat_interval(herald_factory, tmp_path):
    """Re-sent every cycle, the alert goes again once repeat_interval has
    passed since it was last told, never sooner."""
    h = start(herald_factory, tmp_path,
              oncall=console(tmp_path, "oncall", repeat_interval="2s"))
    now = harness.now_seconds()
    firing = prom_alert("Backlog", now - HOUR, now + HOUR, project="wms")
    first = datetime.datetime.now()
    assert post(h, "/api/v2/alerts", [firing])["notifications"] == 1

    def reminded():
        return post(h, "/api/v2/alerts", [firing])["notifications"] == 1

    harness.wait_until(reminded, timeout=60, interval=0.2, message="a reminder")
    assert datetime.datetime.now() - first >= datetime.timedelta(seconds=2)
    harness.wait_outbox_empty(h)
    assert [l["status"] for l in lines(tmp_path, "oncall")] == ["firing", "firing"]


# the expiry thread runs ingest beside the HTTP workers: under TSan too
@pytest.mark.concurrency
def test_direct_alert_resolves_once_when_its_endsat_passes(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    now = harness.now_seconds()
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    post(h, "/api/v2/alerts", [prom_alert("NodeDown", now - HOUR, soon, instance="n1")])
    harness.wait_until(lambda: any(l["status"] == "resolved" for l in lines(tmp_path, "oncall")),
                       timeout=60, message="the resolution of NodeDown")
    harness.wait_outbox_empty(h)
    sent = lines(tmp_path, "oncall")
    assert [l["status"] for l in sent] == ["firing", "resolved"], sent
    assert "NodeDown" in sent[1]["text"]
    [state] = api_alerts(h)
    assert state["status"] == "resolved" and state["resolved_at"], state
    assert harness.api_time_ms(state["resolved_at"]) == round(soon.timestamp() * 1000)
    assert "resolved: its endsAt passed" in h.log()
    assert api_alerts(h, "?status=firing") == []


def test_alerts_api_and_cli_show_what_is_firing(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path,
              oncall=console(tmp_path, "oncall"), wms=console(tmp_path, "wms"),
              extra={"route": str(project_route(tmp_path))})
    now = harness.now_seconds()
    older = harness.rfc3339(now - 2 * HOUR)
    payload = harness.am_payload([
        {"labels": {"alertname": "OrderBacklog", "project": "wms", "instance": "wms-1"},
         "startsAt": harness.rfc3339(now - HOUR)},
        {"labels": {"alertname": "HostDown", "project": "erp", "instance": "erp-1"},
         "startsAt": older},
        {"labels": {"alertname": "Recovered", "project": "erp"}, "status": "resolved",
         "startsAt": older},
    ])
    post(h, "/webhook", payload)
    every = api_alerts(h)
    assert [a["alertname"] for a in every] == ["HostDown", "Recovered", "OrderBacklog"], every
    wms = api_alerts(h, "?filter=project%3D%22wms%22")
    assert [a["alertname"] for a in wms] == ["OrderBacklog"]
    assert [r["receiver"] for r in wms[0]["receivers"]] == ["oncall", "wms"], wms
    assert all(harness.api_time_ms(r["notified_at"]) for r in wms[0]["receivers"])
    assert wms[0]["labels"]["instance"] == "wms-1" and wms[0]["source"] == "webhook"
    assert [a["alertname"] for a in api_alerts(h, "?receiver=wms")] == ["OrderBacklog"]
    assert [a["alertname"] for a in api_alerts(h, "?status=firing")] == ["HostDown",
                                                                         "OrderBacklog"]
    assert [a["alertname"] for a in api_alerts(h, "?filter=instance%3D~%22.%2A-1%22")] == [
        "HostDown", "OrderBacklog"]
    status, data = harness.http("GET", h.base_url + "/api/v1/alerts?filter=project%3D%22wms")
    assert status == 400 and b"filter: project: the quoted value has no closing quote" in data
    # a second filter would be read as the first alone
    status, data = harness.http("GET", h.base_url + "/api/v1/alerts?filter=project%3Dwms"
                                "&filter=instance%3Dx")
    assert status == 400 and b"filter: given more than once" in data, data

    r = h.command("alerts", "-c", h.config_path, "--status", "firing")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    header, first, second = out.splitlines()
    for column in ("ALERTNAME", "LABELS", "SINCE", "DURATION", "RECEIVERS", "LAST NOTIFIED"):
        assert column in header, header
    assert first.startswith("HostDown") and "instance=erp-1 project=erp" in first, out
    assert harness.shanghai(now - 2 * HOUR) in first and " 2h" in first, out
    assert second.startswith("OrderBacklog") and "oncall,wms" in second, out
    r = h.command("alerts", "-c", h.config_path, "--filter", "project=wms", "-o", "json")
    assert r.returncode == 0 and [a["alertname"] for a in json.loads(r.stdout)] == ["OrderBacklog"]
    r = h.command("alerts", "-c", h.config_path, "--filter", "project")
    assert r.returncode == 2 and b"--filter: project: expected =, !=, =~ or !~" in r.stderr
    r = h.command("alerts", "-c", h.config_path, "--filter", "project=wms", "--filter", "a=b")
    assert r.returncode == 2 and b"--filter is given more than once" in r.stderr


def project_route(tmp_path):
    route = tmp_path / "project.lua"
    route.write_text('return function(alert, default_receiver, receivers)\n'
                     '  if alert.labels.project == "wms" then return { "oncall", "wms" } end\n'
                     '  return { "oncall" }\nend\n', encoding="utf-8")
    return route


def test_resolved_alerts_leave_the_view_after_resolved_retention(herald_factory, tmp_path):
    now = harness.now_seconds()
    resolved = harness.am_payload([{"labels": {"alertname": "Flapped"}, "status": "resolved",
                                    "startsAt": harness.rfc3339(now - HOUR)}])
    kept = start(herald_factory, tmp_path)
    post(kept, "/webhook", resolved)
    assert [a["status"] for a in api_alerts(kept)] == ["resolved"]
    short = herald_factory({"oncall": console(tmp_path, "short")}, default_receiver="oncall",
                           extra={"resolved_retention": "1s"})
    post(short, "/webhook", resolved)
    harness.wait_until(lambda: api_alerts(short) == [], timeout=30,
                       message="the resolved alert out of the view")
    assert "resolved_retention is under 15m" in short.log()


def test_history_lasted_of_a_direct_firing_alert_is_until_its_notification(herald_factory,
                                                                          tmp_path):
    """Prometheus's endsAt of a firing alert is a time to come, not its end."""
    h = start(herald_factory, tmp_path)
    now = harness.now_seconds()
    post(h, "/api/v2/alerts", [prom_alert("Slow", now - HOUR, now + 50 * 60 * (HOUR / 3600))])
    r = h.command("history", "-c", h.config_path)
    assert r.returncode == 0, r.stderr
    [row] = r.stdout.decode().splitlines()[1:]
    # about an hour (a second more on a slow machine), not the 1h50m to its endsAt
    assert re.search(r"\s1h(\d+s)?\s", row), row


def test_two_prometheus_replicas_are_one_alert(herald_factory, tmp_path):
    """An HA pair evaluates at different offsets: the same alert with two
    starts, posted in turn, is one firing (the earlier start), told once."""
    h = start(herald_factory, tmp_path)
    now = harness.now_seconds()
    late = prom_alert("HostDown", now - HOUR + datetime.timedelta(seconds=7), now + HOUR,
                      instance="10.0.0.9")
    early = prom_alert("HostDown", now - HOUR, now + HOUR, instance="10.0.0.9")
    answers = [post(h, "/api/v2/alerts", [a]) for a in (late, early, late, early)]
    assert [a["notifications"] for a in answers] == [1, 0, 0, 0], answers
    [state] = api_alerts(h)
    assert harness.api_time_ms(state["startsAt"]) == round((now - HOUR).timestamp() * 1000)
    harness.wait_outbox_empty(h)
    assert len(lines(tmp_path, "oncall")) == 1
